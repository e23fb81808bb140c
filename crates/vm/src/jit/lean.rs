//! The lean entry: a second native body for *leaf* programs, entered by a
//! plain function call with no context, region table or budget.
//!
//! A leaf program calls nothing (no helper, local call or `callx`), has
//! no atomics, names r10 only as the base of loads and stores whose
//! constant offsets lie inside frame 0, and reaches other memory in one
//! of two ways, never both:
//!
//! - the packet, with `LD_ABS`/`LD_IND` only (every filter
//!   `visor_filter::to_ebpf` translates), checked inline;
//! - the input buffer (r1 = its address, r2 = its length), through
//!   pointers, where visor-verifier proved every such load and store
//!   inside the buffer (`plan::BufferProof`): those run unchecked, one host
//!   instruction each, as the kernel's JIT runs what its verifier proved.
//!
//! For such a program a run needs nothing of the machine:
//!
//! ```text
//!   lean(r1, r2, memory, len) -> (r0, bailed)
//!     frame 0    = 512 bytes of the host stack; the bytes accesses reach
//!                  are zeroed, and each access's bounds were proven when
//!                  compiling (r10 is never written, so r10 + off is known)
//!     LD_ABS/IND = checked inline against len (rbp), loaded from the
//!                  packet at memory (r15); a miss ends the program with 0,
//!                  as `step`
//!     *(ptr+off) = [ptr + r15 + off], r15 = the buffer's host address less
//!                  its guest address: proven, so not checked
//!   r0   <-- exit
//!   bail <-- anything that needs the machine: falling off the end, a jump
//!            into an `lddw`. Neither is reachable in a program the
//!            verifier accepted, so a run that stored to the buffer never
//!            bails; any other run had no effect outside its own frame,
//!            and the caller runs it again on the full path, which
//!            reports the error.
//! ```
//!
//! Runs with a budget keep to the full path, which counts instructions;
//! so do buffer runs where r1 and r2 are not the buffer's address and
//! length, or the buffer is read-only and the program stores to it.

use visor_isa::{Reg, Size};

use super::codegen::{CALLEE_SAVED, Codegen, host};
use super::plan::{LeanMemory, LeanPlan, in_frame};
use super::x64::{AluKind, Gpr, Label, Mem, OperandSize};
use crate::layout::STACK_FRAME_SIZE;

/// Where the lean body keeps the packet's address, or the buffer's host
/// address less its guest address (r10's register is free: r10 is no
/// value in a leaf program).
pub(super) const PACKET_PTR: Gpr = Gpr::R15;
/// Where the lean body keeps the packet's length.
pub(super) const PACKET_LEN: Gpr = Gpr::Rbp;

impl LeanPlan {
    /// The callee-saved host registers the body writes.
    ///
    /// Found through a mask of host registers: written as a search over
    /// guest registers per host register, the code generator's own
    /// compilation took LLVM minutes (it unswitched the loop on every
    /// guest register's bit).
    fn saved(&self) -> impl Iterator<Item = Gpr> + '_ {
        let bit = |gpr: Gpr| 1u32 << (gpr as u32);
        let mut written = 0;
        for reg in Reg::ALL {
            written |= u32::from(self.uses(reg)) * bit(host(reg));
        }
        if self.memory != LeanMemory::Nothing {
            written |= bit(PACKET_PTR) | bit(PACKET_LEN);
        }
        CALLEE_SAVED
            .into_iter()
            .filter(move |&gpr| written & bit(gpr) != 0)
    }
}

/// The host operand of a proven buffer access at `base + off` in the
/// lean body.
pub(super) fn buffer_slot(base: Gpr, off: i16) -> Mem {
    Mem::indexed(base, PACKET_PTR, i32::from(off))
}

/// The host operand of an access of `size` at `base + off` in the lean
/// body, when `base` is r10 (never written there, so it points at the end
/// of frame 0) and the access lies wholly inside frame 0. Frame 0 sits at
/// the stack pointer, its end `STACK_FRAME_SIZE` above.
pub(super) fn frame_slot(base: Reg, size: Size, off: i16) -> Option<Mem> {
    let frame = STACK_FRAME_SIZE as i32;
    let inside = base == Reg::R10 && in_frame(size, off);
    inside.then(|| Mem::at(Gpr::Rsp, frame + i32::from(off)))
}

impl Codegen<'_> {
    /// The lean entry: `(r1, r2, memory, len)` in rdi, rsi, rdx
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
        if plan.memory != LeanMemory::Nothing {
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
    use crate::jit::{Blinding, JitProgram, LeanInput};
    use crate::lower::{Names, Op, lower};
    use crate::maps::ProgramMaps;
    use visor_isa::{AluOp, CallTarget, Insn, PacketOffset, Program, Source, Width};

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
            assert!(
                LeanPlan::of(&lowered(&leaf), |_| false).is_some(),
                "{leaf:?}"
            );
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
            assert_eq!(LeanPlan::of(&code, |_| false), None, "{other:?}");
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
                let jit = JitProgram::compile(&lowered(insns), blinding, None, None)
                    .expect("it compiles");
                let ran = jit.run_lean(0, 60, LeanInput::Packet(&[0x11, 0x22, 0x33]));
                assert_eq!(ran, *want, "{insns:?}");
            }
        }
    }

    /// Programs over a buffer: the proven ones run on the lean body,
    /// unchecked; all give what the interpreter gives, on every length,
    /// writable or not.
    const BUFFER_PROGRAMS: [(&str, bool); 5] = [
        // memcpy's shape: a length check, then a counted loop.
        (
            "r0 = 0\nif r2 < 32 goto +7\nr3 = 0\nr4 = *(u64 *)(r1 + 0)\n*(u64 *)(r1 + 16) = r4\nr0 += r4\nr1 += 8\nr3 += 1\nif r3 != 2 goto -6\nexit",
            true,
        ),
        // parser's shape: data + len is data_end.
        (
            "r0 = 0\nr2 += r1\nr3 = r1\nr3 += 6\nif r3 > r2 goto +3\nr0 = *(u16 *)(r1 + 4)\nr4 = *(u8 *)(r1 + 1)\nr0 += r4\nexit",
            true,
        ),
        // A signed check of a copy, and a store of a constant.
        (
            "r0 = 0\nr5 = r2\nif r5 s< 8 goto +2\n*(u32 *)(r1 + 4) = 7\nr0 = *(u64 *)(r1 + 0)\nexit",
            true,
        ),
        // Unchecked: no proof, the machine body checks it.
        ("r0 = *(u8 *)(r1 + 3)\nexit", false),
        // Checked against a changed length: no proof either.
        (
            "r0 = 0\nr2 += 1\nif r2 < 8 goto +1\nr0 = *(u64 *)(r1 + 0)\nexit",
            false,
        ),
    ];

    #[test]
    fn proven_buffer_programs_run_lean_and_unchecked() {
        use crate::interpreter::{Interpreter, RunInput};
        use visor_isa::asm::{Syntax, assemble};
        for (text, proven) in BUFFER_PROGRAMS {
            let program = assemble(text, Syntax::Llvm).expect("it assembles");
            let interpreter = Interpreter::new(&program, Helpers::new()).expect("it lowers");
            let jit = Interpreter::new(&program, Helpers::new())
                .expect("it lowers")
                .with_jit()
                .expect("it compiles");
            let memory = jit.jit().and_then(JitProgram::lean_memory);
            assert_eq!(
                matches!(memory, Some(LeanMemory::Buffer { .. })),
                proven,
                "{text}"
            );
            for len in 0..40u8 {
                let bytes: Vec<u8> = (1..=len).collect();
                let (mut theirs, mut ours) = (bytes.clone(), bytes.clone());
                if proven && len > 0 {
                    let mut scratch = bytes.clone();
                    let lean = jit.run_lean(&mut RunInput::memory(&mut scratch));
                    assert!(lean.is_some(), "{text} on {len} bytes: not run lean");
                }
                let want = interpreter.run(&mut theirs);
                assert_eq!(
                    jit.run(&mut ours).ok(),
                    want.as_ref().ok().copied(),
                    "{text} on {len} bytes"
                );
                assert_eq!(ours, theirs, "{text} on {len} bytes");
                let read_only = jit.run_with(RunInput::readonly(&bytes)).ok();
                let want = interpreter.run_with(RunInput::readonly(&bytes)).ok();
                assert_eq!(read_only, want, "{text} on {len} read-only bytes");
                // r2 other than the length: no proof holds, the full path runs.
                let longer = RunInput::readonly(&bytes).with_length(64);
                let want = interpreter.run_with(RunInput::readonly(&bytes).with_length(64));
                assert_eq!(
                    jit.run_with(longer).ok(),
                    want.ok(),
                    "{text} on {len} bytes, r2 = 64"
                );
            }
        }
    }
}
