//! [`KernelError`], the crate's one error type.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::log::VerifierLog;
use crate::sys::BpfCmd;
use crate::types::{MapType, ProgramType};

/// What went wrong talking to the kernel. Syscall failures name the
/// command and keep the OS error as their source.
#[derive(Debug, Error)]
pub enum KernelError {
    /// `EPERM`: the caller lacks the privilege for this command.
    #[error(
        "{command}: operation not permitted; run as root or grant CAP_BPF (plus CAP_NET_ADMIN \
         for network programs, CAP_PERFMON for tracing; before Linux 5.11 also raise \
         RLIMIT_MEMLOCK)"
    )]
    PermissionDenied {
        command: BpfCmd,
        #[source]
        source: io::Error,
    },
    /// Any other failed bpf(2) call.
    #[error("{command} failed ({what})")]
    Syscall {
        command: BpfCmd,
        /// What the call was doing, for example "update map `counts`".
        what: String,
        #[source]
        source: io::Error,
    },
    /// `BPF_PROG_LOAD` failed; `log` is the verifier's account of why.
    #[error("the kernel rejected program `{name}` ({program_type}): {}", log.summary())]
    ProgramRejected {
        name: String,
        program_type: ProgramType,
        log: VerifierLog,
        #[source]
        source: io::Error,
    },
    /// `BPF_BTF_LOAD` failed; `log` is the BTF checker's account of why.
    #[error("the kernel rejected {len} bytes of BTF: {}", log.summary())]
    BtfRejected {
        len: usize,
        log: VerifierLog,
        #[source]
        source: io::Error,
    },
    /// A key or value buffer does not have the map's size.
    #[error("map `{map}` takes {what}s of {expected} bytes, got {got}")]
    BufferSize {
        map: String,
        what: Buffer,
        expected: usize,
        got: usize,
    },
    /// The operation needs another kind of map.
    #[error("map `{map}` is a {found} map; this needs {expected}")]
    MapType {
        map: String,
        found: MapType,
        expected: &'static str,
    },
    /// The kernel reported a map type this crate does not know.
    #[error("the kernel reports map type number {number}, which this crate does not know")]
    UnknownMapType { number: u32 },
    /// The kernel reported a program type this crate does not know.
    #[error("the kernel reports program type number {number}, which this crate does not know")]
    UnknownProgramType { number: u32 },
    /// An object name the kernel would refuse.
    #[error("invalid object name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// A path that cannot be passed to the kernel.
    #[error("path {} contains a NUL byte", path.display())]
    InvalidPath { path: PathBuf },
    /// A program too long for the kernel's 32-bit instruction count.
    #[error("program `{name}` has {slots} instruction slots, more than the kernel can take")]
    ProgramTooLong { name: String, slots: usize },
    /// A test run produced more output than the buffer asked for.
    #[error("test run output: {what} is {needed} bytes, but only {given} were asked for")]
    TestRunOutput {
        what: Buffer,
        needed: u32,
        given: usize,
    },
    /// bpffs is not mounted at `path` and mounting it failed.
    #[error("cannot mount bpffs at {}", path.display())]
    MountBpffs {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Reading a file the crate needs (`/sys/devices/system/cpu/possible`,
    /// `/proc/self/mounts`).
    #[error("cannot read {}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file's content is not what the kernel documents.
    #[error("unexpected content in {}: {content:?}", path.display())]
    ParseFile { path: PathBuf, content: String },
    /// A system call other than bpf(2) failed: opening a perf event,
    /// mapping a ring, setting a socket option...
    #[error("{call} failed ({what})")]
    Os {
        call: OsCall,
        /// What the call was doing, for example "open the tracepoint
        /// syscalls:sys_enter_getpid".
        what: String,
        #[source]
        source: io::Error,
    },
    /// tracefs has no such tracepoint.
    #[error("no tracepoint {category}:{name} (no {})", path.display())]
    TracepointNotFound {
        category: String,
        name: String,
        path: PathBuf,
    },
    /// The kernel's BTF has no type of that name: for a `tp_btf` program,
    /// no tracepoint of that name.
    #[error("no type {name} in {}", path.display())]
    BtfTypeNotFound { name: String, path: PathBuf },
    /// A binary to probe is not an ELF file this crate can read.
    #[error("cannot read {} as an ELF file", path.display())]
    Elf {
        path: PathBuf,
        #[source]
        source: object::read::Error,
    },
    /// A binary has no function symbol of that name.
    #[error("no function `{symbol}` in {}", path.display())]
    SymbolNotFound { path: PathBuf, symbol: String },
    /// A perf ring's data part must be a power of two pages.
    #[error("a perf ring of {pages} data pages: the count must be a power of two")]
    RingPages { pages: usize },
    /// A ring's positions or a record header make no sense (the kernel
    /// never writes such; something else wrote the ring).
    #[error("corrupt {ring} at position {position}: {reason}")]
    CorruptRing {
        ring: &'static str,
        position: u64,
        reason: &'static str,
    },
}

/// The system calls, besides bpf(2), that errors name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OsCall {
    PerfEventOpen,
    Ioctl,
    Mmap,
    Poll,
    Read,
    Setsockopt,
    Setns,
    IfNameToIndex,
    Mount,
    Sigwait,
    Socket,
    Netlink,
}

impl core::fmt::Display for OsCall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            OsCall::PerfEventOpen => "perf_event_open",
            OsCall::Ioctl => "ioctl",
            OsCall::Mmap => "mmap",
            OsCall::Poll => "poll",
            OsCall::Read => "read",
            OsCall::Setsockopt => "setsockopt",
            OsCall::Setns => "setns",
            OsCall::IfNameToIndex => "if_nametoindex",
            OsCall::Mount => "mount",
            OsCall::Sigwait => "sigwait",
            OsCall::Socket => "socket",
            OsCall::Netlink => "rtnetlink",
        })
    }
}

/// Which buffer a size error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buffer {
    Key,
    Value,
    Keys,
    Values,
    Data,
    Context,
}

impl core::fmt::Display for Buffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Buffer::Key => "key",
            Buffer::Value => "value",
            Buffer::Keys => "key array",
            Buffer::Values => "value array",
            Buffer::Data => "data",
            Buffer::Context => "context",
        })
    }
}

impl KernelError {
    /// The error for a failed `command`: [`KernelError::PermissionDenied`]
    /// for `EPERM`, otherwise [`KernelError::Syscall`] saying `what`.
    pub(crate) fn syscall(command: BpfCmd, what: impl Into<String>, source: io::Error) -> Self {
        if source.raw_os_error() == Some(libc::EPERM) {
            KernelError::PermissionDenied { command, source }
        } else {
            KernelError::Syscall {
                command,
                what: what.into(),
                source,
            }
        }
    }

    /// The OS error number behind this error, if a system call failed.
    pub fn errno(&self) -> Option<i32> {
        match self {
            KernelError::PermissionDenied { source, .. }
            | KernelError::Syscall { source, .. }
            | KernelError::ProgramRejected { source, .. }
            | KernelError::BtfRejected { source, .. }
            | KernelError::MountBpffs { source, .. }
            | KernelError::Os { source, .. }
            | KernelError::ReadFile { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The error for a failed system call other than bpf(2).
    pub(crate) fn os(call: OsCall, what: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let what = what.into();
        move |source| KernelError::Os { call, what, source }
    }

    /// Whether the kernel refused for lack of privilege (`EPERM`, or
    /// `EACCES` from perf_event_open(2) and tracefs).
    pub fn is_permission_denied(&self) -> bool {
        match self {
            KernelError::PermissionDenied { .. } => true,
            KernelError::Os { source, .. } => {
                matches!(source.raw_os_error(), Some(libc::EPERM | libc::EACCES))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eperm_says_what_to_do() {
        let err = KernelError::syscall(
            BpfCmd::MapCreate,
            "create map `m`",
            io::Error::from_raw_os_error(libc::EPERM),
        );
        assert!(err.is_permission_denied());
        let text = err.to_string();
        assert!(
            text.starts_with("BPF_MAP_CREATE: operation not permitted"),
            "{text}"
        );
        assert!(text.contains("CAP_BPF"), "{text}");
        assert_eq!(err.errno(), Some(libc::EPERM));
    }

    #[test]
    fn other_errors_keep_the_os_error_as_source() {
        let err = KernelError::syscall(
            BpfCmd::MapUpdateElem,
            "update map `counts`",
            io::Error::from_raw_os_error(libc::E2BIG),
        );
        assert_eq!(
            err.to_string(),
            "BPF_MAP_UPDATE_ELEM failed (update map `counts`)"
        );
        let source = std::error::Error::source(&err).expect("has a source");
        let os = source.downcast_ref::<io::Error>().expect("an io::Error");
        assert_eq!(os.raw_os_error(), Some(libc::E2BIG));
    }
}
