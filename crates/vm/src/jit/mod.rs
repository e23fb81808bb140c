//! The x86-64 JIT: the interpreter's lowered ops compiled to native code
//! with the same results, errors and budget, bit for bit.
//!
//! # Layers
//!
//! - `x64`: the assembler, one method per host instruction form
//!   (`mov_rr`, `movzx_rm`, `lock_cmpxchg`), condition codes, labels.
//! - `codegen`: one method per `Op` kind (`crate::lower`), width passed as
//!   a value; which guest register lives in which host register; basic
//!   blocks and the budget.
//! - `memory`: the inline access check against the region table, and
//!   `LD_ABS`/`LD_IND`.
//! - `plan`: whether a program is a leaf and what its lean body needs,
//!   and the verifier's proof of its buffer accesses (no host needed).
//! - `lean`: the second body of leaf programs (no calls; memory only
//!   through `LD_ABS`/`LD_IND`, frame slots proven when compiling, and
//!   input-buffer accesses visor-verifier proved), entered by a plain
//!   function call with the packet or buffer, without context, table or
//!   budget.
//! - `tail`: tail calls made inline, through a copy of the program
//!   array (the tail window).
//! - `blinding`: constant blinding, on unless the program is trusted.
//! - `exec`: executable memory (written while RW, then RX: never both)
//!   and the two crossings between Rust and native code. The only
//!   `unsafe` of the crate is there, but for the `Send` and `Sync` of
//!   `JitContext` (raw pointers a `Memory` keeps between runs).
//!
//! # Execution model
//!
//! Native code runs the interpreter's `Machine`: guest registers live in
//! host registers while native code runs and are spilled to a pinned
//! `JitContext` whenever it calls back into Rust through one *service*
//! entry point, which copies them into the machine, does the work with the
//! interpreter's own code, and copies them back. So:
//!
//! - ALU, byte-order, jumps, `lddw`, loads, stores and atomics on plain
//!   regions (context, packet, stack frames, reservations) run inline.
//!   Each access checks `addr >> 32` against the 16-entry table, then
//!   `offset + len` against the region's readable (or, for stores and
//!   atomics, writable) length. Anything else (null, unmapped, out of
//!   bounds, read-only, map values at ids from 16, served contexts) takes
//!   a slow path that executes that one instruction with the
//!   interpreter's `step`: the same `Memory` methods, so the same values
//!   and the same [`VmError::MemoryAccess`](crate::VmError).
//! - `LD_ABS`/`LD_IND` run inline against a copy of the packet's entry
//!   (`JitContext::packet`); a load not wholly inside the packet goes to
//!   `step`, which ends the program with 0.
//! - Map values at ids from 16 are reached inline too, through the map
//!   windows (`MapWindow`, taken at the first access after the maps
//!   change); atomics on them take the slow path.
//! - Helper calls run through a service of their own (r1 to r5 read from
//!   the context, only r0 written back); `callx` through `step`: the
//!   same helper closures, `bpf_loop` (whose callbacks run in the
//!   interpreter), helper `Exit`.
//! - Tail calls: through the tail window, inline, kernel-style (see
//!   `tail`); otherwise through the helper, after which native code jumps
//!   into the target's body if it has one (`Status::TailCall`), or leaves
//!   for the run loop to start it.
//! - Local calls: the machine pushes the call (same frame regions, same
//!   8-frame limit and error), then native code `call`s the target; `exit`
//!   asks the machine to pop, then `ret`s. At depth 0 (the host stack
//!   pointer where the entry left it) `exit` leaves without calling into
//!   Rust: r0 and a flag go to the context.
//! - Entries: at offset 0 native code takes every guest register from the
//!   context (a machine hands over, or a tail call's target starts); the
//!   *fresh* entry sets them as a run starts, so a [`Session`] writes only
//!   r1 and r2 (see `crate::session`, whose runs build no machine until
//!   native code first calls into Rust).
//! - Budget: the instructions of each basic block are charged when it is
//!   entered (`lddw` once). When fewer remain than the block needs, native
//!   code hands the machine to the interpreter at the block's first
//!   instruction, which runs on and stops with exactly the interpreter's
//!   `BudgetExhausted` at the same pc. Every instruction that calls into
//!   Rust ends its block, so helpers and callbacks see the same budget.
//!   The counter lives in the context, or in rbp when the program never
//!   names r10 and calls nothing (`codegen::BudgetHome`).
//! - Leaf programs run without a budget (every filter `visor filter`
//!   translates) take the lean body instead: a run is one native call,
//!   about the cost of rbpf's, and anything it cannot finish alone
//!   (falling off the end, a jump into an `lddw`) leaves it with no effect
//!   for the machine body to run again and report.
//!
//! [`Session`]: crate::Session
//!
//! Not done yet: eliding checks the verifier has proven outside the lean
//! body, helper calls without the crossing into Rust.

// Without native code (`jit::AVAILABLE` false), the Rust side of native
// runs still compiles, so that it keeps type-checking on every host, but
// nothing calls it.
#![cfg_attr(not(native_jit), allow(dead_code))]

#[cfg(native_jit)]
mod blinding;
#[cfg(native_jit)]
mod codegen;
#[cfg(native_jit)]
#[allow(unsafe_code)] // executable memory and native entry; see the module
mod exec;
#[cfg(native_jit)]
mod lean;
#[cfg(native_jit)]
mod memory;
mod plan;
mod tail;
#[cfg(native_jit)]
mod x64;

use core::fmt;

use thiserror::Error;

pub(crate) use plan::{BufferProof, LeanMemory};

use std::sync::Arc;

use crate::helpers::HelperOutcome;
use crate::interpreter::{End, Flow, InputRegions, Interpreter, Machine, Stop, take_tail_call};
use crate::layout::{REGION_SLOTS, RegionId};
use crate::lower::Op;
use crate::memory::Memory;
use crate::region::Region;
use crate::session::LazyMachine;
use crate::state::Registers;
use tail::{TailTable, TailWindow};
use visor_isa::Reg;

/// Whether this build compiles programs to native code: on x86-64 hosts
/// (unless built with `VISOR_NO_JIT` set); elsewhere
/// [`Interpreter::compile_jit`] answers [`JitError::UnsupportedHost`].
pub const AVAILABLE: bool = cfg!(native_jit);

/// Why a program was not compiled; the interpreter still runs it.
#[derive(Debug, Error)]
pub enum JitError {
    /// This build has no JIT ([`AVAILABLE`]).
    #[error("this build of visor has no JIT for {arch}; the interpreter runs the program")]
    UnsupportedHost {
        /// The host architecture.
        arch: &'static str,
    },
    /// An instruction the JIT has no lowering for.
    #[error("instruction {pc}: the JIT does not compile {what}; the interpreter runs the program")]
    Unsupported {
        /// The instruction.
        pc: usize,
        /// What it is.
        what: &'static str,
    },
    /// The operating system refused executable memory.
    #[error("cannot map executable memory for the JIT: {0}")]
    ExecutableMemory(#[source] std::io::Error),
    /// The code generator made a jump to nowhere (a JIT bug).
    #[error("JIT internal error: a jump names no code")]
    UnboundLabel,
}

/// Whether the JIT blinds the program's constants (see `blinding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blinding {
    /// For programs from anyone: immediates never appear verbatim in
    /// executable memory.
    On,
    /// For trusted programs: immediates are encoded as they are.
    Off,
}

/// One region table entry as native code reads it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct HostRegion {
    ptr: *mut u8,
    read_len: u64,
    /// The length for stores and atomics: 0 when read-only.
    write_len: u64,
    /// Pads the entry to 32 bytes, so an id becomes an offset by a shift.
    _pad: u64,
}

impl HostRegion {
    /// Whether r1 = `addr` and r2 = `len` are this region as the input
    /// buffer of a run (mapped at the context's address, non-empty, below
    /// 4 GiB, writable when `writes`): what a lean body's buffer proof
    /// assumed of them.
    #[inline]
    pub(crate) fn holds_input(&self, addr: u64, len: u64, writes: bool) -> bool {
        addr == RegionId::CONTEXT.addr(0)
            && len == self.read_len
            && len > 0
            && len <= u64::from(u32::MAX)
            && (!writes || self.write_len == len)
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub(crate) const UNMAPPED: HostRegion = HostRegion {
        ptr: core::ptr::null_mut(),
        read_len: 0,
        write_len: 0,
        _pad: 0,
    };

    /// Writable `bytes` (a stack frame).
    #[inline]
    pub(crate) fn of_bytes(bytes: &mut [u8]) -> HostRegion {
        HostRegion {
            ptr: bytes.as_mut_ptr(),
            read_len: bytes.len() as u64,
            write_len: bytes.len() as u64,
            _pad: 0,
        }
    }

    /// `region`'s bytes and permissions.
    #[inline]
    pub(crate) fn of(region: &mut Region<'_>) -> HostRegion {
        let len = region.len() as u64;
        match region.bytes_mut() {
            Some(bytes) => HostRegion::of_bytes(bytes),
            None => HostRegion {
                ptr: region.bytes().as_ptr().cast_mut(),
                read_len: len,
                write_len: 0,
                _pad: 0,
            },
        }
    }
}

/// A map's values as native code reaches them inline (see
/// `maps::storage`): a guest offset passes when `offset < limit` and
/// `(offset & mask) + len` is at most the readable (or writable) length;
/// its host byte is then `ptr + ((offset - within) * scale >> 32) +
/// within`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct MapWindow {
    ptr: *const u8,
    /// The offset bits within one value's window.
    mask: u32,
    read_len: u32,
    /// 0 when programs may not write (`BPF_F_RDONLY_PROG`).
    write_len: u32,
    _pad: u32,
    /// The end of the last value's window.
    limit: u64,
    /// The host stride over the guest window, times 2^32.
    scale: u64,
    _pad2: u64,
    _pad3: u64,
    _pad4: u64,
}

impl MapWindow {
    /// No values: every access takes the slow path.
    pub(crate) const NONE: MapWindow = MapWindow {
        ptr: core::ptr::null(),
        mask: 0,
        read_len: 0,
        write_len: 0,
        _pad: 0,
        limit: 0,
        scale: 0,
        _pad2: 0,
        _pad3: 0,
        _pad4: 0,
    };

    pub(crate) fn new(
        ptr: *const u8,
        mask: u32,
        scale: u64,
        (value_size, writable): (usize, bool),
        limit: u64,
    ) -> MapWindow {
        // Values are at most `maps::def`'s limit, far below 4 GiB.
        let len = u32::try_from(value_size).unwrap_or(0);
        MapWindow {
            ptr,
            mask,
            read_len: len,
            write_len: if writable { len } else { 0 },
            _pad: 0,
            limit,
            scale,
            ..MapWindow::NONE
        }
    }
}

/// Maps whose values native code reaches inline: the first ones of the
/// program; the rest (and inner maps) take the slow path.
pub(crate) const MAP_WINDOWS: usize = 16;
/// log2 of `size_of::<MapWindow>()`.
const MAP_WINDOW_SHIFT: u8 = 6;
const _: () = assert!(core::mem::size_of::<MapWindow>() == 1 << MAP_WINDOW_SHIFT);

/// log2 of `size_of::<HostRegion>()`.
const HOST_REGION_SHIFT: u8 = 5;
const _: () = assert!(core::mem::size_of::<HostRegion>() == 1 << HOST_REGION_SHIFT);

/// What native code reads and writes besides guest memory, at fixed
/// offsets from the register that holds its address for the whole run.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct JitContext {
    /// r0 to r10 while Rust runs (indexed by register number); r0 when
    /// the program exits natively.
    regs: [u64; 16],
    table: [HostRegion; REGION_SLOTS],
    /// The values of map `n` at id `MAP_FIRST + n`.
    maps: [MapWindow; MAP_WINDOWS],
    /// `MAP_FIRST` + how many of `maps` are filled.
    map_ids_end: u64,
    /// The packet of `LD_ABS`/`LD_IND` (a copy of its table entry).
    packet: HostRegion,
    /// The budget left, charged per basic block.
    remaining: u64,
    /// The host stack pointer at entry, restored when leaving.
    entry_rsp: u64,
    /// Where a native tail call goes after leaving: the target's
    /// chained entry.
    tail_entry: u64,
    /// The program array native tail calls reach inline (see `tail`).
    tail: TailWindow,
    /// The run's tail calls so far (`RunMaps::tail_calls` while native
    /// code runs).
    tail_calls: u64,
    /// The slot native code last tail-called into, or `tail::NO_PROGRAM`
    /// once Rust has taken it.
    tail_program: u64,
    /// The Rust side of the run (`JitRun`), for the service entry.
    run: *mut core::ffi::c_void,
    /// What the tail window points into; not read by native code.
    tails: Option<TailTable>,
}

// SAFETY: the context's pointers name bytes of the regions and maps of
// the `Memory` that holds it (which borrows or shares them, and is `Send`
// and `Sync` only when they are), and `run` a `JitRun` only while native
// code runs on the thread that entered it; between runs nothing reads
// them but that memory's next entry, on whichever thread owns it then.
// On every host, so that `Memory` is `Send` and `Sync` on every host: the
// one `unsafe` outside `exec`, and it runs nothing.
#[allow(unsafe_code)]
unsafe impl Send for JitContext {}
// SAFETY: as for `Send`: a shared context is only read.
#[allow(unsafe_code)]
unsafe impl Sync for JitContext {}

/// The memory a lean run reaches besides its frame, as
/// [`JitProgram::lean_memory`] asks for it.
#[derive(Debug)]
pub(crate) enum LeanInput<'a> {
    /// The packet of `LD_ABS`/`LD_IND` (empty when there is none).
    Packet(&'a [u8]),
    /// The input buffer, which r1 and r2 must point at and measure; its
    /// region is writable when the body writes.
    Buffer(HostRegion),
}

/// How the lean body returns: in rax and rdx, as System V returns a
/// two-word struct.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeanExit {
    r0: u64,
    /// Non-zero when the run needs the machine after all.
    bailed: u64,
}

impl LeanExit {
    /// What a run that could not start returns.
    pub(crate) const BAILED: LeanExit = LeanExit { r0: 0, bailed: 1 };
}

/// What native code asks of Rust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
enum Service {
    /// Execute the op at `pc` with the interpreter's `step` (slow paths,
    /// helpers, `callx`, `LD_ABS`/`LD_IND`, errors).
    Step = 0,
    /// Push a local call from `pc`.
    CallLocal = 1,
    /// `exit` at `pc`: return from a local call, or end the program.
    Exit = 2,
    /// Hand the machine to the interpreter from `pc` to the end.
    Resume = 3,
    /// Call the helper of the `CallHelper` op at `pc`: as `Step`, but
    /// with r1 to r5 read from the context, and only r0 written back when
    /// the helper returns a value.
    Helper = 4,
}

impl Service {
    fn from_u32(kind: u32) -> Service {
        match kind {
            0 => Service::Step,
            1 => Service::CallLocal,
            2 => Service::Exit,
            4 => Service::Helper,
            // Resume is always correct: the interpreter finishes the run.
            _ => Service::Resume,
        }
    }
}

/// What native code does after a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
enum Status {
    /// Go on with the next instruction.
    Continue = 0,
    /// The run is over (or left to the interpreter): leave native code.
    Leave = 1,
    /// A local call returned: `ret` to the caller's native code.
    Return = 2,
    /// Not from a service: what native code returns to Rust when the
    /// program exited at depth 0 without calling into Rust (r0 is then in
    /// `JitContext::regs`). Every other way out returns `Leave`.
    Exited = 3,
    /// A tail call whose target has native code: jump into it
    /// (`JitContext::tail_entry`) with the registers in the context.
    TailCall = 4,
}

/// The Rust side of one native run.
struct JitRun<'a, 'i, 'r, 'm> {
    machine: MachineSource<'a, 'i, 'r, 'm>,
    /// How the program ended, set by the service that said `Leave`.
    outcome: Option<Result<End, Stop>>,
    /// Set once a program of a `Ready` run tail-called natively.
    tail_called: Option<TailCalled>,
}

/// The program a run's native code tail-called into, which services
/// now serve, and the one it left, whose code the service that made the
/// call still returns through: both are kept alive while native code may
/// run them.
struct TailCalled {
    program: Arc<Interpreter>,
    /// Never read: holding it is the point.
    _left: Option<Arc<Interpreter>>,
}

/// Where the service entry finds the interpreter's machine.
enum MachineSource<'a, 'i, 'r, 'm> {
    /// A run the interpreter set up.
    Ready(&'a mut Machine<'i, 'r, 'm>),
    /// A session's run, whose machine is built on the first call into Rust.
    Lazy(&'a mut LazyMachine<'r, 'i, 'm>),
}

/// A program compiled to native code: the machine body, and for a leaf
/// program the lean body (see `lean`). A leaf program's runs take the lean
/// body unless they count instructions, so its machine body is compiled
/// only when a run first needs it (a budget, a bail, [`run_counted`]),
/// which halves what compiling it costs.
///
/// [`run_counted`]: crate::Interpreter::run_counted
pub struct JitProgram {
    #[cfg(native_jit)]
    bodies: Bodies,
    #[cfg(not(native_jit))]
    never: core::convert::Infallible,
}

/// The native bodies of one program.
#[cfg(native_jit)]
struct Bodies {
    /// Set when compiling, or for a leaf program on first need; `None`
    /// inside when that later compilation failed (no executable memory):
    /// the interpreter then runs what the machine body would have.
    machine: std::sync::OnceLock<Option<exec::MachineCode>>,
    lean: Option<exec::LeanCode>,
    blinding: Blinding,
    /// The helper index of the built-in `bpf_tail_call`.
    tail_call: Option<u32>,
}

/// The machine body, as [`JitProgram::machine`] hands it out.
#[cfg(native_jit)]
pub(crate) type MachineBody = exec::MachineCode;
/// No host but x86-64 has native code.
#[cfg(not(native_jit))]
pub(crate) type MachineBody = core::convert::Infallible;

impl fmt::Debug for JitProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(native_jit)]
        {
            let bodies = &self.bodies;
            let machine = bodies
                .machine
                .get()
                .map(|body| body.as_ref().map(|b| b.len()));
            let lean = bodies.lean.as_ref().map(exec::LeanCode::len);
            f.debug_struct("JitProgram")
                .field("machine_bytes", &machine)
                .field("lean_bytes", &lean)
                .finish()
        }
        #[cfg(not(native_jit))]
        {
            let _ = f;
            match self.never {}
        }
    }
}

#[cfg(native_jit)]
fn compile_machine(
    code: &[Op],
    blinding: Blinding,
    tail_call: Option<u32>,
) -> Result<exec::MachineCode, JitError> {
    let compiled = codegen::compile(code, exec::service_entry(), blinding, tail_call)?;
    exec::MachineCode::new(&compiled.bytes, compiled.entries)
}

impl JitProgram {
    /// Compiles lowered `code`: its lean body if it is a leaf program,
    /// else its machine body (whose errors are the program's).
    /// `proof` says which accesses through pointers a leaf program's lean
    /// body may make unchecked; `tail_call` is the helper index of the
    /// built-in `bpf_tail_call`, whose calls native code makes inline.
    pub(crate) fn compile(
        code: &[Op],
        blinding: Blinding,
        proof: Option<&BufferProof>,
        tail_call: Option<u32>,
    ) -> Result<JitProgram, JitError> {
        #[cfg(native_jit)]
        {
            let lean = codegen::compile_lean(code, blinding, proof)
                .map(|(bytes, memory)| exec::LeanCode::new(&bytes, memory))
                .transpose()?;
            let machine = std::sync::OnceLock::new();
            if lean.is_none() {
                let _ = machine.set(Some(compile_machine(code, blinding, tail_call)?));
            }
            Ok(JitProgram {
                bodies: Bodies {
                    machine,
                    lean,
                    blinding,
                    tail_call,
                },
            })
        }
        #[cfg(not(native_jit))]
        {
            let _ = (code, blinding, proof, tail_call);
            Err(JitError::UnsupportedHost {
                arch: std::env::consts::ARCH,
            })
        }
    }

    /// The machine body of `code` (the ops this was compiled from),
    /// compiled now if this is its first use; `None` when that failed,
    /// and the interpreter runs the program instead. A lean body compiled
    /// from the same ops, so the machine body's code generation succeeds
    /// too: only executable memory can fail it.
    #[inline]
    pub(crate) fn machine(&self, code: &[Op]) -> Option<&MachineBody> {
        #[cfg(native_jit)]
        {
            let bodies = &self.bodies;
            let compile = || compile_machine(code, bodies.blinding, bodies.tail_call).ok();
            bodies.machine.get_or_init(compile).as_ref()
        }
        #[cfg(not(native_jit))]
        {
            let _ = code;
            match self.never {}
        }
    }

    /// What the lean body reaches besides its frame; `None` when there
    /// is no lean body.
    #[inline]
    pub(crate) fn lean_memory(&self) -> Option<LeanMemory> {
        #[cfg(native_jit)]
        {
            self.bodies.lean.as_ref().map(exec::LeanCode::memory)
        }
        #[cfg(not(native_jit))]
        {
            match self.never {}
        }
    }

    /// Runs the lean body from r1, r2 and what it reaches
    /// ([`JitProgram::lean_memory`]); returns r0, or `None` when there is
    /// no lean body or it bailed (having had no effect: run the program
    /// again on the full path).
    #[inline]
    pub(crate) fn run_lean(&self, r1: u64, r2: u64, memory: LeanInput<'_>) -> Option<u64> {
        #[cfg(native_jit)]
        {
            let exit = self.bodies.lean.as_ref()?.enter(r1, r2, memory);
            (exit.bailed == 0).then_some(exit.r0)
        }
        #[cfg(not(native_jit))]
        {
            let _ = (r1, r2, memory);
            match self.never {}
        }
    }

    /// Runs the machine's program natively from its first instruction
    /// (in the interpreter when there is no machine body).
    pub(crate) fn execute(&self, machine: &mut Machine<'_, '_, '_>) -> Result<End, Stop> {
        let Some(body) = self.machine(machine.code) else {
            return machine.execute_from(0);
        };
        // The memory's context from an earlier entry (a tail call's
        // caller, an earlier repeated run) still holds its regions unless
        // the layout changed since.
        let (mut ctx, fresh) = match machine.memory.native.take() {
            Some(ctx) => (ctx, false),
            None => (Box::new(JitContext::new()), true),
        };
        registers_to_native(&mut ctx, machine);
        regions_to_native(&mut ctx, machine, fresh);
        ctx.tails_at_entry(machine.memory);
        let end_pc = machine.code.len();
        let mut run = JitRun {
            machine: MachineSource::Ready(machine),
            outcome: None,
            tail_called: None,
        };
        let left = enter(body, Entry::Resume, &mut ctx, &mut run);
        let chained = run.tail_called.is_some();
        let end = ctx.end(left, run.outcome, end_pc);
        if chained {
            // Programs tail-called natively ran on machines of their own:
            // the context holds where they left off.
            from_native(&ctx, machine);
        } else if let Ok(End::Exit(r0)) = end {
            // A native exit leaves only r0 and the budget to copy back.
            machine.regs[visor_isa::Reg::R0] = r0;
            machine.remaining = ctx.remaining;
        }
        machine.memory.maps.tail_calls = ctx.run_tail_calls();
        machine.memory.native = Some(ctx);
        end
    }
}

/// Runs `body` from `entry` with `ctx` and `run`; returns how it left.
#[inline]
fn enter(
    body: &MachineBody,
    entry: Entry,
    ctx: &mut JitContext,
    run: &mut JitRun<'_, '_, '_, '_>,
) -> Status {
    #[cfg(native_jit)]
    {
        ctx.run = (&raw mut *run).cast();
        match body.enter(entry, ctx) {
            left if left == Status::Exited as u32 => Status::Exited,
            _ => Status::Leave,
        }
    }
    #[cfg(not(native_jit))]
    {
        let _ = (entry, ctx, run);
        match *body {}
    }
}

/// How native code takes the guest registers when it is entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// All from the context: a machine hands over mid-run state.
    Resume,
    /// As a run starts: zero, but r1 and r2 from the context, and r10.
    Fresh,
}

impl JitContext {
    fn new() -> JitContext {
        JitContext {
            regs: [0; 16],
            table: [HostRegion::UNMAPPED; REGION_SLOTS],
            maps: [MapWindow::NONE; MAP_WINDOWS],
            map_ids_end: u64::from(crate::layout::MAP_FIRST),
            packet: HostRegion::UNMAPPED,
            remaining: 0,
            entry_rsp: 0,
            tail_entry: 0,
            tail: TailWindow::CLOSED,
            tail_calls: 0,
            tail_program: tail::NO_PROGRAM,
            run: core::ptr::null_mut(),
            tails: None,
        }
    }

    /// The run's tail calls as native code counted them.
    fn run_tail_calls(&self) -> u32 {
        u32::try_from(self.tail_calls).unwrap_or(u32::MAX)
    }

    /// Opens the tail window if `memory` holds the maps its copy was
    /// taken with; closes it otherwise.
    fn open_tail_window(&mut self, memory: &Memory<'_>) {
        self.tail = match &self.tails {
            Some(table) => table.window(memory),
            None => TailWindow::CLOSED,
        };
    }

    /// Readies the tail window as a run enters native code, where no
    /// native code runs: the copy of an array that changed since goes.
    fn tails_at_entry(&mut self, memory: &Memory<'_>) {
        if self.tails.as_ref().is_some_and(TailTable::is_stale) {
            self.tails = None;
        }
        self.tail_program = tail::NO_PROGRAM;
        self.open_tail_window(memory);
    }

    /// Readies a context to be kept for the thread's next fresh run,
    /// which need not be of these programs: its copy of a program array
    /// goes, so that it keeps no program alive.
    pub(crate) fn park(&mut self) {
        self.tails = None;
        self.tail = TailWindow::CLOSED;
    }

    /// How the run that just left native code ended: as a service said,
    /// or by a native `exit` at depth 0.
    #[inline]
    fn end(
        &self,
        left: Status,
        outcome: Option<Result<End, Stop>>,
        end_pc: usize,
    ) -> Result<End, Stop> {
        match outcome {
            Some(end) => end,
            None if left == Status::Exited => Ok(End::Exit(self.regs[0])),
            // Native code leaves only through a service or a native exit.
            None => Err(Box::new(crate::VmError::FellOffEnd { pc: end_pc })),
        }
    }
}

/// A native context kept from run to run by a [`Session`](crate::Session),
/// so that a run writes a few fields instead of building one.
pub(crate) struct NativeContext(Box<JitContext>);

/// What a session's native run starts from.
pub(crate) struct NativeStart {
    pub(crate) regions: InputRegions,
    /// Frame 0, zeroed or not as the session decided.
    pub(crate) frame: HostRegion,
    /// r1 and r2.
    pub(crate) arguments: (u64, u64),
    pub(crate) remaining: u64,
}

impl NativeContext {
    pub(crate) fn new() -> NativeContext {
        NativeContext(Box::new(JitContext::new()))
    }

    /// Runs `body` natively from `start`; `lazy` builds the machine
    /// if native code calls into Rust. Returns how it ended and the
    /// budget left.
    #[inline]
    pub(crate) fn run(
        &mut self,
        body: &MachineBody,
        start: NativeStart,
        lazy: &mut LazyMachine<'_, '_, '_>,
    ) -> (Result<End, Stop>, u64) {
        let ctx = &mut *self.0;
        ctx.regs[Reg::R1.index()] = start.arguments.0;
        ctx.regs[Reg::R2.index()] = start.arguments.1;
        ctx.table[RegionId::CONTEXT.index()] = start.regions.context;
        ctx.table[RegionId::PACKET.index()] = start.regions.packet;
        ctx.table[RegionId::FRAME_0.index()] = start.frame;
        ctx.packet = start.regions.ld_abs;
        ctx.remaining = start.remaining;
        ctx.tail_calls = 0;
        let end_pc = lazy.code_len();
        let mut run = JitRun {
            machine: MachineSource::Lazy(lazy),
            outcome: None,
            tail_called: None,
        };
        let left = enter(body, Entry::Fresh, ctx, &mut run);
        let end = ctx.end(left, run.outcome, end_pc);
        if lazy.is_built() {
            // The machine may have mapped more (deeper frames,
            // reservations): none of it outlives the run.
            ctx.table = [HostRegion::UNMAPPED; REGION_SLOTS];
            ctx.map_ids_end = u64::from(crate::layout::MAP_FIRST);
        }
        (end, ctx.remaining)
    }

    /// The guest registers when the last run left native code.
    pub(crate) fn registers(&self) -> Registers {
        registers(&self.0)
    }
}

/// Registers, budget and tail calls from the machine into the context.
fn registers_to_native(ctx: &mut JitContext, machine: &Machine<'_, '_, '_>) {
    for (n, slot) in ctx.regs.iter_mut().enumerate().take(Reg::COUNT) {
        if let Some(reg) = u8::try_from(n).ok().and_then(Reg::new) {
            *slot = machine.regs[reg];
        }
    }
    ctx.remaining = machine.remaining;
    ctx.tail_calls = u64::from(machine.memory.maps.tail_calls);
}

/// Brings the context's view of the machine's memory up to date: the
/// region table and packet when its layout changed (or `all`, for a
/// context that saw none of it). When the maps changed, the map windows
/// go stale: the first access to a map value then takes the slow path,
/// where [`windows_to_native`] takes them again, so runs that touch no
/// map value never pay for them.
fn regions_to_native(ctx: &mut JitContext, machine: &mut Machine<'_, '_, '_>, all: bool) {
    if all || machine.memory.layout_changed() {
        machine.memory.host_table(&mut ctx.table);
        ctx.packet = machine.memory.host_packet();
    }
    if all || machine.memory.maps_changed() {
        ctx.map_ids_end = u64::from(crate::layout::MAP_FIRST);
    }
}

/// The map windows from the machine's memory into the context, after a
/// load or store that found them stale took the slow path.
fn windows_to_native(ctx: &mut JitContext, machine: &mut Machine<'_, '_, '_>, op: &Op) {
    let stale = ctx.map_ids_end == u64::from(crate::layout::MAP_FIRST);
    if stale && matches!(op, Op::Load { .. } | Op::Store { .. }) {
        let windows = machine.memory.host_maps(&mut ctx.maps);
        ctx.map_ids_end = u64::from(crate::layout::MAP_FIRST) + windows as u64;
    }
}

/// The guest registers as the context holds them.
fn registers(ctx: &JitContext) -> Registers {
    let mut regs = Registers::default();
    for (n, value) in ctx.regs.iter().enumerate().take(Reg::COUNT) {
        if let Some(reg) = u8::try_from(n).ok().and_then(Reg::new) {
            regs[reg] = *value;
        }
    }
    regs
}

/// Registers and budget from the context into the machine.
fn from_native(ctx: &JitContext, machine: &mut Machine<'_, '_, '_>) {
    machine.regs = registers(ctx);
    machine.remaining = ctx.remaining;
}

/// What the service entry does for native code: `kind` at `pc`, on the
/// machine of `run`.
fn serve(ctx: &mut JitContext, run: &mut JitRun<'_, '_, '_, '_>, pc: u32, kind: u32) -> Status {
    if ctx.tail_program != tail::NO_PROGRAM {
        serve_tail_called(ctx, run);
    }
    let outcome = &mut run.outcome;
    let mut chained = None;
    let status = match (&mut run.machine, &mut run.tail_called) {
        (MachineSource::Ready(machine), None) => {
            serve_machine(ctx, machine, outcome, pc, kind, Some(&mut chained))
        }
        (MachineSource::Ready(first), Some(called)) => {
            // Cheap to build: the local calls live in the memory.
            let mut machine = Machine::new(&called.program, first.memory, Registers::default(), 0);
            // Errors name the budget the run started with.
            machine.budget = first.budget;
            serve_machine(ctx, &mut machine, outcome, pc, kind, Some(&mut chained))
        }
        (MachineSource::Lazy(lazy), _) => {
            lazy.with_machine(|machine| serve_machine(ctx, machine, outcome, pc, kind, None))
        }
    };
    if let Some(program) = chained {
        run.serve_from_now(program);
    }
    status
}

/// Makes the program native code tail-called into inline the one
/// services serve from now on.
fn serve_tail_called(ctx: &mut JitContext, run: &mut JitRun<'_, '_, '_, '_>) {
    let slot = core::mem::replace(&mut ctx.tail_program, tail::NO_PROGRAM);
    if let Some(program) = ctx.tails.as_ref().and_then(|t| t.program(slot)) {
        run.serve_from_now(program.clone());
    }
}

impl JitRun<'_, '_, '_, '_> {
    /// Makes `program`, which native code tail-called into, the one
    /// services serve; the one it left stays alive with it.
    fn serve_from_now(&mut self, program: Arc<Interpreter>) {
        let left = self.tail_called.take().map(|called| called.program);
        self.tail_called = Some(TailCalled {
            program,
            _left: left,
        });
    }
}

/// Makes the tail call `machine`'s program just asked for native, when
/// its target has native code: the run's maps become the target's, and
/// `ctx` says where to jump. Returns the target, or `None` (nothing
/// changed) when the run must leave native code for it.
fn chain_natively(
    ctx: &mut JitContext,
    machine: &mut Machine<'_, '_, '_>,
) -> Option<Arc<Interpreter>> {
    let target = machine.memory.maps.tail_call.as_ref()?;
    let body = target.jit()?.machine(target.code())?;
    ctx.tail_entry = chained_entry(body);
    // The run's first native tail call copies the array, so that the
    // next ones are made inline.
    if ctx.tails.is_none() {
        let handle = machine.regs[Reg::R2];
        ctx.tails = TailTable::take(machine.memory, handle);
    }
    let target = take_tail_call(machine.memory);
    ctx.open_tail_window(machine.memory);
    target
}

/// Where an inline tail call into `program` jumps, when it has a machine
/// body.
fn direct_entry(program: &Interpreter) -> Option<u64> {
    let body = program.jit()?.machine(program.code())?;
    #[cfg(native_jit)]
    {
        Some(body.direct_entry())
    }
    #[cfg(not(native_jit))]
    match *body {}
}

/// Where a native tail call into `body` jumps.
fn chained_entry(body: &MachineBody) -> u64 {
    #[cfg(native_jit)]
    {
        body.chained_entry()
    }
    #[cfg(not(native_jit))]
    match *body {}
}

/// `kind` at `pc` with the interpreter's own methods.
/// `chained`, when given, takes a tail call's target that native code
/// jumps into (`Status::TailCall`); without it, a tail call leaves.
fn serve_machine(
    ctx: &mut JitContext,
    machine: &mut Machine<'_, '_, '_>,
    outcome: &mut Option<Result<End, Stop>>,
    pc: u32,
    kind: u32,
    chained: Option<&mut Option<Arc<Interpreter>>>,
) -> Status {
    let pc = pc as usize;
    let service = Service::from_u32(kind);
    // Native code counted its inline tail calls.
    machine.memory.maps.tail_calls = ctx.run_tail_calls();
    // A helper call reads r1 to r5 from the context; when the helper
    // returns a value, only r0 goes back.
    let helper = match (service, machine.code.get(pc)) {
        (Service::Helper, Some(&Op::CallHelper { id, index })) => {
            let args = core::array::from_fn(|n| ctx.regs[n + 1]);
            match machine.invoke_helper(pc, id, index as usize, args) {
                Ok(HelperOutcome::Return(r0)) => {
                    ctx.regs[Reg::R0.index()] = r0;
                    regions_to_native(ctx, machine, false);
                    return Status::Continue;
                }
                other => Some(other),
            }
        }
        _ => None,
    };
    from_native(ctx, machine);
    let mut leave = |end: Result<End, Stop>| {
        *outcome = Some(end);
        Status::Leave
    };
    let status = match service {
        Service::Step | Service::Helper => {
            let flow = match helper {
                Some(asked) => asked.and_then(|asked| machine.follow_helper(pc, asked)),
                None => match machine.code.get(pc) {
                    Some(op) => {
                        windows_to_native(ctx, machine, op);
                        machine.step(pc, op)
                    }
                    None => Err(Box::new(crate::VmError::FellOffEnd { pc })),
                },
            };
            match flow {
                Ok(Flow::Continue(next)) if next == pc + 1 => Status::Continue,
                // Not expected from the ops native code hands over; the
                // interpreter takes it from there, correctly.
                Ok(Flow::Continue(next)) => leave(machine.execute_from(next)),
                Ok(Flow::Exit(r0)) => leave(Ok(End::Exit(r0))),
                Ok(Flow::TailCall) => match chained {
                    Some(chained) => match chain_natively(ctx, machine) {
                        Some(target) => {
                            *chained = Some(target);
                            Status::TailCall
                        }
                        None => leave(Ok(End::TailCall)),
                    },
                    None => leave(Ok(End::TailCall)),
                },
                Ok(Flow::Returned(r0)) => leave(Ok(End::Returned(r0))),
                Err(stop) => leave(Err(stop)),
            }
        }
        Service::CallLocal => match machine.call_local(pc) {
            Ok(()) => Status::Continue,
            Err(stop) => leave(Err(stop)),
        },
        Service::Exit => match machine.exit() {
            Flow::Continue(_) => Status::Return,
            Flow::Exit(r0) => leave(Ok(End::Exit(r0))),
            Flow::TailCall => leave(Ok(End::TailCall)),
            Flow::Returned(r0) => leave(Ok(End::Returned(r0))),
        },
        Service::Resume => leave(machine.execute_from(pc)),
    };
    registers_to_native(ctx, machine);
    // Most services (helpers, slow paths) map nothing.
    regions_to_native(ctx, machine, false);
    status
}
