//! Helper functions by id: what `call N` and `callx` reach.
//!
//! A helper takes the argument registers r1 to r5 and the run's [`Memory`],
//! through which it reads and writes guest memory with the same checks as
//! the program (a map lookup reads its key that way), and returns r0 or
//! ends the whole program.

use core::fmt;

use thiserror::Error;

use crate::maps::MapError;
use crate::memory::{AccessFault, Memory};

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
        let helper = Helper {
            id,
            name: name.into(),
            call: Box::new(call),
        };
        match self.entries.binary_search_by_key(&id, |h| h.id) {
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
