//! The lean entry: a second native body for *leaf* programs, entered by a
//! plain function call with no context, region table or budget.
//!
//! A leaf program calls nothing (no helper, local call or `callx`), has
//! no atomics, reads the packet only with `LD_ABS`/`LD_IND`, and names r10
//! only as the base of loads and stores whose constant offsets lie inside
//! frame 0 (every filter `visor_filter::to_ebpf` translates, and the
//! empty program). For such a program a run needs nothing of the machine:
//!
//! ```text
//!   lean(r1, r2, packet, packet_len) -> (r0, bailed)
//!     frame 0    = 512 bytes of the host stack; the bytes accesses reach
//!                  are zeroed, and each access's bounds were proven when
//!                  compiling (r10 is never written, so r10 + off is known)
//!     LD_ABS/IND = checked inline against packet_len (rbp), loaded from
//!                  packet (r15); a miss ends the program with 0, as `step`
//!   r0   <-- exit
//!   bail <-- anything that needs the machine: falling off the end, a jump
//!            into an `lddw`. The run had no effect outside its own
//!            frame, so the caller runs it again on the full path, which
//!            reports the error.
//! ```
//!
//! Runs with a budget keep to the full path, which counts instructions.

use visor_isa::{Reg, Size, Source};

use super::codegen::{CALLEE_SAVED, Codegen, host};
use super::x64::{AluKind, Gpr, Label, Mem, OperandSize};
use crate::layout::STACK_FRAME_SIZE;
use crate::lower::{Op, register_bit};

/// Where the lean body keeps the packet's address (r10's register is
/// free: r10 is no value in a leaf program).
pub(super) const PACKET_PTR: Gpr = Gpr::R15;
/// Where the lean body keeps the packet's length.
pub(super) const PACKET_LEN: Gpr = Gpr::Rbp;

/// What the lean body's prologue must set up, found by one pass over a
/// leaf program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LeanPlan {
    /// Guest registers the program names (r0 always: `exit` reads it),
    /// one bit each ([`Op::registers`]); r10 is no value here.
    used: u16,
    /// The lowest frame offset any access reaches (0: no stack).
    frame_low: i32,
    /// Whether the program loads from the packet.
    packet: bool,
}

impl LeanPlan {
    /// The plan of `code`, or `None` when it is not a leaf program.
    pub(super) fn of(code: &[Op]) -> Option<LeanPlan> {
        let mut plan = LeanPlan {
            used: register_bit(Reg::R0),
            frame_low: 0,
            packet: false,
        };
        for op in code {
            plan.admit(op)?;
        }
        Some(plan)
    }

    /// Records what `op` needs; `None` when a leaf program cannot have it.
    fn admit(&mut self, op: &Op) -> Option<()> {
        match *op {
            Op::Load {
                size,
                dst,
                src,
                off,
                ..
            } if dst != Reg::R10 => {
                self.frame_access(src, size, off)?;
            }
            Op::Store {
                size,
                dst,
                off,
                src,
            } if src != Source::Reg(Reg::R10) => {
                self.frame_access(dst, size, off)?;
            }
            Op::Load { .. } | Op::Store { .. } | Op::Atomic { .. } => return None,
            Op::CallHelper { .. }
            | Op::CallUnknownHelper { .. }
            | Op::CallLocal { .. }
            | Op::CallReg { .. } => return None,
            Op::LoadPacket { .. } => self.packet = true,
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

    /// Whether the program names `reg` as a value.
    fn uses(&self, reg: Reg) -> bool {
        self.used & register_bit(reg) != 0
    }

    /// Records an access of `size` at `base + off`; `None` unless it has
    /// a [`frame_slot`].
    fn frame_access(&mut self, base: Reg, size: Size, off: i16) -> Option<()> {
        frame_slot(base, size, off)?;
        self.frame_low = self.frame_low.min(i32::from(off));
        Some(())
    }

    /// Bytes of host stack the body reserves for frame 0.
    fn frame_size(&self) -> i32 {
        if self.frame_low < 0 {
            STACK_FRAME_SIZE as i32
        } else {
            0
        }
    }

    /// The callee-saved host registers the body writes.
    fn saved(&self) -> impl Iterator<Item = Gpr> + '_ {
        CALLEE_SAVED.into_iter().filter(|&gpr| {
            let packet = self.packet && (gpr == PACKET_PTR || gpr == PACKET_LEN);
            let guest = Reg::ALL
                .into_iter()
                .any(|reg| self.uses(reg) && host(reg) == gpr);
            packet || guest
        })
    }
}

/// The host operand of an access of `size` at `base + off` in the lean
/// body, when `base` is r10 (never written there, so it points at the end
/// of frame 0) and the access lies wholly inside frame 0. Frame 0 sits at
/// the stack pointer, its end `STACK_FRAME_SIZE` above.
pub(super) fn frame_slot(base: Reg, size: Size, off: i16) -> Option<Mem> {
    let frame = STACK_FRAME_SIZE as i32;
    let (start, end) = (i32::from(off), i32::from(off) + size.bytes() as i32);
    let inside = base == Reg::R10 && start >= -frame && end <= 0;
    inside.then(|| Mem::at(Gpr::Rsp, frame + start))
}

impl Codegen<'_> {
    /// The lean entry: `(r1, r2, packet, packet_len)` in rdi, rsi, rdx
    /// and rcx (System V); saves what the body writes, reserves and zeroes
    /// the frame, and sets the guest registers as a run starts.
    pub(super) fn lean_prologue(&mut self, plan: &LeanPlan) {
        for gpr in plan.saved() {
            self.asm.push(gpr);
        }
        let frame = plan.frame_size();
        if frame > 0 {
            self.asm
                .alu_ri(AluKind::Sub, OperandSize::S64, Gpr::Rsp, frame);
        }
        if plan.packet {
            self.asm.mov_rr(OperandSize::S64, PACKET_PTR, Gpr::Rdx);
            self.asm.mov_rr(OperandSize::S64, PACKET_LEN, Gpr::Rcx);
        }
        // The bytes accesses can reach read as zero, as a fresh frame does.
        if frame > 0 {
            self.asm
                .alu_rr(AluKind::Xor, OperandSize::S32, Gpr::Rax, Gpr::Rax);
        }
        let low = plan.frame_low.div_euclid(8) * 8;
        for offset in (low..0).step_by(8) {
            let slot = Mem::at(Gpr::Rsp, frame + offset);
            self.asm.mov_mr(OperandSize::S64, slot, Gpr::Rax);
        }
        // r1 arrives in rdi and r2 in rsi, the other way round from where
        // they live (rax is free again).
        let (r1, r2) = (plan.uses(Reg::R1), plan.uses(Reg::R2));
        if r1 {
            self.asm.mov_rr(OperandSize::S64, Gpr::Rax, Gpr::Rdi);
        }
        if r2 {
            self.asm.mov_rr(OperandSize::S64, host(Reg::R2), Gpr::Rsi);
        }
        if r1 {
            self.asm.mov_rr(OperandSize::S64, host(Reg::R1), Gpr::Rax);
        }
        for reg in Reg::ALL {
            let zeroed = !matches!(reg, Reg::R1 | Reg::R2 | Reg::R10);
            if zeroed && plan.uses(reg) {
                let gpr = host(reg);
                self.asm.alu_rr(AluKind::Xor, OperandSize::S32, gpr, gpr);
            }
        }
    }

    /// `exit` in the lean body: r0 is the result. Each `exit` returns
    /// where it is, which saves a jump.
    pub(super) fn lean_exit(&mut self, lean: &Lean) {
        self.asm.mov_rr(OperandSize::S64, Gpr::Rax, host(Reg::R0));
        self.asm
            .alu_rr(AluKind::Xor, OperandSize::S32, Gpr::Rdx, Gpr::Rdx);
        self.lean_return(&lean.plan);
    }

    /// The lean body's shared ways out, `reject` (r0 = 0) and `bail`.
    pub(super) fn lean_epilogue(&mut self, lean: &Lean) {
        self.asm.bind(lean.reject);
        self.asm
            .alu_rr(AluKind::Xor, OperandSize::S32, Gpr::Rax, Gpr::Rax);
        self.asm
            .alu_rr(AluKind::Xor, OperandSize::S32, Gpr::Rdx, Gpr::Rdx);
        self.lean_return(&lean.plan);
        self.asm.bind(lean.bail);
        self.asm.mov_ri32(Gpr::Rdx, 1);
        self.lean_return(&lean.plan);
    }

    /// Returns `(r0, bailed)` from rax and rdx, as [`LeanExit`] is
    /// returned, restoring what the prologue saved.
    ///
    /// [`LeanExit`]: super::LeanExit
    fn lean_return(&mut self, plan: &LeanPlan) {
        let frame = plan.frame_size();
        if frame > 0 {
            self.asm
                .alu_ri(AluKind::Add, OperandSize::S64, Gpr::Rsp, frame);
        }
        let saved: Vec<Gpr> = plan.saved().collect();
        for gpr in saved.into_iter().rev() {
            self.asm.pop(gpr);
        }
        self.asm.ret();
    }
}

/// What the code generator needs to emit a lean body: its plan and the
/// labels of its shared ways out.
#[derive(Clone, Copy, Debug)]
pub(super) struct Lean {
    pub(super) plan: LeanPlan,
    /// A packet load missed: the program ends with 0.
    pub(super) reject: Label,
    /// The machine is needed: run again on the full path.
    pub(super) bail: Label,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helpers::Helpers;
    use crate::jit::{Blinding, JitProgram};
    use crate::lower::{Names, lower};
    use crate::maps::ProgramMaps;
    use visor_isa::{AluOp, CallTarget, Insn, PacketOffset, Program, Width};

    fn lowered(insns: &[Insn]) -> Vec<Op> {
        let names = Names {
            helpers: &Helpers::new(),
            maps: &ProgramMaps::new(),
        };
        let program = Program::new(insns.to_vec()).expect("a valid program");
        lower(&program, names).expect("it lowers")
    }

    fn mov(dst: Reg, src: Source) -> Insn {
        let (width, op) = (Width::W64, AluOp::Mov);
        Insn::Alu {
            width,
            op,
            dst,
            src,
        }
    }

    fn stack(size: Size, off: i16) -> (Insn, Insn) {
        let store = Insn::Store {
            size,
            dst: Reg::R10,
            off,
            src: Source::Imm(7),
        };
        let load = Insn::Load {
            size,
            signed: false,
            dst: Reg::R0,
            src: Reg::R10,
            off,
        };
        (store, load)
    }

    fn ld_abs(size: Size, imm: i32) -> Insn {
        let offset = PacketOffset::Abs;
        Insn::LoadPacket { size, offset, imm }
    }

    #[test]
    fn only_leaf_programs_have_a_plan() {
        let (store, load) = stack(Size::W, -4);
        let leaves = [
            vec![Insn::Exit],
            vec![store, load, Insn::Exit],
            vec![
                ld_abs(Size::H, 12),
                mov(Reg::R3, Source::Reg(Reg::R1)),
                Insn::Exit,
            ],
        ];
        for leaf in leaves {
            assert!(LeanPlan::of(&lowered(&leaf)).is_some(), "{leaf:?}");
        }
        let from_r1 = Insn::Load {
            size: Size::B,
            signed: false,
            dst: Reg::R0,
            src: Reg::R1,
            off: 0,
        };
        let at_frame_pointer = stack(Size::B, 0).1;
        let below_frame = stack(Size::DW, -516).0;
        let others = [
            Insn::Call(CallTarget::Helper(1)),
            from_r1,
            mov(Reg::R1, Source::Reg(Reg::R10)),
            at_frame_pointer,
            below_frame,
        ];
        for other in others {
            let code = lowered(&[other, Insn::Exit]);
            assert_eq!(LeanPlan::of(&code), None, "{other:?}");
        }
    }

    #[test]
    fn the_lean_body_runs_leaves_and_bails_for_the_machine() {
        let (store, load) = stack(Size::DW, -512);
        let unwritten = stack(Size::W, -8).1;
        let r2 = mov(Reg::R0, Source::Reg(Reg::R2));
        let cases = [
            (vec![store, load, Insn::Exit], Some(7)),
            (vec![store, unwritten, Insn::Exit], Some(0)),
            (vec![ld_abs(Size::H, 1), Insn::Exit], Some(0x2233)),
            (vec![ld_abs(Size::H, 2), Insn::Exit], Some(0)),
            (vec![r2, Insn::Exit], Some(60)),
            // Falling off the end is for the machine to report.
            (vec![r2], None),
        ];
        for blinding in [Blinding::On, Blinding::Off] {
            for (insns, want) in &cases {
                let jit = JitProgram::compile(&lowered(insns), blinding).expect("it compiles");
                let ran = jit.run_lean(0, 60, &[0x11, 0x22, 0x33]);
                assert_eq!(ran, *want, "{insns:?}");
            }
        }
    }
}
