//! Attaching a loaded object's programs by their section names, as
//! libbpf's auto-attach does, and waiting for Ctrl-C while they run.
//!
//! | section | attached with |
//! |---|---|
//! | `tracepoint/CAT/NAME`, `tp/CAT/NAME` | [`crate::attach_tracepoint`] |
//! | `raw_tracepoint/NAME`, `raw_tp/NAME` | [`crate::attach_raw_tracepoint`] |
//! | `tp_btf/NAME` | [`crate::attach_btf_tracepoint`] |
//! | `uprobe/PATH:SYMBOL[+OFFSET]`, `uretprobe/...` | [`crate::attach_uprobe`]; `PATH` without a `/` is looked up in `$PATH` |
//! | `xdp` | [`crate::attach_xdp`] on [`AttachOptions::interface`] |
//! | `tc/ingress`, `tcx/egress`, ... | [`crate::attach_tc`] on the interface, in [`AttachOptions::tc_mode`] |
//! | `tc`, `classifier` | [`crate::attach_tc`] at ingress (the section names no direction) |
//!
//! Everything else is skipped with a reason: socket filters need a socket
//! (use [`crate::SocketFilter`]), and kprobes, cgroups, fentry/LSM and the
//! other hooks have no attach path in this crate yet (this machine kind's
//! kernel has neither kprobes nor BPF trampolines).

use std::time::Duration;

use visor_object::ProgramKind;
use visor_object::kind::{TcAttach, TracingHook, XdpAttach};

use super::{LoadedObject, LoadedProgram};
use crate::error::{KernelError, OsCall};
use crate::link::LinkFd;
use crate::net::{TcAttachment, TcDirection, TcMode, XdpMode, attach_tc, attach_xdp, ifindex};
use crate::perf_event::PerfAttachment;
use crate::tracepoint::{attach_btf_tracepoint, attach_raw_tracepoint, attach_tracepoint};
use crate::uprobe::{UprobeLocation, UprobeSpec, attach_uprobe, resolve_binary};

/// Where the hooks that need a place go.
#[derive(Clone, Debug, Default)]
pub struct AttachOptions {
    /// The network interface for XDP and TC programs; they are skipped
    /// without one.
    pub interface: Option<String>,
    pub xdp_mode: XdpMode,
    pub tc_mode: TcMode,
}

/// A live attachment of either kind; dropping it detaches.
#[derive(Debug)]
pub enum Attachment {
    /// Through a perf event (tracepoints, uprobes).
    Perf(PerfAttachment),
    /// A bpf link (raw tracepoints, XDP).
    Link(LinkFd),
    /// A TCX link or a clsact filter.
    Tc(TcAttachment),
}

impl Attachment {
    /// Detaches now, reporting the kernel's answer (dropping detaches too,
    /// silently).
    pub fn detach(self) -> Result<(), KernelError> {
        match self {
            Attachment::Perf(perf) => perf.detach(),
            Attachment::Link(link) => link.detach(),
            Attachment::Tc(tc) => tc.detach(),
        }
    }
}

/// A program attached by its section name.
#[derive(Debug)]
pub struct Attached {
    program: String,
    target: String,
    attachment: Attachment,
}

impl Attached {
    /// The program's name in the object.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// Where it is attached, for people: `tracepoint syscalls:sys_enter_clone`,
    /// `tcx ingress on veth0 (ifindex 4)`.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn attachment(&self) -> &Attachment {
        &self.attachment
    }

    /// The attachment alone, for a caller that keeps track of it.
    pub fn into_attachment(self) -> Attachment {
        self.attachment
    }

    /// Detaches now, reporting the kernel's answer (dropping detaches too,
    /// silently).
    pub fn detach(self) -> Result<(), KernelError> {
        self.attachment.detach()
    }
}

/// What became of one program.
#[derive(Debug)]
pub enum AttachOutcome {
    Attached(Attached),
    /// Not attempted; `reason` says what it would need.
    Skipped {
        program: String,
        reason: String,
    },
    /// Attempted, and the kernel refused.
    Failed {
        program: String,
        error: KernelError,
    },
}

impl LoadedObject {
    /// Attaches every program by its section name, in the object's order.
    /// One program's failure does not stop the others.
    pub fn attach_all(&self, options: &AttachOptions) -> Vec<AttachOutcome> {
        self.programs
            .iter()
            .map(|program| attach_program(program, options))
            .collect()
    }

    /// Attaches the program named `name`; `None` when there is none.
    pub fn attach(&self, name: &str, options: &AttachOptions) -> Option<AttachOutcome> {
        self.program(name).map(|p| attach_program(p, options))
    }
}

/// Attaches one program by its kind.
fn attach_program(program: &LoadedProgram, options: &AttachOptions) -> AttachOutcome {
    let name = program.name().to_owned();
    let skip = |reason: String| AttachOutcome::Skipped {
        program: name.clone(),
        reason,
    };
    let fd = program.fd();
    let result = match program.kind() {
        ProgramKind::Tracepoint { category, name } => attach_tracepoint(fd, category, name)
            .map(|a| (Attachment::Perf(a), format!("tracepoint {category}:{name}"))),
        ProgramKind::RawTracepoint { name, .. } => attach_raw_tracepoint(fd, name)
            .map(|l| (Attachment::Link(l), format!("raw tracepoint {name}"))),
        ProgramKind::Tracing {
            hook: TracingHook::TpBtf,
            target,
            ..
        } => attach_btf_tracepoint(fd, target)
            .map(|l| (Attachment::Link(l), format!("BTF tracepoint {target}"))),
        ProgramKind::Uprobe { target, .. } | ProgramKind::Uretprobe { target, .. } => {
            let returning = matches!(program.kind(), ProgramKind::Uretprobe { .. });
            let Some(spec) = uprobe_spec(target, returning) else {
                return skip(format!(
                    "section `{}` names no BINARY:SYMBOL to probe",
                    program.section()
                ));
            };
            let what = format!(
                "{} {}:{}",
                if returning { "uretprobe" } else { "uprobe" },
                spec.path.display(),
                describe_location(&spec.location)
            );
            attach_uprobe(fd, &spec).map(|a| (Attachment::Perf(a), what))
        }
        ProgramKind::Xdp {
            attach: XdpAttach::Interface,
            ..
        } => {
            let Some(device) = &options.interface else {
                return skip("xdp needs an interface (--dev)".into());
            };
            ifindex(device).and_then(|index| {
                attach_xdp(fd, index, options.xdp_mode).map(|l| {
                    let what = format!("xdp on {device} (ifindex {index})");
                    (Attachment::Link(l), what)
                })
            })
        }
        ProgramKind::SchedCls { attach } => {
            let direction = match attach {
                TcAttach::TcxEgress => TcDirection::Egress,
                TcAttach::TcxIngress | TcAttach::Qdisc => TcDirection::Ingress,
            };
            let Some(device) = &options.interface else {
                return skip("tc needs an interface (--dev)".into());
            };
            ifindex(device).and_then(|index| {
                attach_tc(fd, index, direction, options.tc_mode).map(|tc| {
                    let side = match direction {
                        TcDirection::Ingress => "ingress",
                        TcDirection::Egress => "egress",
                    };
                    let what = format!("{} {side} on {device} (ifindex {index})", tc.describe());
                    (Attachment::Tc(tc), what)
                })
            })
        }
        ProgramKind::SocketFilter => {
            return skip("a socket filter needs a socket: attach it with SocketFilter".into());
        }
        other => {
            return skip(format!(
                "attaching `{}` programs ({other:?}) is not supported yet",
                program.section()
            ));
        }
    };
    match result {
        Ok((attachment, target)) => AttachOutcome::Attached(Attached {
            program: name,
            target,
            attachment,
        }),
        Err(error) => AttachOutcome::Failed {
            program: name,
            error,
        },
    }
}

/// `PATH:SYMBOL[+OFFSET]` or `PATH:OFFSET` from a uprobe section.
fn uprobe_spec(target: &str, returning: bool) -> Option<UprobeSpec> {
    let (path, place) = target.rsplit_once(':')?;
    if path.is_empty() || place.is_empty() {
        return None;
    }
    let location = if let Some(offset) = parse_number(place) {
        UprobeLocation::FileOffset(offset)
    } else {
        let (symbol, offset) = match place.split_once('+') {
            Some((symbol, offset)) => (symbol, parse_number(offset)?),
            None => (place, 0),
        };
        UprobeLocation::Symbol {
            name: symbol.to_owned(),
            offset,
        }
    };
    Some(UprobeSpec {
        path: resolve_binary(path),
        location,
        kind: if returning {
            crate::uprobe::ProbeKind::Return
        } else {
            crate::uprobe::ProbeKind::Entry
        },
        pid: None,
    })
}

fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn describe_location(location: &UprobeLocation) -> String {
    match location {
        UprobeLocation::Symbol { name, offset: 0 } => name.clone(),
        UprobeLocation::Symbol { name, offset } => format!("{name}+{offset:#x}"),
        UprobeLocation::FileOffset(offset) => format!("{offset:#x}"),
    }
}

/// The signal that ended [`Interrupts::wait`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// SIGINT: Ctrl-C.
    Int,
    /// SIGTERM: `kill`.
    Term,
}

impl std::fmt::Display for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Interrupt::Int => "SIGINT",
            Interrupt::Term => "SIGTERM",
        })
    }
}

/// SIGINT and SIGTERM, blocked in the calling thread and in the threads it
/// starts afterwards, so that they wait to be taken by [`Interrupts::wait`]
/// instead of ending the process: the caller can then detach and exit
/// cleanly. Create it on the main thread before starting others.
pub struct Interrupts {
    set: crate::sys::SignalSet,
}

impl Interrupts {
    /// Blocks SIGINT and SIGTERM from now on.
    pub fn block() -> Result<Interrupts, KernelError> {
        let set = crate::sys::block_signals(&[libc::SIGINT, libc::SIGTERM])
            .map_err(KernelError::os(OsCall::Sigwait, "block SIGINT and SIGTERM"))?;
        Ok(Interrupts { set })
    }

    /// Takes SIGINT or SIGTERM, waiting as long as it takes.
    pub fn next(&self) -> Result<Interrupt, KernelError> {
        loop {
            // Without a timeout, only a signal ends the wait.
            if let Some(interrupt) = self.wait(None)? {
                return Ok(interrupt);
            }
        }
    }

    /// Takes SIGINT or SIGTERM, waiting at most `timeout` (forever when
    /// `None`); `Ok(None)` when neither came in time.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Option<Interrupt>, KernelError> {
        let taken = crate::sys::take_signal(&self.set, timeout).map_err(KernelError::os(
            OsCall::Sigwait,
            "wait for SIGINT or SIGTERM",
        ))?;
        Ok(taken.map(|signal| match signal {
            libc::SIGTERM => Interrupt::Term,
            _ => Interrupt::Int,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn uprobe_sections_name_a_binary_and_a_place() {
        let spec = uprobe_spec("/bin/bash:readline", false).unwrap();
        assert_eq!(spec.path, Path::new("/bin/bash"));
        assert_eq!(
            spec.location,
            UprobeLocation::Symbol {
                name: "readline".into(),
                offset: 0
            }
        );
        let spec = uprobe_spec("/lib/libc.so.6:malloc+0x10", true).unwrap();
        assert_eq!(
            spec.location,
            UprobeLocation::Symbol {
                name: "malloc".into(),
                offset: 16
            }
        );
        assert_eq!(spec.kind, crate::uprobe::ProbeKind::Return);
        let spec = uprobe_spec("/bin/true:0x1040", false).unwrap();
        assert_eq!(spec.location, UprobeLocation::FileOffset(0x1040));
        assert!(uprobe_spec("", false).is_none());
        assert!(uprobe_spec("/bin/true", false).is_none());
    }
}
