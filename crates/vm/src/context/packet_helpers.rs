//! The helpers that depend on the packet model: reading relative to a
//! header, resizing (`skb_change_proto`, `skb_adjust_room`,
//! `xdp_adjust_head`, `xdp_adjust_tail`) and redirecting
//! (`redirect`, `clone_redirect`). Numbered and behaving as in the kernel's
//! `net/core/filter.c`; errors are the kernel's negative errnos in r0.

use super::{ContextKind, RunContext, SkbHook, skb, xdp};
use crate::helpers::{HelperError, HelperOutcome, Helpers};
use crate::layout::RegionId;
use crate::memory::Memory;
use crate::region::Region;

/// Helper ids (`enum bpf_func_id`).
pub mod id {
    /// `bpf_clone_redirect(skb, ifindex, flags)`.
    pub const CLONE_REDIRECT: u32 = 13;
    /// `bpf_redirect(ifindex, flags)`.
    pub const REDIRECT: u32 = 23;
    /// `bpf_skb_change_proto(skb, proto, flags)`.
    pub const SKB_CHANGE_PROTO: u32 = 31;
    /// `bpf_xdp_adjust_head(xdp, delta)`.
    pub const XDP_ADJUST_HEAD: u32 = 44;
    /// `bpf_skb_adjust_room(skb, len_diff, mode, flags)`.
    pub const SKB_ADJUST_ROOM: u32 = 50;
    /// `bpf_xdp_adjust_tail(xdp, delta)`.
    pub const XDP_ADJUST_TAIL: u32 = 65;
    /// `bpf_skb_load_bytes_relative(skb, offset, to, len, start_header)`.
    pub const SKB_LOAD_BYTES_RELATIVE: u32 = 68;
}

const EFAULT: i64 = 14;
const EINVAL: i64 = 22;
const ENOTSUPP: i64 = 524;
const BPF_F_INGRESS: u64 = 1;
const TC_ACT_SHOT: u64 = 2;
const TC_ACT_REDIRECT: u64 = 7;
const XDP_ABORTED: u64 = 0;
const XDP_REDIRECT: u64 = 4;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
/// Every `BPF_F_ADJ_ROOM_*` flag, the L2 length included.
const ADJ_ROOM_MASK: u64 = 0x1ff | (0xff << 56);

/// Where a program asked the packet to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Redirect {
    /// The target device.
    pub ifindex: u32,
    /// `BPF_F_INGRESS`: to the device's receive path instead of out of it.
    pub ingress: bool,
}

/// Registers the packet helpers `kind` can call, at ids still free.
pub fn register_packet_helpers(helpers: &mut Helpers, kind: ContextKind) {
    let mut add =
        |id, name: &str, call: fn([u64; 5], &mut Memory<'_>) -> Result<u64, HelperError>| {
            if helpers.name(id).is_none() {
                helpers.register(id, name, move |args, memory| {
                    call(args, memory).map(HelperOutcome::Return)
                });
            }
        };
    match kind {
        ContextKind::Skb(hook) => {
            add(
                id::SKB_LOAD_BYTES_RELATIVE,
                "skb_load_bytes_relative",
                load_bytes_relative,
            );
            if hook == SkbHook::Tc {
                add(id::SKB_CHANGE_PROTO, "skb_change_proto", change_proto);
                add(id::SKB_ADJUST_ROOM, "skb_adjust_room", adjust_room);
                add(id::CLONE_REDIRECT, "clone_redirect", clone_redirect);
                add(id::REDIRECT, "redirect", |args, memory| {
                    redirect(args, memory, false)
                });
            }
        }
        ContextKind::Xdp => {
            add(id::XDP_ADJUST_HEAD, "xdp_adjust_head", adjust_head);
            add(id::XDP_ADJUST_TAIL, "xdp_adjust_tail", adjust_tail);
            add(id::REDIRECT, "redirect", |args, memory| {
                redirect(args, memory, true)
            });
        }
        ContextKind::Record => {}
    }
}

fn errno(code: i64) -> u64 {
    (-code) as u64
}

fn no_packet() -> HelperError {
    HelperError::BadArgument {
        reg: 1,
        value: RegionId::CONTEXT.addr(0),
        reason: "the run has no packet context",
    }
}

/// The run's context and its packet region's bytes, taken out for a
/// helper that reshapes them; [`put_back`] maps them again.
fn take(memory: &mut Memory<'_>) -> Result<(Box<RunContext>, Vec<u8>), HelperError> {
    let context = memory.context.take().ok_or_else(no_packet)?;
    let packet = memory
        .unmap(RegionId::PACKET)
        .map(|region| region.into_owned().into_vec())
        .unwrap_or_default();
    Ok((context, packet))
}

fn put_back(memory: &mut Memory<'_>, context: Box<RunContext>, packet: Vec<u8>) {
    memory.map(RegionId::PACKET, Region::owned(packet.into_boxed_slice()));
    memory.set_packet(RegionId::PACKET);
    memory.context = Some(context);
}

/// `bpf_skb_load_bytes_relative`: `len` bytes from `offset` past the MAC
/// (0) or network (1) header; on failure `to` is zeroed and r0 is -EFAULT.
fn load_bytes_relative(args: [u64; 5], memory: &mut Memory<'_>) -> Result<u64, HelperError> {
    let [_, offset, to, len, start] = args;
    let (offset, len) = (offset as u32 as usize, len as u32 as usize);
    let context = memory.context.as_deref().ok_or_else(no_packet)?;
    // The link header a socket filter's skb was pulled past is in `head`.
    let base = match start as u32 {
        0 => Some(0),
        1 => Some(context.head.len() + context.network),
        _ => None,
    };
    let packet = memory
        .region(RegionId::PACKET)
        .map_or(&[][..], Region::bytes);
    let found = base.and_then(|base| {
        let at = base.checked_add(offset)?;
        let from_head = context.head.get(at..).unwrap_or_default();
        let from_packet = packet.get(at.saturating_sub(context.head.len())..)?;
        let mut bytes = Vec::with_capacity(len);
        bytes.extend(from_head.iter().chain(from_packet).take(len));
        (bytes.len() == len).then_some(bytes)
    });
    match found {
        Some(bytes) => {
            memory.write(to, &bytes)?;
            Ok(0)
        }
        None => {
            memory.write(to, &vec![0; len])?;
            Ok(errno(EFAULT))
        }
    }
}

/// The current `skb->protocol` as the program compares it (network order
/// read as a little-endian u16).
fn protocol(context: &RunContext) -> u16 {
    let at = skb::field::PROTOCOL;
    context
        .fields
        .get(at..at + 2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
}

fn set_protocol(context: &mut RunContext, protocol: u16) {
    let at = skb::field::PROTOCOL;
    if let Some(slot) = context.fields.get_mut(at..at + 2) {
        slot.copy_from_slice(&protocol.to_be_bytes());
    }
}

/// Inserts `len` zero bytes at `at`, or removes `len` bytes there.
fn resize_at(packet: &mut Vec<u8>, at: usize, len: usize, grow: bool) -> bool {
    if grow {
        if at > packet.len() {
            return false;
        }
        packet.splice(at..at, core::iter::repeat_n(0, len));
        true
    } else {
        match at.checked_add(len) {
            Some(end) if end <= packet.len() => {
                packet.drain(at..end);
                true
            }
            _ => false,
        }
    }
}

/// `bpf_skb_change_proto`: IPv4 to IPv6 makes 20 bytes of room after the
/// link header, IPv6 to IPv4 removes 20; the program writes the headers.
fn change_proto(args: [u64; 5], memory: &mut Memory<'_>) -> Result<u64, HelperError> {
    let [_, proto, flags, ..] = args;
    if flags != 0 {
        return Ok(errno(EINVAL));
    }
    let to = u16::from_be(proto as u16);
    let (mut context, mut packet) = take(memory)?;
    let from = protocol(&context);
    let grow = match (from, to) {
        (ETH_P_IP, ETH_P_IPV6) => Some(true),
        (ETH_P_IPV6, ETH_P_IP) => Some(false),
        _ => None,
    };
    let result = match grow {
        Some(grow) if resize_at(&mut packet, context.network, 20, grow) => {
            set_protocol(&mut context, to);
            0
        }
        Some(_) => errno(ENOTSUPP),
        None => errno(ENOTSUPP),
    };
    put_back(memory, context, packet);
    Ok(result)
}

/// `bpf_skb_adjust_room`: room after the link header (`BPF_ADJ_ROOM_MAC`)
/// or after the fixed network header (`BPF_ADJ_ROOM_NET`).
fn adjust_room(args: [u64; 5], memory: &mut Memory<'_>) -> Result<u64, HelperError> {
    let [_, len_diff, mode, flags, _] = args;
    let len_diff = len_diff as u32 as i32;
    let (abs, grow) = (len_diff.unsigned_abs() as usize, len_diff >= 0);
    if flags & !ADJ_ROOM_MASK != 0 {
        return Ok(errno(EINVAL));
    }
    if abs > 0xfff {
        return Ok(errno(EFAULT));
    }
    let (context, mut packet) = take(memory)?;
    let base_len = match protocol(&context) {
        ETH_P_IP => Some(20),
        ETH_P_IPV6 => Some(40),
        _ => None,
    };
    let at = match (base_len, mode as u32) {
        (Some(base), 0) => Some(context.network + base),
        (Some(_), 1) => Some(context.network),
        _ => None,
    };
    let network_len = packet.len().saturating_sub(context.network);
    let result = match (at, base_len) {
        (Some(at), Some(min)) => {
            let too_short = !grow && (abs >= network_len || network_len - abs < min);
            if !too_short && resize_at(&mut packet, at, abs, grow) {
                0
            } else {
                errno(ENOTSUPP)
            }
        }
        _ => errno(ENOTSUPP),
    };
    put_back(memory, context, packet);
    Ok(result)
}

/// `bpf_xdp_adjust_head`: moves `data` by `delta` within the headroom
/// (keeping room for the kernel's `xdp_frame`) and at least an Ethernet
/// header before `data_end`; metadata moves with it.
fn adjust_head(args: [u64; 5], memory: &mut Memory<'_>) -> Result<u64, HelperError> {
    const XDP_FRAME: usize = 40;
    let delta = i64::from(args[1] as u32 as i32);
    let (mut context, packet) = take(memory)?;
    let head_len = context.head.len();
    let data = (head_len + context.meta_len) as i64;
    let end = (head_len + packet.len()) as i64;
    let new_data = data + delta;
    if new_data < (XDP_FRAME + context.meta_len) as i64 || new_data > end - skb::ETH_HLEN as i64 {
        put_back(memory, context, packet);
        return Ok(errno(EINVAL));
    }
    let mut full = core::mem::take(&mut context.head);
    full.extend_from_slice(&packet);
    let meta_start = (new_data as usize) - context.meta_len;
    let packet = full.split_off(meta_start);
    context.head = full;
    put_back(memory, context, packet);
    Ok(0)
}

/// `bpf_xdp_adjust_tail`: moves `data_end` by `delta`; grown bytes are
/// zero, and at least an Ethernet header stays.
fn adjust_tail(args: [u64; 5], memory: &mut Memory<'_>) -> Result<u64, HelperError> {
    let delta = i64::from(args[1] as u32 as i32);
    let (mut context, mut packet) = take(memory)?;
    let data_len = packet.len() - context.meta_len;
    let new_len = data_len as i64 + delta;
    let fits = if delta > 0 {
        delta as usize <= context.tailroom
    } else {
        new_len >= skb::ETH_HLEN as i64
    };
    if !fits {
        put_back(memory, context, packet);
        return Ok(errno(EINVAL));
    }
    let new_total = (context.meta_len as i64 + new_len) as usize;
    context.tailroom = (context.tailroom as i64 - delta) as usize;
    packet.resize(new_total, 0);
    put_back(memory, context, packet);
    Ok(0)
}

/// `bpf_redirect`: records the target; TC gets `TC_ACT_REDIRECT` (or
/// `TC_ACT_SHOT` for unknown flags), XDP `XDP_REDIRECT` (or
/// `XDP_ABORTED` for any flag).
fn redirect(args: [u64; 5], memory: &mut Memory<'_>, xdp: bool) -> Result<u64, HelperError> {
    let [ifindex, flags, ..] = args;
    let context = memory.context.as_deref_mut().ok_or_else(no_packet)?;
    if xdp && flags != 0 {
        return Ok(XDP_ABORTED);
    }
    if !xdp && flags & !BPF_F_INGRESS != 0 {
        return Ok(TC_ACT_SHOT);
    }
    context.redirect = Some(Redirect {
        ifindex: ifindex as u32,
        ingress: flags & BPF_F_INGRESS != 0,
    });
    Ok(if xdp { XDP_REDIRECT } else { TC_ACT_REDIRECT })
}

/// `bpf_clone_redirect`: a copy of the packet as it is now goes to
/// `ifindex` (recorded in the run's outcome); the program continues.
fn clone_redirect(args: [u64; 5], memory: &mut Memory<'_>) -> Result<u64, HelperError> {
    let [_, ifindex, flags, ..] = args;
    if flags & !BPF_F_INGRESS != 0 || ifindex as u32 == 0 {
        return Ok(errno(EINVAL));
    }
    let copy = memory.packet().to_vec();
    let context = memory.context.as_deref_mut().ok_or_else(no_packet)?;
    let mut frame = context.head.clone();
    if matches!(context.kind, ContextKind::Xdp) {
        frame.clear();
    }
    frame.extend_from_slice(&copy);
    context.clones.push((
        Redirect {
            ifindex: ifindex as u32,
            ingress: flags & BPF_F_INGRESS != 0,
        },
        frame,
    ));
    Ok(0)
}

/// Builds the context and packet of `kind` for `frame`.
pub(crate) fn build(kind: ContextKind, frame: &[u8]) -> Option<(RunContext, Vec<u8>)> {
    match kind {
        ContextKind::Skb(hook) => Some(skb::build(hook, frame)),
        ContextKind::Xdp => Some(xdp::build(frame)),
        ContextKind::Record => None,
    }
}
