//! Internet checksums (RFC 1071): `bpf_csum_diff` (28),
//! `bpf_l3_csum_replace` (10) and `bpf_l4_csum_replace` (11).
//!
//! Checksums are ones' complement sums of 16-bit words as the host reads
//! them (little-endian, like the x86-64 kernel: the bytes stay in network
//! order, so the stored checksum comes out right). Values passed as
//! `from`/`to` are what a program loaded from the packet, in the same
//! order.
//!
//! The packet is modelled as the kernel's `CHECKSUM_NONE` skb: no
//! hardware offload, no `skb->csum`. So `BPF_F_PSEUDO_HDR` changes
//! nothing here (in the kernel it only updates `skb->csum` of
//! `CHECKSUM_COMPLETE` packets, or the seed of `CHECKSUM_PARTIAL` ones),
//! and `BPF_F_IPV6` is accepted for the same reason.
//!
//! `bpf_csum_diff` follows Linux 6.12 and later: sizes must be multiples
//! of 4, and the result is folded to 16 bits (`csum_from32to16`) on every
//! architecture.

use super::packet::packet_range;
use super::{Helpers, Outcome, failed, ids, read_vec, returned, size_arg};
use crate::maps::Errno;
use crate::memory::Memory;

/// `BPF_F_HDR_FIELD_MASK`: the size of the replaced field, 0, 2 or 4.
const FIELD_MASK: u64 = 0xf;
/// `BPF_F_PSEUDO_HDR`.
const PSEUDO_HDR: u64 = 1 << 4;
/// `BPF_F_MARK_MANGLED_0`: a zero result is stored as `0xffff` (UDP).
const MARK_MANGLED_0: u64 = 1 << 5;
/// `BPF_F_MARK_ENFORCE`: update even a zero (absent) UDP checksum.
const MARK_ENFORCE: u64 = 1 << 6;
/// `BPF_F_IPV6` (Linux 6.16).
const IPV6: u64 = 1 << 7;
/// `CSUM_MANGLED_0`.
const MANGLED_0: u16 = 0xffff;

pub(super) fn register(helpers: &mut Helpers) {
    helpers.register(ids::CSUM_DIFF, "csum_diff", csum_diff);
    helpers.register(ids::L3_CSUM_REPLACE, "l3_csum_replace", l3_csum_replace);
    helpers.register(ids::L4_CSUM_REPLACE, "l4_csum_replace", l4_csum_replace);
}

/// `csum_add`: 32-bit ones' complement addition (end-around carry).
pub(crate) fn add(a: u32, b: u32) -> u32 {
    let (sum, carry) = a.overflowing_add(b);
    sum.wrapping_add(u32::from(carry))
}

/// `csum_sub`.
pub(crate) fn sub(a: u32, b: u32) -> u32 {
    add(a, !b)
}

/// `csum_partial`: the 32-bit ones' complement sum of `bytes` as
/// little-endian 16-bit words (a last odd byte is a low byte), plus
/// `seed`.
pub(crate) fn partial(bytes: &[u8], seed: u32) -> u32 {
    let mut sum = u64::from(seed);
    let mut words = bytes.chunks_exact(2);
    for word in &mut words {
        sum += u64::from(u16::from_le_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last);
    }
    // Fold 64 to 32 bits twice: the first fold may carry once more.
    for _ in 0..2 {
        sum = (sum & 0xffff_ffff) + (sum >> 32);
    }
    sum as u32
}

/// `csum_fold`: 32 to 16 bits, complemented: the value stored in a
/// header.
pub(crate) fn fold(sum: u32) -> u16 {
    let mut sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// `csum_from32to16`: 32 to 16 bits, not complemented.
fn from32to16(sum: u32) -> u16 {
    let sum = sum.wrapping_add(sum.rotate_left(16));
    (sum >> 16) as u16
}

/// `(from, from_size, to, to_size, seed)`: the checksum of `to` minus that
/// of `from`, plus `seed`, folded to 16 bits; `-EINVAL` for sizes that are
/// not multiples of 4.
fn csum_diff(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let [from, from_size, to, to_size, seed] = args;
    if (from_size | to_size) & 3 != 0 {
        return failed(Errno::EINVAL);
    }
    let seed = seed as u32;
    let read = |addr, size, reg| -> Result<Vec<u8>, super::HelperError> {
        Ok(read_vec(memory, addr, size_arg(size, reg)?)?)
    };
    let (from, to) = (read(from, from_size, 2)?, read(to, to_size, 4)?);
    let sum = match (from.is_empty(), to.is_empty()) {
        (false, false) => sub(partial(&to, seed), partial(&from, 0)),
        (true, false) => partial(&to, seed),
        (false, true) => !partial(&from, !seed),
        (true, true) => return returned(seed.into()),
    };
    returned(from32to16(sum).into())
}

/// The checksum field at packet `offset`: its address and value, or
/// `EFAULT` (odd offset, past 64 KiB, outside the packet, read-only).
fn field(memory: &mut Memory<'_>, offset: u64) -> Result<(u64, u16), Errno> {
    if offset > 0xffff || offset & 1 != 0 {
        return Err(Errno::EFAULT);
    }
    let at = packet_range(memory, offset, 2)?;
    let bytes = memory.bytes_mut(at, 2).map_err(|_| Errno::EFAULT)?;
    Ok((at, u16::from_le_bytes([bytes[0], bytes[1]])))
}

/// `csum16_add`: 16-bit ones' complement addition.
fn add16(a: u16, b: u16) -> u16 {
    let (sum, carry) = a.overflowing_add(b);
    sum.wrapping_add(u16::from(carry))
}

/// The new checksum after a field of `size` bytes changed from `from` to
/// `to` (`size` 0: `to` is a difference from `bpf_csum_diff`).
fn replaced(check: u16, size: u64, from: u64, to: u64, l4: bool) -> Result<u16, Errno> {
    let unfolded = !u32::from(check);
    Ok(match size {
        0 if from != 0 => return Err(Errno::EINVAL),
        0 => fold(add(to as u32, unfolded)),
        // csum_replace2: 16-bit arithmetic throughout.
        2 if !l4 => !add16(add16(!check, !(from as u16)), to as u16),
        // inet_proto_csum_replace2 widens to 32 bits and goes on as 4.
        2 | 4 => {
            let width = if size == 2 { 0xffff } else { 0xffff_ffff };
            let (from, to) = ((from & width) as u32, (to & width) as u32);
            if l4 {
                let mut diff = [0u8; 8];
                diff[..4].copy_from_slice(&(!from).to_le_bytes());
                diff[4..].copy_from_slice(&to.to_le_bytes());
                fold(partial(&diff, unfolded))
            } else {
                fold(add(sub(unfolded, from), to))
            }
        }
        _ => return Err(Errno::EINVAL),
    })
}

/// `(skb, offset, from, to, size)`: 0, `-EINVAL` or `-EFAULT`.
fn l3_csum_replace(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let [_, offset, from, to, flags] = args;
    if flags & !FIELD_MASK != 0 {
        return failed(Errno::EINVAL);
    }
    let result = field(memory, offset)
        .and_then(|(at, check)| Ok((at, replaced(check, flags & FIELD_MASK, from, to, false)?)));
    store(memory, result)
}

/// `(skb, offset, from, to, flags)`: 0, `-EINVAL` or `-EFAULT`.
fn l4_csum_replace(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let [_, offset, from, to, flags] = args;
    let known = FIELD_MASK | PSEUDO_HDR | MARK_MANGLED_0 | MARK_ENFORCE | IPV6;
    if flags & !known != 0 {
        return failed(Errno::EINVAL);
    }
    let mangled_zero = flags & MARK_MANGLED_0 != 0;
    let (at, check) = match field(memory, offset) {
        Ok(found) => found,
        Err(errno) => return failed(errno),
    };
    // A zero UDP checksum means "none": leave it unless enforced.
    if mangled_zero && flags & MARK_ENFORCE == 0 && check == 0 {
        return returned(0);
    }
    let result = replaced(check, flags & FIELD_MASK, from, to, true).map(|new| {
        let new = if mangled_zero && new == 0 {
            MANGLED_0
        } else {
            new
        };
        (at, new)
    });
    store(memory, result)
}

fn store(memory: &mut Memory<'_>, result: Result<(u64, u16), Errno>) -> Outcome {
    match result {
        Ok((at, check)) => {
            memory.write(at, &check.to_le_bytes())?;
            returned(0)
        }
        Err(errno) => failed(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_and_partial_follow_rfc_1071() {
        // RFC 1071 section 3's example: words 0001 f203 f4f5 f6f7 sum to
        // ddf2 (big-endian view), so the checksum is 220d.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let check = fold(partial(&bytes, 0));
        assert_eq!(check.to_le_bytes(), [0x22, 0x0d]);
        assert_eq!(from32to16(0x0001_ffff), 0x0001);
        assert_eq!(add(0xffff_ffff, 1), 1);
    }
}
