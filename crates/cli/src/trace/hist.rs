//! `visor trace hist`: latency from one tracepoint to a later one, as a
//! log2 histogram of microseconds in BCC's layout. `hist.bpf.c` records
//! a start time per key at the first tracepoint and adds the elapsed time
//! to a slot at the second.
//!
//! The key is the thread, unless both tracepoints' records carry `dev`
//! and `sector` (block I/O: `block:block_rq_issue` and
//! `block:block_rq_complete`, where completion runs in another context);
//! then it is the request. `syscall NAME` is shorthand for
//! `syscalls:sys_enter_NAME syscalls:sys_exit_NAME`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use visor_kernel::{TracepointFormat, UpdateMode, attach_tracepoint};

use super::{Limits, TracepointName, load, objects, program, run_tool};

#[derive(Args)]
pub struct HistArgs {
    /// `START END` tracepoints (CATEGORY:NAME each), or `syscall NAME`.
    #[arg(num_args = 2, value_names = ["START|syscall", "END|NAME"], required = true)]
    pair: Vec<String>,
    #[command(flatten)]
    limits: Limits,
}

/// Slots in the program's `hist` array.
const SLOTS: u32 = 64;

/// The two tracepoints of `pair`.
fn tracepoints(pair: &[String]) -> anyhow::Result<(TracepointName, TracepointName)> {
    let [first, second] = pair else {
        bail!("expected two arguments: START END, or syscall NAME");
    };
    if first == "syscall" {
        let tp = |side: &str| TracepointName {
            category: "syscalls".into(),
            name: format!("sys_{side}_{second}"),
        };
        return Ok((tp("enter"), tp("exit")));
    }
    let parse = |text: &str| text.parse::<TracepointName>().map_err(anyhow::Error::msg);
    Ok((parse(first)?, parse(second)?))
}

/// The `config` entry of one side: `by_request`, `dev_offset`,
/// `sector_offset` as `struct pairing` lays them out.
fn pairing(format: &TracepointFormat, by_request: bool) -> Vec<u8> {
    let offset = |name: &str| format.field(name).map_or(0, |f| f.offset as u32);
    let words = [u32::from(by_request), offset("dev"), offset("sector")];
    words.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

/// Whether a record has the request fields: `dev` (u32), `sector` (u64).
fn has_request(format: &TracepointFormat) -> bool {
    format.field("dev").is_some_and(|f| f.size == 4)
        && format.field("sector").is_some_and(|f| f.size == 8)
}

pub fn run(args: &HistArgs) -> anyhow::Result<ExitCode> {
    let (start, end) = tracepoints(&args.pair)?;
    let formats = [&start, &end]
        .map(|tp| TracepointFormat::read(&tp.category, &tp.name).with_context(|| format!("{tp}")));
    let [start_format, end_format] = formats;
    let (start_format, end_format) = (start_format?, end_format?);
    let by_request = has_request(&start_format) && has_request(&end_format);
    let object = load(objects::HIST)?;
    let config = object.map("config").context("no config map")?.fd();
    for (side, format) in [(0u32, &start_format), (1, &end_format)] {
        config.update(
            &side.to_ne_bytes(),
            &pairing(format, by_request),
            UpdateMode::Any,
        )?;
    }
    // The end first: a start seen before its end is attached would wait
    // in the map for an end that never comes.
    let end_link = attach_tracepoint(program(&object, "hist_end")?.fd(), &end.category, &end.name)?;
    let start_link = attach_tracepoint(
        program(&object, "hist_start")?.fd(),
        &start.category,
        &start.name,
    )?;
    let pairing = if by_request {
        "request (dev, sector)"
    } else {
        "thread"
    };
    eprintln!("Tracing {start} -> {end} by {pairing}. Ctrl-C to end.");
    run_tool(args.limits, move |session, out| {
        let _links = (start_link, end_link);
        while !session.done() {
            std::thread::sleep(session.tick());
        }
        let hist = object.map("hist").context("no hist map")?.fd();
        let mut slots = Vec::with_capacity(SLOTS as usize);
        for slot in 0..SLOTS {
            let value = hist.lookup(&slot.to_ne_bytes())?.unwrap_or_default();
            slots.push(u64::from_ne_bytes(
                value.as_slice().try_into().context("slot size")?,
            ));
        }
        let text = visor_hist::log2(&slots, "usecs", false);
        if text.is_empty() {
            writeln!(out, "no {start} -> {end} pairs seen")?;
        }
        write!(out, "{text}")?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_names_expand_to_enter_and_exit() {
        let (a, b) = tracepoints(&["syscall".into(), "read".into()]).unwrap();
        assert_eq!(a.to_string(), "syscalls:sys_enter_read");
        assert_eq!(b.to_string(), "syscalls:sys_exit_read");
        let (a, b) = tracepoints(&[
            "block:block_rq_issue".into(),
            "block:block_rq_complete".into(),
        ])
        .unwrap();
        assert_eq!(
            (a.name.as_str(), b.name.as_str()),
            ("block_rq_issue", "block_rq_complete")
        );
        assert!(tracepoints(&["read".into(), "x".into()]).is_err());
    }
}
