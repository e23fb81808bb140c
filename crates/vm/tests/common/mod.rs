//! Builders shared by the integration tests: programs from `Insn` values,
//! without the assembler.
#![allow(dead_code)] // each test file uses its own subset

use visor_isa::{
    AluOp, AtomicOp, CallTarget, Insn, JmpCond, LoadImm, PacketOffset, Program, Reg, Size, Source,
    Width,
};
use visor_vm::{HelperOutcome, Helpers, Interpreter, VmError};

pub const R0: Reg = Reg::R0;
pub const R1: Reg = Reg::R1;
pub const R2: Reg = Reg::R2;
pub const R3: Reg = Reg::R3;
pub const R4: Reg = Reg::R4;
pub const R5: Reg = Reg::R5;
pub const R6: Reg = Reg::R6;
pub const R7: Reg = Reg::R7;
pub const R8: Reg = Reg::R8;
pub const R9: Reg = Reg::R9;
pub const R10: Reg = Reg::R10;

pub fn alu(width: Width, op: AluOp, dst: Reg, src: Source) -> Insn {
    Insn::Alu {
        width,
        op,
        dst,
        src,
    }
}

pub fn alu64(op: AluOp, dst: Reg, src: Source) -> Insn {
    alu(Width::W64, op, dst, src)
}

pub fn mov(dst: Reg, imm: i32) -> Insn {
    alu64(AluOp::Mov, dst, Source::Imm(imm))
}

pub fn mov_reg(dst: Reg, src: Reg) -> Insn {
    alu64(AluOp::Mov, dst, Source::Reg(src))
}

pub fn add(dst: Reg, imm: i32) -> Insn {
    alu64(AluOp::Add, dst, Source::Imm(imm))
}

pub fn lddw(dst: Reg, imm: u64) -> Insn {
    Insn::LoadImm64 {
        kind: LoadImm::Imm64,
        dst,
        imm,
    }
}

pub fn load(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
    Insn::Load {
        size,
        signed: false,
        dst,
        src,
        off,
    }
}

pub fn load_signed(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
    Insn::Load {
        size,
        signed: true,
        dst,
        src,
        off,
    }
}

pub fn store(size: Size, dst: Reg, off: i16, src: Source) -> Insn {
    Insn::Store {
        size,
        dst,
        off,
        src,
    }
}

pub fn atomic(size: Size, op: AtomicOp, dst: Reg, off: i16, src: Reg) -> Insn {
    Insn::Atomic {
        size,
        op,
        dst,
        src,
        off,
    }
}

pub fn jump(width: Width, cond: JmpCond, dst: Reg, src: Source, off: i16) -> Insn {
    Insn::Jump {
        width,
        cond,
        dst,
        src,
        off,
    }
}

pub fn ja(off: i32) -> Insn {
    Insn::Ja { off, long: false }
}

pub fn call_helper(id: i32) -> Insn {
    Insn::Call(CallTarget::Helper(id))
}

pub fn call_local(rel: i32) -> Insn {
    Insn::Call(CallTarget::Local(rel))
}

pub fn ld_abs(size: Size, imm: i32) -> Insn {
    Insn::LoadPacket {
        size,
        offset: PacketOffset::Abs,
        imm,
    }
}

pub fn ld_ind(size: Size, src: Reg, imm: i32) -> Insn {
    Insn::LoadPacket {
        size,
        offset: PacketOffset::Ind(src),
        imm,
    }
}

pub fn exit() -> Insn {
    Insn::Exit
}

pub fn program(insns: Vec<Insn>) -> Program {
    Program::new(insns).expect("test program has valid control flow")
}

/// The conformance suite's helpers: 5 is "unwind".
pub fn conformance_helpers() -> Helpers {
    let mut helpers = Helpers::new();
    helpers.register(5, "unwind", |args, _| {
        Ok(match args[0] {
            0 => HelperOutcome::Exit(0),
            value => HelperOutcome::Return(value),
        })
    });
    helpers
}

pub fn vm(insns: Vec<Insn>) -> Interpreter {
    Interpreter::new(&program(insns), conformance_helpers())
        .expect("test program loads")
        .with_budget(Some(100_000))
}

/// Runs without input memory.
pub fn run(insns: Vec<Insn>) -> Result<u64, VmError> {
    vm(insns).run(&mut [])
}

/// Runs over `memory`.
pub fn run_on(insns: Vec<Insn>, memory: &mut [u8]) -> Result<u64, VmError> {
    vm(insns).run(memory)
}
