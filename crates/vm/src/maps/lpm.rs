//! `LPM_TRIE`: longest-prefix match over keys of a native-endian `u32`
//! prefix length and `key_size - 4` bytes of data, matched bit by bit from
//! the most significant bit of the first byte (network order for
//! addresses).
//!
//! Lookups (from programs and userspace alike) find the stored prefix
//! that matches the most leading bits of the key, at most the key's own
//! prefix length. Updates and deletes name one prefix exactly; bits past
//! the prefix length do not count. Iteration follows the kernel's trie
//! walk: post-order, so a more specific prefix comes before the prefix it
//! extends, and a 0 bit before a 1 bit.
//!
//! The index is a B-tree in that order; a lookup probes each prefix length
//! from the key's down to 0, which costs at most 2049 probes and needs no
//! trie. Values live in preallocated slots like the hashes'.

use core::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::RwLock;

use crate::maps::def::{LPM_PREFIXLEN_SIZE, MapDef};
use crate::maps::error::{MapError, UpdateMode};
use crate::maps::lock::{read, write};
use crate::maps::storage::ValueStore;

/// A prefix: its length in bits and its data with the bits past the
/// length cleared.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Prefix {
    len: u32,
    data: Box<[u8]>,
}

fn bit(data: &[u8], n: u32) -> bool {
    data.get((n / 8) as usize)
        .is_some_and(|byte| byte & (0x80 >> (n % 8)) != 0)
}

impl Ord for Prefix {
    /// Post-order of the binary trie: at the first differing bit, 0 before
    /// 1; when one prefix extends the other, the longer one first.
    fn cmp(&self, other: &Prefix) -> Ordering {
        let common = self.len.min(other.len);
        for n in 0..common {
            match (bit(&self.data, n), bit(&other.data, n)) {
                (false, true) => return Ordering::Less,
                (true, false) => return Ordering::Greater,
                _ => {}
            }
        }
        other.len.cmp(&self.len)
    }
}

impl PartialOrd for Prefix {
    fn partial_cmp(&self, other: &Prefix) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug)]
struct Entry {
    slot: u32,
    /// The key as last given, returned by `next_key`.
    key: Box<[u8]>,
}

#[derive(Debug)]
struct Index {
    entries: BTreeMap<Prefix, Entry>,
    free: Vec<u32>,
}

#[derive(Debug)]
pub(crate) struct LpmTrie {
    max_entries: u32,
    /// Bits of data in a key.
    max_prefix: u32,
    values: ValueStore,
    index: RwLock<Index>,
}

impl LpmTrie {
    pub(crate) fn new(def: &MapDef) -> Result<LpmTrie, MapError> {
        let slots = def.max_entries as usize + 1;
        Ok(LpmTrie {
            max_entries: def.max_entries,
            max_prefix: 8 * (def.key_size - LPM_PREFIXLEN_SIZE),
            values: ValueStore::new(def.value_size, slots as u64, def.program_writable())?,
            index: RwLock::new(Index {
                entries: BTreeMap::new(),
                free: (0..slots as u32).rev().collect(),
            }),
        })
    }

    pub(crate) fn values(&self) -> &ValueStore {
        &self.values
    }

    /// `key`'s prefix length and data; the length is checked by callers.
    fn split(key: &[u8]) -> (u32, &[u8]) {
        let (len, data) = key.split_at(LPM_PREFIXLEN_SIZE as usize);
        let len = len.try_into().map(u32::from_ne_bytes).unwrap_or(u32::MAX);
        (len, data)
    }

    fn prefix(len: u32, data: &[u8]) -> Prefix {
        let mut data: Box<[u8]> = data.into();
        for (i, byte) in data.iter_mut().enumerate() {
            let start = i as u32 * 8;
            *byte &= match len.saturating_sub(start) {
                0 => 0,
                bits if bits >= 8 => 0xff,
                bits => !(0xff >> bits),
            };
        }
        Prefix { len, data }
    }

    fn exact(&self, key: &[u8]) -> Result<Prefix, MapError> {
        let (len, data) = Self::split(key);
        if len > self.max_prefix {
            return Err(MapError::PrefixTooLong {
                prefixlen: len,
                max: self.max_prefix,
            });
        }
        Ok(Self::prefix(len, data))
    }

    /// The slot of the longest stored prefix matching `key`.
    pub(crate) fn find(&self, key: &[u8]) -> Option<usize> {
        let (len, data) = Self::split(key);
        if len > self.max_prefix {
            return None;
        }
        let index = read(&self.index);
        (0..=len)
            .rev()
            .find_map(|bits| index.entries.get(&Self::prefix(bits, data)))
            .map(|entry| entry.slot as usize)
    }

    pub(crate) fn lookup(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.find(key).map(|slot| self.values.value(slot))
    }

    pub(crate) fn update(
        &self,
        key: &[u8],
        value: &[u8],
        mode: UpdateMode,
    ) -> Result<(), MapError> {
        let prefix = self.exact(key)?;
        let mut index = write(&self.index);
        let existing = index.entries.get(&prefix).map(|e| e.slot);
        mode.check(existing.is_some())?;
        if existing.is_none() && index.entries.len() >= self.max_entries as usize {
            return Err(MapError::NoSpace {
                max_entries: self.max_entries,
            });
        }
        let Some(slot) = index.free.pop() else {
            return Err(MapError::NoSpace {
                max_entries: self.max_entries,
            });
        };
        self.values.write_value(slot as usize, value);
        index.entries.insert(
            prefix,
            Entry {
                slot,
                key: key.into(),
            },
        );
        if let Some(old) = existing {
            index.free.push(old);
        }
        Ok(())
    }

    pub(crate) fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        let prefix = self.exact(key)?;
        let mut index = write(&self.index);
        let entry = index.entries.remove(&prefix).ok_or(MapError::NotFound)?;
        index.free.push(entry.slot);
        Ok(())
    }

    /// Post-order; the first prefix when `key` is absent or not stored.
    pub(crate) fn next_key(&self, key: Option<&[u8]>) -> Option<Vec<u8>> {
        let index = read(&self.index);
        let stored = key
            .and_then(|k| self.exact(k).ok())
            .filter(|p| index.entries.contains_key(p));
        let next = match stored {
            Some(prefix) => index
                .entries
                .range((
                    core::ops::Bound::Excluded(prefix),
                    core::ops::Bound::Unbounded,
                ))
                .next(),
            None => index.entries.iter().next(),
        };
        next.map(|(_, entry)| entry.key.to_vec())
    }
}
