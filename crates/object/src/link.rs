//! From code sections to programs: find the functions, then link each entry
//! function with the subprograms it calls, as libbpf does.
//!
//! **Functions.** In each code section (`SHT_PROGBITS` + `SHF_EXECINSTR`),
//! every `STT_FUNC` symbol, and every global `STT_NOTYPE` symbol (how LLVM
//! before 4.0 marked functions), is a function. A symbol without a size
//! extends to the next function or the section end. A program section with
//! no function symbol is one function named after the section.
//!
//! **Entries and subprograms.** Functions of program sections are entry
//! points (one program each, several per section allowed); functions of
//! `.text` are subprograms. When no other section has code, global `.text`
//! functions are the entry points, as old libbpf treated such objects.
//!
//! **Linking.** Starting from the entry function, every `call` with
//! `src = 1` and every `lddw` with `src = PSEUDO_FUNC` names a target slot —
//! through its relocation when it has one, else relative to itself in its
//! own section. The function containing the target is appended after the
//! code already placed (once per program), its own calls are followed in
//! turn, and the `imm` is rewritten to the distance in the linked program.
//! Map references become `PSEUDO_MAP_IDX`/`PSEUDO_MAP_IDX_VALUE` loads.

use std::collections::{BTreeMap, HashMap};

use visor_isa::opcode as op;
use visor_isa::{DecodeError, DecodeErrorKind, Slot};

use crate::btf::ext::{BtfExt, CoreReloc, FuncInfo, LineInfo, SectionRecords};
use crate::elf::{Elf, Section, SymbolKind};
use crate::error::{ObjectError, Result};
use crate::kind::ProgramKind;
use crate::maps::{Map, MapLookup};
use crate::program::{ExternRef, Function, FunctionSpan, MapRef, Program};
use crate::reloc::{self, CALL, CodeTarget, LDDW, Relocation};

/// The section of subprograms.
const TEXT: &str = ".text";

/// Linked instructions allowed on top of the ratio below: one program of
/// the kernel's largest length (`BPF_COMPLEXITY_LIMIT_INSNS`).
const MAX_PROGRAM_SLOTS: usize = 1_000_000;

/// How many linked instructions, over all programs, one instruction of the
/// object may turn into (it is copied once per program calling it).
const LINKED_SLOTS_PER_CODE_SLOT: usize = 64;

/// One code section, as slots, with its relocations classified.
struct CodeSection<'data> {
    section: Section<'data>,
    slots: Vec<Slot>,
    relocs: BTreeMap<usize, CodeTarget<'data>>,
}

/// A function in a code section, in slots.
#[derive(Clone, Copy, Debug)]
struct FunctionSlots<'data> {
    name: &'data str,
    /// Index into the code section list.
    code: usize,
    offset: usize,
    len: usize,
    entry: bool,
    /// Named by a global symbol (entry candidates of `.text`-only objects).
    global: bool,
}

/// Everything linking needs, built once per object.
pub(crate) struct Linker<'a, 'data> {
    code: Vec<CodeSection<'data>>,
    functions: Vec<FunctionSlots<'data>>,
    lines: RecordIndex<'a, LineInfo<'data>>,
    funcs: RecordIndex<'a, FuncInfo<'data>>,
    core: RecordIndex<'a, CoreReloc<'data>>,
}

impl<'a, 'data> Linker<'a, 'data> {
    /// Reads every code section and classifies its relocations. Appends
    /// the relocations, resolved, to `listing`.
    pub fn new(
        elf: &'a Elf<'data>,
        maps: &[Map<'data>],
        ext: Option<&'a BtfExt<'data>>,
        listing: &mut Vec<Relocation<'data>>,
    ) -> Result<Self> {
        let lookup = MapLookup::new(maps);
        let mut code = Vec::new();
        for section in elf.sections.iter().filter(|s| s.is_code() && s.size > 0) {
            code.push(read_code(elf, &lookup, section, listing)?);
        }
        let functions = find_functions(elf, &code)?;
        Ok(Linker {
            code,
            functions,
            lines: RecordIndex::new(ext.map(|e| &e.line_info[..]), |l| l.insn),
            funcs: RecordIndex::new(ext.map(|e| &e.func_info[..]), |f| f.insn),
            core: RecordIndex::new(ext.map(|e| &e.core_relocs[..]), |c| c.insn),
        })
    }

    /// Every function, by section then offset.
    pub fn functions(&self) -> Vec<Function<'data>> {
        self.functions
            .iter()
            .map(|f| Function {
                name: f.name,
                section: self.code[f.code].section.name,
                offset: f.offset as u64 * 8,
                size: f.len as u64 * 8,
                entry: f.entry,
            })
            .collect()
    }

    /// One program per entry function, in section then offset order.
    ///
    /// Each program gets its own copy of the subprograms it calls, so the
    /// total can exceed the code in the file; a crafted object could make
    /// it quadratic. The total is capped at [`LINKED_SLOTS_PER_CODE_SLOT`]
    /// times the code plus [`MAX_PROGRAM_SLOTS`], far above what real
    /// objects need (the corpus links at most once per code slot).
    pub fn programs(&self) -> Result<Vec<Program<'data>>> {
        let code_slots: usize = self.code.iter().map(|c| c.slots.len()).sum();
        let budget = code_slots
            .saturating_mul(LINKED_SLOTS_PER_CODE_SLOT)
            .saturating_add(MAX_PROGRAM_SLOTS);
        let mut total = 0usize;
        let mut programs = Vec::new();
        for (index, _) in self.functions.iter().enumerate().filter(|(_, f)| f.entry) {
            let program = self.link(index)?;
            total = total.saturating_add(program.insns.slot_len());
            if total > budget {
                return Err(ObjectError::BadCall {
                    section: program.section.to_owned(),
                    program: program.name.to_owned(),
                    pc: 0,
                    reason: format!(
                        "brings the linked programs to {total} instructions, more than {budget} \
                         ({LINKED_SLOTS_PER_CODE_SLOT} per instruction of the object's {code_slots}, \
                         plus {MAX_PROGRAM_SLOTS})"
                    ),
                });
            }
            programs.push(program);
        }
        Ok(programs)
    }

    fn link(&self, entry: usize) -> Result<Program<'data>> {
        let main = self.functions[entry];
        let section = &self.code[main.code].section;
        let mut linked = Linked {
            slots: Vec::new(),
            placed: Vec::new(),
            starts: HashMap::new(),
            map_refs: Vec::new(),
            extern_refs: Vec::new(),
        };
        self.place(&mut linked, entry);
        let mut next = 0;
        while let Some(&(function, start)) = linked.placed.get(next) {
            self.relocate(&mut linked, function, start)
                .map_err(|(pc, failure)| self.error(main, pc, failure))?;
            next += 1;
        }
        let insns = visor_isa::Program::from_slots(&linked.slots)
            .map_err(|source| self.decode_error(main, source))?;
        let functions = linked
            .placed
            .iter()
            .map(|&(f, start)| {
                let function = self.functions[f];
                FunctionSpan {
                    name: function.name,
                    section: self.code[function.code].section.name,
                    start,
                    len: function.len,
                }
            })
            .collect();
        let mut program = Program {
            name: main.name,
            section: section.name,
            kind: ProgramKind::from_section(section.name),
            section_offset: main.offset as u64 * 8,
            insns,
            functions,
            map_refs: linked.map_refs,
            extern_refs: linked.extern_refs,
            line_info: Vec::new(),
            func_info: Vec::new(),
            core_relocs: Vec::new(),
        };
        self.attach_debug_info(&linked.placed, &mut program);
        Ok(program)
    }

    /// Copies the `.BTF.ext` records of every placed function into the
    /// program, as slot indices of the linked program.
    fn attach_debug_info(&self, placed: &[(usize, usize)], program: &mut Program<'data>) {
        for &(f, start) in placed {
            let function = self.functions[f];
            let section = self.code[function.code].section.name;
            let bytes = function.offset * 8..(function.offset + function.len) * 8;
            let shift = |insn: usize| start + insn / 8 - function.offset;
            for line in self.lines.within(section, &bytes) {
                program.line_info.push(line.at(shift(line.insn)));
            }
            for func in self.funcs.within(section, &bytes) {
                program.func_info.push(FuncInfo {
                    insn: shift(func.insn),
                    ..*func
                });
            }
            for core in self.core.within(section, &bytes) {
                program.core_relocs.push(core.at(shift(core.insn)));
            }
        }
        program.line_info.sort_by_key(|l| l.insn);
        program.func_info.sort_by_key(|f| f.insn);
        program.core_relocs.sort_by_key(|c| c.insn);
    }

    /// Appends function `f` to the program; returns its first slot.
    fn place(&self, linked: &mut Linked<'data>, f: usize) -> usize {
        if let Some(&start) = linked.starts.get(&f) {
            return start;
        }
        let function = self.functions[f];
        let start = linked.slots.len();
        let code = &self.code[function.code];
        linked
            .slots
            .extend_from_slice(&code.slots[function.offset..function.offset + function.len]);
        linked.placed.push((f, start));
        linked.starts.insert(f, start);
        start
    }

    /// Applies relocations and fixes calls in function `f`, placed at `start`.
    fn relocate(
        &self,
        linked: &mut Linked<'data>,
        f: usize,
        start: usize,
    ) -> Result<(), (usize, Failure)> {
        let function = self.functions[f];
        let code = &self.code[function.code];
        let mut pc = 0;
        while pc < function.len {
            let at = start + pc;
            let in_section = function.offset + pc;
            let slot = linked.slots[at];
            let width = if slot.code == LDDW { 2 } else { 1 };
            if pc + width > function.len {
                let kind = DecodeErrorKind::TruncatedLoadImm64;
                return Err((at, Failure::Decode(kind)));
            }
            let reloc = code.relocs.get(&in_section).copied();
            let local_call = slot.code == CALL && slot.src == op::CALL_LOCAL;
            let func_addr = slot.code == LDDW && slot.src == op::PSEUDO_FUNC;
            match reloc {
                Some(CodeTarget::Map(map)) => {
                    linked.slots[at].src = op::PSEUDO_MAP_IDX;
                    linked.slots[at].imm = map as i32;
                    linked.slots[at + 1].imm = 0;
                    linked.map_refs.push(MapRef {
                        insn: at,
                        map,
                        value_offset: None,
                    });
                }
                Some(CodeTarget::MapValue { map, offset }) => {
                    linked.slots[at].src = op::PSEUDO_MAP_IDX_VALUE;
                    linked.slots[at].imm = map as i32;
                    linked.slots[at + 1].imm = offset as i32;
                    linked.map_refs.push(MapRef {
                        insn: at,
                        map,
                        value_offset: Some(offset),
                    });
                }
                Some(CodeTarget::Extern(name)) => linked.extern_refs.push(ExternRef {
                    insn: at,
                    name,
                    call: slot.code == CALL,
                }),
                Some(CodeTarget::Code {
                    section,
                    slot: target,
                }) => {
                    let code_index = self.code.iter().position(|c| c.section.index == section);
                    let Some(code_index) = code_index else {
                        return Err((at, Failure::NotCode));
                    };
                    if slot.code == LDDW {
                        linked.slots[at].src = op::PSEUDO_FUNC;
                        linked.slots[at + 1].imm = 0;
                    }
                    self.fix_branch(linked, at, code_index, target)?;
                }
                None if local_call || func_addr => {
                    let target = (in_section as i64)
                        .checked_add(i64::from(slot.imm))
                        .and_then(|t| t.checked_add(1))
                        .and_then(|t| u64::try_from(t).ok())
                        .ok_or((at, Failure::NoFunction(i64::from(slot.imm))))?;
                    self.fix_branch(linked, at, function.code, target)?;
                }
                None => {}
            }
            pc += width;
        }
        Ok(())
    }

    /// Points the call or function address at `at` to section slot `target`
    /// of code section `code`, placing its function if needed.
    fn fix_branch(
        &self,
        linked: &mut Linked<'data>,
        at: usize,
        code: usize,
        target: u64,
    ) -> Result<(), (usize, Failure)> {
        let no_function = || {
            (
                at,
                Failure::NoFunction(i64::try_from(target).unwrap_or(i64::MAX)),
            )
        };
        let target_slot = usize::try_from(target).map_err(|_| no_function())?;
        // Functions are sorted by section, then offset.
        let after = self
            .functions
            .partition_point(|f| (f.code, f.offset) <= (code, target_slot));
        let callee = after
            .checked_sub(1)
            .filter(|&i| {
                let f = &self.functions[i];
                f.code == code && target_slot < f.offset + f.len
            })
            .ok_or_else(no_function)?;
        let start = self.place(linked, callee);
        let linked_target = start + (target_slot - self.functions[callee].offset);
        let distance = (linked_target as i64) - (at as i64) - 1;
        let imm = i32::try_from(distance).map_err(|_| (at, Failure::TooFar(distance)))?;
        linked.slots[at].imm = imm;
        Ok(())
    }

    fn error(&self, main: FunctionSlots<'data>, pc: usize, failure: Failure) -> ObjectError {
        let reason = match failure {
            Failure::Decode(kind) => return self.decode_error(main, DecodeError { pc, kind }),
            Failure::NotCode => "calls into a section that is not code".to_owned(),
            Failure::NoFunction(slot) => {
                format!("calls or takes the address of slot {slot}, which is in no function")
            }
            Failure::TooFar(distance) => {
                format!("is {distance} slots from its target, more than an imm holds")
            }
        };
        ObjectError::BadCall {
            section: self.code[main.code].section.name.to_owned(),
            program: main.name.to_owned(),
            pc,
            reason,
        }
    }

    fn decode_error(&self, main: FunctionSlots<'data>, source: DecodeError) -> ObjectError {
        ObjectError::Decode {
            section: self.code[main.code].section.name.to_owned(),
            program: main.name.to_owned(),
            source,
        }
    }
}

/// Why a program could not be linked, before it is put into words.
enum Failure {
    Decode(DecodeErrorKind),
    NotCode,
    /// A call or function address whose target slot is in no function.
    NoFunction(i64),
    TooFar(i64),
}

/// A program being linked.
struct Linked<'data> {
    slots: Vec<Slot>,
    /// Functions placed so far, with their first slot, in order.
    placed: Vec<(usize, usize)>,
    /// The same, by function.
    starts: HashMap<usize, usize>,
    map_refs: Vec<MapRef>,
    extern_refs: Vec<ExternRef<'data>>,
}

/// `.BTF.ext` records of one kind by section, sorted by byte offset, so
/// each placed function finds its records by binary search.
struct RecordIndex<'a, T> {
    by_section: HashMap<&'a str, Vec<(usize, &'a T)>>,
}

impl<'a, T> RecordIndex<'a, T> {
    fn new(blocks: Option<&'a [SectionRecords<'a, T>]>, offset: fn(&T) -> usize) -> Self {
        let mut by_section: HashMap<&'a str, Vec<(usize, &'a T)>> = HashMap::new();
        for block in blocks.unwrap_or_default() {
            let records = by_section.entry(block.section).or_default();
            records.extend(block.records.iter().map(|r| (offset(r), r)));
        }
        for records in by_section.values_mut() {
            records.sort_by_key(|&(offset, _)| offset);
        }
        RecordIndex { by_section }
    }

    /// Records of `section` at byte offsets in `bytes`.
    fn within(
        &self,
        section: &str,
        bytes: &core::ops::Range<usize>,
    ) -> impl Iterator<Item = &'a T> {
        let records = self.by_section.get(section).map_or(&[][..], Vec::as_slice);
        let start = records.partition_point(|&(offset, _)| offset < bytes.start);
        let end = records.partition_point(|&(offset, _)| offset < bytes.end);
        records[start..end].iter().map(|&(_, r)| r)
    }
}

/// Reads a code section's slots and classifies its relocations.
fn read_code<'data>(
    elf: &Elf<'data>,
    maps: &MapLookup,
    section: &Section<'data>,
    listing: &mut Vec<Relocation<'data>>,
) -> Result<CodeSection<'data>> {
    let (chunks, rest) = section.data.as_chunks::<{ visor_isa::SLOT_LEN }>();
    if !rest.is_empty() {
        return Err(ObjectError::bad_value(
            section.name,
            "code size (not a multiple of 8)",
            0,
            section.data.len() as u64,
        ));
    }
    let slots: Vec<Slot> = chunks.iter().map(|c| Slot::from_bytes(*c)).collect();
    let mut starts = vec![false; slots.len()];
    let mut i = 0;
    while i < slots.len() {
        starts[i] = true;
        i += if slots[i].code == LDDW { 2 } else { 1 };
    }
    let mut relocs = BTreeMap::new();
    for raw in elf.relocations_for(section.index) {
        let (index, target) = reloc::classify(elf, maps, section, &slots, &starts, raw)?;
        if relocs.insert(index, target).is_some() {
            return Err(ObjectError::BadRelocation {
                section: section.name.to_owned(),
                offset: raw.offset,
                symbol: reloc::symbol_label(elf, &elf.symbols[raw.symbol]).to_owned(),
                reason: "a second relocation for the same instruction".into(),
            });
        }
        listing.push(Relocation {
            section: section.name,
            offset: raw.offset,
            r_type: raw.r_type,
            symbol: reloc::symbol_label(elf, &elf.symbols[raw.symbol]),
            target: target.listed(elf),
        });
    }
    Ok(CodeSection {
        section: *section,
        slots,
        relocs,
    })
}

/// Functions of every code section, by section then offset; marks entries.
fn find_functions<'data>(
    elf: &Elf<'data>,
    code: &[CodeSection<'data>],
) -> Result<Vec<FunctionSlots<'data>>> {
    let mut all = Vec::new();
    for (code_index, c) in code.iter().enumerate() {
        let slot_count = c.slots.len();
        let mut symbols: Vec<_> = elf
            .symbols_in(c.section.index)
            .filter(|s| s.kind == SymbolKind::Func || (s.kind == SymbolKind::NoType && s.global))
            .collect();
        symbols.sort_by_key(|s| s.value);
        symbols.dedup_by_key(|s| s.value);
        let is_text = c.section.name == TEXT;
        if symbols.is_empty() {
            if !is_text {
                all.push(FunctionSlots {
                    name: c.section.name,
                    code: code_index,
                    offset: 0,
                    len: slot_count,
                    entry: true,
                    global: true,
                });
            }
            continue;
        }
        for (n, symbol) in symbols.iter().enumerate() {
            let bad = |reason: String| ObjectError::BadSymbol {
                index: symbol.index,
                name: symbol.name.to_owned(),
                reason,
            };
            if !symbol.value.is_multiple_of(8) || !symbol.size.is_multiple_of(8) {
                return Err(bad(format!(
                    "function at {:#x} of size {} in {} is not made of whole instructions",
                    symbol.value, symbol.size, c.section.name
                )));
            }
            let offset = usize::try_from(symbol.value / 8).unwrap_or(usize::MAX);
            let next = symbols.get(n + 1).map_or(slot_count, |s| {
                usize::try_from(s.value / 8).unwrap_or(usize::MAX)
            });
            let len = match symbol.size {
                // A sizeless label at the very end names no code.
                0 if offset == slot_count => continue,
                0 => next.saturating_sub(offset),
                size => usize::try_from(size / 8).unwrap_or(usize::MAX),
            };
            let end = offset
                .checked_add(len)
                .filter(|&end| end <= slot_count && len > 0);
            if end.is_none() {
                return Err(bad(format!(
                    "function at {:#x} of size {} does not fit in {} ({} bytes)",
                    symbol.value,
                    symbol.size,
                    c.section.name,
                    c.section.data.len()
                )));
            }
            all.push(FunctionSlots {
                name: symbol.name,
                code: code_index,
                offset,
                len,
                entry: !is_text,
                global: symbol.global,
            });
        }
    }
    for (a, b) in all.iter().zip(all.iter().skip(1)) {
        if a.code == b.code && a.offset + a.len > b.offset {
            return Err(ObjectError::BadSymbol {
                index: 0,
                name: b.name.to_owned(),
                reason: format!("overlaps function {}", a.name),
            });
        }
    }
    if !all.iter().any(|f| f.entry) {
        for f in all.iter_mut() {
            f.entry = f.global;
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use crate::Object;
    use crate::elf::Elf;
    use crate::error::ObjectError;

    const PROGRAMS: &[u8] = include_bytes!("../tests/data/programs.o");

    /// `programs.o` with the `imm` of slot `slot` of `.text` replaced.
    fn with_text_imm(slot: usize, imm: i32) -> Vec<u8> {
        let elf = Elf::parse(PROGRAMS).unwrap();
        let text = elf.section_by_name(".text").unwrap();
        let at = text.data.as_ptr() as usize - PROGRAMS.as_ptr() as usize + slot * 8 + 4;
        let mut bytes = PROGRAMS.to_vec();
        bytes[at..at + 4].copy_from_slice(&imm.to_le_bytes());
        bytes
    }

    #[test]
    fn calls_into_no_function_are_named() {
        // add_one (slot 0 of .text) calls double_it with `call 2`, no relocation.
        let error = Object::parse(&with_text_imm(0, 100)).unwrap_err();
        let ObjectError::BadCall {
            section,
            program,
            pc,
            reason,
        } = &error
        else {
            panic!("{error}");
        };
        assert_eq!(
            (section.as_str(), program.as_str(), *pc),
            ("xdp", "first", 2)
        );
        assert!(reason.contains("slot 101"), "{reason}");
        // Backwards out of the section.
        assert!(matches!(
            Object::parse(&with_text_imm(0, -5)),
            Err(ObjectError::BadCall { .. })
        ));
    }

    #[test]
    fn shared_subprograms_cannot_blow_up_the_linked_size() {
        use super::*;
        use visor_isa::opcode as op;
        // 3000 two-slot programs, each calling one 1001-slot .text function:
        // three million linked slots from 7001 in the file.
        let (programs, body) = (3000, 1000);
        let section = |index, name| Section {
            index,
            name,
            sh_type: object::elf::SHT_PROGBITS,
            flags: u64::from(object::elf::SHF_EXECINSTR),
            data: &[],
            size: 0,
        };
        let call = Slot {
            code: CALL,
            src: op::CALL_LOCAL,
            imm: -1,
            ..Slot::default()
        };
        let exit = Slot {
            code: op::JMP | op::EXIT,
            ..Slot::default()
        };
        let mov = Slot {
            code: op::ALU64 | op::MOV,
            ..Slot::default()
        };
        let entries = CodeSection {
            section: section(1, "xdp"),
            slots: (0..programs).flat_map(|_| [call, exit]).collect(),
            relocs: (0..programs)
                .map(|i| {
                    (
                        2 * i,
                        CodeTarget::Code {
                            section: 2,
                            slot: 0,
                        },
                    )
                })
                .collect(),
        };
        let mut text_slots = vec![mov; body];
        text_slots.push(exit);
        let text = CodeSection {
            section: section(2, TEXT),
            slots: text_slots,
            relocs: BTreeMap::new(),
        };
        let function = |code, offset, len, entry| FunctionSlots {
            name: "f",
            code,
            offset,
            len,
            entry,
            global: true,
        };
        let mut functions: Vec<_> = (0..programs).map(|i| function(0, 2 * i, 2, true)).collect();
        functions.push(function(1, 0, body + 1, false));
        let linker = Linker {
            code: vec![entries, text],
            functions,
            lines: RecordIndex::new(None, |l| l.insn),
            funcs: RecordIndex::new(None, |f| f.insn),
            core: RecordIndex::new(None, |c| c.insn),
        };
        let error = linker.programs().unwrap_err();
        assert!(
            matches!(&error, ObjectError::BadCall { reason, .. } if reason.contains("more than")),
            "{error}"
        );
    }

    #[test]
    fn calls_into_the_middle_of_a_function_keep_their_offset() {
        // `call 3` lands on double_it's second instruction (slot 4).
        let bytes = with_text_imm(0, 3);
        let object = Object::parse(&bytes).unwrap();
        let first = object.program("first").unwrap();
        let call = first.insns().iter().find(|(pc, _)| *pc == 2).unwrap().1;
        assert_eq!(visor_isa::branch_target(2, call), Some(6));
    }
}
