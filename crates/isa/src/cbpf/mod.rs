//! Classic BPF (cBPF): the instruction set of libpcap filters and Linux
//! socket filters, and libpcap's listings of it.
//!
//! Two levels, as for eBPF:
//!
//! - [`Insn`] is one instruction as stored, `struct bpf_insn` (`code`, `jt`,
//!   `jf`, `k`), whatever its bits mean.
//! - [`Op`] is its meaning: the 49 opcodes that the Linux checker and
//!   libpcap's interpreter both accept, with typed operands
//!   ([`Load`], [`LoadX`], [`AluOp`], [`JmpCond`], [`Src`], [`RetVal`]).
//!   [`Op::decode`] explains every other opcode with a [`DecodeError`].
//!
//! The machine: a 32-bit accumulator A, an index register X, sixteen 32-bit
//! scratch words `M[0..16]`, the packet (read only, big-endian loads), and
//! jumps relative to the next instruction (forward only in the kernel;
//! libpcap also loops back with `ja`); `ret` ends the filter with the number
//! of bytes to keep (0 rejects). [`opcode`] is the bit-level reference card;
//! checking a whole program and running it are visor-filter's business.
//!
//! [`Listing`] prints programs exactly as `tcpdump -d`, `-dd` and `-ddd`
//! (libpcap master's `bpf_image` and `bpf_dump`).
//!
//! ```
//! use visor_isa::cbpf::{Format, Insn, JmpCond, Listing, Load, Op, RetVal, Size, Src};
//! // tcpdump -d 'ip' on Ethernet
//! let program = [
//!     Op::Ld(Load::Abs { size: Size::Half, offset: 12 }),
//!     Op::Jump { cond: JmpCond::Eq, src: Src::K(0x800), jt: 0, jf: 1 },
//!     Op::Ret(RetVal::K(262144)),
//!     Op::Ret(RetVal::K(0)),
//! ]
//! .map(Op::encode);
//! assert_eq!(program[0], Insn::new(0x28, 0, 0, 12));
//! assert_eq!(
//!     Listing::new(&program, Format::Image).to_string(),
//!     "(000) ldh      [12]\n\
//!      (001) jeq      #0x800           jt 2\tjf 3\n\
//!      (002) ret      #262144\n\
//!      (003) ret      #0\n"
//! );
//! ```

mod listing;
mod op;
pub mod opcode;

pub use listing::{Format, Listing, image};
pub use op::{
    AluOp, Ancillary, DecodeError, Invalid, JmpCond, Load, LoadX, Op, RetVal, Size, Src, Successors,
};

/// Byte offsets inside one stored instruction (`struct bpf_insn`).
mod field {
    use core::ops::Range;
    pub const CODE: Range<usize> = 0..2;
    pub const JT: usize = 2;
    pub const JF: usize = 3;
    pub const K: Range<usize> = 4..8;
}

/// One instruction as stored: `struct bpf_insn` (`struct sock_filter` on
/// Linux). Any bit pattern is representable; [`Op::decode`] gives its
/// meaning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Insn {
    /// The opcode ([`opcode`]).
    pub code: u16,
    /// Conditional jumps: instructions to skip when the condition holds.
    pub jt: u8,
    /// Conditional jumps: instructions to skip when it does not.
    pub jf: u8,
    /// The constant operand: a value, an offset, a slot or a jump distance.
    pub k: u32,
}

/// The byte order of a stored instruction's `code` and `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    /// The host's order: the one the kernel expects in `SO_ATTACH_FILTER`.
    #[cfg(target_endian = "little")]
    pub const NATIVE: Endian = Endian::Little;
    /// The host's order: the one the kernel expects in `SO_ATTACH_FILTER`.
    #[cfg(target_endian = "big")]
    pub const NATIVE: Endian = Endian::Big;
}

impl Insn {
    /// Size of `struct bpf_insn` in bytes.
    pub const LEN: usize = 8;

    /// `BPF_STMT` and `BPF_JUMP` in one: the fields in `struct` order.
    pub const fn new(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
        Insn { code, jt, jf, k }
    }

    /// The meaning of this instruction ([`Op::decode`]).
    pub fn op(self) -> Result<Op, DecodeError> {
        Op::decode(self)
    }

    /// Reads a stored instruction.
    pub fn from_bytes(bytes: [u8; Insn::LEN], endian: Endian) -> Insn {
        let code = [bytes[field::CODE.start], bytes[field::CODE.start + 1]];
        let k = &bytes[field::K];
        let k = [k[0], k[1], k[2], k[3]];
        let (code, k) = match endian {
            Endian::Little => (u16::from_le_bytes(code), u32::from_le_bytes(k)),
            Endian::Big => (u16::from_be_bytes(code), u32::from_be_bytes(k)),
        };
        Insn {
            code,
            jt: bytes[field::JT],
            jf: bytes[field::JF],
            k,
        }
    }

    /// The stored form of this instruction.
    pub fn to_bytes(self, endian: Endian) -> [u8; Insn::LEN] {
        let (code, k) = match endian {
            Endian::Little => (self.code.to_le_bytes(), self.k.to_le_bytes()),
            Endian::Big => (self.code.to_be_bytes(), self.k.to_be_bytes()),
        };
        let mut bytes = [0; Insn::LEN];
        bytes[field::CODE].copy_from_slice(&code);
        bytes[field::JT] = self.jt;
        bytes[field::JF] = self.jf;
        bytes[field::K].copy_from_slice(&k);
        bytes
    }
}

impl From<Op> for Insn {
    fn from(op: Op) -> Insn {
        op.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_layout_is_struct_bpf_insn() {
        let insn = Insn::new(0x15, 2, 3, 0x0800);
        let le = [0x15, 0x00, 2, 3, 0x00, 0x08, 0x00, 0x00];
        let be = [0x00, 0x15, 2, 3, 0x00, 0x00, 0x08, 0x00];
        assert_eq!(insn.to_bytes(Endian::Little), le);
        assert_eq!(insn.to_bytes(Endian::Big), be);
        assert_eq!(Insn::from_bytes(le, Endian::Little), insn);
        assert_eq!(Insn::from_bytes(be, Endian::Big), insn);
        assert_eq!(Insn::from(Op::Tax), Insn::new(0x07, 0, 0, 0));
    }
}
