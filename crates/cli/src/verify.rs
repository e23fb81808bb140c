//! `visor verify`: the static verifier's verdict on each program of an ELF
//! object, or on one assembly file, with a root-cause diagnostic for each
//! rejection. Parses arguments, calls `visor-verifier`, prints.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use visor_object::{Object, ProgramType};
use visor_verifier::prevail::{parse_cases, run_case};
use visor_verifier::{ProgramReport, Report, VerifyEnv, verify_logged, verify_object_logged};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// ELF object built by `clang -target bpf`, or an assembly file (`.s`);
    /// with --prevail, PREVAIL's YAML test files.
    #[arg(required = true, num_args = 1.., value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Run PREVAIL's YAML test cases through visor: per case its name,
    /// visor's verdict and the expected one; last `N agree, M disagree`.
    #[arg(long, conflicts_with_all = ["program", "program_type", "json", "log"])]
    prevail: bool,
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
    if args.prevail {
        return run_prevail(&args.files, out);
    }
    let [file] = &args.files[..] else {
        anyhow::bail!("verify one object or assembly file at a time (several only with --prevail)");
    };
    let bytes = fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let report = if bytes.starts_with(b"\x7fELF") {
        let object = Object::parse(&bytes).with_context(|| format!("{}", file.display()))?;
        let report = verify_object_logged(&object, args.program.as_deref(), args.log);
        if let Some(name) = &args.program {
            anyhow::ensure!(
                !report.programs.is_empty(),
                "{}: no program or section named {name}",
                file.display()
            );
        }
        report
    } else {
        verify_assembly(args, file, &bytes)?
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

/// PREVAIL's test cases: each case's verdict beside the expected one.
fn run_prevail(files: &[PathBuf], out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let verdict = |accepted: bool| if accepted { "accept" } else { "reject" };
    let (mut agree, mut disagree) = (0, 0);
    for file in files {
        let text =
            fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        for case in parse_cases(&text) {
            let expected = verdict(case.expects_accept());
            match run_case(&case) {
                Ok((accepted, _)) if accepted == case.expects_accept() => {
                    agree += 1;
                    writeln!(
                        out,
                        "{}: visor {}, expected {expected}",
                        case.name,
                        verdict(accepted)
                    )?;
                }
                Ok((accepted, why)) => {
                    disagree += 1;
                    let why = if why.is_empty() {
                        String::new()
                    } else {
                        format!(" ({why})")
                    };
                    writeln!(
                        out,
                        "{}: visor {}, expected {expected}: DISAGREE{why}",
                        case.name,
                        verdict(accepted)
                    )?;
                }
                Err(why) => {
                    disagree += 1;
                    writeln!(
                        out,
                        "{}: not translated ({why}), expected {expected}: DISAGREE",
                        case.name
                    )?;
                }
            }
        }
    }
    writeln!(out, "{agree} agree, {disagree} disagree")?;
    Ok(if disagree == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn verify_assembly(args: &VerifyArgs, file: &Path, bytes: &[u8]) -> anyhow::Result<Report> {
    let text = std::str::from_utf8(bytes)
        .with_context(|| format!("{} is neither an ELF object nor text", file.display()))?;
    let program =
        visor_isa::asm::assemble_detected(text).with_context(|| format!("{}", file.display()))?;
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
    let name = file
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    Ok(Report {
        programs: vec![ProgramReport {
            name,
            section: file.display().to_string(),
            program_type,
            result,
            log,
        }],
    })
}
