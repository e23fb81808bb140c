//! JMP and JMP32 comparisons, ja and gotol.

mod common;

use common::*;
use visor_isa::{Insn, JmpCond, Source, Width};

use JmpCond::*;
use Width::{W32, W64};

/// Whether `if dst cond src` jumps, with `src` an immediate and, again, the
/// same immediate sign-extended in a register.
#[track_caller]
fn taken(width: Width, cond: JmpCond, dst: u64, imm: i32) -> bool {
    let by_imm = jumps(width, cond, dst, Source::Imm(imm), 0);
    let by_reg = jumps(width, cond, dst, Source::Reg(R2), i64::from(imm) as u64);
    assert_eq!(
        by_imm, by_reg,
        "{cond:?} {width:?}: immediate and register forms differ"
    );
    by_imm
}

/// Whether `if dst cond src` jumps, `src` a register holding `value`.
fn taken_reg(width: Width, cond: JmpCond, dst: u64, value: u64) -> bool {
    jumps(width, cond, dst, Source::Reg(R2), value)
}

fn jumps(width: Width, cond: JmpCond, dst: u64, src: Source, r2: u64) -> bool {
    let r0 = run(vec![
        lddw(R1, dst),
        lddw(R2, r2),
        mov(R0, 0),
        jump(width, cond, R1, src, 1),
        exit(),
        mov(R0, 1),
        exit(),
    ]);
    r0.unwrap() == 1
}

#[test]
fn jmp32_compares_only_the_low_halves() {
    assert!(!taken(W64, Eq, 0x1_0000_0001, 1));
    assert!(taken(W32, Eq, 0x1_0000_0001, 1));
    assert!(taken(W64, Ne, 0x1_0000_0001, 1));
    assert!(!taken(W32, Ne, 0x1_0000_0001, 1));
    assert!(taken_reg(W64, Set, 0x1_0000_0000, 0x1_0000_0000));
    assert!(!taken_reg(W32, Set, 0x1_0000_0000, 0x1_0000_0000));
    assert!(taken(W32, Set, 0xff, 0x10));
}

#[test]
fn unsigned_comparisons_see_the_sign_extended_immediate() {
    // -1 is u64::MAX at 64 bits and u32::MAX at 32 bits.
    assert!(!taken(W64, Ge, 0xffff_ffff, -1));
    assert!(taken(W32, Ge, 0xffff_ffff, -1));
    assert!(taken(W64, Lt, 5, -1));
    assert!(taken(W32, Lt, 5, -1));
    assert!(!taken(W64, Gt, 0xffff_ffff, -1));
    assert!(taken(W64, Le, 0xffff_ffff, -1));
    assert!(taken(W64, Gt, 0x1_0000_0000, 1));
    assert!(!taken(W32, Gt, 0x1_0000_0000, 1));
}

#[test]
fn signed_comparisons_use_the_sign_bit_of_the_width() {
    // 0x8000_0000 is positive at 64 bits, negative at 32.
    assert!(taken(W64, Sgt, 0x8000_0000, 0));
    assert!(!taken(W32, Sgt, 0x8000_0000, 0));
    assert!(taken(W32, Slt, 0x8000_0000, 0));
    assert!(taken(W64, Slt, u64::MAX, 0));
    assert!(taken(W64, Sle, u64::MAX, -1));
    assert!(taken(W64, Sge, u64::MAX, -1));
    assert!(!taken(W64, Sgt, u64::MAX, -1));
    assert!(taken(W32, Sge, 0xffff_ffff_0000_0000, 0));
    assert!(!taken(W64, Sge, 0xffff_ffff_0000_0000, 0));
}

#[test]
fn ja_loops_backwards_and_gotol_takes_a_32_bit_offset() {
    // r0 = 0; r1 = 10; loop: r0 += 3; r1 -= 1; if r1 != 0 goto loop; exit
    let counted = run(vec![
        mov(R0, 0),
        mov(R1, 10),
        add(R0, 3),
        add(R1, -1),
        jump(W64, Ne, R1, Source::Imm(0), -3),
        exit(),
    ]);
    assert_eq!(counted.unwrap(), 30);
    let mut insns = vec![
        mov(R0, 1),
        Insn::Ja { off: 1, long: true },
        exit(),
        mov(R0, 2),
    ];
    insns.extend([ja(-3)]);
    assert_eq!(run(insns).unwrap(), 2);
}
