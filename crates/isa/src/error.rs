//! Why bytes are not a valid program.

use thiserror::Error;

/// A program that does not decode: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("instruction {pc} (byte offset {}): {kind}", pc * crate::SLOT_LEN)]
pub struct DecodeError {
    /// Index of the offending slot.
    pub pc: usize,
    pub kind: DecodeErrorKind,
}

/// The reason one instruction, or the program around it, is malformed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeErrorKind {
    #[error("program length {len} is not a multiple of 8 bytes")]
    PartialSlot { len: usize },
    #[error("empty program: it needs at least an exit")]
    Empty,
    #[error("unknown opcode {code:#04x}")]
    UnknownOpcode { code: u8 },
    #[error("opcode {code:#04x}: reserved field {field} must be 0, is {value}")]
    Reserved {
        code: u8,
        field: &'static str,
        value: i64,
    },
    #[error("opcode {code:#04x}: {field} register r{reg} does not exist (r0 to r10)")]
    BadRegister {
        code: u8,
        field: &'static str,
        reg: u8,
    },
    #[error("opcode {code:#04x}: invalid {field} {value}")]
    BadField {
        code: u8,
        field: &'static str,
        value: i64,
    },
    #[error("lddw needs a second slot, but the program ends")]
    TruncatedLoadImm64,
    #[error("second slot of lddw must be all zero but for imm (opcode {code:#04x})")]
    BadLoadImm64Tail { code: u8 },
    #[error("jump target {target} is outside the program (0 to {len})")]
    JumpOutOfRange { target: i64, len: usize },
    #[error("jump target {target} is the second half of an lddw")]
    JumpIntoLoadImm64 { target: usize },
}
