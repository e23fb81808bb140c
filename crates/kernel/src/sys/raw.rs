//! Every `unsafe` block of the crate: the bpf(2) system call, and the other
//! calls attaching and reading need: perf_event_open(2) and its ioctls,
//! mmap(2) of perf and BPF ring buffers (with the atomic loads and stores
//! that read them), poll(2), setsockopt(2), setns(2), if_nametoindex(3) and
//! mount(2).
//!
//! The rest of the crate is safe code. What makes the bpf(2) calls sound:
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
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::perf::{PerfEventAttr, PerfIoctl};

use super::Command;
use super::attr::{
    Attr, BatchAttr, BtfLoadAttr, IdAttr, InfoAttr, LinkCreateAttr, MapCreateAttr, MapElemAttr,
    ObjAttr, ProgLoadAttr, RawTracepointAttr, TestRunAttr, WordAttr,
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
// SAFETY: as above.
unsafe impl Pod for RawTracepointAttr {}

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
            Attr::RawTracepoint(a) => bytes_of(a),
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
    mount_fs(c"bpf", target)
}

/// Mounts tracefs at `target`: `mount -t tracefs tracefs <target>`.
pub(crate) fn mount_tracefs(target: &CStr) -> io::Result<()> {
    mount_fs(c"tracefs", target)
}

fn mount_fs(kind: &CStr, target: &CStr) -> io::Result<()> {
    // SAFETY: all three strings are NUL-terminated and outlive the call;
    // `data` may be NULL for bpffs and tracefs.
    let ret = unsafe {
        libc::mount(
            kind.as_ptr(),
            target.as_ptr(),
            kind.as_ptr(),
            0,
            core::ptr::null(),
        )
    };
    zero_is_ok(ret)
}

fn zero_is_ok(ret: libc::c_int) -> io::Result<()> {
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Owns a descriptor a system call just returned, or its error.
fn own_new_fd(ret: libc::c_long) -> io::Result<OwnedFd> {
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(ret).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the kernel returned {ret}, not a descriptor"),
        )
    })?;
    // SAFETY: the call that returned `fd` created it for us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

// SAFETY: `repr(C)`, only integer fields and an integer array, no padding
// (`perf::tests` checks the size).
unsafe impl Pod for PerfEventAttr {}

/// perf_event_open(2). `path` becomes `config1` (a uprobe's binary), so the
/// address in the attr always belongs to a string that outlives the call.
pub(crate) fn perf_event_open(
    attr: &PerfEventAttr,
    path: Option<&CStr>,
    pid: i32,
    cpu: i32,
    flags: u64,
) -> io::Result<OwnedFd> {
    let mut attr = PerfEventAttr {
        size: PerfEventAttr::SIZE,
        config1: path.map_or(attr.config1, |p| p.as_ptr().expose_provenance() as u64),
        ..*attr
    };
    let bytes = bytes_of(&mut attr);
    // SAFETY: `bytes` is a whole Pod attr of the size it states; its only
    // address (`config1`, for uprobes) is `path`, live for the call; the
    // group fd is -1 (none).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            bytes.as_mut_ptr(),
            libc::c_long::from(pid),
            libc::c_long::from(cpu),
            libc::c_long::from(-1),
            flags as libc::c_ulong,
        )
    };
    own_new_fd(ret)
}

/// One perf ioctl on a perf event descriptor.
pub(crate) fn perf_ioctl(fd: BorrowedFd<'_>, op: PerfIoctl, arg: u32) -> io::Result<()> {
    // SAFETY: the three requests take an integer argument by value (the
    // kernel reads no user memory for them); `fd` is open for the call.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            op.request() as libc::Ioctl,
            libc::c_ulong::from(arg),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The size of a memory page.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf only reads a constant of the running system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// Whether a mapping may be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    ReadOnly,
    ReadWrite,
}

/// A shared mapping of a kernel ring (a perf event's or a ring buffer
/// map's), unmapped on drop. The kernel writes it concurrently, so it is
/// never seen as a Rust slice: every read is an atomic load or a copy of
/// bytes the ring protocol says the kernel has finished writing.
#[derive(Debug)]
pub(crate) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
    access: Access,
}

// SAFETY: the mapping belongs to this value alone (no other Rust reference
// into it exists), so moving it to another thread is as sound as using it
// here; the kernel's side is synchronised by the atomics below.
unsafe impl Send for Mmap {}

impl Mmap {
    /// Maps `len` bytes of `fd` from `offset`, shared.
    pub(crate) fn map(
        fd: BorrowedFd<'_>,
        offset: usize,
        len: usize,
        access: Access,
    ) -> io::Result<Mmap> {
        let prot = match access {
            Access::ReadOnly => libc::PROT_READ,
            Access::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        };
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mmap offset too large"))?;
        // SAFETY: a new shared mapping at an address the kernel chooses
        // aliases no Rust object; `fd` is open for the call.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Mmap { ptr, len, access })
    }

    /// The address of `size` bytes at `offset`, if they lie inside the
    /// mapping and are aligned to `size`.
    fn at(&self, offset: usize, size: usize) -> Option<*mut u8> {
        let end = offset.checked_add(size)?;
        if end > self.len {
            return None;
        }
        // SAFETY: `offset + size <= len`, inside the one mapped object.
        let ptr = unsafe { self.ptr.as_ptr().add(offset) };
        (ptr.addr() % size.clamp(1, 8) == 0).then_some(ptr)
    }

    /// An acquire load of the `u64` at `offset` (a ring position), or `None`
    /// outside the mapping.
    pub(crate) fn load_u64(&self, offset: usize) -> Option<u64> {
        let ptr = self.at(offset, 8)?.cast::<u64>();
        // SAFETY: in bounds and aligned (`at`); the kernel only accesses
        // ring positions atomically, so this is not a data race.
        Some(unsafe { AtomicU64::from_ptr(ptr) }.load(Ordering::Acquire))
    }

    /// An acquire load of the `u32` at `offset` (a ring buffer record's
    /// length word, which the kernel commits with a release store).
    pub(crate) fn load_u32(&self, offset: usize) -> Option<u32> {
        let ptr = self.at(offset, 4)?.cast::<u32>();
        // SAFETY: as in `load_u64`.
        Some(unsafe { AtomicU32::from_ptr(ptr) }.load(Ordering::Acquire))
    }

    /// A release store of `value` at `offset` (the consumer position),
    /// publishing that the bytes before it may be overwritten. `false`
    /// outside the mapping or in a read-only one.
    pub(crate) fn store_u64(&self, offset: usize, value: u64) -> bool {
        if self.access != Access::ReadWrite {
            return false;
        }
        let Some(ptr) = self.at(offset, 8) else {
            return false;
        };
        // SAFETY: in bounds, aligned and writable; the kernel only reads
        // this word, atomically.
        unsafe { AtomicU64::from_ptr(ptr.cast::<u64>()) }.store(value, Ordering::Release);
        true
    }

    /// Copies `out.len()` bytes from `offset`. The caller has loaded (with
    /// acquire) a position past these bytes, so the kernel has finished
    /// writing them and will not touch them until the consumer position
    /// moves past them. `false` outside the mapping.
    pub(crate) fn copy_out(&self, offset: usize, out: &mut [u8]) -> bool {
        let Some(end) = offset.checked_add(out.len()) else {
            return false;
        };
        if end > self.len {
            return false;
        }
        // SAFETY: the source range is inside the mapping; `out` is a
        // distinct Rust buffer; by the ring protocol (see above) nothing
        // writes the source while we copy it.
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                out.as_mut_ptr(),
                out.len(),
            );
        }
        true
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are one mapping made by `Mmap::map`,
        // unmapped only here; no reference into it outlives `self`.
        // munmap of a valid mapping cannot fail.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Waits until one of `fds` is readable or `timeout` passes (`None`: for
/// ever). Returns which are readable; all `false` on timeout. `EINTR`
/// counts as a timeout, so callers just look again.
pub(crate) fn poll_readable(
    fds: &[BorrowedFd<'_>],
    timeout: Option<Duration>,
) -> io::Result<Vec<bool>> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let millis = timeout.map_or(-1, |t| {
        libc::c_int::try_from(t.as_millis()).unwrap_or(libc::c_int::MAX)
    });
    let count = libc::nfds_t::try_from(polls.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `polls` is a live array of `count` pollfd structs that the
    // kernel writes `revents` of; every fd in it is borrowed for the call.
    let ret = unsafe { libc::poll(polls.as_mut_ptr(), count, millis) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(err);
    }
    Ok(polls
        .iter()
        .map(|p| p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0)
        .collect())
}

/// setsockopt(2) with an `int` value (`SO_ATTACH_BPF`, `SO_DETACH_FILTER`).
pub(crate) fn set_socket_int(
    socket: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the kernel reads `size_of::<c_int>()` bytes from `&value`,
    // a live local; `socket` is open for the call.
    let ret = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            core::ptr::from_ref(&value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    zero_is_ok(ret)
}

/// A `NETLINK_ROUTE` socket, closed on exec.
pub(crate) fn netlink_route_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socket(2) just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `SO_ATTACH_FILTER`: a classic BPF program, copied by the kernel.
pub(crate) fn attach_classic_filter(
    socket: BorrowedFd<'_>,
    program: &[visor_isa::cbpf::Insn],
) -> io::Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a classic filter has at most 65535 instructions",
        )
    })?;
    let mut filter: Vec<libc::sock_filter> = program
        .iter()
        .map(|insn| libc::sock_filter {
            code: insn.code,
            jt: insn.jt,
            jf: insn.jf,
            k: insn.k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: the kernel reads `fprog`, then `len` instructions from
    // `filter`, a live array of exactly that many; both outlive the call.
    let ret = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            core::ptr::from_ref(&fprog).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    zero_is_ok(ret)
}

/// Moves the calling thread into the network namespace `ns` (a file of
/// `/proc/PID/ns/net` or `/run/netns/NAME`).
pub(crate) fn setns_net(ns: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: setns reads nothing from our memory; `ns` is open for the
    // call. Changing the thread's namespace changes no Rust invariant.
    zero_is_ok(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })
}

/// if_nametoindex(3), in the calling thread's network namespace.
pub(crate) fn if_nametoindex(name: &CStr) -> io::Result<u32> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}

/// A set of signals, blocked in the calling thread by [`block_signals`].
#[derive(Clone, Copy)]
pub(crate) struct SignalSet(libc::sigset_t);

/// Blocks `signals` in the calling thread (threads it starts later inherit
/// the mask), so that they stay pending until [`take_signal`] takes them:
/// never delivered to a handler, so nothing runs asynchronously.
pub(crate) fn block_signals(signals: &[i32]) -> io::Result<SignalSet> {
    // SAFETY: `sigset_t` is plain data; the all-zero value is a valid
    // (empty) set, and sigemptyset/sigaddset only write within it.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` is a live, writable sigset_t.
    zero_is_ok(unsafe { libc::sigemptyset(&mut set) })?;
    for &signal in signals {
        // SAFETY: as above; an invalid number is an EINVAL, not UB.
        zero_is_ok(unsafe { libc::sigaddset(&mut set, signal) })?;
    }
    // SAFETY: `set` is initialised; a null old set asks for nothing back.
    // Blocking signals changes no Rust invariant.
    let code = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, core::ptr::null_mut()) };
    if code != 0 {
        return Err(io::Error::from_raw_os_error(code));
    }
    Ok(SignalSet(set))
}

/// Takes one pending signal of `set`, waiting at most `timeout` (forever
/// when `None`); `Ok(None)` when the time ran out first.
pub(crate) fn take_signal(set: &SignalSet, timeout: Option<Duration>) -> io::Result<Option<i32>> {
    let limit = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let limit_ptr = limit
        .as_ref()
        .map_or(core::ptr::null(), |t| t as *const libc::timespec);
    loop {
        // SAFETY: `set.0` is an initialised sigset_t; a null siginfo asks
        // for nothing back; `limit_ptr` is null or points at `limit`, alive
        // for the call.
        let taken = unsafe { libc::sigtimedwait(&set.0, core::ptr::null_mut(), limit_ptr) };
        if taken >= 0 {
            return Ok(Some(taken));
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(None),
            Some(libc::EINTR) => continue,
            _ => return Err(error),
        }
    }
}
