//! Uprobes and uretprobes (`BPF_PROG_TYPE_KPROBE` programs on user code,
//! Linux 4.17 for the perf PMU used here).
//!
//! A uprobe is a breakpoint at a file offset of an executable or library:
//! every process that maps the file hits it. [`UprobeSpec`] names the
//! binary and the function (an ELF symbol, looked up with
//! [`symbol_offset`], or a raw file offset); the probe is opened as a perf
//! event of the `uprobe` PMU, whose type number and retprobe bit the
//! kernel publishes under `/sys/bus/event_source/devices/uprobe/`.
//!
//! ```no_run
//! use visor_isa::asm::{Syntax, assemble};
//! use visor_kernel::{ProgramFd, ProgramSpec, ProgramType, UprobeSpec, attach_uprobe};
//!
//! let program = assemble("r0 = 0\nexit", Syntax::Llvm)?;
//! let loaded = ProgramFd::load(&ProgramSpec::new("malloc", ProgramType::Kprobe, &program))?;
//! let spec = UprobeSpec::symbol("/lib/x86_64-linux-gnu/libc.so.6", "malloc");
//! let attached = attach_uprobe(&loaded, &spec)?;
//! # drop(attached);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSegment, ObjectSymbol};

use crate::error::KernelError;
use crate::perf_event::{self, PerfAttachment};
use crate::program::ProgramFd;
use crate::sys::perf::PerfEventAttr;

const UPROBE_PMU: &str = "/sys/bus/event_source/devices/uprobe";

/// Where in the binary the probe goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UprobeLocation {
    /// A function symbol (`.symtab` or `.dynsym`), plus a byte offset
    /// into it.
    Symbol { name: String, offset: u64 },
    /// A file offset.
    FileOffset(u64),
}

/// Function entry or return.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProbeKind {
    #[default]
    Entry,
    Return,
}

/// What [`attach_uprobe`] attaches to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UprobeSpec {
    pub path: PathBuf,
    pub location: UprobeLocation,
    pub kind: ProbeKind,
    /// Only this process; `None` for every process that runs the code.
    pub pid: Option<u32>,
}

impl UprobeSpec {
    /// The entry of `symbol` in `path`, in every process.
    pub fn symbol(path: impl Into<PathBuf>, symbol: &str) -> UprobeSpec {
        UprobeSpec {
            path: path.into(),
            location: UprobeLocation::Symbol {
                name: symbol.to_owned(),
                offset: 0,
            },
            kind: ProbeKind::Entry,
            pid: None,
        }
    }

    /// The same probe on function return (a uretprobe).
    pub fn returning(self) -> UprobeSpec {
        UprobeSpec {
            kind: ProbeKind::Return,
            ..self
        }
    }
}

/// Attaches a kprobe-type program as a uprobe or uretprobe.
#[doc(alias = "uretprobe")]
pub fn attach_uprobe(
    program: &ProgramFd,
    spec: &UprobeSpec,
) -> Result<PerfAttachment, KernelError> {
    let offset = match &spec.location {
        UprobeLocation::Symbol { name, offset } => symbol_offset(&spec.path, name)?
            .checked_add(*offset)
            .ok_or_else(|| KernelError::SymbolNotFound {
                path: spec.path.clone(),
                symbol: format!("{name}+{offset}"),
            })?,
        UprobeLocation::FileOffset(offset) => *offset,
    };
    let pmu = read_number(&Path::new(UPROBE_PMU).join("type"))?;
    let config = match spec.kind {
        ProbeKind::Entry => 0,
        ProbeKind::Return => 1 << retprobe_bit()?,
    };
    // The kernel resolves the path itself, so it must be absolute or
    // relative to our working directory, which is the same.
    let path =
        CString::new(spec.path.as_os_str().as_bytes()).map_err(|_| KernelError::InvalidPath {
            path: spec.path.clone(),
        })?;
    let attr = PerfEventAttr {
        event_type: pmu as u32,
        config,
        config2: offset,
        sample_period: 1,
        wakeup_events: 1,
        ..PerfEventAttr::default()
    };
    let what = format!(
        "{} {}:{offset:#x}",
        match spec.kind {
            ProbeKind::Entry => "uprobe",
            ProbeKind::Return => "uretprobe",
        },
        spec.path.display()
    );
    let (pid, cpu) = match spec.pid {
        Some(pid) => (i32::try_from(pid).unwrap_or(i32::MAX), -1),
        None => (-1, 0),
    };
    let event = perf_event::open(&attr, Some(&path), pid, cpu, &what)?;
    PerfAttachment::attach(program, event, what)
}

fn read_number(path: &Path) -> Result<u64, KernelError> {
    let text = std::fs::read_to_string(path).map_err(|source| KernelError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    text.trim().parse().map_err(|_| KernelError::ParseFile {
        path: path.to_owned(),
        content: text,
    })
}

/// The config bit that makes a uprobe a uretprobe: `config:N` in the
/// PMU's `format/retprobe`.
fn retprobe_bit() -> Result<u32, KernelError> {
    let path = Path::new(UPROBE_PMU).join("format/retprobe");
    let text = std::fs::read_to_string(&path).map_err(|source| KernelError::ReadFile {
        path: path.clone(),
        source,
    })?;
    text.trim()
        .strip_prefix("config:")
        .and_then(|bit| bit.parse().ok())
        .filter(|bit| *bit < 64)
        .ok_or(KernelError::ParseFile {
            path,
            content: text,
        })
}

/// The file offset of the function `symbol` in the ELF file at `path`:
/// its address, less the address of the loadable segment holding it, plus
/// that segment's offset in the file. Looks in `.symtab`, then `.dynsym`.
pub fn symbol_offset(path: &Path, symbol: &str) -> Result<u64, KernelError> {
    let bytes = std::fs::read(path).map_err(|source| KernelError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let elf_error = |source| KernelError::Elf {
        path: path.to_owned(),
        source,
    };
    let file = object::File::parse(&*bytes).map_err(elf_error)?;
    let not_found = || KernelError::SymbolNotFound {
        path: path.to_owned(),
        symbol: symbol.to_owned(),
    };
    let address = file
        .symbols()
        .chain(file.dynamic_symbols())
        .find(|s| s.is_definition() && s.name() == Ok(symbol))
        .map(|s| s.address())
        .ok_or_else(not_found)?;
    file.segments()
        .find_map(|segment| {
            let start = segment.address();
            let (file_offset, file_size) = segment.file_range();
            let within = address.checked_sub(start)?;
            (within < file_size).then(|| file_offset.checked_add(within))?
        })
        .ok_or_else(not_found)
}

/// A binary named without a directory is looked up in `$PATH`, as libbpf
/// does; otherwise the path is taken as it is.
pub fn resolve_binary(path: &str) -> PathBuf {
    if path.contains('/') {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .and_then(|dirs| {
            std::env::split_paths(&dirs)
                .map(|dir| dir.join(path))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(path))
}
