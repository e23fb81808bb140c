//! `visor trace` tools against the running kernel, through the real
//! binary: each tool is started, its events are caused by a child
//! process, and its output is checked. Needs root and tracefs; prints why
//! and skips without them. No timing assertions: `--duration` only bounds
//! how long a tool waits.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn visor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_visor"))
}

/// Root with tracepoints: what every test here needs.
fn can_trace(test: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0");
    if !root {
        println!("skipped: {test}: needs root (bpf(2), tracefs)");
        return false;
    }
    let events = [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ];
    if !events.iter().any(|p| Path::new(p).is_dir()) {
        // visor mounts tracefs itself when it can; only a missing kernel
        // feature is a reason to skip.
        let probe = visor()
            .args([
                "trace",
                "count",
                "syscalls:sys_enter_clone",
                "--duration",
                "0.1",
            ])
            .output();
        if !probe.is_ok_and(|o| o.status.success()) {
            println!("skipped: {test}: no tracefs");
            return false;
        }
    }
    true
}

/// Starts a tool and waits for its banner on stderr, printed once it is
/// attached.
fn start(args: &[&str]) -> Child {
    let mut child = visor()
        .arg("trace")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("visor starts");
    let mut banner = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut banner)
        .unwrap();
    assert!(banner.contains("Ctrl-C to end"), "{args:?}: {banner}");
    child
}

fn finish(child: Child, what: &str) -> String {
    let output: Output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// bash forking `n` times: `fork` in glibc is a clone(2) (dash's vfork
/// and Rust's clone3 do not fire sys_enter_clone).
fn bash_forks(n: usize) -> Child {
    let script = format!("for i in $(seq {n}); do /bin/true; sleep 0.05; done; exit 0");
    Command::new("bash")
        .args(["-c", &script])
        .spawn()
        .expect("bash runs")
}

#[test]
fn hello_prints_a_line_per_clone() {
    if !can_trace("trace hello") {
        return;
    }
    let tool = start(&["hello", "--count", "3", "--duration", "60"]);
    let mut forks = bash_forks(200);
    let stdout = finish(tool, "trace hello");
    let _ = forks.kill();
    let _ = forks.wait();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for line in lines {
        // `bash-1234  [001]  Hello, World!`
        let (task, rest) = line.split_once("  [").expect(line);
        assert!(
            task.rsplit_once('-')
                .is_some_and(|(_, pid)| pid.parse::<u32>().is_ok()),
            "{line}"
        );
        assert!(rest.ends_with("]  Hello, World!"), "{line}");
    }
    println!("{stdout}");
}

#[test]
fn hist_of_read_prints_bccs_layout() {
    if !can_trace("trace hist") {
        return;
    }
    let tool = start(&["hist", "syscall", "read", "--duration", "1"]);
    let mut reader = Command::new("bash")
        .args([
            "-c",
            "for i in $(seq 200); do head -c 4096 /dev/zero > /dev/null; done",
        ])
        .spawn()
        .unwrap();
    let stdout = finish(tool, "trace hist");
    reader.wait().unwrap();
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("     usecs               : count     distribution"),
        "{stdout}"
    );
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty(), "{stdout}");
    for (i, row) in rows.iter().enumerate() {
        let high = (1u64 << (i + 1)) - 1;
        let low = if i == 0 { 0 } else { 1u64 << i };
        let prefix = format!("{low:>10} -> {high:<10} : ");
        assert!(row.starts_with(&prefix), "row {i}: {row}");
        let bar = row.split_once('|').unwrap().1;
        assert_eq!(bar.len(), 41, "40 columns and the closing bar: {row}");
    }
    // The last row has a count (trailing empty slots are trimmed).
    let last = rows.last().unwrap();
    assert!(!last[26..].trim_start().starts_with("0 "), "{last}");
    println!("{stdout}");
}

#[test]
fn count_by_pid_counts_every_clone() {
    if !can_trace("trace count") {
        return;
    }
    let tool = start(&[
        "count",
        "syscalls:sys_enter_clone",
        "--by",
        "pid",
        "--interval",
        "1",
        "--duration",
        "3",
        "--top",
        "100000",
    ]);
    // Ten forks from one bash, a builtin last so that bash execs nothing.
    let mut forks = Command::new("bash")
        .args([
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done; exit 0",
        ])
        .spawn()
        .unwrap();
    let pid = forks.id().to_string();
    forks.wait().unwrap();
    let stdout = finish(tool, "trace count");
    let counted: u64 = stdout
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(pid.as_str()))
        .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, 10, "pid {pid}:\n{stdout}");
    assert!(
        stdout.contains("PID      COMM                  COUNT"),
        "{stdout}"
    );
}

#[test]
fn exec_reports_the_new_program() {
    if !can_trace("trace exec") {
        return;
    }
    let tool = start(&["exec", "--duration", "2"]);
    // Alive long enough for its parent to be read from /proc.
    let mut child = Command::new("/bin/sleep").arg("0.5").spawn().unwrap();
    let pid = child.id().to_string();
    child.wait().unwrap();
    let stdout = finish(tool, "trace exec");
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(pid.as_str()))
        .unwrap_or_else(|| panic!("no exec of pid {pid}:\n{stdout}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[0], "sleep", "{line}");
    assert_eq!(
        fields[2],
        std::process::id().to_string(),
        "the parent is this test: {line}"
    );
    assert_eq!(fields[3], "/bin/sleep", "{line}");
}

/// A network namespace that is deleted however the test ends.
struct Netns(String);

impl Netns {
    fn new(name: String) -> Option<Netns> {
        let made = Command::new("ip").args(["netns", "add", &name]).status();
        made.is_ok_and(|s| s.success()).then_some(Netns(name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn connect_reports_syn_sent_with_addresses() {
    if !can_trace("trace connect") {
        return;
    }
    let Some(ns) = Netns::new(format!("visor-connect-{}", std::process::id())) else {
        println!("skipped: trace connect: cannot create a network namespace");
        return;
    };
    let up = Command::new("ip")
        .args(["-n", &ns.0, "link", "set", "lo", "up"])
        .status()
        .unwrap();
    assert!(up.success());
    let tool = start(&["connect", "--duration", "2"]);
    // Nothing listens: the SYN is answered with a reset, after SYN_SENT.
    let status = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "bash",
            "-c",
            "echo > /dev/tcp/127.0.0.1/4242",
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "nothing listens on 4242");
    let stdout = finish(tool, "trace connect");
    // Other connections on the machine may show too: find ours.
    let line = stdout
        .lines()
        .find(|l| l.ends_with(" 4242"))
        .unwrap_or_else(|| panic!("no connection to port 4242:\n{stdout}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        fields[1..],
        ["bash", "4", "127.0.0.1", "127.0.0.1", "4242"],
        "{stdout}"
    );
}
