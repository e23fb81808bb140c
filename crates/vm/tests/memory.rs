//! Loads, stores, atomics and legacy packet loads through the memory model,
//! and the faults it reports.

mod common;

use common::*;
use visor_isa::{AtomicOp, Size, Source};
use visor_vm::{
    AccessFault, AccessKind, FaultCause, Interpreter, Region, RegionId, RunInput, VmError,
};

const FRAME0_TOP: u64 = 0x2_0000_0200;
const CONTEXT: u64 = 0x1_0000_0000;

/// The fault of a run that must stop on a memory access, and its pc.
#[track_caller]
fn fault_of(result: Result<u64, VmError>) -> (usize, AccessFault) {
    match result {
        Err(VmError::MemoryAccess { pc, fault }) => (pc, fault),
        other => panic!("expected a memory fault, got {other:?}"),
    }
}

#[test]
fn stack_stores_and_loads_of_every_size() {
    for size in Size::ALL {
        // Store -2 (all ones but bit 0) and read it back zero-extended.
        let imm = run(vec![
            store(size, R10, -8, Source::Imm(-2)),
            load(size, R0, R10, -8),
            exit(),
        ]);
        let mask = u64::MAX >> (64 - 8 * size.bytes());
        assert_eq!(imm.unwrap(), 0xffff_ffff_ffff_fffe & mask, "st {size:?}");
        let reg = run(vec![
            lddw(R1, 0x8877_6655_4433_2211),
            store(size, R10, -16, Source::Reg(R1)),
            load(size, R0, R10, -16),
            exit(),
        ]);
        assert_eq!(reg.unwrap(), 0x8877_6655_4433_2211 & mask, "stx {size:?}");
    }
}

#[test]
fn sign_extending_loads() {
    let mut memory = [0x80, 0x80, 0xff, 0xff, 0x7f, 0, 0, 0];
    let cases = [
        (Size::B, 0, 0xffff_ffff_ffff_ff80),
        (Size::H, 0, 0xffff_ffff_ffff_8080),
        (Size::W, 0, 0xffff_ffff_ffff_8080),
        (Size::W, 4, 0x7f),
        (Size::B, 4, 0x7f),
    ];
    for (size, off, expected) in cases {
        let r0 = run_on(vec![load_signed(size, R0, R1, off), exit()], &mut memory);
        assert_eq!(r0.unwrap(), expected, "ldxs {size:?} at {off}");
    }
}

#[test]
fn loads_are_little_endian_and_stores_reach_the_caller() {
    let mut memory = [1, 2, 3, 4, 5, 6, 7, 8, 0, 0];
    let r0 = run_on(
        vec![
            load(Size::DW, R0, R1, 0),
            store(Size::H, R1, 8, Source::Imm(0x1234)),
            exit(),
        ],
        &mut memory,
    );
    assert_eq!(r0.unwrap(), 0x0807_0605_0403_0201);
    assert_eq!(memory[8..], [0x34, 0x12]);
}

/// Runs `op` on the 8 bytes at r10-8 holding `old`, with r1 = `src` and
/// r0 = `r0`; returns (memory after, r0 after, r1 after).
fn atomic_on(size: Size, op: AtomicOp, old: u64, src: u64, r0: u64) -> (u64, u64, u64) {
    let report = |tail| {
        run(vec![
            lddw(R2, old),
            store(Size::DW, R10, -8, Source::Reg(R2)),
            lddw(R1, src),
            lddw(R0, r0),
            atomic(size, op, R10, -8, R1),
            tail,
            exit(),
        ])
        .unwrap()
    };
    (
        report(load(Size::DW, R0, R10, -8)),
        report(mov_reg(R0, R0)),
        report(mov_reg(R0, R1)),
    )
}

#[test]
fn atomic_arithmetic_with_and_without_fetch() {
    let old = 0xffff_ffff_0000_0003;
    for fetch in [false, true] {
        let ops = [
            (
                AtomicOp::Add { fetch },
                0xffff_ffff_0000_0008,
                0x0000_0000_0000_0008,
            ),
            (
                AtomicOp::Or { fetch },
                0xffff_ffff_0000_0007,
                0x0000_0000_0000_0007,
            ),
            (
                AtomicOp::And { fetch },
                0x0000_0000_0000_0001,
                0x0000_0000_0000_0001,
            ),
            (
                AtomicOp::Xor { fetch },
                0xffff_ffff_0000_0006,
                0x0000_0000_0000_0006,
            ),
        ];
        for (op, after64, after32_low) in ops {
            let src = 5;
            let (memory, _, r1) = atomic_on(Size::DW, op, old, src, 0);
            assert_eq!(memory, after64, "{op:?} 64");
            assert_eq!(r1, if fetch { old } else { src }, "{op:?} 64 fetch");
            let (memory, _, r1) = atomic_on(Size::W, op, old, src, 0);
            assert_eq!(memory, 0xffff_ffff_0000_0000 | after32_low, "{op:?} 32");
            assert_eq!(r1, if fetch { 3 } else { src }, "{op:?} 32 fetch");
        }
    }
}

#[test]
fn atomic_fetch_32_zero_extends_the_old_value() {
    let (memory, _, r1) = atomic_on(Size::W, AtomicOp::Add { fetch: true }, 0xffff_ffff, 1, 0);
    assert_eq!(memory, 0);
    assert_eq!(r1, 0xffff_ffff);
}

#[test]
fn xchg_trades_values() {
    let (memory, _, r1) = atomic_on(Size::DW, AtomicOp::Xchg, 0x1111, 0x2222, 0);
    assert_eq!((memory, r1), (0x2222, 0x1111));
    let (memory, _, r1) = atomic_on(
        Size::W,
        AtomicOp::Xchg,
        0xaaaa_aaaa_1111_1111,
        0xbbbb_2222,
        0,
    );
    assert_eq!((memory, r1), (0xaaaa_aaaa_bbbb_2222, 0x1111_1111));
}

#[test]
fn cmpxchg_success_and_failure_load_r0() {
    // Success: memory == r0, so memory = src; r0 gets the old value.
    let (memory, r0, r1) = atomic_on(Size::DW, AtomicOp::Cmpxchg, 7, 9, 7);
    assert_eq!((memory, r0, r1), (9, 7, 9));
    // Failure: memory unchanged; r0 still gets the old value.
    let (memory, r0, _) = atomic_on(Size::DW, AtomicOp::Cmpxchg, 7, 9, 8);
    assert_eq!((memory, r0), (7, 7));
    // 32-bit: only the low half of r0 is compared; r0 is zero-extended.
    let (memory, r0, _) = atomic_on(Size::W, AtomicOp::Cmpxchg, 0xffff_ffff, 9, 0xdead_ffff_ffff);
    assert_eq!((memory, r0), (9, 0xffff_ffff));
    let (memory, r0, _) = atomic_on(Size::W, AtomicOp::Cmpxchg, 0x5_0000_0007, 9, 8);
    assert_eq!((memory, r0), (0x5_0000_0007, 7));
}

#[test]
fn writing_at_the_frame_pointer_is_out_of_bounds() {
    let result = run(vec![
        mov(R0, 0),
        store(Size::DW, R10, 0, Source::Imm(1)),
        exit(),
    ]);
    assert_eq!(
        result.unwrap_err().to_string(),
        "instruction 1: out-of-bounds write of 8 bytes at 0x2_0000_0200 (stack frame 0, 512 bytes)"
    );
}

#[test]
fn stack_underflow_below_the_frame_faults() {
    let (pc, fault) = fault_of(run(vec![load(Size::DW, R0, R10, -520), exit()]));
    assert_eq!(pc, 0);
    assert_eq!(fault.addr, FRAME0_TOP - 520);
    assert_eq!(fault.kind, AccessKind::Read);
    assert!(matches!(
        fault.cause,
        FaultCause::Unmapped | FaultCause::OutOfBounds { .. }
    ));
    // The last byte below the top that fits is fine; one more is not.
    assert!(run(vec![load(Size::DW, R0, R10, -512), exit()]).is_ok());
    let (_, fault) = fault_of(run(vec![load(Size::B, R0, R10, -513), exit()]));
    assert_eq!(fault.len, 1);
}

#[test]
fn access_past_the_input_faults() {
    let mut memory = [0u8; 6];
    let (pc, fault) = fault_of(run_on(
        vec![mov(R0, 0), load(Size::DW, R0, R1, 0), exit()],
        &mut memory,
    ));
    assert_eq!(pc, 1);
    assert_eq!(fault.cause, FaultCause::OutOfBounds { size: 6 });
    assert_eq!(fault.addr, CONTEXT);
    assert!(run_on(vec![load(Size::H, R0, R1, 4), exit()], &mut memory).is_ok());
    let (_, fault) = fault_of(run_on(
        vec![store(Size::H, R1, 5, Source::Imm(0)), exit()],
        &mut memory,
    ));
    assert_eq!((fault.kind, fault.len), (AccessKind::Write, 2));
}

#[test]
fn null_and_integer_pointers_fault() {
    // No input: r1 is 0.
    let (_, fault) = fault_of(run(vec![load(Size::W, R0, R1, 0x10), exit()]));
    assert_eq!(fault.cause, FaultCause::Null);
    assert_eq!(fault.to_string(), "null-pointer read of 4 bytes at 0x10");
    let far = run(vec![
        lddw(R1, 0xdead_0000_0000),
        load(Size::B, R0, R1, 0),
        exit(),
    ]);
    assert_eq!(fault_of(far).1.cause, FaultCause::Unmapped);
}

#[test]
fn atomics_are_checked_like_writes() {
    let (pc, fault) = fault_of(run(vec![
        mov(R1, 1),
        atomic(Size::DW, AtomicOp::Add { fetch: false }, R10, 0, R1),
        exit(),
    ]));
    assert_eq!((pc, fault.kind), (1, AccessKind::Atomic));
    assert_eq!(
        fault.to_string(),
        "out-of-bounds atomic update of 8 bytes at 0x2_0000_0200 (stack frame 0, 512 bytes)"
    );
}

fn readonly_context_run(insns: Vec<visor_isa::Insn>, context: &[u8]) -> Result<u64, VmError> {
    vm(insns).run_with(RunInput::context(Region::readonly(context)))
}

#[test]
fn read_only_regions_refuse_writes_and_atomics() {
    let context = [1, 2, 3, 4];
    let read = readonly_context_run(vec![load(Size::W, R0, R1, 0), exit()], &context);
    assert_eq!(read.unwrap(), 0x0403_0201);
    let write = readonly_context_run(
        vec![store(Size::B, R1, 0, Source::Imm(9)), exit()],
        &context,
    );
    let (_, fault) = fault_of(write);
    assert_eq!(fault.cause, FaultCause::ReadOnly { size: 4 });
    assert_eq!(
        fault.to_string(),
        "write of 1 byte at 0x1_0000_0000: context (4 bytes) is read-only"
    );
    let xchg = readonly_context_run(
        vec![atomic(Size::W, AtomicOp::Xchg, R1, 0, R2), exit()],
        &context,
    );
    assert_eq!(fault_of(xchg).1.kind, AccessKind::Atomic);
}

#[test]
fn ld_abs_and_ld_ind_read_big_endian_from_the_packet() {
    let mut packet = [0x12, 0x34, 0x56, 0x78, 0x9a];
    let cases = [
        (ld_abs(Size::B, 4), 0x9a),
        (ld_abs(Size::H, 0), 0x1234),
        (ld_abs(Size::W, 1), 0x3456_789a),
        (ld_ind(Size::H, R6, 1), 0x789a),
        (ld_ind(Size::W, R6, -2), 0x1234_5678),
        // The offset is the low 32 bits of src + imm, as the kernel's `int`.
        (ld_ind(Size::B, R7, 0), 0x34),
    ];
    for (insn, expected) in cases {
        let r0 = run_on(
            vec![mov(R6, 2), lddw(R7, 0x1_0000_0001), insn, exit()],
            &mut packet,
        );
        assert_eq!(r0.unwrap(), expected, "{insn:?}");
    }
}

#[test]
fn out_of_bounds_packet_loads_end_the_program_with_zero() {
    let mut packet = [0xffu8; 4];
    let out = [
        ld_abs(Size::W, 1),
        ld_abs(Size::B, 4),
        ld_abs(Size::H, -1),
        ld_abs(Size::B, i32::MAX),
        ld_ind(Size::B, R6, -3),
        ld_ind(Size::H, R7, 0),
    ];
    for insn in out {
        let r0 = run_on(
            vec![
                mov(R0, 99),
                mov(R6, 2),
                lddw(R7, 0x7fff_ffff_ffff_ffff),
                insn,
                mov(R0, 7),
                exit(),
            ],
            &mut packet,
        );
        assert_eq!(r0.unwrap(), 0, "{insn:?}");
    }
    // Without any input there is no packet at all.
    assert_eq!(
        run(vec![mov(R0, 99), ld_abs(Size::B, 0), exit()]).unwrap(),
        0
    );
}

#[test]
fn a_separate_packet_is_mapped_at_its_own_region() {
    let context = [0u8; 8];
    let mut packet = [0xab, 0xcd];
    let vm: Interpreter = vm(vec![
        ld_abs(Size::H, 0),
        mov(R2, 0),
        lddw(R3, RegionId::PACKET.addr(1)),
        load(Size::B, R2, R3, 0),
        alu64(visor_isa::AluOp::Lsh, R0, Source::Imm(8)),
        alu64(visor_isa::AluOp::Or, R0, Source::Reg(R2)),
        exit(),
    ]);
    let input =
        RunInput::context(Region::readonly(&context)).with_packet(Region::writable(&mut packet));
    assert_eq!(vm.run_with(input).unwrap(), 0xab_cdcd);
}

#[test]
fn a_run_never_sees_an_earlier_runs_stack() {
    // main: r0 = [r10-8]; [r10-8] = 77; call f; exit
    // f:    r0 += [r10-8]; [r10-8] = 99; exit
    let vm = vm(vec![
        load(Size::DW, R0, R10, -8),
        store(Size::DW, R10, -8, Source::Imm(77)),
        call_local(1),
        exit(),
        load(Size::DW, R1, R10, -8),
        alu64(visor_isa::AluOp::Add, R0, Source::Reg(R1)),
        store(Size::DW, R10, -8, Source::Imm(99)),
        exit(),
    ]);
    for run in 0..3 {
        assert_eq!(vm.run(&mut []).unwrap(), 0, "run {run}");
    }
}
