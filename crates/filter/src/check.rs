//! The rules a classic BPF program must follow before it runs, as one pass
//! that yields a [`CheckedProgram`]: the Linux kernel's
//! (`bpf_check_classic` in `net/core/filter.c`, [`Rules::Kernel`]) or
//! libpcap's (`bpf_validate`, [`Rules::Libpcap`]).
//!
//! A program is accepted when:
//!
//! 1. it has 1 to [`Rules::max_insns`] instructions (4096 for the kernel);
//! 2. every opcode is one of the 49 valid ones ([`Op::decode`]);
//! 3. scratch memory indices (`ld M[k]`, `ldx M[k]`, `st`, `stx`) are below
//!    [`MEM_WORDS`];
//! 4. no `div #0` or `mod #0`, and no constant shift by 32 or more;
//! 5. kernel: absolute loads in the Linux metadata range (from
//!    [`Ancillary::BASE`]) name a field the kernel knows;
//! 6. both targets of every conditional jump, and the target of `ja`, lie
//!    inside the program and after the jump. libpcap lets `ja` go back
//!    (its `protochain` loops), but not to itself;
//! 7. the last instruction is a `ret`;
//! 8. kernel: on every path, each scratch word is stored before it is
//!    loaded. libpcap starts scratch memory at 0 instead, and its compiler
//!    relies on that (`vxlan` over radiotap, for one).
//!
//! Errors name the first offending instruction and the [`Rule`] it breaks.
//! The rules are checked in this order, instruction by instruction for 2 to
//! 6, so the error is the one the kernel would report first.

use thiserror::Error;
use visor_isa::cbpf::opcode::MEM_WORDS;
use visor_isa::cbpf::{AluOp, Ancillary, DecodeError, Insn, Load, LoadX, Op, Src, Successors};

use crate::interp::{Decoded, decode};

/// The most instructions the kernel accepts (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// The most instructions libpcap's interpreter accepts (its own
/// `BPF_MAXINSNS`, sized for the longest unoptimized filters).
pub const LIBPCAP_MAX_INSNS: usize = 3_060_000;

/// Whose rules a program must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rules {
    /// What the Linux kernel attaches to a socket (`SO_ATTACH_FILTER`).
    Kernel,
    /// What libpcap runs in userspace (`pcap_offline_filter`): every
    /// program its compiler emits, backward `ja` and unstored scratch reads
    /// included.
    Libpcap,
}

impl Rules {
    /// The longest program these rules accept.
    pub const fn max_insns(self) -> usize {
        match self {
            Rules::Kernel => MAX_INSNS,
            Rules::Libpcap => LIBPCAP_MAX_INSNS,
        }
    }
}

/// A program that passed every rule: its instructions, their meaning, and
/// the rules it was checked against. Only [`check`], [`check_with`] and
/// [`CheckedProgram::from_ops`] make one, so holding one proves the rules
/// hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedProgram {
    insns: Vec<Insn>,
    ops: Vec<Op>,
    /// The same, decoded for the interpreter.
    code: Decoded,
    rules: Rules,
}

impl CheckedProgram {
    /// Checks a program given by meaning against the kernel's rules
    /// ([`check`] on the encoded form).
    pub fn from_ops(ops: &[Op]) -> Result<CheckedProgram, CheckError> {
        let insns: Vec<Insn> = ops.iter().map(|op| op.encode()).collect();
        check(&insns)
    }

    /// The instructions as given to [`check`].
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// The meaning of each instruction, index for index.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The program decoded for [`run`](crate::run).
    pub(crate) fn decoded(&self) -> &Decoded {
        &self.code
    }

    /// The rules the program follows.
    pub fn rules(&self) -> Rules {
        self.rules
    }

    /// Number of instructions (at least one).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Always false: a checked program has at least one instruction.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A program the rules refuse: the first offending instruction, and the
/// rule it breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("instruction {pc}: {rule}")]
pub struct CheckError {
    /// Index of the instruction (0 for an empty program; for a long one,
    /// the first instruction too many).
    pub pc: usize,
    pub rule: Rule,
}

/// The rules of the checker, with what broke each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Rule {
    #[error("the program is empty; a filter needs at least a `ret`")]
    Empty,
    #[error("the program has {len} instructions; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error(transparent)]
    InvalidOpcode(DecodeError),
    #[error("scratch memory M[{slot}] does not exist (M[0] to M[15])")]
    ScratchSlot { slot: u32 },
    #[error("`{} #0` divides by a constant zero", op.mnemonic())]
    DivisionByZero { op: AluOp },
    #[error("`{} #{shift}` shifts by 32 or more bits", op.mnemonic())]
    ShiftTooFar { op: AluOp, shift: u32 },
    #[error(
        "absolute load at {offset:#x} is in the Linux metadata range, but names no known field"
    )]
    UnknownAncillary { offset: u32 },
    #[error("{branch} goes to instruction {target}, outside the program (length {len})")]
    JumpOutOfRange {
        branch: Branch,
        target: i64,
        len: usize,
    },
    #[error(
        "`ja` goes back to instruction {target}; the kernel allows forward jumps only \
         (check with libpcap's rules to run loops such as protochain's)"
    )]
    BackwardJump { target: i64 },
    #[error("`ja` jumps to itself: an endless loop")]
    JumpToItself,
    #[error("the last instruction is not a `ret`: a filter must end with one")]
    LastNotReturn,
    #[error("M[{slot}] is loaded before anything is stored there on some path")]
    UninitializedScratch { slot: u32 },
}

/// Which way of a jump broke [`Rule::JumpOutOfRange`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
pub enum Branch {
    #[error("`ja`")]
    Always,
    #[error("the true branch (`jt`)")]
    True,
    #[error("the false branch (`jf`)")]
    False,
}

/// Applies the kernel's rules to `insns`, in the kernel's order.
pub fn check(insns: &[Insn]) -> Result<CheckedProgram, CheckError> {
    check_with(insns, Rules::Kernel)
}

/// Applies `rules` to `insns`.
pub fn check_with(insns: &[Insn], rules: Rules) -> Result<CheckedProgram, CheckError> {
    let len = insns.len();
    if len == 0 {
        return Err(CheckError {
            pc: 0,
            rule: Rule::Empty,
        });
    }
    let max = rules.max_insns();
    if len > max {
        return Err(CheckError {
            pc: max,
            rule: Rule::TooLong { len, max },
        });
    }
    let mut ops = Vec::with_capacity(len);
    for (pc, &insn) in insns.iter().enumerate() {
        let op = Op::decode(insn).map_err(|e| CheckError {
            pc,
            rule: Rule::InvalidOpcode(e),
        })?;
        check_op(op, pc, len, rules).map_err(|rule| CheckError { pc, rule })?;
        ops.push(op);
    }
    if !matches!(ops.last(), Some(Op::Ret(_))) {
        return Err(CheckError {
            pc: len - 1,
            rule: Rule::LastNotReturn,
        });
    }
    if rules == Rules::Kernel {
        check_scratch_initialized(&ops)?;
    }
    Ok(CheckedProgram {
        insns: insns.to_vec(),
        code: decode(&ops),
        ops,
        rules,
    })
}

/// Rules 3 to 6, which look at one instruction.
fn check_op(op: Op, pc: usize, len: usize, rules: Rules) -> Result<(), Rule> {
    if let Some(slot) = scratch_slot(op).filter(|&slot| slot >= MEM_WORDS) {
        return Err(Rule::ScratchSlot { slot });
    }
    match op {
        Op::Alu {
            op: op @ (AluOp::Div | AluOp::Mod),
            src: Src::K(0),
        } => return Err(Rule::DivisionByZero { op }),
        Op::Alu {
            op: op @ (AluOp::Lsh | AluOp::Rsh),
            src: Src::K(shift @ 32..),
        } => return Err(Rule::ShiftTooFar { op, shift }),
        Op::Ld(Load::Abs { offset, .. })
            if rules == Rules::Kernel
                && offset >= Ancillary::BASE
                && Ancillary::from_offset(offset).is_none() =>
        {
            return Err(Rule::UnknownAncillary { offset });
        }
        _ => {}
    }
    let in_range = |branch, target: i64| {
        if (0..len as i64).contains(&target) {
            Ok(())
        } else {
            Err(Rule::JumpOutOfRange {
                branch,
                target,
                len,
            })
        }
    };
    match (op, op.successors(pc)) {
        (Op::Ja { .. }, Successors::One(target)) => {
            let here = pc as i64;
            match rules {
                _ if target == here => Err(Rule::JumpToItself),
                Rules::Kernel if (0..here).contains(&target) => Err(Rule::BackwardJump { target }),
                _ => in_range(Branch::Always, target),
            }
        }
        (_, Successors::Two(jt, jf)) => {
            in_range(Branch::True, jt)?;
            in_range(Branch::False, jf)
        }
        // Falling off the end is rule 7's business.
        _ => Ok(()),
    }
}

/// The scratch word `op` reads or writes.
fn scratch_slot(op: Op) -> Option<u32> {
    match op {
        Op::Ld(Load::Mem { slot })
        | Op::Ldx(LoadX::Mem { slot })
        | Op::St { slot }
        | Op::Stx { slot } => Some(slot),
        _ => None,
    }
}

/// Rule 8, kernel only. Under the kernel's rules jumps only go forward, so
/// one pass in order sees every predecessor of an instruction before the
/// instruction itself: the words stored on entry to it are those stored on
/// all paths into it.
fn check_scratch_initialized(ops: &[Op]) -> Result<(), CheckError> {
    // Per instruction, a bit per scratch word; `None` until a path arrives.
    let mut stored_on_entry: Vec<Option<u16>> = vec![None; ops.len()];
    stored_on_entry[0] = Some(0);
    for (pc, &op) in ops.iter().enumerate() {
        // Unreachable code cannot load anything.
        let Some(mut stored) = stored_on_entry[pc] else {
            continue;
        };
        match op {
            Op::Ld(Load::Mem { slot }) | Op::Ldx(LoadX::Mem { slot })
                if stored & (1 << slot) == 0 =>
            {
                return Err(CheckError {
                    pc,
                    rule: Rule::UninitializedScratch { slot },
                });
            }
            Op::St { slot } | Op::Stx { slot } => stored |= 1 << slot,
            _ => {}
        }
        let mut reach = |target: i64| {
            // Targets were checked to lie inside the program.
            if let Some(entry) = usize::try_from(target)
                .ok()
                .and_then(|t| stored_on_entry.get_mut(t))
            {
                *entry = Some(entry.map_or(stored, |known| known & stored));
            }
        };
        match op.successors(pc) {
            Successors::None => {}
            Successors::One(next) => reach(next),
            Successors::Two(jt, jf) => {
                reach(jt);
                reach(jf);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use visor_isa::cbpf::{Invalid, JmpCond, RetVal, Size};

    const RET_A: Op = Op::Ret(RetVal::A);

    fn rule_at(ops: &[Op]) -> (usize, Rule) {
        let error = CheckedProgram::from_ops(ops).unwrap_err();
        (error.pc, error.rule)
    }

    fn jump(jt: u8, jf: u8) -> Op {
        Op::Jump {
            cond: JmpCond::Eq,
            src: Src::X,
            jt,
            jf,
        }
    }

    #[test]
    fn accepts_a_typical_filter() {
        // tcpdump -d 'ip'
        let program = CheckedProgram::from_ops(&[
            Op::Ld(Load::Abs {
                size: Size::Half,
                offset: 12,
            }),
            Op::Jump {
                cond: JmpCond::Eq,
                src: Src::K(0x800),
                jt: 0,
                jf: 1,
            },
            Op::Ret(RetVal::K(262144)),
            Op::Ret(RetVal::K(0)),
        ])
        .unwrap();
        assert_eq!(program.len(), 4);
        assert_eq!(program.insns()[0], Insn::new(0x28, 0, 0, 12));
    }

    #[test]
    fn length_is_1_to_4096() {
        assert_eq!(rule_at(&[]), (0, Rule::Empty));
        let mut long = vec![Op::Tax; MAX_INSNS];
        long.push(RET_A);
        let too_long = Rule::TooLong {
            len: 4097,
            max: 4096,
        };
        assert_eq!(rule_at(&long), (4096, too_long));
        let insns: Vec<Insn> = long.iter().map(|op| op.encode()).collect();
        assert!(check_with(&insns, Rules::Libpcap).is_ok());
        long.drain(..2);
        assert!(CheckedProgram::from_ops(&long).is_ok());
    }

    #[test]
    fn opcodes_must_be_valid() {
        let error = check(&[Insn::new(0x07, 0, 0, 0), Insn::new(0x0e, 0, 0, 0)]).unwrap_err();
        assert_eq!(error.pc, 1);
        let Rule::InvalidOpcode(decode) = error.rule else {
            panic!("{error}");
        };
        assert_eq!(decode.reason, Invalid::RetX);
        assert!(
            error
                .to_string()
                .starts_with("instruction 1: invalid cBPF opcode 0x000e")
        );
    }

    #[test]
    fn scratch_slots_are_0_to_15() {
        for op in [
            Op::St { slot: 16 },
            Op::Stx { slot: 16 },
            Op::Ld(Load::Mem { slot: 16 }),
            Op::Ldx(LoadX::Mem { slot: u32::MAX }),
        ] {
            let slot = match op {
                Op::Ldx(_) => u32::MAX,
                _ => 16,
            };
            assert_eq!(
                rule_at(&[Op::Tax, op, RET_A]),
                (1, Rule::ScratchSlot { slot })
            );
        }
        assert!(CheckedProgram::from_ops(&[Op::St { slot: 15 }, RET_A]).is_ok());
    }

    #[test]
    fn no_constant_zero_divisor() {
        for op in [AluOp::Div, AluOp::Mod] {
            let div = Op::Alu { op, src: Src::K(0) };
            assert_eq!(rule_at(&[div, RET_A]), (0, Rule::DivisionByZero { op }));
            let by_x = Op::Alu { op, src: Src::X };
            assert!(CheckedProgram::from_ops(&[by_x, RET_A]).is_ok());
        }
    }

    #[test]
    fn constant_shifts_stay_below_32() {
        let shift = |op, k| Op::Alu { op, src: Src::K(k) };
        assert!(CheckedProgram::from_ops(&[shift(AluOp::Lsh, 31), RET_A]).is_ok());
        assert_eq!(
            rule_at(&[shift(AluOp::Rsh, 32), RET_A]),
            (
                0,
                Rule::ShiftTooFar {
                    op: AluOp::Rsh,
                    shift: 32
                }
            )
        );
    }

    #[test]
    fn metadata_loads_must_name_a_field() {
        let load = |offset| {
            Op::Ld(Load::Abs {
                size: Size::Word,
                offset,
            })
        };
        let known = Ancillary::Ifindex.offset();
        assert!(CheckedProgram::from_ops(&[load(known), RET_A]).is_ok());
        assert!(CheckedProgram::from_ops(&[load(Ancillary::BASE - 1), RET_A]).is_ok());
        let offset = Ancillary::BASE + 2;
        assert_eq!(
            rule_at(&[load(offset), RET_A]),
            (0, Rule::UnknownAncillary { offset })
        );
        // libpcap reads such offsets as packet bytes, out of bounds.
        assert!(libpcap(&[load(offset), RET_A]).is_ok());
    }

    #[test]
    fn jumps_stay_inside_the_program() {
        let ok = [jump(1, 0), RET_A, RET_A];
        assert!(CheckedProgram::from_ops(&ok).is_ok());
        let out = |branch, target| Rule::JumpOutOfRange {
            branch,
            target,
            len: 3,
        };
        assert_eq!(
            rule_at(&[jump(2, 0), RET_A, RET_A]),
            (0, out(Branch::True, 3))
        );
        assert_eq!(
            rule_at(&[Op::Tax, jump(0, 1), RET_A]),
            (1, out(Branch::False, 3))
        );
        assert_eq!(
            rule_at(&[Op::Ja { k: 2 }, RET_A, RET_A]),
            (0, out(Branch::Always, 3))
        );
        // Backward: libpcap's protochain loops so; the kernel refuses.
        let back = Op::Ja { k: (-2i32) as u32 };
        let program = [RET_A, back, RET_A];
        assert_eq!(rule_at(&program), (1, Rule::BackwardJump { target: 0 }));
        assert!(libpcap(&program).is_ok());
        let before_start = [RET_A, Op::Ja { k: (-3i32) as u32 }, RET_A];
        assert_eq!(rule_at(&before_start), (1, out(Branch::Always, -1)));
        let error = libpcap(&before_start).unwrap_err();
        assert_eq!(error.rule, out(Branch::Always, -1));
        // To itself: an endless loop under either rules.
        let endless = [RET_A, Op::Ja { k: u32::MAX }, RET_A];
        assert_eq!(rule_at(&endless), (1, Rule::JumpToItself));
        assert_eq!(libpcap(&endless).unwrap_err().rule, Rule::JumpToItself);
        // Conditional jumps are forward under both.
        let too_far = [jump(2, 0), RET_A, RET_A];
        assert_eq!(libpcap(&too_far).unwrap_err().rule, out(Branch::True, 3));
    }

    fn libpcap(ops: &[Op]) -> Result<CheckedProgram, CheckError> {
        let insns: Vec<Insn> = ops.iter().map(|op| op.encode()).collect();
        check_with(&insns, Rules::Libpcap)
    }

    #[test]
    fn the_last_instruction_returns() {
        assert_eq!(rule_at(&[RET_A, Op::Tax]), (1, Rule::LastNotReturn));
        // A jump over the last instruction is checked first.
        let (_, rule) = rule_at(&[Op::Ja { k: 0 }]);
        assert!(matches!(rule, Rule::JumpOutOfRange { .. }), "{rule}");
        assert_eq!(
            rule_at(&[Op::Ja { k: 0 }, Op::Tax]),
            (1, Rule::LastNotReturn)
        );
    }

    #[test]
    fn scratch_is_stored_before_loaded_on_every_path() {
        let load = Op::Ld(Load::Mem { slot: 3 });
        assert_eq!(
            rule_at(&[load, RET_A]),
            (0, Rule::UninitializedScratch { slot: 3 })
        );
        // Stored on the true path only.
        let one_path = [jump(0, 1), Op::St { slot: 3 }, load, RET_A];
        assert_eq!(
            rule_at(&one_path),
            (2, Rule::UninitializedScratch { slot: 3 })
        );
        // Stored on both paths: by st on one, by stx on the other.
        let both = [
            jump(0, 2),
            Op::St { slot: 3 },
            Op::Ja { k: 1 },
            Op::Stx { slot: 3 },
            load,
            RET_A,
        ];
        assert!(CheckedProgram::from_ops(&both).is_ok());
        // Code no path reaches loads what it likes, as in the kernel.
        let dead = [Op::Ja { k: 1 }, load, RET_A];
        assert!(CheckedProgram::from_ops(&dead).is_ok());
        // libpcap starts scratch memory at 0.
        let program = libpcap(&[load, RET_A]).unwrap();
        assert_eq!(program.rules(), Rules::Libpcap);
    }
}
