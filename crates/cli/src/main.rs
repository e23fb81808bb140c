//! `visor`: the command line. Parses arguments, calls a library, prints.
//! Nothing here that a library user would also want.

mod asm;
mod build;
mod diff;
mod disasm;
mod engine;
mod exec;
mod filter;
mod filter_engine;
mod hex;
mod input;
mod load;
mod map;
mod net;
mod objdump;
mod prog;
mod run;
mod run_object;
mod trace;
mod verify;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// visor: an eBPF toolchain — assembler, disassembler and userspace engine.
#[derive(Parser)]
#[command(name = "visor", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble eBPF assembly (LLVM or uBPF syntax) into bytecode.
    Asm(asm::AsmArgs),
    /// Disassemble raw eBPF bytecode into LLVM syntax, as llvm-objdump -d prints it.
    Disasm(disasm::DisasmArgs),
    /// Run a program (assembly, bytecode, ELF object or restricted C) in the userspace engine.
    Run(run::RunArgs),
    /// List an ELF object's programs, maps and relocations, and disassemble it with source lines.
    Objdump(objdump::ObjdumpArgs),
    /// The bpf_conformance plugin protocol: bytecode as hex on stdin, r0 in hex on stdout.
    Exec(exec::ExecArgs),
    /// Compile a pcap filter expression (tcpdump syntax); print it (-d) or run it over a capture (-r).
    Filter(filter::FilterArgs),
    /// Compile restricted C into a BPF object with clang (-target bpf -O2 -g).
    Build(build::BuildArgs),
    /// The kernel's loaded programs, like bpftool prog: list, show, dump, load, pin, run.
    Prog(prog::ProgArgs),
    /// The kernel's maps, like bpftool map: list, dump, lookup, update, delete, pin.
    Map(map::MapArgs),
    /// Load an object into the kernel; with --attach, attach its programs until Ctrl-C.
    Load(load::LoadArgs),
    /// BCC-style tracing tools: hello, count, hist, exec, connect.
    Trace(trace::TraceArgs),
    /// Attach an XDP or TC program to a network interface until Ctrl-C.
    Net(net::NetArgs),
    /// Run a program in the userspace engine and in the kernel on the same inputs, and compare.
    Diff(diff::DiffArgs),
    /// Check programs statically, as the kernel's verifier would; explain each rejection.
    Verify(verify::VerifyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = match cli.command {
        Command::Asm(args) => asm::run(&args, &mut out),
        Command::Disasm(args) => disasm::run(&args, &mut out),
        Command::Run(args) => run::run(&args, &mut out),
        Command::Exec(args) => exec::run(&args, &mut out),
        Command::Filter(args) => filter::run(&args, &mut out),
        Command::Objdump(args) => objdump::run(&args, &mut out),
        Command::Build(args) => build::run(&args, &mut out),
        Command::Prog(args) => prog::run(&args, &mut out),
        Command::Map(args) => map::run(&args, &mut out),
        Command::Load(args) => load::run(&args, &mut out),
        Command::Trace(args) => trace::run(&args),
        Command::Net(args) => net::run(&args, &mut out),
        Command::Diff(args) => diff::run(&args, &mut out),
        Command::Verify(args) => verify::run(&args, &mut out),
    };
    match result.and_then(|code| out.flush().map(|()| code).map_err(Into::into)) {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("visor: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// A closed pipe (`visor disasm x | head`) ends output quietly.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
