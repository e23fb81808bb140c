//! No program and no input makes the engine panic, and runs are
//! deterministic: random bytecode, and random well-formed programs.

mod common;

use common::*;
use proptest::prelude::*;
use visor_isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpCond, PacketOffset, Program, Reg, Size, Slot,
    Source, Width,
};
use visor_vm::Interpreter;

const BUDGET: u64 = 2_000;

/// Runs twice on copies of `memory`: both runs must agree, on r0 or the
/// error and on the memory they leave.
fn run_twice(program: &Program, memory: &[u8]) -> Result<(), TestCaseError> {
    let Ok(vm) = Interpreter::new(program, conformance_helpers()) else {
        return Ok(());
    };
    let vm = vm.with_budget(Some(BUDGET));
    let (mut first, mut second) = (memory.to_vec(), memory.to_vec());
    let a = vm.run(&mut first).map_err(|e| e.to_string());
    let b = vm.run(&mut second).map_err(|e| e.to_string());
    prop_assert_eq!(a, b);
    prop_assert_eq!(first, second);
    Ok(())
}

fn reg() -> impl Strategy<Value = Reg> {
    (0u8..=10).prop_map(|n| Reg::new(n).expect("0 to 10"))
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

fn size() -> impl Strategy<Value = Size> {
    prop::sample::select(Size::ALL.to_vec())
}

/// Immediates around the interesting edges, and anything.
fn imm() -> impl Strategy<Value = i32> {
    prop_oneof![-70i32..70, Just(i32::MIN), Just(i32::MAX), any::<i32>()]
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![reg().prop_map(Source::Reg), imm().prop_map(Source::Imm)]
}

/// Offsets that mostly land near r10's frame, the input, or just outside.
fn mem_off() -> impl Strategy<Value = i16> {
    prop_oneof![-520i16..80, any::<i16>()]
}

fn alu_op() -> impl Strategy<Value = AluOp> {
    prop::sample::select(AluOp::ALL.to_vec())
}

fn atomic_op() -> impl Strategy<Value = AtomicOp> {
    prop::sample::select(vec![
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
    ])
}

/// One instruction; jump offsets are small so that many programs are valid.
fn insn() -> impl Strategy<Value = Insn> {
    let off = -6i16..6;
    prop_oneof![
        4 => (width(), alu_op(), reg(), source()).prop_map(|(width, op, dst, src)| Insn::Alu { width, op, dst, src }),
        1 => (width(), reg()).prop_map(|(width, dst)| Insn::Neg { width, dst }),
        1 => (prop::sample::select(vec![ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap]),
              prop::sample::select(vec![16u8, 32, 64]), reg())
            .prop_map(|(order, bits, dst)| Insn::Endian { order, bits, dst }),
        3 => (size(), any::<bool>(), reg(), reg(), mem_off())
            .prop_map(|(size, signed, dst, src, off)| Insn::Load { size, signed, dst, src, off }),
        3 => (size(), reg(), mem_off(), source()).prop_map(|(size, dst, off, src)| Insn::Store { size, dst, off, src }),
        2 => (prop_oneof![Just(Size::W), Just(Size::DW)], atomic_op(), reg(), reg(), mem_off())
            .prop_map(|(size, op, dst, src, off)| Insn::Atomic { size, op, dst, src, off }),
        1 => (reg(), any::<u64>()).prop_map(|(dst, imm)| lddw(dst, imm)),
        1 => (prop_oneof![Just(Size::B), Just(Size::H), Just(Size::W)],
              prop_oneof![Just(PacketOffset::Abs), reg().prop_map(PacketOffset::Ind)], imm())
            .prop_map(|(size, offset, imm)| Insn::LoadPacket { size, offset, imm }),
        3 => (width(), prop::sample::select(JmpCond::ALL.to_vec()), reg(), source(), off.clone())
            .prop_map(|(width, cond, dst, src, off)| Insn::Jump { width, cond, dst, src, off }),
        1 => (off.clone(), any::<bool>()).prop_map(|(off, long)| Insn::Ja { off: off.into(), long }),
        1 => prop_oneof![Just(5), 0..8].prop_map(|id| Insn::Call(CallTarget::Helper(id))),
        1 => (-6i32..6).prop_map(|rel| Insn::Call(CallTarget::Local(rel))),
        1 => reg().prop_map(Insn::CallReg),
        2 => Just(Insn::Exit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random words as bytecode: whatever decodes runs without panicking.
    #[test]
    fn random_bytecode_never_panics(
        words in prop::collection::vec(any::<u64>(), 1..24),
        memory in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        if let Ok(program) = Program::decode(&bytes) {
            run_twice(&program, &memory)?;
        }
    }

    /// Slots with plausible fields (registers in range, small offsets) decode
    /// far more often than random words, reaching deeper into the engine.
    #[test]
    fn plausible_slots_never_panic(
        slots in prop::collection::vec((any::<u8>(), 0u8..=10, 0u8..=10, -8i16..8, imm()), 1..24),
        memory in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let slots: Vec<Slot> = slots
            .into_iter()
            .map(|(code, dst, src, off, imm)| Slot { code, dst, src, off, imm })
            .collect();
        if let Ok(program) = Program::from_slots(&slots) {
            run_twice(&program, &memory)?;
        }
    }

    /// Random well-formed instructions, ending in exit most of the time.
    #[test]
    fn random_programs_never_panic(
        mut insns in prop::collection::vec(insn(), 1..40),
        end_with_exit in prop::bool::weighted(0.9),
        memory in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        if end_with_exit {
            insns.push(Insn::Exit);
        }
        if let Ok(program) = Program::new(insns) {
            run_twice(&program, &memory)?;
        }
    }
}

#[test]
fn the_generators_reach_running_programs() {
    // Guard against a generator that only ever produces rejected programs:
    // count how many random programs load and finish.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut loaded, mut finished) = (0, 0);
    for _ in 0..500 {
        let mut insns = prop::collection::vec(insn(), 1..20)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        insns.push(Insn::Exit);
        let Ok(program) = Program::new(insns) else {
            continue;
        };
        let Ok(vm) = Interpreter::new(&program, conformance_helpers()) else {
            continue;
        };
        loaded += 1;
        let mut memory = [0u8; 32];
        if vm.with_budget(Some(BUDGET)).run(&mut memory).is_ok() {
            finished += 1;
        }
    }
    assert!(loaded > 100, "only {loaded} of 500 random programs loaded");
    assert!(
        finished > 20,
        "only {finished} of {loaded} loaded programs finished"
    );
}
