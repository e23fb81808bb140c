//! Runs a checked cBPF program over one packet with the semantics of
//! libpcap's `bpf_filter`.
//!
//! - A, X and the sixteen scratch words start at 0.
//! - Packet loads read the captured bytes only. A load that would end past
//!   them, or whose offset `X + k` overflows 32 bits, ends the filter with 0
//!   (reject); so does `div x` or `mod x` with X = 0.
//! - `ld #pktlen` and `ldx #pktlen` give the length on the wire, which a
//!   capture with a snap length may not hold entirely ([`Packet::new`]).
//! - A shift by X of 32 or more gives 0 (libpcap; the kernel masks the
//!   count instead).
//! - Linux metadata loads ([`Ancillary`]) are not supported: like libpcap
//!   without auxiliary data, the filter returns 0 there.
//! - A backward `ja` (only [`Rules::Libpcap`](crate::Rules) allows one)
//!   may be taken [`MAX_BACKWARD_JUMPS`] times per packet; the next one
//!   ends the filter with 0.
//!
//! The result is what `ret` returned: the number of bytes to keep, 0 to
//! reject. Running never fails and never panics: the program is checked,
//! and every run ends (forward jumps, and few backward ones).

use visor_isa::cbpf::{AluOp, Ancillary, Load, LoadX, Op, RetVal, Size, Src};

use crate::check::CheckedProgram;

/// A packet as a filter sees it: the captured bytes, and the length it
/// had on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    bytes: &'a [u8],
    wire_len: u32,
}

impl<'a> Packet<'a> {
    /// `bytes` as captured from a packet of `wire_len` bytes (a pcap
    /// record's `caplen` bytes and its `len`).
    pub fn new(bytes: &'a [u8], wire_len: u32) -> Packet<'a> {
        Packet { bytes, wire_len }
    }

    /// A packet captured whole: the wire length is the length of `bytes`
    /// (saturated at `u32::MAX`).
    pub fn whole(bytes: &'a [u8]) -> Packet<'a> {
        let wire_len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        Packet { bytes, wire_len }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn wire_len(&self) -> u32 {
        self.wire_len
    }

    /// The big-endian value of `size` bytes at `offset`, if captured.
    fn load(&self, offset: u64, size: Size) -> Option<u32> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(size.bytes())?;
        let bytes = self.bytes.get(start..end)?;
        Some(bytes.iter().fold(0, |value, &b| value << 8 | u32::from(b)))
    }
}

/// How many backward jumps one run may take (libpcap's bound).
pub const MAX_BACKWARD_JUMPS: u32 = 64;

/// The registers and scratch memory of one run.
struct Machine {
    a: u32,
    x: u32,
    mem: [u32; MEM_WORDS],
    backward_jumps: u32,
}

const MEM_WORDS: usize = visor_isa::cbpf::opcode::MEM_WORDS as usize;

/// What the filter returns for `packet`: bytes to keep, 0 to reject.
///
/// ```
/// use visor_filter::{CheckedProgram, Packet, run};
/// use visor_isa::cbpf::{Load, Op, RetVal, Size};
/// let second_byte = CheckedProgram::from_ops(&[
///     Op::Ld(Load::Abs { size: Size::Byte, offset: 1 }),
///     Op::Ret(RetVal::A),
/// ])?;
/// assert_eq!(run(&second_byte, Packet::whole(&[7, 42])), 42);
/// assert_eq!(run(&second_byte, Packet::whole(&[7])), 0);
/// # Ok::<(), visor_filter::CheckError>(())
/// ```
pub fn run(program: &CheckedProgram, packet: Packet<'_>) -> u32 {
    let mut m = Machine {
        a: 0,
        x: 0,
        mem: [0; MEM_WORDS],
        backward_jumps: 0,
    };
    let ops = program.ops();
    let mut pc = 0;
    loop {
        // A checked program ends with `ret` and jumps inside itself, so `pc`
        // stays in range; if it did not, rejecting is the safe answer.
        let Some(&op) = ops.get(pc) else {
            return 0;
        };
        // Where to go relative to the next instruction; `None` rejects.
        let skip = match op {
            Op::Ret(RetVal::K(k)) => return k,
            Op::Ret(RetVal::A) => return m.a,
            // libpcap reads `k` as signed: protochain loops backward.
            Op::Ja { k } => m.count_backward(k as i32).map(i64::from),
            Op::Jump { cond, src, jt, jf } => {
                let taken = cond.holds(m.a, m.operand(src));
                Some(i64::from(if taken { jt } else { jf }))
            }
            other => m.execute(other, &packet).map(|()| 0),
        };
        let next = skip.and_then(|skip| (pc as i64 + 1).checked_add(skip));
        match next.and_then(|next| usize::try_from(next).ok()) {
            Some(next) => pc = next,
            None => return 0,
        }
    }
}

impl Machine {
    /// `skip`, or `None` when it is one backward jump too many.
    fn count_backward(&mut self, skip: i32) -> Option<i32> {
        if skip < 0 {
            if self.backward_jumps >= MAX_BACKWARD_JUMPS {
                return None;
            }
            self.backward_jumps += 1;
        }
        Some(skip)
    }

    fn operand(&self, src: Src) -> u32 {
        match src {
            Src::K(k) => k,
            Src::X => self.x,
        }
    }

    /// One instruction that neither jumps nor returns; `None` rejects.
    fn execute(&mut self, op: Op, packet: &Packet<'_>) -> Option<()> {
        match op {
            Op::Ld(load) => self.a = self.load_a(load, packet)?,
            Op::Ldx(load) => self.x = self.load_x(load, packet)?,
            Op::St { slot } => *self.mem.get_mut(slot as usize)? = self.a,
            Op::Stx { slot } => *self.mem.get_mut(slot as usize)? = self.x,
            Op::Alu { op, src } => self.a = alu(op, self.a, self.operand(src))?,
            Op::Neg => self.a = self.a.wrapping_neg(),
            Op::Tax => self.x = self.a,
            Op::Txa => self.a = self.x,
            Op::Ret(_) | Op::Ja { .. } | Op::Jump { .. } => {}
        }
        Some(())
    }

    fn load_a(&self, load: Load, packet: &Packet<'_>) -> Option<u32> {
        match load {
            Load::Imm(k) => Some(k),
            Load::Abs { offset, .. } if Ancillary::from_offset(offset).is_some() => None,
            Load::Abs { size, offset } => packet.load(u64::from(offset), size),
            // 64-bit sum: an `X + k` that overflows 32 bits is out of bounds.
            Load::Ind { size, offset } => packet.load(u64::from(self.x) + u64::from(offset), size),
            Load::Mem { slot } => self.mem.get(slot as usize).copied(),
            Load::Len => Some(packet.wire_len),
        }
    }

    fn load_x(&self, load: LoadX, packet: &Packet<'_>) -> Option<u32> {
        match load {
            LoadX::Imm(k) => Some(k),
            LoadX::Mem { slot } => self.mem.get(slot as usize).copied(),
            LoadX::Len => Some(packet.wire_len),
            LoadX::Msh { offset } => {
                let byte = packet.load(u64::from(offset), Size::Byte)?;
                Some((byte & 0xf) << 2)
            }
        }
    }
}

/// `a op v`; `None` for a division or modulo by zero.
fn alu(op: AluOp, a: u32, v: u32) -> Option<u32> {
    Some(match op {
        AluOp::Add => a.wrapping_add(v),
        AluOp::Sub => a.wrapping_sub(v),
        AluOp::Mul => a.wrapping_mul(v),
        AluOp::Div => a.checked_div(v)?,
        AluOp::Mod => a.checked_rem(v)?,
        AluOp::And => a & v,
        AluOp::Or => a | v,
        AluOp::Xor => a ^ v,
        AluOp::Lsh => a.checked_shl(v).unwrap_or(0),
        AluOp::Rsh => a.checked_shr(v).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use visor_isa::cbpf::JmpCond;

    const RET_A: Op = Op::Ret(RetVal::A);

    /// Runs `ops` (checked) over whole `bytes`.
    #[track_caller]
    fn eval(ops: &[Op], bytes: &[u8]) -> u32 {
        let program = CheckedProgram::from_ops(ops).expect("test program passes the checker");
        run(&program, Packet::whole(bytes))
    }

    fn ld_imm(k: u32) -> Op {
        Op::Ld(Load::Imm(k))
    }

    fn ldx_imm(k: u32) -> Op {
        Op::Ldx(LoadX::Imm(k))
    }

    fn abs(size: Size, offset: u32) -> Op {
        Op::Ld(Load::Abs { size, offset })
    }

    fn ind(size: Size, offset: u32) -> Op {
        Op::Ld(Load::Ind { size, offset })
    }

    fn alu_k(op: AluOp, k: u32) -> Op {
        Op::Alu { op, src: Src::K(k) }
    }

    fn alu_x(op: AluOp) -> Op {
        Op::Alu { op, src: Src::X }
    }

    const PACKET: [u8; 6] = [0x12, 0x34, 0x56, 0x78, 0x9a, 0x45];

    #[test]
    fn registers_and_memory_start_at_zero() {
        assert_eq!(eval(&[RET_A], &[]), 0);
        assert_eq!(eval(&[Op::Txa, RET_A], &[]), 0);
        assert_eq!(
            eval(&[ld_imm(9), Op::St { slot: 15 }, ld_imm(1), RET_A], &[]),
            1
        );
    }

    #[test]
    fn absolute_loads_are_big_endian_and_bounded() {
        assert_eq!(eval(&[abs(Size::Word, 0), RET_A], &PACKET), 0x1234_5678);
        assert_eq!(eval(&[abs(Size::Half, 4), RET_A], &PACKET), 0x9a45);
        assert_eq!(eval(&[abs(Size::Byte, 5), RET_A], &PACKET), 0x45);
        // One byte short, and far out: reject.
        assert_eq!(eval(&[abs(Size::Word, 3), RET_A], &PACKET), 0);
        assert_eq!(eval(&[abs(Size::Half, 5), RET_A], &PACKET), 0);
        assert_eq!(eval(&[abs(Size::Byte, 6), RET_A], &PACKET), 0);
        assert_eq!(
            eval(&[abs(Size::Byte, Ancillary::BASE - 1), RET_A], &PACKET),
            0
        );
        // A rejecting load ends the filter even before a `ret #k`.
        let reject = [abs(Size::Byte, 6), Op::Ret(RetVal::K(99))];
        assert_eq!(eval(&reject, &PACKET), 0);
    }

    #[test]
    fn indirect_loads_add_x_without_wrapping() {
        assert_eq!(
            eval(&[ldx_imm(2), ind(Size::Half, 1), RET_A], &PACKET),
            0x789a
        );
        assert_eq!(
            eval(&[ldx_imm(5), ind(Size::Byte, 0), RET_A], &PACKET),
            0x45
        );
        assert_eq!(eval(&[ldx_imm(5), ind(Size::Half, 0), RET_A], &PACKET), 0);
        // X + k wraps to 1 in 32 bits; libpcap rejects, so do we.
        let wrap = [ldx_imm(u32::MAX), ind(Size::Byte, 2), RET_A];
        assert_eq!(eval(&wrap, &PACKET), 0);
    }

    #[test]
    fn msh_is_four_times_the_low_nibble() {
        let msh = |offset| Op::Ldx(LoadX::Msh { offset });
        assert_eq!(eval(&[msh(5), Op::Txa, RET_A], &PACKET), 20);
        assert_eq!(eval(&[msh(6), Op::Txa, RET_A], &PACKET), 0);
        // A is untouched.
        assert_eq!(eval(&[ld_imm(7), msh(0), RET_A], &PACKET), 7);
    }

    #[test]
    fn length_is_the_wire_length() {
        let program = CheckedProgram::from_ops(&[Op::Ld(Load::Len), RET_A]).unwrap();
        assert_eq!(run(&program, Packet::whole(&PACKET)), 6);
        assert_eq!(run(&program, Packet::new(&PACKET, 1514)), 1514);
        let ldx = CheckedProgram::from_ops(&[Op::Ldx(LoadX::Len), Op::Txa, RET_A]).unwrap();
        assert_eq!(run(&ldx, Packet::new(&PACKET, 60)), 60);
        // Loads stay bounded by the captured bytes whatever the wire says.
        let past = CheckedProgram::from_ops(&[abs(Size::Byte, 6), RET_A]).unwrap();
        assert_eq!(run(&past, Packet::new(&PACKET, 1514)), 0);
    }

    #[test]
    fn scratch_memory_and_transfers() {
        let ops = [
            ld_imm(11),
            Op::St { slot: 0 },
            Op::Tax,
            Op::Stx { slot: 15 },
            ld_imm(0),
            Op::Ldx(LoadX::Mem { slot: 0 }),
            Op::Ld(Load::Mem { slot: 15 }),
            alu_x(AluOp::Add),
            RET_A,
        ];
        assert_eq!(eval(&ops, &[]), 22);
    }

    #[test]
    fn arithmetic_wraps_at_32_bits() {
        let with = |a, op| eval(&[ld_imm(a), op, RET_A], &[]);
        assert_eq!(with(u32::MAX, alu_k(AluOp::Add, 2)), 1);
        assert_eq!(with(1, alu_k(AluOp::Sub, 2)), u32::MAX);
        assert_eq!(with(0x8000_0001, alu_k(AluOp::Mul, 2)), 2);
        assert_eq!(with(7, alu_k(AluOp::Div, 2)), 3);
        assert_eq!(with(u32::MAX, alu_k(AluOp::Div, 0x8000_0000)), 1);
        assert_eq!(with(7, alu_k(AluOp::Mod, 4)), 3);
        assert_eq!(with(0xf0, alu_k(AluOp::And, 0x3c)), 0x30);
        assert_eq!(with(0xf0, alu_k(AluOp::Or, 0x0f)), 0xff);
        assert_eq!(with(0xff, alu_k(AluOp::Xor, 0x0f)), 0xf0);
        assert_eq!(with(0x8000_0001, alu_k(AluOp::Lsh, 1)), 2);
        assert_eq!(with(0x8000_0000, alu_k(AluOp::Rsh, 31)), 1);
        assert_eq!(with(1, Op::Neg), u32::MAX);
        assert_eq!(with(0x8000_0000, Op::Neg), 0x8000_0000);
    }

    #[test]
    fn x_operands_and_their_edge_cases() {
        let with = |a, x, op| eval(&[ld_imm(a), ldx_imm(x), op, RET_A], &[]);
        assert_eq!(with(5, 3, alu_x(AluOp::Sub)), 2);
        assert_eq!(with(5, 3, alu_x(AluOp::Mul)), 15);
        assert_eq!(with(5, 3, alu_x(AluOp::Div)), 1);
        assert_eq!(with(5, 3, alu_x(AluOp::Mod)), 2);
        assert_eq!(with(5, 3, alu_x(AluOp::And)), 1);
        assert_eq!(with(5, 3, alu_x(AluOp::Or)), 7);
        assert_eq!(with(5, 3, alu_x(AluOp::Xor)), 6);
        assert_eq!(with(5, 3, alu_x(AluOp::Lsh)), 40);
        assert_eq!(with(40, 3, alu_x(AluOp::Rsh)), 5);
        // Division by X = 0 rejects, even where `ret #k` follows.
        let div0 = [ld_imm(5), alu_x(AluOp::Div), Op::Ret(RetVal::K(1))];
        assert_eq!(eval(&div0, &[]), 0);
        let mod0 = [ld_imm(5), alu_x(AluOp::Mod), Op::Ret(RetVal::K(1))];
        assert_eq!(eval(&mod0, &[]), 0);
        // Shifts by 32 or more give 0, not a masked count.
        assert_eq!(with(5, 32, alu_x(AluOp::Lsh)), 0);
        assert_eq!(with(5, 33, alu_x(AluOp::Rsh)), 0);
        assert_eq!(with(5, 31, alu_x(AluOp::Lsh)), 0x8000_0000);
    }

    #[test]
    fn jumps_compare_unsigned() {
        let test = |cond, src, a, x| {
            let ops = [
                ld_imm(a),
                ldx_imm(x),
                Op::Jump {
                    cond,
                    src,
                    jt: 1,
                    jf: 0,
                },
                Op::Ret(RetVal::K(0)),
                Op::Ret(RetVal::K(1)),
            ];
            eval(&ops, &[]) == 1
        };
        for src in [Src::K(0x8000_0000), Src::X] {
            let x = 0x8000_0000;
            assert!(test(JmpCond::Eq, src, x, x));
            assert!(!test(JmpCond::Eq, src, 1, x));
            assert!(test(JmpCond::Gt, src, u32::MAX, x));
            assert!(!test(JmpCond::Gt, src, 1, x));
            assert!(test(JmpCond::Ge, src, x, x));
            assert!(!test(JmpCond::Ge, src, x - 1, x));
            assert!(test(JmpCond::Set, src, u32::MAX, x));
            assert!(!test(JmpCond::Set, src, x - 1, x));
        }
        let ja = [
            Op::Ja { k: 1 },
            Op::Ret(RetVal::K(0)),
            Op::Ret(RetVal::K(2)),
        ];
        assert_eq!(eval(&ja, &[]), 2);
    }

    #[test]
    fn backward_jumps_are_bounded() {
        // Count iterations in X until A reaches `limit`:
        // 0: ld M[0]; 1: add #1; 2: st M[0]; 3: tax;
        // 4: jge #limit jt 6 jf 5; 5: ja 0 (back); 6: txa; 7: ret
        let looping = |limit| {
            let ops = [
                Op::Ld(Load::Mem { slot: 0 }),
                alu_k(AluOp::Add, 1),
                Op::St { slot: 0 },
                Op::Tax,
                Op::Jump {
                    cond: JmpCond::Ge,
                    src: Src::K(limit),
                    jt: 1,
                    jf: 0,
                },
                Op::Ja { k: (-6i32) as u32 },
                Op::Txa,
                RET_A,
            ];
            let insns: Vec<_> = ops.iter().map(|op| op.encode()).collect();
            let program = crate::check_with(&insns, crate::Rules::Libpcap).unwrap();
            run(&program, Packet::whole(&[]))
        };
        assert_eq!(looping(10), 10);
        // 64 backward jumps run the body 65 times; the 65th jump rejects.
        assert_eq!(looping(65), 65);
        assert_eq!(looping(66), 0);
    }

    #[test]
    fn returns_k_or_a() {
        assert_eq!(eval(&[Op::Ret(RetVal::K(u32::MAX))], &[]), u32::MAX);
        assert_eq!(eval(&[ld_imm(262144), RET_A], &[]), 262144);
    }

    #[test]
    fn metadata_loads_reject() {
        for field in Ancillary::ALL {
            let load = abs(Size::Word, field.offset());
            assert_eq!(
                eval(&[load, Op::Ret(RetVal::K(1))], &PACKET),
                0,
                "{field:?}"
            );
        }
    }
}
