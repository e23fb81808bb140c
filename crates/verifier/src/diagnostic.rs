//! Why a program was rejected: one root-cause diagnostic.
//!
//! A [`Rejection`] names the instruction (slot index and disassembly), the
//! source line when BTF line info has it, a [`Category`] tests and tools can
//! match on, a sentence that says what to change, and the register state
//! where the analysis stopped.

use core::fmt;

/// The kind of rule a rejected program broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// Unreachable code, a jump leaving its function, no final `exit`.
    ControlFlow,
    /// Recursion, calls nested too deep, too much combined stack.
    CallStack,
    /// A loop that may not end, or more states than the budget allows.
    Termination,
    /// A register read before it was written.
    UninitRegister,
    /// Stack bytes read (or passed to a helper) before they were written.
    UninitStack,
    /// A write to `r10`.
    FramePointerWrite,
    /// A pointer that may be null, dereferenced or passed on unchecked.
    NullPointer,
    /// A load or store outside its region (stack, map value, memory).
    OutOfBounds,
    /// A packet access not proven to lie before `data_end`.
    PacketBounds,
    /// A context field the program type does not allow at that size.
    ContextAccess,
    /// A load or store through something that is not a pointer, or into a
    /// region that cannot be accessed that way.
    InvalidMemoryAccess,
    /// Arithmetic the kernel forbids on pointers.
    PointerArithmetic,
    /// A pointer stored where the program's user can read it.
    PointerLeak,
    /// A helper argument of the wrong kind or size.
    HelperArgument,
    /// A helper that does not exist.
    UnknownHelper,
    /// A helper the program type may not call.
    HelperNotAllowed,
    /// A map key that is out of range for an array map.
    MapKeyOutOfRange,
    /// A return value outside the program type's range.
    ReturnValue,
    /// A divisor that may be zero, where the environment forbids it.
    DivisionByZero,
    /// A malformed instruction or reference (bad map index, bad shift).
    InvalidInstruction,
    /// Something this verifier does not model yet.
    Unsupported,
}

impl Category {
    /// Short name used in `--json` output and tables.
    pub fn name(self) -> &'static str {
        match self {
            Category::ControlFlow => "control-flow",
            Category::CallStack => "call-stack",
            Category::Termination => "termination",
            Category::UninitRegister => "uninit-register",
            Category::UninitStack => "uninit-stack",
            Category::FramePointerWrite => "frame-pointer-write",
            Category::NullPointer => "null-pointer",
            Category::OutOfBounds => "out-of-bounds",
            Category::PacketBounds => "packet-bounds",
            Category::ContextAccess => "context-access",
            Category::InvalidMemoryAccess => "invalid-memory-access",
            Category::PointerArithmetic => "pointer-arithmetic",
            Category::PointerLeak => "pointer-leak",
            Category::HelperArgument => "helper-argument",
            Category::UnknownHelper => "unknown-helper",
            Category::HelperNotAllowed => "helper-not-allowed",
            Category::MapKeyOutOfRange => "map-key-out-of-range",
            Category::ReturnValue => "return-value",
            Category::DivisionByZero => "division-by-zero",
            Category::InvalidInstruction => "invalid-instruction",
            Category::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A source location from BTF line info.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLine {
    pub file: String,
    pub line: u32,
    pub text: String,
}

/// The verifier's verdict against a program, with its root cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Slot index of the offending instruction.
    pub pc: usize,
    /// The instruction, disassembled (empty when there is none).
    pub insn: String,
    pub category: Category,
    /// What is wrong and what to do, in a sentence.
    pub message: String,
    /// The registers (and stack) where the analysis stopped.
    pub state: String,
    pub source: Option<Box<SourceLine>>,
}

impl Rejection {
    pub(crate) fn new(pc: usize, category: Category, message: impl Into<String>) -> Rejection {
        Rejection {
            pc,
            insn: String::new(),
            category,
            message: message.into(),
            state: String::new(),
            source: None,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}] at {}", self.category, self.pc)?;
        if !self.insn.is_empty() {
            write!(f, ": {}", self.insn)?;
        }
        writeln!(f)?;
        if let Some(source) = &self.source {
            writeln!(
                f,
                "  --> {}:{}: {}",
                source.file,
                source.line,
                source.text.trim()
            )?;
        }
        writeln!(f, "  {}", self.message)?;
        if !self.state.is_empty() {
            writeln!(f, "  state: {}", self.state)?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejection {}
