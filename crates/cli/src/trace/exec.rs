//! `visor trace exec`: new processes, like BCC's execsnoop, from
//! `sched:sched_process_exec`. `exec.bpf.c` sends one record per exec
//! through a ring buffer: pid, thread id, command and the executed file
//! (the tracepoint's `__data_loc` `filename`, whose place in the record
//! this front end reads from the format file). The parent pid is not in
//! the tracepoint: it is read from `/proc/PID/stat` when the record
//! arrives, `?` when the process is already gone.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use visor_kernel::{RingBuffer, TracepointFormat, UpdateMode, attach_tracepoint};

use super::{Limits, c_string, load, objects, program, run_tool, u32_at};

#[derive(Args)]
pub struct ExecArgs {
    /// Stop after this many processes.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    #[command(flatten)]
    limits: Limits,
}

/// `struct event` of exec.bpf.c.
mod event {
    pub const PID: usize = 0;
    pub const COMM: std::ops::Range<usize> = 8..24;
    pub const FILENAME: std::ops::Range<usize> = 24..280;
}

pub fn run(args: &ExecArgs) -> anyhow::Result<ExitCode> {
    let format = TracepointFormat::read("sched", "sched_process_exec")?;
    let filename = format
        .field("filename")
        .filter(|f| f.is_data_loc())
        .context("sched:sched_process_exec has no __data_loc filename field")?;
    let object = load(objects::EXEC)?;
    let config = object.map("config").context("no config map")?.fd();
    config.update(
        &0u32.to_ne_bytes(),
        &(filename.offset as u32).to_ne_bytes(),
        UpdateMode::Any,
    )?;
    let mut ring = RingBuffer::new(object.map("events").context("no events map")?.fd())?;
    let link = attach_tracepoint(
        program(&object, "exec")?.fd(),
        "sched",
        "sched_process_exec",
    )?;
    eprintln!("Tracing exec(2). Ctrl-C to end.");
    let count = args.count;
    run_tool(args.limits, move |session, out| {
        let _keep = (link, object);
        writeln!(out, "{:<16} {:<7} {:<7} FILENAME", "PCOMM", "PID", "PPID")?;
        let mut printed = 0;
        while !session.done() && count.is_none_or(|n| printed < n) {
            for record in ring.poll(session.tick())? {
                let (Some(pid), Some(comm), Some(file)) = (
                    u32_at(&record, event::PID),
                    record.get(event::COMM),
                    record.get(event::FILENAME),
                ) else {
                    continue;
                };
                let ppid = parent(pid).map_or_else(|| "?".to_owned(), |p| p.to_string());
                writeln!(
                    out,
                    "{:<16} {pid:<7} {ppid:<7} {}",
                    c_string(comm),
                    c_string(file)
                )?;
                printed += 1;
                if count.is_some_and(|n| printed >= n) {
                    break;
                }
            }
        }
        Ok(())
    })
}

/// The parent of `pid`: the fourth field of `/proc/PID/stat`, read after
/// the command name, which may itself hold spaces and parentheses.
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_ascii_whitespace().nth(1)?.parse().ok()
}
