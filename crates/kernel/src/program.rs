//! Loading programs into the kernel: [`ProgramSpec`] says what to load,
//! [`ProgramFd`] owns the loaded program.
//!
//! [`ProgramFd::load`] loads without a log first (the fast path); when the
//! kernel refuses, it loads once more with a log so that the error carries
//! the verifier's reasons. [`ProgramFd::load_logged`] always logs and keeps
//! the whole log, growing the buffer until the kernel has said everything.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use visor_isa::Program;

use crate::btf::BtfFd;
use crate::error::KernelError;
use crate::log::{LOG_START, LogLevel, VerifierLog, grown};
use crate::map::check_name;
use crate::sys::attr::{ProgLoadAttr, name_field};
use crate::sys::{self, BpfCmd, Command};
use crate::types::{AttachType, ProgramType};

/// What `BPF_PROG_LOAD` is asked for.
#[derive(Clone, Debug)]
pub struct ProgramSpec<'a> {
    /// At most 15 characters from `[A-Za-z0-9_.]`; errors name the program
    /// by it.
    pub name: String,
    pub program_type: ProgramType,
    pub expected_attach_type: Option<AttachType>,
    /// The instructions. Map references are `lddw` with the map-fd pseudo
    /// source and the descriptor of a live [`crate::MapFd`] as immediate.
    pub program: &'a Program,
    /// The kernel allows GPL-only helpers to GPL-compatible programs only.
    pub license: String,
    /// Ignored by kernels since 5.0; kprobes on older ones want
    /// `LINUX_VERSION_CODE`.
    pub kernel_version: u32,
    /// `BPF_F_*` load flags (`prog_flags`).
    pub flags: u32,
    /// The program's functions and source lines, so that the verifier's
    /// log quotes the source and `bpftool`-style dumps can show it.
    pub source: Option<ProgramSource<'a>>,
    /// The kernel BTF type a `tp_btf` (or fentry, LSM) program attaches
    /// to: `btf_trace_NAME` in vmlinux for a BTF tracepoint.
    pub attach_btf_id: Option<u32>,
}

/// BTF func and line info of one program, in the kernel's record form;
/// instruction offsets are slot indices from the program's start.
#[derive(Clone, Debug)]
pub struct ProgramSource<'a> {
    /// The BTF the type ids and string offsets refer to.
    pub btf: &'a BtfFd,
    /// Where each function (the program, then its subprograms) starts.
    pub functions: Vec<FuncRecord>,
    /// Ordered by instruction; the first at slot 0.
    pub lines: Vec<LineRecord>,
}

/// `struct bpf_func_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncRecord {
    pub insn: u32,
    /// A BTF `FUNC`.
    pub type_id: u32,
}

/// `struct bpf_line_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineRecord {
    pub insn: u32,
    /// Offsets into the BTF string table.
    pub file_name_off: u32,
    pub line_off: u32,
    pub line: u32,
    pub column: u32,
}

impl ProgramSource<'_> {
    /// The records as the kernel reads them: `(func_info, line_info)`.
    fn to_bytes(&self) -> (Vec<u8>, Vec<u8>) {
        let functions = self
            .functions
            .iter()
            .flat_map(|f| [f.insn, f.type_id])
            .flat_map(u32::to_le_bytes)
            .collect();
        let lines = self
            .lines
            .iter()
            // The line number is in the high 22 bits, the column in the
            // low 10 (both cut to fit, as the compiler does).
            .flat_map(|l| {
                let line_col = (l.line << 10) | (l.column & 0x3ff);
                [l.insn, l.file_name_off, l.line_off, line_col]
            })
            .flat_map(u32::to_le_bytes)
            .collect();
        (functions, lines)
    }
}

impl<'a> ProgramSpec<'a> {
    /// A GPL program with no expected attach type or flags.
    pub fn new(name: &str, program_type: ProgramType, program: &'a Program) -> Self {
        ProgramSpec {
            name: name.to_owned(),
            program_type,
            expected_attach_type: None,
            program,
            license: "GPL".to_owned(),
            kernel_version: 0,
            flags: 0,
            source: None,
            attach_btf_id: None,
        }
    }
}

/// A loaded program; closing the descriptor on drop unloads it once
/// nothing else (an attachment, a pin) holds it.
#[derive(Debug)]
pub struct ProgramFd {
    fd: OwnedFd,
    name: String,
    program_type: ProgramType,
}

/// The bytes and strings of a load, prepared once for every attempt.
struct Prepared {
    attr: ProgLoadAttr,
    insns: Vec<u8>,
    license: CString,
    func_info: Vec<u8>,
    line_info: Vec<u8>,
}

/// One attempt's outcome.
struct Attempt {
    result: io::Result<OwnedFd>,
    log: Vec<u8>,
    true_size: u32,
}

impl Attempt {
    /// Whether the log did not fit: the kernel says ENOSPC, or reports a
    /// bigger true size.
    fn log_truncated(&self) -> bool {
        !self.log.is_empty()
            && (self.true_size as usize > self.log.len()
                || matches!(&self.result, Err(e) if e.raw_os_error() == Some(libc::ENOSPC)))
    }
}

impl ProgramFd {
    /// Loads a program. When the kernel refuses it, the error is
    /// [`KernelError::ProgramRejected`] with the verifier log (at most
    /// 256 KiB of it: its end on Linux 6.4 and later), or
    /// [`KernelError::PermissionDenied`].
    pub fn load(spec: &ProgramSpec<'_>) -> Result<ProgramFd, KernelError> {
        let prepared = prepare(spec)?;
        let first = attempt(&prepared, LogLevel::Basic, 0);
        let source = match first.result {
            Ok(fd) => return Ok(ProgramFd::from_parts(fd, spec)),
            Err(source) if source.raw_os_error() == Some(libc::EPERM) => {
                return Err(denied(spec, source));
            }
            Err(source) => source,
        };
        let again = attempt(&prepared, LogLevel::Basic, LOG_START);
        let truncated = again.log_truncated();
        match again.result {
            // Loads are deterministic; if the second one passes, keep it.
            Ok(fd) => Ok(ProgramFd::from_parts(fd, spec)),
            Err(_) => Err(rejected(
                spec,
                VerifierLog::from_buffer(&again.log, truncated),
                source,
            )),
        }
    }

    /// Loads a program with the verifier's log at `level`, whole however
    /// long it is; returns the log of a successful load too (its statistics
    /// say how many instructions the verifier walked).
    pub fn load_logged(
        spec: &ProgramSpec<'_>,
        level: LogLevel,
    ) -> Result<(ProgramFd, VerifierLog), KernelError> {
        let prepared = prepare(spec)?;
        let mut size = LOG_START;
        loop {
            let outcome = attempt(&prepared, level, size);
            let truncated = outcome.log_truncated();
            if truncated && let Some(bigger) = grown(size, outcome.true_size) {
                size = bigger;
                continue;
            }
            let log = VerifierLog::from_buffer(&outcome.log, truncated);
            return match outcome.result {
                Ok(fd) => Ok((ProgramFd::from_parts(fd, spec), log)),
                Err(source) if source.raw_os_error() == Some(libc::EPERM) => {
                    Err(denied(spec, source))
                }
                Err(source) => Err(rejected(spec, log, source)),
            };
        }
    }

    pub(crate) fn from_parts(fd: OwnedFd, spec: &ProgramSpec<'_>) -> ProgramFd {
        ProgramFd {
            fd,
            name: spec.name.clone(),
            program_type: spec.program_type,
        }
    }

    /// Wraps a descriptor of a program the kernel described as `name` and
    /// `program_type` (from a pin or an id).
    pub(crate) fn from_info(fd: OwnedFd, name: String, program_type: ProgramType) -> ProgramFd {
        ProgramFd {
            fd,
            name,
            program_type,
        }
    }

    /// The name given at load, or the kernel's (15 characters at most) for
    /// a program opened by pin or id.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn program_type(&self) -> ProgramType {
        self.program_type
    }
}

impl AsFd for ProgramFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for ProgramFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

fn prepare(spec: &ProgramSpec<'_>) -> Result<Prepared, KernelError> {
    check_name(&spec.name)?;
    let slots = spec.program.slot_len();
    if u32::try_from(slots).is_err() {
        return Err(KernelError::ProgramTooLong {
            name: spec.name.clone(),
            slots,
        });
    }
    let license = CString::new(spec.license.as_str()).map_err(|_| KernelError::InvalidName {
        name: spec.license.clone(),
        reason: "a license may not contain a NUL byte",
    })?;
    let attr = ProgLoadAttr {
        prog_type: spec.program_type.number(),
        kern_version: spec.kernel_version,
        prog_flags: spec.flags,
        prog_name: name_field(&spec.name),
        expected_attach_type: spec.expected_attach_type.map_or(0, AttachType::number),
        prog_btf_fd: spec
            .source
            .as_ref()
            .map_or(0, |s| sys::fd_u32(s.btf.as_fd())),
        attach_btf_id: spec.attach_btf_id.unwrap_or(0),
        ..ProgLoadAttr::default()
    };
    let (func_info, line_info) = spec
        .source
        .as_ref()
        .map(ProgramSource::to_bytes)
        .unwrap_or_default();
    Ok(Prepared {
        attr,
        insns: spec.program.to_bytes(),
        license,
        func_info,
        line_info,
    })
}

/// One `BPF_PROG_LOAD` with a log buffer of `log_len` bytes (none for 0).
fn attempt(prepared: &Prepared, level: LogLevel, log_len: usize) -> Attempt {
    let mut log = vec![0; log_len];
    let mut command = Command::ProgLoad {
        attr: ProgLoadAttr {
            log_level: level.number(),
            ..prepared.attr
        },
        insns: &prepared.insns,
        license: &prepared.license,
        func_info: &prepared.func_info,
        line_info: &prepared.line_info,
        log: &mut log,
        log_true_size: 0,
    };
    let result = sys::bpf_fd(&mut command);
    let true_size = match command {
        Command::ProgLoad { log_true_size, .. } => log_true_size,
        _ => 0,
    };
    Attempt {
        result,
        log,
        true_size,
    }
}

fn rejected(spec: &ProgramSpec<'_>, log: VerifierLog, source: io::Error) -> KernelError {
    KernelError::ProgramRejected {
        name: spec.name.clone(),
        program_type: spec.program_type,
        log,
        source,
    }
}

fn denied(spec: &ProgramSpec<'_>, source: io::Error) -> KernelError {
    let what = format!("load program `{}`", spec.name);
    KernelError::syscall(BpfCmd::ProgLoad, what, source)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use visor_isa::Insn;

    use super::*;
    use crate::sys::fake;

    #[test]
    fn a_rejection_is_retried_with_a_log_that_the_error_carries() {
        let program = Program::new(vec![Insn::Exit]).unwrap();
        let levels = Rc::new(RefCell::new(Vec::new()));
        let seen = Rc::clone(&levels);
        let _door = fake::install(move |command| match command {
            Command::ProgLoad {
                attr,
                insns,
                license,
                log,
                ..
            } => {
                assert_eq!(attr.prog_type, ProgramType::Xdp.number());
                assert_eq!(insns.len(), 8);
                assert_eq!(license.to_bytes(), b"GPL");
                seen.borrow_mut().push((attr.log_level, log.len()));
                let text = b"0: (95) exit\nR0 !read_ok\nprocessed 1 insns\n\0";
                if !log.is_empty() {
                    log[..text.len()].copy_from_slice(text);
                }
                fake::errno(libc::EACCES)
            }
            other => panic!("unexpected {other:?}"),
        });
        let spec = ProgramSpec::new("no_r0", ProgramType::Xdp, &program);
        let err = ProgramFd::load(&spec).unwrap_err();
        assert_eq!(*levels.borrow(), vec![(1, 0), (1, LOG_START)]);
        let KernelError::ProgramRejected {
            name, log, source, ..
        } = &err
        else {
            panic!("expected a rejection, got {err:?}");
        };
        assert_eq!(name, "no_r0");
        assert_eq!(log.summary(), "R0 !read_ok");
        assert_eq!(source.raw_os_error(), Some(libc::EACCES));
        assert_eq!(
            err.to_string(),
            "the kernel rejected program `no_r0` (xdp): R0 !read_ok"
        );
    }

    #[test]
    fn a_full_log_grows_to_the_size_the_kernel_reports() {
        let program = Program::new(vec![Insn::Exit]).unwrap();
        let sizes = Rc::new(RefCell::new(Vec::new()));
        let seen = Rc::clone(&sizes);
        let _door = fake::install(move |command| match command {
            Command::ProgLoad {
                log, log_true_size, ..
            } => {
                seen.borrow_mut().push(log.len());
                *log_true_size = 300_000;
                if log.len() < 300_000 {
                    fake::errno(libc::ENOSPC)
                } else {
                    log[..2].copy_from_slice(b"ok");
                    fake::new_fd()
                }
            }
            other => panic!("unexpected {other:?}"),
        });
        let spec = ProgramSpec::new("big_log", ProgramType::SocketFilter, &program);
        let (_prog, log) = ProgramFd::load_logged(&spec, LogLevel::Verbose).unwrap();
        assert_eq!(*sizes.borrow(), vec![LOG_START, 300_000]);
        assert_eq!(log.text(), "ok");
        assert!(!log.is_truncated());
    }

    #[test]
    fn eperm_is_not_retried() {
        let program = Program::new(vec![Insn::Exit]).unwrap();
        let calls = Rc::new(RefCell::new(0));
        let seen = Rc::clone(&calls);
        let _door = fake::install(move |_| {
            *seen.borrow_mut() += 1;
            fake::errno(libc::EPERM)
        });
        let spec = ProgramSpec::new("p", ProgramType::Kprobe, &program);
        let err = ProgramFd::load(&spec).unwrap_err();
        assert!(err.is_permission_denied());
        assert_eq!(*calls.borrow(), 1);
    }

    #[test]
    fn bad_names_fail_before_the_kernel() {
        let program = Program::new(vec![Insn::Exit]).unwrap();
        let _door = fake::install(|other| panic!("unexpected {other:?}"));
        let spec = ProgramSpec::new("bad-name", ProgramType::Xdp, &program);
        assert!(matches!(
            ProgramFd::load(&spec).unwrap_err(),
            KernelError::InvalidName { .. }
        ));
    }
}
