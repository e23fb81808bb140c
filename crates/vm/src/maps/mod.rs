//! Maps with the kernel's semantics, in storage programs point into.
//!
//! - `def`: [`MapKind`] (kernel ids and names), [`MapDef`] and the
//!   kernel's creation rules.
//! - `error`: [`MapError`] with the kernel's errno, [`UpdateMode`].
//! - `map`: [`Map`], one map of any kind, [`MapOps`], the userspace
//!   operations every map (here or in the kernel) offers, and
//!   [`ProgramMaps`], a program's maps by index.
//! - `storage`: value slots of atomic words with one guest window per
//!   value; the memory model reaches map values through it.
//! - `hash`, `array`, `lpm`, `queue`: the kinds' semantics.
//! - `programs`: a `PROG_ARRAY`'s slots, with a generation for the
//!   JIT's copies of them.
//! - `ringbuf`, `perf`: [`RingBuf`] and [`PerfEventArray`] with their
//!   consumer sides.
//! - `run`: the maps state of one run (handles, reservations, CPU, tail
//!   call).
//! - `helpers`: the map helpers by kernel id ([`helper_ids`]).

mod array;
mod def;
mod error;
mod hash;
mod helpers;
mod lock;
mod lpm;
mod map;
mod perf;
pub(crate) mod programs;
mod queue;
mod ringbuf;
mod run;
pub(crate) mod storage;

pub use def::{MapDef, MapKind, PAGE_SIZE, flags};
pub use error::{Errno, MapError, UpdateMode};
pub use helpers::{MAX_TAIL_CALLS, ids as helper_ids};
pub use map::{Map, MapOps, ProgramMaps};
pub use perf::{DEFAULT_PERF_CAPACITY, PerfEventArray, PerfSamples};
pub use ringbuf::{RINGBUF_HEADER, RingBuf, RingQuery};

pub(crate) use run::RunMaps;

#[cfg(test)]
mod tests;
