//! The uBPF / bpf_conformance assembly syntax, one line at a time.
//!
//! A line holds any number of labels (`name:`), at most one instruction, and
//! a comment (`#`, `;` or `//` to the end of the line). Operands are separated
//! by commas or blanks; mnemonics are lowercase. Registers are `%r0` to
//! `%r10`. Numbers are decimal or `0x` hex, with an optional sign. A 32-bit
//! immediate takes any value of `i32` or `u32` (`0xffffffff` is -1), and the
//! value of `lddw` any of `i64` or `u64`; memory and jump offsets must fit
//! their signed field (16 bits, or 32 for `ja32` and local calls).
//!
//! ```text
//! ALU       add sub mul div sdiv or and lsh rsh mod smod xor mov arsh
//!           (ALU64; a `32` suffix gives the ALU class)   add %r0, %r1   add32 %r0, -3
//!           neg neg32                                    neg %r0
//!           movsx864 movsx1664 movsx3264 (ALU64)         movsx1664 %r0, %r1
//!           movsx832 movsx1632 (ALU)                     movsx832 %r0, %r1
//!           le16 le32 le64 be16 be32 be64                be16 %r0
//!           swap16 swap32 swap64 (or bswap16...)         swap64 %r0
//! memory    ldxb ldxh ldxw ldxdw                         ldxw %r0, [%r1+4]
//!           ldxsb ldxsh ldxsw (sign-extending)           ldxsh %r0, [%r1-0x2]
//!           stb sth stw stdw                             stw [%r10-4], 0x11223344
//!           stxb stxh stxw stxdw                         stxdw [%r10-8], %r1
//! atomic    lock [fetch] add|or|and|xor[32]              lock fetch add32 [%r10-4], %r1
//!           lock xchg|cmpxchg[32] (they always fetch)    lock cmpxchg [%r10-8], %r1
//! lddw      lddw %r0, 0x1122334455667788                 a 64-bit constant
//!           lddw %r1, map_fd 3                           a map by file descriptor
//!           lddw %r1, map_value 3 16                     16 bytes into map fd 3's value
//!           lddw %r1, btf_id 42                          a kernel variable by BTF id
//!           lddw %r1, func label                         a local function (or +N, -N)
//!           lddw %r1, map_idx 2                          a map by index
//!           lddw %r1, map_idx_value 2 16                 16 bytes into map 2's value
//! packet    ldabsb ldabsh ldabsw                         ldabsw 12
//!           ldindb ldindh ldindw                         ldindh %r1, 2
//! jumps     ja TARGET, ja32 TARGET (or gotol)            ja +2
//!           jeq jgt jge jset jne jsgt jsge jlt jle jslt jsle, each also with `32`
//!                                                        jne %r0, 15, fail   jgt32 %r1, %r2, -3
//! calls     call 5, call helper 5                        a helper by id
//!           call local TARGET                            a function in the program
//!           call kfunc 1234, call runtime 1234           a kernel function by BTF id
//!           call %r2, callx %r2                          the function a register names
//!           exit
//! ```
//!
//! A TARGET is a label, or a slot offset from the next instruction (`+2`,
//! `-1`, `3`). Labels are letters, digits, `_` and `.`, not starting with a
//! digit; [`super::assemble`] resolves them, and lets `exit` name the first
//! `exit` instruction when no label of that name exists, as the suite does.
//!
//! The `map_*` and `btf_id` forms take 32-bit ids, and `func` a 32-bit offset:
//! the kernel requires the upper half of those immediates to be zero.

use std::ops::Range;

use super::{AsmErrorKind, LabelRef, LineError, Statement};
use crate::insn::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpCond, LoadImm, PacketOffset, Reg, Size,
    Source, Width,
};

/// Parses one line into its labels and its instruction.
pub(crate) fn parse_line(line: &str) -> Result<Vec<Statement>, LineError> {
    let code = strip_comment(line);
    let tokens = tokenize(code);
    let label_count = tokens.iter().take_while(|t| t.text.ends_with(':')).count();
    let (labels, instruction) = tokens.split_at(label_count);
    let mut statements = labels
        .iter()
        .map(|&token| label(token))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((&mnemonic, operands)) = instruction.split_first() {
        let mut operands = Operands {
            rest: operands.iter(),
            end_column: code.trim_end().chars().count() + 1,
        };
        let (insn, target) = parse_instruction(mnemonic, &mut operands)?;
        operands.finish()?;
        statements.push(Statement::Insn { insn, target });
    }
    Ok(statements)
}

// What the error messages say an operand should look like.
const REGISTER: &str = "a register like %r1";
const NUMBER: &str = "a number like 42 or 0x2a";
const SOURCE: &str = "a register like %r1 or a number";
const MEMORY: &str = "a memory operand like [%r1+4]";
const TARGET: &str = "a label or an offset like +2";
const ATOMIC_OP: &str = "an atomic operation (add, or, and, xor, xchg, cmpxchg)";
const CALL_TARGET: &str = "a helper id, `helper`, `local`, `kfunc` or a register";
const LDDW_VALUE: &str = "a number or a pseudo source like `map_fd 3`";

// ---------------------------------------------------------------------------
// Words of a line

/// A word of the line, and the 1-based column of its first character.
#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    text: &'a str,
    column: usize,
}

impl<'a> Token<'a> {
    /// The part of this word at `bytes`, with its own column.
    fn slice(self, bytes: Range<usize>) -> Token<'a> {
        let column = self.column + self.text[..bytes.start].chars().count();
        Token {
            text: &self.text[bytes],
            column,
        }
    }

    /// This word without surrounding blanks.
    fn trim(self) -> Token<'a> {
        let start = self.text.len() - self.text.trim_start().len();
        let end = self.text.trim_end().len().max(start);
        self.slice(start..end)
    }
}

/// The line up to its comment, if any.
fn strip_comment(line: &str) -> &str {
    let end = [line.find('#'), line.find(';'), line.find("//")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(line.len());
    &line[..end]
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || c == ','
}

/// Splits code into words. Blanks and commas separate words; a bracketed
/// memory operand is one word even with blanks inside; a `:` ends the word it
/// closes, so `loop:exit` is a label and then a mnemonic.
fn tokenize(code: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut rest = code;
    let mut column = 1;
    loop {
        let gap = rest.find(|c: char| !is_separator(c)).unwrap_or(rest.len());
        column += rest[..gap].chars().count();
        rest = &rest[gap..];
        if rest.is_empty() {
            return tokens;
        }
        let (text, after) = rest.split_at(word_len(rest));
        tokens.push(Token { text, column });
        column += text.chars().count();
        rest = after;
    }
}

/// Length in bytes of the word at the start of `text`: never 0 when `text`
/// starts with a non-separator, so [`tokenize`] always advances.
fn word_len(text: &str) -> usize {
    if text.starts_with('[') {
        // An unclosed bracket runs to the end; the memory parser says so.
        return text.find(']').map_or(text.len(), |i| i + 1);
    }
    match text.find(|c: char| is_separator(c) || c == '[' || c == ':') {
        Some(i) if text[i..].starts_with(':') => i + 1,
        Some(i) => i,
        None => text.len(),
    }
}

fn is_label_name(text: &str) -> bool {
    let mut chars = text.chars();
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    chars
        .next()
        .is_some_and(|c| is_name_char(c) && !c.is_ascii_digit())
        && chars.all(is_name_char)
}

/// A `name:` word.
fn label(token: Token) -> Result<Statement, LineError> {
    let name = token.text.strip_suffix(':').unwrap_or(token.text);
    if is_label_name(name) {
        Ok(Statement::Label(name.to_owned()))
    } else {
        Err(expected("a label name like `loop:`", token))
    }
}

// ---------------------------------------------------------------------------
// Errors

fn error(column: usize, kind: AsmErrorKind) -> LineError {
    LineError { column, kind }
}

fn expected(what: &'static str, found: Token) -> LineError {
    let found_text = match found.text {
        "" => "nothing".to_owned(),
        text => text.to_owned(),
    };
    error(
        found.column,
        AsmErrorKind::Expected {
            expected: what,
            found: found_text,
        },
    )
}

/// The line ended where `what` should have been.
fn missing(what: &'static str, column: usize) -> LineError {
    error(
        column,
        AsmErrorKind::Expected {
            expected: what,
            found: "end of line".to_owned(),
        },
    )
}

fn out_of_range(what: &'static str, value: i128, bits: u32, column: usize) -> LineError {
    error(column, AsmErrorKind::OutOfRange { what, value, bits })
}

// ---------------------------------------------------------------------------
// Operands

/// The operands of one instruction, read left to right.
struct Operands<'a> {
    rest: std::slice::Iter<'a, Token<'a>>,
    /// Where a missing operand is reported: just past the code.
    end_column: usize,
}

impl<'a> Operands<'a> {
    fn next(&mut self, what: &'static str) -> Result<Token<'a>, LineError> {
        self.rest
            .next()
            .copied()
            .ok_or_else(|| missing(what, self.end_column))
    }

    fn register(&mut self) -> Result<Reg, LineError> {
        register(self.next(REGISTER)?)
    }

    fn imm32(&mut self) -> Result<i32, LineError> {
        imm32(self.next(NUMBER)?)
    }

    fn memory(&mut self) -> Result<(Reg, i16), LineError> {
        memory(self.next(MEMORY)?)
    }

    /// A register, or a 32-bit immediate.
    fn source(&mut self) -> Result<Source, LineError> {
        let token = self.next(SOURCE)?;
        if token.text.starts_with('%') {
            register(token).map(Source::Reg)
        } else if looks_numeric(token.text) {
            imm32(token).map(Source::Imm)
        } else {
            Err(expected(SOURCE, token))
        }
    }

    /// A label, left for [`super::assemble`] to resolve (the offset is then
    /// 0), or an offset in slots that must fit `T`.
    fn target<T: TryFrom<i128> + Default>(&mut self) -> Result<(T, Option<LabelRef>), LineError> {
        let token = self.next(TARGET)?;
        if is_label_name(token.text) {
            let label = LabelRef {
                name: token.text.to_owned(),
                column: token.column,
            };
            return Ok((T::default(), Some(label)));
        }
        let offset = number(token, TARGET)?;
        Ok((fit(offset, "jump offset", token.column)?, None))
    }

    /// Fails if operands are left over.
    fn finish(mut self) -> Result<(), LineError> {
        match self.rest.next() {
            Some(&extra) => Err(expected("the end of the instruction", extra)),
            None => Ok(()),
        }
    }
}

/// `%r0` to `%r10`. Anything else starting with `%` is a bad register; a
/// word without `%` is not a register at all.
fn register(token: Token) -> Result<Reg, LineError> {
    if !token.text.starts_with('%') {
        return Err(expected(REGISTER, token));
    }
    token
        .text
        .strip_prefix("%r")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u8>().ok())
        .and_then(Reg::new)
        .ok_or_else(|| {
            error(
                token.column,
                AsmErrorKind::BadRegister(token.text.to_owned()),
            )
        })
}

/// `[%r1]`, `[%r1+4]`, `[%r10-0x8]`, blanks allowed inside.
fn memory(token: Token) -> Result<(Reg, i16), LineError> {
    let Some(inside) = token.text.strip_prefix('[') else {
        return Err(expected(MEMORY, token));
    };
    let Some(inside) = inside.strip_suffix(']') else {
        let end = token.column + token.text.chars().count();
        return Err(missing("`]` to close the memory operand", end));
    };
    let inside = token.slice(1..1 + inside.len());
    let Some(sign_at) = inside.text.find(['+', '-']) else {
        return Ok((register(inside.trim())?, 0));
    };
    let base = register(inside.slice(0..sign_at).trim())?;
    let offset = inside.slice(sign_at..inside.text.len());
    Ok((base, memory_offset(offset)?))
}

/// `+4`, `- 0x8`: a sign, then an unsigned number that fits, signed, in 16 bits.
fn memory_offset(offset: Token) -> Result<i16, LineError> {
    let magnitude = offset.slice(1..offset.text.len()).trim();
    if magnitude.text.starts_with(['+', '-']) {
        return Err(expected(NUMBER, magnitude));
    }
    let value = number(magnitude, NUMBER)?;
    let value = if offset.text.starts_with('-') {
        -value
    } else {
        value
    };
    fit(value, "offset", offset.column)
}

// ---------------------------------------------------------------------------
// Numbers

fn looks_numeric(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-')
}

/// A decimal or `0x` hex integer with an optional sign. `None` when
/// malformed, or too large for any field (beyond `i128`).
fn parse_int(text: &str) -> Option<i128> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (digits, radix) = match unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        Some(hex) => (hex, 16),
        None => (unsigned, 10),
    };
    // `from_str_radix` would take a second sign; only digits may follow.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// The number in `token`; `what` names the operand when it is not one.
fn number(token: Token, what: &'static str) -> Result<i128, LineError> {
    if !looks_numeric(token.text) {
        return Err(expected(what, token));
    }
    parse_int(token.text)
        .ok_or_else(|| error(token.column, AsmErrorKind::BadNumber(token.text.to_owned())))
}

/// `value` as a `T`, or an error naming the width of `T`.
fn fit<T: TryFrom<i128>>(value: i128, what: &'static str, column: usize) -> Result<T, LineError> {
    let bits = (8 * size_of::<T>()) as u32;
    T::try_from(value).map_err(|_| out_of_range(what, value, bits, column))
}

/// A 32-bit immediate, written signed or as its unsigned bit pattern (the
/// suite writes `0x80000000` for `i32::MIN`).
fn imm32(token: Token) -> Result<i32, LineError> {
    let value = number(token, NUMBER)?;
    i32::try_from(value)
        .or_else(|_| u32::try_from(value).map(|bits| bits as i32))
        .map_err(|_| out_of_range("immediate", value, 32, token.column))
}

/// The 64-bit value of `lddw`, signed or unsigned.
fn imm64(token: Token) -> Result<u64, LineError> {
    let value = number(token, LDDW_VALUE)?;
    u64::try_from(value)
        .or_else(|_| i64::try_from(value).map(|signed| signed as u64))
        .map_err(|_| out_of_range("immediate", value, 64, token.column))
}

// ---------------------------------------------------------------------------
// Mnemonics

/// What a mnemonic asks for, before its operands are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Alu(Width, AluOp),
    Neg(Width),
    Endian(ByteOrder, u8),
    Load {
        size: Size,
        signed: bool,
    },
    StoreImm(Size),
    StoreReg(Size),
    /// `lock`: the operation is the next word.
    Atomic,
    LoadImm64,
    LoadPacket(Size, Addressing),
    Ja {
        long: bool,
    },
    Jump(Width, JmpCond),
    Call,
    CallReg,
    Exit,
}

/// Where a legacy packet load reads, before the register is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Addressing {
    Abs,
    Ind,
}

/// Names of the binary ALU operations; `32` appended selects the ALU class.
const ALU_OPS: [(&str, AluOp); 14] = [
    ("add", AluOp::Add),
    ("sub", AluOp::Sub),
    ("mul", AluOp::Mul),
    ("div", AluOp::Div),
    ("sdiv", AluOp::Sdiv),
    ("or", AluOp::Or),
    ("and", AluOp::And),
    ("lsh", AluOp::Lsh),
    ("rsh", AluOp::Rsh),
    ("mod", AluOp::Mod),
    ("smod", AluOp::Smod),
    ("xor", AluOp::Xor),
    ("mov", AluOp::Mov),
    ("arsh", AluOp::Arsh),
];

/// Names of the jump conditions; `32` appended selects the JMP32 class.
const JMP_CONDS: [(&str, JmpCond); 11] = [
    ("jeq", JmpCond::Eq),
    ("jgt", JmpCond::Gt),
    ("jge", JmpCond::Ge),
    ("jset", JmpCond::Set),
    ("jne", JmpCond::Ne),
    ("jsgt", JmpCond::Sgt),
    ("jsge", JmpCond::Sge),
    ("jlt", JmpCond::Lt),
    ("jle", JmpCond::Le),
    ("jslt", JmpCond::Slt),
    ("jsle", JmpCond::Sle),
];

/// The sign-extending moves: source bits, then the operand width. ALU has no
/// 32-bit source, which would be a plain `mov32`.
const MOVSX: [(&str, Width, Size); 5] = [
    ("movsx864", Width::W64, Size::B),
    ("movsx1664", Width::W64, Size::H),
    ("movsx3264", Width::W64, Size::W),
    ("movsx832", Width::W32, Size::B),
    ("movsx1632", Width::W32, Size::H),
];

/// Byte-order prefixes, followed by 16, 32 or 64.
const BYTE_ORDERS: [(&str, ByteOrder); 4] = [
    ("le", ByteOrder::ToLe),
    ("be", ByteOrder::ToBe),
    ("swap", ByteOrder::Swap),
    ("bswap", ByteOrder::Swap),
];

/// Access-size suffixes of loads and stores.
const SIZES: [(&str, Size); 4] = [
    ("b", Size::B),
    ("h", Size::H),
    ("w", Size::W),
    ("dw", Size::DW),
];

/// The `lddw` pseudo sources, by the keyword that precedes their operands.
const PSEUDO_SOURCES: [(&str, LoadImm); 6] = [
    ("map_fd", LoadImm::MapFd),
    ("map_value", LoadImm::MapValue),
    ("btf_id", LoadImm::BtfId),
    ("func", LoadImm::Func),
    ("map_idx", LoadImm::MapIdx),
    ("map_idx_value", LoadImm::MapIdxValue),
];

fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// The instruction form a mnemonic names, if any.
fn form(word: &str) -> Option<Form> {
    fixed_form(word)
        .or_else(|| endian_form(word))
        .or_else(|| lookup_movsx(word))
        .or_else(|| sized_form(word))
        .or_else(|| width_form(word))
}

fn fixed_form(word: &str) -> Option<Form> {
    Some(match word {
        "exit" => Form::Exit,
        "call" => Form::Call,
        "callx" => Form::CallReg,
        "lddw" => Form::LoadImm64,
        "lock" => Form::Atomic,
        "ja" => Form::Ja { long: false },
        "ja32" | "gotol" => Form::Ja { long: true },
        _ => return None,
    })
}

fn endian_form(word: &str) -> Option<Form> {
    BYTE_ORDERS.iter().find_map(|&(prefix, order)| {
        let bits = match word.strip_prefix(prefix)? {
            "16" => 16,
            "32" => 32,
            "64" => 64,
            _ => return None,
        };
        Some(Form::Endian(order, bits))
    })
}

fn lookup_movsx(word: &str) -> Option<Form> {
    MOVSX
        .iter()
        .find(|(name, _, _)| *name == word)
        .map(|&(_, width, size)| Form::Alu(width, AluOp::Movsx(size)))
}

/// Makes the form of a sized family, if the family has that size.
type SizedFamily = fn(Size) -> Option<Form>;

/// Loads, stores and packet loads: a prefix, then an access size.
fn sized_form(word: &str) -> Option<Form> {
    // Sign-extending and packet loads have no 8-byte form.
    fn narrow(size: Size) -> bool {
        size != Size::DW
    }
    // `ldxs` before `ldx` and `stx` before `st`: a shorter prefix would
    // leave `sw` or `xb`, which are no size, so order only saves work.
    let families: [(&str, SizedFamily); 6] = [
        ("ldxs", |size| {
            narrow(size).then_some(Form::Load { size, signed: true })
        }),
        ("ldx", |size| {
            Some(Form::Load {
                size,
                signed: false,
            })
        }),
        ("stx", |size| Some(Form::StoreReg(size))),
        ("st", |size| Some(Form::StoreImm(size))),
        ("ldabs", |size| {
            narrow(size).then_some(Form::LoadPacket(size, Addressing::Abs))
        }),
        ("ldind", |size| {
            narrow(size).then_some(Form::LoadPacket(size, Addressing::Ind))
        }),
    ];
    families.iter().find_map(|&(prefix, build)| {
        let size = lookup(&SIZES, word.strip_prefix(prefix)?)?;
        build(size)
    })
}

/// `add32` is `add` at 32 bits; a name without the suffix is 64-bit.
fn split_width(word: &str) -> (&str, Width) {
    match word.strip_suffix("32") {
        Some(base) => (base, Width::W32),
        None => (word, Width::W64),
    }
}

/// ALU operations, `neg` and conditional jumps, each at either width.
fn width_form(word: &str) -> Option<Form> {
    let (base, width) = split_width(word);
    if base == "neg" {
        return Some(Form::Neg(width));
    }
    lookup(&ALU_OPS, base)
        .map(|op| Form::Alu(width, op))
        .or_else(|| lookup(&JMP_CONDS, base).map(|cond| Form::Jump(width, cond)))
}

// ---------------------------------------------------------------------------
// Instructions

/// An instruction, and the label its target field should reach.
type Parsed = (Insn, Option<LabelRef>);

fn parse_instruction(mnemonic: Token, ops: &mut Operands) -> Result<Parsed, LineError> {
    let form = form(mnemonic.text).ok_or_else(|| {
        error(
            mnemonic.column,
            AsmErrorKind::UnknownMnemonic(mnemonic.text.to_owned()),
        )
    })?;
    let insn = match form {
        Form::Alu(width, op) => {
            let dst = ops.register()?;
            let src = match op {
                // Sign extension reads a register; there is no immediate form.
                AluOp::Movsx(_) => Source::Reg(ops.register()?),
                _ => ops.source()?,
            };
            Insn::Alu {
                width,
                op,
                dst,
                src,
            }
        }
        Form::Neg(width) => Insn::Neg {
            width,
            dst: ops.register()?,
        },
        Form::Endian(order, bits) => Insn::Endian {
            order,
            bits,
            dst: ops.register()?,
        },
        Form::Load { size, signed } => {
            let dst = ops.register()?;
            let (src, off) = ops.memory()?;
            Insn::Load {
                size,
                signed,
                dst,
                src,
                off,
            }
        }
        Form::StoreImm(size) => store(size, ops, |ops| ops.imm32().map(Source::Imm))?,
        Form::StoreReg(size) => store(size, ops, |ops| ops.register().map(Source::Reg))?,
        Form::Atomic => atomic(ops)?,
        Form::LoadPacket(size, addressing) => {
            let offset = match addressing {
                Addressing::Abs => PacketOffset::Abs,
                Addressing::Ind => PacketOffset::Ind(ops.register()?),
            };
            Insn::LoadPacket {
                size,
                offset,
                imm: ops.imm32()?,
            }
        }
        Form::Jump(width, cond) => {
            let dst = ops.register()?;
            let src = ops.source()?;
            let (off, label) = ops.target::<i16>()?;
            let insn = Insn::Jump {
                width,
                cond,
                dst,
                src,
                off,
            };
            return Ok((insn, label));
        }
        Form::Ja { long } => return ja(long, ops),
        Form::LoadImm64 => return load_imm64(ops),
        Form::Call => return call(ops),
        Form::CallReg => Insn::CallReg(ops.register()?),
        Form::Exit => Insn::Exit,
    };
    Ok((insn, None))
}

/// `st* [dst+off], imm` and `stx* [dst+off], src`.
fn store(
    size: Size,
    ops: &mut Operands,
    value: impl FnOnce(&mut Operands) -> Result<Source, LineError>,
) -> Result<Insn, LineError> {
    let (dst, off) = ops.memory()?;
    let src = value(ops)?;
    Ok(Insn::Store {
        size,
        dst,
        off,
        src,
    })
}

/// `lock [fetch] OP[32] [dst+off], src`.
fn atomic(ops: &mut Operands) -> Result<Insn, LineError> {
    let mut word = ops.next(ATOMIC_OP)?;
    let fetch = word.text == "fetch";
    if fetch {
        word = ops.next(ATOMIC_OP)?;
    }
    let (name, width) = split_width(word.text);
    let op = match name {
        "add" => AtomicOp::Add { fetch },
        "or" => AtomicOp::Or { fetch },
        "and" => AtomicOp::And { fetch },
        "xor" => AtomicOp::Xor { fetch },
        // These always fetch; a written `fetch` only says so.
        "xchg" => AtomicOp::Xchg,
        "cmpxchg" => AtomicOp::Cmpxchg,
        _ => return Err(expected(ATOMIC_OP, word)),
    };
    let size = match width {
        Width::W32 => Size::W,
        Width::W64 => Size::DW,
    };
    let (dst, off) = ops.memory()?;
    let src = ops.register()?;
    Ok(Insn::Atomic {
        size,
        op,
        dst,
        src,
        off,
    })
}

/// `ja` has a 16-bit offset; `ja32` (`gotol`) keeps a 32-bit one in `imm`.
fn ja(long: bool, ops: &mut Operands) -> Result<Parsed, LineError> {
    let (off, label) = if long {
        ops.target::<i32>()?
    } else {
        let (off, label) = ops.target::<i16>()?;
        (i32::from(off), label)
    };
    Ok((Insn::Ja { off, long }, label))
}

/// `lddw dst, VALUE` or `lddw dst, PSEUDO_SOURCE operands...`.
fn load_imm64(ops: &mut Operands) -> Result<Parsed, LineError> {
    let dst = ops.register()?;
    let value = ops.next(LDDW_VALUE)?;
    let Some(kind) = lookup(&PSEUDO_SOURCES, value.text) else {
        let imm = imm64(value)?;
        return Ok((
            Insn::LoadImm64 {
                kind: LoadImm::Imm64,
                dst,
                imm,
            },
            None,
        ));
    };
    // Ids and offsets are 32-bit fields: keep their bit patterns.
    let low_half = |imm: i32| u64::from(imm as u32);
    let (imm, label) = match kind {
        LoadImm::Func => {
            let (off, label) = ops.target::<i32>()?;
            (low_half(off), label)
        }
        LoadImm::MapValue | LoadImm::MapIdxValue => {
            let map = ops.imm32()?;
            let value_offset = ops.imm32()?;
            (low_half(value_offset) << 32 | low_half(map), None)
        }
        _ => (low_half(ops.imm32()?), None),
    };
    Ok((Insn::LoadImm64 { kind, dst, imm }, label))
}

/// `call N`, `call helper N`, `call local TARGET`, `call kfunc N` (or
/// `runtime`), and `call %rN`.
fn call(ops: &mut Operands) -> Result<Parsed, LineError> {
    let first = ops.next(CALL_TARGET)?;
    let target = match first.text {
        _ if first.text.starts_with('%') => return Ok((Insn::CallReg(register(first)?), None)),
        _ if looks_numeric(first.text) => CallTarget::Helper(imm32(first)?),
        "helper" => CallTarget::Helper(ops.imm32()?),
        "kfunc" | "runtime" => CallTarget::Kfunc(ops.imm32()?),
        "local" => {
            let (off, label) = ops.target::<i32>()?;
            return Ok((Insn::Call(CallTarget::Local(off)), label));
        }
        _ => return Err(expected(CALL_TARGET, first)),
    };
    Ok((Insn::Call(target), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Program;
    use crate::asm::{AsmError, Syntax, assemble};
    use AsmErrorKind as K;
    use Width::{W32, W64};
    use proptest::prelude::*;

    /// Checks that each line parses to its one instruction, naming no label.
    #[track_caller]
    fn check(cases: &[(&str, Insn)]) {
        for (line, expected) in cases {
            let parsed = parse_line(line);
            let single = vec![Statement::Insn {
                insn: *expected,
                target: None,
            }];
            assert_eq!(parsed, Ok(single), "`{line}`");
        }
    }

    /// Checks that each line fails at its column, for its reason.
    #[track_caller]
    fn check_errors(cases: &[(&str, usize, AsmErrorKind)]) {
        for (line, column, kind) in cases {
            let expected = LineError {
                column: *column,
                kind: kind.clone(),
            };
            assert_eq!(parse_line(line), Err(expected), "`{line}`");
        }
    }

    /// The statement of an instruction whose target is a label.
    fn to_label(insn: Insn, name: &str, column: usize) -> Statement {
        let target = Some(LabelRef {
            name: name.to_owned(),
            column,
        });
        Statement::Insn { insn, target }
    }

    fn r(n: u8) -> Reg {
        Reg::new(n).unwrap()
    }

    fn expected(what: &'static str, found: &str) -> AsmErrorKind {
        K::Expected {
            expected: what,
            found: found.to_owned(),
        }
    }

    fn too_big(what: &'static str, value: i128, bits: u32) -> AsmErrorKind {
        K::OutOfRange { what, value, bits }
    }

    fn unknown(word: &str) -> AsmErrorKind {
        K::UnknownMnemonic(word.to_owned())
    }

    fn alu(width: Width, op: AluOp, dst: u8, src: Source) -> Insn {
        Insn::Alu {
            width,
            op,
            dst: r(dst),
            src,
        }
    }

    fn load(size: Size, signed: bool, off: i16) -> Insn {
        Insn::Load {
            size,
            signed,
            dst: r(0),
            src: r(1),
            off,
        }
    }

    fn store(size: Size, src: Source) -> Insn {
        Insn::Store {
            size,
            dst: r(10),
            off: -8,
            src,
        }
    }

    fn atomic(size: Size, op: AtomicOp) -> Insn {
        Insn::Atomic {
            size,
            op,
            dst: r(10),
            src: r(1),
            off: -8,
        }
    }

    fn lddw(kind: LoadImm, imm: u64) -> Insn {
        Insn::LoadImm64 {
            kind,
            dst: r(1),
            imm,
        }
    }

    fn jump(width: Width, cond: JmpCond, src: Source, off: i16) -> Insn {
        Insn::Jump {
            width,
            cond,
            dst: r(0),
            src,
            off,
        }
    }

    #[test]
    fn alu_takes_a_register_or_an_immediate_at_either_width() {
        use AluOp::*;
        use Source::{Imm, Reg as R};
        check(&[
            ("add %r0, %r1", alu(W64, Add, 0, R(r(1)))),
            ("add32 %r0, -3", alu(W32, Add, 0, Imm(-3))),
            ("sdiv32 %r2, 7", alu(W32, Sdiv, 2, Imm(7))),
            ("smod %r9, %r10", alu(W64, Smod, 9, R(r(10)))),
            ("arsh32 %r0, 0x10", alu(W32, Arsh, 0, Imm(16))),
            ("mov32 %r0, 0xffffffff", alu(W32, Mov, 0, Imm(-1))),
            ("mov %r0, 0x80000000", alu(W64, Mov, 0, Imm(i32::MIN))),
            ("lsh %r3, -0X8", alu(W64, Lsh, 3, Imm(-8))),
            ("movsx864 %r0, %r1", alu(W64, Movsx(Size::B), 0, R(r(1)))),
            ("movsx1664 %r0, %r1", alu(W64, Movsx(Size::H), 0, R(r(1)))),
            ("movsx3264 %r0, %r1", alu(W64, Movsx(Size::W), 0, R(r(1)))),
            ("movsx832 %r0, %r1", alu(W32, Movsx(Size::B), 0, R(r(1)))),
            ("movsx1632 %r0, %r1", alu(W32, Movsx(Size::H), 0, R(r(1)))),
            (
                "neg32 %r4",
                Insn::Neg {
                    width: W32,
                    dst: r(4),
                },
            ),
            (
                "neg %r4",
                Insn::Neg {
                    width: W64,
                    dst: r(4),
                },
            ),
        ]);
        check_errors(&[
            ("movsx3232 %r0, %r1", 1, unknown("movsx3232")),
            ("movsx864 %r0, 5", 15, expected(REGISTER, "5")),
            (
                "neg %r0, 1",
                10,
                expected("the end of the instruction", "1"),
            ),
        ]);
    }

    #[test]
    fn byte_order_conversions() {
        let endian = |order, bits| Insn::Endian {
            order,
            bits,
            dst: r(0),
        };
        check(&[
            ("le16 %r0", endian(ByteOrder::ToLe, 16)),
            ("be64 %r0", endian(ByteOrder::ToBe, 64)),
            ("swap32 %r0", endian(ByteOrder::Swap, 32)),
            ("bswap16 %r0", endian(ByteOrder::Swap, 16)),
        ]);
        check_errors(&[("be8 %r0", 1, unknown("be8"))]);
    }

    #[test]
    fn loads_and_stores_take_bracketed_addresses() {
        use Source::{Imm, Reg as R};
        check(&[
            ("ldxw %r0, [%r1+4]", load(Size::W, false, 4)),
            ("ldxdw %r0, [%r1]", load(Size::DW, false, 0)),
            ("ldxb %r0, [%r1-8]", load(Size::B, false, -8)),
            ("ldxh\t%r0 , [ %r1 + 0x10 ]", load(Size::H, false, 16)),
            ("ldxw %r0, [%r1-32768]", load(Size::W, false, i16::MIN)),
            ("ldxsh %r0, [%r1-0x2]", load(Size::H, true, -2)),
            ("ldxsw %r0, [%r1]", load(Size::W, true, 0)),
            ("stw [%r10-8], 0x11223344", store(Size::W, Imm(0x11223344))),
            ("stdw [%r10-8], -1", store(Size::DW, Imm(-1))),
            ("stxb [%r10-8], %r1", store(Size::B, R(r(1)))),
            ("stxdw [%r10-8], %r1", store(Size::DW, R(r(1)))),
        ]);
        check_errors(&[
            ("ldxsdw %r0, [%r1]", 1, unknown("ldxsdw")),
            ("stb [%r1], %r2", 12, expected(NUMBER, "%r2")),
            ("stxb [%r1], 2", 13, expected(REGISTER, "2")),
            // Errors inside the brackets point at the part that is wrong.
            ("ldxw %r0, [%r1+32768]", 15, too_big("offset", 32768, 16)),
            ("ldxw %r0, [%r11+4]", 12, K::BadRegister("%r11".into())),
            ("ldxw %r0, [%r1+-4]", 16, expected(NUMBER, "-4")),
            (
                "ldxw %r0, [%r1+4",
                17,
                expected("`]` to close the memory operand", "end of line"),
            ),
            ("ldxw %r0, %r1", 11, expected(MEMORY, "%r1")),
            ("ldxw %r0, []", 12, expected(REGISTER, "nothing")),
        ]);
    }

    #[test]
    fn atomics_read_lock_fetch_and_the_operation() {
        use AtomicOp::*;
        check(&[
            (
                "lock add [%r10-8], %r1",
                atomic(Size::DW, Add { fetch: false }),
            ),
            (
                "lock fetch add32 [%r10-8], %r1",
                atomic(Size::W, Add { fetch: true }),
            ),
            (
                "lock or32 [%r10-8], %r1",
                atomic(Size::W, Or { fetch: false }),
            ),
            (
                "lock fetch and [%r10-8], %r1",
                atomic(Size::DW, And { fetch: true }),
            ),
            (
                "lock fetch xor [%r10-8], %r1",
                atomic(Size::DW, Xor { fetch: true }),
            ),
            ("lock xchg32 [%r10-8], %r1", atomic(Size::W, Xchg)),
            ("lock cmpxchg [%r10-8], %r1", atomic(Size::DW, Cmpxchg)),
        ]);
        check_errors(&[
            (
                "lock fetch sub [%r10-8], %r1",
                12,
                expected(ATOMIC_OP, "sub"),
            ),
            ("lock", 5, expected(ATOMIC_OP, "end of line")),
        ]);
    }

    #[test]
    fn lddw_takes_64_bits_or_a_pseudo_source() {
        use LoadImm::*;
        check(&[
            (
                "lddw %r1, 0x1122334455667788",
                lddw(Imm64, 0x1122334455667788),
            ),
            (
                "lddw %r1, 0xFFFFFFFF80000000",
                lddw(Imm64, 0xffff_ffff_8000_0000),
            ),
            ("lddw %r1, -2", lddw(Imm64, u64::MAX - 1)),
            ("lddw %r1, map_fd 3", lddw(MapFd, 3)),
            ("lddw %r1, map_value 3, 16", lddw(MapValue, 16 << 32 | 3)),
            ("lddw %r1, btf_id 0xffffffff", lddw(BtfId, 0xffff_ffff)),
            ("lddw %r1, map_idx 2", lddw(MapIdx, 2)),
            (
                "lddw %r1, map_idx_value 2 -4",
                lddw(MapIdxValue, 0xffff_fffc_0000_0002),
            ),
            ("lddw %r1, func -3", lddw(Func, 0xffff_fffd)),
        ]);
        assert_eq!(
            parse_line("lddw %r1, func helper"),
            Ok(vec![to_label(lddw(Func, 0), "helper", 16)])
        );
        check_errors(&[
            (
                "lddw %r1, 0x10000000000000000",
                11,
                too_big("immediate", 1 << 64, 64),
            ),
            ("lddw %r1, map_fd", 17, expected(NUMBER, "end of line")),
            (
                "lddw %r1, map_fd 0x100000000",
                18,
                too_big("immediate", 1 << 32, 32),
            ),
            ("lddw %r1, fd 3", 11, expected(LDDW_VALUE, "fd")),
        ]);
    }

    #[test]
    fn legacy_packet_loads() {
        let packet = |size, offset, imm| Insn::LoadPacket { size, offset, imm };
        check(&[
            ("ldabsw 12", packet(Size::W, PacketOffset::Abs, 12)),
            ("ldindh %r1, 2", packet(Size::H, PacketOffset::Ind(r(1)), 2)),
        ]);
        check_errors(&[("ldabsdw 0", 1, unknown("ldabsdw"))]);
    }

    #[test]
    fn jumps_reach_labels_or_relative_slots() {
        use JmpCond::*;
        check(&[
            ("jne %r0, %r1, +3", jump(W64, Ne, Source::Reg(r(1)), 3)),
            (
                "jne32 %r0, 0x80000000, -1",
                jump(W32, Ne, Source::Imm(i32::MIN), -1),
            ),
            ("jset %r0, 1, 4", jump(W64, Set, Source::Imm(1), 4)),
            (
                "ja +2",
                Insn::Ja {
                    off: 2,
                    long: false,
                },
            ),
            (
                "ja32 -70000",
                Insn::Ja {
                    off: -70000,
                    long: true,
                },
            ),
            ("gotol +1", Insn::Ja { off: 1, long: true }),
        ]);
        assert_eq!(
            parse_line("jsle32 %r0, -1, fail"),
            Ok(vec![to_label(
                jump(W32, Sle, Source::Imm(-1), 0),
                "fail",
                17
            )])
        );
        check_errors(&[
            ("ja +32768", 4, too_big("jump offset", 32768, 16)),
            ("jeq %r0, 1, %r2", 13, expected(TARGET, "%r2")),
            ("jeq %r0, x, +1", 10, expected(SOURCE, "x")),
        ]);
    }

    #[test]
    fn calls_name_their_kind() {
        use CallTarget::*;
        check(&[
            ("call 5", Insn::Call(Helper(5))),
            ("call helper 5", Insn::Call(Helper(5))),
            ("call kfunc 1234", Insn::Call(Kfunc(1234))),
            ("call runtime 7", Insn::Call(Kfunc(7))),
            ("call local +3", Insn::Call(Local(3))),
            ("call %r2", Insn::CallReg(r(2))),
            ("callx %r2", Insn::CallReg(r(2))),
            ("exit", Insn::Exit),
        ]);
        assert_eq!(
            parse_line("call local func1"),
            Ok(vec![to_label(Insn::Call(Local(0)), "func1", 12)])
        );
        check_errors(&[("call far 3", 6, expected(CALL_TARGET, "far"))]);
    }

    #[test]
    fn labels_comments_and_blanks() {
        assert_eq!(parse_line(""), Ok(vec![]));
        assert_eq!(parse_line("   # just a comment"), Ok(vec![]));
        assert_eq!(
            parse_line("loop:"),
            Ok(vec![Statement::Label("loop".into())])
        );
        let exit = Statement::Insn {
            insn: Insn::Exit,
            target: None,
        };
        let (a, b) = (Statement::Label("a".into()), Statement::Label("b".into()));
        assert_eq!(parse_line("a: b:exit ; done"), Ok(vec![a, b, exit]));
        check(&[(
            "\tmov %r0,1 // one",
            alu(W64, AluOp::Mov, 0, Source::Imm(1)),
        )]);
        check_errors(&[(
            "1st: exit",
            1,
            expected("a label name like `loop:`", "1st:"),
        )]);
    }

    #[test]
    fn errors_name_the_token_and_its_column() {
        check_errors(&[
            ("  frob %r0", 3, unknown("frob")),
            ("MOV %r0, 1", 1, unknown("MOV")),
            ("mov %r11, 1", 5, K::BadRegister("%r11".into())),
            ("mov r0, 1", 5, expected(REGISTER, "r0")),
            ("mov %r0, 0x1g", 10, K::BadNumber("0x1g".into())),
            (
                "mov %r0, 0x100000000",
                10,
                too_big("immediate", 1 << 32, 32),
            ),
            (
                "mov %r0, -2147483649",
                10,
                too_big("immediate", -(1 << 31) - 1, 32),
            ),
            ("add %r0   # no source", 8, expected(SOURCE, "end of line")),
            ("exit %r0", 6, expected("the end of the instruction", "%r0")),
            // Columns count characters, not bytes: the no-break space is two bytes.
            ("mov\u{a0}%r0, 1x", 10, K::BadNumber("1x".into())),
        ]);
    }

    #[test]
    fn assembled_labels_resolve_and_exit_names_the_first_exit() {
        let text = "jne %r0, 0, exit\nja32 done\nlddw %r1, func done\n\
                    call local done\ndone: mov %r0, 1\nexit\n";
        let program = assemble(text, Syntax::Ubpf).unwrap();
        let insns = program.insns();
        assert_eq!(insns[0], jump(W64, JmpCond::Ne, Source::Imm(0), 5));
        assert_eq!(insns[1], Insn::Ja { off: 3, long: true });
        // lddw takes slots 2 and 3; its distance counts from the first.
        assert_eq!(insns[2], lddw(LoadImm::Func, 2));
        assert_eq!(insns[3], Insn::Call(CallTarget::Local(0)));
        let unknown_label = AsmError {
            line: 1,
            column: 4,
            kind: K::UnknownLabel("nowhere".into()),
        };
        assert_eq!(
            assemble("ja nowhere\nexit", Syntax::Ubpf),
            Err(unknown_label)
        );
    }

    /// The uBPF text of `insn`, written back from the parser's own tables;
    /// `None` for the `lddw` immediates this syntax cannot write (an upper
    /// half on a 32-bit id, which the kernel rejects anyway).
    fn ubpf_text(insn: Insn) -> Option<String> {
        fn name<T: PartialEq + Copy>(table: &[(&'static str, T)], value: T) -> &'static str {
            table
                .iter()
                .find(|(_, v)| *v == value)
                .map(|(n, _)| *n)
                .unwrap()
        }
        let w = |width| if width == Width::W32 { "32" } else { "" };
        let reg = |r: Reg| format!("%r{}", r.number());
        let src = |s| match s {
            Source::Reg(r) => reg(r),
            Source::Imm(imm) => imm.to_string(),
        };
        let mem = |r: Reg, off: i16| format!("[%r{}{off:+}]", r.number());
        Some(match insn {
            Insn::Alu {
                width,
                op: AluOp::Movsx(size),
                dst,
                src: Source::Reg(s),
            } => {
                let movsx = MOVSX
                    .iter()
                    .find(|m| (m.1, m.2) == (width, size))
                    .unwrap()
                    .0;
                format!("{movsx} {}, {}", reg(dst), reg(s))
            }
            Insn::Alu {
                width,
                op,
                dst,
                src: s,
            } => {
                format!(
                    "{}{} {}, {}",
                    name(&ALU_OPS, op),
                    w(width),
                    reg(dst),
                    src(s)
                )
            }
            Insn::Neg { width, dst } => format!("neg{} {}", w(width), reg(dst)),
            Insn::Endian { order, bits, dst } => {
                format!("{}{bits} {}", name(&BYTE_ORDERS, order), reg(dst))
            }
            Insn::Load {
                size,
                signed,
                dst,
                src: s,
                off,
            } => {
                let sx = if signed { "s" } else { "" };
                format!(
                    "ldx{sx}{} {}, {}",
                    name(&SIZES, size),
                    reg(dst),
                    mem(s, off)
                )
            }
            Insn::Store {
                size,
                dst,
                off,
                src: s,
            } => {
                let x = if matches!(s, Source::Reg(_)) { "x" } else { "" };
                format!("st{x}{} {}, {}", name(&SIZES, size), mem(dst, off), src(s))
            }
            Insn::Atomic {
                size,
                op,
                dst,
                src: s,
                off,
            } => {
                let (fetch, op) = match op {
                    AtomicOp::Add { fetch } => (fetch, "add"),
                    AtomicOp::Or { fetch } => (fetch, "or"),
                    AtomicOp::And { fetch } => (fetch, "and"),
                    AtomicOp::Xor { fetch } => (fetch, "xor"),
                    AtomicOp::Xchg => (false, "xchg"),
                    AtomicOp::Cmpxchg => (false, "cmpxchg"),
                };
                let fetch = if fetch { "fetch " } else { "" };
                let w = if size == Size::W { "32" } else { "" };
                format!("lock {fetch}{op}{w} {}, {}", mem(dst, off), reg(s))
            }
            Insn::LoadImm64 {
                kind: LoadImm::Imm64,
                dst,
                imm,
            } => {
                format!("lddw {}, {imm:#x}", reg(dst))
            }
            Insn::LoadImm64 { kind, dst, imm } => {
                let (low, high) = (imm as u32, (imm >> 32) as u32);
                let pseudo = name(&PSEUDO_SOURCES, kind);
                match kind {
                    LoadImm::MapValue | LoadImm::MapIdxValue => {
                        format!("lddw {}, {pseudo} {low} {high}", reg(dst))
                    }
                    _ if high != 0 => return None,
                    LoadImm::Func => format!("lddw {}, func {:+}", reg(dst), low as i32),
                    _ => format!("lddw {}, {pseudo} {low}", reg(dst)),
                }
            }
            Insn::LoadPacket {
                size,
                offset: PacketOffset::Abs,
                imm,
            } => {
                format!("ldabs{} {imm}", name(&SIZES, size))
            }
            Insn::LoadPacket {
                size,
                offset: PacketOffset::Ind(r),
                imm,
            } => {
                format!("ldind{} {}, {imm}", name(&SIZES, size), reg(r))
            }
            Insn::Jump {
                width,
                cond,
                dst,
                src: s,
                off,
            } => {
                format!(
                    "{}{} {}, {}, {off:+}",
                    name(&JMP_CONDS, cond),
                    w(width),
                    reg(dst),
                    src(s)
                )
            }
            Insn::Ja { off, long } => format!("{} {off:+}", if long { "ja32" } else { "ja" }),
            Insn::Call(CallTarget::Helper(id)) => format!("call {id}"),
            Insn::Call(CallTarget::Local(off)) => format!("call local {off:+}"),
            Insn::Call(CallTarget::Kfunc(id)) => format!("call kfunc {id}"),
            Insn::CallReg(r) => format!("callx {}", reg(r)),
            Insn::Exit => "exit".to_owned(),
        })
    }

    /// Words the token soup is made of: every mnemonic family, good and bad
    /// registers and numbers, and punctuation.
    const SOUP: &[&str] = &[
        "add",
        "add32",
        "mov",
        "movsx864",
        "movsx1632",
        "neg",
        "le16",
        "be64",
        "swap32",
        "ldxw",
        "ldxsb",
        "stdw",
        "stxh",
        "lock",
        "fetch",
        "xchg",
        "cmpxchg32",
        "lddw",
        "map_value",
        "func",
        "ldabsb",
        "ldindw",
        "ja",
        "ja32",
        "jne",
        "jsle32",
        "call",
        "local",
        "helper",
        "kfunc",
        "callx",
        "exit",
        "%r0",
        "%r10",
        "%r11",
        "%r",
        "%",
        "0",
        "-1",
        "+2",
        "0x",
        "0xffffffffffffffff",
        "-0x80000001",
        "99999999999999999999999999999999999999999",
        "[",
        "]",
        "[%r1+4]",
        "[%r10-8",
        "[+]",
        ",",
        ":",
        "l:",
        "exit:",
        "#",
        "é",
        "\t",
    ];

    proptest! {
        /// Any text: the parser returns, whatever it is given.
        #[test]
        fn random_lines_never_panic(line in "\\PC*") {
            let _ = parse_line(&line);
            let _ = assemble(&line, Syntax::Ubpf);
        }

        /// Every instruction that decodes from plausible slots can be
        /// written in this syntax, and reads back as itself.
        #[test]
        fn every_decodable_insn_reads_back(
            code: u8, regs in 0u8..0xab, off: i16, imm: i32, imm2: i32
        ) {
            let first = crate::Slot { code, dst: regs & 0xf, src: regs >> 4, off, imm };
            let slots = [first, crate::Slot { imm: imm2, ..Default::default() }];
            if let Ok((insn, _)) = Insn::decode(&slots)
                && let Some(text) = ubpf_text(insn)
            {
                let parsed = parse_line(&text);
                prop_assert_eq!(parsed, Ok(vec![Statement::Insn { insn, target: None }]), "{}", text);
            }
        }

        /// Plausible soup; what assembles must encode to slots that decode
        /// to the same program, so the parser never builds an invalid Insn.
        #[test]
        fn token_soup_never_panics_and_assembles_only_valid_insns(
            lines in prop::collection::vec(prop::collection::vec(prop::sample::select(SOUP), 0..6), 1..5)
        ) {
            let text = lines.iter().map(|words| words.join(" ")).collect::<Vec<_>>().join("\n");
            if let Ok(program) = assemble(&text, Syntax::Ubpf) {
                prop_assert_eq!(Program::from_slots(&program.slots()), Ok(program));
            }
        }
    }
}
