//! [`Object`]: the whole parse, in the order the parts depend on each other.

use crate::btf::Btf;
use crate::btf::ext::BtfExt;
use crate::elf::Elf;
use crate::error::{ObjectError, Result};
use crate::link::Linker;
use crate::maps::{self, DataKind, Map};
use crate::program::{Function, Program};
use crate::reloc::Relocation;

/// A parsed eBPF object: programs linked and relocated against map indices,
/// map definitions, and the debug information tools want. Parsing creates
/// nothing in a kernel or an engine; everything borrows from the input.
#[derive(Clone, Debug)]
pub struct Object<'data> {
    license: Option<&'data str>,
    kernel_version: Option<u32>,
    programs: Vec<Program<'data>>,
    functions: Vec<Function<'data>>,
    maps: Vec<Map<'data>>,
    relocations: Vec<Relocation<'data>>,
    btf: Option<Btf<'data>>,
}

impl<'data> Object<'data> {
    /// Parses an ELF object built by `clang -target bpf`.
    ///
    /// Fails with an error naming the section, offset and value on any
    /// malformed structure, unsupported relocation, or instruction the
    /// strict decoder rejects; never panics.
    pub fn parse(data: &'data [u8]) -> Result<Object<'data>> {
        let elf = Elf::parse(data)?;
        let license = license(&elf)?;
        let kernel_version = kernel_version(&elf)?;
        let btf = match elf.section_by_name(".BTF") {
            Some(section) => Some(Btf::parse(section.data)?),
            None => None,
        };
        let ext = match (elf.section_by_name(".BTF.ext"), &btf) {
            (Some(section), Some(btf)) => {
                let ext = BtfExt::parse(section.data, btf)?;
                ext.check_sections(|name| {
                    let code = elf.sections.iter().find(|s| s.name == name && s.is_code());
                    code.map(|s| s.size)
                })?;
                Some(ext)
            }
            (Some(_), None) => {
                return Err(ObjectError::NotBpf {
                    reason: ".BTF.ext is present but .BTF is not".into(),
                });
            }
            (None, _) => None,
        };

        let mut maps = maps::legacy_maps(&elf)?;
        maps.extend(maps::btf_maps(&elf, btf.as_ref())?);
        for section in &elf.sections {
            let kind = DataKind::of_section(section.name, section.is_nobits());
            let data_section = section.is_progbits() || section.is_nobits();
            if let Some(kind) =
                kind.filter(|_| data_section && section.size > 0 && !section.is_code())
            {
                maps.push(maps::data_map(section, kind)?);
            }
        }

        let mut relocations = Vec::new();
        maps::initial_slots(&elf, &mut maps, &mut relocations)?;
        let linker = Linker::new(&elf, &maps, ext.as_ref(), &mut relocations)?;
        let programs = linker.programs()?;
        Ok(Object {
            license,
            kernel_version,
            programs,
            functions: linker.functions(),
            maps,
            relocations,
            btf,
        })
    }

    /// The `license` section (`"GPL"`), if present.
    pub fn license(&self) -> Option<&'data str> {
        self.license
    }

    /// The `version` section: the kernel version old kprobe loaders checked.
    pub fn kernel_version(&self) -> Option<u32> {
        self.kernel_version
    }

    /// Programs in section order, then by offset within a section.
    pub fn programs(&self) -> &[Program<'data>] {
        &self.programs
    }

    /// The program whose entry function (or section, for symbol-less
    /// sections) is `name`.
    pub fn program(&self, name: &str) -> Option<&Program<'data>> {
        self.programs.iter().find(|p| p.name() == name)
    }

    /// Every function of every code section, entry points and subprograms.
    pub fn functions(&self) -> &[Function<'data>] {
        &self.functions
    }

    /// The function of `section` that contains byte `offset`.
    pub fn function_at(&self, section: &str, offset: u64) -> Option<&Function<'data>> {
        self.functions
            .iter()
            .find(|f| f.section == section && (f.offset..f.offset + f.size).contains(&offset))
    }

    /// Maps, indexed as the relocated instructions index them.
    pub fn maps(&self) -> &[Map<'data>] {
        &self.maps
    }

    /// The map called `name`, with its index.
    pub fn map(&self, name: &str) -> Option<(usize, &Map<'data>)> {
        self.maps.iter().enumerate().find(|(_, m)| m.name() == name)
    }

    /// Relocations of code sections and `.maps`, resolved, in file order.
    pub fn relocations(&self) -> &[Relocation<'data>] {
        &self.relocations
    }

    /// The object's BTF; `None` when it has no `.BTF` section.
    pub fn btf(&self) -> Option<&Btf<'data>> {
        self.btf.as_ref()
    }
}

/// The license string, up to its first NUL.
fn license<'data>(elf: &Elf<'data>) -> Result<Option<&'data str>> {
    let Some(section) = elf.section_by_name("license") else {
        return Ok(None);
    };
    let bytes = section.data.split(|&b| b == 0).next().unwrap_or_default();
    core::str::from_utf8(bytes)
        .map(Some)
        .map_err(|_| ObjectError::BadString {
            section: section.name.to_owned(),
            offset: 0,
            reason: "is not UTF-8",
        })
}

/// The `version` section: one `u32`.
fn kernel_version(elf: &Elf<'_>) -> Result<Option<u32>> {
    let Some(section) = elf.section_by_name("version") else {
        return Ok(None);
    };
    let bytes: [u8; 4] = section.data.try_into().map_err(|_| {
        ObjectError::bad_value(
            section.name,
            "size (must be 4)",
            0,
            section.data.len() as u64,
        )
    })?;
    Ok(Some(u32::from_le_bytes(bytes)))
}

#[cfg(test)]
mod tests {
    use visor_isa::{CallTarget, Insn, LoadImm, branch_target};

    use super::*;
    use crate::kind::{ProgramKind, XdpAttach};
    use crate::maps::{BPF_F_RDONLY_PROG, LegacyExtra, MapOrigin, MapType, SlotTarget};
    use crate::reloc::RelocTarget;

    const PROGRAMS: &[u8] = include_bytes!("../tests/data/programs.o");
    const MAPS: &[u8] = include_bytes!("../tests/data/maps.o");

    /// The slot a call or function address at `pc` lands on.
    fn target(program: &Program<'_>, pc: usize) -> usize {
        let insn = program.insns().iter().find(|(at, _)| *at == pc).unwrap().1;
        branch_target(pc, insn).unwrap() as usize
    }

    fn spans<'a>(program: &Program<'a>) -> Vec<(&'a str, usize, usize)> {
        program
            .functions()
            .iter()
            .map(|f| (f.name, f.start, f.len))
            .collect()
    }

    #[test]
    fn several_programs_per_section_with_their_kinds() {
        let object = Object::parse(PROGRAMS).unwrap();
        let names: Vec<_> = object
            .programs()
            .iter()
            .map(|p| (p.section(), p.name()))
            .collect();
        assert_eq!(
            names,
            [
                ("xdp", "first"),
                ("xdp", "second"),
                ("tracepoint/syscalls/sys_enter_write", "on_write")
            ]
        );
        let xdp = ProgramKind::Xdp {
            frags: false,
            attach: XdpAttach::Interface,
        };
        assert_eq!(object.programs()[0].kind(), &xdp);
        assert_eq!(object.programs()[1].section_offset(), 16);
        assert_eq!(
            object.programs()[2].kind().attach_point().as_deref(),
            Some("syscalls/sys_enter_write")
        );
        assert_eq!(object.license(), Some("GPL"));
        assert_eq!(object.kernel_version(), None);
    }

    #[test]
    fn text_subprograms_are_appended_and_calls_fixed() {
        let object = Object::parse(PROGRAMS).unwrap();
        // first -> add_one (global, by symbol) -> double_it (same section, no relocation)
        let first = object.program("first").unwrap();
        assert_eq!(
            spans(first),
            [("first", 0, 2), ("add_one", 2, 3), ("double_it", 5, 3)]
        );
        assert_eq!(first.insns().insns()[0], Insn::Call(CallTarget::Local(1)));
        assert_eq!(target(first, 0), 2);
        assert_eq!(target(first, 2), 5);
        // second -> count_step (callback address: lddw of .text + 48 with
        // src 0) -> double_it (static: a call relocated against .text)
        let second = object.program("second").unwrap();
        assert_eq!(
            spans(second),
            [
                ("second", 0, 12),
                ("count_step", 12, 5),
                ("double_it", 17, 3)
            ]
        );
        // Section slots 7 and 12 are program slots 5 and 10.
        let Insn::LoadImm64 { kind, .. } =
            second.insns().iter().find(|(pc, _)| *pc == 5).unwrap().1
        else {
            panic!("lddw expected at 5");
        };
        assert_eq!(*kind, LoadImm::Func);
        assert_eq!(target(second, 5), 12);
        assert_eq!(target(second, 10), 17);
        let listed: Vec<_> = object
            .relocations()
            .iter()
            .map(|r| (r.offset, r.type_name(), r.symbol))
            .collect();
        assert_eq!(
            listed,
            [
                (0, "R_BPF_64_32", "add_one"),
                (0x38, "R_BPF_64_64", ".text"),
                (0x60, "R_BPF_64_32", ".text")
            ]
        );
        assert_eq!(
            object.relocations()[1].target,
            RelocTarget::Code {
                section: ".text",
                slot: 6
            }
        );
    }

    #[test]
    fn line_info_follows_linked_functions() {
        let object = Object::parse(PROGRAMS).unwrap();
        let first = object.program("first").unwrap();
        let texts: Vec<_> = first
            .line_info()
            .iter()
            .map(|l| (l.insn, l.text()))
            .collect();
        assert!(
            texts.iter().any(|(_, t)| t.contains("return add_one(n);")),
            "{texts:?}"
        );
        // double_it's body sits at slots 5..8 of `first`.
        let line = first.source_line(6).unwrap();
        assert!(line.text().contains("x * 2"), "{:?}", line.text());
        assert!(line.file().ends_with("programs.c"));
        assert!(line.line > 0);
        assert_eq!(first.lines_at(line.insn).first(), Some(line));
        let funcs: Vec<_> = first.func_info().iter().map(|f| (f.insn, f.name)).collect();
        assert_eq!(funcs, [(0, "first"), (2, "add_one"), (5, "double_it")]);
    }

    #[test]
    fn legacy_and_btf_maps() {
        let object = Object::parse(MAPS).unwrap();
        let names: Vec<_> = object.maps().iter().map(|m| m.name()).collect();
        assert_eq!(
            names,
            [
                "counters", "table", "inner_a", "outer", "jumps", "stats", ".data", ".rodata",
                ".bss"
            ]
        );
        let (_, counters) = object.map("counters").unwrap();
        assert_eq!(counters.def().map_type, MapType::Hash);
        assert_eq!((counters.def().key_size, counters.def().value_size), (4, 8));
        assert_eq!(counters.def().max_entries, 128);
        assert!(matches!(
            counters.origin(),
            MapOrigin::Legacy {
                record_size: 28,
                extra: LegacyExtra::Samples { .. }
            }
        ));
        let (_, stats) = object.map("stats").unwrap();
        assert_eq!(stats.def().map_type.name(), Some("hash"));
        assert_eq!((stats.def().key_size, stats.def().value_size), (4, 16));
        assert_eq!((stats.def().max_entries, stats.def().flags), (1024, 1));
        let MapOrigin::Btf {
            value_type: Some(value),
            ..
        } = stats.origin()
        else {
            panic!("BTF map expected");
        };
        assert_eq!(object.btf().unwrap().get(*value).unwrap().name, "value");
        let (_, outer) = object.map("outer").unwrap();
        let inner = outer.def().inner.as_deref().unwrap();
        assert_eq!(
            (inner.map_type, inner.value_size, inner.max_entries),
            (MapType::Array, 8, 2)
        );
        assert_eq!(outer.slots(), [(1, SlotTarget::Map(2))]);
        let (_, jumps) = object.map("jumps").unwrap();
        assert_eq!(jumps.def().map_type, MapType::ProgArray);
        assert_eq!(jumps.def().value_size, 4);
        assert_eq!(jumps.slots(), [(2, SlotTarget::Program("tail"))]);
        assert_eq!(object.kernel_version(), Some(0x050a00));
    }

    #[test]
    fn global_data_maps_and_value_relocations() {
        let object = Object::parse(MAPS).unwrap();
        let (data_index, data) = object.map(".data").unwrap();
        assert_eq!(data.initial_data(), Some(&[7, 0, 0, 0, 3, 0, 0, 0][..]));
        assert_eq!(
            (data.def().map_type, data.def().max_entries),
            (MapType::Array, 1)
        );
        let (_, rodata) = object.map(".rodata").unwrap();
        assert_eq!(rodata.def().flags, BPF_F_RDONLY_PROG);
        let (bss_index, bss) = object.map(".bss").unwrap();
        assert_eq!((bss.def().value_size, bss.initial_data()), (16, None));

        let program = object.program("use_maps").unwrap();
        let refs = program.map_refs();
        let misses = refs
            .iter()
            .find(|r| r.map == data_index && r.value_offset == Some(4))
            .unwrap();
        let insn = program
            .insns()
            .iter()
            .find(|(pc, _)| *pc == misses.insn)
            .unwrap()
            .1;
        assert_eq!(
            *insn,
            Insn::LoadImm64 {
                kind: LoadImm::MapIdxValue,
                dst: visor_isa::Reg::R1,
                imm: (4 << 32) | data_index as u64
            }
        );
        // A static variable: the section symbol plus the addend in the lddw.
        assert!(
            refs.iter()
                .any(|r| r.map == bss_index && r.value_offset == Some(8))
        );
        let (counters, _) = object.map("counters").unwrap();
        let by_map = refs.iter().find(|r| r.map == counters).unwrap();
        let insn = program
            .insns()
            .iter()
            .find(|(pc, _)| *pc == by_map.insn)
            .unwrap()
            .1;
        assert!(
            matches!(insn, Insn::LoadImm64 { kind: LoadImm::MapIdx, imm, .. } if *imm == counters as u64)
        );
    }
}
