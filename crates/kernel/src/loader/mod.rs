//! Loading a whole object: a parsed [`visor_object::Object`] into the
//! kernel, as libbpf's `bpf_object__load` does.
//!
//! The order is the kernel's order of needs:
//!
//! 1. the object's `.BTF` (read from the ELF bytes, `DATASEC` sizes and
//!    variable offsets filled in as libbpf does; when the kernel refuses
//!    it, loading goes on without BTF and [`BtfStatus::Rejected`] says why);
//! 2. every map: inner-map templates first for map-in-map, BTF key and
//!    value type ids where the object names them (retried without when the
//!    kernel refuses them for that map type), `max_entries` 0 of a perf
//!    event array meaning one per possible CPU as in libbpf;
//! 3. global data: `.data` and `.rodata` get their section bytes, `.rodata`
//!    is then frozen (`BPF_MAP_FREEZE`) so userspace cannot change what the
//!    verifier took as constant;
//! 4. every program, its map-index `lddw`s rewritten to the new maps
//!    (`PSEUDO_MAP_IDX` becomes `PSEUDO_MAP_FD`, `PSEUDO_MAP_IDX_VALUE`
//!    becomes `PSEUDO_MAP_VALUE` with the same offset), with the program
//!    type and expected attach type of its section, the object's license
//!    and kernel version;
//! 5. the initial slots of prog arrays and map-in-maps (`.rel.maps`).
//!
//! ```no_run
//! use visor_kernel::{LoadOptions, LoadedObject, TestRun};
//!
//! let bytes = std::fs::read("examples/net.bpf.o")?;
//! let loaded = LoadedObject::load(&bytes, &LoadOptions::default())?;
//! let run = loaded.program("classify").unwrap().fd().test_run(&TestRun::new(&[0; 64]))?;
//! println!("returned {}", run.retval);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Decisions, written down:
//!
//! - Kernel object names are the object's names cut to 15 bytes, with any
//!   character the kernel refuses turned into `_`; lookups use the full
//!   names.
//! - A program without a `license` section gets an empty license, as with
//!   libbpf: GPL-only helpers then fail in the verifier.
//!
//! Programs get the object's func and line info when the kernel took its
//! BTF, so the verifier's log quotes source lines and the kernel can give
//! them back to tools (`bpftool prog dump ... linum`); `tp_btf/NAME`
//! programs get the id of `btf_trace_NAME` in the kernel's BTF.
//!
//! Calls to kfuncs get the id of their function in the kernel's BTF.
//!
//! Not done yet: CO-RE relocations (recorded by `visor-object`, not
//! applied), extern variables (`.kconfig`, `.ksyms`: a clear
//! [`LoadError::Extern`]), `numa_node`, map pinning by name, BTF
//! sanitising for kernels older than the object's BTF, and the attach BTF
//! ids of fentry and LSM programs (hooks this machine kind lacks).

mod attach;
mod btf_fixup;
mod error;

use std::os::fd::AsRawFd;

use object::{Object as _, ObjectSection as _};
use visor_isa::{CallTarget, Insn, LoadImm, Program};
use visor_object::kind::TracingHook;
use visor_object::{DataKind, MapOrigin, ProgramKind, SlotTarget};

use crate::btf::BtfFd;
use crate::cpus::possible_cpus;
use crate::error::KernelError;
use crate::log::LogLevel;
use crate::map::{MapBtf, MapFd, MapSpec, UpdateMode};
use crate::program::{FuncRecord, LineRecord, ProgramFd, ProgramSource, ProgramSpec};
use crate::types::{AttachType, MapType, ProgramType};
use crate::vmlinux::{btf_tracepoint_type_id, kfunc_type_ids};

pub use attach::{AttachOptions, AttachOutcome, Attached, Attachment, Interrupt, Interrupts};
pub use error::{LoadError, Rejection};

/// How to load an object.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// Load the object's BTF and give maps their key and value types.
    pub btf: bool,
    /// Load the remaining programs when one fails, and report it in
    /// [`LoadedObject::failures`], instead of failing the whole object.
    pub keep_going: bool,
    /// Keep the verifier's whole log of a rejected program, however long
    /// (the default keeps its last 256 KiB on Linux 6.4 and later).
    pub full_log: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            btf: true,
            keep_going: false,
            full_log: false,
        }
    }
}

/// What became of the object's BTF.
#[derive(Debug)]
pub enum BtfStatus {
    /// The object has no `.BTF` section.
    Absent,
    /// [`LoadOptions::btf`] was off.
    Skipped,
    /// The kernel accepted it.
    Loaded(BtfFd),
    /// The kernel refused it; loading went on without BTF.
    Rejected(KernelError),
}

/// One map of a loaded object.
#[derive(Debug)]
pub struct LoadedMap {
    name: String,
    fd: MapFd,
}

impl LoadedMap {
    /// The object's name for it (`counts`, `.rodata`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn fd(&self) -> &MapFd {
        &self.fd
    }
}

/// One program of a loaded object.
#[derive(Debug)]
pub struct LoadedProgram {
    name: String,
    section: String,
    kind: ProgramKind,
    fd: ProgramFd,
}

impl LoadedProgram {
    /// The object's name for it (its function name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ELF section it came from (`tracepoint/syscalls/sys_enter_clone`).
    pub fn section(&self) -> &str {
        &self.section
    }

    /// What the section name says about it.
    pub fn kind(&self) -> &ProgramKind {
        &self.kind
    }

    pub fn fd(&self) -> &ProgramFd {
        &self.fd
    }
}

/// A program that did not load while [`LoadOptions::keep_going`] was on.
#[derive(Debug)]
pub struct ProgramFailure {
    pub name: String,
    pub section: String,
    pub error: LoadError,
}

/// An object in the kernel: its maps and programs, owned. Dropping it
/// closes every descriptor; the kernel frees what nothing else (a pin, an
/// attachment) holds.
#[derive(Debug)]
pub struct LoadedObject {
    // Field order is drop order: programs before the maps they use.
    programs: Vec<LoadedProgram>,
    /// One per object map, in the object's order (map indices).
    maps: Vec<LoadedMap>,
    /// Templates of map-in-maps; the kernel keeps its own copy of the
    /// shape, these only had to exist at creation.
    inner_templates: Vec<MapFd>,
    failures: Vec<ProgramFailure>,
    btf: BtfStatus,
}

impl LoadedObject {
    /// Parses `elf` (an object from `clang -target bpf`) and loads it.
    pub fn load(elf: &[u8], options: &LoadOptions) -> Result<LoadedObject, LoadError> {
        let object = visor_object::Object::parse(elf)?;
        LoadedObject::load_parsed(&object, elf, options)
    }

    /// Loads an object parsed from `elf` (the bytes are needed for the
    /// raw `.BTF` section).
    pub fn load_parsed(
        object: &visor_object::Object<'_>,
        elf: &[u8],
        options: &LoadOptions,
    ) -> Result<LoadedObject, LoadError> {
        let btf = if !options.btf {
            BtfStatus::Skipped
        } else {
            match raw_btf(elf) {
                None => BtfStatus::Absent,
                Some(bytes) => match BtfFd::load(&btf_fixup::fix_datasecs(bytes, elf)) {
                    Ok(fd) => BtfStatus::Loaded(fd),
                    Err(error) => BtfStatus::Rejected(error),
                },
            }
        };
        let btf_fd = match &btf {
            BtfStatus::Loaded(fd) => Some(fd),
            _ => None,
        };
        let mut inner_templates = Vec::new();
        let mut maps = Vec::with_capacity(object.maps().len());
        for map in object.maps() {
            let fd = create_map(map, btf_fd, &mut inner_templates)?;
            maps.push(LoadedMap {
                name: map.name().to_owned(),
                fd,
            });
        }
        let mut loaded = LoadedObject {
            programs: Vec::new(),
            maps,
            inner_templates,
            failures: Vec::new(),
            btf,
        };
        for program in object.programs() {
            match loaded.load_program(object, program, options) {
                Ok(fd) => loaded.programs.push(LoadedProgram {
                    name: program.name().to_owned(),
                    section: program.section().to_owned(),
                    kind: program.kind().clone(),
                    fd,
                }),
                Err(error) if options.keep_going => loaded.failures.push(ProgramFailure {
                    name: program.name().to_owned(),
                    section: program.section().to_owned(),
                    error,
                }),
                Err(error) => return Err(error),
            }
        }
        loaded.fill_slots(object)?;
        Ok(loaded)
    }

    /// The loaded programs, in the object's order.
    pub fn programs(&self) -> &[LoadedProgram] {
        &self.programs
    }

    /// The program named `name` (its function name).
    pub fn program(&self, name: &str) -> Option<&LoadedProgram> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// The maps, in the object's order.
    pub fn maps(&self) -> &[LoadedMap] {
        &self.maps
    }

    /// The map named `name` (`counts`, `.rodata`).
    pub fn map(&self, name: &str) -> Option<&LoadedMap> {
        self.maps.iter().find(|m| m.name == name)
    }

    /// Programs that did not load (only with [`LoadOptions::keep_going`]).
    pub fn failures(&self) -> &[ProgramFailure] {
        &self.failures
    }

    pub fn btf(&self) -> &BtfStatus {
        &self.btf
    }

    /// How many inner-map templates were made for map-in-maps.
    pub fn inner_map_templates(&self) -> usize {
        self.inner_templates.len()
    }

    fn load_program(
        &self,
        object: &visor_object::Object<'_>,
        program: &visor_object::Program<'_>,
        options: &LoadOptions,
    ) -> Result<ProgramFd, LoadError> {
        let name = program.name();
        let Some(program_type) = program.kind().program_type() else {
            return Err(LoadError::UnknownProgramType {
                program: name.to_owned(),
                section: program.section().to_owned(),
            });
        };
        let program_type =
            ProgramType::from_number(program_type.id()).ok_or_else(|| LoadError::Unsupported {
                what: "program",
                name: name.to_owned(),
                kind: format!("program type {}", program_type.name()),
            })?;
        if let Some(symbol) = program.extern_refs().iter().find(|e| !e.call) {
            return Err(LoadError::Extern {
                program: name.to_owned(),
                symbol: symbol.name.to_owned(),
            });
        }
        let kfuncs = kfunc_calls(program)?;
        let expected_attach_type = match program.kind().expected_attach_type() {
            None => None,
            Some(attach) => Some(AttachType::from_number(attach.id()).ok_or_else(|| {
                LoadError::Unsupported {
                    what: "program",
                    name: name.to_owned(),
                    kind: format!("attach type number {}", attach.id()),
                }
            })?),
        };
        let attach_btf_id = attach_btf_id(program)?;
        let insns = self.relocate(name, program.insns(), &kfuncs)?;
        let spec = ProgramSpec {
            name: kernel_name(name),
            program_type,
            expected_attach_type,
            program: &insns,
            license: object.license().unwrap_or_default().to_owned(),
            kernel_version: object.kernel_version().unwrap_or(0),
            flags: 0,
            source: self.program_source(program),
            attach_btf_id,
        };
        let loaded = if options.full_log {
            ProgramFd::load_logged(&spec, LogLevel::Basic).map(|(fd, _log)| fd)
        } else {
            ProgramFd::load(&spec)
        };
        loaded.map_err(|source| LoadError::Program {
            program: name.to_owned(),
            section: program.section().to_owned(),
            source: Box::new(source),
        })
    }

    /// The program's func and line info, when the kernel has the object's
    /// BTF and the object has records for every function.
    fn program_source<'a>(
        &'a self,
        program: &visor_object::Program<'_>,
    ) -> Option<ProgramSource<'a>> {
        let BtfStatus::Loaded(btf) = &self.btf else {
            return None;
        };
        let functions: Vec<_> = program
            .func_info()
            .iter()
            .map(|f| FuncRecord {
                insn: slot_u32(f.insn),
                type_id: f.type_id,
            })
            .collect();
        // The kernel wants one record per function, or none at all.
        if functions.len() != program.functions().len() {
            return None;
        }
        let lines = program
            .line_info()
            .iter()
            .map(|l| LineRecord {
                insn: slot_u32(l.insn),
                file_name_off: l.file_name_off,
                line_off: l.line_off,
                line: l.line,
                column: l.column,
            })
            .collect();
        Some(ProgramSource {
            btf,
            functions,
            lines,
        })
    }

    /// The program with each map-index `lddw` pointing at this object's
    /// maps by descriptor, and each kfunc call (`kfuncs`: slot and BTF id)
    /// naming its kernel function.
    fn relocate(
        &self,
        name: &str,
        program: &Program,
        kfuncs: &[(usize, u32)],
    ) -> Result<Program, LoadError> {
        let mut pc = 0;
        let mut insns = Vec::with_capacity(program.insns().len());
        for insn in program.insns() {
            let kfunc = kfuncs.iter().find(|&&(at, _)| at == pc);
            let rewritten = match *insn {
                Insn::Call(_) if kfunc.is_some() => {
                    let (_, id) = kfunc.copied().expect("matched above");
                    // The id of a vmlinux function; `off` 0 says vmlinux.
                    Insn::Call(CallTarget::Kfunc(id as i32))
                }
                Insn::LoadImm64 {
                    kind: kind @ (LoadImm::MapIdx | LoadImm::MapIdxValue),
                    dst,
                    imm,
                } => {
                    let index = imm & u64::from(u32::MAX);
                    let map = usize::try_from(index)
                        .ok()
                        .and_then(|i| self.maps.get(i))
                        .ok_or(LoadError::BadMapIndex {
                            program: name.to_owned(),
                            pc,
                            index,
                            maps: self.maps.len(),
                        })?;
                    let fd = u64::from(crate::sys::fd_u32(std::os::fd::AsFd::as_fd(&map.fd)));
                    let (kind, imm) = match kind {
                        LoadImm::MapIdx => (LoadImm::MapFd, fd),
                        // The value offset rides in the upper half.
                        _ => (LoadImm::MapValue, (imm & !u64::from(u32::MAX)) | fd),
                    };
                    Insn::LoadImm64 { kind, dst, imm }
                }
                other => other,
            };
            pc += rewritten.slot_count();
            insns.push(rewritten);
        }
        Ok(Program::new(insns).expect("rewriting lddw immediates keeps every jump target"))
    }

    /// Writes the initial slots of prog arrays and map-in-maps.
    fn fill_slots(&self, object: &visor_object::Object<'_>) -> Result<(), LoadError> {
        for (map, loaded) in object.maps().iter().zip(&self.maps) {
            for &(slot, target) in map.slots() {
                let fd = match target {
                    SlotTarget::Program(name) => match self.program(name) {
                        Some(program) => program.fd.as_raw_fd(),
                        // A program that failed under keep_going: its
                        // failure is reported already.
                        None => continue,
                    },
                    SlotTarget::Map(index) => match self.maps.get(index) {
                        Some(inner) => inner.fd.as_raw_fd(),
                        None => continue,
                    },
                };
                let value = u32::try_from(fd).unwrap_or(u32::MAX).to_le_bytes();
                loaded
                    .fd
                    .update(&slot.to_le_bytes(), &value, UpdateMode::Any)
                    .map_err(|source| LoadError::Slot {
                        map: map.name().to_owned(),
                        slot,
                        source: Box::new(source),
                    })?;
            }
        }
        Ok(())
    }
}

/// The raw `.BTF` section of `elf`, if it has one.
fn raw_btf(elf: &[u8]) -> Option<&[u8]> {
    let file = object::File::parse(elf).ok()?;
    let section = file.section_by_name(".BTF")?;
    section.data().ok().filter(|data| !data.is_empty())
}

/// Where `program` calls kfuncs, with the BTF id of each in the running
/// kernel: `(slot, id)`.
fn kfunc_calls(program: &visor_object::Program<'_>) -> Result<Vec<(usize, u32)>, LoadError> {
    let calls: Vec<_> = program.extern_refs().iter().filter(|e| e.call).collect();
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = calls.iter().map(|e| e.name).collect();
    let ids = kfunc_type_ids(&names).map_err(|source| {
        let symbol = match &source {
            KernelError::BtfTypeNotFound { name, .. } => name.clone(),
            _ => names.join(", "),
        };
        LoadError::Kfunc {
            program: program.name().to_owned(),
            symbol,
            source: Box::new(source),
        }
    })?;
    Ok(calls.iter().map(|e| e.insn).zip(ids).collect())
}

/// The kernel type a program is typed against, for the kinds that name
/// one at load: `tp_btf/NAME` is typed by `btf_trace_NAME`.
fn attach_btf_id(program: &visor_object::Program<'_>) -> Result<Option<u32>, LoadError> {
    match program.kind() {
        ProgramKind::Tracing {
            hook: TracingHook::TpBtf,
            target,
            ..
        } => btf_tracepoint_type_id(target)
            .map(Some)
            .map_err(|source| LoadError::Program {
                program: program.name().to_owned(),
                section: program.section().to_owned(),
                source: Box::new(source),
            }),
        _ => Ok(None),
    }
}

/// A slot index as the kernel's record field; programs this long were
/// refused before (`ProgramTooLong`).
fn slot_u32(slot: usize) -> u32 {
    u32::try_from(slot).unwrap_or(u32::MAX)
}

/// A name the kernel accepts: 15 bytes at most from `[A-Za-z0-9_.]`.
pub(crate) fn kernel_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(15)
        .collect()
}

/// Creates one map of the object, with its inner-map template first and
/// its initial data after.
fn create_map(
    map: &visor_object::Map<'_>,
    btf: Option<&BtfFd>,
    inner_templates: &mut Vec<MapFd>,
) -> Result<MapFd, LoadError> {
    let failed = |step| {
        let name = map.name().to_owned();
        move |source| LoadError::Map {
            map: name,
            step,
            source: Box::new(source),
        }
    };
    let def = map.def();
    let inner = match &def.inner {
        Some(inner) => {
            let spec = map_spec(map.name(), inner)?;
            inner_templates.push(
                MapFd::create(&spec).map_err(failed("cannot create the inner map template"))?,
            );
            inner_templates.last()
        }
        None => None,
    };
    let mut spec = map_spec(map.name(), def)?;
    spec.inner_map = inner;
    if spec.max_entries == 0 && spec.map_type == MapType::PerfEventArray {
        let cpus = possible_cpus().map_err(failed("cannot count the possible CPUs"))?;
        spec.max_entries = u32::try_from(cpus).unwrap_or(u32::MAX);
    }
    let types = match map.origin() {
        MapOrigin::Btf {
            key_type: Some(key),
            value_type: Some(value),
        } => btf.map(|btf| MapBtf {
            btf,
            key_type_id: *key,
            value_type_id: *value,
        }),
        _ => None,
    };
    let fd = match types {
        Some(types) => {
            let typed = MapSpec {
                btf: Some(types),
                ..spec.clone()
            };
            // Some map types (perf event arrays, prog arrays, ring
            // buffers) refuse key/value types: libbpf retries the same way.
            MapFd::create(&typed).or_else(|_| MapFd::create(&spec))
        }
        None => MapFd::create(&spec),
    }
    .map_err(failed("BPF_MAP_CREATE failed"))?;
    if let MapOrigin::Data(kind) = map.origin() {
        if let Some(data) = map.initial_data() {
            let mut value = vec![0; fd.value_len()];
            let len = data.len().min(value.len());
            value[..len].copy_from_slice(&data[..len]);
            fd.update(&0u32.to_le_bytes(), &value, UpdateMode::Any)
                .map_err(failed("cannot write the initial data"))?;
        }
        if *kind == DataKind::Rodata {
            fd.freeze()
                .map_err(failed("cannot freeze the read-only data"))?;
        }
    }
    Ok(fd)
}

/// The `BPF_MAP_CREATE` request for an object map definition.
fn map_spec<'a>(name: &str, def: &visor_object::MapDef) -> Result<MapSpec<'a>, LoadError> {
    let number = def.map_type.id();
    let map_type = MapType::from_number(number).ok_or_else(|| LoadError::Unsupported {
        what: "map",
        name: name.to_owned(),
        kind: format!("map type number {number}"),
    })?;
    Ok(MapSpec {
        flags: def.flags,
        map_extra: def.map_extra,
        ..MapSpec::new(map_type, def.key_size, def.value_size, def.max_entries)
            .named(&kernel_name(name))
    })
}

#[cfg(test)]
mod tests {
    use super::kernel_name;

    #[test]
    fn names_are_cut_and_cleaned_for_the_kernel() {
        assert_eq!(kernel_name("classify"), "classify");
        assert_eq!(kernel_name("a-very-long-program-name"), "a_very_long_pro");
        assert_eq!(kernel_name(".rodata.str1.1"), ".rodata.str1.1");
    }
}
