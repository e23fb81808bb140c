//! `struct __sk_buff` (uapi `linux/bpf.h`): its fields, what each program
//! type may read and write (the kernel's `bpf_skb_is_valid_access` with
//! `sk_filter_is_valid_access` and `tc_cls_act_is_valid_access` on top),
//! and the values a frame gives them.

use visor_isa::Size;

use super::{ContextKind, RunContext, SkbHook, narrow};
use crate::memory::FaultCause;

/// Size of `struct __sk_buff`.
pub(crate) const SIZE: usize = 192;
/// Ethernet header length.
pub(crate) const ETH_HLEN: usize = 14;

/// Byte offsets of the fields (uapi order).
pub(crate) mod field {
    pub const LEN: usize = 0;
    pub const PKT_TYPE: usize = 4;
    pub const PROTOCOL: usize = 16;
    pub const IFINDEX: usize = 40;
    pub const CB: usize = 48;
    pub const DATA: usize = 76;
    pub const DATA_END: usize = 80;
    pub const FAMILY: usize = 88;
    pub const LOCAL_PORT: usize = 136;
    pub const DATA_META: usize = 140;
    pub const FLOW_KEYS: usize = 144;
    pub const TSTAMP: usize = 152;
    pub const WIRE_LEN: usize = 160;
    pub const SK: usize = 168;
    pub const TSTAMP_TYPE: usize = 180;
    pub const HWTSTAMP: usize = 184;
}

/// One field: name, offset, width (4 or 8).
#[derive(Debug)]
struct Field {
    name: &'static str,
    at: usize,
    width: usize,
}

const fn f(name: &'static str, at: usize, width: usize) -> Field {
    Field { name, at, width }
}

/// Every field, in order; `cb`, `remote_ip6` and `local_ip6` by element.
const FIELDS: &[Field] = &[
    f("len", 0, 4),
    f("pkt_type", 4, 4),
    f("mark", 8, 4),
    f("queue_mapping", 12, 4),
    f("protocol", 16, 4),
    f("vlan_present", 20, 4),
    f("vlan_tci", 24, 4),
    f("vlan_proto", 28, 4),
    f("priority", 32, 4),
    f("ingress_ifindex", 36, 4),
    f("ifindex", 40, 4),
    f("tc_index", 44, 4),
    f("cb[0]", 48, 4),
    f("cb[1]", 52, 4),
    f("cb[2]", 56, 4),
    f("cb[3]", 60, 4),
    f("cb[4]", 64, 4),
    f("hash", 68, 4),
    f("tc_classid", 72, 4),
    f("data", 76, 4),
    f("data_end", 80, 4),
    f("napi_id", 84, 4),
    f("family", 88, 4),
    f("remote_ip4", 92, 4),
    f("local_ip4", 96, 4),
    f("remote_ip6[0]", 100, 4),
    f("remote_ip6[1]", 104, 4),
    f("remote_ip6[2]", 108, 4),
    f("remote_ip6[3]", 112, 4),
    f("local_ip6[0]", 116, 4),
    f("local_ip6[1]", 120, 4),
    f("local_ip6[2]", 124, 4),
    f("local_ip6[3]", 128, 4),
    f("remote_port", 132, 4),
    f("local_port", 136, 4),
    f("data_meta", 140, 4),
    f("flow_keys", 144, 8),
    f("tstamp", 152, 8),
    f("wire_len", 160, 4),
    f("gso_segs", 164, 4),
    f("sk", 168, 8),
    f("gso_size", 176, 4),
    f("tstamp_type", 180, 1),
    f("(padding)", 181, 3),
    f("hwtstamp", 184, 8),
];

/// The field holding byte `offset`.
fn field_at(offset: usize) -> Option<&'static Field> {
    FIELDS
        .iter()
        .find(|field| (field.at..field.at + field.width).contains(&offset))
}

/// Checks an access against the kernel's rules for `hook`; returns the
/// field on success and the rule broken otherwise.
fn check(
    hook: SkbHook,
    offset: usize,
    size: usize,
    write: bool,
) -> Result<&'static Field, (&'static str, &'static str)> {
    let field =
        field_at(offset).ok_or(("__sk_buff", "past the end of struct __sk_buff (192 bytes)"))?;
    let refuse = |rule| Err((field.name, rule));
    if !offset.is_multiple_of(size) {
        return refuse("the offset must be a multiple of the access size");
    }
    let at = field.at;
    // Per program type, before the common rules.
    let hidden = match hook {
        SkbHook::SocketFilter => {
            matches!(
                at,
                field::DATA
                    | field::DATA_END
                    | field::DATA_META
                    | field::TSTAMP
                    | field::WIRE_LEN
                    | field::HWTSTAMP
                    | 72
            ) || (field::FAMILY..=field::LOCAL_PORT).contains(&at)
        }
        SkbHook::Tc => (field::FAMILY..=field::LOCAL_PORT).contains(&at),
    };
    if hidden {
        return refuse("not accessible to this program type");
    }
    if write {
        let writable = match hook {
            SkbHook::SocketFilter => (field::CB..field::CB + 20).contains(&at),
            // mark, queue_mapping, priority, tc_index, cb, tc_classid, tstamp
            SkbHook::Tc => {
                matches!(at, 8 | 12 | 32 | 44 | 72 | field::TSTAMP)
                    || (field::CB..field::CB + 20).contains(&at)
            }
        };
        if !writable {
            return refuse("read-only for this program type");
        }
    }
    match at {
        field::DATA | field::DATA_END | field::DATA_META if size != 4 => {
            refuse("a packet pointer is read with a 4-byte load")
        }
        field::TSTAMP_TYPE if hook == SkbHook::Tc && !write && size == 1 => Ok(field),
        field::FLOW_KEYS | field::TSTAMP_TYPE | 181 => refuse("not accessible"),
        field::HWTSTAMP if write || size != 8 => refuse("read only, with an 8-byte load"),
        field::TSTAMP if size != 8 => refuse("accessed with 8-byte loads and stores"),
        field::SK if write || size != 8 => refuse("read only, with an 8-byte load"),
        field::HWTSTAMP | field::TSTAMP | field::SK => Ok(field),
        _ if (field::CB..field::CB + 20).contains(&at) => {
            // cb[] may be accessed as bytes, halves, words, or double
            // words within the array.
            if offset + size > field::CB + 20 {
                refuse("past the end of cb[]")
            } else {
                Ok(field)
            }
        }
        _ if write && size != 4 => refuse("written with 4-byte stores"),
        _ if size > 4 => refuse("read with loads of at most 4 bytes"),
        _ => Ok(field),
    }
}

/// Serves a load.
pub(super) fn load(
    context: &RunContext,
    hook: SkbHook,
    offset: u32,
    size: Size,
    packet_len: usize,
) -> Result<u64, FaultCause> {
    let offset = offset as usize;
    let field = check(hook, offset, size.bytes(), false)
        .map_err(|(field, rule)| FaultCause::Context { field, rule })?;
    let value = match field.at {
        // Pointers are whole 64-bit guest addresses, as the kernel's
        // rewritten loads give.
        field::DATA => return Ok(RunContext::packet_addr(context.meta_len)),
        field::DATA_META => return Ok(RunContext::packet_addr(0)),
        field::DATA_END => return Ok(RunContext::packet_addr(packet_len)),
        // No socket is modelled: NULL, which programs must check for.
        field::SK => return Ok(0),
        // cb[] is read as plain bytes, whatever the width.
        at if (field::CB..field::CB + 20).contains(&at) => {
            return Ok(context.stored(offset, size.bytes()));
        }
        field::LEN => packet_len.saturating_sub(context.meta_len) as u64,
        at => context.stored(at, field.width),
    };
    // The kernel loads the sk_buff member at its own width and shifts a
    // narrow load into place only when the load is narrower than that
    // member: so a 2-byte load of the upper half of `pkt_type` (a 3-bit
    // member) still reads the whole value.
    if size.bytes() >= member_width(field.at) {
        Ok(value)
    } else {
        Ok(narrow(value, offset - field.at, size))
    }
}

/// Width of the kernel `sk_buff` member behind a field, where it is
/// narrower than the field.
fn member_width(at: usize) -> usize {
    match at {
        field::PKT_TYPE | 20 => 1,
        12 | field::PROTOCOL | 24 | 28 | 44 | 72 | 164 | 176 => 2,
        _ => 8,
    }
}

/// Serves a store.
pub(super) fn store(
    context: &mut RunContext,
    hook: SkbHook,
    offset: u32,
    size: Size,
    value: u64,
) -> Result<(), FaultCause> {
    let offset = offset as usize;
    check(hook, offset, size.bytes(), true)
        .map_err(|(field, rule)| FaultCause::Context { field, rule })?;
    let bytes = value.to_le_bytes();
    if let Some(slot) = context.fields.get_mut(offset..offset + size.bytes()) {
        slot.copy_from_slice(&bytes[..size.bytes()]);
    }
    Ok(())
}

/// The `__sk_buff` of `frame` for `hook`, and the packet region's bytes:
/// the whole frame for TC, from the network header for a socket filter
/// (the link header goes to `head`).
pub(crate) fn build(hook: SkbHook, frame: &[u8]) -> (RunContext, Vec<u8>) {
    let mut fields = vec![0u8; SIZE];
    // eth_type_trans: the ethertype, or 802.3/802.2 for a length field.
    let protocol: [u8; 2] = match frame.get(12..14) {
        Some(&[hi, lo]) if u16::from_be_bytes([hi, lo]) >= 0x0600 => [hi, lo],
        Some(_) if frame.get(14..16) == Some(&[0xff, 0xff]) => 0x0001u16.to_be_bytes(),
        Some(_) => 0x0004u16.to_be_bytes(),
        None => [0, 0],
    };
    fields[field::PROTOCOL..field::PROTOCOL + 2].copy_from_slice(&protocol);
    fields[field::PKT_TYPE] = pkt_type(frame);
    fields[field::IFINDEX] = 1;
    let link = ETH_HLEN.min(frame.len());
    let (head, packet, network) = match hook {
        SkbHook::SocketFilter => (frame[..link].to_vec(), frame[link..].to_vec(), 0),
        SkbHook::Tc => (Vec::new(), frame.to_vec(), link),
    };
    let context = RunContext {
        kind: ContextKind::Skb(hook),
        fields,
        head,
        meta_len: 0,
        network,
        tailroom: 0,
        redirect: None,
        clones: Vec::new(),
    };
    (context, packet)
}

/// `PACKET_HOST` (0) when the destination is the loopback device's
/// all-zero address, `PACKET_BROADCAST` (1), `PACKET_MULTICAST` (2),
/// else `PACKET_OTHERHOST` (3).
fn pkt_type(frame: &[u8]) -> u8 {
    match frame.get(..6) {
        Some(dst) if dst.iter().all(|&b| b == 0) => 0,
        Some(dst) if dst.iter().all(|&b| b == 0xff) => 1,
        Some(dst) if dst[0] & 1 == 1 => 2,
        Some(_) => 3,
        None => 0,
    }
}

/// Name of the field at `offset`, for callers that print contexts.
#[cfg(test)]
pub(crate) fn name_at(offset: usize) -> Option<&'static str> {
    field_at(offset).map(|field| field.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_the_kernel() {
        use SkbHook::*;
        assert!(check(Tc, field::DATA, 4, false).is_ok());
        assert_eq!(
            check(SocketFilter, field::DATA, 4, false).unwrap_err().0,
            "data"
        );
        assert!(check(Tc, 8, 4, true).is_ok());
        assert_eq!(check(SocketFilter, 8, 4, true).unwrap_err().0, "mark");
        assert!(check(SocketFilter, 48, 8, false).is_ok());
        assert!(check(Tc, 2, 2, false).is_ok());
        assert!(check(Tc, 1, 2, false).is_err());
        assert_eq!(check(Tc, field::FAMILY, 4, false).unwrap_err().0, "family");
        assert!(check(Tc, 200, 4, false).is_err());
        assert_eq!(name_at(50), Some("cb[0]"));
    }
}
