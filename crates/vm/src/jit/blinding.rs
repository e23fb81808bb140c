//! Constant blinding, as the kernel's JIT does it for unprivileged
//! programs (`bpf_jit_harden`): no constant the program chose appears in
//! executable memory, so a program cannot plant instruction bytes there
//! (a JIT-spraying gadget hidden in its immediates).
//!
//! Each immediate is emitted as `value ^ key`, then undone by a XOR with
//! the key at run time, in a scratch register:
//!
//! ```text
//!   r1 += 0x3c900d0d   =>   mov rax, 0x3c900d0d ^ key
//!                           xor rax, key
//!                           add rsi, rax
//! ```
//!
//! A fresh key per immediate (32 bits, or 64 for a 64-bit `lddw` value),
//! drawn from a stream seeded at random for each compilation. Blinding is on unless the embedder says
//! the program is trusted ([`Interpreter::with_trusted_jit`]); the results
//! are the same bit for bit either way.
//!
//! [`Interpreter::with_trusted_jit`]: crate::Interpreter::with_trusted_jit

use std::hash::{BuildHasher, Hasher};

#[cfg(test)]
use super::Blinding;
use super::codegen::{Codegen, host};
use super::x64::{AluKind, Gpr, OperandSize};
use visor_isa::Source;

/// The keys of one compilation (xorshift64: the keys need to be
/// unpredictable to the program's author, not cryptographic).
pub(super) struct KeyStream(u64);

impl KeyStream {
    /// A stream seeded at random. `RandomState` draws its keys from the
    /// operating system's randomness; hashing nothing with them gives a
    /// fresh unpredictable word for each compilation.
    pub(super) fn random() -> KeyStream {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        KeyStream(seed | 1)
    }

    /// The next key; both of its halves are non-zero, so that neither half
    /// of a blinded value is the value itself.
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x | 0x0000_0001_0000_0001
    }
}

/// A host operand: a register, or an immediate encoded in the instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Operand {
    Reg(Gpr),
    Imm(i32),
}

impl Codegen<'_> {
    /// `dst = value`, for a value the program chose. With blinding, a
    /// value that is a 32-bit immediate sign- or zero-extended (nearly all)
    /// takes a 32-bit key: `mov dst, value ^ key; xor dst, key` at the
    /// width that extends it the same way, as the kernel's JIT does it
    /// (sign extension commutes with XOR). Wider values (`lddw`) take a
    /// 64-bit key through `scratch`, which must differ from `dst`.
    pub(super) fn load_constant(&mut self, dst: Gpr, value: u64, scratch: Gpr) {
        let Some(key) = self.blinding.as_mut().map(KeyStream::next) else {
            self.asm.mov_ri64(dst, value);
            return;
        };
        let key32 = key as u32 as i32;
        if let Ok(value32) = i32::try_from(value as i64) {
            let blinded = i64::from(value32 ^ key32) as u64;
            self.asm.mov_ri64(dst, blinded);
            self.asm.alu_ri(AluKind::Xor, OperandSize::S64, dst, key32);
        } else if let Ok(value32) = u32::try_from(value) {
            self.asm.mov_ri32(dst, value32 ^ key32 as u32);
            self.asm.alu_ri(AluKind::Xor, OperandSize::S32, dst, key32);
        } else {
            self.asm.mov_ri64(dst, value ^ key);
            self.asm.mov_ri64(scratch, key);
            self.asm
                .alu_rr(AluKind::Xor, OperandSize::S64, dst, scratch);
        }
    }

    /// `dst op= imm` for `add`, `sub` and `xor`, blinded without a scratch
    /// register: the immediate is split in two operations whose own
    /// immediates are random to the program's author. `false` (nothing
    /// emitted) for other operations, or without blinding.
    ///
    /// ```text
    ///   r1 += 8   =>   add rsi, 8 - key      xor: xor rsi, 8 ^ key
    ///                  add rsi, key                xor rsi, key
    /// ```
    ///
    /// An `add` key has the immediate's sign, so `imm - key` does not
    /// wrap at 32 bits and the two sign-extended halves sum to the
    /// sign-extended immediate at 64 bits too.
    pub(super) fn split_immediate(
        &mut self,
        kind: AluKind,
        size: OperandSize,
        dst: Gpr,
        imm: i32,
    ) -> bool {
        if !matches!(kind, AluKind::Add | AluKind::Sub | AluKind::Xor) {
            return false;
        }
        let Some(key) = self.blinding.as_mut().map(KeyStream::next) else {
            return false;
        };
        // Bit 0 of the key is set: neither half is the immediate.
        let key = key as u32 as i32;
        let (first, second) = match kind {
            AluKind::Xor => (imm ^ key, key),
            _ => {
                let key = if imm < 0 {
                    key | i32::MIN
                } else {
                    key & i32::MAX
                };
                (imm - key, key)
            }
        };
        self.asm.alu_ri(kind, size, dst, first);
        self.asm.alu_ri(kind, size, dst, second);
        true
    }

    /// A source operand of an ALU, jump or store instruction: the guest
    /// register's host register, or the immediate; with blinding, rax
    /// loaded with the immediate sign-extended (what the instructions do
    /// with a 32-bit immediate at 64 bits).
    pub(super) fn operand(&mut self, src: Source) -> Operand {
        match (src, self.blinding.is_some()) {
            (Source::Reg(reg), _) => Operand::Reg(host(reg)),
            (Source::Imm(imm), false) => Operand::Imm(imm),
            (Source::Imm(imm), true) => {
                self.load_constant(Gpr::Rax, i64::from(imm) as u64, Gpr::Rcx);
                Operand::Reg(Gpr::Rax)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helpers::Helpers;
    use crate::lower::{Names, lower};
    use crate::maps::ProgramMaps;
    use visor_isa::{AluOp, Insn, JmpCond, LoadImm, PacketOffset, Program, Reg, Size, Width};

    /// Immediates no encoding of ours would produce by chance.
    const IMMS: [i32; 6] = [
        0x3c90_0d0d,
        -0x2a5b_6c71,
        0x1337_c0de,
        0x5eed_f00d,
        -0x1122_3345,
        0x7a6b_5c4d,
    ];

    /// Every instruction kind that carries a 32-bit immediate (or two, in
    /// `lddw`), once with each of [`IMMS`].
    fn program_with_immediates() -> Program {
        let mut insns = Vec::new();
        for (n, imm) in IMMS.into_iter().enumerate() {
            let src = Source::Imm(imm);
            for op in [
                AluOp::Mov,
                AluOp::Add,
                AluOp::Sub,
                AluOp::Or,
                AluOp::And,
                AluOp::Xor,
                AluOp::Mul,
                AluOp::Div,
                AluOp::Mod,
            ] {
                for width in [Width::W32, Width::W64] {
                    insns.push(Insn::Alu {
                        width,
                        op,
                        dst: Reg::R3,
                        src,
                    });
                }
            }
            for cond in [JmpCond::Eq, JmpCond::Set, JmpCond::Sgt] {
                insns.push(Insn::Jump {
                    width: Width::W64,
                    cond,
                    dst: Reg::R3,
                    src,
                    off: 0,
                });
            }
            insns.push(Insn::Store {
                size: Size::W,
                dst: Reg::R10,
                off: -8,
                src,
            });
            insns.push(Insn::LoadPacket {
                size: Size::B,
                offset: PacketOffset::Abs,
                imm,
            });
            let offset = PacketOffset::Ind(Reg::R4);
            insns.push(Insn::LoadPacket {
                size: Size::B,
                offset,
                imm,
            });
            let imm64 = (i64::from(IMMS[(n + 1) % IMMS.len()]) << 32) as u64 | imm as u32 as u64;
            insns.push(Insn::LoadImm64 {
                kind: LoadImm::Imm64,
                dst: Reg::R5,
                imm: imm64,
            });
        }
        insns.push(Insn::Exit);
        Program::new(insns).expect("a valid program")
    }

    /// Which of [`IMMS`] appear, as 4 little-endian bytes, in the code of
    /// either body.
    fn verbatim(blinding: Blinding) -> Vec<i32> {
        let names = Names {
            helpers: &Helpers::new(),
            maps: &ProgramMaps::new(),
        };
        let code = lower(&program_with_immediates(), names).expect("it lowers");
        let codegen = super::super::codegen::compile;
        let machine = codegen(&code, 0, blinding, None)
            .expect("it compiles")
            .bytes;
        let lean = super::super::codegen::compile_lean(&code, blinding, None)
            .expect("a leaf program")
            .0;
        let has = |bytes: &[u8], imm: i32| bytes.windows(4).any(|w| w == imm.to_le_bytes());
        IMMS.into_iter()
            .filter(|&imm| has(&machine, imm) || has(&lean, imm))
            .collect()
    }

    #[test]
    fn no_immediate_appears_verbatim_when_blinded() {
        assert_eq!(verbatim(Blinding::On), []);
        // The scan finds them when they are there.
        assert_eq!(verbatim(Blinding::Off), IMMS);
    }

    #[test]
    fn keys_differ_per_compilation_and_per_immediate() {
        let (mut a, mut b) = (KeyStream::random(), KeyStream::random());
        let keys: Vec<u64> = (0..4).map(|_| a.next()).collect();
        assert_ne!(keys, (0..4).map(|_| b.next()).collect::<Vec<_>>());
        assert!(keys.windows(2).all(|w| w[0] != w[1]));
        assert!(keys.iter().all(|k| k & 0xffff_ffff != 0 && k >> 32 != 0));
    }
}
