//! Every program of the bpf_conformance suite assembles in the uBPF syntax,
//! and where a test lists its `-- raw` words, the slots match them.
//!
//! The suite lives in `../shared/conformance` beside the repository, or
//! under `$VISOR_SHARED`; without it the test says so and is skipped.

use std::path::{Path, PathBuf};

use visor_isa::asm::{Syntax, assemble};
use visor_isa::testdata::TestCase;

/// Number of `.data` files in the suite: fewer means a truncated copy.
const SUITE_SIZE: usize = 313;

fn shared_dir() -> PathBuf {
    match std::env::var_os("VISOR_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")),
    }
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "data"))
        .collect();
    files.sort();
    files
}

/// Assembles one test; `Ok(true)` when it also had `-- raw` words that matched.
fn check(file: &Path) -> Result<bool, String> {
    let case = TestCase::parse(&std::fs::read_to_string(file).unwrap());
    let program = assemble(&case.asm, Syntax::Ubpf).map_err(|e| e.to_string())?;
    let Some(expected) = case.raw else {
        return Ok(false);
    };
    let words: Vec<u64> = program.slots().iter().map(|s| s.to_word()).collect();
    match words == expected {
        true => Ok(true),
        false => Err(format!(
            "slots {words:#018x?}, raw section {expected:#018x?}"
        )),
    }
}

#[test]
fn every_conformance_program_assembles() {
    let dir = shared_dir().join("conformance");
    if !dir.is_dir() {
        println!("skipped: no conformance data at {}", dir.display());
        return;
    }
    let files = data_files(&dir);
    let mut failures = Vec::new();
    let (mut assembled, mut raw_matched) = (0, 0);
    for file in &files {
        match check(file) {
            Ok(raw) => {
                assembled += 1;
                raw_matched += usize::from(raw);
            }
            Err(why) => failures.push(format!("{}: {why}", file.display())),
        }
    }
    println!("conformance asm: {assembled} assembled, {raw_matched} raw matched");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        files.len(),
        SUITE_SIZE,
        "conformance tests found in {}",
        dir.display()
    );
}
