//! Network attach points: TC through TCX links (Linux 6.6) and XDP
//! through links (Linux 5.9), plus what finding a device needs: its index
//! and, for devices in another network namespace, entering that namespace.
//!
//! Both attachments are [`LinkFd`]s: dropping one detaches the program.
//! Interface indexes, like the attachments, belong to the network
//! namespace of the calling thread.
//!
//! Not done: the older TC path (a `clsact` qdisc and a `cls_bpf` filter in
//! direct-action mode, made over rtnetlink) for kernels without TCX, and
//! XDP attachment by netlink for kernels without XDP links.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::path::Path;

use crate::error::{KernelError, OsCall};
use crate::link::{LinkFd, LinkTarget};
use crate::program::ProgramFd;
use crate::sys;
use crate::types::AttachType;

/// Which way packets go through a TC hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcDirection {
    Ingress,
    Egress,
}

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
