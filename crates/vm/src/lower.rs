//! A [`Program`] turned, once, into the interpreter's code: one [`Op`] per
//! slot, branch targets as slot indexes, helpers resolved to table
//! positions, map references (`lddw` with `MAP_FD`, `MAP_IDX`,
//! `MAP_VALUE`, `MAP_IDX_VALUE`) resolved against the program's maps to a
//! handle or a value address, and everything this engine cannot run
//! refused up front.

use visor_isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpCond, LoadImm, PacketOffset, Program, Reg,
    Size, Source, Width, branch_target,
};

use crate::error::VmError;
use crate::helpers::Helpers;
use crate::layout::RegionId;
use crate::maps::{MapKind, MapOps, ProgramMaps};

/// One slot of lowered code. Fields mirror [`Insn`] where nothing needed
/// resolving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Alu {
        width: Width,
        op: AluOp,
        dst: Reg,
        src: Source,
    },
    Neg {
        width: Width,
        dst: Reg,
    },
    Endian {
        order: ByteOrder,
        bits: u8,
        dst: Reg,
    },
    Load {
        size: Size,
        signed: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    Store {
        size: Size,
        dst: Reg,
        off: i16,
        src: Source,
    },
    Atomic {
        size: Size,
        op: AtomicOp,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    LoadImm64 {
        dst: Reg,
        imm: u64,
    },
    /// The second slot of an `lddw`; no branch may land here.
    LoadImm64Tail,
    LoadPacket {
        size: Size,
        offset: PacketOffset,
        imm: i32,
    },
    Jump {
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Source,
        target: u32,
    },
    Ja {
        target: u32,
    },
    /// A registered helper, by its position in [`Helpers`].
    CallHelper {
        id: u32,
        index: u32,
    },
    /// A helper id nobody registered: an error if it runs.
    CallUnknownHelper {
        id: u32,
    },
    CallLocal {
        target: u32,
    },
    CallReg {
        reg: Reg,
    },
    Exit,
}

impl Op {
    /// Whether the op names `reg` as an operand or address base.
    pub(crate) fn mentions(&self, reg: Reg) -> bool {
        self.registers() & register_bit(reg) != 0
    }

    /// The registers the op names as operands or address bases, one bit
    /// per register number: one match where asking of each register in
    /// turn would take eleven.
    pub(crate) fn registers(&self) -> u16 {
        let source = |src: Source| match src {
            Source::Reg(reg) => register_bit(reg),
            Source::Imm(_) => 0,
        };
        match *self {
            Op::Alu { dst, src, .. } | Op::Store { dst, src, .. } | Op::Jump { dst, src, .. } => {
                register_bit(dst) | source(src)
            }
            Op::Load { dst, src, .. } | Op::Atomic { dst, src, .. } => {
                register_bit(dst) | register_bit(src)
            }
            Op::Neg { dst, .. } | Op::Endian { dst, .. } | Op::LoadImm64 { dst, .. } => {
                register_bit(dst)
            }
            Op::LoadPacket { offset, .. } => match offset {
                PacketOffset::Ind(reg) => register_bit(reg),
                PacketOffset::Abs => 0,
            },
            Op::CallReg { reg } => register_bit(reg),
            Op::LoadImm64Tail
            | Op::Ja { .. }
            | Op::CallHelper { .. }
            | Op::CallUnknownHelper { .. }
            | Op::CallLocal { .. }
            | Op::Exit => 0,
        }
    }
}

/// `reg`'s bit in a set of registers ([`Op::registers`]).
pub(crate) fn register_bit(reg: Reg) -> u16 {
    1 << reg.index()
}

/// What lowering resolves names against.
#[derive(Clone, Copy)]
pub(crate) struct Names<'a> {
    pub(crate) helpers: &'a Helpers,
    pub(crate) maps: &'a ProgramMaps,
}

/// Lowers every instruction of `program`, resolving helper ids and map
/// references against `names`.
pub(crate) fn lower(program: &Program, names: Names<'_>) -> Result<Vec<Op>, VmError> {
    let slots = program.slot_len();
    if u32::try_from(slots).is_err() {
        return Err(VmError::ProgramTooLong { slots });
    }
    let mut code = Vec::with_capacity(slots);
    for (pc, insn) in program.iter() {
        check_encodable(pc, insn)?;
        code.push(lower_insn(pc, insn, slots, names)?);
        if insn.slot_count() == 2 {
            code.push(Op::LoadImm64Tail);
        }
    }
    Ok(code)
}

/// Refuses `Insn` values that no bytes decode to (a `Program` built from
/// `Insn`s is only checked for control flow), so the interpreter only ever
/// meets real instructions.
fn check_encodable(pc: usize, insn: &Insn) -> Result<(), VmError> {
    match Insn::decode(insn.encode().slots()) {
        Ok((decoded, _)) if decoded == *insn => Ok(()),
        _ => Err(VmError::InvalidInsn { pc, insn: *insn }),
    }
}

fn lower_insn(pc: usize, insn: &Insn, slots: usize, names: Names<'_>) -> Result<Op, VmError> {
    Ok(match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => Op::Alu {
            width,
            op,
            dst,
            src,
        },
        Insn::Neg { width, dst } => Op::Neg { width, dst },
        Insn::Endian { order, bits, dst } => Op::Endian { order, bits, dst },
        Insn::Load {
            size,
            signed,
            dst,
            src,
            off,
        } => Op::Load {
            size,
            signed,
            dst,
            src,
            off,
        },
        Insn::Store {
            size,
            dst,
            off,
            src,
        } => Op::Store {
            size,
            dst,
            off,
            src,
        },
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => Op::Atomic {
            size,
            op,
            dst,
            src,
            off,
        },
        Insn::LoadImm64 {
            kind: LoadImm::Imm64,
            dst,
            imm,
        } => Op::LoadImm64 { dst, imm },
        Insn::LoadImm64 {
            kind: LoadImm::Func,
            dst,
            ..
        } => Op::LoadImm64 {
            dst,
            imm: RegionId::function(target(pc, insn, slots)?),
        },
        Insn::LoadImm64 { kind, dst, imm } => Op::LoadImm64 {
            dst,
            imm: map_reference(pc, kind, imm, names.maps)?,
        },
        Insn::LoadPacket { size, offset, imm } => Op::LoadPacket { size, offset, imm },
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            ..
        } => Op::Jump {
            width,
            cond,
            dst,
            src,
            target: target(pc, insn, slots)?,
        },
        Insn::Ja { .. } => Op::Ja {
            target: target(pc, insn, slots)?,
        },
        Insn::Call(CallTarget::Helper(imm)) => helper_call(imm, names.helpers),
        Insn::Call(CallTarget::Local(_)) => Op::CallLocal {
            target: target(pc, insn, slots)?,
        },
        Insn::Call(CallTarget::Kfunc(btf_id)) => return Err(VmError::KfuncCall { pc, btf_id }),
        Insn::CallReg(reg) => Op::CallReg { reg },
        Insn::Exit => Op::Exit,
    })
}

/// The value an `lddw` with map pseudo source `kind` loads: a map handle
/// for `MAP_FD`/`MAP_IDX`, the address of byte `imm >> 32` of a one-entry
/// array's value for `MAP_VALUE`/`MAP_IDX_VALUE`. The userspace engine has
/// no descriptors, so `MAP_FD` names a position in the map table too.
fn map_reference(pc: usize, kind: LoadImm, imm: u64, maps: &ProgramMaps) -> Result<u64, VmError> {
    let (index, offset) = (imm as u32, (imm >> 32) as u32);
    let direct = match kind {
        LoadImm::MapFd | LoadImm::MapIdx => false,
        LoadImm::MapValue | LoadImm::MapIdxValue => true,
        LoadImm::Imm64 | LoadImm::BtfId | LoadImm::Func => {
            // Imm64 and Func are lowered before; BtfId names kernel memory.
            return Err(VmError::UnsupportedLoadImm64 { pc, kind });
        }
    };
    let map = maps.get(index).ok_or(VmError::UnknownMap {
        pc,
        index,
        count: maps.len(),
    })?;
    if !direct {
        return Ok(RegionId::map_handle(index));
    }
    let def = map.def();
    let addressable = def.kind == MapKind::Array && def.max_entries == 1 && offset < def.value_size;
    match (addressable, map.values(), RegionId::map(index)) {
        (true, Some(values), Some(region)) => Ok(region.addr(values.guest_offset(0) + offset)),
        _ => Err(VmError::BadMapValue {
            pc,
            index,
            kind: def.kind,
            offset,
            value_size: def.value_size,
        }),
    }
}

/// The slot a jump or local call at `pc` goes to, as an index into the code.
fn target(pc: usize, insn: &Insn, slots: usize) -> Result<u32, VmError> {
    let target = branch_target(pc, insn).unwrap_or(-1);
    usize::try_from(target)
        .ok()
        .filter(|&t| t < slots)
        .and_then(|t| u32::try_from(t).ok())
        .ok_or(VmError::BadTarget {
            pc,
            target,
            len: slots,
        })
}

/// `call imm`: the helper's table position, or a call that fails when run.
fn helper_call(imm: i32, helpers: &Helpers) -> Op {
    // Helper ids are unsigned in the kernel; a negative imm is a large id
    // that no one registers.
    let id = imm as u32;
    match helpers.index_of(id).and_then(|i| u32::try_from(i).ok()) {
        Some(index) => Op::CallHelper { id, index },
        None => Op::CallUnknownHelper { id },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lower_insns(insns: Vec<Insn>) -> Result<Vec<Op>, VmError> {
        let names = Names {
            helpers: &Helpers::new(),
            maps: &ProgramMaps::new(),
        };
        lower(&Program::new(insns).unwrap(), names)
    }

    #[test]
    fn targets_become_slot_indexes_and_lddw_takes_two() {
        let code = lower_insns(vec![
            Insn::Ja {
                off: 2,
                long: false,
            },
            Insn::LoadImm64 {
                kind: LoadImm::Imm64,
                dst: Reg::R0,
                imm: 5,
            },
            Insn::Exit,
        ])
        .unwrap();
        assert_eq!(
            code,
            [
                Op::Ja { target: 3 },
                Op::LoadImm64 {
                    dst: Reg::R0,
                    imm: 5
                },
                Op::LoadImm64Tail,
                Op::Exit
            ]
        );
    }

    #[test]
    fn function_addresses_name_the_target_slot() {
        let code = lower_insns(vec![
            Insn::LoadImm64 {
                kind: LoadImm::Func,
                dst: Reg::R1,
                imm: 1,
            },
            Insn::Exit,
            Insn::Exit,
        ])
        .unwrap();
        let Op::LoadImm64 { imm, .. } = code[0] else {
            panic!("lddw lowers to a load: {code:?}");
        };
        // As for calls, the target is relative to the slot after the first.
        assert_eq!(RegionId::function_slot(imm), Some(2));
    }

    #[test]
    fn unsupported_instructions_are_refused_by_name() {
        let kfunc = lower_insns(vec![Insn::Call(CallTarget::Kfunc(42)), Insn::Exit]);
        assert_eq!(
            kfunc.unwrap_err().to_string(),
            "instruction 0: kfunc calls are not supported in userspace (kfunc BTF id 42)"
        );
        let map = lower_insns(vec![
            Insn::Exit,
            Insn::LoadImm64 {
                kind: LoadImm::MapFd,
                dst: Reg::R1,
                imm: 3,
            },
            Insn::Exit,
        ]);
        assert!(matches!(
            map,
            Err(VmError::UnknownMap {
                pc: 1,
                index: 3,
                count: 0
            })
        ));
        let btf_var = lower_insns(vec![
            Insn::LoadImm64 {
                kind: LoadImm::BtfId,
                dst: Reg::R1,
                imm: 1,
            },
            Insn::Exit,
        ]);
        assert!(matches!(
            btf_var,
            Err(VmError::UnsupportedLoadImm64 {
                pc: 0,
                kind: LoadImm::BtfId
            })
        ));
        let odd_swap = lower_insns(vec![
            Insn::Endian {
                order: ByteOrder::Swap,
                bits: 7,
                dst: Reg::R0,
            },
            Insn::Exit,
        ]);
        assert!(matches!(odd_swap, Err(VmError::InvalidInsn { pc: 0, .. })));
    }
}
