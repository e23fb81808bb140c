//! Kernel maps: [`MapSpec`] says what to create, [`MapFd`] owns one and
//! reads and writes its entries.
//!
//! Keys and values are bytes. A [`MapFd`] knows its definition as the kernel
//! reported it, and every operation checks buffer sizes against it before
//! the kernel sees them, so a wrong size is a [`KernelError::BufferSize`]
//! naming the map, never a short read. Per-CPU maps take and give one
//! value slot per possible CPU, each padded to 8 bytes ([`MapFd::value_len`]).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::btf::BtfFd;
use crate::cpus::possible_cpus;
use crate::error::{Buffer, KernelError};
use crate::sys::attr::{MapCreateAttr, name_field};
use crate::sys::{self, BpfCmd, Command};
use crate::types::MapType;

/// `BPF_F_*` map creation flags (`map_flags`).
pub use visor_object::maps::flags;

/// How an update treats an existing entry (`BPF_ANY`, `BPF_NOEXIST`,
/// `BPF_EXIST`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UpdateMode {
    /// Create the entry or replace it.
    #[default]
    Any,
    /// Create only: fail with `EEXIST` if the key is present.
    NoExist,
    /// Replace only: fail with `ENOENT` if the key is absent.
    Exist,
}

impl UpdateMode {
    pub(crate) const fn flags(self) -> u64 {
        match self {
            UpdateMode::Any => 0,
            UpdateMode::NoExist => 1,
            UpdateMode::Exist => 2,
        }
    }
}

/// BTF type ids that describe a map's key and value.
#[derive(Clone, Copy, Debug)]
pub struct MapBtf<'a> {
    pub btf: &'a BtfFd,
    pub key_type_id: u32,
    pub value_type_id: u32,
}

/// What `BPF_MAP_CREATE` is asked for.
#[derive(Clone, Debug)]
pub struct MapSpec<'a> {
    pub map_type: MapType,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// [`flags`], ORed.
    pub flags: u32,
    /// At most 15 characters from `[A-Za-z0-9_.]`; may be empty.
    pub name: String,
    pub btf: Option<MapBtf<'a>>,
    /// The template of the inner maps of a map-in-map.
    pub inner_map: Option<&'a MapFd>,
    /// Per-type extra: a bloom filter's number of hashes, an arena's
    /// address.
    pub map_extra: u64,
}

impl<'a> MapSpec<'a> {
    /// A map without flags, name or BTF.
    pub fn new(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> Self {
        MapSpec {
            map_type,
            key_size,
            value_size,
            max_entries,
            flags: 0,
            name: String::new(),
            btf: None,
            inner_map: None,
            map_extra: 0,
        }
    }

    /// The same spec, named `name`.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }
}

/// A map's shape, as the kernel holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapDef {
    pub map_type: MapType,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

/// An owned kernel map; closing the descriptor on drop frees the map once
/// nothing else (a program, a pin) holds it.
#[derive(Debug)]
pub struct MapFd {
    fd: OwnedFd,
    def: MapDef,
    name: String,
    /// Bytes of a value as userspace sees it.
    value_len: usize,
}

/// Checks a name for the kernel's `bpf_obj_name_cpy` rules.
pub(crate) fn check_name(name: &str) -> Result<(), KernelError> {
    let invalid = |reason| {
        Err(KernelError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.len() > 15 {
        return invalid("longer than 15 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return invalid("only letters, digits, '_' and '.' are allowed");
    }
    Ok(())
}

impl MapFd {
    /// Creates a map (`BPF_MAP_CREATE`).
    pub fn create(spec: &MapSpec<'_>) -> Result<MapFd, KernelError> {
        check_name(&spec.name)?;
        let (btf_fd, btf_key_type_id, btf_value_type_id) = match spec.btf {
            Some(b) => (sys::fd_u32(b.btf.as_fd()), b.key_type_id, b.value_type_id),
            None => (0, 0, 0),
        };
        let attr = MapCreateAttr {
            map_type: spec.map_type.number(),
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            map_flags: spec.flags,
            inner_map_fd: spec.inner_map.map_or(0, MapFd::fd_u32),
            map_name: name_field(&spec.name),
            btf_fd,
            btf_key_type_id,
            btf_value_type_id,
            map_extra: spec.map_extra,
            ..MapCreateAttr::default()
        };
        let fd = sys::bpf_fd(&mut Command::MapCreate(attr)).map_err(|source| {
            KernelError::syscall(
                BpfCmd::MapCreate,
                format!(
                    "create {} map `{}` (key {}, value {}, {} entries)",
                    spec.map_type, spec.name, spec.key_size, spec.value_size, spec.max_entries
                ),
                source,
            )
        })?;
        let def = MapDef {
            map_type: spec.map_type,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            flags: spec.flags,
        };
        MapFd::from_parts(fd, def, spec.name.clone())
    }

    /// Wraps a descriptor whose definition the kernel has confirmed.
    pub(crate) fn from_parts(fd: OwnedFd, def: MapDef, name: String) -> Result<MapFd, KernelError> {
        let slot = def.value_size as usize;
        let value_len = if def.map_type.is_per_cpu() {
            slot.next_multiple_of(8).saturating_mul(possible_cpus()?)
        } else {
            slot
        };
        Ok(MapFd {
            fd,
            def,
            name,
            value_len,
        })
    }

    pub fn def(&self) -> &MapDef {
        &self.def
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn map_type(&self) -> MapType {
        self.def.map_type
    }

    /// Bytes of a key.
    pub fn key_size(&self) -> usize {
        self.def.key_size as usize
    }

    /// Bytes of a value as lookups return it and updates take it:
    /// `value_size`, or for per-CPU maps `value_size` rounded up to 8 times
    /// the number of possible CPUs.
    pub fn value_len(&self) -> usize {
        self.value_len
    }

    /// Bytes of a batch cursor: a hash map's is a 4-byte bucket index, an
    /// array's a key.
    pub(crate) fn batch_token_len(&self) -> usize {
        self.key_size().max(4)
    }

    pub(crate) fn fd_u32(&self) -> u32 {
        sys::fd_u32(self.fd.as_fd())
    }

    pub(crate) fn check_len(&self, what: Buffer, got: usize) -> Result<(), KernelError> {
        let expected = match what {
            Buffer::Key => self.key_size(),
            _ => self.value_len,
        };
        if got == expected {
            Ok(())
        } else {
            Err(KernelError::BufferSize {
                map: self.name.clone(),
                what,
                expected,
                got,
            })
        }
    }

    fn failed(&self, command: BpfCmd, what: &str) -> impl FnOnce(std::io::Error) -> KernelError {
        let what = format!("{what} map `{}`", self.name);
        move |source| KernelError::syscall(command, what, source)
    }

    /// Makes the map read-only for userspace from now on
    /// (`BPF_MAP_FREEZE`, Linux 5.2); programs still write it unless it was
    /// created with [`flags::RDONLY_PROG`].
    pub fn freeze(&self) -> Result<(), KernelError> {
        let mut command = Command::MapFreeze { map: self };
        sys::bpf(&mut command).map_err(self.failed(BpfCmd::MapFreeze, "freeze"))?;
        Ok(())
    }

    /// The value at `key`, or `None` when there is none.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KernelError> {
        let mut value = vec![0; self.value_len];
        Ok(self.lookup_into(key, &mut value)?.then_some(value))
    }

    /// Reads the value at `key` into `value`; `false` when there is none.
    pub fn lookup_into(&self, key: &[u8], value: &mut [u8]) -> Result<bool, KernelError> {
        self.check_len(Buffer::Key, key.len())?;
        self.check_len(Buffer::Value, value.len())?;
        let mut command = Command::MapLookupElem {
            map: self,
            key,
            value,
            flags: 0,
        };
        absent_is_none(sys::bpf(&mut command))
            .map_err(self.failed(BpfCmd::MapLookupElem, "look up a key in"))
    }

    /// Stores `value` at `key`, as `mode` allows.
    pub fn update(&self, key: &[u8], value: &[u8], mode: UpdateMode) -> Result<(), KernelError> {
        self.check_len(Buffer::Key, key.len())?;
        self.check_len(Buffer::Value, value.len())?;
        let mut command = Command::MapUpdateElem {
            map: self,
            key,
            value,
            flags: mode.flags(),
        };
        sys::bpf(&mut command).map_err(self.failed(BpfCmd::MapUpdateElem, "update"))?;
        Ok(())
    }

    /// Deletes the entry at `key`; `false` when there was none.
    pub fn delete(&self, key: &[u8]) -> Result<bool, KernelError> {
        self.check_len(Buffer::Key, key.len())?;
        let mut command = Command::MapDeleteElem { map: self, key };
        absent_is_none(sys::bpf(&mut command))
            .map_err(self.failed(BpfCmd::MapDeleteElem, "delete a key from"))
    }

    /// The key after `key` in the kernel's order, the first key for `None`,
    /// and `None` after the last one. A `key` that is not in the map also
    /// gives the first key, as in the kernel.
    pub fn next_key(&self, key: Option<&[u8]>) -> Result<Option<Vec<u8>>, KernelError> {
        if let Some(key) = key {
            self.check_len(Buffer::Key, key.len())?;
        }
        let mut next = vec![0; self.key_size()];
        let mut command = Command::MapGetNextKey {
            map: self,
            key,
            next_key: &mut next,
        };
        let found = absent_is_none(sys::bpf(&mut command))
            .map_err(self.failed(BpfCmd::MapGetNextKey, "walk the keys of"))?;
        Ok(found.then_some(next))
    }

    /// Every key, by [`MapFd::next_key`]. Entries added or deleted while
    /// walking may or may not be seen, as with any walk of a live map.
    pub fn keys(&self) -> Keys<'_> {
        Keys {
            map: self,
            last: None,
            done: false,
        }
    }

    /// Removes the entry at `key` and returns its value (`None` when there
    /// was none). For queues and stacks, `key` is empty and this pops.
    pub fn lookup_and_delete(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KernelError> {
        self.check_len(Buffer::Key, key.len())?;
        let mut value = vec![0; self.value_len];
        let mut command = Command::MapLookupAndDeleteElem {
            map: self,
            key,
            value: &mut value,
        };
        let found = absent_is_none(sys::bpf(&mut command))
            .map_err(self.failed(BpfCmd::MapLookupAndDeleteElem, "take an entry from"))?;
        Ok(found.then_some(value))
    }
}

impl AsFd for MapFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for MapFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// `ENOENT` means "no such entry": `Ok(false)`.
fn absent_is_none(result: std::io::Result<i64>) -> std::io::Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The keys of a map, from [`MapFd::keys`].
#[derive(Debug)]
pub struct Keys<'a> {
    map: &'a MapFd,
    last: Option<Vec<u8>>,
    done: bool,
}

impl Iterator for Keys<'_> {
    type Item = Result<Vec<u8>, KernelError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.map.next_key(self.last.as_deref()) {
            Ok(Some(key)) => {
                self.last = Some(key.clone());
                Some(Ok(key))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;
    use crate::sys::fake;

    /// A map handle over a descriptor the fake door never uses for real.
    fn fake_map(map_type: MapType, key_size: u32, value_size: u32) -> MapFd {
        let fd = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        let def = MapDef {
            map_type,
            key_size,
            value_size,
            max_entries: 8,
            flags: 0,
        };
        MapFd::from_parts(fd, def, "fake".to_owned()).unwrap()
    }

    #[test]
    fn enoent_on_lookup_is_none_and_values_are_copied_out() {
        let map = fake_map(MapType::Hash, 4, 2);
        let _door = fake::install(|command| match command {
            Command::MapLookupElem { key, value, .. } if key[0] == 1 => {
                value.copy_from_slice(&[0xab, 0xcd]);
                Ok(0)
            }
            Command::MapLookupElem { .. } => fake::errno(libc::ENOENT),
            other => panic!("unexpected {other:?}"),
        });
        assert_eq!(map.lookup(&[1, 0, 0, 0]).unwrap(), Some(vec![0xab, 0xcd]));
        assert_eq!(map.lookup(&[2, 0, 0, 0]).unwrap(), None);
    }

    #[test]
    fn wrong_sizes_never_reach_the_door() {
        let map = fake_map(MapType::Hash, 4, 8);
        let calls = Rc::new(Cell::new(0));
        let seen = Rc::clone(&calls);
        let _door = fake::install(move |_| {
            seen.set(seen.get() + 1);
            Ok(0)
        });
        let err = map.update(&[0; 3], &[0; 8], UpdateMode::Any).unwrap_err();
        assert!(matches!(
            err,
            KernelError::BufferSize {
                what: Buffer::Key,
                expected: 4,
                got: 3,
                ..
            }
        ));
        let err = map.lookup_into(&[0; 4], &mut [0; 4]).unwrap_err();
        assert!(matches!(
            err,
            KernelError::BufferSize {
                what: Buffer::Value,
                expected: 8,
                got: 4,
                ..
            }
        ));
        assert_eq!(calls.get(), 0);
        // The door's own check catches a short buffer from inside the crate.
        let mut short = [0u8; 2];
        let mut command = Command::MapLookupElem {
            map: &map,
            key: &[0; 4],
            value: &mut short,
            flags: 0,
        };
        let err = sys::bpf(&mut command).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(calls.get(), 0);
    }

    #[test]
    fn update_modes_become_the_kernel_flags() {
        let map = fake_map(MapType::Array, 4, 4);
        let flags = Rc::new(Cell::new(u64::MAX));
        let seen = Rc::clone(&flags);
        let _door = fake::install(move |command| match command {
            Command::MapUpdateElem { flags, .. } => {
                seen.set(*flags);
                fake::errno(libc::EEXIST)
            }
            other => panic!("unexpected {other:?}"),
        });
        let err = map
            .update(&[0; 4], &[0; 4], UpdateMode::NoExist)
            .unwrap_err();
        assert_eq!(flags.get(), 1);
        assert_eq!(err.errno(), Some(libc::EEXIST));
        assert_eq!(
            err.to_string(),
            "BPF_MAP_UPDATE_ELEM failed (update map `fake`)"
        );
        let _ = map.update(&[0; 4], &[0; 4], UpdateMode::Exist);
        assert_eq!(flags.get(), 2);
    }

    #[test]
    fn per_cpu_values_have_a_padded_slot_per_cpu() {
        let map = fake_map(MapType::PercpuArray, 4, 12);
        assert_eq!(map.value_len(), 16 * possible_cpus().unwrap());
    }

    #[test]
    fn create_sends_the_spec_and_eperm_says_what_to_do() {
        let _door = fake::install(|command| match command {
            Command::MapCreate(attr) => {
                assert_eq!(attr.map_type, 1);
                assert_eq!(
                    (attr.key_size, attr.value_size, attr.max_entries),
                    (4, 8, 16)
                );
                assert_eq!(&attr.map_name[..6], b"counts");
                fake::errno(libc::EPERM)
            }
            other => panic!("unexpected {other:?}"),
        });
        let err =
            MapFd::create(&MapSpec::new(MapType::Hash, 4, 8, 16).named("counts")).unwrap_err();
        assert!(err.is_permission_denied(), "{err:?}");
        assert!(err.to_string().contains("CAP_BPF"));
    }

    #[test]
    fn create_owns_the_returned_descriptor() {
        let _door = fake::install(|_| fake::new_fd());
        let map = MapFd::create(&MapSpec::new(MapType::Hash, 4, 8, 16)).unwrap();
        assert!(map.as_raw_fd() >= 0);
        assert_eq!(map.def().max_entries, 16);
    }
}
