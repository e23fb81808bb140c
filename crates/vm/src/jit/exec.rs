//! Executable memory and the crossings between Rust and native code: the
//! entries into compiled code (the machine body's, and the lean body's
//! plain call), and the service entry native code calls back. This is the
//! only module of the crate whose `unsafe` runs anything (the other is
//! `JitContext`'s `Send` and `Sync`).
//!
//! Code pages are written while mapped read-write, then switched to
//! read-execute before anything runs them: never writable and executable
//! at once.
//!
//! Each body starts at its own offset in its first page (see
//! [`staggered_start`]), as the kernel places each program's image at a
//! random offset of its pages.

use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::codegen::EntryOffsets;
use super::{Entry, JitContext, JitError, JitRun, LeanExit, LeanInput, LeanMemory, serve};

/// What compiled code is, from each entry of the machine body: a
/// function of the pinned context.
type NativeFn = unsafe extern "sysv64" fn(*mut JitContext) -> u32;

/// What the lean body is: a function of r1, r2 and the memory it
/// reaches (see `lean`).
type LeanFn = unsafe extern "sysv64" fn(r1: u64, r2: u64, memory: *mut u8, len: u64) -> LeanExit;

/// The service entry's address, for the code generator to embed.
pub(super) fn service_entry() -> u64 {
    let entry: extern "sysv64" fn(*mut JitContext, u32, u32) -> u32 = service;
    entry as usize as u64
}

/// Native code in read-execute pages, unmapped on drop.
struct Pages {
    ptr: NonNull<u8>,
    /// Mapped length: the code and the bytes before it, rounded up to
    /// whole pages.
    mapped: usize,
    /// Where the code starts in the mapping.
    start: usize,
    len: usize,
}

/// Where the next body's code starts in its first page: seven cache lines
/// after where the last body's started (modulo the page), so that up to
/// 64 bodies compiled one after another start at different offsets. At
/// the same offset, programs compiled alike (the links of a tail-call
/// chain) put their hot code in the same sets of the instruction cache
/// and the branch predictor, and a run that goes through all of them
/// evicts its own code: the eight-program chain of `benches/shared.rs`
/// took 82 ns a run with every body at offset 0, 67 ns staggered.
fn staggered_start(page: usize) -> usize {
    const LINE: usize = 64;
    // Odd, so coprime with the lines of a page (a power of two).
    const STRIDE_LINES: usize = 7;
    static BODIES: AtomicUsize = AtomicUsize::new(0);
    let body = BODIES.fetch_add(1, Ordering::Relaxed);
    body.wrapping_mul(STRIDE_LINES * LINE) % page
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
        let start = staggered_start(page);
        let mapped = (start + bytes.len()).max(1).div_ceil(page) * page;
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
            start,
            len: bytes.len(),
        };
        // SAFETY: the mapping is `mapped >= start + bytes.len()` bytes,
        // writable, and nothing else refers to it yet.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), pages.at(0).cast_mut(), bytes.len());
        }
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
        self.ptr.as_ptr().wrapping_add(self.start + offset)
    }
}

/// The machine body of a program (see `codegen`), entered with its pinned
/// context.
pub(crate) struct MachineCode {
    pages: Pages,
    /// The offsets of the other entries, below the code's length.
    entries: EntryOffsets,
}

impl MachineCode {
    /// Makes `bytes` executable; [`Entry::Resume`] is at offset 0, the
    /// others at `entries`.
    pub(super) fn new(bytes: &[u8], entries: EntryOffsets) -> Result<MachineCode, JitError> {
        let EntryOffsets {
            fresh,
            chained,
            direct,
        } = entries;
        if [fresh, chained, direct].iter().any(|&e| e >= bytes.len()) {
            return Err(JitError::UnboundLabel);
        }
        let pages = Pages::new(bytes)?;
        Ok(MachineCode { pages, entries })
    }

    /// The address another body jumps to after leaving on a native tail
    /// call (see `codegen`'s `epilogue`); valid while this code lives.
    pub(crate) fn chained_entry(&self) -> u64 {
        self.pages.at(self.entries.chained) as u64
    }

    /// The address another body's inline tail call jumps to (see
    /// `codegen`'s `inline_tail_call`); valid while this code lives.
    pub(crate) fn direct_entry(&self) -> u64 {
        self.pages.at(self.entries.direct) as u64
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
            Entry::Fresh => self.entries.fresh,
        };
        // SAFETY: the pages hold code from `codegen::compile`, whose two
        // entries (offset 0, and the fresh entry, checked in bounds by
        // `new`) follow the System V ABI for `NativeFn`: each saves and
        // restores the callee-saved registers and the stack pointer, reads
        // and writes `ctx` only at its fields' offsets, and reaches guest
        // memory only through `ctx.table` entries after checking the
        // offset and length against them. `ctx.run` points to a live
        // `JitRun` for the whole call. A native tail call jumps into the
        // chained or direct entry of another such body, with the same
        // stack and saved state: after leaving, into a body the `JitRun`
        // keeps alive until the run has left it (`TailCalled`); inline,
        // into one of `ctx.tail.entries`, which point into bodies of
        // `ctx.tails`' programs, dropped only between runs.
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
    memory: LeanMemory,
}

impl LeanCode {
    /// Makes `bytes`, a lean body from `codegen::compile_lean` that
    /// reaches `memory`, executable.
    pub(crate) fn new(bytes: &[u8], memory: LeanMemory) -> Result<LeanCode, JitError> {
        if bytes.is_empty() {
            return Err(JitError::UnboundLabel);
        }
        Ok(LeanCode {
            pages: Pages::new(bytes)?,
            memory,
        })
    }

    /// What the body reaches besides its frame.
    pub(crate) fn memory(&self) -> LeanMemory {
        self.memory
    }

    /// Bytes of machine code.
    pub(crate) fn len(&self) -> usize {
        self.pages.len
    }

    /// Runs the lean body with r1, r2 and `memory`: what it reaches
    /// besides its frame, which must be what [`LeanCode::memory`] says,
    /// and for a buffer, r1 and r2 its address and length. Anything else
    /// runs nothing and bails.
    #[inline]
    pub(crate) fn enter(&self, r1: u64, r2: u64, memory: LeanInput<'_>) -> LeanExit {
        let (memory, len) = match (self.memory, memory) {
            (LeanMemory::Nothing | LeanMemory::Packet, LeanInput::Packet(packet)) => {
                (packet.as_ptr().cast_mut(), packet.len() as u64)
            }
            (LeanMemory::Buffer { writes }, LeanInput::Buffer(buffer))
                if buffer.holds_input(r1, r2, writes) =>
            {
                // Proven accesses add this to the guest address.
                let guest_base = crate::layout::RegionId::CONTEXT.addr(0) as usize;
                (buffer.ptr().wrapping_sub(guest_base), 0)
            }
            _ => return LeanExit::BAILED,
        };
        // SAFETY: the pages hold a lean body from `codegen::compile_lean`
        // reaching `self.memory`, which starts at offset 0 and follows the
        // System V ABI for `LeanFn`: it saves and restores the
        // callee-saved registers it writes and the stack pointer, writes
        // only the stack frame it reserved, at offsets proven inside it
        // when compiling, and calls nothing. A packet body reads `packet`
        // only at offsets it checked below `packet.len()`, which the
        // caller borrows for the call. A buffer body reads, and where
        // `writes` writes, only bytes visor-verifier proved inside the
        // buffer r1 points at with r2 bytes, which `holds_input` checked
        // this region is; the caller holds the input's mutable borrow for
        // the call.
        unsafe {
            let native: LeanFn = core::mem::transmute::<*const u8, LeanFn>(self.pages.at(0));
            native(r1, r2, memory, len)
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
