//! `visor filter -r --engine`: every engine prints the same per-packet
//! results (`--results`) for the same filter and capture, including
//! filters that read the wire length, which differs from the captured
//! length when a capture was cut at its snapshot length.

use std::path::PathBuf;
use std::process::Command;

/// The reference captures: `$VISOR_SHARED/filters/pcaps`, else
/// `../shared` beside the repository.
fn pcaps_dir() -> PathBuf {
    std::env::var_os("VISOR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("filters/pcaps")
}

const ENGINES: [&str; 3] = ["jit", "ebpf-interp", "cbpf-interp"];

/// stdout and exit code of `visor filter --results --engine ENGINE -r CAPTURE EXPRESSION`.
fn results(engine: &str, capture: &PathBuf, expression: &str) -> (String, Option<i32>) {
    let output = Command::new(env!("CARGO_BIN_EXE_visor"))
        .args(["filter", "--results", "--engine", engine, "-r"])
        .arg(capture)
        .arg(expression)
        .output()
        .expect("visor runs");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        output.status.code(),
    )
}

#[test]
fn every_engine_gives_the_same_result_for_every_packet() {
    let captures = ["vrrp.pcap", "pppoe.pcap", "geneve.pcap", "carp.pcap"];
    let expressions = [
        "ip and udp",
        "tcp[tcpflags] & tcp-syn != 0",
        "greater 100",
        "less 80 or vlan",
        "ip[0] & 0xf > 5 or ip6",
        "udp port 6081 and len > 60",
    ];
    let dir = pcaps_dir();
    if !dir.join(captures[0]).exists() {
        eprintln!(
            "skipped: no captures in {} (set VISOR_SHARED)",
            dir.display()
        );
        return;
    }
    let (mut compared, mut accepted) = (0, 0);
    for capture in captures {
        let path = dir.join(capture);
        for expression in expressions {
            let cbpf = results("cbpf-interp", &path, expression);
            assert_eq!(cbpf.1, Some(0), "{capture}: {expression:?} fails");
            for engine in &ENGINES[..2] {
                assert_eq!(
                    results(engine, &path, expression),
                    cbpf,
                    "{engine} differs from cbpf-interp: {capture}, {expression:?}"
                );
            }
            compared += cbpf.0.lines().count();
            accepted += cbpf.0.lines().filter(|line| *line != "0").count();
        }
    }
    assert!(
        compared > 100 && accepted > 10,
        "{compared} compared, {accepted} accepted"
    );
}

#[test]
fn the_engine_flag_is_documented_and_checked() {
    let help = Command::new(env!("CARGO_BIN_EXE_visor"))
        .args(["filter", "--help"])
        .output()
        .expect("visor runs");
    let help = String::from_utf8_lossy(&help.stdout);
    for engine in ENGINES {
        assert!(
            help.contains(engine),
            "--help does not name {engine}:\n{help}"
        );
    }
    let wrong = Command::new(env!("CARGO_BIN_EXE_visor"))
        .args(["filter", "--engine", "turbo", "-d", "ip"])
        .output()
        .expect("visor runs");
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("possible values"));
}
