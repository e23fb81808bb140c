//! What a map is: its kind (the kernel's `enum bpf_map_type` ids), sizes,
//! flags, and the kernel's creation-time rules for each kind.

use core::fmt;

use crate::maps::error::{Errno, MapError};

/// The map types this engine implements, with the kernel's numeric ids
/// (`enum bpf_map_type` in `include/uapi/linux/bpf.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum MapKind {
    /// `BPF_MAP_TYPE_HASH`: key to value, preallocated slots.
    #[doc(alias = "BPF_MAP_TYPE_HASH")]
    Hash = 1,
    /// `BPF_MAP_TYPE_ARRAY`: `max_entries` values by `u32` index.
    #[doc(alias = "BPF_MAP_TYPE_ARRAY")]
    Array = 2,
    /// `BPF_MAP_TYPE_PROG_ARRAY`: programs for `bpf_tail_call`.
    #[doc(alias = "BPF_MAP_TYPE_PROG_ARRAY")]
    ProgArray = 3,
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: per-CPU perf rings.
    #[doc(alias = "BPF_MAP_TYPE_PERF_EVENT_ARRAY")]
    PerfEventArray = 4,
    /// `BPF_MAP_TYPE_PERCPU_HASH`: a hash with one value per CPU.
    #[doc(alias = "BPF_MAP_TYPE_PERCPU_HASH")]
    PercpuHash = 5,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`: an array with one value per CPU.
    #[doc(alias = "BPF_MAP_TYPE_PERCPU_ARRAY")]
    PercpuArray = 6,
    /// `BPF_MAP_TYPE_LRU_HASH`: a hash that evicts its least recently used
    /// entry when full.
    #[doc(alias = "BPF_MAP_TYPE_LRU_HASH")]
    LruHash = 9,
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`.
    #[doc(alias = "BPF_MAP_TYPE_LRU_PERCPU_HASH")]
    LruPercpuHash = 10,
    /// `BPF_MAP_TYPE_LPM_TRIE`: longest-prefix match.
    #[doc(alias = "BPF_MAP_TYPE_LPM_TRIE")]
    LpmTrie = 11,
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
    #[doc(alias = "BPF_MAP_TYPE_ARRAY_OF_MAPS")]
    ArrayOfMaps = 12,
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`.
    #[doc(alias = "BPF_MAP_TYPE_HASH_OF_MAPS")]
    HashOfMaps = 13,
    /// `BPF_MAP_TYPE_QUEUE`: FIFO of values, no keys.
    #[doc(alias = "BPF_MAP_TYPE_QUEUE")]
    Queue = 22,
    /// `BPF_MAP_TYPE_STACK`: LIFO of values, no keys.
    #[doc(alias = "BPF_MAP_TYPE_STACK")]
    Stack = 23,
    /// `BPF_MAP_TYPE_RINGBUF`: a multi-producer ring of variable-size
    /// records.
    #[doc(alias = "BPF_MAP_TYPE_RINGBUF")]
    RingBuf = 27,
}

impl MapKind {
    /// Every kind, in id order.
    pub const ALL: [MapKind; 14] = [
        MapKind::Hash,
        MapKind::Array,
        MapKind::ProgArray,
        MapKind::PerfEventArray,
        MapKind::PercpuHash,
        MapKind::PercpuArray,
        MapKind::LruHash,
        MapKind::LruPercpuHash,
        MapKind::LpmTrie,
        MapKind::ArrayOfMaps,
        MapKind::HashOfMaps,
        MapKind::Queue,
        MapKind::Stack,
        MapKind::RingBuf,
    ];

    /// The kernel's id (`BPF_MAP_TYPE_*`).
    pub const fn id(self) -> u32 {
        self as u32
    }

    /// The name bpftool and the kernel's `fdinfo` list: `hash`,
    /// `percpu_array`, `lpm_trie`.
    pub const fn name(self) -> &'static str {
        match self {
            MapKind::Hash => "hash",
            MapKind::Array => "array",
            MapKind::ProgArray => "prog_array",
            MapKind::PerfEventArray => "perf_event_array",
            MapKind::PercpuHash => "percpu_hash",
            MapKind::PercpuArray => "percpu_array",
            MapKind::LruHash => "lru_hash",
            MapKind::LruPercpuHash => "lru_percpu_hash",
            MapKind::LpmTrie => "lpm_trie",
            MapKind::ArrayOfMaps => "array_of_maps",
            MapKind::HashOfMaps => "hash_of_maps",
            MapKind::Queue => "queue",
            MapKind::Stack => "stack",
            MapKind::RingBuf => "ringbuf",
        }
    }

    /// The kind named `name` (as [`MapKind::name`] spells it).
    pub fn from_name(name: &str) -> Option<MapKind> {
        MapKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Whether each entry holds one value per CPU.
    pub const fn is_percpu(self) -> bool {
        matches!(
            self,
            MapKind::PercpuHash | MapKind::PercpuArray | MapKind::LruPercpuHash
        )
    }

    /// Whether this is one of the four hash kinds.
    pub const fn is_hash(self) -> bool {
        matches!(
            self,
            MapKind::Hash | MapKind::PercpuHash | MapKind::LruHash | MapKind::LruPercpuHash
        )
    }
}

impl TryFrom<u32> for MapKind {
    type Error = MapError;

    /// The kind with kernel id `id`; ids the kernel has but this engine
    /// does not implement (stack traces, sockets, devices, storage) fail.
    fn try_from(id: u32) -> Result<MapKind, MapError> {
        MapKind::ALL
            .into_iter()
            .find(|kind| kind.id() == id)
            .ok_or(MapError::UnsupportedKind { id })
    }
}

impl From<MapKind> for u32 {
    fn from(kind: MapKind) -> u32 {
        kind.id()
    }
}

impl fmt::Display for MapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub use visor_object::maps::flags;

/// Bytes in a page, which ring buffer sizes must be a multiple of.
pub const PAGE_SIZE: u32 = 4096;
/// The kernel's `MAX_BPF_STACK`: the largest hash key.
const MAX_KEY_SIZE: u32 = 512;
/// The kernel's `KMALLOC_MAX_SIZE` on x86-64 (4 MiB): the largest value.
const MAX_VALUE_SIZE: u32 = 1 << 22;
/// The kernel's `PCPU_MIN_UNIT_SIZE`: the largest per-CPU value.
const MAX_PERCPU_VALUE_SIZE: u32 = 32 << 10;
/// `LPM_DATA_SIZE_MAX`: the largest prefix, in bytes.
const LPM_MAX_DATA: u32 = 256;
/// The `u32` prefix length in front of every LPM key.
pub(crate) const LPM_PREFIXLEN_SIZE: u32 = 4;

/// A map's definition: what `bpf(BPF_MAP_CREATE)` takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// The type.
    pub kind: MapKind,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes, per CPU for per-CPU kinds.
    pub value_size: u32,
    /// Capacity (for ring buffers: the data size in bytes).
    pub max_entries: u32,
    /// `map_flags`: [`flags`] bits.
    pub flags: u32,
    /// Name for listings and messages (the kernel keeps 15 bytes).
    pub name: String,
    /// Map-in-map kinds: the definition every inner map must match (the
    /// kernel's `inner_map_fd`).
    pub inner: Option<Box<MapDef>>,
}

impl MapDef {
    /// A definition with no flags, name or inner map.
    pub fn new(kind: MapKind, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
        MapDef {
            kind,
            key_size,
            value_size,
            max_entries,
            flags: 0,
            name: String::new(),
            inner: None,
        }
    }

    /// The same definition with `flags`.
    pub fn with_flags(self, flags: u32) -> MapDef {
        MapDef { flags, ..self }
    }

    /// The same definition named `name`.
    pub fn with_name(self, name: impl Into<String>) -> MapDef {
        MapDef {
            name: name.into(),
            ..self
        }
    }

    /// The same definition with `inner` as the map-in-map template.
    pub fn with_inner(self, inner: MapDef) -> MapDef {
        MapDef {
            inner: Some(Box::new(inner)),
            ..self
        }
    }

    /// Whether programs may write the values (not `BPF_F_RDONLY_PROG`).
    pub fn program_writable(&self) -> bool {
        self.flags & flags::RDONLY_PROG == 0
    }

    /// Checks the kernel's creation rules for the kind; the error names
    /// the field and the rule it broke.
    pub fn validate(&self) -> Result<(), MapError> {
        let kind = self.kind;
        let bad = |field: &'static str, value: u64, rule: &'static str| MapError::InvalidDef {
            kind,
            field,
            value,
            rule,
            errno: Errno::EINVAL,
        };
        let too_big = |field: &'static str, value: u64, rule: &'static str| MapError::InvalidDef {
            kind,
            field,
            value,
            rule,
            errno: Errno::E2BIG,
        };
        let allowed = match kind {
            MapKind::Hash | MapKind::PercpuHash | MapKind::LruHash | MapKind::LruPercpuHash => {
                flags::NO_PREALLOC
                    | flags::NO_COMMON_LRU
                    | flags::NUMA_NODE
                    | flags::ACCESS_MASK
                    | flags::ZERO_SEED
            }
            MapKind::Array => flags::NUMA_NODE | flags::MMAPABLE | flags::ACCESS_MASK,
            MapKind::PercpuArray => flags::NUMA_NODE | flags::ACCESS_MASK,
            MapKind::ProgArray | MapKind::ArrayOfMaps => {
                flags::NUMA_NODE | flags::RDONLY | flags::WRONLY
            }
            MapKind::PerfEventArray => {
                flags::NUMA_NODE | flags::RDONLY | flags::WRONLY | flags::PRESERVE_ELEMS
            }
            MapKind::HashOfMaps => {
                flags::NO_PREALLOC | flags::NUMA_NODE | flags::RDONLY | flags::WRONLY
            }
            MapKind::LpmTrie => flags::NO_PREALLOC | flags::NUMA_NODE | flags::ACCESS_MASK,
            MapKind::Queue | MapKind::Stack => flags::NUMA_NODE | flags::ACCESS_MASK,
            MapKind::RingBuf => flags::NUMA_NODE,
        };
        if self.flags & !allowed != 0 {
            return Err(bad(
                "flags",
                self.flags.into(),
                "has bits this map type does not take",
            ));
        }
        let (key, value, entries) = (
            u64::from(self.key_size),
            u64::from(self.value_size),
            u64::from(self.max_entries),
        );
        match kind {
            MapKind::RingBuf => {
                if self.key_size != 0 {
                    return Err(bad("key_size", key, "must be 0"));
                }
                if self.value_size != 0 {
                    return Err(bad("value_size", value, "must be 0"));
                }
                if !self.max_entries.is_power_of_two() || self.max_entries & (PAGE_SIZE - 1) != 0 {
                    return Err(bad(
                        "max_entries",
                        entries,
                        "must be a power of 2 and a multiple of the page size (4096)",
                    ));
                }
                return Ok(());
            }
            _ if self.max_entries == 0 => return Err(bad("max_entries", 0, "must not be 0")),
            _ => {}
        }
        match kind {
            MapKind::Hash | MapKind::PercpuHash | MapKind::LruHash | MapKind::LruPercpuHash => {
                let lru = matches!(kind, MapKind::LruHash | MapKind::LruPercpuHash);
                if lru && self.flags & flags::NO_PREALLOC != 0 {
                    return Err(MapError::InvalidDef {
                        kind,
                        field: "flags",
                        value: self.flags.into(),
                        rule: "LRU maps must be preallocated (no BPF_F_NO_PREALLOC)",
                        errno: Errno::ENOTSUPP,
                    });
                }
                if !lru && self.flags & flags::NO_COMMON_LRU != 0 {
                    return Err(bad(
                        "flags",
                        self.flags.into(),
                        "BPF_F_NO_COMMON_LRU is for LRU maps",
                    ));
                }
                if self.key_size == 0 {
                    return Err(bad("key_size", 0, "must not be 0"));
                }
                if self.value_size == 0 {
                    return Err(bad("value_size", 0, "must not be 0"));
                }
                if self.key_size > MAX_KEY_SIZE {
                    return Err(too_big(
                        "key_size",
                        key,
                        "must be at most 512 (MAX_BPF_STACK)",
                    ));
                }
                self.check_value_limit()?;
            }
            MapKind::Array | MapKind::PercpuArray => {
                if self.key_size != 4 {
                    return Err(bad("key_size", key, "must be 4 (a u32 index)"));
                }
                if self.value_size == 0 {
                    return Err(bad("value_size", 0, "must not be 0"));
                }
                self.check_value_limit()?;
            }
            MapKind::ProgArray | MapKind::PerfEventArray | MapKind::ArrayOfMaps => {
                if self.key_size != 4 {
                    return Err(bad("key_size", key, "must be 4 (a u32 index)"));
                }
                if self.value_size != 4 {
                    return Err(bad("value_size", value, "must be 4 (a descriptor)"));
                }
            }
            MapKind::HashOfMaps => {
                if self.key_size == 0 || self.key_size > MAX_KEY_SIZE {
                    return Err(bad("key_size", key, "must be 1 to 512"));
                }
                if self.value_size != 4 {
                    return Err(bad("value_size", value, "must be 4 (a descriptor)"));
                }
            }
            MapKind::LpmTrie => {
                if self.flags & flags::NO_PREALLOC == 0 {
                    return Err(bad(
                        "flags",
                        self.flags.into(),
                        "LPM tries need BPF_F_NO_PREALLOC",
                    ));
                }
                let data = self.key_size.saturating_sub(LPM_PREFIXLEN_SIZE);
                if self.key_size <= LPM_PREFIXLEN_SIZE || data > LPM_MAX_DATA {
                    return Err(bad(
                        "key_size",
                        key,
                        "must be 4 (u32 prefixlen) + 1 to 256 bytes of data",
                    ));
                }
                if self.value_size == 0 {
                    return Err(bad("value_size", 0, "must not be 0"));
                }
                self.check_value_limit()?;
            }
            MapKind::Queue | MapKind::Stack => {
                if self.key_size != 0 {
                    return Err(bad(
                        "key_size",
                        key,
                        "must be 0 (queues and stacks have no keys)",
                    ));
                }
                if self.value_size == 0 {
                    return Err(bad("value_size", 0, "must not be 0"));
                }
                self.check_value_limit()?;
            }
            MapKind::RingBuf => {}
        }
        if matches!(kind, MapKind::ArrayOfMaps | MapKind::HashOfMaps) {
            match self.inner.as_deref() {
                None => return Err(bad("inner", 0, "map-in-map needs an inner map definition")),
                Some(inner)
                    if matches!(
                        inner.kind,
                        MapKind::ArrayOfMaps | MapKind::HashOfMaps | MapKind::ProgArray
                    ) =>
                {
                    return Err(bad(
                        "inner",
                        inner.kind.id().into(),
                        "inner maps cannot be maps of maps or program arrays",
                    ));
                }
                Some(inner) => inner.validate()?,
            }
        }
        Ok(())
    }

    fn check_value_limit(&self) -> Result<(), MapError> {
        let limit = if self.kind.is_percpu() {
            MAX_PERCPU_VALUE_SIZE
        } else {
            MAX_VALUE_SIZE
        };
        if self.value_size > limit {
            return Err(MapError::InvalidDef {
                kind: self.kind,
                field: "value_size",
                value: self.value_size.into(),
                rule: if self.kind.is_percpu() {
                    "per-CPU values are at most 32 KiB"
                } else {
                    "values are at most 4 MiB"
                },
                errno: Errno::E2BIG,
            });
        }
        Ok(())
    }
}

/// `value_size` rounded up to 8, the stride of per-CPU values as the
/// syscall lays them out.
pub(crate) fn round8(size: u32) -> usize {
    (size as usize).div_ceil(8) * 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_kernel_ids_and_names() {
        assert_eq!(MapKind::Hash.id(), 1);
        assert_eq!(MapKind::LpmTrie.id(), 11);
        assert_eq!(MapKind::RingBuf.id(), 27);
        assert_eq!(MapKind::try_from(22).unwrap(), MapKind::Queue);
        assert_eq!(MapKind::try_from(7).unwrap_err().errno(), 22);
        for kind in MapKind::ALL {
            assert_eq!(MapKind::from_name(kind.name()), Some(kind));
            assert_eq!(MapKind::try_from(kind.id()).unwrap(), kind);
        }
        assert_eq!(MapKind::PercpuArray.to_string(), "percpu_array");
    }

    fn rejects(def: MapDef, field: &str, errno: i32) {
        match def.validate() {
            Err(MapError::InvalidDef {
                field: f, errno: e, ..
            }) => {
                assert_eq!((f, e.0), (field, errno), "{def:?}")
            }
            other => panic!("{def:?}: expected {field} rejected, got {other:?}"),
        }
    }

    #[test]
    fn creation_rules_follow_the_kernel() {
        use MapKind::*;
        assert!(MapDef::new(Hash, 4, 8, 16).validate().is_ok());
        rejects(MapDef::new(Hash, 0, 8, 16), "key_size", 22);
        rejects(MapDef::new(Hash, 513, 8, 16), "key_size", 7);
        rejects(MapDef::new(Hash, 4, 8, 0), "max_entries", 22);
        rejects(
            MapDef::new(Hash, 4, 8, 1).with_flags(flags::MMAPABLE),
            "flags",
            22,
        );
        rejects(
            MapDef::new(Hash, 4, 8, 1).with_flags(flags::NO_COMMON_LRU),
            "flags",
            22,
        );
        rejects(
            MapDef::new(LruHash, 4, 8, 1).with_flags(flags::NO_PREALLOC),
            "flags",
            524,
        );
        rejects(MapDef::new(Array, 8, 8, 1), "key_size", 22);
        rejects(MapDef::new(PercpuArray, 4, 64 << 10, 1), "value_size", 7);
        rejects(MapDef::new(ProgArray, 4, 8, 1), "value_size", 22);
        rejects(MapDef::new(LpmTrie, 8, 8, 1), "flags", 22);
        rejects(
            MapDef::new(LpmTrie, 4, 8, 1).with_flags(flags::NO_PREALLOC),
            "key_size",
            22,
        );
        assert!(
            MapDef::new(LpmTrie, 8, 8, 1)
                .with_flags(flags::NO_PREALLOC)
                .validate()
                .is_ok()
        );
        rejects(MapDef::new(Queue, 4, 8, 1), "key_size", 22);
        assert!(MapDef::new(Stack, 0, 8, 1).validate().is_ok());
        rejects(MapDef::new(RingBuf, 0, 0, 4096 * 3), "max_entries", 22);
        rejects(MapDef::new(RingBuf, 0, 0, 2048), "max_entries", 22);
        rejects(MapDef::new(RingBuf, 4, 0, 4096), "key_size", 22);
        assert!(MapDef::new(RingBuf, 0, 0, 8192).validate().is_ok());
        rejects(MapDef::new(ArrayOfMaps, 4, 4, 2), "inner", 22);
        let inner = MapDef::new(Array, 4, 4, 1);
        assert!(
            MapDef::new(HashOfMaps, 4, 4, 2)
                .with_inner(inner)
                .validate()
                .is_ok()
        );
    }
}
