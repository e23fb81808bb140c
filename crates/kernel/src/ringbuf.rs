//! Reading a `BPF_MAP_TYPE_RINGBUF` map (Linux 5.8), where programs write
//! with `bpf_ringbuf_output` (helper 130) or reserve and submit.
//!
//! The map is mapped in two parts: the consumer page, which we write (our
//! position), and the producer page followed by the data, read-only, the
//! data mapped twice in a row so that a record that wraps around the end
//! is still contiguous. Each record has an 8-byte header: a `u32` length
//! whose top bits say "busy" (reserved, not yet submitted) and "discard",
//! then the page offset the kernel uses. We read up to the producer
//! position (acquire), stop at a busy record, skip discarded ones, and
//! publish our new position (release) once a record is copied out.
//!
//! The wait is poll(2) on the map's descriptor, which the kernel wakes
//! when records are submitted (epoll would do the same for one ring; one
//! descriptor needs no epoll set).

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use crate::error::{KernelError, OsCall};
use crate::map::MapFd;
use crate::sys::{self, Access, Mmap};
use crate::types::MapType;

const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
const HEADER: u64 = 8;

/// A reader of one ring buffer map.
#[derive(Debug)]
#[doc(alias = "BPF_MAP_TYPE_RINGBUF")]
pub struct RingBuffer {
    consumer: Mmap,
    producer: Mmap,
    mask: u64,
    page: usize,
    // A descriptor of the map of our own, to poll.
    fd: OwnedFd,
}

impl RingBuffer {
    /// Maps the ring of `map`, a ring buffer map.
    pub fn new(map: &MapFd) -> Result<RingBuffer, KernelError> {
        if map.map_type() != MapType::Ringbuf {
            return Err(KernelError::MapType {
                map: map.name().to_owned(),
                found: map.map_type(),
                expected: "a ringbuf map",
            });
        }
        let what = format!("map the ring buffer `{}`", map.name());
        let fd = map
            .as_fd()
            .try_clone_to_owned()
            .map_err(KernelError::os(OsCall::Mmap, what.clone()))?;
        let page = sys::page_size();
        let size = map.def().max_entries as usize;
        if !size.is_power_of_two() {
            return Err(RingBuffer::corrupt(0, "size is not a power of two"));
        }
        let consumer = Mmap::map(fd.as_fd(), 0, page, Access::ReadWrite)
            .map_err(KernelError::os(OsCall::Mmap, what.clone()))?;
        let producer = Mmap::map(
            fd.as_fd(),
            page,
            page.saturating_add(size.saturating_mul(2)),
            Access::ReadOnly,
        )
        .map_err(KernelError::os(OsCall::Mmap, what))?;
        Ok(RingBuffer {
            consumer,
            producer,
            mask: (size - 1) as u64,
            page,
            fd,
        })
    }

    fn corrupt(position: u64, reason: &'static str) -> KernelError {
        KernelError::CorruptRing {
            ring: "ring buffer",
            position,
            reason,
        }
    }

    /// The next submitted record, without waiting; `None` when there is
    /// none yet (or the next one is still being written).
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>, KernelError> {
        let mut consumer = self
            .consumer
            .load_u64(0)
            .ok_or(RingBuffer::corrupt(0, "no consumer page"))?;
        loop {
            let producer = self
                .producer
                .load_u64(0)
                .ok_or(RingBuffer::corrupt(0, "no producer page"))?;
            if consumer >= producer {
                return Ok(None);
            }
            let at = self.page + (consumer & self.mask) as usize;
            let word = self
                .producer
                .load_u32(at)
                .ok_or(RingBuffer::corrupt(consumer, "header outside the ring"))?;
            if word & BUSY != 0 {
                return Ok(None);
            }
            let len = u64::from(word & !(BUSY | DISCARD));
            let total = (len + HEADER).next_multiple_of(8);
            if total > self.mask + 1 {
                return Err(RingBuffer::corrupt(consumer, "record larger than the ring"));
            }
            let record = if word & DISCARD == 0 {
                let mut data = vec![0u8; len as usize];
                if !self.producer.copy_out(at + HEADER as usize, &mut data) {
                    return Err(RingBuffer::corrupt(consumer, "record outside the ring"));
                }
                Some(data)
            } else {
                None
            };
            consumer += total;
            if !self.consumer.store_u64(0, consumer) {
                return Err(RingBuffer::corrupt(consumer, "no consumer page"));
            }
            if record.is_some() {
                return Ok(record);
            }
        }
    }

    /// Every record available now, without waiting.
    pub fn read(&mut self) -> Result<Vec<Vec<u8>>, KernelError> {
        let mut records = Vec::new();
        while let Some(record) = self.next_record()? {
            records.push(record);
        }
        Ok(records)
    }

    /// Waits up to `timeout` for records (unless some are there), then
    /// reads all that are.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<Vec<u8>>, KernelError> {
        let records = self.read()?;
        if !records.is_empty() {
            return Ok(records);
        }
        sys::poll_readable(&[self.fd.as_fd()], Some(timeout))
            .map_err(KernelError::os(OsCall::Poll, "wait for a ring buffer"))?;
        self.read()
    }
}
