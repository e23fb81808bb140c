//! Soundness: random small programs (stack and context loads and stores,
//! ALU at both widths, forward conditional jumps) that the verifier
//! accepts never hit a memory error, run off the end, or fail otherwise
//! in visor-vm's interpreter on random input.

use proptest::prelude::*;
use visor_isa::{AluOp, Insn, JmpCond, Program, Reg, Size, Source, Width};
use visor_verifier::{VerifyEnv, verify};

/// Bytes of input memory: the generic context's whole size.
const MEMORY: usize = visor_verifier::context::GENERIC_CTX_SIZE as usize;

fn reg() -> impl Strategy<Value = Reg> {
    (0u8..6).prop_map(|n| Reg::new(n).expect("r0..r5"))
}

fn base() -> impl Strategy<Value = Reg> {
    prop_oneof![Just(Reg::R10), Just(Reg::R1), reg()]
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        reg().prop_map(Source::Reg),
        (-600i32..600).prop_map(Source::Imm),
        any::<i32>().prop_map(Source::Imm)
    ]
}

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![Just(Size::B), Just(Size::H), Just(Size::W), Just(Size::DW)]
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

const OPS: [AluOp; 10] = [
    AluOp::Add,
    AluOp::Sub,
    AluOp::Mul,
    AluOp::Div,
    AluOp::Mod,
    AluOp::And,
    AluOp::Or,
    AluOp::Xor,
    AluOp::Mov,
    AluOp::Rsh,
];

/// One instruction; jumps carry a small forward offset fixed up later.
fn insn() -> impl Strategy<Value = Insn> {
    prop_oneof![
        (width(), 0..OPS.len(), reg(), source()).prop_map(|(width, op, dst, src)| Insn::Alu {
            width,
            op: OPS[op],
            dst,
            src
        }),
        (reg(), 0i32..64).prop_map(|(dst, s)| Insn::Alu {
            width: Width::W64,
            op: AluOp::Lsh,
            dst,
            src: Source::Imm(s)
        }),
        reg().prop_map(|dst| Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst,
            src: Source::Reg(Reg::R10)
        }),
        (reg(), -40i32..0).prop_map(|(dst, k)| Insn::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst,
            src: Source::Imm(k * 8)
        }),
        (size(), reg(), base(), -530i16..64).prop_map(|(size, dst, src, off)| Insn::Load {
            size,
            signed: false,
            dst,
            src,
            off
        }),
        (size(), base(), -530i16..64, source()).prop_map(|(size, dst, off, src)| Insn::Store {
            size,
            dst,
            off,
            src
        }),
        (width(), 0..JmpCond::ALL.len(), reg(), source(), 0i16..4).prop_map(
            |(width, c, dst, src, off)| Insn::Jump {
                width,
                cond: JmpCond::ALL[c],
                dst,
                src,
                off
            }
        ),
    ]
}

fn program(body: Vec<Insn>, seeds: [i32; 5]) -> Option<Program> {
    let len = body.len();
    // r0 and r2..r5 start as constants (r1 stays the context).
    let mut insns: Vec<Insn> = [0u8, 2, 3, 4, 5]
        .into_iter()
        .zip(seeds)
        .map(|(r, imm)| Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: Reg::new(r).expect("r0..r5"),
            src: Source::Imm(imm),
        })
        .collect();
    insns.extend(body.into_iter().enumerate().map(|(i, insn)| match insn {
        // Keep jumps inside the program, onto the final `exit` at most.
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let room = (len - i) as i16;
            Insn::Jump {
                width,
                cond,
                dst,
                src,
                off: off.min(room),
            }
        }
        other => other,
    }));
    insns.push(Insn::Exit);
    Program::new(insns).ok()
}

/// `program`'s body run `laps` times by a counted loop on r9 (which the
/// body does not use): the widening of counted loops is then exercised.
/// The body's forward jumps land at most on the step.
fn looped(body: Vec<Insn>, seeds: [i32; 5], laps: i32) -> Option<Program> {
    let len = body.len();
    let body = body.into_iter().enumerate().map(|(i, insn)| match insn {
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            off,
        } => Insn::Jump {
            width,
            cond,
            dst,
            src,
            off: off.min((len - 1 - i) as i16),
        },
        other => other,
    });
    let mut insns = vec![Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: Reg::R9,
        src: Source::Imm(0),
    }];
    insns.extend(body);
    insns.push(Insn::Alu {
        width: Width::W64,
        op: AluOp::Add,
        dst: Reg::R9,
        src: Source::Imm(1),
    });
    insns.push(Insn::Jump {
        width: Width::W64,
        cond: JmpCond::Lt,
        dst: Reg::R9,
        src: Source::Imm(laps),
        off: -(len as i16) - 2,
    });
    // `program` puts the seeds first and the final `exit` last.
    program(insns, seeds)
}

/// Accepted programs run, to see that the property is not vacuous.
static ACCEPTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static ACCEPTED_LOOPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn accepted_programs_run_without_memory_errors(
        body in prop::collection::vec(insn(), 1..14),
        seeds in prop::array::uniform5(-16i32..16),
        input in prop::collection::vec(any::<u8>(), MEMORY),
    ) {
        let Some(program) = program(body, seeds) else { return Ok(()) };
        let env = VerifyEnv::new(None);
        if verify(&program, &env).is_err() {
            return Ok(());
        }
        let accepted = ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if accepted.is_multiple_of(250) {
            println!("{accepted} accepted programs ran cleanly so far");
        }
        runs_cleanly(&program, input)?;
    }

    #[test]
    fn accepted_counted_loops_run_without_memory_errors(
        body in prop::collection::vec(insn(), 1..10),
        seeds in prop::array::uniform5(-16i32..16),
        laps in 1i32..300,
        input in prop::collection::vec(any::<u8>(), MEMORY),
    ) {
        let Some(program) = looped(body, seeds, laps) else { return Ok(()) };
        // Branches in a loop the walk cannot prune double its paths each
        // lap: such programs are given up early.
        let env = VerifyEnv {
            budget: 50_000,
            ..VerifyEnv::new(None)
        };
        if verify(&program, &env).is_err() {
            return Ok(());
        }
        let accepted = ACCEPTED_LOOPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if accepted.is_multiple_of(100) {
            println!("{accepted} accepted loops ran cleanly so far");
        }
        runs_cleanly(&program, input)?;
    }
}

fn runs_cleanly(program: &Program, mut memory: Vec<u8>) -> Result<(), TestCaseError> {
    let interpreter = visor_vm::Interpreter::new(program, visor_vm::Helpers::new())
        .expect("the interpreter takes verified programs");
    let outcome = interpreter.run(&mut memory);
    prop_assert!(
        outcome.is_ok(),
        "accepted, but the interpreter failed: {:?}\n{}",
        outcome,
        visor_isa::disasm::disassemble(program)
    );
    Ok(())
}
