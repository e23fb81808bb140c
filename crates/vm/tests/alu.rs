//! ALU, ALU64, byte order and lddw, one instruction at a time.

mod common;

use common::*;
use visor_isa::{AluOp, ByteOrder, Insn, Size, Source, Width};
use visor_vm::VmError;

const MIN32: u64 = 0x8000_0000;
const MIN64: u64 = 1 << 63;
const ALL: u64 = u64::MAX;

/// The second operand of a case.
#[derive(Clone, Copy, Debug)]
enum Src {
    /// An immediate; the case also runs with its 64-bit sign extension in a
    /// register, which must give the same result.
    Imm(i32),
    /// A register holding this value.
    Reg(u64),
}

/// r0 = `dst`; r0 = r0 `op` src at `width`; exit.
fn compute(width: Width, op: AluOp, dst: u64, src: Src) -> Result<u64, VmError> {
    let (setup, source) = match src {
        Src::Imm(imm) => (None, Source::Imm(imm)),
        Src::Reg(value) => (Some(lddw(R1, value)), Source::Reg(R1)),
    };
    let mut insns = vec![lddw(R0, dst)];
    insns.extend(setup);
    insns.extend([alu(width, op, R0, source), exit()]);
    run(insns)
}

#[track_caller]
fn check(width: Width, op: AluOp, dst: u64, src: Src, expected: u64) {
    let got = compute(width, op, dst, src).unwrap();
    assert_eq!(
        got, expected,
        "{op:?} {width:?} {dst:#x}, {src:?}: got {got:#x}"
    );
    if let Src::Imm(imm) = src {
        let by_register = compute(width, op, dst, Src::Reg(i64::from(imm) as u64)).unwrap();
        assert_eq!(
            by_register, expected,
            "{op:?} {width:?} {dst:#x}, register form of {imm}"
        );
    }
}

use Width::{W32, W64};

#[test]
fn division_and_modulo_by_zero() {
    check(W64, AluOp::Div, 7, Src::Imm(0), 0);
    check(W32, AluOp::Div, 7, Src::Imm(0), 0);
    // Only the low half of the divisor counts at 32 bits.
    check(
        W32,
        AluOp::Div,
        0xffff_ffff_0000_0007,
        Src::Reg(0x1_0000_0000),
        0,
    );
    check(W64, AluOp::Mod, 7, Src::Imm(0), 7);
    // 32-bit modulo by zero leaves the low half, zero-extended.
    check(W32, AluOp::Mod, 0xffff_ffff_0000_0007, Src::Imm(0), 7);
    check(W64, AluOp::Sdiv, (-7i64) as u64, Src::Imm(0), 0);
    check(W32, AluOp::Sdiv, (-7i64) as u64, Src::Imm(0), 0);
    check(
        W64,
        AluOp::Smod,
        (-7i64) as u64,
        Src::Imm(0),
        (-7i64) as u64,
    );
    check(
        W32,
        AluOp::Smod,
        0xdead_beef_ffff_fff9,
        Src::Imm(0),
        0xffff_fff9,
    );
}

#[test]
fn signed_division_overflow_wraps() {
    check(W32, AluOp::Sdiv, MIN32, Src::Imm(-1), MIN32);
    check(W64, AluOp::Sdiv, MIN64, Src::Imm(-1), MIN64);
    check(W32, AluOp::Smod, MIN32, Src::Imm(-1), 0);
    check(W64, AluOp::Smod, MIN64, Src::Imm(-1), 0);
}

#[test]
fn signed_and_unsigned_division() {
    check(
        W64,
        AluOp::Sdiv,
        (-7i64) as u64,
        Src::Imm(2),
        (-3i64) as u64,
    );
    check(W32, AluOp::Sdiv, 0xffff_fff9, Src::Imm(2), 0xffff_fffd);
    check(
        W64,
        AluOp::Smod,
        (-7i64) as u64,
        Src::Imm(2),
        (-1i64) as u64,
    );
    check(W32, AluOp::Smod, 7, Src::Imm(-2), 1);
    check(W32, AluOp::Smod, 0xffff_fff9, Src::Imm(-2), 0xffff_ffff);
    // Unsigned: the immediate is sign-extended, then read as unsigned.
    check(W64, AluOp::Div, 10, Src::Imm(-1), 0);
    check(W64, AluOp::Div, 0xffff_ffff_ffff_fff0, Src::Imm(-16), 1);
    check(W32, AluOp::Div, 0xffff_fff0, Src::Imm(-16), 1);
    check(W64, AluOp::Mod, 10, Src::Imm(3), 1);
    check(W32, AluOp::Mod, 0x1_0000_000a, Src::Imm(3), 1);
}

#[test]
fn shifts_are_masked_to_the_width() {
    check(W32, AluOp::Lsh, 1, Src::Imm(33), 2);
    check(W64, AluOp::Lsh, 1, Src::Imm(65), 2);
    check(W32, AluOp::Lsh, 0xffff_ffff, Src::Imm(4), 0xffff_fff0);
    check(W32, AluOp::Rsh, ALL, Src::Imm(4), 0x0fff_ffff);
    check(W64, AluOp::Rsh, ALL, Src::Imm(-1), 1);
    check(W32, AluOp::Arsh, MIN32, Src::Imm(1), 0xc000_0000);
    check(W32, AluOp::Arsh, MIN32, Src::Imm(32 + 31), 0xffff_ffff);
    check(W64, AluOp::Arsh, MIN64, Src::Imm(63), ALL);
    check(W64, AluOp::Arsh, 0x8000_0000, Src::Imm(31), 1);
}

#[test]
fn results_of_32_bit_operations_are_zero_extended() {
    check(W32, AluOp::Add, 0xffff_ffff, Src::Imm(1), 0);
    check(W32, AluOp::Sub, 0, Src::Imm(1), 0xffff_ffff);
    check(W32, AluOp::Mul, 0x1_0000_0003, Src::Imm(3), 9);
    check(W32, AluOp::Mul, MIN32, Src::Imm(-1), MIN32);
    check(W32, AluOp::Mov, 0xdead_0000_0000, Src::Imm(-1), 0xffff_ffff);
    check(W32, AluOp::Xor, ALL, Src::Imm(0), 0xffff_ffff);
    check(W32, AluOp::Or, 0xffff_0000_0000_0000, Src::Imm(1), 1);
    check(W32, AluOp::And, ALL, Src::Reg(0xffff_ffff_0000_00ff), 0xff);
}

#[test]
fn immediates_are_sign_extended_for_64_bit_operations() {
    check(W64, AluOp::Mov, 0, Src::Imm(-1), ALL);
    check(W64, AluOp::Add, 1, Src::Imm(-1), 0);
    check(W64, AluOp::And, ALL, Src::Imm(-2), ALL - 1);
    check(W64, AluOp::Or, 0, Src::Imm(i32::MIN), 0xffff_ffff_8000_0000);
    check(W64, AluOp::Mul, MIN64, Src::Imm(-1), MIN64);
    check(W64, AluOp::Sub, 0, Src::Imm(i32::MIN), 0x8000_0000);
}

#[test]
fn movsx_sign_extends_the_low_bits() {
    check(
        W64,
        AluOp::Movsx(Size::B),
        0,
        Src::Reg(0x180),
        0xffff_ffff_ffff_ff80,
    );
    check(W64, AluOp::Movsx(Size::H), 0, Src::Reg(0x1_7fff), 0x7fff);
    check(W64, AluOp::Movsx(Size::W), 0, Src::Reg(0xffff_ffff), ALL);
    check(
        W64,
        AluOp::Movsx(Size::W),
        0,
        Src::Reg(0xffff_ffff_7fff_ffff),
        0x7fff_ffff,
    );
    // ALU movsx extends into 32 bits, then zero-extends.
    check(W32, AluOp::Movsx(Size::B), ALL, Src::Reg(0x80), 0xffff_ff80);
    check(
        W32,
        AluOp::Movsx(Size::H),
        0,
        Src::Reg(0xffff_8000),
        0xffff_8000,
    );
    check(W32, AluOp::Movsx(Size::H), 0, Src::Reg(0x7fff), 0x7fff);
}

#[test]
fn movsx_takes_no_immediate() {
    let insns = vec![alu64(AluOp::Movsx(Size::B), R0, Source::Imm(-1)), exit()];
    let error = visor_vm::Interpreter::new(&program(insns), conformance_helpers()).unwrap_err();
    assert!(
        matches!(error, VmError::InvalidInsn { pc: 0, .. }),
        "{error}"
    );
}

fn negate(width: Width, value: u64) -> u64 {
    run(vec![lddw(R0, value), Insn::Neg { width, dst: R0 }, exit()]).unwrap()
}

#[test]
fn neg() {
    assert_eq!(negate(W32, 1), 0xffff_ffff);
    assert_eq!(negate(W64, 1), ALL);
    assert_eq!(negate(W32, MIN32), MIN32);
    assert_eq!(negate(W64, MIN64), MIN64);
    assert_eq!(negate(W32, 0x1_0000_0000), 0);
}

fn convert(order: ByteOrder, bits: u8, value: u64) -> u64 {
    run(vec![
        lddw(R0, value),
        Insn::Endian {
            order,
            bits,
            dst: R0,
        },
        exit(),
    ])
    .unwrap()
}

#[test]
fn byte_order() {
    let v = 0x0102_0304_0506_0708;
    assert_eq!(convert(ByteOrder::ToLe, 16, v), 0x0708);
    assert_eq!(convert(ByteOrder::ToLe, 32, v), 0x0506_0708);
    assert_eq!(convert(ByteOrder::ToLe, 64, v), v);
    assert_eq!(convert(ByteOrder::ToBe, 16, v), 0x0807);
    assert_eq!(convert(ByteOrder::ToBe, 32, v), 0x0807_0605);
    assert_eq!(convert(ByteOrder::ToBe, 64, v), 0x0807_0605_0403_0201);
    assert_eq!(convert(ByteOrder::Swap, 16, v), 0x0807);
    assert_eq!(convert(ByteOrder::Swap, 32, v), 0x0807_0605);
    assert_eq!(convert(ByteOrder::Swap, 64, v), 0x0807_0605_0403_0201);
}

#[test]
fn lddw_loads_all_64_bits_and_skips_its_second_slot() {
    let r0 = run(vec![lddw(R0, 0x1122_3344_5566_7788), exit()]);
    assert_eq!(r0.unwrap(), 0x1122_3344_5566_7788);
    // A jump over an lddw lands after both of its slots.
    let over = run(vec![mov(R0, 1), ja(2), lddw(R0, 7), exit()]);
    assert_eq!(over.unwrap(), 1);
}

#[test]
fn registers_start_at_zero_but_for_r1_r2_r10() {
    for reg in [R0, R3, R4, R5, R6, R7, R8, R9] {
        assert_eq!(run(vec![mov_reg(R0, reg), exit()]).unwrap(), 0, "{reg}");
    }
    assert_eq!(run(vec![mov_reg(R0, R10), exit()]).unwrap(), 0x2_0000_0200);
    let mut memory = [0u8; 3];
    assert_eq!(
        run_on(vec![mov_reg(R0, R1), exit()], &mut memory).unwrap(),
        0x1_0000_0000
    );
    assert_eq!(
        run_on(vec![mov_reg(R0, R2), exit()], &mut memory).unwrap(),
        3
    );
    assert_eq!(
        run(vec![mov_reg(R0, R1), exit()]).unwrap(),
        0,
        "no input: r1 is null"
    );
}
