//! `PERF_EVENT_ARRAY`: per-index (usually per-CPU) rings of samples that
//! `bpf_perf_event_output` appends to. In the kernel each index holds a
//! perf event opened by userspace; here userspace opens a ring of a given
//! capacity at an index ([`PerfEventArray::open`], or any update through
//! `MapOps`), and reads samples and the count of samples lost because the
//! ring was full.

use std::collections::VecDeque;
use std::sync::{Mutex, RwLock};

use crate::maps::error::MapError;
use crate::maps::lock::{lock, read, write};

/// Ring capacity a `MapOps` update opens: 8 pages, like a small
/// `perf_buffer`.
pub const DEFAULT_PERF_CAPACITY: usize = 8 * 4096;
/// Bytes a sample takes besides its data: the perf record header (8) and
/// the raw size field (4), padded to 8 with the data.
const SAMPLE_OVERHEAD: usize = 12;

/// Samples read from one ring.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerfSamples {
    /// The samples, oldest first.
    pub samples: Vec<Vec<u8>>,
    /// Samples dropped because the ring was full since the last read (the
    /// kernel's `PERF_RECORD_LOST`).
    pub lost: u64,
}

#[derive(Debug)]
struct PerfRing {
    capacity: usize,
    used: usize,
    samples: VecDeque<Vec<u8>>,
    lost: u64,
}

fn sample_space(len: usize) -> usize {
    (len + SAMPLE_OVERHEAD).div_ceil(8) * 8
}

/// A perf event array's rings.
#[derive(Debug)]
pub struct PerfEventArray {
    max_entries: u32,
    rings: RwLock<Vec<Option<Mutex<PerfRing>>>>,
}

impl PerfEventArray {
    pub(crate) fn new(max_entries: u32) -> PerfEventArray {
        PerfEventArray {
            max_entries,
            rings: RwLock::new((0..max_entries).map(|_| None).collect()),
        }
    }

    /// Opens a ring of `capacity` bytes at `index`, replacing any ring
    /// there.
    pub fn open(&self, index: u32, capacity: usize) -> Result<(), MapError> {
        let mut rings = write(&self.rings);
        let slot = rings.get_mut(index as usize).ok_or(MapError::OutOfBounds {
            index,
            max_entries: self.max_entries,
        })?;
        *slot = Some(Mutex::new(PerfRing {
            capacity,
            used: 0,
            samples: VecDeque::new(),
            lost: 0,
        }));
        Ok(())
    }

    /// Closes the ring at `index`.
    pub(crate) fn close(&self, index: u32) -> Result<(), MapError> {
        let mut rings = write(&self.rings);
        let slot = rings.get_mut(index as usize).ok_or(MapError::NotFound)?;
        slot.take().map(|_| ()).ok_or(MapError::NotFound)
    }

    /// Appends a sample to the ring at `index`: E2BIG past the array,
    /// ENOENT when no ring is open there, ENOSPC (and one more lost
    /// sample) when it is full.
    pub(crate) fn output(&self, index: u32, data: &[u8]) -> Result<(), MapError> {
        let rings = read(&self.rings);
        let slot = rings.get(index as usize).ok_or(MapError::OutOfBounds {
            index,
            max_entries: self.max_entries,
        })?;
        let mut ring = lock(slot.as_ref().ok_or(MapError::NotFound)?);
        let space = sample_space(data.len());
        if ring.used + space > ring.capacity {
            ring.lost += 1;
            return Err(MapError::NoSpace {
                max_entries: self.max_entries,
            });
        }
        ring.used += space;
        ring.samples.push_back(data.to_vec());
        Ok(())
    }

    /// Takes every sample of the ring at `index` and its lost count.
    pub fn read(&self, index: u32) -> Result<PerfSamples, MapError> {
        let rings = read(&self.rings);
        let slot = rings.get(index as usize).ok_or(MapError::OutOfBounds {
            index,
            max_entries: self.max_entries,
        })?;
        let mut ring = lock(slot.as_ref().ok_or(MapError::NotFound)?);
        ring.used = 0;
        Ok(PerfSamples {
            samples: ring.samples.drain(..).collect(),
            lost: core::mem::take(&mut ring.lost),
        })
    }

    /// Whether a ring is open at `index`.
    pub fn is_open(&self, index: u32) -> bool {
        read(&self.rings)
            .get(index as usize)
            .is_some_and(Option::is_some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_and_lost_counts_per_ring() {
        let perf = PerfEventArray::new(2);
        assert_eq!(perf.output(0, b"x"), Err(MapError::NotFound));
        assert!(matches!(
            perf.output(2, b"x"),
            Err(MapError::OutOfBounds { .. })
        ));
        perf.open(1, 40).unwrap();
        perf.output(1, b"abcd").unwrap();
        perf.output(1, b"efgh").unwrap();
        assert_eq!(
            perf.output(1, b"ijkl"),
            Err(MapError::NoSpace { max_entries: 2 })
        );
        let read = perf.read(1).unwrap();
        assert_eq!(read.samples, [b"abcd".to_vec(), b"efgh".to_vec()]);
        assert_eq!(read.lost, 1);
        assert_eq!(perf.read(1).unwrap(), PerfSamples::default());
    }
}
