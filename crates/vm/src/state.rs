//! The machine state of one run besides memory: registers and the frames
//! of local calls.

use core::ops::{Index, IndexMut};

use visor_isa::Reg;

use crate::layout::MAX_FRAMES;

/// r0 to r10, in a plain array.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Registers([u64; 16]);

// A `Reg` is below 11, so masking to the array's 16 entries never changes
// the index; it only lets the compiler drop the bounds check.
const REG_MASK: usize = 0xf;

impl Index<Reg> for Registers {
    type Output = u64;

    fn index(&self, reg: Reg) -> &u64 {
        &self.0[reg.index() & REG_MASK]
    }
}

impl IndexMut<Reg> for Registers {
    fn index_mut(&mut self, reg: Reg) -> &mut u64 {
        &mut self.0[reg.index() & REG_MASK]
    }
}

/// Registers a local call preserves for its caller: r6 to r9, and the
/// frame pointer.
const CALLEE_SAVED: [Reg; 5] = [Reg::R6, Reg::R7, Reg::R8, Reg::R9, Reg::R10];

/// What a caller's frame needs back when its callee exits.
#[derive(Clone, Copy, Debug, Default)]
struct SavedFrame {
    return_pc: usize,
    callee_saved: [u64; CALLEE_SAVED.len()],
}

/// The frames of local calls; depth 0 is the main program.
#[derive(Debug, Default)]
pub(crate) struct CallStack {
    /// `saved[d]`: frame `d` as it was when it called frame `d + 1`.
    saved: [SavedFrame; MAX_FRAMES - 1],
    depth: usize,
}

impl CallStack {
    /// Saves the caller's state and enters a new frame; returns the new
    /// depth, or `None` when `MAX_FRAMES` are already live.
    pub(crate) fn push(&mut self, return_pc: usize, regs: &Registers) -> Option<usize> {
        let slot = self.saved.get_mut(self.depth)?;
        *slot = SavedFrame {
            return_pc,
            callee_saved: CALLEE_SAVED.map(|reg| regs[reg]),
        };
        self.depth += 1;
        Some(self.depth)
    }

    /// Back to the main program. The saved frames stay as they are: each
    /// is written when its frame is pushed before anything reads it.
    pub(crate) fn clear(&mut self) {
        self.depth = 0;
    }

    /// The current call depth, 0 in the main program.
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// Leaves the current frame, restoring the caller's saved registers;
    /// returns the depth that ended and where the caller resumes, or `None`
    /// in the main program.
    pub(crate) fn pop(&mut self, regs: &mut Registers) -> Option<(usize, usize)> {
        let ended = self.depth;
        let caller = ended.checked_sub(1)?;
        let saved = self.saved.get(caller)?;
        for (reg, value) in CALLEE_SAVED.into_iter().zip(saved.callee_saved) {
            regs[reg] = value;
        }
        self.depth = caller;
        Some((ended, saved.return_pc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_nest_to_the_frame_limit_and_restore() {
        let mut regs = Registers::default();
        let mut calls = CallStack::default();
        regs[Reg::R6] = 6;
        regs[Reg::R10] = 10;
        for depth in 1..MAX_FRAMES {
            assert_eq!(calls.push(depth * 100, &regs), Some(depth));
            regs[Reg::R6] = 0;
            regs[Reg::R10] = 0;
        }
        assert_eq!(
            calls.push(0, &regs),
            None,
            "an eighth call would be the ninth frame"
        );
        assert_eq!(calls.pop(&mut regs), Some((7, 700)));
        assert_eq!(regs[Reg::R6], 0);
        for depth in (1..MAX_FRAMES - 1).rev() {
            assert_eq!(calls.pop(&mut regs), Some((depth, depth * 100)));
        }
        assert_eq!((regs[Reg::R6], regs[Reg::R10]), (6, 10));
        assert_eq!(calls.pop(&mut regs), None);
    }
}
