//! Tail calls that never leave native code, as the kernel's JIT makes
//! them: a `bpf_tail_call` through the program array of the context's
//! *tail window* checks the index, the slot and the 33-call limit, counts
//! the call and jumps into the target's body (`codegen`'s
//! `inline_tail_call`); a call to an empty slot or past the end fails
//! there too. Every other case calls the helper through a service.
//!
//! The window is a copy of the array's slots taken when a run first tail
//! calls through it natively ([`TailTable`]), which holds every program
//! it can jump to, so none of their code is freed while native code may
//! run it. It is kept with the context (repeated runs on one memory use
//! it again) and dropped only where no native code runs: when a run
//! starts and finds the array changed since (its generation), and when
//! the context is parked between fresh runs. Until then, native code
//! compares the array's live generation with the copy's before every
//! call, and sends the calls to the helper once they differ: a change,
//! even by a helper of the same run, is seen at once, as the
//! interpreter sees it.
//!
//! A slot is filled only for a target with a machine body and the same
//! maps as the program that took the copy, so the run's maps stay right
//! across the jump; the window is open only while the run's maps are
//! those. Native code records the slot it jumped to
//! (`JitContext::tail_program`); the next call into Rust serves that
//! program (`JitRun::tail_called`).

use std::sync::Arc;

use crate::interpreter::Interpreter;
use crate::maps::{Errno, Map, ProgramMaps};
use crate::memory::Memory;

use super::direct_entry;

/// The handle of a closed window: never a map handle.
pub(crate) const NO_HANDLE: u64 = u64::MAX;
/// `JitContext::tail_program` when no native tail call was made since
/// Rust last looked.
pub(crate) const NO_PROGRAM: u64 = u64::MAX;

/// A slot's entry when it is empty: the call fails inline.
pub(crate) const EMPTY_SLOT: u64 = 0;
/// A slot's entry when its call must take the helper: its program has no
/// machine body, or other maps. (No code is at address 0 or 1.)
pub(crate) const SLOW_SLOT: u64 = 1;
// Native code tells them from entries with one compare: below, equal.
const _: () = assert!(EMPTY_SLOT < SLOW_SLOT);
/// r0 after a failed tail call, as the helper returns it: `-ENOENT`.
pub(crate) const ENOENT_RETURN: u64 = -(Errno::ENOENT.0 as i64) as u64;

/// The tail window as native code reads it (`JitContext::tail`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct TailWindow {
    /// The program array's handle, or `NO_HANDLE` while closed.
    pub(crate) handle: u64,
    /// Where each slot's call jumps, or `EMPTY_SLOT` or `SLOW_SLOT`.
    pub(crate) entries: *const u64,
    /// How many slots.
    pub(crate) len: u64,
    /// The array's live generation, and the one the entries are of: a
    /// change to the array since (by userspace, or a helper of this very
    /// run) sends every call to the helper, which sees the array as it
    /// is now, as the interpreter would.
    pub(crate) live: *const u64,
    pub(crate) seen: u64,
}

impl TailWindow {
    /// Sends every call to the helper: a program may put `NO_HANDLE` in
    /// r2 (the helper refuses it), so the generations differ as well.
    /// `live` points at a constant, so that native code needs no null
    /// check.
    pub(crate) const CLOSED: TailWindow = TailWindow {
        handle: NO_HANDLE,
        entries: core::ptr::null(),
        len: 0,
        live: &CLOSED_GENERATION,
        seen: CLOSED_GENERATION + 1,
    };
}

static CLOSED_GENERATION: u64 = 0;

/// A program array's slots as one run's native tail calls reach them.
#[derive(Debug)]
pub(crate) struct TailTable {
    /// The array, to see whether it changed since the copy.
    array: Arc<Map>,
    generation: u64,
    /// The map handle of the array in the run's maps.
    handle: u64,
    /// The run's maps when the copy was taken.
    maps: Arc<ProgramMaps>,
    programs: Vec<Option<Arc<Interpreter>>>,
    /// Where a native tail call into each slot jumps, or `EMPTY_SLOT`
    /// or `SLOW_SLOT`.
    entries: Box<[u64]>,
}

impl TailTable {
    /// The slots of the program array `handle` names in `memory`'s maps,
    /// with the entries of those targets native code may jump to.
    pub(crate) fn take(memory: &Memory<'_>, handle: u64) -> Option<TailTable> {
        let (_, array) = memory.maps.by_handle(handle)?;
        let slots = array.as_program_array()?.programs();
        let maps = memory.maps.table()?;
        let entries = slots
            .programs
            .iter()
            .map(|slot| match slot.as_deref() {
                None => EMPTY_SLOT,
                Some(target) if memory.maps.holds_table(target.maps_table()) => {
                    direct_entry(target).unwrap_or(SLOW_SLOT)
                }
                Some(_) => SLOW_SLOT,
            })
            .collect();
        Some(TailTable {
            array: array.clone(),
            generation: slots.generation,
            handle,
            maps: maps.clone(),
            programs: slots.programs,
            entries,
        })
    }

    /// Whether the array changed since the copy.
    pub(crate) fn is_stale(&self) -> bool {
        self.array
            .as_program_array()
            .is_none_or(|array| array.generation() != self.generation)
    }

    /// The program in slot `index`.
    pub(crate) fn program(&self, index: u64) -> Option<&Arc<Interpreter>> {
        self.programs.get(usize::try_from(index).ok()?)?.as_ref()
    }

    /// The window native code reads while `memory` holds these maps;
    /// closed otherwise.
    pub(crate) fn window(&self, memory: &Memory<'_>) -> TailWindow {
        let array = self.array.as_program_array();
        match (array, memory.maps.holds_table(Some(&self.maps))) {
            (Some(array), true) => TailWindow {
                handle: self.handle,
                entries: self.entries.as_ptr(),
                len: self.entries.len() as u64,
                live: array.generation_ptr(),
                seen: self.generation,
            },
            _ => TailWindow::CLOSED,
        }
    }
}

#[cfg(all(test, native_jit))]
mod tests {
    use std::sync::Arc;

    use visor_isa::{AluOp, CallTarget, Insn, LoadImm, Program, Reg, Size, Source, Width};

    use crate::helpers::{HelperOutcome, Helpers};
    use crate::interpreter::{Interpreter, RunInput, Runs};
    use crate::maps::{Map, MapDef, MapKind, MapOps, ProgramMaps};

    fn mov(dst: Reg, imm: i32) -> Insn {
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst,
            src: Source::Imm(imm),
        }
    }

    /// A helper that empties slot 1 of the array when r1 is 3.
    const EMPTY_ON: u32 = 0x7000;

    /// `first` tail-calls slot 1 (`second`: adds one to a counter,
    /// empties slot 1 when the counter reaches 3, returns 2) and returns
    /// 1 when the call fails: with `repeat` runs on one memory, the
    /// window taken on the first run serves the next ones until the
    /// array changes. Returns the last r0 and the counter.
    fn run_repeated(native: bool, repeat: u64) -> (u64, Vec<u8>) {
        let progs = Arc::new(Map::new(MapDef::new(MapKind::ProgArray, 4, 4, 2)).unwrap());
        let counter = Arc::new(Map::new(MapDef::new(MapKind::Array, 4, 8, 1)).unwrap());
        let maps: ProgramMaps = [progs.clone(), counter.clone()].into_iter().collect();
        let mut helpers = Helpers::new();
        let array = progs.clone();
        helpers.register(EMPTY_ON, "empty_on", move |args, _| {
            if args[0] == 3 {
                let _ = array.delete(&1u32.to_le_bytes());
            }
            Ok(HelperOutcome::Return(0))
        });
        let map = |dst, imm, kind| Insn::LoadImm64 { kind, dst, imm };
        let first = vec![
            map(Reg::R2, 0, LoadImm::MapIdx),
            mov(Reg::R3, 1),
            Insn::Call(CallTarget::Helper(12)),
            mov(Reg::R0, 1),
            Insn::Exit,
        ];
        let second = vec![
            map(Reg::R6, 1, LoadImm::MapIdxValue),
            Insn::Load {
                size: Size::DW,
                signed: false,
                dst: Reg::R1,
                src: Reg::R6,
                off: 0,
            },
            Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst: Reg::R1,
                src: Source::Imm(1),
            },
            Insn::Store {
                size: Size::DW,
                dst: Reg::R6,
                off: 0,
                src: Source::Reg(Reg::R1),
            },
            Insn::Call(CallTarget::Helper(EMPTY_ON as i32)),
            mov(Reg::R0, 2),
            Insn::Exit,
        ];
        let load = |insns: Vec<Insn>, helpers| {
            let program = Program::new(insns).unwrap();
            let vm = Interpreter::with_maps(&program, helpers, maps.clone()).unwrap();
            Arc::new(if native { vm.with_jit().unwrap() } else { vm })
        };
        let first = load(first, Helpers::new());
        progs.set_program(1, 2, load(second, helpers)).unwrap();
        let served = first.run_served(RunInput::memory(&mut []), Runs::Timed(repeat));
        let _ = progs.delete(&1u32.to_le_bytes());
        let r0 = served.finished.unwrap().r0;
        (r0, counter.lookup(&0u32.to_le_bytes()).unwrap().unwrap())
    }

    /// r2 = `NO_HANDLE` while the window is closed (in a session, or
    /// before a run's first native tail call) goes to the helper, which
    /// refuses it: the review found it failed inline with `-ENOENT`.
    #[test]
    fn a_closed_window_answers_no_handle() {
        let progs = Arc::new(Map::new(MapDef::new(MapKind::ProgArray, 4, 4, 2)).unwrap());
        let maps: ProgramMaps = [progs].into_iter().collect();
        let insns = vec![
            mov(Reg::R2, -1),
            mov(Reg::R3, 0),
            Insn::Call(CallTarget::Helper(12)),
            Insn::Exit,
        ];
        let program = Program::new(insns).unwrap();
        let run = |native: bool| {
            let vm = Interpreter::with_maps(&program, Helpers::new(), maps.clone()).unwrap();
            let vm = if native { vm.with_jit().unwrap() } else { vm };
            let served = vm.run_served(RunInput::memory(&mut []), Runs::Once);
            served.finished.map(|f| f.r0).map_err(|e| e.to_string())
        };
        let interpreted = run(false);
        assert!(
            interpreted
                .as_ref()
                .is_err_and(|e| e.contains("not a map handle"))
        );
        assert_eq!(run(true), interpreted);
    }

    #[test]
    fn repeated_runs_see_the_array_change() {
        let expected = [(1, 2, 1), (2, 2, 2), (3, 2, 3), (5, 1, 3)];
        for (repeat, r0, count) in expected {
            let count = u64::to_le_bytes(count).to_vec();
            assert_eq!(
                run_repeated(false, repeat),
                (r0, count.clone()),
                "{repeat} runs"
            );
            assert_eq!(
                run_repeated(true, repeat),
                (r0, count),
                "{repeat} runs, JIT"
            );
        }
    }
}
