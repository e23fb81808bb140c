//! Pinning objects in the bpf filesystem (`BPF_OBJ_PIN`, `BPF_OBJ_GET`).
//!
//! A pinned object outlives the process that made it: the file in bpffs
//! holds a reference until it is removed ([`unpin`]). bpffs is usually
//! mounted at [`BPFFS`]; [`ensure_bpffs`] mounts it there (or elsewhere)
//! when it is not.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::KernelError;
use crate::link::LinkFd;
use crate::map::MapFd;
use crate::program::ProgramFd;
use crate::sys::{self, BpfCmd, Command};

/// Where bpffs is mounted by convention.
pub const BPFFS: &str = "/sys/fs/bpf";

const MOUNTS: &str = "/proc/self/mounts";

/// Whether a bpf filesystem is mounted at `dir`, from `/proc/self/mounts`.
pub fn is_bpffs(dir: &Path) -> Result<bool, KernelError> {
    let mounts = std::fs::read_to_string(MOUNTS).map_err(|source| KernelError::ReadFile {
        path: PathBuf::from(MOUNTS),
        source,
    })?;
    Ok(mounts_bpffs_at(&mounts, dir))
}

/// Whether the `/proc/self/mounts` text `mounts` has bpffs at `dir`.
fn mounts_bpffs_at(mounts: &str, dir: &Path) -> bool {
    mounts.lines().any(|line| {
        let mut fields = line.split_ascii_whitespace();
        let (_source, target, fstype) = (fields.next(), fields.next(), fields.next());
        fstype == Some("bpf") && target.map(Path::new) == Some(dir)
    })
}

/// Mounts bpffs at `dir` unless it is mounted there already, creating the
/// directory if needed.
pub fn ensure_bpffs(dir: &Path) -> Result<(), KernelError> {
    if is_bpffs(dir)? {
        return Ok(());
    }
    let mount_error = |source| KernelError::MountBpffs {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(mount_error)?;
    sys::mount_bpffs(&c_path(dir)?).map_err(mount_error)
}

fn c_path(path: &Path) -> Result<CString, KernelError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| KernelError::InvalidPath {
        path: path.to_owned(),
    })
}

/// Pins the object behind `fd` at `path`, a new file in bpffs.
pub fn pin(fd: BorrowedFd<'_>, path: &Path) -> Result<(), KernelError> {
    let c = c_path(path)?;
    let mut command = Command::ObjPin { path: &c, fd };
    sys::bpf(&mut command).map_err(|source| {
        KernelError::syscall(BpfCmd::ObjPin, format!("pin at {}", path.display()), source)
    })?;
    Ok(())
}

/// Removes a pin. The object lives on while anything else holds it.
pub fn unpin(path: &Path) -> Result<(), KernelError> {
    std::fs::remove_file(path).map_err(|source| KernelError::Syscall {
        command: BpfCmd::ObjPin,
        what: format!("remove the pin {}", path.display()),
        source,
    })
}

fn get(path: &Path) -> Result<std::os::fd::OwnedFd, KernelError> {
    let c = c_path(path)?;
    let mut command = Command::ObjGet { path: &c };
    sys::bpf_fd(&mut command).map_err(|source| {
        KernelError::syscall(
            BpfCmd::ObjGet,
            format!("open the pin {}", path.display()),
            source,
        )
    })
}

impl MapFd {
    /// Pins the map at `path` in bpffs.
    pub fn pin(&self, path: &Path) -> Result<(), KernelError> {
        pin(self.as_fd(), path)
    }

    /// Opens the map pinned at `path`.
    pub fn from_pin(path: &Path) -> Result<MapFd, KernelError> {
        MapFd::from_owned(get(path)?)
    }
}

impl ProgramFd {
    /// Pins the program at `path` in bpffs.
    pub fn pin(&self, path: &Path) -> Result<(), KernelError> {
        pin(self.as_fd(), path)
    }

    /// Opens the program pinned at `path`.
    pub fn from_pin(path: &Path) -> Result<ProgramFd, KernelError> {
        ProgramFd::from_owned(get(path)?)
    }
}

impl LinkFd {
    /// Pins the link at `path` in bpffs: the attachment then outlives this
    /// handle and the process, until the pin is removed.
    pub fn pin(&self, path: &Path) -> Result<(), KernelError> {
        pin(self.as_fd(), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_bpffs_in_mounts() {
        let mounts = "sysfs /sys sysfs rw 0 0\nbpf /sys/fs/bpf bpf rw,relatime 0 0\n";
        assert!(mounts_bpffs_at(mounts, Path::new("/sys/fs/bpf")));
        assert!(!mounts_bpffs_at(mounts, Path::new("/sys")));
        assert!(!mounts_bpffs_at("", Path::new("/sys/fs/bpf")));
    }

    #[test]
    fn nul_in_a_path_is_an_error() {
        let err = pin_path_error();
        assert!(matches!(err, KernelError::InvalidPath { .. }), "{err:?}");
    }

    fn pin_path_error() -> KernelError {
        c_path(Path::new("/sys/fs/bpf/a\0b")).unwrap_err()
    }
}
