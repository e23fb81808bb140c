//! Batch operations on maps: many entries per system call
//! (`BPF_MAP_LOOKUP_BATCH`, `..._LOOKUP_AND_DELETE_BATCH`, `..._UPDATE_BATCH`,
//! `..._DELETE_BATCH`; Linux 5.6, hash and array maps).
//!
//! Keys and values travel as flat arrays: `n` keys are `n * key_size` bytes
//! end to end, `n` values `n * value_len` bytes.

use crate::error::{Buffer, KernelError};
use crate::map::{MapFd, UpdateMode};
use crate::sys::{self, BatchLookup, BpfCmd, Command};

/// Where a batch lookup goes on: the kernel's opaque position token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchCursor(Vec<u8>);

/// Entries from one batch lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    keys: Vec<u8>,
    values: Vec<u8>,
    count: usize,
    key_size: usize,
    value_len: usize,
    next: Option<BatchCursor>,
}

impl Batch {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// `(key, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        // A map with zero-sized keys or values has no batch operations, but
        // `chunks_exact(0)` would panic: treat a zero size as one byte of an
        // empty array.
        let keys = self.keys[..self.count * self.key_size].chunks_exact(self.key_size.max(1));
        let values = self.values[..self.count * self.value_len].chunks_exact(self.value_len.max(1));
        keys.zip(values)
    }

    /// The cursor for the next batch, or `None` when the map is exhausted.
    pub fn next(&self) -> Option<&BatchCursor> {
        self.next.as_ref()
    }
}

impl MapFd {
    /// Up to `max` entries from `cursor` on (the start for `None`).
    pub fn lookup_batch(
        &self,
        cursor: Option<&BatchCursor>,
        max: u32,
    ) -> Result<Batch, KernelError> {
        self.batch_lookup(cursor, max, BatchLookup::Keep)
    }

    /// Like [`MapFd::lookup_batch`], and removes what it returns.
    pub fn lookup_and_delete_batch(
        &self,
        cursor: Option<&BatchCursor>,
        max: u32,
    ) -> Result<Batch, KernelError> {
        self.batch_lookup(cursor, max, BatchLookup::Delete)
    }

    fn batch_lookup(
        &self,
        cursor: Option<&BatchCursor>,
        max: u32,
        and_delete: BatchLookup,
    ) -> Result<Batch, KernelError> {
        let n = max as usize;
        let mut keys = vec![0; n.saturating_mul(self.key_size())];
        let mut values = vec![0; n.saturating_mul(self.value_len())];
        let mut out_batch = vec![0; self.batch_token_len()];
        let mut command = Command::MapLookupBatch {
            map: self,
            and_delete,
            in_batch: cursor.map(|c| c.0.as_slice()),
            out_batch: &mut out_batch,
            keys: &mut keys,
            values: &mut values,
            count: max,
        };
        let result = sys::bpf(&mut command);
        let Command::MapLookupBatch { count, .. } = command else {
            unreachable!("the command is the one built above");
        };
        // ENOENT: the walk reached the end; `count` entries still came back.
        let next = match result {
            Ok(_) => Some(BatchCursor(out_batch)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
            Err(source) => {
                let command = match and_delete {
                    BatchLookup::Keep => BpfCmd::MapLookupBatch,
                    BatchLookup::Delete => BpfCmd::MapLookupAndDeleteBatch,
                };
                let what = format!("read a batch of {max} from map `{}`", self.name());
                return Err(KernelError::syscall(command, what, source));
            }
        };
        Ok(Batch {
            keys,
            values,
            count: (count as usize).min(n),
            key_size: self.key_size(),
            value_len: self.value_len(),
            next,
        })
    }

    /// Stores each value at its key, as `mode` allows; returns how many
    /// entries were stored.
    pub fn update_batch(
        &self,
        keys: &[u8],
        values: &[u8],
        mode: UpdateMode,
    ) -> Result<u32, KernelError> {
        let count = self.count_keys(keys)?;
        let expected = (count as usize).saturating_mul(self.value_len());
        if values.len() != expected {
            return Err(KernelError::BufferSize {
                map: self.name().to_owned(),
                what: Buffer::Values,
                expected,
                got: values.len(),
            });
        }
        let mut command = Command::MapUpdateBatch {
            map: self,
            keys,
            values,
            count,
            elem_flags: mode.flags(),
        };
        let result = sys::bpf(&mut command);
        let Command::MapUpdateBatch { count: done, .. } = command else {
            unreachable!("the command is the one built above");
        };
        result.map_err(|source| {
            let what = format!(
                "update {count} entries of map `{}` ({done} done)",
                self.name()
            );
            KernelError::syscall(BpfCmd::MapUpdateBatch, what, source)
        })?;
        Ok(done)
    }

    /// Deletes the entries at `keys`; returns how many were deleted. A key
    /// that is absent fails the call with `ENOENT` after the ones before it.
    pub fn delete_batch(&self, keys: &[u8]) -> Result<u32, KernelError> {
        let count = self.count_keys(keys)?;
        let mut command = Command::MapDeleteBatch {
            map: self,
            keys,
            count,
        };
        let result = sys::bpf(&mut command);
        let Command::MapDeleteBatch { count: done, .. } = command else {
            unreachable!("the command is the one built above");
        };
        result.map_err(|source| {
            let what = format!(
                "delete {count} entries of map `{}` ({done} done)",
                self.name()
            );
            KernelError::syscall(BpfCmd::MapDeleteBatch, what, source)
        })?;
        Ok(done)
    }

    /// How many keys a flat key array holds; it must be whole keys.
    fn count_keys(&self, keys: &[u8]) -> Result<u32, KernelError> {
        let size = self.key_size();
        let whole = size != 0 && keys.len().is_multiple_of(size);
        let count = if whole { keys.len() / size } else { 0 };
        match u32::try_from(count) {
            Ok(count) if whole => Ok(count),
            _ => Err(KernelError::BufferSize {
                map: self.name().to_owned(),
                what: Buffer::Keys,
                expected: keys.len().next_multiple_of(size.max(1)),
                got: keys.len(),
            }),
        }
    }
}
