//! `.BTF.ext`: per-instruction debug records that refer to `.BTF` — function
//! info (which BTF `FUNC` starts at an instruction), line info (file, line
//! text, line and column of an instruction) and CO-RE relocations.
//!
//! Each kind is a record size followed by blocks, one per code section:
//! the section's name (a `.BTF` string), a record count, the records. In
//! object files, record offsets are byte offsets into that ELF section;
//! programs convert them to instruction indices when they are linked.

use std::borrow::Cow;

use super::{Btf, TypeId};
use crate::cursor::Cursor;
use crate::error::{ObjectError, Result};

const SECTION: &str = ".BTF.ext";
const MAGIC: u16 = 0xeb9f;
/// The header up to `line_info_len`; CO-RE fields follow when `hdr_len` allows.
const HEADER_LEN: usize = 24;
const HEADER_LEN_WITH_CORE: usize = 32;
const FUNC_RECORD_MIN: usize = 8;
const LINE_RECORD_MIN: usize = 16;
const CORE_RECORD_MIN: usize = 16;

/// A function starts here: the BTF `FUNC` that describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncInfo<'data> {
    /// Byte offset in the section (object files) or instruction index
    /// (inside a [`crate::Program`]).
    pub insn: usize,
    pub type_id: TypeId,
    pub name: &'data str,
}

/// The source position an instruction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineInfo<'data> {
    /// Byte offset in the section (object files) or instruction index
    /// (inside a [`crate::Program`]).
    pub insn: usize,
    file: &'data [u8],
    text: &'data [u8],
    pub line: u32,
    pub column: u32,
    /// Where the file name and the line's text start in the `.BTF` string
    /// table: the kernel takes line info in this raw form.
    pub file_name_off: u32,
    pub line_off: u32,
}

impl<'data> LineInfo<'data> {
    /// The source file, as the compiler saw it.
    pub fn file(&self) -> Cow<'data, str> {
        String::from_utf8_lossy(self.file)
    }

    /// The text of the source line (BTF keeps whole lines, trimmed by clang).
    pub fn text(&self) -> Cow<'data, str> {
        String::from_utf8_lossy(self.text)
    }

    pub(crate) fn at(self, insn: usize) -> Self {
        LineInfo { insn, ..self }
    }
}

/// What a CO-RE relocation asks for (`enum bpf_core_relo_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreReloc<'data> {
    /// Byte offset in the section, or instruction index inside a program.
    pub insn: usize,
    /// The local root type the access starts from.
    pub type_id: TypeId,
    /// The access path, `"0:1:2"`.
    pub access: &'data str,
    /// `BPF_CORE_FIELD_BYTE_OFFSET` (0) and following.
    pub kind: u32,
}

impl<'data> CoreReloc<'data> {
    pub(crate) fn at(self, insn: usize) -> Self {
        CoreReloc { insn, ..self }
    }
}

/// Records of one kind for one code section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionRecords<'data, T> {
    pub section: &'data str,
    pub records: Vec<T>,
}

/// The parsed `.BTF.ext`.
#[derive(Clone, Debug, Default)]
pub struct BtfExt<'data> {
    pub func_info: Vec<SectionRecords<'data, FuncInfo<'data>>>,
    pub line_info: Vec<SectionRecords<'data, LineInfo<'data>>>,
    pub core_relocs: Vec<SectionRecords<'data, CoreReloc<'data>>>,
}

impl<'data> BtfExt<'data> {
    /// Parses `.BTF.ext`, resolving names and line text through `btf`.
    pub fn parse(data: &'data [u8], btf: &Btf<'data>) -> Result<BtfExt<'data>> {
        let mut header = Cursor::new(data, SECTION);
        let magic = header.u16("magic")?;
        if magic != MAGIC {
            return Err(ObjectError::bad_value(SECTION, "magic", 0, magic));
        }
        let version = header.u8("version")?;
        if version != 1 {
            return Err(ObjectError::bad_value(SECTION, "version", 2, version));
        }
        header.u8("flags")?;
        let hdr_at = header.offset();
        let hdr_len = header.len32("hdr_len")?;
        if hdr_len < HEADER_LEN {
            return Err(ObjectError::bad_value(
                SECTION,
                "hdr_len",
                hdr_at,
                hdr_len as u64,
            ));
        }
        let func = (
            header.len32("func_info_off")?,
            header.len32("func_info_len")?,
        );
        let line = (
            header.len32("line_info_off")?,
            header.len32("line_info_len")?,
        );
        let core = if hdr_len >= HEADER_LEN_WITH_CORE {
            Some((
                header.len32("core_relo_off")?,
                header.len32("core_relo_len")?,
            ))
        } else {
            None
        };
        let body = Cursor::new(data, SECTION).sub(
            hdr_len,
            data.len().saturating_sub(hdr_len),
            "BTF.ext body",
        )?;

        let func_info = read_blocks(&body, func, "func info", FUNC_RECORD_MIN, btf, func_record)?;
        let line_info = read_blocks(&body, line, "line info", LINE_RECORD_MIN, btf, line_record)?;
        let core_relocs = match core {
            Some(core) => read_blocks(
                &body,
                core,
                "CO-RE relocation",
                CORE_RECORD_MIN,
                btf,
                core_record,
            )?,
            None => Vec::new(),
        };
        Ok(BtfExt {
            func_info,
            line_info,
            core_relocs,
        })
    }
}

fn func_record<'data>(c: &mut Cursor<'data, '_>, btf: &Btf<'data>) -> Result<FuncInfo<'data>> {
    let insn = c.len32("func info insn_off")?;
    let type_id = c.u32("func info type_id")?;
    Ok(FuncInfo {
        insn,
        type_id,
        name: btf.func_name(type_id)?,
    })
}

fn line_record<'data>(c: &mut Cursor<'data, '_>, btf: &Btf<'data>) -> Result<LineInfo<'data>> {
    let insn = c.len32("line info insn_off")?;
    let file_name_off = c.u32("line info file_name_off")?;
    let line_off = c.u32("line info line_off")?;
    let file = btf.bytes_at(file_name_off)?;
    let text = btf.bytes_at(line_off)?;
    // The line number is in the high 22 bits, the column in the low 10.
    let line_col = c.u32("line info line_col")?;
    Ok(LineInfo {
        insn,
        file,
        text,
        line: line_col >> 10,
        column: line_col & 0x3ff,
        file_name_off,
        line_off,
    })
}

fn core_record<'data>(c: &mut Cursor<'data, '_>, btf: &Btf<'data>) -> Result<CoreReloc<'data>> {
    let insn = c.len32("CO-RE insn_off")?;
    let type_id = c.u32("CO-RE type_id")?;
    let access = btf.str_at(c.u32("CO-RE access_str_off")?)?;
    let kind = c.u32("CO-RE kind")?;
    Ok(CoreReloc {
        insn,
        type_id,
        access,
        kind,
    })
}

impl BtfExt<'_> {
    /// Checks that every record names a code section and an instruction
    /// inside it; `code_size` gives a code section's size by name, `None`
    /// when the object has no such code section.
    pub(crate) fn check_sections(&self, code_size: impl Fn(&str) -> Option<u64>) -> Result<()> {
        let offsets = self
            .func_info
            .iter()
            .map(|b| {
                (
                    b.section,
                    "func info",
                    b.records.iter().map(|r| r.insn).collect::<Vec<_>>(),
                )
            })
            .chain(self.line_info.iter().map(|b| {
                (
                    b.section,
                    "line info",
                    b.records.iter().map(|r| r.insn).collect(),
                )
            }))
            .chain(self.core_relocs.iter().map(|b| {
                (
                    b.section,
                    "CO-RE relocation",
                    b.records.iter().map(|r| r.insn).collect(),
                )
            }));
        for (section, what, insns) in offsets {
            let error = |insn: usize, reason: String| ObjectError::BadExtRecord {
                what,
                section: section.to_owned(),
                offset: insn,
                reason,
            };
            let Some(size) = code_size(section) else {
                let first = insns.first().copied().unwrap_or(0);
                return Err(error(first, "the object has no such code section".into()));
            };
            if let Some(&insn) = insns
                .iter()
                .find(|&&insn| insn as u64 >= size || !insn.is_multiple_of(8))
            {
                return Err(error(
                    insn,
                    format!("not an instruction of the section's {size} bytes"),
                ));
            }
        }
        Ok(())
    }
}

/// Reads one kind's blocks: `rec_size`, then per section a name, a count
/// and `count` records of `rec_size` bytes (the parser reads the prefix it
/// knows; newer, longer records keep working).
fn read_blocks<'data, T>(
    body: &Cursor<'data, '_>,
    (offset, len): (usize, usize),
    what: &'static str,
    min_record: usize,
    btf: &Btf<'data>,
    record: impl Fn(&mut Cursor<'data, '_>, &Btf<'data>) -> Result<T>,
) -> Result<Vec<SectionRecords<'data, T>>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let mut c = body.sub(offset, len, what)?;
    let size_at = c.offset();
    let rec_size = c.len32("record size")?;
    if rec_size < min_record {
        return Err(ObjectError::bad_value(
            SECTION,
            what,
            size_at,
            rec_size as u64,
        ));
    }
    let mut blocks = Vec::new();
    while !c.is_empty() {
        let section = btf.str_at(c.u32("section name_off")?)?;
        let count_at = c.offset();
        let count = c.len32("record count")?;
        let total = count.checked_mul(rec_size).ok_or_else(|| {
            ObjectError::bad_value(SECTION, "record count", count_at, count as u64)
        })?;
        let mut block = c.split(total, what)?;
        let mut records = Vec::with_capacity(count);
        for _ in 0..count {
            let mut one = block.split(rec_size, what)?;
            records.push(record(&mut one, btf)?);
        }
        blocks.push(SectionRecords { section, records });
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::tests::build;

    fn words(w: &[u32]) -> Vec<u8> {
        w.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn line_info_resolves_file_and_text() {
        // strings: 1 "xdp", 5 "a.c", 9 "return 1;"
        let btf_bytes = build(&[], b"\0xdp\0a.c\0return 1;\0");
        let btf = Btf::parse(&btf_bytes).unwrap();
        let lines = words(&[16, 1, 2, 0, 5, 9, (7 << 10) | 3, 8, 5, 9, 8 << 10]);
        let mut ext = Vec::new();
        ext.extend_from_slice(&MAGIC.to_le_bytes());
        ext.extend_from_slice(&[1, 0]);
        ext.extend_from_slice(&words(&[24, 0, 0, 0, lines.len() as u32]));
        ext.extend_from_slice(&lines);
        let parsed = BtfExt::parse(&ext, &btf).unwrap();
        let block = &parsed.line_info[0];
        assert_eq!(block.section, "xdp");
        assert_eq!(block.records.len(), 2);
        assert_eq!(block.records[0].text(), "return 1;");
        assert_eq!(block.records[0].file(), "a.c");
        assert_eq!((block.records[0].line, block.records[0].column), (7, 3));
        assert_eq!(block.records[1].insn, 8);

        // A count that overflows the block is an error, not a panic.
        let mut broken = ext.clone();
        let count_at = ext.len() - lines.len() + 8;
        broken[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(BtfExt::parse(&broken, &btf).is_err());
    }
}
