//! What the kernel says about its objects: enumeration by id
//! (`BPF_*_GET_NEXT_ID`), opening by id (`BPF_*_GET_FD_BY_ID`) and
//! descriptions (`BPF_OBJ_GET_INFO_BY_FD`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::btf::BtfFd;
use crate::error::KernelError;
use crate::map::{MapDef, MapFd};
use crate::program::ProgramFd;
use crate::sys::attr::{BtfInfoRaw, LINE_INFO_LEN, MapInfoRaw, ProgInfoRaw, name_from_field};
use crate::sys::{self, BpfCmd, Command, ObjectKind};
use crate::types::{MapType, ProgramType};

/// A program's tag: the first 8 bytes of the SHA-1 of its instructions
/// with map descriptors zeroed, as bpftool prints it (16 hex digits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tag(pub [u8; 8]);

impl core::fmt::Display for Tag {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A loaded program as the kernel describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramInfo {
    pub id: u32,
    /// The kernel's number for the type; see [`ProgramInfo::program_type`].
    pub type_number: u32,
    /// The first 15 bytes of the name given at load.
    pub name: String,
    pub tag: Tag,
    /// Bytes of native code, 0 when the JIT is off.
    pub jited_len: u32,
    /// Bytes of the instructions after the verifier rewrote them.
    pub xlated_len: u32,
    /// Ids of the maps the program uses.
    pub map_ids: Vec<u32>,
    /// When it was loaded, in nanoseconds since boot.
    pub load_time_ns: u64,
    pub created_by_uid: u32,
    pub gpl_compatible: bool,
    pub btf_id: u32,
    /// Functions and source-line records the program was loaded with (0
    /// without BTF).
    pub func_info_count: u32,
    pub line_info_count: u32,
    /// Run statistics; counted only while stats are enabled
    /// ([`crate::enable_stats`] or `sysctl kernel.bpf_stats_enabled`).
    pub run_time_ns: u64,
    pub run_count: u64,
    /// Instructions the verifier walked (Linux 5.16).
    pub verified_insns: u32,
}

impl ProgramInfo {
    /// The program type, if this crate knows its number.
    pub fn program_type(&self) -> Option<ProgramType> {
        ProgramType::from_number(self.type_number)
    }
}

/// A map as the kernel describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapInfo {
    pub id: u32,
    /// The kernel's number for the type; see [`MapInfo::map_type`].
    pub type_number: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub name: String,
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub map_extra: u64,
}

impl MapInfo {
    /// The map type, if this crate knows its number.
    pub fn map_type(&self) -> Option<MapType> {
        MapType::from_number(self.type_number)
    }
}

/// Describes the program behind `fd`.
pub fn program_info(fd: BorrowedFd<'_>) -> Result<ProgramInfo, KernelError> {
    let mut raw = ProgInfoRaw::default();
    let mut map_ids: Vec<u32> = Vec::new();
    // The first call says how many maps there are; a program can gain maps
    // (BPF_PROG_BIND_MAP) between calls, so ask until the room suffices.
    for _ in 0..4 {
        let mut command = Command::ProgInfo {
            fd,
            info: &mut raw,
            map_ids: &mut map_ids,
            xlated: &mut [],
            line_info: &mut [],
        };
        sys::bpf(&mut command).map_err(|source| {
            KernelError::syscall(BpfCmd::ObjGetInfoByFd, "describe a program", source)
        })?;
        let wanted = raw.nr_map_ids as usize;
        if wanted <= map_ids.len() {
            map_ids.truncate(wanted);
            break;
        }
        map_ids = vec![0; wanted];
    }
    map_ids.truncate(raw.nr_map_ids as usize);
    Ok(ProgramInfo {
        id: raw.id,
        type_number: raw.prog_type,
        name: name_from_field(&raw.name),
        tag: Tag(raw.tag),
        jited_len: raw.jited_prog_len,
        xlated_len: raw.xlated_prog_len,
        map_ids,
        load_time_ns: raw.load_time,
        created_by_uid: raw.created_by_uid,
        gpl_compatible: raw.flags & 1 != 0,
        btf_id: raw.btf_id,
        func_info_count: raw.nr_func_info,
        line_info_count: raw.nr_line_info,
        run_time_ns: raw.run_time_ns,
        run_count: raw.run_cnt,
        verified_insns: raw.verified_insns,
    })
}

/// The instructions of the program behind `fd` as the verifier left them
/// (`xlated_prog_insns`): map references carry map ids, helper calls the
/// kernel's own numbers. Empty when the kernel withholds them (without
/// `CAP_SYS_ADMIN` or with `kernel.kptr_restrict` set high).
pub fn program_xlated(fd: BorrowedFd<'_>) -> Result<Vec<u8>, KernelError> {
    let what = "read a program's instructions";
    let mut raw = program_sizes(fd, what)?;
    let mut xlated = vec![0; raw.xlated_prog_len as usize];
    let mut command = Command::ProgInfo {
        fd,
        info: &mut raw,
        map_ids: &mut [],
        xlated: &mut xlated,
        line_info: &mut [],
    };
    sys::bpf(&mut command).map_err(info_failed(what))?;
    // The program cannot change once loaded, so the length holds.
    xlated.truncate(raw.xlated_prog_len as usize);
    Ok(xlated)
}

/// The program's description with no buffers: the counts and lengths of
/// what it has, to size the buffers of a second call.
fn program_sizes(fd: BorrowedFd<'_>, what: &'static str) -> Result<ProgInfoRaw, KernelError> {
    let mut raw = ProgInfoRaw::default();
    let mut command = Command::ProgInfo {
        fd,
        info: &mut raw,
        map_ids: &mut [],
        xlated: &mut [],
        line_info: &mut [],
    };
    sys::bpf(&mut command).map_err(info_failed(what))?;
    Ok(raw)
}

fn info_failed(what: &'static str) -> impl Fn(std::io::Error) -> KernelError {
    move |source| KernelError::syscall(BpfCmd::ObjGetInfoByFd, what, source)
}

/// A source line the program was loaded with, placed in its translated
/// instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLine {
    /// Index of the first translated slot it covers.
    pub insn: usize,
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// The line's text, as the compiler recorded it.
    pub text: String,
}

/// The source lines of the program behind `fd`, placed in the instructions
/// [`program_xlated`] returns; empty when it was loaded without line info.
/// The kernel moves each record along as the verifier rewrites the code.
pub fn program_source_lines(fd: BorrowedFd<'_>) -> Result<Vec<SourceLine>, KernelError> {
    let what = "read a program's line info";
    let mut raw = program_sizes(fd, what)?;
    if raw.nr_line_info == 0 || raw.btf_id == 0 {
        return Ok(Vec::new());
    }
    let mut records = vec![0; raw.nr_line_info as usize * LINE_INFO_LEN];
    let mut command = Command::ProgInfo {
        fd,
        info: &mut raw,
        map_ids: &mut [],
        xlated: &mut [],
        line_info: &mut records,
    };
    sys::bpf(&mut command).map_err(info_failed(what))?;
    let btf_bytes = btf_bytes(raw.btf_id)?;
    let btf = visor_object::Btf::parse(&btf_bytes).map_err(|error| KernelError::ParseFile {
        path: format!("BTF id {}", raw.btf_id).into(),
        content: error.to_string(),
    })?;
    let text = |offset| {
        btf.bytes_at(offset)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    Ok(records
        .chunks_exact(LINE_INFO_LEN)
        .map(|record| {
            let word = |i: usize| u32::from_ne_bytes(record[i * 4..i * 4 + 4].try_into().unwrap());
            SourceLine {
                insn: word(0) as usize,
                file: text(word(1)),
                text: text(word(2)),
                line: word(3) >> 10,
                column: word(3) & 0x3ff,
            }
        })
        .collect())
}

/// The raw bytes of the loaded BTF with id `id`.
fn btf_bytes(id: u32) -> Result<Vec<u8>, KernelError> {
    let fd = fd_by_id(ObjectKind::Btf, id)?;
    let failed = info_failed("read a BTF object");
    let mut raw = BtfInfoRaw::default();
    let mut command = Command::BtfInfo {
        fd: fd.as_fd(),
        info: &mut raw,
        btf: &mut [],
    };
    sys::bpf(&mut command).map_err(&failed)?;
    let mut bytes = vec![0; raw.btf_size as usize];
    let mut command = Command::BtfInfo {
        fd: fd.as_fd(),
        info: &mut raw,
        btf: &mut bytes,
    };
    sys::bpf(&mut command).map_err(failed)?;
    bytes.truncate(raw.btf_size as usize);
    Ok(bytes)
}

/// Describes the map behind `fd`.
pub fn map_info(fd: BorrowedFd<'_>) -> Result<MapInfo, KernelError> {
    let mut raw = MapInfoRaw::default();
    let mut command = Command::MapInfo { fd, info: &mut raw };
    sys::bpf(&mut command)
        .map_err(|source| KernelError::syscall(BpfCmd::ObjGetInfoByFd, "describe a map", source))?;
    Ok(MapInfo {
        id: raw.id,
        type_number: raw.map_type,
        key_size: raw.key_size,
        value_size: raw.value_size,
        max_entries: raw.max_entries,
        flags: raw.map_flags,
        name: name_from_field(&raw.name),
        btf_id: raw.btf_id,
        btf_key_type_id: raw.btf_key_type_id,
        btf_value_type_id: raw.btf_value_type_id,
        map_extra: raw.map_extra,
    })
}

/// The ids of every loaded object of one kind, in increasing order. Objects
/// come and go while this walks; each id was live when it was returned.
pub fn ids(kind: ObjectKind) -> Ids {
    Ids {
        kind,
        last: 0,
        done: false,
    }
}

/// The iterator of [`ids`].
#[derive(Debug)]
pub struct Ids {
    kind: ObjectKind,
    last: u32,
    done: bool,
}

impl Iterator for Ids {
    type Item = Result<u32, KernelError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut command = Command::GetNextId {
            object: self.kind,
            start: self.last,
            next: 0,
        };
        let result = sys::bpf(&mut command);
        let cmd = command.cmd();
        let Command::GetNextId { next, .. } = command else {
            unreachable!("the command is the one built above");
        };
        match result {
            Ok(_) => {
                self.last = next;
                Some(Ok(next))
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                self.done = true;
                None
            }
            Err(source) => {
                self.done = true;
                Some(Err(KernelError::syscall(cmd, "list object ids", source)))
            }
        }
    }
}

fn fd_by_id(object: ObjectKind, id: u32) -> Result<OwnedFd, KernelError> {
    let mut command = Command::GetFdById { object, id };
    let cmd = command.cmd();
    sys::bpf_fd(&mut command)
        .map_err(|source| KernelError::syscall(cmd, format!("open id {id}"), source))
}

impl ProgramFd {
    /// Opens the loaded program with id `id`.
    pub fn from_id(id: u32) -> Result<ProgramFd, KernelError> {
        ProgramFd::from_owned(fd_by_id(ObjectKind::Program, id)?)
    }

    /// Wraps a descriptor of a loaded program, taking its name and type
    /// from the kernel.
    pub fn from_owned(fd: OwnedFd) -> Result<ProgramFd, KernelError> {
        let info = program_info(fd.as_fd())?;
        let program_type = info.program_type().ok_or(KernelError::UnknownProgramType {
            number: info.type_number,
        })?;
        Ok(ProgramFd::from_info(fd, info.name, program_type))
    }

    /// What the kernel says about this program now.
    pub fn info(&self) -> Result<ProgramInfo, KernelError> {
        program_info(self.as_fd())
    }

    /// The instructions as the verifier rewrote them; see
    /// [`program_xlated`].
    pub fn xlated_insns(&self) -> Result<Vec<u8>, KernelError> {
        program_xlated(self.as_fd())
    }

    /// See [`program_source_lines`].
    pub fn source_lines(&self) -> Result<Vec<SourceLine>, KernelError> {
        program_source_lines(self.as_fd())
    }
}

impl MapFd {
    /// Opens the map with id `id`.
    pub fn from_id(id: u32) -> Result<MapFd, KernelError> {
        MapFd::from_owned(fd_by_id(ObjectKind::Map, id)?)
    }

    /// Wraps a descriptor of a map, taking its definition from the kernel.
    pub fn from_owned(fd: OwnedFd) -> Result<MapFd, KernelError> {
        let info = map_info(fd.as_fd())?;
        let map_type = info.map_type().ok_or(KernelError::UnknownMapType {
            number: info.type_number,
        })?;
        let def = MapDef {
            map_type,
            key_size: info.key_size,
            value_size: info.value_size,
            max_entries: info.max_entries,
            flags: info.flags,
        };
        MapFd::from_parts(fd, def, info.name)
    }

    /// What the kernel says about this map now.
    pub fn info(&self) -> Result<MapInfo, KernelError> {
        map_info(self.as_fd())
    }
}

impl BtfFd {
    /// Opens the loaded BTF with id `id`.
    pub fn from_id(id: u32) -> Result<BtfFd, KernelError> {
        Ok(BtfFd::from_fd(fd_by_id(ObjectKind::Btf, id)?))
    }
}

#[cfg(test)]
mod tests {
    use super::Tag;

    #[test]
    fn tags_print_as_bpftool_does() {
        let tag = Tag([0xa0, 0x4f, 0x5e, 0xef, 0x06, 0xa7, 0xf5, 0x55]);
        assert_eq!(tag.to_string(), "a04f5eef06a7f555");
    }
}
