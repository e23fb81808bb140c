//! BTF types as plain dictionaries, from which the Python half builds
//! `ctypes` types for map keys, values and events:
//!
//! - `{"kind": "int", "size": 4, "signed": False}` (enums and pointers
//!   too: a pointer is an 8-byte unsigned integer to userspace), with
//!   `"char": True` for `char`;
//! - `{"kind": "float", "size": 8}`;
//! - `{"kind": "array", "elem": {...}, "len": 16}`;
//! - `{"kind": "struct" | "union", "name": "key_t", "size": 24,
//!   "members": [{"name": "pid", "offset": 0, "type": {...}}]}`, offsets
//!   in bytes.
//!
//! Typedefs and qualifiers are looked through. `None` stands for a type
//! that has no faithful `ctypes` form (a bitfield, a function): the Python
//! half then shows raw bytes.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use visor_object::Btf;
use visor_object::btf::TypeKind;

/// Nesting deeper than this is a cycle in malformed BTF.
const MAX_DEPTH: usize = 32;

/// The description of the struct, union or typedef called `name` (`data_t`,
/// or `struct data_t`), if the BTF has one.
pub fn describe_named<'py>(
    py: Python<'py>,
    btf: &Btf<'_>,
    name: &str,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let bare = name
        .strip_prefix("struct ")
        .or_else(|| name.strip_prefix("union "))
        .unwrap_or(name)
        .trim();
    let found = btf.types().iter().position(|t| {
        t.name == bare
            && matches!(
                t.kind,
                TypeKind::Struct { .. } | TypeKind::Union { .. } | TypeKind::Typedef(_)
            )
    });
    match found.and_then(|i| u32::try_from(i).ok()) {
        Some(id) => describe(py, btf, id),
        None => Ok(None),
    }
}

/// The description of type `id`, or `None` without a faithful form.
pub fn describe<'py>(
    py: Python<'py>,
    btf: &Btf<'_>,
    id: u32,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    describe_at(py, btf, id, 0)
}

fn describe_at<'py>(
    py: Python<'py>,
    btf: &Btf<'_>,
    id: u32,
    depth: usize,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let Ok(id) = btf.skip_modifiers(id) else {
        return Ok(None);
    };
    let Some(ty) = btf.get(id) else {
        return Ok(None);
    };
    if depth > MAX_DEPTH {
        return Ok(None);
    }
    let dict = PyDict::new(py);
    match &ty.kind {
        TypeKind::Int { size, encoding, .. } => {
            integer(&dict, *size, encoding & 1 != 0)?;
            // `char` (clang marks it signed, not BTF_INT_CHAR): arrays of
            // it read as strings.
            dict.set_item("char", encoding & 2 != 0 || ty.name == "char")?;
        }
        TypeKind::Enum { size, signed, .. } => integer(&dict, *size, *signed)?,
        TypeKind::Ptr(_) => integer(&dict, 8, false)?,
        TypeKind::Float { size } => {
            dict.set_item("kind", "float")?;
            dict.set_item("size", size)?;
        }
        TypeKind::Array { elem, len, .. } => {
            let Some(elem) = describe_at(py, btf, *elem, depth + 1)? else {
                return Ok(None);
            };
            dict.set_item("kind", "array")?;
            dict.set_item("elem", elem)?;
            dict.set_item("len", len)?;
        }
        TypeKind::Struct { size, members } | TypeKind::Union { size, members } => {
            let kind = match ty.kind {
                TypeKind::Union { .. } => "union",
                _ => "struct",
            };
            let list = PyList::empty(py);
            for member in members {
                // Bitfields have no byte offset to give ctypes.
                if member.bit_offset % 8 != 0 {
                    return Ok(None);
                }
                let Some(member_type) = describe_at(py, btf, member.ty, depth + 1)? else {
                    return Ok(None);
                };
                let entry = PyDict::new(py);
                entry.set_item("name", member.name)?;
                entry.set_item("offset", member.bit_offset / 8)?;
                entry.set_item("type", member_type)?;
                list.append(entry)?;
            }
            dict.set_item("kind", kind)?;
            dict.set_item("name", ty.name)?;
            dict.set_item("size", size)?;
            dict.set_item("members", list)?;
        }
        _ => return Ok(None),
    }
    Ok(Some(dict))
}

fn integer(dict: &Bound<'_, PyDict>, size: u32, signed: bool) -> PyResult<()> {
    dict.set_item("kind", "int")?;
    dict.set_item("size", size)?;
    dict.set_item("signed", signed)
}
