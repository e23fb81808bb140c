//! libpcap's listings of a cBPF program, character for character: `-d`
//! (`bpf_image`), `-dd` (a C initializer) and `-ddd` (decimal).
//!
//! ```text
//! -d    (000) ldh      [12]
//!       (001) jeq      #0x800           jt 2\tjf 5      (\t: a tab)
//!       (002) ret
//! -dd   { 0x28, 0, 0, 0x0000000c },
//! -ddd  6
//!       40 0 0 12
//! ```
//!
//! The `-d` columns: instruction number in three digits, mnemonic padded to
//! 8, operand; conditional jumps pad the operand to 16 and print both targets
//! as absolute instruction numbers, separated by a tab. Instructions without
//! an operand (`tax`, `ret`, ...) end after the mnemonic, as libpcap master
//! prints them. Numbers are unsigned: constants that add or shift, offsets
//! and return values in decimal, constants that are compared or masked in
//! hex. Absolute loads of Linux metadata print its name (`[vlan_tci]`).
//! Opcodes that do not decode print as `unimp 0x..`, as libpcap does.

use core::fmt;

use super::Insn;
use super::op::{AluOp, Ancillary, Load, LoadX, Op, RetVal, Src};
use super::opcode as op;

/// Which listing to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `-d`: one [`image`] line per instruction.
    Image,
    /// `-d` lines padded to 50 columns, followed by `; 0x` and the opcode
    /// in four hex digits: the form of libpcap's test that lists one
    /// instruction of every opcode.
    ImageWithOpcodes,
    /// `-dd`: `{ 0x28, 0, 0, 0x0000000c },` per instruction.
    CArray,
    /// `-ddd`: the instruction count, then `40 0 0 12` per instruction.
    Decimal,
}

/// Column at which [`Format::ImageWithOpcodes`] puts its opcode comment.
const OPCODE_COLUMN: usize = 50;

/// A whole program in one [`Format`]; every line ends with a newline.
///
/// ```
/// use visor_isa::cbpf::{Format, Insn, Listing};
/// let program = [Insn::new(0x28, 0, 0, 12), Insn::new(0x06, 0, 0, 0)];
/// let text = Listing::new(&program, Format::Image).to_string();
/// assert_eq!(text, "(000) ldh      [12]\n(001) ret      #0\n");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Listing<'a> {
    insns: &'a [Insn],
    format: Format,
}

impl<'a> Listing<'a> {
    pub fn new(insns: &'a [Insn], format: Format) -> Listing<'a> {
        Listing { insns, format }
    }
}

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.format == Format::Decimal {
            writeln!(f, "{}", self.insns.len())?;
        }
        for (pc, insn) in self.insns.iter().enumerate() {
            let Insn { code, jt, jf, k } = *insn;
            match self.format {
                Format::Image => writeln!(f, "{}", image(insn, pc))?,
                Format::ImageWithOpcodes => {
                    let line = image(insn, pc);
                    writeln!(f, "{line:<OPCODE_COLUMN$}; {code:#06x}")?;
                }
                Format::CArray => writeln!(f, "{{ {code:#x}, {jt}, {jf}, {k:#010x} }},")?,
                Format::Decimal => writeln!(f, "{code} {jt} {jf} {k}")?,
            }
        }
        Ok(())
    }
}

/// The `-d` line of `insn` at index `pc`, as libpcap's `bpf_image` prints it.
pub fn image(insn: &Insn, pc: usize) -> String {
    let (mnemonic, operand) = match Op::decode(*insn) {
        Ok(op) => parts(op, pc),
        Err(_) => ("unimp", format!("{:#x}", insn.code)),
    };
    // libpcap picks the layout from the raw class and operation, so even an
    // undefined jump opcode shows its targets.
    let conditional = insn.code & op::CLASS_MASK == op::JMP && insn.code & op::OP_MASK != op::JA;
    if conditional {
        let target = |off: u8| pc as u64 + 1 + u64::from(off);
        let (jt, jf) = (target(insn.jt), target(insn.jf));
        format!("({pc:03}) {mnemonic:<8} {operand:<16} jt {jt}\tjf {jf}")
    } else if operand.is_empty() {
        format!("({pc:03}) {mnemonic}")
    } else {
        format!("({pc:03}) {mnemonic:<8} {operand}")
    }
}

/// Mnemonic and operand of a valid instruction.
fn parts(op: Op, pc: usize) -> (&'static str, String) {
    match op {
        Op::Ld(load) => match load {
            Load::Imm(k) => ("ld", format!("#{k:#x}")),
            Load::Abs { size, offset } => (load_mnemonic(size), absolute(offset)),
            Load::Ind { size, offset } => (load_mnemonic(size), format!("[x + {offset}]")),
            Load::Mem { slot } => ("ld", format!("M[{slot}]")),
            Load::Len => ("ld", "#pktlen".to_owned()),
        },
        Op::Ldx(load) => match load {
            LoadX::Imm(k) => ("ldx", format!("#{k:#x}")),
            LoadX::Mem { slot } => ("ldx", format!("M[{slot}]")),
            LoadX::Len => ("ldx", "#pktlen".to_owned()),
            LoadX::Msh { offset } => ("ldxb", format!("4*([{offset}]&0xf)")),
        },
        Op::St { slot } => ("st", format!("M[{slot}]")),
        Op::Stx { slot } => ("stx", format!("M[{slot}]")),
        Op::Alu { op, src } => (op.mnemonic(), alu_operand(op, src)),
        Op::Neg => ("neg", String::new()),
        // The target wraps as libpcap's unsigned arithmetic does, so a
        // backward jump (`k` = -2) prints the instruction it lands on.
        Op::Ja { k } => (
            "ja",
            (pc as u32).wrapping_add(1).wrapping_add(k).to_string(),
        ),
        Op::Jump { cond, src, .. } => (cond.mnemonic(), compared(src)),
        Op::Ret(RetVal::K(k)) => ("ret", format!("#{k}")),
        Op::Ret(RetVal::A) => ("ret", String::new()),
        Op::Tax => ("tax", String::new()),
        Op::Txa => ("txa", String::new()),
    }
}

fn load_mnemonic(size: super::Size) -> &'static str {
    match size {
        super::Size::Word => "ld",
        super::Size::Half => "ldh",
        super::Size::Byte => "ldb",
    }
}

fn absolute(offset: u32) -> String {
    match Ancillary::from_offset(offset) {
        Some(field) => format!("[{}]", field.name()),
        None => format!("[{offset}]"),
    }
}

/// Masks print in hex, arithmetic and shift amounts in decimal.
fn alu_operand(op: AluOp, src: Src) -> String {
    match (op, src) {
        (_, Src::X) => "x".to_owned(),
        (AluOp::And | AluOp::Or | AluOp::Xor, Src::K(k)) => format!("#{k:#x}"),
        (_, Src::K(k)) => format!("#{k}"),
    }
}

fn compared(src: Src) -> String {
    match src {
        Src::K(k) => format!("#{k:#x}"),
        Src::X => "x".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libpcap master's listing of one instruction of every valid opcode
    /// (the `bpf_image` block of `../shared/filters/accept.json`): `k` is 15
    /// throughout, conditional jumps have `jt` 1 and `jf` 0, and the two
    /// `ret` come last so that the program ends with one.
    const EVERY_OPCODE: &str = "\
(000) ld       #0xf                               ; 0x0000
(001) ldx      #0xf                               ; 0x0001
(002) st       M[15]                              ; 0x0002
(003) stx      M[15]                              ; 0x0003
(004) add      #15                                ; 0x0004
(005) ja       21                                 ; 0x0005
(006) tax                                         ; 0x0007
(007) add      x                                  ; 0x000c
(008) sub      #15                                ; 0x0014
(009) jeq      #0xf             jt 11\tjf 10       ; 0x0015
(010) sub      x                                  ; 0x001c
(011) jeq      x                jt 13\tjf 12       ; 0x001d
(012) ld       [15]                               ; 0x0020
(013) mul      #15                                ; 0x0024
(014) jgt      #0xf             jt 16\tjf 15       ; 0x0025
(015) ldh      [15]                               ; 0x0028
(016) mul      x                                  ; 0x002c
(017) jgt      x                jt 19\tjf 18       ; 0x002d
(018) ldb      [15]                               ; 0x0030
(019) div      #15                                ; 0x0034
(020) jge      #0xf             jt 22\tjf 21       ; 0x0035
(021) div      x                                  ; 0x003c
(022) jge      x                jt 24\tjf 23       ; 0x003d
(023) ld       [x + 15]                           ; 0x0040
(024) or       #0xf                               ; 0x0044
(025) jset     #0xf             jt 27\tjf 26       ; 0x0045
(026) ldh      [x + 15]                           ; 0x0048
(027) or       x                                  ; 0x004c
(028) jset     x                jt 30\tjf 29       ; 0x004d
(029) ldb      [x + 15]                           ; 0x0050
(030) and      #0xf                               ; 0x0054
(031) and      x                                  ; 0x005c
(032) ld       M[15]                              ; 0x0060
(033) ldx      M[15]                              ; 0x0061
(034) lsh      #15                                ; 0x0064
(035) lsh      x                                  ; 0x006c
(036) rsh      #15                                ; 0x0074
(037) rsh      x                                  ; 0x007c
(038) ld       #pktlen                            ; 0x0080
(039) ldx      #pktlen                            ; 0x0081
(040) neg                                         ; 0x0084
(041) txa                                         ; 0x0087
(042) mod      #15                                ; 0x0094
(043) mod      x                                  ; 0x009c
(044) xor      #0xf                               ; 0x00a4
(045) xor      x                                  ; 0x00ac
(046) ldxb     4*([15]&0xf)                       ; 0x00b1
(047) ret      #15                                ; 0x0006
(048) ret                                         ; 0x0016
";

    /// One instruction of every valid opcode, in the order of the block.
    fn every_opcode() -> Vec<Insn> {
        let mut codes: Vec<u16> = (0..=u16::MAX)
            .filter(|&code| Op::decode(Insn::new(code, 0, 0, 0)).is_ok())
            .collect();
        codes.sort_by_key(|&code| (code & op::CLASS_MASK == op::RET, code));
        codes
            .into_iter()
            .map(|code| {
                let mut insn = Insn::new(code, 0, 0, 15);
                if matches!(Op::decode(insn), Ok(Op::Jump { .. })) {
                    insn.jt = 1;
                }
                insn
            })
            .collect()
    }

    #[test]
    fn every_opcode_lists_as_libpcap_master() {
        let program = every_opcode();
        let text = Listing::new(&program, Format::ImageWithOpcodes).to_string();
        for (got, want) in text.lines().zip(EVERY_OPCODE.lines()) {
            assert_eq!(got, want);
        }
        assert_eq!(text, EVERY_OPCODE);
    }

    #[test]
    fn plain_image_drops_the_opcode_column() {
        let program = every_opcode();
        let text = Listing::new(&program, Format::Image).to_string();
        let want: String = EVERY_OPCODE
            .lines()
            .map(|l| format!("{}\n", l[..OPCODE_COLUMN].trim_end()))
            .collect();
        assert_eq!(text, want);
    }

    #[test]
    fn c_array_and_decimal_forms() {
        // tcpdump -dd / -ddd 'ip' on Ethernet.
        let program = [
            Insn::new(0x28, 0, 0, 12),
            Insn::new(0x15, 0, 1, 0x800),
            Insn::new(0x06, 0, 0, 262144),
            Insn::new(0x06, 0, 0, 0),
        ];
        assert_eq!(
            Listing::new(&program, Format::CArray).to_string(),
            "{ 0x28, 0, 0, 0x0000000c },\n\
             { 0x15, 0, 1, 0x00000800 },\n\
             { 0x6, 0, 0, 0x00040000 },\n\
             { 0x6, 0, 0, 0x00000000 },\n"
        );
        assert_eq!(
            Listing::new(&program, Format::Decimal).to_string(),
            "4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n"
        );
    }

    #[test]
    fn odd_operands() {
        let line = |code, jt, jf, k, pc| image(&Insn::new(code, jt, jf, k), pc);
        assert_eq!(
            line(0x28, 0, 0, 0xffff_f02c, 0),
            "(000) ldh      [vlan_tci]"
        );
        assert_eq!(line(0x30, 0, 0, 0xffff_f030, 1), "(001) ldb      [vlanp]");
        assert_eq!(line(0x20, 0, 0, 0xffff_f008, 2), "(002) ld       [ifidx]");
        // Not an ancillary offset, and not named for indirect loads.
        assert_eq!(
            line(0x20, 0, 0, 0xffff_f001, 3),
            "(003) ld       [4294963201]"
        );
        assert_eq!(
            line(0x40, 0, 0, 0xffff_f008, 3),
            "(003) ld       [x + 4294963208]"
        );
        // A backward ja prints the instruction it lands on.
        assert_eq!(line(0x05, 0, 0, (-3i32) as u32, 7), "(007) ja       5");
        assert_eq!(
            line(0x06, 0, 0, u32::MAX, 1000),
            "(1000) ret      #4294967295"
        );
        assert_eq!(line(0x0e, 0, 0, 0, 4), "(004) unimp    0xe");
        assert_eq!(
            line(0x55, 2, 3, 0, 4),
            "(004) unimp    0x55             jt 7\tjf 8"
        );
        assert_eq!(
            line(0x15, 255, 255, 0, 4),
            "(004) jeq      #0x0             jt 260\tjf 260"
        );
    }
}
