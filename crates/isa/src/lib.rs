//! The eBPF instruction set (RFC 9669): the opcode reference card, typed
//! instructions with strict encode and decode, whole-program checks, an
//! assembler for two syntaxes and a disassembler.
//!
//! **Architecture Invariant:** depends on no visor crate and does no I/O;
//! every 8-byte pattern either decodes or yields a [`DecodeError`].
//!
//! ```
//! use visor_isa::{Insn, Program};
//! let program = Program::decode(&[0x95, 0, 0, 0, 0, 0, 0, 0]).unwrap();
//! assert_eq!(program.insns(), &[Insn::Exit]);
//! ```
#![forbid(unsafe_code)]

pub mod asm;
pub mod cbpf;
mod codec;
pub mod disasm;
mod error;
mod insn;
pub mod opcode;
mod program;
pub mod testdata;

pub use error::{DecodeError, DecodeErrorKind};
pub use insn::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Encoded, Insn, JmpCond, LoadImm, PacketOffset, Reg,
    SLOT_LEN, Size, Slot, Source, Width,
};
pub use program::{Program, branch_target};
