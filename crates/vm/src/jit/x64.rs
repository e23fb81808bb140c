//! The x86-64 assembler: one method per host instruction form, named by
//! operand kinds (`mov_rr`, `movzx_rm`, `alu_ri`), and nothing about
//! eBPF. Every method owns its prefixes, REX, ModRM, SIB and displacement
//! sizing, so callers pick an instruction and operands, never bytes.
//!
//! Jumps name [`Label`]s; their 32-bit displacements are patched in
//! [`Assembler::finish`].

/// A general-purpose register, numbered as the hardware encodes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Gpr {
    Rax = 0,
    Rcx = 1,
    Rdx = 2,
    Rbx = 3,
    Rsp = 4,
    Rbp = 5,
    Rsi = 6,
    Rdi = 7,
    R8 = 8,
    R9 = 9,
    R10 = 10,
    R11 = 11,
    R12 = 12,
    R13 = 13,
    R14 = 14,
    R15 = 15,
}

impl Gpr {
    fn num(self) -> u8 {
        self as u8
    }

    /// The low three bits, as ModRM and SIB hold them.
    fn low(self) -> u8 {
        self.num() & 7
    }

    /// Whether the register needs a REX extension bit.
    fn high(self) -> bool {
        self.num() >= 8
    }
}

/// Operand width of one host instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OperandSize {
    S8,
    S16,
    S32,
    S64,
}

/// A memory operand: `[base + index + disp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mem {
    pub(crate) base: Gpr,
    pub(crate) index: Option<Gpr>,
    pub(crate) disp: i32,
}

impl Mem {
    /// `[base + disp]`.
    pub(crate) const fn at(base: Gpr, disp: i32) -> Mem {
        Mem {
            base,
            index: None,
            disp,
        }
    }

    /// `[base + index + disp]`.
    pub(crate) const fn indexed(base: Gpr, index: Gpr, disp: i32) -> Mem {
        Mem {
            base,
            index: Some(index),
            disp,
        }
    }
}

/// Condition codes, as the low nibble of `jcc` encodes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Cond {
    /// Below (unsigned <).
    B = 0x2,
    /// Above or equal (unsigned >=).
    Ae = 0x3,
    E = 0x4,
    Ne = 0x5,
    /// Below or equal (unsigned <=).
    Be = 0x6,
    /// Above (unsigned >).
    A = 0x7,
    /// Less (signed <).
    L = 0xc,
    /// Greater or equal (signed >=).
    Ge = 0xd,
    /// Less or equal (signed <=).
    Le = 0xe,
    /// Greater (signed >).
    G = 0xf,
}

/// The two-operand integer operations sharing one encoding scheme
/// (`op r/m, r` and the `0x81`/`0x83` immediate group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AluKind {
    Add,
    Or,
    And,
    Sub,
    Xor,
    Cmp,
}

impl AluKind {
    /// The ModRM `reg` field in the immediate group, and the `op r/m, r`
    /// opcode is that times 8 plus one.
    fn ext(self) -> u8 {
        match self {
            AluKind::Add => 0,
            AluKind::Or => 1,
            AluKind::And => 4,
            AluKind::Sub => 5,
            AluKind::Xor => 6,
            AluKind::Cmp => 7,
        }
    }
}

/// Shifts, by their ModRM `reg` field in the `0xc1`/`0xd3` group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShiftKind {
    Shl = 4,
    Shr = 5,
    Sar = 7,
}

/// Division, by its ModRM `reg` field in the `0xf7` group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DivKind {
    Unsigned = 6,
    Signed = 7,
}

/// A jump target, bound to a code offset once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// The operand in ModRM's `r/m` field: a register or memory.
#[derive(Clone, Copy)]
enum Rm {
    Reg(Gpr),
    Mem(Mem),
}

/// Machine code being written, with labels to patch.
#[derive(Default)]
pub(crate) struct Assembler {
    code: Vec<u8>,
    /// Code offset of each label, once bound.
    labels: Vec<Option<usize>>,
    /// Where a rel32 naming a label sits: (offset of the rel32, label).
    fixups: Vec<(usize, Label)>,
}

/// A label used but never bound: a bug in the code generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UnboundLabel;

impl Assembler {
    /// An assembler with room for `code_bytes` of code and `labels`
    /// labels and jumps, so that emitting seldom grows a buffer.
    pub(crate) fn with_capacity(code_bytes: usize, labels: usize) -> Assembler {
        Assembler {
            code: Vec::with_capacity(code_bytes),
            labels: Vec::with_capacity(labels),
            fixups: Vec::with_capacity(labels),
        }
    }

    pub(crate) fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// The offset the next instruction will have.
    pub(crate) fn offset(&self) -> usize {
        self.code.len()
    }

    pub(crate) fn bind(&mut self, label: Label) {
        if let Some(slot) = self.labels.get_mut(label.0) {
            *slot = Some(self.code.len());
        }
    }

    /// The code with every jump patched.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, UnboundLabel> {
        for &(at, label) in &self.fixups {
            let target = self
                .labels
                .get(label.0)
                .copied()
                .flatten()
                .ok_or(UnboundLabel)?;
            // Displacements count from the end of the 4-byte field; code is
            // far below 2 GiB (the compiler refuses longer programs).
            let rel = target as i64 - (at as i64 + 4);
            let rel = i32::try_from(rel).map_err(|_| UnboundLabel)?;
            if let Some(field) = self.code.get_mut(at..at + 4) {
                field.copy_from_slice(&rel.to_le_bytes());
            }
        }
        Ok(self.code)
    }

    fn byte(&mut self, b: u8) {
        self.code.push(b);
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.code.extend_from_slice(bytes);
    }

    /// Prefixes, opcode and ModRM (+ SIB + displacement) for an instruction
    /// with `reg` in ModRM's reg field (a register or an opcode extension)
    /// and `rm` in its r/m field.
    fn op(&mut self, size: OperandSize, opcode: &[u8], reg: u8, rm: Rm) {
        if size == OperandSize::S16 {
            self.byte(0x66);
        }
        let (b, x) = match rm {
            Rm::Reg(r) => (r.high(), false),
            Rm::Mem(m) => (m.base.high(), m.index.is_some_and(Gpr::high)),
        };
        let w = size == OperandSize::S64;
        let r = reg >= 8;
        // Byte access to spl/bpl/sil/dil needs a REX prefix, or the
        // encoding means ah/ch/dh/bh.
        let byte_reg = |n: u8| size == OperandSize::S8 && (4..8).contains(&n);
        let force = byte_reg(reg)
            || match rm {
                Rm::Reg(g) => byte_reg(g.num()),
                Rm::Mem(_) => false,
            };
        if w || r || x || b || force {
            self.byte(0x40 | u8::from(w) << 3 | u8::from(r) << 2 | u8::from(x) << 1 | u8::from(b));
        }
        self.bytes(opcode);
        self.modrm(reg & 7, rm);
    }

    fn modrm(&mut self, reg: u8, rm: Rm) {
        match rm {
            Rm::Reg(r) => self.byte(0xc0 | reg << 3 | r.low()),
            Rm::Mem(m) => {
                // rbp/r13 as base cannot use the no-displacement form.
                let (mode, disp8) = match m.disp {
                    0 if m.base.low() != 5 => (0u8, false),
                    d if i8::try_from(d).is_ok() => (1, true),
                    _ => (2, false),
                };
                match m.index {
                    None if m.base.low() != 4 => self.byte(mode << 6 | reg << 3 | m.base.low()),
                    index => {
                        // SIB: index 100 means none; rsp can never be an index.
                        let index = index.map_or(4, Gpr::low);
                        self.byte(mode << 6 | reg << 3 | 4);
                        self.byte(index << 3 | m.base.low());
                    }
                }
                match (mode, disp8) {
                    (1, _) => self.byte(m.disp as u8),
                    (2, _) => self.bytes(&m.disp.to_le_bytes()),
                    _ => {}
                }
            }
        }
    }

    /// `op dst, src` for add, or, and, sub, xor, cmp.
    pub(crate) fn alu_rr(&mut self, kind: AluKind, size: OperandSize, dst: Gpr, src: Gpr) {
        self.op(size, &[kind.ext() << 3 | 1], src.num(), Rm::Reg(dst));
    }

    /// `op dst, imm` (the immediate sign-extended to 64 bits at S64).
    pub(crate) fn alu_ri(&mut self, kind: AluKind, size: OperandSize, dst: Gpr, imm: i32) {
        self.alu_imm(kind, size, Rm::Reg(dst), imm);
    }

    /// `op [mem], imm`.
    pub(crate) fn alu_mi(&mut self, kind: AluKind, size: OperandSize, dst: Mem, imm: i32) {
        self.alu_imm(kind, size, Rm::Mem(dst), imm);
    }

    /// `op reg, [mem]` (cmp and friends against memory).
    pub(crate) fn alu_rm(&mut self, kind: AluKind, size: OperandSize, dst: Gpr, src: Mem) {
        self.op(size, &[kind.ext() << 3 | 3], dst.num(), Rm::Mem(src));
    }

    fn alu_imm(&mut self, kind: AluKind, size: OperandSize, rm: Rm, imm: i32) {
        match i8::try_from(imm) {
            Ok(imm8) => {
                self.op(size, &[0x83], kind.ext(), rm);
                self.byte(imm8 as u8);
            }
            Err(_) => {
                self.op(size, &[0x81], kind.ext(), rm);
                self.bytes(&imm.to_le_bytes());
            }
        }
    }

    /// `lock op [mem], src` for add, or, and, xor.
    pub(crate) fn lock_alu_mr(&mut self, kind: AluKind, size: OperandSize, dst: Mem, src: Gpr) {
        self.byte(0xf0);
        self.op(size, &[kind.ext() << 3 | 1], src.num(), Rm::Mem(dst));
    }

    /// `test a, b`.
    pub(crate) fn test_rr(&mut self, size: OperandSize, a: Gpr, b: Gpr) {
        self.op(size, &[0x85], b.num(), Rm::Reg(a));
    }

    /// `test a, imm`.
    pub(crate) fn test_ri(&mut self, size: OperandSize, a: Gpr, imm: i32) {
        self.op(size, &[0xf7], 0, Rm::Reg(a));
        self.bytes(&imm.to_le_bytes());
    }

    /// `mov dst, src` (at S32 the upper half of `dst` is cleared).
    pub(crate) fn mov_rr(&mut self, size: OperandSize, dst: Gpr, src: Gpr) {
        self.op(size, &[0x89], src.num(), Rm::Reg(dst));
    }

    /// `mov dst32, imm32`: the upper half cleared.
    pub(crate) fn mov_ri32(&mut self, dst: Gpr, imm: u32) {
        if dst.high() {
            self.byte(0x41);
        }
        self.byte(0xb8 + dst.low());
        self.bytes(&imm.to_le_bytes());
    }

    /// `mov dst, imm`: the shortest of the zero-extending, sign-extending
    /// and full 64-bit forms.
    pub(crate) fn mov_ri64(&mut self, dst: Gpr, imm: u64) {
        if let Ok(imm32) = u32::try_from(imm) {
            self.mov_ri32(dst, imm32);
        } else if let Ok(imm32) = i32::try_from(imm as i64) {
            self.op(OperandSize::S64, &[0xc7], 0, Rm::Reg(dst));
            self.bytes(&imm32.to_le_bytes());
        } else {
            self.byte(0x48 | u8::from(dst.high()));
            self.byte(0xb8 + dst.low());
            self.bytes(&imm.to_le_bytes());
        }
    }

    /// `mov dst, [mem]` at S32 or S64 (S32 clears the upper half).
    pub(crate) fn mov_rm(&mut self, size: OperandSize, dst: Gpr, src: Mem) {
        self.op(size, &[0x8b], dst.num(), Rm::Mem(src));
    }

    /// `mov [mem], src` at any size.
    pub(crate) fn mov_mr(&mut self, size: OperandSize, dst: Mem, src: Gpr) {
        let opcode = if size == OperandSize::S8 { 0x88 } else { 0x89 };
        self.op(size, &[opcode], src.num(), Rm::Mem(dst));
    }

    /// `mov [mem], imm` at any size (S64 sign-extends the 32-bit imm).
    pub(crate) fn mov_mi(&mut self, size: OperandSize, dst: Mem, imm: i32) {
        match size {
            OperandSize::S8 => {
                self.op(size, &[0xc6], 0, Rm::Mem(dst));
                self.byte(imm as u8);
            }
            OperandSize::S16 => {
                self.op(size, &[0xc7], 0, Rm::Mem(dst));
                self.bytes(&(imm as u16).to_le_bytes());
            }
            OperandSize::S32 | OperandSize::S64 => {
                self.op(size, &[0xc7], 0, Rm::Mem(dst));
                self.bytes(&imm.to_le_bytes());
            }
        }
    }

    /// `movzx dst32, byte/word [mem]` (the 64-bit register zero-extended).
    pub(crate) fn movzx_rm(&mut self, from: OperandSize, dst: Gpr, src: Mem) {
        let opcode = if from == OperandSize::S8 { 0xb6 } else { 0xb7 };
        self.op(OperandSize::S32, &[0x0f, opcode], dst.num(), Rm::Mem(src));
    }

    /// `movzx dst32, src8/src16`.
    pub(crate) fn movzx_rr(&mut self, from: OperandSize, dst: Gpr, src: Gpr) {
        let opcode = if from == OperandSize::S8 { 0xb6 } else { 0xb7 };
        if from == OperandSize::S8 && (4..8).contains(&src.num()) {
            // A byte source sil/dil/bpl needs a REX prefix even at S32.
            self.rex_for_byte_source(dst, src);
            self.bytes(&[0x0f, opcode]);
            self.modrm(dst.low(), Rm::Reg(src));
        } else {
            self.op(OperandSize::S32, &[0x0f, opcode], dst.num(), Rm::Reg(src));
        }
    }

    /// `movsx dst, byte/word/dword [mem]` into a register of `to` bits
    /// (S32 or S64).
    pub(crate) fn movsx_rm(&mut self, from: OperandSize, to: OperandSize, dst: Gpr, src: Mem) {
        match from {
            OperandSize::S8 => self.op(to, &[0x0f, 0xbe], dst.num(), Rm::Mem(src)),
            OperandSize::S16 => self.op(to, &[0x0f, 0xbf], dst.num(), Rm::Mem(src)),
            OperandSize::S32 | OperandSize::S64 => self.op(to, &[0x63], dst.num(), Rm::Mem(src)),
        }
    }

    /// `movsx dst, src8/src16/src32` into a register of `to` bits.
    pub(crate) fn movsx_rr(&mut self, from: OperandSize, to: OperandSize, dst: Gpr, src: Gpr) {
        match from {
            OperandSize::S8 if (4..8).contains(&src.num()) && to == OperandSize::S32 => {
                self.rex_for_byte_source(dst, src);
                self.bytes(&[0x0f, 0xbe]);
                self.modrm(dst.low(), Rm::Reg(src));
            }
            OperandSize::S8 => self.op(to, &[0x0f, 0xbe], dst.num(), Rm::Reg(src)),
            OperandSize::S16 => self.op(to, &[0x0f, 0xbf], dst.num(), Rm::Reg(src)),
            OperandSize::S32 | OperandSize::S64 => self.op(to, &[0x63], dst.num(), Rm::Reg(src)),
        }
    }

    /// A plain REX prefix (no W) so a byte source means sil/dil/bpl/spl.
    fn rex_for_byte_source(&mut self, dst: Gpr, src: Gpr) {
        self.byte(0x40 | u8::from(dst.high()) << 2 | u8::from(src.high()));
    }

    /// `lea dst, [mem]`.
    pub(crate) fn lea(&mut self, dst: Gpr, src: Mem) {
        self.op(OperandSize::S64, &[0x8d], dst.num(), Rm::Mem(src));
    }

    /// `imul dst, src` (low half of the product).
    pub(crate) fn imul_rr(&mut self, size: OperandSize, dst: Gpr, src: Gpr) {
        self.op(size, &[0x0f, 0xaf], dst.num(), Rm::Reg(src));
    }

    /// `imul dst, [src]` (low half of the product).
    pub(crate) fn imul_rm(&mut self, size: OperandSize, dst: Gpr, src: Mem) {
        self.op(size, &[0x0f, 0xaf], dst.num(), Rm::Mem(src));
    }

    /// `imul dst, src, imm`.
    pub(crate) fn imul_rri(&mut self, size: OperandSize, dst: Gpr, src: Gpr, imm: i32) {
        self.op(size, &[0x69], dst.num(), Rm::Reg(src));
        self.bytes(&imm.to_le_bytes());
    }

    /// `shl/shr/sar dst, cl` (the count masked by the hardware to the width).
    pub(crate) fn shift_rcl(&mut self, kind: ShiftKind, size: OperandSize, dst: Gpr) {
        self.op(size, &[0xd3], kind as u8, Rm::Reg(dst));
    }

    /// `shl/shr/sar dst, imm8`.
    pub(crate) fn shift_ri(&mut self, kind: ShiftKind, size: OperandSize, dst: Gpr, imm: u8) {
        self.op(size, &[0xc1], kind as u8, Rm::Reg(dst));
        self.byte(imm);
    }

    /// `neg dst`.
    pub(crate) fn neg(&mut self, size: OperandSize, dst: Gpr) {
        self.op(size, &[0xf7], 3, Rm::Reg(dst));
    }

    /// `div/idiv src`: rdx:rax (edx:eax) by `src`.
    pub(crate) fn div(&mut self, kind: DivKind, size: OperandSize, src: Gpr) {
        self.op(size, &[0xf7], kind as u8, Rm::Reg(src));
    }

    /// `cdq`/`cqo`: sign-extend eax/rax into edx/rdx.
    pub(crate) fn sign_extend_rax(&mut self, size: OperandSize) {
        if size == OperandSize::S64 {
            self.byte(0x48);
        }
        self.byte(0x99);
    }

    /// `bswap dst` at S32 or S64.
    pub(crate) fn bswap(&mut self, size: OperandSize, dst: Gpr) {
        let w = size == OperandSize::S64;
        if w || dst.high() {
            self.byte(0x40 | u8::from(w) << 3 | u8::from(dst.high()));
        }
        self.bytes(&[0x0f, 0xc8 + dst.low()]);
    }

    /// `lock xadd [mem], src`.
    pub(crate) fn lock_xadd(&mut self, size: OperandSize, dst: Mem, src: Gpr) {
        self.byte(0xf0);
        self.op(size, &[0x0f, 0xc1], src.num(), Rm::Mem(dst));
    }

    /// `lock cmpxchg [mem], src` (compares with eax/rax).
    pub(crate) fn lock_cmpxchg(&mut self, size: OperandSize, dst: Mem, src: Gpr) {
        self.byte(0xf0);
        self.op(size, &[0x0f, 0xb1], src.num(), Rm::Mem(dst));
    }

    /// `xchg [mem], src` (locked by the hardware).
    pub(crate) fn xchg(&mut self, size: OperandSize, dst: Mem, src: Gpr) {
        self.op(size, &[0x87], src.num(), Rm::Mem(dst));
    }

    /// `push reg`.
    pub(crate) fn push(&mut self, reg: Gpr) {
        if reg.high() {
            self.byte(0x41);
        }
        self.byte(0x50 + reg.low());
    }

    /// `pop reg`.
    pub(crate) fn pop(&mut self, reg: Gpr) {
        if reg.high() {
            self.byte(0x41);
        }
        self.byte(0x58 + reg.low());
    }

    /// `call reg`.
    pub(crate) fn call_r(&mut self, target: Gpr) {
        self.op(OperandSize::S32, &[0xff], 2, Rm::Reg(target));
    }

    /// `jmp reg`.
    pub(crate) fn jmp_r(&mut self, target: Gpr) {
        self.op(OperandSize::S32, &[0xff], 4, Rm::Reg(target));
    }

    /// `call label`.
    pub(crate) fn call_label(&mut self, target: Label) {
        self.byte(0xe8);
        self.rel32(target);
    }

    /// `jmp label`.
    pub(crate) fn jmp(&mut self, target: Label) {
        self.byte(0xe9);
        self.rel32(target);
    }

    /// `jcc label`.
    pub(crate) fn jcc(&mut self, cond: Cond, target: Label) {
        self.bytes(&[0x0f, 0x80 | cond as u8]);
        self.rel32(target);
    }

    /// `ret`.
    pub(crate) fn ret(&mut self) {
        self.byte(0xc3);
    }

    fn rel32(&mut self, target: Label) {
        self.fixups.push((self.code.len(), target));
        self.bytes(&[0; 4]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(emit: impl FnOnce(&mut Assembler)) -> Vec<u8> {
        let mut asm = Assembler::default();
        emit(&mut asm);
        asm.finish().unwrap()
    }

    // Expected bytes from the Intel SDM encodings (checked with a
    // disassembler by hand).
    #[test]
    fn encodings_match_the_manual() {
        use Gpr::*;
        use OperandSize::*;
        assert_eq!(
            bytes(|a| a.alu_rr(AluKind::Add, S64, Rax, Rbx)),
            [0x48, 0x01, 0xd8]
        );
        assert_eq!(
            bytes(|a| a.alu_rr(AluKind::Sub, S32, R9, Rdx)),
            [0x41, 0x29, 0xd1]
        );
        assert_eq!(
            bytes(|a| a.alu_ri(AluKind::Cmp, S64, Rcx, 16)),
            [0x48, 0x83, 0xf9, 0x10]
        );
        assert_eq!(bytes(|a| a.mov_rr(S64, R15, Rdi)), [0x49, 0x89, 0xff]);
        assert_eq!(
            bytes(|a| a.mov_rm(S64, Rdx, Mem::indexed(R15, Rcx, 0x80))),
            [0x49, 0x8b, 0x94, 0x0f, 0x80, 0x00, 0x00, 0x00]
        );
        assert_eq!(
            bytes(|a| a.mov_mr(S8, Mem::indexed(Rdx, Rax, 0), Rsi)),
            [0x40, 0x88, 0x34, 0x02]
        );
        assert_eq!(
            bytes(|a| a.mov_rm(S32, Rax, Mem::at(Rbp, 0))),
            [0x8b, 0x45, 0x00]
        );
        assert_eq!(
            bytes(|a| a.mov_rm(S64, Rax, Mem::at(R12, 8))),
            [0x49, 0x8b, 0x44, 0x24, 0x08]
        );
        assert_eq!(
            bytes(|a| a.movzx_rr(S8, Rax, Rsi)),
            [0x40, 0x0f, 0xb6, 0xc6]
        );
        assert_eq!(bytes(|a| a.bswap(S64, R9)), [0x49, 0x0f, 0xc9]);
        assert_eq!(
            bytes(|a| a.mov_ri64(Rax, u64::MAX)),
            [0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(bytes(|a| a.push(R15)), [0x41, 0x57]);
        assert_eq!(
            bytes(|a| a.shift_rcl(ShiftKind::Sar, S32, Rbx)),
            [0xd3, 0xfb]
        );
    }

    #[test]
    fn jumps_are_patched_relative_to_their_end() {
        let code = bytes(|a| {
            let l = a.new_label();
            a.jmp(l);
            a.ret();
            a.bind(l);
        });
        assert_eq!(code, [0xe9, 1, 0, 0, 0, 0xc3]);
    }
}
