//! A whole program: instructions in order, with every jump checked.

use crate::error::{DecodeError, DecodeErrorKind as Kind};
use crate::insn::{CallTarget, Insn, LoadImm, SLOT_LEN, Slot};

/// A decoded program. Every jump, local call and function address lands on
/// the first slot of an instruction inside the program.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Program {
    insns: Vec<Insn>,
}

impl Program {
    /// Decodes little-endian bytecode.
    pub fn decode(bytes: &[u8]) -> Result<Program, DecodeError> {
        let (chunks, rest) = bytes.as_chunks::<SLOT_LEN>();
        if !rest.is_empty() {
            return Err(DecodeError {
                pc: chunks.len(),
                kind: Kind::PartialSlot { len: bytes.len() },
            });
        }
        let slots: Vec<Slot> = chunks.iter().map(|c| Slot::from_bytes(*c)).collect();
        Program::from_slots(&slots)
    }

    /// Decodes a slot sequence.
    pub fn from_slots(slots: &[Slot]) -> Result<Program, DecodeError> {
        let mut insns = Vec::with_capacity(slots.len());
        let mut pc = 0;
        while pc < slots.len() {
            let (insn, len) =
                Insn::decode(&slots[pc..]).map_err(|kind| DecodeError { pc, kind })?;
            insns.push(insn);
            pc += len;
        }
        Program::new(insns)
    }

    /// Checks the control flow of `insns`: a program must not be empty, and
    /// every jump target must be the start of an instruction.
    pub fn new(insns: Vec<Insn>) -> Result<Program, DecodeError> {
        if insns.is_empty() {
            return Err(DecodeError {
                pc: 0,
                kind: Kind::Empty,
            });
        }
        let program = Program { insns };
        let starts = program.instruction_starts();
        for (pc, insn) in program.iter() {
            let Some(target) = branch_target(pc, insn) else {
                continue;
            };
            let error = |kind| DecodeError { pc, kind };
            let index = usize::try_from(target)
                .ok()
                .filter(|&t| t < starts.len())
                .ok_or_else(|| {
                    error(Kind::JumpOutOfRange {
                        target,
                        len: starts.len(),
                    })
                })?;
            if !starts[index] {
                return Err(error(Kind::JumpIntoLoadImm64 { target: index }));
            }
        }
        Ok(program)
    }

    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// Instructions with the slot index (the `pc`) each starts at.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Insn)> {
        self.insns.iter().scan(0, |pc, insn| {
            let at = *pc;
            *pc += insn.slot_count();
            Some((at, insn))
        })
    }

    /// Length in slots.
    pub fn slot_len(&self) -> usize {
        self.insns.iter().map(Insn::slot_count).sum()
    }

    pub fn slots(&self) -> Vec<Slot> {
        self.insns
            .iter()
            .flat_map(|i| i.encode().slots().to_vec())
            .collect()
    }

    /// Little-endian bytecode.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.slots().into_iter().flat_map(Slot::to_bytes).collect()
    }

    /// For each slot, whether an instruction starts there.
    fn instruction_starts(&self) -> Vec<bool> {
        let mut starts = vec![false; self.slot_len()];
        for (pc, _) in self.iter() {
            starts[pc] = true;
        }
        starts
    }
}

/// The slot that `insn` at `pc` may transfer control to, other than the next.
pub fn branch_target(pc: usize, insn: &Insn) -> Option<i64> {
    let relative = match *insn {
        Insn::Jump { off, .. } => i64::from(off),
        Insn::Ja { off, .. } => i64::from(off),
        Insn::Call(CallTarget::Local(imm)) => i64::from(imm),
        Insn::LoadImm64 {
            kind: LoadImm::Func,
            imm,
            ..
        } => i64::from(imm as u32 as i32),
        _ => return None,
    };
    Some(pc as i64 + 1 + relative)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::{Reg, Size, Source};

    #[test]
    fn jumps_must_land_on_an_instruction() {
        let lddw = Insn::LoadImm64 {
            kind: LoadImm::Imm64,
            dst: Reg::R0,
            imm: 1,
        };
        let into_lddw = vec![
            Insn::Ja {
                off: 1,
                long: false,
            },
            lddw,
            Insn::Exit,
        ];
        assert_eq!(
            Program::new(into_lddw).unwrap_err(),
            DecodeError {
                pc: 0,
                kind: Kind::JumpIntoLoadImm64 { target: 2 }
            }
        );
        let past_end = vec![
            Insn::Ja {
                off: 1,
                long: false,
            },
            Insn::Exit,
        ];
        assert_eq!(
            Program::new(past_end).unwrap_err().kind,
            Kind::JumpOutOfRange { target: 2, len: 2 }
        );
        let backwards = vec![
            Insn::Ja {
                off: -2,
                long: true,
            },
            Insn::Exit,
        ];
        assert_eq!(
            Program::new(backwards).unwrap_err().kind,
            Kind::JumpOutOfRange { target: -1, len: 2 }
        );
    }

    #[test]
    fn bytes_round_trip_and_errors_name_the_slot() {
        let program = Program::new(vec![
            Insn::Store {
                size: Size::DW,
                dst: Reg::R10,
                off: -8,
                src: Source::Imm(7),
            },
            Insn::Load {
                size: Size::DW,
                signed: false,
                dst: Reg::R0,
                src: Reg::R10,
                off: -8,
            },
            Insn::Exit,
        ])
        .unwrap();
        let bytes = program.to_bytes();
        assert_eq!(Program::decode(&bytes).unwrap(), program);
        let mut broken = bytes.clone();
        broken[8] = 0xff;
        assert_eq!(Program::decode(&broken).unwrap_err().pc, 1);
        assert_eq!(
            Program::decode(&bytes[..12]).unwrap_err().kind,
            Kind::PartialSlot { len: 12 }
        );
    }
}
