//! Why a program could not be loaded or did not finish.

use thiserror::Error;
use visor_isa::{Insn, LoadImm};

use crate::helpers::HelperError;
use crate::layout::MAX_FRAMES;
use crate::maps::MapKind;
use crate::memory::AccessFault;

/// Everything that stops the engine. `pc` is the slot index of the
/// instruction at fault, as the disassembler numbers it.
#[derive(Debug, Error)]
pub enum VmError {
    // Load time: the program holds something this engine does not run.
    /// A call to a kernel function by BTF id.
    #[error("instruction {pc}: kfunc calls are not supported in userspace (kfunc BTF id {btf_id})")]
    KfuncCall {
        /// The call.
        pc: usize,
        /// The kernel function it names.
        btf_id: i32,
    },
    /// `lddw` with a pseudo source this engine does not resolve (BTF ids,
    /// function addresses).
    #[error(
        "instruction {pc}: lddw with pseudo source {} ({kind:?}) is unsupported here; \
         this engine runs plain 64-bit immediates (src 0) and map references (src 1, 2, 5, 6)",
        kind.pseudo()
    )]
    UnsupportedLoadImm64 {
        /// The `lddw`.
        pc: usize,
        /// Its pseudo source.
        kind: LoadImm,
    },
    /// An `lddw` naming a map the program was not given.
    #[error(
        "instruction {pc}: lddw names map {index}, but the program has {count} maps \
         (give them with Interpreter::with_maps)"
    )]
    UnknownMap {
        /// The `lddw`.
        pc: usize,
        /// The map index (or descriptor) it names.
        index: u32,
        /// Maps the program has.
        count: usize,
    },
    /// An `lddw` with `MAP_VALUE`/`MAP_IDX_VALUE` for a map whose value
    /// cannot be addressed so (the kernel's rule: an array of one entry),
    /// or with an offset past the value.
    #[error(
        "instruction {pc}: lddw points into map {index} ({kind}) at offset {offset}: \
         direct value access needs a one-entry array and an offset inside its {value_size}-byte value"
    )]
    BadMapValue {
        /// The `lddw`.
        pc: usize,
        /// The map index.
        index: u32,
        /// Its type.
        kind: MapKind,
        /// The offset asked for.
        offset: u32,
        /// The map's value size.
        value_size: u32,
    },
    /// An `Insn` value with no encoding, such as a 7-bit byte swap (only
    /// possible for programs built from `Insn` values, not decoded ones).
    #[error("instruction {pc}: {insn:?} is not a valid eBPF instruction")]
    InvalidInsn {
        /// Where.
        pc: usize,
        /// The instruction.
        insn: Insn,
    },
    /// A jump or call whose target is not an instruction of the program.
    #[error("instruction {pc}: target {target} is outside the program ({len} slots)")]
    BadTarget {
        /// The jump or call.
        pc: usize,
        /// The slot it names.
        target: i64,
        /// Program length in slots.
        len: usize,
    },
    /// More slots than a branch target can name.
    #[error(
        "program of {slots} slots is too long for this engine (at most {} slots)",
        u32::MAX
    )]
    ProgramTooLong {
        /// Its length in slots.
        slots: usize,
    },

    // Run time.
    /// A load, store or atomic the memory model refused.
    #[error("instruction {pc}: {fault}")]
    MemoryAccess {
        /// The instruction.
        pc: usize,
        /// What it tried, and why it was refused.
        fault: AccessFault,
    },
    /// `call` or `callx` of an id no helper is registered for.
    #[error("instruction {pc}: helper {id} is not registered")]
    UnknownHelper {
        /// The call.
        pc: usize,
        /// The helper id asked for.
        id: u64,
    },
    /// A helper reported an error.
    #[error("instruction {pc}: helper {id} ({name}) failed: {cause}")]
    Helper {
        /// The call.
        pc: usize,
        /// The helper's id.
        id: u32,
        /// Its registered name.
        name: String,
        /// What went wrong.
        cause: HelperError,
    },
    /// A local call beyond the deepest frame.
    #[error("instruction {pc}: call depth limit reached ({} frames)", MAX_FRAMES)]
    CallDepthExceeded {
        /// The call.
        pc: usize,
    },
    /// `bpf_tail_call` from inside a local call: this engine runs tail
    /// calls from the main program's frame only.
    #[error(
        "instruction {pc}: tail calls from a subprogram (call depth {depth}) are not supported here"
    )]
    TailCallInSubprogram {
        /// The call.
        pc: usize,
        /// The call depth it was made at.
        depth: usize,
    },
    /// The instruction budget ran out.
    #[error("instruction {pc}: instruction budget of {budget} exhausted")]
    BudgetExhausted {
        /// The instruction that would have exceeded the budget.
        pc: usize,
        /// The budget.
        budget: u64,
    },
    /// Execution ran past the last instruction without `exit`.
    #[error("execution fell off the end of the program at slot {pc} without exit")]
    FellOffEnd {
        /// The slot after the last instruction.
        pc: usize,
    },
    /// Control reached the second slot of an `lddw` (cannot happen for a
    /// checked `Program`; reported rather than assumed).
    #[error("instruction {pc}: control reached the second slot of an lddw")]
    IntoLoadImm64 {
        /// The slot.
        pc: usize,
    },
}

impl VmError {
    /// The instruction the error is about, if it is about one.
    pub fn pc(&self) -> Option<usize> {
        match *self {
            VmError::KfuncCall { pc, .. }
            | VmError::UnsupportedLoadImm64 { pc, .. }
            | VmError::UnknownMap { pc, .. }
            | VmError::BadMapValue { pc, .. }
            | VmError::TailCallInSubprogram { pc, .. }
            | VmError::InvalidInsn { pc, .. }
            | VmError::BadTarget { pc, .. }
            | VmError::MemoryAccess { pc, .. }
            | VmError::UnknownHelper { pc, .. }
            | VmError::Helper { pc, .. }
            | VmError::CallDepthExceeded { pc }
            | VmError::BudgetExhausted { pc, .. }
            | VmError::IntoLoadImm64 { pc } => Some(pc),
            VmError::FellOffEnd { .. } | VmError::ProgramTooLong { .. } => None,
        }
    }
}
