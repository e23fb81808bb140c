//! `visor load OBJ [--attach] [--dev IF]`: load an object into the kernel
//! and, with --attach, attach each program by its section name until
//! Ctrl-C (or SIGTERM), then detach and exit.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use visor_kernel::{
    AttachOptions, AttachOutcome, BtfStatus, LoadError, LoadOptions, LoadedObject, XdpMode,
};

use crate::net::TcPath;

#[derive(Args)]
pub struct LoadArgs {
    /// ELF object built by `clang -target bpf` (or `visor build`).
    object: PathBuf,
    /// Attach each program where its section name says, until Ctrl-C.
    #[arg(long)]
    attach: bool,
    /// The network interface for XDP and TC programs.
    #[arg(long, value_name = "IF")]
    dev: Option<String>,
    /// XDP in generic (skb) mode instead of the driver's.
    #[arg(long)]
    xdp_generic: bool,
    /// TC programs: by TCX link, by clsact filter, or TCX falling back to
    /// clsact where the kernel has no TCX.
    #[arg(long, value_enum, default_value_t = TcPath::Auto)]
    tc_mode: TcPath,
    /// Print the verifier's whole log when a program is rejected.
    #[arg(long)]
    log: bool,
}

pub fn run(args: &LoadArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let bytes =
        fs::read(&args.object).with_context(|| format!("cannot read {}", args.object.display()))?;
    let options = LoadOptions {
        full_log: args.log,
        ..LoadOptions::default()
    };
    let loaded = LoadedObject::load(&bytes, &options).map_err(|e| explain(e, args.log))?;
    match loaded.btf() {
        BtfStatus::Loaded(_) => writeln!(out, "BTF: loaded")?,
        BtfStatus::Rejected(error) => {
            writeln!(
                out,
                "BTF: rejected by the kernel, loaded without it ({error})"
            )?;
        }
        BtfStatus::Absent | BtfStatus::Skipped => writeln!(out, "BTF: none")?,
    }
    for map in loaded.maps() {
        let info = map.fd().info()?;
        writeln!(
            out,
            "map {} id {} ({})",
            map.name(),
            info.id,
            map.fd().map_type()
        )?;
    }
    for program in loaded.programs() {
        let info = program.fd().info()?;
        writeln!(
            out,
            "program {} id {} ({}, section {})",
            program.name(),
            info.id,
            program.fd().program_type(),
            program.section()
        )?;
    }
    if !args.attach {
        return Ok(ExitCode::SUCCESS);
    }
    let attach_options = AttachOptions {
        interface: args.dev.clone(),
        xdp_mode: if args.xdp_generic {
            XdpMode::Generic
        } else {
            XdpMode::Any
        },
        tc_mode: args.tc_mode.into(),
    };
    let mut attached = Vec::new();
    let mut failed = false;
    for outcome in loaded.attach_all(&attach_options) {
        match outcome {
            AttachOutcome::Attached(a) => {
                writeln!(out, "attached {} to {}", a.program(), a.target())?;
                attached.push(a);
            }
            AttachOutcome::Skipped { program, reason } => {
                writeln!(out, "skipped {program}: {reason}")?;
            }
            AttachOutcome::Failed { program, error } => {
                failed = true;
                writeln!(out, "failed {program}: {:#}", anyhow::Error::new(error))?;
            }
        }
    }
    if attached.is_empty() {
        writeln!(out, "nothing attached")?;
        return Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    // Blocked before the prompt, so that a Ctrl-C right after it is taken
    // here instead of ending the process with the programs attached.
    let interrupts = visor_kernel::Interrupts::block()?;
    writeln!(out, "running; press Ctrl-C to detach and exit")?;
    out.flush()?;
    let signal = interrupts.next()?;
    for a in attached {
        let program = a.program().to_owned();
        let target = a.target().to_owned();
        match a.detach() {
            Ok(()) => writeln!(out, "detached {program} from {target}")?,
            Err(error) => writeln!(out, "detaching {program}: {:#}", anyhow::Error::new(error))?,
        }
    }
    writeln!(out, "exiting on {signal}")?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The load error, its kind first; the verifier's log (its last lines,
/// or all of it with `--log`) goes to stderr before it.
pub fn explain(error: LoadError, full: bool) -> anyhow::Error {
    const TAIL: usize = 12;
    if let Some(log) = error.verifier_log() {
        let lines: Vec<&str> = log.text().lines().collect();
        let start = if full {
            0
        } else {
            lines.len().saturating_sub(TAIL)
        };
        if start > 0 {
            eprintln!(
                "verifier log (last {TAIL} of {} lines; --log prints all):",
                lines.len()
            );
        } else {
            eprintln!("verifier log:");
        }
        for line in &lines[start..] {
            eprintln!("  {line}");
        }
    }
    let category = error.category();
    anyhow::Error::new(error).context(format!("{category}"))
}
