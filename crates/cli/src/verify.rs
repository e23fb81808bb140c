//! `visor verify`: the static verifier's verdict on each program of an ELF
//! object, or on one assembly file, with a root-cause diagnostic for each
//! rejection. Parses arguments, calls `visor-verifier`, prints.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use visor_object::{Object, ProgramType};
use visor_verifier::prevail::{judge, parse_cases};
use visor_verifier::{
    Pointers, ProgramReport, Report, VerifyEnv, verify_logged, verify_object_logged,
};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// ELF object built by `clang -target bpf`, or an assembly file (`.s`);
    /// with --prevail, PREVAIL's YAML test files.
    #[arg(required = true, num_args = 1.., value_name = "FILE")]
    files: Vec<PathBuf>,
    /// What each verdict cost, one line per program of every FILE (objects
    /// or assembly), then the totals and the peak memory: for whole
    /// corpora.
    #[arg(long, conflicts_with_all = ["json", "log"])]
    stats: bool,
    /// Run PREVAIL's YAML test cases through visor: per case its name,
    /// visor's verdict and the expected one; last `N agree, M disagree`.
    #[arg(long, conflicts_with_all = ["program", "program_type", "json", "log", "pointers"])]
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
    /// What programs may do with pointers: `no-leaks` keeps them out of
    /// maps, helper memory and the return value; `leak` allows that too,
    /// as the kernel does for root (`CAP_PERFMON`); `strict` is the
    /// kernel's rules without `CAP_PERFMON` (no comparisons but null
    /// checks and packet bounds, no subtraction, no 32-bit copies).
    #[arg(long, value_enum, default_value = "no-leaks")]
    pointers: PointerRules,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PointerRules {
    NoLeaks,
    Leak,
    Strict,
}

impl From<PointerRules> for Pointers {
    fn from(rules: PointerRules) -> Pointers {
        match rules {
            PointerRules::NoLeaks => Pointers::NoLeaks,
            PointerRules::Leak => Pointers::Leak,
            PointerRules::Strict => Pointers::Strict,
        }
    }
}

pub fn run(args: &VerifyArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    if args.prevail {
        return run_prevail(&args.files, out);
    }
    if args.stats {
        return run_stats(args, out);
    }
    let [file] = &args.files[..] else {
        anyhow::bail!(
            "verify one object or assembly file at a time (several only with --stats or --prevail)"
        );
    };
    let report = verify_file(args, file)?;
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

/// The verdicts on one object or assembly file.
fn verify_file(args: &VerifyArgs, file: &Path) -> anyhow::Result<Report> {
    let bytes = fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let report = if bytes.starts_with(b"\x7fELF") {
        let object = Object::parse(&bytes).with_context(|| format!("{}", file.display()))?;
        let report = verify_object_logged(
            &object,
            args.program.as_deref(),
            args.log,
            args.pointers.into(),
        );
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
    Ok(report)
}

/// `--stats`: the cost of every verdict over every file, then the totals.
/// A file that cannot be read or parsed is reported and skipped.
fn run_stats(args: &VerifyArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    writeln!(
        out,
        "{:<40} {:<32} {:<7} {:>12} {:>12} {:>9}",
        "FILE", "PROGRAM", "VERDICT", "TIME (ms)", "INSNS", "STATES"
    )?;
    let (mut programs, mut accepted) = (0, 0);
    let mut total = std::time::Duration::ZERO;
    let mut slowest: Option<(std::time::Duration, String)> = None;
    for file in &args.files {
        let report = match verify_file(args, file) {
            Ok(report) => report,
            Err(error) => {
                writeln!(out, "{:<40} skipped: {error:#}", file.display())?;
                continue;
            }
        };
        write!(out, "{}", report.render_stats(&file.display().to_string()))?;
        for p in &report.programs {
            programs += 1;
            accepted += usize::from(p.result.is_ok());
            total += p.elapsed;
            if slowest.as_ref().is_none_or(|(t, _)| p.elapsed > *t) {
                slowest = Some((p.elapsed, format!("{} in {}", p.name, file.display())));
            }
        }
    }
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    writeln!(
        out,
        "{programs} programs: {accepted} accepted, {} rejected; total {:.1} ms",
        programs - accepted,
        ms(total)
    )?;
    if let Some((time, name)) = slowest {
        writeln!(out, "slowest: {name}, {:.1} ms", ms(time))?;
    }
    if let Some(peak) = peak_memory_kib() {
        writeln!(out, "peak memory: {:.1} MiB", peak as f64 / 1024.0)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// This process's peak resident memory (`VmHWM`), in KiB.
fn peak_memory_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// PREVAIL's test cases: each case's verdict beside the expected one.
fn run_prevail(files: &[PathBuf], out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let (mut agree, mut disagree) = (0, 0);
    for file in files {
        let text =
            fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        for case in parse_cases(&text) {
            let judgement = judge(&case);
            write!(
                out,
                "{}: visor {}, expected {}",
                case.name, judgement.visor, judgement.expected
            )?;
            if judgement.agrees() {
                agree += 1;
                writeln!(out)?;
            } else {
                disagree += 1;
                writeln!(out, ": DISAGREE ({})", judgement.reason)?;
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
    let env = VerifyEnv {
        pointers: args.pointers.into(),
        ..VerifyEnv::new(program_type)
    };
    let started = std::time::Instant::now();
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
            elapsed: started.elapsed(),
        }],
    })
}
