//! The object's `.BTF` made ready for the kernel, as libbpf's
//! `btf_fixup_datasec` does: clang leaves the size of every `DATASEC` and
//! the offsets of its variables at zero (the final layout is the linker's
//! business), and the kernel refuses a `DATASEC` of size 0. The sizes come
//! from the ELF section of the same name, the offsets from the symbols of
//! the variables.
//!
//! Works on the raw bytes, as the kernel reads them: header, then type
//! records (each `name_off`, `info`, `size_or_type` and a kind-specific
//! tail), then strings. Anything that does not parse is left as it is: the
//! kernel's checker then says what is wrong.

use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

const KIND_DATASEC: u32 = 15;
const KIND_VAR: u32 = 14;

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(word.try_into().ok()?))
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(word) = at.checked_add(4).and_then(|end| bytes.get_mut(at..end)) {
        word.copy_from_slice(&value.to_le_bytes());
    }
}

/// Bytes after the 12-byte common record for a type of `kind` with `vlen`
/// members; `None` for kinds this code does not know.
fn tail_len(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        2 | 7..=12 | 16 | 18 => 0,
        1 | 14 | 17 => 4,
        3 => 12,
        4 | 5 | 15 | 19 => vlen * 12,
        6 | 13 => vlen * 8,
        _ => return None,
    })
}

/// The BTF bytes with `DATASEC` sizes and variable offsets filled in from
/// `elf`'s sections and symbols.
pub(super) fn fix_datasecs(btf: &[u8], elf: &[u8]) -> Vec<u8> {
    let mut out = btf.to_vec();
    let Ok(file) = object::File::parse(elf) else {
        return out;
    };
    let Some(layout) = Layout::read(btf) else {
        return out;
    };
    for &start in &layout.types {
        let info = u32_at(btf, start + 4).unwrap_or(0);
        if (info >> 24) & 0x1f != KIND_DATASEC {
            continue;
        }
        let Some(name) = layout.name(btf, start) else {
            continue;
        };
        if u32_at(btf, start + 8) == Some(0)
            && let Some(section) = file.section_by_name(name)
        {
            put_u32(
                &mut out,
                start + 8,
                u32::try_from(section.size()).unwrap_or(0),
            );
        }
        let vlen = (info & 0xffff) as usize;
        for member in 0..vlen {
            let at = start + 12 + member * 12;
            let Some(var) = u32_at(btf, at).and_then(|id| layout.type_start(id)) else {
                continue;
            };
            if (u32_at(btf, var + 4).unwrap_or(0) >> 24) & 0x1f != KIND_VAR {
                continue;
            }
            let Some(var_name) = layout.name(btf, var) else {
                continue;
            };
            if let Some(symbol) = file.symbols().find(|s| s.name() == Ok(var_name)) {
                put_u32(
                    &mut out,
                    at + 4,
                    u32::try_from(symbol.address()).unwrap_or(0),
                );
            }
        }
    }
    out
}

/// Where each type record and the string table are.
struct Layout {
    /// Byte offset of type id `i + 1`'s record.
    types: Vec<usize>,
    strings: usize,
    strings_len: usize,
}

impl Layout {
    fn read(btf: &[u8]) -> Option<Layout> {
        let hdr_len = u32_at(btf, 4)? as usize;
        let type_off = u32_at(btf, 8)? as usize;
        let type_len = u32_at(btf, 12)? as usize;
        let str_off = u32_at(btf, 16)? as usize;
        let strings_len = u32_at(btf, 20)? as usize;
        let first = hdr_len.checked_add(type_off)?;
        let end = first.checked_add(type_len)?.min(btf.len());
        let mut types = Vec::new();
        let mut at = first;
        while at.checked_add(12)? <= end {
            let info = u32_at(btf, at + 4)?;
            let tail = tail_len((info >> 24) & 0x1f, (info & 0xffff) as usize)?;
            types.push(at);
            at = at.checked_add(12 + tail)?;
        }
        Some(Layout {
            types,
            strings: hdr_len.checked_add(str_off)?,
            strings_len,
        })
    }

    fn type_start(&self, id: u32) -> Option<usize> {
        self.types.get((id as usize).checked_sub(1)?).copied()
    }

    fn name<'b>(&self, btf: &'b [u8], start: usize) -> Option<&'b str> {
        let offset = u32_at(btf, start)? as usize;
        if offset >= self.strings_len {
            return None;
        }
        let rest = btf.get(self.strings.checked_add(offset)?..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparsable_input_comes_back_unchanged() {
        assert_eq!(fix_datasecs(b"not btf", b"not elf"), b"not btf");
        assert_eq!(tail_len(15, 2), Some(24));
        assert_eq!(tail_len(31, 0), None);
    }
}
