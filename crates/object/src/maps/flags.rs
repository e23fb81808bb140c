//! `map_flags` bits (`BPF_F_*` in `include/uapi/linux/bpf.h`), for both
//! engines: the kernel's map creation and visor-vm's maps.

/// Allocate elements on demand rather than up front (required by
/// `LPM_TRIE`; accepted by hashes, which visor-vm preallocates anyway).
pub const NO_PREALLOC: u32 = 1 << 0;
/// LRU hashes: one LRU list per CPU instead of a common one.
pub const NO_COMMON_LRU: u32 = 1 << 1;
/// Allocate on the NUMA node given at creation (visor-vm ignores it).
pub const NUMA_NODE: u32 = 1 << 2;
/// Userspace may only read.
pub const RDONLY: u32 = 1 << 3;
/// Userspace may only write.
pub const WRONLY: u32 = 1 << 4;
/// Hashes: do not randomise the hash seed.
pub const ZERO_SEED: u32 = 1 << 6;
/// Programs may only read (libbpf's `.rodata` maps).
pub const RDONLY_PROG: u32 = 1 << 7;
/// Programs may only write.
pub const WRONLY_PROG: u32 = 1 << 8;
/// Arrays: userspace may `mmap` the values.
pub const MMAPABLE: u32 = 1 << 10;
/// Perf event arrays: keep events when the map's last user goes away.
pub const PRESERVE_ELEMS: u32 = 1 << 11;
/// The kernel's `BPF_F_ACCESS_MASK`.
pub const ACCESS_MASK: u32 = RDONLY | WRONLY | RDONLY_PROG | WRONLY_PROG;
