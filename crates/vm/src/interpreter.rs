//! The interpreter: lowered code, a dispatch loop over it, and the input of
//! one run.

use std::cell::Cell;
use std::sync::{Arc, OnceLock};

use visor_isa::{AtomicOp, PacketOffset, Program, Reg, Size, Source, Width};

use crate::context::{ContextKind, RunContext};
use crate::error::VmError;
use crate::helpers::{HelperOutcome, Helpers, LoopCall};
use crate::hot::Decoded;
use crate::jit::{Blinding, BufferProof, HostRegion, JitError, JitProgram, LeanInput, LeanMemory};
use crate::layout::{MAX_FRAMES, RegionId, STACK_FRAME_SIZE, frame_pointer};
use crate::lower::{Names, Op, lower};
use crate::maps::ProgramMaps;
use crate::memory::{AccessFault, Memory, Stack, load_le, store_le};
use crate::region::Region;
use crate::semantics::{self, Fetch};
use crate::state::Registers;

/// A program ready to run: decoded once into per-slot code, with its
/// helpers and maps. Running borrows it immutably, so one interpreter
/// serves many runs (and threads) at once; it is `Send + Sync`, and a
/// `PROG_ARRAY` holds it as `Arc<Interpreter>` for tail calls.
#[derive(Debug)]
pub struct Interpreter {
    code: Vec<Op>,
    /// `code` in the dispatch loop's form, slot for slot.
    hot: Vec<Decoded>,
    helpers: Helpers,
    budget: Option<u64>,
    /// `None` when the program has no maps, so a run clones nothing.
    maps: Option<Arc<ProgramMaps>>,
    /// Native code for the same ops, when [`Interpreter::with_jit`] made
    /// it: runs then execute it instead of the dispatch loop.
    jit: Option<JitProgram>,
    /// The program as given, for the proof.
    source: Program,
    /// Taken when the JIT first compiles the program (only its lean
    /// body uses it): for a leaf program over its input buffer, the
    /// accesses visor-verifier proved inside the buffer, which the lean
    /// body leaves unchecked.
    buffer_proof: OnceLock<Option<BufferProof>>,
}

impl Interpreter {
    /// Prepares `program` with `helpers` and no maps. Fails, naming the
    /// instruction, for what this engine does not run: kfunc calls, `lddw`
    /// with a BTF id or function pseudo source or naming a map,
    /// `Insn` values with no encoding.
    pub fn new(program: &Program, helpers: Helpers) -> Result<Interpreter, VmError> {
        Interpreter::with_maps(program, helpers, ProgramMaps::new())
    }

    /// Prepares `program` with `helpers` and its maps, by the index its
    /// `lddw` map references use (`MAP_IDX`, and `MAP_FD` likewise).
    /// `MAP_FD`/`MAP_IDX` load a map handle; `MAP_VALUE`/`MAP_IDX_VALUE`
    /// load the address of a byte of a one-entry array's value (global
    /// data: `.data`, `.bss`, and `.rodata`, whose `BPF_F_RDONLY_PROG`
    /// makes stores fault). When `maps` is not empty, the map helpers
    /// ([`Helpers::register_map_helpers`]) are registered at every id of
    /// theirs that `helpers` leaves free.
    pub fn with_maps(
        program: &Program,
        mut helpers: Helpers,
        maps: ProgramMaps,
    ) -> Result<Interpreter, VmError> {
        if !maps.is_empty() {
            helpers.register_missing_map_helpers();
        }
        let code = lower(
            program,
            Names {
                helpers: &helpers,
                maps: &maps,
            },
        )?;
        Ok(Interpreter {
            hot: code.iter().map(Decoded::of).collect(),
            source: program.clone(),
            buffer_proof: OnceLock::new(),
            code,
            helpers,
            budget: None,
            maps: (!maps.is_empty()).then(|| Arc::new(maps)),
            jit: None,
        })
    }

    /// Compiles the program to native code (x86-64 only); every later run
    /// executes it, with the same results, errors and budget as the
    /// dispatch loop. Constants are blinded (see [`Interpreter::with_jit`]).
    /// On failure (no JIT for this host) nothing changes: runs stay in the
    /// interpreter.
    pub fn compile_jit(&mut self) -> Result<(), JitError> {
        self.jit = Some(self.compile(Blinding::On)?);
        Ok(())
    }

    /// [`Interpreter::compile_jit`] for a program you trust: its constants
    /// are encoded as they are, which makes instructions with immediates
    /// a little faster. Never for programs from someone else.
    pub fn compile_trusted_jit(&mut self) -> Result<(), JitError> {
        self.jit = Some(self.compile(Blinding::Off)?);
        Ok(())
    }

    fn compile(&self, blinding: Blinding) -> Result<JitProgram, JitError> {
        let tail_call = self.helpers.tail_call_index();
        let tail_call = tail_call.and_then(|index| u32::try_from(index).ok());
        let proof = self.buffer_proof();
        JitProgram::compile(&self.code, blinding, proof, tail_call)
    }

    /// [`Interpreter::compile_jit`], by value. Every immediate of the
    /// program is emitted XORed with a random key and undone at run time,
    /// as the kernel's JIT does for unprivileged programs, so a program
    /// cannot choose bytes of executable memory.
    pub fn with_jit(mut self) -> Result<Interpreter, JitError> {
        self.compile_jit()?;
        Ok(self)
    }

    /// [`Interpreter::compile_trusted_jit`], by value.
    pub fn with_trusted_jit(mut self) -> Result<Interpreter, JitError> {
        self.compile_trusted_jit()?;
        Ok(self)
    }

    /// The slots whose loads and stores visor-verifier proved inside the
    /// input buffer (r1 its address, r2 its length), for a leaf program
    /// the JIT compiled; its lean body runs them unchecked. Empty for
    /// other programs, and before the JIT compiles (the proof is made
    /// then: runs in the interpreter do not need it).
    pub fn proven_buffer_slots(&self) -> &[usize] {
        let proof = self.buffer_proof.get().and_then(Option::as_ref);
        proof.map_or(&[], BufferProof::slots)
    }

    /// The proof of the buffer accesses, made on first use.
    fn buffer_proof(&self) -> Option<&BufferProof> {
        let prove = || BufferProof::of(&self.source, &self.code);
        self.buffer_proof.get_or_init(prove).as_ref()
    }

    /// Whether runs execute native code ([`Interpreter::with_jit`]).
    pub fn is_jit(&self) -> bool {
        self.jit.is_some()
    }

    /// The program's maps, by index.
    pub fn maps(&self) -> &ProgramMaps {
        const NONE: &ProgramMaps = &ProgramMaps::EMPTY;
        self.maps.as_deref().unwrap_or(NONE)
    }

    /// Stops runs after `budget` executed instructions (`None`: no limit).
    pub fn with_budget(self, budget: Option<u64>) -> Interpreter {
        Interpreter { budget, ..self }
    }

    /// The instruction budget of each run.
    pub fn budget(&self) -> Option<u64> {
        self.budget
    }

    /// The helpers calls resolve against.
    pub fn helpers(&self) -> &Helpers {
        &self.helpers
    }

    /// Runs with `memory` as the input, the bpf_conformance way: r1 is the
    /// guest address of `memory` (0 if it is empty), r2 its length, and the
    /// same bytes are the packet of `LD_ABS`/`LD_IND`. Returns r0.
    pub fn run(&self, memory: &mut [u8]) -> Result<u64, VmError> {
        self.run_with(RunInput::memory(memory))
    }

    /// Runs with a context and packet mapped as `input` says. Returns r0.
    pub fn run_with(&self, mut input: RunInput<'_>) -> Result<u64, VmError> {
        if let Some(r0) = self.run_lean(&mut input) {
            return Ok(r0);
        }
        self.run_counted(input).map(|finished| finished.r0)
    }

    /// A run on the JIT's lean body (see `jit::lean`) when the program is
    /// a leaf and has no budget, whose instructions only the full path
    /// counts: r0, or `None` when the run must take the full path.
    #[inline]
    pub(crate) fn run_lean(&self, input: &mut RunInput<'_>) -> Option<u64> {
        if self.budget.is_some() {
            return None;
        }
        let jit = self.jit.as_ref()?;
        let memory = match jit.lean_memory()? {
            LeanMemory::Buffer { .. } => LeanInput::Buffer(input.host_regions()?.context),
            LeanMemory::Nothing | LeanMemory::Packet => LeanInput::Packet(input.ld_abs_packet()?),
        };
        let (r1, r2) = input.arguments();
        jit.run_lean(r1, r2, memory)
    }

    /// Runs like [`Interpreter::run_with`], and also counts the
    /// instructions executed (what benchmarks divide by).
    pub fn run_counted(&self, input: RunInput<'_>) -> Result<Finished, VmError> {
        self.run_served(input, Runs::Once).finished
    }

    /// Runs as `runs` says on one input, as `BPF_PROG_TEST_RUN`'s repeat
    /// does: each run starts on a zeroed stack and sees the context and
    /// packet as the run before left them; the first error ends the
    /// repeats. Hands back the last run's end, the served context and the
    /// packet (for [`RunInput::packet_context`] inputs), and for timed
    /// runs the mean time of one.
    pub(crate) fn run_served(&self, input: RunInput<'_>, runs: Runs) -> ServedRun {
        // `try_with`: no panic even while the thread's locals are torn down.
        let spare = SPARE_STACK.try_with(Cell::take).ok().flatten();
        let mut stack = spare.unwrap_or_else(|| Box::new([[0; STACK_FRAME_SIZE]; MAX_FRAMES]));
        let mut memory = Memory::new(&mut stack);
        // A new memory's layout is new: the JIT takes every region again.
        memory.native = SPARE_NATIVE.try_with(Cell::take).ok().flatten();
        let regs = input.start(&mut memory, self.maps_table());
        let (finished, mean) = match runs {
            Runs::Once => (self.run_again(&mut memory, regs), None),
            Runs::Timed(repeat) => {
                let started = std::time::Instant::now();
                let zero_frame = self.may_read_frame();
                let mut done: u64 = 0;
                // Each run's result is only looked at, and dropped, but
                // the last one's: moving every run's result into a
                // variable outside the loop cost a tenth of an empty run.
                let finished = loop {
                    let finished = self.run_again(&mut memory, regs.clone());
                    done += 1;
                    if done >= repeat || finished.is_err() {
                        break finished;
                    }
                    memory.restart(self.maps_table(), zero_frame);
                };
                (finished, Some(started.elapsed().div_f64(done as f64)))
            }
        };
        let context = memory.context.take();
        let packet = match context {
            Some(_) => memory
                .unmap(RegionId::PACKET)
                .map(|region| region.into_owned().into_vec())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let mut native = memory.native.take();
        if let Some(ctx) = native.as_deref_mut() {
            ctx.park();
        }
        drop(memory);
        let _ = SPARE_NATIVE.try_with(|spare| spare.set(native));
        let _ = SPARE_STACK.try_with(|spare| spare.set(Some(stack)));
        ServedRun {
            finished,
            context,
            packet,
            mean,
        }
    }

    /// One run from the first instruction on `memory` as it is, with
    /// `regs`.
    fn run_again(&self, memory: &mut Memory<'_>, regs: Registers) -> Result<Finished, VmError> {
        let remaining = self.budget.unwrap_or(u64::MAX);
        let from = Resume {
            regs,
            remaining,
            pc: 0,
        };
        self.run_chain(memory, from, None)
    }

    /// Runs `tail_called` (this program when `None`) from `from`, then
    /// every tail call it makes, and ends the run.
    pub(crate) fn run_chain(
        &self,
        memory: &mut Memory<'_>,
        from: Resume,
        mut tail_called: Option<Arc<Interpreter>>,
    ) -> Result<Finished, VmError> {
        let started_with = self.budget.unwrap_or(u64::MAX);
        let Resume {
            mut regs,
            mut remaining,
            mut pc,
        } = from;
        // A tail call replaces the program and keeps registers, frame 0,
        // the budget and the run's memory; the target's maps come with it.
        let result = loop {
            let program = tail_called.as_deref().unwrap_or(self);
            let mut machine = Machine::new(program, &mut *memory, regs, remaining);
            // Errors name the budget the run started with.
            machine.budget = self.budget;
            let end = match &program.jit {
                // Native code is entered at the first instruction only.
                Some(jit) if pc == 0 => jit.execute(&mut machine),
                _ => machine.execute_from(pc),
            };
            remaining = machine.remaining;
            match end {
                // `Returned` comes only out of a callback's own execution
                // (`Machine::callback`), never out of the program's.
                Ok(End::Exit(r0) | End::Returned(r0)) => break Ok(r0),
                Ok(End::TailCall) => {
                    // The target starts from the caller's registers.
                    regs = machine.regs;
                    (tail_called, pc) = (take_tail_call(memory), 0);
                }
                Err(stop) => break Err(*stop),
            }
        };
        memory.maps.discard_reservations();
        Ok(Finished {
            r0: result?,
            instructions: started_with - remaining,
        })
    }

    /// Whether a run may read frame 0 before writing it, so that runs must
    /// start on a zeroed frame: a program that loads from memory (through
    /// r10, or an address it made itself: programs here are not verified),
    /// or one calling a helper, which may read it or be `bpf_tail_call`
    /// (whose target runs on frame 0). Naming r10 alone reads nothing.
    pub(crate) fn may_read_frame(&self) -> bool {
        let reads = |op: &Op| {
            matches!(
                op,
                Op::Load { .. } | Op::Atomic { .. } | Op::CallHelper { .. }
            )
        };
        self.code.iter().any(reads)
    }

    /// The lowered code, for the JIT and sessions.
    pub(crate) fn code(&self) -> &[Op] {
        &self.code
    }

    /// The code in the dispatch loop's form, for sessions.
    pub(crate) fn hot(&self) -> &[Decoded] {
        &self.hot
    }

    /// The native code, when [`Interpreter::with_jit`] made it.
    pub(crate) fn jit(&self) -> Option<&JitProgram> {
        self.jit.as_ref()
    }

    /// The program's maps, which its runs share.
    pub(crate) fn maps_table(&self) -> Option<&Arc<ProgramMaps>> {
        self.maps.as_ref()
    }
}

/// The target of the tail call a program just made, with its maps now
/// the run's; `None` re-runs the program that called.
pub(crate) fn take_tail_call(memory: &mut Memory<'_>) -> Option<Arc<Interpreter>> {
    let target = memory.maps.tail_call.take();
    memory.set_maps(target.as_ref().and_then(|t| t.maps.as_ref()));
    target
}

/// A run with a served context: how it ended, and the context and packet
/// as the program left them.
pub(crate) struct ServedRun {
    pub(crate) finished: Result<Finished, VmError>,
    pub(crate) context: Option<Box<RunContext>>,
    pub(crate) packet: Vec<u8>,
    /// The mean time of one run, when timed.
    pub(crate) mean: Option<std::time::Duration>,
}

/// How many runs [`Interpreter::run_served`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Runs {
    /// One, untimed.
    Once,
    /// This many (at least one), timed.
    Timed(u64),
}

/// How a run that ended with `exit` went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The program's return value.
    pub r0: u64,
    /// Instructions executed, `lddw` counting once.
    pub instructions: u64,
}

thread_local! {
    /// A stack kept between runs on this thread, so a run zeroes only the
    /// frames it enters instead of allocating or clearing all 4 KiB. Taken
    /// for the run, so a nested run (from a helper) gets a fresh one.
    static SPARE_STACK: Cell<Option<Box<Stack>>> = const { Cell::new(None) };
    /// The JIT's context, kept between runs on this thread like the stack
    /// (a kilobyte and more of region table and map windows).
    static SPARE_NATIVE: Cell<Option<Box<crate::jit::JitContext>>> = const { Cell::new(None) };
}

/// The regions one run starts with, and the CPU it runs on.
#[derive(Debug, Default)]
pub struct RunInput<'a> {
    context: Option<Region<'a>>,
    packet: PacketSource<'a>,
    cpu: u32,
    /// A served context (`__sk_buff`, `xdp_md`) and its packet's bytes.
    served: Option<(Box<RunContext>, Vec<u8>)>,
    /// What r2 holds instead of the context's length.
    length: Option<u64>,
}

#[derive(Debug, Default)]
enum PacketSource<'a> {
    #[default]
    None,
    /// The context's bytes are the packet.
    Context,
    Separate(Region<'a>),
}

impl<'a> RunInput<'a> {
    /// `memory`, writable, as both context and packet (what
    /// [`Interpreter::run`] does).
    pub fn memory(memory: &'a mut [u8]) -> RunInput<'a> {
        RunInput {
            context: Some(Region::writable(memory)),
            packet: PacketSource::Context,
            cpu: 0,
            served: None,
            length: None,
        }
    }

    /// `packet`, read-only, as both context and packet: what a socket
    /// filter or a cBPF program translated by visor-filter reads.
    #[inline]
    pub fn readonly(packet: &'a [u8]) -> RunInput<'a> {
        RunInput {
            packet: PacketSource::Context,
            ..RunInput::context(Region::readonly(packet))
        }
    }

    /// `context` in r1 (its length in r2), and no packet.
    pub fn context(context: Region<'a>) -> RunInput<'a> {
        RunInput {
            context: Some(context),
            packet: PacketSource::None,
            cpu: 0,
            served: None,
            length: None,
        }
    }

    /// The context of a packet program of `kind` over `frame` (an
    /// Ethernet frame), laid out as the kernel presents it to that
    /// program type (see [`crate::context`]). `None` for tracing kinds,
    /// whose context is the caller's bytes ([`RunInput::context`]).
    pub fn packet_context(kind: ContextKind, frame: &[u8]) -> Option<RunInput<'a>> {
        let (context, packet) = crate::context::build(kind, frame)?;
        Some(RunInput {
            context: None,
            packet: PacketSource::None,
            cpu: 0,
            served: Some((Box::new(context), packet)),
            length: None,
        })
    }

    /// Maps `packet` at [`RegionId::PACKET`] as the packet of
    /// `LD_ABS`/`LD_IND`; the context should hold its address for direct
    /// access.
    pub fn with_packet(self, packet: Region<'a>) -> RunInput<'a> {
        RunInput {
            packet: PacketSource::Separate(packet),
            ..self
        }
    }

    /// r2 holds `length` instead of the context's length (visor-filter's
    /// translated cBPF reads the packet's length on the wire there).
    #[inline]
    pub fn with_length(self, length: u64) -> RunInput<'a> {
        RunInput {
            length: Some(length),
            ..self
        }
    }

    /// Runs on CPU `cpu` (default 0): `bpf_get_smp_processor_id`, the
    /// value per-CPU maps give, and `BPF_F_CURRENT_CPU` perf output. It
    /// must be below the per-CPU maps' CPU count.
    pub fn on_cpu(self, cpu: u32) -> RunInput<'a> {
        RunInput { cpu, ..self }
    }

    /// Maps the input into `memory` for a run of a program with `maps`;
    /// returns the registers the run starts with.
    pub(crate) fn start(
        self,
        memory: &mut Memory<'a>,
        maps: Option<&Arc<ProgramMaps>>,
    ) -> Registers {
        memory.maps.cpu = self.cpu;
        memory.set_maps(maps);
        let regs = self.registers();
        self.map_into(memory);
        regs
    }

    /// The registers a run on this input starts with: r1 and r2 (see
    /// [`RunInput::arguments`]), r10 at the top of frame 0, zeros.
    #[inline]
    pub(crate) fn registers(&self) -> Registers {
        let mut regs = Registers::default();
        (regs[Reg::R1], regs[Reg::R2]) = self.arguments();
        regs[Reg::R10] = frame_pointer(0);
        regs
    }

    /// r1 and r2: the context's address and length, zeros when there is
    /// no context or it is empty; r2 as [`RunInput::with_length`] says.
    #[inline]
    pub(crate) fn arguments(&self) -> (u64, u64) {
        let (addr, len) = match (&self.served, &self.context) {
            (Some((context, _)), _) => (RegionId::CONTEXT.addr(0), context.fields.len() as u64),
            (None, Some(c)) if !c.is_empty() => (RegionId::CONTEXT.addr(0), c.len() as u64),
            _ => (0, 0),
        };
        (addr, self.length.unwrap_or(len))
    }

    /// The regions as native code reads them, without a [`Memory`]: the
    /// context, the separate packet and the packet of `LD_ABS`/`LD_IND`.
    /// `None` for a served context, which only a `Memory` can answer.
    #[inline]
    pub(crate) fn host_regions(&mut self) -> Option<InputRegions> {
        if self.served.is_some() {
            return None;
        }
        let context = match &mut self.context {
            Some(c) if !c.is_empty() => HostRegion::of(c),
            _ => HostRegion::UNMAPPED,
        };
        let packet = match &mut self.packet {
            PacketSource::Separate(p) => HostRegion::of(p),
            PacketSource::None | PacketSource::Context => HostRegion::UNMAPPED,
        };
        let ld_abs = match self.packet {
            PacketSource::None => HostRegion::UNMAPPED,
            PacketSource::Context => context,
            PacketSource::Separate(_) => packet,
        };
        Some(InputRegions {
            context,
            packet,
            ld_abs,
        })
    }

    /// The bytes of `LD_ABS`/`LD_IND` (empty when there are none), as
    /// [`RunInput::host_regions`] maps them; `None` for a served context.
    #[inline]
    pub(crate) fn ld_abs_packet(&self) -> Option<&[u8]> {
        if self.served.is_some() {
            return None;
        }
        Some(match (&self.packet, &self.context) {
            (PacketSource::Context, Some(context)) => context.bytes(),
            (PacketSource::Separate(packet), _) => packet.bytes(),
            (PacketSource::Context | PacketSource::None, _) => &[],
        })
    }

    /// Runs `op` on the input's own bytes when it is a load or store that
    /// lies wholly inside a plain context, or a packet load that lies
    /// inside the packet (what a session's first stretch does before any
    /// [`Memory`] exists), with `Machine::step`'s results; `false` for
    /// anything else, which the machine then runs: other regions, faults,
    /// a read-only context's stores, packet loads that miss, served
    /// contexts.
    #[inline]
    pub(crate) fn stretch_access(&mut self, op: &Op, regs: &mut Registers) -> bool {
        if self.served.is_some() {
            return false;
        }
        if let Op::LoadPacket { size, offset, imm } = *op {
            let packet = self.ld_abs_packet().unwrap_or_default();
            let Some(value) = packet_value(packet, regs, offset, imm, size) else {
                return false;
            };
            regs[Reg::R0] = value;
            return true;
        }
        let Some(context) = &mut self.context else {
            return false;
        };
        let at = |base: u64, off: i16| {
            let at = address(base, off).wrapping_sub(RegionId::CONTEXT.addr(0));
            usize::try_from(at).unwrap_or(usize::MAX)
        };
        match *op {
            Op::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => {
                let Some(value) = load_le(context.bytes(), at(regs[src], off), size) else {
                    return false;
                };
                regs[dst] = extended(value, size, signed);
                true
            }
            Op::Store {
                size,
                dst,
                off,
                src,
            } => {
                let value = operand(regs, src);
                let at = at(regs[dst], off);
                context
                    .bytes_mut()
                    .and_then(|bytes| store_le(bytes, at, size, value))
                    .is_some()
            }
            _ => false,
        }
    }

    /// Maps the regions.
    fn map_into(self, memory: &mut Memory<'a>) {
        if let Some((context, packet)) = self.served {
            memory.map(RegionId::PACKET, Region::owned(packet.into_boxed_slice()));
            memory.set_packet(RegionId::PACKET);
            memory.context = Some(context);
            return;
        }
        let context = self.context.filter(|c| !c.is_empty());
        let has_context = context.is_some();
        if let Some(context) = context {
            memory.map(RegionId::CONTEXT, context);
        }
        match self.packet {
            PacketSource::None => {}
            PacketSource::Context if has_context => memory.set_packet(RegionId::CONTEXT),
            PacketSource::Context => {}
            PacketSource::Separate(packet) => {
                memory.map(RegionId::PACKET, packet);
                memory.set_packet(RegionId::PACKET);
            }
        }
    }
}

/// An input's regions as native code reads them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InputRegions {
    pub(crate) context: HostRegion,
    pub(crate) packet: HostRegion,
    /// The packet of `LD_ABS`/`LD_IND` (one of the two, or nothing).
    pub(crate) ld_abs: HostRegion,
}

/// Where a program's execution starts: its registers, the budget left,
/// and the instruction (the first, unless a session ran a register-only
/// stretch before it built the run's memory; see `session`).
pub(crate) struct Resume {
    pub(crate) regs: Registers,
    pub(crate) remaining: u64,
    pub(crate) pc: usize,
}

/// An error inside the dispatch loop, boxed: errors are rare, and a
/// pointer-sized error keeps every step's result in registers.
pub(crate) type Stop = Box<VmError>;

/// What to do after an instruction.
pub(crate) enum Flow {
    /// Execute the slot at this index next.
    Continue(usize),
    /// The program ended with this r0.
    Exit(u64),
    /// `bpf_tail_call` succeeded: run the target instead.
    TailCall,
    /// A `bpf_loop` callback returned this r0.
    Returned(u64),
}

/// How one program's execution ended.
pub(crate) enum End {
    Exit(u64),
    TailCall,
    /// A `bpf_loop` callback returned this r0 (only from [`Machine::callback`]).
    Returned(u64),
}

/// The return address of a `bpf_loop` callback's frame: no instruction
/// has it, so `exit` knows to hand r0 back to the loop.
const CALLBACK_RETURN: usize = usize::MAX;

/// How a `bpf_loop` ended.
enum LoopEnd {
    /// The callback was called this many times; r0 gets the count.
    Calls(u64),
    /// A helper in the callback ended the whole program.
    ProgramExit(u64),
}

/// One run in progress. The JIT (`crate::jit`) drives the same machine:
/// its native code keeps registers and budget in step with these fields
/// whenever it calls back into Rust, and hands every rare instruction to
/// [`Machine::step`].
pub(crate) struct Machine<'i, 'r, 'm> {
    pub(crate) code: &'i [Op],
    /// `code` in dispatch form.
    hot: &'i [Decoded],
    helpers: &'i Helpers,
    pub(crate) regs: Registers,
    /// Borrowed, not owned: the region table is a few hundred bytes that
    /// need not move.
    pub(crate) memory: &'r mut Memory<'m>,
    /// Instructions left in the budget.
    pub(crate) remaining: u64,
    /// The budget the run started with, which errors name.
    pub(crate) budget: Option<u64>,
}

impl<'i, 'r, 'm> Machine<'i, 'r, 'm> {
    /// A machine running `program` on `memory` from `regs`, at depth 0,
    /// with `remaining` instructions of its budget left.
    pub(crate) fn new(
        program: &'i Interpreter,
        memory: &'r mut Memory<'m>,
        regs: Registers,
        remaining: u64,
    ) -> Machine<'i, 'r, 'm> {
        Machine {
            code: &program.code,
            hot: &program.hot,
            helpers: &program.helpers,
            regs,
            memory,
            remaining,
            budget: program.budget,
        }
    }
}

impl Machine<'_, '_, '_> {
    pub(crate) fn execute_from(&mut self, start: usize) -> Result<End, Stop> {
        let (code, hot) = (self.code, self.hot);
        let mut pc = start;
        loop {
            // Borrowed, not copied: a copy of the op is written and re-read
            // in different widths, which stalls store forwarding.
            let Some(slot) = hot.get(pc) else {
                return Err(VmError::FellOffEnd { pc }.into());
            };
            if self.remaining == 0 {
                return Err(self.out_of_budget(pc));
            }
            // Hot ops touch registers only, so the budget stays in a host
            // register between them; `step` sees it in the machine.
            let mut remaining = self.remaining - 1;
            let mut next = slot.step(&mut self.regs, pc);
            while let Some(at) = next {
                pc = at;
                let Some(slot) = hot.get(pc).filter(|_| remaining > 0) else {
                    break;
                };
                remaining -= 1;
                next = slot.step(&mut self.regs, pc);
            }
            self.remaining = remaining;
            if next.is_some() {
                // Out of slots or of budget: the checks above report it.
                continue;
            }
            // `hot` and `code` have the same length.
            let Some(op) = code.get(pc) else {
                return Err(VmError::FellOffEnd { pc }.into());
            };
            pc = match self.step(pc, op)? {
                Flow::Continue(next) => next,
                Flow::Exit(r0) => return Ok(End::Exit(r0)),
                Flow::TailCall => return Ok(End::TailCall),
                Flow::Returned(r0) => return Ok(End::Returned(r0)),
            };
        }
    }

    /// Executes `op` at `pc`. Inlined into the loop so each arm's result
    /// stays in registers; each arm is one call into `semantics` or a small
    /// method.
    #[inline(always)]
    pub(crate) fn step(&mut self, pc: usize, op: &Op) -> Result<Flow, Stop> {
        match *op {
            Op::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let src = self.operand(src);
                self.regs[dst] = semantics::alu(op, width, self.regs[dst], src);
            }
            Op::Neg { width, dst } => self.regs[dst] = semantics::neg(width, self.regs[dst]),
            Op::Endian { order, bits, dst } => {
                self.regs[dst] = semantics::endian(order, u32::from(bits), self.regs[dst]);
            }
            Op::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => self.load(pc, size, signed, dst, self.regs[src], off)?,
            Op::Store {
                size,
                dst,
                off,
                src,
            } => {
                let value = self.operand(src);
                let addr = address(self.regs[dst], off);
                let stored = self.memory.store(addr, size, value);
                stored.map_err(|fault| memory_fault(pc, fault))?;
            }
            Op::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => self.atomic(pc, size, op, address(self.regs[dst], off), src)?,
            Op::LoadImm64 { dst, imm } => {
                self.regs[dst] = imm;
                return Ok(Flow::Continue(pc + 2));
            }
            Op::LoadImm64Tail => return Err(VmError::IntoLoadImm64 { pc }.into()),
            Op::LoadPacket { size, offset, imm } => {
                if !self.load_packet(size, offset, imm) {
                    return Ok(Flow::Exit(0));
                }
            }
            Op::Jump {
                width,
                cond,
                dst,
                src,
                target,
            } => {
                if semantics::condition(cond, width, self.regs[dst], self.operand(src)) {
                    return Ok(Flow::Continue(target as usize));
                }
            }
            Op::Ja { target } => return Ok(Flow::Continue(target as usize)),
            Op::CallHelper { id, index } => return self.call_helper(pc, id, index as usize),
            Op::CallUnknownHelper { id } => {
                return Err(VmError::UnknownHelper { pc, id: id.into() }.into());
            }
            Op::CallLocal { target } => {
                self.call_local(pc)?;
                return Ok(Flow::Continue(target as usize));
            }
            Op::CallReg { reg } => return self.call_register(pc, self.regs[reg]),
            Op::Exit => return Ok(self.exit()),
        }
        Ok(Flow::Continue(pc + 1))
    }

    fn operand(&self, src: Source) -> u64 {
        operand(&self.regs, src)
    }

    fn load(
        &mut self,
        pc: usize,
        size: Size,
        signed: bool,
        dst: Reg,
        base: u64,
        off: i16,
    ) -> Result<(), Stop> {
        let loaded = self.memory.load(address(base, off), size);
        let value = loaded.map_err(|fault| memory_fault(pc, fault))?;
        self.regs[dst] = extended(value, size, signed);
        Ok(())
    }

    fn atomic(
        &mut self,
        pc: usize,
        size: Size,
        op: AtomicOp,
        addr: u64,
        src: Reg,
    ) -> Result<(), Stop> {
        let width = match size {
            Size::DW => Width::W64,
            _ => Width::W32,
        };
        let (operand, r0) = (self.regs[src], self.regs[Reg::R0]);
        let updated = self.memory.update(addr, size, |old| {
            semantics::atomic(op, width, old, operand, r0)
        });
        let old = updated.map_err(|fault| memory_fault(pc, fault))?;
        match semantics::fetch(op) {
            Fetch::Nowhere => {}
            Fetch::Src => self.regs[src] = old,
            Fetch::R0 => self.regs[Reg::R0] = old,
        }
        Ok(())
    }

    /// `LD_ABS`/`LD_IND`: r0 = the big-endian value at the offset in the
    /// packet. Returns false when the bytes are not all inside the packet:
    /// the program then ends with r0 = 0, as in the kernel.
    fn load_packet(&mut self, size: Size, offset: PacketOffset, imm: i32) -> bool {
        match packet_value(self.memory.packet(), &self.regs, offset, imm, size) {
            Some(value) => {
                self.regs[Reg::R0] = value;
                true
            }
            None => false,
        }
    }

    /// Calls helper `id`, found at `index` of the helpers.
    fn call_helper(&mut self, pc: usize, id: u32, index: usize) -> Result<Flow, Stop> {
        let args = [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5].map(|reg| self.regs[reg]);
        let outcome = self.invoke_helper(pc, id, index, args)?;
        self.follow_helper(pc, outcome)
    }

    /// Runs helper `index` (`id` in messages) with `args` on this run's
    /// memory: what it asks next, or the error that stops the program.
    /// The registers are not read: native code calls this with them
    /// still in its context.
    pub(crate) fn invoke_helper(
        &mut self,
        pc: usize,
        id: u32,
        index: usize,
        args: [u64; 5],
    ) -> Result<HelperOutcome, Stop> {
        let Some(helper) = self.helpers.get(index) else {
            return Err(VmError::UnknownHelper { pc, id: id.into() }.into());
        };
        (helper.call)(args, self.memory).map_err(|cause| {
            VmError::Helper {
                pc,
                id: helper.id,
                name: helper.name.clone(),
                cause,
            }
            .into()
        })
    }

    /// Carries out what the helper at `pc` asked.
    pub(crate) fn follow_helper(
        &mut self,
        pc: usize,
        outcome: HelperOutcome,
    ) -> Result<Flow, Stop> {
        match outcome {
            HelperOutcome::Return(r0) => {
                self.regs[Reg::R0] = r0;
                Ok(Flow::Continue(pc + 1))
            }
            HelperOutcome::Exit(r0) => Ok(Flow::Exit(r0)),
            HelperOutcome::Loop(call) => match self.run_loop(pc, call)? {
                LoopEnd::Calls(count) => {
                    self.regs[Reg::R0] = count;
                    Ok(Flow::Continue(pc + 1))
                }
                LoopEnd::ProgramExit(r0) => Ok(Flow::Exit(r0)),
            },
            HelperOutcome::TailCall => match self.memory.calls.depth() {
                0 => Ok(Flow::TailCall),
                depth => Err(VmError::TailCallInSubprogram { pc, depth }.into()),
            },
        }
    }

    /// `callx`: the register holds a helper id.
    fn call_register(&mut self, pc: usize, id: u64) -> Result<Flow, Stop> {
        let found = u32::try_from(id)
            .ok()
            .and_then(|id| Some((id, self.helpers.index_of(id)?)));
        match found {
            Some((id, index)) => self.call_helper(pc, id, index),
            None => Err(VmError::UnknownHelper { pc, id }.into()),
        }
    }

    /// Enters a fresh frame for a local call from `pc`.
    pub(crate) fn call_local(&mut self, pc: usize) -> Result<(), Stop> {
        let frame = self
            .memory
            .calls
            .push(pc + 1, &self.regs)
            .ok_or_else(|| Stop::new(VmError::CallDepthExceeded { pc }))?;
        self.memory.enter_frame(frame);
        self.regs[Reg::R10] = frame_pointer(frame);
        Ok(())
    }

    /// Returns from a local call or a `bpf_loop` callback, or ends the
    /// program.
    pub(crate) fn exit(&mut self) -> Flow {
        match self.memory.calls.pop(&mut self.regs) {
            Some((ended, return_pc)) => {
                self.memory.leave_frame(ended);
                match return_pc {
                    CALLBACK_RETURN => Flow::Returned(self.regs[Reg::R0]),
                    _ => Flow::Continue(return_pc),
                }
            }
            None => Flow::Exit(self.regs[Reg::R0]),
        }
    }

    /// `bpf_loop` from the helper call at `pc`: calls the callback with the
    /// index and the context until it returns 1 or the iterations run out.
    fn run_loop(&mut self, pc: usize, call: LoopCall) -> Result<LoopEnd, Stop> {
        let target = RegionId::function_slot(call.callback)
            .filter(|&slot| slot < self.code.len())
            .ok_or_else(|| {
                Stop::new(VmError::BadTarget {
                    pc,
                    target: call.callback as i64,
                    len: self.code.len(),
                })
            })?;
        for index in 0..call.iterations {
            match self.callback(pc, target, [index, call.context])? {
                End::Returned(1) => return Ok(LoopEnd::Calls(index + 1)),
                End::Returned(_) => {}
                End::Exit(r0) => return Ok(LoopEnd::ProgramExit(r0)),
                End::TailCall => {
                    return Err(VmError::TailCallInSubprogram {
                        pc,
                        depth: self.memory.calls.depth() + 1,
                    }
                    .into());
                }
            }
        }
        Ok(LoopEnd::Calls(call.iterations))
    }

    /// Runs the function at slot `target` in a fresh frame, as a local call
    /// whose `exit` comes back here instead of to an instruction.
    fn callback(&mut self, pc: usize, target: usize, args: [u64; 2]) -> Result<End, Stop> {
        let frame = self
            .memory
            .calls
            .push(CALLBACK_RETURN, &self.regs)
            .ok_or_else(|| Stop::new(VmError::CallDepthExceeded { pc }))?;
        self.memory.enter_frame(frame);
        self.regs[Reg::R10] = frame_pointer(frame);
        self.regs[Reg::R1] = args[0];
        self.regs[Reg::R2] = args[1];
        self.execute_from(target)
    }

    #[cold]
    fn out_of_budget(&self, pc: usize) -> Stop {
        Stop::new(VmError::BudgetExhausted {
            pc,
            budget: self.budget.unwrap_or(u64::MAX),
        })
    }
}

/// The big-endian value of the `size` bytes of `packet` that
/// `LD_ABS`/`LD_IND` at `offset` + `imm` load, with `regs`; `None` unless
/// all are there.
fn packet_value(
    packet: &[u8],
    regs: &Registers,
    offset: PacketOffset,
    imm: i32,
    size: Size,
) -> Option<u64> {
    let base = match offset {
        PacketOffset::Abs => 0,
        PacketOffset::Ind(reg) => regs[reg],
    };
    // The kernel adds in 64 bits and passes the low half as an `int`;
    // negative offsets (its SKF_*_OFF ancillary areas) do not exist here.
    let offset = base.wrapping_add_signed(i64::from(imm)) as u32 as i32;
    let start = usize::try_from(offset).ok()?;
    let bytes = packet.get(start..)?.get(..size.bytes())?;
    Some(bytes.iter().fold(0, |v, &b| v << 8 | u64::from(b)))
}

/// The value of a source operand: the register, or the immediate
/// sign-extended.
fn operand(regs: &Registers, src: Source) -> u64 {
    match src {
        Source::Reg(reg) => regs[reg],
        Source::Imm(imm) => i64::from(imm) as u64,
    }
}

/// A loaded value as the destination register holds it: zero- or
/// sign-extended from `size`.
fn extended(value: u64, size: Size, signed: bool) -> u64 {
    if signed {
        semantics::sign_extend(value, size_bits(size)) as u64
    } else {
        value
    }
}

/// `base + off`, wrapping: the memory model, not arithmetic, rejects
/// addresses outside every region.
fn address(base: u64, off: i16) -> u64 {
    base.wrapping_add_signed(i64::from(off))
}

fn size_bits(size: Size) -> u32 {
    size.bytes() as u32 * 8
}

#[cold]
fn memory_fault(pc: usize, fault: AccessFault) -> Stop {
    Stop::new(VmError::MemoryAccess { pc, fault })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Helpers, Session};
    use visor_isa::asm::{Syntax, assemble};

    /// Counts its runs in frame 0, reached by address rather than through
    /// r10, on the JIT when `jit`.
    fn frame_counter(jit: bool) -> Interpreter {
        let frame = RegionId::FRAME_0.addr(0);
        let source = format!(
            "r1 = {frame:#x} ll\nr0 = *(u64 *)(r1 + 0x1f8)\nr2 = r0\nr2 += 1\n\
             *(u64 *)(r1 + 0x1f8) = r2\nexit"
        );
        let program = assemble(&source, Syntax::Llvm).expect("it assembles");
        let vm = Interpreter::new(&program, Helpers::new()).expect("it loads");
        match jit {
            true => vm.with_jit().expect("the JIT takes it"),
            false => vm,
        }
    }

    #[test]
    fn every_run_finds_frame_0_zeroed() {
        let engines: &[bool] = match crate::jit::AVAILABLE {
            true => &[false, true],
            false => &[false],
        };
        for &jit in engines {
            let vm = frame_counter(jit);
            let served = vm.run_served(RunInput::readonly(&[]), Runs::Timed(3));
            let r0 = served.finished.map(|f| f.r0).map_err(|e| e.to_string());
            assert_eq!(r0, Ok(0), "jit: {jit}");
            let mut session = Session::new(&vm);
            for _ in 0..3 {
                let r0 = session.run(RunInput::readonly(&[]));
                assert_eq!(r0.map_err(|e| e.to_string()), Ok(0), "jit: {jit}");
            }
        }
    }
}
