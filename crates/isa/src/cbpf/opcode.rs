//! The classic BPF opcode, bit by bit (`<pcap/bpf.h>`, `<linux/filter.h>`).
//!
//! ```text
//!   LD, LDX                ST, STX          ALU, JMP
//!   +------+------+-------+ +---------+-------+ +------+---+-------+
//!   | mode | size | class | |    0    | class | |  op  | s | class |
//!   +------+------+-------+ +---------+-------+ +------+---+-------+
//!    7    5 4    3 2     0   7       3 2     0   7    4  3  2     0
//!
//!   RET                          MISC
//!   +-----+------+-------+       +-------------+-------+
//!   |  0  | rval | class |       |   miscop    | class |
//!   +-----+------+-------+       +-------------+-------+
//!    7   5 4    3 2     0         7           3 2     0
//! ```
//!
//! The opcode is a 16-bit field of `struct bpf_insn`, but every defined
//! opcode fits in the low byte. Each constant is the value of its field in
//! place, so an opcode is the bitwise or of its parts (`LD | H | ABS` is
//! `0x28`, the `ldh [k]` of every Ethernet filter).

/// Mask of the class field.
pub const CLASS_MASK: u16 = 0x07;
/// Mask of the size field of LD and LDX.
pub const SIZE_MASK: u16 = 0x18;
/// Mask of the mode field of LD and LDX.
pub const MODE_MASK: u16 = 0xe0;
/// Mask of the operation field of ALU and JMP.
pub const OP_MASK: u16 = 0xf0;
/// Mask of the source bit of ALU and JMP.
pub const SRC_MASK: u16 = 0x08;
/// Mask of the return-value field of RET.
pub const RVAL_MASK: u16 = 0x18;
/// Mask of the operation field of MISC.
pub const MISCOP_MASK: u16 = 0xf8;
/// The bits a defined opcode may use; the high byte is always clear.
pub const BYTE_MASK: u16 = 0xff;

// Classes.
/// Loads into the accumulator A.
pub const LD: u16 = 0x00;
/// Loads into the index register X.
pub const LDX: u16 = 0x01;
/// `M[k] = A`
pub const ST: u16 = 0x02;
/// `M[k] = X`
pub const STX: u16 = 0x03;
/// Arithmetic on A, with `k` or X.
pub const ALU: u16 = 0x04;
/// Jumps: `ja`, and comparisons of A with `k` or X.
pub const JMP: u16 = 0x05;
/// End the filter with a value: how many bytes to accept, 0 to reject.
pub const RET: u16 = 0x06;
/// Register transfers between A and X.
pub const MISC: u16 = 0x07;

// Sizes of LD and LDX.
/// 4 bytes, big-endian.
pub const W: u16 = 0x00;
/// 2 bytes, big-endian.
pub const H: u16 = 0x08;
/// 1 byte.
pub const B: u16 = 0x10;

// Modes of LD and LDX.
/// `ld #k`: the constant `k`.
pub const IMM: u16 = 0x00;
/// `ld [k]`: the packet at offset `k`.
pub const ABS: u16 = 0x20;
/// `ld [x + k]`: the packet at offset `X + k`.
pub const IND: u16 = 0x40;
/// `ld M[k]`: scratch memory word `k`.
pub const MEM: u16 = 0x60;
/// `ld #pktlen`: the length of the packet on the wire.
pub const LEN: u16 = 0x80;
/// `ldxb 4*([k]&0xf)`: four times the low nibble of packet byte `k`, the
/// length of an IPv4 header (LDX only).
pub const MSH: u16 = 0xa0;

// ALU operations. Arithmetic is on 32 bits and wraps.
/// `A += src`
pub const ADD: u16 = 0x00;
/// `A -= src`
pub const SUB: u16 = 0x10;
/// `A *= src`
pub const MUL: u16 = 0x20;
/// `A /= src` (unsigned); a zero divisor ends the filter with 0.
pub const DIV: u16 = 0x30;
/// `A |= src`
pub const OR: u16 = 0x40;
/// `A &= src`
pub const AND: u16 = 0x50;
/// `A <<= src`; a shift of 32 or more gives 0.
pub const LSH: u16 = 0x60;
/// `A >>= src` (logical); a shift of 32 or more gives 0.
pub const RSH: u16 = 0x70;
/// `A = -A` (no operand).
pub const NEG: u16 = 0x80;
/// `A %= src`; a zero divisor ends the filter with 0 (a Linux addition).
pub const MOD: u16 = 0x90;
/// `A ^= src` (a Linux addition).
pub const XOR: u16 = 0xa0;

// JMP operations. Targets are relative to the next instruction.
/// `pc += k`, unconditionally.
pub const JA: u16 = 0x00;
/// `pc += (A == src) ? jt : jf`
pub const JEQ: u16 = 0x10;
/// `pc += (A > src) ? jt : jf` (unsigned)
pub const JGT: u16 = 0x20;
/// `pc += (A >= src) ? jt : jf` (unsigned)
pub const JGE: u16 = 0x30;
/// `pc += (A & src) != 0 ? jt : jf`
pub const JSET: u16 = 0x40;

// Sources of ALU and JMP.
/// The operand is the constant `k`.
pub const K: u16 = 0x00;
/// The operand is the index register X.
pub const X: u16 = 0x08;

// Return values of RET.
/// `ret #k`
pub const RET_K: u16 = 0x00;
/// `ret x`: named by `bpf.h`, but run by neither Linux nor libpcap.
pub const RET_X: u16 = 0x08;
/// `ret` (returns A)
pub const RET_A: u16 = 0x10;

// MISC operations.
/// `tax`: `X = A`
pub const TAX: u16 = 0x00;
/// `txa`: `A = X`
pub const TXA: u16 = 0x80;

/// Number of 32-bit words of scratch memory, `M[0]` to `M[15]`.
pub const MEM_WORDS: u32 = 16;
