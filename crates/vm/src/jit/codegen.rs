//! Lowered ops to x86-64: one method per op kind, width passed as a value
//! (one `alu` serves ALU and ALU64, one `jump` serves JMP and JMP32).
//!
//! Host registers: guest r0 to r10 each live in one host register for the
//! whole run (`HOST`); rax, rcx and rdx are scratch (division, shift
//! counts, access checks, `cmpxchg`); r15 holds the [`JitContext`]. Calls
//! into Rust go through one shared stub that spills every guest register
//! to the context, aligns the stack, calls the service entry, and reloads
//! them: so the machine on the Rust side always sees the real registers.

use core::mem::offset_of;

use visor_isa::{AluOp, ByteOrder, JmpCond, Reg, Size, Source, Width};

use super::Blinding;
use super::blinding::{KeyStream, Operand};
use super::lean::{self, Lean};
use super::memory::{Access, access_check, map_access_check};
use super::plan::{BufferProof, LeanMemory, LeanPlan};
use super::tail::{ENOENT_RETURN, SLOW_SLOT, TailWindow};
use super::x64::{AluKind, Assembler, Cond, DivKind, Gpr, Label, Mem, OperandSize, ShiftKind};
use super::{JitContext, JitError, Service, Status};
use crate::layout::frame_pointer;
use crate::lower::Op;
use crate::maps::MAX_TAIL_CALLS;
use crate::semantics;

/// The host register of each guest register, by number.
const HOST: [Gpr; Reg::COUNT] = [
    Gpr::Rbx, // r0
    Gpr::Rsi, // r1
    Gpr::Rdi, // r2
    Gpr::R8,  // r3
    Gpr::R9,  // r4
    Gpr::R10, // r5
    Gpr::R11, // r6
    Gpr::R12, // r7
    Gpr::R13, // r8
    Gpr::R14, // r9
    Gpr::Rbp, // r10
];

/// The register holding the context's address.
pub(super) const CTX: Gpr = Gpr::R15;

/// Host registers the entry saves for its caller (System V callee-saved).
pub(super) const CALLEE_SAVED: [Gpr; 6] =
    [Gpr::Rbx, Gpr::Rbp, Gpr::R12, Gpr::R13, Gpr::R14, Gpr::R15];

pub(super) fn host(reg: Reg) -> Gpr {
    HOST[reg.index() % Reg::COUNT]
}

pub(super) fn context_field(offset: usize) -> Mem {
    // The context is a few hundred bytes: its offsets fit.
    Mem::at(CTX, offset as i32)
}

/// The host operand size of a guest width.
fn size_of_width(width: Width) -> OperandSize {
    match width {
        Width::W32 => OperandSize::S32,
        Width::W64 => OperandSize::S64,
    }
}

/// The one table of condition codes: the x86 condition under which
/// `cmp dst, src` (or `test`, for `Set`) takes an eBPF jump.
impl From<JmpCond> for Cond {
    fn from(cond: JmpCond) -> Cond {
        match cond {
            JmpCond::Eq => Cond::E,
            JmpCond::Ne => Cond::Ne,
            JmpCond::Set => Cond::Ne, // after `test`, not `cmp`
            JmpCond::Gt => Cond::A,
            JmpCond::Ge => Cond::Ae,
            JmpCond::Lt => Cond::B,
            JmpCond::Le => Cond::Be,
            JmpCond::Sgt => Cond::G,
            JmpCond::Sge => Cond::Ge,
            JmpCond::Slt => Cond::L,
            JmpCond::Sle => Cond::Le,
        }
    }
}

/// Out-of-line code: a call into Rust for the instruction at `pc`, then
/// back to `resume`, or out of native code.
struct SlowPath {
    entry: Label,
    pc: u32,
    service: Service,
    /// Where to continue on `Status::Continue`; `None`: always leave.
    resume: Option<Label>,
}

/// Out-of-line code: the map-value check of an access (see
/// `memory::map_access_check`).
struct MapPath {
    entry: Label,
    access: (Access, Size),
    /// The access itself, with the host byte in rdx.
    back: Label,
    slow: Label,
}

/// The code generator for one program.
pub(super) struct Codegen<'a> {
    pub(super) asm: Assembler,
    code: &'a [Op],
    /// A label per slot, and one for the end of the program.
    labels: Vec<Label>,
    /// Where a basic block starts.
    leaders: Vec<bool>,
    /// The shared stub that calls the service entry.
    stub: Label,
    /// Leaves native code.
    leave: Label,
    slow: Vec<SlowPath>,
    map_paths: Vec<MapPath>,
    pub(super) body: Body,
    /// The keys of constant blinding, when it is on.
    pub(super) blinding: Option<KeyStream>,
    /// The helper index of the built-in `bpf_tail_call` in a machine
    /// body: its calls try the tail window first.
    tail_call: Option<u32>,
}

/// Which of the two bodies of a program the code generator emits.
#[derive(Clone, Copy, Debug)]
pub(super) enum Body {
    /// The machine's body: guest state in the context, accesses checked
    /// against the region table, the budget charged per block where it
    /// lives, every rare case through a service.
    Machine(BudgetHome),
    /// The lean body of a leaf program (see `lean`): no context, no
    /// budget; a slow path rejects (a packet load) or bails.
    Lean(Lean),
}

/// Where native code keeps the instructions left in the budget while it
/// runs. Each basic block is charged, so a memory-resident counter makes a
/// chain of read-modify-writes through memory: a few cycles a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BudgetHome {
    /// `JitContext::remaining`.
    Context,
    /// rbp, the host register of r10, in a program that never names r10
    /// and calls nothing (no helper, `callx` or local call): only then is
    /// r10 unread, by native code and by the machine alike. Copied to and
    /// from `JitContext::remaining` around every call into Rust.
    Rbp,
}

impl BudgetHome {
    fn of(code: &[Op]) -> BudgetHome {
        let calls = |op: &Op| {
            matches!(
                op,
                Op::CallHelper { .. }
                    | Op::CallUnknownHelper { .. }
                    | Op::CallLocal { .. }
                    | Op::CallReg { .. }
            )
        };
        if code.iter().any(|op| op.mentions(Reg::R10) || calls(op)) {
            BudgetHome::Context
        } else {
            BudgetHome::Rbp
        }
    }
}

/// The budget counter in the context.
fn remaining_field() -> Mem {
    context_field(offset_of!(JitContext, remaining))
}

/// The machine body's code with its entries (see [`Codegen::entries`]).
pub(super) struct Compiled {
    pub(super) bytes: Vec<u8>,
    pub(super) entries: EntryOffsets,
}

/// Where the machine body's entries are, besides offset 0 (which
/// resumes from the context's registers).
#[derive(Clone, Copy, Debug)]
pub(super) struct EntryOffsets {
    /// Where a run that starts afresh enters.
    pub(super) fresh: usize,
    /// Where another body jumps after leaving on a native tail call, its
    /// registers in the context.
    pub(super) chained: usize,
    /// Where another body's inline tail call jumps, its registers live.
    pub(super) direct: usize,
}

/// Compiles the machine body of `code`; `service` is the address of the
/// Rust service entry, `tail_call` the helper index of the built-in
/// `bpf_tail_call`, whose calls are made inline (see `tail`).
pub(super) fn compile(
    code: &[Op],
    service: u64,
    blinding: Blinding,
    tail_call: Option<u32>,
) -> Result<Compiled, JitError> {
    let body = Body::Machine(BudgetHome::of(code));
    let mut cg = Codegen::new(sized_assembler(code), code, body, blinding);
    cg.tail_call = tail_call;
    let entries = cg.entries();
    cg.emit_body()?;
    // Falling off the end: the interpreter reports it from here.
    cg.call_service(code.len(), Service::Resume);
    cg.asm.jmp(cg.leave);
    cg.slow_paths();
    cg.service_stub(service);
    cg.epilogue();
    let bytes = cg.asm.finish().map_err(|_| JitError::UnboundLabel)?;
    Ok(Compiled { bytes, entries })
}

/// The lean body of `code`, when it is a leaf program (its entry is at
/// offset 0), and what it reaches besides its frame.
pub(super) fn compile_lean(
    code: &[Op],
    blinding: Blinding,
    proof: Option<&BufferProof>,
) -> Option<(Vec<u8>, LeanMemory)> {
    let plan = LeanPlan::of(code, |slot| proof.is_some_and(|p| p.proves(slot)))?;
    let mut asm = sized_assembler(code);
    let lean = Lean {
        plan,
        reject: asm.new_label(),
        bail: asm.new_label(),
    };
    let mut cg = Codegen::new(asm, code, Body::Lean(lean), blinding);
    cg.lean_prologue(&plan);
    cg.emit_body().ok()?;
    // Falling off the end: the machine reports it.
    cg.asm.jmp(lean.bail);
    cg.slow_paths();
    cg.lean_epilogue(&lean);
    Some((cg.asm.finish().ok()?, plan.memory))
}

/// An assembler with room for the code of a typical body of `code`, so
/// that its buffers are not grown (and copied) while emitting.
fn sized_assembler(code: &[Op]) -> Assembler {
    // Measured over `../shared/bench`: 30 to 40 bytes per op in the
    // machine body (accesses check the table inline), 10 to 20 in the
    // lean one; stubs and prologues besides. Too much costs nothing
    // but address space.
    const BYTES_PER_OP: usize = 40;
    const FIXED_BYTES: usize = 512;
    // A label per slot, and at most two per access and its slow path.
    Assembler::with_capacity(BYTES_PER_OP * code.len() + FIXED_BYTES, 3 * code.len() + 8)
}

/// Whether each op ends a basic block: it jumps, or calls into Rust (so a
/// helper or callback sees exactly the budget the interpreter would).
/// The second slot of an `lddw` does not: its `lddw` skips it, and a jump
/// into it (an error) splits the block there (see [`leaders`]).
fn ends_block(op: &Op) -> bool {
    !matches!(
        op,
        Op::Alu { .. }
            | Op::Neg { .. }
            | Op::Endian { .. }
            | Op::Load { .. }
            | Op::Store { .. }
            | Op::Atomic { .. }
            | Op::LoadImm64 { .. }
            | Op::LoadImm64Tail
    )
}

/// The first slot of every basic block.
fn leaders(code: &[Op]) -> Vec<bool> {
    let mut leaders = vec![false; code.len() + 1];
    let mut mark = |pc: usize| {
        if let Some(slot) = leaders.get_mut(pc) {
            *slot = true;
        }
    };
    mark(0);
    for (pc, op) in code.iter().enumerate() {
        match *op {
            Op::Jump { target, .. } | Op::Ja { target } | Op::CallLocal { target } => {
                mark(target as usize);
            }
            _ => {}
        }
        if ends_block(op) {
            mark(pc + 1);
        }
    }
    // A jump into the second slot of an `lddw` (an error when run) splits
    // the `lddw` from what follows it.
    for (pc, op) in code.iter().enumerate() {
        if matches!(op, Op::LoadImm64 { .. })
            && leaders.get(pc + 1) == Some(&true)
            && let Some(slot) = leaders.get_mut(pc + 2)
        {
            *slot = true;
        }
    }
    leaders
}

impl<'a> Codegen<'a> {
    fn new(mut asm: Assembler, code: &'a [Op], body: Body, blinding: Blinding) -> Codegen<'a> {
        let labels = (0..=code.len()).map(|_| asm.new_label()).collect();
        let (stub, leave) = (asm.new_label(), asm.new_label());
        Codegen {
            asm,
            code,
            labels,
            leaders: leaders(code),
            stub,
            leave,
            slow: Vec::new(),
            map_paths: Vec::new(),
            body,
            blinding: match blinding {
                Blinding::On => Some(KeyStream::random()),
                Blinding::Off => None,
            },
            tail_call: None,
        }
    }

    /// Every slot, then the label of the end of the program, where
    /// falling off it lands.
    fn emit_body(&mut self) -> Result<(), JitError> {
        for (pc, op) in self.code.iter().enumerate() {
            self.emit_slot(pc, op)?;
        }
        self.bind_pc(self.code.len());
        Ok(())
    }

    fn is_leader(&self, pc: usize) -> bool {
        self.leaders.get(pc).copied().unwrap_or(false)
    }

    fn bind_pc(&mut self, pc: usize) {
        if let Some(&label) = self.labels.get(pc) {
            self.asm.bind(label);
        }
    }

    fn label(&self, pc: u32) -> Result<Label, JitError> {
        self.labels
            .get(pc as usize)
            .copied()
            .ok_or(JitError::UnboundLabel)
    }

    /// Instructions the block starting at `start` executes, `lddw` once.
    fn block_len(&self, start: usize) -> u32 {
        let mut count = 0;
        for (pc, op) in self.code.iter().enumerate().skip(start) {
            if pc != start && self.is_leader(pc) {
                break;
            }
            if !(matches!(op, Op::LoadImm64Tail) && pc != start) {
                count += 1;
            }
            if ends_block(op) {
                break;
            }
        }
        count
    }

    fn emit_slot(&mut self, pc: usize, op: &Op) -> Result<(), JitError> {
        if self.is_leader(pc) {
            self.bind_pc(pc);
            self.charge_budget(pc);
        } else if matches!(op, Op::LoadImm64Tail) {
            // Skipped by its `lddw`, and no jump lands here.
            return Ok(());
        }
        let pc32 = u32::try_from(pc).map_err(|_| JitError::Unsupported {
            pc,
            what: "programs this long",
        })?;
        match *op {
            Op::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(width, op, dst, src),
            Op::Neg { width, dst } => self.asm.neg(size_of_width(width), host(dst)),
            Op::Endian { order, bits, dst } => self.endian(pc, order, bits, dst)?,
            Op::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => {
                let (slow, resume) = (self.asm.new_label(), self.asm.new_label());
                let mem = self.access(Access::Read, size, src, off, slow);
                self.load(size, signed, host(dst), mem);
                self.resume_after(slow, resume, pc32);
            }
            Op::Store {
                size,
                dst,
                off,
                src,
            } => {
                let (slow, resume) = (self.asm.new_label(), self.asm.new_label());
                let mem = self.access(Access::Write, size, dst, off, slow);
                self.store(size, mem, src);
                self.resume_after(slow, resume, pc32);
            }
            Op::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => self.atomic(pc32, size, op, dst, src, off),
            Op::LoadImm64 { dst, imm } => {
                self.load_constant(host(dst), imm, Gpr::Rax);
                if self.is_leader(pc + 1) {
                    let after = self.label(pc32 + 2)?;
                    self.asm.jmp(after);
                }
            }
            Op::Jump {
                width,
                cond,
                dst,
                src,
                target,
            } => {
                let target = self.label(target)?;
                self.jump(width, cond, dst, src, target);
            }
            Op::Ja { target } => {
                let target = self.label(target)?;
                self.asm.jmp(target);
            }
            Op::CallLocal { target } => {
                let target = self.label(target)?;
                self.call_service(pc, Service::CallLocal);
                self.leave_unless_continue();
                self.asm.call_label(target);
            }
            Op::Exit => self.exit(pc),
            Op::LoadPacket { size, offset, imm } => self.load_packet(pc32, size, offset, imm)?,
            // Everything else runs in Rust with the interpreter's `step`:
            // helpers, `callx`, a jump into an `lddw`; the lean body has
            // no Rust to call, and bails.
            Op::LoadImm64Tail
            | Op::CallHelper { .. }
            | Op::CallUnknownHelper { .. }
            | Op::CallReg { .. } => match self.body {
                Body::Machine(_) => {
                    let (service, done) = match *op {
                        Op::CallHelper { index, .. } if self.tail_call == Some(index) => {
                            (Service::Helper, Some(self.inline_tail_call()))
                        }
                        Op::CallHelper { .. } => (Service::Helper, None),
                        _ => (Service::Step, None),
                    };
                    self.call_service(pc, service);
                    self.leave_unless_continue();
                    if let Some(done) = done {
                        self.asm.bind(done);
                    }
                }
                Body::Lean(lean) => self.asm.jmp(lean.bail),
            },
        }
        Ok(())
    }

    /// `exit`: out of native code at depth 0, else back to the caller;
    /// the lean body has no depth.
    fn exit(&mut self, pc: usize) {
        match self.body {
            Body::Machine(_) => {
                self.exit_at_depth_zero();
                self.call_service(pc, Service::Exit);
                self.asm.alu_ri(
                    AluKind::Cmp,
                    OperandSize::S32,
                    Gpr::Rax,
                    Status::Return as i32,
                );
                self.asm.jcc(Cond::Ne, self.leave);
                self.asm.ret();
            }
            Body::Lean(lean) => self.lean_exit(&lean),
        }
    }

    /// The host operand of an access of `size` at `base + off`, once
    /// checked: against the region table, jumping to `slow` when it does
    /// not pass; in the lean body, a frame slot the plan proved in bounds
    /// (anything else jumps to `slow`, which bails).
    fn access(&mut self, access: Access, size: Size, base: Reg, off: i16, slow: Label) -> Mem {
        match self.body {
            Body::Machine(_) => {
                let (maps, back) = (self.asm.new_label(), self.asm.new_label());
                let at = (host(base), off);
                let mem = access_check(&mut self.asm, access, size, at, maps, slow);
                self.asm.bind(back);
                self.map_paths.push(MapPath {
                    entry: maps,
                    access: (access, size),
                    back,
                    slow,
                });
                mem
            }
            // The plan admitted only frame slots and proven buffer bytes.
            Body::Lean(_) if base != Reg::R10 => lean::buffer_slot(host(base), off),
            Body::Lean(_) => lean::frame_slot(base, size, off).unwrap_or_else(|| {
                self.asm.jmp(slow);
                // Unreachable after the jump; any operand will do.
                Mem::at(Gpr::Rsp, 0)
            }),
        }
    }

    /// Binds `resume` after an inline access whose slow path is `slow`.
    pub(super) fn resume_after(&mut self, slow: Label, resume: Label, pc: u32) {
        self.asm.bind(resume);
        self.slow.push(SlowPath {
            entry: slow,
            pc,
            service: Service::Step,
            resume: Some(resume),
        });
    }

    /// Ends the program natively when `exit` runs at depth 0, which is
    /// when the stack pointer is where the prologue left it (each local
    /// call is a native `call`): r0 goes to the context, eax says
    /// `Status::Exited`, and no call into Rust is needed. Deeper, the code
    /// after this returns.
    fn exit_at_depth_zero(&mut self) {
        let nested = self.asm.new_label();
        let entry_rsp = context_field(offset_of!(JitContext, entry_rsp));
        self.asm
            .alu_rm(AluKind::Cmp, OperandSize::S64, Gpr::Rsp, entry_rsp);
        self.asm.jcc(Cond::Ne, nested);
        let r0 = context_field(offset_of!(JitContext, regs));
        self.asm.mov_mr(OperandSize::S64, r0, host(Reg::R0));
        self.asm.mov_ri32(Gpr::Rax, Status::Exited as u32);
        self.store_budget();
        self.asm.jmp(self.leave);
        self.asm.bind(nested);
    }

    /// Charges the block starting at `pc`, or hands the run to the
    /// interpreter there when the budget cannot pay for all of it.
    fn charge_budget(&mut self, pc: usize) {
        let Body::Machine(budget) = self.body else {
            return;
        };
        let count = i32::try_from(self.block_len(pc)).unwrap_or(i32::MAX);
        let short = self.asm.new_label();
        match budget {
            BudgetHome::Context => {
                let remaining = remaining_field();
                self.asm
                    .alu_mi(AluKind::Cmp, OperandSize::S64, remaining, count);
                self.asm.jcc(Cond::B, short);
                self.asm
                    .alu_mi(AluKind::Sub, OperandSize::S64, remaining, count);
            }
            BudgetHome::Rbp => {
                self.asm
                    .alu_ri(AluKind::Cmp, OperandSize::S64, Gpr::Rbp, count);
                self.asm.jcc(Cond::B, short);
                self.asm
                    .alu_ri(AluKind::Sub, OperandSize::S64, Gpr::Rbp, count);
            }
        }
        self.slow.push(SlowPath {
            entry: short,
            pc: pc as u32,
            service: Service::Resume,
            resume: None,
        });
    }

    /// Copies a register-resident budget into the context (before Rust
    /// reads it).
    fn store_budget(&mut self) {
        if let Body::Machine(BudgetHome::Rbp) = self.body {
            self.asm
                .mov_mr(OperandSize::S64, remaining_field(), Gpr::Rbp);
        }
    }

    /// Takes a register-resident budget from the context (after guest
    /// registers were loaded, which wrote rbp as r10).
    fn load_budget(&mut self) {
        if let Body::Machine(BudgetHome::Rbp) = self.body {
            self.asm
                .mov_rm(OperandSize::S64, Gpr::Rbp, remaining_field());
        }
    }

    /// `mov ecx, pc; mov edx, service; call stub`: the status in eax.
    fn call_service(&mut self, pc: usize, service: Service) {
        self.asm.mov_ri32(Gpr::Rcx, pc as u32);
        self.asm.mov_ri32(Gpr::Rdx, service as u32);
        self.asm.call_label(self.stub);
    }

    fn leave_unless_continue(&mut self) {
        self.asm.test_rr(OperandSize::S32, Gpr::Rax, Gpr::Rax);
        self.asm.jcc(Cond::Ne, self.leave);
    }

    fn alu(&mut self, width: Width, op: AluOp, dst: Reg, src: Source) {
        let size = size_of_width(width);
        let d = host(dst);
        let kind = match op {
            AluOp::Add => Some(AluKind::Add),
            AluOp::Sub => Some(AluKind::Sub),
            AluOp::Or => Some(AluKind::Or),
            AluOp::And => Some(AluKind::And),
            AluOp::Xor => Some(AluKind::Xor),
            _ => None,
        };
        if let Some(kind) = kind {
            if let Source::Imm(imm) = src
                && self.split_immediate(kind, size, d, imm)
            {
                return;
            }
            match self.operand(src) {
                Operand::Reg(s) => self.asm.alu_rr(kind, size, d, s),
                Operand::Imm(imm) => self.asm.alu_ri(kind, size, d, imm),
            }
            return;
        }
        match (op, src) {
            (AluOp::Mov, Source::Reg(s)) => self.asm.mov_rr(size, d, host(s)),
            // `mov` and `movsx` of an immediate: the result is a constant.
            (AluOp::Mov | AluOp::Movsx(_), Source::Imm(imm)) => {
                let value = semantics::alu(op, width, 0, i64::from(imm) as u64);
                self.load_constant(d, value, Gpr::Rax);
            }
            (AluOp::Movsx(from), Source::Reg(s)) => {
                let from = super::memory::size_of_access(from);
                if width == Width::W32 && from == OperandSize::S32 {
                    self.asm.mov_rr(OperandSize::S32, d, host(s));
                } else {
                    self.asm.movsx_rr(from, size, d, host(s));
                }
            }
            (AluOp::Mul, src) => match self.operand(src) {
                Operand::Reg(s) => self.asm.imul_rr(size, d, s),
                Operand::Imm(imm) => self.asm.imul_rri(size, d, d, imm),
            },
            (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, src) => self.shift(width, op, d, src),
            (AluOp::Div | AluOp::Mod | AluOp::Sdiv | AluOp::Smod, src) => {
                self.divide(width, op, d, src);
            }
            // Handled above.
            (AluOp::Add | AluOp::Sub | AluOp::Or | AluOp::And | AluOp::Xor, _) => {}
        }
    }

    fn shift(&mut self, width: Width, op: AluOp, d: Gpr, src: Source) {
        let size = size_of_width(width);
        let kind = match op {
            AluOp::Lsh => ShiftKind::Shl,
            AluOp::Rsh => ShiftKind::Shr,
            _ => ShiftKind::Sar,
        };
        match src {
            Source::Reg(s) => {
                // The hardware masks cl to the width, as eBPF does.
                self.asm.mov_rr(OperandSize::S64, Gpr::Rcx, host(s));
                self.asm.shift_rcl(kind, size, d);
                if width == Width::W32 {
                    // A count of zero may leave the register unwritten:
                    // clear the upper half explicitly.
                    self.asm.mov_rr(OperandSize::S32, d, d);
                }
            }
            Source::Imm(imm) => {
                let count = (imm as u32 & (width.bits() - 1)) as u8;
                match count {
                    0 if width == Width::W32 => self.asm.mov_rr(OperandSize::S32, d, d),
                    0 => {}
                    count => self.asm.shift_ri(kind, size, d, count),
                }
            }
        }
    }

    /// Division and modulo: x86 faults on a zero divisor and on signed
    /// `MIN / -1`, so both are branched around with eBPF's results
    /// (quotient 0 and dividend kept; `MIN` wrapped and 0).
    fn divide(&mut self, width: Width, op: AluOp, d: Gpr, src: Source) {
        let size = size_of_width(width);
        let signed = matches!(op, AluOp::Sdiv | AluOp::Smod);
        let remainder = matches!(op, AluOp::Mod | AluOp::Smod);
        let (zero, normal, done) = (
            self.asm.new_label(),
            self.asm.new_label(),
            self.asm.new_label(),
        );
        match src {
            Source::Reg(s) => self.asm.mov_rr(OperandSize::S64, Gpr::Rcx, host(s)),
            Source::Imm(imm) => self.load_constant(Gpr::Rcx, i64::from(imm) as u64, Gpr::Rax),
        }
        self.asm.test_rr(size, Gpr::Rcx, Gpr::Rcx);
        self.asm.jcc(Cond::E, zero);
        if signed {
            self.asm.alu_ri(AluKind::Cmp, size, Gpr::Rcx, -1);
            self.asm.jcc(Cond::Ne, normal);
            if remainder {
                self.asm.alu_rr(AluKind::Xor, OperandSize::S32, d, d);
            } else {
                self.asm.neg(size, d);
            }
            self.asm.jmp(done);
        }
        self.asm.bind(normal);
        self.asm.mov_rr(size, Gpr::Rax, d);
        if signed {
            self.asm.sign_extend_rax(size);
        } else {
            self.asm
                .alu_rr(AluKind::Xor, OperandSize::S32, Gpr::Rdx, Gpr::Rdx);
        }
        let kind = if signed {
            DivKind::Signed
        } else {
            DivKind::Unsigned
        };
        self.asm.div(kind, size, Gpr::Rcx);
        let result = if remainder { Gpr::Rdx } else { Gpr::Rax };
        self.asm.mov_rr(size, d, result);
        self.asm.jmp(done);
        self.asm.bind(zero);
        if remainder {
            // The dividend stays, truncated to the width.
            if width == Width::W32 {
                self.asm.mov_rr(OperandSize::S32, d, d);
            }
        } else {
            self.asm.alu_rr(AluKind::Xor, OperandSize::S32, d, d);
        }
        self.asm.bind(done);
    }

    pub(super) fn endian(
        &mut self,
        pc: usize,
        order: ByteOrder,
        bits: u8,
        dst: Reg,
    ) -> Result<(), JitError> {
        let d = host(dst);
        match (order, bits) {
            (ByteOrder::ToLe, 16) => self.asm.movzx_rr(OperandSize::S16, d, d),
            (ByteOrder::ToLe, 32) => self.asm.mov_rr(OperandSize::S32, d, d),
            (ByteOrder::ToLe, 64) => {}
            (ByteOrder::ToBe | ByteOrder::Swap, 16) => {
                self.asm.bswap(OperandSize::S32, d);
                self.asm.shift_ri(ShiftKind::Shr, OperandSize::S32, d, 16);
            }
            (ByteOrder::ToBe | ByteOrder::Swap, 32) => self.asm.bswap(OperandSize::S32, d),
            (ByteOrder::ToBe | ByteOrder::Swap, 64) => self.asm.bswap(OperandSize::S64, d),
            _ => {
                return Err(JitError::Unsupported {
                    pc,
                    what: "a byte swap of this width",
                });
            }
        }
        Ok(())
    }

    fn jump(&mut self, width: Width, cond: JmpCond, dst: Reg, src: Source, target: Label) {
        let size = size_of_width(width);
        let d = host(dst);
        match (cond, self.operand(src)) {
            (JmpCond::Set, Operand::Reg(s)) => self.asm.test_rr(size, d, s),
            (JmpCond::Set, Operand::Imm(imm)) => self.asm.test_ri(size, d, imm),
            (_, Operand::Reg(s)) => self.asm.alu_rr(AluKind::Cmp, size, d, s),
            (_, Operand::Imm(imm)) => self.asm.alu_ri(AluKind::Cmp, size, d, imm),
        }
        self.asm.jcc(Cond::from(cond), target);
    }

    /// Four entries into the program's first instruction (see
    /// [`EntryOffsets`]). At offset 0, guest registers are loaded from the
    /// context (the interpreter's runs hand over a machine). The fresh
    /// entry sets them as every run starts, zero but r1, r2 (from the
    /// context) and r10, so that a session's run writes two registers
    /// instead of all of them. The chained and direct entries are where
    /// another program's body goes on a native tail call: the host state
    /// is saved already and the stack pointer is back at the first
    /// entry's; at the chained entry (see `epilogue`) the registers are in
    /// the context, at the direct entry (see `inline_tail_call`) they are
    /// where they live.
    fn entries(&mut self) -> EntryOffsets {
        let body = self.asm.new_label();
        self.save_host_state();
        let chained = self.asm.offset();
        self.load_guest_registers();
        let direct = self.asm.offset();
        self.load_budget();
        self.asm.jmp(body);
        let fresh = self.asm.offset();
        self.save_host_state();
        for (n, reg) in HOST.iter().enumerate() {
            match Reg::new(n as u8) {
                Some(guest @ (Reg::R1 | Reg::R2)) => {
                    let slot = context_field(offset_of!(JitContext, regs) + 8 * guest.index());
                    self.asm.mov_rm(OperandSize::S64, *reg, slot);
                }
                Some(Reg::R10) => self.asm.mov_ri64(*reg, frame_pointer(0)),
                _ => self.asm.alu_rr(AluKind::Xor, OperandSize::S32, *reg, *reg),
            }
        }
        self.load_budget();
        self.asm.bind(body);
        EntryOffsets {
            fresh,
            chained,
            direct,
        }
    }

    /// `bpf_tail_call` without leaving native code, when the call is
    /// made at depth 0 through the array of the tail window (see `tail`)
    /// and the array has not changed since the window's copy of it.
    /// A call that fails (an index past the array, an empty slot, no
    /// tail calls left) puts `-ENOENT` in r0 and jumps to the label this
    /// returns, which the caller binds after the helper call. A call to
    /// a slot with an entry counts the call, records the slot, and jumps
    /// to the target's direct entry with every register as it is (as
    /// the helper leaves them) and the budget in the context (a program
    /// that calls a helper keeps it there). Anything else falls through
    /// to the helper, which fails the run or makes the call the slow way.
    fn inline_tail_call(&mut self) -> Label {
        let (helper, failed, done) = (
            self.asm.new_label(),
            self.asm.new_label(),
            self.asm.new_label(),
        );
        let (array, index) = (host(Reg::R2), host(Reg::R3));
        let entry_rsp = context_field(offset_of!(JitContext, entry_rsp));
        self.asm
            .alu_rm(AluKind::Cmp, OperandSize::S64, Gpr::Rsp, entry_rsp);
        self.asm.jcc(Cond::Ne, helper);
        let window = |offset| context_field(offset_of!(JitContext, tail) + offset);
        let handle = window(offset_of!(TailWindow, handle));
        self.asm
            .alu_rm(AluKind::Cmp, OperandSize::S64, array, handle);
        self.asm.jcc(Cond::Ne, helper);
        let live = window(offset_of!(TailWindow, live));
        self.asm.mov_rm(OperandSize::S64, Gpr::Rax, live);
        self.asm
            .mov_rm(OperandSize::S64, Gpr::Rax, Mem::at(Gpr::Rax, 0));
        let seen = window(offset_of!(TailWindow, seen));
        self.asm
            .alu_rm(AluKind::Cmp, OperandSize::S64, Gpr::Rax, seen);
        self.asm.jcc(Cond::Ne, helper);
        let len = window(offset_of!(TailWindow, len));
        self.asm.alu_rm(AluKind::Cmp, OperandSize::S64, index, len);
        self.asm.jcc(Cond::Ae, failed);
        let calls = context_field(offset_of!(JitContext, tail_calls));
        self.asm
            .alu_mi(AluKind::Cmp, OperandSize::S64, calls, MAX_TAIL_CALLS as i32);
        self.asm.jcc(Cond::Ae, failed);
        let entries = window(offset_of!(TailWindow, entries));
        self.asm.mov_rm(OperandSize::S64, Gpr::Rax, entries);
        self.asm.mov_rr(OperandSize::S64, Gpr::Rcx, index);
        self.asm
            .shift_ri(ShiftKind::Shl, OperandSize::S64, Gpr::Rcx, 3);
        self.asm.mov_rm(
            OperandSize::S64,
            Gpr::Rax,
            Mem::indexed(Gpr::Rax, Gpr::Rcx, 0),
        );
        self.asm
            .alu_ri(AluKind::Cmp, OperandSize::S64, Gpr::Rax, SLOW_SLOT as i32);
        self.asm.jcc(Cond::B, failed);
        self.asm.jcc(Cond::E, helper);
        self.asm.alu_mi(AluKind::Add, OperandSize::S64, calls, 1);
        let slot = context_field(offset_of!(JitContext, tail_program));
        self.asm.mov_mr(OperandSize::S64, slot, index);
        self.asm.jmp_r(Gpr::Rax);
        self.asm.bind(failed);
        self.load_constant(host(Reg::R0), ENOENT_RETURN, Gpr::Rax);
        self.asm.jmp(done);
        self.asm.bind(helper);
        done
    }

    /// Saves the caller's registers and pins the context.
    fn save_host_state(&mut self) {
        for reg in CALLEE_SAVED {
            self.asm.push(reg);
        }
        // The context arrives in rdi (System V's first argument).
        self.asm.mov_rr(OperandSize::S64, CTX, Gpr::Rdi);
        let entry_rsp = context_field(offset_of!(JitContext, entry_rsp));
        self.asm.mov_mr(OperandSize::S64, entry_rsp, Gpr::Rsp);
    }

    /// Leaves native code from any depth: back to the entry's stack. On
    /// a native tail call (a service said `Status::TailCall`), jumps from
    /// there into the target's chained entry instead, which the service
    /// put in the context.
    fn epilogue(&mut self) {
        self.asm.bind(self.leave);
        let entry_rsp = context_field(offset_of!(JitContext, entry_rsp));
        self.asm.mov_rm(OperandSize::S64, Gpr::Rsp, entry_rsp);
        let out = self.asm.new_label();
        self.asm.alu_ri(
            AluKind::Cmp,
            OperandSize::S32,
            Gpr::Rax,
            Status::TailCall as i32,
        );
        self.asm.jcc(Cond::Ne, out);
        let target = context_field(offset_of!(JitContext, tail_entry));
        self.asm.mov_rm(OperandSize::S64, Gpr::Rax, target);
        self.asm.jmp_r(Gpr::Rax);
        self.asm.bind(out);
        for reg in CALLEE_SAVED.iter().rev() {
            self.asm.pop(*reg);
        }
        self.asm.ret();
    }

    fn load_guest_registers(&mut self) {
        for (n, reg) in HOST.iter().enumerate() {
            let slot = context_field(offset_of!(JitContext, regs) + 8 * n);
            self.asm.mov_rm(OperandSize::S64, *reg, slot);
        }
    }

    fn spill_guest_registers(&mut self) {
        for (n, reg) in HOST.iter().enumerate() {
            let slot = context_field(offset_of!(JitContext, regs) + 8 * n);
            self.asm.mov_mr(OperandSize::S64, slot, *reg);
        }
    }

    /// The stub every call into Rust goes through: pc in ecx, service in
    /// edx; returns the status in eax with the guest registers reloaded
    /// (Rust may have changed them).
    fn service_stub(&mut self, service: u64) {
        self.asm.bind(self.stub);
        self.spill_guest_registers();
        self.store_budget();
        // rbx is spilled and callee-saved: it keeps the stack pointer
        // across the call while the stack is aligned for the ABI.
        self.asm.mov_rr(OperandSize::S64, Gpr::Rbx, Gpr::Rsp);
        self.asm
            .alu_ri(AluKind::And, OperandSize::S64, Gpr::Rsp, -16);
        self.asm.mov_rr(OperandSize::S64, Gpr::Rdi, CTX);
        self.asm.mov_rr(OperandSize::S32, Gpr::Rsi, Gpr::Rcx);
        self.asm.mov_ri64(Gpr::Rax, service);
        self.asm.call_r(Gpr::Rax);
        self.asm.mov_rr(OperandSize::S64, Gpr::Rsp, Gpr::Rbx);
        self.load_guest_registers();
        self.load_budget();
        self.asm.ret();
    }

    /// The out-of-line code of the slow paths. In the lean body, a packet
    /// load that missed ends the program with 0, as `step` would; any
    /// other slow path bails.
    fn slow_paths(&mut self) {
        for path in core::mem::take(&mut self.map_paths) {
            map_access_check(&mut self.asm, path.access, path.entry, path.back, path.slow);
        }
        for slow in core::mem::take(&mut self.slow) {
            self.asm.bind(slow.entry);
            if let Body::Lean(lean) = self.body {
                let packet = matches!(self.code.get(slow.pc as usize), Some(Op::LoadPacket { .. }));
                self.asm.jmp(if packet { lean.reject } else { lean.bail });
                continue;
            }
            self.call_service(slow.pc as usize, slow.service);
            match slow.resume {
                Some(resume) => {
                    self.leave_unless_continue();
                    self.asm.jmp(resume);
                }
                None => self.asm.jmp(self.leave),
            }
        }
    }
}
