//! The plan of a lean body, which needs no host: whether a program is a
//! *leaf* (see `lean`), what its body must set up, and the proof that
//! lets it reach its input buffer unchecked. Kept apart from the code
//! generator so that the interpreter can hold a program's proof on any
//! host.

use visor_isa::{Program, Reg, Size, Source};
use visor_verifier::state::State;
use visor_verifier::{Pointers, VerifyEnv};

use crate::layout::STACK_FRAME_SIZE;
use crate::lower::{Op, register_bit};

/// What a lean body reaches besides its own frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LeanMemory {
    #[default]
    Nothing,
    /// The packet of `LD_ABS`/`LD_IND`.
    Packet,
    /// The input buffer, through pointers; `writes` when some of the
    /// accesses are stores.
    Buffer { writes: bool },
}

/// The slots of a program whose loads and stores visor-verifier proved
/// inside the input buffer, for runs where r1 is the buffer's address and
/// r2 its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BufferProof {
    /// Sorted.
    slots: Vec<usize>,
}

/// Instructions the verifier may interpret over all paths before a proof
/// is given up (the kernel's limit is a million; a JIT should not wait
/// that long, and a program that needs more runs checked).
const PROOF_BUDGET: u64 = 100_000;

impl BufferProof {
    /// The proof for `program` (lowered to `code`), when it would be a
    /// leaf program if its accesses through pointers were proven and the
    /// verifier accepts it as a buffer program; `None` otherwise, without
    /// running the verifier on programs that could not use a proof.
    pub(crate) fn of(program: &Program, code: &[Op]) -> Option<BufferProof> {
        // Only the JIT uses a proof.
        if !cfg!(native_jit) {
            return None;
        }
        let candidate = LeanPlan::of(code, |_| true)?;
        if !matches!(candidate.memory, LeanMemory::Buffer { .. }) {
            return None;
        }
        let env = VerifyEnv {
            // Memory safety is what matters here: what a program does with
            // pointers, or whether it ends, is its own business.
            pointers: Pointers::Leak,
            check_termination: false,
            budget: PROOF_BUDGET,
            ..VerifyEnv::new(None)
        };
        let entry = State::buffer_entry();
        let (verdict, _) = visor_verifier::verify_from(program, &env, entry, false);
        let reached = verdict.ok()?.reached;
        let slots = reached.into_iter().filter(|(_, r)| r.packet_only());
        Some(BufferProof {
            slots: slots.map(|(slot, _)| slot).collect(),
        })
    }

    /// The proven slots, in order.
    pub(crate) fn slots(&self) -> &[usize] {
        &self.slots
    }

    /// Whether the access at `slot` always lands inside the buffer.
    pub(crate) fn proves(&self, slot: usize) -> bool {
        self.slots.binary_search(&slot).is_ok()
    }
}

/// What the lean body's prologue must set up, found by one pass over a
/// leaf program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LeanPlan {
    /// Guest registers the program names (r0 always: `exit` reads it),
    /// one bit each ([`Op::registers`]); r10 is no value here.
    used: u16,
    /// The lowest frame offset any access reaches (0: no stack).
    pub(super) frame_low: i32,
    pub(super) memory: LeanMemory,
}

impl LeanPlan {
    /// The plan of `code`, or `None` when it is not a leaf program, where
    /// `proven(slot)` says whether the access at `slot` through a pointer
    /// is proven inside the input buffer.
    pub(super) fn of(code: &[Op], proven: impl Fn(usize) -> bool) -> Option<LeanPlan> {
        let mut plan = LeanPlan {
            used: register_bit(Reg::R0),
            frame_low: 0,
            memory: LeanMemory::Nothing,
        };
        for (slot, op) in code.iter().enumerate() {
            plan.admit(op, || proven(slot))?;
        }
        Some(plan)
    }

    /// Records what `op` needs; `None` when a leaf program cannot have it.
    fn admit(&mut self, op: &Op, proven: impl Fn() -> bool) -> Option<()> {
        match *op {
            Op::Load {
                size,
                dst,
                src,
                off,
                ..
            } if dst != Reg::R10 => {
                self.access(src, size, off, false, proven)?;
            }
            Op::Store {
                size,
                dst,
                off,
                src,
            } if src != Source::Reg(Reg::R10) => {
                self.access(dst, size, off, true, proven)?;
            }
            Op::Load { .. } | Op::Store { .. } | Op::Atomic { .. } => return None,
            Op::CallHelper { .. }
            | Op::CallUnknownHelper { .. }
            | Op::CallLocal { .. }
            | Op::CallReg { .. } => return None,
            Op::LoadPacket { .. } => self.reach(LeanMemory::Packet)?,
            Op::Alu { .. }
            | Op::Neg { .. }
            | Op::Endian { .. }
            | Op::LoadImm64 { .. }
            | Op::LoadImm64Tail
            | Op::Jump { .. }
            | Op::Ja { .. }
            | Op::Exit => {}
        }
        self.used |= op.registers() & !register_bit(Reg::R10);
        // Anything else naming r10 would read or write it as a value.
        let frame_base = matches!(op, Op::Load { .. } | Op::Store { .. });
        (frame_base || !op.mentions(Reg::R10)).then_some(())
    }

    /// Records an access of `size` at `base + off`: a frame slot through
    /// r10, or the buffer where `proven`.
    fn access(
        &mut self,
        base: Reg,
        size: Size,
        off: i16,
        write: bool,
        proven: impl Fn() -> bool,
    ) -> Option<()> {
        if base == Reg::R10 {
            return self.frame_access(base, size, off);
        }
        proven().then_some(())?;
        let writes = write || self.memory == LeanMemory::Buffer { writes: true };
        self.reach(LeanMemory::Buffer { writes })
    }

    /// Records that the body reaches `memory`; `None` when it reaches
    /// the other kind too (both would need r15).
    fn reach(&mut self, memory: LeanMemory) -> Option<()> {
        let same_kind = core::mem::discriminant(&self.memory) == core::mem::discriminant(&memory);
        if self.memory != LeanMemory::Nothing && !same_kind {
            return None;
        }
        self.memory = memory;
        Some(())
    }

    /// Whether the program names `reg` as a value.
    pub(super) fn uses(&self, reg: Reg) -> bool {
        self.used & register_bit(reg) != 0
    }

    /// Records an access of `size` at `base + off`; `None` unless it has
    /// a frame slot ([`in_frame`]).
    fn frame_access(&mut self, base: Reg, size: Size, off: i16) -> Option<()> {
        (base == Reg::R10 && in_frame(size, off)).then_some(())?;
        self.frame_low = self.frame_low.min(i32::from(off));
        Some(())
    }

    /// Bytes of host stack the body reserves for frame 0.
    pub(super) fn frame_size(&self) -> i32 {
        if self.frame_low < 0 {
            STACK_FRAME_SIZE as i32
        } else {
            0
        }
    }
}

/// Whether an access of `size` at `r10 + off` lies wholly inside frame 0.
pub(super) fn in_frame(size: Size, off: i16) -> bool {
    let frame = STACK_FRAME_SIZE as i32;
    let (start, end) = (i32::from(off), i32::from(off) + size.bytes() as i32);
    start >= -frame && end <= 0
}
