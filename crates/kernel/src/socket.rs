//! Socket filters: an eBPF program (`BPF_PROG_TYPE_SOCKET_FILTER`,
//! `SO_ATTACH_BPF`, Linux 3.19) or a classic BPF program
//! (`SO_ATTACH_FILTER`) on one socket.
//!
//! The filter sees every packet the socket would receive and returns how
//! many bytes of it to keep: 0 drops it. For a packet socket the packet
//! starts at the link-layer header; for a UDP or TCP socket, at the
//! transport header (`LD_ABS` offsets count from there; the network
//! header is at `SKF_NET_OFF`).
//!
//! A socket holds one filter: attaching replaces the previous one.
//! [`SocketFilter`] borrows the socket and detaches (`SO_DETACH_FILTER`)
//! when dropped; closing the socket also ends the filter.

use std::os::fd::BorrowedFd;

use visor_isa::cbpf;

use crate::error::{KernelError, OsCall};
use crate::program::ProgramFd;
use crate::sys;

/// A filter attached to a socket; see the module doc.
#[derive(Debug)]
#[doc(alias = "BPF_PROG_TYPE_SOCKET_FILTER")]
pub struct SocketFilter<'s> {
    socket: BorrowedFd<'s>,
    attached: bool,
}

impl<'s> SocketFilter<'s> {
    /// Attaches a socket filter program to `socket` (`SO_ATTACH_BPF`).
    pub fn attach(
        program: &ProgramFd,
        socket: BorrowedFd<'s>,
    ) -> Result<SocketFilter<'s>, KernelError> {
        use std::os::fd::{AsFd, AsRawFd};
        let fd = program.as_fd().as_raw_fd();
        sys::set_socket_int(socket, libc::SOL_SOCKET, libc::SO_ATTACH_BPF, fd).map_err(
            KernelError::os(
                OsCall::Setsockopt,
                format!("attach program `{}` to a socket", program.name()),
            ),
        )?;
        Ok(SocketFilter {
            socket,
            attached: true,
        })
    }

    /// Attaches a classic BPF program (`SO_ATTACH_FILTER`); the kernel
    /// checks it and translates it to eBPF.
    pub fn attach_classic(
        program: &[cbpf::Insn],
        socket: BorrowedFd<'s>,
    ) -> Result<SocketFilter<'s>, KernelError> {
        sys::attach_classic_filter(socket, program).map_err(KernelError::os(
            OsCall::Setsockopt,
            format!(
                "attach a classic filter of {} instructions to a socket",
                program.len()
            ),
        ))?;
        Ok(SocketFilter {
            socket,
            attached: true,
        })
    }

    /// Detaches the filter now (`SO_DETACH_FILTER`) and reports the
    /// kernel's answer (`ENOENT` if something else detached it first).
    pub fn detach(mut self) -> Result<(), KernelError> {
        self.attached = false;
        detach(self.socket)
    }
}

fn detach(socket: BorrowedFd<'_>) -> Result<(), KernelError> {
    sys::set_socket_int(socket, libc::SOL_SOCKET, libc::SO_DETACH_FILTER, 0).map_err(
        KernelError::os(OsCall::Setsockopt, "detach a socket filter"),
    )
}

impl Drop for SocketFilter<'_> {
    fn drop(&mut self) {
        if self.attached {
            // Drop cannot report: `ENOENT` (already detached) is the only
            // error a live socket gives, and it leaves nothing attached.
            let _ = detach(self.socket);
        }
    }
}
