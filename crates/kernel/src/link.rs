//! Attachments made with `BPF_LINK_CREATE`, owned by a [`LinkFd`].
//!
//! A link is the kernel's handle on one attachment of a program to a hook
//! (a cgroup, a network device's XDP or TCX hook, a perf event...). The
//! attachment lasts as long as the link does: dropping the [`LinkFd`]
//! closes its descriptor and, unless the link is pinned or the descriptor
//! was shared, the kernel detaches the program. [`LinkFd::detach`] detaches
//! at once and reports the kernel's answer.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::error::KernelError;
use crate::program::ProgramFd;
use crate::sys::attr::LinkCreateAttr;
use crate::sys::{self, BpfCmd, Command};
use crate::types::AttachType;

/// What a link attaches to.
#[derive(Clone, Copy, Debug)]
pub enum LinkTarget<'a> {
    /// A cgroup directory, a network namespace, a perf event...
    Fd(BorrowedFd<'a>),
    /// A network device (XDP, TCX, netkit).
    Ifindex(u32),
}

/// An attachment; see the module doc for when it ends.
#[derive(Debug)]
pub struct LinkFd {
    fd: OwnedFd,
    attach_type: AttachType,
}

impl LinkFd {
    /// Attaches `program` to `target` at `attach_type`. `flags` are the
    /// attach type's own (`XDP_FLAGS_*` for XDP, `BPF_F_*` for cgroups and
    /// TCX); 0 is the default for each.
    pub fn create(
        program: &ProgramFd,
        target: LinkTarget<'_>,
        attach_type: AttachType,
        flags: u32,
    ) -> Result<LinkFd, KernelError> {
        let target = match target {
            LinkTarget::Fd(fd) => sys::fd_u32(fd),
            LinkTarget::Ifindex(index) => index,
        };
        let attr = LinkCreateAttr {
            prog_fd: sys::fd_u32(program.as_fd()),
            target,
            attach_type: attach_type.number(),
            flags,
            ..LinkCreateAttr::default()
        };
        let fd = sys::bpf_fd(&mut Command::LinkCreate(attr)).map_err(|source| {
            let what = format!(
                "attach program `{}` ({}) at {attach_type}",
                program.name(),
                program.program_type()
            );
            KernelError::syscall(BpfCmd::LinkCreate, what, source)
        })?;
        Ok(LinkFd { fd, attach_type })
    }

    /// Wraps a link descriptor another command created
    /// (`BPF_RAW_TRACEPOINT_OPEN`).
    pub(crate) fn from_fd(fd: OwnedFd, attach_type: AttachType) -> LinkFd {
        LinkFd { fd, attach_type }
    }

    pub fn attach_type(&self) -> AttachType {
        self.attach_type
    }

    /// Detaches the program now, even if the link is pinned; the link
    /// stays open but defunct. Errors are the kernel's (`EOPNOTSUPP` for
    /// link types that cannot be detached this way).
    pub fn detach(&self) -> Result<(), KernelError> {
        let mut command = Command::LinkDetach {
            link: self.fd.as_fd(),
        };
        sys::bpf(&mut command).map_err(|source| {
            let what = format!("detach a {} link", self.attach_type);
            KernelError::syscall(BpfCmd::LinkDetach, what, source)
        })?;
        Ok(())
    }
}

impl AsFd for LinkFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for LinkFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}
