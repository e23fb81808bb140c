//! `visor verify`: the static verifier's verdict on each program of an ELF
//! object, or on one assembly file, with a root-cause diagnostic for each
//! rejection. Parses arguments, calls `visor-verifier`, prints.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use visor_object::{Object, ProgramType};
use visor_verifier::{ProgramReport, Report, VerifyEnv, verify_logged, verify_object_logged};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// ELF object built by `clang -target bpf`, or an assembly file (`.s`).
    file: PathBuf,
    /// Only the program with this name (entry function or section name).
    #[arg(long, short)]
    program: Option<String>,
    /// Program type for an assembly file (`xdp`, `socket_filter`,
    /// `sched_cls`, `tracepoint`, ...): bpftool's names. Objects take it
    /// from their section names.
    #[arg(long = "type", value_name = "TYPE")]
    program_type: Option<String>,
    /// Print the verdicts as JSON.
    #[arg(long)]
    json: bool,
    /// Print each instruction as it is interpreted, on every path, with
    /// the registers it changed (like the kernel's log level 2).
    #[arg(long)]
    log: bool,
}

pub fn run(args: &VerifyArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let bytes =
        fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let report = if bytes.starts_with(b"\x7fELF") {
        let object = Object::parse(&bytes).with_context(|| format!("{}", args.file.display()))?;
        let report = verify_object_logged(&object, args.program.as_deref(), args.log);
        if let Some(name) = &args.program {
            anyhow::ensure!(
                !report.programs.is_empty(),
                "{}: no program or section named {name}",
                args.file.display()
            );
        }
        report
    } else {
        verify_assembly(args, &bytes)?
    };
    if args.json {
        write!(out, "{}", report.to_json())?;
    } else {
        write!(out, "{}", report.render())?;
    }
    Ok(if report.all_accepted() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn verify_assembly(args: &VerifyArgs, bytes: &[u8]) -> anyhow::Result<Report> {
    let text = std::str::from_utf8(bytes)
        .with_context(|| format!("{} is neither an ELF object nor text", args.file.display()))?;
    let program = visor_isa::asm::assemble_detected(text)
        .with_context(|| format!("{}", args.file.display()))?;
    let program_type = match &args.program_type {
        None => None,
        Some(name) => Some(
            ProgramType::ALL
                .into_iter()
                .find(|t| t.name() == name)
                .with_context(|| format!("unknown program type {name}"))?,
        ),
    };
    let env = VerifyEnv::new(program_type);
    let (result, log) = verify_logged(&program, &env, args.log);
    let name = args
        .file
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    Ok(Report {
        programs: vec![ProgramReport {
            name,
            section: args.file.display().to_string(),
            program_type,
            result,
            log,
        }],
    })
}
