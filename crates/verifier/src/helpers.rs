//! Helper prototypes: what each helper (by its kernel id) takes, returns,
//! and which program types may call it.
//!
//! Written from the kernel's UAPI documentation of each helper
//! (`include/uapi/linux/bpf.h`); the helpers not listed here are rejected as
//! unknown, which is the safe direction.

use visor_object::{MapType, ProgramType};

/// What a map argument must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapClass {
    /// Any map with keys and values a program may look up.
    Data,
    /// `BPF_MAP_TYPE_PROG_ARRAY`.
    ProgArray,
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
    PerfEvents,
    /// `BPF_MAP_TYPE_RINGBUF`.
    Ringbuf,
    /// Socket maps (`SOCKMAP`, `SOCKHASH`).
    Sockets,
    /// Redirect targets (`DEVMAP`, `DEVMAP_HASH`, `CPUMAP`, `XSKMAP`).
    Redirect,
    /// `BPF_MAP_TYPE_STACK_TRACE`.
    StackTrace,
    /// Queue and stack maps.
    QueueStack,
    /// Any map at all.
    Any,
}

impl MapClass {
    pub fn accepts(self, map: MapType) -> bool {
        use MapType as T;
        match self {
            MapClass::Data => !matches!(
                map,
                T::ProgArray
                    | T::PerfEventArray
                    | T::Ringbuf
                    | T::UserRingbuf
                    | T::StackTrace
                    | T::Queue
                    | T::Stack
                    | T::Sockmap
                    | T::Sockhash
                    | T::CgroupArray
            ),
            MapClass::ProgArray => map == T::ProgArray,
            MapClass::PerfEvents => map == T::PerfEventArray,
            MapClass::Ringbuf => map == T::Ringbuf,
            MapClass::Sockets => matches!(map, T::Sockmap | T::Sockhash),
            MapClass::Redirect => matches!(map, T::Devmap | T::DevmapHash | T::Cpumap | T::Xskmap),
            MapClass::StackTrace => map == T::StackTrace,
            MapClass::QueueStack => matches!(map, T::Queue | T::Stack),
            MapClass::Any => true,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            MapClass::Data => "a map with values (hash, array, ...)",
            MapClass::ProgArray => "a BPF_MAP_TYPE_PROG_ARRAY",
            MapClass::PerfEvents => "a BPF_MAP_TYPE_PERF_EVENT_ARRAY",
            MapClass::Ringbuf => "a BPF_MAP_TYPE_RINGBUF",
            MapClass::Sockets => "a BPF_MAP_TYPE_SOCKMAP or SOCKHASH",
            MapClass::Redirect => "a DEVMAP, DEVMAP_HASH, CPUMAP or XSKMAP",
            MapClass::StackTrace => "a BPF_MAP_TYPE_STACK_TRACE",
            MapClass::QueueStack => "a BPF_MAP_TYPE_QUEUE or STACK",
            MapClass::Any => "a map",
        }
    }
}

/// One argument's requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Any initialised value.
    Anything,
    /// A scalar (not a pointer).
    Scalar,
    /// A map (from `lddw`), of this class.
    Map(MapClass),
    /// Pointer to the map's key size of initialised memory (stack or map value).
    MapKey,
    /// Pointer to the map's value size of initialised memory.
    MapValue,
    /// Pointer to memory the helper reads; the size is the next argument.
    ReadMem { nullable: bool },
    /// Pointer to memory the helper writes; the size is the next argument,
    /// or the map's value size when no size follows.
    WriteMem,
    /// The size of the preceding memory argument, a bounded scalar.
    Size { zero_ok: bool },
    /// The program's context, unmoved.
    Ctx,
    /// The program's context, unmoved, or null (0).
    CtxOrNull,
    /// Memory from `bpf_ringbuf_reserve`, checked for null.
    RingbufRecord,
    /// A constant (ring buffer reservation sizes, flags that select types).
    Const,
    /// A socket from a lookup helper, checked for null unless `nullable`.
    Socket { nullable: bool },
}

/// What a helper leaves in `r0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    Integer,
    /// Nothing: `r0` is not initialised afterwards.
    Void,
    /// A map value of the map in argument 1, or null.
    MapValueOrNull,
    /// Memory of the size in argument 2, or null.
    MemOrNull,
    /// A socket (its common part only when `common`), or null.
    SocketOrNull {
        common: bool,
    },
}

/// Which program types may call a helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Every program type.
    Base,
    /// kprobe, tracepoint, perf_event, raw tracepoint, tracing, lsm.
    Tracing,
    /// Programs with an `sk_buff` context.
    Skb,
    /// TC programs (`sched_cls`, `sched_act`).
    Tc,
    /// TC and XDP.
    TcXdp,
    Xdp,
    SockOps,
    /// Programs running in the network stack (skb, xdp, sock programs).
    Network,
    /// Only kprobes.
    Kprobe,
}

impl Group {
    pub fn allows(self, program: Option<ProgramType>) -> bool {
        use ProgramType as P;
        let Some(program) = program else {
            return true;
        };
        let tracing = matches!(
            program,
            P::Kprobe
                | P::Tracepoint
                | P::PerfEvent
                | P::RawTracepoint
                | P::RawTracepointWritable
                | P::Tracing
                | P::Lsm
        );
        let tc = matches!(program, P::SchedCls | P::SchedAct);
        let skb = tc
            || matches!(
                program,
                P::SocketFilter | P::CgroupSkb | P::LwtIn | P::LwtOut | P::LwtXmit | P::SkSkb
            );
        match self {
            Group::Base => true,
            Group::Tracing => tracing,
            Group::Skb => skb,
            Group::Tc => tc,
            Group::TcXdp => tc || program == P::Xdp,
            Group::Xdp => program == P::Xdp,
            Group::SockOps => program == P::SockOps,
            Group::Network => !tracing,
            Group::Kprobe => program == P::Kprobe,
        }
    }
}

/// One helper's prototype.
#[derive(Clone, Copy, Debug)]
pub struct Proto {
    pub id: i32,
    pub name: &'static str,
    pub args: &'static [Arg],
    pub ret: Ret,
    pub group: Group,
}

use Arg::*;

const fn proto(id: i32, name: &'static str, args: &'static [Arg], ret: Ret, group: Group) -> Proto {
    Proto {
        id,
        name,
        args,
        ret,
        group,
    }
}

const I: Ret = Ret::Integer;
const MEM: Arg = ReadMem { nullable: false };
const SIZE: Arg = Size { zero_ok: false };
const SIZE0: Arg = Size { zero_ok: true };
const SOCKET: Ret = Ret::SocketOrNull { common: false };
/// `(ctx, tuple, tuple size, netns, flags)`.
const SOCKET_LOOKUP: &[Arg] = &[Ctx, MEM, SIZE, Anything, Anything];

/// `bpf_map_update_elem`, whose array keys are range-checked.
pub const MAP_UPDATE_ELEM: i32 = 2;

/// The helpers this verifier knows, by id.
pub const HELPERS: &[Proto] = &[
    proto(
        1,
        "bpf_map_lookup_elem",
        &[Map(MapClass::Data), MapKey],
        Ret::MapValueOrNull,
        Group::Base,
    ),
    proto(
        2,
        "bpf_map_update_elem",
        &[Map(MapClass::Data), MapKey, MapValue, Scalar],
        I,
        Group::Base,
    ),
    proto(
        3,
        "bpf_map_delete_elem",
        &[Map(MapClass::Data), MapKey],
        I,
        Group::Base,
    ),
    proto(
        4,
        "bpf_probe_read",
        &[WriteMem, SIZE0, Anything],
        I,
        Group::Tracing,
    ),
    proto(5, "bpf_ktime_get_ns", &[], I, Group::Base),
    // Arguments 3 to 5 are optional: the kernel does not check them.
    proto(6, "bpf_trace_printk", &[MEM, SIZE], I, Group::Base),
    proto(7, "bpf_get_prandom_u32", &[], I, Group::Base),
    proto(8, "bpf_get_smp_processor_id", &[], I, Group::Base),
    proto(
        9,
        "bpf_skb_store_bytes",
        &[Ctx, Scalar, MEM, SIZE, Scalar],
        I,
        Group::Tc,
    ),
    proto(
        10,
        "bpf_l3_csum_replace",
        &[Ctx, Scalar, Scalar, Scalar, Scalar],
        I,
        Group::Tc,
    ),
    proto(
        11,
        "bpf_l4_csum_replace",
        &[Ctx, Scalar, Scalar, Scalar, Scalar],
        I,
        Group::Tc,
    ),
    proto(
        12,
        "bpf_tail_call",
        &[Ctx, Map(MapClass::ProgArray), Scalar],
        Ret::Void,
        Group::Base,
    ),
    proto(
        13,
        "bpf_clone_redirect",
        &[Ctx, Scalar, Scalar],
        I,
        Group::Tc,
    ),
    proto(14, "bpf_get_current_pid_tgid", &[], I, Group::Base),
    proto(15, "bpf_get_current_uid_gid", &[], I, Group::Base),
    proto(
        16,
        "bpf_get_current_comm",
        &[WriteMem, SIZE],
        I,
        Group::Base,
    ),
    proto(17, "bpf_get_cgroup_classid", &[Ctx], I, Group::Skb),
    proto(
        18,
        "bpf_skb_vlan_push",
        &[Ctx, Scalar, Scalar],
        I,
        Group::Tc,
    ),
    proto(19, "bpf_skb_vlan_pop", &[Ctx], I, Group::Tc),
    proto(
        20,
        "bpf_skb_get_tunnel_key",
        &[Ctx, WriteMem, SIZE, Scalar],
        I,
        Group::Tc,
    ),
    proto(
        21,
        "bpf_skb_set_tunnel_key",
        &[Ctx, MEM, SIZE, Scalar],
        I,
        Group::Tc,
    ),
    proto(
        22,
        "bpf_perf_event_read",
        &[Map(MapClass::PerfEvents), Scalar],
        I,
        Group::Tracing,
    ),
    proto(23, "bpf_redirect", &[Scalar, Scalar], I, Group::TcXdp),
    proto(24, "bpf_get_route_realm", &[Ctx], I, Group::Skb),
    proto(
        25,
        "bpf_perf_event_output",
        &[Ctx, Map(MapClass::PerfEvents), Scalar, MEM, SIZE],
        I,
        Group::Base,
    ),
    proto(
        26,
        "bpf_skb_load_bytes",
        &[Ctx, Scalar, WriteMem, SIZE],
        I,
        Group::Skb,
    ),
    proto(
        27,
        "bpf_get_stackid",
        &[Ctx, Map(MapClass::StackTrace), Scalar],
        I,
        Group::Tracing,
    ),
    proto(
        28,
        "bpf_csum_diff",
        &[
            ReadMem { nullable: true },
            SIZE0,
            ReadMem { nullable: true },
            SIZE0,
            Scalar,
        ],
        I,
        Group::Network,
    ),
    proto(
        29,
        "bpf_skb_get_tunnel_opt",
        &[Ctx, WriteMem, SIZE],
        I,
        Group::Tc,
    ),
    proto(
        30,
        "bpf_skb_set_tunnel_opt",
        &[Ctx, MEM, SIZE],
        I,
        Group::Tc,
    ),
    proto(
        31,
        "bpf_skb_change_proto",
        &[Ctx, Scalar, Scalar],
        I,
        Group::Tc,
    ),
    proto(32, "bpf_skb_change_type", &[Ctx, Scalar], I, Group::Tc),
    proto(
        33,
        "bpf_skb_under_cgroup",
        &[Ctx, Map(MapClass::Any), Scalar],
        I,
        Group::Tc,
    ),
    proto(34, "bpf_get_hash_recalc", &[Ctx], I, Group::Skb),
    proto(35, "bpf_get_current_task", &[], I, Group::Tracing),
    proto(
        36,
        "bpf_probe_write_user",
        &[Anything, MEM, SIZE],
        I,
        Group::Tracing,
    ),
    proto(
        37,
        "bpf_current_task_under_cgroup",
        &[Map(MapClass::Any), Scalar],
        I,
        Group::Tracing,
    ),
    proto(
        38,
        "bpf_skb_change_tail",
        &[Ctx, Scalar, Scalar],
        I,
        Group::Tc,
    ),
    proto(39, "bpf_skb_pull_data", &[Ctx, Scalar], I, Group::Tc),
    proto(40, "bpf_csum_update", &[Ctx, Scalar], I, Group::Tc),
    proto(41, "bpf_set_hash_invalid", &[Ctx], I, Group::Tc),
    proto(42, "bpf_get_numa_node_id", &[], I, Group::Base),
    proto(
        43,
        "bpf_skb_change_head",
        &[Ctx, Scalar, Scalar],
        I,
        Group::Tc,
    ),
    proto(44, "bpf_xdp_adjust_head", &[Ctx, Scalar], I, Group::Xdp),
    proto(
        45,
        "bpf_probe_read_str",
        &[WriteMem, SIZE0, Anything],
        I,
        Group::Tracing,
    ),
    proto(46, "bpf_get_socket_cookie", &[Ctx], I, Group::Network),
    proto(47, "bpf_get_socket_uid", &[Ctx], I, Group::Skb),
    proto(48, "bpf_set_hash", &[Ctx, Scalar], I, Group::Tc),
    proto(
        49,
        "bpf_setsockopt",
        &[Ctx, Scalar, Scalar, MEM, SIZE],
        I,
        Group::Network,
    ),
    proto(
        50,
        "bpf_skb_adjust_room",
        &[Ctx, Scalar, Scalar, Scalar],
        I,
        Group::Tc,
    ),
    proto(
        51,
        "bpf_redirect_map",
        &[Map(MapClass::Redirect), Scalar, Scalar],
        I,
        Group::Xdp,
    ),
    proto(
        52,
        "bpf_sk_redirect_map",
        &[Ctx, Map(MapClass::Sockets), Scalar, Scalar],
        I,
        Group::Skb,
    ),
    proto(
        53,
        "bpf_sock_map_update",
        &[Ctx, Map(MapClass::Sockets), MapKey, Scalar],
        I,
        Group::SockOps,
    ),
    proto(54, "bpf_xdp_adjust_meta", &[Ctx, Scalar], I, Group::Xdp),
    proto(
        55,
        "bpf_perf_event_read_value",
        &[Map(MapClass::PerfEvents), Scalar, WriteMem, SIZE],
        I,
        Group::Tracing,
    ),
    proto(
        56,
        "bpf_perf_prog_read_value",
        &[Ctx, WriteMem, SIZE],
        I,
        Group::Tracing,
    ),
    proto(
        57,
        "bpf_getsockopt",
        &[Ctx, Scalar, Scalar, WriteMem, SIZE],
        I,
        Group::Network,
    ),
    proto(58, "bpf_override_return", &[Ctx, Scalar], I, Group::Kprobe),
    proto(
        59,
        "bpf_sock_ops_cb_flags_set",
        &[Ctx, Scalar],
        I,
        Group::SockOps,
    ),
    proto(65, "bpf_xdp_adjust_tail", &[Ctx, Scalar], I, Group::Xdp),
    proto(
        67,
        "bpf_get_stack",
        &[Ctx, WriteMem, SIZE0, Scalar],
        I,
        Group::Tracing,
    ),
    proto(
        68,
        "bpf_skb_load_bytes_relative",
        &[Ctx, Scalar, WriteMem, SIZE, Scalar],
        I,
        Group::Skb,
    ),
    proto(
        69,
        "bpf_fib_lookup",
        &[Ctx, WriteMem, SIZE, Scalar],
        I,
        Group::TcXdp,
    ),
    proto(80, "bpf_get_current_cgroup_id", &[], I, Group::Base),
    proto(
        84,
        "bpf_sk_lookup_tcp",
        SOCKET_LOOKUP,
        SOCKET,
        Group::Network,
    ),
    proto(
        85,
        "bpf_sk_lookup_udp",
        SOCKET_LOOKUP,
        SOCKET,
        Group::Network,
    ),
    proto(
        86,
        "bpf_sk_release",
        &[Socket { nullable: false }],
        I,
        Group::Network,
    ),
    proto(
        87,
        "bpf_map_push_elem",
        &[Map(MapClass::QueueStack), MapValue, Scalar],
        I,
        Group::Base,
    ),
    proto(
        88,
        "bpf_map_pop_elem",
        &[Map(MapClass::QueueStack), WriteMem],
        I,
        Group::Base,
    ),
    proto(
        89,
        "bpf_map_peek_elem",
        &[Map(MapClass::QueueStack), WriteMem],
        I,
        Group::Base,
    ),
    proto(
        99,
        "bpf_skc_lookup_tcp",
        SOCKET_LOOKUP,
        Ret::SocketOrNull { common: true },
        Group::Network,
    ),
    proto(109, "bpf_send_signal", &[Scalar], I, Group::Tracing),
    proto(
        112,
        "bpf_probe_read_user",
        &[WriteMem, SIZE0, Anything],
        I,
        Group::Tracing,
    ),
    proto(
        113,
        "bpf_probe_read_kernel",
        &[WriteMem, SIZE0, Anything],
        I,
        Group::Tracing,
    ),
    proto(
        114,
        "bpf_probe_read_user_str",
        &[WriteMem, SIZE0, Anything],
        I,
        Group::Tracing,
    ),
    proto(
        115,
        "bpf_probe_read_kernel_str",
        &[WriteMem, SIZE0, Anything],
        I,
        Group::Tracing,
    ),
    proto(118, "bpf_jiffies64", &[], I, Group::Base),
    proto(122, "bpf_get_netns_cookie", &[CtxOrNull], I, Group::Network),
    proto(
        124,
        "bpf_sk_assign",
        &[Ctx, Socket { nullable: true }, Anything],
        I,
        Group::Tc,
    ),
    proto(125, "bpf_ktime_get_boot_ns", &[], I, Group::Base),
    proto(
        130,
        "bpf_ringbuf_output",
        &[Map(MapClass::Ringbuf), MEM, SIZE, Scalar],
        I,
        Group::Base,
    ),
    proto(
        131,
        "bpf_ringbuf_reserve",
        &[Map(MapClass::Ringbuf), Const, Scalar],
        Ret::MemOrNull,
        Group::Base,
    ),
    proto(
        132,
        "bpf_ringbuf_submit",
        &[RingbufRecord, Scalar],
        Ret::Void,
        Group::Base,
    ),
    proto(
        133,
        "bpf_ringbuf_discard",
        &[RingbufRecord, Scalar],
        Ret::Void,
        Group::Base,
    ),
    proto(
        134,
        "bpf_ringbuf_query",
        &[Map(MapClass::Ringbuf), Scalar],
        I,
        Group::Base,
    ),
    proto(
        152,
        "bpf_redirect_neigh",
        &[Scalar, ReadMem { nullable: true }, SIZE0, Scalar],
        I,
        Group::Tc,
    ),
    proto(155, "bpf_redirect_peer", &[Scalar, Scalar], I, Group::Tc),
];

/// Helpers that may move or resize packet data: packet pointers held
/// across a call to one of them are stale (the kernel's
/// `bpf_helper_changes_pkt_data`).
pub fn changes_packet(id: i32) -> bool {
    matches!(
        id,
        9 | 10 | 11 | 13 | 18 | 19 | 31 | 38 | 39 | 43 | 44 | 50 | 54 | 65
    )
}

/// The prototype of helper `id`, if this verifier knows it.
pub fn lookup(id: i32) -> Option<&'static Proto> {
    HELPERS.iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_memory_is_followed_by_a_size() {
        for (i, p) in HELPERS.iter().enumerate() {
            assert!(HELPERS[i + 1..].iter().all(|q| q.id != p.id), "{}", p.name);
            assert!(p.args.len() <= 5, "{}", p.name);
            for (j, arg) in p.args.iter().enumerate() {
                if matches!(arg, ReadMem { .. } | WriteMem)
                    && !matches!(p.name, "bpf_map_pop_elem" | "bpf_map_peek_elem")
                {
                    assert!(matches!(p.args.get(j + 1), Some(Size { .. })), "{}", p.name);
                }
            }
        }
    }

    #[test]
    fn program_types_select_helpers() {
        let sock_map_update = lookup(53).unwrap();
        assert!(!sock_map_update.group.allows(Some(ProgramType::Xdp)));
        assert!(sock_map_update.group.allows(Some(ProgramType::SockOps)));
        assert!(lookup(1).unwrap().group.allows(Some(ProgramType::Xdp)));
        assert!(!lookup(113).unwrap().group.allows(Some(ProgramType::Xdp)));
    }
}
