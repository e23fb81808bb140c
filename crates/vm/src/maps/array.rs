//! `ARRAY` and `PERCPU_ARRAY`: `max_entries` zero-initialised values by
//! `u32` index, never deleted. Global data (`.data`, `.rodata`, `.bss`)
//! is a one-entry array that `lddw` with `MAP_VALUE` points into.

use crate::maps::def::{MapDef, round8};
use crate::maps::error::{MapError, UpdateMode};
use crate::maps::storage::ValueStore;

#[derive(Debug)]
pub(crate) struct ArrayTable {
    max_entries: u32,
    ncpus: usize,
    percpu: bool,
    values: ValueStore,
}

impl ArrayTable {
    pub(crate) fn new(def: &MapDef, ncpus: u32) -> Result<ArrayTable, MapError> {
        let percpu = def.kind.is_percpu();
        let ncpus = if percpu { ncpus.max(1) as usize } else { 1 };
        let elements = u64::from(def.max_entries).saturating_mul(ncpus as u64);
        Ok(ArrayTable {
            max_entries: def.max_entries,
            ncpus,
            percpu,
            values: ValueStore::new(def.value_size, elements, def.program_writable())?,
        })
    }

    pub(crate) fn values(&self) -> &ValueStore {
        &self.values
    }

    /// The index a 4-byte key names, if inside the array.
    fn index(&self, key: &[u8]) -> Option<u32> {
        let index = u32::from_le_bytes(key.try_into().ok()?);
        (index < self.max_entries).then_some(index)
    }

    fn element(&self, index: u32, cpu: usize) -> usize {
        index as usize * self.ncpus + cpu.min(self.ncpus - 1)
    }

    /// The element of `key`'s value on `cpu`, for a program's pointer.
    pub(crate) fn find(&self, key: &[u8], cpu: usize) -> Option<usize> {
        Some(self.element(self.index(key)?, cpu))
    }

    pub(crate) fn lookup(&self, key: &[u8]) -> Option<Vec<u8>> {
        let index = self.index(key)?;
        if !self.percpu {
            return Some(self.values.value(self.element(index, 0)));
        }
        let size = self.values.value_size();
        let stride = round8(size as u32);
        let mut out = vec![0; stride * self.ncpus];
        for (cpu, chunk) in out.chunks_mut(stride).enumerate() {
            self.values
                .read_value(self.element(index, cpu), &mut chunk[..size]);
        }
        Some(out)
    }

    /// Replaces a value. `cpu`: from a program, that CPU's value only.
    pub(crate) fn update(
        &self,
        key: &[u8],
        value: &[u8],
        mode: UpdateMode,
        cpu: Option<usize>,
    ) -> Result<(), MapError> {
        let raw = key.try_into().map(u32::from_le_bytes).unwrap_or(u32::MAX);
        let index = self.index(key).ok_or(MapError::OutOfBounds {
            index: raw,
            max_entries: self.max_entries,
        })?;
        // Every element exists: NOEXIST always fails, EXIST always passes.
        mode.check(true)?;
        match (self.percpu, cpu) {
            (true, None) => {
                let stride = round8(self.values.value_size() as u32);
                for cpu in 0..self.ncpus {
                    let part = value.get(cpu * stride..).unwrap_or_default();
                    self.values.write_value(self.element(index, cpu), part);
                }
            }
            (_, cpu) => self
                .values
                .write_value(self.element(index, cpu.unwrap_or(0)), value),
        }
        Ok(())
    }
}

/// Index order over `max_entries` slots, for every array-like map: the
/// first index when `key` is absent, malformed or past the end.
pub(crate) fn next_index(key: Option<&[u8]>, max_entries: u32) -> Option<Vec<u8>> {
    let index = key
        .and_then(|k| <[u8; 4]>::try_from(k).ok())
        .map(u32::from_le_bytes)
        .filter(|&i| i < max_entries);
    let next = index.map_or(0, |i| i + 1);
    (next < max_entries).then(|| next.to_le_bytes().to_vec())
}
