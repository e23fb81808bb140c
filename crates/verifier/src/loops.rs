//! Counted loops: loops whose staying is decided by one register that
//! every iteration steps by the same constant toward a constant limit.
//! Such a loop ends whatever else it does, so the walk need not unroll it
//! to see it end: at its head, a state one step further than an earlier
//! one on the same path has the register widened to every value it can
//! hold there, and states coming around again are pruned against that
//! one (`analyze.rs`). Verifying the loop then costs the same whatever
//! its trip count.
//!
//! The proof is syntactic, on the loop's natural body (one back edge into
//! a head that is its only entry, no loop inside): the register is
//! written once in the body, by `+=` or `-=` of a constant; one
//! conditional jump compares it with a constant and leaves the body when
//! the limit is passed; both lie on every path from the head around; and
//! the limit plus a step does not wrap at the compared width.

use visor_isa::{AluOp, Insn, JmpCond, Reg, Source, Width};

use crate::cfg::{Cfg, bit, uses_defs};
use crate::scalar::Scalar;

/// A counted loop, by its head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountedLoop {
    /// The register that counts.
    pub reg: Reg,
    /// What one iteration adds to it.
    pub step: i64,
    /// The width of the step and of the comparison.
    pub width: Width,
    /// Whether the comparison is signed.
    pub signed: bool,
    /// The farthest value the register reaches at the head, coming around.
    pub bound: i64,
    /// Instructions in the body, for the cost of running it to the end.
    pub body_len: usize,
}

impl CountedLoop {
    /// The register's values at the head from `value` (the constant it
    /// holds on this iteration) on, or `None` if it is not such a
    /// constant, or if running the laps left would take more than
    /// `budget` instructions (the kernel would not have let them run).
    pub fn widen(&self, value: &Scalar, budget: u64) -> Option<Scalar> {
        let now = value.as_const()?;
        let now = match (self.width, self.signed) {
            (Width::W64, false) => i128::from(now),
            (Width::W64, true) => i128::from(now as i64),
            (Width::W32, false) => i128::from(now as u32),
            (Width::W32, true) => i128::from(now as u32 as i32),
        };
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
        match (self.width, self.signed) {
            (Width::W64, false) => Scalar::UNKNOWN.with_urange(lo as u64, hi as u64),
            (Width::W64, true) => Scalar::UNKNOWN.with_srange(lo as i64, hi as i64),
            (Width::W32, false) => Scalar::of_size(4).with_u32range(lo as u32, hi as u32),
            (Width::W32, true) => Scalar::of_size(4).with_s32range(lo as i32, hi as i32),
        }
    }

    /// Whether `after` is `before` one step on, at the loop's width.
    pub fn one_step(&self, before: &Scalar, after: &Scalar) -> bool {
        let (Some(a), Some(b)) = (before.as_const(), after.as_const()) else {
            return false;
        };
        let stepped = a.wrapping_add(self.step as u64);
        match self.width {
            Width::W64 => stepped == b,
            Width::W32 => stepped as u32 == b as u32,
        }
    }
}

/// The counted loops of `cfg`, by head slot.
pub fn find(cfg: &Cfg) -> Vec<Option<CountedLoop>> {
    let len = cfg.insns.len();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); len];
    for pc in 0..len {
        for next in cfg.successors(pc) {
            preds[next].push(pc);
        }
    }
    let mut found = vec![None; len];
    for (head, slot) in found.iter_mut().enumerate() {
        let latches: Vec<usize> = preds[head].iter().copied().filter(|&p| p >= head).collect();
        if let [latch] = latches[..] {
            *slot = counted(cfg, &preds, head, latch);
        }
    }
    found
}

/// The loop closed by the back edge `latch -> head`, if it is counted.
fn counted(cfg: &Cfg, preds: &[Vec<usize>], head: usize, latch: usize) -> Option<CountedLoop> {
    let body = natural_body(preds, head, latch);
    let inside = |pc: usize| body.binary_search(&pc).is_ok();
    // One entry, and no loop inside.
    let single_entry = body
        .iter()
        .all(|&pc| pc == head || preds[pc].iter().all(|&p| inside(p)));
    let nested = body.iter().any(|&pc| {
        cfg.successors(pc)
            .into_iter()
            .any(|next| next <= pc && inside(next) && (pc, next) != (latch, head))
    });
    if !single_entry || nested {
        return None;
    }
    let on_every_lap = |pc: usize| pc == head || !reaches(cfg, &body, head, latch, Some(pc));
    body.iter().find_map(|&at| {
        let (reg, step, width) = step_of(cfg.insns[at]?)?;
        let writes = body
            .iter()
            .filter(|&&pc| cfg.insns[pc].is_some_and(|insn| uses_defs(&insn).1 & bit(reg) != 0))
            .count();
        if writes != 1 || !on_every_lap(at) {
            return None;
        }
        let (test, signed, limit) = body.iter().find_map(|&pc| {
            let (signed, limit) = limit_of(cfg, &body, pc, reg, width, step)?;
            Some((pc, signed, limit))
        })?;
        if !on_every_lap(test) {
            return None;
        }
        // Stepping after the test, the head sees one step past the limit.
        let stepped_last = reaches(cfg, &body, test, at, None);
        let bound = if stepped_last {
            limit + i128::from(step)
        } else {
            limit
        };
        // No wrap: one more step from the limit still fits.
        let (min, max) = match (width, signed) {
            (Width::W64, false) => (0, i128::from(u64::MAX)),
            (Width::W64, true) => (i128::from(i64::MIN), i128::from(i64::MAX)),
            (Width::W32, false) => (0, i128::from(u32::MAX)),
            (Width::W32, true) => (i128::from(i32::MIN), i128::from(i32::MAX)),
        };
        let past = limit + i128::from(step);
        if past < min || past > max {
            return None;
        }
        Some(CountedLoop {
            reg,
            step,
            width,
            signed,
            bound: bound as i64,
            body_len: body.len(),
        })
    })
}

/// The slots of the loop: `head`, and those that reach `latch` without
/// passing it; sorted.
fn natural_body(preds: &[Vec<usize>], head: usize, latch: usize) -> Vec<usize> {
    let mut body = vec![head];
    let mut work = vec![latch];
    while let Some(pc) = work.pop() {
        if body.contains(&pc) {
            continue;
        }
        body.push(pc);
        work.extend(preds[pc].iter().copied());
    }
    body.sort_unstable();
    body
}

/// Whether `to` can be reached from `from` inside `body`, not through the
/// back edge into the head (`body[0]`) nor through `avoid`.
fn reaches(cfg: &Cfg, body: &[usize], from: usize, to: usize, avoid: Option<usize>) -> bool {
    let head = body[0];
    let mut seen = vec![from];
    let mut work = vec![from];
    while let Some(pc) = work.pop() {
        if pc == to {
            return true;
        }
        for next in cfg.successors(pc) {
            let fresh = next != head && Some(next) != avoid && !seen.contains(&next);
            if fresh && body.binary_search(&next).is_ok() {
                seen.push(next);
                work.push(next);
            }
        }
    }
    false
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

/// The jump at `pc`, if it compares `reg` with a constant at `width` and
/// leaves the body once `reg` is past the limit in the direction of
/// `step`: whether it compares signed, and the last value that stays.
fn limit_of(
    cfg: &Cfg,
    body: &[usize],
    pc: usize,
    reg: Reg,
    width: Width,
    step: i64,
) -> Option<(bool, i128)> {
    let Some(Insn::Jump {
        width: compared,
        cond,
        dst,
        src: Source::Imm(imm),
        ..
    }) = cfg.insns[pc]
    else {
        return None;
    };
    if dst != reg || compared != width {
        return None;
    }
    let [fall, taken] = cfg.successors(pc)[..] else {
        return None;
    };
    let inside = |pc: usize| body.binary_search(&pc).is_ok();
    // The condition under which control stays in the loop.
    let stay = match (inside(fall), inside(taken)) {
        (false, true) => cond,
        (true, false) => negated(cond)?,
        _ => return None,
    };
    let n = match (width, signed(stay)) {
        (Width::W64, false) => i128::from(imm as i64 as u64),
        (Width::W64, true) => i128::from(imm),
        (Width::W32, false) => i128::from(imm as u32),
        (Width::W32, true) => i128::from(imm),
    };
    let last = match (stay, step > 0) {
        (JmpCond::Lt | JmpCond::Slt, true) => n - 1,
        (JmpCond::Le | JmpCond::Sle, true) => n,
        (JmpCond::Gt | JmpCond::Sgt, false) => n + 1,
        (JmpCond::Ge | JmpCond::Sge, false) => n,
        _ => return None,
    };
    Some((signed(stay), last))
}

fn signed(cond: JmpCond) -> bool {
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
        JmpCond::Eq | JmpCond::Ne | JmpCond::Set => return None,
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
