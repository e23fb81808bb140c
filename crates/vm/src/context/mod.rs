//! Program types and the contexts they run with: `struct __sk_buff` for
//! socket filters and TC programs, `struct xdp_md` for XDP, and a
//! read-only record of the caller's bytes for tracing programs.
//!
//! # How a context is served
//!
//! The kernel rewrites every context load at load time
//! (`convert_ctx_access`), which it can do because its verifier knows
//! which register holds the context at each instruction. This engine has
//! no such knowledge before a run, so it serves the context at run time,
//! through the same memory model as every other access:
//!
//! ```text
//!   load r0, [ctx + 76]  --> region table: id 1 is *not mapped*
//!                              |  (the miss path, off the hot path)
//!                              v
//!                          RunContext::load(offset 76, size 4)
//!                              |  field table of the program type:
//!                              |  `data`, read, 4 bytes: allowed
//!                              v
//!                          0xa_0000_0000 (guest address of packet byte 0)
//! ```
//!
//! A served context is never in the region table, so a table hit (stack,
//! packet, map values) costs nothing more than before, and a JIT can keep
//! its one inline check: on a miss it calls the same out-of-line function
//! the interpreter does ([`Memory`](crate::Memory)'s load and store), which
//! consults the field table. One checked path, for both engines.
//!
//! The field table says, per program type, which offsets and sizes the
//! kernel's verifier accepts (`sk_filter_is_valid_access`,
//! `tc_cls_act_is_valid_access`, `xdp_is_valid_access`) and for writes
//! which fields; anything else stops the run with a
//! [`FaultCause::Context`](crate::FaultCause::Context) naming the field.
//! The kernel refuses such programs at load time; here the refusal comes
//! at the first run that reaches the access.
//!
//! Packet pointers (`data`, `data_end`, `data_meta`) are 32-bit fields in
//! the uapi structs but 64-bit pointers to the program, as in the kernel:
//! a 4-byte load of one gives the full guest address into the packet
//! region ([`RegionId::PACKET`](crate::RegionId::PACKET)), whose bounds are
//! exactly the packet's, so direct packet access is checked like any
//! other.
//!
//! # What each program type sees
//!
//! As `BPF_PROG_TEST_RUN` presents a frame (checked against Linux 6.18 in
//! `tests/kernel_diff.rs`):
//!
//! - SOCKET_FILTER: the kernel pulls the Ethernet header before the
//!   program runs, so packet offset 0 (`LD_ABS`, `skb_load_bytes`) is the
//!   network header and `len` is the frame's length less 14; the link
//!   header is still reachable with `bpf_skb_load_bytes_relative(..,
//!   BPF_HDR_START_MAC)`. No direct packet access.
//! - SCHED_CLS, SCHED_ACT: the whole frame from the Ethernet header.
//! - XDP: the whole frame, with 256 bytes of headroom in front for
//!   `bpf_xdp_adjust_head` and room behind for `bpf_xdp_adjust_tail`.
//!
//! In every `__sk_buff`: `protocol` is the ethertype as `eth_type_trans`
//! finds it, in network byte order; `pkt_type` from the destination MAC
//! against the loopback device's all-zero address; `ifindex` 1 (the test
//! run's loopback device); everything else 0 until the program writes it.
//! `sk` reads as NULL: no socket is modelled.
//!
//! Tracing types (TRACEPOINT, RAW_TRACEPOINT, KPROBE/UPROBE, PERF_EVENT)
//! get the caller's bytes as a read-only context region.

mod packet_helpers;
mod skb;
mod verdict;
mod xdp;

pub(crate) use packet_helpers::build;
pub use packet_helpers::{Redirect, id as helper_id, register_packet_helpers};
pub use verdict::Verdict;

use visor_isa::Size;
pub use visor_object::ProgramType;

use crate::memory::FaultCause;

/// How a program type's context is built, and which packet it sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContextKind {
    /// `struct __sk_buff` over a packet.
    Skb(SkbHook),
    /// `struct xdp_md` over a packet.
    Xdp,
    /// The caller's bytes, read-only (tracing program types).
    Record,
}

/// Where an `__sk_buff` program runs: decides what it may access and
/// where its packet starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkbHook {
    /// `BPF_PROG_TYPE_SOCKET_FILTER`: packet from the network header.
    SocketFilter,
    /// `BPF_PROG_TYPE_SCHED_CLS` and `SCHED_ACT`: the whole frame.
    Tc,
}

impl ContextKind {
    /// The context of `program_type`, or `None` for a type this engine
    /// does not run.
    pub fn of(program_type: ProgramType) -> Option<ContextKind> {
        use ProgramType as T;
        Some(match program_type {
            T::SocketFilter => ContextKind::Skb(SkbHook::SocketFilter),
            T::SchedCls | T::SchedAct => ContextKind::Skb(SkbHook::Tc),
            T::Xdp => ContextKind::Xdp,
            T::Tracepoint | T::RawTracepoint | T::Kprobe | T::PerfEvent => ContextKind::Record,
            _ => return None,
        })
    }

    /// Whether the program runs on a packet.
    pub fn has_packet(self) -> bool {
        !matches!(self, ContextKind::Record)
    }
}

/// The served context of one run: the uapi struct's stored fields, the
/// packet's geometry, and what the program asked of the packet's path.
#[derive(Debug)]
pub(crate) struct RunContext {
    pub(crate) kind: ContextKind,
    /// The uapi struct as bytes, little-endian; fields computed at access
    /// (`len`, the pointers) are not kept here.
    pub(crate) fields: Vec<u8>,
    /// Bytes before the packet region that the packet may grow into or
    /// that were pulled (the socket filter's link header, XDP headroom).
    pub(crate) head: Vec<u8>,
    /// XDP: metadata bytes at the start of the packet region, before
    /// `data`.
    pub(crate) meta_len: usize,
    /// Offset of the network header from `data` (14 for TC on Ethernet, 0
    /// for a socket filter).
    pub(crate) network: usize,
    /// Bytes after the packet the XDP tail may grow into.
    pub(crate) tailroom: usize,
    /// `bpf_redirect`'s target, the last one asked for.
    pub(crate) redirect: Option<Redirect>,
    /// Copies sent by `bpf_clone_redirect`.
    pub(crate) clones: Vec<(Redirect, Vec<u8>)>,
}

impl RunContext {
    /// Serves a load of `size` at `offset` of the context; `packet_len`
    /// is the packet region's current length.
    pub(crate) fn load(
        &self,
        offset: u32,
        size: Size,
        packet_len: usize,
    ) -> Result<u64, FaultCause> {
        match self.kind {
            ContextKind::Skb(hook) => skb::load(self, hook, offset, size, packet_len),
            ContextKind::Xdp => xdp::load(self, offset, size, packet_len),
            ContextKind::Record => Err(FaultCause::Unmapped),
        }
    }

    /// Serves a store of the low `size` bytes of `value` at `offset`.
    pub(crate) fn store(&mut self, offset: u32, size: Size, value: u64) -> Result<(), FaultCause> {
        match self.kind {
            ContextKind::Skb(hook) => skb::store(self, hook, offset, size, value),
            ContextKind::Xdp => Err(xdp::refuse_store(offset)),
            ContextKind::Record => Err(FaultCause::Unmapped),
        }
    }

    /// The guest address of packet byte `offset` (in the packet region).
    fn packet_addr(offset: usize) -> u64 {
        crate::RegionId::PACKET.addr(u32::try_from(offset).unwrap_or(u32::MAX))
    }

    /// The stored bytes at `range` as a little-endian number.
    fn stored(&self, at: usize, len: usize) -> u64 {
        let mut word = [0u8; 8];
        if let Some(bytes) = self.fields.get(at..at + len) {
            word[..len].copy_from_slice(bytes);
        }
        u64::from_le_bytes(word)
    }
}

/// The `size` bytes at `byte` of a field's little-endian `value`: what a
/// narrow load of a wider field reads.
fn narrow(value: u64, byte: usize, size: Size) -> u64 {
    let shifted = value >> (8 * byte.min(7));
    match size {
        Size::DW => shifted,
        size => shifted & ((1u64 << (8 * size.bytes())) - 1),
    }
}
