//! The engine on the C examples and on each program type's context,
//! without the kernel (see `kernel_diff.rs` for the comparison with it).

mod engine_support;

use engine_support::{TRACE, examples, load_example, read_pcap};
use visor_isa::asm::{Syntax, assemble};
use visor_vm::context::{ContextKind, SkbHook, Verdict};
use visor_vm::{Helpers, Interpreter, MapOps, Region, RunInput, VmError};

fn capture() -> Vec<Vec<u8>> {
    read_pcap(&examples().join("net.pcap")).unwrap()
}

fn ipv4_checksum_ok(header: &[u8]) -> bool {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

#[test]
fn net_counts_per_protocol_and_port_and_marks_dscp() {
    let engine = load_example("net.bpf.o");
    let frames = capture();
    for frame in &frames {
        let outcome = engine.program("classify").unwrap().run(frame).unwrap();
        assert_eq!(outcome.verdict, Verdict::Tc(0));
        let packet = outcome.packet.unwrap();
        if frame[12..14] == [0x08, 0x00] {
            // Unmarked IPv4 gets DSCP CS1 (TOS 0x20), marked keeps its own;
            // either way the header checksum holds.
            let tos = if frame[15] >> 2 == 0 { 0x20 } else { frame[15] };
            assert_eq!(packet[15], tos);
            assert!(ipv4_checksum_ok(&packet[14..34]));
        }
    }
    let packets = engine.map("packets").unwrap();
    // key: family, protocol, destination port (host order).
    let count = |family: u8, proto: u8, port: u16| {
        let p = port.to_le_bytes();
        packets
            .lookup(&[family, proto, p[0], p[1]])
            .unwrap()
            .map(|v| u64::from_le_bytes(v.try_into().unwrap()))
    };
    assert_eq!(count(4, 6, 80), Some(1));
    assert_eq!(count(4, 17, 53), Some(1));
    assert_eq!(count(6, 6, 80), Some(1));
    assert_eq!(count(6, 58, 0), Some(1));
    assert_eq!(count(4, 17, 0), Some(1)); // the later fragment: no port
    assert_eq!(count(4, 17, 4789), Some(1)); // behind a VLAN tag
    assert_eq!(count(0, 0, 0), Some(1)); // ARP
}

#[test]
fn tcp80_accepts_port_80_only_with_the_network_layer_length() {
    let engine = load_example("tcp80.bpf.o");
    let program = engine.program("tcp_port_80").unwrap();
    let results: Vec<u64> = capture()
        .iter()
        .map(|f| program.run(f).unwrap().r0)
        .collect();
    // Frames 0, 1 (IPv4, port 80 either way) and 6 (IPv6): skb->len is the
    // frame less its 14-byte link header.
    assert_eq!(results, [40, 40, 0, 0, 0, 0, 60, 0, 0, 0, 0, 0]);
}

#[test]
fn tailcall_dispatches_by_protocol() {
    let engine = load_example("tailcall.bpf.o");
    for frame in capture() {
        engine.program("dispatch").unwrap().run(&frame).unwrap();
    }
    let counts = engine.map("per_protocol").unwrap();
    let slot = |i: u32| {
        u64::from_le_bytes(
            counts
                .lookup(&i.to_le_bytes())
                .unwrap()
                .unwrap()
                .try_into()
                .unwrap(),
        )
    };
    // ICMP (IPv4 only), TCP (4 IPv4 + 1 IPv6), UDP (2 IPv4 + 1 IPv6),
    // other: ARP, the VLAN frame, and ICMPv6 (no handler: the failed tail
    // call falls through).
    assert_eq!([slot(0), slot(1), slot(2), slot(3)], [1, 5, 3, 3]);
}

/// Repeated runs share one context and packet, as the kernel's test run
/// does, but each is a run of its own: 40 dispatches through a tail call
/// each, past the 33 tail calls one run may take, all reach the handler.
#[test]
fn repeated_runs_each_take_their_own_tail_calls() {
    use visor_vm::engine::{Loader, RunEngine};
    let bytes = std::fs::read(examples().join("tailcall.bpf.o")).unwrap();
    let object = visor_object::Object::parse(&bytes).unwrap();
    let tcp = capture().remove(0);
    let engines: &[RunEngine] = match visor_vm::jit::AVAILABLE {
        true => &[RunEngine::Interpreter, RunEngine::Jit],
        false => &[RunEngine::Interpreter],
    };
    for &kind in engines {
        let engine = Loader::new().engine(kind).load(&object).unwrap();
        let dispatch = engine.program("dispatch").unwrap();
        let once = dispatch.run(&tcp).unwrap();
        let (repeated, mean) = dispatch.run_repeated(&tcp, 0, 40).unwrap();
        assert_eq!(repeated, once, "{kind:?}");
        assert!(mean > std::time::Duration::ZERO);
        let counts = engine.map("per_protocol").unwrap();
        let tcp_count = counts.lookup(&1u32.to_le_bytes()).unwrap().unwrap();
        assert_eq!(tcp_count, 41u64.to_le_bytes(), "{kind:?}");
    }
}

#[test]
fn tracepoint_examples_run_on_a_supplied_context() {
    let hello = load_example("hello.bpf.o");
    TRACE.take();
    let record = [0u8; 64];
    assert_eq!(hello.program("hello").unwrap().run(&record).unwrap().r0, 0);
    assert!(
        TRACE
            .take_messages()
            .iter()
            .any(|m| m.contains("Hello, World!"))
    );

    let count = load_example("count.bpf.o");
    let program = count.program("count_clones").unwrap();
    for _ in 0..3 {
        program.run(&record).unwrap();
    }
    let counts = count.map("counts").unwrap();
    let key = counts.next_key(None).unwrap().expect("one process counted");
    assert_eq!(counts.lookup(&key).unwrap().unwrap(), 3u64.to_le_bytes());
}

fn run_field(kind: ContextKind, asm: &str, frame: &[u8]) -> Result<u64, VmError> {
    let program = assemble(asm, Syntax::Llvm).unwrap();
    let vm = Interpreter::new(&program, Helpers::new()).unwrap();
    vm.run_with(RunInput::packet_context(kind, frame).unwrap())
}

#[test]
fn skb_contexts_present_the_packet_per_program_type() {
    let frame = &capture()[0];
    let tc = ContextKind::Skb(SkbHook::Tc);
    let sf = ContextKind::Skb(SkbHook::SocketFilter);
    let len = "r0 = *(u32 *)(r1 + 0)\nexit";
    assert_eq!(run_field(tc, len, frame).unwrap(), 54);
    assert_eq!(run_field(sf, len, frame).unwrap(), 40);
    // protocol: the ethertype in network byte order.
    assert_eq!(
        run_field(tc, "r0 = *(u32 *)(r1 + 16)\nexit", frame).unwrap(),
        0x0008
    );
    // LD_ABS 0: the destination MAC for TC, the IP header for a socket filter.
    let ld_abs = "r6 = r1\nr0 = *(u8 *)skb[0]\nexit";
    assert_eq!(run_field(tc, ld_abs, frame).unwrap(), 0x02);
    assert_eq!(run_field(sf, ld_abs, frame).unwrap(), 0x45);
    // Direct packet access: data..data_end covers the frame, and no more.
    let direct = "r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\nr0 = r3\nr0 -= r2\nexit";
    assert_eq!(run_field(tc, direct, frame).unwrap(), 54);
    let past_end = "r2 = *(u32 *)(r1 + 80)\nr0 = *(u8 *)(r2 + 0)\nexit";
    assert!(run_field(tc, past_end, frame).is_err());
    // mark is writable for TC and read back; a socket filter may not.
    let mark = "r2 = 7\n*(u32 *)(r1 + 8) = r2\nr0 = *(u32 *)(r1 + 8)\nexit";
    assert_eq!(run_field(tc, mark, frame).unwrap(), 7);
    let refused = run_field(sf, mark, frame).unwrap_err().to_string();
    assert!(
        refused.contains("mark") && refused.contains("read-only"),
        "{refused}"
    );
    // data is not for socket filters.
    let refused = run_field(sf, direct, frame).unwrap_err().to_string();
    assert!(refused.contains("data"), "{refused}");
}

#[test]
fn xdp_context_and_adjust_head() {
    let frame = &capture()[0];
    let direct = "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr0 = r3\nr0 -= r2\nexit";
    assert_eq!(run_field(ContextKind::Xdp, direct, frame).unwrap(), 54);
    assert_eq!(
        run_field(ContextKind::Xdp, "r0 = *(u32 *)(r1 + 12)\nexit", frame).unwrap(),
        1
    );
    let refused = run_field(ContextKind::Xdp, "r0 = *(u16 *)(r1 + 0)\nexit", frame).unwrap_err();
    assert!(refused.to_string().contains("data"));
    // Pop the Ethernet header: data moves 14 bytes on.
    let mut helpers = Helpers::new();
    visor_vm::context::register_packet_helpers(&mut helpers, ContextKind::Xdp);
    let program = assemble(
        "r6 = r1\nr2 = 14\ncall 44\nr2 = *(u32 *)(r6 + 0)\nr3 = *(u32 *)(r6 + 4)\nr3 -= r2\nr0 = r3\nexit",
        Syntax::Llvm,
    )
    .unwrap();
    let vm = Interpreter::new(&program, helpers).unwrap();
    let input = RunInput::packet_context(ContextKind::Xdp, frame).unwrap();
    assert_eq!(vm.run_with(input).unwrap(), 40);
}

#[test]
fn tracing_contexts_are_read_only_records() {
    let program = assemble(
        "r0 = *(u64 *)(r1 + 8)\n*(u64 *)(r1 + 0) = r0\nexit",
        Syntax::Llvm,
    )
    .unwrap();
    let vm = Interpreter::new(&program, Helpers::new()).unwrap();
    let record = 42u128
        .to_le_bytes()
        .iter()
        .rev()
        .copied()
        .collect::<Vec<_>>();
    let err = vm
        .run_with(RunInput::context(Region::readonly(&record)))
        .unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
}

/// The engine runs programs on the JIT by default on x86-64; the JIT and
/// the interpreter give the same outcomes (verdict, packet, redirects,
/// maps) for every packet program of the examples over the bundled
/// capture.
#[test]
fn the_jit_and_the_interpreter_run_objects_alike() {
    use visor_vm::engine::{Loader, RunEngine};
    for example in ["net.bpf.o", "tcp80.bpf.o", "tailcall.bpf.o"] {
        let bytes = std::fs::read(examples().join(example)).unwrap();
        let object = visor_object::Object::parse(&bytes).unwrap();
        if !visor_vm::jit::AVAILABLE {
            let refused = Loader::new().engine(RunEngine::Jit).load(&object);
            assert!(refused.is_err(), "{example}: no JIT to load into");
            continue;
        }
        let load = |engine| Loader::new().engine(engine).load(&object).unwrap();
        let (jit, interp) = (load(RunEngine::Jit), load(RunEngine::Interpreter));
        let default = load(RunEngine::Auto);
        for program in jit.programs() {
            assert!(
                program.interpreter().is_jit(),
                "{example}: {}",
                program.name()
            );
            let name = program.name();
            assert_eq!(
                default.program(name).unwrap().interpreter().is_jit(),
                visor_vm::jit::AVAILABLE
            );
            assert!(!interp.program(name).unwrap().interpreter().is_jit());
            for frame in capture() {
                let ours = jit.run(name, &frame).map_err(|e| e.to_string());
                let theirs = interp.run(name, &frame).map_err(|e| e.to_string());
                assert_eq!(ours, theirs, "{example}: {name}");
            }
        }
        for (a, b) in jit.maps().iter().zip(interp.maps()) {
            let entries = |map: &visor_vm::Map| {
                let mut all = Vec::new();
                let mut key = None;
                while let Some(next) = map.next_key(key.as_deref()).unwrap() {
                    all.push((next.clone(), map.lookup(&next).unwrap()));
                    key = Some(next);
                }
                all
            };
            assert_eq!(
                entries(&a.map),
                entries(&b.map),
                "{example}: map {}",
                a.name
            );
        }
    }
}
