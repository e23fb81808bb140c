//! One instruction: the raw slot as stored, and [`Insn`], its meaning.
//!
//! Every 8-byte slot either decodes into an [`Insn`] or yields a
//! [`DecodeError`] that says why; [`Insn::encode`] gives the slots back, so
//! `decode(encode(i)) == i` for every `Insn` and `encode(decode(s)) == s` for
//! every slot sequence that decodes.

use crate::opcode as op;

/// Length in bytes of one instruction slot.
pub const SLOT_LEN: usize = 8;

/// Byte offsets inside one 8-byte slot (RFC 9669, section 3).
mod field {
    pub const OPCODE: usize = 0;
    /// Little-endian objects: dst in the low nibble, src in the high one.
    pub const REGS: usize = 1;
    pub const OFF: core::ops::Range<usize> = 2..4;
    pub const IMM: core::ops::Range<usize> = 4..8;
}

/// One instruction slot as stored, whatever its bits mean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Slot {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Slot {
    /// Reads a little-endian slot.
    pub fn from_bytes(bytes: [u8; SLOT_LEN]) -> Slot {
        let regs = bytes[field::REGS];
        let off = &bytes[field::OFF];
        let imm = &bytes[field::IMM];
        Slot {
            code: bytes[field::OPCODE],
            dst: regs & 0x0f,
            src: regs >> 4,
            off: i16::from_le_bytes([off[0], off[1]]),
            imm: i32::from_le_bytes([imm[0], imm[1], imm[2], imm[3]]),
        }
    }

    /// Writes the slot little-endian. Register fields keep their low nibble.
    pub fn to_bytes(self) -> [u8; SLOT_LEN] {
        let mut bytes = [0; SLOT_LEN];
        bytes[field::OPCODE] = self.code;
        bytes[field::REGS] = (self.dst & 0x0f) | (self.src << 4);
        bytes[field::OFF].copy_from_slice(&self.off.to_le_bytes());
        bytes[field::IMM].copy_from_slice(&self.imm.to_le_bytes());
        bytes
    }

    /// The slot as the 64-bit word the conformance suite's `-- raw` shows.
    pub fn to_word(self) -> u64 {
        u64::from_le_bytes(self.to_bytes())
    }

    /// The slot of a 64-bit word as `-- raw` shows it.
    pub fn from_word(word: u64) -> Slot {
        Slot::from_bytes(word.to_le_bytes())
    }
}

/// A register, `r0` to `r10` (`r10` is the read-only frame pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(u8);

impl Reg {
    /// Return value, and the first argument's scratch.
    pub const R0: Reg = Reg(0);
    /// First argument: the context or input memory at program entry.
    pub const R1: Reg = Reg(1);
    pub const R2: Reg = Reg(2);
    pub const R3: Reg = Reg(3);
    pub const R4: Reg = Reg(4);
    pub const R5: Reg = Reg(5);
    pub const R6: Reg = Reg(6);
    pub const R7: Reg = Reg(7);
    pub const R8: Reg = Reg(8);
    pub const R9: Reg = Reg(9);
    /// The frame pointer: the top of the current stack frame.
    pub const R10: Reg = Reg(10);
    /// Number of registers.
    pub const COUNT: usize = 11;
    /// Every register, by number.
    pub const ALL: [Reg; Reg::COUNT] = [
        Reg::R0,
        Reg::R1,
        Reg::R2,
        Reg::R3,
        Reg::R4,
        Reg::R5,
        Reg::R6,
        Reg::R7,
        Reg::R8,
        Reg::R9,
        Reg::R10,
    ];

    /// `Some` for `0..=10`.
    pub const fn new(n: u8) -> Option<Reg> {
        if (n as usize) < Reg::COUNT {
            Some(Reg(n))
        } else {
            None
        }
    }

    pub const fn index(self) -> usize {
        self.0 as usize
    }

    pub const fn number(self) -> u8 {
        self.0
    }
}

impl core::fmt::Display for Reg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// The operand width of an ALU or JMP instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// ALU and JMP32: low 32 bits; ALU results are zero-extended.
    W32,
    /// ALU64 and JMP: all 64 bits.
    W64,
}

impl Width {
    pub const fn bits(self) -> u32 {
        match self {
            Width::W32 => 32,
            Width::W64 => 64,
        }
    }
}

/// The size of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    pub const ALL: [Size; 4] = [Size::B, Size::H, Size::W, Size::DW];

    pub const fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    pub(crate) const fn field(self) -> u8 {
        match self {
            Size::B => op::B,
            Size::H => op::H,
            Size::W => op::W,
            Size::DW => op::DW,
        }
    }

    pub(crate) const fn from_field(code: u8) -> Size {
        match code & op::SIZE_MASK {
            op::B => Size::B,
            op::H => Size::H,
            op::W => Size::W,
            _ => Size::DW,
        }
    }

    /// The size of `bits` (8, 16, 32 or 64).
    pub const fn from_bits(bits: u32) -> Option<Size> {
        match bits {
            8 => Some(Size::B),
            16 => Some(Size::H),
            32 => Some(Size::W),
            64 => Some(Size::DW),
            _ => None,
        }
    }
}

/// The second operand of ALU, JMP and store instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    Reg(Reg),
    Imm(i32),
}

/// Binary ALU operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    /// Signed division (`DIV` with `off = 1`, v4).
    Sdiv,
    Or,
    And,
    Lsh,
    Rsh,
    Mod,
    /// Signed modulo (`MOD` with `off = 1`, v4).
    Smod,
    Xor,
    Mov,
    /// Move with sign extension from the low 8, 16 or 32 bits (v4).
    Movsx(Size),
    Arsh,
}

impl AluOp {
    /// The operations that take any source, immediate or register: every
    /// one but the sign-extending moves.
    pub const BINARY: [AluOp; 14] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::Sdiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::Smod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
    ];

    /// Every operation: [`AluOp::BINARY`] and the three sign-extending moves.
    pub const ALL: [AluOp; 17] = {
        let mut all = [AluOp::Add; 17];
        let mut i = 0;
        while i < AluOp::BINARY.len() {
            all[i] = AluOp::BINARY[i];
            i += 1;
        }
        all[14] = AluOp::Movsx(Size::B);
        all[15] = AluOp::Movsx(Size::H);
        all[16] = AluOp::Movsx(Size::W);
        all
    };

    /// The op field and the `off` that selects this operation.
    pub(crate) const fn encoding(self) -> (u8, i16) {
        match self {
            AluOp::Add => (op::ADD, 0),
            AluOp::Sub => (op::SUB, 0),
            AluOp::Mul => (op::MUL, 0),
            AluOp::Div => (op::DIV, 0),
            AluOp::Sdiv => (op::DIV, 1),
            AluOp::Or => (op::OR, 0),
            AluOp::And => (op::AND, 0),
            AluOp::Lsh => (op::LSH, 0),
            AluOp::Rsh => (op::RSH, 0),
            AluOp::Mod => (op::MOD, 0),
            AluOp::Smod => (op::MOD, 1),
            AluOp::Xor => (op::XOR, 0),
            AluOp::Mov => (op::MOV, 0),
            AluOp::Movsx(size) => (op::MOV, (size.bytes() * 8) as i16),
            AluOp::Arsh => (op::ARSH, 0),
        }
    }
}

/// Byte-order conversions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// `le16/32/64`: to little-endian (on a little-endian host, truncation).
    ToLe,
    /// `be16/32/64`: to big-endian.
    ToBe,
    /// `bswap16/32/64`: unconditional swap (ALU64 class, v4).
    Swap,
}

/// Conditions of conditional jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpCond {
    Eq,
    Gt,
    Ge,
    Set,
    Ne,
    Sgt,
    Sge,
    Lt,
    Le,
    Slt,
    Sle,
}

impl JmpCond {
    pub const ALL: [JmpCond; 11] = [
        JmpCond::Eq,
        JmpCond::Gt,
        JmpCond::Ge,
        JmpCond::Set,
        JmpCond::Ne,
        JmpCond::Sgt,
        JmpCond::Sge,
        JmpCond::Lt,
        JmpCond::Le,
        JmpCond::Slt,
        JmpCond::Sle,
    ];

    pub(crate) const fn field(self) -> u8 {
        match self {
            JmpCond::Eq => op::JEQ,
            JmpCond::Gt => op::JGT,
            JmpCond::Ge => op::JGE,
            JmpCond::Set => op::JSET,
            JmpCond::Ne => op::JNE,
            JmpCond::Sgt => op::JSGT,
            JmpCond::Sge => op::JSGE,
            JmpCond::Lt => op::JLT,
            JmpCond::Le => op::JLE,
            JmpCond::Slt => op::JSLT,
            JmpCond::Sle => op::JSLE,
        }
    }

    pub(crate) fn from_field(field: u8) -> Option<JmpCond> {
        JmpCond::ALL.into_iter().find(|c| c.field() == field)
    }
}

/// Read-modify-write operations of the ATOMIC mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `*addr += src`; with fetch, `src` receives the old value.
    Add {
        fetch: bool,
    },
    Or {
        fetch: bool,
    },
    And {
        fetch: bool,
    },
    Xor {
        fetch: bool,
    },
    /// `src` and `*addr` trade values.
    Xchg,
    /// If `*addr == r0` then `*addr = src`; `r0` receives the old value.
    Cmpxchg,
}

impl AtomicOp {
    pub(crate) const fn imm(self) -> i32 {
        let (base, fetch) = match self {
            AtomicOp::Add { fetch } => (op::ADD, fetch),
            AtomicOp::Or { fetch } => (op::OR, fetch),
            AtomicOp::And { fetch } => (op::AND, fetch),
            AtomicOp::Xor { fetch } => (op::XOR, fetch),
            AtomicOp::Xchg => return op::XCHG,
            AtomicOp::Cmpxchg => return op::CMPXCHG,
        };
        base as i32 | if fetch { op::FETCH } else { 0 }
    }

    pub(crate) fn from_imm(imm: i32) -> Option<AtomicOp> {
        let fetch = imm & op::FETCH != 0;
        Some(match imm {
            op::XCHG => AtomicOp::Xchg,
            op::CMPXCHG => AtomicOp::Cmpxchg,
            _ if imm & !(0xf0 | op::FETCH) != 0 => return None,
            _ => match (imm & 0xf0) as u8 {
                op::ADD => AtomicOp::Add { fetch },
                op::OR => AtomicOp::Or { fetch },
                op::AND => AtomicOp::And { fetch },
                op::XOR => AtomicOp::Xor { fetch },
                _ => return None,
            },
        })
    }
}

/// What the 64-bit immediate of `lddw` means (its `src` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoadImm {
    /// A plain 64-bit constant.
    Imm64,
    /// A map, by file descriptor (low 32 bits).
    MapFd,
    /// The address of a map's value plus an offset (high 32 bits).
    MapValue,
    /// A kernel variable, by BTF id.
    BtfId,
    /// The address of a local function, `imm` slots after the next one.
    Func,
    /// A map, by index into the program's map table.
    MapIdx,
    /// A map value by map index, plus an offset (high 32 bits).
    MapIdxValue,
}

impl LoadImm {
    pub const ALL: [LoadImm; 7] = [
        LoadImm::Imm64,
        LoadImm::MapFd,
        LoadImm::MapValue,
        LoadImm::BtfId,
        LoadImm::Func,
        LoadImm::MapIdx,
        LoadImm::MapIdxValue,
    ];

    /// The `src` field value (`BPF_PSEUDO_*`).
    pub const fn pseudo(self) -> u8 {
        match self {
            LoadImm::Imm64 => op::PSEUDO_IMM64,
            LoadImm::MapFd => op::PSEUDO_MAP_FD,
            LoadImm::MapValue => op::PSEUDO_MAP_VALUE,
            LoadImm::BtfId => op::PSEUDO_BTF_ID,
            LoadImm::Func => op::PSEUDO_FUNC,
            LoadImm::MapIdx => op::PSEUDO_MAP_IDX,
            LoadImm::MapIdxValue => op::PSEUDO_MAP_IDX_VALUE,
        }
    }
}

/// What a `call` (with the K source) calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallTarget {
    /// A helper by its static id.
    Helper(i32),
    /// A local function at `PC + imm + 1`.
    Local(i32),
    /// A kernel function by BTF id.
    Kfunc(i32),
}

/// Where a legacy packet load reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketOffset {
    /// `LD_ABS`: at `imm`.
    Abs,
    /// `LD_IND`: at `src + imm`.
    Ind(Reg),
}

/// One instruction, by meaning. `LoadImm64` takes two slots, every other one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Insn {
    /// `dst = dst op src` at `width`.
    Alu {
        width: Width,
        op: AluOp,
        dst: Reg,
        src: Source,
    },
    /// `dst = -dst` at `width`.
    Neg { width: Width, dst: Reg },
    /// Byte-order conversion of the low `bits` (16, 32 or 64) of `dst`.
    Endian {
        order: ByteOrder,
        bits: u8,
        dst: Reg,
    },
    /// `dst = *(size *)(src + off)`, sign-extended when `signed` (v4).
    Load {
        size: Size,
        signed: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    /// `*(size *)(dst + off) = src`.
    Store {
        size: Size,
        dst: Reg,
        off: i16,
        src: Source,
    },
    /// An atomic operation on `*(size *)(dst + off)` with `src`; size W or DW.
    Atomic {
        size: Size,
        op: AtomicOp,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    /// `lddw`: `dst = imm`, interpreted by `kind`.
    LoadImm64 { kind: LoadImm, dst: Reg, imm: u64 },
    /// Legacy packet load into r0 (`LD_ABS`, `LD_IND`), size B, H or W.
    LoadPacket {
        size: Size,
        offset: PacketOffset,
        imm: i32,
    },
    /// `if dst cond src goto PC + off + 1`, compared at `width`.
    Jump {
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Source,
        off: i16,
    },
    /// `goto PC + off + 1`: `ja` (16-bit `off`) or, when `long`, `gotol` (JMP32, 32-bit).
    Ja { off: i32, long: bool },
    /// A call with an immediate target.
    Call(CallTarget),
    /// `callx dst`: call the helper or function whose id the register holds.
    CallReg(Reg),
    /// Return to the caller, or end the program.
    Exit,
}

/// The result of [`Insn::encode`]: one slot, or two for `lddw`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoded {
    slots: [Slot; 2],
    len: usize,
}

impl Encoded {
    pub(crate) fn one(slot: Slot) -> Encoded {
        Encoded {
            slots: [slot, Slot::default()],
            len: 1,
        }
    }

    pub(crate) fn two(first: Slot, second: Slot) -> Encoded {
        Encoded {
            slots: [first, second],
            len: 2,
        }
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots[..self.len]
    }
}
