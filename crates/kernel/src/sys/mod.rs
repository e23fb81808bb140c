//! The one door to the kernel.
//!
//! Every bpf(2) call in the crate is a [`Command`] value passed to [`bpf`].
//! A command holds the Rust buffers the kernel reads and writes, never raw
//! addresses: `attr` turns it into the kernel's `union bpf_attr` layout, and
//! `raw` (the only module with `unsafe`) makes the system call. Under
//! `cfg(test)` a test can install a fake door ([`fake::install`]) that sees
//! the same `Command` and answers in its place, so the error mapping and the
//! buffer checks are tested without root.
//!
//! The other system calls attaching and reading need (perf_event_open(2),
//! mmap(2) of rings, poll(2), setsockopt(2), setns(2)) are plain functions
//! re-exported from `raw`, each taking Rust buffers and borrowed
//! descriptors; `perf` lays out `struct perf_event_attr`.

pub(crate) mod attr;
mod cmd;
pub(crate) mod perf;
mod raw;

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

pub use cmd::BpfCmd;

pub(crate) use raw::{
    Access, Mmap, SignalSet, attach_classic_filter, block_signals, if_nametoindex, mount_bpffs,
    mount_tracefs, netlink_route_socket, page_size, perf_event_open, perf_ioctl, poll_readable,
    set_socket_int, setns_net, take_signal,
};

use crate::map::MapFd;

/// One bpf(2) call, with the buffers it reads and writes. Fields marked
/// "out" are set by the door from what the kernel wrote back.
#[derive(Debug)]
pub(crate) enum Command<'a> {
    MapCreate(attr::MapCreateAttr),
    MapLookupElem {
        map: &'a MapFd,
        key: &'a [u8],
        value: &'a mut [u8],
        flags: u64,
    },
    MapUpdateElem {
        map: &'a MapFd,
        key: &'a [u8],
        value: &'a [u8],
        flags: u64,
    },
    MapDeleteElem {
        map: &'a MapFd,
        key: &'a [u8],
    },
    MapGetNextKey {
        map: &'a MapFd,
        key: Option<&'a [u8]>,
        next_key: &'a mut [u8],
    },
    MapLookupAndDeleteElem {
        map: &'a MapFd,
        key: &'a [u8],
        value: &'a mut [u8],
    },
    MapLookupBatch {
        map: &'a MapFd,
        and_delete: BatchLookup,
        in_batch: Option<&'a [u8]>,
        out_batch: &'a mut [u8],
        keys: &'a mut [u8],
        values: &'a mut [u8],
        /// In: room in `keys` and `values`; out: entries written.
        count: u32,
    },
    MapUpdateBatch {
        map: &'a MapFd,
        keys: &'a [u8],
        values: &'a [u8],
        /// In: entries given; out: entries updated.
        count: u32,
        elem_flags: u64,
    },
    MapDeleteBatch {
        map: &'a MapFd,
        keys: &'a [u8],
        /// In: keys given; out: entries deleted.
        count: u32,
    },
    ProgLoad {
        attr: attr::ProgLoadAttr,
        insns: &'a [u8],
        license: &'a CStr,
        /// `struct bpf_func_info` records (needs `attr.prog_btf_fd`).
        func_info: &'a [u8],
        /// `struct bpf_line_info` records.
        line_info: &'a [u8],
        log: &'a mut [u8],
        /// Out (Linux 6.4+): the log size the whole log would need.
        log_true_size: u32,
    },
    BtfLoad {
        btf: &'a [u8],
        log: &'a mut [u8],
        log_level: u32,
        /// Out (Linux 6.4+).
        log_true_size: u32,
    },
    ObjPin {
        path: &'a CStr,
        fd: BorrowedFd<'a>,
    },
    ObjGet {
        path: &'a CStr,
    },
    GetNextId {
        object: ObjectKind,
        start: u32,
        /// Out.
        next: u32,
    },
    GetFdById {
        object: ObjectKind,
        id: u32,
    },
    ProgInfo {
        fd: BorrowedFd<'a>,
        info: &'a mut attr::ProgInfoRaw,
        map_ids: &'a mut [u32],
        /// Room for the instructions as the verifier rewrote them; empty
        /// asks for none.
        xlated: &'a mut [u8],
        /// Room for `struct bpf_line_info` records, their offsets in the
        /// rewritten instructions; empty asks for none.
        line_info: &'a mut [u8],
    },
    MapInfo {
        fd: BorrowedFd<'a>,
        info: &'a mut attr::MapInfoRaw,
    },
    BtfInfo {
        fd: BorrowedFd<'a>,
        info: &'a mut attr::BtfInfoRaw,
        /// Room for the BTF's raw bytes; empty asks for none.
        btf: &'a mut [u8],
    },
    ProgTestRun {
        prog: BorrowedFd<'a>,
        data_in: &'a [u8],
        data_out: &'a mut [u8],
        ctx_in: &'a [u8],
        ctx_out: &'a mut [u8],
        repeat: u32,
        flags: u32,
        cpu: u32,
        batch_size: u32,
        /// Out.
        retval: u32,
        /// Out: mean nanoseconds per run.
        duration: u32,
        /// Out: bytes of output data, even when more than `data_out` holds.
        data_size_out: u32,
        /// Out.
        ctx_size_out: u32,
    },
    LinkCreate(attr::LinkCreateAttr),
    LinkDetach {
        link: BorrowedFd<'a>,
    },
    /// Attaches a raw tracepoint program to the tracepoint `name` (`None`
    /// for a BTF-typed program, which names its tracepoint at load).
    RawTracepointOpen {
        name: Option<&'a CStr>,
        prog: BorrowedFd<'a>,
        cookie: u64,
    },
    EnableStats {
        kind: u32,
    },
    /// Makes a map read-only for userspace from now on (Linux 5.2).
    MapFreeze {
        map: &'a MapFd,
    },
}

/// Whether a batch lookup also deletes what it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BatchLookup {
    Keep,
    Delete,
}

/// The kinds of kernel object that have ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Program,
    Map,
    Btf,
    Link,
}

impl Command<'_> {
    /// The bpf(2) command this call makes.
    pub(crate) fn cmd(&self) -> BpfCmd {
        match self {
            Command::MapCreate(_) => BpfCmd::MapCreate,
            Command::MapLookupElem { .. } => BpfCmd::MapLookupElem,
            Command::MapUpdateElem { .. } => BpfCmd::MapUpdateElem,
            Command::MapDeleteElem { .. } => BpfCmd::MapDeleteElem,
            Command::MapGetNextKey { .. } => BpfCmd::MapGetNextKey,
            Command::MapLookupAndDeleteElem { .. } => BpfCmd::MapLookupAndDeleteElem,
            Command::MapLookupBatch {
                and_delete: BatchLookup::Keep,
                ..
            } => BpfCmd::MapLookupBatch,
            Command::MapLookupBatch {
                and_delete: BatchLookup::Delete,
                ..
            } => BpfCmd::MapLookupAndDeleteBatch,
            Command::MapUpdateBatch { .. } => BpfCmd::MapUpdateBatch,
            Command::MapDeleteBatch { .. } => BpfCmd::MapDeleteBatch,
            Command::ProgLoad { .. } => BpfCmd::ProgLoad,
            Command::BtfLoad { .. } => BpfCmd::BtfLoad,
            Command::ObjPin { .. } => BpfCmd::ObjPin,
            Command::ObjGet { .. } => BpfCmd::ObjGet,
            Command::GetNextId { object, .. } => match object {
                ObjectKind::Program => BpfCmd::ProgGetNextId,
                ObjectKind::Map => BpfCmd::MapGetNextId,
                ObjectKind::Btf => BpfCmd::BtfGetNextId,
                ObjectKind::Link => BpfCmd::LinkGetNextId,
            },
            Command::GetFdById { object, .. } => match object {
                ObjectKind::Program => BpfCmd::ProgGetFdById,
                ObjectKind::Map => BpfCmd::MapGetFdById,
                ObjectKind::Btf => BpfCmd::BtfGetFdById,
                ObjectKind::Link => BpfCmd::LinkGetFdById,
            },
            Command::ProgInfo { .. } | Command::MapInfo { .. } | Command::BtfInfo { .. } => {
                BpfCmd::ObjGetInfoByFd
            }
            Command::ProgTestRun { .. } => BpfCmd::ProgTestRun,
            Command::LinkCreate(_) => BpfCmd::LinkCreate,
            Command::LinkDetach { .. } => BpfCmd::LinkDetach,
            Command::RawTracepointOpen { .. } => BpfCmd::RawTracepointOpen,
            Command::EnableStats { .. } => BpfCmd::EnableStats,
            Command::MapFreeze { .. } => BpfCmd::MapFreeze,
        }
    }

    /// Whether the kernel answers this command with a new descriptor.
    fn creates_fd(&self) -> bool {
        matches!(
            self,
            Command::MapCreate(_)
                | Command::ProgLoad { .. }
                | Command::BtfLoad { .. }
                | Command::ObjGet { .. }
                | Command::GetFdById { .. }
                | Command::LinkCreate(_)
                | Command::RawTracepointOpen { .. }
                | Command::EnableStats { .. }
        )
    }

    /// Checks that every buffer the kernel sizes from the object, not from
    /// a length in the command, is long enough. The typed API checks first
    /// and says more; this is the net under it, and what makes the raw call
    /// sound.
    fn check_buffers(&self) -> io::Result<()> {
        let short = |what: &str, have: usize, need: usize| {
            if have < need {
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{what} buffer of {have} bytes, the kernel uses {need}"),
                ))
            } else {
                Ok(())
            }
        };
        match self {
            Command::MapLookupElem {
                map, key, value, ..
            }
            | Command::MapLookupAndDeleteElem { map, key, value } => {
                short("key", key.len(), map.key_size())?;
                short("value", value.len(), map.value_len())
            }
            Command::MapUpdateElem {
                map, key, value, ..
            } => {
                short("key", key.len(), map.key_size())?;
                short("value", value.len(), map.value_len())
            }
            Command::MapDeleteElem { map, key } => short("key", key.len(), map.key_size()),
            Command::MapGetNextKey { map, key, next_key } => {
                short("key", key.map_or(usize::MAX, <[u8]>::len), map.key_size())?;
                short("next key", next_key.len(), map.key_size())
            }
            Command::MapLookupBatch {
                map,
                in_batch,
                out_batch,
                keys,
                values,
                count,
                ..
            } => {
                let token = map.batch_token_len();
                short("in batch", in_batch.map_or(usize::MAX, <[u8]>::len), token)?;
                short("out batch", out_batch.len(), token)?;
                let n = *count as usize;
                short("keys", keys.len(), n.saturating_mul(map.key_size()))?;
                short("values", values.len(), n.saturating_mul(map.value_len()))
            }
            Command::MapUpdateBatch {
                map,
                keys,
                values,
                count,
                ..
            } => {
                let n = *count as usize;
                short("keys", keys.len(), n.saturating_mul(map.key_size()))?;
                short("values", values.len(), n.saturating_mul(map.value_len()))
            }
            Command::MapDeleteBatch { map, keys, count } => {
                let n = *count as usize;
                short("keys", keys.len(), n.saturating_mul(map.key_size()))
            }
            Command::ProgLoad {
                insns,
                func_info,
                line_info,
                ..
            } => {
                let whole = |what, bytes: &[u8], record: usize| {
                    short(what, bytes.len(), bytes.len().next_multiple_of(record))
                };
                whole("instructions", insns, visor_isa::SLOT_LEN)?;
                whole("func info", func_info, attr::FUNC_INFO_LEN)?;
                whole("line info", line_info, attr::LINE_INFO_LEN)
            }
            _ => Ok(()),
        }
    }
}

/// Makes one bpf(2) call. Returns what the kernel returned: a new file
/// descriptor for commands that create one, otherwise 0.
pub(crate) fn bpf(command: &mut Command<'_>) -> io::Result<i64> {
    command.check_buffers()?;
    #[cfg(test)]
    if let Some(answer) = fake::call(command) {
        return answer;
    }
    raw::execute(command)
}

/// Makes a bpf(2) call that creates a file descriptor, and owns it.
pub(crate) fn bpf_fd(command: &mut Command<'_>) -> io::Result<OwnedFd> {
    if !command.creates_fd() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not return a file descriptor", command.cmd()),
        ));
    }
    let ret = bpf(command)?;
    raw::own_fd(ret)
}

/// The raw descriptor number as the kernel's `__u32` fields take it.
pub(crate) fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    fd_number(fd.as_raw_fd())
}

fn fd_number(fd: RawFd) -> u32 {
    // A valid descriptor is never negative, so this never changes the value.
    u32::try_from(fd).unwrap_or(u32::MAX)
}

#[cfg(test)]
pub(crate) mod fake {
    //! A door that answers in place of the kernel, per thread.

    use std::cell::RefCell;
    use std::io;

    use super::Command;

    type Answer = Box<dyn FnMut(&mut Command<'_>) -> io::Result<i64>>;

    thread_local! {
        static FAKE: RefCell<Option<Answer>> = const { RefCell::new(None) };
    }

    /// Answers every bpf(2) call on this thread with `answer` until the
    /// guard drops.
    pub(crate) fn install(
        answer: impl FnMut(&mut Command<'_>) -> io::Result<i64> + 'static,
    ) -> Guard {
        FAKE.with(|fake| *fake.borrow_mut() = Some(Box::new(answer)));
        Guard
    }

    pub(crate) struct Guard;

    impl Drop for Guard {
        fn drop(&mut self) {
            FAKE.with(|fake| *fake.borrow_mut() = None);
        }
    }

    pub(super) fn call(command: &mut Command<'_>) -> Option<io::Result<i64>> {
        let mut answer = FAKE.with(|fake| fake.borrow_mut().take())?;
        let result = answer(command);
        FAKE.with(|fake| *fake.borrow_mut() = Some(answer));
        Some(result)
    }

    /// A fresh descriptor (of `/dev/null`) for a fake to return where the
    /// kernel would create one: the caller will own and close it.
    pub(crate) fn new_fd() -> io::Result<i64> {
        use std::os::fd::IntoRawFd;
        let file = std::fs::File::open("/dev/null")?;
        Ok(i64::from(file.into_raw_fd()))
    }

    /// An error as the kernel returns it.
    pub(crate) fn errno(code: i32) -> io::Result<i64> {
        Err(io::Error::from_raw_os_error(code))
    }
}
