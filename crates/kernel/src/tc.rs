//! TC the way it was before TCX links (Linux 6.6): a `clsact` qdisc on the
//! device and a `cls_bpf` filter in direct-action mode on its ingress or
//! egress side, made over rtnetlink, as `tc filter add dev IF ingress bpf
//! da fd N` does. `tc filter show` lists such filters.
//!
//! A filter is not a link: nothing in the kernel ends it when this process
//! does. [`TcFilter`] deletes its filter when dropped (and
//! [`TcFilter::detach`] reports the kernel's answer), so it lasts as long
//! as the value, as a link would; a process killed outright leaves it in
//! place, as `tc` does. The `clsact` qdisc is made when missing and left
//! in place (it is shared: other filters may hang on it, and an empty one
//! costs nothing).

use std::os::fd::AsFd;

use crate::error::{KernelError, OsCall};
use crate::net::TcDirection;
use crate::netlink::{Request, RouteMessage, RouteSocket, TcMessage, flags};
use crate::program::ProgramFd;
use crate::sys;

/// `TC_H_CLSACT`: the parent id of the clsact qdisc (same as ingress).
const CLSACT_PARENT: u32 = 0xffff_fff1;
/// The clsact qdisc's own handle, `ffff:`.
const CLSACT_HANDLE: u32 = 0xffff_0000;
/// `TC_H_MIN_INGRESS` and `TC_H_MIN_EGRESS` under `ffff:`.
const INGRESS_PARENT: u32 = 0xffff_fff2;
const EGRESS_PARENT: u32 = 0xffff_fff3;
/// `ETH_P_ALL`: the filter sees every protocol.
const ETH_P_ALL: u16 = 0x0003;
/// The handle of our filters; priorities tell them apart.
const FILTER_HANDLE: u32 = 1;
/// How many priorities to try before giving up on finding a free one.
const PRIORITIES: u16 = 64;

const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_BPF_FD: u16 = 6;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
/// The program's return value is the action (`TC_ACT_*`), as with TCX.
const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;

/// A `cls_bpf` filter on a clsact hook; deleted on drop.
#[derive(Debug)]
pub struct TcFilter {
    socket: RouteSocket,
    id: TcMessage,
    direction: TcDirection,
    attached: bool,
}

impl TcFilter {
    /// The filter's priority (`pref` in `tc filter show`): the lowest one
    /// that was free on the hook.
    pub fn priority(&self) -> u16 {
        (self.id.info >> 16) as u16
    }

    pub fn direction(&self) -> TcDirection {
        self.direction
    }

    /// Deletes the filter now and reports the kernel's answer.
    pub fn detach(mut self) -> Result<(), KernelError> {
        self.attached = false;
        self.delete()
    }

    fn delete(&mut self) -> Result<(), KernelError> {
        let request = Request::new(
            RouteMessage::DelFilter,
            flags::REQUEST | flags::ACK,
            self.id,
        )
        .str_attr(TCA_KIND, "bpf");
        let what = format!(
            "delete the cls_bpf filter {} on ifindex {}",
            self.priority(),
            self.id.ifindex
        );
        answer(&mut self.socket, request, &what)
    }
}

impl Drop for TcFilter {
    fn drop(&mut self) {
        if self.attached {
            // Nothing to report to: `detach` is the way to hear about it.
            let _ = self.delete();
        }
    }
}

/// Attaches a `sched_cls` program to the clsact `direction` hook of the
/// device `ifindex` (making the qdisc if it has none), in direct-action
/// mode, at the lowest free priority.
#[doc(alias = "clsact")]
#[doc(alias = "cls_bpf")]
pub fn attach_tc_clsact(
    program: &ProgramFd,
    ifindex: u32,
    direction: TcDirection,
) -> Result<TcFilter, KernelError> {
    let mut socket = RouteSocket::open()?;
    add_clsact(&mut socket, ifindex)?;
    let parent = match direction {
        TcDirection::Ingress => INGRESS_PARENT,
        TcDirection::Egress => EGRESS_PARENT,
    };
    for priority in 1..=PRIORITIES {
        let id = TcMessage {
            ifindex,
            handle: FILTER_HANDLE,
            parent,
            info: (u32::from(priority) << 16) | u32::from(ETH_P_ALL.to_be()),
        };
        let request = Request::new(
            RouteMessage::NewFilter,
            flags::REQUEST | flags::ACK | flags::CREATE | flags::EXCL,
            id,
        )
        .str_attr(TCA_KIND, "bpf")
        .nested(TCA_OPTIONS)
        .u32_attr(TCA_BPF_FD, sys::fd_u32(program.as_fd()))
        .str_attr(TCA_BPF_NAME, program.name())
        .u32_attr(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT)
        .end_nested();
        let what = format!(
            "attach program `{}` as a cls_bpf filter on ifindex {ifindex}",
            program.name()
        );
        match answer(&mut socket, request, &what) {
            Ok(()) => {
                return Ok(TcFilter {
                    socket,
                    id,
                    direction,
                    attached: true,
                });
            }
            // Another filter holds this priority: try the next.
            Err(error) if already_exists(&error) => {}
            Err(error) => return Err(error),
        }
    }
    let what =
        format!("find a free filter priority on ifindex {ifindex} (1 to {PRIORITIES} are taken)");
    Err(KernelError::os(OsCall::Netlink, what)(
        std::io::Error::from_raw_os_error(libc::EEXIST),
    ))
}

/// Makes the device's clsact qdisc unless it has one.
fn add_clsact(socket: &mut RouteSocket, ifindex: u32) -> Result<(), KernelError> {
    let request = Request::new(
        RouteMessage::NewQdisc,
        flags::REQUEST | flags::ACK | flags::CREATE | flags::EXCL,
        TcMessage {
            ifindex,
            handle: CLSACT_HANDLE,
            parent: CLSACT_PARENT,
            info: 0,
        },
    )
    .str_attr(TCA_KIND, "clsact");
    match answer(
        socket,
        request,
        &format!("add a clsact qdisc on ifindex {ifindex}"),
    ) {
        Err(error) if already_exists(&error) => Ok(()),
        other => other,
    }
}

fn already_exists(error: &KernelError) -> bool {
    matches!(error, KernelError::Os { source, .. } if source.raw_os_error() == Some(libc::EEXIST))
}

/// Sends `request`; the kernel's refusal becomes an error about `what`.
fn answer(socket: &mut RouteSocket, request: Request, what: &str) -> Result<(), KernelError> {
    socket
        .call(request)
        .map_err(KernelError::os(OsCall::Netlink, what))?
        .map_err(|refusal| refusal.into_error(what.to_owned()))
}
