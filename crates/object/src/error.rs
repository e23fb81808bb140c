//! Why an object does not parse: one enum, each variant named where the
//! failure happens and carrying the section, offset and value involved.

use thiserror::Error;

/// An ELF object that cannot be read as an eBPF object.
///
/// Section names are owned so the error outlives the input bytes and can go
/// into `anyhow` or across threads.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// The ELF container itself is malformed (header, section table, symbol
    /// or string tables). `what` says which structure was being read.
    #[error("malformed ELF: {what}: {reason}")]
    Elf { what: &'static str, reason: String },
    #[error("not an eBPF object: {reason}")]
    NotBpf { reason: String },
    #[error("the object has no symbol table (stripped?); eBPF objects need one")]
    MissingSymbolTable,
    #[error("section {section}: {what} entries are {found} bytes, expected {expected}")]
    EntrySize {
        section: String,
        what: &'static str,
        found: u64,
        expected: u64,
    },
    /// A fixed-layout read ran past the end of a section.
    #[error("section {section}: truncated {what} at offset {offset:#x}: needs {need} bytes")]
    Truncated {
        section: String,
        what: &'static str,
        offset: usize,
        need: usize,
    },
    /// A field holds a value it may not have.
    #[error("section {section}: {what} at offset {offset:#x} is invalid: {value:#x}")]
    BadValue {
        section: String,
        what: &'static str,
        offset: usize,
        value: u64,
    },
    #[error("section {section}: string at offset {offset:#x} {reason}")]
    BadString {
        section: String,
        offset: usize,
        reason: &'static str,
    },
    #[error("symbol {index} ({name}): {reason}")]
    BadSymbol {
        index: usize,
        name: String,
        reason: String,
    },
    #[error(
        "section {section}: relocation at offset {offset:#x}: type {r_type} ({}) is not supported here",
        reloc_type_name(*r_type)
    )]
    UnsupportedRelocation {
        section: String,
        offset: u64,
        r_type: u32,
    },
    #[error("section {section}: relocation at offset {offset:#x} against {symbol}: {reason}")]
    BadRelocation {
        section: String,
        offset: u64,
        symbol: String,
        reason: String,
    },
    #[error("section {section}: program {program}: {source}")]
    Decode {
        section: String,
        program: String,
        #[source]
        source: visor_isa::DecodeError,
    },
    /// A `.BTF.ext` record that points outside the code it describes.
    #[error(".BTF.ext {what} for section {section}, byte {offset}: {reason}")]
    BadExtRecord {
        what: &'static str,
        section: String,
        offset: usize,
        reason: String,
    },
    /// A bpf-to-bpf call or function address that cannot be linked.
    #[error("section {section}: program {program}: instruction {pc} {reason}")]
    BadCall {
        section: String,
        program: String,
        pc: usize,
        reason: String,
    },
    #[error("map {map}: {reason}")]
    BadMap { map: String, reason: String },
    #[error("BTF type {id}: {reason}")]
    BadBtfType { id: u32, reason: String },
}

/// The ELF name of a BPF relocation type (LLVM's `R_BPF_*`).
pub fn reloc_type_name(r_type: u32) -> &'static str {
    match r_type {
        0 => "R_BPF_NONE",
        1 => "R_BPF_64_64",
        2 => "R_BPF_64_ABS64",
        3 => "R_BPF_64_ABS32",
        4 => "R_BPF_64_NODYLD32",
        10 => "R_BPF_64_32",
        _ => "unknown",
    }
}

impl ObjectError {
    pub(crate) fn elf(what: &'static str, error: object::read::Error) -> ObjectError {
        ObjectError::Elf {
            what,
            reason: error.to_string(),
        }
    }

    pub(crate) fn bad_value(
        section: &str,
        what: &'static str,
        offset: usize,
        value: impl Into<u64>,
    ) -> ObjectError {
        ObjectError::BadValue {
            section: section.to_owned(),
            what,
            offset,
            value: value.into(),
        }
    }

    pub(crate) fn btf(id: u32, reason: impl Into<String>) -> ObjectError {
        ObjectError::BadBtfType {
            id,
            reason: reason.into(),
        }
    }

    pub(crate) fn map(map: &str, reason: impl Into<String>) -> ObjectError {
        ObjectError::BadMap {
            map: map.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = ObjectError> = core::result::Result<T, E>;
