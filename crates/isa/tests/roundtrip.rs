//! The disassembler and the LLVM-syntax assembler are inverses: for random
//! valid programs, `assemble(program_text(p), Syntax::Llvm) == p`, and the
//! full listing reads back the same way.

use proptest::prelude::*;
use proptest::sample::select;
use visor_isa::asm::{Syntax, assemble};
use visor_isa::disasm::{disassemble, program_text};
use visor_isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpCond, LoadImm, PacketOffset, Program, Reg,
    Size, Source, Width, branch_target,
};

fn reg() -> impl Strategy<Value = Reg> {
    (0..Reg::COUNT as u8).prop_map(|n| Reg::new(n).expect("0 to 10 are registers"))
}

fn width() -> impl Strategy<Value = Width> {
    select(vec![Width::W32, Width::W64])
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        reg().prop_map(Source::Reg),
        any::<i32>().prop_map(Source::Imm)
    ]
}

/// Binary operations with an immediate or a register, and sign-extending
/// moves (register only; 32-bit moves extend 8 or 16 bits).
fn alu() -> impl Strategy<Value = Insn> {
    let ops = AluOp::BINARY.to_vec();
    let binary =
        (width(), select(ops), reg(), source()).prop_map(|(width, op, dst, src)| Insn::Alu {
            width,
            op,
            dst,
            src,
        });
    let extension = prop_oneof![
        (Just(Width::W32), select(vec![Size::B, Size::H])),
        (Just(Width::W64), select(vec![Size::B, Size::H, Size::W])),
    ];
    let movsx = (extension, reg(), reg()).prop_map(|((width, from), dst, src)| Insn::Alu {
        width,
        op: AluOp::Movsx(from),
        dst,
        src: Source::Reg(src),
    });
    prop_oneof![4 => binary, 1 => movsx]
}

fn neg_and_endian() -> impl Strategy<Value = Insn> {
    let neg = (width(), reg()).prop_map(|(width, dst)| Insn::Neg { width, dst });
    let orders = vec![ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap];
    let endian = (select(orders), select(vec![16u8, 32, 64]), reg())
        .prop_map(|(order, bits, dst)| Insn::Endian { order, bits, dst });
    prop_oneof![neg, endian]
}

/// Loads (signed ones of 1, 2 or 4 bytes), stores of both sources, atomics.
fn memory() -> impl Strategy<Value = Insn> {
    let load = (
        select(Size::ALL.to_vec()),
        any::<bool>(),
        reg(),
        reg(),
        any::<i16>(),
    )
        .prop_map(|(size, signed, dst, src, off)| Insn::Load {
            size,
            signed: signed && size != Size::DW,
            dst,
            src,
            off,
        });
    let store = (select(Size::ALL.to_vec()), reg(), any::<i16>(), source()).prop_map(
        |(size, dst, off, src)| Insn::Store {
            size,
            dst,
            off,
            src,
        },
    );
    let ops = vec![
        AtomicOp::Add { fetch: false },
        AtomicOp::Add { fetch: true },
        AtomicOp::Or { fetch: false },
        AtomicOp::Or { fetch: true },
        AtomicOp::And { fetch: false },
        AtomicOp::And { fetch: true },
        AtomicOp::Xor { fetch: false },
        AtomicOp::Xor { fetch: true },
        AtomicOp::Xchg,
        AtomicOp::Cmpxchg,
    ];
    let atomic = (
        select(vec![Size::W, Size::DW]),
        select(ops),
        reg(),
        reg(),
        any::<i16>(),
    )
        .prop_map(|(size, op, dst, src, off)| Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        });
    prop_oneof![load, store, atomic]
}

/// `lddw` of every pseudo source, and the legacy packet loads.
fn wide_and_packet() -> impl Strategy<Value = Insn> {
    let lddw = (select(LoadImm::ALL.to_vec()), reg(), any::<u64>())
        .prop_map(|(kind, dst, imm)| Insn::LoadImm64 { kind, dst, imm });
    let offset = prop_oneof![Just(PacketOffset::Abs), reg().prop_map(PacketOffset::Ind)];
    let packet = (
        select(vec![Size::B, Size::H, Size::W]),
        offset,
        any::<i32>(),
    )
        .prop_map(|(size, offset, imm)| Insn::LoadPacket { size, offset, imm });
    prop_oneof![lddw, packet]
}

/// Control flow; branch offsets are placeholders until [`fix_targets`].
fn control() -> impl Strategy<Value = Insn> {
    let jump = (width(), select(JmpCond::ALL.to_vec()), reg(), source()).prop_map(
        |(width, cond, dst, src)| Insn::Jump {
            width,
            cond,
            dst,
            src,
            off: 0,
        },
    );
    let ja = any::<bool>().prop_map(|long| Insn::Ja { off: 0, long });
    let call = prop_oneof![
        any::<i32>().prop_map(CallTarget::Helper),
        Just(CallTarget::Local(0)),
        any::<i32>().prop_map(CallTarget::Kfunc),
    ]
    .prop_map(Insn::Call);
    prop_oneof![
        3 => jump,
        1 => ja,
        2 => call,
        1 => reg().prop_map(Insn::CallReg),
        1 => Just(Insn::Exit),
    ]
}

fn insn() -> impl Strategy<Value = Insn> {
    prop_oneof![
        3 => alu(),
        1 => neg_and_endian(),
        3 => memory(),
        1 => wide_and_packet(),
        3 => control(),
    ]
}

/// Points every branch at the instruction its selector picks, so the
/// program passes [`Program::new`].
fn fix_targets(picks: Vec<(Insn, usize)>) -> Program {
    let starts: Vec<i64> = picks
        .iter()
        .scan(0i64, |pc, (insn, _)| {
            let at = *pc;
            *pc += insn.slot_count() as i64;
            Some(at)
        })
        .collect();
    let insns = picks
        .iter()
        .zip(&starts)
        .map(|(&(insn, pick), &pc)| {
            let rel = starts[pick % starts.len()] - pc - 1;
            retarget(insn, rel)
        })
        .collect();
    Program::new(insns).expect("every branch lands on an instruction")
}

/// `insn` with its branch offset set to `rel`, when it has one.
fn retarget(insn: Insn, rel: i64) -> Insn {
    // Programs hold at most a few hundred slots, so offsets fit in 16 bits.
    let rel16 = i16::try_from(rel).expect("small program");
    match insn {
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            ..
        } => Insn::Jump {
            width,
            cond,
            dst,
            src,
            off: rel16,
        },
        Insn::Ja { long, .. } => Insn::Ja {
            off: rel16.into(),
            long,
        },
        Insn::Call(CallTarget::Local(_)) => Insn::Call(CallTarget::Local(rel16.into())),
        Insn::LoadImm64 {
            kind: LoadImm::Func,
            dst,
            imm,
        } => Insn::LoadImm64 {
            kind: LoadImm::Func,
            dst,
            // The low half is the offset; keep the random high half.
            imm: (imm & !u64::from(u32::MAX)) | u64::from(i32::from(rel16) as u32),
        },
        other => other,
    }
}

fn program() -> impl Strategy<Value = Program> {
    prop::collection::vec((insn(), any::<usize>()), 1..48).prop_map(fix_targets)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn text_assembles_back_to_the_program(program in program()) {
        let text = program_text(&program);
        prop_assert_eq!(assemble(&text, Syntax::Llvm), Ok(program), "{}", text);
    }

    #[test]
    fn listing_assembles_back_to_the_program(program in program()) {
        let listing = disassemble(&program);
        prop_assert_eq!(assemble(&listing, Syntax::Llvm), Ok(program), "{}", listing);
    }

    /// The generator makes only instructions that survive encoding, so the
    /// round trip above is about text, not about invalid instructions.
    #[test]
    fn generated_programs_are_valid_bytecode(program in program()) {
        prop_assert_eq!(Program::decode(&program.to_bytes()), Ok(program.clone()));
        for (pc, insn) in program.iter() {
            if let Some(target) = branch_target(pc, insn) {
                prop_assert!(target >= 0 && (target as usize) < program.slot_len());
            }
        }
    }
}
