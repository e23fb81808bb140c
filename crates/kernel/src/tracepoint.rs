//! Tracepoints (`BPF_PROG_TYPE_TRACEPOINT`, Linux 4.7) and raw tracepoints
//! (`BPF_PROG_TYPE_RAW_TRACEPOINT`, Linux 4.17).
//!
//! A tracepoint program gets the record tracefs's `format` file describes
//! ([`crate::TracepointFormat`]); it is attached through a perf event
//! (see `perf_event`). A raw tracepoint program gets the tracepoint's
//! arguments as an array of `u64` (`struct bpf_raw_tracepoint_args`),
//! unformatted and cheaper; it is attached by `BPF_RAW_TRACEPOINT_OPEN`,
//! which returns a link.
//!
//! ```no_run
//! use visor_isa::asm::{Syntax, assemble};
//! use visor_kernel::{ProgramFd, ProgramSpec, ProgramType, attach_tracepoint};
//!
//! let program = assemble("r0 = 0\nexit", Syntax::Llvm)?;
//! let spec = ProgramSpec::new("getpid", ProgramType::Tracepoint, &program);
//! let loaded = ProgramFd::load(&spec)?;
//! let attached = attach_tracepoint(&loaded, "syscalls", "sys_enter_getpid")?;
//! // ... the program runs on every getpid(2) until `attached` drops.
//! # drop(attached);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A BTF tracepoint program (`tp_btf/NAME`, type `TRACING` with expected
//! attach type `BPF_TRACE_RAW_TP`, Linux 5.5) gets the same arguments as
//! a raw tracepoint, but typed: the verifier knows each is, say, a
//! `struct task_struct *`, and lets the program read through it directly.
//! It names its tracepoint at load (its `attach_btf_id`, see
//! [`crate::btf_tracepoint_type_id`]) and is attached by
//! [`attach_btf_tracepoint`].

use std::ffi::{CStr, CString};
use std::os::fd::AsFd;

use crate::error::KernelError;
use crate::link::LinkFd;
use crate::perf_event::{self, PerfAttachment};
use crate::program::ProgramFd;
use crate::sys::perf::{PerfEventAttr, TYPE_TRACEPOINT};
use crate::sys::{self, BpfCmd, Command};
use crate::tracefs::tracepoint_id;
use crate::types::AttachType;

/// Attaches a tracepoint program to `category:name`
/// (`syscalls:sys_enter_getpid`), on every CPU.
#[doc(alias = "BPF_PROG_TYPE_TRACEPOINT")]
pub fn attach_tracepoint(
    program: &ProgramFd,
    category: &str,
    name: &str,
) -> Result<PerfAttachment, KernelError> {
    let id = tracepoint_id(category, name)?;
    let attr = PerfEventAttr {
        event_type: TYPE_TRACEPOINT,
        config: id,
        sample_period: 1,
        wakeup_events: 1,
        ..PerfEventAttr::default()
    };
    let what = format!("tracepoint {category}:{name}");
    let event = perf_event::open(&attr, None, -1, 0, &what)?;
    PerfAttachment::attach(program, event, what)
}

/// Attaches a raw tracepoint program to the tracepoint `name`
/// (`sys_enter`, `sched_switch`: no category). An empty name attaches a
/// BTF-typed program to the tracepoint it was loaded for.
#[doc(alias = "BPF_PROG_TYPE_RAW_TRACEPOINT")]
#[doc(alias = "BPF_RAW_TRACEPOINT_OPEN")]
pub fn attach_raw_tracepoint(program: &ProgramFd, name: &str) -> Result<LinkFd, KernelError> {
    let c_name = CString::new(name).map_err(|_| KernelError::InvalidName {
        name: name.to_owned(),
        reason: "a tracepoint name may not contain a NUL byte",
    })?;
    raw_tracepoint_open(
        program,
        (!name.is_empty()).then_some(c_name.as_c_str()),
        &format!("raw tracepoint `{name}`"),
    )
}

/// Attaches a BTF tracepoint program to the tracepoint it was loaded for;
/// `name` (the `NAME` of `tp_btf/NAME`) only labels errors.
pub fn attach_btf_tracepoint(program: &ProgramFd, name: &str) -> Result<LinkFd, KernelError> {
    raw_tracepoint_open(program, None, &format!("BTF tracepoint `{name}`"))
}

/// `BPF_RAW_TRACEPOINT_OPEN`: by name, or by the program's attach BTF id
/// when `name` is `None`.
fn raw_tracepoint_open(
    program: &ProgramFd,
    name: Option<&CStr>,
    target: &str,
) -> Result<LinkFd, KernelError> {
    let mut command = Command::RawTracepointOpen {
        name,
        prog: program.as_fd(),
        cookie: 0,
    };
    let fd = sys::bpf_fd(&mut command).map_err(|source| {
        let what = format!("attach program `{}` to {target}", program.name());
        KernelError::syscall(BpfCmd::RawTracepointOpen, what, source)
    })?;
    Ok(LinkFd::from_fd(fd, AttachType::TraceRawTp))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use visor_isa::{Insn, Program};

    use super::*;
    use crate::program::ProgramSpec;
    use crate::sys::fake;
    use crate::types::ProgramType;

    #[test]
    fn raw_tracepoint_open_sends_the_name_and_keeps_the_errno() {
        let names = Rc::new(RefCell::new(Vec::new()));
        let seen = Rc::clone(&names);
        let _door = fake::install(move |command| match command {
            Command::ProgLoad { .. } => fake::new_fd(),
            Command::RawTracepointOpen { name, cookie, .. } => {
                seen.borrow_mut()
                    .push((name.map(|n| n.to_str().unwrap().to_owned()), *cookie));
                if name.is_some_and(|n| n.to_bytes() == b"sys_enter") {
                    fake::new_fd()
                } else {
                    fake::errno(libc::ENOENT)
                }
            }
            other => panic!("unexpected {other:?}"),
        });
        let program = Program::new(vec![Insn::Exit]).unwrap();
        let spec = ProgramSpec::new("raw", ProgramType::RawTracepoint, &program);
        let prog = ProgramFd::load(&spec).unwrap();
        let link = attach_raw_tracepoint(&prog, "sys_enter").unwrap();
        assert_eq!(link.attach_type(), AttachType::TraceRawTp);
        let err = attach_raw_tracepoint(&prog, "no_such").unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT));
        assert!(
            err.to_string()
                .starts_with("BPF_RAW_TRACEPOINT_OPEN failed"),
            "{err}"
        );
        assert!(matches!(
            attach_raw_tracepoint(&prog, "a\0b").unwrap_err(),
            KernelError::InvalidName { .. }
        ));
        assert_eq!(
            *names.borrow(),
            vec![
                (Some("sys_enter".to_owned()), 0),
                (Some("no_such".to_owned()), 0)
            ]
        );
    }
}
