//! visor's userspace eBPF engine: a memory model through which every guest
//! access is checked, an interpreter with RFC 9669 semantics, and maps with
//! the kernel's semantics that programs point into.
//!
//! One exception to "every access is checked", as in the kernel: a leaf
//! program over its input buffer whose loads and stores visor-verifier
//! proves inside that buffer runs them unchecked on the JIT's lean body
//! (see [`Interpreter::proven_buffer_slots`] and `jit::lean`). There the
//! host's memory safety rests on the verifier's soundness, which its own
//! tests and this crate's differential tests exercise.
//!
//! ```
//! use visor_isa::{AluOp, Insn, Program, Reg, Size, Source, Width};
//! use visor_vm::{HelperOutcome, Helpers, Interpreter};
//!
//! // r0 = *(u32 *)(r1 + 0) + helper_7(r2), where r2 is the input's length.
//! let program = Program::new(vec![
//!     Insn::Load { size: Size::W, signed: false, dst: Reg::R6, src: Reg::R1, off: 0 },
//!     Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R1, src: Source::Reg(Reg::R2) },
//!     Insn::Call(visor_isa::CallTarget::Helper(7)),
//!     Insn::Alu { width: Width::W64, op: AluOp::Add, dst: Reg::R0, src: Source::Reg(Reg::R6) },
//!     Insn::Exit,
//! ])?;
//! let mut helpers = Helpers::new();
//! helpers.register(7, "times_ten", |args, _memory| Ok(HelperOutcome::Return(args[0] * 10)));
//! let vm = Interpreter::new(&program, helpers)?.with_budget(Some(1_000));
//! let mut input = 1000u32.to_le_bytes().to_vec();
//! assert_eq!(vm.run(&mut input)?, 1000 + 4 * 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Module map
//!
//! - [`layout`]: the guest address space: region ids, frame size, depth limit.
//! - `region`: [`Region`], host bytes mapped read-only or writable.
//! - `memory`: [`Memory`], the region table of one run, and [`AccessFault`].
//! - `semantics`: each ALU, byte-order, jump and atomic operation as a pure
//!   function written once over width.
//! - `lower`: a [`visor_isa::Program`] turned into per-slot code once, at
//!   [`Interpreter::new`]: branch targets become slot indexes, helper ids
//!   table positions, and what this engine cannot run is refused there.
//! - `state`: registers and the call stack of local calls.
//! - `interpreter`: [`Interpreter`], [`RunInput`] and the dispatch loop.
//! - `hot`: the dispatch form of the hottest ops (ALU, jumps), one kind
//!   per operation, width and source, expanded from one table.
//! - `session`: [`Session`], one program run many times with its stack
//!   and native context set up once (a few nanoseconds a run on the JIT).
//! - [`jit`]: the x86-64 JIT ([`Interpreter::with_jit`]): the same ops as
//!   native code, driving the interpreter's machine for everything rare.
//! - [`helpers`]: [`Helpers`], the registry by id, and [`HelperOutcome`];
//!   the kernel's standard helpers (time, task, `trace_printk`,
//!   `probe_read*`, `snprintf`/`strtol`, checksums, packet bytes) with
//!   [`Helpers::standard`] and the [`HelperEnv`] they read.
//! - [`maps`]: [`Map`] of 14 kernel map types, [`MapOps`] (the userspace
//!   operations shared with the kernel backend), [`ProgramMaps`] (a
//!   program's maps by `lddw` index), value storage programs point into,
//!   ring and perf buffers with their consumers, and the map helpers.
//! - [`context`]: program types and their contexts (`__sk_buff` for
//!   SOCKET_FILTER/SCHED_CLS/SCHED_ACT, `xdp_md`, read-only tracing
//!   records), served at run time through the memory model's miss path
//!   by a per-type field table with the kernel's access rules; the packet
//!   as each type sees it; the packet helpers (`skb_load_bytes_relative`,
//!   `skb_change_proto`, `skb_adjust_room`, `xdp_adjust_head/tail`,
//!   `redirect`, `clone_redirect`); [`context::Verdict`].
//! - [`engine`]: [`engine::Engine`], an ELF object loaded with its maps,
//!   global data, program arrays and helpers; programs run on frames or
//!   context records, returning an [`engine::Outcome`] (verdict, packet,
//!   redirect, trace lines).
//! - `error`: [`VmError`], one enum for the crate.
//!
//! # Maps
//!
//! ```
//! use std::sync::Arc;
//! use visor_isa::{Insn, LoadImm, Program, Reg, Size};
//! use visor_vm::{Helpers, Interpreter, Map, MapDef, MapKind, MapOps, ProgramMaps, UpdateMode};
//!
//! // Global data: a one-entry array; the program reads byte 4 of it.
//! let data = Arc::new(Map::new(MapDef::new(MapKind::Array, 4, 8, 1).with_name(".data"))?);
//! data.update(&0u32.to_le_bytes(), &[0, 0, 0, 0, 42, 0, 0, 0], UpdateMode::Any)?;
//! let program = Program::new(vec![
//!     Insn::LoadImm64 { kind: LoadImm::MapIdxValue, dst: Reg::R1, imm: 4 << 32 },
//!     Insn::Load { size: Size::B, signed: false, dst: Reg::R0, src: Reg::R1, off: 0 },
//!     Insn::Exit,
//! ])?;
//! let maps: ProgramMaps = [data].into_iter().collect();
//! let vm = Interpreter::with_maps(&program, Helpers::new(), maps)?;
//! assert_eq!(vm.run(&mut [])?, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `Interpreter::new(&program, helpers)` is unchanged and takes programs
//! without map references; [`Interpreter::with_maps`] adds the program's
//! maps by index and registers the map helpers (ids as in the kernel's
//! `bpf.h`: lookup 1, update 2, delete 3, get_smp_processor_id 8,
//! tail_call 12, perf_event_output 25, push 87, pop 88, peek 89, ringbuf
//! output/reserve/submit/discard/query 130 to 134) at ids the caller left
//! free. `lddw` with `MAP_FD` or `MAP_IDX` loads a map handle (an address
//! in the never-mapped region 15, so dereferencing one faults); with
//! `MAP_VALUE` or `MAP_IDX_VALUE`, the address of a byte of a one-entry
//! array's value. The userspace engine has no descriptors, so `MAP_FD`
//! names a position in the table as `MAP_IDX` does. Maps are `Send +
//! Sync`, used by any number of runs and threads at once; the run's CPU
//! ([`RunInput::on_cpu`]) picks per-CPU values.
//!
//! A tail call replaces the running program with the target's code,
//! helpers and maps, and keeps the registers, frame 0, the context and
//! the instruction budget; at most [`maps::MAX_TAIL_CALLS`] (33) per run.
//! From inside a local call it is refused with
//! [`VmError::TailCallInSubprogram`].
//!
//! # Memory model
//!
//! Guest addresses are virtual. The upper 32 bits name a region, the lower
//! 32 bits are the offset inside it:
//!
//! ```text
//!   63                  32 31                   0
//!  +----------------------+----------------------+
//!  |      region id       |        offset        |
//!  +----------------------+----------------------+
//!
//!  id     region                 access       length
//!  0      null (never mapped)    -            -
//!  1      context / input (r1)   rw or ro     the caller's bytes
//!  2..=9  stack frames 0 to 7    rw           512 each; r10 = 0x{id}_0000_0200
//!  10     packet, when separate  rw or ro     the caller's bytes
//!  11..14 ring buffer records    rw           the reserved size, from
//!         reserved by the run                 bpf_ringbuf_reserve until
//!                                             submit or discard
//!  15     map handles            - (faults)   -
//!  16+n   values of map n        rw, or ro    per value: value_size
//!         (n: ProgramMaps index; for BPF_F_RDONLY_PROG
//!          inner maps follow)
//! ```
//!
//! A check is one table lookup (`addr >> 32` indexes a 16-entry table) and
//! one bounds compare (`offset + len <= region length`), plus the
//! permission for writes: the same few instructions a JIT can emit inline,
//! against a table it builds from the same [`Memory`]. Ids from 16 index
//! the run's maps instead, and the offset is split into an element index
//! and an offset in the value (a shift and a mask: each value has a window
//! of twice its size rounded up to a power of two), then bounds-checked
//! against `value_size`: so a pointer to one value never reaches its
//! neighbour by running off its end, and never any byte outside the map's
//! storage. Map values are storage shared with other threads, so they are
//! atomic words (no `unsafe` needed): an aligned access is one relaxed
//! atomic load or store, a `BPF_ATOMIC` operation inside one 8-byte word
//! is a real atomic read-modify-write. Values stay valid for the whole run
//! (slots are preallocated and never move); after a delete a pointer may
//! show a reused slot, as with the kernel's preallocated elements.
//!
//! A ring buffer reservation gets a scratch region of exactly its size
//! (up to 4 at once; the next reserve returns NULL); submit copies it into
//! the space reserved in the ring, and unmaps it, so a pointer kept past
//! submit faults. Reservations a run leaves open are discarded when it
//! ends. An access that fails
//! stops the program with [`VmError::MemoryAccess`], naming the instruction,
//! address, size, direction and region, for example `instruction 7:
//! out-of-bounds write of 8 bytes at 0x2_0000_0200 (stack frame 0, 512
//! bytes)`.
//!
//! Why this layout rather than one flat range per region (rbpf's, sbpf's
//! fixed bases): an offset can never carry from one region into the next, so
//! stack underflow or a wild index faults instead of reading a neighbour;
//! every plain number below 4 GiB (null, a length used as a pointer) faults;
//! and the ids are fixed, so an address in an error message or a context
//! field says which region it is without asking the engine.
//!
//! Each local call gets its own 512-byte frame, mapped while the call runs
//! and unmapped when it returns, so a pointer into a finished call's frame
//! faults. A run zeroes each frame when it first enters it, so no run sees
//! another's data and results are deterministic; a later call at the same
//! depth in the same run sees what the previous one left, as in the kernel
//! (whose verifier rejects reads of uninitialised stack anyway). The frames'
//! host memory is a per-thread buffer reused across runs, so a run costs no
//! allocation and no 4 KiB clear.
//!
//! No input, any program and any bytes, makes the host touch memory outside
//! the regions or panic: addresses wrap, every access goes through the
//! table, arithmetic is wrapping or checked by intent, and the only
//! `unsafe` is the JIT's executable memory and native entry (`jit::exec`);
//! its native code checks every access against the same table.
//!
//! # Calls
//!
//! Helpers are closures registered by id ([`Helpers::register`]); they get
//! r1 to r5 and `&mut` [`Memory`], and return r0 or end the whole program
//! ([`HelperOutcome::Exit`]). `callx` treats its register as a helper id,
//! as the bpf_conformance suite does. Local calls pass r1 to r5, preserve
//! r6 to r9 and r10 for the caller, and nest to [`layout::MAX_FRAMES`]
//! frames like the kernel's `MAX_CALL_FRAMES`. Kernel function calls are
//! refused when the program is loaded.
// `deny`, not `forbid`: the JIT's executable memory and its entry into
// native code (`jit::exec`) cannot be written without `unsafe`; that one
// module allows it, each block with a `// SAFETY:` line, and so do the
// `Send` and `Sync` of the JIT's context (`jit`), which run nothing.
// Everything else in the crate stays safe, and the compiler holds it to
// that.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod context;
pub mod engine;
mod error;
pub mod helpers;
mod hot;
mod interpreter;
pub mod jit;
pub mod layout;
mod lower;
pub mod maps;
mod memory;
mod region;
mod semantics;
mod session;
mod state;

pub use error::VmError;
pub use helpers::{
    Clock, FakeClock, HelperEnv, HelperError, HelperFn, HelperOutcome, Helpers, LoopCall,
    SystemClock, TASK_COMM_LEN, TaskInfo, TraceBuffer, TraceEvent, TracePipe, TraceSink,
};
pub use interpreter::{Finished, Interpreter, RunInput};
pub use jit::JitError;
pub use layout::{GuestAddr, RegionId, RegionKind};
pub use maps::{Errno, Map, MapDef, MapError, MapKind, MapOps, ProgramMaps, UpdateMode};
pub use memory::{AccessFault, AccessKind, FaultCause, Memory};
pub use region::Region;
pub use session::Session;
