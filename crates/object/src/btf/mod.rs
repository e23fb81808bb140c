//! BTF, the BPF Type Format (`.BTF`): the types and strings of an object,
//! parsed enough to read BTF-defined maps, name functions and carry line
//! info (see the kernel's `Documentation/bpf/btf.rst`).
//!
//! Layout: a header, then the type records, then a string table. Type ids
//! start at 1 (0 is `void`), in record order. Every record is read through
//! a cursor that cannot panic, every referenced id is checked to exist, and chains of
//! typedefs and modifiers are followed with a depth limit, so no input makes
//! resolution loop or panic.

pub mod ext;

use crate::cursor::Cursor;
use crate::error::{ObjectError, Result};

/// `0xeB9F`, read little-endian.
const MAGIC: u16 = 0xeb9f;
/// The header up to and including `str_len`.
const HEADER_LEN: usize = 24;
/// How many typedefs, modifiers or array levels resolution follows before
/// calling the chain malformed. Real types nest a handful deep.
const MAX_DEPTH: usize = 32;

/// A type id: an index into [`Btf::types`], 0 being `void`.
pub type TypeId = u32;

/// One struct or union member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member<'data> {
    pub name: &'data str,
    pub ty: TypeId,
    /// Bit offset of the member (the low 24 bits when the struct's kind
    /// flag marks bitfields).
    pub bit_offset: u32,
}

/// One enumerator (`ENUM` or `ENUM64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enumerator<'data> {
    pub name: &'data str,
    pub value: i64,
}

/// One parameter of a function prototype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'data> {
    pub name: &'data str,
    pub ty: TypeId,
}

/// One variable of a data section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecVar {
    pub ty: TypeId,
    pub offset: u32,
    pub size: u32,
}

/// What a type is, by `BTF_KIND_*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeKind<'data> {
    Void,
    Int {
        size: u32,
        /// `BTF_INT_SIGNED` (1), `BTF_INT_CHAR` (2), `BTF_INT_BOOL` (4).
        encoding: u8,
        bits: u8,
    },
    Ptr(TypeId),
    Array {
        elem: TypeId,
        index: TypeId,
        len: u32,
    },
    Struct {
        size: u32,
        members: Vec<Member<'data>>,
    },
    Union {
        size: u32,
        members: Vec<Member<'data>>,
    },
    Enum {
        size: u32,
        signed: bool,
        values: Vec<Enumerator<'data>>,
    },
    Fwd {
        union: bool,
    },
    Typedef(TypeId),
    Volatile(TypeId),
    Const(TypeId),
    Restrict(TypeId),
    Func {
        proto: TypeId,
        /// 0 static, 1 global, 2 extern.
        linkage: u16,
    },
    FuncProto {
        ret: TypeId,
        params: Vec<Param<'data>>,
    },
    Var {
        ty: TypeId,
        linkage: u32,
    },
    Datasec {
        size: u32,
        vars: Vec<SecVar>,
    },
    Float {
        size: u32,
    },
    DeclTag {
        target: TypeId,
        component: i32,
    },
    TypeTag(TypeId),
}

impl TypeKind<'_> {
    /// The kernel's name of the kind, as `bpftool btf dump` prints it.
    pub fn name(&self) -> &'static str {
        match self {
            TypeKind::Void => "VOID",
            TypeKind::Int { .. } => "INT",
            TypeKind::Ptr(_) => "PTR",
            TypeKind::Array { .. } => "ARRAY",
            TypeKind::Struct { .. } => "STRUCT",
            TypeKind::Union { .. } => "UNION",
            TypeKind::Enum { .. } => "ENUM",
            TypeKind::Fwd { .. } => "FWD",
            TypeKind::Typedef(_) => "TYPEDEF",
            TypeKind::Volatile(_) => "VOLATILE",
            TypeKind::Const(_) => "CONST",
            TypeKind::Restrict(_) => "RESTRICT",
            TypeKind::Func { .. } => "FUNC",
            TypeKind::FuncProto { .. } => "FUNC_PROTO",
            TypeKind::Var { .. } => "VAR",
            TypeKind::Datasec { .. } => "DATASEC",
            TypeKind::Float { .. } => "FLOAT",
            TypeKind::DeclTag { .. } => "DECL_TAG",
            TypeKind::TypeTag(_) => "TYPE_TAG",
        }
    }

    /// Every type id this type refers to.
    fn references(&self) -> Vec<TypeId> {
        match self {
            TypeKind::Ptr(t)
            | TypeKind::Typedef(t)
            | TypeKind::Volatile(t)
            | TypeKind::Const(t)
            | TypeKind::Restrict(t)
            | TypeKind::TypeTag(t) => vec![*t],
            TypeKind::Array { elem, index, .. } => vec![*elem, *index],
            TypeKind::Struct { members, .. } | TypeKind::Union { members, .. } => {
                members.iter().map(|m| m.ty).collect()
            }
            TypeKind::Func { proto, .. } => vec![*proto],
            TypeKind::FuncProto { ret, params } => {
                let mut ids = vec![*ret];
                ids.extend(params.iter().map(|p| p.ty));
                ids
            }
            TypeKind::Var { ty, .. } => vec![*ty],
            TypeKind::Datasec { vars, .. } => vars.iter().map(|v| v.ty).collect(),
            TypeKind::DeclTag { target, .. } => vec![*target],
            TypeKind::Void
            | TypeKind::Int { .. }
            | TypeKind::Enum { .. }
            | TypeKind::Fwd { .. }
            | TypeKind::Float { .. } => Vec::new(),
        }
    }
}

/// One type: its name (empty when anonymous) and kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Type<'data> {
    pub name: &'data str,
    pub kind: TypeKind<'data>,
}

/// The parsed `.BTF` section.
#[derive(Clone, Debug)]
pub struct Btf<'data> {
    strings: &'data [u8],
    types: Vec<Type<'data>>,
}

const SECTION: &str = ".BTF";

impl<'data> Btf<'data> {
    /// Parses the contents of a `.BTF` section.
    pub fn parse(data: &'data [u8]) -> Result<Btf<'data>> {
        let mut header = Cursor::new(data, SECTION);
        let magic = header.u16("magic")?;
        if magic != MAGIC {
            let why = if magic == MAGIC.swap_bytes() {
                "big-endian BTF is not supported"
            } else {
                "bad magic"
            };
            return Err(ObjectError::BadString {
                section: SECTION.into(),
                offset: 0,
                reason: why,
            });
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
        let type_off = header.len32("type_off")?;
        let type_len = header.len32("type_len")?;
        let str_off = header.len32("str_off")?;
        let str_len = header.len32("str_len")?;
        let body = Cursor::new(data, SECTION).sub(
            hdr_len,
            data.len().saturating_sub(hdr_len),
            "BTF body",
        )?;
        let strings_cursor = body.sub(str_off, str_len, "string table")?;
        let mut strings_cursor = strings_cursor;
        let strings = strings_cursor.bytes(str_len, "string table")?;
        if strings.first().is_some_and(|&b| b != 0) || strings.last().is_some_and(|&b| b != 0) {
            return Err(ObjectError::BadString {
                section: SECTION.into(),
                offset: hdr_len.saturating_add(str_off),
                reason: "table must start and end with NUL",
            });
        }
        let mut btf = Btf {
            strings,
            types: vec![Type {
                name: "",
                kind: TypeKind::Void,
            }],
        };
        let mut records = body.sub(type_off, type_len, "type records")?;
        while !records.is_empty() {
            let id = u32::try_from(btf.types.len()).unwrap_or(u32::MAX);
            let ty = btf.read_type(&mut records, id)?;
            btf.types.push(ty);
        }
        for (id, ty) in btf.types.iter().enumerate() {
            for target in ty.kind.references() {
                if target as usize >= btf.types.len() {
                    return Err(ObjectError::btf(
                        id as u32,
                        format!(
                            "{} refers to type {target}, but there are {} types",
                            ty.kind.name(),
                            btf.types.len()
                        ),
                    ));
                }
            }
        }
        Ok(btf)
    }

    /// All types, indexed by id; `types()[0]` is `void`.
    pub fn types(&self) -> &[Type<'data>] {
        &self.types
    }

    /// The type with id `id`, if it exists.
    pub fn get(&self, id: TypeId) -> Option<&Type<'data>> {
        self.types.get(id as usize)
    }

    /// The type `id`, or an error naming it.
    pub fn type_by_id(&self, id: TypeId) -> Result<&Type<'data>> {
        self.get(id)
            .ok_or_else(|| ObjectError::btf(id, "no such type"))
    }

    /// The NUL-terminated string at `offset` in the string table, as bytes.
    pub fn bytes_at(&self, offset: u32) -> Result<&'data [u8]> {
        let bad = |reason| ObjectError::BadString {
            section: SECTION.into(),
            offset: offset as usize,
            reason,
        };
        let tail = self
            .strings
            .get(offset as usize..)
            .ok_or_else(|| bad("is outside the string table"))?;
        let end = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| bad("is not NUL-terminated"))?;
        Ok(&tail[..end])
    }

    /// The string at `offset`, which must be UTF-8 (names are C identifiers).
    pub fn str_at(&self, offset: u32) -> Result<&'data str> {
        core::str::from_utf8(self.bytes_at(offset)?).map_err(|_| ObjectError::BadString {
            section: SECTION.into(),
            offset: offset as usize,
            reason: "is not UTF-8",
        })
    }

    /// Follows typedefs, `const`, `volatile`, `restrict` and type tags.
    pub fn skip_modifiers(&self, mut id: TypeId) -> Result<TypeId> {
        for _ in 0..MAX_DEPTH {
            match self.type_by_id(id)?.kind {
                TypeKind::Typedef(t)
                | TypeKind::Volatile(t)
                | TypeKind::Const(t)
                | TypeKind::Restrict(t)
                | TypeKind::TypeTag(t) => id = t,
                _ => return Ok(id),
            }
        }
        Err(ObjectError::btf(
            id,
            "typedef or modifier chain is too deep (a cycle?)",
        ))
    }

    /// The size in bytes of a value of type `id`, as `sizeof` would say.
    pub fn size_of(&self, id: TypeId) -> Result<u64> {
        self.size_of_at(id, 0)
    }

    fn size_of_at(&self, id: TypeId, depth: usize) -> Result<u64> {
        if depth > MAX_DEPTH {
            return Err(ObjectError::btf(id, "type nests too deep (a cycle?)"));
        }
        let id = self.skip_modifiers(id)?;
        let ty = self.type_by_id(id)?;
        Ok(match &ty.kind {
            TypeKind::Int { size, .. }
            | TypeKind::Struct { size, .. }
            | TypeKind::Union { size, .. }
            | TypeKind::Enum { size, .. }
            | TypeKind::Datasec { size, .. }
            | TypeKind::Float { size } => u64::from(*size),
            TypeKind::Ptr(_) => 8,
            TypeKind::Array { elem, len, .. } => self
                .size_of_at(*elem, depth + 1)?
                .checked_mul(u64::from(*len))
                .ok_or_else(|| ObjectError::btf(id, "array size overflows"))?,
            TypeKind::Var { ty, .. } => self.size_of_at(*ty, depth + 1)?,
            other => {
                return Err(ObjectError::btf(
                    id,
                    format!("{} has no size", other.name()),
                ));
            }
        })
    }

    /// The name of a `FUNC` type (for func info).
    pub fn func_name(&self, id: TypeId) -> Result<&'data str> {
        match self.type_by_id(id)? {
            Type {
                name,
                kind: TypeKind::Func { .. },
            } => Ok(name),
            other => Err(ObjectError::btf(
                id,
                format!("expected FUNC, found {}", other.kind.name()),
            )),
        }
    }

    /// The `DATASEC` called `name`, with its id.
    pub fn datasec(&self, name: &str) -> Option<(TypeId, &[SecVar])> {
        self.types
            .iter()
            .enumerate()
            .find_map(|(id, ty)| match &ty.kind {
                TypeKind::Datasec { vars, .. } if ty.name == name => {
                    Some((id as TypeId, vars.as_slice()))
                }
                _ => None,
            })
    }

    fn read_type(&self, c: &mut Cursor<'data, '_>, id: TypeId) -> Result<Type<'data>> {
        let at = c.offset();
        let name_off = c.u32("type name_off")?;
        let info = c.u32("type info")?;
        let size_or_type = c.u32("type size/type")?;
        let vlen = (info & 0xffff) as usize;
        let kind_code = (info >> 24) & 0x1f;
        let kind_flag = info >> 31 != 0;
        let name = self.str_at(name_off)?;
        let kind = match kind_code {
            0 => {
                return Err(ObjectError::bad_value(
                    SECTION,
                    "type kind (UNKN)",
                    at,
                    0u32,
                ));
            }
            1 => {
                let data = c.u32("INT data")?;
                TypeKind::Int {
                    size: size_or_type,
                    encoding: (data >> 24) as u8 & 0x0f,
                    bits: data as u8,
                }
            }
            2 => TypeKind::Ptr(size_or_type),
            3 => TypeKind::Array {
                elem: c.u32("array type")?,
                index: c.u32("array index_type")?,
                len: c.u32("array nelems")?,
            },
            4 | 5 => {
                let mut members = Vec::with_capacity(vlen.min(c.remaining() / 12));
                for _ in 0..vlen {
                    let name = self.str_at(c.u32("member name_off")?)?;
                    let ty = c.u32("member type")?;
                    let offset = c.u32("member offset")?;
                    let bit_offset = if kind_flag {
                        offset & 0x00ff_ffff
                    } else {
                        offset
                    };
                    members.push(Member {
                        name,
                        ty,
                        bit_offset,
                    });
                }
                if kind_code == 4 {
                    TypeKind::Struct {
                        size: size_or_type,
                        members,
                    }
                } else {
                    TypeKind::Union {
                        size: size_or_type,
                        members,
                    }
                }
            }
            6 | 19 => {
                let wide = kind_code == 19;
                let mut values = Vec::with_capacity(vlen.min(c.remaining() / 8));
                for _ in 0..vlen {
                    let name = self.str_at(c.u32("enumerator name_off")?)?;
                    let low = c.u32("enumerator value")?;
                    let value = if wide {
                        let high = c.u32("enumerator value_hi32")?;
                        ((u64::from(high) << 32) | u64::from(low)) as i64
                    } else if kind_flag {
                        i64::from(low as i32)
                    } else {
                        i64::from(low)
                    };
                    values.push(Enumerator { name, value });
                }
                TypeKind::Enum {
                    size: size_or_type,
                    signed: kind_flag,
                    values,
                }
            }
            7 => TypeKind::Fwd { union: kind_flag },
            8 => TypeKind::Typedef(size_or_type),
            9 => TypeKind::Volatile(size_or_type),
            10 => TypeKind::Const(size_or_type),
            11 => TypeKind::Restrict(size_or_type),
            12 => TypeKind::Func {
                proto: size_or_type,
                linkage: vlen as u16,
            },
            13 => {
                let mut params = Vec::with_capacity(vlen.min(c.remaining() / 8));
                for _ in 0..vlen {
                    let name = self.str_at(c.u32("param name_off")?)?;
                    let ty = c.u32("param type")?;
                    params.push(Param { name, ty });
                }
                TypeKind::FuncProto {
                    ret: size_or_type,
                    params,
                }
            }
            14 => TypeKind::Var {
                ty: size_or_type,
                linkage: c.u32("var linkage")?,
            },
            15 => {
                let mut vars = Vec::with_capacity(vlen.min(c.remaining() / 12));
                for _ in 0..vlen {
                    vars.push(SecVar {
                        ty: c.u32("datasec var type")?,
                        offset: c.u32("datasec var offset")?,
                        size: c.u32("datasec var size")?,
                    });
                }
                TypeKind::Datasec {
                    size: size_or_type,
                    vars,
                }
            }
            16 => TypeKind::Float { size: size_or_type },
            17 => TypeKind::DeclTag {
                target: size_or_type,
                component: c.i32("decl tag component_idx")?,
            },
            18 => TypeKind::TypeTag(size_or_type),
            other => {
                return Err(ObjectError::btf(
                    id,
                    format!("unknown kind {other} at offset {at:#x}"),
                ));
            }
        };
        Ok(Type { name, kind })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds BTF bytes from raw type words and a string table.
    pub(crate) fn build(types: &[u32], strings: &[u8]) -> Vec<u8> {
        let type_bytes: Vec<u8> = types.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(type_bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&(type_bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        out.extend_from_slice(&type_bytes);
        out.extend_from_slice(strings);
        out
    }

    const INT: u32 = 1 << 24;
    const PTR: u32 = 2 << 24;
    const ARRAY: u32 = 3 << 24;
    const STRUCT: u32 = 4 << 24;
    const TYPEDEF: u32 = 8 << 24;

    #[test]
    fn sizes_follow_typedefs_arrays_and_pointers() {
        // 1: int (4 bytes), 2: int[10], 3: typedef arr = int[10], 4: int *,
        // 5: struct s { arr a; } of size 40
        let strings = b"\0int\0arr\0s\0a\0";
        let btf = build(
            &[
                1,
                INT,
                4,
                32, // int
                0,
                ARRAY,
                0,
                1,
                1,
                10, // int[10]
                5,
                TYPEDEF,
                2, // typedef arr
                0,
                PTR,
                1, // int *
                9,
                STRUCT | 1,
                40,
                11,
                3,
                0, // struct s { arr a; }
            ],
            strings,
        );
        let btf = Btf::parse(&btf).unwrap();
        assert_eq!(btf.size_of(2).unwrap(), 40);
        assert_eq!(btf.size_of(3).unwrap(), 40);
        assert_eq!(btf.size_of(4).unwrap(), 8);
        assert_eq!(btf.types()[5].name, "s");
        let TypeKind::Struct { members, .. } = &btf.types()[5].kind else {
            panic!("struct expected");
        };
        assert_eq!(members[0].name, "a");
    }

    #[test]
    fn typedef_cycles_and_dangling_ids_are_errors() {
        let cycle = build(&[0, TYPEDEF, 2, 0, TYPEDEF, 1], b"\0");
        let btf = Btf::parse(&cycle).unwrap();
        assert!(btf.size_of(1).is_err());
        let dangling = build(&[0, PTR, 7], b"\0");
        assert!(matches!(
            Btf::parse(&dangling),
            Err(ObjectError::BadBtfType { id: 1, .. })
        ));
    }

    #[test]
    fn truncated_records_and_bad_names_are_errors() {
        let mut short = build(&[1, INT, 4, 32], b"\0int\0");
        short.truncate(short.len() - 3);
        assert!(Btf::parse(&short).is_err());
        let bad_name = build(&[99, INT, 4, 32], b"\0int\0");
        assert!(matches!(
            Btf::parse(&bad_name),
            Err(ObjectError::BadString { .. })
        ));
    }
}
