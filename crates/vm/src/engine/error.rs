//! [`EngineError`]: why an object did not load or a program did not run.

use thiserror::Error;

use crate::error::VmError;
use crate::maps::MapError;

use super::names::helper_name;

/// Why loading an object or running one of its programs failed.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The bytes are not an object this crate's parser takes.
    #[error(transparent)]
    Object(#[from] visor_object::ObjectError),
    /// A map type the engine does not have.
    #[error("map {map}: type {map_type} is not supported by the userspace engine")]
    MapType {
        /// The map.
        map: String,
        /// The kernel's name for its type.
        map_type: String,
    },
    /// A map could not be created or initialised.
    #[error("map {map}: {reason}")]
    Map {
        /// The map.
        map: String,
        /// Why (in the message, so not also a `source`: error chains
        /// would say it twice).
        reason: MapError,
    },
    /// A `.maps` initialiser names a program or map the object lacks.
    #[error("map {map}: slot {slot} names {target}, which the object does not have")]
    MissingSlot {
        /// The map.
        map: String,
        /// The slot.
        slot: u32,
        /// What it names.
        target: String,
    },
    /// A program calls a helper the engine does not have.
    #[error(
        "program {program}: instruction {pc} calls helper {id} ({}), which the userspace engine does not implement",
        helper_name(*id as u32).unwrap_or("unknown")
    )]
    UnknownHelper {
        /// The program.
        program: String,
        /// The call.
        pc: usize,
        /// The helper id.
        id: i32,
    },
    /// A program calls a kernel function.
    #[error(
        "program {program}: instruction {pc} calls kernel function (BTF id {id}); kfuncs run only in the kernel"
    )]
    Kfunc {
        /// The program.
        program: String,
        /// The call.
        pc: usize,
        /// The BTF id.
        id: i32,
    },
    /// A program refers to an extern symbol (`.kconfig`, `.ksyms`).
    #[error("program {program}: extern {symbol} is not resolved by the userspace engine")]
    Extern {
        /// The program.
        program: String,
        /// The symbol.
        symbol: String,
    },
    /// The interpreter refused the program.
    #[error("program {program}: {reason}")]
    Prepare {
        /// The program.
        program: String,
        /// Why (in the message only, as for [`EngineError::Map`]).
        reason: Box<VmError>,
    },
    /// The JIT was required and does not take the program.
    #[error("program {program}: the JIT cannot compile it: {reason}")]
    Jit {
        /// The program.
        program: String,
        /// Why (in the message only).
        reason: crate::JitError,
    },
    /// The program's type has no context in this engine.
    #[error("program {program}: program type {program_type} does not run in the userspace engine")]
    UnsupportedType {
        /// The program.
        program: String,
        /// Its type's kernel name.
        program_type: String,
    },
    /// No program has the name asked for.
    #[error("no program named {program}; the object has: {}", available.join(", "))]
    NoProgram {
        /// The name asked for.
        program: String,
        /// The object's programs.
        available: Vec<String>,
    },
    /// A run stopped with an error.
    #[error("program {program}: {reason}")]
    Run {
        /// The program.
        program: String,
        /// Why (in the message only).
        reason: Box<VmError>,
    },
}
