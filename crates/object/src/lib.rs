//! ELF objects from `clang -target bpf -O2 -g`, parsed into a
//! backend-neutral [`Object`]: programs (linked with their subprograms and
//! relocated against map *indices*), map definitions, global data, the
//! relocation list, and BTF line info for listings. Parsing creates nothing:
//! the userspace engine and the kernel backend both start from an `Object`.
//!
//! ```
//! use visor_object::{Object, ProgramType};
//! let bytes = include_bytes!("../tests/data/programs.o"); // or std::fs::read
//! let object = Object::parse(bytes)?;
//! let first = object.program("first").unwrap();
//! assert_eq!(first.kind().program_type(), Some(ProgramType::Xdp));
//! // `first` calls add_one, which calls double_it: both are linked after it.
//! let names: Vec<_> = first.functions().iter().map(|f| f.name).collect();
//! assert_eq!(names, ["first", "add_one", "double_it"]);
//! let line = first.source_line(0).unwrap();
//! assert_eq!(line.text().trim(), "return add_one(n);");
//! # Ok::<(), visor_object::ObjectError>(())
//! ```
//!
//! # Code map
//!
//! | module | what |
//! |---|---|
//! | `object` | [`Object::parse`]: the order of the whole parse |
//! | `elf` | the ELF container through the `object` crate's low-level API: header checks, sections, symbols, REL/RELA entries, all indices checked once |
//! | `cursor` | a forward-only reader of untrusted bytes that cannot panic |
//! | [`kind`] | section names to [`ProgramKind`] by libbpf's `SEC()` rules (`kind/rules.rs` holds the table), the kernel's [`ProgramType`] and [`AttachType`] numbers and names |
//! | [`maps`] | [`MapDef`], [`MapType`] names; legacy `maps` records (`maps/legacy.rs`), BTF `.maps` and `.rel.maps` slots (`maps/btf_maps.rs`), global data maps |
//! | `reloc` | what each code relocation means, decided once; [`Relocation`] for listings |
//! | `link` | functions per code section; linking each entry with its subprograms; map-index rewriting; re-basing `.BTF.ext` records |
//! | [`program`] | [`Program`]: linked instructions, map and extern references, line-info lookup |
//! | [`btf`] | `.BTF` types and strings; [`btf::ext`]: func info, line info, CO-RE records |
//! | `error` | [`ObjectError`]: one variant per failure, carrying section, offset, value |
//!
//! Tests: unit tests beside the code run on two fixtures built from C in
//! `tests/data` (several programs per section, `.text` subprograms and a
//! callback, legacy and BTF maps, map-in-map, prog array, global data);
//! `tests/corpus.rs` parses every object of `../shared/objects`;
//! `tests/robustness.rs` truncates and corrupts objects (proptest).
//!
//! **Architecture Invariant:** no input makes this crate panic or loop:
//! every read of file data is length-checked, every file value is checked
//! before arithmetic, type chains are followed with a depth limit. Truncated
//! and bit-flipped corpus objects are property-tested and fuzzed
//! (`fuzz/fuzz_targets/object.rs`).
//!
//! **API Boundary:** [`Object`] and what it hands out. Map indices in
//! instructions (`src = PSEUDO_MAP_IDX`, `imm = index into Object::maps()`)
//! are the contract with backends, which replace them with their own maps.
//!
//! # Supported
//!
//! - 64-bit little-endian relocatable objects, `e_machine` `EM_BPF` or
//!   `EM_NONE` (LLVM before 3.9); REL and RELA relocation sections.
//! - Program sections by libbpf's names, current and legacy (see [`kind`]);
//!   several programs per section; sections without function symbols.
//! - bpf-to-bpf calls and function addresses (`lddw` `PSEUDO_FUNC`) into
//!   `.text` or the same section, subprograms appended as libbpf does.
//! - Legacy `maps` / `maps/NAME` records of any size, BTF `.maps` with
//!   `__uint`, `__type`, `__ulong`, `__array(values, ...)` (map-in-map
//!   templates, initial prog-array and map-in-map slots from `.rel.maps`).
//! - `.data`, `.rodata`, `.bss` and their `.NAME` variants as one-entry
//!   array maps with `lddw` map-value relocations.
//! - `license` and `version` sections.
//! - `.BTF` (all kinds up to `ENUM64`) and `.BTF.ext` func info, line info
//!   and CO-RE records, re-based onto each linked program.
//!
//! Decisions where loaders differ, written down:
//!
//! - Every `STT_FUNC` symbol of a program section is a program, static ones
//!   included (Cilium's `tc/tail` programs are static); libbpf 1.x refuses
//!   static programs.
//! - An `lddw` relocated against code is a function address even when the
//!   compiler left `src = 0`; its `src` becomes `PSEUDO_FUNC`.
//! - A relocation section must be named after the section it relocates, and
//!   every `.BTF.ext` record must point at an instruction of a code section:
//!   corrupted objects are caught there rather than loaded half-right.
//! - Unknown BTF map members are skipped, unknown map type numbers kept as
//!   [`MapType::Other`], unknown section names as [`ProgramKind::Unknown`].
//!
//! # Not supported (yet)
//!
//! - Big-endian (`bpfeb`) and 32-bit objects: a clear error.
//! - Applying CO-RE relocations (recorded per program; they need the target
//!   kernel's BTF) and resolving externs (`.kconfig`, `.ksyms`, kfunc calls:
//!   recorded as [`ExternRef`]s, instructions left as compiled).
//! - `struct_ops` maps (`.struct_ops` sections), arenas (`.addr_space.*`),
//!   jump tables, and static linking of several objects.
//! - Relocations in sections other than code and `.maps` (debug info, BTF)
//!   are not interpreted, and DWARF is not read: source lines come from BTF.
#![forbid(unsafe_code)]

pub mod btf;
mod cursor;
mod elf;
mod error;
pub mod kind;
mod link;
pub mod maps;
mod object;
pub mod program;
mod reloc;

pub use btf::Btf;
pub use btf::ext::{CoreReloc, FuncInfo, LineInfo};
pub use error::{ObjectError, Result, reloc_type_name};
pub use kind::{AttachType, ProgramKind, ProgramType};
pub use maps::{DataKind, LegacyExtra, Map, MapDef, MapOrigin, MapType, SlotTarget};
pub use object::Object;
pub use program::{ExternRef, Function, FunctionSpan, MapRef, Program};
pub use reloc::{RelocTarget, Relocation};
