//! Program kinds from ELF section names, by libbpf's `SEC()` conventions.
//!
//! [`ProgramKind`] is parsed with [`FromStr`] and never fails: a name no
//! rule knows is kept as [`ProgramKind::Unknown`], so an object with a
//! loader-specific section (`tail-3`, `ingress`) still parses and the caller
//! decides. Matching runs in two passes, as libbpf did across its versions:
//!
//! 1. **Current forms** — the exact name (`xdp`, `sk_msg`), or the name
//!    followed by `/` and an attach target (`kprobe/do_unlinkat`,
//!    `tracepoint/syscalls/sys_enter_open`, `cgroup_skb/ingress`).
//! 2. **Legacy prefixes** — libbpf before 1.0 matched some names as plain
//!    prefixes, and older samples rely on it: `socket1` and `socket_filter`
//!    are socket filters, `xdp1` and `xdp_redirect_map` are XDP programs,
//!    `cgroup/sock1` is a `cgroup/sock` program. Only the kinds libbpf marked
//!    as prefix-matched get this.
//!
//! Differences from libbpf 1.x, on purpose: `tc/NAME` other than
//! `tc/ingress` and `tc/egress` is a legacy TC classifier (Cilium's
//! `tc/entry`), not an error.
//!
//! Not yet recognised (kept as `Unknown`): `kprobe.session`, the sleepable
//! `uprobe.multi.s` and `usdt.s` forms, and `netkit/*`.

mod kernel;
mod rules;

use core::convert::Infallible;
use core::str::FromStr;

pub use kernel::{AttachType, ProgramType};

use rules::sock_addr_name;

/// Where an XDP program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XdpAttach {
    /// On a network interface (`xdp`).
    Interface,
    /// In a `devmap` entry, after redirect (`xdp/devmap`).
    Devmap,
    /// In a `cpumap` entry, on the remote CPU (`xdp/cpumap`).
    Cpumap,
}

/// How a TC classifier attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcAttach {
    /// Through a qdisc filter (`tc`, `classifier`): the hook is chosen later.
    Qdisc,
    /// Through TCX links (`tc/ingress`, `tcx/ingress`).
    TcxIngress,
    TcxEgress,
}

/// Direction of a `cgroup_skb` program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

/// Hooks of `cgroup_sock` programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SockHook {
    Create,
    Release,
    PostBind4,
    PostBind6,
}

/// Hooks of `cgroup_sock_addr` programs (`cgroup/connect4` ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SockAddrHook {
    Bind4,
    Bind6,
    Connect4,
    Connect6,
    ConnectUnix,
    Sendmsg4,
    Sendmsg6,
    SendmsgUnix,
    Recvmsg4,
    Recvmsg6,
    RecvmsgUnix,
    Getpeername4,
    Getpeername6,
    GetpeernameUnix,
    Getsockname4,
    Getsockname6,
    GetsocknameUnix,
}

/// `sk_skb` attach points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkSkbAttach {
    StreamParser,
    StreamVerdict,
    Verdict,
}

/// Trampoline-based tracing hooks (`BPF_PROG_TYPE_TRACING`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TracingHook {
    Fentry,
    Fexit,
    FmodRet,
    /// `tp_btf/NAME`: a BTF-typed raw tracepoint.
    TpBtf,
}

/// What a program is and where it attaches, from its section name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProgramKind {
    /// `socket` (legacy: any name starting with `socket`).
    SocketFilter,
    /// `kprobe/FUNC[+OFFSET]`, `ksyscall/NAME`; `target` may be empty.
    Kprobe {
        target: String,
        syscall: bool,
    },
    Kretprobe {
        target: String,
        syscall: bool,
    },
    /// `kprobe.multi/PATTERN`, `kretprobe.multi/PATTERN`.
    KprobeMulti {
        pattern: String,
        ret: bool,
    },
    /// `uprobe/BINARY:FUNC[+OFFSET]`, `uprobe.s/...` when sleepable.
    Uprobe {
        target: String,
        sleepable: bool,
    },
    Uretprobe {
        target: String,
        sleepable: bool,
    },
    /// `uprobe.multi/...`, `uretprobe.multi/...`.
    UprobeMulti {
        target: String,
        ret: bool,
    },
    /// `usdt/BINARY:PROVIDER:NAME`.
    Usdt {
        target: String,
    },
    /// `tracepoint/CATEGORY/NAME` or `tp/CATEGORY/NAME`.
    Tracepoint {
        category: String,
        name: String,
    },
    /// `raw_tracepoint/NAME`, `raw_tp/NAME`; `.w` forms are writable.
    RawTracepoint {
        name: String,
        writable: bool,
    },
    /// `fentry/FUNC`, `fexit/FUNC`, `fmod_ret/FUNC`, `tp_btf/NAME`, with
    /// `.s` for sleepable.
    Tracing {
        hook: TracingHook,
        target: String,
        sleepable: bool,
    },
    /// `freplace/FUNC`.
    Extension {
        target: String,
    },
    /// `lsm/HOOK`, `lsm.s/HOOK`, `lsm_cgroup/HOOK`.
    Lsm {
        hook: String,
        sleepable: bool,
        cgroup: bool,
    },
    /// `iter/TARGET`, `iter.s/TARGET`.
    Iter {
        target: String,
        sleepable: bool,
    },
    /// `xdp`, `xdp.frags`, `xdp/devmap`, `xdp/cpumap` (legacy: `xdp*`).
    Xdp {
        frags: bool,
        attach: XdpAttach,
    },
    /// `tc`, `classifier`, `tc/ingress`, `tcx/egress` ...
    SchedCls {
        attach: TcAttach,
    },
    /// `action`.
    SchedAct,
    /// `perf_event`.
    PerfEvent,
    /// `cgroup_skb/ingress`, `cgroup_skb/egress`, `cgroup/skb`.
    CgroupSkb {
        direction: Option<Direction>,
    },
    /// `cgroup/sock_create` (also `cgroup/sock`), `cgroup/sock_release`,
    /// `cgroup/post_bind4`, `cgroup/post_bind6`.
    CgroupSock {
        hook: SockHook,
    },
    /// `cgroup/connect4`, `cgroup/sendmsg6`, `cgroup/getsockname_unix` ...
    CgroupSockAddr {
        hook: SockAddrHook,
    },
    /// `cgroup/dev`.
    CgroupDevice,
    /// `cgroup/sysctl`.
    CgroupSysctl,
    /// `cgroup/getsockopt`, `cgroup/setsockopt`.
    CgroupSockopt {
        set: bool,
    },
    /// `sockops`.
    SockOps,
    /// `sk_skb`, `sk_skb/stream_parser`, `sk_skb/stream_verdict`, `sk_skb/verdict`.
    SkSkb {
        attach: Option<SkSkbAttach>,
    },
    /// `sk_msg`.
    SkMsg,
    /// `sk_lookup`.
    SkLookup,
    /// `sk_reuseport`, `sk_reuseport/migrate`.
    SkReuseport {
        migrate: bool,
    },
    /// `lwt_in`.
    LwtIn,
    LwtOut,
    LwtXmit,
    LwtSeg6local,
    /// `flow_dissector`.
    FlowDissector,
    /// `lirc_mode2`.
    LircMode2,
    /// `syscall`.
    Syscall,
    /// `struct_ops/NAME`, `struct_ops.s/NAME`.
    StructOps {
        name: String,
        sleepable: bool,
    },
    /// `netfilter`.
    Netfilter,
    /// A section name no rule knows, kept whole.
    Unknown(String),
}

impl ProgramKind {
    /// Parses a section name; never fails (see [`ProgramKind::Unknown`]).
    pub fn from_section(name: &str) -> ProgramKind {
        rules::parse(name)
    }

    /// The kernel program type; `None` for [`ProgramKind::Unknown`].
    pub fn program_type(&self) -> Option<ProgramType> {
        use ProgramKind as K;
        use ProgramType as T;
        Some(match self {
            K::SocketFilter => T::SocketFilter,
            K::Kprobe { .. }
            | K::Kretprobe { .. }
            | K::KprobeMulti { .. }
            | K::Uprobe { .. }
            | K::Uretprobe { .. }
            | K::UprobeMulti { .. }
            | K::Usdt { .. } => T::Kprobe,
            K::Tracepoint { .. } => T::Tracepoint,
            K::RawTracepoint {
                writable: false, ..
            } => T::RawTracepoint,
            K::RawTracepoint { writable: true, .. } => T::RawTracepointWritable,
            K::Tracing { .. } | K::Iter { .. } => T::Tracing,
            K::Extension { .. } => T::Ext,
            K::Lsm { .. } => T::Lsm,
            K::Xdp { .. } => T::Xdp,
            K::SchedCls { .. } => T::SchedCls,
            K::SchedAct => T::SchedAct,
            K::PerfEvent => T::PerfEvent,
            K::CgroupSkb { .. } => T::CgroupSkb,
            K::CgroupSock { .. } => T::CgroupSock,
            K::CgroupSockAddr { .. } => T::CgroupSockAddr,
            K::CgroupDevice => T::CgroupDevice,
            K::CgroupSysctl => T::CgroupSysctl,
            K::CgroupSockopt { .. } => T::CgroupSockopt,
            K::SockOps => T::SockOps,
            K::SkSkb { .. } => T::SkSkb,
            K::SkMsg => T::SkMsg,
            K::SkLookup => T::SkLookup,
            K::SkReuseport { .. } => T::SkReuseport,
            K::LwtIn => T::LwtIn,
            K::LwtOut => T::LwtOut,
            K::LwtXmit => T::LwtXmit,
            K::LwtSeg6local => T::LwtSeg6local,
            K::FlowDissector => T::FlowDissector,
            K::LircMode2 => T::LircMode2,
            K::Syscall => T::Syscall,
            K::StructOps { .. } => T::StructOps,
            K::Netfilter => T::Netfilter,
            K::Unknown(_) => return None,
        })
    }

    /// The `expected_attach_type` the kernel wants at load, when there is one.
    pub fn expected_attach_type(&self) -> Option<AttachType> {
        use AttachType as A;
        use ProgramKind as K;
        Some(match self {
            K::KprobeMulti { .. } => A::TraceKprobeMulti,
            K::UprobeMulti { .. } => A::TraceUprobeMulti,
            K::Tracing { hook, .. } => match hook {
                TracingHook::Fentry => A::TraceFentry,
                TracingHook::Fexit => A::TraceFexit,
                TracingHook::FmodRet => A::ModifyReturn,
                TracingHook::TpBtf => A::TraceRawTp,
            },
            K::Iter { .. } => A::TraceIter,
            K::Lsm { cgroup: false, .. } => A::LsmMac,
            K::Lsm { cgroup: true, .. } => A::LsmCgroup,
            K::Xdp { attach, .. } => match attach {
                XdpAttach::Interface => A::Xdp,
                XdpAttach::Devmap => A::XdpDevmap,
                XdpAttach::Cpumap => A::XdpCpumap,
            },
            K::SchedCls {
                attach: TcAttach::TcxIngress,
            } => A::TcxIngress,
            K::SchedCls {
                attach: TcAttach::TcxEgress,
            } => A::TcxEgress,
            K::CgroupSkb {
                direction: Some(Direction::Ingress),
            } => A::CgroupInetIngress,
            K::CgroupSkb {
                direction: Some(Direction::Egress),
            } => A::CgroupInetEgress,
            K::CgroupSock { hook } => match hook {
                SockHook::Create => A::CgroupInetSockCreate,
                SockHook::Release => A::CgroupInetSockRelease,
                SockHook::PostBind4 => A::CgroupInet4PostBind,
                SockHook::PostBind6 => A::CgroupInet6PostBind,
            },
            K::CgroupSockAddr { hook } => sock_addr_attach(*hook),
            K::CgroupDevice => A::CgroupDevice,
            K::CgroupSysctl => A::CgroupSysctl,
            K::CgroupSockopt { set: false } => A::CgroupGetsockopt,
            K::CgroupSockopt { set: true } => A::CgroupSetsockopt,
            K::SockOps => A::CgroupSockOps,
            K::SkSkb {
                attach: Some(attach),
            } => match attach {
                SkSkbAttach::StreamParser => A::SkSkbStreamParser,
                SkSkbAttach::StreamVerdict => A::SkSkbStreamVerdict,
                SkSkbAttach::Verdict => A::SkSkbVerdict,
            },
            K::SkMsg => A::SkMsgVerdict,
            K::SkLookup => A::SkLookup,
            K::SkReuseport { migrate: false } => A::SkReuseportSelect,
            K::SkReuseport { migrate: true } => A::SkReuseportSelectOrMigrate,
            K::FlowDissector => A::FlowDissector,
            K::LircMode2 => A::LircMode2,
            K::Netfilter => A::Netfilter,
            _ => return None,
        })
    }

    /// The target named in the section (function, tracepoint, binary, hook),
    /// or the hook the section selects (`ingress`, `connect4`); `None` when
    /// the section says nothing about where the program attaches.
    pub fn attach_point(&self) -> Option<String> {
        use ProgramKind as K;
        let target = match self {
            K::Kprobe { target, .. }
            | K::Kretprobe { target, .. }
            | K::Uprobe { target, .. }
            | K::Uretprobe { target, .. }
            | K::UprobeMulti { target, .. }
            | K::Usdt { target }
            | K::Tracing { target, .. }
            | K::Extension { target }
            | K::Iter { target, .. } => target.clone(),
            K::KprobeMulti { pattern, .. } => pattern.clone(),
            K::Tracepoint { category, name } => format!("{category}/{name}"),
            K::RawTracepoint { name, .. } => name.clone(),
            K::Lsm { hook, .. } => hook.clone(),
            K::StructOps { name, .. } => name.clone(),
            K::Xdp { attach, .. } => match attach {
                XdpAttach::Interface => return None,
                XdpAttach::Devmap => "devmap".into(),
                XdpAttach::Cpumap => "cpumap".into(),
            },
            K::SchedCls { attach } => match attach {
                TcAttach::Qdisc => return None,
                TcAttach::TcxIngress => "ingress".into(),
                TcAttach::TcxEgress => "egress".into(),
            },
            K::CgroupSkb {
                direction: Some(direction),
            } => match direction {
                Direction::Ingress => "ingress".into(),
                Direction::Egress => "egress".into(),
            },
            K::CgroupSock { hook } => match hook {
                SockHook::Create => "sock_create",
                SockHook::Release => "sock_release",
                SockHook::PostBind4 => "post_bind4",
                SockHook::PostBind6 => "post_bind6",
            }
            .into(),
            K::CgroupSockAddr { hook } => sock_addr_name(*hook).into(),
            K::CgroupSockopt { set } => if *set { "setsockopt" } else { "getsockopt" }.into(),
            K::SkSkb {
                attach: Some(attach),
            } => match attach {
                SkSkbAttach::StreamParser => "stream_parser",
                SkSkbAttach::StreamVerdict => "stream_verdict",
                SkSkbAttach::Verdict => "verdict",
            }
            .into(),
            _ => return None,
        };
        Some(target)
    }
}

impl FromStr for ProgramKind {
    type Err = Infallible;

    fn from_str(name: &str) -> Result<Self, Infallible> {
        Ok(ProgramKind::from_section(name))
    }
}

fn sock_addr_attach(hook: SockAddrHook) -> AttachType {
    use AttachType as A;
    use SockAddrHook as H;
    match hook {
        H::Bind4 => A::CgroupInet4Bind,
        H::Bind6 => A::CgroupInet6Bind,
        H::Connect4 => A::CgroupInet4Connect,
        H::Connect6 => A::CgroupInet6Connect,
        H::ConnectUnix => A::CgroupUnixConnect,
        H::Sendmsg4 => A::CgroupUdp4Sendmsg,
        H::Sendmsg6 => A::CgroupUdp6Sendmsg,
        H::SendmsgUnix => A::CgroupUnixSendmsg,
        H::Recvmsg4 => A::CgroupUdp4Recvmsg,
        H::Recvmsg6 => A::CgroupUdp6Recvmsg,
        H::RecvmsgUnix => A::CgroupUnixRecvmsg,
        H::Getpeername4 => A::CgroupInet4Getpeername,
        H::Getpeername6 => A::CgroupInet6Getpeername,
        H::GetpeernameUnix => A::CgroupUnixGetpeername,
        H::Getsockname4 => A::CgroupInet4Getsockname,
        H::Getsockname6 => A::CgroupInet6Getsockname,
        H::GetsocknameUnix => A::CgroupUnixGetsockname,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> ProgramKind {
        name.parse().unwrap()
    }

    #[test]
    fn current_forms_carry_their_attach_point() {
        assert_eq!(
            kind("tracepoint/syscalls/sys_enter_open"),
            ProgramKind::Tracepoint {
                category: "syscalls".into(),
                name: "sys_enter_open".into()
            }
        );
        assert_eq!(
            kind("tp/sched/sched_switch").attach_point().unwrap(),
            "sched/sched_switch"
        );
        let kprobe = kind("kprobe/__x64_sys_write");
        assert_eq!(kprobe.program_type(), Some(ProgramType::Kprobe));
        assert_eq!(kprobe.attach_point().as_deref(), Some("__x64_sys_write"));
        assert_eq!(
            kind("kretprobe/blk_account_io_completion"),
            ProgramKind::Kretprobe {
                target: "blk_account_io_completion".into(),
                syscall: false
            }
        );
        assert_eq!(
            kind("uretprobe/bash_readline").program_type(),
            Some(ProgramType::Kprobe)
        );
        assert_eq!(
            kind("raw_tp/task_rename"),
            ProgramKind::RawTracepoint {
                name: "task_rename".into(),
                writable: false
            }
        );
        let fentry = kind("fentry/tcp_connect");
        assert_eq!(fentry.program_type(), Some(ProgramType::Tracing));
        assert_eq!(fentry.expected_attach_type(), Some(AttachType::TraceFentry));
        assert_eq!(
            kind("cgroup_skb/egress").expected_attach_type(),
            Some(AttachType::CgroupInetEgress)
        );
        assert_eq!(
            kind("cgroup/connect4"),
            ProgramKind::CgroupSockAddr {
                hook: SockAddrHook::Connect4
            }
        );
        assert_eq!(
            kind("cgroup/sock_release").expected_attach_type(),
            Some(AttachType::CgroupInetSockRelease)
        );
        assert_eq!(
            kind("xdp.frags"),
            ProgramKind::Xdp {
                frags: true,
                attach: XdpAttach::Interface
            }
        );
        assert_eq!(
            kind("xdp/cpumap").expected_attach_type(),
            Some(AttachType::XdpCpumap)
        );
        assert_eq!(
            kind("tc/ingress").expected_attach_type(),
            Some(AttachType::TcxIngress)
        );
        assert_eq!(kind("tc").program_type(), Some(ProgramType::SchedCls));
        assert_eq!(
            kind("classifier").program_type(),
            Some(ProgramType::SchedCls)
        );
        assert_eq!(
            kind("sk_skb/stream_parser").attach_point().unwrap(),
            "stream_parser"
        );
        assert_eq!(kind("lwt_xmit"), ProgramKind::LwtXmit);
    }

    #[test]
    fn legacy_prefixes_match_like_old_libbpf() {
        for name in ["socket1", "socket/3", "socket_filter"] {
            assert_eq!(kind(name), ProgramKind::SocketFilter, "{name}");
        }
        for name in ["xdp1", "xdp_prog", "xdp_redirect_map", "xdp_cpu_map0"] {
            assert_eq!(kind(name).program_type(), Some(ProgramType::Xdp), "{name}");
        }
        assert_eq!(
            kind("cgroup/sock1"),
            ProgramKind::CgroupSock {
                hook: SockHook::Create
            }
        );
        assert_eq!(kind("sockops_x"), ProgramKind::SockOps);
        assert_eq!(kind("perf_event"), ProgramKind::PerfEvent);
        // Not a legacy prefix in libbpf: kprobe needs its slash.
        assert_eq!(kind("kprobex"), ProgramKind::Unknown("kprobex".into()));
    }

    #[test]
    fn unknown_names_are_kept() {
        for name in ["tail-3", "ingress", "filter", "tc_mark", ".text"] {
            assert_eq!(kind(name), ProgramKind::Unknown(name.into()));
            assert_eq!(kind(name).program_type(), None);
        }
    }

    #[test]
    fn ids_follow_the_kernel() {
        assert_eq!(ProgramType::SocketFilter.id(), 1);
        assert_eq!(ProgramType::Xdp.id(), 6);
        assert_eq!(ProgramType::Netfilter.id(), 32);
        assert_eq!(ProgramType::from_id(3), Some(ProgramType::SchedCls));
        assert_eq!(ProgramType::from_id(0), None);
        assert_eq!(AttachType::Xdp.id(), 37);
        assert_eq!(AttachType::TcxIngress.id(), 46);
        assert_eq!(AttachType::CgroupUnixGetsockname.id(), 53);
        for hook in rules::SOCK_ADDR_HOOKS {
            assert_eq!(
                kind(&format!("cgroup/{}", hook.0)),
                ProgramKind::CgroupSockAddr { hook: hook.1 }
            );
        }
    }
}
