//! The ELF container: sections, symbols and relocation entries, read through
//! the `object` crate's low-level ELF API and checked once here, so the rest
//! of the crate works with plain indices that are known to be in range.
//!
//! Only 64-bit little-endian relocatable files are accepted: that is what
//! `clang -target bpf` (`bpfel`) produces on every host visor runs on.

use object::elf;
use object::read::elf::{FileHeader, Rel as _, Rela as _, SectionHeader as _, Sym as _};
use object::{LittleEndian as LE, SymbolIndex};

use crate::error::{ObjectError, Result};

type Header = elf::FileHeader64<LE>;
type Sym = elf::Sym64<LE>;

/// `EM_BPF`; LLVM before 3.9 wrote `EM_NONE`, which libbpf also accepts.
pub(crate) const EM_BPF: u16 = 247;

/// One section header with its name and contents.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Section<'data> {
    pub index: usize,
    pub name: &'data str,
    pub sh_type: u32,
    pub flags: u64,
    /// The bytes in the file; empty for `SHT_NOBITS` (`.bss`).
    pub data: &'data [u8],
    /// `sh_size`: for `SHT_NOBITS` the size in memory, else `data.len()`.
    pub size: u64,
}

impl Section<'_> {
    /// Code: `SHT_PROGBITS` with `SHF_EXECINSTR`, as libbpf decides.
    pub fn is_code(&self) -> bool {
        self.sh_type == elf::SHT_PROGBITS && self.flags & u64::from(elf::SHF_EXECINSTR) != 0
    }

    pub fn is_progbits(&self) -> bool {
        self.sh_type == elf::SHT_PROGBITS
    }

    pub fn is_nobits(&self) -> bool {
        self.sh_type == elf::SHT_NOBITS
    }
}

/// What a symbol names (`STT_*`), as far as this crate cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SymbolKind {
    NoType,
    Object,
    Func,
    Section,
    Other(u8),
}

/// One symbol table entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Symbol<'data> {
    pub index: usize,
    pub name: &'data str,
    pub value: u64,
    pub size: u64,
    pub kind: SymbolKind,
    /// `STB_GLOBAL` or `STB_WEAK`.
    pub global: bool,
    /// The defining section; `None` when undefined, absolute or common.
    pub section: Option<usize>,
}

/// One relocation entry, REL or RELA.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawReloc {
    pub offset: u64,
    /// Index into [`Elf::symbols`], checked.
    pub symbol: usize,
    pub r_type: u32,
    /// The explicit addend of RELA entries; REL keeps it in the instruction.
    pub addend: Option<i64>,
}

/// The parsed container.
#[derive(Debug)]
pub(crate) struct Elf<'data> {
    pub machine: u16,
    pub sections: Vec<Section<'data>>,
    pub symbols: Vec<Symbol<'data>>,
    /// Indices into `symbols` per defining section, in symbol table order.
    by_section: Vec<Vec<usize>>,
    /// Relocations per relocated section index.
    pub relocations: Vec<(usize, Vec<RawReloc>)>,
}

impl<'data> Elf<'data> {
    pub fn parse(data: &'data [u8]) -> Result<Elf<'data>> {
        let header = Header::parse(data).map_err(|e| ObjectError::elf("file header", e))?;
        let ident = header.e_ident();
        if ident.class != elf::ELFCLASS64 {
            return Err(not_bpf("32-bit ELF (eBPF objects are ELF64)"));
        }
        if ident.data != elf::ELFDATA2LSB {
            return Err(not_bpf(
                "big-endian object (built for bpfeb): only little-endian objects are supported",
            ));
        }
        let endian = LE;
        let machine = header.e_machine(endian);
        if machine != EM_BPF && machine != elf::EM_NONE {
            return Err(not_bpf(format!("e_machine is {machine}, not EM_BPF (247)")));
        }
        let e_type = header.e_type(endian);
        if e_type != elf::ET_REL {
            return Err(not_bpf(format!(
                "e_type is {e_type}, not ET_REL: expected a relocatable object from clang -c"
            )));
        }
        let table = header
            .sections(endian, data)
            .map_err(|e| ObjectError::elf("section table", e))?;

        let mut sections = Vec::with_capacity(table.len());
        for (index, sh) in table.enumerate() {
            let name = table
                .section_name(endian, sh)
                .map_err(|e| ObjectError::Elf {
                    what: "section name",
                    reason: format!(
                        "section {}, name offset {:#x}: {e}",
                        index.0,
                        sh.sh_name(endian)
                    ),
                })?;
            let name = utf8(name).ok_or_else(|| ObjectError::Elf {
                what: "section name",
                reason: format!(
                    "the name of section {} (at {:#x} in the name table) is not UTF-8",
                    index.0,
                    sh.sh_name(endian)
                ),
            })?;
            let contents = sh.data(endian, data).map_err(|e| ObjectError::Elf {
                what: "section contents",
                reason: format!(
                    "section {name}: {} bytes at offset {:#x} in a file of {}: {e}",
                    sh.sh_size(endian),
                    sh.sh_offset(endian),
                    data.len()
                ),
            })?;
            sections.push(Section {
                index: index.0,
                name,
                sh_type: sh.sh_type(endian),
                flags: sh.sh_flags(endian),
                data: contents,
                size: sh.sh_size(endian),
            });
        }

        let Some((symtab_index, symtab)) = table
            .enumerate()
            .find(|(_, sh)| sh.sh_type(endian) == elf::SHT_SYMTAB)
        else {
            return Err(ObjectError::MissingSymbolTable);
        };
        check_entsize(
            &sections,
            symtab_index.0,
            "symbol",
            symtab.sh_entsize(endian),
            24,
        )?;
        let table_symbols = table
            .symbols(endian, data, elf::SHT_SYMTAB)
            .map_err(|e| ObjectError::elf("symbol table", e))?;
        let mut symbols = Vec::with_capacity(table_symbols.len());
        for (index, sym) in table_symbols.enumerate() {
            symbols.push(read_symbol(&table_symbols, index, sym, sections.len())?);
        }

        let mut relocations = Vec::new();
        for (index, sh) in table.enumerate() {
            let sh_type = sh.sh_type(endian);
            if sh_type != elf::SHT_REL && sh_type != elf::SHT_RELA {
                continue;
            }
            let target = sh.info_link(endian).0;
            let link = sh.link(endian);
            if target == 0 || target >= sections.len() {
                return Err(ObjectError::bad_value(
                    sections[index.0].name,
                    "sh_info (relocated section)",
                    0,
                    target as u64,
                ));
            }
            // Producers name a relocation section after the one it relocates;
            // a mismatch means the section table or its names are corrupt.
            let (name, target_name) = (sections[index.0].name, sections[target].name);
            let prefix = if sh_type == elf::SHT_REL {
                ".rel"
            } else {
                ".rela"
            };
            if name.strip_prefix(prefix) != Some(target_name) {
                return Err(ObjectError::Elf {
                    what: "relocation section",
                    reason: format!(
                        "{name} relocates section {target_name}, so it should be named {prefix}{target_name}"
                    ),
                });
            }
            if link != symtab_index {
                return Err(ObjectError::bad_value(
                    sections[index.0].name,
                    "sh_link (symbol table)",
                    0,
                    link.0 as u64,
                ));
            }
            let entries = if sh_type == elf::SHT_REL {
                check_entsize(&sections, index.0, "REL", sh.sh_entsize(endian), 16)?;
                let rels = sh
                    .rel(endian, data)
                    .map_err(|e| relocation_error(name, e))?
                    .map_or(&[][..], |(rels, _)| rels);
                rels.iter()
                    .map(|r| (r.r_offset(endian), r.r_sym(endian), r.r_type(endian), None))
                    .collect::<Vec<_>>()
            } else {
                check_entsize(&sections, index.0, "RELA", sh.sh_entsize(endian), 24)?;
                let relas = sh
                    .rela(endian, data)
                    .map_err(|e| relocation_error(name, e))?
                    .map_or(&[][..], |(relas, _)| relas);
                relas
                    .iter()
                    .map(|r| {
                        (
                            r.r_offset(endian),
                            r.r_sym(endian, false),
                            r.r_type(endian, false),
                            Some(r.r_addend(endian)),
                        )
                    })
                    .collect()
            };
            let mut raw = Vec::with_capacity(entries.len());
            for (n, (offset, sym, r_type, addend)) in entries.into_iter().enumerate() {
                let symbol = sym as usize;
                if symbol == 0 || symbol >= symbols.len() {
                    return Err(ObjectError::bad_value(
                        sections[index.0].name,
                        "relocation symbol index",
                        n * if addend.is_some() { 24 } else { 16 },
                        sym,
                    ));
                }
                raw.push(RawReloc {
                    offset,
                    symbol,
                    r_type,
                    addend,
                });
            }
            relocations.push((target, raw));
        }

        let mut by_section = vec![Vec::new(); sections.len()];
        for symbol in &symbols {
            if let Some(list) = symbol.section.and_then(|s| by_section.get_mut(s)) {
                list.push(symbol.index);
            }
        }
        Ok(Elf {
            machine,
            sections,
            symbols,
            by_section,
            relocations,
        })
    }

    /// The first section called `name`.
    pub fn section_by_name(&self, name: &str) -> Option<&Section<'data>> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Symbols defined in section `index`, in symbol table order.
    pub fn symbols_in(&self, index: usize) -> impl Iterator<Item = &Symbol<'data>> {
        let indices = self.by_section.get(index).map_or(&[][..], Vec::as_slice);
        indices.iter().filter_map(|&i| self.symbols.get(i))
    }

    /// Relocations against section `index` (empty if it has none).
    pub fn relocations_for(&self, index: usize) -> impl Iterator<Item = &RawReloc> {
        self.relocations
            .iter()
            .filter(move |(target, _)| *target == index)
            .flat_map(|(_, list)| list.iter())
    }
}

fn relocation_error(section: &str, error: object::read::Error) -> ObjectError {
    ObjectError::Elf {
        what: "relocation section",
        reason: format!("{section}: {error}"),
    }
}

fn not_bpf(reason: impl Into<String>) -> ObjectError {
    ObjectError::NotBpf {
        reason: reason.into(),
    }
}

fn utf8(bytes: &[u8]) -> Option<&str> {
    core::str::from_utf8(bytes).ok()
}

fn check_entsize(
    sections: &[Section<'_>],
    index: usize,
    what: &'static str,
    found: u64,
    expected: u64,
) -> Result<()> {
    if found == expected {
        return Ok(());
    }
    Err(ObjectError::EntrySize {
        section: sections
            .get(index)
            .map_or_else(|| format!("#{index}"), |s| s.name.to_owned()),
        what,
        found,
        expected,
    })
}

fn read_symbol<'data>(
    table: &object::read::elf::SymbolTable<'data, Header, &'data [u8]>,
    index: SymbolIndex,
    sym: &'data Sym,
    section_count: usize,
) -> Result<Symbol<'data>> {
    let endian = LE;
    let name_bytes = table
        .symbol_name(endian, sym)
        .map_err(|_| ObjectError::BadSymbol {
            index: index.0,
            name: String::new(),
            reason: format!(
                "name offset {:#x} is outside the string table",
                sym.st_name(endian)
            ),
        })?;
    let name = utf8(name_bytes).ok_or_else(|| ObjectError::BadSymbol {
        index: index.0,
        name: String::from_utf8_lossy(name_bytes).into_owned(),
        reason: "name is not UTF-8".into(),
    })?;
    let shndx = sym.st_shndx(endian);
    let section = match shndx {
        elf::SHN_UNDEF | elf::SHN_ABS | elf::SHN_COMMON => None,
        elf::SHN_XINDEX => {
            let extended = table
                .shndx(endian, index)
                .ok_or_else(|| ObjectError::BadSymbol {
                    index: index.0,
                    name: name.to_owned(),
                    reason: "SHN_XINDEX without an extended section index table".into(),
                })?;
            Some(extended as usize)
        }
        n if n >= elf::SHN_LORESERVE => None,
        n => Some(usize::from(n)),
    };
    if let Some(s) = section.filter(|&s| s >= section_count) {
        return Err(ObjectError::BadSymbol {
            index: index.0,
            name: name.to_owned(),
            reason: format!("section index {s} is out of range ({section_count} sections)"),
        });
    }
    let kind = match sym.st_type() {
        elf::STT_NOTYPE => SymbolKind::NoType,
        elf::STT_OBJECT => SymbolKind::Object,
        elf::STT_FUNC => SymbolKind::Func,
        elf::STT_SECTION => SymbolKind::Section,
        other => SymbolKind::Other(other),
    };
    let bind = sym.st_bind();
    Ok(Symbol {
        index: index.0,
        name,
        value: sym.st_value(endian),
        size: sym.st_size(endian),
        kind,
        global: bind == elf::STB_GLOBAL || bind == elf::STB_WEAK,
        section,
    })
}
