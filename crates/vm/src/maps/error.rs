//! Why a map operation failed, with the errno the kernel returns for it.

use core::fmt;

use thiserror::Error;

use crate::maps::def::MapKind;

/// A Linux errno value, as the `bpf(2)` syscall and map helpers return it
/// (positive here; helpers put its negation in r0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// No such entry.
    pub const ENOENT: Errno = Errno(2);
    /// Argument list too long: the map is full, or an index is past it.
    pub const E2BIG: Errno = Errno(7);
    /// Out of memory.
    pub const ENOMEM: Errno = Errno(12);
    /// The entry exists.
    pub const EEXIST: Errno = Errno(17);
    /// Invalid argument.
    pub const EINVAL: Errno = Errno(22);
    /// No space left (LPM trie full, perf ring full).
    pub const ENOSPC: Errno = Errno(28);
    /// Operation not supported on this map type (the uapi value).
    pub const EOPNOTSUPP: Errno = Errno(95);
    /// Operation not supported (the kernel-internal value that leaks to
    /// userspace from some map types, such as ring buffers).
    pub const ENOTSUPP: Errno = Errno(524);
    /// Try again (a full ring buffer).
    pub const EAGAIN: Errno = Errno(11);
    /// Bad address (a helper's source or packet range is not there).
    pub const EFAULT: Errno = Errno(14);
    /// Result out of range (`bpf_strtol` overflow).
    pub const ERANGE: Errno = Errno(34);
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Errno::ENOENT => "ENOENT",
            Errno::E2BIG => "E2BIG",
            Errno::ENOMEM => "ENOMEM",
            Errno::EEXIST => "EEXIST",
            Errno::EINVAL => "EINVAL",
            Errno::ENOSPC => "ENOSPC",
            Errno::EOPNOTSUPP => "EOPNOTSUPP",
            Errno::ENOTSUPP => "ENOTSUPP",
            Errno::EAGAIN => "EAGAIN",
            Errno::EFAULT => "EFAULT",
            Errno::ERANGE => "ERANGE",
            Errno(n) => return write!(f, "errno {n}"),
        };
        f.write_str(name)
    }
}

/// A map operation the kernel would refuse, and why. [`MapError::errno`]
/// gives the kernel's errno, so a kernel map and a userspace map can be
/// compared result for result.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MapError {
    /// No entry has the key (ENOENT); also: a queue or stack is empty.
    #[error("no entry with this key (ENOENT)")]
    NotFound,
    /// `UpdateMode::NoExist` and the key is present (EEXIST).
    #[error("an entry with this key exists (EEXIST)")]
    Exists,
    /// A new entry does not fit: the map holds `max_entries` (E2BIG).
    #[error("map is full: {max_entries} entries (E2BIG)")]
    Full {
        /// The capacity.
        max_entries: u32,
    },
    /// An LPM trie holds `max_entries` prefixes (ENOSPC).
    #[error("map is full: {max_entries} entries (ENOSPC)")]
    NoSpace {
        /// The capacity.
        max_entries: u32,
    },
    /// An array index at or past `max_entries` (E2BIG on update, EINVAL on
    /// delete: arrays cannot delete).
    #[error("index {index} is past the array's {max_entries} entries (E2BIG)")]
    OutOfBounds {
        /// The index asked for.
        index: u32,
        /// The array's length.
        max_entries: u32,
    },
    /// A key of the wrong length for the map (EINVAL).
    #[error("key of {size} bytes, the map's keys are {expected} bytes (EINVAL)")]
    KeySize {
        /// Bytes given.
        size: usize,
        /// `key_size`.
        expected: usize,
    },
    /// A value of the wrong length (EINVAL). For per-CPU maps userspace
    /// passes `round_up(value_size, 8) * ncpus` bytes.
    #[error("value of {size} bytes, expected {expected} (EINVAL)")]
    ValueSize {
        /// Bytes given.
        size: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// Update flags with unknown bits (EINVAL).
    #[error("update flags {flags:#x} are not ANY (0), NOEXIST (1) or EXIST (2) (EINVAL)")]
    InvalidFlags {
        /// The flags given.
        flags: u64,
    },
    /// `BPF_F_LOCK`: this engine has no `bpf_spin_lock`, so, as in the
    /// kernel for a value without one, the flag is refused (EINVAL).
    #[error(
        "BPF_F_LOCK needs a bpf_spin_lock in the value, which this engine does not support (EINVAL)"
    )]
    SpinLockUnsupported,
    /// The update mode is not one this map type takes (EINVAL), such as
    /// `NoExist` for arrays and queues.
    #[error("{kind} maps do not take update mode {mode} (EINVAL)")]
    ModeUnsupported {
        /// The map type.
        kind: MapKind,
        /// The mode given.
        mode: &'static str,
    },
    /// The map type does not have this operation.
    #[error("{kind} maps do not support {operation} ({errno})")]
    Unsupported {
        /// The map type.
        kind: MapKind,
        /// What was asked: "lookup", "delete", "next_key", ...
        operation: &'static str,
        /// What the kernel returns for it.
        errno: Errno,
    },
    /// An LPM key whose prefix length is longer than its data (EINVAL).
    #[error("prefix length {prefixlen} exceeds the key's {max} bits (EINVAL)")]
    PrefixTooLong {
        /// The key's prefix length.
        prefixlen: u32,
        /// 8 times the key's data bytes.
        max: u32,
    },
    /// A definition the kernel would not create.
    #[error("cannot create {kind} map: {field} = {value}: {rule} ({errno})")]
    InvalidDef {
        /// The map type.
        kind: MapKind,
        /// The field at fault.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The rule it breaks.
        rule: &'static str,
        /// What the kernel returns.
        errno: Errno,
    },
    /// A map type id this engine does not implement (EINVAL).
    #[error("map type {id} is not supported by the userspace engine (EINVAL)")]
    UnsupportedKind {
        /// The kernel id.
        id: u32,
    },
    /// The map's storage does not fit this engine's limits (ENOMEM): its
    /// values must fit a 4 GiB guest window and 1 GiB of host memory.
    #[error("map storage of {bytes} bytes is beyond this engine's limits (ENOMEM)")]
    TooLarge {
        /// Bytes the storage would take.
        bytes: u64,
    },
    /// A per-CPU operation on a CPU the map was not created with (EINVAL).
    #[error("CPU {cpu} does not exist: the map has {ncpus} CPUs (EINVAL)")]
    NoSuchCpu {
        /// The CPU asked for.
        cpu: u32,
        /// The map's CPU count.
        ncpus: u32,
    },
    /// A map of the wrong type or shape where another was expected: a
    /// typed view, or an inner map that does not match the template
    /// (EINVAL).
    #[error("expected {expected} map, got {actual} map with a different definition (EINVAL)")]
    WrongMap {
        /// The type expected.
        expected: MapKind,
        /// The type given.
        actual: MapKind,
    },
}

impl MapError {
    /// The kernel's errno for this error.
    pub fn errno(&self) -> i32 {
        self.errno_value().0
    }

    /// The kernel's errno for this error, typed.
    pub fn errno_value(&self) -> Errno {
        match self {
            MapError::NotFound => Errno::ENOENT,
            MapError::Exists => Errno::EEXIST,
            MapError::Full { .. } | MapError::OutOfBounds { .. } => Errno::E2BIG,
            MapError::NoSpace { .. } => Errno::ENOSPC,
            MapError::Unsupported { errno, .. } | MapError::InvalidDef { errno, .. } => *errno,
            MapError::TooLarge { .. } => Errno::ENOMEM,
            MapError::KeySize { .. }
            | MapError::ValueSize { .. }
            | MapError::InvalidFlags { .. }
            | MapError::SpinLockUnsupported
            | MapError::ModeUnsupported { .. }
            | MapError::PrefixTooLong { .. }
            | MapError::UnsupportedKind { .. }
            | MapError::NoSuchCpu { .. }
            | MapError::WrongMap { .. } => Errno::EINVAL,
        }
    }

    /// The value a helper leaves in r0 for this error: `-errno`.
    pub fn helper_return(&self) -> u64 {
        (-i64::from(self.errno())) as u64
    }
}

/// How an update treats an existing entry: the syscall's and helpers'
/// `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UpdateMode {
    /// Create or replace (`BPF_ANY`, 0).
    #[default]
    Any,
    /// Create only; fail with [`MapError::Exists`] (`BPF_NOEXIST`, 1).
    NoExist,
    /// Replace only; fail with [`MapError::NotFound`] (`BPF_EXIST`, 2).
    /// For queues and stacks: push even when full, dropping the oldest.
    Exist,
}

/// `BPF_F_LOCK`.
const F_LOCK: u64 = 4;

impl UpdateMode {
    /// The mode a flags word asks for. `BPF_F_LOCK` and unknown bits are
    /// refused with the kernel's EINVAL.
    pub fn from_flags(flags: u64) -> Result<UpdateMode, MapError> {
        match flags {
            0 => Ok(UpdateMode::Any),
            1 => Ok(UpdateMode::NoExist),
            2 => Ok(UpdateMode::Exist),
            f if f & F_LOCK != 0 && f & !(F_LOCK | 3) == 0 => Err(MapError::SpinLockUnsupported),
            flags => Err(MapError::InvalidFlags { flags }),
        }
    }

    /// The flags word (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`).
    pub fn flags(self) -> u64 {
        match self {
            UpdateMode::Any => 0,
            UpdateMode::NoExist => 1,
            UpdateMode::Exist => 2,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            UpdateMode::Any => "BPF_ANY",
            UpdateMode::NoExist => "BPF_NOEXIST",
            UpdateMode::Exist => "BPF_EXIST",
        }
    }

    /// Checks an update against whether the key is `present`.
    pub(crate) fn check(self, present: bool) -> Result<(), MapError> {
        match (self, present) {
            (UpdateMode::NoExist, true) => Err(MapError::Exists),
            (UpdateMode::Exist, false) => Err(MapError::NotFound),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_into_modes() {
        assert_eq!(UpdateMode::from_flags(0), Ok(UpdateMode::Any));
        assert_eq!(UpdateMode::from_flags(2), Ok(UpdateMode::Exist));
        assert_eq!(
            UpdateMode::from_flags(4),
            Err(MapError::SpinLockUnsupported)
        );
        assert_eq!(
            UpdateMode::from_flags(6),
            Err(MapError::SpinLockUnsupported)
        );
        assert_eq!(
            UpdateMode::from_flags(8),
            Err(MapError::InvalidFlags { flags: 8 })
        );
        assert_eq!(
            UpdateMode::from_flags(3),
            Err(MapError::InvalidFlags { flags: 3 })
        );
        assert_eq!(UpdateMode::NoExist.flags(), 1);
    }

    #[test]
    fn errors_keep_their_errno() {
        assert_eq!(MapError::NotFound.errno(), 2);
        assert_eq!(MapError::Full { max_entries: 1 }.errno(), 7);
        assert_eq!(MapError::Exists.helper_return(), (-17i64) as u64);
        assert_eq!(
            MapError::KeySize {
                size: 3,
                expected: 4
            }
            .to_string(),
            "key of 3 bytes, the map's keys are 4 bytes (EINVAL)"
        );
    }
}
