//! `RINGBUF`: records of any size from any number of producers, read in
//! reservation order by one consumer.
//!
//! The ring is laid out as the kernel's: each record is an 8-byte header
//! (`u32` length with a busy bit 31 and a discard bit 30, then a `u32` the
//! kernel uses for its page offset) and the data, padded to 8. Producers
//! reserve space in order; the consumer stops at the first record still
//! busy, so a slow producer holds back later records but never loses them.
//!
//! A program's `bpf_ringbuf_reserve` pointer is not into the ring itself:
//! the engine maps a scratch region of exactly the record's size for it
//! (see the crate's memory layout), and submit copies the bytes into the
//! reserved space. The space is taken at reserve time, so ordering and
//! "full" behave as in the kernel, and after submit or discard the pointer
//! faults instead of writing into a published record.

use std::sync::Mutex;

use crate::maps::lock::lock;

/// Bytes of a record header.
pub const RINGBUF_HEADER: u64 = 8;
const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
/// The kernel's `RINGBUF_MAX_RECORD_SZ`.
const MAX_RECORD: u64 = (u32::MAX / 4) as u64;

/// What `bpf_ringbuf_query` can ask (`BPF_RB_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingQuery {
    /// Bytes produced and not consumed (`BPF_RB_AVAIL_DATA`, 0).
    AvailableData,
    /// The data area's size (`BPF_RB_RING_SIZE`, 1).
    RingSize,
    /// The consumer position (`BPF_RB_CONS_POS`, 2).
    ConsumerPos,
    /// The producer position (`BPF_RB_PROD_POS`, 3).
    ProducerPos,
}

impl RingQuery {
    /// The query numbered `flags`, as the helper takes it.
    pub fn from_flags(flags: u64) -> Option<RingQuery> {
        Some(match flags {
            0 => RingQuery::AvailableData,
            1 => RingQuery::RingSize,
            2 => RingQuery::ConsumerPos,
            3 => RingQuery::ProducerPos,
            _ => return None,
        })
    }
}

#[derive(Debug)]
struct Ring {
    data: Box<[u8]>,
    producer: u64,
    consumer: u64,
}

impl Ring {
    fn mask(&self) -> u64 {
        self.data.len() as u64 - 1
    }

    fn copy_in(&mut self, pos: u64, bytes: &[u8]) {
        let mask = self.mask();
        for (i, byte) in bytes.iter().enumerate() {
            if let Some(slot) = self.data.get_mut(((pos + i as u64) & mask) as usize) {
                *slot = *byte;
            }
        }
    }

    fn copy_out(&self, pos: u64, len: usize) -> Vec<u8> {
        let mask = self.mask();
        (0..len as u64)
            .map(|i| {
                self.data
                    .get(((pos + i) & mask) as usize)
                    .copied()
                    .unwrap_or(0)
            })
            .collect()
    }

    fn header(&self, pos: u64) -> u32 {
        let bytes = self.copy_out(pos, 4);
        u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }

    fn set_header(&mut self, pos: u64, word: u32) {
        self.copy_in(pos, &word.to_le_bytes());
    }
}

/// Record space: header plus data, padded to 8.
fn record_space(len: u64) -> u64 {
    (len + RINGBUF_HEADER).div_ceil(8) * 8
}

/// A ring buffer map's data area and positions.
#[derive(Debug)]
pub struct RingBuf {
    ring: Mutex<Ring>,
}

/// Where a reserved record starts (its header's position).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordPos(u64);

impl RingBuf {
    pub(crate) fn new(size: u32) -> RingBuf {
        RingBuf {
            ring: Mutex::new(Ring {
                data: vec![0; size as usize].into(),
                producer: 0,
                consumer: 0,
            }),
        }
    }

    /// Reserves a record of `len` bytes, marked busy; `None` when it does
    /// not fit in the space the consumer has freed.
    pub(crate) fn reserve(&self, len: u64) -> Option<RecordPos> {
        let mut ring = lock(&self.ring);
        let space = record_space(len);
        if len > MAX_RECORD || ring.producer + space - ring.consumer > ring.data.len() as u64 {
            return None;
        }
        let pos = ring.producer;
        ring.set_header(pos, len as u32 | BUSY);
        ring.set_header(pos + 4, 0);
        ring.producer += space;
        Some(RecordPos(pos))
    }

    /// Publishes a reserved record with `data` (its reserved length).
    pub(crate) fn submit(&self, pos: RecordPos, data: &[u8]) {
        let mut ring = lock(&self.ring);
        ring.copy_in(pos.0 + RINGBUF_HEADER, data);
        ring.set_header(pos.0, data.len() as u32);
    }

    /// Marks a reserved record discarded: the consumer skips it.
    pub(crate) fn discard(&self, pos: RecordPos) {
        let mut ring = lock(&self.ring);
        let len = ring.header(pos.0) & !(BUSY | DISCARD);
        ring.set_header(pos.0, len | DISCARD);
    }

    /// Reserves, fills and submits in one step (`bpf_ringbuf_output`);
    /// false when there is no room.
    pub(crate) fn output(&self, data: &[u8]) -> bool {
        match self.reserve(data.len() as u64) {
            Some(pos) => {
                self.submit(pos, data);
                true
            }
            None => false,
        }
    }

    /// The next published record, if the one at the consumer position is
    /// complete; discarded records are skipped.
    pub fn consume(&self) -> Option<Vec<u8>> {
        let mut ring = lock(&self.ring);
        while ring.consumer < ring.producer {
            let header = ring.header(ring.consumer);
            if header & BUSY != 0 {
                return None;
            }
            let len = header & !(BUSY | DISCARD);
            let pos = ring.consumer;
            ring.consumer += record_space(len.into());
            if header & DISCARD == 0 {
                return Some(ring.copy_out(pos + RINGBUF_HEADER, len as usize));
            }
        }
        None
    }

    /// Every record [`RingBuf::consume`] can take now.
    pub fn drain(&self) -> Vec<Vec<u8>> {
        core::iter::from_fn(|| self.consume()).collect()
    }

    /// What `bpf_ringbuf_query` reports.
    pub fn query(&self, query: RingQuery) -> u64 {
        let ring = lock(&self.ring);
        match query {
            RingQuery::AvailableData => ring.producer - ring.consumer,
            RingQuery::RingSize => ring.data.len() as u64,
            RingQuery::ConsumerPos => ring.consumer,
            RingQuery::ProducerPos => ring.producer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_out_in_reservation_order() {
        let ring = RingBuf::new(4096);
        let first = ring.reserve(3).unwrap();
        assert!(ring.output(b"second"));
        assert_eq!(ring.consume(), None, "the first record is still busy");
        ring.submit(first, b"one");
        assert_eq!(ring.drain(), [b"one".to_vec(), b"second".to_vec()]);
        let dropped = ring.reserve(10).unwrap();
        ring.discard(dropped);
        assert!(ring.output(b"x"));
        assert_eq!(ring.drain(), [b"x".to_vec()]);
        assert_eq!(ring.query(RingQuery::AvailableData), 0);
        assert_eq!(ring.query(RingQuery::ProducerPos), 16 + 16 + 24 + 16);
    }

    #[test]
    fn a_full_ring_refuses_and_wraps_once_consumed() {
        let ring = RingBuf::new(4096);
        assert!(ring.reserve(4096).is_none());
        assert!(ring.output(&[7; 4000]));
        assert!(!ring.output(&[8; 100]), "only 88 bytes left");
        assert_eq!(ring.consume().unwrap().len(), 4000);
        assert!(ring.output(&[9; 200]), "wraps around the end");
        assert_eq!(ring.consume(), Some(vec![9; 200]));
    }
}
