//! The userspace engine against the kernel (BPF_PROG_TEST_RUN) on the
//! same objects and packets: return values, packet bytes and map contents
//! must be identical. Also every `__sk_buff` and `xdp_md` field read, at
//! every width, by each program type: the kernel's verifier and the
//! engine's field table must accept and refuse the same accesses, and
//! accepted reads must give the same values.
//!
//! Skipped, with the reason printed, when not root or bpf(2) is refused.

mod engine_support;

use std::collections::BTreeMap;
use std::path::Path;

use engine_support::{examples, load_example, read_pcap};
use visor_isa::asm::{Syntax, assemble};
use visor_isa::{Insn, LoadImm, Program};
use visor_kernel::{MapFd, MapSpec, MapType, ProgramFd, ProgramSpec, ProgramType, TestRun};
use visor_vm::MapOps;
use visor_vm::context::ContextKind;
use visor_vm::engine::Engine;

fn bpf_available(test: &str) -> bool {
    match MapFd::create(&MapSpec::new(MapType::Array, 4, 4, 1)) {
        Ok(_) => true,
        Err(e) => {
            println!("skipped: {test}: bpf(2) refused: {e}");
            false
        }
    }
}

/// An object loaded into the kernel: maps by index, programs by name.
struct KernelObject {
    maps: Vec<(String, MapFd)>,
    programs: BTreeMap<String, ProgramFd>,
}

fn kernel_type(t: visor_object::ProgramType) -> ProgramType {
    ProgramType::from_number(t.id()).expect("a known program type")
}

fn load_kernel(bytes: &[u8]) -> Result<KernelObject, String> {
    let object = visor_object::Object::parse(bytes).map_err(|e| e.to_string())?;
    let mut maps = Vec::new();
    for map in object.maps() {
        let def = map.def();
        let map_type = MapType::from_number(def.map_type.id()).ok_or("map type")?;
        let mut spec = MapSpec::new(map_type, def.key_size, def.value_size, def.max_entries);
        spec.flags = def.flags;
        let fd = MapFd::create(&spec).map_err(|e| format!("map {}: {e}", map.name()))?;
        if let Some(data) = map.initial_data() {
            let mut value = vec![0; def.value_size as usize];
            let n = data.len().min(value.len());
            value[..n].copy_from_slice(&data[..n]);
            fd.update(&0u32.to_le_bytes(), &value, visor_kernel::UpdateMode::Any)
                .map_err(|e| e.to_string())?;
        }
        maps.push((map.name().to_owned(), fd));
    }
    let mut programs = BTreeMap::new();
    for program in object.programs() {
        use std::os::fd::AsRawFd;
        let insns: Vec<Insn> = program
            .insns()
            .insns()
            .iter()
            .map(|insn| match *insn {
                Insn::LoadImm64 {
                    kind: LoadImm::MapIdx,
                    dst,
                    imm,
                } => Insn::LoadImm64 {
                    kind: LoadImm::MapFd,
                    dst,
                    imm: maps[imm as u32 as usize].1.as_raw_fd() as u64,
                },
                Insn::LoadImm64 {
                    kind: LoadImm::MapIdxValue,
                    dst,
                    imm,
                } => Insn::LoadImm64 {
                    kind: LoadImm::MapValue,
                    dst,
                    imm: (imm & !0xffff_ffff) | maps[imm as u32 as usize].1.as_raw_fd() as u64,
                },
                other => other,
            })
            .collect();
        let code = Program::new(insns).map_err(|e| e.to_string())?;
        let program_type = program.kind().program_type().ok_or("program type")?;
        let spec = ProgramSpec::new(program.name(), kernel_type(program_type), &code);
        let fd = ProgramFd::load(&spec).map_err(|e| format!("{}: {e}", program.name()))?;
        programs.insert(program.name().to_owned(), fd);
    }
    // Program arrays from `.values` initialisers.
    for (map, (_, fd)) in object.maps().iter().zip(&maps) {
        for (slot, target) in map.slots() {
            if let visor_object::SlotTarget::Program(name) = target {
                use std::os::fd::AsRawFd;
                let prog = programs[*name].as_raw_fd() as u32;
                fd.update(
                    &slot.to_le_bytes(),
                    &prog.to_le_bytes(),
                    visor_kernel::UpdateMode::Any,
                )
                .map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(KernelObject { maps, programs })
}

/// Every key and value of a map, sorted.
fn kernel_entries(map: &MapFd) -> BTreeMap<Vec<u8>, Vec<u8>> {
    map.keys()
        .filter_map(Result::ok)
        .filter_map(|key| Some((key.clone(), map.lookup(&key).ok()??)))
        .collect()
}

fn engine_entries(map: &visor_vm::Map) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut key = None;
    while let Ok(Some(next)) = map.next_key(key.as_deref()) {
        if let Ok(Some(value)) = map.lookup(&next) {
            out.insert(next.clone(), value);
        }
        key = Some(next);
    }
    out
}

/// The frames of the bundled capture and of every Ethernet capture in
/// `../shared/filters/pcaps`.
fn captures() -> Vec<(String, Vec<Vec<u8>>)> {
    let mut all = vec![(
        "examples/net.pcap".to_owned(),
        read_pcap(&examples().join("net.pcap")).expect("the bundled capture reads"),
    )];
    let shared = std::env::var("VISOR_SHARED").unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared")
            .display()
            .to_string()
    });
    let dir = Path::new(&shared).join("filters/pcaps");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!(
            "note: {} not found: only the bundled capture",
            dir.display()
        );
        return all;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    paths.sort();
    for path in paths {
        match read_pcap(&path) {
            Ok(frames) => all.push((path.display().to_string(), frames)),
            Err(why) => println!("note: {} left out: {why}", path.display()),
        }
    }
    all
}

/// Runs `program` of `object` over every frame in both engines.
fn compare(object: &str, program: &str) {
    if !bpf_available(object) {
        return;
    }
    let bytes = std::fs::read(examples().join(object)).unwrap();
    let kernel = match load_kernel(&bytes) {
        Ok(k) => k,
        Err(why) => {
            println!("skipped: {object}: the kernel refused it: {why}");
            return;
        }
    };
    let engine: Engine = load_example(object);
    let prog = engine.program(program).unwrap();
    let socket_filter =
        prog.context_kind() == Some(ContextKind::Skb(visor_vm::context::SkbHook::SocketFilter));
    let (mut frames_run, mut accepted, mut changed, mut too_short) = (0, 0, 0, 0);
    for (capture, frames) in captures() {
        for (i, frame) in frames.iter().enumerate() {
            // The kernel refuses frames shorter than an Ethernet header.
            if frame.len() < 14 {
                too_short += 1;
                continue;
            }
            let mut run = TestRun::new(frame);
            run.data_out_size = frame.len() + 512;
            let theirs = kernel.programs[program].test_run(&run).unwrap();
            let ours = prog.run(frame).unwrap();
            let at = format!("{object} {program}: {capture} frame {i}");
            assert_eq!(ours.r0 as u32, theirs.retval, "{at}: return value");
            let mut packet = ours.packet.unwrap();
            if socket_filter {
                // The kernel pushes back a zeroed link header for output.
                packet[..14].fill(0);
            }
            assert_eq!(packet, theirs.data_out, "{at}: packet bytes");
            frames_run += 1;
            accepted += usize::from(theirs.retval != 0);
            changed += usize::from(theirs.data_out != *frame);
        }
    }
    let mut maps_compared = 0;
    for ((name, fd), ours) in kernel.maps.iter().zip(engine.maps()) {
        if matches!(fd.map_type(), MapType::ProgArray) {
            continue;
        }
        assert_eq!(
            engine_entries(&ours.map),
            kernel_entries(fd),
            "{object}: map {name}"
        );
        maps_compared += 1;
    }
    println!(
        "{object} {program}: {frames_run} frames identical in both engines \
         ({accepted} with a non-zero return, {changed} rewritten, {too_short} too short to run); \
         {maps_compared} maps identical"
    );
    assert!(frames_run > 0);
}

#[test]
fn net_example_matches_the_kernel() {
    compare("net.bpf.o", "classify");
}

#[test]
fn tcp80_example_matches_the_kernel() {
    compare("tcp80.bpf.o", "tcp_port_80");
}

#[test]
fn tailcall_example_matches_the_kernel() {
    compare("tailcall.bpf.o", "dispatch");
}

/// Reads every field offset at every width in each packet program type:
/// the kernel's verifier and the engine's field table agree on what is
/// allowed, and allowed reads give the same value.
#[test]
fn context_fields_match_the_kernel() {
    if !bpf_available("context fields") {
        return;
    }
    let frame = read_pcap(&examples().join("net.pcap")).unwrap()[0].clone();
    let types = [
        (
            ProgramType::SocketFilter,
            ContextKind::Skb(visor_vm::context::SkbHook::SocketFilter),
            192,
        ),
        (
            ProgramType::SchedCls,
            ContextKind::Skb(visor_vm::context::SkbHook::Tc),
            192,
        ),
        (ProgramType::Xdp, ContextKind::Xdp, 24),
    ];
    let (mut agreed, mut loads) = (0, 0);
    for (kernel_type, kind, size) in types {
        for (width, suffix) in [(1, "u8"), (2, "u16"), (4, "u32"), (8, "u64")] {
            for offset in (0..size).step_by(width) {
                // A pointer field's value differs between engines by
                // design (guest vs kernel address): compare `ptr - data`.
                let asm = format!("r0 = *({suffix} *)(r1 + {offset})\nexit");
                let program = assemble(&asm, Syntax::Llvm).unwrap();
                let spec = ProgramSpec::new("field", kernel_type, &program);
                let kernel = ProgramFd::load(&spec);
                let vm = visor_vm::Interpreter::new(&program, visor_vm::Helpers::new()).unwrap();
                let input = visor_vm::RunInput::packet_context(kind, &frame).unwrap();
                let ours = vm.run_with(input);
                let what = format!("{kernel_type:?} {suffix} at {offset}");
                match (&kernel, &ours) {
                    (Err(_), Err(_)) => {}
                    (Ok(_), Err(e)) => panic!("{what}: the kernel allows it, the engine says {e}"),
                    (Err(e), Ok(_)) => panic!("{what}: the engine allows it, the kernel says {e}"),
                    (Ok(fd), Ok(r0)) => {
                        loads += 1;
                        let theirs = fd.test_run(&TestRun::new(&frame)).unwrap().retval;
                        let pointer = *r0 >> 32 != 0;
                        // `sk`: the test run's fake socket; the engine
                        // models none and reads NULL (documented).
                        let sk = matches!(kind, ContextKind::Skb(_)) && offset == 168;
                        if !pointer && !sk {
                            assert_eq!(*r0 as u32, theirs, "{what}: value");
                        }
                    }
                }
                agreed += 1;
            }
        }
    }
    println!(
        "context fields: {agreed} (type, width, offset) accesses agree with the kernel; {loads} allowed"
    );
}
