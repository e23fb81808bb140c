//! Per-packet cost of compiled filters: visor's cBPF interpreter
//! ([`visor_filter::run`]), the eBPF translation ([`visor_filter::to_ebpf`])
//! in a visor-vm session on its interpreter and on its JIT (what `visor
//! filter` runs by default), and, with the feature `bench-libpcap`,
//! libpcap's own `bpf_filter` (Debian's `libpcap-dev`) on the very same
//! instructions.
//!
//! Packets: every packet of the Ethernet captures in
//! `../shared/filters/pcaps`, in file-name order, cycled to 1,000 (the
//! mix of the reference figures in `../shared/bench/README.md`). Filters
//! are compiled by visor for Ethernet, without the optimizer and with it
//! (as tcpdump compiles by default); libpcap runs the same instructions.
//!
//! ```text
//! cargo bench -p visor-filter --features bench-libpcap --bench filter
//! ```
//!
//! Criterion measures each (filter, engine) pair over the 1,000 packets
//! ("elem/s": one element is one packet); then a table of nanoseconds per
//! packet is printed, ready for the README. A filter that matches no
//! benchmark name skips criterion and prints the table only:
//! `cargo bench -p visor-filter --features bench-libpcap --bench filter -- table`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use visor_filter::capture::Capture;
use visor_filter::compile::{CompileOptions, LinkType, Optimize, compile};
use visor_filter::{CheckedProgram, Packet, check, run, to_ebpf};
use visor_vm::{Helpers, Interpreter, RunInput, Session};

/// The filters measured, as in the reference figures.
const FILTERS: [&str; 6] = [
    "ip and udp",
    "tcp port 80",
    "host 10.0.0.1 and not port 22",
    "tcp[tcpflags] & tcp-syn != 0",
    "vlan",
    "udp port 53 or tcp port 443",
];

/// Packets per measured batch.
const PACKETS: usize = 1000;
/// `DLT_EN10MB`.
const LINKTYPE_ETHERNET: u32 = 1;

/// One captured packet: its bytes and its length on the wire.
struct Frame {
    bytes: Vec<u8>,
    wire_len: u32,
}

fn pcaps_dir() -> PathBuf {
    std::env::var_os("VISOR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("filters/pcaps")
}

/// The Ethernet packets of every capture, cycled to [`PACKETS`].
fn frames() -> Vec<Frame> {
    let dir = pcaps_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (set VISOR_SHARED)", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    let mut found = Vec::new();
    for path in &paths {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let Ok(capture) = Capture::parse(&bytes) else {
            continue;
        };
        for record in capture.map_while(Result::ok) {
            if record.linktype == LINKTYPE_ETHERNET {
                found.push(Frame {
                    bytes: record.data.to_vec(),
                    wire_len: record.orig_len,
                });
            }
        }
    }
    assert!(
        !found.is_empty(),
        "no Ethernet packets in {}",
        dir.display()
    );
    eprintln!(
        "{} Ethernet packets from {}, cycled to {PACKETS}",
        found.len(),
        dir.display()
    );
    (0..PACKETS)
        .map(|i| {
            let f = &found[i % found.len()];
            Frame {
                bytes: f.bytes.clone(),
                wire_len: f.wire_len,
            }
        })
        .collect()
}

/// libpcap's filter machine, linked only with the feature `bench-libpcap`.
#[cfg(feature = "bench-libpcap")]
mod libpcap {
    use visor_isa::cbpf::Insn;

    /// `struct bpf_insn` from `<pcap/bpf.h>`.
    #[repr(C)]
    pub struct BpfInsn {
        code: u16,
        jt: u8,
        jf: u8,
        k: u32,
    }

    pub fn program(insns: &[Insn]) -> Vec<BpfInsn> {
        insns
            .iter()
            .map(|i| BpfInsn {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect()
    }

    #[link(name = "pcap")]
    unsafe extern "C" {
        fn bpf_filter(pc: *const BpfInsn, pkt: *const u8, wirelen: u32, buflen: u32) -> u32;
    }

    /// `bpf_filter(program, bytes, wire_len, bytes.len())`.
    pub fn filter(program: &[BpfInsn], bytes: &[u8], wire_len: u32) -> u32 {
        let buflen = u32::try_from(bytes.len()).expect("a captured packet is under 4 GiB");
        // SAFETY: `program` is a program visor's checker accepted under the
        // kernel's rules (which are stricter than libpcap's `bpf_validate`):
        // it ends with `ret` and jumps stay inside it, so `bpf_filter` reads
        // only `program`. It reads at most `buflen` bytes of `bytes`, the
        // length of that live slice.
        unsafe { bpf_filter(program.as_ptr(), bytes.as_ptr(), wire_len, buflen) }
    }
}

/// One way of running a filter over all frames; returns how many passed.
trait Engine {
    fn name(&self) -> &'static str;
    fn run_all(&mut self, frames: &mut [Frame]) -> usize;
}

struct VisorCbpf(CheckedProgram);

impl Engine for VisorCbpf {
    fn name(&self) -> &'static str {
        "visor cBPF interpreter"
    }

    fn run_all(&mut self, frames: &mut [Frame]) -> usize {
        frames
            .iter()
            .filter(|f| run(&self.0, Packet::new(black_box(&f.bytes), f.wire_len)) != 0)
            .count()
    }
}

/// The eBPF translation in a visor-vm [`Session`], as `visor filter`
/// runs it: on the interpreter or, with [`Interpreter::with_jit`], the JIT.
struct VisorEbpf {
    name: &'static str,
    vm: Interpreter,
}

impl Engine for VisorEbpf {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run_all(&mut self, frames: &mut [Frame]) -> usize {
        // One session per 1,000 packets: its setup is a few allocations.
        let mut session = Session::new(&self.vm);
        frames
            .iter()
            .filter(|f| {
                let input = RunInput::readonly(black_box(&f.bytes)).with_length(f.wire_len.into());
                matches!(session.run(input), Ok(r0) if r0 != 0)
            })
            .count()
    }
}

#[cfg(feature = "bench-libpcap")]
struct Libpcap(Vec<libpcap::BpfInsn>);

#[cfg(feature = "bench-libpcap")]
impl Engine for Libpcap {
    fn name(&self) -> &'static str {
        "libpcap bpf_filter"
    }

    fn run_all(&mut self, frames: &mut [Frame]) -> usize {
        frames
            .iter()
            .filter(|f| libpcap::filter(&self.0, black_box(&f.bytes), f.wire_len) != 0)
            .count()
    }
}

/// The engines for `expr`, which must all pass the same packets.
fn engines(expr: &str, optimize: Optimize, frames: &mut [Frame]) -> Vec<Box<dyn Engine>> {
    let options = CompileOptions {
        optimize,
        ..CompileOptions::new(LinkType::EN10MB)
    };
    let insns = compile(expr, &options).unwrap_or_else(|e| panic!("{expr:?}: {e}"));
    let program = check(&insns).unwrap_or_else(|e| panic!("{expr:?}: {e}"));
    let ebpf = to_ebpf(&program);
    let vm = || {
        Interpreter::new(&ebpf, Helpers::new())
            .unwrap_or_else(|e| panic!("{expr:?}: visor-vm refuses the translation: {e}"))
    };
    let interpreter = VisorEbpf {
        name: "visor eBPF (interpreter)",
        vm: vm(),
    };
    let jit = VisorEbpf {
        name: "visor eBPF (JIT)",
        vm: vm().with_jit().expect("the bench runs on x86-64"),
    };
    let trusted = VisorEbpf {
        name: "visor eBPF (JIT, trusted)",
        vm: vm().with_trusted_jit().expect("the bench runs on x86-64"),
    };
    #[allow(unused_mut)] // Only the feature adds to it.
    let mut all: Vec<Box<dyn Engine>> = vec![
        Box::new(VisorCbpf(program)),
        Box::new(interpreter),
        Box::new(jit),
        Box::new(trusted),
    ];
    #[cfg(feature = "bench-libpcap")]
    all.push(Box::new(Libpcap(libpcap::program(&insns))));
    let counts: Vec<usize> = all.iter_mut().map(|e| e.run_all(frames)).collect();
    assert!(
        counts.windows(2).all(|w| w[0] == w[1]),
        "{expr:?}: engines disagree on how many packets pass: {counts:?}"
    );
    all
}

/// Nanoseconds per packet of each engine over `frames`: the fastest of
/// many samples, the engines taking turns sample by sample, so that a
/// neighbour's load on a shared machine slows them alike and the slower
/// samples, which measure the neighbours, drop out.
fn ns_per_packet(engines: &mut [Box<dyn Engine>], frames: &mut [Frame]) -> Vec<f64> {
    const SAMPLES: usize = 301;
    const SAMPLE_TIME: Duration = Duration::from_millis(1);
    let rounds: Vec<u32> = engines
        .iter_mut()
        .map(|engine| {
            let start = Instant::now();
            let mut rounds = 0;
            while start.elapsed() < SAMPLE_TIME {
                black_box(engine.run_all(frames));
                rounds += 1;
            }
            rounds
        })
        .collect();
    let mut best = vec![f64::INFINITY; engines.len()];
    for _ in 0..SAMPLES {
        for ((engine, &rounds), best) in engines.iter_mut().zip(&rounds).zip(&mut best) {
            let start = Instant::now();
            for _ in 0..rounds {
                black_box(engine.run_all(frames));
            }
            let ns = start.elapsed().as_nanos() as f64 / f64::from(rounds) / frames.len() as f64;
            *best = best.min(ns);
        }
    }
    best
}

fn main() {
    let mut frames = frames();
    let mut criterion = Criterion::default().configure_from_args();
    let mut table = Vec::new();
    let variants = FILTERS.iter().flat_map(|expr| {
        [
            (*expr, Optimize::Off, format!("`{expr}`")),
            (*expr, Optimize::On, format!("`{expr}`, optimized")),
        ]
    });
    for (expr, optimize, label) in variants {
        let mut all = engines(expr, optimize, &mut frames);
        let mut group = criterion.benchmark_group(&label);
        group.throughput(Throughput::Elements(PACKETS as u64));
        for engine in &mut all {
            group.bench_function(engine.name(), |b| {
                b.iter(|| engine.run_all(&mut frames));
            });
        }
        group.finish();
        table.push((label, all));
    }
    criterion.final_summary();
    // `cargo test --benches` runs each benchmark once, without timing;
    // `--profile-time` is for a profiler, which wants that one only.
    if std::env::args().any(|a| ["--test", "--list", "--profile-time"].contains(&a.as_str())) {
        return;
    }
    let names: Vec<&str> = table[0].1.iter().map(|e| e.name()).collect();
    println!("\nns per packet (fastest of 301 interleaved samples), {PACKETS} Ethernet packets:\n");
    println!("| filter | {} |", names.join(" | "));
    println!("|---|{}", "---:|".repeat(names.len()));
    for (label, all) in &mut table {
        let cells: Vec<String> = ns_per_packet(all, &mut frames)
            .iter()
            .map(|ns| format!("{ns:.1}"))
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
}
