//! Packet filters: the classic BPF runtime under the pcap filter language.
//!
//! - [`check`] applies the Linux kernel's rules for cBPF programs, and
//!   [`check_with`] libpcap's looser ones ([`Rules`]); both yield a
//!   [`CheckedProgram`], the only form the rest of the crate takes.
//! - [`run`] executes one over a [`Packet`] with libpcap's `bpf_filter`
//!   semantics.
//! - [`to_ebpf`] translates one into an equivalent eBPF
//!   [`visor_isa::Program`], so filters run on visor's eBPF engines.
//!
//! The instructions themselves, and libpcap's `-d`/`-dd`/`-ddd` listings,
//! live in [`visor_isa::cbpf`].
//! - [`capture`] reads pcap and pcapng files.
//! - [`compile`] turns a pcap filter expression into such a program, as
//!   libpcap does, optimized or not.
//!
//! ```
//! use visor_filter::{Packet, check, run};
//! use visor_isa::cbpf::Insn;
//! // tcpdump -ddd 'ip' on Ethernet
//! let ip = check(&[
//!     Insn::new(40, 0, 0, 12),
//!     Insn::new(21, 0, 1, 2048),
//!     Insn::new(6, 0, 0, 262144),
//!     Insn::new(6, 0, 0, 0),
//! ])?;
//! let mut frame = [0u8; 34];
//! frame[12..14].copy_from_slice(&[0x08, 0x00]);
//! assert_eq!(run(&ip, Packet::whole(&frame)), 262144);
//! frame[12..14].copy_from_slice(&[0x86, 0xdd]);
//! assert_eq!(run(&ip, Packet::whole(&frame)), 0);
//! # Ok::<(), visor_filter::CheckError>(())
//! ```
#![forbid(unsafe_code)]

pub mod capture;
mod check;
pub mod compile;
mod interp;
mod to_ebpf;

pub use check::{
    Branch, CheckError, CheckedProgram, LIBPCAP_MAX_INSNS, MAX_INSNS, Rule, Rules, check,
    check_with,
};
pub use compile::{CompileError, CompileOptions, LinkType};
pub use interp::{MAX_BACKWARD_JUMPS, Packet, run};
pub use to_ebpf::to_ebpf;
