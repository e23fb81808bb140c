//! Network attach points: TC through TCX links (Linux 6.6) or, on older
//! kernels, a `clsact` qdisc's `cls_bpf` filter (see `tc`), and XDP
//! through links (Linux 5.9); plus what finding a device needs: its index
//! and, for devices in another network namespace, entering that namespace.
//!
//! Every attachment detaches when dropped. Interface indexes, like the
//! attachments, belong to the network namespace of the calling thread.
//!
//! Not done: XDP attachment by netlink for kernels without XDP links.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::path::Path;

use crate::error::{KernelError, OsCall};
use crate::link::{LinkFd, LinkTarget};
use crate::program::ProgramFd;
use crate::sys;
use crate::tc::{TcFilter, attach_tc_clsact};
use crate::types::AttachType;

/// Which way packets go through a TC hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcDirection {
    Ingress,
    Egress,
}

/// How to attach to a TC hook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TcMode {
    /// A TCX link, or a clsact filter where the kernel has no TCX.
    #[default]
    Auto,
    Tcx,
    Clsact,
}

/// A program on a TC hook, by either path; detaches when dropped.
#[derive(Debug)]
pub enum TcAttachment {
    Tcx(LinkFd),
    Clsact(TcFilter),
}

impl TcAttachment {
    /// Detaches now, reporting the kernel's answer.
    pub fn detach(self) -> Result<(), KernelError> {
        match self {
            TcAttachment::Tcx(link) => link.detach(),
            TcAttachment::Clsact(filter) => filter.detach(),
        }
    }

    /// How it is attached, for people: `tcx`, `clsact (pref 1)`.
    pub fn describe(&self) -> String {
        match self {
            TcAttachment::Tcx(_) => "tcx".to_owned(),
            TcAttachment::Clsact(filter) => format!("clsact (pref {})", filter.priority()),
        }
    }
}

/// Attaches a `sched_cls` program to the TC `direction` hook of the device
/// `ifindex` in `mode`. `Auto` falls back to clsact when the kernel does
/// not know TCX (`EINVAL` for the attach type before Linux 6.6).
pub fn attach_tc(
    program: &ProgramFd,
    ifindex: u32,
    direction: TcDirection,
    mode: TcMode,
) -> Result<TcAttachment, KernelError> {
    let clsact = || attach_tc_clsact(program, ifindex, direction).map(TcAttachment::Clsact);
    match mode {
        TcMode::Tcx => attach_tcx(program, ifindex, direction).map(TcAttachment::Tcx),
        TcMode::Clsact => clsact(),
        TcMode::Auto => match attach_tcx(program, ifindex, direction) {
            Ok(link) => Ok(TcAttachment::Tcx(link)),
            Err(error) if lacks_tcx(&error) => clsact(),
            Err(error) => Err(error),
        },
    }
}

/// Whether a TCX link failed because the kernel has no TCX.
fn lacks_tcx(error: &KernelError) -> bool {
    let no_such_attach_type = [libc::EINVAL, libc::EOPNOTSUPP, ENOTSUPP];
    matches!(error, KernelError::Syscall { source, .. }
        if source.raw_os_error().is_some_and(|e| no_such_attach_type.contains(&e)))
}

/// The kernel-internal `ENOTSUPP`, which bpf(2) lets out.
const ENOTSUPP: i32 = 524;

/// Attaches a `sched_cls` program to the TC `direction` hook of the device
/// `ifindex`, after the programs already there. The program returns a TCX
/// verdict: `TCX_NEXT` (-1), `TCX_PASS` (0), `TCX_DROP` (2) or
/// `TCX_REDIRECT` (7).
#[doc(alias = "BPF_TCX_INGRESS")]
#[doc(alias = "BPF_TCX_EGRESS")]
pub fn attach_tcx(
    program: &ProgramFd,
    ifindex: u32,
    direction: TcDirection,
) -> Result<LinkFd, KernelError> {
    let attach_type = match direction {
        TcDirection::Ingress => AttachType::TcxIngress,
        TcDirection::Egress => AttachType::TcxEgress,
    };
    LinkFd::create(program, LinkTarget::Ifindex(ifindex), attach_type, 0)
}

/// Where an XDP program runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XdpMode {
    /// The driver's hook if it has one, else generic.
    #[default]
    Any,
    /// After the kernel built an skb (`XDP_FLAGS_SKB_MODE`): every device,
    /// slower.
    Generic,
    /// In the driver (`XDP_FLAGS_DRV_MODE`).
    Native,
    /// On the NIC (`XDP_FLAGS_HW_MODE`).
    Offload,
}

impl XdpMode {
    const fn flags(self) -> u32 {
        match self {
            XdpMode::Any => 0,
            XdpMode::Generic => 1 << 1,
            XdpMode::Native => 1 << 2,
            XdpMode::Offload => 1 << 3,
        }
    }
}

/// Attaches an XDP program to the device `ifindex`.
#[doc(alias = "BPF_PROG_TYPE_XDP")]
pub fn attach_xdp(program: &ProgramFd, ifindex: u32, mode: XdpMode) -> Result<LinkFd, KernelError> {
    LinkFd::create(
        program,
        LinkTarget::Ifindex(ifindex),
        AttachType::Xdp,
        mode.flags(),
    )
}

/// The index of the network device `name` in the calling thread's
/// network namespace.
pub fn ifindex(name: &str) -> Result<u32, KernelError> {
    let what = || format!("find the network device `{name}`");
    let c = CString::new(name).map_err(|_| KernelError::InvalidName {
        name: name.to_owned(),
        reason: "a device name may not contain a NUL byte",
    })?;
    sys::if_nametoindex(&c).map_err(KernelError::os(OsCall::IfNameToIndex, what()))
}

/// Moves the calling thread into the network namespace at `path`
/// (`/run/netns/NAME` as `ip netns add` makes, or `/proc/PID/ns/net`).
/// Other threads stay where they are; a thread that should come back
/// opens its own namespace (`/proc/thread-self/ns/net`) first and enters
/// it again afterwards.
pub fn enter_netns(path: &Path) -> Result<(), KernelError> {
    let file = std::fs::File::open(path).map_err(|source| KernelError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    sys::setns_net(file.as_fd()).map_err(KernelError::os(
        OsCall::Setns,
        format!("enter the network namespace {}", path.display()),
    ))
}
