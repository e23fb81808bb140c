//! Map definitions: the legacy `maps` section, BTF-defined `.maps`, and the
//! global data sections that become single-entry array maps.
//!
//! Maps are numbered in this order — legacy records by section and offset,
//! then `.maps` by offset, then data sections in file order — and that
//! number is what relocated `lddw` instructions carry (`PSEUDO_MAP_IDX`).

mod btf_maps;
pub mod flags;
mod legacy;
mod types;

pub use types::MapType;

pub(crate) use btf_maps::{btf_maps, initial_slots};
pub(crate) use legacy::legacy_maps;

use crate::btf::TypeId;
use crate::elf::Section;

/// `BPF_F_RDONLY_PROG`: programs may only read the map (libbpf sets it on
/// `.rodata` maps).
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;

/// The kernel's view of a map: what `BPF_MAP_CREATE` needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapDef {
    pub map_type: MapType,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// `BPF_F_*` creation flags.
    pub flags: u32,
    /// NUMA node (BTF `numa_node`), 0 when unset.
    pub numa_node: u32,
    /// Pinning: libbpf `LIBBPF_PIN_BY_NAME` is 1; iproute2's `PIN_OBJECT_NS`
    /// is 1 and `PIN_GLOBAL_NS` 2. 0 means not pinned.
    pub pinning: u32,
    /// `map_extra` (bloom filter hash count, arena address).
    pub map_extra: u64,
    /// For map-in-map types: the definition inner maps must match.
    pub inner: Option<Box<MapDef>>,
}

/// Extra words of a legacy `maps` record after the five standard ones
/// (`type`, `key_size`, `value_size`, `max_entries`, `map_flags`). Their
/// meaning depends on the loader the object was written for, recognised
/// by the record size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegacyExtra {
    /// A 20-byte `struct bpf_map_def`, or shorter: nothing more.
    None,
    /// 28 bytes, the Linux samples' `bpf_load` layout: `inner_map_idx` is
    /// the index (in the record order of the section) of the template of a
    /// map-in-map, `numa_node` the node when `BPF_F_NUMA_NODE` is set.
    Samples { inner_map_idx: u32, numa_node: u32 },
    /// 36 bytes, iproute2's and Cilium's `struct bpf_elf_map`.
    ElfMap {
        id: u32,
        pinning: u32,
        inner_id: u32,
        inner_idx: u32,
    },
    /// Any other size: the raw little-endian words (a partial last word is
    /// dropped).
    Words(Vec<u32>),
}

/// Which global data section a data map stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// `.data`, `.data.*`: initialised, writable.
    Data,
    /// `.rodata`, `.rodata.*`: initialised, read-only for programs.
    Rodata,
    /// `.bss`, `.bss.*`: zero-initialised.
    Bss,
}

impl DataKind {
    /// The kind of a global data section, by libbpf's naming rules.
    pub fn of_section(name: &str, nobits: bool) -> Option<DataKind> {
        let is = |base: &str| {
            name == base || name.strip_prefix(base).is_some_and(|r| r.starts_with('.'))
        };
        if nobits {
            is(".bss").then_some(DataKind::Bss)
        } else if is(".data") {
            Some(DataKind::Data)
        } else if is(".rodata") {
            Some(DataKind::Rodata)
        } else {
            None
        }
    }
}

/// Where a map definition came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MapOrigin {
    /// A record of a legacy `maps` (or gobpf-style `maps/NAME`) section.
    Legacy {
        record_size: usize,
        extra: LegacyExtra,
    },
    /// A BTF-defined map in `.maps`, with the BTF ids of its key and value
    /// types when the definition names types (`__type(key, T)`).
    Btf {
        key_type: Option<TypeId>,
        value_type: Option<TypeId>,
    },
    /// A global data section.
    Data(DataKind),
}

/// What an initial slot of a prog array or map-in-map holds (from
/// relocations in `.rel.maps` against the `values` array).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotTarget<'data> {
    /// The program with this function name.
    Program(&'data str),
    /// The map with this index.
    Map(usize),
}

/// One map of the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Map<'data> {
    pub(crate) name: &'data str,
    pub(crate) section: &'data str,
    pub(crate) section_index: usize,
    pub(crate) offset: u64,
    /// Bytes the definition occupies in its section (for `.rel.maps`).
    pub(crate) extent: u64,
    pub(crate) def: MapDef,
    pub(crate) origin: MapOrigin,
    pub(crate) initial_data: Option<&'data [u8]>,
    pub(crate) slots: Vec<(u32, SlotTarget<'data>)>,
    /// Byte offset of the `values` member in a BTF definition.
    pub(crate) values_offset: Option<u64>,
}

impl<'data> Map<'data> {
    /// The symbol name (`my_map`), or the section name for data maps (`.rodata`).
    pub fn name(&self) -> &'data str {
        self.name
    }

    /// The section defining the map.
    pub fn section(&self) -> &'data str {
        self.section
    }

    /// Byte offset of the definition in its section.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn def(&self) -> &MapDef {
        &self.def
    }

    pub fn origin(&self) -> &MapOrigin {
        &self.origin
    }

    /// The initial value of a data map (`.data`, `.rodata`): the section
    /// bytes. `None` for `.bss` (zeros) and for other maps.
    pub fn initial_data(&self) -> Option<&'data [u8]> {
        self.initial_data
    }

    /// Initial entries of a prog array or map-in-map, as `(index, target)`.
    pub fn slots(&self) -> &[(u32, SlotTarget<'data>)] {
        &self.slots
    }

    /// Whether this map stands for a global data section.
    pub fn is_data(&self) -> bool {
        matches!(self.origin, MapOrigin::Data(_))
    }
}

/// Maps by where they are defined, for relocation lookups: built once, so
/// resolving many relocations against many maps stays `n log n`.
pub(crate) struct MapLookup {
    /// `(section, offset, end, map index)` of definitions, sorted.
    defined: Vec<(usize, u64, u64, usize)>,
    /// Data section index to map index.
    data: Vec<(usize, usize)>,
}

impl MapLookup {
    pub fn new(maps: &[Map<'_>]) -> MapLookup {
        let mut defined = Vec::new();
        let mut data = Vec::new();
        for (index, map) in maps.iter().enumerate() {
            if map.is_data() {
                data.push((map.section_index, index));
            } else {
                let end = map.offset.saturating_add(map.extent);
                defined.push((map.section_index, map.offset, end, index));
            }
        }
        defined.sort_unstable();
        data.sort_unstable();
        MapLookup { defined, data }
    }

    /// The map whose definition starts at `offset` of `section`.
    pub fn at(&self, section: usize, offset: u64) -> Option<usize> {
        let i = self
            .defined
            .partition_point(|d| (d.0, d.1) < (section, offset));
        self.defined
            .get(i)
            .filter(|d| (d.0, d.1) == (section, offset))
            .map(|d| d.3)
    }

    /// The map whose definition covers byte `offset` of `section`.
    pub fn covering(&self, section: usize, offset: u64) -> Option<usize> {
        let i = self
            .defined
            .partition_point(|d| (d.0, d.1) <= (section, offset));
        let d = self.defined.get(i.checked_sub(1)?)?;
        (d.0 == section && offset < d.2).then_some(d.3)
    }

    /// The data map of `section`.
    pub fn data(&self, section: usize) -> Option<usize> {
        let i = self.data.partition_point(|d| d.0 < section);
        self.data.get(i).filter(|d| d.0 == section).map(|d| d.1)
    }

    /// Whether `section` defines any map.
    pub fn defines(&self, section: usize) -> bool {
        let i = self.defined.partition_point(|d| d.0 < section);
        self.defined.get(i).is_some_and(|d| d.0 == section) || self.data(section).is_some()
    }
}

/// The array map libbpf creates for a global data section: one entry whose
/// value is the whole section.
pub(crate) fn data_map<'data>(
    section: &Section<'data>,
    kind: DataKind,
) -> crate::Result<Map<'data>> {
    let value_size = u32::try_from(section.size).map_err(|_| {
        crate::ObjectError::map(
            section.name,
            format!("data section of {} bytes is too large", section.size),
        )
    })?;
    Ok(Map {
        name: section.name,
        section: section.name,
        section_index: section.index,
        offset: 0,
        extent: section.size,
        def: MapDef {
            map_type: MapType::Array,
            key_size: 4,
            value_size,
            max_entries: 1,
            flags: if kind == DataKind::Rodata {
                BPF_F_RDONLY_PROG
            } else {
                0
            },
            ..MapDef::default()
        },
        origin: MapOrigin::Data(kind),
        initial_data: (kind != DataKind::Bss).then_some(section.data),
        slots: Vec::new(),
        values_offset: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_sections_by_libbpf_names() {
        assert_eq!(DataKind::of_section(".data", false), Some(DataKind::Data));
        assert_eq!(
            DataKind::of_section(".data.percpu", false),
            Some(DataKind::Data)
        );
        assert_eq!(
            DataKind::of_section(".rodata.str1.1", false),
            Some(DataKind::Rodata)
        );
        assert_eq!(DataKind::of_section(".bss", true), Some(DataKind::Bss));
        assert_eq!(DataKind::of_section(".bss", false), None);
        assert_eq!(DataKind::of_section(".datax", false), None);
        assert_eq!(DataKind::of_section(".rodatafoo", false), None);
    }
}
