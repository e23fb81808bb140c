//! The kernel's numbered kinds: program types, map types and attach types,
//! each with its number from `include/uapi/linux/bpf.h`, its kernel name and
//! the short name bpftool prints.
//!
//! The installed uapi headers are Linux 6.1; the kinds added since (up to
//! 6.18) are numbered here from the kernel's enums, marked "newer than 6.1".
//! The userspace engine in `visor-vm` keeps its own `MapKind` for now; the
//! two are to be unified later, and until then this crate's enums speak for
//! the kernel only.

/// Defines a fieldless enum over a table of `(variant, number, kernel name,
/// bpftool name)` rows, with the lookups every kind needs. The table is the
/// only place a number or a name is written.
macro_rules! kernel_kind {
    (
        $(#[$meta:meta])*
        pub enum $name:ident : $prefix:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $number:literal, $kernel:literal, $short:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* #[doc(alias = $kernel)] $variant, )+
        }

        impl $name {
            /// Every kind, in kernel order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The kernel's number.
            pub const fn number(self) -> u32 {
                match self { $($name::$variant => $number,)+ }
            }

            /// The kind with kernel number `number`, if this crate knows it.
            pub const fn from_number(number: u32) -> Option<$name> {
                match number { $($number => Some($name::$variant),)+ _ => None }
            }

            /// The kernel's constant, for example
            #[doc = concat!("`", $prefix, "...`.")]
            pub const fn kernel_name(self) -> &'static str {
                match self { $($name::$variant => $kernel,)+ }
            }

            /// The name bpftool prints and accepts.
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $short,)+ }
            }

            /// The kind bpftool calls `name`.
            pub fn from_name(name: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|kind| kind.name() == name)
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

kernel_kind! {
    /// What a program is for: it fixes the context in `r1`, the helpers it
    /// may call and where it may attach (`enum bpf_prog_type`).
    pub enum ProgramType : "BPF_PROG_TYPE_" {
        SocketFilter = 1, "BPF_PROG_TYPE_SOCKET_FILTER", "socket_filter";
        Kprobe = 2, "BPF_PROG_TYPE_KPROBE", "kprobe";
        SchedCls = 3, "BPF_PROG_TYPE_SCHED_CLS", "sched_cls";
        SchedAct = 4, "BPF_PROG_TYPE_SCHED_ACT", "sched_act";
        Tracepoint = 5, "BPF_PROG_TYPE_TRACEPOINT", "tracepoint";
        Xdp = 6, "BPF_PROG_TYPE_XDP", "xdp";
        PerfEvent = 7, "BPF_PROG_TYPE_PERF_EVENT", "perf_event";
        CgroupSkb = 8, "BPF_PROG_TYPE_CGROUP_SKB", "cgroup_skb";
        CgroupSock = 9, "BPF_PROG_TYPE_CGROUP_SOCK", "cgroup_sock";
        LwtIn = 10, "BPF_PROG_TYPE_LWT_IN", "lwt_in";
        LwtOut = 11, "BPF_PROG_TYPE_LWT_OUT", "lwt_out";
        LwtXmit = 12, "BPF_PROG_TYPE_LWT_XMIT", "lwt_xmit";
        SockOps = 13, "BPF_PROG_TYPE_SOCK_OPS", "sock_ops";
        SkSkb = 14, "BPF_PROG_TYPE_SK_SKB", "sk_skb";
        CgroupDevice = 15, "BPF_PROG_TYPE_CGROUP_DEVICE", "cgroup_device";
        SkMsg = 16, "BPF_PROG_TYPE_SK_MSG", "sk_msg";
        RawTracepoint = 17, "BPF_PROG_TYPE_RAW_TRACEPOINT", "raw_tracepoint";
        CgroupSockAddr = 18, "BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "cgroup_sock_addr";
        LwtSeg6local = 19, "BPF_PROG_TYPE_LWT_SEG6LOCAL", "lwt_seg6local";
        LircMode2 = 20, "BPF_PROG_TYPE_LIRC_MODE2", "lirc_mode2";
        SkReuseport = 21, "BPF_PROG_TYPE_SK_REUSEPORT", "sk_reuseport";
        FlowDissector = 22, "BPF_PROG_TYPE_FLOW_DISSECTOR", "flow_dissector";
        CgroupSysctl = 23, "BPF_PROG_TYPE_CGROUP_SYSCTL", "cgroup_sysctl";
        RawTracepointWritable = 24, "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE", "raw_tracepoint_writable";
        CgroupSockopt = 25, "BPF_PROG_TYPE_CGROUP_SOCKOPT", "cgroup_sockopt";
        Tracing = 26, "BPF_PROG_TYPE_TRACING", "tracing";
        StructOps = 27, "BPF_PROG_TYPE_STRUCT_OPS", "struct_ops";
        Ext = 28, "BPF_PROG_TYPE_EXT", "ext";
        Lsm = 29, "BPF_PROG_TYPE_LSM", "lsm";
        SkLookup = 30, "BPF_PROG_TYPE_SK_LOOKUP", "sk_lookup";
        Syscall = 31, "BPF_PROG_TYPE_SYSCALL", "syscall";
        /// Newer than 6.1 (6.4).
        Netfilter = 32, "BPF_PROG_TYPE_NETFILTER", "netfilter";
    }
}

kernel_kind! {
    /// How a map stores its entries (`enum bpf_map_type`).
    pub enum MapType : "BPF_MAP_TYPE_" {
        Hash = 1, "BPF_MAP_TYPE_HASH", "hash";
        Array = 2, "BPF_MAP_TYPE_ARRAY", "array";
        ProgArray = 3, "BPF_MAP_TYPE_PROG_ARRAY", "prog_array";
        PerfEventArray = 4, "BPF_MAP_TYPE_PERF_EVENT_ARRAY", "perf_event_array";
        PercpuHash = 5, "BPF_MAP_TYPE_PERCPU_HASH", "percpu_hash";
        PercpuArray = 6, "BPF_MAP_TYPE_PERCPU_ARRAY", "percpu_array";
        StackTrace = 7, "BPF_MAP_TYPE_STACK_TRACE", "stack_trace";
        CgroupArray = 8, "BPF_MAP_TYPE_CGROUP_ARRAY", "cgroup_array";
        LruHash = 9, "BPF_MAP_TYPE_LRU_HASH", "lru_hash";
        LruPercpuHash = 10, "BPF_MAP_TYPE_LRU_PERCPU_HASH", "lru_percpu_hash";
        LpmTrie = 11, "BPF_MAP_TYPE_LPM_TRIE", "lpm_trie";
        ArrayOfMaps = 12, "BPF_MAP_TYPE_ARRAY_OF_MAPS", "array_of_maps";
        HashOfMaps = 13, "BPF_MAP_TYPE_HASH_OF_MAPS", "hash_of_maps";
        Devmap = 14, "BPF_MAP_TYPE_DEVMAP", "devmap";
        Sockmap = 15, "BPF_MAP_TYPE_SOCKMAP", "sockmap";
        Cpumap = 16, "BPF_MAP_TYPE_CPUMAP", "cpumap";
        Xskmap = 17, "BPF_MAP_TYPE_XSKMAP", "xskmap";
        Sockhash = 18, "BPF_MAP_TYPE_SOCKHASH", "sockhash";
        CgroupStorage = 19, "BPF_MAP_TYPE_CGROUP_STORAGE", "cgroup_storage";
        ReuseportSockarray = 20, "BPF_MAP_TYPE_REUSEPORT_SOCKARRAY", "reuseport_sockarray";
        PercpuCgroupStorage = 21, "BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE", "percpu_cgroup_storage";
        Queue = 22, "BPF_MAP_TYPE_QUEUE", "queue";
        Stack = 23, "BPF_MAP_TYPE_STACK", "stack";
        SkStorage = 24, "BPF_MAP_TYPE_SK_STORAGE", "sk_storage";
        DevmapHash = 25, "BPF_MAP_TYPE_DEVMAP_HASH", "devmap_hash";
        StructOps = 26, "BPF_MAP_TYPE_STRUCT_OPS", "struct_ops";
        Ringbuf = 27, "BPF_MAP_TYPE_RINGBUF", "ringbuf";
        InodeStorage = 28, "BPF_MAP_TYPE_INODE_STORAGE", "inode_storage";
        TaskStorage = 29, "BPF_MAP_TYPE_TASK_STORAGE", "task_storage";
        BloomFilter = 30, "BPF_MAP_TYPE_BLOOM_FILTER", "bloom_filter";
        UserRingbuf = 31, "BPF_MAP_TYPE_USER_RINGBUF", "user_ringbuf";
        /// Newer than 6.1 (6.2).
        CgrpStorage = 32, "BPF_MAP_TYPE_CGRP_STORAGE", "cgrp_storage";
        /// Newer than 6.1 (6.9).
        Arena = 33, "BPF_MAP_TYPE_ARENA", "arena";
    }
}

impl MapType {
    /// Whether a value, seen from userspace, is one slot per possible CPU,
    /// each rounded up to 8 bytes.
    pub const fn is_per_cpu(self) -> bool {
        matches!(
            self,
            MapType::PercpuHash
                | MapType::PercpuArray
                | MapType::LruPercpuHash
                | MapType::PercpuCgroupStorage
        )
    }
}

kernel_kind! {
    /// Where a program attaches, or what it expects to attach to
    /// (`enum bpf_attach_type`).
    pub enum AttachType : "BPF_" {
        CgroupInetIngress = 0, "BPF_CGROUP_INET_INGRESS", "cgroup_inet_ingress";
        CgroupInetEgress = 1, "BPF_CGROUP_INET_EGRESS", "cgroup_inet_egress";
        CgroupInetSockCreate = 2, "BPF_CGROUP_INET_SOCK_CREATE", "cgroup_inet_sock_create";
        CgroupSockOps = 3, "BPF_CGROUP_SOCK_OPS", "cgroup_sock_ops";
        SkSkbStreamParser = 4, "BPF_SK_SKB_STREAM_PARSER", "sk_skb_stream_parser";
        SkSkbStreamVerdict = 5, "BPF_SK_SKB_STREAM_VERDICT", "sk_skb_stream_verdict";
        CgroupDevice = 6, "BPF_CGROUP_DEVICE", "cgroup_device";
        SkMsgVerdict = 7, "BPF_SK_MSG_VERDICT", "sk_msg_verdict";
        CgroupInet4Bind = 8, "BPF_CGROUP_INET4_BIND", "cgroup_inet4_bind";
        CgroupInet6Bind = 9, "BPF_CGROUP_INET6_BIND", "cgroup_inet6_bind";
        CgroupInet4Connect = 10, "BPF_CGROUP_INET4_CONNECT", "cgroup_inet4_connect";
        CgroupInet6Connect = 11, "BPF_CGROUP_INET6_CONNECT", "cgroup_inet6_connect";
        CgroupInet4PostBind = 12, "BPF_CGROUP_INET4_POST_BIND", "cgroup_inet4_post_bind";
        CgroupInet6PostBind = 13, "BPF_CGROUP_INET6_POST_BIND", "cgroup_inet6_post_bind";
        CgroupUdp4Sendmsg = 14, "BPF_CGROUP_UDP4_SENDMSG", "cgroup_udp4_sendmsg";
        CgroupUdp6Sendmsg = 15, "BPF_CGROUP_UDP6_SENDMSG", "cgroup_udp6_sendmsg";
        LircMode2 = 16, "BPF_LIRC_MODE2", "lirc_mode2";
        FlowDissector = 17, "BPF_FLOW_DISSECTOR", "flow_dissector";
        CgroupSysctl = 18, "BPF_CGROUP_SYSCTL", "cgroup_sysctl";
        CgroupUdp4Recvmsg = 19, "BPF_CGROUP_UDP4_RECVMSG", "cgroup_udp4_recvmsg";
        CgroupUdp6Recvmsg = 20, "BPF_CGROUP_UDP6_RECVMSG", "cgroup_udp6_recvmsg";
        CgroupGetsockopt = 21, "BPF_CGROUP_GETSOCKOPT", "cgroup_getsockopt";
        CgroupSetsockopt = 22, "BPF_CGROUP_SETSOCKOPT", "cgroup_setsockopt";
        TraceRawTp = 23, "BPF_TRACE_RAW_TP", "trace_raw_tp";
        TraceFentry = 24, "BPF_TRACE_FENTRY", "trace_fentry";
        TraceFexit = 25, "BPF_TRACE_FEXIT", "trace_fexit";
        ModifyReturn = 26, "BPF_MODIFY_RETURN", "modify_return";
        LsmMac = 27, "BPF_LSM_MAC", "lsm_mac";
        TraceIter = 28, "BPF_TRACE_ITER", "trace_iter";
        CgroupInet4Getpeername = 29, "BPF_CGROUP_INET4_GETPEERNAME", "cgroup_inet4_getpeername";
        CgroupInet6Getpeername = 30, "BPF_CGROUP_INET6_GETPEERNAME", "cgroup_inet6_getpeername";
        CgroupInet4Getsockname = 31, "BPF_CGROUP_INET4_GETSOCKNAME", "cgroup_inet4_getsockname";
        CgroupInet6Getsockname = 32, "BPF_CGROUP_INET6_GETSOCKNAME", "cgroup_inet6_getsockname";
        XdpDevmap = 33, "BPF_XDP_DEVMAP", "xdp_devmap";
        CgroupInetSockRelease = 34, "BPF_CGROUP_INET_SOCK_RELEASE", "cgroup_inet_sock_release";
        XdpCpumap = 35, "BPF_XDP_CPUMAP", "xdp_cpumap";
        SkLookup = 36, "BPF_SK_LOOKUP", "sk_lookup";
        Xdp = 37, "BPF_XDP", "xdp";
        SkSkbVerdict = 38, "BPF_SK_SKB_VERDICT", "sk_skb_verdict";
        SkReuseportSelect = 39, "BPF_SK_REUSEPORT_SELECT", "sk_reuseport_select";
        SkReuseportSelectOrMigrate = 40, "BPF_SK_REUSEPORT_SELECT_OR_MIGRATE", "sk_reuseport_select_or_migrate";
        PerfEvent = 41, "BPF_PERF_EVENT", "perf_event";
        TraceKprobeMulti = 42, "BPF_TRACE_KPROBE_MULTI", "trace_kprobe_multi";
        LsmCgroup = 43, "BPF_LSM_CGROUP", "lsm_cgroup";
        /// Newer than 6.1 (6.4).
        StructOps = 44, "BPF_STRUCT_OPS", "struct_ops";
        /// Newer than 6.1 (6.4).
        Netfilter = 45, "BPF_NETFILTER", "netfilter";
        /// Newer than 6.1 (6.6): TC ingress through TCX links.
        TcxIngress = 46, "BPF_TCX_INGRESS", "tcx_ingress";
        /// Newer than 6.1 (6.6): TC egress through TCX links.
        TcxEgress = 47, "BPF_TCX_EGRESS", "tcx_egress";
        /// Newer than 6.1 (6.6).
        TraceUprobeMulti = 48, "BPF_TRACE_UPROBE_MULTI", "trace_uprobe_multi";
        /// Newer than 6.1 (6.7).
        CgroupUnixConnect = 49, "BPF_CGROUP_UNIX_CONNECT", "cgroup_unix_connect";
        /// Newer than 6.1 (6.7).
        CgroupUnixSendmsg = 50, "BPF_CGROUP_UNIX_SENDMSG", "cgroup_unix_sendmsg";
        /// Newer than 6.1 (6.7).
        CgroupUnixRecvmsg = 51, "BPF_CGROUP_UNIX_RECVMSG", "cgroup_unix_recvmsg";
        /// Newer than 6.1 (6.7).
        CgroupUnixGetpeername = 52, "BPF_CGROUP_UNIX_GETPEERNAME", "cgroup_unix_getpeername";
        /// Newer than 6.1 (6.7).
        CgroupUnixGetsockname = 53, "BPF_CGROUP_UNIX_GETSOCKNAME", "cgroup_unix_getsockname";
        /// Newer than 6.1 (6.7).
        NetkitPrimary = 54, "BPF_NETKIT_PRIMARY", "netkit_primary";
        /// Newer than 6.1 (6.7).
        NetkitPeer = 55, "BPF_NETKIT_PEER", "netkit_peer";
        /// Newer than 6.1 (6.10).
        TraceKprobeSession = 56, "BPF_TRACE_KPROBE_SESSION", "trace_kprobe_session";
        /// Newer than 6.1 (6.13).
        TraceUprobeSession = 57, "BPF_TRACE_UPROBE_SESSION", "trace_uprobe_session";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_follow_the_kernel() {
        assert_eq!(ProgramType::SocketFilter.number(), 1);
        assert_eq!(ProgramType::RawTracepoint.number(), 17);
        assert_eq!(ProgramType::SchedCls.to_string(), "sched_cls");
        assert_eq!(ProgramType::from_number(6), Some(ProgramType::Xdp));
        assert_eq!(ProgramType::from_number(0), None);
        assert_eq!(MapType::Ringbuf.number(), 27);
        assert_eq!(MapType::PercpuArray.to_string(), "percpu_array");
        assert_eq!(MapType::from_name("lru_hash"), Some(MapType::LruHash));
        assert_eq!(AttachType::Xdp.number(), 37);
        assert_eq!(AttachType::TcxIngress.kernel_name(), "BPF_TCX_INGRESS");
    }

    #[test]
    fn tables_are_dense_and_names_unique() {
        fn check(numbers: &[u32], names: &[&str], first: u32) {
            for (i, n) in numbers.iter().enumerate() {
                assert_eq!(*n, first + i as u32, "gap or reorder at {i}");
            }
            let mut sorted = names.to_vec();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "duplicate name");
        }
        let p = ProgramType::ALL;
        check(
            &p.iter().map(|k| k.number()).collect::<Vec<_>>(),
            &p.iter().map(|k| k.name()).collect::<Vec<_>>(),
            1,
        );
        let m = MapType::ALL;
        check(
            &m.iter().map(|k| k.number()).collect::<Vec<_>>(),
            &m.iter().map(|k| k.name()).collect::<Vec<_>>(),
            1,
        );
        let a = AttachType::ALL;
        check(
            &a.iter().map(|k| k.number()).collect::<Vec<_>>(),
            &a.iter().map(|k| k.name()).collect::<Vec<_>>(),
            0,
        );
        for kind in p {
            assert_eq!(ProgramType::from_number(kind.number()), Some(*kind));
            assert_eq!(
                kind.kernel_name().trim_start_matches("BPF_PROG_TYPE_"),
                kind.name().to_uppercase()
            );
        }
        for kind in m {
            assert_eq!(
                kind.kernel_name().trim_start_matches("BPF_MAP_TYPE_"),
                kind.name().to_uppercase()
            );
        }
    }
}
