//! Every `unsafe` block of the crate: the bpf(2) system call and mount(2).
//!
//! The rest of the crate is safe code. What makes these calls sound:
//!
//! - an attr is a [`Pod`] struct, so handing the kernel its bytes exposes no
//!   uninitialised memory, and whatever bytes the kernel writes back form a
//!   valid value;
//! - every address inside an attr was taken by `attr::Attr::build` from a
//!   buffer the [`Command`] borrows (shared for what the kernel reads,
//!   unique for what it writes), next to that buffer's length or a length
//!   `Command::check_buffers` has compared with it, and the command outlives
//!   the call;
//! - the kernel touches user memory only during the call.
//!
//! What remains outside our control, as with any `OwnedFd`: another thread
//! that closes and reuses a descriptor number we hold.

use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::Command;
use super::attr::{
    Attr, BatchAttr, BtfLoadAttr, IdAttr, InfoAttr, LinkCreateAttr, MapCreateAttr, MapElemAttr,
    ObjAttr, ProgLoadAttr, TestRunAttr, WordAttr,
};

/// Plain data the kernel may read and overwrite byte for byte.
///
/// # Safety
///
/// Implementors are `repr(C)`, have no padding bytes (each gap is a named
/// field), and hold only integers and arrays of integers, so every bit
/// pattern is a valid value.
unsafe trait Pod: Copy + 'static {}

// SAFETY: each struct below is `repr(C)` with explicit `_pad` fields and
// only integer fields; `attr::tests` checks each size against the kernel's.
unsafe impl Pod for MapCreateAttr {}
// SAFETY: as above.
unsafe impl Pod for MapElemAttr {}
// SAFETY: as above.
unsafe impl Pod for BatchAttr {}
// SAFETY: as above.
unsafe impl Pod for ProgLoadAttr {}
// SAFETY: as above.
unsafe impl Pod for BtfLoadAttr {}
// SAFETY: as above.
unsafe impl Pod for ObjAttr {}
// SAFETY: as above (three `u32`, 12 bytes, no tail padding).
unsafe impl Pod for IdAttr {}
// SAFETY: as above.
unsafe impl Pod for InfoAttr {}
// SAFETY: as above.
unsafe impl Pod for TestRunAttr {}
// SAFETY: as above.
unsafe impl Pod for LinkCreateAttr {}
// SAFETY: as above.
unsafe impl Pod for WordAttr {}

/// The bytes of `value`, for the kernel to read and write.
fn bytes_of<T: Pod>(value: &mut T) -> &mut [u8] {
    // SAFETY: `T: Pod` has no padding and accepts any bytes, so viewing its
    // `size_of::<T>()` bytes as `u8` (alignment 1) and writing any of them
    // keeps it valid; the slice borrows `value` uniquely.
    unsafe { core::slice::from_raw_parts_mut(core::ptr::from_mut(value).cast(), size_of::<T>()) }
}

impl Attr {
    fn bytes(&mut self) -> &mut [u8] {
        match self {
            Attr::MapCreate(a) => bytes_of(a),
            Attr::MapElem(a) => bytes_of(a),
            Attr::Batch(a) => bytes_of(a),
            Attr::ProgLoad(a) => bytes_of(a),
            Attr::BtfLoad(a) => bytes_of(a),
            Attr::Obj(a) => bytes_of(a),
            Attr::Id(a) => bytes_of(a),
            Attr::Info(a) => bytes_of(a),
            Attr::TestRun(a) => bytes_of(a),
            Attr::LinkCreate(a) => bytes_of(a),
            Attr::Word(a) => bytes_of(a),
        }
    }
}

/// Makes the system call for `command` and copies back what the kernel
/// wrote into the attr, whether the call failed or not.
pub(super) fn execute(command: &mut Command<'_>) -> io::Result<i64> {
    let cmd = command.cmd();
    let mut attr = Attr::build(command);
    let bytes = attr.bytes();
    // SAFETY: see the module doc: `bytes` is a whole Pod attr; every address
    // in it points into a live buffer of `command` whose length is the one
    // stated beside it (or checked against the kernel object's sizes).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            libc::c_long::from(cmd.number() as i32),
            bytes.as_mut_ptr(),
            bytes.len(),
        )
    };
    // Read errno before anything else can change it.
    let result = if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    };
    // Failed calls write back too: a batch's count, a test run's output
    // sizes on ENOSPC, a rejected program's log size.
    attr.write_back(command);
    result
}

/// Owns the descriptor a creating command returned.
pub(super) fn own_fd(ret: i64) -> io::Result<OwnedFd> {
    let fd = RawFd::try_from(ret)
        .ok()
        .filter(|fd| *fd >= 0)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bpf(2) returned {ret}, not a descriptor"),
            )
        })?;
    // SAFETY: `super::bpf_fd` only calls this with the result of a command
    // that creates a descriptor (`Command::creates_fd`); the kernel (or, in
    // unit tests, the fake door, which returns a descriptor it gave up) hands
    // it to us alone, so nothing else owns or closes it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Mounts a bpf filesystem at `target`: `mount -t bpf bpf <target>`.
pub(crate) fn mount_bpffs(target: &CStr) -> io::Result<()> {
    const BPF: &CStr = c"bpf";
    // SAFETY: all three strings are NUL-terminated and outlive the call;
    // `data` may be NULL for bpffs.
    let ret = unsafe {
        libc::mount(
            BPF.as_ptr(),
            target.as_ptr(),
            BPF.as_ptr(),
            0,
            core::ptr::null(),
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
