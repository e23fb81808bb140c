//! Sessions: one program run many times (a packet filter over a capture, a
//! benchmark) without paying for a run's setup every time.
//!
//! A plain [`Interpreter::run`] builds a [`Memory`] (the region table,
//! idle frames, the run's maps) and, with the JIT, a native context with
//! its region table, every run. A [`Session`] keeps the stack and the
//! native context, and on the JIT builds nothing at all up front:
//!
//! ```text
//!   run(input) --> zero frame 0 (only if the program mentions r10)
//!              --> context, packet and frame 0 entries re-pointed, r1 r2 r10
//!              --> native code ---- exit at depth 0 ----------------> r0
//!                       |
//!                       `-- first call into Rust (helper, slow path,
//!                           local call): the Memory and machine are
//!                           built from the input now, and the run goes
//!                           on exactly as an interpreter run would
//! ```
//!
//! A leaf program without a budget does less still: [`Session::run`]
//! (which counts nothing) enters the JIT's lean body with the packet, and
//! no native context at all (see `jit::lean`).
//!
//! Without a JIT, a run starts with the ops that touch registers only
//! (`hot::run`), the loads and stores that land inside a plain context and
//! the packet loads that land inside the packet (`RunInput::stretch_access`,
//! on the input's own bytes), before any
//! memory exists; where they stop, at an `exit` the run is over, and at
//! anything else the `Memory` and machine are built and take over with
//! the registers and budget as they are (and the bytes as stored).
//!
//! Results, errors and instruction counts are those of
//! [`Interpreter::run_counted`] on the same input.

use crate::error::VmError;
use crate::hot;
use crate::interpreter::{End, Finished, Interpreter, Machine, Resume, RunInput, take_tail_call};
use crate::jit::{HostRegion, NativeContext, NativeStart};
use crate::layout::{MAX_FRAMES, STACK_FRAME_SIZE};
use crate::lower::Op;
use crate::memory::{Memory, Stack};
use crate::state::Registers;
use visor_isa::Reg;

/// A program prepared for many runs on one thread: its stack and, with
/// the JIT, its native context are set up once and reused.
///
/// ```
/// use visor_isa::asm::{Syntax, assemble};
/// use visor_vm::{Helpers, Interpreter, RunInput, Session};
///
/// // r0 = the first byte of the packet, which is read-only here.
/// let program = assemble("r0 = *(u8 *)(r1 + 0)\nexit", Syntax::Llvm)?;
/// let mut vm = Interpreter::new(&program, Helpers::new())?;
/// // Natively where there is a JIT; in the interpreter where there is none.
/// assert_eq!(vm.compile_jit().is_ok(), visor_vm::jit::AVAILABLE);
/// let mut session = Session::new(&vm);
/// for packet in [[7u8, 0], [9, 1]] {
///     assert_eq!(session.run(RunInput::readonly(&packet))?, u64::from(packet[0]));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Session<'p> {
    program: &'p Interpreter,
    stack: Box<Stack>,
    /// `Some` when the program has native code.
    native: Option<NativeContext>,
    /// Whether runs must start on a zeroed frame 0
    /// ([`Interpreter::may_read_frame`]).
    zero_frame: bool,
}

impl<'p> Session<'p> {
    /// A session running `program`, natively when it has a JIT.
    pub fn new(program: &'p Interpreter) -> Session<'p> {
        Session {
            program,
            stack: Box::new([[0; STACK_FRAME_SIZE]; MAX_FRAMES]),
            native: program.jit().map(|_| NativeContext::new()),
            zero_frame: program.may_read_frame(),
        }
    }

    /// Runs the program on `input`; returns r0 (see [`Interpreter::run_with`]).
    ///
    /// The error is boxed, as inside the interpreter: errors are rare, and
    /// a small result is what makes a run cost a few nanoseconds.
    #[inline]
    pub fn run(&mut self, mut input: RunInput<'_>) -> Result<u64, Box<VmError>> {
        if let Some(r0) = self.program.run_lean(&mut input) {
            return Ok(r0);
        }
        self.run_counted(input).map(|finished| finished.r0)
    }

    /// Runs the program on `input`, counting instructions (see
    /// [`Interpreter::run_counted`]).
    #[inline]
    pub fn run_counted(&mut self, mut input: RunInput<'_>) -> Result<Finished, Box<VmError>> {
        let program = self.program;
        let body = program.jit().and_then(|jit| jit.machine(program.code()));
        let (Some(body), Some(native), Some(regions)) =
            (body, &mut self.native, input.host_regions())
        else {
            return self.run_interpreted(input);
        };
        let stack = &mut *self.stack;
        if self.zero_frame {
            stack[0].fill(0);
        }
        let started_with = program.budget().unwrap_or(u64::MAX);
        // The input's regions live as long as this call's borrow of the
        // stack, as a run's memory needs.
        let mut input: RunInput<'_> = input;
        let start = NativeStart {
            regions,
            frame: HostRegion::of_bytes(&mut stack[0]),
            arguments: input.arguments(),
            remaining: started_with,
        };
        let mut lazy = LazyMachine {
            program,
            input: &mut input,
            stack: Some(stack),
            built: None,
        };
        let (end, remaining) = native.run(body, start, &mut lazy);
        let instructions = started_with - remaining;
        if !lazy.is_built()
            && let Ok(End::Exit(r0) | End::Returned(r0)) = end
        {
            // Native code never called into Rust: there is nothing to undo,
            // not even a drop (which the compiler would call out of line).
            core::mem::forget(lazy);
            return Ok(Finished { r0, instructions });
        }
        let memory = lazy.built();
        finish_in_memory(program, memory, native, end, instructions)
    }

    /// A run without native code (no JIT, or a served context). Without
    /// a JIT, the ops that touch registers only, and the loads, stores and
    /// packet loads inside the input, run first, with no memory: a program that
    /// exits before any other op builds none at all.
    /// Never inlined, so that `run_counted`'s native path does not carry
    /// the stretch's whole dispatch.
    #[inline(never)]
    fn run_interpreted(&mut self, mut input: RunInput<'_>) -> Result<Finished, Box<VmError>> {
        let program = self.program;
        let started_with = program.budget().unwrap_or(u64::MAX);
        let mut from = Resume {
            regs: input.registers(),
            remaining: started_with,
            pc: 0,
        };
        // Native code starts at the first instruction.
        if !program.is_jit() {
            let code = program.code();
            let buffer = |pc: usize, regs: &mut Registers| input.stretch_access(&code[pc], regs);
            (from.pc, from.remaining) =
                hot::run(&mut from.regs, program.hot(), 0, from.remaining, buffer);
            if from.remaining > 0 && matches!(code.get(from.pc), Some(Op::Exit)) {
                // At depth 0: every call is an op that is not hot.
                let instructions = started_with - from.remaining + 1;
                let r0 = from.regs[Reg::R0];
                return Ok(Finished { r0, instructions });
            }
        }
        self.run_in_memory(input, from)
    }

    /// The rest of [`Session::run_interpreted`]'s run, from `from`, with a
    /// `Memory` built from `input`. Out of line, so that the memory (a
    /// kilobyte and more) is no part of the stretch's stack frame, whose
    /// layout the dispatch loop's speed turned out to depend on.
    #[inline(never)]
    fn run_in_memory(
        &mut self,
        input: RunInput<'_>,
        from: Resume,
    ) -> Result<Finished, Box<VmError>> {
        if self.zero_frame {
            self.stack[0].fill(0);
        }
        let program = self.program;
        let mut memory = Memory::resuming(&mut self.stack);
        let _registers = input.start(&mut memory, program.maps_table());
        program.run_chain(&mut memory, from, None).map_err(Box::new)
    }
}

/// Ends a session's native run that called into Rust, as the interpreter
/// ends its runs: tail calls run on, reservations are discarded.
#[cold]
fn finish_in_memory(
    program: &Interpreter,
    memory: &mut Memory<'_>,
    native: &NativeContext,
    end: Result<End, Box<VmError>>,
    instructions: u64,
) -> Result<Finished, Box<VmError>> {
    let r0 = match end {
        Ok(End::TailCall) => {
            let target = take_tail_call(memory);
            let remaining = program.budget().unwrap_or(u64::MAX) - instructions;
            let from = Resume {
                regs: native.registers(),
                remaining,
                pc: 0,
            };
            return program.run_chain(memory, from, target).map_err(Box::new);
        }
        Ok(End::Exit(r0) | End::Returned(r0)) => Ok(r0),
        Err(stop) => Err(stop),
    };
    memory.maps.discard_reservations();
    r0.map(|r0| Finished { r0, instructions })
}

/// The Rust side of a session's native run: the input until native code
/// first calls into Rust, then the memory built from it.
pub(crate) struct LazyMachine<'a, 'i, 'm> {
    program: &'i Interpreter,
    /// Taken (left empty) when the memory is built.
    input: &'a mut RunInput<'m>,
    /// `Some` until the memory is built.
    stack: Option<&'m mut Stack>,
    built: Option<Memory<'m>>,
}

impl<'i, 'm> LazyMachine<'_, 'i, 'm> {
    /// Slots of the program's code.
    pub(crate) fn code_len(&self) -> usize {
        self.program.code().len()
    }

    /// Whether native code has called into Rust.
    pub(crate) fn is_built(&self) -> bool {
        self.built.is_some()
    }

    /// The run's memory, built from the input the first time: native
    /// code ran on frame 0 until now, and the registers are native code's
    /// to hand over.
    fn built(&mut self) -> &mut Memory<'m> {
        let (program, input, stack) = (self.program, &mut *self.input, &mut self.stack);
        self.built.get_or_insert_with(|| {
            let stack = stack
                .take()
                .expect("the stack waits in `stack` until the memory is built");
            let mut memory = Memory::resuming(stack);
            let _registers = core::mem::take(input).start(&mut memory, program.maps_table());
            memory
        })
    }

    /// Calls `serve` with the machine of this run. Registers and budget
    /// are for `serve` to copy in from native code.
    #[cfg_attr(not(native_jit), allow(dead_code))] // for native code
    pub(crate) fn with_machine<R>(
        &mut self,
        serve: impl FnOnce(&mut Machine<'_, '_, '_>) -> R,
    ) -> R {
        let program = self.program;
        let memory = self.built();
        serve(&mut Machine::new(program, memory, Registers::default(), 0))
    }
}
