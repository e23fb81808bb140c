//! What a cBPF instruction means: [`Op`], decoded from an [`Insn`] and
//! encoded back.
//!
//! The valid opcodes are the 49 that both the Linux checker
//! (`bpf_check_classic`) and libpcap's `bpf_filter` accept; every other
//! 16-bit pattern yields a [`DecodeError`] naming the field at fault.
//! Fields an operation does not use are ignored on decode, as both engines
//! ignore them (`jt` and `jf` outside conditional jumps, `k` of `tax`), and
//! written as zero on encode, so `Op::decode(op.encode()) == Ok(op)`.

use thiserror::Error;

use super::Insn;
use super::opcode as op;

/// The width of a packet load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// 4 bytes, big-endian (`ld`).
    Word,
    /// 2 bytes, big-endian (`ldh`).
    Half,
    /// 1 byte (`ldb`).
    Byte,
}

impl Size {
    pub const ALL: [Size; 3] = [Size::Word, Size::Half, Size::Byte];

    pub const fn bytes(self) -> usize {
        match self {
            Size::Word => 4,
            Size::Half => 2,
            Size::Byte => 1,
        }
    }

    const fn field(self) -> u16 {
        match self {
            Size::Word => op::W,
            Size::Half => op::H,
            Size::Byte => op::B,
        }
    }

    fn from_field(code: u16) -> Option<Size> {
        Size::ALL
            .into_iter()
            .find(|s| s.field() == code & op::SIZE_MASK)
    }
}

/// The second operand of an ALU operation or a conditional jump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Src {
    /// The constant `k`.
    K(u32),
    /// The index register.
    X,
}

impl Src {
    const fn field(self) -> u16 {
        match self {
            Src::K(_) => op::K,
            Src::X => op::X,
        }
    }

    const fn k(self) -> u32 {
        match self {
            Src::K(k) => k,
            Src::X => 0,
        }
    }

    const fn from_code(code: u16, k: u32) -> Src {
        if code & op::SRC_MASK == op::X {
            Src::X
        } else {
            Src::K(k)
        }
    }
}

/// Binary operations on A. All are 32-bit and unsigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    Or,
    And,
    Lsh,
    Rsh,
    Mod,
    Xor,
}

impl AluOp {
    pub const ALL: [AluOp; 10] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::Xor,
    ];

    /// The name in listings (`add`, `lsh`, ...).
    pub const fn mnemonic(self) -> &'static str {
        match self {
            AluOp::Add => "add",
            AluOp::Sub => "sub",
            AluOp::Mul => "mul",
            AluOp::Div => "div",
            AluOp::Or => "or",
            AluOp::And => "and",
            AluOp::Lsh => "lsh",
            AluOp::Rsh => "rsh",
            AluOp::Mod => "mod",
            AluOp::Xor => "xor",
        }
    }

    const fn field(self) -> u16 {
        match self {
            AluOp::Add => op::ADD,
            AluOp::Sub => op::SUB,
            AluOp::Mul => op::MUL,
            AluOp::Div => op::DIV,
            AluOp::Or => op::OR,
            AluOp::And => op::AND,
            AluOp::Lsh => op::LSH,
            AluOp::Rsh => op::RSH,
            AluOp::Mod => op::MOD,
            AluOp::Xor => op::XOR,
        }
    }

    fn from_field(code: u16) -> Option<AluOp> {
        AluOp::ALL
            .into_iter()
            .find(|o| o.field() == code & op::OP_MASK)
    }
}

/// Conditions of conditional jumps; all compare A, unsigned, with the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpCond {
    /// `A == src`
    Eq,
    /// `A > src`
    Gt,
    /// `A >= src`
    Ge,
    /// `A & src != 0`
    Set,
}

impl JmpCond {
    pub const ALL: [JmpCond; 4] = [JmpCond::Eq, JmpCond::Gt, JmpCond::Ge, JmpCond::Set];

    /// Whether the jump goes to `jt` when A is `a` and the source `src`.
    pub const fn holds(self, a: u32, src: u32) -> bool {
        match self {
            JmpCond::Eq => a == src,
            JmpCond::Gt => a > src,
            JmpCond::Ge => a >= src,
            JmpCond::Set => a & src != 0,
        }
    }

    /// The name in listings (`jeq`, `jset`, ...).
    pub const fn mnemonic(self) -> &'static str {
        match self {
            JmpCond::Eq => "jeq",
            JmpCond::Gt => "jgt",
            JmpCond::Ge => "jge",
            JmpCond::Set => "jset",
        }
    }

    const fn field(self) -> u16 {
        match self {
            JmpCond::Eq => op::JEQ,
            JmpCond::Gt => op::JGT,
            JmpCond::Ge => op::JGE,
            JmpCond::Set => op::JSET,
        }
    }

    fn from_field(code: u16) -> Option<JmpCond> {
        JmpCond::ALL
            .into_iter()
            .find(|c| c.field() == code & op::OP_MASK)
    }
}

/// What `ld`, `ldh` and `ldb` put in A.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Load {
    /// `ld #k`
    Imm(u32),
    /// `ld [k]`, `ldh [k]`, `ldb [k]`: the packet at `offset`. Offsets from
    /// [`Ancillary::BASE`] up name Linux metadata instead ([`Ancillary`]).
    Abs { size: Size, offset: u32 },
    /// `ld [x + k]`: the packet at `X + offset`.
    Ind { size: Size, offset: u32 },
    /// `ld M[k]`
    Mem { slot: u32 },
    /// `ld #pktlen`: the wire length.
    Len,
}

/// What `ldx` and `ldxb` put in X.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoadX {
    /// `ldx #k`
    Imm(u32),
    /// `ldx M[k]`
    Mem { slot: u32 },
    /// `ldx #pktlen`
    Len,
    /// `ldxb 4*([k]&0xf)`: the IPv4 header length at packet byte `offset`.
    Msh { offset: u32 },
}

/// What `ret` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetVal {
    /// `ret #k`
    K(u32),
    /// `ret` (A)
    A,
}

/// One classic BPF instruction, by meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `A = ...`
    Ld(Load),
    /// `X = ...`
    Ldx(LoadX),
    /// `st M[slot]`: `M[slot] = A`.
    St { slot: u32 },
    /// `stx M[slot]`: `M[slot] = X`.
    Stx { slot: u32 },
    /// `A = A op src`.
    Alu { op: AluOp, src: Src },
    /// `A = -A`.
    Neg,
    /// `pc += k`: to instruction `pc + 1 + k`, `k` read as signed
    /// ([`Op::successors`]).
    Ja { k: u32 },
    /// To `pc + 1 + jt` if `A cond src` holds, else to `pc + 1 + jf`.
    Jump {
        cond: JmpCond,
        src: Src,
        jt: u8,
        jf: u8,
    },
    /// End the filter.
    Ret(RetVal),
    /// `X = A`.
    Tax,
    /// `A = X`.
    Txa,
}

impl Op {
    /// The meaning of `insn`, or why it has none.
    pub fn decode(insn: Insn) -> Result<Op, DecodeError> {
        let Insn { code, jt, jf, k } = insn;
        let fail = |reason| DecodeError { code, reason };
        if code & !op::BYTE_MASK != 0 {
            return Err(fail(Invalid::Reserved));
        }
        // Classes whose remaining bits must be exactly `expected`.
        let exact = |expected: u16, op: Op| {
            if code == expected {
                Ok(op)
            } else {
                Err(fail(Invalid::Reserved))
            }
        };
        match code & op::CLASS_MASK {
            op::LD => decode_ld(code, k).map(Op::Ld).map_err(fail),
            op::LDX => decode_ldx(code, k).map(Op::Ldx).map_err(fail),
            op::ST => exact(op::ST, Op::St { slot: k }),
            op::STX => exact(op::STX, Op::Stx { slot: k }),
            op::ALU if code & op::OP_MASK == op::NEG => exact(op::ALU | op::NEG, Op::Neg),
            op::ALU => match AluOp::from_field(code) {
                Some(alu) => Ok(Op::Alu {
                    op: alu,
                    src: Src::from_code(code, k),
                }),
                None => Err(fail(Invalid::AluOp {
                    op: code & op::OP_MASK,
                })),
            },
            op::JMP if code & op::OP_MASK == op::JA => exact(op::JMP | op::JA, Op::Ja { k }),
            op::JMP => match JmpCond::from_field(code) {
                Some(cond) => Ok(Op::Jump {
                    cond,
                    src: Src::from_code(code, k),
                    jt,
                    jf,
                }),
                None => Err(fail(Invalid::JmpOp {
                    op: code & op::OP_MASK,
                })),
            },
            op::RET => match code & !op::CLASS_MASK {
                op::RET_K => Ok(Op::Ret(RetVal::K(k))),
                op::RET_A => Ok(Op::Ret(RetVal::A)),
                op::RET_X => Err(fail(Invalid::RetX)),
                _ => Err(fail(Invalid::Reserved)),
            },
            _ => match code & op::MISCOP_MASK {
                op::TAX => Ok(Op::Tax),
                op::TXA => Ok(Op::Txa),
                other => Err(fail(Invalid::MiscOp { op: other })),
            },
        }
    }

    /// The instruction of this meaning; unused fields are zero.
    pub const fn encode(self) -> Insn {
        let (code, jt, jf, k) = match self {
            Op::Ld(load) => match load {
                Load::Imm(k) => (op::LD | op::W | op::IMM, 0, 0, k),
                Load::Abs { size, offset } => (op::LD | size.field() | op::ABS, 0, 0, offset),
                Load::Ind { size, offset } => (op::LD | size.field() | op::IND, 0, 0, offset),
                Load::Mem { slot } => (op::LD | op::W | op::MEM, 0, 0, slot),
                Load::Len => (op::LD | op::W | op::LEN, 0, 0, 0),
            },
            Op::Ldx(load) => match load {
                LoadX::Imm(k) => (op::LDX | op::W | op::IMM, 0, 0, k),
                LoadX::Mem { slot } => (op::LDX | op::W | op::MEM, 0, 0, slot),
                LoadX::Len => (op::LDX | op::W | op::LEN, 0, 0, 0),
                LoadX::Msh { offset } => (op::LDX | op::B | op::MSH, 0, 0, offset),
            },
            Op::St { slot } => (op::ST, 0, 0, slot),
            Op::Stx { slot } => (op::STX, 0, 0, slot),
            Op::Alu { op: alu, src } => (op::ALU | alu.field() | src.field(), 0, 0, src.k()),
            Op::Neg => (op::ALU | op::NEG, 0, 0, 0),
            Op::Ja { k } => (op::JMP | op::JA, 0, 0, k),
            Op::Jump { cond, src, jt, jf } => {
                (op::JMP | cond.field() | src.field(), jt, jf, src.k())
            }
            Op::Ret(RetVal::K(k)) => (op::RET | op::RET_K, 0, 0, k),
            Op::Ret(RetVal::A) => (op::RET | op::RET_A, 0, 0, 0),
            Op::Tax => (op::MISC | op::TAX, 0, 0, 0),
            Op::Txa => (op::MISC | op::TXA, 0, 0, 0),
        };
        Insn { code, jt, jf, k }
    }

    /// The instructions that control may reach from `pc` besides returning:
    /// the next one, or the one or two jump targets. `ja` reads `k` as
    /// signed, as libpcap does (its `protochain` loops backward); the kernel
    /// takes forward jumps only, so the two agree on every program it
    /// accepts. Targets may lie outside the program, even below 0; checking
    /// them is the caller's business.
    pub fn successors(self, pc: usize) -> Successors {
        let next = pc as i64 + 1;
        match self {
            Op::Ret(_) => Successors::None,
            Op::Ja { k } => Successors::One(next + i64::from(k as i32)),
            Op::Jump { jt, jf, .. } => Successors::Two(next + i64::from(jt), next + i64::from(jf)),
            _ => Successors::One(next),
        }
    }
}

/// Where control goes after one instruction ([`Op::successors`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Successors {
    /// `ret`: the filter ends.
    None,
    /// The next instruction, or the target of `ja`.
    One(i64),
    /// The `jt` and `jf` targets of a conditional jump.
    Two(i64, i64),
}

fn decode_ld(code: u16, k: u32) -> Result<Load, Invalid> {
    let size = Size::from_field(code);
    let word = |load| match size {
        Some(Size::Word) => Ok(load),
        _ => Err(Invalid::Size {
            size: code & op::SIZE_MASK,
        }),
    };
    let sized = |make: fn(Size, u32) -> Load| match size {
        Some(size) => Ok(make(size, k)),
        None => Err(Invalid::Size {
            size: code & op::SIZE_MASK,
        }),
    };
    match code & op::MODE_MASK {
        op::IMM => word(Load::Imm(k)),
        op::ABS => sized(|size, offset| Load::Abs { size, offset }),
        op::IND => sized(|size, offset| Load::Ind { size, offset }),
        op::MEM => word(Load::Mem { slot: k }),
        op::LEN => word(Load::Len),
        mode => Err(Invalid::Mode { mode }),
    }
}

fn decode_ldx(code: u16, k: u32) -> Result<LoadX, Invalid> {
    let only = |size: u16, load| {
        if code & op::SIZE_MASK == size {
            Ok(load)
        } else {
            Err(Invalid::Size {
                size: code & op::SIZE_MASK,
            })
        }
    };
    match code & op::MODE_MASK {
        op::IMM => only(op::W, LoadX::Imm(k)),
        op::MEM => only(op::W, LoadX::Mem { slot: k }),
        op::LEN => only(op::W, LoadX::Len),
        op::MSH => only(op::B, LoadX::Msh { offset: k }),
        mode => Err(Invalid::Mode { mode }),
    }
}

/// An opcode with no meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("invalid cBPF opcode {code:#06x}: {reason}")]
pub struct DecodeError {
    pub code: u16,
    pub reason: Invalid,
}

/// Which field of an opcode is at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Invalid {
    #[error("bits outside the fields of its class are set")]
    Reserved,
    #[error("mode {mode:#04x} is not defined for this class")]
    Mode { mode: u16 },
    #[error("size {size:#04x} is not allowed with this mode")]
    Size { size: u16 },
    #[error("ALU operation {op:#04x} does not exist")]
    AluOp { op: u16 },
    #[error("jump operation {op:#04x} does not exist")]
    JmpOp { op: u16 },
    #[error("`ret x` is named by bpf.h but neither Linux nor libpcap runs it; use `txa; ret`")]
    RetX,
    #[error("MISC operation {op:#04x} does not exist (only tax and txa)")]
    MiscOp { op: u16 },
}

/// The Linux "ancillary" loads: absolute loads at offsets from
/// [`Ancillary::BASE`] (`SKF_AD_OFF`, -4096) read socket-buffer metadata
/// instead of packet bytes. Only the Linux kernel computes them; the
/// discriminants are the `SKF_AD_*` values, the names those libpcap's
/// listings print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Ancillary {
    /// `SKF_AD_PROTOCOL`: the skb protocol (EtherType).
    Protocol = 0,
    /// `SKF_AD_PKTTYPE`: host, broadcast, multicast, other host, outgoing.
    PktType = 4,
    /// `SKF_AD_IFINDEX`: the receiving interface.
    Ifindex = 8,
    /// `SKF_AD_NLATTR`: find a netlink attribute.
    NlAttr = 12,
    /// `SKF_AD_NLATTR_NEST`: find a nested netlink attribute.
    NlAttrNest = 16,
    /// `SKF_AD_MARK`: the skb mark.
    Mark = 20,
    /// `SKF_AD_QUEUE`: the receive queue.
    Queue = 24,
    /// `SKF_AD_HATYPE`: the device's hardware (ARPHRD) type.
    HaType = 28,
    /// `SKF_AD_RXHASH`: the flow hash.
    RxHash = 32,
    /// `SKF_AD_CPU`: the current CPU.
    Cpu = 36,
    /// `SKF_AD_ALU_XOR_X`: `A ^= X`.
    AluXorX = 40,
    /// `SKF_AD_VLAN_TAG`: the VLAN TCI the driver stripped.
    VlanTag = 44,
    /// `SKF_AD_VLAN_TAG_PRESENT`: whether a VLAN tag was stripped.
    VlanTagPresent = 48,
    /// `SKF_AD_PAY_OFFSET`: the offset of the transport payload.
    PayOffset = 52,
    /// `SKF_AD_RANDOM`: a random number.
    Random = 56,
    /// `SKF_AD_VLAN_TPID`: the stripped VLAN tag's protocol id.
    VlanTpid = 60,
}

impl Ancillary {
    /// `SKF_AD_OFF` as the unsigned `k` of a load.
    pub const BASE: u32 = 0xffff_f000;

    /// In the order of their offsets.
    pub const ALL: [Ancillary; 16] = [
        Ancillary::Protocol,
        Ancillary::PktType,
        Ancillary::Ifindex,
        Ancillary::NlAttr,
        Ancillary::NlAttrNest,
        Ancillary::Mark,
        Ancillary::Queue,
        Ancillary::HaType,
        Ancillary::RxHash,
        Ancillary::Cpu,
        Ancillary::AluXorX,
        Ancillary::VlanTag,
        Ancillary::VlanTagPresent,
        Ancillary::PayOffset,
        Ancillary::Random,
        Ancillary::VlanTpid,
    ];

    /// The `k` of an absolute load of this field.
    pub const fn offset(self) -> u32 {
        Ancillary::BASE + self as u32
    }

    /// The field an absolute load at `k` reads, if `k` names one.
    pub fn from_offset(k: u32) -> Option<Ancillary> {
        Ancillary::ALL.into_iter().find(|a| a.offset() == k)
    }

    /// The name libpcap's listing prints between brackets (`[vlan_tci]`).
    pub const fn name(self) -> &'static str {
        match self {
            Ancillary::Protocol => "proto",
            Ancillary::PktType => "type",
            Ancillary::Ifindex => "ifidx",
            Ancillary::NlAttr => "nla",
            Ancillary::NlAttrNest => "nlan",
            Ancillary::Mark => "mark",
            Ancillary::Queue => "queue",
            Ancillary::HaType => "hatype",
            Ancillary::RxHash => "rxhash",
            Ancillary::Cpu => "cpu",
            Ancillary::AluXorX => "xor_x",
            Ancillary::VlanTag => "vlan_tci",
            Ancillary::VlanTagPresent => "vlanp",
            Ancillary::PayOffset => "poff",
            Ancillary::Random => "random",
            Ancillary::VlanTpid => "vlan_tpid",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every opcode both engines accept, by value (`-ddd` writes them so).
    const VALID: [u16; 49] = [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0c, 0x14, 0x15, 0x16, 0x1c, 0x1d, 0x20,
        0x24, 0x25, 0x28, 0x2c, 0x2d, 0x30, 0x34, 0x35, 0x3c, 0x3d, 0x40, 0x44, 0x45, 0x48, 0x4c,
        0x4d, 0x50, 0x54, 0x5c, 0x60, 0x61, 0x64, 0x6c, 0x74, 0x7c, 0x80, 0x81, 0x84, 0x87, 0x94,
        0x9c, 0xa4, 0xac, 0xb1,
    ];

    #[test]
    fn exactly_the_49_engine_opcodes_decode() {
        let valid: Vec<u16> = (0..=u16::MAX)
            .filter(|&code| Op::decode(Insn::new(code, 0, 0, 0)).is_ok())
            .collect();
        assert_eq!(valid, VALID);
    }

    #[test]
    fn decode_inverts_encode() {
        for code in VALID {
            let insn = Insn::new(code, 3, 4, 0x8000_0001);
            let op = Op::decode(insn).unwrap();
            assert_eq!(Op::decode(op.encode()), Ok(op), "{code:#x}");
            assert_eq!(op.encode().code, code);
        }
    }

    #[test]
    fn well_known_encodings() {
        let ldh_12 = Op::Ld(Load::Abs {
            size: Size::Half,
            offset: 12,
        });
        assert_eq!(ldh_12.encode(), Insn::new(0x28, 0, 0, 12));
        let jeq_ip = Op::Jump {
            cond: JmpCond::Eq,
            src: Src::K(0x800),
            jt: 0,
            jf: 3,
        };
        assert_eq!(jeq_ip.encode(), Insn::new(0x15, 0, 3, 0x800));
        let msh = Op::Ldx(LoadX::Msh { offset: 14 });
        assert_eq!(msh.encode(), Insn::new(0xb1, 0, 0, 14));
        assert_eq!(
            Op::Ret(RetVal::K(0xffff)).encode(),
            Insn::new(6, 0, 0, 0xffff)
        );
    }

    #[test]
    fn errors_name_the_field() {
        let reason = |code| Op::decode(Insn::new(code, 0, 0, 0)).unwrap_err().reason;
        assert_eq!(reason(0x0e), Invalid::RetX);
        assert_eq!(reason(0x1e), Invalid::Reserved);
        assert_eq!(reason(0x0106), Invalid::Reserved);
        assert_eq!(reason(0x08), Invalid::Size { size: op::H });
        assert_eq!(reason(0x18), Invalid::Size { size: 0x18 });
        assert_eq!(reason(0x21), Invalid::Mode { mode: op::ABS });
        assert_eq!(reason(0xa0), Invalid::Mode { mode: op::MSH });
        assert_eq!(reason(0xa1), Invalid::Size { size: op::W });
        assert_eq!(reason(0x8c), Invalid::Reserved);
        assert_eq!(reason(0xb4), Invalid::AluOp { op: 0xb0 });
        assert_eq!(reason(0x55), Invalid::JmpOp { op: 0x50 });
        assert_eq!(reason(0x0d), Invalid::Reserved);
        assert_eq!(reason(0x0a), Invalid::Reserved);
        assert_eq!(reason(0x0f), Invalid::MiscOp { op: 0x08 });
        let message = Op::decode(Insn::new(0x0e, 0, 0, 0))
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("invalid cBPF opcode 0x000e: `ret x`"),
            "{message}"
        );
    }

    #[test]
    fn ancillary_offsets_round_trip() {
        for field in Ancillary::ALL {
            assert_eq!(Ancillary::from_offset(field.offset()), Some(field));
        }
        assert_eq!(Ancillary::VlanTag.offset(), 0xffff_f02c);
        assert_eq!(Ancillary::from_offset(0xffff_f002), None);
        assert_eq!(Ancillary::from_offset(0xffff_f040), None);
        assert_eq!(Ancillary::from_offset(12), None);
    }

    #[test]
    fn jumps_name_their_successors() {
        let jump = Op::Jump {
            cond: JmpCond::Set,
            src: Src::X,
            jt: 255,
            jf: 0,
        };
        assert_eq!(jump.successors(10), Successors::Two(266, 11));
        assert_eq!(Op::Ja { k: 3 }.successors(1), Successors::One(5));
        let back = Op::Ja { k: (-3i32) as u32 };
        assert_eq!(back.successors(1), Successors::One(-1));
        assert_eq!(
            Op::Ja { k: 0x8000_0000 }.successors(0),
            Successors::One(1 - (1 << 31))
        );
        assert_eq!(Op::Ret(RetVal::A).successors(0), Successors::None);
    }
}
