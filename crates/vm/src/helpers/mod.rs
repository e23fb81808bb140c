//! Helper functions by id: what `call N` and `callx` reach, and the
//! standard helpers of the kernel, numbered as in its
//! `include/uapi/linux/bpf.h`.
//!
//! A helper takes the argument registers r1 to r5 and the run's [`Memory`],
//! through which it reads and writes guest memory with the same checks as
//! the program (a map lookup reads its key that way), and returns r0 or
//! ends the whole program.
//!
//! # Standard helpers
//!
//! [`Helpers::standard`] registers every helper below at once, with a
//! [`HelperEnv`] that says what the kernel would take from `current`, its
//! clocks and its trace ring; the map helpers come with them
//! ([`Helpers::register_map_helpers`]). Failures the kernel reports in r0
//! are `-errno` in r0 here too; a guest pointer that the kernel's verifier
//! would have refused (a destination buffer that is not writable, a
//! format string that is not readable) stops the program with
//! [`HelperError::Memory`] instead.
//!
//! | id | helper | module |
//! |---|---|---|
//! | 4, 112, 113 | `probe_read`, `probe_read_user`, `probe_read_kernel` | `probe` |
//! | 45, 114, 115 | `probe_read_str`, `probe_read_user_str`, `probe_read_kernel_str` | `probe` |
//! | 5, 125, 160 | `ktime_get_ns`, `ktime_get_boot_ns`, `ktime_get_coarse_ns` | `time` |
//! | 6 | `trace_printk` | `trace` (format: `format`) |
//! | 7 | `get_prandom_u32` | `time` |
//! | 9, 26 | `skb_store_bytes`, `skb_load_bytes` | `packet` |
//! | 10, 11, 28 | `l3_csum_replace`, `l4_csum_replace`, `csum_diff` | `checksum` |
//! | 14, 15, 16 | `get_current_pid_tgid`, `get_current_uid_gid`, `get_current_comm` | `task` |
//! | 105, 106, 165 | `strtol`, `strtoul`, `snprintf` | `strings` |
//! | 173, 181 | `get_func_ip`, `loop` | `control` |
//!
//! `get_smp_processor_id` (8) is the map helpers' (the run's CPU).

use core::fmt;

use thiserror::Error;

use crate::maps::{Errno, MapError};
use crate::memory::{AccessFault, Memory};
use visor_isa::Size;

mod checksum;
mod control;
mod env;
mod format;
pub mod ids;
mod packet;
mod probe;
mod standard;
mod strings;
mod task;
mod time;
mod trace;

pub use env::{
    Clock, FakeClock, HelperEnv, SystemClock, TASK_COMM_LEN, TaskInfo, TraceBuffer, TraceEvent,
    TracePipe, TraceSink,
};

/// The signature of a helper: r1 to r5, and the run's memory.
pub type HelperFn =
    dyn Fn([u64; 5], &mut Memory<'_>) -> Result<HelperOutcome, HelperError> + Send + Sync;

/// What a helper asks the program to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HelperOutcome {
    /// Continue after the call with this value in r0.
    Return(u64),
    /// End the whole program now, with this value in r0 (the conformance
    /// suite's "unwind").
    Exit(u64),
    /// Replace the running program with the one `bpf_tail_call` chose
    /// (kept in the run's memory); only the built-in `tail_call` helper
    /// returns this.
    TailCall,
    /// Call a function of the program repeatedly, as `bpf_loop` does; the
    /// interpreter runs the calls and puts the iteration count in r0.
    Loop(LoopCall),
}

/// What `bpf_loop` asks the interpreter to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoopCall {
    /// Calls to make at most: the callback gets the index in r1.
    pub iterations: u64,
    /// The callback's address ([`RegionId::function`](crate::layout::RegionId::function)).
    pub callback: u64,
    /// Passed to every call in r2.
    pub context: u64,
}

/// Why a helper failed; the program stops with [`VmError::Helper`].
///
/// [`VmError::Helper`]: crate::VmError::Helper
#[derive(Debug, Error)]
pub enum HelperError {
    /// The helper was refused access to guest memory.
    #[error(transparent)]
    Memory(#[from] AccessFault),
    /// An argument the helper cannot take.
    #[error("argument r{reg} = {value:#x}: {reason}")]
    BadArgument {
        /// The argument register, 1 to 5.
        reg: u8,
        /// Its value.
        value: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A map refused in a way the program cannot be told about in r0 (a
    /// per-CPU map without the run's CPU).
    #[error(transparent)]
    Map(MapError),
    /// Any other failure of a helper defined outside this crate.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// One registered helper.
pub(crate) struct Helper {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) call: Box<HelperFn>,
    /// The built-in `bpf_tail_call`, whose calls the JIT may make inline
    /// (`jit::tail`).
    pub(crate) tail_call: bool,
}

/// Helpers by id, as the program's `call` instructions number them.
#[derive(Default)]
pub struct Helpers {
    /// Sorted by id, ids unique.
    entries: Vec<Helper>,
}

impl Helpers {
    /// No helpers.
    pub fn new() -> Helpers {
        Helpers::default()
    }

    /// Registers `call` as helper `id`, named `name` in messages; replaces
    /// an earlier helper with the same id.
    pub fn register<F>(&mut self, id: u32, name: impl Into<String>, call: F)
    where
        F: Fn([u64; 5], &mut Memory<'_>) -> Result<HelperOutcome, HelperError>
            + Send
            + Sync
            + 'static,
    {
        self.insert(Helper {
            id,
            name: name.into(),
            call: Box::new(call),
            tail_call: false,
        });
    }

    /// Registers `helper`, replacing one with the same id.
    pub(crate) fn insert(&mut self, helper: Helper) {
        match self.entries.binary_search_by_key(&helper.id, |h| h.id) {
            Ok(found) => self.entries[found] = helper,
            Err(at) => self.entries.insert(at, helper),
        }
    }

    /// The name helper `id` was registered with.
    pub fn name(&self, id: u32) -> Option<&str> {
        let index = self.index_of(id)?;
        self.entries.get(index).map(|h| h.name.as_str())
    }

    /// Registered ids, ascending.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries.iter().map(|h| h.id)
    }

    /// Number of registered helpers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no helper is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The position of helper `id`, stable until the next registration.
    pub(crate) fn index_of(&self, id: u32) -> Option<usize> {
        self.entries.binary_search_by_key(&id, |h| h.id).ok()
    }

    /// The position of the built-in `bpf_tail_call`, when it is
    /// registered.
    pub(crate) fn tail_call_index(&self) -> Option<usize> {
        self.entries.iter().position(|h| h.tail_call)
    }

    /// The helper at `index` (from [`Helpers::index_of`]).
    pub(crate) fn get(&self, index: usize) -> Option<&Helper> {
        self.entries.get(index)
    }
}

impl fmt::Debug for Helpers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|h| (h.id, &h.name)))
            .finish()
    }
}

/// What helper bodies return.
pub(crate) type Outcome = Result<HelperOutcome, HelperError>;

/// r0 = `value`.
pub(crate) fn returned(value: u64) -> Outcome {
    Ok(HelperOutcome::Return(value))
}

/// r0 = `-errno`, as the kernel's helpers fail.
pub(crate) fn failed(errno: Errno) -> Outcome {
    returned(i64::from(-errno.0) as u64)
}

/// A size argument as a host length (guest memory checks bound it).
pub(crate) fn size_arg(size: u64, reg: u8) -> Result<usize, HelperError> {
    usize::try_from(size).map_err(|_| HelperError::BadArgument {
        reg,
        value: size,
        reason: "size does not fit in memory",
    })
}

/// `len` bytes of guest memory at `addr`; nothing to read (even at NULL)
/// when `len` is 0, as for the kernel's `ARG_CONST_SIZE_OR_ZERO`.
pub(crate) fn read_vec(memory: &Memory<'_>, addr: u64, len: usize) -> Result<Vec<u8>, AccessFault> {
    let mut bytes = vec![0; len];
    if len > 0 {
        memory.read(addr, &mut bytes)?;
    }
    Ok(bytes)
}

/// Writes `bytes` at `addr`; nothing (even at NULL) when they are empty.
pub(crate) fn write_bytes(
    memory: &mut Memory<'_>,
    addr: u64,
    bytes: &[u8],
) -> Result<(), AccessFault> {
    if bytes.is_empty() {
        return Ok(());
    }
    memory.write(addr, bytes)
}

/// The bytes of the guest string at `addr` before its NUL, at most `max`
/// of them, read one by one so a string may end just before the end of
/// its region. Fails if a byte before the NUL (or before `max`) faults.
pub(crate) fn read_cstr(
    memory: &Memory<'_>,
    addr: u64,
    max: usize,
) -> Result<Vec<u8>, AccessFault> {
    let mut bytes = Vec::new();
    for at in 0..max as u64 {
        match memory.load(addr.wrapping_add(at), Size::B)? as u8 {
            0 => break,
            byte => bytes.push(byte),
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_keeps_ids_sorted_and_replaces() {
        let mut helpers = Helpers::new();
        helpers.register(7, "seven", |_, _| Ok(HelperOutcome::Return(7)));
        helpers.register(2, "two", |_, _| Ok(HelperOutcome::Return(2)));
        helpers.register(7, "SEVEN", |_, _| Ok(HelperOutcome::Return(77)));
        assert_eq!(helpers.ids().collect::<Vec<_>>(), [2, 7]);
        assert_eq!(helpers.name(7), Some("SEVEN"));
        assert_eq!(helpers.name(3), None);
        assert_eq!(format!("{helpers:?}"), r#"{2: "two", 7: "SEVEN"}"#);
    }
}
