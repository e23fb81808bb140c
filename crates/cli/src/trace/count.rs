//! `visor trace count TRACEPOINT`: how often a tracepoint fires, per
//! process or per command name. `count.bpf.c` has one program per key
//! kind, each adding to its hash map; this attaches the one asked for
//! and prints (then clears) the map every interval, largest counts first.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use visor_kernel::{MapFd, attach_tracepoint};

use super::{Limits, TracepointName, c_string, load, objects, program, run_tool};

#[derive(Args)]
pub struct CountArgs {
    /// The tracepoint, CATEGORY:NAME (e.g. syscalls:sys_enter_openat).
    tracepoint: TracepointName,
    /// What to count by.
    #[arg(long, value_enum, default_value_t = By::Pid)]
    by: By,
    /// Seconds between reports.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    interval: f64,
    /// Rows per report.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    #[command(flatten)]
    limits: Limits,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum By {
    /// The process (tgid).
    Pid,
    /// The task's command name.
    Comm,
}

pub fn run(args: &CountArgs) -> anyhow::Result<ExitCode> {
    let interval = Duration::try_from_secs_f64(args.interval)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("--interval {}: expected a positive number", args.interval))?;
    let object = load(objects::COUNT)?;
    let (name, map) = match args.by {
        By::Pid => ("count_by_pid", "by_pid"),
        By::Comm => ("count_by_comm", "by_comm"),
    };
    let tp = &args.tracepoint;
    let attached = attach_tracepoint(program(&object, name)?.fd(), &tp.category, &tp.name)?;
    eprintln!(
        "Counting {tp} by {:?} every {:?}. Ctrl-C to end.",
        args.by, interval
    );
    let (by, top) = (args.by, args.top);
    run_tool(args.limits, move |session, out| {
        let _attached = attached;
        let map = object
            .map(map)
            .context("the tool's object has no count map")?
            .fd();
        let start = Instant::now();
        let mut next = start + interval;
        loop {
            std::thread::sleep(session.tick());
            let done = session.done();
            if done || Instant::now() >= next {
                report(out, map, by, top, start.elapsed())?;
                next += interval;
            }
            if done {
                return Ok(());
            }
        }
    })
}

/// One report: the interval's counts, largest first, then cleared.
fn report(
    out: &mut dyn Write,
    map: &MapFd,
    by: By,
    top: usize,
    elapsed: Duration,
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let keys: Vec<Vec<u8>> = map.keys().collect::<Result<_, _>>()?;
    for key in keys {
        // Taken and removed in one step: an event between a read and a
        // delete would be lost.
        if let Some(value) = map.lookup_and_delete(&key)? {
            let count = u64::from_ne_bytes(value.as_slice().try_into().context("count size")?);
            rows.push((count, key));
        }
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    writeln!(out, "[{:.1}s] {} keys", elapsed.as_secs_f64(), rows.len())?;
    match by {
        By::Pid => writeln!(out, "{:<8} {:<16} {:>10}", "PID", "COMM", "COUNT")?,
        By::Comm => writeln!(out, "{:<16} {:>10}", "COMM", "COUNT")?,
    }
    for (count, key) in rows.iter().take(top) {
        match by {
            By::Pid => {
                let pid = super::u32_at(key, 0).context("pid key size")?;
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .map_or_else(|_| "?".to_owned(), |c| c.trim_end().to_owned());
                writeln!(out, "{pid:<8} {comm:<16} {count:>10}")?;
            }
            By::Comm => writeln!(out, "{:<16} {count:>10}", c_string(key))?,
        }
    }
    writeln!(out)?;
    Ok(())
}
