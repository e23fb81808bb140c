//! Programs that use maps: lookup, null check, loads and stores through
//! the value pointer, update, delete, global data, ring buffers, tail
//! calls.

mod common;

use std::sync::Arc;

use common::*;
use visor_isa::{AtomicOp, Insn, JmpCond, LoadImm, Reg, Size, Source, Width};
use visor_vm::maps::{PAGE_SIZE, flags};
use visor_vm::{
    FaultCause, Helpers, Interpreter, Map, MapDef, MapKind, MapOps, ProgramMaps, RunInput,
    UpdateMode, VmError,
};

fn map_ref(kind: LoadImm, dst: Reg, index: u32, offset: u32) -> Insn {
    Insn::LoadImm64 {
        kind,
        dst,
        imm: u64::from(offset) << 32 | u64::from(index),
    }
}

fn with_maps(insns: Vec<Insn>, maps: &[&Arc<Map>]) -> Interpreter {
    let maps: ProgramMaps = maps.iter().map(|m| Arc::clone(m)).collect();
    Interpreter::with_maps(&program(insns), Helpers::new(), maps).unwrap()
}

fn jeq_imm(dst: Reg, imm: i32, off: i16) -> Insn {
    jump(Width::W64, JmpCond::Eq, dst, Source::Imm(imm), off)
}

/// r0 = lookup(map 0, key r6 stored at fp-4), with 0 meaning "missing".
fn lookup_key(key: i32) -> Vec<Insn> {
    vec![
        store(Size::W, R10, -4, Source::Imm(key)),
        map_ref(LoadImm::MapIdx, R1, 0, 0),
        mov_reg(R2, R10),
        add(R2, -4),
        call_helper(1),
    ]
}

fn hash() -> Arc<Map> {
    Arc::new(Map::new(MapDef::new(MapKind::Hash, 4, 8, 16)).unwrap())
}

#[test]
fn lookup_null_check_then_increment_through_the_pointer() {
    let counts = hash();
    let mut insns = lookup_key(1);
    insns.extend([
        jeq_imm(R0, 0, 4),
        load(Size::DW, R1, R0, 0),
        add(R1, 1),
        store(Size::DW, R0, 0, Source::Reg(R1)),
        ja(1),
        mov(R1, 99),
        mov_reg(R0, R1),
        exit(),
    ]);
    let vm = with_maps(insns, &[&counts]);
    assert_eq!(vm.run(&mut []).unwrap(), 99, "missing key");
    counts
        .update(&1u32.to_le_bytes(), &41u64.to_le_bytes(), UpdateMode::Any)
        .unwrap();
    assert_eq!(vm.run(&mut []).unwrap(), 42);
    assert_eq!(vm.run(&mut []).unwrap(), 43);
    assert_eq!(
        counts.lookup(&1u32.to_le_bytes()).unwrap(),
        Some(43u64.to_le_bytes().to_vec())
    );
}

#[test]
fn a_value_pointer_cannot_reach_past_its_value() {
    let counts = hash();
    counts
        .update(&1u32.to_le_bytes(), &[0; 8], UpdateMode::Any)
        .unwrap();
    counts
        .update(&2u32.to_le_bytes(), &[0; 8], UpdateMode::Any)
        .unwrap();
    let mut insns = lookup_key(1);
    insns.extend([load(Size::DW, R0, R0, 8), exit()]);
    let error = with_maps(insns, &[&counts]).run(&mut []).unwrap_err();
    let VmError::MemoryAccess { fault, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(fault.cause, FaultCause::OutOfBounds { size: 8 });
    assert!(
        error.to_string().contains("map 0 values, 8 bytes"),
        "{error}"
    );
}

#[test]
fn atomics_through_a_value_pointer_are_shared_by_threads() {
    let counts = Arc::new(Map::new(MapDef::new(MapKind::Array, 4, 8, 1)).unwrap());
    let mut insns = lookup_key(0);
    insns.extend([
        jeq_imm(R0, 0, 2),
        mov(R1, 1),
        atomic(Size::DW, AtomicOp::Add { fetch: false }, R0, 0, R1),
        mov(R0, 0),
        exit(),
    ]);
    let vm = Arc::new(with_maps(insns, &[&counts]));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let vm = vm.clone();
            std::thread::spawn(move || {
                (0..250).for_each(|_| assert_eq!(vm.run(&mut []).unwrap(), 0))
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(
        counts.lookup(&0u32.to_le_bytes()).unwrap(),
        Some(1000u64.to_le_bytes().to_vec())
    );
}

#[test]
fn update_and_delete_from_a_program() {
    let map = hash();
    let insns = vec![
        store(Size::W, R10, -4, Source::Imm(7)),
        store(Size::DW, R10, -16, Source::Imm(70)),
        map_ref(LoadImm::MapIdx, R1, 0, 0),
        mov_reg(R2, R10),
        add(R2, -4),
        mov_reg(R3, R10),
        add(R3, -16),
        mov(R4, 1), // BPF_NOEXIST
        call_helper(2),
        exit(),
    ];
    let vm = with_maps(insns, &[&map]);
    assert_eq!(vm.run(&mut []).unwrap(), 0);
    assert_eq!(
        map.lookup(&7u32.to_le_bytes()).unwrap(),
        Some(70u64.to_le_bytes().to_vec())
    );
    assert_eq!(
        vm.run(&mut []).unwrap(),
        (-17i64) as u64,
        "EEXIST the second time"
    );
    let mut delete = lookup_key(7);
    delete.truncate(4);
    delete.extend([call_helper(3), exit()]);
    let vm = with_maps(delete, &[&map]);
    assert_eq!(vm.run(&mut []).unwrap(), 0);
    assert_eq!(vm.run(&mut []).unwrap(), (-2i64) as u64, "ENOENT");
}

#[test]
fn global_data_through_map_value_lddw() {
    let data =
        Arc::new(Map::new(MapDef::new(MapKind::Array, 4, 16, 1).with_name(".data")).unwrap());
    data.update(
        &0u32.to_le_bytes(),
        &[0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        UpdateMode::Any,
    )
    .unwrap();
    let rodata_def = MapDef::new(MapKind::Array, 4, 8, 1).with_flags(flags::RDONLY_PROG);
    let rodata = Arc::new(Map::new(rodata_def).unwrap());
    rodata
        .update(&0u32.to_le_bytes(), &3u64.to_le_bytes(), UpdateMode::Any)
        .unwrap();
    // .data[8] = .data[4] + .rodata[0]; r0 = that.
    let insns = vec![
        map_ref(LoadImm::MapIdxValue, R1, 0, 4),
        load(Size::W, R2, R1, 0),
        map_ref(LoadImm::MapValue, R3, 1, 0),
        load(Size::DW, R3, R3, 0),
        alu64(visor_isa::AluOp::Add, R2, Source::Reg(R3)),
        store(Size::W, R1, 4, Source::Reg(R2)),
        mov_reg(R0, R2),
        exit(),
    ];
    assert_eq!(with_maps(insns, &[&data, &rodata]).run(&mut []).unwrap(), 8);
    assert_eq!(data.lookup(&0u32.to_le_bytes()).unwrap().unwrap()[8], 8);

    let write_rodata = vec![
        map_ref(LoadImm::MapValue, R1, 1, 0),
        store(Size::B, R1, 0, Source::Imm(1)),
        exit(),
    ];
    let error = with_maps(write_rodata, &[&data, &rodata])
        .run(&mut [])
        .unwrap_err();
    assert!(
        matches!(&error, VmError::MemoryAccess { fault, .. } if fault.cause == FaultCause::ReadOnly { size: 8 }),
        "{error}"
    );

    let past = vec![map_ref(LoadImm::MapValue, R1, 1, 8), exit()];
    let refused = Interpreter::with_maps(
        &program(past),
        Helpers::new(),
        [data, rodata].into_iter().collect(),
    );
    assert!(matches!(
        refused,
        Err(VmError::BadMapValue { offset: 8, .. })
    ));
    let unknown = Interpreter::new(
        &program(vec![map_ref(LoadImm::MapFd, R1, 0, 0), exit()]),
        Helpers::new(),
    );
    assert!(matches!(
        unknown,
        Err(VmError::UnknownMap {
            index: 0,
            count: 0,
            ..
        })
    ));
}

#[test]
fn iterate_a_hash_from_userspace_after_program_updates() {
    let map = hash();
    let insns = vec![
        store(Size::W, R10, -4, Source::Reg(R6)),
        store(Size::DW, R10, -16, Source::Imm(1)),
        map_ref(LoadImm::MapIdx, R1, 0, 0),
        mov_reg(R2, R10),
        add(R2, -4),
        mov_reg(R3, R10),
        add(R3, -16),
        mov(R4, 0),
        call_helper(2),
        add(R6, 1),
        jump(Width::W64, JmpCond::Lt, R6, Source::Imm(5), -12),
        exit(),
    ];
    assert_eq!(with_maps(insns, &[&map]).run(&mut []).unwrap(), 0);
    let mut seen = Vec::new();
    let mut key = None;
    while let Some(next) = map.next_key(key.as_deref()).unwrap() {
        seen.push(u32::from_le_bytes(next.clone().try_into().unwrap()));
        key = Some(next);
    }
    seen.sort();
    assert_eq!(seen, [0, 1, 2, 3, 4]);
}

#[test]
fn ringbuf_reserve_write_submit_and_output() {
    let ring = Arc::new(Map::new(MapDef::new(MapKind::RingBuf, 0, 0, PAGE_SIZE)).unwrap());
    let insns = vec![
        map_ref(LoadImm::MapIdx, R1, 0, 0),
        mov(R2, 4),
        mov(R3, 0),
        call_helper(131),
        jeq_imm(R0, 0, 5),
        store(Size::W, R0, 0, Source::Imm(0x0403_0201)),
        mov_reg(R6, R0),
        mov_reg(R1, R0),
        mov(R2, 0),
        call_helper(132),
        // After submit the pointer faults.
        load(Size::B, R0, R6, 0),
        exit(),
    ];
    let error = with_maps(insns, &[&ring]).run(&mut []).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("ring buffer reservation 0 is not mapped"),
        "{error}"
    );
    let consumer = ring.as_ringbuf().unwrap();
    assert_eq!(consumer.drain(), [vec![1, 2, 3, 4]]);

    let output = vec![
        store(Size::DW, R10, -8, Source::Imm(0x55)),
        map_ref(LoadImm::MapIdx, R1, 0, 0),
        mov_reg(R2, R10),
        add(R2, -8),
        mov(R3, 8),
        mov(R4, 0),
        call_helper(130),
        exit(),
    ];
    assert_eq!(with_maps(output, &[&ring]).run(&mut []).unwrap(), 0);
    assert_eq!(consumer.consume(), Some(vec![0x55, 0, 0, 0, 0, 0, 0, 0]));
    // A reservation the program never ends is discarded, not left busy.
    let leak = vec![
        map_ref(LoadImm::MapIdx, R1, 0, 0),
        mov(R2, 8),
        mov(R3, 0),
        call_helper(131),
        exit(),
    ];
    assert_ne!(with_maps(leak, &[&ring]).run(&mut []).unwrap(), 0);
    assert!(with_maps(output_again(), &[&ring]).run(&mut []).is_ok());
    assert_eq!(consumer.drain().len(), 1);
}

fn output_again() -> Vec<Insn> {
    vec![
        map_ref(LoadImm::MapIdx, R1, 0, 0),
        mov_reg(R2, R10),
        add(R2, -8),
        mov(R3, 8),
        mov(R4, 0),
        call_helper(130),
        exit(),
    ]
}

#[test]
fn queue_push_pop_and_perf_output() {
    let queue = Arc::new(Map::new(MapDef::new(MapKind::Queue, 0, 8, 4)).unwrap());
    let perf = Arc::new(Map::with_cpus(MapDef::new(MapKind::PerfEventArray, 4, 4, 2), 2).unwrap());
    perf.as_perf_event_array().unwrap().open(1, 4096).unwrap();
    let insns = vec![
        store(Size::DW, R10, -8, Source::Imm(9)),
        map_ref(LoadImm::MapIdx, R1, 0, 0),
        mov_reg(R2, R10),
        add(R2, -8),
        mov(R3, 0),
        call_helper(87), // push 9
        store(Size::DW, R10, -8, Source::Imm(0)),
        map_ref(LoadImm::MapIdx, R1, 0, 0),
        mov_reg(R2, R10),
        add(R2, -8),
        call_helper(88), // pop into fp-8
        map_ref(LoadImm::MapIdx, R2, 1, 0),
        lddw(R3, 0xffff_ffff), // BPF_F_CURRENT_CPU
        mov_reg(R4, R10),
        add(R4, -8),
        mov(R5, 8),
        call_helper(25),
        exit(),
    ];
    let vm = with_maps(insns, &[&queue, &perf]);
    assert_eq!(vm.run_with(RunInput::default().on_cpu(1)).unwrap(), 0);
    let samples = perf.as_perf_event_array().unwrap().read(1).unwrap();
    assert_eq!(samples.samples, [9u64.to_le_bytes().to_vec()]);
    assert_eq!(
        vm.run_with(RunInput::default().on_cpu(0)).unwrap(),
        (-2i64) as u64,
        "no ring on CPU 0"
    );
}

#[test]
fn tail_calls_replace_the_program_up_to_the_limit() {
    let progs = Arc::new(Map::new(MapDef::new(MapKind::ProgArray, 4, 4, 2)).unwrap());
    let counter = Arc::new(Map::new(MapDef::new(MapKind::Array, 4, 8, 1)).unwrap());
    // Count each entry in .data, then tail-call slot 0 (itself); when the
    // call fails, return the count.
    let insns = vec![
        map_ref(LoadImm::MapIdxValue, R6, 1, 0),
        load(Size::DW, R7, R6, 0),
        add(R7, 1),
        store(Size::DW, R6, 0, Source::Reg(R7)),
        map_ref(LoadImm::MapIdx, R2, 0, 0),
        mov(R3, 0),
        call_helper(12),
        load(Size::DW, R0, R6, 0),
        exit(),
    ];
    let looping = Arc::new(with_maps(insns, &[&progs, &counter]));
    progs.set_program(0, 1, looping.clone()).unwrap();
    assert_eq!(
        looping.run(&mut []).unwrap(),
        34,
        "the first run and 33 tail calls"
    );
    assert_eq!(
        progs.lookup(&0u32.to_le_bytes()).unwrap(),
        Some(1u32.to_le_bytes().to_vec())
    );

    let target = Arc::new(with_maps(vec![mov(R0, 7), exit()], &[]));
    progs.set_program(1, 2, target).unwrap();
    let caller = vec![
        map_ref(LoadImm::MapIdx, R2, 0, 0),
        mov(R3, 1),
        call_helper(12),
        mov(R0, 1),
        exit(),
    ];
    assert_eq!(
        with_maps(caller.clone(), &[&progs]).run(&mut []).unwrap(),
        7
    );
    progs.delete(&1u32.to_le_bytes()).unwrap();
    assert_eq!(
        with_maps(caller, &[&progs]).run(&mut []).unwrap(),
        1,
        "empty slot: go on"
    );
    progs.delete(&0u32.to_le_bytes()).unwrap(); // breaks the self-reference
}

#[test]
fn percpu_lookups_see_the_running_cpu() {
    let def = MapDef::new(MapKind::PercpuArray, 4, 8, 1);
    let map = Arc::new(Map::with_cpus(def, 2).unwrap());
    let mut insns = lookup_key(0);
    insns.extend([
        jeq_imm(R0, 0, 2),
        call_helper(8), // bpf_get_smp_processor_id: clobbers r0, keep the pointer
        exit(),
        exit(),
    ]);
    insns.truncate(insns.len() - 3);
    insns.extend([
        jeq_imm(R0, 0, 3),
        mov_reg(R6, R0),
        store(Size::DW, R6, 0, Source::Imm(5)),
        mov(R0, 0),
        exit(),
    ]);
    let vm = with_maps(insns, &[&map]);
    vm.run_with(RunInput::default().on_cpu(1)).unwrap();
    let mut expected = vec![0; 16];
    expected[8] = 5;
    assert_eq!(map.lookup(&0u32.to_le_bytes()).unwrap(), Some(expected));
    let error = vm.run_with(RunInput::default().on_cpu(2)).unwrap_err();
    assert!(
        error.to_string().contains("CPU 2 does not exist"),
        "{error}"
    );
}
