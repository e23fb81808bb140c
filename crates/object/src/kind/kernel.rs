//! The kernel's numbering and names of program types and attach types.

use core::fmt;

/// `BPF_PROG_TYPE_*`: what the kernel calls the program's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProgramType {
    SocketFilter,
    Kprobe,
    SchedCls,
    SchedAct,
    Tracepoint,
    Xdp,
    PerfEvent,
    CgroupSkb,
    CgroupSock,
    LwtIn,
    LwtOut,
    LwtXmit,
    SockOps,
    SkSkb,
    CgroupDevice,
    SkMsg,
    RawTracepoint,
    CgroupSockAddr,
    LwtSeg6local,
    LircMode2,
    SkReuseport,
    FlowDissector,
    CgroupSysctl,
    RawTracepointWritable,
    CgroupSockopt,
    Tracing,
    StructOps,
    Ext,
    Lsm,
    SkLookup,
    Syscall,
    Netfilter,
}

impl ProgramType {
    /// Every program type, in kernel order.
    pub const ALL: [ProgramType; 32] = [
        ProgramType::SocketFilter,
        ProgramType::Kprobe,
        ProgramType::SchedCls,
        ProgramType::SchedAct,
        ProgramType::Tracepoint,
        ProgramType::Xdp,
        ProgramType::PerfEvent,
        ProgramType::CgroupSkb,
        ProgramType::CgroupSock,
        ProgramType::LwtIn,
        ProgramType::LwtOut,
        ProgramType::LwtXmit,
        ProgramType::SockOps,
        ProgramType::SkSkb,
        ProgramType::CgroupDevice,
        ProgramType::SkMsg,
        ProgramType::RawTracepoint,
        ProgramType::CgroupSockAddr,
        ProgramType::LwtSeg6local,
        ProgramType::LircMode2,
        ProgramType::SkReuseport,
        ProgramType::FlowDissector,
        ProgramType::CgroupSysctl,
        ProgramType::RawTracepointWritable,
        ProgramType::CgroupSockopt,
        ProgramType::Tracing,
        ProgramType::StructOps,
        ProgramType::Ext,
        ProgramType::Lsm,
        ProgramType::SkLookup,
        ProgramType::Syscall,
        ProgramType::Netfilter,
    ];

    /// The `BPF_PROG_TYPE_*` number: position in kernel order, from 1.
    pub fn id(self) -> u32 {
        let index = ProgramType::ALL.iter().position(|&t| t == self);
        index.map_or(0, |i| i as u32 + 1)
    }

    /// The program type with kernel number `id`.
    pub fn from_id(id: u32) -> Option<ProgramType> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        ProgramType::ALL.get(index).copied()
    }

    /// The name bpftool prints (`socket_filter`, `sched_cls`, `xdp`).
    pub fn name(self) -> &'static str {
        match self {
            ProgramType::SocketFilter => "socket_filter",
            ProgramType::Kprobe => "kprobe",
            ProgramType::SchedCls => "sched_cls",
            ProgramType::SchedAct => "sched_act",
            ProgramType::Tracepoint => "tracepoint",
            ProgramType::Xdp => "xdp",
            ProgramType::PerfEvent => "perf_event",
            ProgramType::CgroupSkb => "cgroup_skb",
            ProgramType::CgroupSock => "cgroup_sock",
            ProgramType::LwtIn => "lwt_in",
            ProgramType::LwtOut => "lwt_out",
            ProgramType::LwtXmit => "lwt_xmit",
            ProgramType::SockOps => "sock_ops",
            ProgramType::SkSkb => "sk_skb",
            ProgramType::CgroupDevice => "cgroup_device",
            ProgramType::SkMsg => "sk_msg",
            ProgramType::RawTracepoint => "raw_tracepoint",
            ProgramType::CgroupSockAddr => "cgroup_sock_addr",
            ProgramType::LwtSeg6local => "lwt_seg6local",
            ProgramType::LircMode2 => "lirc_mode2",
            ProgramType::SkReuseport => "sk_reuseport",
            ProgramType::FlowDissector => "flow_dissector",
            ProgramType::CgroupSysctl => "cgroup_sysctl",
            ProgramType::RawTracepointWritable => "raw_tracepoint_writable",
            ProgramType::CgroupSockopt => "cgroup_sockopt",
            ProgramType::Tracing => "tracing",
            ProgramType::StructOps => "struct_ops",
            ProgramType::Ext => "ext",
            ProgramType::Lsm => "lsm",
            ProgramType::SkLookup => "sk_lookup",
            ProgramType::Syscall => "syscall",
            ProgramType::Netfilter => "netfilter",
        }
    }
}

impl fmt::Display for ProgramType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `BPF_*` attach types that section names select (`expected_attach_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttachType {
    CgroupInetIngress,
    CgroupInetEgress,
    CgroupInetSockCreate,
    CgroupSockOps,
    SkSkbStreamParser,
    SkSkbStreamVerdict,
    CgroupDevice,
    SkMsgVerdict,
    CgroupInet4Bind,
    CgroupInet6Bind,
    CgroupInet4Connect,
    CgroupInet6Connect,
    CgroupInet4PostBind,
    CgroupInet6PostBind,
    CgroupUdp4Sendmsg,
    CgroupUdp6Sendmsg,
    LircMode2,
    FlowDissector,
    CgroupSysctl,
    CgroupUdp4Recvmsg,
    CgroupUdp6Recvmsg,
    CgroupGetsockopt,
    CgroupSetsockopt,
    TraceRawTp,
    TraceFentry,
    TraceFexit,
    ModifyReturn,
    LsmMac,
    TraceIter,
    CgroupInet4Getpeername,
    CgroupInet6Getpeername,
    CgroupInet4Getsockname,
    CgroupInet6Getsockname,
    XdpDevmap,
    CgroupInetSockRelease,
    XdpCpumap,
    SkLookup,
    Xdp,
    SkSkbVerdict,
    SkReuseportSelect,
    SkReuseportSelectOrMigrate,
    PerfEvent,
    TraceKprobeMulti,
    LsmCgroup,
    StructOps,
    Netfilter,
    TcxIngress,
    TcxEgress,
    TraceUprobeMulti,
    CgroupUnixConnect,
    CgroupUnixSendmsg,
    CgroupUnixRecvmsg,
    CgroupUnixGetpeername,
    CgroupUnixGetsockname,
}

impl AttachType {
    /// Every attach type, in kernel order (`BPF_CGROUP_INET_INGRESS` is 0).
    pub const ALL: [AttachType; 54] = [
        AttachType::CgroupInetIngress,
        AttachType::CgroupInetEgress,
        AttachType::CgroupInetSockCreate,
        AttachType::CgroupSockOps,
        AttachType::SkSkbStreamParser,
        AttachType::SkSkbStreamVerdict,
        AttachType::CgroupDevice,
        AttachType::SkMsgVerdict,
        AttachType::CgroupInet4Bind,
        AttachType::CgroupInet6Bind,
        AttachType::CgroupInet4Connect,
        AttachType::CgroupInet6Connect,
        AttachType::CgroupInet4PostBind,
        AttachType::CgroupInet6PostBind,
        AttachType::CgroupUdp4Sendmsg,
        AttachType::CgroupUdp6Sendmsg,
        AttachType::LircMode2,
        AttachType::FlowDissector,
        AttachType::CgroupSysctl,
        AttachType::CgroupUdp4Recvmsg,
        AttachType::CgroupUdp6Recvmsg,
        AttachType::CgroupGetsockopt,
        AttachType::CgroupSetsockopt,
        AttachType::TraceRawTp,
        AttachType::TraceFentry,
        AttachType::TraceFexit,
        AttachType::ModifyReturn,
        AttachType::LsmMac,
        AttachType::TraceIter,
        AttachType::CgroupInet4Getpeername,
        AttachType::CgroupInet6Getpeername,
        AttachType::CgroupInet4Getsockname,
        AttachType::CgroupInet6Getsockname,
        AttachType::XdpDevmap,
        AttachType::CgroupInetSockRelease,
        AttachType::XdpCpumap,
        AttachType::SkLookup,
        AttachType::Xdp,
        AttachType::SkSkbVerdict,
        AttachType::SkReuseportSelect,
        AttachType::SkReuseportSelectOrMigrate,
        AttachType::PerfEvent,
        AttachType::TraceKprobeMulti,
        AttachType::LsmCgroup,
        AttachType::StructOps,
        AttachType::Netfilter,
        AttachType::TcxIngress,
        AttachType::TcxEgress,
        AttachType::TraceUprobeMulti,
        AttachType::CgroupUnixConnect,
        AttachType::CgroupUnixSendmsg,
        AttachType::CgroupUnixRecvmsg,
        AttachType::CgroupUnixGetpeername,
        AttachType::CgroupUnixGetsockname,
    ];

    /// The `BPF_*` attach type number.
    pub fn id(self) -> u32 {
        let index = AttachType::ALL.iter().position(|&t| t == self);
        index.map_or(u32::MAX, |i| i as u32)
    }
}
