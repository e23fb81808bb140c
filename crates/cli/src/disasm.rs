//! `visor disasm`: bytecode to LLVM-syntax assembly.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::input::ProgramFile;

#[derive(clap::Args)]
pub struct DisasmArgs {
    /// Raw little-endian bytecode, or the same bytes written in hex.
    file: PathBuf,
    /// Print only the instructions, without slot numbers and bytes: text
    /// that `visor asm` reads back.
    #[arg(long)]
    text: bool,
}

pub fn run(args: &DisasmArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let program = ProgramFile::read(&args.file)?.program(None, &args.file)?;
    let listing = if args.text {
        visor_isa::disasm::program_text(&program)
    } else {
        visor_isa::disasm::disassemble(&program)
    };
    write!(out, "{listing}")?;
    Ok(ExitCode::SUCCESS)
}
