//! visor's userspace interpreter against the kernel, on the same programs
//! and packets: each program runs in `visor_vm::Interpreter` and through
//! BPF_PROG_TEST_RUN, and the return values must agree.
//!
//! The programs use only ALU operations, jumps and the legacy packet loads
//! (LD_ABS/LD_IND), so the interpreter needs no context layout: its packet
//! is the input bytes. What the kernel's packet is depends on the program
//! type, found by running (see `where_ld_abs_offsets_start`):
//!
//! - SCHED_CLS: BPF_PROG_TEST_RUN gives the program the frame from its
//!   Ethernet header, so LD_ABS offset 0 is the destination MAC and the
//!   interpreter gets the same bytes.
//! - SOCKET_FILTER: the kernel pulls the 14-byte Ethernet header before the
//!   program runs (as for a packet arriving on a socket), so LD_ABS offset 0
//!   is the first byte of the IP header and `skb->len` is 14 short; the
//!   interpreter gets the frame without its first 14 bytes.
//!
//! The kernel's return value is the low 32 bits of r0.

mod common;

use common::{asm, bpf_available, chain, udp_frame};
use visor_kernel::{ProgramFd, ProgramSpec, ProgramType, TestRun};
use visor_vm::{Helpers, Interpreter};

/// Ethernet header bytes the kernel strips for socket filters.
const ETH_HLEN: usize = 14;

/// `{ip}` and `{ip+N}` in a program stand for where the IP header starts
/// (plus N), from the program's view: 14 for TC, 0 for a socket filter.
const PROGRAMS: &[(&str, &str)] = &[
    (
        "ip_proto",
        "r6 = r1
         r0 = *(u8 *)skb[{ip+9}]
         exit",
    ),
    (
        "udp_dport",
        // IHL from the first byte, then LD_IND past the IP header.
        "r6 = r1
         r0 = *(u8 *)skb[{ip}]
         r0 &= 0xf
         r0 <<= 2
         r7 = r0
         r0 = *(u16 *)skb[r7 + {ip+2}]
         exit",
    ),
    (
        "byte_sum",
        // A bounded loop over the first 32 packet bytes with LD_IND.
        "r6 = r1
         r7 = 0
         r8 = 0
       loop:
         r0 = *(u8 *)skb[r7 + 0]
         r8 += r0
         r7 += 1
         if r7 < 32 goto loop
         r0 = r8
         exit",
    ),
    (
        "alu_mix",
        "r6 = r1
         r0 = *(u32 *)skb[{ip}]
         r1 = r0
         r1 *= 0x9e3779b1
         w1 ^= w0
         r2 = r1
         r2 >>= 7
         r1 s>>= 3
         r1 += r2
         r3 = 13
         r1 %= r3
         w0 = w1
         w0 <<= 5
         r0 = be16 r0
         r0 += r1
         if r0 s> 0x1000 goto big
         r0 = -r0
       big:
         exit",
    ),
    (
        "division_by_zero",
        // The kernel defines x / 0 = 0 and x % 0 = x; so must we.
        "r6 = r1
         r0 = *(u16 *)skb[{ip+2}]
         r1 = 0
         r2 = r0
         r2 /= r1
         r0 %= r1
         w3 = 0
         w4 = 77
         w4 /= w3
         r0 += r2
         r0 += r4
         exit",
    ),
    (
        "out_of_bounds_load_ends_with_zero",
        "r6 = r1
         r0 = 5
         r0 = *(u32 *)skb[2000]
         r0 = 99
         exit",
    ),
    (
        "signed_jumps",
        "r6 = r1
         r0 = *(u8 *)skb[{ip+3}]
         r0 -= 50
         r1 = 0
         if r0 s< 0 goto negative
         r1 = 1
       negative:
         if w0 > 0x7fffffff goto wide
         r1 += 10
       wide:
         r0 = r1
         exit",
    ),
];

/// The frames every program runs on: short, minimal and full-sized UDP,
/// and one with IP options (IHL 6) so LD_IND offsets differ.
fn frames() -> Vec<Vec<u8>> {
    let mut with_options = udp_frame(80);
    with_options[14] = 0x46;
    vec![udp_frame(42), udp_frame(60), udp_frame(200), with_options]
}

/// Replaces `{ip}` and `{ip+N}` with numbers.
fn expand(template: &str, ip: usize) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{ip") {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find('}').expect("placeholder is closed");
        let inside = &rest[start + 3..end];
        let add: usize = inside.strip_prefix('+').map_or(0, |n| n.parse().unwrap());
        out.push_str(&(ip + add).to_string());
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn interpret(text: &str, packet: &[u8]) -> u64 {
    let program = asm(text);
    let mut packet = packet.to_vec();
    Interpreter::new(&program, Helpers::new())
        .and_then(|vm| vm.run(&mut packet))
        .unwrap_or_else(|e| panic!("interpreter: {e}\n{text}"))
}

fn kernel(name: &str, program_type: ProgramType, text: &str, frame: &[u8]) -> u32 {
    let program = asm(text);
    // Kernel names hold 15 characters.
    let name = &name[..name.len().min(15)];
    let prog = ProgramFd::load(&ProgramSpec::new(name, program_type, &program))
        .unwrap_or_else(|e| panic!("{}\n{text}", chain(&e)));
    prog.test_run(&TestRun::new(frame))
        .unwrap_or_else(|e| panic!("{}", chain(&e)))
        .retval
}

#[test]
fn interpreter_and_kernel_agree() {
    if !bpf_available("interpreter_and_kernel_agree") {
        return;
    }
    let mut compared = 0;
    for (name, template) in PROGRAMS {
        for (program_type, ip, strip) in [
            (ProgramType::SchedCls, ETH_HLEN, 0),
            (ProgramType::SocketFilter, 0, ETH_HLEN),
        ] {
            let text = expand(template, ip);
            for frame in frames() {
                let kernel_ret = kernel(name, program_type, &text, &frame);
                let vm_ret = interpret(&text, &frame[strip..]);
                println!(
                    "{name:>34} {program_type:>13} {:>4}-byte frame: kernel {kernel_ret:#x}, interpreter {vm_ret:#x}",
                    frame.len()
                );
                assert_eq!(
                    u64::from(kernel_ret),
                    vm_ret & 0xffff_ffff,
                    "{name} as {program_type} on a {}-byte frame",
                    frame.len()
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, PROGRAMS.len() * 2 * frames().len());
}

/// The finding the module doc states: where LD_ABS offset 0 is for each
/// program type in BPF_PROG_TEST_RUN.
#[test]
fn where_ld_abs_offsets_start() {
    if !bpf_available("where_ld_abs_offsets_start") {
        return;
    }
    let first_byte = "r6 = r1\nr0 = *(u8 *)skb[0]\nexit";
    let frame = udp_frame(60);
    let tc = kernel("first_byte", ProgramType::SchedCls, first_byte, &frame);
    let socket = kernel("first_byte", ProgramType::SocketFilter, first_byte, &frame);
    println!("LD_ABS [0]: sched_cls {tc:#x}, socket_filter {socket:#x}");
    assert_eq!(tc, u32::from(frame[0]), "TC sees the destination MAC");
    assert_eq!(socket, 0x45, "a socket filter sees the IP header first");
    assert_eq!(u64::from(socket), interpret(first_byte, &frame[ETH_HLEN..]));
}
