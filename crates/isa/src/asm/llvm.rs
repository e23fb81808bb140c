//! The LLVM/kernel assembly syntax, one line at a time.
//!
//! Reads everything [`crate::disasm`] prints, including the forms it invents
//! where `llvm-objdump` has none (`call pc+0x3`, `call kfunc[btf_id:0x5]`,
//! `r1 = map[fd:0x3][0]+0x4 ll`, ...; the table is in [`crate::disasm`]), and
//! what people write for llvm-mc:
//!
//! - numbers in decimal, `0x` hex, `0b` binary or, as llvm-mc, octal with a
//!   leading `0`; 32-bit immediates from `-0x80000000` to `0xffffffff`
//!   (`r0 = 0xffffffff` is `r0 = -1`, as in llvm-mc);
//! - branch targets as offsets (`goto +3`, `goto -0x1`, `goto 3`) or labels
//!   (`goto LBB0_1`, `call func`, `r1 = func ll`), labels defined with
//!   `name:`, alone or before an instruction;
//! - `wN` sources for 32-bit loads, stores and atomics
//!   (`w0 = *(u8 *)(r1 + 1)`, `*(u32 *)(r10 - 8) = w1`);
//! - comments after `;`, `#` or `//` (llvm-mc reads `;` as a statement
//!   separator; here it starts a comment, as in `llvm-objdump -S` output);
//! - lines of a [`crate::disasm::disassemble`] or `llvm-objdump -d` listing:
//!   the `12:` slot index and the instruction bytes are skipped, and so is
//!   the `<.text+0x2e0>` after a branch target (the text, not the bytes,
//!   says what the instruction is);
//! - the directives of `clang -S` output that emit nothing (`.text`,
//!   `.section`, `.globl`, `.p2align`, `.type`, `.size`, ...); every
//!   instruction of the text lands in the one program.

mod cursor;
mod lexer;

use super::{AsmErrorKind, LabelRef, LineError, Statement};
use crate::disasm::{
    COMPOUND_ALU_OPS, MAP_KEYS, VAR_FORM, atomic_alu_ops, atomic_fetch_name, atomic_lock_operator,
    atomic_width, compound_operator, condition_operator, exchange_suffix, order_name, type_name,
};
use crate::insn::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpCond, LoadImm, PacketOffset, Reg, Size,
    Source, Width,
};
use cursor::{
    Destination, Parser, expected_at, fit_imm32, fit_imm64, is_register, out_of_range, width_name,
};
use lexer::{Token, TokenKind, tokenize};

/// Directives that emit no bytes; a line starting with one is skipped.
const SILENT_DIRECTIVES: [&str; 12] = [
    ".text",
    ".section",
    ".file",
    ".globl",
    ".global",
    ".p2align",
    ".align",
    ".type",
    ".size",
    ".addrsig",
    ".addrsig_sym",
    ".ident",
];

pub(crate) fn parse_line(line: &str) -> Result<Vec<Statement>, LineError> {
    let first_word = line.split_whitespace().next().unwrap_or_default();
    if SILENT_DIRECTIVES.contains(&first_word) {
        return Ok(Vec::new());
    }
    let mut parser = Parser::new(tokenize(line)?);
    parser.skip_listing_prefix();
    let mut statements = Vec::new();
    while let Some(label) = parser.label_definition() {
        statements.push(Statement::Label(label.to_owned()));
    }
    if !parser.at_end() {
        statements.push(parser.statement()?);
        parser.end_of_line()?;
    }
    Ok(statements)
}

impl Parser<'_> {
    // --- Statements, by their first token ---

    fn statement(&mut self) -> Result<Statement, LineError> {
        let Some(first) = self.peek() else {
            return Err(self.expected_here("an instruction"));
        };
        if is_register(first) {
            return self.assignment();
        }
        self.advance();
        let insn = match first.text {
            "exit" => Insn::Exit,
            "goto" => return self.ja(false),
            "gotol" => return self.ja(true),
            "if" => return self.jump(),
            "call" => return self.call(),
            "callx" => Insn::CallReg(self.register_at(Width::W64)?),
            "lock" => self.lock()?,
            "*" => self.store()?,
            _ => return Err(unknown_mnemonic(first)),
        };
        Ok(no_label(insn))
    }

    /// `goto +3`, `gotol LBB0_1`.
    fn ja(&mut self, long: bool) -> Result<Statement, LineError> {
        let (bits, what) = if long {
            (32, "gotol offset")
        } else {
            (16, "goto offset")
        };
        let (off, target) = self.branch_target(bits, what)?;
        let off = off as i32; // `branch_target` checked the bits
        Ok(Statement::Insn {
            insn: Insn::Ja { off, long },
            target,
        })
    }

    /// `if r1 s> r2 goto +3`, `if w1 == 5 goto LBB0_1`.
    fn jump(&mut self) -> Result<Statement, LineError> {
        let (dst, width, _) = self.register()?;
        let what = "a comparison such as `==` or `s>`";
        let token = self.next(what)?;
        let cond = JmpCond::ALL
            .into_iter()
            .find(|&c| condition_operator(c) == token.text)
            .ok_or_else(|| expected_at(token, what))?;
        let src = self.source(width)?;
        self.expect("goto", "`goto`")?;
        let (off, target) = self.branch_target(16, "jump offset")?;
        let off = off as i16; // `branch_target` checked the bits
        Ok(Statement::Insn {
            insn: Insn::Jump {
                width,
                cond,
                dst,
                src,
                off,
            },
            target,
        })
    }

    /// `call 5` (helper), `call pc+3` or `call name` (local function),
    /// `call kfunc[btf_id:7]`.
    fn call(&mut self) -> Result<Statement, LineError> {
        let target = if self.peek_is("pc") && self.next_is_sign(1) {
            self.advance();
            CallTarget::Local(self.relative_offset("call offset")?)
        } else if self.peek_is("kfunc") && self.peek_nth_is(1, "[") {
            self.advance();
            self.advance();
            self.expect("btf_id", "`btf_id`")?;
            self.expect(":", "`:`")?;
            let id = self.imm32("kfunc id")?;
            self.expect("]", "`]`")?;
            CallTarget::Kfunc(id)
        } else if let Some(label) = self.label_use() {
            return Ok(Statement::Insn {
                insn: Insn::Call(CallTarget::Local(0)),
                target: Some(label),
            });
        } else {
            CallTarget::Helper(self.imm32("helper id")?)
        };
        Ok(no_label(Insn::Call(target)))
    }

    /// `lock *(u64 *)(r1 + 0) += r2`.
    fn lock(&mut self) -> Result<Insn, LineError> {
        self.expect("*", "`*`")?;
        let size = self.atomic_type()?;
        let (dst, off) = self.parenthesized_address()?;
        let what = "`+=`, `|=`, `&=` or `^=`";
        let token = self.next(what)?;
        let op = atomic_alu_ops(false)
            .into_iter()
            .find(|&op| atomic_lock_operator(op) == token.text)
            .ok_or_else(|| expected_at(token, what))?;
        let (src, width, token) = self.register()?;
        check_atomic_width(size, width, token)?;
        Ok(Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        })
    }

    /// `*(u32 *)(r10 - 8) = r1`, `*(u8 *)(r1 + 0) = 5`.
    fn store(&mut self) -> Result<Insn, LineError> {
        let (size, signed, type_token) = self.memory_type()?;
        if signed {
            return Err(expected_at(
                type_token,
                "an unsigned type (`u8` to `u64`) for a store",
            ));
        }
        let (dst, off) = self.parenthesized_address()?;
        self.expect("=", "`=`")?;
        let src = match self.peek() {
            Some(token) if is_register(token) => {
                let (reg, width, token) = self.register()?;
                check_memory_width(width, size, false, token)?;
                Source::Reg(reg)
            }
            _ => Source::Imm(self.imm32("stored immediate")?),
        };
        Ok(Insn::Store {
            size,
            dst,
            off,
            src,
        })
    }

    /// Everything that starts with a register: `r0 = ...`, `r0 += ...`.
    fn assignment(&mut self) -> Result<Statement, LineError> {
        let (reg, width, token) = self.register()?;
        let dst = Destination { reg, width, token };
        let what = "`=` or an operator such as `+=`";
        let token = self.next(what)?;
        if token.text == "=" {
            return self.assigned_value(dst);
        }
        let op = COMPOUND_ALU_OPS
            .into_iter()
            .find(|&op| compound_operator(op) == Some(token.text))
            .ok_or_else(|| expected_at(token, what))?;
        let src = self.source(width)?;
        Ok(no_label(Insn::Alu {
            width,
            op,
            dst: reg,
            src,
        }))
    }

    /// The right-hand side of `dst = ...`.
    fn assigned_value(&mut self, dst: Destination) -> Result<Statement, LineError> {
        let Some(next) = self.peek() else {
            return Err(self.expected_here("a value"));
        };
        let then_register = self.peek_nth(1).is_some_and(is_register);
        let insn = match next.text {
            "-" if then_register => self.negation(dst)?,
            "(" => self.sign_extending_move(dst)?,
            "*" => self.load(dst)?,
            "map" | "var" | "func" if self.peek_nth_is(1, "[") => return self.pseudo_load(dst),
            _ if is_register(next) => Insn::Alu {
                width: dst.width,
                op: AluOp::Mov,
                dst: dst.reg,
                src: Source::Reg(self.register_at(dst.width)?),
            },
            _ if next.kind == TokenKind::Word => return self.named_value(dst, next),
            _ => return self.immediate_move(dst),
        };
        Ok(no_label(insn))
    }

    /// `dst = NAME ...`: a byte swap, a fetching atomic, or a function address.
    fn named_value(&mut self, dst: Destination, name: Token) -> Result<Statement, LineError> {
        if let Some(swap) = byte_order(name.text) {
            self.advance();
            return self.endian(swap, dst).map(no_label);
        }
        if let Some(name) = name.text.strip_prefix("atomic_fetch_") {
            let op = atomic_alu_ops(true)
                .into_iter()
                .find(|&op| atomic_fetch_name(op) == name);
            if let Some(op) = op {
                self.advance();
                return self.fetch_alu(op, dst).map(no_label);
            }
        }
        for op in [AtomicOp::Xchg, AtomicOp::Cmpxchg] {
            let size = name
                .text
                .strip_prefix(atomic_fetch_name(op))
                .and_then(exchange_size);
            if let Some(size) = size {
                self.advance();
                return self.exchange(op, size, dst).map(no_label);
            }
        }
        self.function_address(dst)
    }

    /// `r0 = -r0`: negation happens in place.
    fn negation(&mut self, dst: Destination) -> Result<Insn, LineError> {
        self.advance(); // -
        self.same_register(dst, "the destination register (negation is in place)")?;
        Ok(Insn::Neg {
            width: dst.width,
            dst: dst.reg,
        })
    }

    /// `r0 = (s8)r1`, `w0 = (s16)w1`.
    fn sign_extending_move(&mut self, dst: Destination) -> Result<Insn, LineError> {
        self.expect("(", "`(`")?;
        let (sizes, what) = match dst.width {
            Width::W32 => (&[Size::B, Size::H][..], "`s8` or `s16` (a 32-bit move)"),
            Width::W64 => (&[Size::B, Size::H, Size::W][..], "`s8`, `s16` or `s32`"),
        };
        let token = self.next(what)?;
        let from = sizes
            .iter()
            .copied()
            .find(|&size| type_name(size, true) == token.text)
            .ok_or_else(|| expected_at(token, what))?;
        self.expect(")", "`)`")?;
        Ok(Insn::Alu {
            width: dst.width,
            op: AluOp::Movsx(from),
            dst: dst.reg,
            src: Source::Reg(self.register_at(dst.width)?),
        })
    }

    /// `r0 = *(u32 *)(r1 + 4)`, `r0 = *(s8 *)(r1 - 1)`, `r0 = *(u8 *)skb[r1]`.
    fn load(&mut self, dst: Destination) -> Result<Insn, LineError> {
        self.expect("*", "`*`")?;
        let (size, signed, type_token) = self.memory_type()?;
        if self.peek_is("skb") {
            return self.packet_load(dst, size, signed, type_token);
        }
        if signed && size == Size::DW {
            return Err(expected_at(
                type_token,
                "`s8`, `s16` or `s32` (sign-extending loads)",
            ));
        }
        check_memory_width(dst.width, size, signed, dst.token)?;
        let (src, off) = self.parenthesized_address()?;
        Ok(Insn::Load {
            size,
            signed,
            dst: dst.reg,
            src,
            off,
        })
    }

    /// `r0 = *(u16 *)skb[12]`, `r0 = *(u8 *)skb[r1 + 14]`: legacy packet
    /// loads, which always write r0.
    fn packet_load(
        &mut self,
        dst: Destination,
        size: Size,
        signed: bool,
        type_token: Token,
    ) -> Result<Insn, LineError> {
        if signed || size == Size::DW {
            return Err(expected_at(
                type_token,
                "`u8`, `u16` or `u32` (packet loads)",
            ));
        }
        let is_r0 = dst.reg == Reg::R0 && dst.width == Width::W64;
        dst.require(is_r0, "`r0` (packet loads always write r0)")?;
        self.advance(); // skb
        self.expect("[", "`[`")?;
        let (offset, imm) = match self.peek() {
            Some(token) if is_register(token) => {
                let base = self.register_at(Width::W64)?;
                let imm = match self.displacement()? {
                    Some((value, column)) => fit_imm32(value, column, "packet offset")?,
                    None => 0,
                };
                (PacketOffset::Ind(base), imm)
            }
            _ => (PacketOffset::Abs, self.imm32("packet offset")?),
        };
        self.expect("]", "`]`")?;
        Ok(Insn::LoadPacket { size, offset, imm })
    }

    /// `r0 = be16 r0`, `r0 = bswap64 r0`: conversion in place.
    fn endian(
        &mut self,
        (order, bits): (ByteOrder, u8),
        dst: Destination,
    ) -> Result<Insn, LineError> {
        dst.require_64("a 64-bit register (`rN`): byte swaps are written on `rN`")?;
        self.same_register(dst, "the destination register (swaps are in place)")?;
        Ok(Insn::Endian {
            order,
            bits,
            dst: dst.reg,
        })
    }

    /// `r0 = atomic_fetch_add((u64 *)(r1 + 0), r0)`, after the name.
    fn fetch_alu(&mut self, op: AtomicOp, dst: Destination) -> Result<Insn, LineError> {
        self.expect("(", "`(`")?;
        let size = self.atomic_type()?;
        let (base, off) = self.parenthesized_address()?;
        self.expect(",", "`,`")?;
        self.same_register(dst, "the destination register (it receives the old value)")?;
        self.expect(")", "`)`")?;
        check_atomic_width(size, dst.width, dst.token)?;
        Ok(Insn::Atomic {
            size,
            op,
            dst: base,
            src: dst.reg,
            off,
        })
    }

    /// `r0 = xchg_64(r1 + 0, r0)`, `w0 = cmpxchg32_32(r1 + 0, w0, w2)`,
    /// after the name.
    fn exchange(&mut self, op: AtomicOp, size: Size, dst: Destination) -> Result<Insn, LineError> {
        let width = atomic_width(size);
        dst.require(dst.width == width, width_name(width))?;
        self.expect("(", "`(`")?;
        let base = self.register_at(Width::W64)?;
        let off = self.offset()?;
        self.expect(",", "`,`")?;
        let src = if op == AtomicOp::Cmpxchg {
            dst.require(
                dst.reg == Reg::R0,
                "`r0` (cmpxchg returns the old value in r0)",
            )?;
            self.same_register(dst, "`r0` (cmpxchg compares with r0)")?;
            self.expect(",", "`,`")?;
            self.register_at(width)?
        } else {
            self.same_register(dst, "the destination register (it receives the old value)")?;
            dst.reg
        };
        self.expect(")", "`)`")?;
        Ok(Insn::Atomic {
            size,
            op,
            dst: base,
            src,
            off,
        })
    }

    /// `r1 = map[fd:3] ll`, `r1 = map[idx:0][0]+8 ll`, `r1 = var[btf_id:7] ll`,
    /// `r1 = func[pc+3] ll`, each with an optional `+high` half.
    fn pseudo_load(&mut self, dst: Destination) -> Result<Statement, LineError> {
        dst.require_64("a 64-bit register (`rN`) for `ll`")?;
        let name = self.next("a pseudo source")?;
        self.expect("[", "`[`")?;
        let mut target = None;
        let (mut kind, low) = match name.text {
            "map" => self.map_key()?,
            "func" => {
                let (rel, label) = self.function_target()?;
                target = label;
                (LoadImm::Func, rel as u32)
            }
            _ => {
                let (_, key) = VAR_FORM;
                self.expect(key, "`btf_id`")?;
                self.expect(":", "`:`")?;
                (LoadImm::BtfId, self.u32("BTF id")?)
            }
        };
        self.expect("]", "`]`")?;
        if self.peek_is("[") {
            kind = self.map_value(kind)?;
        }
        let high = if self.peek_is("+") && target.is_some() {
            // The label fix-up writes the whole immediate.
            return Err(self.expected_here("`ll` (a label leaves no second half)"));
        } else if self.eat("+") {
            self.u32("second half of the immediate")?
        } else {
            0
        };
        self.expect("ll", "`ll`")?;
        let imm = u64::from(low) | (u64::from(high) << 32);
        Ok(Statement::Insn {
            insn: Insn::LoadImm64 {
                kind,
                dst: dst.reg,
                imm,
            },
            target,
        })
    }

    /// `fd:3` or `idx:3` inside `map[...]`.
    fn map_key(&mut self) -> Result<(LoadImm, u32), LineError> {
        let what = "`fd` or `idx`";
        let token = self.next(what)?;
        let &(_, kind, _) = MAP_KEYS
            .iter()
            .find(|(key, _, _)| *key == token.text)
            .ok_or_else(|| expected_at(token, what))?;
        self.expect(":", "`:`")?;
        Ok((kind, self.u32("map number")?))
    }

    /// `[0]` after `map[...]`: the map's value instead of the map.
    fn map_value(&mut self, map: LoadImm) -> Result<LoadImm, LineError> {
        let value = MAP_KEYS.iter().find(|(_, plain, _)| *plain == map);
        let Some(&(_, _, value)) = value else {
            return Err(self.expected_here("`ll` (only a map has a value `[0]`)"));
        };
        self.advance(); // [
        let column = self.column();
        match self.unsigned_number("`0`")? {
            (0, _) => {}
            (index, _) => return Err(out_of_range(index, column, "map value index (only 0)", 1)),
        }
        self.expect("]", "`]`")?;
        Ok(value)
    }

    /// `pc+3` or a label inside `func[...]`.
    fn function_target(&mut self) -> Result<(i32, Option<LabelRef>), LineError> {
        if self.peek_is("pc") && self.next_is_sign(1) {
            self.advance();
            return Ok((self.relative_offset("function offset")?, None));
        }
        match self.label_use() {
            Some(label) => Ok((0, Some(label))),
            None => Err(self.expected_here("`pc+N` or a label")),
        }
    }

    /// `r1 = name ll`: clang's way to take a function's address.
    fn function_address(&mut self, dst: Destination) -> Result<Statement, LineError> {
        let label = self
            .label_use()
            .ok_or_else(|| self.expected_here("a value"))?;
        self.expect("ll", "`ll` (a named address is a 64-bit load)")?;
        dst.require_64("a 64-bit register (`rN`) for `ll`")?;
        Ok(Statement::Insn {
            insn: Insn::LoadImm64 {
                kind: LoadImm::Func,
                dst: dst.reg,
                imm: 0,
            },
            target: Some(label),
        })
    }

    /// `r0 = 5` or `r0 = 0x1122334455667788 ll`.
    fn immediate_move(&mut self, dst: Destination) -> Result<Statement, LineError> {
        let (value, column) = self.signed_number("a value")?;
        if self.eat("ll") {
            dst.require_64("a 64-bit register (`rN`) for `ll`")?;
            let imm = fit_imm64(value, column)?;
            return Ok(no_label(Insn::LoadImm64 {
                kind: LoadImm::Imm64,
                dst: dst.reg,
                imm,
            }));
        }
        Ok(no_label(Insn::Alu {
            width: dst.width,
            op: AluOp::Mov,
            dst: dst.reg,
            src: Source::Imm(fit_imm32(value, column, "immediate")?),
        }))
    }
}

/// `be16` to `(ToBe, 16)`.
fn byte_order(text: &str) -> Option<(ByteOrder, u8)> {
    [ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap]
        .into_iter()
        .find_map(|order| match text.strip_prefix(order_name(order))? {
            "16" => Some((order, 16)),
            "32" => Some((order, 32)),
            "64" => Some((order, 64)),
            _ => None,
        })
}

/// `_64` to DW, `32_32` to W: the size in an exchange's name.
fn exchange_size(suffix: &str) -> Option<Size> {
    [Size::W, Size::DW]
        .into_iter()
        .find(|&size| exchange_suffix(size) == suffix)
}

/// A `wN` register loads or stores 1, 2 or 4 bytes, unsigned.
fn check_memory_width(
    width: Width,
    size: Size,
    signed: bool,
    register: Token,
) -> Result<(), LineError> {
    match (width, size, signed) {
        (Width::W64, _, _) | (Width::W32, Size::B | Size::H | Size::W, false) => Ok(()),
        (Width::W32, _, _) => Err(expected_at(
            register,
            "a 64-bit register (`rN`): `wN` only goes with `u8` to `u32`",
        )),
    }
}

/// A 64-bit atomic takes `rN`; a 32-bit one `wN`, or `rN` as in the
/// `lock *(u32 *)(r1 + 0x0) += r2` that `llvm-objdump` prints.
fn check_atomic_width(size: Size, width: Width, register: Token) -> Result<(), LineError> {
    match (atomic_width(size), width) {
        (Width::W64, Width::W32) => Err(expected_at(register, width_name(Width::W64))),
        _ => Ok(()),
    }
}

fn no_label(insn: Insn) -> Statement {
    Statement::Insn { insn, target: None }
}

fn unknown_mnemonic(token: Token) -> LineError {
    LineError {
        column: token.column,
        kind: AsmErrorKind::UnknownMnemonic(token.text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::{AsmError, Syntax, assemble};
    use proptest::prelude::*;

    /// `bytes<TAB>text` lines from `llvm-objdump-19 -d`; the file says how.
    const LLVM_OBJDUMP_19: &str = include_str!("../../tests/data/llvm-objdump-19.txt");

    /// The one instruction on `line`.
    fn insn(line: &str) -> Insn {
        match parse_line(line)
            .unwrap_or_else(|e| panic!("{line}: {e:?}"))
            .as_slice()
        {
            [Statement::Insn { insn, target: None }] => *insn,
            other => panic!("{line}: {other:?}"),
        }
    }

    /// The column and kind of the error on `line`.
    fn error(line: &str) -> (usize, AsmErrorKind) {
        let e = parse_line(line).expect_err(line);
        (e.column, e.kind)
    }

    /// The column of the "expected ..." error on `line`.
    fn expected_column(line: &str) -> usize {
        match error(line) {
            (column, AsmErrorKind::Expected { .. }) => column,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn bytes(line: &str) -> Vec<u8> {
        insn(line)
            .encode()
            .slots()
            .iter()
            .flat_map(|s| s.to_bytes())
            .collect()
    }

    fn alu(width: Width, op: AluOp, dst: Reg, src: Source) -> Insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        }
    }

    #[test]
    fn reads_what_llvm_objdump_19_prints() {
        for line in LLVM_OBJDUMP_19.lines().filter(|l| !l.starts_with('#')) {
            let (hex, text) = line.split_once('\t').unwrap();
            let words: Vec<String> = bytes(text).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(words.join(" "), hex, "{text}");
        }
    }

    #[test]
    fn reads_listing_lines() {
        let listing = "      10:\t05 00 fd ff 00 00 00 00\tgoto -0x3 <.text+0x40>";
        assert_eq!(
            insn(listing),
            Insn::Ja {
                off: -3,
                long: false
            }
        );
        let lddw = "       0:\t18 01 00 00 88 77 66 55 00 00 00 00 44 33 22 11\tr1 = 0x1122334455667788 ll";
        assert_eq!(bytes(lddw)[4..8], [0x88, 0x77, 0x66, 0x55]);
        assert_eq!(insn("3: db 01 00 00 01 00 00 00 exit"), Insn::Exit);
    }

    #[test]
    fn alu_takes_decimal_hex_and_both_widths() {
        let (r0, r1) = (Reg::R0, Reg::R1);
        assert_eq!(
            insn("r0 = 1"),
            alu(Width::W64, AluOp::Mov, r0, Source::Imm(1))
        );
        assert_eq!(
            insn("w0 = -0x1"),
            alu(Width::W32, AluOp::Mov, r0, Source::Imm(-1))
        );
        assert_eq!(
            insn("r0 = 0xffffffff"),
            alu(Width::W64, AluOp::Mov, r0, Source::Imm(-1))
        );
        assert_eq!(
            insn("r0 = - 1"),
            alu(Width::W64, AluOp::Mov, r0, Source::Imm(-1))
        );
        assert_eq!(
            insn("r0 = 010"),
            alu(Width::W64, AluOp::Mov, r0, Source::Imm(8))
        );
        assert_eq!(
            insn("r0 = 0b11"),
            alu(Width::W64, AluOp::Mov, r0, Source::Imm(3))
        );
        assert_eq!(
            insn("w1 = w0"),
            alu(Width::W32, AluOp::Mov, r1, Source::Reg(r0))
        );
        assert_eq!(
            insn("r0 s>>= 3"),
            alu(Width::W64, AluOp::Arsh, r0, Source::Imm(3))
        );
        assert_eq!(
            insn("w0 s%= w1"),
            alu(Width::W32, AluOp::Smod, r0, Source::Reg(r1))
        );
        assert_eq!(
            insn("r0 s/=r1"),
            alu(Width::W64, AluOp::Sdiv, r0, Source::Reg(r1))
        );
        assert_eq!(
            insn("r0 <<= r1"),
            alu(Width::W64, AluOp::Lsh, r0, Source::Reg(r1))
        );
        for op in COMPOUND_ALU_OPS {
            let text = format!("w3 {} 7", compound_operator(op).unwrap());
            assert_eq!(insn(&text), alu(Width::W32, op, Reg::R3, Source::Imm(7)));
        }
    }

    #[test]
    fn moves_with_sign_extension_and_negation() {
        let movsx = |width, size| alu(width, AluOp::Movsx(size), Reg::R0, Source::Reg(Reg::R1));
        assert_eq!(insn("r0 = (s8)r1"), movsx(Width::W64, Size::B));
        assert_eq!(insn("r0 = (s32) r1"), movsx(Width::W64, Size::W));
        assert_eq!(insn("w0 = (s16)w1"), movsx(Width::W32, Size::H));
        assert_eq!(expected_column("w0 = (s32)w1"), 7);
        assert_eq!(expected_column("r0 = (s8)w1"), 10);
        assert_eq!(expected_column("r0 = (u8)r1"), 7);
        let neg = Insn::Neg {
            width: Width::W32,
            dst: Reg::R4,
        };
        assert_eq!(insn("w4 = -w4"), neg);
        assert_eq!(expected_column("r0 = -r1"), 7);
    }

    #[test]
    fn byte_swaps() {
        let swap = |order, bits| Insn::Endian {
            order,
            bits,
            dst: Reg::R2,
        };
        assert_eq!(insn("r2 = be16 r2"), swap(ByteOrder::ToBe, 16));
        assert_eq!(insn("r2 = le64 r2"), swap(ByteOrder::ToLe, 64));
        assert_eq!(insn("r2 = bswap32 r2"), swap(ByteOrder::Swap, 32));
        assert_eq!(expected_column("w2 = be16 w2"), 1);
        assert_eq!(expected_column("r2 = be16 r3"), 11);
    }

    #[test]
    fn loads_and_stores() {
        let load = |size, signed, off| Insn::Load {
            size,
            signed,
            dst: Reg::R0,
            src: Reg::R1,
            off,
        };
        assert_eq!(insn("r0 = *(u32 *)(r1 + 4)"), load(Size::W, false, 4));
        assert_eq!(
            insn("r0=*(u64*)(r1-0x8000)"),
            load(Size::DW, false, i16::MIN)
        );
        assert_eq!(insn("w0 = *(u8 *)(r1 + 1)"), load(Size::B, false, 1));
        assert_eq!(insn("r0 = *(s16 *)(r1)"), load(Size::H, true, 0));
        assert_eq!(expected_column("w0 = *(s8 *)(r1 + 1)"), 1);
        assert_eq!(expected_column("w0 = *(u64 *)(r1 + 1)"), 1);
        assert_eq!(expected_column("r0 = *(s64 *)(r1 + 1)"), 8);
        let store = |size, src| Insn::Store {
            size,
            dst: Reg::R10,
            off: -8,
            src,
        };
        assert_eq!(
            insn("*(u32 *)(r10 - 8) = w1"),
            store(Size::W, Source::Reg(Reg::R1))
        );
        assert_eq!(
            insn("*(u64 *)(r10 - 8) = 0xffffffff"),
            store(Size::DW, Source::Imm(-1))
        );
        assert_eq!(expected_column("*(u64 *)(r10 - 8) = w1"), 21);
        assert_eq!(expected_column("*(s32 *)(r10 - 8) = r1"), 3);
        assert_eq!(
            error("r0 = *(u8 *)(r1 + 0x8000)"),
            (
                17,
                AsmErrorKind::OutOfRange {
                    what: "offset",
                    value: 0x8000,
                    bits: 16
                }
            )
        );
    }

    #[test]
    fn atomics_in_every_spelling() {
        let atomic = |size, op, src| Insn::Atomic {
            size,
            op,
            dst: Reg::R1,
            src,
            off: 8,
        };
        let add = AtomicOp::Add { fetch: false };
        assert_eq!(
            insn("lock *(u64 *)(r1 + 8) += r2"),
            atomic(Size::DW, add, Reg::R2)
        );
        assert_eq!(
            insn("lock *(u32 *)(r1 + 8) += r2"),
            atomic(Size::W, add, Reg::R2)
        );
        assert_eq!(
            insn("lock *(u32 *)(r1 + 8) += w2"),
            atomic(Size::W, add, Reg::R2)
        );
        let xor = AtomicOp::Xor { fetch: true };
        assert_eq!(
            insn("w0 = atomic_fetch_xor((u32 *)(r1 + 8), w0)"),
            atomic(Size::W, xor, Reg::R0)
        );
        assert_eq!(
            insn("r3 = atomic_fetch_xor((u64 *)(r1 + 8), r3)"),
            atomic(Size::DW, xor, Reg::R3)
        );
        assert_eq!(
            insn("r5 = xchg_64(r1 + 8, r5)"),
            atomic(Size::DW, AtomicOp::Xchg, Reg::R5)
        );
        assert_eq!(
            insn("w0 = cmpxchg32_32(r1 + 8, w0, w2)"),
            atomic(Size::W, AtomicOp::Cmpxchg, Reg::R2)
        );
        assert_eq!(expected_column("lock *(u16 *)(r1 + 8) += r2"), 8);
        assert_eq!(expected_column("lock *(u64 *)(r1 + 8) += w2"), 26);
        assert_eq!(expected_column("lock *(u64 *)(r1 + 8) -= r2"), 23);
        assert_eq!(
            expected_column("r0 = atomic_fetch_add((u64 *)(r1 + 0), r2)"),
            40
        );
        assert_eq!(expected_column("r1 = cmpxchg_64(r1 + 0, r1, r2)"), 1);
        assert_eq!(expected_column("w1 = xchg_64(r1 + 0, w1)"), 1);
    }

    #[test]
    fn wide_immediates_and_pseudo_sources() {
        let lddw = |kind, imm| Insn::LoadImm64 {
            kind,
            dst: Reg::R1,
            imm,
        };
        assert_eq!(insn("r1 = -1 ll"), lddw(LoadImm::Imm64, u64::MAX));
        assert_eq!(
            insn("r1 = 0xffffffffffffffff ll"),
            lddw(LoadImm::Imm64, u64::MAX)
        );
        assert_eq!(insn("r1 = map[fd:3] ll"), lddw(LoadImm::MapFd, 3));
        assert_eq!(
            insn("r1 = map[fd:3][0]+4 ll"),
            lddw(LoadImm::MapValue, 4 << 32 | 3)
        );
        assert_eq!(
            insn("r1 = map[idx:0x2][0] ll"),
            lddw(LoadImm::MapIdxValue, 2)
        );
        assert_eq!(
            insn("r1 = map[idx:2] + 1 ll"),
            lddw(LoadImm::MapIdx, 1 << 32 | 2)
        );
        assert_eq!(insn("r1 = var[btf_id:7] ll"), lddw(LoadImm::BtfId, 7));
        assert_eq!(
            insn("r1 = func[pc-1] ll"),
            lddw(LoadImm::Func, u64::from(u32::MAX))
        );
        assert_eq!(
            error("r1 = 0x10000000000000000 ll"),
            (
                6,
                AsmErrorKind::OutOfRange {
                    what: "64-bit immediate",
                    value: 1 << 64,
                    bits: 64
                }
            )
        );
        assert_eq!(expected_column("w1 = 1 ll"), 1);
        assert_eq!(expected_column("r1 = var[btf_id:7][0] ll"), 19);
        assert!(matches!(
            error("r1 = map[fd:3][1] ll"),
            (16, AsmErrorKind::OutOfRange { .. })
        ));
        assert_eq!(expected_column("r1 = func[f]+1 ll"), 13);
        assert_eq!(expected_column("r1 = map[fd:3]"), 15);
        let by_label = parse_line("r2 = f ll").unwrap();
        assert!(matches!(
            by_label.as_slice(),
            [Statement::Insn { insn: Insn::LoadImm64 { kind: LoadImm::Func, .. }, target: Some(l) }]
                if l.name == "f" && l.column == 6
        ));
    }

    #[test]
    fn legacy_packet_loads() {
        let packet = |size, offset, imm| Insn::LoadPacket { size, offset, imm };
        assert_eq!(
            insn("r0 = *(u8 *)skb[16]"),
            packet(Size::B, PacketOffset::Abs, 16)
        );
        assert_eq!(
            insn("r0 = *(u16 *)skb[-0x1]"),
            packet(Size::H, PacketOffset::Abs, -1)
        );
        let ind = PacketOffset::Ind(Reg::R1);
        assert_eq!(insn("r0 = *(u32 *)skb[r1]"), packet(Size::W, ind, 0));
        assert_eq!(insn("r0 = *(u32 *)skb[r1 - 4]"), packet(Size::W, ind, -4));
        assert_eq!(expected_column("r1 = *(u8 *)skb[1]"), 1);
        assert_eq!(expected_column("r0 = *(u64 *)skb[1]"), 8);
    }

    #[test]
    fn jumps_with_offsets_and_labels() {
        let jump = |width, cond, src, off| Insn::Jump {
            width,
            cond,
            dst: Reg::R1,
            src,
            off,
        };
        assert_eq!(
            insn("if r1 == r2 goto +1"),
            jump(Width::W64, JmpCond::Eq, Source::Reg(Reg::R2), 1)
        );
        assert_eq!(
            insn("if w1 s<= -5 goto -0x2"),
            jump(Width::W32, JmpCond::Sle, Source::Imm(-5), -2)
        );
        assert_eq!(
            insn("if r1 & 0x10 goto 3"),
            jump(Width::W64, JmpCond::Set, Source::Imm(16), 3)
        );
        for cond in JmpCond::ALL {
            let text = format!("if w1 {} w2 goto +0", condition_operator(cond));
            assert_eq!(insn(&text), jump(Width::W32, cond, Source::Reg(Reg::R2), 0));
        }
        assert_eq!(expected_column("if r1 == w2 goto +1"), 10);
        assert_eq!(expected_column("if r1 =< r2 goto +1"), 7);
        assert!(matches!(
            error("goto +0x8000"),
            (6, AsmErrorKind::OutOfRange { bits: 16, .. })
        ));
        assert_eq!(
            insn("gotol +0x8000"),
            Insn::Ja {
                off: 0x8000,
                long: true
            }
        );
        assert_eq!(
            insn("goto -1 <prog+0x10>"),
            Insn::Ja {
                off: -1,
                long: false
            }
        );
        assert_eq!(error("ja -1").1, AsmErrorKind::UnknownMnemonic("ja".into()));
        let program = assemble(
            "LBB0_1:\n\tr0 += 1\n\tif r0 < 10 goto LBB0_1\n\tgotol LBB0_3\nLBB0_3: exit",
            Syntax::Llvm,
        )
        .unwrap();
        assert_eq!(program.insns()[1], jump_back());
        assert_eq!(program.insns()[2], Insn::Ja { off: 0, long: true });
    }

    fn jump_back() -> Insn {
        Insn::Jump {
            width: Width::W64,
            cond: JmpCond::Lt,
            dst: Reg::R0,
            src: Source::Imm(10),
            off: -2,
        }
    }

    #[test]
    fn calls_exit_and_callx() {
        assert_eq!(insn("call 5"), Insn::Call(CallTarget::Helper(5)));
        assert_eq!(insn("call -0x1"), Insn::Call(CallTarget::Helper(-1)));
        assert_eq!(insn("call pc+3"), Insn::Call(CallTarget::Local(3)));
        assert_eq!(insn("call pc - 0x2"), Insn::Call(CallTarget::Local(-2)));
        assert_eq!(
            insn("call kfunc[btf_id:0x1234]"),
            Insn::Call(CallTarget::Kfunc(0x1234))
        );
        assert_eq!(insn("callx r10"), Insn::CallReg(Reg::R10));
        assert_eq!(insn("exit"), Insn::Exit);
        let program = assemble("call f\nexit\nf:\nr0 = f ll\nexit", Syntax::Llvm).unwrap();
        assert_eq!(program.insns()[0], Insn::Call(CallTarget::Local(1)));
        assert!(matches!(
            program.insns()[2],
            Insn::LoadImm64 { kind: LoadImm::Func, imm, .. } if imm == u64::from(u32::MAX)
        ));
        assert_eq!(expected_column("callx w1"), 7);
    }

    #[test]
    fn comments_labels_and_directives() {
        assert_eq!(parse_line("  ; just a comment").unwrap(), []);
        assert_eq!(parse_line("exit # done").unwrap().len(), 1);
        assert_eq!(parse_line("exit // done").unwrap().len(), 1);
        assert_eq!(parse_line("\t.globl\tprog").unwrap(), []);
        assert_eq!(parse_line("\t.type\tprog,@function").unwrap(), []);
        assert_eq!(
            parse_line("prog: LBB0_1: exit").unwrap(),
            [
                Statement::Label("prog".into()),
                Statement::Label("LBB0_1".into()),
                no_label(Insn::Exit)
            ]
        );
        assert_eq!(
            parse_line(".Lfunc_end0:").unwrap(),
            [Statement::Label(".Lfunc_end0".into())]
        );
        assert_eq!(error(".quad 5").0, 1);
    }

    #[test]
    fn errors_point_at_the_culprit() {
        assert_eq!(
            error("  frob r0"),
            (3, AsmErrorKind::UnknownMnemonic("frob".into()))
        );
        assert_eq!(
            error("r11 = 1"),
            (1, AsmErrorKind::BadRegister("r11".into()))
        );
        assert_eq!(
            error("r1 = r256"),
            (6, AsmErrorKind::BadRegister("r256".into()))
        );
        assert_eq!(error("r1 = 0x"), (6, AsmErrorKind::BadNumber("0x".into())));
        assert_eq!(
            error("r1 += 0x100000000"),
            (
                7,
                AsmErrorKind::OutOfRange {
                    what: "immediate",
                    value: 1 << 32,
                    bits: 32
                }
            )
        );
        assert_eq!(
            error("r0 = *(u32 *)(r1 + 4"),
            (
                21,
                AsmErrorKind::Expected {
                    expected: "`)`",
                    found: "end of line".into()
                }
            )
        );
        assert_eq!(
            error("exit now"),
            (
                6,
                AsmErrorKind::Expected {
                    expected: "the end of the line",
                    found: "now".into()
                }
            )
        );
        assert_eq!(
            error("r0 += w1"),
            (
                7,
                AsmErrorKind::Expected {
                    expected: "a 64-bit register (`rN`)",
                    found: "w1".into()
                }
            )
        );
    }

    #[test]
    fn assemble_reports_lines_and_label_columns() {
        let err = assemble("r0 = 1\n  goto nowhere\nexit", Syntax::Llvm).unwrap_err();
        assert_eq!(
            err,
            AsmError {
                line: 2,
                column: 8,
                kind: AsmErrorKind::UnknownLabel("nowhere".into())
            }
        );
        let err = assemble("exit\nr0 = 1 ll ll", Syntax::Llvm).unwrap_err();
        assert_eq!((err.line, err.column), (2, 11));
    }

    /// Fragments of the syntax, so that random lines get deep into the grammar.
    const FRAGMENTS: &str = "r0 w1 r10 r11 = += s>>= - + ( ) * [ ] , : u32 s8 skb map fd idx var \
        btf_id func pc kfunc ll lock if goto gotol call L: L 0x7fffffff -0x80000000 \
        99999999999999999999 atomic_fetch_add cmpxchg_64 xchg32_32 be16 exit";

    fn fragment_lines() -> impl Strategy<Value = String> {
        let fragments: Vec<&str> = FRAGMENTS.split_whitespace().collect();
        let line = proptest::collection::vec(proptest::sample::select(fragments), 0..14);
        proptest::collection::vec(line, 1..6).prop_map(|lines| {
            let lines: Vec<String> = lines.iter().map(|l| l.join(" ")).collect();
            lines.join("\n")
        })
    }

    proptest! {
        #[test]
        fn random_text_never_panics(line in "\\PC{0,40}") {
            let _ = parse_line(&line);
        }

        /// Whole texts of syntax fragments, labels included, assemble or fail cleanly.
        #[test]
        fn random_fragments_never_panic(text in fragment_lines()) {
            let _ = assemble(&text, Syntax::Llvm);
            let _ = assemble(&text.replace(' ', ""), Syntax::Llvm);
        }

        /// Error columns point into the line, or just past its end.
        #[test]
        fn errors_stay_on_the_line(line in "[ -~]{0,30}") {
            if let Err(e) = parse_line(&line) {
                prop_assert!(e.column >= 1 && e.column <= line.chars().count() + 1);
            }
        }
    }
}
