//! Programs loaded into the running kernel and run with BPF_PROG_TEST_RUN.

mod common;

use common::{asm, bpf_available, chain, udp_frame};
use visor_isa::{Insn, LoadImm, Program};
use visor_kernel::{
    KernelError, LogLevel, MapFd, MapSpec, MapType, ObjectKind, ProgramFd, ProgramSpec,
    ProgramType, TestRun, UpdateMode,
};

fn load(name: &str, program_type: ProgramType, program: &Program) -> ProgramFd {
    ProgramFd::load(&ProgramSpec::new(name, program_type, program))
        .unwrap_or_else(|e| panic!("{}", chain(&e)))
}

#[test]
fn socket_filter_returns_the_packet_length() {
    if !bpf_available("socket_filter_returns_the_packet_length") {
        return;
    }
    // __sk_buff.len is at offset 0. For a socket filter the test run's skb
    // starts at the network header: the kernel pulls the 14-byte Ethernet
    // header off the data (only TC programs see it), so len is 14 short.
    let program = asm("r0 = *(u32 *)(r1 + 0)\nexit");
    let prog = load("sf_len", ProgramType::SocketFilter, &program);
    for len in [60, 100, 1514] {
        let frame = udp_frame(len);
        let run = prog.test_run(&TestRun::new(&frame)).unwrap();
        println!("socket_filter len {len}: retval {}", run.retval);
        assert_eq!(run.retval as usize, len - 14);
    }
}

#[test]
fn sched_cls_reads_the_packet_length_and_repeats() {
    if !bpf_available("sched_cls_reads_the_packet_length_and_repeats") {
        return;
    }
    let program = asm("r0 = *(u32 *)(r1 + 0)\nr0 += 1\nexit");
    let prog = load("cls_len", ProgramType::SchedCls, &program);
    let frame = udp_frame(74);
    let run = prog
        .test_run(&TestRun {
            repeat: 100,
            data_out_size: 128,
            ..TestRun::new(&frame)
        })
        .unwrap();
    println!(
        "sched_cls: retval {}, {} ns/run, {} bytes out",
        run.retval,
        run.duration_ns,
        run.data_out.len()
    );
    assert_eq!(run.retval, 75);
    assert_eq!(run.data_out, frame);
}

#[test]
fn xdp_reads_a_packet_byte_directly() {
    if !bpf_available("xdp_reads_a_packet_byte_directly") {
        return;
    }
    // xdp_md: data at 0, data_end at 4. Return byte 23 (the IP protocol)
    // after the bounds check the verifier demands; XDP_ABORTED (0) if short.
    let program = asm("
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r0 = 0
        r4 = r2
        r4 += 24
        if r4 > r3 goto out
        r0 = *(u8 *)(r2 + 23)
    out:
        exit
    ");
    let prog = load("xdp_proto", ProgramType::Xdp, &program);
    let frame = udp_frame(64);
    let run = prog
        .test_run(&TestRun {
            data_out_size: 64,
            ..TestRun::new(&frame)
        })
        .unwrap();
    assert_eq!(run.retval, 17, "UDP");
    assert_eq!(run.data_out, frame);
    // A frame shorter than 24 bytes fails the bounds check... but XDP
    // test runs need at least an Ethernet header (14 bytes).
    let short = &frame[..20];
    let run = prog.test_run(&TestRun::new(short)).unwrap();
    assert_eq!(run.retval, 0);
}

#[test]
fn a_program_counts_packets_in_a_map() {
    if !bpf_available("a_program_counts_packets_in_a_map") {
        return;
    }
    let counts = MapFd::create(&MapSpec::new(MapType::Array, 4, 8, 1).named("counts")).unwrap();
    // key 0 on the stack; value = lookup(map, &key); if found, *value += 1.
    let mut insns = asm("
        r1 = 0
        *(u32 *)(r10 - 4) = r1
        r2 = r10
        r2 += -4
        r1 = map[fd:0] ll
        call 1
        if r0 == 0 goto out
        r1 = 1
        lock *(u64 *)(r0 + 0) += r1
    out:
        r0 = 0
        exit
    ")
    .insns()
    .to_vec();
    for insn in &mut insns {
        if let Insn::LoadImm64 {
            kind: LoadImm::MapFd,
            imm,
            ..
        } = insn
        {
            *imm = counts.as_raw_fd() as u64;
        }
    }
    let program = Program::new(insns).unwrap();
    let prog = load("count", ProgramType::SocketFilter, &program);
    let frame = udp_frame(60);
    prog.test_run(&TestRun {
        repeat: 5,
        ..TestRun::new(&frame)
    })
    .unwrap();
    let value = counts.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
    assert_eq!(u64::from_ne_bytes(value.try_into().unwrap()), 5);
    // And from userspace, the same map the program sees.
    counts
        .update(
            &0u32.to_ne_bytes(),
            &100u64.to_ne_bytes(),
            UpdateMode::Exist,
        )
        .unwrap();
    prog.test_run(&TestRun::new(&frame)).unwrap();
    let value = counts.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
    assert_eq!(u64::from_ne_bytes(value.try_into().unwrap()), 101);
    let info = prog.info().unwrap();
    assert_eq!(info.map_ids, vec![counts.info().unwrap().id]);
}

use std::os::fd::AsRawFd;

#[test]
fn a_rejected_program_carries_the_verifier_log() {
    if !bpf_available("a_rejected_program_carries_the_verifier_log") {
        return;
    }
    // r0 is never written: the verifier says "R0 !read_ok".
    let program = asm("exit");
    let spec = ProgramSpec::new("bad_exit", ProgramType::SocketFilter, &program);
    let err = ProgramFd::load(&spec).unwrap_err();
    println!("rejection: {}", chain(&err));
    let KernelError::ProgramRejected {
        name,
        program_type,
        log,
        source,
    } = &err
    else {
        panic!("expected ProgramRejected, got {err:?}");
    };
    assert_eq!(name, "bad_exit");
    assert_eq!(*program_type, ProgramType::SocketFilter);
    assert_eq!(source.raw_os_error(), Some(libc::EACCES));
    assert!(log.text().contains("R0 !read_ok"), "log: {}", log.text());
    assert!(err.to_string().contains("bad_exit"), "{err}");
    assert!(err.to_string().contains("R0 !read_ok"), "{err}");

    // An out-of-bounds stack access, with the full verbose log.
    let program = asm("r0 = *(u64 *)(r10 + 8)\nexit");
    let spec = ProgramSpec::new("bad_stack", ProgramType::SocketFilter, &program);
    let err = ProgramFd::load_logged(&spec, LogLevel::Verbose).unwrap_err();
    let KernelError::ProgramRejected { log, .. } = &err else {
        panic!("expected ProgramRejected, got {err:?}");
    };
    println!("verbose rejection log:\n{log}");
    assert!(!log.is_truncated());
    assert!(log.text().contains("invalid"), "log: {}", log.text());
}

#[test]
fn a_full_log_of_a_good_program_has_statistics() {
    if !bpf_available("a_full_log_of_a_good_program_has_statistics") {
        return;
    }
    let program = asm("r0 = 1\nexit");
    let spec = ProgramSpec::new("ok_logged", ProgramType::SocketFilter, &program);
    let (_prog, log) = ProgramFd::load_logged(&spec, LogLevel::Basic).unwrap();
    println!("success log: {}", log.text().trim());
    assert!(log.text().contains("processed 2 insns"), "{}", log.text());
}

#[test]
fn our_program_is_listed_with_its_name_and_tag() {
    if !bpf_available("our_program_is_listed_with_its_name_and_tag") {
        return;
    }
    let program = asm("r0 = 2\nexit");
    let prog = load("visor_listed", ProgramType::SchedCls, &program);
    let info = prog.info().unwrap();
    println!(
        "our program: id {} type {:?} name {} tag {} xlated {} jited {} loaded at {} ns",
        info.id,
        info.program_type(),
        info.name,
        info.tag,
        info.xlated_len,
        info.jited_len,
        info.load_time_ns
    );
    assert_eq!(info.name, "visor_listed");
    assert_eq!(info.program_type(), Some(ProgramType::SchedCls));
    assert_eq!(info.xlated_len, 16);
    assert_ne!(info.tag.0, [0; 8]);
    let ids: Vec<u32> = visor_kernel::ids(ObjectKind::Program)
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(ids.contains(&info.id), "id {} not in {ids:?}", info.id);
    let again = ProgramFd::from_id(info.id).unwrap();
    assert_eq!(again.name(), "visor_listed");
    assert_eq!(again.program_type(), ProgramType::SchedCls);
    let again_info = again.info().unwrap();
    assert_eq!(again_info.tag, info.tag);
    assert_eq!(again_info.id, info.id);
}
