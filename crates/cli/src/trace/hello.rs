//! `visor trace hello`: the classic first BPF program. `hello.bpf.c`
//! prints "Hello, World!" with `bpf_printk` on every clone(2); this reads
//! the lines back from trace_pipe and prints the task, pid and CPU the
//! kernel recorded with each.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use visor_kernel::{TracePipe, attach_tracepoint};

use super::{Limits, TICK, load, objects, program, run_tool};

#[derive(Args)]
pub struct HelloArgs {
    /// Stop after this many lines.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    #[command(flatten)]
    limits: Limits,
}

/// What the program prints; other programs' lines in trace_pipe are not ours.
const GREETING: &str = "Hello, World!";

pub fn run(args: &HelloArgs) -> anyhow::Result<ExitCode> {
    let object = load(objects::HELLO)?;
    let mut pipe = TracePipe::open(TICK)?;
    // Lines left in the buffer by earlier runs are not this run's.
    while pipe.read_line(Duration::ZERO)?.is_some() {}
    let attached = attach_tracepoint(
        program(&object, "hello")?.fd(),
        "syscalls",
        "sys_enter_clone",
    )?;
    eprintln!("Tracing clone(2): one line per call. Ctrl-C to end.");
    let count = args.count;
    run_tool(args.limits, move |session, out| {
        let _attached = (attached, object);
        let mut printed = 0;
        while !session.done() && count.is_none_or(|n| printed < n) {
            let Some(line) = pipe.read_event(session.tick())? else {
                continue;
            };
            if line.event != "bpf_trace_printk" || line.message.trim_end() != GREETING {
                continue;
            }
            writeln!(
                out,
                "{}-{}  [{:03}]  {}",
                line.task, line.pid, line.cpu, GREETING
            )?;
            printed += 1;
        }
        Ok(())
    })
}
