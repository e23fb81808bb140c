//! What programs report: trace_pipe lines, perf event array samples and
//! ring buffer records, from the kernel or from the userspace engine's
//! maps, behind one interface each.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use visor_vm::Map;

use crate::object::Object;
use crate::{VisorError, chain};

fn visor_error(error: &dyn std::error::Error) -> PyErr {
    VisorError::new_err(chain(error))
}

/// How long one wait lasts at most before Python gets to run its signal
/// handlers: Ctrl-C then ends a `trace_print()` or a poll without delay.
const SLICE: Duration = Duration::from_millis(100);

/// Waits up to `timeout` (`None`: without limit) for `attempt` to find
/// something, in slices of at most [`SLICE`] with the GIL released,
/// raising `KeyboardInterrupt` (or whatever a signal handler raises)
/// between them.
fn wait_for<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    mut attempt: impl FnMut(Duration) -> PyResult<Option<T>> + Send,
) -> PyResult<Option<T>> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        let slice = left.map_or(SLICE, |left| left.min(SLICE));
        if let Some(found) = py.detach(|| attempt(slice))? {
            return Ok(Some(found));
        }
        py.check_signals()?;
        if left.is_some_and(|left| left <= slice) {
            return Ok(None);
        }
    }
}

/// Seconds from Python (`None`: no limit).
fn seconds(timeout: Option<f64>) -> Option<Duration> {
    timeout.map(|t| Duration::from_secs_f64(t.max(0.0)))
}

/// Milliseconds from Python, BCC's way (negative: no limit).
fn millis(timeout_ms: i64) -> Option<Duration> {
    u64::try_from(timeout_ms).ok().map(Duration::from_millis)
}

/// Something to hand back, or `None` to wait on.
fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// A trace event's fields as BCC's `trace_fields` gives them.
type TraceFields = (String, u32, u32, String, f64, String);

fn fields(line: visor_kernel::TraceLine) -> TraceFields {
    (
        line.task,
        line.pid,
        line.cpu,
        line.flags,
        line.timestamp.as_secs_f64(),
        line.message,
    )
}

/// `(task, pid, cpu, flags, timestamp, message)` of a line in
/// trace_pipe's format (the userspace engine's lines have it too); `None`
/// for a line that is not an event.
#[pyfunction]
pub fn parse_trace_line(line: &str) -> Option<TraceFields> {
    visor_kernel::TraceLine::parse(line).map(fields)
}

/// The kernel's `trace_pipe`, where `bpf_trace_printk` writes.
#[pyclass(module = "visor._visor")]
pub struct TracePipe {
    pipe: visor_kernel::TracePipe,
}

#[pymethods]
impl TracePipe {
    #[new]
    fn new() -> PyResult<TracePipe> {
        visor_kernel::TracePipe::open(Duration::from_secs(1))
            .map(|pipe| TracePipe { pipe })
            .map_err(|e| visor_error(&e))
    }

    /// The next line, waiting up to `timeout` seconds (`None`: no limit);
    /// `None` when none came.
    #[pyo3(signature = (timeout=None))]
    fn read_line(&mut self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<String>> {
        let pipe = &mut self.pipe;
        wait_for(py, seconds(timeout), |slice| {
            pipe.read_line(slice).map_err(|e| visor_error(&e))
        })
    }

    /// The next event as `(task, pid, cpu, flags, timestamp, message)`,
    /// BCC's `trace_fields`; `None` when none came within `timeout`.
    #[pyo3(signature = (timeout=None))]
    fn read_fields(
        &mut self,
        py: Python<'_>,
        timeout: Option<f64>,
    ) -> PyResult<Option<TraceFields>> {
        let pipe = &mut self.pipe;
        let event = wait_for(py, seconds(timeout), |slice| {
            pipe.read_event(slice).map_err(|e| visor_error(&e))
        })?;
        Ok(event.map(fields))
    }
}

/// One sample or a loss count, as `poll` returns them.
type PerfItem = (u32, Option<Vec<u8>>, u64);

enum PerfSource {
    Kernel(visor_kernel::PerfBuffer),
    /// The engine's perf event array and the CPUs whose rings are open.
    Userspace(Arc<Map>, Vec<u32>),
}

/// The reader of a perf event array map. The kernel's rings are mappings
/// that belong to the thread that opened them.
#[pyclass(module = "visor._visor", unsendable)]
pub struct PerfReader {
    source: PerfSource,
}

#[pymethods]
impl PerfReader {
    /// Opens a ring of `pages` pages per CPU on `map` of `object`.
    #[new]
    fn new(object: PyRef<'_, Object>, map: &str, pages: usize) -> PyResult<PerfReader> {
        if let Some(fd) = object.kernel_map(map)? {
            let buffer = visor_kernel::PerfBuffer::open(fd, pages).map_err(|e| visor_error(&e))?;
            return Ok(PerfReader {
                source: PerfSource::Kernel(buffer),
            });
        }
        let engine_map = object
            .user_map(map)?
            .ok_or_else(|| VisorError::new_err(format!("no map named {map}")))?;
        let array = engine_map
            .as_perf_event_array()
            .ok_or_else(|| VisorError::new_err(format!("{map} is not a perf event array")))?;
        let page = 4096;
        let cpus: Vec<u32> = (0..engine_map.ncpus()).collect();
        for &cpu in &cpus {
            array.open(cpu, pages * page).map_err(|e| visor_error(&e))?;
        }
        Ok(PerfReader {
            source: PerfSource::Userspace(engine_map, cpus),
        })
    }

    /// Waits up to `timeout_ms` (negative: no limit) for samples; returns
    /// `(cpu, data, 0)` per sample and `(cpu, None, count)` per loss.
    fn poll(&mut self, py: Python<'_>, timeout_ms: i64) -> PyResult<Vec<PerfItem>> {
        match &mut self.source {
            PerfSource::Kernel(buffer) => {
                let events = wait_for(py, millis(timeout_ms), |slice| {
                    buffer
                        .poll(slice)
                        .map(non_empty)
                        .map_err(|e| visor_error(&e))
                })?;
                Ok(events
                    .unwrap_or_default()
                    .into_iter()
                    .map(|event| match event {
                        visor_kernel::PerfEvent::Sample { cpu, data } => (cpu, Some(data), 0),
                        visor_kernel::PerfEvent::Lost { cpu, count } => (cpu, None, count),
                    })
                    .collect())
            }
            PerfSource::Userspace(map, cpus) => {
                let array = map
                    .as_perf_event_array()
                    .expect("checked when the reader was made");
                let mut items = Vec::new();
                for &cpu in cpus.iter() {
                    let taken = array.read(cpu).map_err(|e| visor_error(&e))?;
                    items.extend(taken.samples.into_iter().map(|data| (cpu, Some(data), 0)));
                    if taken.lost > 0 {
                        items.push((cpu, None, taken.lost));
                    }
                }
                Ok(items)
            }
        }
    }
}

enum RingSource {
    Kernel(visor_kernel::RingBuffer),
    Userspace(Arc<Map>),
}

/// The reader of a ring buffer map (thread-bound, as [`PerfReader`]).
#[pyclass(module = "visor._visor", unsendable)]
pub struct RingReader {
    source: RingSource,
}

#[pymethods]
impl RingReader {
    #[new]
    fn new(object: PyRef<'_, Object>, map: &str) -> PyResult<RingReader> {
        if let Some(fd) = object.kernel_map(map)? {
            let ring = visor_kernel::RingBuffer::new(fd).map_err(|e| visor_error(&e))?;
            return Ok(RingReader {
                source: RingSource::Kernel(ring),
            });
        }
        let engine_map = object
            .user_map(map)?
            .ok_or_else(|| VisorError::new_err(format!("no map named {map}")))?;
        if engine_map.as_ringbuf().is_none() {
            return Err(VisorError::new_err(format!("{map} is not a ring buffer")));
        }
        Ok(RingReader {
            source: RingSource::Userspace(engine_map),
        })
    }

    /// Waits up to `timeout_ms` (negative: no limit) for records; returns
    /// every record available.
    fn poll(&mut self, py: Python<'_>, timeout_ms: i64) -> PyResult<Vec<Vec<u8>>> {
        match &mut self.source {
            RingSource::Kernel(ring) => Ok(wait_for(py, millis(timeout_ms), |slice| {
                ring.poll(slice).map(non_empty).map_err(|e| visor_error(&e))
            })?
            .unwrap_or_default()),
            RingSource::Userspace(map) => Ok(map
                .as_ringbuf()
                .expect("checked when the reader was made")
                .drain()),
        }
    }
}
