//! The opcode byte, bit by bit (RFC 9669, section 3).
//!
//! ```text
//!   ALU, ALU64, JMP, JMP32            LD, LDX, ST, STX
//!   +-------+---+-------+             +-------+-----+-------+
//!   |  op   | s | class |             | mode  | sz  | class |
//!   +-------+---+-------+             +-------+-----+-------+
//!    7    4   3  2    0                7    5  4  3  2    0
//! ```
//!
//! `s` is the source bit: `K` takes the 32-bit immediate, `X` the source
//! register. Every constant here is the value of its field in place, so an
//! opcode is the bitwise or of its parts (`ALU64 | ADD | X` is `0x0f`).

/// Mask of the class field.
pub const CLASS_MASK: u8 = 0x07;
/// Mask of the operation field of ALU and JMP classes.
pub const OP_MASK: u8 = 0xf0;
/// Mask of the source bit of ALU and JMP classes.
pub const SOURCE_MASK: u8 = 0x08;
/// Mask of the mode field of load and store classes.
pub const MODE_MASK: u8 = 0xe0;
/// Mask of the size field of load and store classes.
pub const SIZE_MASK: u8 = 0x18;

// Classes.
/// Non-standard loads: `lddw` and the legacy packet loads.
pub const LD: u8 = 0x00;
/// Loads into a register: `dst = *(size *)(src + off)`.
pub const LDX: u8 = 0x01;
/// Stores of an immediate: `*(size *)(dst + off) = imm`.
pub const ST: u8 = 0x02;
/// Stores of a register and atomic operations.
pub const STX: u8 = 0x03;
/// 32-bit arithmetic; the result is zero-extended to 64 bits.
pub const ALU: u8 = 0x04;
/// 64-bit jumps, calls and exit.
pub const JMP: u8 = 0x05;
/// 32-bit jumps: the comparison looks at the low halves only.
pub const JMP32: u8 = 0x06;
/// 64-bit arithmetic.
pub const ALU64: u8 = 0x07;

// Source bit.
/// The operand is the 32-bit immediate.
pub const K: u8 = 0x00;
/// The operand is the source register.
pub const X: u8 = 0x08;

// ALU operations.
/// `dst += src`
pub const ADD: u8 = 0x00;
/// `dst -= src`
pub const SUB: u8 = 0x10;
/// `dst *= src`
pub const MUL: u8 = 0x20;
/// `dst /= src` (unsigned; `off = 1` makes it signed); `x / 0 = 0`.
pub const DIV: u8 = 0x30;
/// `dst |= src`
pub const OR: u8 = 0x40;
/// `dst &= src`
pub const AND: u8 = 0x50;
/// `dst <<= src`, the shift masked to the operand width.
pub const LSH: u8 = 0x60;
/// `dst >>= src` (logical), the shift masked to the operand width.
pub const RSH: u8 = 0x70;
/// `dst = -dst`
pub const NEG: u8 = 0x80;
/// `dst %= src` (unsigned; `off = 1` makes it signed); `x % 0 = x`.
pub const MOD: u8 = 0x90;
/// `dst ^= src`
pub const XOR: u8 = 0xa0;
/// `dst = src` (`off` = 8, 16 or 32 sign-extends the low bits of `src`).
pub const MOV: u8 = 0xb0;
/// `dst >>= src` (arithmetic), the shift masked to the operand width.
pub const ARSH: u8 = 0xc0;
/// Byte-order conversion of the low `imm` bits of `dst`.
pub const END: u8 = 0xd0;

// Byte-order sources (the source bit of an END instruction).
/// ALU class: convert to little-endian. ALU64 class: swap unconditionally.
pub const TO_LE: u8 = 0x00;
/// ALU class: convert to big-endian.
pub const TO_BE: u8 = 0x08;

// JMP operations.
/// `PC += off` (JMP) or `PC += imm` (JMP32, `gotol`).
pub const JA: u8 = 0x00;
/// `PC += off if dst == src`
pub const JEQ: u8 = 0x10;
/// `PC += off if dst > src` (unsigned)
pub const JGT: u8 = 0x20;
/// `PC += off if dst >= src` (unsigned)
pub const JGE: u8 = 0x30;
/// `PC += off if dst & src != 0`
pub const JSET: u8 = 0x40;
/// `PC += off if dst != src`
pub const JNE: u8 = 0x50;
/// `PC += off if dst > src` (signed)
pub const JSGT: u8 = 0x60;
/// `PC += off if dst >= src` (signed)
pub const JSGE: u8 = 0x70;
/// Call a helper, a local function or a kfunc (by `src`), or `callx`.
pub const CALL: u8 = 0x80;
/// Return from a function, or end the program with r0.
pub const EXIT: u8 = 0x90;
/// `PC += off if dst < src` (unsigned)
pub const JLT: u8 = 0xa0;
/// `PC += off if dst <= src` (unsigned)
pub const JLE: u8 = 0xb0;
/// `PC += off if dst < src` (signed)
pub const JSLT: u8 = 0xc0;
/// `PC += off if dst <= src` (signed)
pub const JSLE: u8 = 0xd0;

// Load and store sizes.
/// 4 bytes.
pub const W: u8 = 0x00;
/// 2 bytes.
pub const H: u8 = 0x08;
/// 1 byte.
pub const B: u8 = 0x10;
/// 8 bytes.
pub const DW: u8 = 0x18;

// Load and store modes.
/// 64-bit immediate (`lddw`, two slots).
pub const IMM: u8 = 0x00;
/// Legacy packet load at an absolute offset.
pub const ABS: u8 = 0x20;
/// Legacy packet load at `src + imm`.
pub const IND: u8 = 0x40;
/// Regular memory access.
pub const MEM: u8 = 0x60;
/// Sign-extending load.
pub const MEMSX: u8 = 0x80;
/// Atomic read-modify-write; the operation is in `imm`.
pub const ATOMIC: u8 = 0xc0;

// Atomic operations (the `imm` of an ATOMIC instruction).
/// With [`FETCH`]: the old value is returned in `src`.
pub const FETCH: i32 = 0x01;
/// Exchange (always fetches).
pub const XCHG: i32 = 0xe0 | FETCH;
/// Compare `r0` and exchange (always fetches, into `r0`).
pub const CMPXCHG: i32 = 0xf0 | FETCH;

// Pseudo sources of `lddw` (the `src` field).
/// `dst = imm64`
pub const PSEUDO_IMM64: u8 = 0;
/// `dst = map_by_fd(imm)`
pub const PSEUDO_MAP_FD: u8 = 1;
/// `dst = map_val(map_by_fd(imm)) + next_imm`
pub const PSEUDO_MAP_VALUE: u8 = 2;
/// `dst = var_addr(imm)`, a BTF variable
pub const PSEUDO_BTF_ID: u8 = 3;
/// `dst = code_addr(imm)`, a function at `PC + imm + 1`
pub const PSEUDO_FUNC: u8 = 4;
/// `dst = map_by_idx(imm)`
pub const PSEUDO_MAP_IDX: u8 = 5;
/// `dst = map_val(map_by_idx(imm)) + next_imm`
pub const PSEUDO_MAP_IDX_VALUE: u8 = 6;

// Call sources (the `src` field of CALL with K).
/// `imm` is a helper id.
pub const CALL_HELPER: u8 = 0;
/// `imm` is the distance to a local function.
pub const CALL_LOCAL: u8 = 1;
/// `imm` is the BTF id of a kernel function.
pub const CALL_KFUNC: u8 = 2;
