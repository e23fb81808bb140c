//! Packet bytes by offset: `bpf_skb_store_bytes` (9) and
//! `bpf_skb_load_bytes` (26).
//!
//! The packet is the run's packet region (the one `LD_ABS` reads: the
//! input of [`Interpreter::run`], or [`RunInput::with_packet`]); the `skb`
//! argument is not looked at. An offset and length that do not fit in the
//! packet are `-EFAULT`, as the kernel's are past `skb->len`; so is a
//! store into a packet the embedder mapped read-only (the kernel can
//! always make the skb writable, an embedder can refuse). The flags
//! `BPF_F_RECOMPUTE_CSUM` and `BPF_F_INVALIDATE_HASH` of a store are
//! accepted and mean nothing here: there is no `skb->csum` or hash.
//!
//! [`Interpreter::run`]: crate::Interpreter::run
//! [`RunInput::with_packet`]: crate::RunInput::with_packet

use super::{Helpers, Outcome, failed, ids, read_vec, returned, size_arg, write_bytes};
use crate::maps::Errno;
use crate::memory::Memory;

/// `BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH`.
const STORE_FLAGS: u64 = 0b11;
/// Offsets past `INT_MAX` are refused before anything else.
const MAX_OFFSET: u64 = i32::MAX as u64;

pub(super) fn register(helpers: &mut Helpers) {
    helpers.register(ids::SKB_STORE_BYTES, "skb_store_bytes", skb_store_bytes);
    helpers.register(ids::SKB_LOAD_BYTES, "skb_load_bytes", skb_load_bytes);
}

/// The guest address of packet bytes `offset..offset + len`, or `EFAULT`
/// when they are not all in the packet.
pub(crate) fn packet_range(memory: &Memory<'_>, offset: u64, len: usize) -> Result<u64, Errno> {
    let (base, packet_len) = memory.packet_span().ok_or(Errno::EFAULT)?;
    let end = offset.checked_add(len as u64).ok_or(Errno::EFAULT)?;
    if offset > MAX_OFFSET || end > packet_len as u64 {
        return Err(Errno::EFAULT);
    }
    Ok(base + offset)
}

/// `(skb, offset, from, len, flags)`: 0, `-EINVAL` for unknown flags, or
/// `-EFAULT`.
fn skb_store_bytes(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let [_, offset, from, len, flags] = args;
    if flags & !STORE_FLAGS != 0 {
        return failed(Errno::EINVAL);
    }
    let len = size_arg(len, 4)?;
    let at = match packet_range(memory, offset, len) {
        Ok(at) => at,
        Err(errno) => return failed(errno),
    };
    let bytes = read_vec(memory, from, len)?;
    if len == 0 {
        return returned(0);
    }
    match memory.bytes_mut(at, len) {
        Ok(packet) => {
            packet.copy_from_slice(&bytes);
            returned(0)
        }
        Err(_) => failed(Errno::EFAULT),
    }
}

/// `(skb, offset, to, len)`: 0, or `-EFAULT` with `to` zeroed.
fn skb_load_bytes(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let [_, offset, to, len, _] = args;
    let len = size_arg(len, 4)?;
    let copied = packet_range(memory, offset, len)
        .and_then(|at| read_vec(memory, at, len).map_err(|_| Errno::EFAULT));
    match copied {
        Ok(bytes) => {
            write_bytes(memory, to, &bytes)?;
            returned(0)
        }
        Err(errno) => {
            write_bytes(memory, to, &vec![0; len])?;
            failed(errno)
        }
    }
}
