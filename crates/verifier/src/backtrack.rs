//! Precision along explored paths, as the kernel's `mark_chain_precision`
//! keeps it: a stored state prunes a later one that differs from it only
//! in scalars whose values its own exploration never decided anything on.
//!
//! [`crate::precision`] finds, before the walk, the values that may matter
//! on *some* path; this module records what did matter on the paths that
//! were walked. When a decision reads a scalar (a branch that went one way
//! only, a number added to a pointer, a helper's argument, the exit value),
//! or a path is pruned by a state that needed some values, those values
//! are marked, and the marks are carried back through the instructions of
//! the current path to every stored state on it: what `r3` holds at a
//! store to `fp-8` matters if `fp-8` does afterwards, and so on.

use crate::cfg::{ARGS, CALL_CLOBBERS, bit};
use crate::state::{MAX_FRAMES, STACK_SIZE};
use visor_isa::{AluOp, AtomicOp, CallTarget, Insn, Reg, Source};

/// The values of one frame that a decision depended on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameMarks {
    /// One bit per register.
    pub regs: u16,
    /// One bit per 8-byte stack slot (bit `i`: bytes `8i..8i + 8`).
    pub slots: u64,
}

/// Marks for every frame, by depth.
pub type Marks = [FrameMarks; MAX_FRAMES];

/// Every register and slot of every frame.
pub const ALL: Marks = [FrameMarks {
    regs: u16::MAX,
    slots: u64::MAX,
}; MAX_FRAMES];

/// One executed instruction of the current path, with what backtracking
/// cannot read from the instruction itself.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub pc: u32,
    /// The depth of the frame it ran in.
    pub depth: u8,
    /// The stack bytes a load or store touched at a constant offset:
    /// `(frame, first byte, length)`.
    pub stack: Option<(u8, u16, u8)>,
}

/// Whether `marks` adds anything to `into`, which it then includes.
pub fn merge(into: &mut Marks, marks: &Marks) -> bool {
    let mut grew = false;
    for (a, b) in into.iter_mut().zip(marks) {
        let (regs, slots) = (a.regs | b.regs, a.slots | b.slots);
        grew |= (regs, slots) != (a.regs, a.slots);
        (a.regs, a.slots) = (regs, slots);
    }
    grew
}

pub fn is_empty(marks: &Marks) -> bool {
    marks.iter().all(|m| m.regs == 0 && m.slots == 0)
}

/// The slots covering `len` bytes from byte `index` of a frame.
pub fn slots(index: usize, len: usize) -> u64 {
    let last = (index + len).min(STACK_SIZE).div_ceil(8);
    (index / 8..last).fold(0, |acc, s| acc | 1 << s)
}

/// The marks before `insn` ran (as `step`), given the marks after it.
pub fn before(insn: &Insn, step: &Step, mut marks: Marks) -> Marks {
    let depth = usize::from(step.depth);
    let frame = &mut marks[depth];
    let marked = |frame: &FrameMarks, reg: Reg| frame.regs & bit(reg) != 0;
    match *insn {
        Insn::Alu {
            op: AluOp::Mov | AluOp::Movsx(_),
            dst,
            src,
            ..
        } => {
            if marked(frame, dst) {
                frame.regs &= !bit(dst);
                if let Source::Reg(src) = src {
                    frame.regs |= bit(src);
                }
            }
        }
        Insn::Alu {
            dst,
            src: Source::Reg(src),
            ..
        } => {
            if marked(frame, dst) {
                frame.regs |= bit(src);
            }
        }
        Insn::Alu { .. } | Insn::Neg { .. } | Insn::Endian { .. } | Insn::Ja { .. } => {}
        // A comparison refines both sides from each other.
        Insn::Jump {
            dst,
            src: Source::Reg(src),
            ..
        } => {
            if marked(frame, dst) || marked(frame, src) {
                frame.regs |= bit(dst) | bit(src);
            }
        }
        Insn::Jump { .. } => {}
        Insn::LoadImm64 { dst, .. } => frame.regs &= !bit(dst),
        Insn::Load { dst, .. } => {
            if marked(frame, dst) {
                frame.regs &= !bit(dst);
                if let Some((f, index, len)) = step.stack {
                    marks[usize::from(f)].slots |= slots(usize::from(index), usize::from(len));
                }
            }
        }
        Insn::Store { src, size, .. } => {
            if let Some((f, index, len)) = step.stack {
                let (index, len) = (usize::from(index), usize::from(len));
                let touched = slots(index, len);
                let target = &mut marks[usize::from(f)];
                if target.slots & touched != 0 {
                    if len == 8 && index.is_multiple_of(8) && size.bytes() == 8 {
                        target.slots &= !touched;
                    }
                    if let Source::Reg(src) = src {
                        marks[depth].regs |= bit(src);
                    }
                }
            }
        }
        // What an atomic fetches is unknown to the verifier.
        Insn::Atomic { op, src, .. } => {
            let fetched = if op == AtomicOp::Cmpxchg {
                Reg::R0
            } else {
                src
            };
            frame.regs &= !bit(fetched);
        }
        Insn::LoadPacket { .. } | Insn::CallReg(_) => frame.regs &= !CALL_CLOBBERS,
        Insn::Call(CallTarget::Local(_)) => {
            // The callee's arguments are the caller's r1..r5; its frame
            // is new.
            if let Some(callee) = marks.get_mut(depth + 1) {
                let callee = std::mem::take(callee);
                marks[depth].regs |= callee.regs & ARGS;
            }
        }
        Insn::Call(_) => frame.regs &= !CALL_CLOBBERS,
        // Returning to the caller at depth - 1: its r0 is the callee's,
        // its r1..r5 are gone; the callee's frame ends here.
        Insn::Exit if depth > 0 => {
            let caller = &mut marks[depth - 1];
            let r0 = caller.regs & 1;
            caller.regs &= !CALL_CLOBBERS;
            marks[depth] = FrameMarks { regs: r0, slots: 0 };
        }
        Insn::Exit => {}
    }
    marks
}
