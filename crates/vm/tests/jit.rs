//! The interpreter and the JIT tested as one: each program runs through
//! both engines (the JIT with constants blinded, as by default, and
//! verbatim, as for trusted programs; plainly and in a `Session`), which
//! must agree on r0 or the error, on the input bytes afterwards and on the
//! instruction count; the expected outcome is stated once. Then random valid programs (every instruction kind, forward
//! branches, bounded loops, stack and input traffic, atomics, helper and
//! local calls, faults, small budgets) compared the same way.

mod common;

use std::sync::Arc;

use common::*;
use visor_isa::{
    AluOp, AtomicOp, ByteOrder, Insn, JmpCond, LoadImm, PacketOffset, Reg, Size, Source, Width,
};
use visor_vm::{
    Finished, HelperOutcome, Helpers, Interpreter, Map, MapDef, MapKind, MapOps, ProgramMaps,
    RunInput, Session, UpdateMode,
};

/// What a run gave: r0 or the error's text, the instructions counted, and
/// the input bytes after it.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    result: Result<u64, String>,
    instructions: Option<u64>,
    memory: Vec<u8>,
}

fn observe(vm: &Interpreter, input: &[u8]) -> Observed {
    observe_run(input, |memory| vm.run_counted(RunInput::memory(memory)))
}

/// What `run` gave on a copy of `input`.
fn observe_run<E: ToString>(
    input: &[u8],
    run: impl FnOnce(&mut [u8]) -> Result<Finished, E>,
) -> Observed {
    let mut memory = input.to_vec();
    let counted = run(&mut memory).map_err(|e| e.to_string());
    Observed {
        result: counted.as_ref().map(|f| f.r0).map_err(Clone::clone),
        instructions: counted.ok().map(|f| f.instructions),
        memory,
    }
}

/// What runs in a [`Session`] gave: the same input run twice in one
/// session must be observed the same, and as a plain run is.
fn observe_session(vm: &Interpreter, input: &[u8]) -> Observed {
    let mut session = Session::new(vm);
    let mut observe_once = || {
        observe_run(input, |memory| {
            session.run_counted(RunInput::memory(memory))
        })
    };
    let first = observe_once();
    assert_eq!(observe_once(), first, "a session's second run differs");
    first
}

/// Runs `vm` in the interpreter and, on x86-64, natively, each plainly
/// and in a session; all must agree. Returns what they observed.
#[track_caller]
fn both_engines(vm: Interpreter, input: &[u8]) -> Observed {
    let interpreted = observe(&vm, input);
    assert_eq!(
        observe_session(&vm, input),
        interpreted,
        "interpreter session"
    );
    if visor_vm::jit::AVAILABLE {
        let mut jit = vm
            .with_jit()
            .expect("the JIT takes what the interpreter runs");
        assert!(jit.is_jit());
        let native = observe(&jit, input);
        assert_eq!(
            native, interpreted,
            "the JIT (constants blinded) disagrees with the interpreter"
        );
        assert_eq!(observe_session(&jit, input), interpreted, "JIT session");
        jit.compile_trusted_jit()
            .expect("and with constants verbatim");
        assert_eq!(observe(&jit, input), interpreted, "trusted JIT");
    }
    interpreted
}

/// The conformance helpers, a deterministic mixing helper (1) and a
/// helper that stores r2 at address r1 through the memory model (2).
fn test_helpers() -> Helpers {
    let mut helpers = conformance_helpers();
    helpers.register(1, "mix", |args, _| {
        let mixed = args.iter().fold(0x9e37_79b9_7f4a_7c15u64, |h, &a| {
            (h ^ a).rotate_left(13).wrapping_mul(31)
        });
        Ok(HelperOutcome::Return(mixed))
    });
    helpers.register(2, "poke", |args, memory| {
        Ok(match memory.store(args[0], Size::DW, args[1]) {
            Ok(()) => HelperOutcome::Return(0),
            Err(_) => HelperOutcome::Return(u64::MAX),
        })
    });
    helpers
}

fn vm_with(insns: Vec<Insn>, budget: Option<u64>) -> Interpreter {
    Interpreter::new(&program(insns), test_helpers())
        .expect("test program loads")
        .with_budget(budget)
}

/// Checks that both engines give `expected` (r0, or text the error
/// contains) over `input`.
#[track_caller]
fn check_engines(insns: Vec<Insn>, input: &[u8], expected: Result<u64, &str>) {
    let observed = both_engines(vm_with(insns, Some(100_000)), input);
    match (&observed.result, expected) {
        (Ok(r0), Ok(want)) => assert_eq!(*r0, want),
        (Err(error), Err(want)) => assert!(error.contains(want), "{error}"),
        (got, want) => panic!("got {got:?}, expected {want:?}"),
    }
}

fn alu32(op: AluOp, dst: Reg, src: Source) -> Insn {
    alu(Width::W32, op, dst, src)
}

fn imm(value: i32) -> Source {
    Source::Imm(value)
}

fn reg(r: Reg) -> Source {
    Source::Reg(r)
}

#[test]
fn add32_wraps_and_clears_the_upper_half() {
    check_engines(
        vec![mov(R0, -1), alu32(AluOp::Add, R0, imm(2)), exit()],
        &[],
        Ok(1),
    );
}

#[test]
fn division_by_zero_and_min_by_minus_one() {
    let min64 = i64::MIN as u64;
    for (width, op, dividend, divisor, want) in [
        (Width::W64, AluOp::Div, 7, 0, 0),
        (Width::W64, AluOp::Mod, 7, 0, 7),
        (Width::W32, AluOp::Mod, u64::MAX, 0, 0xffff_ffff),
        (Width::W64, AluOp::Sdiv, min64, u64::MAX, min64),
        (Width::W64, AluOp::Smod, min64, u64::MAX, 0),
        (Width::W32, AluOp::Sdiv, 0x8000_0000, u64::MAX, 0x8000_0000),
        (Width::W32, AluOp::Sdiv, 0xffff_fff9, 2, 0xffff_fffd),
        (Width::W64, AluOp::Smod, (-7i64) as u64, 2, (-1i64) as u64),
        (Width::W32, AluOp::Div, 0x1_0000_0007, 2, 3),
    ] {
        check_engines(
            vec![
                lddw(R0, dividend),
                lddw(R1, divisor),
                alu(width, op, R0, reg(R1)),
                exit(),
            ],
            &[],
            Ok(want),
        );
    }
    // Immediate divisors take the same branches.
    check_engines(
        vec![mov(R0, 9), alu64(AluOp::Sdiv, R0, imm(-1)), exit()],
        &[],
        Ok(-9i64 as u64),
    );
    check_engines(
        vec![mov(R0, 9), alu32(AluOp::Mod, R0, imm(0)), exit()],
        &[],
        Ok(9),
    );
}

#[test]
fn shifts_are_masked_and_32_bit_shifts_by_zero_still_clear_the_top() {
    check_engines(
        vec![
            lddw(R0, 0xffff_ffff_0000_0001),
            mov(R1, 32),
            alu32(AluOp::Lsh, R0, reg(R1)),
            exit(),
        ],
        &[],
        Ok(1),
    );
    check_engines(
        vec![mov(R0, -8), alu64(AluOp::Arsh, R0, imm(65)), exit()],
        &[],
        Ok(-4i64 as u64),
    );
}

#[test]
fn movsx_ldsx_and_byte_swaps() {
    check_engines(
        vec![
            mov(R1, 0x80),
            alu64(AluOp::Movsx(Size::B), R0, reg(R1)),
            exit(),
        ],
        &[],
        Ok(-128i64 as u64),
    );
    check_engines(
        vec![
            mov(R1, 0x8000),
            alu32(AluOp::Movsx(Size::H), R0, reg(R1)),
            exit(),
        ],
        &[],
        Ok(0xffff_8000),
    );
    check_engines(
        vec![load_signed(Size::H, R0, R1, 0), exit()],
        &[0xfe, 0xff],
        Ok(-2i64 as u64),
    );
    for (order, bits, want) in [
        (ByteOrder::ToBe, 16, 0x1122),
        (ByteOrder::ToLe, 32, 0x4433_2211),
        (ByteOrder::Swap, 64, 0x1122_3344_5566_7788),
        (ByteOrder::Swap, 32, 0x1122_3344),
    ] {
        check_engines(
            vec![
                lddw(R0, 0x8877_6655_4433_2211),
                Insn::Endian {
                    order,
                    bits,
                    dst: R0,
                },
                exit(),
            ],
            &[],
            Ok(want),
        );
    }
}

#[test]
fn every_jump_condition_at_both_widths() {
    for cond in JmpCond::ALL {
        for width in [Width::W32, Width::W64] {
            for (a, b) in [(1u64, 2u64), (u64::MAX, 1), (0x1_0000_0000, 0), (5, 5)] {
                let vm = vm_with(
                    vec![
                        lddw(R1, a),
                        lddw(R2, b),
                        mov(R0, 0),
                        jump(width, cond, R1, reg(R2), 1),
                        exit(),
                        mov(R0, 1),
                        exit(),
                    ],
                    None,
                );
                both_engines(vm, &[]);
            }
        }
    }
}

#[test]
fn atomics_fetch_into_src_and_cmpxchg_into_r0() {
    let ops = [
        AtomicOp::Add { fetch: true },
        AtomicOp::Or { fetch: true },
        AtomicOp::And { fetch: true },
        AtomicOp::Xor { fetch: true },
        AtomicOp::Add { fetch: false },
        AtomicOp::Xchg,
        AtomicOp::Cmpxchg,
    ];
    for op in ops {
        for size in [Size::W, Size::DW] {
            let vm = vm_with(
                vec![
                    lddw(R3, 0x1234_5678_9abc_def0),
                    store(Size::DW, R10, -8, reg(R3)),
                    lddw(R2, 0xf0f0_0000_ffff_0001),
                    lddw(R0, 0x9abc_def0),
                    atomic(size, op, R10, -8, R2),
                    load(Size::DW, R4, R10, -8),
                    alu64(AluOp::Xor, R0, reg(R2)),
                    alu64(AluOp::Xor, R0, reg(R4)),
                    exit(),
                ],
                None,
            );
            both_engines(vm, &[]);
        }
    }
}

#[test]
fn faults_name_the_same_instruction_and_region() {
    check_engines(
        vec![mov(R0, 0), load(Size::W, R0, R1, 6), exit()],
        &[1, 2, 3, 4, 5, 6, 7, 8],
        Err("instruction 1: out-of-bounds read of 4 bytes at 0x1_0000_0006 (context, 8 bytes)"),
    );
    check_engines(
        vec![store(Size::DW, R10, 0, imm(1)), exit()],
        &[],
        Err("instruction 0: out-of-bounds write"),
    );
    check_engines(
        vec![mov(R2, 16), load(Size::B, R0, R2, 0), exit()],
        &[],
        Err("null-pointer read of 1 byte at 0x10"),
    );
}

/// r0 += 3, ten times, then `tail`.
fn counting_loop(tail: Insn) -> Vec<Insn> {
    vec![
        mov(R0, 0),
        mov(R3, 10),
        add(R0, 3),
        add(R3, -1),
        jump(Width::W64, JmpCond::Ne, R3, imm(0), -3),
        tail,
        add(R0, 1),
        exit(),
    ]
}

#[test]
fn the_budget_stops_both_at_the_same_instruction() {
    // The loop, then a load through r1 that passes or faults (on the slow
    // path). Native code keeps the budget in a register in this program
    // (no r10, no calls) and in memory in the one that stores through r10:
    // both must run out at the same instruction as the interpreter, in
    // the middle of a block, in the loop or after it.
    for (budget, off) in [(1, 0), (5, 0), (12, 0), (33, 0), (34, 0), (40, 0), (40, 30)] {
        let through_r1 = Insn::Load {
            size: Size::DW,
            signed: false,
            dst: R2,
            src: R1,
            off,
        };
        let through_r10 = Insn::Store {
            size: Size::DW,
            dst: R10,
            off: off - 8,
            src: reg(R0),
        };
        for tail in [through_r1, through_r10] {
            both_engines(vm_with(counting_loop(tail), Some(budget)), &[7; 8]);
        }
    }
}

#[test]
fn local_calls_helpers_callx_and_unwind() {
    check_engines(
        vec![
            mov(R1, 20),
            call_local(3),
            add(R0, 1),
            exit(),
            exit(),
            mov_reg(R0, R1),
            store(Size::DW, R10, -8, reg(R10)),
            load(Size::DW, R2, R10, -8),
            alu64(AluOp::Sub, R2, reg(R10)),
            alu64(AluOp::Add, R0, reg(R2)),
            exit(),
        ],
        &[],
        Ok(21),
    );
    // Depth: a call that recurses forever stops at the frame limit.
    check_engines(vec![call_local(-1), exit()], &[], Err("call"));
    // callx with a register holding helper 5; unwind ends the program.
    check_engines(
        vec![
            mov(R1, 0),
            mov(R2, 5),
            Insn::CallReg(R2),
            mov(R0, 7),
            exit(),
        ],
        &[],
        Ok(0),
    );
    check_engines(
        vec![
            mov_reg(R1, R10),
            add(R1, -16),
            lddw(R2, 0xdead_beef_0000_0001),
            call_helper(2),
            load(Size::DW, R0, R10, -16),
            exit(),
        ],
        &[],
        Ok(0xdead_beef_0000_0001),
    );
}

#[test]
fn packet_loads_and_jumps_into_lddw() {
    check_engines(
        vec![ld_abs(Size::H, 1), exit()],
        &[0x11, 0x22, 0x33],
        Ok(0x2233),
    );
    check_engines(vec![mov(R0, 5), ld_abs(Size::W, 1), exit()], &[1, 2], Ok(0));
    // Falling off the end.
    check_engines(vec![mov(R0, 1)], &[], Err("fell off the end"));
}

#[test]
fn inline_packet_loads_end_the_program_at_every_edge() {
    let packet = [0x11, 0x22, 0x33, 0x44, 0x55];
    // The last bytes that fit, one past them, a negative offset.
    check_engines(vec![ld_abs(Size::W, 1), exit()], &packet, Ok(0x2233_4455));
    check_engines(vec![ld_abs(Size::W, 2), exit()], &packet, Ok(0));
    check_engines(
        vec![mov(R0, 9), ld_abs(Size::B, -1), exit()],
        &packet,
        Ok(0),
    );
    // LD_IND adds in 64 bits and keeps the low half as a signed offset:
    // 2^32 + 4 wraps to 4; 2^31 is negative; -1 + 2 is 1.
    for (index, offset, want) in [(1i64 << 32, 4, 0x55), (1 << 31, 0, 0), (-1, 2, 0x22)] {
        check_engines(
            vec![
                Insn::LoadImm64 {
                    kind: LoadImm::Imm64,
                    dst: R3,
                    imm: index as u64,
                },
                ld_ind(Size::B, R3, offset),
                exit(),
            ],
            &packet,
            Ok(want),
        );
    }
    // After a failed load nothing else runs, not even in a local call.
    check_engines(
        vec![
            call_local(2),
            mov(R0, 7),
            exit(),
            ld_abs(Size::H, 4),
            exit(),
        ],
        &packet,
        Ok(0),
    );
}

#[test]
fn a_session_reads_a_read_only_packet_with_its_wire_length() {
    // r0 = r2 (the length) + the first byte; a store to the packet faults.
    let load = vec![
        Insn::Load {
            size: Size::B,
            signed: false,
            dst: R0,
            src: R1,
            off: 0,
        },
        alu(Width::W64, AluOp::Add, R0, reg(R2)),
        exit(),
    ];
    let store = vec![
        Insn::Store {
            size: Size::B,
            dst: R1,
            off: 0,
            src: imm(1),
        },
        exit(),
    ];
    for insns in [load, store] {
        let vm = vm_with(insns.clone(), None);
        let jit = vm_with(insns, None).with_jit().ok();
        for engine in [Some(&vm), jit.as_ref()].into_iter().flatten() {
            let mut session = Session::new(engine);
            for (packet, wire_len) in [([5u8, 0], 60), ([6, 0], 1500)] {
                let input = RunInput::readonly(&packet).with_length(wire_len);
                match session.run(input) {
                    Ok(r0) => assert_eq!(r0, wire_len + u64::from(packet[0])),
                    Err(e) => assert!(e.to_string().contains("read-only"), "{e}"),
                }
            }
        }
    }
}

#[test]
fn map_values_go_through_the_slow_path_with_the_same_results() {
    let data = Arc::new(Map::new(MapDef::new(MapKind::Array, 4, 8, 1)).unwrap());
    data.update(&0u32.to_le_bytes(), &7u64.to_le_bytes(), UpdateMode::Any)
        .unwrap();
    let insns = vec![
        Insn::LoadImm64 {
            kind: LoadImm::MapIdxValue,
            dst: R1,
            imm: 0,
        },
        load(Size::DW, R0, R1, 0),
        add(R0, 1),
        store(Size::DW, R1, 0, reg(R0)),
        mov(R2, 1),
        atomic(Size::DW, AtomicOp::Add { fetch: true }, R1, 0, R2),
        load(Size::DW, R0, R1, 0),
        alu64(AluOp::Add, R0, reg(R2)),
        load(Size::DW, R3, R1, 8),
        exit(),
    ];
    let maps: ProgramMaps = [Arc::clone(&data)].into_iter().collect();
    let vm = Interpreter::with_maps(&program(insns), Helpers::new(), maps).unwrap();
    let observed = both_engines(vm, &[]);
    let error = observed.result.unwrap_err();
    assert!(error.contains("instruction 9"), "{error}");
}

/// Maps for random map-value programs: values whose size is neither a
/// power of two nor a multiple of 8, a map programs may only read, a
/// hash map, and a one-entry array for `lddw`'s direct value access;
/// every value starts with distinct bytes.
fn value_maps() -> Vec<Arc<Map>> {
    let defs = [
        MapDef::new(MapKind::Array, 4, 12, 5),
        MapDef::new(MapKind::Array, 4, 8, 3).with_flags(visor_vm::maps::flags::RDONLY_PROG),
        MapDef::new(MapKind::Hash, 4, 20, 4),
        MapDef::new(MapKind::Array, 4, 12, 1),
    ];
    defs.into_iter()
        .map(|def| {
            let (entries, size) = (def.max_entries, def.value_size as usize);
            let map = Map::new(def).unwrap();
            for key in 0..entries {
                let value: Vec<u8> = (0..size).map(|i| (key as usize * 31 + i) as u8).collect();
                map.update(&key.to_le_bytes(), &value, UpdateMode::Any)
                    .unwrap();
            }
            Arc::new(map)
        })
        .collect()
}

/// Every value of `maps`, in key order.
fn map_contents(maps: &[Arc<Map>]) -> Vec<Option<Vec<u8>>> {
    maps.iter()
        .flat_map(|map| {
            (0..map.def().max_entries).map(|key| map.lookup(&key.to_le_bytes()).unwrap())
        })
        .collect()
}

/// A random program over [`value_maps`]: pointers to values from `lddw`
/// (r6) and from lookups (r7 and later either), moved by small steps and
/// by whole value windows, then loads, stores and atomics of every size
/// at offsets around each value's bounds.
fn map_value_program(rng: &mut Rng) -> Vec<Insn> {
    const POINTERS: [Reg; 2] = [R6, R7];
    let mut out = vec![Insn::LoadImm64 {
        kind: LoadImm::MapIdxValue,
        dst: R6,
        imm: (rng.below(12) << 32) | 3,
    }];
    let lookup = |rng: &mut Rng, out: &mut Vec<Insn>, pointer: Reg| {
        // A key that may be missing: then the pointer is NULL.
        out.push(Insn::LoadImm64 {
            kind: LoadImm::MapIdx,
            dst: R1,
            imm: rng.below(4),
        });
        out.push(store(Size::W, R10, -4, Source::Imm(rng.below(6) as i32)));
        out.push(mov_reg(R2, R10));
        out.push(add(R2, -4));
        out.push(call_helper(1));
        out.push(mov_reg(pointer, R0));
    };
    lookup(rng, &mut out, R7);
    out.push(mov(R0, 0));
    for _ in 0..rng.below(24) + 1 {
        let pointer = rng.pick(&POINTERS);
        let size = size(rng);
        let off = rng.below(32) as i16 - 8;
        match rng.below(10) {
            0 => {
                out.push(mov_reg(R8, R0));
                lookup(rng, &mut out, pointer);
                out.push(mov_reg(R0, R8));
            }
            1 => out.push(add(pointer, rng.pick(&[1, -1, 4, 16, 32, 64, -32]))),
            2 => out.push(store(size, pointer, off, Source::Imm(interesting_imm(rng)))),
            3 => out.push(store(size, pointer, off, reg(rng.pick(&[R0, R6, R7])))),
            4 => {
                let op = rng.pick(&[AtomicOp::Add { fetch: true }, AtomicOp::Xchg]);
                let size = rng.pick(&[Size::W, Size::DW]);
                out.push(atomic(size, op, pointer, off & !3, R0));
            }
            5 => out.push(sign_extending_load(size, R1, pointer, off)),
            _ => out.push(load(size, R1, pointer, off)),
        }
        out.push(alu64(AluOp::Xor, R0, reg(R1)));
        out.push(alu64(AluOp::Mul, R0, Source::Imm(31)));
    }
    out.push(exit());
    out
}

/// Loads and stores of map values run inline on the JIT (and atomics
/// through the interpreter): every random access, in bounds or not, on
/// every map, must end as in the interpreter, with the same values left.
#[test]
fn random_map_value_accesses_agree() {
    let mut rng = Rng(0x6d61_7076_616c_7565);
    let cases = diff_cases();
    for case in 0..cases {
        let insns = map_value_program(&mut rng);
        let program = program(insns);
        let run = |jit: bool| {
            let maps = value_maps();
            let table: ProgramMaps = maps.iter().cloned().collect();
            let mut helpers = Helpers::new();
            helpers.register_map_helpers();
            let vm = Interpreter::with_maps(&program, helpers, table).unwrap();
            let vm = match jit && visor_vm::jit::AVAILABLE {
                true => vm.with_jit().expect("the JIT compiles it"),
                false => vm,
            };
            let result = vm.run(&mut []).map_err(|e| e.to_string());
            (result, map_contents(&maps))
        };
        assert_eq!(run(true), run(false), "case {case}: {program:?}");
    }
}

/// Programs in a tail-call chain: four programs in a program array,
/// each mixing a register that tail calls carry, counting itself in a
/// value it reaches directly, and tail-calling a random slot (two of six
/// empty or out of range), some from inside a local call or through no
/// map (errors), some after a helper emptied a slot of the array; their
/// map tables list the same two maps in either order.
struct TailChain {
    programs: Vec<(visor_isa::Program, bool)>,
    budget: Option<u64>,
}

const CHAIN_LEN: usize = 4;
/// A helper of the chain's programs that empties slot r1 of the array.
const EMPTY_SLOT_HELPER: u32 = 0x7000;

impl TailChain {
    fn random(rng: &mut Rng) -> TailChain {
        let programs = (0..CHAIN_LEN)
            .map(|me| {
                let progs_first = rng.chance(50);
                let (progs, counter) = if progs_first { (0, 1) } else { (1, 0) };
                let slot = rng.below(6) as i32;
                // Now and then no map at all: the helper refuses it.
                let array = match rng.chance(3) {
                    true => (LoadImm::Imm64, u64::MAX),
                    false => (LoadImm::MapIdx, progs),
                };
                let tail_call = [
                    Insn::LoadImm64 {
                        kind: array.0,
                        dst: R2,
                        imm: array.1,
                    },
                    mov(R3, slot),
                    call_helper(12),
                ];
                let mut insns = Vec::new();
                if rng.chance(10) {
                    // The array changes under the run that reads it.
                    let doomed = rng.below(CHAIN_LEN as u64) as i32;
                    insns.extend([mov(R1, doomed), call_helper(EMPTY_SLOT_HELPER as i32)]);
                }
                insns.extend([
                    alu64(AluOp::Mul, R6, Source::Imm(31)),
                    add(R6, me as i32 + 1),
                    Insn::LoadImm64 {
                        kind: LoadImm::MapIdxValue,
                        dst: R7,
                        imm: ((me as u64 * 8) << 32) | counter,
                    },
                    load(Size::DW, R8, R7, 0),
                    add(R8, 1),
                    store(Size::DW, R7, 0, reg(R8)),
                ]);
                if rng.chance(20) {
                    // The tail call from a subprogram, which fails the run.
                    insns.extend([call_local(2), mov_reg(R0, R6), exit()]);
                    insns.extend(tail_call);
                    insns.extend([mov(R0, 0), exit()]);
                } else {
                    insns.extend(tail_call);
                    // What a failed tail call returned counts too.
                    let failed = alu64(AluOp::Xor, R6, Source::Reg(R0));
                    insns.extend([failed, mov_reg(R0, R6), exit()]);
                }
                (program(insns), progs_first)
            })
            .collect();
        let budget = rng.chance(30).then(|| rng.below(120) + 1);
        TailChain { programs, budget }
    }

    /// Runs the first program with `native(n)` saying which programs
    /// have a JIT: r0 or the error, the instructions, and the counts.
    fn run(&self, native: impl Fn(usize) -> bool) -> (Result<Finished, String>, Vec<u8>) {
        let progs = Arc::new(Map::new(MapDef::new(MapKind::ProgArray, 4, 4, 5)).unwrap());
        let counter = Arc::new(Map::new(MapDef::new(MapKind::Array, 4, 32, 1)).unwrap());
        let loaded: Vec<Arc<Interpreter>> = self
            .programs
            .iter()
            .enumerate()
            .map(|(n, (program, progs_first))| {
                let maps: ProgramMaps = match progs_first {
                    true => [progs.clone(), counter.clone()].into_iter().collect(),
                    false => [counter.clone(), progs.clone()].into_iter().collect(),
                };
                let mut helpers = Helpers::new();
                let array = progs.clone();
                helpers.register(EMPTY_SLOT_HELPER, "empty_slot", move |args, _| {
                    let _ = array.delete(&(args[0] as u32).to_le_bytes());
                    Ok(HelperOutcome::Return(0))
                });
                let vm = Interpreter::with_maps(program, helpers, maps)
                    .unwrap()
                    .with_budget(self.budget);
                Arc::new(match native(n) {
                    true => vm.with_jit().expect("the JIT compiles it"),
                    false => vm,
                })
            })
            .collect();
        for (n, vm) in loaded.iter().enumerate() {
            progs
                .set_program(n as u32, n as u32 + 1, vm.clone())
                .unwrap();
        }
        let result = loaded[0].run_counted(RunInput::memory(&mut []));
        for n in 0..CHAIN_LEN as u32 {
            // Breaks the programs' references to the array (a helper may
            // have emptied the slot already).
            let _ = progs.delete(&n.to_le_bytes());
        }
        let counts = counter.lookup(&0u32.to_le_bytes()).unwrap().unwrap();
        (result.map_err(|e| e.to_string()), counts)
    }
}

/// Tail calls between programs with native code jump from one body into
/// the next without leaving it: chains of every shape (to programs with
/// and without a JIT, through maps listed in another order, past the
/// 33-call limit, out of budget, from a local call) must end as in the
/// interpreter, with the same instruction count and the same counts.
#[test]
fn random_tail_call_chains_agree() {
    if !visor_vm::jit::AVAILABLE {
        return;
    }
    let mut rng = Rng(0x7461_696c_6361_6c6c);
    for case in 0..diff_cases() {
        let chain = TailChain::random(&mut rng);
        let interpreted = chain.run(|_| false);
        let mixed = rng.next();
        assert_eq!(chain.run(|_| true), interpreted, "case {case}: all native");
        assert_eq!(
            chain.run(|n| mixed >> n & 1 == 1),
            interpreted,
            "case {case}: mixed {mixed:#b}"
        );
    }
}

// ---------------------------------------------------------------------
// Random valid programs.

/// A small deterministic generator (xorshift), so a failing case is
/// reproduced from its seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Bytes of input each random program gets; r9 points at them.
const INPUT_LEN: i16 = 64;
/// The loop counter: only loops write it.
const COUNTER: Reg = R8;
/// The input pointer: never written after the prologue.
const INPUT: Reg = R9;
const SCRATCH: [Reg; 8] = [R0, R1, R2, R3, R4, R5, R6, R7];
const SOURCES: [Reg; 11] = [R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10];

/// A piece of a program: instructions, or a forward jump over the next
/// `skip` pieces, or a local call to the subprogram.
enum Piece {
    Insns(Vec<Insn>),
    JumpOver {
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Source,
        skip: usize,
    },
    CallSub,
}

fn interesting_imm(rng: &mut Rng) -> i32 {
    match rng.below(6) {
        0 => rng.pick(&[0, 1, -1, i32::MIN, i32::MAX, 31, 32, 63, 64]),
        1 => rng.below(64) as i32,
        _ => rng.next() as i32,
    }
}

fn size(rng: &mut Rng) -> Size {
    rng.pick(&Size::ALL)
}

/// `LD_ABS`/`LD_IND` sizes (no 8-byte form).
fn packet_size(rng: &mut Rng) -> Size {
    rng.pick(&[Size::B, Size::H, Size::W])
}

/// One straight-line instruction (or an `lddw`).
fn straight(rng: &mut Rng, out: &mut Vec<Insn>) {
    let dst = rng.pick(&SCRATCH);
    let src = if rng.chance(50) {
        Source::Reg(rng.pick(&SOURCES))
    } else {
        Source::Imm(interesting_imm(rng))
    };
    let width = rng.pick(&[Width::W32, Width::W64]);
    match rng.below(16) {
        0..=4 => {
            let op = rng.pick(&AluOp::BINARY);
            out.push(alu(width, op, dst, src));
        }
        5 => {
            // movsx takes a register; 32-bit forms only from 8 and 16 bits.
            let from = match width {
                Width::W64 => rng.pick(&[Size::B, Size::H, Size::W]),
                Width::W32 => rng.pick(&[Size::B, Size::H]),
            };
            out.push(alu(width, AluOp::Movsx(from), dst, reg(rng.pick(&SOURCES))));
        }
        6 => out.push(Insn::Neg { width, dst }),
        7 => {
            let order = rng.pick(&[ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap]);
            let bits = rng.pick(&[16, 32, 64]);
            out.push(Insn::Endian { order, bits, dst });
        }
        8 => out.push(lddw(dst, rng.next())),
        9 | 10 => {
            // Stack traffic inside the frame.
            let size = size(rng);
            let off = -(rng.below(512 / size.bytes() as u64) as i16 + 1) * size.bytes() as i16;
            match rng.below(3) {
                0 => out.push(store(size, R10, off, src)),
                1 => out.push(load(size, dst, R10, off)),
                _ => out.push(sign_extending_load(size, dst, R10, off)),
            }
        }
        11 | 12 => {
            let size = size(rng);
            let off = rng.below((INPUT_LEN as usize - size.bytes() + 1) as u64) as i16;
            match rng.below(3) {
                0 => out.push(store(size, INPUT, off, src)),
                1 => out.push(load(size, dst, INPUT, off)),
                _ => out.push(sign_extending_load(size, dst, INPUT, off)),
            }
        }
        13 => {
            let size = rng.pick(&[Size::W, Size::DW]);
            let op = rng.pick(&[
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
            ]);
            let (base, off) = if rng.chance(50) {
                (R10, -(rng.below(64) as i16 + 1) * 8)
            } else {
                (INPUT, rng.below(8) as i16 * 8)
            };
            out.push(atomic(size, op, base, off, rng.pick(&SCRATCH)));
        }
        14 => match rng.below(8) {
            // A helper: mixing (by `call` or `callx`), or a store through
            // the memory model; rarely a packet load, which ends the
            // program with r0 = 0 when it misses.
            0..=2 => out.push(call_helper(1)),
            3 => {
                out.push(mov(dst, 1));
                out.push(Insn::CallReg(dst));
            }
            4 | 5 => {
                out.push(mov_reg(R1, R10));
                out.push(add(R1, -(rng.below(64) as i32 + 1) * 8));
                out.push(call_helper(2));
            }
            6 => out.push(ld_abs(packet_size(rng), rng.below(70) as i32)),
            _ => {
                let offset = rng.pick(&SOURCES);
                out.push(ld_ind(packet_size(rng), offset, rng.below(70) as i32));
            }
        },
        _ => {
            // Rarely, an access that faults: past the input, or through a
            // register that holds a number, not a pointer.
            if rng.chance(15) {
                let number = rng.pick(&SCRATCH);
                let base = rng.pick(&[INPUT, R10, number]);
                out.push(load(size(rng), dst, base, interesting_imm(rng) as i16));
            } else {
                out.push(alu(width, AluOp::Add, dst, src));
            }
        }
    }
}

/// `ldsx` where it exists (1, 2 and 4 bytes), else a plain load.
fn sign_extending_load(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
    match size {
        Size::DW => load(size, dst, src, off),
        _ => load_signed(size, dst, src, off),
    }
}

fn pieces(rng: &mut Rng, count: usize, allow_control: bool) -> Vec<Piece> {
    (0..count)
        .map(|_| match rng.below(10) {
            0 | 1 if allow_control => Piece::JumpOver {
                width: rng.pick(&[Width::W32, Width::W64]),
                cond: rng.pick(&JmpCond::ALL),
                dst: rng.pick(&SOURCES),
                src: if rng.chance(50) {
                    reg(rng.pick(&SOURCES))
                } else {
                    imm(interesting_imm(rng))
                },
                skip: rng.below(4) as usize + 1,
            },
            2 if allow_control => {
                // A bounded loop over straight-line code.
                let mut body = Vec::new();
                for _ in 0..rng.below(4) + 1 {
                    straight(rng, &mut body);
                }
                let back = -(body.iter().map(|i| i.slot_count()).sum::<usize>() as i16) - 2;
                let mut insns = vec![mov(COUNTER, rng.below(5) as i32 + 1)];
                insns.extend(body);
                insns.push(add(COUNTER, -1));
                insns.push(jump(Width::W64, JmpCond::Ne, COUNTER, imm(0), back));
                Piece::Insns(insns)
            }
            3 if allow_control && rng.chance(30) => Piece::CallSub,
            _ => {
                let mut insns = Vec::new();
                straight(rng, &mut insns);
                Piece::Insns(insns)
            }
        })
        .collect()
}

/// Folds r0 to r9 and the whole stack frame into r0: the final dump.
fn dump(out: &mut Vec<Insn>) {
    for r in [R1, R2, R3, R4, R5, R6, R7, R8, R9] {
        out.push(alu64(AluOp::Mul, R0, imm(31)));
        out.push(alu64(AluOp::Xor, R0, reg(r)));
    }
    for slot in 1..=64 {
        out.push(load(Size::DW, R1, R10, -8 * slot));
        out.push(alu64(AluOp::Mul, R0, imm(31)));
        out.push(alu64(AluOp::Add, R0, reg(R1)));
    }
    out.push(exit());
}

fn slots(piece: &Piece) -> usize {
    match piece {
        Piece::Insns(insns) => insns.iter().map(Insn::slot_count).sum(),
        Piece::JumpOver { .. } | Piece::CallSub => 1,
    }
}

/// A random valid program: prologue, random pieces, the dump, then a
/// subprogram the pieces may call.
fn random_program(seed: u64) -> Vec<Insn> {
    let mut rng = Rng(seed | 1);
    let mut out = vec![mov_reg(INPUT, R1)];
    for r in SCRATCH {
        out.push(lddw(r, rng.next()));
    }
    let count = rng.below(40) as usize + 1;
    let main = pieces(&mut rng, count, true);
    let mut sub = Vec::new();
    for _ in 0..rng.below(6) + 1 {
        straight(&mut rng, &mut sub);
    }
    sub.push(exit());
    let mut tail = Vec::new();
    dump(&mut tail);
    // Slot positions, to resolve jumps and calls.
    let start = out.iter().map(Insn::slot_count).sum::<usize>();
    let mut at = Vec::with_capacity(main.len() + 1);
    let mut pc = start;
    for piece in &main {
        at.push(pc);
        pc += slots(piece);
    }
    at.push(pc);
    let sub_start = pc + tail.iter().map(Insn::slot_count).sum::<usize>();
    for (i, piece) in main.iter().enumerate() {
        match piece {
            Piece::Insns(insns) => out.extend(insns.iter().copied()),
            Piece::JumpOver {
                width,
                cond,
                dst,
                src,
                skip,
            } => {
                let target = at[(i + 1 + skip).min(main.len())];
                let off = (target - (at[i] + 1)) as i16;
                out.push(jump(*width, *cond, *dst, *src, off));
            }
            Piece::CallSub => out.push(call_local((sub_start - (at[i] + 1)) as i32)),
        }
    }
    out.extend(tail);
    out.extend(sub);
    out
}

fn random_input(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed.rotate_left(17) | 1);
    (0..INPUT_LEN).map(|_| rng.next() as u8).collect()
}

/// Runs the program of `seed` in both engines; returns how it ended in
/// the interpreter.
fn run_random(seed: u64) -> Observed {
    let insns = random_program(seed);
    let mut rng = Rng(seed ^ 0x5555);
    // Mostly ample budgets; sometimes one that runs out mid-program.
    let budget = if rng.chance(20) {
        Some(rng.below(300) + 1)
    } else {
        Some(1_000_000)
    };
    let vm = Interpreter::new(&program(insns.clone()), test_helpers())
        .expect("random programs load")
        .with_budget(budget);
    let input = random_input(seed);
    let interpreted = observe(&vm, &input);
    if visor_vm::jit::AVAILABLE {
        let mut jit = vm.with_jit().expect("the JIT takes every random program");
        let native = observe(&jit, &input);
        assert_eq!(
            native, interpreted,
            "seed {seed:#x}, budget {budget:?}, program {insns:?}"
        );
        assert_eq!(
            observe_session(&jit, &input),
            interpreted,
            "session: seed {seed:#x}, budget {budget:?}, program {insns:?}"
        );
        jit.compile_trusted_jit()
            .expect("and with constants verbatim");
        assert_eq!(
            observe(&jit, &input),
            interpreted,
            "trusted JIT: seed {seed:#x}, budget {budget:?}, program {insns:?}"
        );
    }
    interpreted
}

/// How many random programs the longer runs try:
/// `VISOR_JIT_DIFF_CASES`, else 1,000.
fn diff_cases() -> u64 {
    std::env::var("VISOR_JIT_DIFF_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000)
}

/// A longer run with a summary of how the programs ended (returned,
/// faulted, out of budget): `VISOR_JIT_DIFF_CASES=1000000` for more.
#[test]
fn random_programs_end_every_way_and_agree() {
    let cases = diff_cases();
    let started = std::time::Instant::now();
    let (mut returned, mut faulted, mut budget, mut other) = (0, 0, 0, 0);
    for seed in 0..cases {
        match run_random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)).result {
            Ok(_) => returned += 1,
            Err(e) if e.contains("budget") => budget += 1,
            Err(e) if e.contains("read") || e.contains("write") || e.contains("atomic") => {
                faulted += 1
            }
            Err(_) => other += 1,
        }
    }
    println!(
        "{cases} random programs in {:.2?}: {returned} returned, {faulted} faulted, \
         {budget} ran out of budget, {other} other errors",
        started.elapsed()
    );
    assert!(returned > 0 && faulted > 0 && budget > 0);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
    #[test]
    fn random_valid_programs_agree(seed: u64) {
        run_random(seed);
    }
}

// ---------------------------------------------------------------------
// Leaf programs, which the JIT also runs on its lean body.

/// Whether `insn` keeps a random program a leaf: no call or atomic,
/// memory only through r10 and packet loads, r10 named nowhere else.
fn keeps_leaf(insn: &Insn) -> bool {
    match *insn {
        Insn::Load { src, .. } => src == R10,
        Insn::Store { dst, src, .. } => dst == R10 && src != reg(R10),
        Insn::Alu { src, .. } => src != reg(R10),
        Insn::Atomic { .. } | Insn::Call(_) | Insn::CallReg(_) => false,
        Insn::LoadPacket { offset, .. } => offset != PacketOffset::Ind(R10),
        _ => true,
    }
}

/// A random leaf program: straight-line leaf instructions with forward
/// jumps, the dump, and usually an `exit` (else it falls off the end).
fn leaf_program(seed: u64) -> Vec<Insn> {
    let mut rng = Rng(seed | 1);
    let mut out = forward_blocks(&mut rng, keeps_leaf, false);
    dump(&mut out);
    if !rng.chance(3) {
        out.push(exit());
    }
    out
}

/// Up to 30 blocks of straight-line instructions that `keep` admits,
/// some led by a forward jump over a few blocks, and with `loops` some
/// counted loops over such instructions.
fn forward_blocks(rng: &mut Rng, keep: fn(&Insn) -> bool, loops: bool) -> Vec<Insn> {
    let blocks: Vec<Vec<Insn>> = (0..rng.below(30) + 1)
        .map(|_| {
            let mut insns = Vec::new();
            straight(rng, &mut insns);
            insns.retain(keep);
            if loops && rng.chance(15) {
                let back = -(insns.iter().map(|i| i.slot_count()).sum::<usize>() as i16) - 2;
                insns.insert(0, mov(COUNTER, rng.below(5) as i32 + 1));
                insns.push(add(COUNTER, -1));
                insns.push(jump(Width::W64, JmpCond::Ne, COUNTER, imm(0), back));
            }
            insns
        })
        .collect();
    // Which blocks a jump leads, decided first so that offsets count them.
    let jumps: Vec<bool> = blocks.iter().map(|_| rng.chance(20)).collect();
    let slots = |i: usize| {
        let block: usize = blocks[i].iter().map(Insn::slot_count).sum();
        block + usize::from(jumps[i])
    };
    let mut out = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        if jumps[i] {
            let end = (i + rng.below(4) as usize + 1).min(blocks.len());
            let over = (i..end).map(slots).sum::<usize>() - 1;
            let cond = rng.pick(&JmpCond::ALL);
            let src = if rng.chance(50) {
                reg(rng.pick(&SCRATCH))
            } else {
                imm(interesting_imm(rng))
            };
            let width = rng.pick(&[Width::W32, Width::W64]);
            let dst = rng.pick(&SCRATCH);
            out.push(jump(width, cond, dst, src, over as i16));
        }
        out.extend(block);
    }
    out
}

/// Runs the leaf program of `seed` without a budget (so the JIT may take
/// its lean body) on a read-only packet, as filters run: plainly and in a
/// session, in the interpreter and the JIT; all must agree.
fn run_leaf(seed: u64) {
    let insns = leaf_program(seed);
    let packet = random_input(seed);
    let wire_len = packet.len() as u64 + seed % 100;
    let input = || RunInput::readonly(&packet).with_length(wire_len);
    let vm = || Interpreter::new(&program(insns.clone()), test_helpers()).expect("it loads");
    let interpreted = vm().run_with(input()).map_err(|e| e.to_string());
    if !visor_vm::jit::AVAILABLE {
        return;
    }
    let blinded = vm().with_jit().expect("the JIT takes it");
    let trusted = vm().with_trusted_jit().expect("verbatim too");
    // The interpreter too: its sessions run packet loads before any memory.
    let engines = [
        ("interpreter", vm()),
        ("blinded", blinded),
        ("trusted", trusted),
    ];
    for (name, jit) in engines {
        let native = jit.run_with(input()).map_err(|e| e.to_string());
        assert_eq!(
            native, interpreted,
            "{name}: seed {seed:#x}, program {insns:?}"
        );
        let mut session = Session::new(&jit);
        for _ in 0..2 {
            let ran = session.run(input()).map_err(|e| e.to_string());
            assert_eq!(
                ran, interpreted,
                "{name} session: seed {seed:#x}, program {insns:?}"
            );
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
    #[test]
    fn random_leaf_programs_agree(seed: u64) {
        run_leaf(seed);
    }
}

// ---------------------------------------------------------------------
// Buffer programs: leaf programs reading and writing their input through
// r9, whose accesses visor-verifier proves for the JIT's lean body.

/// Whether `insn` keeps a buffer program a leaf whose only memory is the
/// input, reached through r9 and never mixed into numbers, and which the
/// verifier may accept (no shift by an immediate out of range).
fn keeps_buffer_leaf(insn: &Insn) -> bool {
    let pointer = |src: Source| matches!(src, Source::Reg(INPUT | R10));
    match *insn {
        Insn::Alu {
            op: AluOp::Lsh | AluOp::Rsh | AluOp::Arsh,
            width,
            src: Source::Imm(by),
            ..
        } if by < 0 || by as u32 >= width.bits() => false,
        Insn::Load { src, .. } => src == INPUT,
        Insn::Store { dst, src, .. } => dst == INPUT && !pointer(src),
        Insn::Alu { src, .. } | Insn::Jump { src, .. } => !pointer(src),
        Insn::Atomic { .. } | Insn::Call(_) | Insn::CallReg(_) | Insn::LoadPacket { .. } => false,
        _ => true,
    }
}

/// A random buffer program: r9 = r1; an exit with 0 unless the length r2
/// is at least what the program checks (usually the whole input, which
/// its accesses stay inside, sometimes less); numbers in every other
/// register; random blocks with loops and forward jumps; the scratch
/// registers folded into r0.
fn buffer_program(seed: u64) -> (Vec<Insn>, i16) {
    let mut rng = Rng(seed | 1);
    let checked = if rng.chance(80) {
        INPUT_LEN
    } else {
        rng.below(INPUT_LEN as u64) as i16
    };
    let mut out = vec![
        mov_reg(INPUT, R1),
        mov(R0, 0),
        jump(Width::W64, JmpCond::Ge, R2, imm(i32::from(checked)), 1),
        exit(),
    ];
    for r in SCRATCH.into_iter().chain([COUNTER]) {
        out.push(lddw(r, rng.next()));
    }
    out.extend(forward_blocks(&mut rng, keeps_buffer_leaf, true));
    for r in SCRATCH {
        out.push(alu64(AluOp::Mul, R0, imm(31)));
        out.push(alu64(AluOp::Xor, R0, reg(r)));
    }
    out.push(exit());
    (out, checked)
}

/// Runs the buffer program of `seed` on inputs around the length it
/// checks, writable and read-only, plainly and in a session, in the
/// interpreter and the JIT (blinded and trusted); all must agree on r0
/// or the error and on the bytes left. Returns whether the program
/// accesses its input, and whether the verifier proved those accesses.
fn run_buffer(seed: u64) -> (bool, bool) {
    let (insns, checked) = buffer_program(seed);
    let vm = || Interpreter::new(&program(insns.clone()), test_helpers()).expect("it loads");
    let interpreter = vm();
    let accesses = insns.iter().any(|insn| {
        matches!(
            insn,
            Insn::Load { src: INPUT, .. } | Insn::Store { dst: INPUT, .. }
        )
    });
    // The JIT makes the proof when it compiles.
    assert!(interpreter.proven_buffer_slots().is_empty());
    let compiled = vm().with_jit().expect("the JIT takes it");
    let proven = (accesses, !compiled.proven_buffer_slots().is_empty());
    let bytes = random_input(seed);
    let checked = checked as usize;
    let engines = [
        ("interpreter", vm()),
        ("blinded", compiled),
        ("trusted", vm().with_trusted_jit().expect("verbatim too")),
    ];
    for len in [0, 1, checked.saturating_sub(1), checked, bytes.len()] {
        let input = &bytes[..len];
        let want = observe_plain(&interpreter, input);
        let read_only = interpreter
            .run_with(RunInput::readonly(input))
            .map_err(|e| e.to_string());
        for (name, engine) in &engines {
            let context = format!("{name}: seed {seed:#x}, {len} bytes, program {insns:?}");
            assert_eq!(observe_plain(engine, input), want, "{context}");
            let mut session = Session::new(engine);
            for _ in 0..2 {
                let ran = observe_run(input, |memory| {
                    session.run(RunInput::memory(memory)).map(|r0| Finished {
                        r0,
                        instructions: 0,
                    })
                });
                assert_eq!(
                    (ran.result, ran.memory),
                    (want.0.clone(), want.1.clone()),
                    "session {context}"
                );
                let ran = session
                    .run(RunInput::readonly(input))
                    .map_err(|e| e.to_string());
                assert_eq!(ran, read_only, "read-only session {context}");
            }
        }
    }
    proven
}

/// r0 (or the error) and the bytes left of a run without a budget on a
/// writable copy of `input`.
fn observe_plain(vm: &Interpreter, input: &[u8]) -> (Result<u64, String>, Vec<u8>) {
    let mut memory = input.to_vec();
    let result = vm.run(&mut memory).map_err(|e| e.to_string());
    (result, memory)
}

#[test]
fn random_buffer_programs_agree_and_most_are_proven() {
    if !visor_vm::jit::AVAILABLE {
        return;
    }
    let cases = diff_cases();
    let (mut accessing, mut proven) = (0, 0);
    for seed in 0..cases {
        let (accesses, proof) = run_buffer(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        accessing += usize::from(accesses);
        proven += usize::from(proof);
    }
    eprintln!("{proven} of {accessing} random buffer programs that access their input proven");
    // A fifth check less than they access, so about three in four.
    assert!(
        proven * 3 > accessing * 2,
        "only {proven} of {accessing} proven"
    );
}

#[test]
fn a_compiled_program_is_shared_by_threads() {
    fn shared<T: Send + Sync>(_: &T) {}
    let vm = vm_with(vec![mov(R0, 3), exit()], None);
    let Ok(vm) = vm.with_jit() else {
        println!("skipped: no JIT on this host");
        return;
    };
    shared(&vm);
    let vm = Arc::new(vm);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let vm = Arc::clone(&vm);
            std::thread::spawn(move || vm.run(&mut []).map_err(|e| e.to_string()))
        })
        .collect();
    for run in runs {
        assert_eq!(run.join().unwrap(), Ok(3));
    }
}
