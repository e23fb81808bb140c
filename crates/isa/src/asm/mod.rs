//! Assembly text to [`Program`], in two syntaxes.
//!
//! - [`Syntax::Llvm`]: what clang, `llvm-objdump -d` and the kernel print,
//!   `r0 = *(u32 *)(r1 + 4)`, `if r1 s> r2 goto +3`, `r1 = 0x1122 ll`.
//! - [`Syntax::Ubpf`]: the uBPF and bpf_conformance mnemonics,
//!   `ldxw %r0, [%r1+4]`, `jsgt %r1, %r2, label`, `lock fetch add [%r10-8], %r1`.
//!
//! Each syntax module turns one line into `Statement`s; this module owns
//! what they share: labels, jump fix-ups, and errors with line and column.

mod llvm;
mod ubpf;

use std::collections::HashMap;

use thiserror::Error;

use crate::insn::{CallTarget, Insn, LoadImm};
use crate::{DecodeError, Program};

/// Which assembly syntax a text is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// LLVM/kernel: `r0 = r1`, `if r1 > 3 goto +2`.
    Llvm,
    /// uBPF/bpf_conformance: `mov %r0, %r1`, `jgt %r1, 3, +2`.
    Ubpf,
}

impl Syntax {
    /// Guesses the syntax of `text`: registers written `%rN` mean uBPF.
    pub fn detect(text: &str) -> Syntax {
        let code = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default());
        if code.clone().any(|l| l.contains("%r")) {
            return Syntax::Ubpf;
        }
        // `exit` alone is both; any `=` or `goto` is LLVM.
        if code.clone().any(|l| l.contains('=') || l.contains("goto")) {
            Syntax::Llvm
        } else {
            Syntax::Ubpf
        }
    }
}

/// Where in the text, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct AsmError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    pub kind: AsmErrorKind,
}

/// Why a statement does not assemble.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum AsmErrorKind {
    #[error("unknown instruction `{0}`")]
    UnknownMnemonic(String),
    #[error("expected {expected}, found `{found}`")]
    Expected {
        expected: &'static str,
        found: String,
    },
    #[error("`{0}` is not a register (r0 to r10)")]
    BadRegister(String),
    #[error("`{0}` is not a number")]
    BadNumber(String),
    #[error("{what} {value} does not fit in {bits} bits")]
    OutOfRange {
        what: &'static str,
        value: i128,
        bits: u32,
    },
    #[error("label `{0}` is not defined")]
    UnknownLabel(String),
    #[error("label `{name}` is defined twice (first on line {first_line})")]
    DuplicateLabel { name: String, first_line: usize },
    #[error("jump to `{label}` is {distance} instructions away; it does not fit in {bits} bits")]
    JumpTooFar {
        label: String,
        distance: i64,
        bits: u32,
    },
    #[error("the assembled program is invalid: {0}")]
    Invalid(#[from] DecodeError),
}

/// One parsed statement of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Statement {
    /// `name:` marks the next instruction.
    Label(String),
    /// An instruction, with the label its target field should reach.
    Insn {
        insn: Insn,
        target: Option<LabelRef>,
    },
}

/// A use of a label by name, at `column` of its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LabelRef {
    pub name: String,
    pub column: usize,
}

/// An error at a column of the line being parsed; [`assemble`] adds the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LineError {
    pub column: usize,
    pub kind: AsmErrorKind,
}

/// Assembles `text` written in `syntax`.
pub fn assemble(text: &str, syntax: Syntax) -> Result<Program, AsmError> {
    let parse_line = match syntax {
        Syntax::Llvm => llvm::parse_line,
        Syntax::Ubpf => ubpf::parse_line,
    };
    let mut layout = Layout::default();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let at_line = |e: LineError| AsmError {
            line: line_no,
            column: e.column,
            kind: e.kind,
        };
        for statement in parse_line(line).map_err(at_line)? {
            layout.add(statement, line_no).map_err(at_line)?;
        }
    }
    if syntax == Syntax::Ubpf {
        layout.define_default_exit_label();
    }
    layout.finish()
}

/// Assembles `text` in the syntax [`Syntax::detect`] finds.
pub fn assemble_detected(text: &str) -> Result<Program, AsmError> {
    assemble(text, Syntax::detect(text))
}

/// Instructions laid out in slots, labels, and the jumps still to resolve.
#[derive(Default)]
struct Layout {
    insns: Vec<Insn>,
    /// Slot index of each instruction.
    pcs: Vec<usize>,
    /// Line of each instruction.
    lines: Vec<usize>,
    next_pc: usize,
    /// Label name to (slot index, line defined on).
    labels: HashMap<String, (usize, usize)>,
    /// Instruction index, label reference, and its line.
    fixups: Vec<(usize, LabelRef, usize)>,
}

impl Layout {
    fn add(&mut self, statement: Statement, line: usize) -> Result<(), LineError> {
        match statement {
            Statement::Label(name) => {
                if let Some(&(_, first_line)) = self.labels.get(&name) {
                    return Err(LineError {
                        column: 1,
                        kind: AsmErrorKind::DuplicateLabel { name, first_line },
                    });
                }
                self.labels.insert(name, (self.next_pc, line));
            }
            Statement::Insn { insn, target } => {
                if let Some(label) = target {
                    self.fixups.push((self.insns.len(), label, line));
                }
                self.pcs.push(self.next_pc);
                self.lines.push(line);
                self.next_pc += insn.slot_count();
                self.insns.push(insn);
            }
        }
        Ok(())
    }

    /// bpf_conformance's assembler lets `exit` name the first `exit`
    /// instruction when no label of that name exists.
    fn define_default_exit_label(&mut self) {
        if self.labels.contains_key("exit") {
            return;
        }
        if let Some(i) = self.insns.iter().position(|i| *i == Insn::Exit) {
            self.labels.insert("exit".to_owned(), (self.pcs[i], 0));
        }
    }

    fn finish(mut self) -> Result<Program, AsmError> {
        for (index, label, line) in std::mem::take(&mut self.fixups) {
            let error = |kind| AsmError {
                line,
                column: label.column,
                kind,
            };
            let &(target, _) = self
                .labels
                .get(&label.name)
                .ok_or_else(|| error(AsmErrorKind::UnknownLabel(label.name.clone())))?;
            let distance = target as i64 - self.pcs[index] as i64 - 1;
            let too_far = |bits| {
                error(AsmErrorKind::JumpTooFar {
                    label: label.name.clone(),
                    distance,
                    bits,
                })
            };
            let narrow = |bits| i16::try_from(distance).map_err(|_| too_far(bits));
            let wide = || i32::try_from(distance).map_err(|_| too_far(32));
            let insn = &mut self.insns[index];
            match insn {
                Insn::Jump { off, .. } => *off = narrow(16)?,
                Insn::Ja { off, long: false } => *off = narrow(16)?.into(),
                Insn::Ja { off, long: true } => *off = wide()?,
                Insn::Call(CallTarget::Local(imm)) => *imm = wide()?,
                Insn::LoadImm64 {
                    kind: LoadImm::Func,
                    imm,
                    ..
                } => *imm = u64::from(wide()? as u32),
                _ => unreachable!("syntax modules attach labels to branches only"),
            }
        }
        let lines = self.lines;
        let pcs = self.pcs;
        Program::new(self.insns).map_err(|e| {
            let line = pcs
                .iter()
                .position(|&pc| pc == e.pc)
                .map_or(0, |i| lines[i]);
            AsmError {
                line,
                column: 1,
                kind: e.into(),
            }
        })
    }
}
