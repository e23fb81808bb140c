//! `visor run OBJECT --repeat N`: N runs on one context, as
//! BPF_PROG_TEST_RUN's repeat, with the mean time on stderr.

use std::path::PathBuf;
use std::process::{Command, Output};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn visor_run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_visor"))
        .arg("run")
        .args(args)
        .output()
        .expect("visor runs")
}

/// An IPv4 TCP frame: the dispatcher tail-calls its TCP handler.
const TCP_FRAME: &str = "0000000000000000000000000800\
                         4500003c0000400040060000\
                         0a0000010a000002\
                         0000000000000000000000000000000000000000";

#[test]
fn repeat_counts_every_run_and_prints_the_mean() {
    let object = examples().join("tailcall.bpf.o");
    let object = object.to_str().unwrap();
    let out = visor_run(&[
        object,
        "--program",
        "dispatch",
        "--packet",
        TCP_FRAME,
        "--repeat",
        "40",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("input 0: 40 runs, mean "), "{stderr}");
    // 40 TCP packets counted, one tail call each (past the 33 of one run).
    assert!(
        stdout.contains("key: 01 00 00 00  value: 28 00 00 00 00 00 00 00"),
        "{stdout}"
    );
}

#[test]
fn repeat_says_how_much_trace_it_does_not_print() {
    let object = examples().join("hello.bpf.o");
    let object = object.to_str().unwrap();
    let out = visor_run(&[object, "--ctx", "/dev/null", "--repeat", "3"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains("Hello, World!"), "{stdout}");
    assert!(
        stderr.contains("input 0: 3 trace lines from the 3 runs, not shown"),
        "{stderr}"
    );
    let once = visor_run(&[object, "--ctx", "/dev/null"]);
    assert!(String::from_utf8_lossy(&once.stdout).contains("Hello, World!"));
}
