//! `visor net attach` on a veth pair between two network namespaces this
//! test creates (and deletes however it ends), with bounded UDP traffic
//! inside them and exact counts read back with `visor map dump`. Needs
//! root, veth and network namespaces; prints why and skips without them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn visor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_visor"))
}

fn root(test: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid_is_0 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0");
    if !uid_is_0 {
        println!("skipped: {test}: needs root (bpf(2), network namespaces)");
    }
    uid_is_0
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// Two namespaces joined by a veth pair: `veth0` 10.201.0.1 in `a`,
/// `veth1` 10.201.0.2 in `b`. Both namespaces (and with them the pair)
/// are deleted on drop.
struct Pair {
    a: String,
    b: String,
}

impl Pair {
    fn new(tag: &str) -> Option<Pair> {
        let id = std::process::id();
        let pair = Pair {
            a: format!("visor-{tag}-{id}-a"),
            b: format!("visor-{tag}-{id}-b"),
        };
        let steps: [&[&str]; 8] = [
            &["netns", "add", &pair.a],
            &["netns", "add", &pair.b],
            &[
                "link", "add", "veth0", "netns", &pair.a, "type", "veth", "peer", "name", "veth1",
                "netns", &pair.b,
            ],
            &[
                "-n",
                &pair.a,
                "addr",
                "add",
                "10.201.0.1/24",
                "dev",
                "veth0",
            ],
            &[
                "-n",
                &pair.b,
                "addr",
                "add",
                "10.201.0.2/24",
                "dev",
                "veth1",
            ],
            &["-n", &pair.a, "link", "set", "veth0", "up"],
            &["-n", &pair.b, "link", "set", "veth1", "up"],
            &["-n", &pair.b, "link", "set", "lo", "up"],
        ];
        for step in steps {
            if !ip(step) {
                println!(
                    "skipped: cannot set up veth in namespaces: ip {}",
                    step.join(" ")
                );
                return None;
            }
        }
        Some(pair)
    }

    /// `n` UDP datagrams from `a` to `b`'s port 9999.
    fn send_udp(&self, n: usize) {
        let script = format!("for i in $(seq {n}); do echo visor > /dev/udp/10.201.0.2/9999; done");
        assert!(ip(&["netns", "exec", &self.a, "bash", "-c", &script]));
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.a]);
        ip(&["netns", "del", &self.b]);
    }
}

/// `visor net attach ...` in namespace `b`, started and attached: its
/// output up to "running", with the map ids.
struct Attached {
    child: Child,
    lines: Vec<String>,
}

impl Attached {
    fn start(pair: &Pair, args: &[&str]) -> Attached {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &pair.b,
                env!("CARGO_BIN_EXE_visor"),
                "net",
                "attach",
            ])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        loop {
            let mut line = String::new();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "visor net attach ended early: {lines:?}"
            );
            if line.starts_with("running") {
                break;
            }
            lines.push(line.trim_end().to_owned());
        }
        Attached { child, lines }
    }

    fn map_id(&self, name: &str) -> String {
        let prefix = format!("map {name} id ");
        let line = self
            .lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap();
        line.split_whitespace().next().unwrap().to_owned()
    }

    /// The value of `key` in map `name`, from `visor map dump`.
    fn count(&self, name: &str, key: &str) -> u64 {
        let out = visor()
            .args(["map", "dump", &self.map_id(name)])
            .output()
            .unwrap();
        let dump = String::from_utf8_lossy(&out.stdout);
        let prefix = format!("key: {key}  value: ");
        let value = dump
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no key {key}:\n{dump}"));
        let bytes: Vec<u8> = value
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        u64::from_le_bytes(bytes.try_into().unwrap())
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn object(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn xdp_counter_counts_each_datagram() {
    if !root("net attach xdp") {
        return;
    }
    let Some(pair) = Pair::new("xdp") else { return };
    let obj = object("bpf/xdp_count.bpf.o");
    let attached = Attached::start(
        &pair,
        &[
            "xdp",
            obj.to_str().unwrap(),
            "--dev",
            "veth1",
            "--mode",
            "generic",
        ],
    );
    assert!(
        attached.lines[0].starts_with("attached xdp_count (prog id "),
        "{:?}",
        attached.lines
    );
    assert!(
        attached.lines[0].ends_with("to xdp (generic mode) on veth1 (ifindex 2)"),
        "{:?}",
        attached.lines
    );
    pair.send_udp(7);
    // IPv4 protocol 17 (UDP); ARP and IPv6 are not counted.
    assert_eq!(attached.count("protocols", "11 00 00 00"), 7);
    assert_eq!(attached.count("protocols", "01 00 00 00"), 0);
}

/// `examples/net.bpf.o` on veth1's TC ingress with `extra` arguments;
/// `place` is where visor says it attached.
fn tc_example_counts_by_destination_port(tag: &str, extra: &[&str], place: &str) {
    if !root("net attach tc") {
        return;
    }
    let Some(pair) = Pair::new(tag) else { return };
    let obj = object("../../examples/net.bpf.o");
    let mut args = vec!["tc", obj.to_str().unwrap(), "--dev", "veth1"];
    args.extend_from_slice(extra);
    let attached = Attached::start(&pair, &args);
    assert!(
        attached.lines[0].ends_with(&format!("to {place} on veth1 (ifindex 2)")),
        "{:?}",
        attached.lines
    );
    pair.send_udp(5);
    // net.bpf.c's key: IP version 4, protocol 17, port 9999 little-endian.
    assert_eq!(attached.count("packets", "04 11 0f 27"), 5);
}

#[test]
fn tc_example_counts_on_a_tcx_link() {
    tc_example_counts_by_destination_port("tc", &[], "tcx ingress");
}

#[test]
fn tc_example_counts_on_a_clsact_filter() {
    tc_example_counts_by_destination_port(
        "cls",
        &["--tc-mode", "clsact"],
        "clsact (pref 1) ingress",
    );
}
