//! Map types as the kernel numbers and names them.

use core::fmt;

/// `BPF_MAP_TYPE_*`. Numbers the parser does not know are kept as
/// [`MapType::Other`]: a newer object still parses, and the backend decides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MapType {
    #[default]
    Unspec,
    Hash,
    Array,
    ProgArray,
    PerfEventArray,
    PercpuHash,
    PercpuArray,
    StackTrace,
    CgroupArray,
    LruHash,
    LruPercpuHash,
    LpmTrie,
    ArrayOfMaps,
    HashOfMaps,
    Devmap,
    Sockmap,
    Cpumap,
    Xskmap,
    Sockhash,
    CgroupStorage,
    ReuseportSockarray,
    PercpuCgroupStorage,
    Queue,
    Stack,
    SkStorage,
    DevmapHash,
    StructOps,
    Ringbuf,
    InodeStorage,
    TaskStorage,
    BloomFilter,
    UserRingbuf,
    CgrpStorage,
    Arena,
    Other(u32),
}

impl MapType {
    /// Every known type, in kernel order (`BPF_MAP_TYPE_UNSPEC` is 0).
    pub const KNOWN: [MapType; 34] = [
        MapType::Unspec,
        MapType::Hash,
        MapType::Array,
        MapType::ProgArray,
        MapType::PerfEventArray,
        MapType::PercpuHash,
        MapType::PercpuArray,
        MapType::StackTrace,
        MapType::CgroupArray,
        MapType::LruHash,
        MapType::LruPercpuHash,
        MapType::LpmTrie,
        MapType::ArrayOfMaps,
        MapType::HashOfMaps,
        MapType::Devmap,
        MapType::Sockmap,
        MapType::Cpumap,
        MapType::Xskmap,
        MapType::Sockhash,
        MapType::CgroupStorage,
        MapType::ReuseportSockarray,
        MapType::PercpuCgroupStorage,
        MapType::Queue,
        MapType::Stack,
        MapType::SkStorage,
        MapType::DevmapHash,
        MapType::StructOps,
        MapType::Ringbuf,
        MapType::InodeStorage,
        MapType::TaskStorage,
        MapType::BloomFilter,
        MapType::UserRingbuf,
        MapType::CgrpStorage,
        MapType::Arena,
    ];

    pub fn from_id(id: u32) -> MapType {
        usize::try_from(id)
            .ok()
            .and_then(|i| MapType::KNOWN.get(i).copied())
            .unwrap_or(MapType::Other(id))
    }

    /// The `BPF_MAP_TYPE_*` number.
    pub fn id(self) -> u32 {
        match self {
            MapType::Other(id) => id,
            known => MapType::KNOWN
                .iter()
                .position(|&t| t == known)
                .map_or(u32::MAX, |i| i as u32),
        }
    }

    /// The name bpftool prints (`hash`, `percpu_array`, `ringbuf`); `None`
    /// for numbers this crate does not know.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            MapType::Unspec => "unspec",
            MapType::Hash => "hash",
            MapType::Array => "array",
            MapType::ProgArray => "prog_array",
            MapType::PerfEventArray => "perf_event_array",
            MapType::PercpuHash => "percpu_hash",
            MapType::PercpuArray => "percpu_array",
            MapType::StackTrace => "stack_trace",
            MapType::CgroupArray => "cgroup_array",
            MapType::LruHash => "lru_hash",
            MapType::LruPercpuHash => "lru_percpu_hash",
            MapType::LpmTrie => "lpm_trie",
            MapType::ArrayOfMaps => "array_of_maps",
            MapType::HashOfMaps => "hash_of_maps",
            MapType::Devmap => "devmap",
            MapType::Sockmap => "sockmap",
            MapType::Cpumap => "cpumap",
            MapType::Xskmap => "xskmap",
            MapType::Sockhash => "sockhash",
            MapType::CgroupStorage => "cgroup_storage",
            MapType::ReuseportSockarray => "reuseport_sockarray",
            MapType::PercpuCgroupStorage => "percpu_cgroup_storage",
            MapType::Queue => "queue",
            MapType::Stack => "stack",
            MapType::SkStorage => "sk_storage",
            MapType::DevmapHash => "devmap_hash",
            MapType::StructOps => "struct_ops",
            MapType::Ringbuf => "ringbuf",
            MapType::InodeStorage => "inode_storage",
            MapType::TaskStorage => "task_storage",
            MapType::BloomFilter => "bloom_filter",
            MapType::UserRingbuf => "user_ringbuf",
            MapType::CgrpStorage => "cgrp_storage",
            MapType::Arena => "arena",
            MapType::Other(_) => return None,
        })
    }

    /// Whether values are other maps (`array_of_maps`, `hash_of_maps`).
    pub fn is_map_in_map(self) -> bool {
        matches!(self, MapType::ArrayOfMaps | MapType::HashOfMaps)
    }
}

impl fmt::Display for MapType {
    /// The kernel's name, or `type N` for unknown numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "type {}", self.id()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_round_trip() {
        for (id, t) in MapType::KNOWN.iter().enumerate() {
            assert_eq!(MapType::from_id(id as u32), *t);
            assert_eq!(t.id(), id as u32);
        }
        assert_eq!(MapType::from_id(27).to_string(), "ringbuf");
        assert_eq!(MapType::from_id(6).to_string(), "percpu_array");
        assert_eq!(MapType::from_id(3).to_string(), "prog_array");
        assert_eq!(MapType::from_id(999), MapType::Other(999));
        assert_eq!(MapType::from_id(999).to_string(), "type 999");
    }
}
