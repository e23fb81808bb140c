//! Run-time statistics of programs: `BPF_ENABLE_STATS`.

use std::os::fd::OwnedFd;

use crate::error::KernelError;
use crate::sys::{self, BpfCmd, Command};

/// Which statistics to enable (`enum bpf_stats_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatsKind {
    /// `run_time_ns` and `run_cnt` of every program (Linux 5.8).
    RunTime,
}

/// Keeps statistics enabled while it lives; dropping it closes the
/// descriptor and the kernel stops counting (unless someone else asked).
#[derive(Debug)]
pub struct StatsGuard {
    _fd: OwnedFd,
    kind: StatsKind,
}

impl StatsGuard {
    pub fn kind(&self) -> StatsKind {
        self.kind
    }
}

/// Enables `kind` statistics for as long as the guard lives.
pub fn enable_stats(kind: StatsKind) -> Result<StatsGuard, KernelError> {
    let number = match kind {
        StatsKind::RunTime => 0,
    };
    let fd = sys::bpf_fd(&mut Command::EnableStats { kind: number }).map_err(|source| {
        KernelError::syscall(BpfCmd::EnableStats, "enable run-time stats", source)
    })?;
    Ok(StatsGuard { _fd: fd, kind })
}
