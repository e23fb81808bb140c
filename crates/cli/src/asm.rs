//! `visor asm`: assembly text to bytecode.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::hex;
use crate::input::{ProgramFile, SyntaxArg};

#[derive(clap::Args)]
pub struct AsmArgs {
    /// Assembly source (`-` is not supported; give a file).
    file: PathBuf,
    /// Write raw little-endian bytecode here; without it, print the bytecode
    /// in hex, one instruction slot per line.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Assembly syntax (default: detected from the text).
    #[arg(long, value_enum)]
    syntax: Option<SyntaxArg>,
}

pub fn run(args: &AsmArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let program = ProgramFile::read(&args.file)?.program(args.syntax, &args.file)?;
    let bytes = program.to_bytes();
    match &args.output {
        Some(path) => {
            fs::write(path, &bytes).with_context(|| format!("cannot write {}", path.display()))?
        }
        None => {
            for slot in bytes.chunks(visor_isa::SLOT_LEN) {
                writeln!(out, "{}", hex::format_bytes(slot))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
