//! Reading programs and input memory named on the command line.

use std::fs;
use std::path::Path;

use anyhow::Context;
use visor_isa::Program;
use visor_isa::asm::{self, Syntax};
use visor_isa::testdata::TestCase;

use crate::hex;

/// The assembly syntax flag shared by the subcommands that read assembly.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum SyntaxArg {
    /// LLVM/kernel: `r0 = *(u32 *)(r1 + 4)`.
    Llvm,
    /// uBPF/bpf_conformance: `ldxw %r0, [%r1+4]`.
    Ubpf,
}

impl From<SyntaxArg> for Syntax {
    fn from(arg: SyntaxArg) -> Syntax {
        match arg {
            SyntaxArg::Llvm => Syntax::Llvm,
            SyntaxArg::Ubpf => Syntax::Ubpf,
        }
    }
}

/// A program file as found on disk.
pub enum ProgramFile {
    /// Assembly text.
    Assembly(String),
    /// Raw little-endian bytecode (or the same bytes written in hex).
    Bytecode(Vec<u8>),
    /// A bpf_conformance test: assembly plus its input memory and expected result.
    Conformance(TestCase),
}

impl ProgramFile {
    /// Reads `path`, telling bytecode from text by content: bytecode has NUL
    /// bytes, text never does; text made only of hex digits is bytecode too.
    pub fn read(path: &Path) -> anyhow::Result<ProgramFile> {
        let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        if path.extension().is_some_and(|e| e == "data") {
            let text = String::from_utf8(bytes)
                .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
            return Ok(ProgramFile::Conformance(TestCase::parse(&text)));
        }
        match String::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => Ok(match hex::parse_bytes(&text) {
                Ok(code) if !code.is_empty() => ProgramFile::Bytecode(code),
                _ => ProgramFile::Assembly(text),
            }),
            Ok(text) => Ok(ProgramFile::Bytecode(text.into_bytes())),
            Err(e) => Ok(ProgramFile::Bytecode(e.into_bytes())),
        }
    }

    /// The program, assembling text in `syntax` (detected when `None`).
    pub fn program(&self, syntax: Option<SyntaxArg>, path: &Path) -> anyhow::Result<Program> {
        let assemble = |text: &str, default: Syntax| {
            let syntax = syntax.map_or(default, Syntax::from);
            asm::assemble(text, syntax)
                .with_context(|| format!("{}: cannot assemble", path.display()))
        };
        match self {
            ProgramFile::Assembly(text) => assemble(text, Syntax::detect(text)),
            ProgramFile::Conformance(case) => assemble(&case.asm, Syntax::Ubpf),
            ProgramFile::Bytecode(code) => Program::decode(code)
                .with_context(|| format!("{}: invalid bytecode", path.display())),
        }
    }
}

/// Input memory from `--mem HEX` or `--mem-file PATH` (at most one is set).
pub fn memory(hex_text: Option<&str>, file: Option<&Path>) -> anyhow::Result<Option<Vec<u8>>> {
    match (hex_text, file) {
        (Some(text), _) => hex::parse_bytes(text).map(Some).context("--mem"),
        (None, Some(path)) => fs::read(path)
            .map(Some)
            .with_context(|| format!("cannot read {}", path.display())),
        (None, None) => Ok(None),
    }
}
