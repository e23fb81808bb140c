//! `HASH`, `PERCPU_HASH`, `LRU_HASH` and `LRU_PERCPU_HASH`: one table with
//! two switches.
//!
//! Values live in preallocated slots of a [`ValueStore`], `max_entries + 1`
//! of them (times the CPU count for per-CPU kinds), as the kernel
//! preallocates by default; the extra slot lets an update of an existing
//! key write a fresh slot and then swap it in, so a program reading the
//! old value never sees half of the new one (the kernel does the same).
//! Keys sit in two indexes under one lock: a hash table from key to slot,
//! which lookups and updates probe once (a program's lookup or update of
//! an existing key allocates nothing), and an ordered set that `next_key`
//! walks in byte order, stable under updates (the kernel's order is its
//! bucket order; both are "unspecified but complete"). The hash is seeded
//! per map at random, as the kernel seeds its `jhash`, so keys chosen by
//! a program's author cannot be made to collide. A program's pointer
//! to a deleted entry stays valid and may later show a new entry's value,
//! as with the kernel's preallocated elements.
//!
//! LRU kinds stamp a slot on every lookup and update; a full LRU map
//! evicts the entry with the oldest stamp to make room (the kernel's LRU
//! is approximate and per-CPU; this one is exact and common).

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::maps::def::{MapDef, round8};
use crate::maps::error::{MapError, UpdateMode};
use crate::maps::lock::{read, write};
use crate::maps::storage::ValueStore;

#[derive(Debug)]
pub(crate) struct HashTable {
    max_entries: u32,
    ncpus: usize,
    percpu: bool,
    lru: bool,
    values: ValueStore,
    index: RwLock<Index>,
    /// LRU: when each slot was last used, from `clock`.
    stamps: Box<[AtomicU64]>,
    clock: AtomicU64,
}

#[derive(Debug)]
struct Index {
    /// The slot of each key, hashed and compared by the key in
    /// `slot_keys`: no key is allocated on its own, so a lookup reads the
    /// table and the key array, as the kernel's elements hold their keys.
    by_key: hashbrown::HashTable<u32>,
    hashing: KeyHashing,
    /// Every key, in byte order.
    ordered: BTreeSet<Box<[u8]>>,
    /// The key in each slot.
    slot_keys: SlotKeys,
    free: Vec<u32>,
}

impl Index {
    /// The slot holding `key`.
    fn slot(&self, key: &[u8]) -> Option<u32> {
        let hash = self.hashing.hash_one(key);
        self.by_key.find(hash, self.slot_keys.holding(key)).copied()
    }

    /// Indexes `key`, which is not in the map, at `slot`.
    fn insert(&mut self, key: &[u8], slot: u32) {
        self.slot_keys.set(slot, key);
        let (keys, hashing) = (&self.slot_keys, &self.hashing);
        let rehash = |&slot: &u32| hashing.hash_one(keys.get(slot));
        self.by_key
            .insert_unique(hashing.hash_one(key), slot, rehash);
        self.ordered.insert(key.into());
    }

    /// Takes `key` out of both indexes and frees its slot.
    fn remove(&mut self, key: &[u8]) -> Option<()> {
        let hash = self.hashing.hash_one(key);
        let found = self.by_key.find_entry(hash, self.slot_keys.holding(key));
        let (slot, _) = found.ok()?.remove();
        self.ordered.remove(key);
        self.free.push(slot);
        Some(())
    }
}

/// Each slot's key, `key_size` bytes apiece, in one allocation.
#[derive(Debug)]
struct SlotKeys {
    bytes: Box<[u8]>,
    key_size: usize,
}

impl SlotKeys {
    fn get(&self, slot: u32) -> &[u8] {
        let at = slot as usize * self.key_size;
        &self.bytes[at..at + self.key_size]
    }

    /// Whether a slot of the index holds `key`, for its probes.
    fn holding<'k>(&'k self, key: &'k [u8]) -> impl Fn(&u32) -> bool + 'k {
        move |&slot| self.get(slot) == key
    }

    fn set(&mut self, slot: u32, key: &[u8]) {
        let at = slot as usize * self.key_size;
        self.bytes[at..at + self.key_size].copy_from_slice(key);
    }
}

/// Builds [`KeyHasher`]s with one random seed per map.
#[derive(Clone, Debug)]
struct KeyHashing {
    seed: u64,
}

impl KeyHashing {
    fn random() -> KeyHashing {
        // `RandomState` draws its keys from the operating system.
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        KeyHashing { seed }
    }
}

impl BuildHasher for KeyHashing {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.seed)
    }
}

/// A multiply-and-rotate hash over 8-byte words: a few cycles for the
/// short keys maps hold, where SipHash costs more than the probe.
struct KeyHasher(u64);

impl KeyHasher {
    fn mix(&mut self, word: u64) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(K);
    }
}

/// The last bytes of a key (fewer than 8) as one little-endian word, put
/// together from loads of 4, 2 and 1 bytes. Copying them into a zeroed
/// array and loading that as 8 bytes would wait for the copy's narrower
/// stores to reach the cache (they cannot be forwarded to a wider load):
/// for the 4-byte keys most maps have, that stall was most of the hash.
fn tail_word(rest: &[u8]) -> u64 {
    let (mut word, mut at) = (0u64, 0);
    if let Some(four) = rest.first_chunk::<4>() {
        word = u64::from(u32::from_le_bytes(*four));
        at = 4;
    }
    if let Some(two) = rest[at..].first_chunk::<2>() {
        word |= u64::from(u16::from_le_bytes(*two)) << (8 * at);
        at += 2;
    }
    if let Some(&one) = rest.get(at) {
        word |= u64::from(one) << (8 * at);
    }
    word
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        self.mix(tail_word(rest) ^ ((rest.len() as u64) << 59));
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn finish(&self) -> u64 {
        // Fold the high bits, which the multiply mixed best, into the low
        // ones the table indexes with.
        self.0 ^ self.0 >> 29
    }
}

impl HashTable {
    pub(crate) fn new(def: &MapDef, ncpus: u32) -> Result<HashTable, MapError> {
        let percpu = def.kind.is_percpu();
        let lru = matches!(
            def.kind,
            crate::MapKind::LruHash | crate::MapKind::LruPercpuHash
        );
        let ncpus = if percpu { ncpus.max(1) as usize } else { 1 };
        let slots = def.max_entries as usize + 1;
        let values = ValueStore::new(
            def.value_size,
            (slots as u64).saturating_mul(ncpus as u64),
            def.program_writable(),
        )?;
        let stamps = (0..if lru { slots } else { 0 })
            .map(|_| AtomicU64::new(0))
            .collect();
        Ok(HashTable {
            max_entries: def.max_entries,
            ncpus,
            percpu,
            lru,
            values,
            index: RwLock::new(Index {
                by_key: hashbrown::HashTable::with_capacity(slots),
                hashing: KeyHashing::random(),
                ordered: BTreeSet::new(),
                slot_keys: SlotKeys {
                    bytes: vec![0; slots * def.key_size as usize].into(),
                    key_size: def.key_size as usize,
                },
                free: (0..slots as u32).rev().collect(),
            }),
            stamps,
            clock: AtomicU64::new(0),
        })
    }

    pub(crate) fn values(&self) -> &ValueStore {
        &self.values
    }

    /// The element holding `slot`'s value for `cpu`.
    fn element(&self, slot: u32, cpu: usize) -> usize {
        slot as usize * self.ncpus + cpu
    }

    fn touch(&self, slot: u32) {
        if let Some(stamp) = self.stamps.get(slot as usize) {
            let now = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
            stamp.store(now, Ordering::Relaxed);
        }
    }

    /// The element of `key`'s value on `cpu`, for a program's pointer.
    pub(crate) fn find(&self, key: &[u8], cpu: usize) -> Option<usize> {
        let slot = read(&self.index).slot(key)?;
        self.touch(slot);
        Some(self.element(slot, cpu.min(self.ncpus - 1)))
    }

    /// The value as userspace sees it: per-CPU kinds give every CPU's
    /// value, each padded to 8 bytes.
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<Vec<u8>> {
        let slot = read(&self.index).slot(key)?;
        self.touch(slot);
        Some(self.user_value(slot))
    }

    fn user_value(&self, slot: u32) -> Vec<u8> {
        if !self.percpu {
            return self.values.value(self.element(slot, 0));
        }
        let stride = round8(self.values.value_size() as u32);
        let mut out = vec![0; stride * self.ncpus];
        for (cpu, chunk) in out.chunks_mut(stride).enumerate() {
            let size = self.values.value_size();
            self.values
                .read_value(self.element(slot, cpu), &mut chunk[..size]);
        }
        out
    }

    /// Inserts or replaces `key`. `value` is what userspace passes (every
    /// CPU's value for per-CPU kinds) unless `cpu` is given: then it is
    /// one value, from a program on that CPU.
    pub(crate) fn update(
        &self,
        key: &[u8],
        value: &[u8],
        mode: UpdateMode,
        cpu: Option<usize>,
    ) -> Result<(), MapError> {
        let full = MapError::Full {
            max_entries: self.max_entries,
        };
        let mut guard = write(&self.index);
        let index = &mut *guard;
        let (hash, holding) = (index.hashing.hash_one(key), index.slot_keys.holding(key));
        if let Some(at) = index.by_key.find_mut(hash, holding) {
            mode.check(true)?;
            let old = *at;
            if let (true, Some(cpu)) = (self.percpu, cpu) {
                // A program updates its own CPU's value in place.
                self.values.write_value(self.element(old, cpu), value);
                self.touch(old);
                return Ok(());
            }
            // A new slot, as the kernel's new element: a program holding
            // the old value's address keeps reading the old value.
            let slot = index.free.pop().ok_or(full)?;
            self.fill(slot, value, cpu, Some(old));
            index.slot_keys.set(slot, key);
            *at = slot;
            index.free.push(old);
            self.touch(slot);
            return Ok(());
        }
        mode.check(false)?;
        if index.by_key.len() >= self.max_entries as usize {
            if !self.lru {
                return Err(full);
            }
            self.evict_oldest(index);
        }
        let slot = index.free.pop().ok_or(full)?;
        self.fill(slot, value, cpu, None);
        index.insert(key, slot);
        self.touch(slot);
        Ok(())
    }

    /// Writes a new slot's values.
    fn fill(&self, slot: u32, value: &[u8], cpu: Option<usize>, previous: Option<u32>) {
        if !self.percpu {
            self.values.write_value(self.element(slot, 0), value);
            return;
        }
        let stride = round8(self.values.value_size() as u32);
        for each in 0..self.ncpus {
            let element = self.element(slot, each);
            match cpu {
                // From userspace: each CPU's part of the buffer.
                None => {
                    let part = value.get(each * stride..).unwrap_or_default();
                    self.values.write_value(element, part);
                }
                // From a program, new entry: this CPU's value, others
                // zeroed (an existing entry was updated in place above).
                Some(cpu) if cpu == each => self.values.write_value(element, value),
                Some(_) => match previous {
                    Some(old) => {
                        let kept = self.values.value(self.element(old, each));
                        self.values.write_value(element, &kept);
                    }
                    None => self.values.write_value(element, &[]),
                },
            }
        }
    }

    fn evict_oldest(&self, index: &mut Index) {
        let oldest = index.by_key.iter().copied().min_by_key(|&slot| {
            self.stamps
                .get(slot as usize)
                .map(|s| s.load(Ordering::Relaxed))
        });
        if let Some(slot) = oldest {
            let key: Box<[u8]> = index.slot_keys.get(slot).into();
            index.remove(&key);
        }
    }

    pub(crate) fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        write(&self.index).remove(key).ok_or(MapError::NotFound)
    }

    /// The key after `key` in the iteration order; the first key when
    /// `key` is `None` or not in the map.
    pub(crate) fn next_key(&self, key: Option<&[u8]>) -> Option<Vec<u8>> {
        let index = read(&self.index);
        let present = key.filter(|k| index.slot(k).is_some());
        let next = match present {
            Some(key) => index
                .ordered
                .range::<[u8], _>((core::ops::Bound::Excluded(key), core::ops::Bound::Unbounded))
                .next(),
            None => index.ordered.iter().next(),
        };
        next.map(|key| key.to_vec())
    }

    /// Entries in the map.
    pub(crate) fn len(&self) -> usize {
        read(&self.index).by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_words_are_the_bytes_zero_padded() {
        let bytes = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77];
        for len in 0..=bytes.len() {
            let mut padded = [0; 8];
            padded[..len].copy_from_slice(&bytes[..len]);
            assert_eq!(
                tail_word(&bytes[..len]),
                u64::from_le_bytes(padded),
                "{len} bytes"
            );
        }
    }
}
