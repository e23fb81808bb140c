//! `visor trace TOOL`: BCC-style tools. Each tool is a small restricted-C
//! program in `crates/cli/bpf/` (built with `visor build`, the object
//! committed beside the source and embedded here, so building visor needs
//! no clang) and a front end in this folder that loads it, attaches it,
//! reads what it reports and prints.
//!
//! | tool | program | reads |
//! |---|---|---|
//! | `hello` | `hello.bpf.c`: `bpf_printk` on `syscalls:sys_enter_clone` | `TracePipe` |
//! | `count` | `count.bpf.c`: a hash map per pid or comm, on any tracepoint | the map, every interval |
//! | `hist` | `hist.bpf.c`: start times by thread or request, log2 slots | the `hist` array |
//! | `exec` | `exec.bpf.c`: `sched:sched_process_exec` records | a ring buffer |
//! | `connect` | `connect.bpf.c`: `sock:inet_sock_set_state` into SYN_SENT | a ring buffer |
//!
//! Offsets of tracepoint fields are never compiled in: the front ends
//! read them from the tracepoint's format file (`TracepointFormat`) and
//! hand them to the program through a `config` array map.
//!
//! Stopping: the main thread blocks Ctrl-C (SIGINT) and SIGTERM
//! (`visor_kernel::Interrupts`) before it starts the tool on a worker
//! thread, which writes to its own handle on standard output; it then
//! waits, a tick at a time, for a signal or for the tool to end by itself
//! (`--count`, `--duration`). On a signal the worker is told to stop,
//! prints its summary and returns; either way the programs are detached
//! when the tool's objects drop.

mod connect;
mod count;
mod exec;
mod hello;
mod hist;

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use visor_kernel::{LoadOptions, LoadedObject, LoadedProgram};

/// The tools' programs, built from `crates/cli/bpf/*.bpf.c`.
mod objects {
    pub const HELLO: &[u8] = include_bytes!("../../bpf/hello.bpf.o");
    pub const COUNT: &[u8] = include_bytes!("../../bpf/count.bpf.o");
    pub const HIST: &[u8] = include_bytes!("../../bpf/hist.bpf.o");
    pub const EXEC: &[u8] = include_bytes!("../../bpf/exec.bpf.o");
    pub const CONNECT: &[u8] = include_bytes!("../../bpf/connect.bpf.o");
}

#[derive(Args)]
pub struct TraceArgs {
    #[command(subcommand)]
    tool: Tool,
}

#[derive(Subcommand)]
enum Tool {
    /// "Hello, World!" on every clone(2), read back from trace_pipe.
    Hello(hello::HelloArgs),
    /// Events of a tracepoint counted per process or command, every interval.
    Count(count::CountArgs),
    /// Latency from one tracepoint to another as a log2 histogram (BCC layout).
    Hist(hist::HistArgs),
    /// New processes (execsnoop): sched:sched_process_exec.
    Exec(exec::ExecArgs),
    /// Outgoing TCP connections (tcpconnect): sock:inet_sock_set_state.
    Connect(connect::ConnectArgs),
}

pub fn run(args: &TraceArgs) -> anyhow::Result<ExitCode> {
    match &args.tool {
        Tool::Hello(a) => hello::run(a),
        Tool::Count(a) => count::run(a),
        Tool::Hist(a) => hist::run(a),
        Tool::Exec(a) => exec::run(a),
        Tool::Connect(a) => connect::run(a),
    }
}

/// When a tool stops by itself.
#[derive(Args, Clone, Copy, Debug)]
pub struct Limits {
    /// Stop after this many seconds.
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
}

impl Limits {
    fn deadline(&self) -> anyhow::Result<Option<Instant>> {
        self.duration
            .map(|s| {
                let d = Duration::try_from_secs_f64(s)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .with_context(|| format!("--duration {s}: expected a positive number"))?;
                Ok(Instant::now() + d)
            })
            .transpose()
    }
}

/// What a running tool sees: whether it was told to stop, and its time.
pub struct Session {
    stop: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

/// How long a tool waits for events before it looks at the clock and the
/// stop flag again.
pub const TICK: Duration = Duration::from_millis(100);

impl Session {
    /// Whether the tool should stop now: Ctrl-C, or past `--duration`.
    pub fn done(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// How long to wait for the next events: a tick, or less near the end.
    pub fn tick(&self) -> Duration {
        match self.deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(TICK),
            None => TICK,
        }
    }
}

/// Runs `tool` until it returns or Ctrl-C, as the module docs describe.
/// `tool` writes to its own handle on standard output.
pub fn run_tool<F>(limits: Limits, tool: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(&Session, &mut dyn Write) -> anyhow::Result<()> + Send + 'static,
{
    // Before the worker starts, so that it inherits the blocked signals.
    let interrupts = visor_kernel::Interrupts::block()?;
    let session = Session {
        stop: Arc::new(AtomicBool::new(false)),
        deadline: limits.deadline()?,
    };
    let stop = Arc::clone(&session.stop);
    // `main` holds the lock of its stdout handle: write through a
    // duplicate of the descriptor, line by line.
    let fd = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .context("cannot duplicate standard output")?;
    let mut out = io::LineWriter::new(std::fs::File::from(fd));
    let worker =
        std::thread::spawn(move || tool(&session, &mut out).and_then(|()| Ok(out.flush()?)));
    while !worker.is_finished() {
        if interrupts.wait(Some(TICK))?.is_some() {
            stop.store(true, Ordering::Relaxed);
            break;
        }
    }
    match worker.join() {
        Ok(result) => result.map(|()| ExitCode::SUCCESS),
        Err(_) => bail!("the tool's thread panicked"),
    }
}

/// Loads one of the embedded objects, with the verifier's log on failure.
fn load(elf: &[u8]) -> anyhow::Result<LoadedObject> {
    LoadedObject::load(elf, &LoadOptions::default()).map_err(|e| crate::load::explain(e, false))
}

/// The program `name` of a tool's object.
fn program<'o>(object: &'o LoadedObject, name: &str) -> anyhow::Result<&'o LoadedProgram> {
    object
        .program(name)
        .with_context(|| format!("the tool's object has no program {name}"))
}

/// A tracepoint named `CATEGORY:NAME` (or `CATEGORY/NAME`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracepointName {
    pub category: String,
    pub name: String,
}

impl std::str::FromStr for TracepointName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once([':', '/']) {
            Some((category, name)) if !category.is_empty() && !name.is_empty() => {
                Ok(TracepointName {
                    category: category.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(format!(
                "`{text}`: expected CATEGORY:NAME, e.g. syscalls:sys_enter_read"
            )),
        }
    }
}

impl std::fmt::Display for TracepointName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.category, self.name)
    }
}

/// A NUL-padded kernel string (`comm`, file names) as text.
fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// A little-endian u32 at `at` of a record the tool's program wrote.
fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracepoint_names_take_a_colon_or_a_slash() {
        let tp: TracepointName = "syscalls:sys_enter_read".parse().unwrap();
        assert_eq!(
            (tp.category.as_str(), tp.name.as_str()),
            ("syscalls", "sys_enter_read")
        );
        assert_eq!(
            "block/block_rq_issue"
                .parse::<TracepointName>()
                .unwrap()
                .to_string(),
            "block:block_rq_issue"
        );
        assert!("sys_enter_read".parse::<TracepointName>().is_err());
        assert!(":x".parse::<TracepointName>().is_err());
    }

    #[test]
    fn kernel_strings_end_at_the_nul() {
        assert_eq!(c_string(b"bash\0\0junk"), "bash");
        assert_eq!(c_string(b"full"), "full");
    }
}
