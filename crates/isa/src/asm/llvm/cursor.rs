//! The reading side of the LLVM-syntax parser: a cursor over one line's
//! tokens, and readers for the operands every statement shares (registers,
//! numbers that must fit a field, addresses, branch targets), each failing
//! with the column of the token at fault.

use super::lexer::{Token, TokenKind, number_value};
use crate::asm::{AsmErrorKind, LabelRef, LineError};
use crate::disasm::type_name;
use crate::insn::{Reg, Size, Source, Width};

/// The register a statement assigns to, and where it was written.
#[derive(Clone, Copy)]
pub(super) struct Destination<'a> {
    pub reg: Reg,
    pub width: Width,
    pub token: Token<'a>,
}

impl Destination<'_> {
    /// Fails at the destination unless `ok`: `what` says what it must be.
    pub(super) fn require(&self, ok: bool, what: &'static str) -> Result<(), LineError> {
        if ok {
            Ok(())
        } else {
            Err(expected_at(self.token, what))
        }
    }

    /// Fails at the destination unless it is a 64-bit register (`rN`).
    pub(super) fn require_64(&self, what: &'static str) -> Result<(), LineError> {
        self.require(self.width == Width::W64, what)
    }
}

/// The tokens of one line and how far the grammar has read them.
pub(super) struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
    /// The column just after the last token, for "found end of line".
    end_column: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(tokens: Vec<Token<'a>>) -> Parser<'a> {
        let end_column = tokens.last().map_or(1, |t| t.column + t.text.len());
        Parser {
            tokens,
            pos: 0,
            end_column,
        }
    }

    /// Steps over the next token.
    pub(super) fn advance(&mut self) {
        self.pos += 1;
    }

    /// The token `n` places ahead (0 is the next one).
    pub(super) fn peek_nth(&self, n: usize) -> Option<Token<'a>> {
        self.tokens.get(self.pos + n).copied()
    }

    // --- Operands ---

    /// `(u32 *)` before an address: the size, whether it is signed, and
    /// the type's token.
    pub(super) fn memory_type(&mut self) -> Result<(Size, bool, Token<'a>), LineError> {
        self.expect("(", "`(`")?;
        let what = "a type such as `u32`";
        let token = self.next(what)?;
        let (size, signed) = Size::ALL
            .into_iter()
            .flat_map(|size| [(size, false), (size, true)])
            .find(|&(size, signed)| type_name(size, signed) == token.text)
            .ok_or_else(|| expected_at(token, what))?;
        self.expect("*", "`*`")?;
        self.expect(")", "`)`")?;
        Ok((size, signed, token))
    }

    /// `(u32 *)` or `(u64 *)` of an atomic operation.
    pub(super) fn atomic_type(&mut self) -> Result<Size, LineError> {
        match self.memory_type()? {
            (size @ (Size::W | Size::DW), false, _) => Ok(size),
            (_, _, token) => Err(expected_at(token, "`u32` or `u64` (atomic operations)")),
        }
    }

    /// `(r1 + 4)`, `(r10 - 8)`, `(r1)`.
    pub(super) fn parenthesized_address(&mut self) -> Result<(Reg, i16), LineError> {
        self.expect("(", "`(`")?;
        let base = self.register_at(Width::W64)?;
        let off = self.offset()?;
        self.expect(")", "`)`")?;
        Ok((base, off))
    }

    /// The `+ 4` or `- 8` after a base register; zero when there is none.
    pub(super) fn offset(&mut self) -> Result<i16, LineError> {
        match self.displacement()? {
            // `fit_signed` checked the 16 bits.
            Some((value, column)) => Ok(fit_signed(value, column, 16, "offset")? as i16),
            None => Ok(0),
        }
    }

    /// `+ n` or `- n` as a signed value, when the next token is a sign.
    pub(super) fn displacement(&mut self) -> Result<Option<(i128, usize)>, LineError> {
        if !self.next_is_sign(0) {
            return Ok(None);
        }
        self.signed_number("a number").map(Some)
    }

    /// `+3` or `-0x10`: a 32-bit signed offset such as `pc+3`.
    pub(super) fn relative_offset(&mut self, what: &'static str) -> Result<i32, LineError> {
        let (value, column) = self.signed_number("`+` or `-` and an offset")?;
        // `fit_signed` checked the 32 bits.
        Ok(fit_signed(value, column, 32, what)? as i32)
    }

    /// A register or a 32-bit immediate, the second operand of ALU and JMP.
    pub(super) fn source(&mut self, width: Width) -> Result<Source, LineError> {
        match self.peek() {
            Some(token) if is_register(token) => Ok(Source::Reg(self.register_at(width)?)),
            _ => Ok(Source::Imm(self.imm32("immediate")?)),
        }
    }

    /// An offset that fits in `bits`, or a label (offset 0 until the label
    /// is resolved). Skips the `<sym+0x..>` that `llvm-objdump` appends.
    pub(super) fn branch_target(
        &mut self,
        bits: u32,
        what: &'static str,
    ) -> Result<(i64, Option<LabelRef>), LineError> {
        let target = match self.label_use() {
            Some(label) => (0, Some(label)),
            None => {
                let (value, column) = self.signed_number("an offset or a label")?;
                (fit_signed(value, column, bits, what)?, None)
            }
        };
        self.skip_symbol_annotation();
        Ok(target)
    }

    /// A word that names a label, where a label may stand.
    pub(super) fn label_use(&mut self) -> Option<LabelRef> {
        let token = self.peek()?;
        if token.kind != TokenKind::Word || is_register(token) {
            return None;
        }
        self.pos += 1;
        Some(LabelRef {
            name: token.text.to_owned(),
            column: token.column,
        })
    }

    /// `name:` at the start of a statement.
    pub(super) fn label_definition(&mut self) -> Option<&'a str> {
        let token = self.peek()?;
        if token.kind != TokenKind::Word || !self.peek_nth_is(1, ":") {
            return None;
        }
        self.pos += 2;
        Some(token.text)
    }

    /// Any register, with the width its name gives, and its token.
    pub(super) fn register(&mut self) -> Result<(Reg, Width, Token<'a>), LineError> {
        let Some(token) = self.peek() else {
            return Err(self.expected_here("a register"));
        };
        match parse_register(token) {
            Some(reg) => {
                let (reg, width) = reg?;
                self.pos += 1;
                Ok((reg, width, token))
            }
            None => Err(self.expected_here("a register")),
        }
    }

    /// A register that must have `width`: `rN` for 64 bits, `wN` for 32.
    pub(super) fn register_at(&mut self, width: Width) -> Result<Reg, LineError> {
        let (reg, actual, token) = self.register()?;
        if actual == width {
            Ok(reg)
        } else {
            Err(expected_at(token, width_name(width)))
        }
    }

    /// The destination register again, as in `r0 = -r0`.
    pub(super) fn same_register(
        &mut self,
        dst: Destination,
        what: &'static str,
    ) -> Result<(), LineError> {
        let (reg, width, token) = self.register()?;
        if reg == dst.reg && width == dst.width {
            Ok(())
        } else {
            Err(expected_at(token, what))
        }
    }

    /// A 32-bit immediate, signed or up to `0xffffffff`.
    pub(super) fn imm32(&mut self, what: &'static str) -> Result<i32, LineError> {
        let (value, column) = self.signed_number("a number")?;
        fit_imm32(value, column, what)
    }

    pub(super) fn u32(&mut self, what: &'static str) -> Result<u32, LineError> {
        let (value, column) = self.unsigned_number("a number")?;
        u32::try_from(value).map_err(|_| out_of_range(value, column, what, 32))
    }

    /// A number with an optional sign: `3`, `+3`, `-0x10`, `- 1`.
    pub(super) fn signed_number(
        &mut self,
        expected: &'static str,
    ) -> Result<(i128, usize), LineError> {
        let column = self.column();
        let negative = self.peek_is("-");
        if self.next_is_sign(0) {
            self.pos += 1;
        }
        let (value, _) = self.unsigned_number(expected)?;
        Ok((if negative { -value } else { value }, column))
    }

    pub(super) fn unsigned_number(
        &mut self,
        expected: &'static str,
    ) -> Result<(i128, usize), LineError> {
        let Some(token) = self.peek().filter(|t| t.kind == TokenKind::Number) else {
            return Err(self.expected_here(expected));
        };
        let value = number_value(token.text)
            .and_then(|v| i128::try_from(v).ok())
            .ok_or_else(|| LineError {
                column: token.column,
                kind: AsmErrorKind::BadNumber(token.text.to_owned()),
            })?;
        self.pos += 1;
        Ok((value, token.column))
    }

    // --- Line structure ---

    /// `   12:\tb7 00 00 00 01 00 00 00\t`: a listing line's slot and bytes.
    pub(super) fn skip_listing_prefix(&mut self) {
        let is_listing =
            self.peek().is_some_and(|t| t.kind == TokenKind::Number) && self.peek_nth_is(1, ":");
        if !is_listing {
            return;
        }
        self.pos += 2;
        while self.peek().is_some_and(|t| is_hex_byte(t.text)) {
            self.pos += 1;
        }
    }

    /// `<.text+0x2e0>` after a branch target in `llvm-objdump` output.
    pub(super) fn skip_symbol_annotation(&mut self) {
        if !self.peek_is("<") {
            return;
        }
        let rest = self.tokens.get(self.pos..).unwrap_or_default();
        if let Some(close) = rest.iter().position(|t| t.text == ">") {
            self.pos += close + 1;
        }
    }

    pub(super) fn end_of_line(&self) -> Result<(), LineError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.expected_here("the end of the line")),
        }
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    // --- Token access ---

    pub(super) fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).copied()
    }

    pub(super) fn peek_is(&self, text: &str) -> bool {
        self.peek_nth_is(0, text)
    }

    pub(super) fn peek_nth_is(&self, n: usize, text: &str) -> bool {
        self.tokens
            .get(self.pos + n)
            .is_some_and(|t| t.text == text)
    }

    /// Whether the token `n` ahead is `+` or `-`.
    pub(super) fn next_is_sign(&self, n: usize) -> bool {
        self.peek_nth_is(n, "+") || self.peek_nth_is(n, "-")
    }

    pub(super) fn next(&mut self, expected: &'static str) -> Result<Token<'a>, LineError> {
        let token = self.peek().ok_or_else(|| self.expected_here(expected))?;
        self.pos += 1;
        Ok(token)
    }

    pub(super) fn eat(&mut self, text: &str) -> bool {
        let found = self.peek_is(text);
        if found {
            self.pos += 1;
        }
        found
    }

    pub(super) fn expect(&mut self, text: &str, expected: &'static str) -> Result<(), LineError> {
        if self.eat(text) {
            Ok(())
        } else {
            Err(self.expected_here(expected))
        }
    }

    pub(super) fn column(&self) -> usize {
        self.peek().map_or(self.end_column, |t| t.column)
    }

    /// "expected X, found Y" at the next token, or at the end of the line.
    pub(super) fn expected_here(&self, what: &'static str) -> LineError {
        let found = self.peek().map_or("end of line", |t| t.text);
        LineError {
            column: self.column(),
            kind: expected(what, found),
        }
    }
}

/// `Some` when the token is written like a register (`r` or `w` and
/// digits), with an error when there is no such register (`r11`).
fn parse_register(token: Token) -> Option<Result<(Reg, Width), LineError>> {
    if token.kind != TokenKind::Word {
        return None;
    }
    let (width, digits) = match token.text.split_at_checked(1)? {
        ("r", digits) => (Width::W64, digits),
        ("w", digits) => (Width::W32, digits),
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let reg = digits.parse::<u8>().ok().and_then(Reg::new);
    Some(reg.map(|reg| (reg, width)).ok_or_else(|| LineError {
        column: token.column,
        kind: AsmErrorKind::BadRegister(token.text.to_owned()),
    }))
}

pub(super) fn is_register(token: Token) -> bool {
    parse_register(token).is_some()
}

fn is_hex_byte(text: &str) -> bool {
    text.len() == 2 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(super) fn width_name(width: Width) -> &'static str {
    match width {
        Width::W32 => "a 32-bit register (`wN`)",
        Width::W64 => "a 64-bit register (`rN`)",
    }
}

pub(super) fn expected(what: &'static str, found: &str) -> AsmErrorKind {
    AsmErrorKind::Expected {
        expected: what,
        found: found.to_owned(),
    }
}

pub(super) fn expected_at(token: Token, what: &'static str) -> LineError {
    LineError {
        column: token.column,
        kind: expected(what, token.text),
    }
}

pub(super) fn out_of_range(value: i128, column: usize, what: &'static str, bits: u32) -> LineError {
    LineError {
        column,
        kind: AsmErrorKind::OutOfRange { what, value, bits },
    }
}

/// A 32-bit immediate field: any `i32`, or a `u32` taken as its bits, as
/// llvm-mc does.
pub(super) fn fit_imm32(value: i128, column: usize, what: &'static str) -> Result<i32, LineError> {
    if (i128::from(i32::MIN)..=i128::from(u32::MAX)).contains(&value) {
        Ok(value as u32 as i32)
    } else {
        Err(out_of_range(value, column, what, 32))
    }
}

/// The 64-bit immediate of `lddw`: any `i64` or `u64`.
pub(super) fn fit_imm64(value: i128, column: usize) -> Result<u64, LineError> {
    if (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&value) {
        Ok(value as u64)
    } else {
        Err(out_of_range(value, column, "64-bit immediate", 64))
    }
}

/// A signed field of `bits` bits (offsets): no unsigned wrap-around.
fn fit_signed(value: i128, column: usize, bits: u32, what: &'static str) -> Result<i64, LineError> {
    let limit = 1i128 << (bits - 1);
    if (-limit..limit).contains(&value) {
        Ok(value as i64)
    } else {
        Err(out_of_range(value, column, what, bits))
    }
}
