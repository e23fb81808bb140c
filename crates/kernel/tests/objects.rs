//! BTF, links, pinned programs and run-time statistics in the running
//! kernel.

mod common;

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use common::{asm, bpf_available, chain, udp_frame};
use visor_kernel::{
    AttachType, BtfFd, KernelError, LinkFd, LinkTarget, MapBtf, MapFd, MapSpec, MapType,
    ObjectKind, ProgramFd, ProgramSpec, ProgramType, StatsKind, TestRun, UpdateMode, enable_stats,
    ensure_bpffs,
};

/// A BTF blob with one type, `int` (id 1): 32-bit signed.
fn int_btf(str_len: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xeb9fu16.to_le_bytes()); // magic
    b.extend_from_slice(&[1, 0]); // version, flags
    for word in [24u32, 0, 16, 16, str_len] {
        // hdr_len, type_off, type_len, str_off, str_len
        b.extend_from_slice(&word.to_le_bytes());
    }
    // struct btf_type: name_off 1, info = kind INT (1) << 24, size 4;
    // then the int encoding: signed (1 << 24), 32 bits.
    for word in [1u32, 1 << 24, 4, (1 << 24) | 32] {
        b.extend_from_slice(&word.to_le_bytes());
    }
    b.extend_from_slice(b"\0int\0");
    b
}

#[test]
fn btf_loads_and_describes_a_map() {
    if !bpf_available("btf_loads_and_describes_a_map") {
        return;
    }
    let btf = BtfFd::load(&int_btf(5)).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let mut spec = MapSpec::new(MapType::Hash, 4, 4, 8).named("typed");
    spec.btf = Some(MapBtf {
        btf: &btf,
        key_type_id: 1,
        value_type_id: 1,
    });
    let map = MapFd::create(&spec).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let info = map.info().unwrap();
    println!(
        "map with BTF: btf id {}, key type {}, value type {}",
        info.btf_id, info.btf_key_type_id, info.btf_value_type_id
    );
    assert_ne!(info.btf_id, 0);
    assert_eq!((info.btf_key_type_id, info.btf_value_type_id), (1, 1));
    BtfFd::from_id(info.btf_id).unwrap();
    map.update(&1u32.to_ne_bytes(), &2u32.to_ne_bytes(), UpdateMode::Any)
        .unwrap();
}

#[test]
fn bad_btf_is_rejected_with_the_checker_log() {
    if !bpf_available("bad_btf_is_rejected_with_the_checker_log") {
        return;
    }
    // The string section claims more bytes than the blob has.
    let err = BtfFd::load(&int_btf(64)).unwrap_err();
    println!("BTF rejection: {}", chain(&err));
    let KernelError::BtfRejected { log, .. } = &err else {
        panic!("expected BtfRejected, got {err:?}");
    };
    assert!(!log.text().is_empty(), "the BTF checker says why");
}

#[test]
fn a_pinned_program_comes_back() {
    if !bpf_available("a_pinned_program_comes_back") {
        return;
    }
    let bpffs = PathBuf::from(visor_kernel::BPFFS);
    if let Err(e) = ensure_bpffs(&bpffs) {
        println!("skipped: a_pinned_program_comes_back: {}", chain(&e));
        return;
    }
    let program = asm("r0 = 3\nexit");
    let prog =
        ProgramFd::load(&ProgramSpec::new("pinned_prog", ProgramType::Xdp, &program)).unwrap();
    let path = bpffs.join(format!("visor_test_prog_{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    prog.pin(&path).unwrap();
    let again = ProgramFd::from_pin(&path);
    visor_kernel::unpin(&path).unwrap();
    let again = again.unwrap();
    assert_eq!(again.name(), "pinned_prog");
    assert_eq!(again.program_type(), ProgramType::Xdp);
    let frame = udp_frame(60);
    assert_eq!(again.test_run(&TestRun::new(&frame)).unwrap().retval, 3);
}

/// The cgroup v2 hierarchy, wherever it is mounted.
fn cgroup2_root() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let (_, target, fstype) = (fields.next()?, fields.next()?, fields.next()?);
        (fstype == "cgroup2").then(|| PathBuf::from(target))
    })
}

/// A cgroup made for one test and removed after it.
struct TempCgroup(PathBuf);

impl Drop for TempCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_link_attaches_to_a_cgroup_and_detaches() {
    if !bpf_available("a_link_attaches_to_a_cgroup_and_detaches") {
        return;
    }
    let Some(root) = cgroup2_root() else {
        println!("skipped: a_link_attaches_to_a_cgroup_and_detaches: no cgroup2 mount");
        return;
    };
    let cgroup = TempCgroup(root.join(format!("visor_test_{}", std::process::id())));
    if let Err(e) = std::fs::create_dir(&cgroup.0) {
        println!(
            "skipped: cannot create a cgroup under {}: {e}",
            root.display()
        );
        return;
    }
    let dir = File::open(&cgroup.0).unwrap();
    let program = asm("r0 = 1\nexit");
    let mut spec = ProgramSpec::new("cg_allow", ProgramType::CgroupSkb, &program);
    spec.expected_attach_type = Some(AttachType::CgroupInetIngress);
    let prog = ProgramFd::load(&spec).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let link = LinkFd::create(
        &prog,
        LinkTarget::Fd(dir.as_fd()),
        AttachType::CgroupInetIngress,
        0,
    )
    .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let links: Vec<u32> = visor_kernel::ids(ObjectKind::Link)
        .collect::<Result<_, _>>()
        .unwrap();
    println!("links after attach: {links:?}");
    assert!(!links.is_empty());
    link.detach().unwrap_or_else(|e| panic!("{}", chain(&e)));
    drop(link);
    // With the link gone, the cgroup has no program and can be removed.
    drop(dir);
    std::fs::remove_dir(&cgroup.0).unwrap();
    assert!(!Path::new(&cgroup.0).exists());
}

#[test]
fn run_time_statistics_count_test_runs() {
    if !bpf_available("run_time_statistics_count_test_runs") {
        return;
    }
    let program = asm("r0 = 0\nexit");
    let prog =
        ProgramFd::load(&ProgramSpec::new("stats", ProgramType::SchedCls, &program)).unwrap();
    let guard = match enable_stats(StatsKind::RunTime) {
        Ok(guard) => guard,
        Err(e) if common::is_unsupported(&e) => {
            println!("skipped: BPF_ENABLE_STATS: {}", chain(&e));
            return;
        }
        Err(e) => panic!("{}", chain(&e)),
    };
    let frame = udp_frame(60);
    prog.test_run(&TestRun {
        repeat: 10,
        ..TestRun::new(&frame)
    })
    .unwrap();
    let info = prog.info().unwrap();
    drop(guard);
    println!(
        "stats: run_count {}, run_time_ns {}",
        info.run_count, info.run_time_ns
    );
    assert!(info.run_count >= 10, "run_count {}", info.run_count);
}
