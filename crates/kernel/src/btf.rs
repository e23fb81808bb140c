//! Loading BTF type information into the kernel: `BPF_BTF_LOAD`.
//!
//! The bytes are a raw BTF blob (header, types, strings) as found in an
//! object's `.BTF` section once its relocations are applied; maps and
//! programs refer to the loaded blob by its descriptor and type ids.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::error::KernelError;
use crate::log::{LOG_START, LogLevel, VerifierLog, grown};
use crate::sys::{self, BpfCmd, Command};

/// Loaded BTF; closing the descriptor on drop frees it once no map or
/// program refers to it.
#[derive(Debug)]
pub struct BtfFd {
    fd: OwnedFd,
}

impl BtfFd {
    /// Loads `btf`. When the kernel refuses it, the error is
    /// [`KernelError::BtfRejected`] with the whole log of the BTF checker.
    pub fn load(btf: &[u8]) -> Result<BtfFd, KernelError> {
        let first = load_once(btf, 0, 0);
        let source = match first.0 {
            Ok(fd) => return Ok(BtfFd { fd }),
            Err(source) if source.raw_os_error() == Some(libc::EPERM) => {
                return Err(KernelError::syscall(BpfCmd::BtfLoad, "load BTF", source));
            }
            Err(source) => source,
        };
        let mut size = LOG_START;
        loop {
            let (result, log, true_size) = load_once(btf, LogLevel::Basic.number(), size);
            let no_space = matches!(&result, Err(e) if e.raw_os_error() == Some(libc::ENOSPC));
            let truncated = no_space || true_size as usize > size;
            if truncated && let Some(bigger) = grown(size, true_size) {
                size = bigger;
                continue;
            }
            return match result {
                Ok(fd) => Ok(BtfFd { fd }),
                Err(_) => Err(KernelError::BtfRejected {
                    len: btf.len(),
                    log: VerifierLog::from_buffer(&log, truncated),
                    source,
                }),
            };
        }
    }

    /// Wraps a descriptor from `BPF_BTF_GET_FD_BY_ID`.
    pub(crate) fn from_fd(fd: OwnedFd) -> BtfFd {
        BtfFd { fd }
    }
}

/// One `BPF_BTF_LOAD`: the result, the log buffer, the reported log size.
fn load_once(
    btf: &[u8],
    log_level: u32,
    log_len: usize,
) -> (std::io::Result<OwnedFd>, Vec<u8>, u32) {
    let mut log = vec![0; log_len];
    let mut command = Command::BtfLoad {
        btf,
        log: &mut log,
        log_level,
        log_true_size: 0,
    };
    let result = sys::bpf_fd(&mut command);
    let true_size = match command {
        Command::BtfLoad { log_true_size, .. } => log_true_size,
        _ => 0,
    };
    (result, log, true_size)
}

impl AsFd for BtfFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for BtfFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}
