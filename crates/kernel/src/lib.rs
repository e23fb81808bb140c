//! visor's Linux backend: the bpf(2) commands, in pure Rust over `libc`.
//!
//! Maps, programs, BTF and links are typed owned handles ([`MapFd`],
//! [`ProgramFd`], [`BtfFd`], [`LinkFd`]) around an `OwnedFd`: dropping one
//! closes its descriptor, and the kernel frees the object (or ends the
//! attachment) when nothing else holds it. Every attachment (a link, a
//! [`PerfAttachment`], a [`SocketFilter`]) is a value that detaches when
//! dropped and has an explicit `detach` that reports the kernel's answer.
//! Every error says which system call failed (the bpf(2) command, or
//! [`OsCall`]) and keeps the OS error as its source; a rejected program
//! carries the verifier's log.
//!
//! ```no_run
//! use visor_isa::asm::{Syntax, assemble};
//! use visor_kernel::{ProgramFd, ProgramSpec, ProgramType, TestRun};
//!
//! // A TC classifier that returns the packet's length: r0 = skb->len.
//! let program = assemble("r0 = *(u32 *)(r1 + 0)\nexit", Syntax::Llvm)?;
//! let spec = ProgramSpec::new("skb_len", ProgramType::SchedCls, &program);
//! let loaded = ProgramFd::load(&spec)?;
//! let packet = [0u8; 64];
//! let run = loaded.test_run(&TestRun::new(&packet))?;
//! assert_eq!(run.retval, 64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Module map
//!
//! - `sys`: the one door to the kernel. Every call is a `Command` value
//!   (the buffers it reads and writes, never raw addresses) passed to one
//!   function; unit tests install a fake door there and need no root.
//!   `sys::attr` lays out `union bpf_attr` and the info structs exactly as
//!   the kernel's uapi header does; `sys::perf` lays out
//!   `struct perf_event_attr` and the perf ring's control page; `sys::raw`
//!   holds every `unsafe` block of the crate (bpf(2), perf_event_open(2)
//!   and its ioctls, the shared ring mappings with their atomic loads and
//!   stores, poll(2), setsockopt(2), setns(2), mount(2), and their
//!   soundness argument).
//! - `types`: [`ProgramType`], [`MapType`], [`AttachType`]: kernel numbers,
//!   kernel names and bpftool's names.
//! - `map`: [`MapSpec`], [`MapFd`] and single-entry operations with size
//!   checks; `batch`: the batch operations.
//! - `program`: [`ProgramSpec`], [`ProgramFd`], loading with the verifier
//!   log; `log`: [`VerifierLog`], [`LogLevel`].
//! - `test_run`: [`TestRun`] and [`TestRunResult`], `BPF_PROG_TEST_RUN`.
//! - `btf`: [`BtfFd`], `BPF_BTF_LOAD`.
//! - `pin`: bpffs, pinning and opening pins.
//! - `info`: object ids, opening by id, [`ProgramInfo`] and [`MapInfo`].
//! - `link`: [`LinkFd`], `BPF_LINK_CREATE` and `BPF_LINK_DETACH`.
//! - `loader`: [`LoadedObject`], a whole `visor-object` [`visor_object::Object`]
//!   in the kernel (BTF, maps with their initial data, programs with their
//!   map references, prog-array slots), and `loader::attach`: attaching
//!   its programs by section name ([`LoadedObject::attach_all`]) and
//!   [`Interrupts`]; [`LoadError`] with its [`Rejection`] kind.
//! - `tracefs`: finding (or mounting) tracefs, [`tracepoint_id`], and
//!   [`TracepointFormat`], the record layout of a tracepoint.
//! - `perf_event`: [`PerfAttachment`], a program on a perf event (by link,
//!   or by ioctl on kernels without perf links).
//! - `tracepoint`: [`attach_tracepoint`], [`attach_raw_tracepoint`] and
//!   [`attach_btf_tracepoint`].
//! - `uprobe`: [`attach_uprobe`] by path and symbol ([`symbol_offset`]).
//! - `socket`: [`SocketFilter`], eBPF and classic filters on a socket.
//! - `net`: [`attach_tc`] (TCX, or clsact where the kernel has no TCX),
//!   [`attach_tcx`] and [`attach_xdp`] (links), [`ifindex`],
//!   [`enter_netns`]; `tc`: [`attach_tc_clsact`], a `cls_bpf` filter on a
//!   `clsact` qdisc ([`TcFilter`]), over `netlink`, the rtnetlink requests
//!   TC needs.
//! - `trace_pipe`: [`TracePipe`] and [`TraceLine`], `bpf_trace_printk`'s
//!   output.
//! - `perf_buffer`: [`PerfBuffer`], per-CPU rings behind a perf event
//!   array.
//! - `ringbuf`: [`RingBuffer`], the reader of a ring buffer map.
//! - `stats`: [`enable_stats`], `BPF_ENABLE_STATS`.
//! - `vmlinux`: the kernel's own BTF and [`btf_tracepoint_type_id`], the
//!   target of a `tp_btf` program.
//! - `cpus`: the possible-CPU count that sizes per-CPU values.
//! - `error`: [`KernelError`].
//!
//! **Architecture Invariant:** only `sys` calls the kernel, and only
//! `sys::raw` is `unsafe`. Every address handed to the kernel is taken from
//! a Rust buffer together with its length, inside `sys`.
//!
//! **Not yet unified:** [`MapType`] is this crate's; `visor-vm` keeps its
//! own `MapKind` for its userspace maps. A later change will make the two
//! engines share one, and one map trait.
//!
//! # Kernel versions
//!
//! The layouts follow Linux 6.1's uapi header, with the fields and kinds
//! added up to 6.18 written here by hand and marked "newer than 6.1".
//! Fields a kernel does not know are sent as zero, which every kernel since
//! 4.x accepts.

mod batch;
mod btf;
mod cpus;
mod error;
mod info;
mod link;
mod loader;
mod log;
mod map;
mod net;
mod netlink;
mod perf_buffer;
mod perf_event;
mod pin;
mod program;
mod ringbuf;
mod socket;
mod stats;
mod sys;
mod tc;
mod test_run;
mod trace_pipe;
mod tracefs;
mod tracepoint;
mod types;
mod uprobe;
mod vmlinux;

pub use batch::{Batch, BatchCursor};
pub use btf::BtfFd;
pub use cpus::possible_cpus;
pub use error::{Buffer, KernelError, OsCall};
pub use info::{
    Ids, MapInfo, ProgramInfo, SourceLine, Tag, ids, map_info, program_info, program_source_lines,
    program_xlated,
};
pub use link::{LinkFd, LinkTarget};
pub use loader::{
    AttachOptions, AttachOutcome, Attached, Attachment, BtfStatus, Interrupt, Interrupts,
    LoadError, LoadOptions, LoadedMap, LoadedObject, LoadedProgram, ProgramFailure, Rejection,
};
pub use log::{LogLevel, VerifierLog};
pub use map::{Keys, MapBtf, MapDef, MapFd, MapSpec, UpdateMode, flags as map_flags};
pub use net::{
    TcAttachment, TcDirection, TcMode, XdpMode, attach_tc, attach_tcx, attach_xdp, enter_netns,
    ifindex,
};
pub use perf_buffer::{PerfBuffer, PerfEvent};
pub use perf_event::{PerfAttachMode, PerfAttachment};
pub use pin::{BPFFS, ensure_bpffs, is_bpffs, pin, unpin};
pub use program::{FuncRecord, LineRecord, ProgramFd, ProgramSource, ProgramSpec};
pub use ringbuf::RingBuffer;
pub use socket::SocketFilter;
pub use stats::{StatsGuard, StatsKind, enable_stats};
pub use sys::{BpfCmd, ObjectKind};
pub use tc::{TcFilter, attach_tc_clsact};
pub use test_run::{TestRun, TestRunResult, flags as test_run_flags};
pub use trace_pipe::{TraceLine, TracePipe};
pub use tracefs::{FormatField, TRACEFS, TracepointFormat, tracefs, tracepoint_id};
pub use tracepoint::{attach_btf_tracepoint, attach_raw_tracepoint, attach_tracepoint};
pub use types::{AttachType, MapType, ProgramType};
pub use uprobe::{
    ProbeKind, UprobeLocation, UprobeSpec, attach_uprobe, resolve_binary, symbol_offset,
};
pub use vmlinux::{VMLINUX_BTF, btf_tracepoint_type_id, kfunc_type_ids};
