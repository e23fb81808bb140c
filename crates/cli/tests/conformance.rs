//! The whole bpf_conformance suite through `visor exec`, the way the suite's
//! own runner drives a plugin: program hex on stdin, memory as the first
//! argument, the plugin options (empty) as the second, r0 in hex back.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use visor_isa::asm::{Syntax, assemble};
use visor_isa::testdata::TestCase;

fn shared_dir() -> PathBuf {
    std::env::var_os("VISOR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// Bytes as the runner writes them: two hex digits and two spaces each.
fn runner_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}  ")).collect()
}

/// Runs one test file with `engine` (`--interp` or `--jit`); `Err` says
/// why it failed.
fn run_case(path: &Path, engine: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case = TestCase::parse(&text);
    // crates/isa/tests/conformance_asm.rs checks the assembly against `-- raw`.
    let program = assemble(&case.asm, Syntax::Ubpf).map_err(|e| format!("assembly: {e}"))?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_visor"))
        .args(["exec", engine, &runner_hex(&case.mem), ""])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    writeln!(stdin, "{}", runner_hex(&program.to_bytes())).map_err(|e| e.to_string())?;
    drop(stdin);
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    match (output.status.success(), &case.error, case.result) {
        (false, Some(error), _) if stdout == *error => Ok(()),
        (false, _, _) => Err(format!(
            "visor exec failed: {stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        )),
        (true, _, Some(expected)) => {
            // The runner compares the low 32 bits, and so do we.
            let r0 = u64::from_str_radix(&stdout, 16)
                .map_err(|_| format!("r0 `{stdout}` is not hex"))?;
            match r0 as u32 == expected as u32 {
                true => Ok(()),
                false => Err(format!("r0 = {r0:#x}, expected {expected:#x}")),
            }
        }
        (true, _, None) => Err(format!(
            "succeeded with {stdout}, but the test expects an error"
        )),
    }
}

#[test]
fn every_conformance_test_passes_through_visor_exec() {
    let dir = shared_dir().join("conformance");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("skipped: no conformance data at {}", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    // The JIT exists on x86-64 only; elsewhere `--jit` must refuse.
    let engines: &[&str] = if visor_vm::jit::AVAILABLE {
        &["--interp", "--jit"]
    } else {
        &["--interp"]
    };
    for engine in engines {
        let failed: Vec<String> = files
            .iter()
            .filter_map(|path| {
                run_case(path, engine)
                    .err()
                    .map(|why| format!("{engine} {}: {why}", path.display()))
            })
            .collect();
        println!(
            "conformance (visor exec {engine}): {} passed, {} failed",
            files.len() - failed.len(),
            failed.len()
        );
        failures.extend(failed);
    }
    assert_eq!(files.len(), 313, "the suite has 313 tests");
    if !visor_vm::jit::AVAILABLE {
        let refused = run_case(&files[0], "--jit").expect_err("--jit refuses without a JIT");
        assert!(refused.contains("has no JIT"), "{refused}");
    }
    assert!(
        failures.is_empty(),
        "failing tests:\n{}",
        failures.join("\n")
    );
}
