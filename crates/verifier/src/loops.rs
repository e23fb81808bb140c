//! Counted loops: loops whose staying is decided by one register that
//! every lap steps by the same constant toward a constant limit. Such a
//! loop ends whatever else it does, so the walk need not unroll it to see
//! it end: at its head, a state one lap on from an earlier one on the
//! same path has the counter widened to every value it can hold there,
//! and laps coming around are pruned against it (`analyze.rs`).
//! Verifying the loop then costs the same whatever its trip count.
//!
//! The proof is syntactic, on the loop's natural body (the back edges
//! into a head that is its only entry, no loop inside): the counter is
//! written once in the body, by `+=` or `-=` of a constant; one
//! conditional jump compares it (or its low half, copied as clang copies
//! it) with a constant and leaves the body once the counter is past the
//! limit, or, stepping by one, once it equals it; both lie on every lap;
//! and the limit plus a step does not wrap at the compared width.

use visor_isa::{AluOp, Insn, JmpCond, Reg, Source, Width};

use crate::cfg::{Cfg, bit, uses_defs};
use crate::scalar::Scalar;

/// A counted loop, by its head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountedLoop {
    /// The register that counts.
    pub reg: Reg,
    /// What one lap adds to it, and at which width.
    pub step: i64,
    pub step_width: Width,
    /// The width of the counter the test compares (its low half when the
    /// test reads a 32-bit copy), and whether it compares signed.
    pub view: Width,
    pub signed: bool,
    /// The farthest value the counter reaches at the head, coming around,
    /// at the compared width.
    pub bound: i64,
    /// Instructions in the body, for the cost of running it to the end.
    pub body_len: usize,
}

impl CountedLoop {
    /// The counter's values at the head from `value` (the constant it
    /// holds on this lap) on, or `None` if it is not such a constant on
    /// the near side of the limit, or if running the laps left would
    /// take more than `budget` instructions (the kernel would not have let
    /// them run).
    pub fn widen(&self, value: &Scalar, budget: u64) -> Option<Scalar> {
        let raw = value.as_const()?;
        let now = match (self.view, self.signed) {
            (Width::W64, false) => i128::from(raw),
            (Width::W64, true) => i128::from(raw as i64),
            (Width::W32, false) => i128::from(raw as u32),
            (Width::W32, true) => i128::from(raw as u32 as i32),
        };
        // A 64-bit counter compared by its low half: only while it is it.
        if self.step_width == Width::W64 && self.view == Width::W32 && raw > u64::from(u32::MAX) {
            return None;
        }
        let bound = if self.signed {
            i128::from(self.bound)
        } else {
            i128::from(self.bound as u64)
        };
        let (lo, hi) = if self.step > 0 {
            (now, bound)
        } else {
            (bound, now)
        };
        let laps = (hi - lo) / i128::from(self.step.unsigned_abs()) + 1;
        if lo > hi || laps.saturating_mul(self.body_len as i128) > i128::from(budget) {
            return None;
        }
        match (self.step_width, self.signed) {
            (Width::W64, false) => Scalar::UNKNOWN.with_urange(lo as u64, hi as u64),
            (Width::W64, true) => Scalar::UNKNOWN.with_srange(lo as i64, hi as i64),
            (Width::W32, false) => Scalar::of_size(4).with_u32range(lo as u32, hi as u32),
            (Width::W32, true) => Scalar::of_size(4).with_s32range(lo as i32, hi as i32),
        }
    }

    /// Whether `after` is `before` one step on.
    pub fn one_step(&self, before: &Scalar, after: &Scalar) -> bool {
        let (Some(a), Some(b)) = (before.as_const(), after.as_const()) else {
            return false;
        };
        let stepped = a.wrapping_add(self.step as u64);
        match self.step_width {
            Width::W64 => stepped == b,
            Width::W32 => stepped as u32 == b as u32,
        }
    }
}

/// The counted loops of `cfg`, by head slot, and for each slot the head
/// of the counted loop whose body holds it.
pub fn find(cfg: &Cfg) -> (Vec<Option<CountedLoop>>, Vec<Option<usize>>) {
    let len = cfg.insns.len();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); len];
    for pc in 0..len {
        for next in cfg.successors(pc) {
            preds[next].push(pc);
        }
    }
    let back = back_edges(cfg);
    let (mut counted, mut within) = (vec![None; len], vec![None; len]);
    for (head, slot) in counted.iter_mut().enumerate() {
        let latches: Vec<usize> = back.iter().filter(|e| e.1 == head).map(|e| e.0).collect();
        if latches.is_empty() {
            continue;
        }
        let Some(found) = Loop::new(cfg, &preds, &back, head, latches) else {
            continue;
        };
        *slot = found.counted();
        if slot.is_some() {
            // Counted loops hold no loop, so no slot is in two bodies.
            for &pc in &found.body {
                within[pc] = Some(head);
            }
        }
    }
    (counted, within)
}

/// The edges `(from, to)` that close a cycle in a depth-first walk of
/// each function from its start: `to` is still being walked. In code
/// compiled from structured loops, `to` is the loop's head, whatever its
/// place in the code (clang often enters a loop in its middle).
fn back_edges(cfg: &Cfg) -> Vec<(usize, usize)> {
    let len = cfg.insns.len();
    let (mut walking, mut done) = (vec![false; len], vec![false; len]);
    let mut back = Vec::new();
    for function in &cfg.functions {
        let mut stack = vec![(function.start, cfg.successors(function.start))];
        walking[function.start] = true;
        while let Some((pc, next)) = stack.last_mut() {
            let pc = *pc;
            match next.pop() {
                Some(to) if walking[to] => back.push((pc, to)),
                Some(to) if !done[to] => {
                    walking[to] = true;
                    stack.push((to, cfg.successors(to)));
                }
                Some(_) => {}
                None => {
                    walking[pc] = false;
                    done[pc] = true;
                    stack.pop();
                }
            }
        }
    }
    back
}

/// A natural loop: its head, the sources of its back edges, its slots.
struct Loop<'a> {
    cfg: &'a Cfg,
    preds: &'a [Vec<usize>],
    back: &'a [(usize, usize)],
    head: usize,
    latches: Vec<usize>,
    /// Sorted; the head first.
    body: Vec<usize>,
}

impl<'a> Loop<'a> {
    /// The loop the back edges `latches -> head` close, if the head is its
    /// only entry and no loop lies inside it.
    fn new(
        cfg: &'a Cfg,
        preds: &'a [Vec<usize>],
        back: &'a [(usize, usize)],
        head: usize,
        latches: Vec<usize>,
    ) -> Option<Self> {
        let mut body = vec![head];
        let mut work = latches.clone();
        while let Some(pc) = work.pop() {
            if !body.contains(&pc) {
                body.push(pc);
                work.extend(preds[pc].iter().copied());
            }
        }
        body.sort_unstable();
        let this = Loop {
            cfg,
            preds,
            back,
            head,
            latches,
            body,
        };
        let single_entry = this
            .body
            .iter()
            .all(|&pc| pc == head || preds[pc].iter().all(|&p| this.inside(p)));
        let nested = this
            .back
            .iter()
            .any(|&(from, to)| this.inside(from) && to != head);
        (single_entry && !nested).then_some(this)
    }

    fn inside(&self, pc: usize) -> bool {
        self.body.binary_search(&pc).is_ok()
    }

    /// Whether every lap passes `pc`.
    fn on_every_lap(&self, pc: usize) -> bool {
        pc == self.head
            || self
                .latches
                .iter()
                .all(|&latch| !self.reaches(self.head, latch, Some(pc)))
    }

    /// Whether `to` can be reached from `from` within one lap, not
    /// through `avoid`.
    fn reaches(&self, from: usize, to: usize, avoid: Option<usize>) -> bool {
        let mut seen = vec![from];
        let mut work = vec![from];
        while let Some(pc) = work.pop() {
            if pc == to {
                return true;
            }
            for next in self.cfg.successors(pc) {
                let fresh = next != self.head && Some(next) != avoid && !seen.contains(&next);
                if fresh && self.inside(next) {
                    seen.push(next);
                    work.push(next);
                }
            }
        }
        false
    }

    fn counted(&self) -> Option<CountedLoop> {
        self.body.iter().find_map(|&at| {
            let (reg, step, step_width) = step_of(self.cfg.insns[at]?)?;
            let writes = self
                .body
                .iter()
                .filter(|&&pc| {
                    self.cfg.insns[pc].is_some_and(|insn| uses_defs(&insn).1 & bit(reg) != 0)
                })
                .count();
            if writes != 1 || !self.on_every_lap(at) {
                return None;
            }
            let test = self
                .body
                .iter()
                .find_map(|&pc| self.test(pc, reg, step_width, step))?;
            if !self.on_every_lap(test.0) {
                return None;
            }
            let (_, view, signed, last) = test;
            // Stepping after the test, the head sees one step past the limit.
            let stepped_after = self.reaches(test.0, at, None);
            let bound = if stepped_after {
                last + i128::from(step)
            } else {
                last
            };
            // No wrap: one more step from the last value that stays fits.
            let (min, max) = match (view, signed) {
                (Width::W64, false) => (0, i128::from(u64::MAX)),
                (Width::W64, true) => (i128::from(i64::MIN), i128::from(i64::MAX)),
                (Width::W32, false) => (0, i128::from(u32::MAX)),
                (Width::W32, true) => (i128::from(i32::MIN), i128::from(i32::MAX)),
            };
            let past = last + i128::from(step);
            let fits = (min..=max).contains(&last) && (min..=max).contains(&past);
            fits.then_some(CountedLoop {
                reg,
                step,
                step_width,
                view,
                signed,
                bound: bound as i64,
                body_len: self.body.len(),
            })
        })
    }

    /// The jump at `pc`, if it compares `reg` (or its low half) with a
    /// constant and leaves the loop once `reg` is past the limit in the
    /// direction of `step`: its slot, the compared width, whether it
    /// compares signed, and the last value that stays.
    fn test(
        &self,
        pc: usize,
        reg: Reg,
        step_width: Width,
        step: i64,
    ) -> Option<(usize, Width, bool, i128)> {
        let Some(Insn::Jump {
            width,
            cond,
            dst,
            src: Source::Imm(imm),
            ..
        }) = self.cfg.insns[pc]
        else {
            return None;
        };
        let view = if dst == reg {
            width
        } else {
            self.low_half_copy(pc, dst, reg)?
        };
        let [fall, taken] = self.cfg.successors(pc)[..] else {
            return None;
        };
        // The condition under which control stays in the loop.
        let stay = match (self.inside(fall), self.inside(taken)) {
            (false, true) => cond,
            (true, false) => negated(cond)?,
            _ => return None,
        };
        let signed = is_signed(stay);
        // A counter and its view of another width step alike only unsigned.
        if signed && view != step_width || step_width == Width::W32 && view == Width::W64 {
            return None;
        }
        let n = match (view, signed) {
            (Width::W64, false) => i128::from(imm as i64 as u64),
            (Width::W32, false) => i128::from(imm as u32),
            (_, true) => i128::from(imm),
        };
        let last = match (stay, step > 0) {
            (JmpCond::Lt | JmpCond::Slt, true) => n - 1,
            (JmpCond::Le | JmpCond::Sle, true) => n,
            (JmpCond::Gt | JmpCond::Sgt, false) => n + 1,
            (JmpCond::Ge | JmpCond::Sge, false) => n,
            // Stepping by one, the counter meets the limit exactly.
            (JmpCond::Ne, _) if step.abs() == 1 => n - i128::from(step),
            _ => return None,
        };
        Some((pc, view, signed, last))
    }

    /// Whether the slots before the jump at `pc` set `copy` to the low
    /// half of `reg`, as clang does (`w1 = w6`, or `r1 = r6; r1 <<= 32;
    /// r1 >>= 32`), with nothing jumping in between: then `W32`.
    fn low_half_copy(&self, pc: usize, copy: Reg, reg: Reg) -> Option<Width> {
        let insn = |at: usize| self.cfg.insns.get(at).copied().flatten();
        let straight = |from: usize| (from + 1..=pc).all(|at| self.preds[at] == [at - 1]);
        let mov = |at: usize, width: Width| {
            insn(at)
                == Some(Insn::Alu {
                    width,
                    op: AluOp::Mov,
                    dst: copy,
                    src: Source::Reg(reg),
                })
        };
        let shift = |at: usize, op: AluOp| {
            insn(at)
                == Some(Insn::Alu {
                    width: Width::W64,
                    op,
                    dst: copy,
                    src: Source::Imm(32),
                })
        };
        let zero_extended = pc >= 3
            && mov(pc - 3, Width::W64)
            && shift(pc - 2, AluOp::Lsh)
            && shift(pc - 1, AluOp::Rsh)
            && straight(pc - 3);
        let narrow_copy = pc >= 1 && mov(pc - 1, Width::W32) && straight(pc - 1);
        (zero_extended || narrow_copy).then_some(Width::W32)
    }
}

/// `reg += c` or `reg -= c` with `c` a nonzero constant: the register,
/// the step and the width.
fn step_of(insn: Insn) -> Option<(Reg, i64, Width)> {
    let Insn::Alu {
        width,
        op,
        dst,
        src: Source::Imm(imm),
    } = insn
    else {
        return None;
    };
    let step = match op {
        AluOp::Add => i64::from(imm),
        AluOp::Sub => -i64::from(imm),
        _ => return None,
    };
    (step != 0 && dst != Reg::R10).then_some((dst, step, width))
}

fn is_signed(cond: JmpCond) -> bool {
    matches!(
        cond,
        JmpCond::Slt | JmpCond::Sle | JmpCond::Sgt | JmpCond::Sge
    )
}

/// The comparison that holds exactly when `cond` does not.
fn negated(cond: JmpCond) -> Option<JmpCond> {
    Some(match cond {
        JmpCond::Lt => JmpCond::Ge,
        JmpCond::Ge => JmpCond::Lt,
        JmpCond::Le => JmpCond::Gt,
        JmpCond::Gt => JmpCond::Le,
        JmpCond::Slt => JmpCond::Sge,
        JmpCond::Sge => JmpCond::Slt,
        JmpCond::Sle => JmpCond::Sgt,
        JmpCond::Sgt => JmpCond::Sle,
        JmpCond::Eq => JmpCond::Ne,
        JmpCond::Ne => JmpCond::Eq,
        JmpCond::Set => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use visor_isa::asm::{Syntax, assemble};

    fn counted(text: &str) -> Vec<(usize, CountedLoop)> {
        let cfg = Cfg::build(&assemble(text, Syntax::Llvm).unwrap(), &State::entry()).unwrap();
        cfg.counted
            .iter()
            .enumerate()
            .filter_map(|(pc, l)| Some((pc, (*l)?)))
            .collect()
    }

    #[test]
    fn the_counter_its_step_and_its_farthest_value_at_the_head() {
        // Tested after the step: the head sees at most 9.
        let [(1, l)] = counted("r1 = 0\nl: r1 += 1\nif r1 < 10 goto l\nr0 = 0\nexit")[..] else {
            panic!("one counted loop at 1");
        };
        assert_eq!((l.reg, l.step, l.signed, l.bound), (Reg::R1, 1, false, 9));
        // Tested before the step (a `while`): one step past the limit.
        let [(1, l)] =
            counted("r6 = 20\nl: if r6 s< 3 goto +2\nr6 += -2\ngoto l\nr0 = 0\nexit")[..]
        else {
            panic!("one counted loop at 1");
        };
        assert_eq!((l.reg, l.step, l.signed, l.bound), (Reg::R6, -2, true, 1));
    }

    #[test]
    fn clangs_loops_count_by_a_zero_extended_copy_until_equal() {
        // `for (int i = 0; i < 1000; i++) { ... continue; ... }`, two
        // back edges, the test on a 32-bit copy of the counter.
        let text = "r6 = 0\ngoto +5\nl: r6 += 1\nr1 = r6\nr1 <<= 32\nr1 >>= 32\nif r1 == 1000 goto +3\nif r2 == 0 goto l\nr3 = 1\ngoto l\nr0 = 0\nexit";
        // Entered in its middle: the head is where the walk first comes
        // around to.
        let [(7, l)] = counted(text)[..] else {
            panic!("one counted loop at 7");
        };
        assert_eq!(
            (l.reg, l.step, l.view, l.bound),
            (Reg::R6, 1, Width::W32, 999)
        );
    }

    #[test]
    fn loops_that_may_not_end_are_not_counted() {
        for text in [
            // Written twice.
            "r1 = 0\nl: r1 += 1\nr1 += 1\nif r1 < 10 goto l\nr0 = 0\nexit",
            // Stepped away from the limit.
            "r1 = 0\nl: r1 += -1\nif r1 < 10 goto l\nr0 = 0\nexit",
            // Stepped on some laps only.
            "r1 = 0\nl: if r2 == 0 goto +1\nr1 += 1\nif r1 < 10 goto l\nr0 = 0\nexit",
            // Compared against `!=`.
            "r1 = 0\nl: r1 += 3\nif r1 != 10 goto l\nr0 = 0\nexit",
            // A limit one step from wrapping.
            "r1 = 0\nl: r1 += 1\nif r1 <= -1 goto l\nr0 = 0\nexit",
        ] {
            assert_eq!(counted(text), [], "{text}");
        }
    }
}
