//! One loadable program: its instructions after linking and relocation, and
//! what a backend and a listing need to know about them.

use crate::btf::ext::{CoreReloc, FuncInfo, LineInfo};
use crate::kind::ProgramKind;

/// An `lddw` that refers to a map: the instruction now has
/// `src = PSEUDO_MAP_IDX` (or `PSEUDO_MAP_IDX_VALUE`) and `imm = map`; a
/// backend swaps the index for a file descriptor or a userspace map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRef {
    /// Slot index of the `lddw` in the program.
    pub insn: usize,
    /// Index into [`crate::Object::maps`].
    pub map: usize,
    /// For map values (global data): the byte offset into the value, which
    /// the instruction also holds in its second `imm`.
    pub value_offset: Option<u32>,
}

/// A reference to a symbol the object does not define: a kernel function
/// (`call`, to become a kfunc call) or a kernel variable (`lddw`, `.ksyms`
/// and `.kconfig` externs). The instruction is left as the compiler wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExternRef<'data> {
    pub insn: usize,
    pub name: &'data str,
    /// `true` for a call, `false` for an `lddw`.
    pub call: bool,
}

/// A function of the object, where the ELF file has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function<'data> {
    pub name: &'data str,
    pub section: &'data str,
    /// Byte offset in the section.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// An entry point (a program) rather than a subprogram.
    pub entry: bool,
}

/// Where one function of the object sits inside a linked program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionSpan<'data> {
    pub name: &'data str,
    /// The ELF section the function came from.
    pub section: &'data str,
    /// First slot in the program.
    pub start: usize,
    /// Length in slots.
    pub len: usize,
}

/// A program: one entry function from a program section, followed by every
/// subprogram it calls (transitively), as libbpf lays them out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program<'data> {
    pub(crate) name: &'data str,
    pub(crate) section: &'data str,
    pub(crate) kind: ProgramKind,
    pub(crate) section_offset: u64,
    pub(crate) insns: visor_isa::Program,
    pub(crate) functions: Vec<FunctionSpan<'data>>,
    pub(crate) map_refs: Vec<MapRef>,
    pub(crate) extern_refs: Vec<ExternRef<'data>>,
    pub(crate) line_info: Vec<LineInfo<'data>>,
    pub(crate) func_info: Vec<FuncInfo<'data>>,
    pub(crate) core_relocs: Vec<CoreReloc<'data>>,
}

impl<'data> Program<'data> {
    /// The entry function's symbol name (the section name when the section
    /// has no function symbol, as in very old objects).
    pub fn name(&self) -> &'data str {
        self.name
    }

    /// The ELF section, as written in `SEC()`.
    pub fn section(&self) -> &'data str {
        self.section
    }

    /// Program type and attach point, from the section name.
    pub fn kind(&self) -> &ProgramKind {
        &self.kind
    }

    /// Byte offset of the entry function in its section.
    pub fn section_offset(&self) -> u64 {
        self.section_offset
    }

    /// The linked, relocated instructions.
    pub fn insns(&self) -> &visor_isa::Program {
        &self.insns
    }

    /// The entry function first, then each linked subprogram.
    pub fn functions(&self) -> &[FunctionSpan<'data>] {
        &self.functions
    }

    /// Every `lddw` that names a map, in instruction order.
    pub fn map_refs(&self) -> &[MapRef] {
        &self.map_refs
    }

    /// References to symbols defined outside the object (kfuncs, ksyms).
    pub fn extern_refs(&self) -> &[ExternRef<'data>] {
        &self.extern_refs
    }

    /// BTF line info with `insn` as slot indices into this program, sorted.
    pub fn line_info(&self) -> &[LineInfo<'data>] {
        &self.line_info
    }

    /// BTF func info (where each function starts), slot indices.
    pub fn func_info(&self) -> &[FuncInfo<'data>] {
        &self.func_info
    }

    /// CO-RE relocations, slot indices. Recorded, not applied: they need the
    /// target kernel's BTF.
    pub fn core_relocs(&self) -> &[CoreReloc<'data>] {
        &self.core_relocs
    }

    /// Line records that start exactly at slot `pc`: what a listing prints
    /// above that instruction, as `llvm-objdump -S` does.
    pub fn lines_at(&self, pc: usize) -> &[LineInfo<'data>] {
        let start = self.line_info.partition_point(|l| l.insn < pc);
        let end = self.line_info.partition_point(|l| l.insn <= pc);
        &self.line_info[start..end]
    }

    /// The source line slot `pc` was compiled from: the last record at or
    /// before it, within the same function. `None` without line info.
    pub fn source_line(&self, pc: usize) -> Option<&LineInfo<'data>> {
        let function_start = self
            .functions
            .iter()
            .find(|f| (f.start..f.start + f.len).contains(&pc))
            .map_or(0, |f| f.start);
        let end = self.line_info.partition_point(|l| l.insn <= pc);
        self.line_info[..end]
            .last()
            .filter(|l| l.insn >= function_start)
    }

    /// The function containing slot `pc`.
    pub fn function_at(&self, pc: usize) -> Option<&FunctionSpan<'data>> {
        self.functions
            .iter()
            .find(|f| (f.start..f.start + f.len).contains(&pc))
    }
}
