//! Programs attached to perf events: tracepoints and uprobes.
//!
//! A tracepoint or a uprobe is first opened as a perf event
//! (perf_event_open(2)); the program is then attached to that event, by a
//! `BPF_PERF_EVENT` link (Linux 5.15) or, when the kernel has no such
//! links, by the `PERF_EVENT_IOC_SET_BPF` and `PERF_EVENT_IOC_ENABLE`
//! ioctls. [`PerfAttachment`] owns both the event and the link, and
//! detaches when dropped.
//!
//! **One event, every CPU.** A system-wide perf event (pid -1) must name a
//! CPU, but a tracepoint's or uprobe's BPF programs live on the tracepoint
//! (its `prog_array`), not on the event: they run whichever CPU hits the
//! tracepoint. So one event, opened with pid -1 on CPU 0, is enough; this
//! is what the tests check (an exact count from a thread that may run on
//! any CPU; run under `taskset -c 1`, the count stays exact). A uprobe may instead name a pid, and then fires for that
//! process only.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::error::{KernelError, OsCall};
use crate::link::{LinkFd, LinkTarget};
use crate::program::ProgramFd;
use crate::sys;
use crate::sys::perf::{FLAG_FD_CLOEXEC, PerfEventAttr, PerfIoctl};
use crate::types::AttachType;

/// How a program was attached to its perf event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfAttachMode {
    /// A `BPF_PERF_EVENT` link (Linux 5.15).
    Link,
    /// `PERF_EVENT_IOC_SET_BPF` (Linux 4.1).
    Ioctl,
}

/// A program attached to a perf event (a tracepoint, a uprobe). Dropping
/// it detaches the program and closes the event; [`PerfAttachment::detach`]
/// does the same and reports the kernel's answer.
#[derive(Debug)]
pub struct PerfAttachment {
    // Field order is drop order: the link goes before the event.
    link: Option<LinkFd>,
    event: OwnedFd,
    what: String,
}

impl PerfAttachment {
    /// Attaches `program` to the perf event `event`; `what` names the
    /// event in errors ("tracepoint syscalls:sys_enter_getpid").
    pub(crate) fn attach(
        program: &ProgramFd,
        event: OwnedFd,
        what: String,
    ) -> Result<PerfAttachment, KernelError> {
        match LinkFd::create(
            program,
            LinkTarget::Fd(event.as_fd()),
            AttachType::PerfEvent,
            0,
        ) {
            Ok(link) => {
                return Ok(PerfAttachment {
                    link: Some(link),
                    event,
                    what,
                });
            }
            // Kernels without perf links (before 5.15) say EINVAL.
            Err(e) if e.errno() == Some(libc::EINVAL) => {}
            Err(e) => return Err(e),
        }
        let prog_fd = sys::fd_u32(program.as_fd());
        sys::perf_ioctl(event.as_fd(), PerfIoctl::SetBpf, prog_fd).map_err(KernelError::os(
            OsCall::Ioctl,
            format!("attach to the {what}"),
        ))?;
        sys::perf_ioctl(event.as_fd(), PerfIoctl::Enable, 0)
            .map_err(KernelError::os(OsCall::Ioctl, format!("enable the {what}")))?;
        Ok(PerfAttachment {
            link: None,
            event,
            what,
        })
    }

    pub fn mode(&self) -> PerfAttachMode {
        match self.link {
            Some(_) => PerfAttachMode::Link,
            None => PerfAttachMode::Ioctl,
        }
    }

    /// The link, when attached by one (to pin it, or read its info).
    pub fn link(&self) -> Option<&LinkFd> {
        self.link.as_ref()
    }

    /// The perf event's descriptor.
    pub fn event(&self) -> BorrowedFd<'_> {
        self.event.as_fd()
    }

    /// Detaches now: `BPF_LINK_DETACH` for a link, `PERF_EVENT_IOC_DISABLE`
    /// for an ioctl attachment; then closes both. Kernels whose perf links
    /// cannot be detached that way (`EOPNOTSUPP`: perf links on 6.18)
    /// detach when the link's last descriptor closes, which this does: the
    /// link is ours alone unless it was pinned or its descriptor shared.
    pub fn detach(mut self) -> Result<(), KernelError> {
        match &self.link {
            Some(link) => match link.detach() {
                Err(e) if e.errno() == Some(libc::EOPNOTSUPP) => {
                    self.link = None;
                    Ok(())
                }
                other => other,
            },
            None => sys::perf_ioctl(self.event.as_fd(), PerfIoctl::Disable, 0).map_err(
                KernelError::os(OsCall::Ioctl, format!("disable the {}", self.what)),
            ),
        }
    }
}

/// Opens a perf event described by `attr`. `path` is a uprobe's binary.
pub(crate) fn open(
    attr: &PerfEventAttr,
    path: Option<&std::ffi::CStr>,
    pid: i32,
    cpu: i32,
    what: &str,
) -> Result<OwnedFd, KernelError> {
    sys::perf_event_open(attr, path, pid, cpu, FLAG_FD_CLOEXEC).map_err(KernelError::os(
        OsCall::PerfEventOpen,
        format!("open the {what}"),
    ))
}
