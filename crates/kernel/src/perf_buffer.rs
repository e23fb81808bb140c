//! Reading what programs send with `bpf_perf_event_output` (helper 25)
//! through a `BPF_MAP_TYPE_PERF_EVENT_ARRAY` map.
//!
//! [`PerfBuffer::open`] makes, for each CPU, a `PERF_COUNT_SW_BPF_OUTPUT`
//! software event with a ring of `1 + 2^n` pages mapped (a control page,
//! then the data), and stores the event's descriptor in the map at the
//! CPU's index, where the helper finds it (`BPF_F_CURRENT_CPU`). Each ring
//! is read from `data_tail` up to `data_head`: the head is loaded with
//! acquire ordering (the kernel stores it after writing the records), the
//! tail stored with release (after we have copied them out), so the kernel
//! never overwrites a record we are reading.
//!
//! Samples arrive padded: the kernel rounds a raw sample up so that its
//! record stays 8-byte aligned, so a sample of `n` bytes reads back as
//! `(n + 4).next_multiple_of(8) - 4` bytes, the extra ones zero. Programs
//! that want exact lengths send a length, or sizes of the form `8k + 4`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use crate::cpus::possible_cpus;
use crate::error::{KernelError, OsCall};
use crate::map::{MapFd, UpdateMode};
use crate::perf_event;
use crate::sys::perf::{
    COUNT_SW_BPF_OUTPUT, PerfEventAttr, RECORD_LOST, RECORD_SAMPLE, SAMPLE_RAW, TYPE_SOFTWARE, page,
};
use crate::sys::{self, Access, Mmap};
use crate::types::MapType;

/// One thing a CPU's ring said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PerfEvent {
    /// A `bpf_perf_event_output` sample (padded, see the module doc).
    Sample { cpu: u32, data: Vec<u8> },
    /// The ring was full: this many samples were dropped.
    Lost { cpu: u32, count: u64 },
}

/// One CPU's event and ring.
#[derive(Debug)]
struct CpuRing {
    cpu: u32,
    ring: Mmap,
    data_offset: usize,
    data_size: u64,
    // After `ring`: unmap before the event closes.
    event: OwnedFd,
}

/// The readers of every CPU's ring of a perf event array.
#[derive(Debug)]
pub struct PerfBuffer {
    rings: Vec<CpuRing>,
}

impl PerfBuffer {
    /// Opens a ring of `1 + pages` pages (`pages` a power of two) for each
    /// online CPU and stores the events in `map`, a perf event array.
    /// CPUs past the map's size or offline are left out.
    #[doc(alias = "BPF_MAP_TYPE_PERF_EVENT_ARRAY")]
    pub fn open(map: &MapFd, pages: usize) -> Result<PerfBuffer, KernelError> {
        if map.map_type() != MapType::PerfEventArray {
            return Err(KernelError::MapType {
                map: map.name().to_owned(),
                found: map.map_type(),
                expected: "a perf_event_array map",
            });
        }
        if !pages.is_power_of_two() {
            return Err(KernelError::RingPages { pages });
        }
        let page_size = sys::page_size();
        let len = page_size.saturating_mul(pages + 1);
        let cpus = possible_cpus()?.min(map.def().max_entries as usize);
        let attr = PerfEventAttr {
            event_type: TYPE_SOFTWARE,
            config: COUNT_SW_BPF_OUTPUT,
            sample_type: SAMPLE_RAW,
            sample_period: 1,
            wakeup_events: 1,
            ..PerfEventAttr::default()
        };
        let mut rings = Vec::new();
        for cpu in 0..cpus {
            let cpu = cpu as u32;
            let what = format!("BPF output event of CPU {cpu}");
            let event = match perf_event::open(&attr, None, -1, cpu as i32, &what) {
                Ok(event) => event,
                // An offline CPU.
                Err(e) if e.errno() == Some(libc::ENODEV) => continue,
                Err(e) => return Err(e),
            };
            let ring = Mmap::map(event.as_fd(), 0, len, Access::ReadWrite).map_err(
                KernelError::os(OsCall::Mmap, format!("map the perf ring of CPU {cpu}")),
            )?;
            // Kernels before 4.1 leave these zero: data follows the page.
            let data_offset = match ring.load_u64(page::DATA_OFFSET) {
                Some(0) | None => page_size,
                Some(offset) => usize::try_from(offset).unwrap_or(page_size),
            };
            let data_size = match ring.load_u64(page::DATA_SIZE) {
                Some(0) | None => (len - page_size) as u64,
                Some(size) => size,
            };
            let fd = u32::try_from(event.as_raw_fd()).unwrap_or(u32::MAX);
            map.update(&cpu.to_ne_bytes(), &fd.to_ne_bytes(), UpdateMode::Any)?;
            rings.push(CpuRing {
                cpu,
                ring,
                data_offset,
                data_size,
                event,
            });
        }
        Ok(PerfBuffer { rings })
    }

    /// The CPUs with a ring.
    pub fn cpus(&self) -> Vec<u32> {
        self.rings.iter().map(|r| r.cpu).collect()
    }

    /// Everything the rings hold now, without waiting.
    pub fn read(&mut self) -> Result<Vec<PerfEvent>, KernelError> {
        let mut events = Vec::new();
        for ring in &self.rings {
            ring.drain(&mut events)?;
        }
        Ok(events)
    }

    /// Waits up to `timeout` for a ring to have data (unless one already
    /// has), then reads every ring.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<PerfEvent>, KernelError> {
        let events = self.read()?;
        if !events.is_empty() {
            return Ok(events);
        }
        let fds: Vec<BorrowedFd<'_>> = self.rings.iter().map(|r| r.event.as_fd()).collect();
        sys::poll_readable(&fds, Some(timeout))
            .map_err(KernelError::os(OsCall::Poll, "wait for perf rings"))?;
        self.read()
    }
}

impl CpuRing {
    fn corrupt(position: u64, reason: &'static str) -> KernelError {
        KernelError::CorruptRing {
            ring: "perf ring",
            position,
            reason,
        }
    }

    /// Copies `out.len()` bytes from ring position `pos`, wrapping.
    fn copy(&self, pos: u64, out: &mut [u8]) -> Result<(), KernelError> {
        let start = (pos % self.data_size) as usize;
        let first = out.len().min(self.data_size as usize - start);
        let (a, b) = out.split_at_mut(first);
        if self.ring.copy_out(self.data_offset + start, a)
            && self.ring.copy_out(self.data_offset, b)
        {
            Ok(())
        } else {
            Err(CpuRing::corrupt(pos, "record outside the ring"))
        }
    }

    fn drain(&self, events: &mut Vec<PerfEvent>) -> Result<(), KernelError> {
        let head = self
            .ring
            .load_u64(page::DATA_HEAD)
            .ok_or(CpuRing::corrupt(0, "no control page"))?;
        let mut tail = self
            .ring
            .load_u64(page::DATA_TAIL)
            .ok_or(CpuRing::corrupt(0, "no control page"))?;
        if head.wrapping_sub(tail) > self.data_size {
            return Err(CpuRing::corrupt(
                tail,
                "head more than a ring ahead of tail",
            ));
        }
        while tail < head {
            let mut header = [0u8; 8];
            self.copy(tail, &mut header)?;
            let kind = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
            let size = u16::from_ne_bytes([header[6], header[7]]) as u64;
            if size < 8 || size > head - tail {
                return Err(CpuRing::corrupt(tail, "record size out of range"));
            }
            let mut record = vec![0u8; size as usize];
            self.copy(tail, &mut record)?;
            match kind {
                RECORD_SAMPLE => {
                    let raw = record
                        .get(8..12)
                        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
                        .ok_or(CpuRing::corrupt(tail, "sample without a size"))?;
                    let data = record
                        .get(12..12 + raw)
                        .ok_or(CpuRing::corrupt(tail, "sample larger than its record"))?;
                    events.push(PerfEvent::Sample {
                        cpu: self.cpu,
                        data: data.to_vec(),
                    });
                }
                RECORD_LOST => {
                    let count = record
                        .get(16..24)
                        .and_then(|b| b.try_into().ok())
                        .map(u64::from_ne_bytes)
                        .ok_or(CpuRing::corrupt(tail, "short lost record"))?;
                    events.push(PerfEvent::Lost {
                        cpu: self.cpu,
                        count,
                    });
                }
                _ => {}
            }
            tail += size;
        }
        // Release: our copies happen before the kernel may reuse the space.
        if !self.ring.store_u64(page::DATA_TAIL, tail) {
            return Err(CpuRing::corrupt(tail, "no control page"));
        }
        Ok(())
    }
}
