//! Executable memory and the crossings between Rust and native code: the
//! entries into compiled code (the machine body's, and the lean body's
//! plain call), and the service entry native code calls back. This is the
//! only module of the crate that uses `unsafe`.
//!
//! Code pages are written while mapped read-write, then switched to
//! read-execute before anything runs them: never writable and executable
//! at once.

use core::ffi::c_void;
use core::ptr::NonNull;

use super::{Entry, JitContext, JitError, JitRun, LeanExit, serve};

/// What compiled code is, from each entry of the machine body: a
/// function of the pinned context.
type NativeFn = unsafe extern "sysv64" fn(*mut JitContext) -> u32;

/// What the lean body is: a function of r1, r2 and the packet (see
/// `lean`).
type LeanFn =
    unsafe extern "sysv64" fn(r1: u64, r2: u64, packet: *const u8, packet_len: u64) -> LeanExit;

/// The service entry's address, for the code generator to embed.
pub(super) fn service_entry() -> u64 {
    let entry: extern "sysv64" fn(*mut JitContext, u32, u32) -> u32 = service;
    entry as usize as u64
}

/// Native code in read-execute pages, unmapped on drop.
struct Pages {
    ptr: NonNull<u8>,
    /// Mapped length: the code rounded up to whole pages.
    mapped: usize,
    len: usize,
}

// SAFETY: the pages are immutable (read-execute) after `Pages::new` and
// owned by this value alone; running them from several threads at once is
// fine, each run brings its own context.
unsafe impl Send for Pages {}
// SAFETY: as for `Send`: shared access only reads and executes.
unsafe impl Sync for Pages {}

impl Pages {
    /// Copies `bytes` into fresh pages and makes them executable.
    fn new(bytes: &[u8]) -> Result<Pages, JitError> {
        let page = page_size();
        let mapped = bytes.len().max(1).div_ceil(page) * page;
        // SAFETY: an anonymous private mapping with no address hint touches
        // no existing memory; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                mapped,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(JitError::ExecutableMemory(std::io::Error::last_os_error()));
        }
        let Some(ptr) = NonNull::new(ptr.cast::<u8>()) else {
            return Err(JitError::ExecutableMemory(std::io::Error::other(
                "mmap returned null",
            )));
        };
        // Owns the mapping from here, so an error below unmaps it.
        let pages = Pages {
            ptr,
            mapped,
            len: bytes.len(),
        };
        // SAFETY: the mapping is `mapped >= bytes.len()` bytes, writable,
        // and nothing else refers to it yet.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.as_ptr(), bytes.len()) };
        // SAFETY: changes the protection of our own mapping only.
        let protected = unsafe {
            libc::mprotect(
                ptr.as_ptr().cast::<c_void>(),
                mapped,
                libc::PROT_READ | libc::PROT_EXEC,
            )
        };
        if protected != 0 {
            return Err(JitError::ExecutableMemory(std::io::Error::last_os_error()));
        }
        Ok(pages)
    }

    /// The address of the code at `offset`, which `new`'s caller checked
    /// is below `len`.
    fn at(&self, offset: usize) -> *const u8 {
        self.ptr.as_ptr().wrapping_add(offset)
    }
}

/// The machine body of a program (see `codegen`), entered with its pinned
/// context.
pub(crate) struct MachineCode {
    pages: Pages,
    /// The offset of [`Entry::Fresh`], below the code's length.
    fresh_entry: usize,
}

impl MachineCode {
    /// Makes `bytes` executable; [`Entry::Resume`] is at offset 0 and
    /// [`Entry::Fresh`] at `fresh_entry`.
    pub(crate) fn new(bytes: &[u8], fresh_entry: usize) -> Result<MachineCode, JitError> {
        if fresh_entry >= bytes.len() {
            return Err(JitError::UnboundLabel);
        }
        let pages = Pages::new(bytes)?;
        Ok(MachineCode { pages, fresh_entry })
    }

    /// Bytes of machine code.
    pub(crate) fn len(&self) -> usize {
        self.pages.len
    }

    /// Runs the code from `entry` with `ctx`; returns when it leaves, with
    /// the `Status` it left with (the outcome of a service is in the run
    /// `ctx` points to).
    #[inline]
    pub(super) fn enter(&self, entry: Entry, ctx: &mut JitContext) -> u32 {
        let offset = match entry {
            Entry::Resume => 0,
            Entry::Fresh => self.fresh_entry,
        };
        // SAFETY: the pages hold code from `codegen::compile`, whose two
        // entries (offset 0, and `fresh_entry`, checked in bounds by
        // `new`) follow the System V ABI for `NativeFn`: each saves and
        // restores the callee-saved registers and the stack pointer, reads
        // and writes `ctx` only at its fields' offsets, and reaches guest
        // memory only through `ctx.table` entries after checking the
        // offset and length against them. `ctx.run` points to a live
        // `JitRun` for the whole call.
        unsafe {
            let native: NativeFn =
                core::mem::transmute::<*const u8, NativeFn>(self.pages.at(offset));
            native(ctx)
        }
    }
}

/// The lean body of a leaf program (see `lean`), a plain function at
/// offset 0.
pub(crate) struct LeanCode {
    pages: Pages,
}

impl LeanCode {
    /// Makes `bytes`, a lean body from `codegen::compile_lean`, executable.
    pub(crate) fn new(bytes: &[u8]) -> Result<LeanCode, JitError> {
        if bytes.is_empty() {
            return Err(JitError::UnboundLabel);
        }
        Ok(LeanCode {
            pages: Pages::new(bytes)?,
        })
    }

    /// Bytes of machine code.
    pub(crate) fn len(&self) -> usize {
        self.pages.len
    }

    /// Runs the lean body with r1, r2 and `packet`.
    #[inline]
    pub(crate) fn enter(&self, r1: u64, r2: u64, packet: &[u8]) -> LeanExit {
        // SAFETY: the pages hold a lean body from `codegen::compile_lean`,
        // which starts at offset 0 and follows the System V ABI for
        // `LeanFn`: it saves and restores the callee-saved registers it
        // writes and the stack pointer, reads `packet` only at offsets it
        // checked below `packet.len()`, writes only the stack frame it
        // reserved, at offsets proven inside it when compiling, and calls
        // nothing.
        unsafe {
            let native: LeanFn = core::mem::transmute::<*const u8, LeanFn>(self.pages.at(0));
            native(r1, r2, packet.as_ptr(), packet.len() as u64)
        }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made; no reference to
        // it outlives `self` (runs borrow the program).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast::<c_void>(), self.mapped);
        }
    }
}

fn page_size() -> usize {
    // SAFETY: `sysconf` has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .unwrap_or(4096)
}

/// The service entry: native code spills the guest registers into `ctx`
/// and calls this with the instruction and what it needs.
extern "sysv64" fn service(ctx: *mut JitContext, pc: u32, kind: u32) -> u32 {
    // SAFETY: native code passes the context `Code::enter` was given,
    // which is live and not otherwise referenced while this runs (native
    // code is suspended in the call).
    let ctx = unsafe { &mut *ctx };
    // SAFETY: `ctx.run` was set by `JitProgram::execute` to its `JitRun`,
    // which outlives the native call and is not touched by Rust until the
    // call returns.
    let run = unsafe { &mut *ctx.run.cast::<JitRun<'_, '_, '_, '_>>() };
    serve(ctx, run, pc, kind) as u32
}
