//! Tracing attach points and event readers, run for real: tracepoints,
//! raw tracepoints, uprobes, trace_pipe, perf event arrays, ring buffers.
//! Each program is triggered by this test's own thread and filters on its
//! thread id, so the counts are exact whatever else runs.

mod common;

use std::time::{Duration, Instant};

use common::{asm_with_maps, bpf_available, bump, chain, count, counters, load, thread_id};
use std::os::fd::AsFd;

use visor_kernel::{
    AttachOptions, AttachOutcome, KernelError, LoadOptions, LoadedObject, MapFd, MapSpec, MapType,
    PerfAttachMode, PerfBuffer, PerfEvent, ProgramType, RingBuffer, TracePipe, TracepointFormat,
    UprobeSpec, attach_raw_tracepoint, attach_tracepoint, attach_uprobe, program_info,
};

/// Whether tracing is possible here: bpf(2), and tracefs with the
/// syscalls tracepoints. Prints `skipped: ...` when not.
fn tracing_available(test: &str) -> bool {
    if !bpf_available(test) {
        return false;
    }
    match visor_kernel::tracepoint_id("syscalls", "sys_enter_getpid") {
        Ok(_) => true,
        Err(e) => {
            println!("skipped: {test}: {}", chain(&e));
            false
        }
    }
}

/// The prologue of a program that goes to `out` unless the current
/// thread is `tid`; leaves the ctx in r6 and pid_tgid in r8.
fn only_thread(tid: u32) -> String {
    format!(
        "
        r6 = r1
        call 14
        r8 = r0
        r0 <<= 32
        r0 >>= 32
        if r0 != {tid} goto out
        "
    )
}

const EPILOGUE: &str = "
    out:
        r0 = 0
        exit
";

fn getpid_n_times(n: u32) {
    for _ in 0..n {
        std::hint::black_box(std::process::id());
    }
}

#[test]
fn a_tracepoint_counts_exactly_this_threads_getpid_calls() {
    if !tracing_available("a_tracepoint_counts_exactly_this_threads_getpid_calls") {
        return;
    }
    let tid = thread_id();
    let counts = counters("tp_counts", 1);
    let text = format!("{}{}{EPILOGUE}", only_thread(tid), bump("0"));
    let prog = load(
        "tp_getpid",
        ProgramType::Tracepoint,
        &asm_with_maps(&text, &[&counts]),
    );
    let attached = attach_tracepoint(&prog, "syscalls", "sys_enter_getpid")
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(attached.mode(), PerfAttachMode::Link);
    getpid_n_times(1000);
    let seen = count(&counts, 0);
    println!("tracepoint syscalls:sys_enter_getpid: 1000 calls, {seen} counted");
    assert_eq!(seen, 1000);
    attached
        .detach()
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    getpid_n_times(10);
    assert_eq!(count(&counts, 0), 1000, "no counts after detach");
}

#[test]
fn tracepoint_formats_parse_from_tracefs() {
    if !tracing_available("tracepoint_formats_parse_from_tracefs") {
        return;
    }
    let format = TracepointFormat::read("syscalls", "sys_enter_openat")
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let names: Vec<&str> = format.fields.iter().map(|f| f.name.as_str()).collect();
    println!("syscalls:sys_enter_openat fields: {names:?}");
    assert_eq!(format.name, "sys_enter_openat");
    assert_eq!(
        format.id,
        visor_kernel::tracepoint_id("syscalls", "sys_enter_openat").unwrap()
    );
    let pid = format.field("common_pid").unwrap();
    assert_eq!((pid.offset, pid.size, pid.signed), (4, 4, true));
    let nr = format.field("__syscall_nr").unwrap();
    assert_eq!((nr.offset, nr.size, nr.signed), (8, 4, true));
    let filename = format.field("filename").unwrap();
    assert_eq!((filename.offset, filename.size), (24, 8));
    let err = TracepointFormat::read("syscalls", "no_such_tracepoint").unwrap_err();
    assert!(
        matches!(err, KernelError::TracepointNotFound { .. }),
        "{err}"
    );
}

#[test]
fn bpf_trace_printk_lines_come_back_through_trace_pipe() {
    if !tracing_available("bpf_trace_printk_lines_come_back_through_trace_pipe") {
        return;
    }
    let tid = thread_id();
    // "visor:%d\n\0" on the stack: bytes 0-7 at r10-16, "\n\0" at r10-8.
    let fmt = u64::from_le_bytes(*b"visor:%d");
    let text = format!(
        "{}
        r1 = {fmt:#x} ll
        *(u64 *)(r10 - 16) = r1
        r1 = 10
        *(u16 *)(r10 - 8) = r1
        r1 = r10
        r1 += -16
        r2 = 10
        r3 = r8
        r3 <<= 32
        r3 >>= 32
        call 6
        {EPILOGUE}",
        only_thread(tid)
    );
    let prog = load(
        "tp_printk",
        ProgramType::Tracepoint,
        &asm_with_maps(&text, &[]),
    );
    let mut pipe = TracePipe::open(Duration::from_millis(500)).unwrap();
    // Drain what earlier activity left.
    while pipe.read_line(Duration::ZERO).unwrap().is_some() {}
    let attached = attach_tracepoint(&prog, "syscalls", "sys_enter_getpid").unwrap();
    getpid_n_times(3);
    drop(attached);
    let expected = format!("visor:{tid}");
    let mut ours = Vec::new();
    for event in pipe.by_ref() {
        let event = event.unwrap();
        if event.pid == tid && event.message == expected {
            ours.push(event);
        }
    }
    for event in &ours {
        println!(
            "trace_pipe: task {:?} pid {} cpu {} flags {:?} at {:?}: {}: {}",
            event.task,
            event.pid,
            event.cpu,
            event.flags,
            event.timestamp,
            event.event,
            event.message
        );
    }
    assert_eq!(ours.len(), 3);
    assert!(ours.iter().all(|e| e.event == "bpf_trace_printk"));
    assert!(ours.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
}

/// A program that sends 12 bytes (pid_tgid, then 0x56495352) with
/// `output` (a helper call taking r1..r5 set up by `args`).
fn sender(tid: u32, call: &str) -> String {
    format!(
        "{}
        *(u64 *)(r10 - 16) = r8
        r1 = 0x56495352
        *(u32 *)(r10 - 8) = r1
        {call}
        {EPILOGUE}",
        only_thread(tid)
    )
}

fn expected_record(tid: u32) -> Vec<u8> {
    let pid_tgid = (u64::from(std::process::id()) << 32) | u64::from(tid);
    let mut record = pid_tgid.to_ne_bytes().to_vec();
    record.extend_from_slice(&0x5649_5352u32.to_ne_bytes());
    record
}

#[test]
fn perf_event_output_reaches_the_perf_buffer() {
    if !tracing_available("perf_event_output_reaches_the_perf_buffer") {
        return;
    }
    let tid = thread_id();
    let cpus = visor_kernel::possible_cpus().unwrap() as u32;
    let events =
        MapFd::create(&MapSpec::new(MapType::PerfEventArray, 4, 4, cpus).named("events")).unwrap();
    let mut buffer = PerfBuffer::open(&events, 8).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let call = "
        r1 = r6
        r2 = map[fd:0] ll
        r3 = 0xffffffff ll
        r4 = r10
        r4 += -16
        r5 = 12
        call 25
    ";
    let prog = load(
        "tp_perf_out",
        ProgramType::Tracepoint,
        &asm_with_maps(&sender(tid, call), &[&events]),
    );
    let attached = attach_tracepoint(&prog, "syscalls", "sys_enter_getpid").unwrap();
    getpid_n_times(50);
    drop(attached);
    let mut samples = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while samples.len() < 50 && Instant::now() < deadline {
        for event in buffer.poll(Duration::from_millis(200)).unwrap() {
            match event {
                PerfEvent::Sample { data, .. } => samples.push(data),
                PerfEvent::Lost { cpu, count } => panic!("lost {count} samples on CPU {cpu}"),
            }
        }
    }
    // Nothing more comes.
    assert!(buffer.poll(Duration::from_millis(100)).unwrap().is_empty());
    println!(
        "perf buffer on CPUs {:?}: {} samples of {} bytes",
        buffer.cpus(),
        samples.len(),
        samples.first().map_or(0, Vec::len)
    );
    assert_eq!(samples.len(), 50);
    let expected = expected_record(tid);
    assert!(samples.iter().all(|s| *s == expected), "{samples:?}");
}

#[test]
fn ringbuf_output_reaches_the_ring_buffer_reader() {
    if !tracing_available("ringbuf_output_reaches_the_ring_buffer_reader") {
        return;
    }
    let tid = thread_id();
    let ring = MapFd::create(&MapSpec::new(MapType::Ringbuf, 0, 0, 64 * 1024).named("ring"))
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let mut reader = RingBuffer::new(&ring).unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert!(reader.poll(Duration::from_millis(10)).unwrap().is_empty());
    let call = "
        r1 = map[fd:0] ll
        r2 = r10
        r2 += -16
        r3 = 12
        r4 = 0
        call 130
    ";
    let prog = load(
        "tp_ring_out",
        ProgramType::Tracepoint,
        &asm_with_maps(&sender(tid, call), &[&ring]),
    );
    let attached = attach_tracepoint(&prog, "syscalls", "sys_enter_getpid").unwrap();
    // More records than fit at once would be lost; 64 KiB holds 3000
    // records of 24 bytes (12 + header, rounded), so read as we go.
    let mut records = Vec::new();
    for _ in 0..10 {
        getpid_n_times(500);
        records.extend(reader.poll(Duration::from_millis(500)).unwrap());
    }
    drop(attached);
    records.extend(reader.read().unwrap());
    println!("ring buffer: {} records", records.len());
    assert_eq!(records.len(), 5000);
    let expected = expected_record(tid);
    assert!(records.iter().all(|r| *r == expected));
}

#[test]
fn a_raw_tracepoint_counts_this_threads_getpid_calls() {
    if !tracing_available("a_raw_tracepoint_counts_this_threads_getpid_calls") {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    const GETPID: u32 = 39;
    #[cfg(target_arch = "aarch64")]
    const GETPID: u32 = 172;
    let tid = thread_id();
    let counts = counters("raw_counts", 1);
    // struct bpf_raw_tracepoint_args: sys_enter's args are (regs, id).
    let text = format!(
        "{}
        r1 = *(u64 *)(r6 + 8)
        if r1 != {GETPID} goto out
        {}{EPILOGUE}",
        only_thread(tid),
        bump("0")
    );
    let prog = load(
        "raw_getpid",
        ProgramType::RawTracepoint,
        &asm_with_maps(&text, &[&counts]),
    );
    let link =
        attach_raw_tracepoint(&prog, "sys_enter").unwrap_or_else(|e| panic!("{}", chain(&e)));
    getpid_n_times(777);
    let seen = count(&counts, 0);
    println!("raw tracepoint sys_enter: 777 getpid calls, {seen} counted");
    assert_eq!(seen, 777);
    drop(link);
    getpid_n_times(5);
    assert_eq!(count(&counts, 0), 777, "no counts after drop");
}

/// `tests/bpf/btf_getpid.bpf.c`: `tp_btf/sys_enter` counting getpid(2)
/// per thread through a subprogram. Loaded as an object, it gets the
/// tracepoint's BTF id, its func and line info, and attaches by section.
#[test]
fn a_btf_tracepoint_object_counts_this_threads_getpid_calls() {
    if !tracing_available("a_btf_tracepoint_object_counts_this_threads_getpid_calls") {
        return;
    }
    if !std::path::Path::new(visor_kernel::VMLINUX_BTF).exists() {
        println!(
            "skipped: a_btf_tracepoint_object_counts_this_threads_getpid_calls: no kernel BTF"
        );
        return;
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bpf/btf_getpid.bpf.o");
    let bytes = std::fs::read(path).unwrap();
    let loaded = LoadedObject::load(&bytes, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let program = loaded.program("count_getpid").unwrap();
    let info = program_info(program.fd().as_fd()).unwrap();
    assert_eq!(info.program_type(), Some(ProgramType::Tracing));
    assert_ne!(info.btf_id, 0, "loaded with the object's BTF");
    assert_eq!(info.func_info_count, 2, "count_getpid and count_thread");
    assert!(
        info.line_info_count >= 6,
        "{} line records",
        info.line_info_count
    );

    let outcomes = loaded.attach_all(&AttachOptions::default());
    let [AttachOutcome::Attached(attached)] = &outcomes[..] else {
        panic!("{outcomes:?}");
    };
    assert_eq!(attached.target(), "BTF tracepoint sys_enter");
    let tid = thread_id();
    getpid_n_times(321);
    let calls = loaded.map("getpid_calls").unwrap().fd();
    let seen = count(calls, tid);
    println!("tp_btf/sys_enter: 321 getpid calls, {seen} counted");
    assert_eq!(seen, 321);
    drop(outcomes);
    getpid_n_times(5);
    assert_eq!(count(calls, tid), 321, "no counts after detach");
}

const PROBE_TARGET_C: &str = r#"
#include <stdlib.h>
__attribute__((noinline)) int visor_probe_target(int x) {
    __asm__ volatile("" ::: "memory");
    return x + 1;
}
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 0;
    volatile int sum = 0;
    for (int i = 0; i < n; i++) sum += visor_probe_target(i);
    return 0;
}
"#;

/// A scratch directory, removed on drop even when the test fails.
struct ScratchDir(std::path::PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds the probe target with `cc` in `dir`; `None` (and a `skipped:`
/// line) when there is no C compiler.
fn build_probe_target(test: &str, dir: &ScratchDir) -> Option<std::path::PathBuf> {
    let dir = &dir.0;
    std::fs::create_dir_all(dir).unwrap();
    let source = dir.join("target.c");
    let binary = dir.join("probe_target");
    std::fs::write(&source, PROBE_TARGET_C).unwrap();
    match std::process::Command::new("cc")
        .args(["-O1", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
    {
        Ok(status) if status.success() => Some(binary),
        other => {
            println!("skipped: {test}: cannot build the probe target with cc: {other:?}");
            None
        }
    }
}

#[test]
fn uprobes_and_uretprobes_count_calls_exactly() {
    let test = "uprobes_and_uretprobes_count_calls_exactly";
    if !bpf_available(test) {
        return;
    }
    let scratch =
        ScratchDir(std::env::temp_dir().join(format!("visor-uprobe-{}", std::process::id())));
    let Some(binary) = build_probe_target(test, &scratch) else {
        return;
    };
    let offset = visor_kernel::symbol_offset(&binary, "visor_probe_target").unwrap();
    println!("visor_probe_target at file offset {offset:#x}");
    let counts = counters("uprobe_counts", 2);
    let entry = load(
        "uprobe_entry",
        ProgramType::Kprobe,
        &asm_with_maps(&format!("{}\nr0 = 0\nexit", bump("0")), &[&counts]),
    );
    let exit = load(
        "uprobe_exit",
        ProgramType::Kprobe,
        &asm_with_maps(&format!("{}\nr0 = 0\nexit", bump("1")), &[&counts]),
    );
    let spec = UprobeSpec::symbol(&binary, "visor_probe_target");
    let on_entry = attach_uprobe(&entry, &spec).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let on_return =
        attach_uprobe(&exit, &spec.clone().returning()).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let status = std::process::Command::new(&binary)
        .arg("123")
        .status()
        .unwrap();
    assert!(status.success());
    let (entries, returns) = (count(&counts, 0), count(&counts, 1));
    println!("uprobe: 123 calls, {entries} entries, {returns} returns");
    assert_eq!((entries, returns), (123, 123));
    on_entry
        .detach()
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    drop(on_return);
    let status = std::process::Command::new(&binary)
        .arg("10")
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!((count(&counts, 0), count(&counts, 1)), (123, 123));
    let missing = visor_kernel::symbol_offset(&binary, "no_such_function").unwrap_err();
    assert!(
        matches!(missing, KernelError::SymbolNotFound { .. }),
        "{missing}"
    );
}
