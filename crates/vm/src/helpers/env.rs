//! What the standard helpers see of the world outside the program: the
//! current task, the clocks, the random seed and where `bpf_trace_printk`
//! lines go.
//!
//! The kernel answers these from `current`, its clocks and the trace ring;
//! an embedder of the userspace engine chooses. [`HelperEnv::default`] is
//! deterministic (a task of zeros, clocks stopped at 0, seed 0, trace lines
//! dropped), for tests and reproducible runs; [`HelperEnv::host`] is the
//! visor process itself, the host's clock, a time-derived seed and trace
//! lines printed to stdout like `trace_pipe`.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

/// `TASK_COMM_LEN`: a task name is at most 15 bytes and a NUL.
pub const TASK_COMM_LEN: usize = 16;

/// The task a program runs "in" (the kernel's `current`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskInfo {
    /// The thread id (the kernel's `pid`).
    pub pid: u32,
    /// The process id (the kernel's `tgid`).
    pub tgid: u32,
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// The name; only its first 15 bytes are used, as in the kernel.
    pub comm: String,
}

impl TaskInfo {
    /// The calling thread of this process, as the kernel would see it:
    /// thread id, process id, real uid and gid and `comm` from `/proc`.
    /// Fields `/proc` does not give are 0 (the process id always comes
    /// from the standard library).
    pub fn current() -> TaskInfo {
        let tgid = std::process::id();
        // `/proc/thread-self` links to `<tgid>/task/<tid>`.
        let pid = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|link| link.file_name()?.to_str()?.parse().ok())
            .unwrap_or(tgid);
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let first_id = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default();
        TaskInfo {
            pid,
            tgid,
            uid: first_id("Uid:"),
            gid: first_id("Gid:"),
            comm: comm.trim_end_matches('\n').to_owned(),
        }
    }

    /// The name as the kernel stores it: at most 15 bytes.
    pub fn comm_bytes(&self) -> &[u8] {
        let bytes = self.comm.as_bytes();
        bytes.get(..TASK_COMM_LEN - 1).unwrap_or(bytes)
    }
}

/// The clocks of `bpf_ktime_get_ns` and `bpf_ktime_get_boot_ns`, and the
/// timestamps of trace lines.
pub trait Clock: Send + Sync {
    /// `CLOCK_MONOTONIC` in nanoseconds: time since boot, not counting
    /// suspend.
    fn monotonic_ns(&self) -> u64;
    /// `CLOCK_BOOTTIME` in nanoseconds: time since boot, counting suspend.
    fn boot_ns(&self) -> u64;
}

/// The host's time since boot: `/proc/uptime` read once (10 ms
/// resolution), advanced by [`Instant`] since.
///
/// The standard library gives no absolute `CLOCK_MONOTONIC` reading and
/// this crate has no `unsafe` to ask the kernel, so both clocks are
/// boot time: monotonic time differs from it only by the time the host
/// spent suspended. Without `/proc/uptime` the clocks start at 0.
#[derive(Debug)]
pub struct SystemClock {
    anchor: Instant,
    base_ns: u64,
}

impl SystemClock {
    /// Reads `/proc/uptime` and starts counting.
    pub fn new() -> SystemClock {
        let uptime = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
        let seconds: f64 = uptime
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0);
        SystemClock {
            anchor: Instant::now(),
            base_ns: (seconds * 1e9) as u64,
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn monotonic_ns(&self) -> u64 {
        let elapsed = u64::try_from(self.anchor.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.base_ns.saturating_add(elapsed)
    }

    fn boot_ns(&self) -> u64 {
        self.monotonic_ns()
    }
}

/// A clock for tests: starts at a given time and moves only by a fixed
/// step after each monotonic reading (0: stopped). Boot time is monotonic
/// time plus a fixed offset (time "spent suspended").
#[derive(Debug, Default)]
pub struct FakeClock {
    now_ns: AtomicU64,
    step_ns: u64,
    suspended_ns: u64,
}

impl FakeClock {
    /// A clock stopped at `now_ns`.
    pub fn new(now_ns: u64) -> FakeClock {
        FakeClock {
            now_ns: AtomicU64::new(now_ns),
            step_ns: 0,
            suspended_ns: 0,
        }
    }

    /// Advances by `step_ns` after every monotonic reading.
    pub fn with_step(self, step_ns: u64) -> FakeClock {
        FakeClock { step_ns, ..self }
    }

    /// Boot time runs `suspended_ns` ahead of monotonic time.
    pub fn with_suspended(self, suspended_ns: u64) -> FakeClock {
        FakeClock {
            suspended_ns,
            ..self
        }
    }
}

impl Clock for FakeClock {
    fn monotonic_ns(&self) -> u64 {
        self.now_ns.fetch_add(self.step_ns, Ordering::Relaxed)
    }

    fn boot_ns(&self) -> u64 {
        self.now_ns
            .load(Ordering::Relaxed)
            .wrapping_add(self.suspended_ns)
    }
}

/// One `bpf_trace_printk` line, with what `trace_pipe` shows beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// The formatted message: at most 1023 bytes (the kernel's buffer),
    /// exactly as formatted (a trailing newline included if the format
    /// had one). Bytes, since `%s` copies whatever the program pointed at.
    pub message: Vec<u8>,
    /// The current task's thread id.
    pub pid: u32,
    /// The current task's name.
    pub comm: String,
    /// The run's CPU.
    pub cpu: u32,
    /// Monotonic time of the call, in nanoseconds.
    pub timestamp_ns: u64,
}

impl TraceEvent {
    /// The message as text, invalid UTF-8 replaced.
    pub fn message_lossy(&self) -> String {
        String::from_utf8_lossy(&self.message).into_owned()
    }

    /// The line as `/sys/kernel/tracing/trace_pipe` shows it, without the
    /// final newline:
    /// `           <comm>-<pid>     [cpu] ..... <sec>.<usec>: bpf_trace_printk: <message>`.
    /// The flags column (irqs off, need-resched, context, preempt depth)
    /// describes kernel state the userspace engine does not have: dots. A
    /// newline that ends the message is dropped: the kernel's event output
    /// adds its own.
    pub fn trace_pipe_line(&self) -> String {
        let message = self.message_lossy();
        let message = message.strip_suffix('\n').unwrap_or(&message);
        let (seconds, micros) = (
            self.timestamp_ns / 1_000_000_000,
            self.timestamp_ns % 1_000_000_000 / 1_000,
        );
        format!(
            "{:>16}-{:<7} [{:03}] ..... {seconds:5}.{micros:06}: bpf_trace_printk: {message}",
            self.comm, self.pid, self.cpu
        )
    }
}

/// Where `bpf_trace_printk` lines go. Any `Fn(&TraceEvent) + Send + Sync`
/// closure is a sink.
pub trait TraceSink: Send + Sync {
    /// Takes one line.
    fn emit(&self, event: &TraceEvent);
}

impl<F: Fn(&TraceEvent) + Send + Sync> TraceSink for F {
    fn emit(&self, event: &TraceEvent) {
        self(event)
    }
}

/// Keeps every line, for tests and for tools that show them later. Clones
/// share the lines.
#[derive(Clone, Debug, Default)]
pub struct TraceBuffer {
    events: Arc<Mutex<Vec<TraceEvent>>>,
}

impl TraceBuffer {
    /// An empty buffer.
    pub fn new() -> TraceBuffer {
        TraceBuffer::default()
    }

    /// Removes and returns the lines kept so far.
    pub fn take(&self) -> Vec<TraceEvent> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Removes the lines kept so far and returns their messages as text.
    pub fn take_messages(&self) -> Vec<String> {
        self.take().iter().map(TraceEvent::message_lossy).collect()
    }
}

impl TraceSink for TraceBuffer {
    fn emit(&self, event: &TraceEvent) {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        events.push(event.clone());
    }
}

/// Writes each line as `trace_pipe` shows it ([`TraceEvent::trace_pipe_line`])
/// to a writer, stdout by default. Write errors are ignored: tracing must
/// not stop the program, and the kernel's ring drops lines too.
pub struct TracePipe<W> {
    out: Mutex<W>,
}

impl TracePipe<std::io::Stdout> {
    /// Lines to stdout.
    pub fn stdout() -> TracePipe<std::io::Stdout> {
        TracePipe::new(std::io::stdout())
    }
}

impl<W: Write + Send> TracePipe<W> {
    /// Lines to `out`.
    pub fn new(out: W) -> TracePipe<W> {
        TracePipe {
            out: Mutex::new(out),
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<W: Write + Send> TraceSink for TracePipe<W> {
    fn emit(&self, event: &TraceEvent) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = writeln!(out, "{}", event.trace_pipe_line());
    }
}

impl<W> fmt::Debug for TracePipe<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TracePipe")
    }
}

/// Everything the standard helpers ([`Helpers::standard`]) read from
/// outside the program.
///
/// [`Helpers::standard`]: crate::Helpers::standard
#[derive(Clone)]
pub struct HelperEnv {
    /// The current task; `None` is the kernel's "no task" case, where
    /// `get_current_pid_tgid`, `get_current_uid_gid` and
    /// `get_current_comm` return `-EINVAL`.
    pub task: Option<TaskInfo>,
    /// The clocks.
    pub clock: Arc<dyn Clock>,
    /// The seed of `bpf_get_prandom_u32`'s generator (SplitMix64): one
    /// seed, one sequence, shared by every run of the helpers.
    pub seed: u64,
    /// Where `bpf_trace_printk` lines go.
    pub trace: Arc<dyn TraceSink>,
}

impl Default for HelperEnv {
    /// Deterministic: task 0 with uid, gid 0 and an empty name, clocks
    /// stopped at 0, seed 0, trace lines dropped.
    fn default() -> Self {
        HelperEnv {
            task: Some(TaskInfo::default()),
            clock: Arc::new(FakeClock::new(0)),
            seed: 0,
            trace: Arc::new(|_: &TraceEvent| {}),
        }
    }
}

impl HelperEnv {
    /// The host: this thread as the task ([`TaskInfo::current`]), the
    /// [`SystemClock`], a seed from the time of day, trace lines printed to
    /// stdout as `trace_pipe` shows them.
    pub fn host() -> HelperEnv {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        HelperEnv {
            task: Some(TaskInfo::current()),
            clock: Arc::new(SystemClock::new()),
            seed,
            trace: Arc::new(TracePipe::stdout()),
        }
    }

    /// The same, with `task` as the current task.
    pub fn with_task(self, task: Option<TaskInfo>) -> HelperEnv {
        HelperEnv { task, ..self }
    }

    /// The same, with `clock`.
    pub fn with_clock(self, clock: impl Clock + 'static) -> HelperEnv {
        HelperEnv {
            clock: Arc::new(clock),
            ..self
        }
    }

    /// The same, with `seed`.
    pub fn with_seed(self, seed: u64) -> HelperEnv {
        HelperEnv { seed, ..self }
    }

    /// The same, with trace lines going to `sink`.
    pub fn with_trace(self, sink: impl TraceSink + 'static) -> HelperEnv {
        HelperEnv {
            trace: Arc::new(sink),
            ..self
        }
    }
}

impl fmt::Debug for HelperEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HelperEnv")
            .field("task", &self.task)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}
