//! `visor run`: run a program in the interpreter and print r0; for an ELF
//! object or restricted C, see `run_object`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use visor_isa::Program;
use visor_vm::{Interpreter, VmError};

use crate::engine;
use crate::input::{self, ProgramFile, SyntaxArg};
use crate::run_object;

#[derive(clap::Args)]
pub struct RunArgs {
    /// Assembly text, raw bytecode, a bpf_conformance `.data` test, an ELF
    /// object (`clang -target bpf`), or restricted C (`.bpf.c`, built first).
    file: PathBuf,
    /// Object: the program to run (default: the only one).
    #[arg(long)]
    program: Option<String>,
    /// Object: run over every packet of this pcap or pcapng capture.
    #[arg(long, conflicts_with_all = ["packet", "ctx"])]
    pcap: Option<PathBuf>,
    /// Object: run over one packet, in hex.
    #[arg(long, conflicts_with = "ctx")]
    packet: Option<String>,
    /// Object: the context record (tracing programs), from a file.
    #[arg(long)]
    ctx: Option<PathBuf>,
    /// Object: print JSON (runs, summary, maps).
    #[arg(long)]
    json: bool,
    /// Object: print only each input's return value, one per line.
    #[arg(long, conflicts_with = "json")]
    results: bool,
    /// Object: before running, set a map entry: NAME:KEY=VALUE (hex).
    #[arg(long, value_name = "NAME:KEY=VALUE")]
    map_update: Vec<String>,
    /// Object: before running, delete a map entry: NAME:KEY (hex).
    #[arg(long, value_name = "NAME:KEY")]
    map_delete: Vec<String>,
    /// Object: dump only these maps after the run (default: all).
    #[arg(long = "map", value_name = "NAME")]
    dump_map: Vec<String>,
    /// Input memory in hex, passed as r1 with its length in r2.
    #[arg(long, conflicts_with = "mem_file")]
    mem: Option<String>,
    /// Input memory from a file.
    #[arg(long)]
    mem_file: Option<PathBuf>,
    /// Run N times on the same memory (an object's program: on the same
    /// context and packet, as BPF_PROG_TEST_RUN's repeat); prints the mean
    /// time per run on stderr.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    repeat: u64,
    /// Stop a run after this many instructions (0: no limit).
    #[arg(long, default_value_t = engine::DEFAULT_BUDGET)]
    budget: u64,
    /// Assembly syntax (default: detected from the text).
    #[arg(long, value_enum)]
    syntax: Option<SyntaxArg>,
    /// Engine: the JIT by default where it takes the program.
    #[command(flatten)]
    engine: engine::EngineFlags,
    /// Object: run without visor's verifier checking the program first
    /// (trusted code; the engine's memory checks still hold).
    #[arg(long)]
    no_verify: bool,
}

pub fn run(args: &RunArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let is_c = args.file.to_str().is_some_and(|name| name.ends_with(".c"));
    let object_path = if is_c {
        Some(run_object::build_c(&args.file)?)
    } else {
        None
    };
    let path = object_path.as_deref().unwrap_or(&args.file);
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    if run_object::is_elf(&bytes) {
        let run = run_object::ObjectRun {
            file: &args.file,
            program: args.program.as_deref(),
            pcap: args.pcap.as_deref(),
            packet: args.packet.as_deref(),
            ctx: args.ctx.as_deref(),
            repeat: args.repeat,
            json: args.json,
            results: args.results,
            map_updates: &args.map_update,
            map_deletes: &args.map_delete,
            dump_maps: &args.dump_map,
            verify: !args.no_verify,
            engine: args.engine.run_engine(),
        };
        let result = run_object::run(&run, &bytes, out);
        if let Some(built) = &object_path {
            let _ = std::fs::remove_file(built);
        }
        return result;
    }
    let file = ProgramFile::read(&args.file)?;
    let program = file.program(args.syntax, &args.file)?;
    let given = input::memory(args.mem.as_deref(), args.mem_file.as_deref())?;
    let (mut memory, expected) = match (&file, given) {
        (_, Some(memory)) => (memory, None),
        (ProgramFile::Conformance(case), None) => (case.mem.clone(), case.result),
        (_, None) => (Vec::new(), None),
    };
    let budget = (args.budget > 0).then_some(args.budget);
    let vm = Interpreter::new(&program, engine::conformance_helpers())?.with_budget(budget);
    let vm = args.engine.apply(vm)?;

    let mut r0 = 0;
    let started = Instant::now();
    // Like BPF_PROG_TEST_RUN's repeat, every run sees the memory as the
    // previous one left it, so the loop times the program and nothing else.
    for _ in 0..args.repeat {
        r0 = vm
            .run(&mut memory)
            .map_err(|error| at_instruction(&program, error))?;
    }
    let elapsed = started.elapsed();

    writeln!(out, "r0 = {r0:#x} ({r0})")?;
    if args.repeat > 1 {
        let mean = elapsed.as_secs_f64() / args.repeat as f64;
        eprintln!(
            "{} runs, mean {} per run",
            args.repeat,
            format_duration(mean)
        );
        let proven = vm.proven_buffer_slots();
        if vm.is_jit() && !proven.is_empty() {
            let slots: Vec<String> = proven.iter().map(usize::to_string).collect();
            let what = match slots.len() {
                1 => "instruction",
                _ => "instructions",
            };
            eprintln!(
                "unchecked on the JIT: {what} {} (proven inside the input by visor's verifier)",
                slots.join(", ")
            );
        }
    }
    Ok(match expected {
        Some(want) if want != r0 => {
            writeln!(out, "expected {want:#x}: MISMATCH")?;
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    })
}

/// The error, followed by the instruction it names, disassembled.
fn at_instruction(program: &Program, error: VmError) -> anyhow::Error {
    let insn = error
        .pc()
        .and_then(|pc| program.iter().find(|&(at, _)| at == pc));
    match insn {
        Some((pc, insn)) => {
            anyhow::anyhow!("{error}\n  {pc}: {}", visor_isa::disasm::format_insn(insn))
        }
        None => error.into(),
    }
}

/// Seconds in the unit that reads best.
pub(crate) fn format_duration(seconds: f64) -> String {
    match seconds {
        s if s < 1e-6 => format!("{:.1} ns", s * 1e9),
        s if s < 1e-3 => format!("{:.2} µs", s * 1e6),
        s if s < 1.0 => format!("{:.2} ms", s * 1e3),
        s => format!("{s:.2} s"),
    }
}
