//! The section-name rules, most specific first: one table that
//! [`ProgramKind::from_section`] walks in two passes (see the module above).

use super::{
    Direction, ProgramKind, SkSkbAttach, SockAddrHook, SockHook, TcAttach, TracingHook, XdpAttach,
};

/// The hook's name after `cgroup/`: the one table parsing and naming use.
pub(super) const SOCK_ADDR_HOOKS: [(&str, SockAddrHook); 17] = [
    ("bind4", SockAddrHook::Bind4),
    ("bind6", SockAddrHook::Bind6),
    ("connect4", SockAddrHook::Connect4),
    ("connect6", SockAddrHook::Connect6),
    ("connect_unix", SockAddrHook::ConnectUnix),
    ("sendmsg4", SockAddrHook::Sendmsg4),
    ("sendmsg6", SockAddrHook::Sendmsg6),
    ("sendmsg_unix", SockAddrHook::SendmsgUnix),
    ("recvmsg4", SockAddrHook::Recvmsg4),
    ("recvmsg6", SockAddrHook::Recvmsg6),
    ("recvmsg_unix", SockAddrHook::RecvmsgUnix),
    ("getpeername4", SockAddrHook::Getpeername4),
    ("getpeername6", SockAddrHook::Getpeername6),
    ("getpeername_unix", SockAddrHook::GetpeernameUnix),
    ("getsockname4", SockAddrHook::Getsockname4),
    ("getsockname6", SockAddrHook::Getsockname6),
    ("getsockname_unix", SockAddrHook::GetsocknameUnix),
];

pub(super) fn sock_addr_name(hook: SockAddrHook) -> &'static str {
    SOCK_ADDR_HOOKS
        .iter()
        .find(|(_, h)| *h == hook)
        .map_or("", |(name, _)| name)
}

/// The first rule matching `name` in the current forms, else in the
/// legacy prefixes, else [`ProgramKind::Unknown`].
pub(super) fn parse(name: &str) -> ProgramKind {
    RULES
        .iter()
        .find_map(|rule| (rule.make)(rule.pattern.matches(name)?))
        .or_else(|| {
            RULES
                .iter()
                .filter(|rule| rule.legacy_prefix && name.starts_with(rule.pattern.prefix()))
                .find_map(|rule| (rule.make)(""))
        })
        .unwrap_or_else(|| ProgramKind::Unknown(name.to_owned()))
}

/// How a rule's name must match the section name.
#[derive(Clone, Copy)]
enum Pattern {
    /// Exactly this name.
    Exact(&'static str),
    /// This name, or this name, `/` and a target (libbpf's `"type+"`); the
    /// target is passed on, empty for the bare name.
    Target(&'static str),
}

impl Pattern {
    fn matches(self, name: &str) -> Option<&str> {
        match self {
            Pattern::Exact(p) => (name == p).then_some(""),
            Pattern::Target(p) => match name.strip_prefix(p)? {
                "" => Some(""),
                rest => rest.strip_prefix('/'),
            },
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Pattern::Exact(p) | Pattern::Target(p) => p,
        }
    }
}

struct Rule {
    pattern: Pattern,
    /// libbpf before 1.0 also took any name that merely starts with it.
    legacy_prefix: bool,
    make: fn(&str) -> Option<ProgramKind>,
}

/// A rule whose maker always succeeds.
macro_rules! rule {
    ($pattern:expr, $legacy:expr, $make:expr) => {
        Rule {
            pattern: $pattern,
            legacy_prefix: $legacy,
            make: |rest| {
                let make: fn(&str) -> ProgramKind = $make;
                Some(make(rest))
            },
        }
    };
}

macro_rules! exact {
    ($name:literal, $make:expr) => {
        rule!(Pattern::Exact($name), false, $make)
    };
}

macro_rules! target {
    ($name:literal, $make:expr) => {
        rule!(Pattern::Target($name), false, $make)
    };
}

macro_rules! legacy {
    ($name:literal, $make:expr) => {
        rule!(Pattern::Target($name), true, $make)
    };
}

fn tracepoint(rest: &str) -> ProgramKind {
    let (category, name) = rest.split_once('/').unwrap_or((rest, ""));
    ProgramKind::Tracepoint {
        category: category.into(),
        name: name.into(),
    }
}

fn tracing(hook: TracingHook, target: &str, sleepable: bool) -> ProgramKind {
    ProgramKind::Tracing {
        hook,
        target: target.into(),
        sleepable,
    }
}

/// `cgroup/HOOK` for the socket-address hooks, by [`SOCK_ADDR_HOOKS`].
fn sock_addr(rest: &str) -> Option<ProgramKind> {
    SOCK_ADDR_HOOKS
        .iter()
        .find(|(name, _)| *name == rest)
        .map(|&(_, hook)| ProgramKind::CgroupSockAddr { hook })
}

/// The rules, most specific first; the first match wins in each pass.
static RULES: &[Rule] = {
    use ProgramKind as K;
    &[
        legacy!("socket", |_| K::SocketFilter),
        exact!("sk_reuseport/migrate", |_| K::SkReuseport { migrate: true }),
        exact!("sk_reuseport", |_| K::SkReuseport { migrate: false }),
        target!("kprobe.multi", |p| K::KprobeMulti {
            pattern: p.into(),
            ret: false,
        }),
        target!("kretprobe.multi", |p| K::KprobeMulti {
            pattern: p.into(),
            ret: true,
        }),
        target!("uprobe.multi", |t| K::UprobeMulti {
            target: t.into(),
            ret: false,
        }),
        target!("uretprobe.multi", |t| K::UprobeMulti {
            target: t.into(),
            ret: true,
        }),
        target!("kprobe", |t| K::Kprobe {
            target: t.into(),
            syscall: false,
        }),
        target!("kretprobe", |t| K::Kretprobe {
            target: t.into(),
            syscall: false,
        }),
        target!("ksyscall", |t| K::Kprobe {
            target: t.into(),
            syscall: true,
        }),
        target!("kretsyscall", |t| K::Kretprobe {
            target: t.into(),
            syscall: true,
        }),
        target!("uprobe", |t| K::Uprobe {
            target: t.into(),
            sleepable: false,
        }),
        target!("uprobe.s", |t| K::Uprobe {
            target: t.into(),
            sleepable: true,
        }),
        target!("uretprobe", |t| K::Uretprobe {
            target: t.into(),
            sleepable: false,
        }),
        target!("uretprobe.s", |t| K::Uretprobe {
            target: t.into(),
            sleepable: true,
        }),
        target!("usdt", |t| K::Usdt { target: t.into() }),
        exact!("tc/ingress", |_| K::SchedCls {
            attach: TcAttach::TcxIngress,
        }),
        exact!("tc/egress", |_| K::SchedCls {
            attach: TcAttach::TcxEgress,
        }),
        exact!("tcx/ingress", |_| K::SchedCls {
            attach: TcAttach::TcxIngress,
        }),
        exact!("tcx/egress", |_| K::SchedCls {
            attach: TcAttach::TcxEgress,
        }),
        target!("tc", |_| K::SchedCls {
            attach: TcAttach::Qdisc,
        }),
        legacy!("classifier", |_| K::SchedCls {
            attach: TcAttach::Qdisc,
        }),
        legacy!("action", |_| K::SchedAct),
        target!("tracepoint", tracepoint),
        target!("tp", tracepoint),
        target!("raw_tracepoint", |n| K::RawTracepoint {
            name: n.into(),
            writable: false,
        }),
        target!("raw_tp", |n| K::RawTracepoint {
            name: n.into(),
            writable: false,
        }),
        target!("raw_tracepoint.w", |n| K::RawTracepoint {
            name: n.into(),
            writable: true,
        }),
        target!("raw_tp.w", |n| K::RawTracepoint {
            name: n.into(),
            writable: true,
        }),
        target!("tp_btf", |t| tracing(TracingHook::TpBtf, t, false)),
        target!("fentry", |t| tracing(TracingHook::Fentry, t, false)),
        target!("fmod_ret", |t| tracing(TracingHook::FmodRet, t, false)),
        target!("fexit", |t| tracing(TracingHook::Fexit, t, false)),
        target!("fentry.s", |t| tracing(TracingHook::Fentry, t, true)),
        target!("fmod_ret.s", |t| tracing(TracingHook::FmodRet, t, true)),
        target!("fexit.s", |t| tracing(TracingHook::Fexit, t, true)),
        target!("freplace", |t| K::Extension { target: t.into() }),
        target!("lsm", |h| K::Lsm {
            hook: h.into(),
            sleepable: false,
            cgroup: false,
        }),
        target!("lsm.s", |h| K::Lsm {
            hook: h.into(),
            sleepable: true,
            cgroup: false,
        }),
        target!("lsm_cgroup", |h| K::Lsm {
            hook: h.into(),
            sleepable: false,
            cgroup: true,
        }),
        target!("iter", |t| K::Iter {
            target: t.into(),
            sleepable: false,
        }),
        target!("iter.s", |t| K::Iter {
            target: t.into(),
            sleepable: true,
        }),
        exact!("syscall", |_| K::Syscall),
        exact!("xdp.frags/devmap", |_| K::Xdp {
            frags: true,
            attach: XdpAttach::Devmap,
        }),
        exact!("xdp/devmap", |_| K::Xdp {
            frags: false,
            attach: XdpAttach::Devmap,
        }),
        target!("xdp_devmap", |_| K::Xdp {
            frags: false,
            attach: XdpAttach::Devmap,
        }),
        exact!("xdp.frags/cpumap", |_| K::Xdp {
            frags: true,
            attach: XdpAttach::Cpumap,
        }),
        exact!("xdp/cpumap", |_| K::Xdp {
            frags: false,
            attach: XdpAttach::Cpumap,
        }),
        target!("xdp_cpumap", |_| K::Xdp {
            frags: false,
            attach: XdpAttach::Cpumap,
        }),
        exact!("xdp.frags", |_| K::Xdp {
            frags: true,
            attach: XdpAttach::Interface,
        }),
        legacy!("xdp", |_| K::Xdp {
            frags: false,
            attach: XdpAttach::Interface,
        }),
        legacy!("perf_event", |_| K::PerfEvent),
        legacy!("lwt_in", |_| K::LwtIn),
        legacy!("lwt_out", |_| K::LwtOut),
        legacy!("lwt_xmit", |_| K::LwtXmit),
        legacy!("lwt_seg6local", |_| K::LwtSeg6local),
        legacy!("sockops", |_| K::SockOps),
        legacy!("sk_skb/stream_parser", |_| K::SkSkb {
            attach: Some(SkSkbAttach::StreamParser),
        }),
        legacy!("sk_skb/stream_verdict", |_| K::SkSkb {
            attach: Some(SkSkbAttach::StreamVerdict),
        }),
        target!("sk_skb/verdict", |_| K::SkSkb {
            attach: Some(SkSkbAttach::Verdict),
        }),
        legacy!("sk_skb", |_| K::SkSkb { attach: None }),
        legacy!("sk_msg", |_| K::SkMsg),
        legacy!("lirc_mode2", |_| K::LircMode2),
        legacy!("flow_dissector", |_| K::FlowDissector),
        legacy!("cgroup_skb/ingress", |_| K::CgroupSkb {
            direction: Some(Direction::Ingress),
        }),
        legacy!("cgroup_skb/egress", |_| K::CgroupSkb {
            direction: Some(Direction::Egress),
        }),
        legacy!("cgroup/skb", |_| K::CgroupSkb { direction: None }),
        target!("cgroup/sock_create", |_| K::CgroupSock {
            hook: SockHook::Create,
        }),
        target!("cgroup/sock_release", |_| K::CgroupSock {
            hook: SockHook::Release,
        }),
        legacy!("cgroup/sock", |_| K::CgroupSock {
            hook: SockHook::Create,
        }),
        target!("cgroup/post_bind4", |_| K::CgroupSock {
            hook: SockHook::PostBind4,
        }),
        target!("cgroup/post_bind6", |_| K::CgroupSock {
            hook: SockHook::PostBind6,
        }),
        legacy!("cgroup/dev", |_| K::CgroupDevice),
        target!("cgroup/sysctl", |_| K::CgroupSysctl),
        target!("cgroup/getsockopt", |_| K::CgroupSockopt { set: false }),
        target!("cgroup/setsockopt", |_| K::CgroupSockopt { set: true }),
        target!("struct_ops", |n| K::StructOps {
            name: n.into(),
            sleepable: false,
        }),
        target!("struct_ops.s", |n| K::StructOps {
            name: n.into(),
            sleepable: true,
        }),
        target!("sk_lookup", |_| K::SkLookup),
        exact!("netfilter", |_| K::Netfilter),
        Rule {
            pattern: Pattern::Target("cgroup"),
            legacy_prefix: false,
            make: sock_addr,
        },
    ]
};
