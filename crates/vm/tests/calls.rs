//! Local calls, frames, helpers, callx and the conformance unwind helper.

mod common;

use common::*;
use visor_isa::{AluOp, CallTarget, Insn, JmpCond, LoadImm, Size, Source, Width};
use visor_vm::{FaultCause, HelperError, HelperOutcome, Helpers, Interpreter, Memory, VmError};

fn add_reg(dst: visor_isa::Reg, src: visor_isa::Reg) -> Insn {
    alu64(AluOp::Add, dst, Source::Reg(src))
}

#[test]
fn local_calls_pass_r1_to_r5_and_preserve_r6_to_r9() {
    let mut insns: Vec<Insn> = (1..=9)
        .map(|n| mov(visor_isa::Reg::new(n).unwrap(), n.into()))
        .collect();
    insns.extend([
        call_local(5), // 9 -> 15
        add_reg(R0, R6),
        add_reg(R0, R7),
        add_reg(R0, R8),
        add_reg(R0, R9),
        exit(),
        // 15: r0 = r1 + ... + r5, and clobber r6 to r9.
        mov_reg(R0, R1),
        add_reg(R0, R2),
        add_reg(R0, R3),
        add_reg(R0, R4),
        add_reg(R0, R5),
        mov(R6, 0),
        mov(R7, 0),
        mov(R8, 0),
        mov(R9, 0),
        exit(),
    ]);
    assert_eq!(run(insns).unwrap(), (1 + 2 + 3 + 4 + 5) + (6 + 7 + 8 + 9));
}

#[test]
fn each_call_gets_its_own_frame_and_r10() {
    let r10_distance = run(vec![
        call_local(2),
        alu64(AluOp::Sub, R0, Source::Reg(R10)),
        exit(),
        mov_reg(R0, R10),
        exit(),
    ]);
    assert_eq!(
        r10_distance.unwrap(),
        0x1_0000_0000,
        "frame 1 is the next region"
    );
    let separate = run(vec![
        store(Size::DW, R10, -8, Source::Imm(1)),
        call_local(2),
        load(Size::DW, R0, R10, -8),
        exit(),
        store(Size::DW, R10, -8, Source::Imm(2)),
        exit(),
    ]);
    assert_eq!(separate.unwrap(), 1);
}

#[test]
fn a_callee_may_write_its_callers_frame_through_a_pointer() {
    let r0 = run(vec![
        store(Size::DW, R10, -8, Source::Imm(5)),
        mov_reg(R1, R10),
        add(R1, -8),
        call_local(2),
        load(Size::DW, R0, R10, -8),
        exit(),
        load(Size::DW, R2, R1, 0),
        add(R2, 10),
        store(Size::DW, R1, 0, Source::Reg(R2)),
        exit(),
    ]);
    assert_eq!(r0.unwrap(), 15);
}

#[test]
fn a_finished_calls_frame_is_unmapped() {
    let result = run(vec![
        call_local(2),
        load(Size::DW, R0, R0, -8),
        exit(),
        mov_reg(R0, R10),
        exit(),
    ]);
    let error = result.unwrap_err();
    assert!(
        matches!(&error, VmError::MemoryAccess { pc: 1, fault } if fault.cause == FaultCause::Unmapped),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "instruction 1: read of 8 bytes at 0x3_0000_01f8: stack frame 1 is not mapped"
    );
}

/// Calls a function that recurses `depth` more times; returns the number
/// of calls made.
fn recurse(depth: i32) -> Result<u64, VmError> {
    run(vec![
        mov(R1, depth),
        mov(R0, 0),
        call_local(1), // -> 4
        exit(),
        add(R0, 1),
        jump(Width::W64, JmpCond::Eq, R1, Source::Imm(0), 2),
        add(R1, -1),
        call_local(-4), // -> 4
        exit(),
    ])
}

#[test]
fn calls_nest_to_eight_frames() {
    // The main program and seven calls: eight frames, the kernel's limit.
    assert_eq!(recurse(6).unwrap(), 7);
    let error = recurse(7).unwrap_err();
    assert!(
        matches!(error, VmError::CallDepthExceeded { pc: 7 }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "instruction 7: call depth limit reached (8 frames)"
    );
}

#[test]
fn callx_calls_the_helper_whose_id_the_register_holds() {
    let r0 = run(vec![mov(R2, 5), mov(R1, 42), Insn::CallReg(R2), exit()]);
    assert_eq!(r0.unwrap(), 42);
    let missing = run(vec![mov(R2, 99), Insn::CallReg(R2), exit()]).unwrap_err();
    assert!(
        matches!(missing, VmError::UnknownHelper { pc: 1, id: 99 }),
        "{missing:?}"
    );
    let huge = run(vec![lddw(R2, 5 | 1 << 40), Insn::CallReg(R2), exit()]).unwrap_err();
    assert!(matches!(huge, VmError::UnknownHelper { id, .. } if id == 5 | 1 << 40));
}

#[test]
fn unwind_ends_the_whole_program_when_its_argument_is_zero() {
    let continues = run(vec![mov(R1, -1), call_helper(5), mov(R0, 2), exit()]);
    assert_eq!(continues.unwrap(), 2);
    let returns = run(vec![mov(R1, 3), call_helper(5), exit()]);
    assert_eq!(returns.unwrap(), 3);
    let unwinds = run(vec![
        mov(R0, 9),
        call_local(2),
        mov(R0, 3),
        exit(),
        mov(R1, 0),
        call_helper(5),
        mov(R0, 4),
        exit(),
    ]);
    assert_eq!(
        unwinds.unwrap(),
        0,
        "unwind from a local call ends everything"
    );
}

#[test]
fn calling_an_unregistered_helper_names_its_id() {
    let error = run(vec![call_helper(6), exit()]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "instruction 0: helper 6 is not registered"
    );
    let negative = run(vec![mov(R0, 0), call_helper(-1), exit()]).unwrap_err();
    assert!(matches!(
        negative,
        VmError::UnknownHelper {
            pc: 1,
            id: 0xffff_ffff
        }
    ));
}

/// Helper 1 "sum": the sum of the r2 bytes at r1. Helper 2 "fill": sets the
/// r2 bytes at r1 to r3. Helper 3 "even": fails on odd r1.
fn memory_helpers() -> Helpers {
    let mut helpers = Helpers::new();
    helpers.register(1, "sum", |args, memory| {
        let len = usize::try_from(args[1]).unwrap_or(usize::MAX);
        let bytes = memory.bytes(args[0], len)?;
        Ok(HelperOutcome::Return(
            bytes.iter().map(|&b| u64::from(b)).sum(),
        ))
    });
    helpers.register(2, "fill", |args, memory| {
        let len = usize::try_from(args[1]).unwrap_or(usize::MAX);
        memory.bytes_mut(args[0], len)?.fill(args[2] as u8);
        Ok(HelperOutcome::Return(0))
    });
    helpers.register(3, "even", |args, _| match args[0] % 2 {
        0 => Ok(HelperOutcome::Return(args[0] / 2)),
        _ => Err(HelperError::BadArgument {
            reg: 1,
            value: args[0],
            reason: "must be even",
        }),
    });
    helpers
}

fn run_with_memory_helpers(insns: Vec<Insn>) -> Result<u64, VmError> {
    Interpreter::new(&program(insns), memory_helpers())
        .unwrap()
        .run(&mut [])
}

#[test]
fn helpers_reach_guest_memory_through_the_same_checks() {
    let sum = run_with_memory_helpers(vec![
        lddw(R3, 0x0102_0304_0506_0708),
        store(Size::DW, R10, -8, Source::Reg(R3)),
        mov_reg(R1, R10),
        add(R1, -8),
        mov(R2, 8),
        call_helper(1),
        exit(),
    ]);
    assert_eq!(sum.unwrap(), 36);
    let fill = run_with_memory_helpers(vec![
        mov_reg(R1, R10),
        add(R1, -4),
        mov(R2, 4),
        mov(R3, 0x11),
        call_helper(2),
        load(Size::W, R0, R10, -4),
        exit(),
    ]);
    assert_eq!(fill.unwrap(), 0x1111_1111);
    let null = run_with_memory_helpers(vec![mov(R1, 0), mov(R2, 8), call_helper(1), exit()]);
    let error = null.unwrap_err();
    assert!(
        matches!(
            &error,
            VmError::Helper {
                pc: 2,
                id: 1,
                cause: HelperError::Memory(_),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "instruction 2: helper 1 (sum) failed: null-pointer read of 8 bytes at 0x0"
    );
    let overflow = run_with_memory_helpers(vec![
        mov_reg(R1, R10),
        add(R1, -4),
        mov(R2, 5),
        call_helper(2),
        exit(),
    ]);
    assert!(
        overflow
            .unwrap_err()
            .to_string()
            .contains("out-of-bounds write of 5 bytes")
    );
}

#[test]
fn helper_errors_name_the_helper() {
    let error = run_with_memory_helpers(vec![mov(R1, 3), call_helper(3), exit()]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "instruction 1: helper 3 (even) failed: argument r1 = 0x3: must be even"
    );
    assert_eq!(
        run_with_memory_helpers(vec![mov(R1, 8), call_helper(3), exit()]).unwrap(),
        4
    );
}

#[test]
fn the_documented_registration_compiles_with_explicit_types() {
    let mut helpers = Helpers::new();
    helpers.register(5, "unwind", |args: [u64; 5], _mem: &mut Memory<'_>| {
        Ok(if args[0] == 0 {
            HelperOutcome::Exit(0)
        } else {
            HelperOutcome::Return(args[0])
        })
    });
    let vm = Interpreter::new(&program(vec![call_helper(5), exit()]), helpers).unwrap();
    let vm = vm.with_budget(Some(10_000_000));
    let mut mem: Vec<u8> = Vec::new();
    let r0: u64 = vm.run(&mut mem).unwrap();
    assert_eq!(r0, 0);
}

#[test]
fn kfunc_calls_and_pseudo_lddw_are_refused_at_load() {
    let kfunc = program(vec![mov(R0, 0), Insn::Call(CallTarget::Kfunc(77)), exit()]);
    let error = Interpreter::new(&kfunc, Helpers::new()).unwrap_err();
    assert!(matches!(error, VmError::KfuncCall { pc: 1, btf_id: 77 }));
    assert!(
        error
            .to_string()
            .contains("kfunc calls are not supported in userspace")
    );
    for kind in &LoadImm::ALL[1..] {
        if *kind == LoadImm::Func {
            // Function addresses load, for bpf_loop: tests/bpf_loop.rs.
            continue;
        }
        let lddw = program(vec![
            Insn::LoadImm64 {
                kind: *kind,
                dst: R1,
                imm: 1,
            },
            exit(),
        ]);
        let error = Interpreter::new(&lddw, Helpers::new()).unwrap_err();
        match kind {
            // Map references need the program's maps (tests/maps.rs).
            LoadImm::MapFd | LoadImm::MapValue | LoadImm::MapIdx | LoadImm::MapIdxValue => {
                assert!(
                    matches!(
                        error,
                        VmError::UnknownMap {
                            pc: 0,
                            index: 1,
                            count: 0
                        }
                    ),
                    "{error:?}"
                );
            }
            _ => {
                assert!(
                    matches!(error, VmError::UnsupportedLoadImm64 { pc: 0, .. }),
                    "{error:?}"
                );
                assert!(error.to_string().contains("is unsupported here"), "{error}");
            }
        }
    }
}

#[test]
fn a_helper_may_run_another_program_with_its_own_stack() {
    let inner = Interpreter::new(
        &program(vec![
            store(Size::DW, R10, -8, Source::Imm(5)),
            load(Size::DW, R0, R10, -8),
            exit(),
        ]),
        Helpers::new(),
    )
    .unwrap();
    let mut helpers = Helpers::new();
    helpers.register(1, "nested", move |_, _| {
        let r0 = inner
            .run(&mut [])
            .map_err(|e| HelperError::Other(e.into()))?;
        Ok(HelperOutcome::Return(r0))
    });
    let outer = program(vec![
        store(Size::DW, R10, -8, Source::Imm(9)),
        call_helper(1),
        load(Size::DW, R1, R10, -8),
        add_reg(R0, R1),
        exit(),
    ]);
    let vm = Interpreter::new(&outer, helpers).unwrap();
    assert_eq!(vm.run(&mut []).unwrap(), 14);
    assert_eq!(vm.run(&mut []).unwrap(), 14);
}
