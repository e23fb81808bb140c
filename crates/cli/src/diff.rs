//! `visor diff OBJ`: one program run on the same inputs in the userspace
//! engine and in the kernel (BPF_PROG_TEST_RUN); per input, whether the
//! return value, the packet and the maps agree, and where they do not.
//! The comparison is `visor-diff`'s; this parses and prints.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use visor_diff::{Inputs, Verdict};

use crate::{hex, run_object};

#[derive(Args)]
pub struct DiffArgs {
    /// ELF object built by `clang -target bpf` (or `visor build`).
    object: PathBuf,
    /// The program to run (default: the object's only program).
    #[arg(long)]
    program: Option<String>,
    /// Run on every frame of this capture (pcap or pcapng, Ethernet).
    #[arg(long, value_name = "FILE", group = "input")]
    pcap: Option<PathBuf>,
    /// Run on this frame, in hex.
    #[arg(long, value_name = "HEX", group = "input")]
    packet: Option<String>,
    /// Run on this context record (programs without packets, such as
    /// raw tracepoints).
    #[arg(long, value_name = "FILE", group = "input")]
    ctx: Option<PathBuf>,
    /// Print only the inputs that differ, and the summary.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: &DiffArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let elf =
        fs::read(&args.object).with_context(|| format!("cannot read {}", args.object.display()))?;
    let inputs = if let Some(path) = &args.pcap {
        Inputs::Packets(run_object::read_capture(path)?)
    } else if let Some(text) = &args.packet {
        Inputs::Packets(vec![hex::parse_bytes(text).context("--packet")?])
    } else if let Some(path) = &args.ctx {
        Inputs::Contexts(vec![
            fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        ])
    } else {
        anyhow::bail!("give the inputs: --pcap FILE, --packet HEX or --ctx FILE");
    };
    let report = visor_diff::compare(&elf, args.program.as_deref(), &inputs)
        .with_context(|| format!("{}", args.object.display()))?;
    writeln!(
        out,
        "{}: program {}, userspace engine vs kernel",
        args.object.display(),
        report.program
    )?;
    for input in &report.inputs {
        if !args.quiet || matches!(input.verdict, Verdict::Differ(_)) {
            writeln!(out, "{input}")?;
        }
    }
    writeln!(out, "{}", report.summary())?;
    Ok(if report.differed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
