//! Which values' exact contents may still matter, at each instruction: the
//! kernel's precision marks, computed once over all paths instead of
//! backtracked along each.
//!
//! A scalar matters when it may reach a branch condition, an address,
//! pointer arithmetic, a helper's argument or the exit value, directly or
//! through the registers and stack slots it is copied and computed into.
//! The abstract interpreter forgets, at prune points, the values of the
//! scalars that do not matter (they become unknown), so that states that
//! differ only there prune each other; that is sound because no decision
//! on any path from there reads them.
//!
//! Stack slots are told apart only in the function's own frame and only
//! through addresses that are the frame pointer plus a constant, which a
//! forward pass finds first ([`Place`]); a value stored anywhere else that
//! might be a stack (a caller's frame, a variable offset) always matters.

use crate::backtrack;
use crate::cfg::{ARGS, CALL_CLOBBERS, Cfg, bit, source_bit};
use crate::state::{Pointer, PtrKind, STACK_SIZE, State, Value};
use visor_isa::{AluOp, AtomicOp, CallTarget, Insn, PacketOffset, Reg, Source, Width};

/// Slots of one frame, one bit per 8 bytes (bit `i`: `fp-512 + 8i`).
pub type Slots = u64;

const SLOTS: usize = STACK_SIZE / 8;
const ALL_SLOTS: Slots = Slots::MAX;

/// What matters on entry to each instruction.
#[derive(Clone, Debug, Default)]
pub struct Precision {
    /// Registers, one bit per register.
    pub regs: Vec<u16>,
    /// Slots of the function's own frame.
    pub slots: Vec<Slots>,
    /// Slots of the own frame that may be read later at all (their
    /// contents, written or not, matter); the others can be forgotten.
    pub live_slots: Vec<Slots>,
}

impl Precision {
    /// The precision of `cfg`'s program run from `entry`.
    pub fn compute(cfg: &Cfg, entry: &State) -> Precision {
        let places = places(cfg, entry);
        let len = cfg.insns.len();
        let mut regs = vec![0u16; len];
        let mut slots = vec![0 as Slots; len];
        let mut live_slots = vec![0 as Slots; len];
        let mut changed = true;
        while changed {
            changed = false;
            for pc in (0..len).rev() {
                let Some(insn) = cfg.insns[pc] else { continue };
                let mut after = Needs::default();
                let mut live_after = 0;
                for s in cfg.successors(pc) {
                    after.regs |= regs[s];
                    after.slots |= slots[s];
                    live_after |= live_slots[s];
                }
                let before = needs_before(&insn, after, &places[pc]);
                let live = live_slots_before(&insn, live_after, &places[pc]);
                if (regs[pc], slots[pc], live_slots[pc]) != (before.regs, before.slots, live) {
                    (regs[pc], slots[pc], live_slots[pc]) = (before.regs, before.slots, live);
                    changed = true;
                }
            }
        }
        Precision {
            regs,
            slots,
            live_slots,
        }
    }
}

/// Where a register or a spilled slot may point, as far as the own frame
/// is concerned. `Unreached` is the bottom of the order, `AnyStack` the top.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Place {
    #[default]
    Unreached,
    /// Not an address in any stack: a number, or a pointer elsewhere.
    NotStack,
    /// The own frame pointer plus this constant.
    Frame(i16),
    /// Possibly an address in some stack (a caller's, a variable offset).
    AnyStack,
}

impl Place {
    fn join(self, other: Place) -> Place {
        match (self, other) {
            (Place::Unreached, x) | (x, Place::Unreached) => x,
            (x, y) if x == y => x,
            _ => Place::AnyStack,
        }
    }

    fn frame(off: i64) -> Place {
        match i16::try_from(off) {
            Ok(off) if off.unsigned_abs() as usize <= STACK_SIZE => Place::Frame(off),
            _ => Place::AnyStack,
        }
    }

    fn may_be_stack(self) -> bool {
        matches!(self, Place::Frame(_) | Place::AnyStack)
    }

    /// The own frame's slots that `size` bytes at `off` from here touch.
    fn slots(self, off: i64, size: u64) -> Slots {
        match self {
            Place::Frame(base) => {
                // Clipped to the frame: what lies outside is rejected.
                let start = i64::from(base) + off + STACK_SIZE as i64;
                let end = start + size as i64;
                let from = start.clamp(0, STACK_SIZE as i64);
                backtrack::slots(from as usize, (end - from).max(0) as usize)
            }
            Place::AnyStack => ALL_SLOTS,
            Place::Unreached | Place::NotStack => 0,
        }
    }

    /// The aligned slot `off` from here, when that is exactly one slot.
    fn slot(self, off: i64) -> Option<usize> {
        let Place::Frame(base) = self else {
            return None;
        };
        let index = i64::from(base) + off + STACK_SIZE as i64;
        (index >= 0 && index % 8 == 0 && (index as usize) < STACK_SIZE)
            .then_some(index as usize / 8)
    }
}

/// The places of all registers and own slots on entry to an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Places {
    regs: [Place; Reg::COUNT],
    slots: [Place; SLOTS],
}

impl Places {
    const UNREACHED: Places = Places {
        regs: [Place::Unreached; Reg::COUNT],
        slots: [Place::Unreached; SLOTS],
    };

    /// The main program's entry: where `entry`'s values point (a program
    /// normally starts with its context in r1, but a test's pre-state may
    /// hand it stack addresses anywhere).
    fn main_entry(entry: &State) -> Places {
        let stack = |value: &Value| match value {
            Value::Ptr(Pointer {
                kind: PtrKind::Stack { .. },
                ..
            }) => Place::AnyStack,
            _ => Place::NotStack,
        };
        let mut places = Places::UNREACHED;
        let mut spilled = Place::NotStack;
        for frame in &entry.frames {
            for (place, value) in places.regs.iter_mut().zip(&frame.regs) {
                *place = place.join(stack(value));
            }
            for value in frame.stack.spilled_values() {
                spilled = spilled.join(stack(value));
            }
        }
        places.slots = [spilled; SLOTS];
        places.regs[Reg::R10.index()] = Place::Frame(0);
        places
    }

    /// A subprogram's entry: arguments that may point into its callers'
    /// frames.
    fn subprogram_entry() -> Places {
        let mut regs = [Place::NotStack; Reg::COUNT];
        for reg in &mut regs[1..=5] {
            *reg = Place::AnyStack;
        }
        regs[Reg::R10.index()] = Place::Frame(0);
        Places {
            regs,
            slots: [Place::NotStack; SLOTS],
        }
    }

    fn join(&mut self, other: &Places) -> bool {
        let before = *self;
        for (a, b) in self.regs.iter_mut().zip(&other.regs) {
            *a = a.join(*b);
        }
        for (a, b) in self.slots.iter_mut().zip(&other.slots) {
            *a = a.join(*b);
        }
        *self != before
    }

    fn reg(&self, reg: Reg) -> Place {
        self.regs[reg.index()]
    }

    fn set(&mut self, reg: Reg, place: Place) {
        self.regs[reg.index()] = place;
    }

    /// A store of `value` to `size` bytes at `off` from `base`.
    fn store(&mut self, base: Place, off: i64, size: u64, value: Place) {
        if let (Some(slot), 8) = (base.slot(off), size) {
            self.slots[slot] = value;
            return;
        }
        let touched = base.slots(off, size);
        for (slot, place) in self.slots.iter_mut().enumerate() {
            if touched & (1 << slot) == 0 {
                continue;
            }
            // A partial write breaks a spill into plain bytes; a write
            // through an unknown stack address may or may not land here.
            *place = match base {
                Place::AnyStack => place.join(value).join(Place::NotStack),
                _ => Place::NotStack,
            };
        }
    }

    /// The places after `insn`.
    fn step(&self, insn: &Insn) -> Places {
        let mut next = *self;
        match *insn {
            Insn::Alu {
                op: AluOp::Mov,
                width: Width::W64,
                dst,
                src: Source::Reg(src),
            } => next.set(dst, self.reg(src)),
            Insn::Alu {
                op: op @ (AluOp::Add | AluOp::Sub),
                width: Width::W64,
                dst,
                src,
            } => {
                let place = match (self.reg(dst), src) {
                    (Place::Frame(base), Source::Imm(imm)) => {
                        let imm = i64::from(imm);
                        Place::frame(i64::from(base) + if op == AluOp::Add { imm } else { -imm })
                    }
                    (place, Source::Imm(_)) => place,
                    (place, Source::Reg(src))
                        if place.may_be_stack() || self.reg(src).may_be_stack() =>
                    {
                        Place::AnyStack
                    }
                    _ => Place::NotStack,
                };
                next.set(dst, place);
            }
            Insn::Alu { dst, .. } | Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => {
                next.set(dst, Place::NotStack)
            }
            Insn::LoadImm64 { dst, .. } => next.set(dst, Place::NotStack),
            Insn::Load {
                dst,
                src,
                off,
                size,
                signed,
            } => {
                let base = self.reg(src);
                let off = i64::from(off);
                let place = match (base.slot(off), size.bytes(), signed) {
                    (Some(slot), 8, false) => self.slots[slot],
                    (None, 8, false) if base.may_be_stack() => Place::AnyStack,
                    _ => Place::NotStack,
                };
                next.set(dst, place);
            }
            Insn::Store {
                dst,
                src,
                off,
                size,
            } => {
                let value = match src {
                    Source::Reg(src) => self.reg(src),
                    Source::Imm(_) => Place::NotStack,
                };
                next.store(self.reg(dst), i64::from(off), size.bytes() as u64, value);
            }
            Insn::Atomic {
                op,
                dst,
                src,
                off,
                size,
            } => {
                // Atomics leave numbers in memory and in the fetched register.
                next.store(
                    self.reg(dst),
                    i64::from(off),
                    size.bytes() as u64,
                    Place::NotStack,
                );
                if op == AtomicOp::Cmpxchg {
                    next.set(Reg::R0, Place::NotStack);
                } else {
                    next.set(src, Place::NotStack);
                }
            }
            Insn::LoadPacket { .. } | Insn::Call(_) | Insn::CallReg(_) => {
                let local = matches!(insn, Insn::Call(CallTarget::Local(_)));
                let passes_stack = (1..=5).any(|r| self.regs[r].may_be_stack());
                for reg in &mut next.regs[..=5] {
                    *reg = Place::NotStack;
                }
                // A subprogram may return, or store into its caller's
                // frame, addresses of that frame.
                if local {
                    next.set(Reg::R0, Place::AnyStack);
                    if passes_stack {
                        next.slots = [Place::AnyStack; SLOTS];
                    }
                }
            }
            Insn::Jump { .. } | Insn::Ja { .. } | Insn::Exit => {}
        }
        next
    }
}

/// The places on entry to every instruction, function by function.
fn places(cfg: &Cfg, entry: &State) -> Vec<Places> {
    let mut places = vec![Places::UNREACHED; cfg.insns.len()];
    for (index, function) in cfg.functions.iter().enumerate() {
        places[function.start] = match index {
            0 => Places::main_entry(entry),
            _ => Places::subprogram_entry(),
        };
        let mut work = vec![function.start];
        while let Some(pc) = work.pop() {
            let Some(insn) = cfg.insns[pc] else { continue };
            let next = places[pc].step(&insn);
            for s in cfg.successors(pc) {
                if places[s].join(&next) {
                    work.push(s);
                }
            }
        }
    }
    places
}

/// What matters after or before one instruction.
#[derive(Clone, Copy, Debug, Default)]
struct Needs {
    regs: u16,
    slots: Slots,
}

impl Needs {
    fn has(&self, reg: Reg) -> bool {
        self.regs & bit(reg) != 0
    }
}

/// What matters before `insn`, given what matters after it and where the
/// registers point on entry to it.
fn needs_before(insn: &Insn, after: Needs, at: &Places) -> Needs {
    let mut before = after;
    match *insn {
        Insn::Alu {
            op: AluOp::Mov | AluOp::Movsx(_),
            dst,
            src,
            ..
        } => {
            before.regs &= !bit(dst);
            if after.has(dst) {
                before.regs |= source_bit(src);
            }
        }
        // Either operand may be a pointer, whose offset range then comes
        // from the other one: the kernel marks that scalar precise too.
        Insn::Alu {
            op: AluOp::Add | AluOp::Sub,
            dst,
            src: Source::Reg(src),
            ..
        } => before.regs |= bit(dst) | bit(src),
        Insn::Alu { dst, src, .. } => {
            if after.has(dst) {
                before.regs |= source_bit(src);
            }
        }
        Insn::Neg { .. } | Insn::Endian { .. } | Insn::Ja { .. } => {}
        Insn::LoadImm64 { dst, .. } => before.regs &= !bit(dst),
        Insn::Load {
            dst,
            src,
            off,
            size,
            ..
        } => {
            before.regs = (before.regs & !bit(dst)) | bit(src);
            if after.has(dst) {
                before.slots |= at.reg(src).slots(i64::from(off), size.bytes() as u64);
            }
        }
        Insn::Store {
            dst,
            src,
            off,
            size,
        } => {
            let base = at.reg(dst);
            let (off, size) = (i64::from(off), size.bytes() as u64);
            let touched = base.slots(off, size);
            // Values stored where a caller's frame may be always matter:
            // only the own frame's slots are told apart.
            if base == Place::AnyStack || touched & after.slots != 0 {
                before.regs |= source_bit(src);
            }
            if let (Some(slot), 8) = (base.slot(off), size) {
                before.slots &= !(1 << slot);
            }
            before.regs |= bit(dst);
        }
        // The fetched value is unknown to the verifier: nothing flows back.
        Insn::Atomic { op, dst, src, .. } => {
            let r0 = if op == AtomicOp::Cmpxchg {
                bit(Reg::R0)
            } else {
                0
            };
            before.regs |= bit(dst) | bit(src) | r0;
        }
        Insn::LoadPacket { offset, .. } => {
            let index = match offset {
                PacketOffset::Ind(r) => bit(r),
                PacketOffset::Abs => 0,
            };
            before.regs = (before.regs & !CALL_CLOBBERS) | bit(Reg::R6) | index;
        }
        Insn::Jump { dst, src, .. } => before.regs |= bit(dst) | source_bit(src),
        Insn::Call(target) => {
            before.regs = (before.regs & !CALL_CLOBBERS) | ARGS;
            before.slots |= read_by_call(matches!(target, CallTarget::Local(_)), at);
        }
        Insn::CallReg(reg) => {
            before.regs = (before.regs & !CALL_CLOBBERS) | ARGS | bit(reg);
            before.slots |= read_by_call(false, at);
        }
        Insn::Exit => {
            before = Needs {
                regs: bit(Reg::R0),
                slots: 0,
            }
        }
    }
    before
}

/// The own slots that may be read at or after `insn`, given those that may
/// be read after it: loads read theirs, helpers all from each stack
/// address they are given up to the frame pointer (sizes are not known
/// here), subprograms the whole frame, and a whole 8-byte store starts a
/// slot afresh.
fn live_slots_before(insn: &Insn, after: Slots, at: &Places) -> Slots {
    let reads_from = |place: Place| match place {
        Place::Frame(off) => place.slots(0, u64::from(off.unsigned_abs())),
        other => other.slots(0, 1),
    };
    match *insn {
        Insn::Load { src, off, size, .. } => {
            after | at.reg(src).slots(i64::from(off), size.bytes() as u64)
        }
        Insn::Atomic { dst, off, size, .. } => {
            after | at.reg(dst).slots(i64::from(off), size.bytes() as u64)
        }
        Insn::Store { dst, off, size, .. } => {
            match (at.reg(dst).slot(i64::from(off)), size.bytes()) {
                (Some(slot), 8) => after & !(1 << slot),
                _ => after,
            }
        }
        // A subprogram may read below the addresses it is given, too.
        Insn::Call(CallTarget::Local(_)) if at.regs[1..=5].iter().any(|p| p.may_be_stack()) => {
            ALL_SLOTS
        }
        Insn::Call(_) | Insn::CallReg(_) => at.regs[1..=5]
            .iter()
            .fold(after, |acc, &p| acc | reads_from(p)),
        Insn::Exit => 0,
        _ => after,
    }
}

/// Own slots whose values a call may decide on: a subprogram may read all
/// it is given addresses of; a helper only reads values for an array map's
/// key (which must be in range), at most 8 bytes at each argument.
fn read_by_call(local: bool, at: &Places) -> Slots {
    let args = &at.regs[1..=5];
    if local {
        return if args.iter().any(|p| p.may_be_stack()) {
            ALL_SLOTS
        } else {
            0
        };
    }
    args.iter().fold(0, |acc, p| acc | p.slots(0, 8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use visor_isa::asm::{Syntax, assemble};

    fn precision(text: &str) -> Precision {
        let entry = State::entry();
        Cfg::build(&assemble(text, Syntax::Llvm).unwrap(), &entry)
            .unwrap()
            .precision
    }

    fn precise(p: &Precision, pc: usize, reg: usize) -> bool {
        p.regs[pc] & (1 << reg) != 0
    }

    #[test]
    fn values_matter_where_they_reach_a_decision() {
        let p = precision(
            "r2 = 1\nr3 = 2\nr4 = r3\nr4 *= 7\nr5 = r3\n*(u64 *)(r1 + 0) = r5\nif r2 > 0 goto +0\nr0 = 0\nexit",
        );
        assert!(precise(&p, 1, 2) && precise(&p, 6, 2));
        // r4 is computed and dropped; r5 goes to memory that is no stack.
        assert!(!precise(&p, 3, 4) && !precise(&p, 3, 3) && !precise(&p, 5, 5));
        assert!(precise(&p, 5, 1) && !precise(&p, 7, 2) && precise(&p, 8, 0));
    }

    #[test]
    fn stack_slots_matter_when_read_back_into_a_decision() {
        let p = precision(
            "r2 = 5\n*(u64 *)(r10 - 8) = r2\nr3 = 6\n*(u64 *)(r10 - 16) = r3\nr4 = *(u64 *)(r10 - 8)\nif r4 > 0 goto +0\nr0 = 0\nexit",
        );
        let slot = |off: usize| 1u64 << ((STACK_SIZE - off) / 8);
        // fp-8 is read into a branch; fp-16 is never read.
        assert!(precise(&p, 1, 2) && !precise(&p, 3, 3));
        assert!(p.slots[4] & slot(8) != 0 && p.slots[4] & slot(16) == 0);
        // Before the store to fp-8, its old contents do not matter.
        assert!(p.slots[1] & slot(8) == 0);
    }

    #[test]
    fn stores_through_unknown_stack_addresses_always_matter() {
        let p = precision("r3 = 1\nr2 = r10\nr2 += r1\n*(u64 *)(r2 - 8) = r3\nr0 = 0\nexit");
        assert!(precise(&p, 3, 3));
        let p = precision("call pc+2\nr0 = 0\nexit\nr3 = 1\n*(u64 *)(r1 + 0) = r3\nr0 = 0\nexit");
        assert!(precise(&p, 4, 3));
    }
}
