//! [`LoadError`]: why an object, or one of its programs, did not load, and
//! [`Rejection`], the kind of reason, for tables over many objects.

use thiserror::Error;

use crate::error::KernelError;

/// Why loading an object failed. Each variant names the map or program
/// and keeps the kernel's error (with the verifier log) as its source.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The bytes are not an object `visor-object` can parse.
    #[error("cannot parse the object")]
    Parse(#[from] visor_object::ObjectError),
    /// The section name says nothing this loader knows how to load.
    #[error(
        "program `{program}`: section `{section}` names no program type this loader knows; \
         rename it as libbpf's SEC() conventions say"
    )]
    UnknownProgramType { program: String, section: String },
    /// A program type or map type `visor-kernel` has no number for.
    #[error("{what} `{name}`: {kind} is not supported by this loader")]
    Unsupported {
        what: &'static str,
        name: String,
        kind: String,
    },
    /// The program calls or reads something the loader does not resolve
    /// (a kfunc, a `.kconfig` or `.ksyms` variable).
    #[error(
        "program `{program}` uses the extern variable `{symbol}`, which this loader does not \
         resolve (.kconfig and .ksyms variables are not supported yet; kfunc calls are)"
    )]
    Extern { program: String, symbol: String },
    /// A kfunc the running kernel does not have (or a kernel without BTF).
    #[error("program `{program}` calls the kfunc `{symbol}`, which this kernel cannot provide")]
    Kfunc {
        program: String,
        symbol: String,
        #[source]
        source: Box<KernelError>,
    },
    /// A map-index `lddw` that names no map of the object.
    #[error(
        "program `{program}`: instruction {pc} refers to map {index}, but the object has {maps}"
    )]
    BadMapIndex {
        program: String,
        pc: usize,
        index: u64,
        maps: usize,
    },
    /// `BPF_MAP_CREATE` or writing a map's initial contents failed.
    #[error("map `{map}`: {step}")]
    Map {
        map: String,
        step: &'static str,
        #[source]
        source: Box<KernelError>,
    },
    /// The kernel refused the program; the source carries the verifier log.
    #[error("program `{program}` (section `{section}`) did not load")]
    Program {
        program: String,
        section: String,
        #[source]
        source: Box<KernelError>,
    },
    /// Filling an initial slot of a prog array or map-in-map failed.
    #[error("map `{map}`: cannot fill slot {slot}")]
    Slot {
        map: String,
        slot: u32,
        #[source]
        source: Box<KernelError>,
    },
}

/// The kind of reason an object or program was not loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejection {
    /// Not a valid object.
    InvalidObject,
    /// The section names no known program type.
    UnknownProgramType,
    /// The kernel or this loader lacks something the object needs: a map
    /// or program type, a helper, BTF the kernel needs at load
    /// (fentry/LSM/struct_ops), externs.
    MissingFeature,
    /// The verifier refused the program.
    VerifierRejection,
    /// A map the kernel would not create for another reason.
    MapCreation,
    /// Anything else (privileges, resources).
    Other,
}

impl Rejection {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Rejection::InvalidObject => "invalid object",
            Rejection::UnknownProgramType => "unknown program type",
            Rejection::MissingFeature => "missing feature",
            Rejection::VerifierRejection => "verifier rejection",
            Rejection::MapCreation => "map creation",
            Rejection::Other => "other",
        }
    }
}

impl core::fmt::Display for Rejection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The kernel's internal "not supported" errno, which some bpf(2)
/// commands let escape to userspace.
const ENOTSUPP: i32 = 524;

/// Verifier messages that mean "this kernel, or this program type, does
/// not have it" rather than "the program is unsafe".
const MISSING_MARKERS: [&str; 5] = [
    "unknown func",
    "invalid func",
    "attach_btf_id",
    "unsupported",
    "not supported",
];

impl LoadError {
    /// The kind of reason, for summaries.
    pub fn category(&self) -> Rejection {
        match self {
            LoadError::Parse(_) | LoadError::BadMapIndex { .. } => Rejection::InvalidObject,
            LoadError::UnknownProgramType { .. } => Rejection::UnknownProgramType,
            LoadError::Unsupported { .. } | LoadError::Extern { .. } | LoadError::Kfunc { .. } => {
                Rejection::MissingFeature
            }
            LoadError::Map { source, .. } => match source.errno() {
                Some(libc::EINVAL | libc::EOPNOTSUPP | ENOTSUPP) => Rejection::MissingFeature,
                _ if source.is_permission_denied() => Rejection::Other,
                _ => Rejection::MapCreation,
            },
            LoadError::Program { source, .. } => match source.as_ref() {
                KernelError::ProgramRejected { log, .. } => {
                    let text = log.text();
                    if text.trim().is_empty()
                        || MISSING_MARKERS.iter().any(|marker| text.contains(marker))
                    {
                        Rejection::MissingFeature
                    } else {
                        Rejection::VerifierRejection
                    }
                }
                _ => Rejection::Other,
            },
            LoadError::Slot { .. } => Rejection::Other,
        }
    }

    /// The verifier's log when the kernel refused a program.
    pub fn verifier_log(&self) -> Option<&crate::VerifierLog> {
        match self {
            LoadError::Program { source, .. } => match source.as_ref() {
                KernelError::ProgramRejected { log, .. } => Some(log),
                _ => None,
            },
            _ => None,
        }
    }
}
