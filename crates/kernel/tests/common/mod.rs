//! Shared by the kernel integration tests: the privilege check that turns a
//! machine without bpf(2) into "skipped", never into a pass.

use visor_isa::Program;
use visor_isa::asm::{Syntax, assemble};
use visor_kernel::{KernelError, MapFd, MapSpec, MapType};

/// Whether this process may use bpf(2). Prints `skipped: <why>` and
/// returns false when it may not; any other failure is a real one.
#[must_use]
pub fn bpf_available(test: &str) -> bool {
    match MapFd::create(&MapSpec::new(MapType::Array, 4, 4, 1)) {
        Ok(_) => true,
        Err(e) if e.is_permission_denied() || e.errno() == Some(libc::ENOSYS) => {
            println!("skipped: {test}: {}", chain(&e));
            false
        }
        Err(e) => panic!("bpf(2) probe failed: {}", chain(&e)),
    }
}

/// The error and its sources on one line.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[allow(dead_code, reason = "each test binary uses its own subset")]
/// Whether `error` says the kernel lacks a feature (not a test failure).
pub fn is_unsupported(error: &KernelError) -> bool {
    matches!(
        error.errno(),
        Some(libc::EINVAL | libc::EOPNOTSUPP | 524 /* ENOTSUPP */)
    )
}

#[allow(dead_code, reason = "each test binary uses its own subset")]
pub fn asm(text: &str) -> Program {
    assemble(text, Syntax::Llvm).unwrap_or_else(|e| panic!("test program assembles: {e}\n{text}"))
}

#[allow(dead_code, reason = "each test binary uses its own subset")]
/// An Ethernet + IPv4 + UDP frame of `len` bytes (at least 42) with a
/// recognisable payload: byte `i` of the payload is `i as u8`.
pub fn udp_frame(len: usize) -> Vec<u8> {
    assert!(len >= 42);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]); // dst MAC
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]); // src MAC
    f[12..14].copy_from_slice(&[0x08, 0x00]); // IPv4
    let ip_len = (len - 14) as u16;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[22] = 64; // TTL
    f[23] = 17; // UDP
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&1234u16.to_be_bytes());
    f[36..38].copy_from_slice(&5678u16.to_be_bytes());
    f[38..40].copy_from_slice(&((len - 34) as u16).to_be_bytes());
    for (i, b) in f[42..].iter_mut().enumerate() {
        *b = i as u8;
    }
    f
}

#[allow(dead_code, reason = "each test binary uses its own subset")]
/// Assembles `text`, pointing `map[fd:i]` at `maps[i]`.
pub fn asm_with_maps(text: &str, maps: &[&MapFd]) -> Program {
    use std::os::fd::AsRawFd;
    use visor_isa::{Insn, LoadImm};
    let mut insns = asm(text).insns().to_vec();
    for insn in &mut insns {
        if let Insn::LoadImm64 {
            kind: LoadImm::MapFd,
            imm,
            ..
        } = insn
        {
            let map = maps
                .get(*imm as usize)
                .unwrap_or_else(|| panic!("no map {imm} given"));
            *imm = map.as_raw_fd() as u64;
        }
    }
    Program::new(insns).expect("still a program")
}

#[allow(dead_code, reason = "each test binary uses its own subset")]
/// Loads `program` as `program_type`, panicking with the verifier's log.
pub fn load(
    name: &str,
    program_type: visor_kernel::ProgramType,
    program: &Program,
) -> visor_kernel::ProgramFd {
    let spec = visor_kernel::ProgramSpec::new(name, program_type, program);
    visor_kernel::ProgramFd::load(&spec).unwrap_or_else(|e| panic!("{}", chain(&e)))
}

#[allow(dead_code, reason = "each test binary uses its own subset")]
/// The calling thread's id, from `/proc/thread-self` (`PID/task/TID`).
pub fn thread_id() -> u32 {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    link.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected /proc/thread-self -> {}", link.display()))
}

#[allow(dead_code, reason = "each test binary uses its own subset")]
/// The `u64` at key `key` of an array map with 8-byte values.
pub fn count(map: &MapFd, key: u32) -> u64 {
    let value = map
        .lookup(&key.to_ne_bytes())
        .unwrap_or_else(|e| panic!("{}", chain(&e)))
        .expect("array entries exist");
    u64::from_ne_bytes(value.try_into().expect("8-byte values"))
}

#[allow(dead_code, reason = "each test binary uses its own subset")]
/// An array of `entries` 8-byte counters.
pub fn counters(name: &str, entries: u32) -> MapFd {
    MapFd::create(&MapSpec::new(MapType::Array, 4, 8, entries).named(name))
        .unwrap_or_else(|e| panic!("{}", chain(&e)))
}

#[allow(dead_code, reason = "each test binary uses its own subset")]
/// Program text that bumps counter `key` (a register or a number) of
/// `map[fd:0]`; clobbers r0-r5.
pub fn bump(key: &str) -> String {
    format!(
        "
        r1 = {key}
        *(u32 *)(r10 - 4) = r1
        r2 = r10
        r2 += -4
        r1 = map[fd:0] ll
        call 1
        if r0 == 0 goto +2
        r1 = 1
        lock *(u64 *)(r0 + 0) += r1
        "
    )
}
