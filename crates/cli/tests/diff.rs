//! `visor diff`: the examples over the bundled capture agree in the
//! userspace engine and the kernel, frame by frame. Needs root for
//! BPF_PROG_TEST_RUN; prints why and skips without it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root(test: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid_is_0 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0");
    if !uid_is_0 {
        println!("skipped: {test}: needs root (BPF_PROG_TEST_RUN)");
    }
    uid_is_0
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// `visor diff OBJECT [--program NAME] --pcap examples/net.pcap`: its
/// exit status and last line.
fn diff(object: &str, program: Option<&str>) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_visor"));
    command
        .arg("diff")
        .arg(repo(object))
        .arg("--pcap")
        .arg(repo("examples/net.pcap"));
    if let Some(name) = program {
        command.args(["--program", name]);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{stdout}");
    (
        output.status.success(),
        stdout.lines().last().unwrap_or_default().to_owned(),
    )
}

#[test]
fn every_packet_example_agrees_with_the_kernel() {
    if !root("diff") {
        return;
    }
    for (object, program) in [
        ("examples/net.bpf.o", None),
        ("examples/tcp80.bpf.o", None),
        ("examples/tailcall.bpf.o", Some("dispatch")),
        ("crates/cli/bpf/xdp_count.bpf.o", None),
    ] {
        assert_eq!(
            diff(object, program),
            (true, "12 inputs: 12 agree, 0 differ".to_owned()),
            "{object}"
        );
    }
}

#[test]
fn a_frame_too_short_for_the_kernel_is_not_run() {
    if !root("diff") {
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_visor"))
        .arg("diff")
        .arg(repo("examples/net.bpf.o"))
        .args(["--packet", "0000"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("#0: not run: 2 bytes"), "{stdout}");
    assert!(
        stdout.ends_with("1 inputs: 0 agree, 0 differ, 1 not run\n"),
        "{stdout}"
    );
}
