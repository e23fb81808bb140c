//! `visor exec`: the bpf_conformance plugin protocol.
//!
//! The runner starts `visor exec MEMHEX OPTIONS`, writes the program as one
//! line of hex bytes to stdin, and reads r0 in hex from stdout; on failure
//! it expects a non-zero exit and the error text on stdout.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;
use visor_isa::Program;

use crate::engine;
use crate::hex;

#[derive(clap::Args)]
pub struct ExecArgs {
    /// Input memory in hex (`"11 22 33"`), passed as r1 with its length in r2.
    memory: Option<String>,
    /// Plugin options the runner passes as a second argument; only empty
    /// is accepted, flags go before.
    #[arg(hide = true)]
    options: Option<String>,
    #[command(flatten)]
    engine: engine::EngineFlags,
}

pub fn run(args: &ExecArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    if let Some(options) = args.options.as_deref().filter(|o| !o.trim().is_empty()) {
        anyhow::bail!(
            "unknown plugin options `{options}`: flags such as --jit or --interp go before the memory argument"
        );
    }
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the program from stdin")?;
    match execute(
        &line,
        args.memory.as_deref().unwrap_or_default(),
        args.engine,
    ) {
        Ok(r0) => {
            writeln!(out, "{r0:x}")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            writeln!(out, "{error:#}")?;
            Ok(ExitCode::FAILURE)
        }
    }
}

fn execute(
    program_hex: &str,
    memory_hex: &str,
    engine: engine::EngineFlags,
) -> anyhow::Result<u64> {
    let code = hex::parse_bytes(program_hex).context("program")?;
    let program = Program::decode(&code)?;
    let mut memory = hex::parse_bytes(memory_hex).context("memory")?;
    engine::run_conformance(&program, &mut memory, engine)
}
