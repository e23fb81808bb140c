//! Reading `trace_pipe`, where `bpf_trace_printk` writes.
//!
//! Each line is one trace event, as the kernel formats it:
//!
//! ```text
//!            getpid-4242    [001] ...21   812.345678: bpf_trace_printk: hello 7
//! ```
//!
//! task name, pid, CPU, flags (irqs-off, need-resched, hardirq/softirq,
//! preempt depth, migrate-disable; absent on old kernels), timestamp in
//! seconds, the event's name and its message. Reading consumes: each line
//! goes to one reader, and lines from every program and process arrive
//! mixed, so readers filter (by pid, by message).

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::{KernelError, OsCall};
use crate::sys;
use crate::tracefs::tracefs;

/// One parsed `trace_pipe` line.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceLine {
    /// The task's command name (`comm`), as the kernel shows it (`<...>`
    /// when it no longer knows it).
    pub task: String,
    pub pid: u32,
    pub cpu: u32,
    /// The latency flags, for example `d..21`; empty when absent.
    pub flags: String,
    /// Time since boot, as printed (microsecond precision).
    pub timestamp: Duration,
    /// The event: `bpf_trace_printk`.
    pub event: String,
    /// What the program printed, without the trailing newline.
    pub message: String,
}

impl TraceLine {
    /// Parses one line; `None` for lines that are not events (for example
    /// `CPU:1 [LOST 12 EVENTS]`).
    pub fn parse(line: &str) -> Option<TraceLine> {
        let line = line.trim_end_matches('\n');
        // The CPU in brackets follows "task-pid"; find the first " [digits]"
        // whose left side ends in "-digits". Task names may hold spaces,
        // dashes and brackets, so search rather than split.
        let mut search = 0;
        let (head, cpu, rest) = loop {
            let open = search + line.get(search..)?.find(" [")?;
            let after = &line[open + 2..];
            let close = after.find(']')?;
            let digits = &after[..close];
            let head = line[..open].trim();
            if !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && head
                    .rsplit_once('-')
                    .is_some_and(|(_, pid)| pid.parse::<u32>().is_ok())
            {
                break (head, digits.parse().ok()?, &after[close + 1..]);
            }
            search = open + 2;
        };
        let (task, pid) = head.rsplit_once('-')?;
        let mut words = rest.trim_start();
        // Flags, when present, are one word not ending in ':'.
        let mut flags = "";
        let first = words.split_ascii_whitespace().next()?;
        if !first.ends_with(':') {
            flags = first;
            words = words[first.len()..].trim_start();
        }
        let (stamp, rest) = words.split_once(": ")?;
        let (event, message) = match rest.split_once(": ") {
            Some((event, message)) => (event, message),
            None => (rest, ""),
        };
        Some(TraceLine {
            task: task.trim().to_owned(),
            pid: pid.parse().ok()?,
            cpu,
            flags: flags.to_owned(),
            timestamp: parse_stamp(stamp)?,
            event: event.to_owned(),
            message: message.to_owned(),
        })
    }
}

/// `812.345678` seconds.
fn parse_stamp(stamp: &str) -> Option<Duration> {
    let (secs, frac) = stamp.trim().split_once('.')?;
    let secs: u64 = secs.parse().ok()?;
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = format!("{frac:0<9}").parse().ok()?;
    Some(Duration::new(secs, nanos))
}

/// `trace_pipe`, opened non-blocking so every read can time out.
#[derive(Debug)]
pub struct TracePipe {
    file: File,
    path: PathBuf,
    pending: Vec<u8>,
    /// How long the iterator waits for a line before it ends.
    timeout: Duration,
}

impl TracePipe {
    /// Opens `trace_pipe` (mounting tracefs if needed). The iterator waits
    /// up to `timeout` for each line, then ends.
    pub fn open(timeout: Duration) -> Result<TracePipe, KernelError> {
        let path = tracefs()?.join("trace_pipe");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|source| KernelError::ReadFile {
                path: path.clone(),
                source,
            })?;
        Ok(TracePipe {
            file,
            path,
            pending: Vec::new(),
            timeout,
        })
    }

    /// The next line, waiting up to `timeout`; `None` when none came.
    pub fn read_line(&mut self, timeout: Duration) -> Result<Option<String>, KernelError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Ok(Some(String::from_utf8_lossy(&line[..end]).into_owned()));
            }
            let mut chunk = [0u8; 4096];
            match self.file.read(&mut chunk) {
                Ok(0) => {}
                Ok(n) => {
                    self.pending.extend_from_slice(&chunk[..n]);
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(KernelError::ReadFile {
                        path: self.path.clone(),
                        source,
                    });
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            sys::poll_readable(&[self.file.as_fd()], Some(left))
                .map_err(KernelError::os(OsCall::Poll, "wait for trace_pipe"))?;
        }
    }

    /// The next event line, skipping lines that are not events; `None`
    /// when no event came within `timeout`.
    pub fn read_event(&mut self, timeout: Duration) -> Result<Option<TraceLine>, KernelError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_line(left)? {
                None => return Ok(None),
                Some(line) => {
                    if let Some(event) = TraceLine::parse(&line) {
                        return Ok(Some(event));
                    }
                }
            }
        }
    }
}

/// Events until one does not come within the pipe's timeout.
impl Iterator for TracePipe {
    type Item = Result<TraceLine, KernelError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_event(self.timeout).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bpf_trace_printk_line_parses() {
        let line = "           <...>-4242    [001] d..31   812.345678: bpf_trace_printk: hello 7\n";
        let e = TraceLine::parse(line).unwrap();
        assert_eq!(e.task, "<...>");
        assert_eq!(e.pid, 4242);
        assert_eq!(e.cpu, 1);
        assert_eq!(e.flags, "d..31");
        assert_eq!(e.timestamp, Duration::new(812, 345_678_000));
        assert_eq!(e.event, "bpf_trace_printk");
        assert_eq!(e.message, "hello 7");
    }

    #[test]
    fn task_names_with_dashes_spaces_and_brackets_parse() {
        let line = " kworker/u8:2-[x] y-77    [000] .... 1.5: bpf_trace_printk: a: b";
        let e = TraceLine::parse(line).unwrap();
        assert_eq!(e.task, "kworker/u8:2-[x] y");
        assert_eq!(e.pid, 77);
        assert_eq!(e.message, "a: b");
        // Old kernels print no flags.
        let e = TraceLine::parse("sh-1 [003] 5.000001: bpf_trace_printk: m").unwrap();
        assert_eq!((e.flags.as_str(), e.cpu), ("", 3));
    }

    #[test]
    fn other_lines_are_none() {
        assert_eq!(TraceLine::parse("CPU:1 [LOST 12 EVENTS]"), None);
        assert_eq!(TraceLine::parse(""), None);
        assert_eq!(TraceLine::parse("x-1 [0] ... nostamp"), None);
    }
}
