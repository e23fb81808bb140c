//! Jump threading over decoded code, so that a run skips what it already
//! knows. Unoptimized filters test one field again and again (`ldh [12]`
//! before each EtherType test); after a test, the jump knows which field A
//! holds and, for `jeq`, whether it equals the constant. So a jump to a
//! load of that same field skips the load (A holds it, and it was in
//! bounds), and a jump to a test whose outcome that knowledge decides goes
//! straight to the outcome. Then every jump to a `ret #k` returns `k`
//! itself ([`fold_returns`]).
//!
//! Tests earlier on the way count too: the packet does not change, so once
//! `ldh [12]` was found to be 0x800, a later EtherType test is decided even
//! after A was loaded with something else, if the jump then ends at a
//! `ret #k` (which does not read A).
//!
//! Soundness: nothing runs along a jump, so A, X and the packet are as the
//! test left them, and a field with a known value was loaded in bounds.
//! What is known at each instruction for every way in is computed first
//! ([`knowns`]); a jump is only redirected to an instruction whose ways in
//! know no more than it brings, so the knowledge used to thread that
//! instruction's own jumps stays true. Jumps only go forward here
//! (programs with a backward `ja` are left as they are), and each step
//! moves a target forward, so threading ends.

use super::decode::{Code, Test};

/// The packet bytes a load into A read (for an indexed load, at X plus
/// the offset: X is unchanged along a jump too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Word(u32),
    Half(u32),
    Byte(u32),
    IndHalf(u32),
    IndByte(u32),
}

impl Field {
    /// The field loaded by `code`, if it is a plain load into A.
    fn loaded_by(code: Code) -> Option<Field> {
        match code {
            Code::LdW(k) => Some(Field::Word(k)),
            Code::LdH(k) => Some(Field::Half(k)),
            Code::LdB(k) => Some(Field::Byte(k)),
            Code::LdIndH(k) => Some(Field::IndHalf(k)),
            Code::LdIndB(k) => Some(Field::IndByte(k)),
            _ => None,
        }
    }

    fn depends_on_x(self) -> bool {
        matches!(self, Field::IndHalf(_) | Field::IndByte(_))
    }
}

/// The comparison of a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cond {
    Eq,
    Gt,
    Ge,
    Set,
}

/// What a jump knows of A's value, besides the field it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fact {
    Nothing,
    Equals(u32),
    Differs(u32),
}

impl Fact {
    /// The outcome of `a cond k`, if this fact decides it.
    fn decides(self, cond: Cond, k: u32) -> Option<bool> {
        match (self, cond) {
            (Fact::Equals(a), Cond::Eq) => Some(a == k),
            (Fact::Equals(a), Cond::Gt) => Some(a > k),
            (Fact::Equals(a), Cond::Ge) => Some(a >= k),
            (Fact::Equals(a), Cond::Set) => Some(a & k != 0),
            (Fact::Differs(a), Cond::Eq) if a == k => Some(false),
            _ => None,
        }
    }

    /// What is known after `a cond k` came out `holds`.
    fn after(self, cond: Cond, k: u32, holds: bool) -> Fact {
        match (self, cond, holds) {
            (Fact::Equals(_), ..) => self,
            (_, Cond::Eq, true) => Fact::Equals(k),
            (_, Cond::Eq, false) => Fact::Differs(k),
            _ => self,
        }
    }
}

/// A test: the field it loads first (fused instructions), its comparison,
/// and its constant and targets.
fn test_of(code: Code) -> Option<(Option<Field>, Cond, Test)> {
    Some(match code {
        Code::JeqK(t) => (None, Cond::Eq, t),
        Code::JgtK(t) => (None, Cond::Gt, t),
        Code::JgeK(t) => (None, Cond::Ge, t),
        Code::JsetK(t) => (None, Cond::Set, t),
        Code::LdWJeq(at, t) => (Some(Field::Word(at)), Cond::Eq, t),
        Code::LdHJeq(at, t) => (Some(Field::Half(at)), Cond::Eq, t),
        Code::LdBJeq(at, t) => (Some(Field::Byte(at)), Cond::Eq, t),
        Code::LdHJgt(at, t) => (Some(Field::Half(at)), Cond::Gt, t),
        Code::LdHJset(at, t) => (Some(Field::Half(at)), Cond::Set, t),
        Code::LdBJset(at, t) => (Some(Field::Byte(at)), Cond::Set, t),
        Code::LdIndHJeq(at, t) => (Some(Field::IndHalf(at)), Cond::Eq, t),
        Code::LdIndBJeq(at, t) => (Some(Field::IndByte(at)), Cond::Eq, t),
        _ => return None,
    })
}

/// The [`Test`] inside `code`, to retarget (`and #m; jeq` included).
fn test_mut(code: &mut Code) -> Option<&mut Test> {
    match code {
        Code::JeqK(t)
        | Code::JgtK(t)
        | Code::JgeK(t)
        | Code::JsetK(t)
        | Code::LdWJeq(_, t)
        | Code::LdHJeq(_, t)
        | Code::LdBJeq(_, t)
        | Code::LdHJgt(_, t)
        | Code::LdHJset(_, t)
        | Code::LdBJset(_, t)
        | Code::LdIndHJeq(_, t)
        | Code::LdIndBJeq(_, t)
        | Code::AndJeq(_, t) => Some(t),
        _ => None,
    }
}

/// What is known on entry to an instruction, on every way in: the field
/// A holds, and what tests found of fields (the packet does not change;
/// facts about an indexed field end when X changes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Known {
    a: Option<Field>,
    facts: Vec<(Field, Fact)>,
}

impl Known {
    fn fact(&self, field: Field) -> Fact {
        let found = self.facts.iter().find(|(f, _)| *f == field);
        found.map_or(Fact::Nothing, |&(_, fact)| fact)
    }

    /// After `field cond k` came out `holds`.
    fn learn(&mut self, field: Field, cond: Cond, k: u32, holds: bool) {
        let fact = self.fact(field).after(cond, k, holds);
        self.facts.retain(|(f, _)| *f != field);
        if fact != Fact::Nothing {
            self.facts.push((field, fact));
        }
    }

    /// X changed: an indexed field is another one now.
    fn forget_indexed(&mut self) {
        self.a = self.a.filter(|f| !f.depends_on_x());
        self.facts.retain(|(f, _)| !f.depends_on_x());
    }

    /// Keeps what `other`, another way in, knows too.
    fn meet(&mut self, other: &Known) {
        if self.a != other.a {
            self.a = None;
        }
        self.facts.retain(|entry| other.facts.contains(entry));
    }

    /// Whether all that `needed` says is known here too.
    fn implies(&self, needed: &Known) -> bool {
        needed.a.is_none_or(|f| self.a == Some(f))
            && needed.facts.iter().all(|entry| self.facts.contains(entry))
    }
}

/// What is [`Known`] on entry to each instruction (`None`: no way in).
/// Needs forward jumps only.
fn knowns(code: &[Code]) -> Vec<Option<Known>> {
    let mut known: Vec<Option<Known>> = vec![None; code.len()];
    if let Some(entry) = known.first_mut() {
        *entry = Some(Known::default());
    }
    for (pc, &insn) in code.iter().enumerate() {
        let Some(mut here) = known[pc].clone() else {
            continue;
        };
        let next = pc as u32 + 1;
        if let Some((loaded, cond, t)) = test_of(insn) {
            if let Some(field) = loaded {
                here.a = Some(field);
                // A fused pair's test keeps the next slot, which the load
                // fell into as written: jumps that skip the load land there.
                reach(&mut known, next, &here);
            }
            for (holds, to) in [(true, t.jt), (false, t.jf)] {
                let mut out = here.clone();
                if let Some(field) = out.a {
                    out.learn(field, cond, t.k, holds);
                }
                reach(&mut known, to, &out);
            }
            continue;
        }
        match insn {
            Code::AndJeq(_, t) => {
                here.a = None;
                reach(&mut known, t.jt, &here);
                reach(&mut known, t.jf, &here);
            }
            Code::JX { jt, jf, .. } => {
                reach(&mut known, jt, &here);
                reach(&mut known, jf, &here);
            }
            Code::Ja(to) => reach(&mut known, to, &here),
            Code::RetK(_) | Code::RetA | Code::Reject | Code::JaBack(_) => {}
            Code::St(_) | Code::Stx(_) => reach(&mut known, next, &here),
            Code::LdxImm(_) | Code::LdxMem(_) | Code::LdxLen | Code::LdxMsh(_) | Code::Tax => {
                here.forget_indexed();
                reach(&mut known, next, &here);
            }
            _ => {
                here.a = Field::loaded_by(insn);
                reach(&mut known, next, &here);
            }
        }
    }
    known
}

/// Records a way into `to` that brings `brought`.
fn reach(known: &mut [Option<Known>], to: u32, brought: &Known) {
    match known.get_mut(to as usize) {
        Some(Some(had)) => had.meet(brought),
        Some(slot) => *slot = Some(brought.clone()),
        None => {}
    }
}

/// Threads every test's jumps (see the module documentation).
pub(super) fn thread_jumps(code: &mut [Code]) {
    if code.iter().any(|c| matches!(c, Code::JaBack(_))) {
        return;
    }
    let known = knowns(code);
    // Later tests first: a jump threaded through one finds its jumps done.
    for pc in (0..code.len()).rev() {
        let Some((loaded, cond, test)) = test_of(code[pc]) else {
            continue;
        };
        let Some(mut path) = known[pc].clone() else {
            continue;
        };
        if loaded.is_some() {
            path.a = loaded;
        }
        let Some(field) = path.a else {
            continue;
        };
        let [jt, jf] = [(true, test.jt), (false, test.jf)].map(|(holds, to)| {
            let mut out = path.clone();
            out.learn(field, cond, test.k, holds);
            follow(code, &known, out, to)
        });
        if let Some(t) = test_mut(&mut code[pc]) {
            t.jt = jt;
            t.jf = jf;
        }
    }
}

/// Where a jump to `to` ends up, given what is known along it (`path`).
fn follow(code: &[Code], known: &[Option<Known>], mut path: Known, mut to: u32) -> u32 {
    // A jump may be redirected where every other way in knows no more, so
    // that what threaded that instruction's own jumps stays true.
    let lands = |path: &Known, pc: u32| {
        let entry = known.get(pc as usize);
        entry.is_some_and(|k| k.as_ref().is_none_or(|k| path.implies(k)))
    };
    let mut landing = to;
    // Set once a skipped load would have changed A: from there, the only
    // place to end is a `ret #k`, which does not read A.
    let mut a_skipped = false;
    loop {
        let insn = code.get(to as usize).copied();
        if let Some(Code::RetK(_)) = insn {
            return to;
        }
        let Some((loaded, cond, test)) = insn.and_then(test_of) else {
            return landing;
        };
        let Some(field) = loaded.or(path.a) else {
            return landing;
        };
        match path.fact(field).decides(cond, test.k) {
            Some(holds) => {
                a_skipped |= path.a != Some(field);
                path.a = Some(field);
                path.learn(field, cond, test.k, holds);
                to = if holds { test.jt } else { test.jf };
                if !a_skipped && lands(&path, to) {
                    landing = to;
                }
            }
            // The same load, then an open test: skip to the test alone,
            // which a fused pair keeps in the next slot.
            None if !a_skipped && path.a == loaded && lands(&path, to + 1) => return to + 1,
            None => return landing,
        }
    }
}

/// The forward jump targets of `code`, to retarget.
fn targets_mut(code: &mut Code) -> [Option<&mut u32>; 2] {
    match code {
        Code::Ja(to) => [Some(to), None],
        Code::JX { jt, jf, .. } => [Some(jt), Some(jf)],
        other => match test_mut(other) {
            Some(t) => [Some(&mut t.jt), Some(&mut t.jf)],
            None => [None, None],
        },
    }
}

/// Points every jump to a `ret #k` past the code, at `k` in the returned
/// list, so that the jump returns without another dispatch.
pub(super) fn fold_returns(code: &mut [Code]) -> Vec<u32> {
    let constants: Vec<Option<u32>> = code
        .iter()
        .map(|c| match *c {
            Code::RetK(k) => Some(k),
            _ => None,
        })
        .collect();
    let len = code.len() as u32;
    let mut returns: Vec<u32> = Vec::new();
    for insn in code.iter_mut() {
        for to in targets_mut(insn).into_iter().flatten() {
            let Some(k) = constants.get(*to as usize).copied().flatten() else {
                continue;
            };
            let i = returns.iter().position(|&r| r == k).unwrap_or_else(|| {
                returns.push(k);
                returns.len() - 1
            });
            *to = len + i as u32;
        }
    }
    returns
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use visor_isa::cbpf::{JmpCond, Load, LoadX, Op, RetVal, Size, Src};

    use crate::{CheckedProgram, Packet, run};

    use super::super::decode::Code;

    fn ldh(offset: u32) -> Op {
        Op::Ld(Load::Abs {
            size: Size::Half,
            offset,
        })
    }

    fn jeq(k: u32, jt: u8, jf: u8) -> Op {
        Op::Jump {
            cond: JmpCond::Eq,
            src: Src::K(k),
            jt,
            jf,
        }
    }

    /// `ldh [12]; jeq #0x800` twice, as unoptimized `ip and ...` has it:
    /// the second pair is skipped on both ways out of the first.
    #[test]
    fn a_tested_field_is_not_loaded_and_tested_again() {
        let program = CheckedProgram::from_ops(&[
            ldh(12),
            jeq(0x800, 0, 3),
            ldh(12),
            jeq(0x800, 0, 1),
            Op::Ret(RetVal::K(1)),
            Op::Ret(RetVal::K(0)),
        ])
        .unwrap();
        let decoded = program.decoded();
        let Code::LdHJeq(12, first) = decoded.code[0] else {
            panic!("{:?}", decoded.code);
        };
        let returned = |to: u32| decoded.returns[to as usize - decoded.code.len()];
        assert_eq!((returned(first.jt), returned(first.jf)), (1, 0));
        let mut frame = [0u8; 14];
        frame[12] = 8;
        assert_eq!(run(&program, Packet::whole(&frame)), 1);
        assert_eq!(run(&program, Packet::whole(&frame[..13])), 0);
    }

    fn ld(size: Size, offset: u32) -> Op {
        Op::Ld(Load::Abs { size, offset })
    }

    fn ldx(k: u32) -> Op {
        Op::Ldx(LoadX::Imm(k))
    }

    fn both(k: u32) -> Op {
        jeq(k, 0, 0)
    }

    /// `ld [0]; jgt` is not fused: the plain `jgt` knows A holds the word
    /// just loaded, not the byte tested before, so its jump still reloads
    /// that byte.
    #[test]
    fn a_load_between_tests_replaces_what_a_holds() {
        let greater = Op::Jump {
            cond: JmpCond::Gt,
            src: Src::K(0),
            jt: 0,
            jf: 0,
        };
        let ops = [
            ld(Size::Byte, 1),
            both(0),
            ld(Size::Word, 0),
            greater,
            ld(Size::Byte, 1),
            jeq(0, 0, 1),
            Op::Ret(RetVal::K(1)),
            Op::Ret(RetVal::K(2)),
        ];
        let program = CheckedProgram::from_ops(&ops).unwrap();
        assert_eq!(run(&program, Packet::whole(&[0, 0, 0, 1])), 1);
    }

    /// An indexed load is another field once X changes.
    #[test]
    fn a_new_x_moves_indexed_fields() {
        let ldb_x = |offset| {
            Op::Ld(Load::Ind {
                size: Size::Byte,
                offset,
            })
        };
        let ops = [
            ldx(0),
            ldb_x(1),
            both(5),
            ldx(1),
            both(9),
            ldb_x(1),
            jeq(0, 0, 1),
            Op::Ret(RetVal::K(1)),
            Op::Ret(RetVal::K(2)),
        ];
        let program = CheckedProgram::from_ops(&ops).unwrap();
        assert_eq!(run(&program, Packet::whole(&[0, 0, 1])), 2);
    }

    /// `ip and host ...` then an EtherType test, as `host` has it: once
    /// [12] is known to be 0x800, the later `ldh [12]; jeq #0x806` is
    /// decided though A holds another field, when the jump then returns a
    /// constant; not when it returns A, which the skipped load sets.
    #[test]
    fn earlier_tests_decide_later_ones_before_a_constant_return() {
        let program = |last: RetVal| {
            CheckedProgram::from_ops(&[
                ldh(12),
                jeq(0x800, 0, 2),
                ld(Size::Byte, 14),
                jeq(0x45, 2, 0),
                ldh(12),
                jeq(0x806, 0, 1),
                Op::Ret(RetVal::K(1)),
                Op::Ret(last),
            ])
            .unwrap()
        };
        let constant = program(RetVal::K(0));
        let Code::LdBJeq(14, test) = constant.decoded().code[2] else {
            panic!("{:?}", constant.decoded().code);
        };
        assert!(
            test.jf as usize >= constant.decoded().code.len(),
            "{test:?}"
        );
        let mut frame = [0u8; 15];
        frame[12] = 8;
        assert_eq!(run(&constant, Packet::whole(&frame)), 0);
        frame[14] = 0x45;
        assert_eq!(run(&constant, Packet::whole(&frame)), 1);
        frame[14] = 0;
        assert_eq!(run(&program(RetVal::A), Packet::whole(&frame)), 0x800);
    }

    /// A load (into A, or X) and a test against one of a few constants:
    /// random programs of these pairs reload and retest the same fields
    /// all the time, which is what threading works on.
    fn any_pair() -> impl Strategy<Value = (Op, JmpCond, u32)> {
        let size = prop_oneof![Just(Size::Byte), Just(Size::Half), Just(Size::Word)];
        let load = prop_oneof![
            4 => (size.clone(), 0u32..3).prop_map(|(size, offset)| Op::Ld(Load::Abs { size, offset })),
            1 => (size, 0u32..3).prop_map(|(size, offset)| Op::Ld(Load::Ind { size, offset })),
            1 => (0u32..2).prop_map(|k| Op::Ldx(LoadX::Imm(k))),
        ];
        let cond = prop_oneof![
            3 => Just(JmpCond::Eq),
            1 => Just(JmpCond::Gt),
            1 => Just(JmpCond::Ge),
            1 => Just(JmpCond::Set)
        ];
        let k = prop_oneof![Just(0u32), Just(1), Just(0x100), Just(0x101)];
        (load, cond, k)
    }

    /// Pairs, then `ret #7` and `ret a`; each jump lands anywhere after it.
    fn any_program() -> impl Strategy<Value = Vec<Op>> {
        proptest::collection::vec(any_pair(), 1..7).prop_flat_map(|pairs| {
            let len = pairs.len() * 2 + 2;
            let skips: Vec<_> = (0..pairs.len())
                .map(|i| {
                    let max = (len - 3 - 2 * i) as u8;
                    (0..=max, 0..=max)
                })
                .collect();
            (Just(pairs), skips).prop_map(|(pairs, skips)| {
                let mut ops = Vec::new();
                for ((load, cond, k), (jt, jf)) in pairs.into_iter().zip(skips) {
                    ops.push(load);
                    // Now and then X changes instead of a test.
                    ops.push(match (cond, jt) {
                        (JmpCond::Gt, 0) => Op::Ldx(LoadX::Imm(k & 1)),
                        _ => Op::Jump {
                            cond,
                            src: Src::K(k),
                            jt,
                            jf,
                        },
                    });
                }
                ops.extend([Op::Ret(RetVal::K(7)), Op::Ret(RetVal::A)]);
                ops
            })
        })
    }

    /// The program as written, one instruction at a time: what threading
    /// must not change.
    fn reference(ops: &[Op], bytes: &[u8]) -> u32 {
        let load = |size: Size, at: u64| -> Option<u32> {
            let len = match size {
                Size::Byte => 1,
                Size::Half => 2,
                Size::Word => 4,
            };
            let at = usize::try_from(at).ok()?;
            let b = bytes.get(at..at.checked_add(len)?)?;
            Some(b.iter().fold(0u32, |v, &b| v << 8 | u32::from(b)))
        };
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        loop {
            let op = ops[pc];
            pc += 1;
            match op {
                Op::Ld(Load::Abs { size, offset }) => match load(size, offset.into()) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::Ld(Load::Ind { size, offset }) => {
                    match load(size, u64::from(x) + u64::from(offset)) {
                        Some(v) => a = v,
                        None => return 0,
                    }
                }
                Op::Ldx(LoadX::Imm(k)) => x = k,
                Op::Jump {
                    cond,
                    src: Src::K(k),
                    jt,
                    jf,
                } => {
                    pc += usize::from(if cond.holds(a, k) { jt } else { jf });
                }
                Op::Ret(RetVal::K(k)) => return k,
                Op::Ret(RetVal::A) => return a,
                other => unreachable!("not generated: {other:?}"),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn threaded_runs_agree_with_the_program_as_written(
            ops in any_program(),
            bytes in proptest::collection::vec(prop_oneof![Just(0u8), Just(1)], 0..6),
        ) {
            let program = CheckedProgram::from_ops(&ops);
            prop_assume!(program.is_ok(), "{:?}", program);
            let program = program.unwrap();
            prop_assert_eq!(run(&program, Packet::whole(&bytes)), reference(&ops, &bytes));
        }
    }
}
