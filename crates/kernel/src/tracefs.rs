//! tracefs: where it is mounted, tracepoint ids, and the `format` files
//! that say how a tracepoint's record is laid out.
//!
//! A tracepoint program's context (`r1`) is the record the `format` file
//! describes: the common fields (`common_type`, `common_flags`,
//! `common_preempt_count`, `common_pid`) and then the event's own.
//! [`TracepointFormat`] parses it so tools can decode records that a
//! program copied out (through a perf or ring buffer) by field name.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{KernelError, OsCall};
use crate::sys;

/// Where tracefs is mounted by convention (since Linux 4.1).
pub const TRACEFS: &str = "/sys/kernel/tracing";

/// The older place, inside debugfs.
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

const MOUNTS: &str = "/proc/self/mounts";

/// The tracefs directory: the first tracefs mount in `/proc/self/mounts`,
/// else the one in a mounted debugfs, else tracefs freshly mounted at
/// [`TRACEFS`].
pub fn tracefs() -> Result<PathBuf, KernelError> {
    let mounts = std::fs::read_to_string(MOUNTS).map_err(|source| KernelError::ReadFile {
        path: PathBuf::from(MOUNTS),
        source,
    })?;
    if let Some(dir) = mounted(&mounts, "tracefs") {
        return Ok(dir);
    }
    let old = Path::new(DEBUGFS_TRACING);
    if old.join("events").is_dir() {
        return Ok(old.to_owned());
    }
    let dir = Path::new(TRACEFS);
    let what = || format!("mount tracefs at {TRACEFS}");
    std::fs::create_dir_all(dir).map_err(KernelError::os(OsCall::Mount, what()))?;
    let c = CString::new(dir.as_os_str().as_bytes()).map_err(|_| KernelError::InvalidPath {
        path: dir.to_owned(),
    })?;
    sys::mount_tracefs(&c).map_err(KernelError::os(OsCall::Mount, what()))?;
    Ok(dir.to_owned())
}

/// The mount point of the first `fstype` in a `/proc/self/mounts` text,
/// preferring [`TRACEFS`] when tracefs is mounted in several places.
fn mounted(mounts: &str, fstype: &str) -> Option<PathBuf> {
    let targets: Vec<&str> = mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let (_source, target, kind) = (fields.next(), fields.next(), fields.next());
            (kind == Some(fstype)).then_some(target).flatten()
        })
        .collect();
    let best = targets
        .iter()
        .find(|t| **t == TRACEFS)
        .or(targets.first())?;
    Some(PathBuf::from(best))
}

/// The directory of the tracepoint `category:name`.
fn event_dir(category: &str, name: &str) -> Result<PathBuf, KernelError> {
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let dir = tracefs()?.join("events").join(category).join(name);
    if !valid(category) || !valid(name) || !dir.is_dir() {
        return Err(KernelError::TracepointNotFound {
            category: category.to_owned(),
            name: name.to_owned(),
            path: dir,
        });
    }
    Ok(dir)
}

fn read(path: &Path) -> Result<String, KernelError> {
    std::fs::read_to_string(path).map_err(|source| KernelError::ReadFile {
        path: path.to_owned(),
        source,
    })
}

/// The id of the tracepoint `category:name` (its `events/CAT/NAME/id`),
/// the `config` of a `PERF_TYPE_TRACEPOINT` perf event.
pub fn tracepoint_id(category: &str, name: &str) -> Result<u64, KernelError> {
    let path = event_dir(category, name)?.join("id");
    let text = read(&path)?;
    text.trim().parse().map_err(|_| KernelError::ParseFile {
        path,
        content: text,
    })
}

/// One field of a tracepoint record, from a line of its `format` file:
/// `field:pid_t pid;` `offset:8;` `size:4;` `signed:1;` (tab-separated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatField {
    /// The C declaration: `pid_t pid`, `char comm[16]`,
    /// `__data_loc char[] filename`.
    pub declaration: String,
    /// The field's name: `pid`, `comm`, `filename`.
    pub name: String,
    pub offset: usize,
    pub size: usize,
    pub signed: bool,
}

impl FormatField {
    /// Whether the field holds the place of variable data
    /// (`__data_loc`): a `u32` of length << 16 | offset.
    pub fn is_data_loc(&self) -> bool {
        self.declaration.starts_with("__data_loc")
    }

    /// The field's bytes in `record`; `None` if the record is too short.
    pub fn bytes<'r>(&self, record: &'r [u8]) -> Option<&'r [u8]> {
        record.get(self.offset..self.offset.checked_add(self.size)?)
    }

    /// The field as an integer (sizes 1, 2, 4 and 8, native byte order),
    /// sign-extended when the field is signed; `None` for other sizes or a
    /// short record.
    pub fn int(&self, record: &[u8]) -> Option<i128> {
        let b = self.bytes(record)?;
        let value = match (b.len(), self.signed) {
            (1, false) => i128::from(b[0]),
            (1, true) => i128::from(b[0] as i8),
            (2, false) => i128::from(u16::from_ne_bytes(b.try_into().ok()?)),
            (2, true) => i128::from(i16::from_ne_bytes(b.try_into().ok()?)),
            (4, false) => i128::from(u32::from_ne_bytes(b.try_into().ok()?)),
            (4, true) => i128::from(i32::from_ne_bytes(b.try_into().ok()?)),
            (8, false) => i128::from(u64::from_ne_bytes(b.try_into().ok()?)),
            (8, true) => i128::from(i64::from_ne_bytes(b.try_into().ok()?)),
            _ => return None,
        };
        Some(value)
    }

    /// The variable data a `__data_loc` field points at; `None` if this is
    /// not one or the record is too short.
    pub fn data_loc<'r>(&self, record: &'r [u8]) -> Option<&'r [u8]> {
        if !self.is_data_loc() || self.size != 4 {
            return None;
        }
        let word = u32::from_ne_bytes(self.bytes(record)?.try_into().ok()?);
        let (offset, len) = ((word & 0xffff) as usize, (word >> 16) as usize);
        record.get(offset..offset.checked_add(len)?)
    }
}

/// A tracepoint's `format` file: its name, id and record fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracepointFormat {
    pub name: String,
    pub id: u64,
    /// The fields in record order, common ones first.
    pub fields: Vec<FormatField>,
    /// The `print fmt:` line, as the kernel prints records.
    pub print_fmt: String,
}

impl TracepointFormat {
    /// Reads and parses `events/CATEGORY/NAME/format`.
    pub fn read(category: &str, name: &str) -> Result<TracepointFormat, KernelError> {
        let path = event_dir(category, name)?.join("format");
        let text = read(&path)?;
        TracepointFormat::parse(&text).ok_or(KernelError::ParseFile {
            path,
            content: text,
        })
    }

    /// Parses the text of a `format` file; `None` when a field line or
    /// the name or id is malformed.
    pub fn parse(text: &str) -> Option<TracepointFormat> {
        let mut name = None;
        let mut id = None;
        let mut fields = Vec::new();
        let mut print_fmt = String::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("name:") {
                name = Some(rest.trim().to_owned());
            } else if let Some(rest) = line.strip_prefix("ID:") {
                id = Some(rest.trim().parse().ok()?);
            } else if let Some(rest) = line.strip_prefix("print fmt:") {
                rest.trim().clone_into(&mut print_fmt);
            } else if line.starts_with("field:") {
                fields.push(parse_field(line)?);
            }
        }
        Some(TracepointFormat {
            name: name?,
            id: id?,
            fields,
            print_fmt,
        })
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&FormatField> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// One `field:DECL;\toffset:N;\tsize:N;\tsigned:N;` line.
fn parse_field(line: &str) -> Option<FormatField> {
    let mut declaration = None;
    let (mut offset, mut size, mut signed) = (None, None, false);
    for part in line.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once(':')?;
        match key {
            "field" => declaration = Some(value.trim().to_owned()),
            "offset" => offset = Some(value.trim().parse().ok()?),
            "size" => size = Some(value.trim().parse().ok()?),
            "signed" => signed = value.trim() == "1",
            _ => {}
        }
    }
    let declaration = declaration?;
    // The name is the last identifier before any array brackets:
    // `char comm[16]` -> `comm`, `__data_loc char[] filename` -> `filename`.
    let head = declaration
        .trim_end()
        .strip_suffix(']')
        .and_then(|d| d.rsplit_once('['))
        .map_or(declaration.as_str(), |(head, _)| head);
    let name = head
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .filter(|n| !n.is_empty())?
        .to_owned();
    Some(FormatField {
        declaration,
        name,
        offset: offset?,
        size: size?,
        signed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHED_EXEC: &str = "name: sched_process_exec
ID: 312
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:char comm[16];\toffset:16;\tsize:16;\tsigned:0;

print fmt: \"filename=%s pid=%d\", __get_str(filename), REC->pid
";

    #[test]
    fn a_format_file_parses_into_fields() {
        let format = TracepointFormat::parse(SCHED_EXEC).unwrap();
        assert_eq!(format.name, "sched_process_exec");
        assert_eq!(format.id, 312);
        let names: Vec<&str> = format.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "common_type",
                "common_flags",
                "common_preempt_count",
                "common_pid",
                "filename",
                "pid",
                "comm"
            ]
        );
        let pid = format.field("pid").unwrap();
        assert_eq!((pid.offset, pid.size, pid.signed), (12, 4, true));
        assert!(format.field("filename").unwrap().is_data_loc());
        assert!(format.print_fmt.starts_with("\"filename=%s"));
    }

    #[test]
    fn fields_decode_a_record() {
        let format = TracepointFormat::parse(SCHED_EXEC).unwrap();
        let mut record = vec![0u8; 40];
        record[12..16].copy_from_slice(&(-5i32).to_ne_bytes());
        record[16..20].copy_from_slice(b"true");
        record[32..37].copy_from_slice(b"/bin\0");
        let loc = (5u32 << 16) | 32;
        record[8..12].copy_from_slice(&loc.to_ne_bytes());
        assert_eq!(format.field("pid").unwrap().int(&record), Some(-5));
        assert_eq!(
            format.field("filename").unwrap().data_loc(&record),
            Some(&b"/bin\0"[..])
        );
        assert_eq!(
            &format.field("comm").unwrap().bytes(&record).unwrap()[..4],
            b"true"
        );
        // A short record gives None, not a panic.
        assert_eq!(format.field("comm").unwrap().bytes(&record[..20]), None);
    }

    #[test]
    fn malformed_formats_are_none() {
        assert_eq!(TracepointFormat::parse("name: x\n"), None);
        assert_eq!(
            TracepointFormat::parse("name: x\nID: 1\n\tfield:int a;\toffset:z;\tsize:4;\n"),
            None
        );
    }

    #[test]
    fn the_conventional_tracefs_mount_is_preferred() {
        let mounts = "none /mnt/t tracefs rw 0 0\nnone /sys/kernel/tracing tracefs rw 0 0\n";
        assert_eq!(mounted(mounts, "tracefs"), Some(PathBuf::from(TRACEFS)));
        assert_eq!(mounted("proc /proc proc rw 0 0\n", "tracefs"), None);
    }
}
