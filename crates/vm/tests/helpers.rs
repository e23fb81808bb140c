//! The standard helpers through real programs: each test loads the
//! arguments with `lddw`, calls the helper by its kernel id and checks r0
//! and the memory the helper wrote. The input buffer is the context (at
//! `CTX`) and the packet.

mod common;

use common::*;
use visor_vm::helpers::ids;
use visor_vm::{
    FakeClock, HelperEnv, HelperError, Helpers, Interpreter, TaskInfo, TraceBuffer, VmError,
};

/// The guest address of the input's first byte.
const CTX: u64 = 0x1_0000_0000;
/// An address in no region.
const WILD: u64 = 0x7_0000_0000;

fn neg(errno: i64) -> u64 {
    (-errno) as u64
}

const EINVAL: i64 = 22;
const EFAULT: i64 = 14;
const ERANGE: i64 = 34;

/// Runs `call id` with r1.. = `args` over `input` with `helpers`.
fn call_with(helpers: Helpers, id: u32, args: &[u64], input: &mut [u8]) -> Result<u64, VmError> {
    let regs = [R1, R2, R3, R4, R5];
    let mut insns: Vec<_> = args
        .iter()
        .zip(regs)
        .map(|(&value, reg)| lddw(reg, value))
        .collect();
    insns.push(call_helper(id as i32));
    insns.push(exit());
    Interpreter::new(&program(insns), helpers)?.run(input)
}

fn call_env(env: HelperEnv, id: u32, args: &[u64], input: &mut [u8]) -> u64 {
    call_with(Helpers::standard(env), id, args, input).expect("the helper returns")
}

fn call(id: u32, args: &[u64], input: &mut [u8]) -> u64 {
    call_env(HelperEnv::default(), id, args, input)
}

fn demo_task() -> TaskInfo {
    TaskInfo {
        pid: 1234,
        tgid: 1200,
        uid: 1000,
        gid: 100,
        comm: "a-rather-long-task-name".into(),
    }
}

#[test]
fn clocks_come_from_the_environment() {
    let env = || {
        HelperEnv::default().with_clock(
            FakeClock::new(5_000)
                .with_step(10)
                .with_suspended(1_000_000),
        )
    };
    assert_eq!(call_env(env(), ids::KTIME_GET_NS, &[], &mut []), 5_000);
    assert_eq!(
        call_env(env(), ids::KTIME_GET_BOOT_NS, &[], &mut []),
        1_005_000
    );
    // Two readings in one run: the fake clock stepped between them.
    let program = program(vec![
        call_helper(ids::KTIME_GET_NS as i32),
        mov_reg(R6, R0),
        call_helper(ids::KTIME_GET_NS as i32),
        alu64(visor_isa::AluOp::Sub, R0, visor_isa::Source::Reg(R6)),
        exit(),
    ]);
    let vm = Interpreter::new(&program, Helpers::standard(env())).unwrap();
    assert_eq!(vm.run(&mut []).unwrap(), 10);
}

#[test]
fn the_host_environment_is_this_process() {
    let task = TaskInfo::current();
    assert_eq!(task.tgid, std::process::id());
    let first = call_env(HelperEnv::host(), ids::KTIME_GET_NS, &[], &mut []);
    let second = call_env(HelperEnv::host(), ids::KTIME_GET_BOOT_NS, &[], &mut []);
    assert!(first > 0 && second > 0, "the host has been up for a while");
}

#[test]
fn random_numbers_follow_the_seed() {
    let draw = |seed| {
        let env = HelperEnv::default().with_seed(seed);
        call_env(env, ids::GET_PRANDOM_U32, &[], &mut [])
    };
    // SplitMix64 seeded with 0: first output 0xe220a8397b1dcdaf, high half.
    assert_eq!(draw(0), 0xe220_a839);
    assert_eq!(draw(0), draw(0));
    assert_ne!(draw(1), draw(0));
    assert!(draw(7) <= u64::from(u32::MAX));
}

#[test]
fn the_current_task_ids() {
    let env = HelperEnv::default().with_task(Some(demo_task()));
    let pid_tgid = call_env(env.clone(), ids::GET_CURRENT_PID_TGID, &[], &mut []);
    assert_eq!(pid_tgid, 1200 << 32 | 1234);
    let uid_gid = call_env(env, ids::GET_CURRENT_UID_GID, &[], &mut []);
    assert_eq!(uid_gid, 100 << 32 | 1000);
    let none = HelperEnv::default().with_task(None);
    assert_eq!(
        call_env(none.clone(), ids::GET_CURRENT_PID_TGID, &[], &mut []),
        neg(EINVAL)
    );
    assert_eq!(
        call_env(none, ids::GET_CURRENT_UID_GID, &[], &mut []),
        neg(EINVAL)
    );
}

#[test]
fn comm_is_cut_to_15_bytes_and_nul_padded() {
    let env = HelperEnv::default().with_task(Some(demo_task()));
    let mut buf = [0xee; 20];
    assert_eq!(
        call_env(env.clone(), ids::GET_CURRENT_COMM, &[CTX, 20], &mut buf),
        0
    );
    assert_eq!(&buf[..16], b"a-rather-long-t\0");
    assert_eq!(&buf[16..], &[0; 4], "padded to the size given");
    let mut small = [0xee; 6];
    assert_eq!(
        call_env(env.clone(), ids::GET_CURRENT_COMM, &[CTX, 4], &mut small),
        0
    );
    assert_eq!(small, *b"a-r\0\xee\xee");
    let mut none = [0xee; 4];
    let no_task = HelperEnv::default().with_task(None);
    assert_eq!(
        call_env(no_task, ids::GET_CURRENT_COMM, &[CTX, 4], &mut none),
        neg(EINVAL)
    );
    assert_eq!(none, [0; 4], "zeroed on failure");
    // A buffer that is not there stops the program.
    let fault = call_with(
        Helpers::standard(env),
        ids::GET_CURRENT_COMM,
        &[WILD, 4],
        &mut [],
    );
    assert!(matches!(
        fault,
        Err(VmError::Helper {
            cause: HelperError::Memory(_),
            ..
        })
    ));
}

/// Runs `bpf_trace_printk(fmt, len + 1, args)` with `fmt` at the start of
/// the input and `extra` after its NUL; returns r0 and the lines traced.
fn printk(fmt: &str, args: &[u64], extra: &[u8]) -> (u64, Vec<String>) {
    let traces = TraceBuffer::new();
    let env = HelperEnv::default()
        .with_task(Some(demo_task()))
        .with_trace(traces.clone());
    let mut input = fmt.as_bytes().to_vec();
    input.push(0);
    input.extend_from_slice(extra);
    let mut regs = vec![CTX, fmt.len() as u64 + 1];
    regs.extend_from_slice(args);
    let r0 = call_env(env, ids::TRACE_PRINTK, &regs, &mut input);
    (r0, traces.take_messages())
}

#[test]
fn trace_printk_formats_like_the_kernel() {
    let (r0, lines) = printk("x=%d y=%u z=%x\n", &[(-1i64) as u64, 7, 255], &[]);
    assert_eq!(lines, ["x=-1 y=7 z=ff\n"]);
    assert_eq!(r0, 14, "bytes formatted, newline included");
    let (_, lines) = printk("[%5d|%-5d|%05d]", &[42, 42, 42], &[]);
    assert_eq!(lines, ["[   42|42   |00042]"]);
    let (_, lines) = printk("%lld %llx %lu", &[i64::MIN as u64, u64::MAX, 1 << 40], &[]);
    assert_eq!(
        lines,
        ["-9223372036854775808 ffffffffffffffff 1099511627776"]
    );
    // %s reads a guest string: here the bytes after the format's NUL.
    let fmt = "name=%s!";
    let name_at = CTX + fmt.len() as u64 + 1;
    let (r0, lines) = printk(fmt, &[name_at], b"visor\0");
    assert_eq!(
        (r0, lines.as_slice()),
        (11, &["name=visor!".to_owned()][..])
    );
    let (_, lines) = printk("p=%p", &[0x2_0000_01f8], &[]);
    assert_eq!(lines, ["p=00000002000001f8"]);
}

#[test]
fn trace_printk_refuses_what_the_kernel_refuses() {
    for bad in ["%d %d %d %d", "%q", "%.3d", "%s5", "bell\x07"] {
        let (r0, lines) = printk(bad, &[1, 2, 3], &[]);
        assert_eq!(r0, neg(EINVAL), "{bad:?}");
        assert!(lines.is_empty(), "nothing traced for {bad:?}");
    }
    // fmt_size without a NUL in it.
    let traces = TraceBuffer::new();
    let env = HelperEnv::default().with_trace(traces.clone());
    let mut input = *b"abc\0";
    assert_eq!(
        call_env(env, ids::TRACE_PRINTK, &[CTX, 3], &mut input),
        neg(EINVAL)
    );
    // Long messages are cut to 1023 bytes; r0 counts them all.
    let (r0, lines) = printk("%1500d", &[1], &[]);
    assert_eq!(r0, 1500);
    assert_eq!(lines[0].len(), 1023);
}

#[test]
fn trace_lines_look_like_trace_pipe() {
    let traces = TraceBuffer::new();
    let env = HelperEnv::default()
        .with_task(Some(demo_task()))
        .with_clock(FakeClock::new(12_345_678_901_234))
        .with_trace(traces.clone());
    let mut input = *b"hello\n\0";
    call_env(env, ids::TRACE_PRINTK, &[CTX, 7], &mut input);
    let events = traces.take();
    assert_eq!(events[0].message, b"hello\n");
    assert_eq!(
        events[0].trace_pipe_line(),
        " a-rather-long-t-1234    [000] ..... 12345.678901: bpf_trace_printk: hello"
    );
}

#[test]
fn probe_read_copies_or_zeroes_and_faults() {
    for id in [
        ids::PROBE_READ,
        ids::PROBE_READ_USER,
        ids::PROBE_READ_KERNEL,
    ] {
        let mut input = *b"ABCDEFGH\xee\xee\xee\xee";
        assert_eq!(call(id, &[CTX + 8, 4, CTX + 2], &mut input), 0);
        assert_eq!(&input[8..], b"CDEF");
        assert_eq!(call(id, &[CTX + 8, 4, WILD], &mut input), neg(EFAULT));
        assert_eq!(&input[8..], &[0; 4], "destination zeroed");
        input[8..].fill(0xee);
        // Past the end of the region: also a fault, and zeroed.
        assert_eq!(call(id, &[CTX + 8, 4, CTX + 10], &mut input), neg(EFAULT));
        assert_eq!(&input[8..], &[0; 4]);
        assert_eq!(
            call(id, &[CTX + 8, 0, WILD], &mut input),
            0,
            "nothing to read"
        );
    }
}

#[test]
fn probe_read_str_counts_the_nul() {
    for id in [
        ids::PROBE_READ_STR,
        ids::PROBE_READ_USER_STR,
        ids::PROBE_READ_KERNEL_STR,
    ] {
        let mut input = *b"hi!\0\xee\xee\xee\xee\xee\xee";
        assert_eq!(call(id, &[CTX + 4, 6, CTX], &mut input), 4);
        assert_eq!(
            &input[4..],
            b"hi!\0\xee\xee",
            "bytes after the NUL untouched"
        );
        // Cut to size - 1 bytes and a NUL.
        assert_eq!(call(id, &[CTX + 4, 3, CTX], &mut input), 3);
        assert_eq!(&input[4..7], b"hi\0");
        assert_eq!(call(id, &[CTX + 4, 0, CTX], &mut input), 0);
        assert_eq!(call(id, &[CTX + 4, 6, WILD], &mut input), neg(EFAULT));
        assert_eq!(&input[4..], &[0; 6]);
        // A string that runs off its region faults too.
        let mut unterminated = *b"abcdef";
        assert_eq!(call(id, &[CTX, 6, CTX + 2], &mut unterminated), neg(EFAULT));
        assert_eq!(unterminated, [0; 6]);
    }
}

#[test]
fn snprintf_writes_a_nul_terminated_string() {
    // Layout: 0..16 output, 16..40 format, 40..56 two u64 arguments.
    let mut input = vec![0xee; 56];
    input[16..30].copy_from_slice(b"%d-%s-%05x|\0\0\0");
    input[40..48].copy_from_slice(&(-3i64).to_le_bytes());
    input[48..56].copy_from_slice(&(CTX + 28).to_le_bytes()); // "" (a NUL)
    let fmt = CTX + 16;
    // Two arguments for three conversions: EINVAL.
    let args = [CTX, 16, fmt, CTX + 40, 16];
    assert_eq!(call(ids::SNPRINTF, &args, &mut input), neg(EINVAL));
    // Three arguments: the third is read from 56.., which is off the input.
    let mut input = vec![0u8; 72];
    input[16..26].copy_from_slice(b"%d-%s|%3u\0");
    input[40..48].copy_from_slice(&(-3i64).to_le_bytes());
    input[48..56].copy_from_slice(&(CTX + 16 + 9).to_le_bytes()); // ""
    input[56..64].copy_from_slice(&7u64.to_le_bytes());
    input[..16].fill(0xee);
    let args = [CTX, 16, fmt, CTX + 40, 24];
    assert_eq!(
        call(ids::SNPRINTF, &args, &mut input),
        8,
        "\"-3-|  7\" and NUL"
    );
    assert_eq!(&input[..9], b"-3-|  7\0\xee");
    // Truncated: r0 is still the full length plus one.
    let args = [CTX, 4, fmt, CTX + 40, 24];
    assert_eq!(call(ids::SNPRINTF, &args, &mut input), 8);
    assert_eq!(&input[..4], b"-3-\0");
    // Bad data_len.
    for len in [12, 13 * 8] {
        assert_eq!(
            call(ids::SNPRINTF, &[CTX, 16, fmt, CTX + 40, len], &mut input),
            neg(EINVAL)
        );
    }
    assert_eq!(
        call(ids::SNPRINTF, &[CTX, 16, fmt, 0, 8], &mut input),
        neg(EINVAL)
    );
}

/// `bpf_strtol`/`bpf_strtoul` over `text` at the input's start; the result
/// goes to the 8 bytes after it. Returns r0 and the stored value.
fn strto(id: u32, text: &str, flags: u64) -> (u64, u64) {
    let mut input = text.as_bytes().to_vec();
    let res = input.len() as u64;
    input.extend_from_slice(&[0xee; 8]);
    let r0 = call(id, &[CTX, text.len() as u64, flags, CTX + res], &mut input);
    let value = u64::from_le_bytes(input[input.len() - 8..].try_into().unwrap());
    (r0, value)
}

#[test]
fn strtol_and_strtoul_edge_cases() {
    assert_eq!(strto(ids::STRTOL, " -0x10z", 0), (6, (-16i64) as u64));
    assert_eq!(strto(ids::STRTOL, "0x10", 10), (1, 0), "base 10 stops at x");
    assert_eq!(strto(ids::STRTOL, "017", 0), (3, 15));
    assert_eq!(
        strto(ids::STRTOL, "9223372036854775808", 10),
        (neg(ERANGE), 0)
    );
    assert_eq!(
        strto(ids::STRTOL, "-9223372036854775808", 10),
        (20, i64::MIN as u64)
    );
    assert_eq!(strto(ids::STRTOL, "x", 10), (neg(EINVAL), 0), "res zeroed");
    assert_eq!(strto(ids::STRTOL, "5", 3), (neg(EINVAL), 0));
    assert_eq!(
        strto(ids::STRTOUL, "18446744073709551615", 0),
        (20, u64::MAX)
    );
    assert_eq!(
        strto(ids::STRTOUL, "18446744073709551616", 0),
        (neg(ERANGE), 0)
    );
    assert_eq!(strto(ids::STRTOUL, "-1", 0), (neg(EINVAL), 0));
    assert_eq!(strto(ids::STRTOUL, "ff", 16), (2, 255));
    // Only buf_len bytes are looked at.
    let mut input = *b"123\xee\xee\xee\xee\xee\xee\xee\xee";
    assert_eq!(call(ids::STRTOUL, &[CTX, 2, 10, CTX + 3], &mut input), 2);
    assert_eq!(&input[3..], &12u64.to_le_bytes());
}

/// RFC 1071 by the book: the complement of the ones' complement sum of
/// big-endian 16-bit words, as stored in a header.
fn reference_checksum(bytes: &[u8]) -> [u8; 2] {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|w| u32::from(w[0]) << 8 | u32::from(*w.get(1).unwrap_or(&0)))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    (!(sum as u16)).to_be_bytes()
}

/// An IPv4 header (20 bytes) with a correct checksum at 10..12.
fn ipv4_header() -> Vec<u8> {
    let mut header = vec![
        0x45, 0x00, 0x00, 0x54, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let check = reference_checksum(&header);
    header[10..12].copy_from_slice(&check);
    header
}

fn u32_at(bytes: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()).into()
}

#[test]
fn l3_csum_replace_matches_a_fresh_checksum() {
    // Rewrite the destination address 10.0.0.2 -> 192.168.1.77.
    let mut packet = ipv4_header();
    let from = u32_at(&packet, 16);
    let new_addr = [192, 168, 1, 77];
    let to = u64::from(u32::from_le_bytes(new_addr));
    packet[16..20].copy_from_slice(&new_addr);
    assert_eq!(
        call(ids::L3_CSUM_REPLACE, &[CTX, 10, from, to, 4], &mut packet),
        0
    );
    let mut expected = packet.clone();
    expected[10..12].fill(0);
    assert_eq!(packet[10..12], reference_checksum(&expected));
    // A 2-byte field: TTL and protocol 0x40 0x01 -> 0x3f 0x01.
    let from = u64::from(u16::from_le_bytes([packet[8], packet[9]]));
    packet[8] = 0x3f;
    let to = u64::from(u16::from_le_bytes([packet[8], packet[9]]));
    assert_eq!(
        call(ids::L3_CSUM_REPLACE, &[CTX, 10, from, to, 2], &mut packet),
        0
    );
    let mut expected = packet.clone();
    expected[10..12].fill(0);
    assert_eq!(packet[10..12], reference_checksum(&expected));
    // Whole header re-verifies to zero.
    assert_eq!(reference_checksum(&packet), [0, 0]);
    // Errors: flags, odd offset, outside the packet, bad size, from with size 0.
    assert_eq!(
        call(ids::L3_CSUM_REPLACE, &[CTX, 10, 0, 0, 0x10], &mut packet),
        neg(EINVAL)
    );
    assert_eq!(
        call(ids::L3_CSUM_REPLACE, &[CTX, 11, 0, 0, 2], &mut packet),
        neg(EFAULT)
    );
    assert_eq!(
        call(ids::L3_CSUM_REPLACE, &[CTX, 20, 0, 0, 2], &mut packet),
        neg(EFAULT)
    );
    assert_eq!(
        call(ids::L3_CSUM_REPLACE, &[CTX, 10, 0, 0, 3], &mut packet),
        neg(EINVAL)
    );
    assert_eq!(
        call(ids::L3_CSUM_REPLACE, &[CTX, 10, 1, 0, 0], &mut packet),
        neg(EINVAL)
    );
}

#[test]
fn csum_diff_then_replace_by_diff() {
    // Layout: IPv4 header 0..20, the old address 20..24.
    let mut input = ipv4_header();
    input.extend_from_within(12..16);
    input[12..16].copy_from_slice(&[172, 16, 5, 9]);
    let diff = call(ids::CSUM_DIFF, &[CTX + 20, 4, CTX + 12, 4, 0], &mut input);
    assert!(diff <= 0xffff, "folded to 16 bits");
    assert_eq!(
        call(ids::L3_CSUM_REPLACE, &[CTX, 10, 0, diff, 0], &mut input),
        0
    );
    assert_eq!(reference_checksum(&input[..20]), [0, 0]);
    // Pushing data: the checksum of `to` plus the seed.
    let mut words = *b"\x12\x34\x56\x78\x9a\xbc\xde\xf0";
    let sum = call(ids::CSUM_DIFF, &[0, 0, CTX, 8, 0], &mut words);
    let expected = !u16::from_be_bytes(reference_checksum(&words));
    assert_eq!(sum, u64::from(u16::from_le_bytes(expected.to_be_bytes())));
    assert_eq!(
        call(ids::CSUM_DIFF, &[0, 0, CTX, 6, 0], &mut words),
        neg(EINVAL)
    );
    assert_eq!(call(ids::CSUM_DIFF, &[0, 0, 0, 0, 77], &mut words), 77);
}

/// A UDP datagram over IPv4 (pseudo-header fields kept beside it): the
/// checksum over pseudo-header, header and payload, at UDP offset 6.
fn udp_checksum(src: [u8; 4], dst: [u8; 4], udp: &[u8]) -> [u8; 2] {
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(udp.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(udp);
    reference_checksum(&pseudo)
}

#[test]
fn l4_csum_replace_updates_udp_after_an_address_change() {
    let (src, dst) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let mut udp = vec![
        0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0, 0, b'p', b'i', b'n', b'g',
    ];
    let check = udp_checksum(src, dst, &udp);
    udp[6..8].copy_from_slice(&check);
    let new_dst = [192, 168, 7, 7];
    let (from, to) = (
        u64::from(u32::from_le_bytes(dst)),
        u64::from(u32::from_le_bytes(new_dst)),
    );
    let flags = 4 | 1 << 4 | 1 << 5; // size 4, BPF_F_PSEUDO_HDR, BPF_F_MARK_MANGLED_0
    assert_eq!(
        call(ids::L4_CSUM_REPLACE, &[CTX, 6, from, to, flags], &mut udp),
        0
    );
    let mut zeroed = udp.clone();
    zeroed[6..8].fill(0);
    assert_eq!(udp[6..8], udp_checksum(src, new_dst, &zeroed));
    // A port change, 2 bytes: 12345 -> 8080.
    let from = u64::from(u16::from_le_bytes([udp[0], udp[1]]));
    udp[0..2].copy_from_slice(&8080u16.to_be_bytes());
    let to = u64::from(u16::from_le_bytes([udp[0], udp[1]]));
    assert_eq!(
        call(ids::L4_CSUM_REPLACE, &[CTX, 6, from, to, 2], &mut udp),
        0
    );
    let mut zeroed = udp.clone();
    zeroed[6..8].fill(0);
    assert_eq!(udp[6..8], udp_checksum(src, new_dst, &zeroed));
    // A zero UDP checksum means none: left alone with MARK_MANGLED_0 ...
    udp[6..8].fill(0);
    assert_eq!(
        call(ids::L4_CSUM_REPLACE, &[CTX, 6, 1, 2, 2 | 1 << 5], &mut udp),
        0
    );
    assert_eq!(udp[6..8], [0, 0]);
    // ... and a result of zero is stored as 0xffff.
    // Sum 0xfffe (field 0x0001 little-endian) plus 1 is 0xffff: stored 0.
    udp[6..8].copy_from_slice(&[0x01, 0x00]);
    assert_eq!(
        call(ids::L4_CSUM_REPLACE, &[CTX, 6, 0, 1, 2 | 1 << 5], &mut udp),
        0
    );
    assert_eq!(udp[6..8], [0xff, 0xff]);
    assert_eq!(
        call(ids::L4_CSUM_REPLACE, &[CTX, 6, 0, 0, 1 << 8], &mut udp),
        neg(EINVAL)
    );
}

#[test]
fn skb_load_and_store_bytes_stay_in_the_packet() {
    // Layout: packet bytes 0..8, scratch 8..12.
    let mut input = *b"\x01\x02\x03\x04\x05\x06\x07\x08WXYZ";
    assert_eq!(
        call(ids::SKB_LOAD_BYTES, &[CTX, 2, CTX + 8, 3], &mut input),
        0
    );
    assert_eq!(&input[8..], b"\x03\x04\x05Z");
    assert_eq!(
        call(
            ids::SKB_STORE_BYTES,
            &[CTX, 0, CTX + 9, 2, 0b11],
            &mut input
        ),
        0
    );
    assert_eq!(&input[..2], b"\x04\x05");
    assert_eq!(
        call(ids::SKB_STORE_BYTES, &[CTX, 0, CTX + 9, 2, 4], &mut input),
        neg(EINVAL)
    );
    // The input is also the packet, so 12 bytes long.
    assert_eq!(
        call(ids::SKB_STORE_BYTES, &[CTX, 11, CTX, 2, 0], &mut input),
        neg(EFAULT)
    );
    assert_eq!(
        call(ids::SKB_LOAD_BYTES, &[CTX, 11, CTX + 8, 2], &mut input),
        neg(EFAULT)
    );
    assert_eq!(&input[8..10], &[0, 0], "destination zeroed");
    assert_eq!(
        call(ids::SKB_LOAD_BYTES, &[CTX, 1 << 31, CTX + 8, 1], &mut input),
        neg(EFAULT)
    );
    // No packet at all.
    let none = visor_vm::RunInput::context(visor_vm::Region::writable(&mut input));
    let program = program(vec![
        lddw(R1, 0),
        lddw(R2, 0),
        lddw(R3, CTX),
        lddw(R4, 1),
        call_helper(ids::SKB_LOAD_BYTES as i32),
        exit(),
    ]);
    let vm = Interpreter::new(&program, Helpers::standard(HelperEnv::default())).unwrap();
    assert_eq!(vm.run_with(none).unwrap(), neg(EFAULT));
}

#[test]
fn func_ip_is_zero_and_loop_needs_a_function() {
    assert_eq!(call(ids::GET_FUNC_IP, &[CTX], &mut []), 0);
    // A callback that is not a function address stops the program;
    // callbacks themselves run in tests/bpf_loop.rs.
    let result = call_with(
        Helpers::standard(HelperEnv::default()),
        ids::LOOP,
        &[1, 0, 0, 0],
        &mut [],
    );
    assert!(matches!(
        result,
        Err(VmError::Helper {
            cause: HelperError::BadArgument { reg: 2, .. },
            ..
        })
    ));
}
