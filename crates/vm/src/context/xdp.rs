//! `struct xdp_md` (uapi `linux/bpf.h`): six read-only 32-bit fields, the
//! kernel's `xdp_is_valid_access` rules, and the values of a test run.

use visor_isa::Size;

use super::{ContextKind, RunContext};
use crate::memory::FaultCause;

/// Size of `struct xdp_md`.
pub(crate) const SIZE: usize = 24;
/// Headroom in front of the frame (`XDP_PACKET_HEADROOM`).
pub(crate) const HEADROOM: usize = 256;
/// The frame buffer of a test run: one page, with `skb_shared_info`'s 320
/// bytes reserved at its end.
pub(crate) const FRAME_SIZE: usize = 4096;
/// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))`.
pub(crate) const TAIL_RESERVE: usize = 320;

const NAMES: [&str; 6] = [
    "data",
    "data_end",
    "data_meta",
    "ingress_ifindex",
    "rx_queue_index",
    "egress_ifindex",
];

fn name(offset: u32) -> &'static str {
    NAMES.get(offset as usize / 4).copied().unwrap_or("xdp_md")
}

/// Serves a load.
pub(super) fn load(
    context: &RunContext,
    offset: u32,
    size: Size,
    packet_len: usize,
) -> Result<u64, FaultCause> {
    let field = name(offset);
    let refuse = |rule| Err(FaultCause::Context { field, rule });
    if offset as usize >= SIZE {
        return refuse("past the end of struct xdp_md (24 bytes)");
    }
    if size != Size::W || !offset.is_multiple_of(4) {
        return refuse("xdp_md fields are read with aligned 4-byte loads");
    }
    Ok(match offset {
        0 => RunContext::packet_addr(context.meta_len),
        4 => RunContext::packet_addr(packet_len),
        8 => RunContext::packet_addr(0),
        // The test run's loopback device, queue 0.
        12 => 1,
        16 => 0,
        _ => return refuse("only for programs attached to a DEVMAP entry"),
    })
}

/// Every `xdp_md` field is read-only.
pub(super) fn refuse_store(offset: u32) -> FaultCause {
    FaultCause::Context {
        field: name(offset),
        rule: "xdp_md is read-only",
    }
}

/// The `xdp_md` of `frame`, and its packet region (the frame itself).
pub(crate) fn build(frame: &[u8]) -> (RunContext, Vec<u8>) {
    let tailroom = FRAME_SIZE.saturating_sub(HEADROOM + TAIL_RESERVE + frame.len());
    let context = RunContext {
        kind: ContextKind::Xdp,
        fields: vec![0; SIZE],
        head: vec![0; HEADROOM],
        meta_len: 0,
        network: 14,
        tailroom,
        redirect: None,
        clones: Vec::new(),
    };
    (context, frame.to_vec())
}
