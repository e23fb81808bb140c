//! The dispatch form of the interpreter's hottest ops: ALU and jumps at
//! each width with a register or an immediate, and `ja`.
//!
//! [`Op`] nests its variants (an ALU op holds an [`AluOp`], a width and a
//! source), so running one from its `Op` dispatches two or three times and
//! computes with the width as a value. Here each combination is a [`Kind`]
//! of its own, expanded from one table: a single jump reaches an arm in
//! which operation, width and source are constants, and
//! [`semantics::alu`]/[`semantics::condition`] fold to the one operation.
//! Every other op is [`Kind::Other`] and runs through [`Machine::step`],
//! with its `Op`: one definition of what each instruction does.

use visor_isa::{AluOp, JmpCond, Reg, Source, Width};

use crate::lower::Op;
use crate::semantics;
use crate::state::Registers;

/// One slot as the dispatch loop reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    kind: Kind,
    dst: Reg,
    /// The source register of a `Reg` kind.
    src: Reg,
    /// The target of a jump.
    target: u32,
    /// The immediate of an `Imm` kind, sign-extended to 64 bits.
    imm: u64,
}

/// The value of a source: the register, or the immediate.
macro_rules! operand {
    ($regs:ident, $slot:ident, Imm) => {
        $slot.imm
    };
    ($regs:ident, $slot:ident, Reg) => {
        $regs[$slot.src]
    };
}

/// Expands the table: the [`Kind`]s, how an op gets its kind, and the
/// arm that executes each.
macro_rules! hot_ops {
    (
        alu { $($alu:ident = $op:ident $alu_width:ident $alu_src:ident,)* }
        jump { $($jump:ident = $cond:ident $jump_width:ident $jump_src:ident,)* }
    ) => {
        /// What the dispatch loop does with a slot.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub(crate) enum Kind {
            $($alu,)*
            $($jump,)*
            Ja,
            /// Run by [`Machine::step`] from the slot's [`Op`].
            Other,
        }

        impl Decoded {
            /// `op` in dispatch form.
            pub(crate) fn of(op: &Op) -> Decoded {
                let mut decoded = Decoded {
                    kind: Kind::Other,
                    dst: Reg::R0,
                    src: Reg::R0,
                    target: 0,
                    imm: 0,
                };
                let source = |decoded: &mut Decoded, src: Source| match src {
                    Source::Reg(reg) => decoded.src = reg,
                    Source::Imm(imm) => decoded.imm = i64::from(imm) as u64,
                };
                match *op {
                    $(Op::Alu {
                        op: AluOp::$op,
                        width: Width::$alu_width,
                        src: src @ Source::$alu_src(_),
                        dst,
                    } => {
                        decoded.kind = Kind::$alu;
                        decoded.dst = dst;
                        source(&mut decoded, src);
                    })*
                    $(Op::Jump {
                        cond: JmpCond::$cond,
                        width: Width::$jump_width,
                        src: src @ Source::$jump_src(_),
                        dst,
                        target,
                    } => {
                        decoded.kind = Kind::$jump;
                        decoded.dst = dst;
                        decoded.target = target;
                        source(&mut decoded, src);
                    })*
                    Op::Ja { target } => {
                        decoded.kind = Kind::Ja;
                        decoded.target = target;
                    }
                    _ => {}
                }
                decoded
            }
        }

        impl Decoded {
            /// Executes this hot op at `pc` on `regs`; returns the next pc,
            /// or `None` for [`Kind::Other`], which `Machine::step` runs.
            #[inline(always)]
            pub(crate) fn step(&self, regs: &mut Registers, pc: usize) -> Option<usize> {
                let (slot, dst) = (self, self.dst);
                Some(match slot.kind {
                    $(Kind::$alu => {
                        let src = operand!(regs, slot, $alu_src);
                        let value = regs[dst];
                        regs[dst] =
                            semantics::alu(AluOp::$op, Width::$alu_width, value, src);
                        pc + 1
                    })*
                    $(Kind::$jump => {
                        let src = operand!(regs, slot, $jump_src);
                        let value = regs[dst];
                        let taken =
                            semantics::condition(JmpCond::$cond, Width::$jump_width, value, src);
                        // A conditional move, not a branch: the guest's
                        // branch is data, and the dispatch that follows
                        // mispredicts once for it, not twice.
                        core::hint::select_unpredictable(taken, slot.target as usize, pc + 1)
                    })*
                    Kind::Ja => slot.target as usize,
                    Kind::Other => return None,
                })
            }
        }
    };
}

hot_ops! {
    alu {
        AddImm32 = Add W32 Imm,  AddReg32 = Add W32 Reg,
        AddImm64 = Add W64 Imm,  AddReg64 = Add W64 Reg,
        SubImm32 = Sub W32 Imm,  SubReg32 = Sub W32 Reg,
        SubImm64 = Sub W64 Imm,  SubReg64 = Sub W64 Reg,
        MulImm32 = Mul W32 Imm,  MulReg32 = Mul W32 Reg,
        MulImm64 = Mul W64 Imm,  MulReg64 = Mul W64 Reg,
        DivImm32 = Div W32 Imm,  DivReg32 = Div W32 Reg,
        DivImm64 = Div W64 Imm,  DivReg64 = Div W64 Reg,
        SdivImm32 = Sdiv W32 Imm,  SdivReg32 = Sdiv W32 Reg,
        SdivImm64 = Sdiv W64 Imm,  SdivReg64 = Sdiv W64 Reg,
        ModImm32 = Mod W32 Imm,  ModReg32 = Mod W32 Reg,
        ModImm64 = Mod W64 Imm,  ModReg64 = Mod W64 Reg,
        SmodImm32 = Smod W32 Imm,  SmodReg32 = Smod W32 Reg,
        SmodImm64 = Smod W64 Imm,  SmodReg64 = Smod W64 Reg,
        OrImm32 = Or W32 Imm,  OrReg32 = Or W32 Reg,
        OrImm64 = Or W64 Imm,  OrReg64 = Or W64 Reg,
        AndImm32 = And W32 Imm,  AndReg32 = And W32 Reg,
        AndImm64 = And W64 Imm,  AndReg64 = And W64 Reg,
        XorImm32 = Xor W32 Imm,  XorReg32 = Xor W32 Reg,
        XorImm64 = Xor W64 Imm,  XorReg64 = Xor W64 Reg,
        LshImm32 = Lsh W32 Imm,  LshReg32 = Lsh W32 Reg,
        LshImm64 = Lsh W64 Imm,  LshReg64 = Lsh W64 Reg,
        RshImm32 = Rsh W32 Imm,  RshReg32 = Rsh W32 Reg,
        RshImm64 = Rsh W64 Imm,  RshReg64 = Rsh W64 Reg,
        ArshImm32 = Arsh W32 Imm,  ArshReg32 = Arsh W32 Reg,
        ArshImm64 = Arsh W64 Imm,  ArshReg64 = Arsh W64 Reg,
        MovImm32 = Mov W32 Imm,  MovReg32 = Mov W32 Reg,
        MovImm64 = Mov W64 Imm,  MovReg64 = Mov W64 Reg,
    }
    jump {
        JeqImm32 = Eq W32 Imm,  JeqReg32 = Eq W32 Reg,
        JeqImm64 = Eq W64 Imm,  JeqReg64 = Eq W64 Reg,
        JneImm32 = Ne W32 Imm,  JneReg32 = Ne W32 Reg,
        JneImm64 = Ne W64 Imm,  JneReg64 = Ne W64 Reg,
        JsetImm32 = Set W32 Imm,  JsetReg32 = Set W32 Reg,
        JsetImm64 = Set W64 Imm,  JsetReg64 = Set W64 Reg,
        JgtImm32 = Gt W32 Imm,  JgtReg32 = Gt W32 Reg,
        JgtImm64 = Gt W64 Imm,  JgtReg64 = Gt W64 Reg,
        JgeImm32 = Ge W32 Imm,  JgeReg32 = Ge W32 Reg,
        JgeImm64 = Ge W64 Imm,  JgeReg64 = Ge W64 Reg,
        JltImm32 = Lt W32 Imm,  JltReg32 = Lt W32 Reg,
        JltImm64 = Lt W64 Imm,  JltReg64 = Lt W64 Reg,
        JleImm32 = Le W32 Imm,  JleReg32 = Le W32 Reg,
        JleImm64 = Le W64 Imm,  JleReg64 = Le W64 Reg,
        JsgtImm32 = Sgt W32 Imm,  JsgtReg32 = Sgt W32 Reg,
        JsgtImm64 = Sgt W64 Imm,  JsgtReg64 = Sgt W64 Reg,
        JsgeImm32 = Sge W32 Imm,  JsgeReg32 = Sge W32 Reg,
        JsgeImm64 = Sge W64 Imm,  JsgeReg64 = Sge W64 Reg,
        JsltImm32 = Slt W32 Imm,  JsltReg32 = Slt W32 Reg,
        JsltImm64 = Slt W64 Imm,  JsltReg64 = Slt W64 Reg,
        JsleImm32 = Sle W32 Imm,  JsleReg32 = Sle W32 Reg,
        JsleImm64 = Sle W64 Imm,  JsleReg64 = Sle W64 Reg,
    }
}

/// Runs the hot ops of `hot` from `pc` on `regs`, each charged to the
/// `remaining` budget, and the other ops that `other` runs (it returns
/// whether it ran the op at that pc, which then moves on to the next);
/// returns the pc of the first op neither ran (not charged), or where the
/// slots or the budget ran out, and the budget left. The hot ops touch
/// registers only, so the budget stays in a host register, and a run
/// needs no memory until it stops here (see `session`).
/// `Machine::execute_from` runs the same stretches inline, in a form that
/// charges each op before it runs: measured, it keeps that loop 10%
/// faster on load-heavy programs than a call to this.
#[inline(always)]
pub(crate) fn run(
    regs: &mut Registers,
    hot: &[Decoded],
    mut pc: usize,
    mut remaining: u64,
    mut other: impl FnMut(usize, &mut Registers) -> bool,
) -> (usize, u64) {
    while let Some(slot) = hot.get(pc).filter(|_| remaining > 0) {
        match slot.step(regs, pc) {
            Some(next) => pc = next,
            None if other(pc, regs) => pc += 1,
            None => break,
        }
        remaining -= 1;
    }
    (pc, remaining)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binary_op_and_condition_has_a_kind_at_each_width_and_source() {
        let sources = [Source::Imm(-3), Source::Reg(Reg::R4)];
        for width in [Width::W32, Width::W64] {
            for src in sources {
                for op in AluOp::BINARY {
                    let alu = Op::Alu {
                        width,
                        op,
                        dst: Reg::R1,
                        src,
                    };
                    assert_ne!(Decoded::of(&alu).kind, Kind::Other, "{alu:?}");
                }
                for cond in JmpCond::ALL {
                    let jump = Op::Jump {
                        width,
                        cond,
                        dst: Reg::R1,
                        src,
                        target: 7,
                    };
                    let decoded = Decoded::of(&jump);
                    assert_ne!(decoded.kind, Kind::Other, "{jump:?}");
                    assert_eq!(decoded.target, 7);
                }
            }
        }
        let movsx = Op::Alu {
            width: Width::W64,
            op: AluOp::Movsx(visor_isa::Size::B),
            dst: Reg::R1,
            src: Source::Reg(Reg::R2),
        };
        assert_eq!(Decoded::of(&movsx).kind, Kind::Other);
        assert_eq!(Decoded::of(&Op::Exit).kind, Kind::Other);
    }
}
