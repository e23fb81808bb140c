//! Soundness: random small programs (stack and context loads and stores,
//! ALU at both widths, forward conditional jumps) that the verifier
//! accepts never hit a memory error, run off the end, or fail otherwise
//! in visor-vm's interpreter on random input.

use std::sync::atomic::{AtomicUsize, Ordering};

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
    // Keep jumps inside the program, onto the final `exit` at most.
    insns.extend(shorten_jumps(body, 1));
    insns.push(Insn::Exit);
    Program::new(insns).ok()
}

/// `body` with each forward jump landing at most `past` slots after its
/// last instruction.
fn shorten_jumps(mut body: Vec<Insn>, past: usize) -> Vec<Insn> {
    let len = body.len();
    for (i, insn) in body.iter_mut().enumerate() {
        if let Insn::Jump { off, .. } = insn {
            *off = (*off).min((len + past - 1 - i) as i16);
        }
    }
    body
}

/// `program`'s body run `laps` times by a counted loop on r9 (which the
/// body does not use): the widening of counted loops is then exercised.
/// The body's forward jumps land at most on the step.
fn looped(body: Vec<Insn>, seeds: [i32; 5], laps: i32) -> Option<Program> {
    let len = body.len();
    let body = shorten_jumps(body, 0);
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

/// Accepted programs that ran, straight and in loops.
static ACCEPTED: AtomicUsize = AtomicUsize::new(0);
static ACCEPTED_LOOPS: AtomicUsize = AtomicUsize::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn accepted_programs_run_without_memory_errors(
        body in prop::collection::vec(insn(), 1..14),
        seeds in prop::array::uniform5(-16i32..16),
        input in prop::collection::vec(any::<u8>(), MEMORY),
    ) {
        let env = VerifyEnv::new(None);
        if_accepted_runs_cleanly(program(body, seeds), &env, input, &ACCEPTED, "programs")?;
    }

    #[test]
    fn accepted_counted_loops_run_without_memory_errors(
        body in prop::collection::vec(insn(), 1..10),
        seeds in prop::array::uniform5(-16i32..16),
        laps in 1i32..300,
        input in prop::collection::vec(any::<u8>(), MEMORY),
    ) {
        // Branches in a loop the walk cannot prune double its paths each
        // lap: such programs are given up early.
        let env = VerifyEnv {
            budget: 50_000,
            ..VerifyEnv::new(None)
        };
        if_accepted_runs_cleanly(looped(body, seeds, laps), &env, input, &ACCEPTED_LOOPS, "loops")?;
    }
}

/// If `env` accepts `program`, runs it in the interpreter on `memory`,
/// which must go without error; counts the programs that ran, in
/// `accepted`, to see that the property is not vacuous.
fn if_accepted_runs_cleanly(
    program: Option<Program>,
    env: &VerifyEnv,
    mut memory: Vec<u8>,
    accepted: &AtomicUsize,
    what: &str,
) -> Result<(), TestCaseError> {
    let Some(program) = program.filter(|p| verify(p, env).is_ok()) else {
        return Ok(());
    };
    let count = accepted.fetch_add(1, Ordering::Relaxed) + 1;
    if count.is_multiple_of(250) {
        println!("{count} accepted {what} ran cleanly so far");
    }
    let program = &program;
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
