//! The legacy `maps` section: an array of fixed-size records, one per map
//! symbol. The record layout grew over the years and differs between
//! loaders, so — like libbpf — the record size is the section size divided
//! by the number of map symbols, and the first five words are the standard
//! ones. Sections named `maps/NAME` (gobpf's convention) are read the same.

use super::{LegacyExtra, Map, MapDef, MapOrigin, MapType};
use crate::cursor::Cursor;
use crate::elf::{Elf, Section, SymbolKind};
use crate::error::{ObjectError, Result};

/// The five `u32` fields of `struct bpf_map_def`.
const STANDARD_LEN: usize = 20;

/// Whether `name` is a legacy map section.
pub(crate) fn is_legacy_section(name: &str) -> bool {
    name == "maps" || name.starts_with("maps/")
}

/// Maps of every legacy map section, by section then offset.
pub(crate) fn legacy_maps<'data>(elf: &Elf<'data>) -> Result<Vec<Map<'data>>> {
    let mut maps = Vec::new();
    for section in elf.sections.iter().filter(|s| is_legacy_section(s.name)) {
        maps.extend(section_maps(elf, section)?);
    }
    // A map-in-map names its template by index among all legacy records:
    // the samples' loader had one `maps` section, gobpf one per map.
    let templates: Vec<MapDef> = maps.iter().map(|m| m.def.clone()).collect();
    for map in &mut maps {
        let inner_index = match &map.origin {
            MapOrigin::Legacy {
                extra: LegacyExtra::Samples { inner_map_idx, .. },
                ..
            } => *inner_map_idx,
            MapOrigin::Legacy {
                extra: LegacyExtra::ElfMap { inner_idx, .. },
                ..
            } => *inner_idx,
            _ => continue,
        };
        if !map.def.map_type.is_map_in_map() {
            continue;
        }
        let template = usize::try_from(inner_index)
            .ok()
            .and_then(|i| templates.get(i))
            .ok_or_else(|| {
                ObjectError::map(
                    map.name,
                    format!(
                        "inner map index {inner_index} is not a legacy map ({} defined)",
                        templates.len()
                    ),
                )
            })?;
        map.def.inner = Some(Box::new(template.clone()));
    }
    Ok(maps)
}

fn section_maps<'data>(elf: &Elf<'data>, section: &Section<'data>) -> Result<Vec<Map<'data>>> {
    let mut symbols: Vec<_> = elf
        .symbols_in(section.index)
        .filter(|s| s.kind != SymbolKind::Section)
        .collect();
    if symbols.is_empty() {
        return Ok(Vec::new());
    }
    symbols.sort_by_key(|s| s.value);
    let data = section.data;
    if data.is_empty() {
        return Err(ObjectError::map(
            symbols[0].name,
            format!(
                "section {} has {} map symbols but no data",
                section.name,
                symbols.len()
            ),
        ));
    }
    if !data.len().is_multiple_of(symbols.len()) {
        return Err(ObjectError::map(
            symbols[0].name,
            format!(
                "section {} is {} bytes, not a multiple of its {} map symbols: record size unknown",
                section.name,
                data.len(),
                symbols.len()
            ),
        ));
    }
    let record_size = data.len() / symbols.len();
    let records = Cursor::new(data, section.name);
    let mut maps = Vec::with_capacity(symbols.len());
    for symbol in symbols {
        let offset = usize::try_from(symbol.value).unwrap_or(usize::MAX);
        if !offset.is_multiple_of(record_size) {
            return Err(ObjectError::map(
                symbol.name,
                format!(
                    "offset {offset:#x} in {} is not a multiple of the record size {record_size}",
                    section.name
                ),
            ));
        }
        let record = records.sub(offset, record_size, "map definition")?;
        let (def, extra) = read_record(record)?;
        maps.push(Map {
            name: symbol.name,
            section: section.name,
            section_index: section.index,
            offset: symbol.value,
            extent: record_size as u64,
            def,
            origin: MapOrigin::Legacy { record_size, extra },
            initial_data: None,
            slots: Vec::new(),
            values_offset: None,
        });
    }
    Ok(maps)
}

/// Reads one record; fields past a short record's end are zero, as libbpf
/// reads them.
fn read_record(record: Cursor<'_, '_>) -> Result<(MapDef, LegacyExtra)> {
    let mut standard = [0u8; STANDARD_LEN];
    let mut c = record.clone();
    let head = c.bytes(record.remaining().min(STANDARD_LEN), "map definition")?;
    standard[..head.len()].copy_from_slice(head);
    let mut fields = Cursor::new(&standard, record.section());
    let def = MapDef {
        map_type: MapType::from_id(fields.u32("type")?),
        key_size: fields.u32("key_size")?,
        value_size: fields.u32("value_size")?,
        max_entries: fields.u32("max_entries")?,
        flags: fields.u32("map_flags")?,
        ..MapDef::default()
    };
    let mut words = Vec::new();
    while c.remaining() >= 4 {
        words.push(c.u32("extra map field")?);
    }
    let extra = match (record.remaining(), words.as_slice()) {
        (len, _) if len <= STANDARD_LEN => LegacyExtra::None,
        (28, &[inner_map_idx, numa_node]) => LegacyExtra::Samples {
            inner_map_idx,
            numa_node,
        },
        (36, &[id, pinning, inner_id, inner_idx]) => LegacyExtra::ElfMap {
            id,
            pinning,
            inner_id,
            inner_idx,
        },
        _ => LegacyExtra::Words(words),
    };
    let def = match extra {
        LegacyExtra::Samples { numa_node, .. } => MapDef { numa_node, ..def },
        LegacyExtra::ElfMap { pinning, .. } => MapDef { pinning, ..def },
        _ => def,
    };
    Ok((def, extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn record_sizes_select_the_layout() {
        let bytes = record(&[1, 4, 8, 256, 0, 3, 0]);
        let (def, extra) = read_record(Cursor::new(&bytes, "maps")).unwrap();
        assert_eq!(def.map_type, MapType::Hash);
        assert_eq!((def.key_size, def.value_size, def.max_entries), (4, 8, 256));
        assert_eq!(
            extra,
            LegacyExtra::Samples {
                inner_map_idx: 3,
                numa_node: 0
            }
        );
        let elf_map = record(&[2, 4, 4, 1, 0, 7, 2, 0, 0]);
        let (def, extra) = read_record(Cursor::new(&elf_map, "maps")).unwrap();
        assert_eq!(def.pinning, 2);
        assert!(matches!(extra, LegacyExtra::ElfMap { id: 7, .. }));
        let short = record(&[6, 4]);
        let (def, extra) = read_record(Cursor::new(&short, "maps")).unwrap();
        assert_eq!(
            (def.map_type, def.key_size, def.value_size),
            (MapType::PercpuArray, 4, 0)
        );
        assert_eq!(extra, LegacyExtra::None);
    }
}
