//! BTF-defined maps (`.maps`). The definition is the *type* of the map
//! variable, an anonymous struct whose members encode the attributes:
//!
//! - `__uint(name, N)` is `int (*name)[N]`: a pointer to an array whose
//!   length is the value;
//! - `__type(name, T)` is `T *name`: the size of `T` is the key or value size;
//! - `__ulong(name, N)` (for `map_extra`) is an enum whose one enumerator is N;
//! - `__array(values, T)` is `T *values[]`: for map-in-map, `T` is the inner
//!   map's definition; initial entries come from relocations in `.rel.maps`.
//!
//! Members this crate does not know are skipped.

use std::collections::HashMap;

use super::{Map, MapDef, MapLookup, MapOrigin, MapType, SlotTarget};
use crate::btf::{Btf, Member, TypeId, TypeKind};
use crate::elf::{Elf, RawReloc, Section, SymbolKind};
use crate::error::{ObjectError, Result};
use crate::reloc::{RelocTarget, Relocation, symbol_label};

/// The BTF map section.
pub(crate) const SECTION: &str = ".maps";

/// `R_BPF_64_64` and `R_BPF_64_ABS64`, the relocations `.rel.maps` may hold.
const SLOT_RELOCATIONS: [u32; 2] = [1, 2];

/// Maps defined in `.maps`, by offset. `Ok(empty)` when there is no `.maps`.
pub(crate) fn btf_maps<'data>(
    elf: &Elf<'data>,
    btf: Option<&Btf<'data>>,
) -> Result<Vec<Map<'data>>> {
    let Some(section) = elf.section_by_name(SECTION) else {
        return Ok(Vec::new());
    };
    let mut symbols: Vec<_> = elf
        .symbols_in(section.index)
        .filter(|s| s.kind != SymbolKind::Section)
        .collect();
    symbols.sort_by_key(|s| s.value);
    let Some(first) = symbols.first() else {
        return Ok(Vec::new());
    };
    let btf = btf.ok_or_else(|| {
        ObjectError::map(first.name, "defined in .maps, but the object has no .BTF")
    })?;
    let vars = map_vars(btf);
    let mut maps = Vec::with_capacity(symbols.len());
    for symbol in symbols {
        let var = *vars
            .get(symbol.name)
            .ok_or_else(|| ObjectError::map(symbol.name, "no BTF variable describes it"))?;
        let parsed = parse_def(btf, var, symbol.name, true)?;
        let extent = match symbol.size {
            0 => btf.size_of(var)?,
            size => size,
        };
        if symbol
            .value
            .checked_add(extent)
            .is_none_or(|end| end > section.size)
        {
            return Err(ObjectError::map(
                symbol.name,
                format!(
                    "definition at {:#x} ({extent} bytes) runs past the end of .maps ({} bytes)",
                    symbol.value, section.size
                ),
            ));
        }
        maps.push(Map {
            name: symbol.name,
            section: section.name,
            section_index: section.index,
            offset: symbol.value,
            extent,
            def: parsed.def,
            origin: MapOrigin::Btf {
                key_type: parsed.key_type,
                value_type: parsed.value_type,
            },
            initial_data: None,
            slots: Vec::new(),
            values_offset: parsed.values_offset,
        });
    }
    Ok(maps)
}

/// Map variables by name: those the `.maps` data section lists first, then
/// any other `VAR` (built once: objects may have thousands of maps).
fn map_vars<'data>(btf: &Btf<'data>) -> HashMap<&'data str, TypeId> {
    let mut vars = HashMap::new();
    let var_name = |id: TypeId| match btf.get(id) {
        Some(t) if matches!(t.kind, TypeKind::Var { .. }) => Some(t.name),
        _ => None,
    };
    let listed = btf.datasec(SECTION).map_or(&[][..], |(_, vars)| vars);
    for var in listed {
        if let Some(name) = var_name(var.ty) {
            vars.entry(name).or_insert(var.ty);
        }
    }
    for id in 1..btf.types().len() as TypeId {
        if let Some(name) = var_name(id) {
            vars.entry(name).or_insert(id);
        }
    }
    vars
}

struct ParsedDef {
    def: MapDef,
    key_type: Option<TypeId>,
    value_type: Option<TypeId>,
    values_offset: Option<u64>,
}

/// Reads the definition struct of type `id` (a `VAR` or the struct itself).
/// `outer` allows a `values` member describing an inner map.
fn parse_def(btf: &Btf<'_>, id: TypeId, name: &str, outer: bool) -> Result<ParsedDef> {
    let ty_id = match btf.type_by_id(id)?.kind {
        TypeKind::Var { ty, .. } => ty,
        _ => id,
    };
    let ty_id = btf.skip_modifiers(ty_id)?;
    let members = match &btf.type_by_id(ty_id)?.kind {
        TypeKind::Struct { members, .. } => members,
        other => {
            return Err(ObjectError::map(
                name,
                format!("definition must be a struct, is {}", other.name()),
            ));
        }
    };
    let mut def = MapDef::default();
    let mut key_type = None;
    let mut value_type = None;
    let mut values_offset = None;
    for (n, member) in members.iter().enumerate() {
        let field = |what| field_error(name, member, what);
        match member.name {
            "type" => def.map_type = MapType::from_id(uint(btf, member).map_err(field)?),
            "key_size" => set_size(
                &mut def.key_size,
                uint(btf, member).map_err(field)?,
                name,
                "key",
            )?,
            "value_size" => set_size(
                &mut def.value_size,
                uint(btf, member).map_err(field)?,
                name,
                "value",
            )?,
            "max_entries" => def.max_entries = uint(btf, member).map_err(field)?,
            "map_flags" => def.flags = uint(btf, member).map_err(field)?,
            "numa_node" => def.numa_node = uint(btf, member).map_err(field)?,
            "pinning" => def.pinning = uint(btf, member).map_err(field)?,
            "map_extra" => def.map_extra = ulong(btf, member).map_err(field)?,
            "key" | "value" => {
                let pointee = pointee(btf, member.ty).map_err(field)?;
                let size = btf.size_of(pointee)?;
                let size = u32::try_from(size).map_err(|_| {
                    ObjectError::map(name, format!("{} of {size} bytes", member.name))
                })?;
                if member.name == "key" {
                    set_size(&mut def.key_size, size, name, "key")?;
                    key_type = Some(pointee);
                } else {
                    set_size(&mut def.value_size, size, name, "value")?;
                    value_type = Some(pointee);
                }
            }
            "values" => {
                // libbpf's rules: one level, last member, prog arrays and
                // map-in-maps only; the values are 4-byte ids or fds.
                if !outer {
                    return Err(ObjectError::map(name, "an inner map cannot have `values`"));
                }
                if n + 1 != members.len() {
                    return Err(ObjectError::map(name, "`values` must be the last member"));
                }
                let prog_array = def.map_type == MapType::ProgArray;
                if !prog_array && !def.map_type.is_map_in_map() {
                    return Err(ObjectError::map(
                        name,
                        format!(
                            "`values` needs a prog_array or map-in-map type, not {}",
                            def.map_type
                        ),
                    ));
                }
                set_size(&mut def.value_size, 4, name, "value")?;
                values_offset = Some(u64::from(member.bit_offset / 8));
                match values_inner(btf, member).map_err(field)? {
                    Some(inner) if !prog_array => {
                        let inner = parse_def(btf, inner, name, false)?;
                        def.inner = Some(Box::new(inner.def));
                    }
                    None if prog_array => {}
                    _ => {
                        return Err(ObjectError::map(
                            name,
                            "`values` of a prog_array point to functions, of a map-in-map to a map definition",
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(ParsedDef {
        def,
        key_type,
        value_type,
        values_offset,
    })
}

/// libbpf's rule: a size given twice (`key_size` and `key`) must agree.
fn set_size(slot: &mut u32, size: u32, map: &str, what: &str) -> Result<()> {
    if *slot != 0 && *slot != size {
        return Err(ObjectError::map(
            map,
            format!("{what} size is given as both {} and {size}", *slot),
        ));
    }
    *slot = size;
    Ok(())
}

fn field_error(map: &str, member: &Member<'_>, what: String) -> ObjectError {
    ObjectError::map(map, format!("member {}: {what}", member.name))
}

/// The value of `__uint(name, N)`: the length of the pointed-to array.
fn uint(btf: &Btf<'_>, member: &Member<'_>) -> Result<u32, String> {
    let target = pointee(btf, member.ty)?;
    match resolved(btf, target)? {
        TypeKind::Array { len, .. } => Ok(*len),
        other => Err(format!(
            "expected pointer to array (__uint), found pointer to {}",
            other.name()
        )),
    }
}

/// `__ulong(name, N)` (an enum holding N) or `__uint`.
fn ulong(btf: &Btf<'_>, member: &Member<'_>) -> Result<u64, String> {
    match resolved(btf, member.ty)? {
        TypeKind::Enum { values, .. } => values
            .first()
            .map(|v| v.value as u64)
            .ok_or_else(|| "enum without a value".to_owned()),
        _ => uint(btf, member).map(u64::from),
    }
}

/// The type a pointer member points to.
fn pointee(btf: &Btf<'_>, id: TypeId) -> Result<TypeId, String> {
    match resolved(btf, id)? {
        TypeKind::Ptr(target) => Ok(*target),
        other => Err(format!("expected a pointer, found {}", other.name())),
    }
}

/// For `values`: the inner map definition's struct, `None` for prog arrays
/// (pointers to functions).
fn values_inner(btf: &Btf<'_>, member: &Member<'_>) -> Result<Option<TypeId>, String> {
    let elem = match resolved(btf, member.ty)? {
        TypeKind::Array { elem, .. } => *elem,
        other => {
            return Err(format!(
                "expected an array (__array), found {}",
                other.name()
            ));
        }
    };
    let target = pointee(btf, elem)?;
    let id = btf.skip_modifiers(target).map_err(|e| e.to_string())?;
    match resolved(btf, id)? {
        TypeKind::Struct { .. } => Ok(Some(id)),
        TypeKind::FuncProto { .. } => Ok(None),
        other => Err(format!(
            "values must point to a struct or function, not {}",
            other.name()
        )),
    }
}

fn resolved<'b, 'data>(btf: &'b Btf<'data>, id: TypeId) -> Result<&'b TypeKind<'data>, String> {
    let id = btf.skip_modifiers(id).map_err(|e| e.to_string())?;
    btf.type_by_id(id)
        .map(|t| &t.kind)
        .map_err(|e| e.to_string())
}

/// Fills the initial slots of prog arrays and map-in-maps from the
/// relocations against `.maps`: each one points a `values[i]` entry at a
/// program (function symbol) or another map.
/// Appends the relocations, resolved, to `listing`.
pub(crate) fn initial_slots<'data>(
    elf: &Elf<'data>,
    maps: &mut [Map<'data>],
    listing: &mut Vec<Relocation<'data>>,
) -> Result<()> {
    let Some(section) = elf.section_by_name(SECTION) else {
        return Ok(());
    };
    let lookup = MapLookup::new(maps);
    for reloc in elf.relocations_for(section.index) {
        let (map, index, target) = slot_target(elf, section, maps, &lookup, reloc)?;
        maps[map].slots.push((index, target));
        listing.push(Relocation {
            section: section.name,
            offset: reloc.offset,
            r_type: reloc.r_type,
            symbol: symbol_label(elf, &elf.symbols[reloc.symbol]),
            target: RelocTarget::MapSlot { map, index },
        });
    }
    Ok(())
}

fn slot_target<'data>(
    elf: &Elf<'data>,
    section: &Section<'data>,
    maps: &[Map<'data>],
    lookup: &MapLookup,
    reloc: &RawReloc,
) -> Result<(usize, u32, SlotTarget<'data>)> {
    let symbol = elf.symbols[reloc.symbol];
    let error = |reason: String| ObjectError::BadRelocation {
        section: section.name.to_owned(),
        offset: reloc.offset,
        symbol: symbol.name.to_owned(),
        reason,
    };
    if !SLOT_RELOCATIONS.contains(&reloc.r_type) {
        return Err(ObjectError::UnsupportedRelocation {
            section: section.name.to_owned(),
            offset: reloc.offset,
            r_type: reloc.r_type,
        });
    }
    let map_index = lookup
        .covering(section.index, reloc.offset)
        .ok_or_else(|| error("no map definition covers this offset".into()))?;
    let map = &maps[map_index];
    let values = map
        .values_offset
        .ok_or_else(|| error(format!("map {} has no `values` member", map.name)))?;
    let within = reloc.offset - map.offset;
    let index = within
        .checked_sub(values)
        .filter(|at| at.is_multiple_of(8))
        .map(|at| at / 8)
        .and_then(|i| u32::try_from(i).ok())
        .ok_or_else(|| {
            error(format!(
                "offset is not a `values` entry of map {}",
                map.name
            ))
        })?;
    let target = match symbol.section.and_then(|s| elf.sections.get(s)) {
        Some(s) if s.is_code() => SlotTarget::Program(symbol.name),
        Some(s) if s.index == section.index => {
            let inner = lookup
                .at(section.index, symbol.value)
                .ok_or_else(|| error("no map is defined at the symbol".into()))?;
            SlotTarget::Map(inner)
        }
        _ => {
            return Err(error(
                "entries must name a program or a map in .maps".into(),
            ));
        }
    };
    Ok((map_index, index, target))
}
