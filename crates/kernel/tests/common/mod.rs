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
