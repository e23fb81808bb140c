//! `visor build` on every C example, compared with the committed objects;
//! and the failures a user meets: a syntax error, no clang.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EM_BPF: u16 = 247;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// A fresh directory for one test's outputs.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("visor-cli-build-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn visor_build(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_visor"))
        .arg("build")
        .args(args)
        .output()
        .expect("visor runs")
}

/// Whether clang is there; if not, says the test is skipped.
fn have_clang() -> bool {
    let found = visor_build::Clang::find(None).is_ok();
    if !found {
        eprintln!("skipped: no clang (set $CLANG or install clang-19)");
    }
    found
}

/// The section names of a little-endian ELF64 object, after checking it is
/// one for BPF. `Err` says what is wrong.
fn bpf_sections(bytes: &[u8]) -> Result<BTreeSet<String>, String> {
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    if bytes.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        return Err("not a little-endian ELF64 file".into());
    }
    let machine = u16_at(0x12).ok_or("truncated header")?;
    if machine != EM_BPF {
        return Err(format!("e_machine {machine}, expected {EM_BPF} (BPF)"));
    }
    let shoff = u64_at(0x28).ok_or("truncated header")? as usize;
    let shentsize = usize::from(u16_at(0x3a).ok_or("truncated header")?);
    let shnum = usize::from(u16_at(0x3c).ok_or("truncated header")?);
    let shstrndx = usize::from(u16_at(0x3e).ok_or("truncated header")?);
    let header = |index: usize| shoff + index * shentsize;
    let strtab = u64_at(header(shstrndx) + 0x18).ok_or("bad shstrndx")? as usize;
    let mut names = BTreeSet::new();
    for index in 1..shnum {
        let name = strtab + u32_at(header(index)).ok_or("truncated section table")? as usize;
        let rest = bytes.get(name..).ok_or("name out of bounds")?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or("unterminated name")?;
        names.insert(String::from_utf8_lossy(&rest[..end]).into_owned());
    }
    Ok(names)
}

/// DWARF sections vary with the clang version; the rest (programs, maps,
/// license, BTF, relocations) must not.
fn without_dwarf(names: &BTreeSet<String>) -> BTreeSet<String> {
    names
        .iter()
        .filter(|name| !name.starts_with(".debug") && !name.starts_with(".rel.debug"))
        .cloned()
        .collect()
}

#[test]
fn every_example_builds_to_the_sections_of_its_committed_object() {
    if !have_clang() {
        return;
    }
    let out_dir = scratch("examples");
    let mut sources: Vec<PathBuf> = fs::read_dir(examples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    sources.sort();
    assert!(sources.len() >= 5, "examples missing: {sources:?}");
    for source in &sources {
        let name = source
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".bpf.c", ".bpf.o");
        let built = out_dir.join(&name);
        let output = visor_build(&[source.as_os_str(), "-o".as_ref(), built.as_os_str()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {stderr}", source.display());
        assert!(
            stderr.is_empty(),
            "{}: warnings: {stderr}",
            source.display()
        );

        let ours = bpf_sections(&fs::read(&built).unwrap()).unwrap();
        let committed = bpf_sections(&fs::read(source.with_extension("o")).unwrap()).unwrap();
        assert!(
            ours.contains(".BTF"),
            "{name}: no BTF, though -g is the default"
        );
        assert_eq!(
            without_dwarf(&ours),
            without_dwarf(&committed),
            "{name}: sections differ"
        );
    }
    fs::remove_dir_all(out_dir).unwrap();
}

#[test]
fn the_default_output_sits_beside_the_source() {
    if !have_clang() {
        return;
    }
    let dir = scratch("default-output");
    let source = dir.join("hello.bpf.c");
    fs::copy(examples_dir().join("hello.bpf.c"), &source).unwrap();
    let output = visor_build(&[source.as_os_str()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let object = dir.join("hello.bpf.o");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("wrote {}\n", object.display())
    );
    assert!(bpf_sections(&fs::read(&object).unwrap()).is_ok());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_syntax_error_fails_with_clangs_message() {
    if !have_clang() {
        return;
    }
    let dir = scratch("syntax");
    let source = dir.join("broken.bpf.c");
    fs::write(
        &source,
        "#include <visor/bpf_helpers.h>\nint f(void) { return 0 }\n",
    )
    .unwrap();
    let output = visor_build(&[source.as_os_str()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("broken.bpf.c:2:"),
        "clang's location: {stderr}"
    );
    assert!(stderr.contains("expected ';'"), "clang's message: {stderr}");
    assert!(
        stderr.contains("visor: clang failed"),
        "visor's context: {stderr}"
    );
    assert!(!dir.join("broken.bpf.o").exists());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn no_clang_says_how_to_get_one() {
    let output = Command::new(env!("CARGO_BIN_EXE_visor"))
        .args(["build", "whatever.bpf.c"])
        .env("PATH", "")
        .env_remove("CLANG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("no clang found"), "{stderr}");
    assert!(stderr.contains("install clang 19"), "{stderr}");
    assert!(stderr.contains("set $CLANG"), "{stderr}");
}

#[test]
fn a_missing_clang_flag_is_reported_not_replaced() {
    let output = visor_build(&[
        "x.bpf.c".as_ref(),
        "--clang".as_ref(),
        "/nonexistent/clang".as_ref(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--clang names `/nonexistent/clang`"),
        "{stderr}"
    );
}

/// `visor run` on C verifies first: an unchecked lookup is refused with
/// the verifier's diagnostic, and `--no-verify` runs it into the engine's
/// own memory check.
#[test]
fn run_verifies_before_running() {
    if !have_clang() {
        return;
    }
    let dir = scratch("verify");
    let source = dir.join("unchecked.bpf.c");
    fs::write(
        &source,
        "#include <visor/bpf_helpers.h>\n\
         struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1);\n\
         __type(key, __u32); __type(value, __u64); } m SEC(\".maps\");\n\
         SEC(\"socket\") int unchecked(void *ctx) {\n\
         __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&m, &k); return *v; }\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_visor"))
            .arg("run")
            .arg(&source)
            .args(["--packet", "00112233445566778899aabb0800"])
            .args(extra)
            .output()
            .expect("visor runs")
    };
    let verified = run(&[]);
    let stderr = String::from_utf8_lossy(&verified.stderr);
    assert!(!verified.status.success());
    assert!(
        stderr.contains("visor's verifier rejects unchecked (socket)"),
        "{stderr}"
    );
    assert!(stderr.contains("error[null-pointer] at 7"), "{stderr}");
    let trusted = run(&["--no-verify"]);
    let stderr = String::from_utf8_lossy(&trusted.stderr);
    assert!(!trusted.status.success());
    assert!(
        stderr.contains("null-pointer read of 8 bytes at 0x0"),
        "{stderr}"
    );
    fs::remove_dir_all(dir).unwrap();
}
