//! The translation to eBPF is equivalent to the cBPF interpreter: for every
//! program and packet, visor-vm running `to_ebpf(program)`, in its
//! interpreter and in a JIT session, returns in r0 exactly what
//! `run(program, packet)` returns.
//!
//! Programs: random checked ones (every load mode and size, every ALU
//! operation with K and X, jumps, scratch memory, `ret`) under the kernel's
//! rules and under libpcap's (backward `ja`, unstored scratch, programs
//! long enough for far jumps), and every program libpcap printed in
//! `../shared/filters/accept.json`. Packets:
//! random bytes, and every packet of the classic pcap captures in
//! `../shared/filters/pcaps` (pcapng files are skipped with a note).
//!
//! visor-vm passes the buffer's length in r2, so the cBPF side runs with
//! the wire length equal to the captured length ([`Packet::whole`]).

mod common;
mod pcap;

use std::cell::Cell;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use visor_filter::{
    CheckError, CheckedProgram, MAX_BACKWARD_JUMPS, Packet, Rule, Rules, check, check_with, run,
    to_ebpf,
};
use visor_isa::cbpf::{
    AluOp, Ancillary, Format, JmpCond, Listing, Load, LoadX, Op, RetVal, Size, Src,
};
use visor_vm::{Helpers, Interpreter, RunInput, Session};

/// Every packet of every classic capture, loaded once.
fn capture_packets() -> &'static [Vec<u8>] {
    static PACKETS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    PACKETS.get_or_init(|| {
        let packets = pcap::capture_packets().unwrap_or_default();
        if packets.is_empty() {
            eprintln!("note: no capture packets; random packets only");
        }
        packets
    })
}

/// Both engines on `packets`; `Err` describes the first disagreement.
/// Returns the number of packets run.
fn compare<'a>(
    program: &CheckedProgram,
    packets: impl IntoIterator<Item = &'a [u8]>,
) -> Result<usize, String> {
    let ebpf = to_ebpf(program);
    let vm = Interpreter::new(&ebpf, Helpers::new())
        .map_err(|e| format!("visor-vm refuses the translation: {e}"))?;
    let mut jit = Interpreter::new(&ebpf, Helpers::new())
        .map_err(|e| format!("visor-vm refuses the translation: {e}"))?;
    let _interpreter_where_no_jit = jit.compile_jit();
    let mut session = Session::new(&jit);
    let mut buffer = Vec::new();
    let mut count = 0;
    for bytes in packets {
        let want = u64::from(run(program, Packet::whole(bytes)));
        buffer.clear();
        buffer.extend_from_slice(bytes);
        let got = vm.run(&mut buffer);
        let native = session.run(RunInput::readonly(bytes));
        if !matches!(got, Ok(r0) if r0 == want) || !matches!(native, Ok(r0) if r0 == want) {
            return Err(format!(
                "packet {bytes:02x?}: cBPF returns {want}, eBPF {got:?}, on the JIT {native:?}\n{}",
                Listing::new(program.insns(), Format::Image)
            ));
        }
        count += 1;
    }
    Ok(count)
}

#[test]
fn libpcap_programs_agree_on_every_capture() {
    let Some(blocks) = common::accept_blocks() else {
        return;
    };
    let packets = capture_packets();
    let (mut programs, mut runs) = (0, 0);
    let mut libpcap_only = Vec::new();
    for block in &blocks {
        for (field, text) in &block.listings {
            let text = match block.name.as_str() {
                // Drop the opcode column of the one block that has it.
                "bpf_image" => text
                    .lines()
                    .map(|l| format!("{}\n", l.split(';').next().unwrap_or(l).trim_end()))
                    .collect(),
                _ => text.clone(),
            };
            let insns = common::parse_listing(&text).expect("listing parses");
            // Every program libpcap prints passes libpcap's rules; note the
            // ones the kernel would refuse, and why.
            let program = check(&insns).or_else(|error| {
                libpcap_only.push(format!("{} {field}: {error}", block.name));
                check_with(&insns, Rules::Libpcap)
            });
            let program = program.unwrap_or_else(|e| panic!("{} {field}: {e}", block.name));
            runs += compare(&program, packets.iter().map(Vec::as_slice))
                .unwrap_or_else(|e| panic!("{} {field}: {e}", block.name));
            programs += 1;
        }
    }
    eprintln!(
        "{programs} libpcap programs x {} capture packets: {runs} runs agree; \
         {} of the programs pass libpcap's rules but not the kernel's:",
        packets.len(),
        libpcap_only.len()
    );
    for why in &libpcap_only {
        eprintln!("  {why}");
    }
    assert!(programs > 1000, "accept.json looks truncated");
}

/// How a generated body instruction is made valid once its index and the
/// program length are known.
#[derive(Clone, Copy, Debug)]
enum Seed {
    Op(Op),
    /// `ja` forward, with a distance reduced to stay inside the program.
    Ja(u32),
    /// `ja` backward under libpcap's rules (forward under the kernel's).
    Back(u32),
    Jump {
        cond: JmpCond,
        src: Src,
        jt: u8,
        jf: u8,
    },
}

/// Offsets: mostly inside typical headers, sometimes far, at the edges of
/// the translation's limits, or Linux metadata.
fn arb_offset() -> impl Strategy<Value = u32> {
    prop_oneof![
        8 => 0u32..64,
        2 => 0u32..1600,
        1 => prop::sample::select(vec![0x7fff_fffc, 0x7fff_ffff, 0x8000_0000, 0xffff_efff]),
        1 => prop::sample::select(Ancillary::ALL.to_vec()).prop_map(Ancillary::offset),
        1 => 0u32..Ancillary::BASE,
    ]
}

/// Constants: small, at the edges, or anything.
fn arb_value() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0u32..64,
        2 => prop::sample::select(vec![0, 1, 2, 31, 32, 33, 0x7fff_ffff, 0x8000_0000, u32::MAX]),
        3 => any::<u32>(),
    ]
}

fn arb_size() -> impl Strategy<Value = Size> {
    prop::sample::select(Size::ALL.to_vec())
}

fn arb_slot() -> impl Strategy<Value = u32> {
    0u32..16
}

fn arb_src() -> impl Strategy<Value = Src> {
    prop_oneof![arb_value().prop_map(Src::K), Just(Src::X)]
}

fn arb_alu() -> impl Strategy<Value = Op> {
    (prop::sample::select(AluOp::ALL.to_vec()), arb_src()).prop_map(|(op, src)| {
        // The checker's rules for constants: no zero divisor, shifts < 32.
        let src = match (op, src) {
            (AluOp::Div | AluOp::Mod, Src::K(0)) => Src::K(1),
            (AluOp::Lsh | AluOp::Rsh, Src::K(k)) => Src::K(k % 32),
            _ => src,
        };
        Op::Alu { op, src }
    })
}

fn arb_load() -> impl Strategy<Value = Op> {
    prop_oneof![
        arb_value().prop_map(|k| Op::Ld(Load::Imm(k))),
        (arb_size(), arb_offset()).prop_map(|(size, offset)| Op::Ld(Load::Abs { size, offset })),
        (arb_size(), arb_offset()).prop_map(|(size, offset)| Op::Ld(Load::Ind { size, offset })),
        arb_slot().prop_map(|slot| Op::Ld(Load::Mem { slot })),
        Just(Op::Ld(Load::Len)),
        arb_value().prop_map(|k| Op::Ldx(LoadX::Imm(k))),
        arb_slot().prop_map(|slot| Op::Ldx(LoadX::Mem { slot })),
        Just(Op::Ldx(LoadX::Len)),
        arb_offset().prop_map(|offset| Op::Ldx(LoadX::Msh { offset })),
    ]
}

fn arb_seed() -> impl Strategy<Value = Seed> {
    let jump = (
        prop::sample::select(JmpCond::ALL.to_vec()),
        arb_src(),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(|(cond, src, jt, jf)| Seed::Jump { cond, src, jt, jf });
    prop_oneof![
        6 => arb_load().prop_map(Seed::Op),
        5 => arb_alu().prop_map(Seed::Op),
        2 => arb_slot().prop_map(|slot| Seed::Op(Op::St { slot })),
        2 => arb_slot().prop_map(|slot| Seed::Op(Op::Stx { slot })),
        1 => prop::sample::select(vec![Op::Neg, Op::Tax, Op::Txa]).prop_map(Seed::Op),
        4 => jump,
        1 => any::<u32>().prop_map(Seed::Ja),
        1 => any::<u32>().prop_map(Seed::Back),
        1 => arb_ret().prop_map(Seed::Op),
    ]
}

fn arb_ret() -> impl Strategy<Value = Op> {
    prop_oneof![
        arb_value().prop_map(|k| Op::Ret(RetVal::K(k))),
        Just(Op::Ret(RetVal::A))
    ]
}

/// A program checked against `rules`: up to 40 body instructions and a
/// final `ret`, then `filler` unreachable instructions and another `ret`
/// (enough filler makes the translation take far jumps).
fn arb_program(rules: Rules, filler: usize) -> impl Strategy<Value = CheckedProgram> {
    (prop::collection::vec(arb_seed(), 0..40), arb_ret()).prop_map(move |(seeds, last)| {
        let len = seeds.len() + 1;
        let mut ops: Vec<Op> = seeds
            .into_iter()
            .enumerate()
            .map(|(pc, seed)| {
                // Jumps from `pc` may skip up to the final `ret`.
                let room = (len - 2 - pc) as u32 + 1;
                let skip = |n: u8| (u32::from(n) % room) as u8;
                match seed {
                    Seed::Op(op) => op,
                    // Back to `pc - 1 - n % pc`: never to itself.
                    Seed::Back(n) if rules == Rules::Libpcap && pc > 0 => Op::Ja {
                        k: (-2 - (n % pc as u32) as i32) as u32,
                    },
                    Seed::Ja(n) | Seed::Back(n) => Op::Ja { k: n % room },
                    Seed::Jump { cond, src, jt, jf } => Op::Jump {
                        cond,
                        src,
                        jt: skip(jt),
                        jf: skip(jf),
                    },
                }
            })
            .collect();
        ops.push(last);
        if filler > 0 {
            ops.extend((0..filler).map(|_| Op::Ldx(LoadX::Msh { offset: 14 })));
            ops.push(Op::Ret(RetVal::A));
        }
        if rules == Rules::Libpcap {
            let insns: Vec<_> = ops.iter().map(|op| op.encode()).collect();
            return check_with(&insns, rules).expect("the generator makes valid programs");
        }
        // Store what is loaded before it is stored; jumps are relative, so
        // instructions put in front keep every target.
        loop {
            match CheckedProgram::from_ops(&ops) {
                Ok(program) => return program,
                Err(CheckError {
                    rule: Rule::UninitializedScratch { slot },
                    ..
                }) => ops.insert(
                    0,
                    if slot % 2 == 0 {
                        Op::St { slot }
                    } else {
                        Op::Stx { slot }
                    },
                ),
                Err(error) => panic!("the generator made an invalid program: {error}"),
            }
        }
    })
}

fn arb_packets() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 1..6)
}

/// Runs `cases` random programs from `programs`, each over its random
/// packets and every capture packet; prints the totals.
fn agree_on_random_programs(
    what: &str,
    cases: u32,
    programs: impl Strategy<Value = CheckedProgram>,
) {
    let captures = capture_packets();
    let (count, runs) = (Cell::new(0), Cell::new(0));
    let mut runner = TestRunner::new(Config {
        cases,
        // Failures print the minimal case; there is no file to save it to.
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&(programs, arb_packets()), |(program, packets)| {
        let random = packets.iter().map(Vec::as_slice);
        let all = random.chain(captures.iter().map(Vec::as_slice));
        let agreed = compare(&program, all).map_err(TestCaseError::fail)?;
        count.set(count.get() + 1);
        runs.set(runs.get() + agreed);
        Ok(())
    });
    if let Err(error) = outcome {
        panic!("{what}: {error}");
    }
    eprintln!(
        "{} random {what} over their random packets and {} capture packets: {} runs agree",
        count.get(),
        captures.len(),
        runs.get()
    );
}

#[test]
fn random_kernel_programs_agree() {
    agree_on_random_programs("kernel-rule programs", 1000, arb_program(Rules::Kernel, 0));
}

/// A loop that counts to `limit` takes `limit - 1` backward jumps: both
/// engines allow [`MAX_BACKWARD_JUMPS`] and reject the next. Random loops
/// rarely stop at the boundary, so walk it.
#[test]
fn the_backward_jump_limit_agrees() {
    let max = MAX_BACKWARD_JUMPS;
    for limit in (0..6).chain(max - 2..max + 6) {
        let ops = [
            Op::Ld(Load::Mem { slot: 0 }),
            Op::Alu {
                op: AluOp::Add,
                src: Src::K(1),
            },
            Op::St { slot: 0 },
            Op::Jump {
                cond: JmpCond::Ge,
                src: Src::K(limit),
                jt: 1,
                jf: 0,
            },
            Op::Ja { k: (-5i32) as u32 },
            Op::Ret(RetVal::A),
        ];
        let insns: Vec<_> = ops.iter().map(|op| op.encode()).collect();
        let program = check_with(&insns, Rules::Libpcap).unwrap();
        let want = if limit <= max + 1 { limit.max(1) } else { 0 };
        assert_eq!(run(&program, Packet::whole(&[])), want, "limit {limit}");
        compare(&program, [&[][..]]).unwrap();
    }
}

/// Backward jumps, unstored scratch words.
#[test]
fn random_libpcap_programs_agree() {
    agree_on_random_programs("libpcap-rule programs", 500, arb_program(Rules::Libpcap, 0));
}

/// 5500 unreachable `ldxb` push the translation past 16-bit jump offsets.
#[test]
fn random_long_programs_agree_with_far_jumps() {
    let long = arb_program(Rules::Libpcap, 5500);
    agree_on_random_programs("far-jump programs", 64, long);
}
