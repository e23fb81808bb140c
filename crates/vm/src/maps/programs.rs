//! The slots of a `PROG_ARRAY`: programs `bpf_tail_call` reaches by
//! index, and a generation that counts the changes to them, so that a
//! run's native tail calls can keep a copy of the slots and still see
//! every change as soon as it is made (see `jit::tail`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::interpreter::Interpreter;
use crate::maps::lock::{read, write};

/// A slot: the id lookups report, and the program.
type ProgramSlot = Option<(u32, Arc<Interpreter>)>;

#[derive(Debug)]
pub(crate) struct ProgramArray {
    slots: RwLock<Vec<ProgramSlot>>,
    /// Bumped, under the write lock, by every change to `slots`.
    generation: AtomicU64,
}

/// The programs of an array as they were at one generation.
#[cfg_attr(not(native_jit), allow(dead_code))] // for native code
pub(crate) struct ProgramsAt {
    pub(crate) generation: u64,
    pub(crate) programs: Vec<Option<Arc<Interpreter>>>,
}

impl ProgramArray {
    pub(crate) fn new(len: u32) -> ProgramArray {
        ProgramArray {
            slots: RwLock::new(vec![None; len as usize]),
            generation: AtomicU64::new(0),
        }
    }

    /// Puts `program` (`id` for lookups) at `index`; `false` past the end.
    pub(crate) fn set(&self, index: u32, id: u32, program: Arc<Interpreter>) -> bool {
        let mut slots = write(&self.slots);
        let Some(slot) = slots.get_mut(index as usize) else {
            return false;
        };
        *slot = Some((id, program));
        self.generation.fetch_add(1, Ordering::Release);
        true
    }

    /// Empties the slot at `index`: `None` past the end, `Some(false)` when
    /// it was empty.
    pub(crate) fn clear(&self, index: u32) -> Option<bool> {
        let mut slots = write(&self.slots);
        let taken = slots.get_mut(index as usize)?.take();
        self.generation.fetch_add(1, Ordering::Release);
        Some(taken.is_some())
    }

    /// The program at `index`.
    pub(crate) fn program(&self, index: u32) -> Option<Arc<Interpreter>> {
        let slots = read(&self.slots);
        slots.get(index as usize)?.as_ref().map(|(_, p)| p.clone())
    }

    /// The id lookups report for the program at `index`.
    pub(crate) fn id(&self, index: u32) -> Option<u32> {
        let slots = read(&self.slots);
        slots.get(index as usize)?.as_ref().map(|(id, _)| *id)
    }

    /// Every slot's program, with the generation they are of.
    #[cfg_attr(not(native_jit), allow(dead_code))] // for native code
    pub(crate) fn programs(&self) -> ProgramsAt {
        let slots = read(&self.slots);
        ProgramsAt {
            generation: self.generation.load(Ordering::Acquire),
            programs: slots
                .iter()
                .map(|s| s.as_ref().map(|(_, p)| p.clone()))
                .collect(),
        }
    }

    /// How many changes the slots have seen.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Where the generation is, for native code to read (an aligned
    /// 8-byte load is atomic on x86-64); valid while the array lives.
    pub(crate) fn generation_ptr(&self) -> *const u64 {
        self.generation.as_ptr().cast_const()
    }
}
