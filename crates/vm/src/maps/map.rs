//! [`Map`]: one map of any kind, safe to share between threads and runs,
//! and [`MapOps`], what userspace does with any map, here or in the kernel.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};

use crate::interpreter::Interpreter;
use crate::maps::array::{ArrayTable, next_index};
use crate::maps::def::{MapDef, MapKind, round8};
use crate::maps::error::{Errno, MapError, UpdateMode};
use crate::maps::hash::HashTable;
use crate::maps::lock::{read, write};
use crate::maps::lpm::LpmTrie;
use crate::maps::perf::{DEFAULT_PERF_CAPACITY, PerfEventArray};
use crate::maps::programs::ProgramArray;
use crate::maps::queue::QueueStack;
use crate::maps::ringbuf::RingBuf;
use crate::maps::storage::ValueStore;

/// What every map offers userspace, in this engine and in the kernel
/// backend alike (`visor map` and `visor diff` use only this).
///
/// Keys and values are bytes of the definition's sizes; per-CPU kinds
/// take and give `round_up(value_size, 8) * ncpus` bytes, every CPU's
/// value in turn, as the `bpf(2)` syscall does. "Not there" is `Ok(None)`
/// for lookups and iteration; every failure is a [`MapError`] with the
/// kernel's errno.
pub trait MapOps {
    /// The definition the map was created with.
    fn def(&self) -> &MapDef;

    /// Bytes of a value as userspace sees it.
    fn value_len(&self) -> usize {
        self.def().value_size as usize
    }

    /// The value of `key`; for queues and stacks (empty key) the value a
    /// pop would take. LPM tries match the longest prefix.
    fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MapError>;

    /// Creates or replaces `key`'s value as `mode` allows; for queues and
    /// stacks (empty key), pushes.
    fn update(&self, key: &[u8], value: &[u8], mode: UpdateMode) -> Result<(), MapError>;

    /// Removes `key`; [`MapError::NotFound`] when absent.
    fn delete(&self, key: &[u8]) -> Result<(), MapError>;

    /// The key after `key` (`None`: the first key). A key not in the map
    /// restarts at the first key; `Ok(None)` when there is no next key.
    fn next_key(&self, key: Option<&[u8]>) -> Result<Option<Vec<u8>>, MapError>;

    /// Removes `key` and returns its value (for queues and stacks: pops).
    fn lookup_and_delete(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MapError>;
}

/// Map ids, like the kernel's: unique for the life of the process.
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// One map. Create it with [`Map::new`] or [`Map::with_cpus`], share it as
/// `Arc<Map>` between programs ([`crate::ProgramMaps`]), threads and
/// userspace ([`MapOps`]); every operation takes `&self`.
#[derive(Debug)]
pub struct Map {
    def: MapDef,
    id: u32,
    ncpus: u32,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Hash(HashTable),
    Array(ArrayTable),
    Lpm(LpmTrie),
    Queue(QueueStack),
    RingBuf(RingBuf),
    Perf(PerfEventArray),
    Programs(ProgramArray),
    MapArray(RwLock<Vec<Option<Arc<Map>>>>),
    MapHash(RwLock<BTreeMap<Box<[u8]>, Arc<Map>>>),
}

/// What a program's lookup found.
#[derive(Debug)]
pub(crate) enum Found {
    Missing,
    /// A value: its element in [`Map::values`].
    Value(usize),
    /// An inner map of a map-in-map.
    Map(Arc<Map>),
}

impl Map {
    /// Creates a map on one CPU, after checking `def` with the kernel's
    /// rules ([`MapDef::validate`]).
    pub fn new(def: MapDef) -> Result<Map, MapError> {
        Map::with_cpus(def, 1)
    }

    /// Creates a map whose per-CPU kinds keep `ncpus` values per entry
    /// (at least 1). Programs pick their CPU with
    /// [`RunInput::on_cpu`](crate::RunInput::on_cpu).
    pub fn with_cpus(def: MapDef, ncpus: u32) -> Result<Map, MapError> {
        def.validate()?;
        let ncpus = ncpus.max(1);
        let body = match def.kind {
            MapKind::Hash | MapKind::PercpuHash | MapKind::LruHash | MapKind::LruPercpuHash => {
                Body::Hash(HashTable::new(&def, ncpus)?)
            }
            MapKind::Array | MapKind::PercpuArray => Body::Array(ArrayTable::new(&def, ncpus)?),
            MapKind::LpmTrie => Body::Lpm(LpmTrie::new(&def)?),
            MapKind::Queue => Body::Queue(QueueStack::new(&def, false)),
            MapKind::Stack => Body::Queue(QueueStack::new(&def, true)),
            MapKind::RingBuf => Body::RingBuf(RingBuf::new(def.max_entries)),
            MapKind::PerfEventArray => Body::Perf(PerfEventArray::new(def.max_entries)),
            MapKind::ProgArray => Body::Programs(ProgramArray::new(def.max_entries)),
            MapKind::ArrayOfMaps => {
                Body::MapArray(RwLock::new(vec![None; def.max_entries as usize]))
            }
            MapKind::HashOfMaps => Body::MapHash(RwLock::new(BTreeMap::new())),
        };
        Ok(Map {
            def,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            ncpus,
            body,
        })
    }

    /// The map's type.
    pub fn kind(&self) -> MapKind {
        self.def.kind
    }

    /// A process-wide unique id, like the kernel's map ids.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// CPUs per-CPU values are kept for.
    pub fn ncpus(&self) -> u32 {
        self.ncpus
    }

    /// The ring buffer's consumer side, for `RINGBUF` maps.
    pub fn as_ringbuf(&self) -> Option<&RingBuf> {
        match &self.body {
            Body::RingBuf(ring) => Some(ring),
            _ => None,
        }
    }

    /// The perf rings, for `PERF_EVENT_ARRAY` maps.
    pub fn as_perf_event_array(&self) -> Option<&PerfEventArray> {
        match &self.body {
            Body::Perf(perf) => Some(perf),
            _ => None,
        }
    }

    /// Puts `program` at `index` of a `PROG_ARRAY`, for `bpf_tail_call`;
    /// `prog_id` is what lookups report (the kernel reports program ids).
    ///
    /// The array holds the program strongly, as the kernel does; a
    /// program that tail-calls through an array holding itself keeps both
    /// alive until the entry is deleted.
    pub fn set_program(
        &self,
        index: u32,
        prog_id: u32,
        program: Arc<Interpreter>,
    ) -> Result<(), MapError> {
        let Body::Programs(slots) = &self.body else {
            return Err(self.wrong(MapKind::ProgArray));
        };
        match slots.set(index, prog_id, program) {
            true => Ok(()),
            false => Err(MapError::OutOfBounds {
                index,
                max_entries: self.def.max_entries,
            }),
        }
    }

    /// The program at `index` of a `PROG_ARRAY`.
    pub fn program(&self, index: u32) -> Option<Arc<Interpreter>> {
        match &self.body {
            Body::Programs(slots) => slots.program(index),
            _ => None,
        }
    }

    /// The slots of a `PROG_ARRAY`, for native tail calls.
    pub(crate) fn as_program_array(&self) -> Option<&ProgramArray> {
        match &self.body {
            Body::Programs(slots) => Some(slots),
            _ => None,
        }
    }

    /// Stores `inner` under `key` of a map-in-map (a 4-byte index for
    /// `ARRAY_OF_MAPS`); `inner` must match the definition's template in
    /// type, sizes, flags and capacity.
    pub fn set_inner(&self, key: &[u8], inner: Arc<Map>, mode: UpdateMode) -> Result<(), MapError> {
        self.check_key(key)?;
        let template = self.def.inner.as_deref();
        let matches = template.is_some_and(|t| {
            let d = inner.def();
            (t.kind, t.key_size, t.value_size, t.flags, t.max_entries)
                == (d.kind, d.key_size, d.value_size, d.flags, d.max_entries)
        });
        if !matches {
            return Err(MapError::WrongMap {
                expected: template.map_or(self.def.kind, |t| t.kind),
                actual: inner.kind(),
            });
        }
        match &self.body {
            Body::MapArray(slots) => {
                let index = index_of(key);
                let mut slots = write(slots);
                let slot = slots.get_mut(index as usize).ok_or(MapError::OutOfBounds {
                    index,
                    max_entries: self.def.max_entries,
                })?;
                mode.check(slot.is_some())?;
                *slot = Some(inner);
                Ok(())
            }
            Body::MapHash(entries) => {
                let mut entries = write(entries);
                let present = entries.contains_key(key);
                mode.check(present)?;
                if !present && entries.len() >= self.def.max_entries as usize {
                    return Err(MapError::Full {
                        max_entries: self.def.max_entries,
                    });
                }
                entries.insert(key.into(), inner);
                Ok(())
            }
            _ => Err(self.wrong(MapKind::ArrayOfMaps)),
        }
    }

    /// The inner map under `key` of a map-in-map.
    pub fn inner(&self, key: &[u8]) -> Option<Arc<Map>> {
        match &self.body {
            Body::MapArray(slots) => read(slots).get(index_of(key) as usize)?.clone(),
            Body::MapHash(entries) => read(entries).get(key).cloned(),
            _ => None,
        }
    }

    /// Entries in a hash, queue or stack (others: `None`).
    pub fn entry_count(&self) -> Option<usize> {
        match &self.body {
            Body::Hash(table) => Some(table.len()),
            Body::Queue(queue) => Some(queue.len()),
            Body::MapHash(entries) => Some(read(entries).len()),
            _ => None,
        }
    }

    fn wrong(&self, expected: MapKind) -> MapError {
        MapError::WrongMap {
            expected,
            actual: self.def.kind,
        }
    }

    fn unsupported(&self, operation: &'static str, errno: Errno) -> MapError {
        MapError::Unsupported {
            kind: self.def.kind,
            operation,
            errno,
        }
    }

    fn check_key(&self, key: &[u8]) -> Result<(), MapError> {
        let expected = self.def.key_size as usize;
        if key.len() != expected {
            return Err(MapError::KeySize {
                size: key.len(),
                expected,
            });
        }
        Ok(())
    }

    fn check_value(&self, value: &[u8], expected: usize) -> Result<(), MapError> {
        if value.len() != expected {
            return Err(MapError::ValueSize {
                size: value.len(),
                expected,
            });
        }
        Ok(())
    }

    // What programs reach through helpers. Keys and values have been read
    // from guest memory with the definition's sizes.

    /// The storage programs point into, for kinds whose values they may
    /// address.
    pub(crate) fn values(&self) -> Option<&ValueStore> {
        match &self.body {
            Body::Hash(table) => Some(table.values()),
            Body::Array(table) => Some(table.values()),
            Body::Lpm(trie) => Some(trie.values()),
            _ => None,
        }
    }

    /// `bpf_map_lookup_elem` on `cpu`.
    pub(crate) fn program_lookup(&self, key: &[u8], cpu: u32) -> Result<Found, MapError> {
        let cpu = self.program_cpu(cpu)?;
        let found = match &self.body {
            Body::Hash(table) => table.find(key, cpu).map(Found::Value),
            Body::Array(table) => table.find(key, cpu).map(Found::Value),
            Body::Lpm(trie) => trie.find(key).map(Found::Value),
            Body::MapArray(_) | Body::MapHash(_) => self.inner(key).map(Found::Map),
            _ => return Err(self.unsupported("lookup from a program", Errno::EINVAL)),
        };
        Ok(found.unwrap_or(Found::Missing))
    }

    /// `bpf_map_update_elem` on `cpu`: one value, per-CPU kinds update
    /// that CPU's.
    pub(crate) fn program_update(
        &self,
        key: &[u8],
        value: &[u8],
        mode: UpdateMode,
        cpu: u32,
    ) -> Result<(), MapError> {
        let cpu = self.program_cpu(cpu)?;
        match &self.body {
            Body::Hash(table) => table.update(key, value, mode, Some(cpu)),
            Body::Array(table) => table.update(key, value, mode, Some(cpu)),
            Body::Lpm(trie) => trie.update(key, value, mode),
            Body::Queue(queue) => queue.push(value, mode),
            _ => Err(self.unsupported("update from a program", Errno::EINVAL)),
        }
    }

    fn program_cpu(&self, cpu: u32) -> Result<usize, MapError> {
        if self.def.kind.is_percpu() && cpu >= self.ncpus {
            return Err(MapError::NoSuchCpu {
                cpu,
                ncpus: self.ncpus,
            });
        }
        Ok(cpu as usize)
    }

    /// `bpf_map_push_elem`.
    pub(crate) fn push(&self, value: &[u8], mode: UpdateMode) -> Result<(), MapError> {
        match (&self.body, mode) {
            (Body::Queue(_), UpdateMode::NoExist) => Err(MapError::ModeUnsupported {
                kind: self.def.kind,
                mode: mode.name(),
            }),
            (Body::Queue(queue), _) => queue.push(value, mode),
            _ => Err(self.unsupported("push", Errno::EINVAL)),
        }
    }

    /// `bpf_map_pop_elem` (`take`) and `bpf_map_peek_elem`.
    pub(crate) fn pop(&self, take: bool) -> Result<Vec<u8>, MapError> {
        match &self.body {
            Body::Queue(queue) if take => queue.pop().ok_or(MapError::NotFound),
            Body::Queue(queue) => queue.peek().ok_or(MapError::NotFound),
            _ => Err(self.unsupported(if take { "pop" } else { "peek" }, Errno::EINVAL)),
        }
    }

    /// The program at `index` of a `PROG_ARRAY`, for `bpf_tail_call`.
    pub(crate) fn tail_call_target(&self, index: u64) -> Option<Arc<Interpreter>> {
        self.program(u32::try_from(index).ok()?)
    }
}

/// The index a 4-byte key names (`u32::MAX` for any other length).
fn index_of(key: &[u8]) -> u32 {
    <[u8; 4]>::try_from(key).map_or(u32::MAX, u32::from_le_bytes)
}

impl MapOps for Map {
    fn def(&self) -> &MapDef {
        &self.def
    }

    fn value_len(&self) -> usize {
        match self.def.kind {
            kind if kind.is_percpu() => round8(self.def.value_size) * self.ncpus as usize,
            _ => self.def.value_size as usize,
        }
    }

    fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MapError> {
        if let Body::Queue(queue) = &self.body {
            self.check_key(key)?;
            return Ok(queue.peek());
        }
        if let Body::RingBuf(_) = &self.body {
            return Err(self.unsupported("lookup", Errno::ENOTSUPP));
        }
        self.check_key(key)?;
        Ok(match &self.body {
            Body::Hash(table) => table.lookup(key),
            Body::Array(table) => table.lookup(key),
            Body::Lpm(trie) => trie.lookup(key),
            Body::Programs(slots) => slots.id(index_of(key)).map(|id| id.to_le_bytes().to_vec()),
            Body::MapArray(_) | Body::MapHash(_) => self
                .inner(key)
                .map(|inner| inner.id().to_le_bytes().to_vec()),
            Body::Perf(_) => return Err(self.unsupported("lookup", Errno::ENOTSUPP)),
            Body::Queue(_) | Body::RingBuf(_) => None,
        })
    }

    fn update(&self, key: &[u8], value: &[u8], mode: UpdateMode) -> Result<(), MapError> {
        if let Body::RingBuf(_) = &self.body {
            return Err(self.unsupported("update", Errno::ENOTSUPP));
        }
        self.check_key(key)?;
        self.check_value(value, self.value_len())?;
        match &self.body {
            Body::Hash(table) => table.update(key, value, mode, None),
            Body::Array(table) => table.update(key, value, mode, None),
            Body::Lpm(trie) => trie.update(key, value, mode),
            Body::Queue(_) => self.push(value, mode),
            Body::Perf(perf) => perf.open(index_of(key), DEFAULT_PERF_CAPACITY),
            Body::Programs(_) | Body::MapArray(_) | Body::MapHash(_) => Err(self.unsupported(
                "update by descriptor (use Map::set_program or Map::set_inner)",
                Errno::EINVAL,
            )),
            Body::RingBuf(_) => Err(self.unsupported("update", Errno::ENOTSUPP)),
        }
    }

    fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        match &self.body {
            Body::Queue(_) => return Err(self.unsupported("delete", Errno::EINVAL)),
            Body::RingBuf(_) => return Err(self.unsupported("delete", Errno::ENOTSUPP)),
            _ => {}
        }
        self.check_key(key)?;
        let index = index_of(key);
        let past = MapError::OutOfBounds {
            index,
            max_entries: self.def.max_entries,
        };
        match &self.body {
            Body::Hash(table) => table.delete(key),
            Body::Lpm(trie) => trie.delete(key),
            Body::Array(_) => Err(self.unsupported("delete", Errno::EINVAL)),
            Body::Perf(perf) => perf.close(index),
            Body::Programs(slots) => match slots.clear(index).ok_or(past)? {
                true => Ok(()),
                false => Err(MapError::NotFound),
            },
            Body::MapArray(slots) => {
                let mut slots = write(slots);
                let slot = slots.get_mut(index as usize).ok_or(past)?;
                slot.take().map(|_| ()).ok_or(MapError::NotFound)
            }
            Body::MapHash(entries) => write(entries)
                .remove(key)
                .map(|_| ())
                .ok_or(MapError::NotFound),
            Body::Queue(_) | Body::RingBuf(_) => Err(self.unsupported("delete", Errno::EINVAL)),
        }
    }

    fn next_key(&self, key: Option<&[u8]>) -> Result<Option<Vec<u8>>, MapError> {
        match &self.body {
            Body::Queue(_) => return Err(self.unsupported("next_key", Errno::EINVAL)),
            Body::RingBuf(_) => return Err(self.unsupported("next_key", Errno::ENOTSUPP)),
            _ => {}
        }
        if let Some(key) = key {
            self.check_key(key)?;
        }
        Ok(match &self.body {
            Body::Hash(table) => table.next_key(key),
            Body::Lpm(trie) => trie.next_key(key),
            Body::MapHash(entries) => {
                let entries = read(entries);
                let present = key.filter(|k| entries.contains_key(*k));
                let next = match present {
                    Some(key) => entries
                        .range::<[u8], _>((
                            core::ops::Bound::Excluded(key),
                            core::ops::Bound::Unbounded,
                        ))
                        .next(),
                    None => entries.iter().next(),
                };
                next.map(|(key, _)| key.to_vec())
            }
            _ => next_index(key, self.def.max_entries),
        })
    }

    fn lookup_and_delete(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MapError> {
        match &self.body {
            Body::Queue(queue) => {
                self.check_key(key)?;
                Ok(queue.pop())
            }
            Body::Hash(table) => {
                self.check_key(key)?;
                let value = table.lookup(key);
                if value.is_some() {
                    table.delete(key)?;
                }
                Ok(value)
            }
            _ => Err(self.unsupported("lookup_and_delete", Errno::EINVAL)),
        }
    }
}

/// The maps of one program, by the index its `lddw` instructions use
/// (`MAP_IDX`, and `MAP_FD` too: the userspace engine has no descriptors,
/// so a "descriptor" is a position here).
#[derive(Clone, Debug, Default)]
pub struct ProgramMaps {
    maps: Vec<Arc<Map>>,
}

impl ProgramMaps {
    pub(crate) const EMPTY: ProgramMaps = ProgramMaps { maps: Vec::new() };

    /// No maps.
    pub fn new() -> ProgramMaps {
        ProgramMaps::default()
    }

    /// Appends `map`; returns its index.
    pub fn push(&mut self, map: Arc<Map>) -> u32 {
        self.maps.push(map);
        (self.maps.len() - 1) as u32
    }

    /// The map at `index`.
    pub fn get(&self, index: u32) -> Option<&Arc<Map>> {
        self.maps.get(index as usize)
    }

    /// Number of maps.
    pub fn len(&self) -> usize {
        self.maps.len()
    }

    /// Whether there are no maps.
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// The maps in index order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Map>> {
        self.maps.iter()
    }

    pub(crate) fn as_slice(&self) -> &[Arc<Map>] {
        &self.maps
    }
}

impl FromIterator<Arc<Map>> for ProgramMaps {
    fn from_iter<I: IntoIterator<Item = Arc<Map>>>(iter: I) -> ProgramMaps {
        ProgramMaps {
            maps: iter.into_iter().collect(),
        }
    }
}
