//! Truncated and corrupted objects: parsing returns `Ok` or `Err`, never
//! panics or hangs, and whatever parses is self-consistent.
//!
//! Inputs are the fixtures under `tests/data` and, when the shared corpus is
//! present, its objects. Bit flips are aimed at the parts the parser reads
//! (headers, symbol and relocation tables, code, maps, BTF) as often as at
//! random bytes, since most of an object built with `-g` is DWARF that the
//! parser skips.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use object::read::{Object as _, ObjectSection as _};
use proptest::prelude::*;
use proptest::sample::Index;
use visor_object::Object;

/// An input and the byte ranges worth corrupting.
struct Sample {
    bytes: Vec<u8>,
    hot: Vec<(usize, usize)>,
}

static SAMPLES: LazyLock<Vec<Sample>> = LazyLock::new(|| {
    let mut paths = vec![
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/programs.o"
        )),
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/maps.o")),
    ];
    let shared = std::env::var_os("VISOR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    collect(&shared.join("objects"), &mut paths);
    paths.iter().map(|p| sample(fs::read(p).unwrap())).collect()
});

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "o")
            || path.starts_with(dir.join("invalid"))
        {
            out.push(path);
        }
    }
}

fn sample(bytes: Vec<u8>) -> Sample {
    let mut hot = vec![(0, 64.min(bytes.len()))];
    if let Ok(file) = object::File::parse(&*bytes) {
        for section in file.sections() {
            let name = section.name().unwrap_or("");
            let interesting = !name.starts_with(".debug")
                && !name.starts_with(".rel.debug")
                && name != ".eh_frame";
            if let Some((start, len)) = section.file_range().filter(|_| interesting) {
                hot.push((start as usize, len as usize));
            }
        }
    }
    hot.retain(|&(start, len)| len > 0 && start.saturating_add(len) <= bytes.len());
    Sample { bytes, hot }
}

/// Parses and, on success, checks the result's indices hang together.
fn check(bytes: &[u8]) {
    let Ok(object) = Object::parse(bytes) else {
        return;
    };
    for program in object.programs() {
        let len = program.insns().slot_len();
        assert!(len > 0);
        for r in program.map_refs() {
            assert!(r.map < object.maps().len() && r.insn < len);
        }
        for line in program.line_info() {
            assert!(line.insn < len);
        }
        for function in program.functions() {
            assert!(function.start + function.len <= len);
        }
    }
}

/// 512 cases per property, or `PROPTEST_CASES` for a longer run.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok());
    ProptestConfig {
        cases: cases.unwrap_or(512),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn truncated_objects_are_errors_not_panics(which: Index, cut: Index) {
        let sample = which.get(&SAMPLES);
        check(&sample.bytes[..cut.index(sample.bytes.len() + 1)]);
    }

    #[test]
    fn bit_flips_anywhere_are_survived(which: Index, flips in prop::collection::vec((any::<Index>(), 0u8..8), 1..8)) {
        let sample = which.get(&SAMPLES);
        let mut bytes = sample.bytes.clone();
        for (at, bit) in flips {
            let at = at.index(bytes.len());
            bytes[at] ^= 1 << bit;
        }
        check(&bytes);
    }

    #[test]
    fn bit_flips_in_parsed_sections_are_survived(
        which: Index,
        flips in prop::collection::vec((any::<Index>(), any::<Index>(), 0u8..8), 1..6),
    ) {
        let sample = which.get(&SAMPLES);
        let mut bytes = sample.bytes.clone();
        for (range, at, bit) in flips {
            let (start, len) = *range.get(&sample.hot);
            bytes[start + at.index(len)] ^= 1 << bit;
        }
        check(&bytes);
    }

    #[test]
    fn overwritten_words_are_survived(
        which: Index,
        writes in prop::collection::vec((any::<Index>(), any::<Index>(), any::<u32>()), 1..4),
    ) {
        // Whole words reach the values single bit flips rarely make: huge
        // counts, offsets near the end of the address space, -1.
        let sample = which.get(&SAMPLES);
        let mut bytes = sample.bytes.clone();
        for (range, at, word) in writes {
            let (start, len) = *range.get(&sample.hot);
            let at = start + at.index(len);
            let end = (at + 4).min(bytes.len());
            bytes[at..end].copy_from_slice(&word.to_le_bytes()[..end - at]);
        }
        check(&bytes);
    }
}

#[test]
fn every_prefix_of_a_fixture_is_handled() {
    let bytes = &SAMPLES[0].bytes;
    for len in 0..bytes.len() {
        check(&bytes[..len]);
    }
    assert!(Object::parse(bytes).is_ok());
}
