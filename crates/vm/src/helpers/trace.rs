//! `bpf_trace_printk` (6): a message formatted as the kernel formats it
//! (see `format`), handed to the environment's [`TraceSink`] with the
//! task, CPU and time that `trace_pipe` shows beside it.
//!
//! As in the kernel: the format is `fmt_size` bytes of guest memory and
//! must hold a NUL (else `-EINVAL`); at most three arguments; the message
//! is cut to 1023 bytes; r0 is the length of the whole formatted message.
//!
//! [`TraceSink`]: super::TraceSink

use std::sync::Arc;

use super::env::{Clock, TraceEvent, TraceSink};
use super::format::format;
use super::{HelperEnv, Helpers, Outcome, TaskInfo, failed, ids, returned, size_arg};
use crate::maps::Errno;
use crate::memory::Memory;

/// `MAX_BPRINTF_BUF`: the kernel formats into 1024 bytes, NUL included.
const MESSAGE_BUFFER: usize = 1024;

/// What one registered `trace_printk` reports with each line.
struct Tracer {
    task: Option<TaskInfo>,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn TraceSink>,
}

pub(super) fn register(helpers: &mut Helpers, env: &HelperEnv) {
    let tracer = Tracer {
        task: env.task.clone(),
        clock: env.clock.clone(),
        sink: env.trace.clone(),
    };
    helpers.register(ids::TRACE_PRINTK, "trace_printk", move |args, memory| {
        tracer.printk(args, memory)
    });
}

impl Tracer {
    fn printk(&self, args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
        let [fmt, fmt_size, a1, a2, a3] = args;
        let raw = memory.bytes(fmt, size_arg(fmt_size, 2)?)?;
        let Some(end) = raw.iter().position(|&b| b == 0) else {
            return failed(Errno::EINVAL);
        };
        let formatted = match format(&raw[..end], &[a1, a2, a3], memory, MESSAGE_BUFFER) {
            Ok(formatted) => formatted,
            Err(errno) => return failed(errno),
        };
        // The kernel shows pid 0 as `<idle>`.
        let (pid, comm) = match &self.task {
            Some(task) => (
                task.pid,
                String::from_utf8_lossy(task.comm_bytes()).into_owned(),
            ),
            None => (0, "<idle>".to_owned()),
        };
        self.sink.emit(&TraceEvent {
            message: formatted.bytes,
            pid,
            comm,
            cpu: memory.cpu(),
            timestamp_ns: self.clock.monotonic_ns(),
        });
        returned(formatted.len as u64)
    }
}
