//! Program contexts: which bytes of `r1`'s struct a program type may read
//! or write, at which sizes, and what a load gives (`data`, `data_end` and
//! `data_meta` give packet pointers).
//!
//! Layouts follow the kernel's UAPI structs (`struct __sk_buff`,
//! `struct xdp_md`, `struct bpf_sock_ops`, `struct pt_regs` on x86-64).
//! Program types without a table here get a generic context: two packet
//! pointers, then plain bytes up to [`GENERIC_CTX_SIZE`].

use visor_object::ProgramType;

/// Context bytes readable by program types this module has no table for.
pub const GENERIC_CTX_SIZE: i64 = 4096;

/// What a context load produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loaded {
    Scalar,
    PacketData,
    PacketEnd,
    PacketMeta,
}

/// One field of a context struct.
#[derive(Clone, Copy, Debug)]
struct Field {
    name: &'static str,
    off: i64,
    size: usize,
    /// Loads narrower than the field are allowed.
    narrow: bool,
    loaded: Loaded,
    writable: Writable,
}

/// Who may store to a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writable {
    No,
    /// Every program type using the struct.
    All,
    /// Only TC programs (`sched_cls`, `sched_act`).
    Tc,
}

const fn f(name: &'static str, off: i64, size: usize) -> Field {
    Field {
        name,
        off,
        size,
        narrow: true,
        loaded: Loaded::Scalar,
        writable: Writable::No,
    }
}

const fn ptr(name: &'static str, off: i64, loaded: Loaded) -> Field {
    Field {
        name,
        off,
        size: 4,
        narrow: false,
        loaded,
        writable: Writable::No,
    }
}

const fn w(field: Field, writable: Writable) -> Field {
    Field { writable, ..field }
}

/// A field that must be loaded whole.
const fn whole(field: Field) -> Field {
    Field {
        narrow: false,
        ..field
    }
}

/// `struct __sk_buff`.
const SK_BUFF: &[Field] = &[
    f("len", 0, 4),
    f("pkt_type", 4, 4),
    w(f("mark", 8, 4), Writable::Tc),
    w(f("queue_mapping", 12, 4), Writable::Tc),
    f("protocol", 16, 4),
    f("vlan_present", 20, 4),
    f("vlan_tci", 24, 4),
    f("vlan_proto", 28, 4),
    w(f("priority", 32, 4), Writable::Tc),
    f("ingress_ifindex", 36, 4),
    f("ifindex", 40, 4),
    w(f("tc_index", 44, 4), Writable::Tc),
    w(f("cb", 48, 20), Writable::All),
    f("hash", 68, 4),
    w(f("tc_classid", 72, 4), Writable::Tc),
    ptr("data", 76, Loaded::PacketData),
    ptr("data_end", 80, Loaded::PacketEnd),
    f("napi_id", 84, 4),
    f("family", 88, 4),
    f("remote_ip4", 92, 4),
    f("local_ip4", 96, 4),
    f("remote_ip6", 100, 16),
    f("local_ip6", 116, 16),
    f("remote_port", 132, 4),
    f("local_port", 136, 4),
    ptr("data_meta", 140, Loaded::PacketMeta),
    w(f("tstamp", 152, 8), Writable::Tc),
    f("wire_len", 160, 4),
    f("gso_segs", 164, 4),
    f("gso_size", 176, 4),
    f("hwtstamp", 184, 8),
];

/// `struct xdp_md`.
const XDP_MD: &[Field] = &[
    ptr("data", 0, Loaded::PacketData),
    ptr("data_end", 4, Loaded::PacketEnd),
    ptr("data_meta", 8, Loaded::PacketMeta),
    f("ingress_ifindex", 12, 4),
    f("rx_queue_index", 16, 4),
    f("egress_ifindex", 20, 4),
];

/// `struct bpf_sock_ops`: `op`, the argument union, `reply`, then
/// read-only socket fields up to `skb_tcp_flags`.
const SOCK_OPS: &[Field] = &[
    f("op", 0, 4),
    w(f("args", 4, 16), Writable::All),
    f("family", 20, 4),
    f("socket_fields", 24, 160),
];

/// `struct bpf_sock_addr` (cgroup connect, bind, sendmsg, recvmsg,
/// getpeername and getsockname hooks): the user's address and port and the
/// message's source may be rewritten (the kernel narrows which, per attach
/// type); `sk`, a socket pointer, reads as a scalar here, so a program that
/// follows it is refused.
const SOCK_ADDR: &[Field] = &[
    f("user_family", 0, 4),
    w(f("user_ip4", 4, 4), Writable::All),
    w(f("user_ip6", 8, 16), Writable::All),
    w(f("user_port", 24, 4), Writable::All),
    f("family", 28, 4),
    f("type", 32, 4),
    f("protocol", 36, 4),
    w(f("msg_src_ip4", 40, 4), Writable::All),
    w(f("msg_src_ip6", 44, 16), Writable::All),
    f("sk", 64, 8),
];

/// `struct bpf_sock` (cgroup sock_create, release and post_bind hooks):
/// the device, mark and priority may be set (at socket creation, in the
/// kernel).
const SOCK: &[Field] = &[
    whole(w(f("bound_dev_if", 0, 4), Writable::All)),
    f("family", 4, 4),
    f("type", 8, 4),
    f("protocol", 12, 4),
    whole(w(f("mark", 16, 4), Writable::All)),
    whole(w(f("priority", 20, 4), Writable::All)),
    f("src_ip4", 24, 4),
    f("src_ip6", 28, 16),
    f("src_port", 44, 4),
    // A 16-bit port, then padding that only a whole 32-bit load may cover.
    f("dst_port", 48, 2),
    whole(f("dst_port", 48, 4)),
    f("dst_ip4", 52, 4),
    f("dst_ip6", 56, 16),
    f("state", 72, 4),
    f("rx_queue_mapping", 76, 4),
];

/// The fields of `struct bpf_sock` that a socket's common part
/// (`struct sock_common`) lacks.
const NOT_COMMON: std::ops::Range<i64> = 8..24;

/// What a context access is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Checks an access of `size` bytes at constant offset `off` of the
/// context of `program` and says what a load yields; `Err` says why not.
pub fn check(
    program: Option<ProgramType>,
    off: i64,
    size: usize,
    access: Access,
) -> Result<Loaded, String> {
    use ProgramType as P;
    let (fields, name) = match program {
        Some(
            P::SocketFilter
            | P::SchedCls
            | P::SchedAct
            | P::CgroupSkb
            | P::LwtIn
            | P::LwtOut
            | P::LwtXmit
            | P::SkSkb,
        ) => (SK_BUFF, "struct __sk_buff"),
        Some(P::Xdp) => (XDP_MD, "struct xdp_md"),
        Some(P::SockOps) => (SOCK_OPS, "struct bpf_sock_ops"),
        Some(P::CgroupSockAddr) => (SOCK_ADDR, "struct bpf_sock_addr"),
        Some(P::CgroupSock) => (SOCK, "struct bpf_sock"),
        Some(P::Kprobe | P::PerfEvent) => {
            return read_only_words(off, size, access, 168 + 16, "struct pt_regs");
        }
        Some(P::Tracepoint) => {
            return read_only_words(off, size, access, 2048, "the tracepoint record");
        }
        Some(P::RawTracepoint | P::RawTracepointWritable | P::Tracing) => {
            return read_only_words(off, size, access, 96, "the raw tracepoint arguments");
        }
        _ => return generic(off, size, access),
    };
    check_fields(fields, name, program, off, size, access)
}

/// Checks a read of `size` bytes at `off` of a socket from a lookup
/// helper (the kernel's `struct bpf_sock` view, read-only), or of its
/// common part only.
pub fn check_socket(common: bool, off: i64, size: usize, access: Access) -> Result<Loaded, String> {
    if access == Access::Write {
        return Err("sockets from lookups are read-only".to_string());
    }
    if common && NOT_COMMON.contains(&off) {
        return Err(format!(
            "offset {off} (type, protocol, mark, priority) is not in a socket's common part: look the socket up with bpf_sk_lookup_tcp to read it"
        ));
    }
    check_fields(SOCK, "struct bpf_sock", None, off, size, access)
}

/// An access to one of `fields` of the struct `name` of `program`.
fn check_fields(
    fields: &[Field],
    name: &str,
    program: Option<ProgramType>,
    off: i64,
    size: usize,
    access: Access,
) -> Result<Loaded, String> {
    use ProgramType as P;
    let tc = matches!(program, Some(P::SchedCls | P::SchedAct));
    let end = off + size as i64;
    let Some(field) = fields
        .iter()
        .find(|f| f.off <= off && end <= f.off + f.size as i64)
    else {
        return Err(format!(
            "{name} has no field at offset {off} of size {size}"
        ));
    };
    let whole = off == field.off && size == field.size;
    let aligned = off % size as i64 == 0;
    if field.loaded != Loaded::Scalar {
        // Packet pointers: one aligned 32-bit load (the kernel's rule).
        if access == Access::Write {
            return Err(format!("{name}.{} is read-only", field.name));
        }
        if !whole {
            return Err(format!(
                "{name}.{} must be loaded whole, as a 32-bit value",
                field.name
            ));
        }
        let packet_ok = match program {
            Some(P::SocketFilter) => false,
            Some(P::SchedCls | P::SchedAct | P::Xdp) => true,
            _ => field.loaded != Loaded::PacketMeta,
        };
        if !packet_ok {
            return Err(format!(
                "{name}.{} is not available to this program type",
                field.name
            ));
        }
        return Ok(field.loaded);
    }
    if !aligned || (!field.narrow && !whole) {
        return Err(format!(
            "misaligned or partial access to {name}.{}",
            field.name
        ));
    }
    if access == Access::Write {
        let allowed = match field.writable {
            Writable::No => false,
            Writable::All => true,
            Writable::Tc => tc,
        };
        if !allowed || size < 4 && field.size >= 4 {
            return Err(format!(
                "{name}.{} cannot be written by this program type at size {size}",
                field.name
            ));
        }
    }
    Ok(Loaded::Scalar)
}

/// Program types without a table (unknown sections): `data` and
/// `data_end` at 0 and 4 (the layout PREVAIL's test harness gives its
/// context), which cannot be written, then bytes any load or store may
/// use, up to [`GENERIC_CTX_SIZE`]. Loads need no alignment; only a whole
/// 32-bit load of a pointer field gives a pointer, others read bytes.
fn generic(off: i64, size: usize, access: Access) -> Result<Loaded, String> {
    const POINTERS: [(i64, Loaded); 2] = [(0, Loaded::PacketData), (4, Loaded::PacketEnd)];
    const POINTERS_END: i64 = 8;
    let end = off + size as i64;
    if off < 0 || end > GENERIC_CTX_SIZE {
        return Err(format!(
            "offset {off} is outside the context ({GENERIC_CTX_SIZE} bytes)"
        ));
    }
    if access == Access::Write && off < POINTERS_END {
        return Err(format!(
            "the context's packet pointers (bytes 0..{POINTERS_END}) cannot be written"
        ));
    }
    match POINTERS.iter().find(|(at, _)| *at == off) {
        Some((_, loaded)) if size == 4 => Ok(*loaded),
        _ => Ok(Loaded::Scalar),
    }
}

fn read_only_words(
    off: i64,
    size: usize,
    access: Access,
    len: i64,
    name: &str,
) -> Result<Loaded, String> {
    if access == Access::Write {
        return Err(format!("{name} is read-only"));
    }
    if off < 0 || off + size as i64 > len {
        return Err(format!("offset {off} is outside {name} ({len} bytes)"));
    }
    if off % size as i64 != 0 {
        return Err(format!(
            "misaligned {size}-byte access at offset {off} of {name}"
        ));
    }
    Ok(Loaded::Scalar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sk_buff_rules() {
        let tc = Some(ProgramType::SchedCls);
        let socket = Some(ProgramType::SocketFilter);
        assert_eq!(check(tc, 76, 4, Access::Read), Ok(Loaded::PacketData));
        assert_eq!(check(tc, 80, 4, Access::Read), Ok(Loaded::PacketEnd));
        assert!(check(socket, 76, 4, Access::Read).is_err());
        assert!(check(tc, 76, 8, Access::Read).is_err());
        assert_eq!(check(socket, 0, 2, Access::Read), Ok(Loaded::Scalar));
        assert!(check(socket, 8, 4, Access::Write).is_err());
        assert!(check(tc, 8, 4, Access::Write).is_ok());
        assert!(check(socket, 52, 4, Access::Write).is_ok());
        assert!(check(tc, 0, 4, Access::Write).is_err());
        assert!(check(tc, 500, 4, Access::Read).is_err());
    }

    #[test]
    fn xdp_and_tracing_rules() {
        let xdp = Some(ProgramType::Xdp);
        assert_eq!(check(xdp, 8, 4, Access::Read), Ok(Loaded::PacketMeta));
        assert!(check(xdp, 12, 4, Access::Write).is_err());
        assert!(check(xdp, 24, 4, Access::Read).is_err());
        let tp = Some(ProgramType::Tracepoint);
        assert!(check(tp, 8, 8, Access::Read).is_ok());
        assert!(check(tp, 8, 8, Access::Write).is_err());
        assert!(check(tp, 4, 8, Access::Read).is_err());
    }

    #[test]
    fn socket_hooks_have_their_own_structs() {
        let addr = Some(ProgramType::CgroupSockAddr);
        // user_family at 0 is a number, not a packet pointer.
        assert_eq!(check(addr, 0, 4, Access::Read), Ok(Loaded::Scalar));
        assert!(check(addr, 4, 4, Access::Write).is_ok(), "user_ip4");
        assert!(check(addr, 12, 4, Access::Write).is_ok(), "user_ip6[1]");
        assert!(check(addr, 28, 4, Access::Write).is_err(), "family");
        assert!(check(addr, 72, 4, Access::Read).is_err());
        let sock = Some(ProgramType::CgroupSock);
        assert_eq!(check(sock, 4, 4, Access::Read), Ok(Loaded::Scalar));
        assert!(check(sock, 16, 4, Access::Write).is_ok(), "mark");
        assert!(check(sock, 24, 4, Access::Write).is_err(), "src_ip4");
    }
}
