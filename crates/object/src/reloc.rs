//! Relocations in code sections: what each one means, decided once per
//! relocation entry before any program is linked.
//!
//! | type | on | against | means |
//! |---|---|---|---|
//! | `R_BPF_64_64` | `lddw` | a map symbol (`maps`, `.maps`) | the map |
//! | `R_BPF_64_64` | `lddw` | a symbol in `.data`/`.rodata`/`.bss` | address of that variable (+ addend) |
//! | `R_BPF_64_64` | `lddw` | a function or code section | address of a subprogram (`src` becomes `PSEUDO_FUNC`) |
//! | `R_BPF_64_32` | `call` `src=1` | a function | a bpf-to-bpf call |
//! | either | `call`/`lddw` | an undefined symbol | a kfunc or kernel variable (extern) |
//!
//! For REL entries the addend is the instruction's `imm`, for RELA entries
//! it is explicit. Objects from LLVM older than 3.9 (`e_machine` `EM_NONE`)
//! used `R_BPF_NONE` (0) on `lddw`; it is read as `R_BPF_64_64` there and
//! nowhere else. Every other combination is an error naming the section,
//! offset and type.

use visor_isa::Slot;
use visor_isa::opcode as op;

use crate::elf::{EM_BPF, Elf, RawReloc, Section, Symbol};
use crate::error::{ObjectError, Result, reloc_type_name};
use crate::maps::MapLookup;

pub(crate) const R_BPF_NONE: u32 = 0;
pub(crate) const R_BPF_64_64: u32 = 1;
pub(crate) const R_BPF_64_32: u32 = 10;

/// Opcode of `lddw`.
pub(crate) const LDDW: u8 = op::LD | op::IMM | op::DW;
/// Opcode of `call`.
pub(crate) const CALL: u8 = op::JMP | op::CALL;

/// What one code relocation resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CodeTarget<'data> {
    Map(usize),
    MapValue {
        map: usize,
        offset: u32,
    },
    /// A slot of a code section: a call target or a function address.
    Code {
        section: usize,
        slot: u64,
    },
    Extern(&'data str),
}

/// A relocation as a listing shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relocation<'data> {
    /// The relocated section.
    pub section: &'data str,
    /// Byte offset in that section.
    pub offset: u64,
    /// `R_BPF_*` type number; [`Relocation::type_name`] names it.
    pub r_type: u32,
    /// The symbol the entry refers to (a section name for section symbols).
    pub symbol: &'data str,
    pub target: RelocTarget<'data>,
}

impl Relocation<'_> {
    /// `R_BPF_64_64`, `R_BPF_64_32`, ...
    pub fn type_name(&self) -> &'static str {
        reloc_type_name(self.r_type)
    }
}

/// What a listed relocation resolved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelocTarget<'data> {
    /// An `lddw` of the map with this index.
    Map(usize),
    /// An `lddw` of the address `offset` bytes into a data map's value.
    MapValue { map: usize, offset: u32 },
    /// A call to, or the address of, the function containing this slot of
    /// `section`.
    Code { section: &'data str, slot: u64 },
    /// A symbol defined outside the object.
    Extern,
    /// Entry `index` of a prog array or map-in-map's initial `values`.
    MapSlot { map: usize, index: u32 },
}

impl<'data> CodeTarget<'data> {
    pub(crate) fn listed(self, elf: &Elf<'data>) -> RelocTarget<'data> {
        match self {
            CodeTarget::Map(map) => RelocTarget::Map(map),
            CodeTarget::MapValue { map, offset } => RelocTarget::MapValue { map, offset },
            CodeTarget::Code { section, slot } => RelocTarget::Code {
                section: elf.sections.get(section).map_or("", |s| s.name),
                slot,
            },
            CodeTarget::Extern(_) => RelocTarget::Extern,
        }
    }
}

/// Decides what `reloc`, in code section `section` whose slots are `slots`,
/// refers to. `starts[i]` says whether an instruction starts at slot `i`.
pub(crate) fn classify<'data>(
    elf: &Elf<'data>,
    maps: &MapLookup,
    section: &Section<'data>,
    slots: &[Slot],
    starts: &[bool],
    reloc: &RawReloc,
) -> Result<(usize, CodeTarget<'data>)> {
    let symbol = &elf.symbols[reloc.symbol];
    let error = |reason: String| ObjectError::BadRelocation {
        section: section.name.to_owned(),
        offset: reloc.offset,
        symbol: symbol_label(elf, symbol).to_owned(),
        reason,
    };
    let index = usize::try_from(reloc.offset / 8).unwrap_or(usize::MAX);
    if !reloc.offset.is_multiple_of(8) || !starts.get(index).copied().unwrap_or(false) {
        return Err(error("offset is not the start of an instruction".into()));
    }
    let slot = slots[index];
    let legacy = elf.machine != EM_BPF && reloc.r_type == R_BPF_NONE;
    let on_lddw = slot.code == LDDW;
    let on_call = slot.code == CALL;
    match reloc.r_type {
        R_BPF_64_64 if on_lddw => {}
        _ if legacy && on_lddw => {}
        R_BPF_64_32 if on_call => {}
        R_BPF_64_64 | R_BPF_64_32 => {
            return Err(error(format!(
                "{} must be on {}, but the instruction has opcode {:#04x}",
                reloc_type_name(reloc.r_type),
                if reloc.r_type == R_BPF_64_64 {
                    "an lddw"
                } else {
                    "a call"
                },
                slot.code
            )));
        }
        r_type => {
            return Err(ObjectError::UnsupportedRelocation {
                section: section.name.to_owned(),
                offset: reloc.offset,
                r_type,
            });
        }
    }
    if on_call && slot.src != op::CALL_LOCAL {
        return Err(error(format!(
            "a relocated call must have src {} (bpf-to-bpf or extern call), has {}",
            op::CALL_LOCAL,
            slot.src
        )));
    }
    let Some(target_section) = symbol.section else {
        if symbol.name.is_empty() {
            return Err(error("the symbol is undefined and has no name".into()));
        }
        return Ok((index, CodeTarget::Extern(symbol.name)));
    };
    let target = &elf.sections[target_section];
    // REL keeps the addend in the instruction; for calls `imm` is instead
    // the pc-relative distance the compiler left (-1 for a symbol).
    let addend = reloc.addend.unwrap_or(i64::from(slot.imm));
    if on_call {
        if !target.is_code() {
            return Err(error(format!(
                "call target is in {}, which is not code",
                target.name
            )));
        }
        let slot = code_slot(symbol.value, 0, i64::from(slot.imm) + 1)
            .ok_or_else(|| error("call target is not an instruction".into()))?;
        return Ok((
            index,
            CodeTarget::Code {
                section: target_section,
                slot,
            },
        ));
    }
    // Loaders treat an `lddw` of a code symbol as a function address even
    // when the compiler left `src = 0` (Cilium's objects), and set the source.
    if slot.src == op::PSEUDO_FUNC || target.is_code() {
        if !target.is_code() {
            return Err(error(format!(
                "function address in {}, which is not code",
                target.name
            )));
        }
        let slot = code_slot(symbol.value, addend, 0)
            .ok_or_else(|| error("function address is not an instruction".into()))?;
        return Ok((
            index,
            CodeTarget::Code {
                section: target_section,
                slot,
            },
        ));
    }
    let at = symbol.value.checked_add_signed(addend);
    let map = at
        .and_then(|at| maps.at(target_section, at))
        .or_else(|| maps.at(target_section, symbol.value));
    if let Some(map) = map {
        return Ok((index, CodeTarget::Map(map)));
    }
    if let Some(map) = maps.data(target_section) {
        let offset = at
            .filter(|&o| o <= target.size)
            .and_then(|o| u32::try_from(o).ok())
            .ok_or_else(|| {
                error(format!(
                    "offset {} + {addend} is outside {} ({} bytes)",
                    symbol.value, target.name, target.size
                ))
            })?;
        return Ok((index, CodeTarget::MapValue { map, offset }));
    }
    if maps.defines(target_section) {
        return Err(error(format!(
            "no map is defined at offset {} of {}",
            symbol.value, target.name
        )));
    }
    Err(error(format!(
        "lddw refers to section {}, which holds neither maps nor global data",
        target.name
    )))
}

/// Slot index of `value + addend` bytes plus `extra` slots, if aligned and
/// non-negative.
fn code_slot(value: u64, addend: i64, extra: i64) -> Option<u64> {
    let bytes = value.checked_add_signed(addend)?;
    if !bytes.is_multiple_of(8) {
        return None;
    }
    (bytes / 8).checked_add_signed(extra)
}

/// A symbol's name, or its section's name for section symbols.
pub(crate) fn symbol_label<'data>(elf: &Elf<'data>, symbol: &Symbol<'data>) -> &'data str {
    match (symbol.name, symbol.section) {
        ("", Some(section)) => elf.sections.get(section).map_or("", |s| s.name),
        (name, _) => name,
    }
}

#[cfg(test)]
mod tests {
    use crate::Object;
    use crate::elf::Elf;
    use crate::error::ObjectError;

    const PROGRAMS: &[u8] = include_bytes!("../tests/data/programs.o");

    /// A copy of `programs.o` with relocation `entry` of `.relxdp` edited.
    fn with_relocation(entry: usize, edit: impl Fn(&mut [u8])) -> Vec<u8> {
        let elf = Elf::parse(PROGRAMS).unwrap();
        let rel = elf.section_by_name(".relxdp").unwrap();
        let at = rel.data.as_ptr() as usize - PROGRAMS.as_ptr() as usize + entry * 16;
        let mut bytes = PROGRAMS.to_vec();
        edit(&mut bytes[at..at + 16]);
        bytes
    }

    #[test]
    fn unknown_relocation_types_name_section_offset_and_type() {
        // Entry 1 is the R_BPF_64_64 on the lddw at byte 0x38 of xdp.
        let bytes = with_relocation(1, |entry| entry[8] = 3);
        assert_eq!(
            Object::parse(&bytes).unwrap_err(),
            ObjectError::UnsupportedRelocation {
                section: "xdp".into(),
                offset: 0x38,
                r_type: 3
            }
        );
        let message = Object::parse(&bytes).unwrap_err().to_string();
        assert!(message.contains("R_BPF_64_ABS32"), "{message}");
    }

    #[test]
    fn relocations_must_sit_on_matching_instructions() {
        // The call relocation (R_BPF_64_32) moved onto the lddw.
        let onto_lddw = with_relocation(0, |entry| entry[0] = 0x38);
        let error = Object::parse(&onto_lddw).unwrap_err();
        assert!(
            matches!(error, ObjectError::BadRelocation { offset: 0x38, .. }),
            "{error}"
        );
        // Into the middle of an instruction, and onto the lddw's second half.
        for offset in [0x3c, 0x40] {
            let bytes = with_relocation(1, |entry| entry[0] = offset);
            let error = Object::parse(&bytes).unwrap_err();
            assert!(
                matches!(&error, ObjectError::BadRelocation { reason, .. } if reason.contains("start of an instruction")),
                "{error}"
            );
        }
    }
}
