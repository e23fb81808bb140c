//! `visor prog`, `visor map` and `visor load` against the running kernel,
//! through the real binary. Needs root; prints why and skips without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn visor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_visor"))
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../examples/{name}.bpf.o"))
}

fn root(test: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid_is_0 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0");
    if !uid_is_0 {
        println!("skipped: {test}: needs root (bpf(2), bpffs)");
    }
    uid_is_0
}

fn ok(output: Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Removes the pin directory however the test ends.
struct Pins(PathBuf);

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Ethernet + IPv4 + UDP to port 5678, 64 bytes, as hex.
fn udp_packet() -> String {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    f.extend_from_slice(&[
        0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f.extend_from_slice(&[0x04, 0xd2, 0x16, 0x2e, 0, 30, 0, 0]);
    f.resize(64, 0);
    f.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn load_pin_list_run_and_dump() {
    if !root("load_pin_list_run_and_dump") {
        return;
    }
    let dir = PathBuf::from(format!("/sys/fs/bpf/visor_test_{}", std::process::id()));
    let _pins = Pins(dir.clone());
    ok(
        visor()
            .args(["prog", "load"])
            .arg(example("net"))
            .arg("--pin")
            .arg(&dir)
            .output()
            .unwrap(),
        "prog load",
    );
    let pinned = dir.join("classify");
    assert!(pinned.exists());

    let list = ok(
        visor().args(["prog", "list", "--json"]).output().unwrap(),
        "prog list",
    );
    let programs: serde_json::Value = serde_json::from_str(&list).unwrap();
    let show = ok(
        visor()
            .args(["prog", "show", "--json"])
            .arg(&pinned)
            .output()
            .unwrap(),
        "prog show",
    );
    let shown: serde_json::Value = serde_json::from_str(&show).unwrap();
    let id = &shown[0]["id"];
    assert!(
        programs
            .as_array()
            .unwrap()
            .iter()
            .any(|p| &p["id"] == id && p["name"] == "classify" && p["type"] == "sched_cls"),
        "prog list has the pinned program {id}"
    );

    let run = ok(
        visor()
            .args(["prog", "run"])
            .arg(id.to_string())
            .args(["--data", &udp_packet(), "--repeat", "3"])
            .output()
            .unwrap(),
        "prog run",
    );
    assert!(
        run.starts_with("Return value: 0, duration (average): "),
        "{run}"
    );

    let dump = ok(
        visor()
            .args(["map", "dump"])
            .arg(dir.join("maps/packets"))
            .output()
            .unwrap(),
        "map dump",
    );
    // Key {family 4, protocol 17, port 5678 little-endian}, three runs.
    assert!(
        dump.contains("key: 04 11 2e 16  value: 03 00 00 00 00 00 00 00"),
        "{dump}"
    );
    assert!(dump.contains("Found 1 element"), "{dump}");

    let xlated = ok(
        visor()
            .args(["prog", "dump"])
            .arg(&pinned)
            .output()
            .unwrap(),
        "prog dump",
    );
    assert!(xlated.lines().any(|l| l.ends_with("exit")), "{xlated}");
    // Loaded with its line info: source lines above their instructions,
    // maps by id, helpers by the kernel functions they were bound to.
    assert!(xlated.lines().any(|l| l.starts_with("; ")), "{xlated}");
    assert!(xlated.contains(" = map[id:"), "{xlated}");
    assert!(
        xlated.contains("call bpf_") || xlated.contains("call htab_"),
        "{xlated}"
    );
    assert!(!xlated.contains(".quad"), "{xlated}");
}

#[test]
fn load_attach_detaches_on_sigint() {
    if !root("load_attach_detaches_on_sigint") {
        return;
    }
    let mut child = visor()
        .arg("load")
        .arg(example("hello"))
        .arg("--attach")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buffer = [0u8; 256];
    while !seen.contains("press Ctrl-C") {
        let n = std::io::Read::read(&mut stdout, &mut buffer).unwrap();
        assert!(n > 0, "visor load ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(
        seen.contains("attached hello to tracepoint syscalls:sys_enter_clone"),
        "{seen}"
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{seen}{rest}");
    assert!(rest.contains("detached hello"), "{rest}");
}
