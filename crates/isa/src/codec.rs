//! Slots to [`Insn`] and back.
//!
//! Decoding is strict in the kernel's way: fields an instruction does not
//! use must be zero, so that every valid slot has exactly one meaning and
//! encoding gives the same bytes back.

use crate::error::DecodeErrorKind as Kind;
use crate::insn::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Encoded, Insn, JmpCond, LoadImm, PacketOffset, Reg,
    Size, Slot, Source, Width,
};
use crate::opcode as op;

impl Insn {
    /// Decodes the instruction starting at `slots[0]`; `lddw` also reads
    /// `slots[1]`. Returns the instruction and the number of slots it took.
    pub fn decode(slots: &[Slot]) -> Result<(Insn, usize), Kind> {
        let Some(&slot) = slots.first() else {
            return Err(Kind::Empty);
        };
        let insn = match slot.code & op::CLASS_MASK {
            op::ALU | op::ALU64 => decode_alu(slot)?,
            op::JMP | op::JMP32 => decode_jmp(slot)?,
            op::LD => return decode_ld(slot, slots.get(1).copied()),
            op::LDX => decode_ldx(slot)?,
            op::ST => decode_st(slot)?,
            _ => decode_stx(slot)?,
        };
        Ok((insn, 1))
    }

    /// Number of slots the instruction occupies.
    pub const fn slot_count(&self) -> usize {
        match self {
            Insn::LoadImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// The slots of this instruction.
    pub fn encode(&self) -> Encoded {
        let slot = match *self {
            Insn::Alu {
                width,
                op: alu,
                dst,
                src,
            } => {
                let (field, off) = alu.encoding();
                with_source(
                    Slot {
                        code: alu_class(width) | field,
                        dst: dst.number(),
                        off,
                        ..Slot::default()
                    },
                    src,
                )
            }
            Insn::Neg { width, dst } => Slot {
                code: alu_class(width) | op::NEG,
                dst: dst.number(),
                ..Slot::default()
            },
            Insn::Endian { order, bits, dst } => {
                let code = match order {
                    ByteOrder::ToLe => op::ALU | op::END | op::TO_LE,
                    ByteOrder::ToBe => op::ALU | op::END | op::TO_BE,
                    ByteOrder::Swap => op::ALU64 | op::END | op::TO_LE,
                };
                Slot {
                    code,
                    dst: dst.number(),
                    imm: i32::from(bits),
                    ..Slot::default()
                }
            }
            Insn::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => {
                let mode = if signed { op::MEMSX } else { op::MEM };
                Slot {
                    code: op::LDX | mode | size.field(),
                    dst: dst.number(),
                    src: src.number(),
                    off,
                    imm: 0,
                }
            }
            Insn::Store {
                size,
                dst,
                off,
                src,
            } => {
                let base = Slot {
                    dst: dst.number(),
                    off,
                    ..Slot::default()
                };
                match src {
                    Source::Imm(imm) => Slot {
                        code: op::ST | op::MEM | size.field(),
                        imm,
                        ..base
                    },
                    Source::Reg(r) => Slot {
                        code: op::STX | op::MEM | size.field(),
                        src: r.number(),
                        ..base
                    },
                }
            }
            Insn::Atomic {
                size,
                op: atomic,
                dst,
                src,
                off,
            } => Slot {
                code: op::STX | op::ATOMIC | size.field(),
                dst: dst.number(),
                src: src.number(),
                off,
                imm: atomic.imm(),
            },
            Insn::LoadImm64 { kind, dst, imm } => {
                let first = Slot {
                    code: op::LD | op::IMM | op::DW,
                    dst: dst.number(),
                    src: kind.pseudo(),
                    off: 0,
                    imm: imm as u32 as i32,
                };
                let second = Slot {
                    imm: (imm >> 32) as u32 as i32,
                    ..Slot::default()
                };
                return Encoded::two(first, second);
            }
            Insn::LoadPacket { size, offset, imm } => match offset {
                PacketOffset::Abs => Slot {
                    code: op::LD | op::ABS | size.field(),
                    imm,
                    ..Slot::default()
                },
                PacketOffset::Ind(r) => Slot {
                    code: op::LD | op::IND | size.field(),
                    src: r.number(),
                    imm,
                    ..Slot::default()
                },
            },
            Insn::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                let class = if width == Width::W64 {
                    op::JMP
                } else {
                    op::JMP32
                };
                with_source(
                    Slot {
                        code: class | cond.field(),
                        dst: dst.number(),
                        off,
                        ..Slot::default()
                    },
                    src,
                )
            }
            Insn::Ja { off, long: false } => Slot {
                code: op::JMP | op::JA,
                off: off as i16,
                ..Slot::default()
            },
            Insn::Ja { off, long: true } => Slot {
                code: op::JMP32 | op::JA,
                imm: off,
                ..Slot::default()
            },
            Insn::Call(target) => {
                let (src, imm) = match target {
                    CallTarget::Helper(id) => (op::CALL_HELPER, id),
                    CallTarget::Local(rel) => (op::CALL_LOCAL, rel),
                    CallTarget::Kfunc(id) => (op::CALL_KFUNC, id),
                };
                Slot {
                    code: op::JMP | op::CALL,
                    src,
                    imm,
                    ..Slot::default()
                }
            }
            Insn::CallReg(r) => Slot {
                code: op::JMP | op::CALL | op::X,
                dst: r.number(),
                ..Slot::default()
            },
            Insn::Exit => Slot {
                code: op::JMP | op::EXIT,
                ..Slot::default()
            },
        };
        Encoded::one(slot)
    }
}

fn alu_class(width: Width) -> u8 {
    match width {
        Width::W32 => op::ALU,
        Width::W64 => op::ALU64,
    }
}

fn with_source(slot: Slot, src: Source) -> Slot {
    match src {
        Source::Reg(r) => Slot {
            code: slot.code | op::X,
            src: r.number(),
            ..slot
        },
        Source::Imm(imm) => Slot {
            code: slot.code | op::K,
            imm,
            ..slot
        },
    }
}

fn reg(slot: Slot, field: &'static str, n: u8) -> Result<Reg, Kind> {
    Reg::new(n).ok_or(Kind::BadRegister {
        code: slot.code,
        field,
        reg: n,
    })
}

fn dst(slot: Slot) -> Result<Reg, Kind> {
    reg(slot, "dst", slot.dst)
}

fn src(slot: Slot) -> Result<Reg, Kind> {
    reg(slot, "src", slot.src)
}

/// Fails unless `value` is zero: the field is reserved for this opcode.
fn reserved(slot: Slot, field: &'static str, value: i64) -> Result<(), Kind> {
    match value {
        0 => Ok(()),
        _ => Err(Kind::Reserved {
            code: slot.code,
            field,
            value,
        }),
    }
}

fn unknown(slot: Slot) -> Kind {
    Kind::UnknownOpcode { code: slot.code }
}

fn bad(slot: Slot, field: &'static str, value: impl Into<i64>) -> Kind {
    Kind::BadField {
        code: slot.code,
        field,
        value: value.into(),
    }
}

/// The operand chosen by the source bit; the unused field must be zero.
fn source(slot: Slot) -> Result<Source, Kind> {
    if slot.code & op::SOURCE_MASK == op::X {
        reserved(slot, "imm", slot.imm.into())?;
        Ok(Source::Reg(src(slot)?))
    } else {
        reserved(slot, "src", slot.src.into())?;
        Ok(Source::Imm(slot.imm))
    }
}

fn decode_alu(slot: Slot) -> Result<Insn, Kind> {
    let width = if slot.code & op::CLASS_MASK == op::ALU64 {
        Width::W64
    } else {
        Width::W32
    };
    let is_x = slot.code & op::SOURCE_MASK == op::X;
    let dst = dst(slot)?;
    let alu = match slot.code & op::OP_MASK {
        op::NEG => {
            if is_x {
                return Err(unknown(slot));
            }
            reserved(slot, "src", slot.src.into())?;
            reserved(slot, "off", slot.off.into())?;
            reserved(slot, "imm", slot.imm.into())?;
            return Ok(Insn::Neg { width, dst });
        }
        op::END => return decode_endian(slot, width, dst),
        op::ADD => AluOp::Add,
        op::SUB => AluOp::Sub,
        op::MUL => AluOp::Mul,
        op::DIV => signed_variant(slot, AluOp::Div, AluOp::Sdiv)?,
        op::OR => AluOp::Or,
        op::AND => AluOp::And,
        op::LSH => AluOp::Lsh,
        op::RSH => AluOp::Rsh,
        op::MOD => signed_variant(slot, AluOp::Mod, AluOp::Smod)?,
        op::XOR => AluOp::Xor,
        op::MOV => decode_mov(slot, width)?,
        op::ARSH => AluOp::Arsh,
        _ => return Err(unknown(slot)),
    };
    if !matches!(
        alu,
        AluOp::Div | AluOp::Sdiv | AluOp::Mod | AluOp::Smod | AluOp::Mov | AluOp::Movsx(_)
    ) {
        reserved(slot, "off", slot.off.into())?;
    }
    Ok(Insn::Alu {
        width,
        op: alu,
        dst,
        src: source(slot)?,
    })
}

/// DIV and MOD: `off` 0 is unsigned, 1 signed.
fn signed_variant(slot: Slot, unsigned: AluOp, signed: AluOp) -> Result<AluOp, Kind> {
    match slot.off {
        0 => Ok(unsigned),
        1 => Ok(signed),
        off => Err(bad(slot, "off (0 unsigned, 1 signed)", off)),
    }
}

/// MOV: `off` 0 is a plain move; 8, 16 (and 32 for ALU64) sign-extend a register.
fn decode_mov(slot: Slot, width: Width) -> Result<AluOp, Kind> {
    let is_x = slot.code & op::SOURCE_MASK == op::X;
    match (slot.off, is_x, width) {
        (0, _, _) => Ok(AluOp::Mov),
        (8, true, _) => Ok(AluOp::Movsx(Size::B)),
        (16, true, _) => Ok(AluOp::Movsx(Size::H)),
        (32, true, Width::W64) => Ok(AluOp::Movsx(Size::W)),
        (off, _, _) => Err(bad(slot, "off of mov (0, 8, 16 or 32)", off)),
    }
}

fn decode_endian(slot: Slot, width: Width, dst: Reg) -> Result<Insn, Kind> {
    let order = match (width, slot.code & op::SOURCE_MASK) {
        (Width::W32, op::TO_LE) => ByteOrder::ToLe,
        (Width::W32, _) => ByteOrder::ToBe,
        (Width::W64, op::TO_LE) => ByteOrder::Swap,
        (Width::W64, _) => return Err(unknown(slot)),
    };
    reserved(slot, "src", slot.src.into())?;
    reserved(slot, "off", slot.off.into())?;
    match slot.imm {
        16 | 32 | 64 => Ok(Insn::Endian {
            order,
            bits: slot.imm as u8,
            dst,
        }),
        imm => Err(bad(slot, "imm of a byte swap (16, 32 or 64)", imm)),
    }
}

fn decode_jmp(slot: Slot) -> Result<Insn, Kind> {
    let width = if slot.code & op::CLASS_MASK == op::JMP {
        Width::W64
    } else {
        Width::W32
    };
    let is_x = slot.code & op::SOURCE_MASK == op::X;
    match slot.code & op::OP_MASK {
        op::JA => {
            if is_x {
                return Err(unknown(slot));
            }
            reserved(slot, "dst", slot.dst.into())?;
            reserved(slot, "src", slot.src.into())?;
            match width {
                Width::W64 => {
                    reserved(slot, "imm", slot.imm.into())?;
                    Ok(Insn::Ja {
                        off: slot.off.into(),
                        long: false,
                    })
                }
                Width::W32 => {
                    reserved(slot, "off", slot.off.into())?;
                    Ok(Insn::Ja {
                        off: slot.imm,
                        long: true,
                    })
                }
            }
        }
        op::CALL if width == Width::W64 => decode_call(slot, is_x),
        op::EXIT if width == Width::W64 && !is_x => {
            reserved(slot, "dst", slot.dst.into())?;
            reserved(slot, "src", slot.src.into())?;
            reserved(slot, "off", slot.off.into())?;
            reserved(slot, "imm", slot.imm.into())?;
            Ok(Insn::Exit)
        }
        field => {
            let cond = JmpCond::from_field(field).ok_or(unknown(slot))?;
            Ok(Insn::Jump {
                width,
                cond,
                dst: dst(slot)?,
                src: source(slot)?,
                off: slot.off,
            })
        }
    }
}

fn decode_call(slot: Slot, is_x: bool) -> Result<Insn, Kind> {
    reserved(slot, "off", slot.off.into())?;
    if is_x {
        reserved(slot, "src", slot.src.into())?;
        reserved(slot, "imm", slot.imm.into())?;
        return Ok(Insn::CallReg(dst(slot)?));
    }
    reserved(slot, "dst", slot.dst.into())?;
    let target = match slot.src {
        op::CALL_HELPER => CallTarget::Helper(slot.imm),
        op::CALL_LOCAL => CallTarget::Local(slot.imm),
        op::CALL_KFUNC => CallTarget::Kfunc(slot.imm),
        other => return Err(bad(slot, "src of call (0 helper, 1 local, 2 kfunc)", other)),
    };
    Ok(Insn::Call(target))
}

fn decode_ld(slot: Slot, next: Option<Slot>) -> Result<(Insn, usize), Kind> {
    let size = Size::from_field(slot.code);
    match (slot.code & op::MODE_MASK, size) {
        (op::IMM, Size::DW) => {
            let dst = dst(slot)?;
            reserved(slot, "off", slot.off.into())?;
            let kind = *LoadImm::ALL.get(usize::from(slot.src)).ok_or(bad(
                slot,
                "src of lddw (pseudo source 0 to 6)",
                slot.src,
            ))?;
            let next = next.ok_or(Kind::TruncatedLoadImm64)?;
            if next.code != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
                return Err(Kind::BadLoadImm64Tail { code: next.code });
            }
            let imm = u64::from(slot.imm as u32) | (u64::from(next.imm as u32) << 32);
            Ok((Insn::LoadImm64 { kind, dst, imm }, 2))
        }
        (op::ABS | op::IND, Size::B | Size::H | Size::W) => {
            reserved(slot, "dst", slot.dst.into())?;
            reserved(slot, "off", slot.off.into())?;
            let offset = if slot.code & op::MODE_MASK == op::ABS {
                reserved(slot, "src", slot.src.into())?;
                PacketOffset::Abs
            } else {
                PacketOffset::Ind(src(slot)?)
            };
            Ok((
                Insn::LoadPacket {
                    size,
                    offset,
                    imm: slot.imm,
                },
                1,
            ))
        }
        _ => Err(unknown(slot)),
    }
}

fn decode_ldx(slot: Slot) -> Result<Insn, Kind> {
    let size = Size::from_field(slot.code);
    let signed = match (slot.code & op::MODE_MASK, size) {
        (op::MEM, _) => false,
        (op::MEMSX, Size::B | Size::H | Size::W) => true,
        _ => return Err(unknown(slot)),
    };
    reserved(slot, "imm", slot.imm.into())?;
    Ok(Insn::Load {
        size,
        signed,
        dst: dst(slot)?,
        src: src(slot)?,
        off: slot.off,
    })
}

fn decode_st(slot: Slot) -> Result<Insn, Kind> {
    if slot.code & op::MODE_MASK != op::MEM {
        return Err(unknown(slot));
    }
    reserved(slot, "src", slot.src.into())?;
    let size = Size::from_field(slot.code);
    Ok(Insn::Store {
        size,
        dst: dst(slot)?,
        off: slot.off,
        src: Source::Imm(slot.imm),
    })
}

fn decode_stx(slot: Slot) -> Result<Insn, Kind> {
    let size = Size::from_field(slot.code);
    match (slot.code & op::MODE_MASK, size) {
        (op::MEM, _) => {
            reserved(slot, "imm", slot.imm.into())?;
            Ok(Insn::Store {
                size,
                dst: dst(slot)?,
                off: slot.off,
                src: Source::Reg(src(slot)?),
            })
        }
        (op::ATOMIC, Size::W | Size::DW) => {
            let atomic = AtomicOp::from_imm(slot.imm).ok_or(bad(
                slot,
                "atomic operation (imm)",
                slot.imm,
            ))?;
            Ok(Insn::Atomic {
                size,
                op: atomic,
                dst: dst(slot)?,
                src: src(slot)?,
                off: slot.off,
            })
        }
        _ => Err(unknown(slot)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_words(words: &[u64]) -> Result<(Insn, usize), Kind> {
        let slots: Vec<Slot> = words.iter().map(|&w| Slot::from_word(w)).collect();
        Insn::decode(&slots)
    }

    #[test]
    fn lddw_matches_the_suites_raw_words() {
        let (insn, len) = decode_words(&[0x5566778800000018, 0x1122334400000000]).unwrap();
        assert_eq!(len, 2);
        assert_eq!(
            insn,
            Insn::LoadImm64 {
                kind: LoadImm::Imm64,
                dst: Reg::R0,
                imm: 0x1122334455667788
            }
        );
        let words: Vec<u64> = insn.encode().slots().iter().map(|s| s.to_word()).collect();
        assert_eq!(words, [0x5566778800000018, 0x1122334400000000]);
    }

    #[test]
    fn exit_is_0x95() {
        assert_eq!(decode_words(&[0x95]).unwrap().0, Insn::Exit);
        assert_eq!(Insn::Exit.encode().slots()[0].to_word(), 0x95);
    }

    #[test]
    fn reserved_fields_are_rejected() {
        // exit with dst = 1
        assert_eq!(
            decode_words(&[0x0195]),
            Err(Kind::Reserved {
                code: 0x95,
                field: "dst",
                value: 1
            })
        );
        // add64 r0, imm with src = 2
        assert!(matches!(
            decode_words(&[0x2007]),
            Err(Kind::Reserved { field: "src", .. })
        ));
    }

    #[test]
    fn bad_registers_and_opcodes_are_named() {
        assert_eq!(
            decode_words(&[0x0b07]),
            Err(Kind::BadRegister {
                code: 0x07,
                field: "dst",
                reg: 11
            })
        );
        assert_eq!(
            decode_words(&[0xff]),
            Err(Kind::UnknownOpcode { code: 0xff })
        );
        assert_eq!(decode_words(&[0x18]), Err(Kind::TruncatedLoadImm64));
    }

    #[test]
    fn signed_forms_decode_from_off() {
        let sdiv = Slot {
            code: op::ALU64 | op::DIV | op::X,
            dst: 1,
            src: 2,
            off: 1,
            imm: 0,
        };
        assert_eq!(
            Insn::decode(&[sdiv]).unwrap().0,
            Insn::Alu {
                width: Width::W64,
                op: AluOp::Sdiv,
                dst: Reg::R1,
                src: Source::Reg(Reg::R2)
            }
        );
        let movsx = Slot {
            code: op::ALU | op::MOV | op::X,
            dst: 1,
            src: 2,
            off: 32,
            imm: 0,
        };
        assert!(
            matches!(Insn::decode(&[movsx]), Err(Kind::BadField { .. })),
            "movsx32 has no 32-bit source"
        );
    }

    proptest! {
        /// Every slot pair decodes or errs without panicking, and what decodes re-encodes to itself.
        #[test]
        fn decode_then_encode_is_identity(a: u64, b: u64) {
            let slots = [Slot::from_word(a), Slot::from_word(b)];
            if let Ok((insn, len)) = Insn::decode(&slots) {
                prop_assert_eq!(insn.encode().slots().to_vec(), slots[..len].to_vec());
            }
        }

        /// Likely-valid opcodes: random opcode bytes with small register fields.
        #[test]
        fn plausible_slots_round_trip(code: u8, regs in 0u8..0xab, off: i16, imm: i32, imm2: i32) {
            let first = Slot { code, dst: regs & 0xf, src: regs >> 4, off, imm };
            let slots = [first, Slot { imm: imm2, ..Slot::default() }];
            if let Ok((insn, len)) = Insn::decode(&slots) {
                prop_assert_eq!(insn.encode().slots().to_vec(), slots[..len].to_vec());
            }
        }
    }
}
