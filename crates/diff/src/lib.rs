//! One object, two engines: a program run on the same inputs in visor's
//! userspace engine (`visor-vm`) and in the kernel (`BPF_PROG_TEST_RUN`
//! through `visor-kernel`), with the return value, the packet as the
//! program left it and every map compared after each input.
//!
//! `visor diff` prints a [`Report`]; tests assert on it. This crate sits
//! above both engines so that neither depends on the other.
//!
//! ```no_run
//! let elf = std::fs::read("examples/net.bpf.o")?;
//! let frames = vec![vec![0u8; 64]];
//! let report = visor_diff::compare(&elf, Some("classify"), &visor_diff::Inputs::Packets(frames))?;
//! assert!(report.all_agree());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Decisions, written down:
//!
//! - Frames shorter than an Ethernet header (14 bytes) are not compared:
//!   the kernel refuses them ([`Verdict::NotRun`]).
//! - A socket filter's output in the kernel starts with a zeroed link
//!   header (the test run pushes one back); the engine's copy is
//!   compared with those 14 bytes zeroed too.
//! - Maps are compared by name after every input, so the first input
//!   that makes them differ is the one reported. Program arrays, ring
//!   buffers and perf event arrays hold no comparable entries.
//! - Program types without a test run in the kernel (tracepoints) are
//!   [`Verdict::NotRun`], not a difference.
//! - Return values are compared on their low 32 bits, which is all
//!   `BPF_PROG_TEST_RUN` reports.

#![forbid(unsafe_code)]

mod report;

use std::collections::BTreeMap;

use visor_kernel::{LoadOptions, LoadedObject, MapFd, MapType, TestRun};
use visor_vm::MapOps;
use visor_vm::context::{ContextKind, SkbHook};
use visor_vm::engine::Engine;

pub use report::{ByteDiff, Difference, EntryDiff, InputReport, MapDiff, Report, Verdict};

/// What went wrong before any comparison could be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("the userspace engine cannot load the object: {0}")]
    Engine(#[from] visor_vm::engine::EngineError),
    #[error("the kernel cannot load the object: {0}")]
    Kernel(#[from] visor_kernel::LoadError),
    #[error("no program named {name}; the object has: {available}")]
    NoProgram { name: String, available: String },
    #[error("the object has several programs ({available}); name one")]
    Ambiguous { available: String },
    #[error("program {program} ({program_type}) does not run on packets: give it a context record")]
    NeedsContext {
        program: String,
        program_type: String,
    },
}

/// The inputs to run the program on.
#[derive(Clone, Debug)]
pub enum Inputs {
    /// Ethernet frames, for packet programs (socket filter, TC, XDP).
    Packets(Vec<Vec<u8>>),
    /// Context records, for programs whose test run takes only a context
    /// (raw tracepoints): the bytes of `ctx_in`.
    Contexts(Vec<Vec<u8>>),
}

/// The kernel's "operation not supported" (not in libc: kernel-internal).
const ENOTSUPP: i32 = 524;
/// The Ethernet header: the kernel's test run refuses shorter frames.
const ETH_HLEN: usize = 14;
/// Room for a program that grows the packet (XDP headroom is 256 bytes).
const GROWTH: usize = 512;

/// Runs program `program` (or the object's only one) of the object `elf`
/// on every input in both engines and compares them.
pub fn compare(elf: &[u8], program: Option<&str>, inputs: &Inputs) -> Result<Report, DiffError> {
    let engine = Engine::open(elf)?;
    let kernel = LoadedObject::load(elf, &LoadOptions::default())?;
    let names = || {
        engine
            .programs()
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ours = match program {
        Some(name) => engine.program(name).ok_or_else(|| DiffError::NoProgram {
            name: name.to_owned(),
            available: names(),
        })?,
        None => match engine.programs() {
            [only] => only,
            _ => return Err(DiffError::Ambiguous { available: names() }),
        },
    };
    let theirs = kernel
        .program(ours.name())
        .ok_or_else(|| DiffError::NoProgram {
            name: ours.name().to_owned(),
            available: names(),
        })?
        .fd();
    let kind = ours.context_kind();
    let packets = kind.is_some_and(|k| k.has_packet());
    if let (Inputs::Packets(_), false) = (inputs, packets) {
        return Err(DiffError::NeedsContext {
            program: ours.name().to_owned(),
            program_type: ours
                .program_type()
                .map_or("unknown", |t| t.name())
                .to_owned(),
        });
    }
    let socket_filter = kind == Some(ContextKind::Skb(SkbHook::SocketFilter));
    let list = match inputs {
        Inputs::Packets(list) | Inputs::Contexts(list) => list,
    };
    let mut report = Report {
        program: ours.name().to_owned(),
        inputs: Vec::with_capacity(list.len()),
    };
    for (index, input) in list.iter().enumerate() {
        if packets && input.len() < ETH_HLEN {
            report.inputs.push(InputReport {
                index,
                verdict: Verdict::NotRun(format!(
                    "{} bytes: the kernel runs no frame shorter than an Ethernet header",
                    input.len()
                )),
            });
            continue;
        }
        let run = if packets {
            TestRun {
                data_out_size: input.len() + GROWTH,
                ..TestRun::new(input)
            }
        } else {
            TestRun {
                ctx: Some(input),
                ..TestRun::new(&[])
            }
        };
        let kernel_result = theirs.test_run(&run);
        let engine_result = ours.run(input);
        let verdict = match (engine_result, kernel_result) {
            (_, Err(k)) if k.errno() == Some(ENOTSUPP) => Verdict::NotRun(format!(
                "the kernel has no test run for {} programs",
                theirs.program_type()
            )),
            (Err(e), Err(k)) => Verdict::BothFailed {
                engine: e.to_string(),
                kernel: k.to_string(),
            },
            (Err(e), Ok(_)) => Verdict::Differ(vec![Difference::EngineFailed(e.to_string())]),
            (Ok(_), Err(k)) => Verdict::Differ(vec![Difference::KernelFailed(k.to_string())]),
            (Ok(ours), Ok(theirs)) => {
                let mut differences = Vec::new();
                if ours.r0 as u32 != theirs.retval {
                    differences.push(Difference::ReturnValue {
                        engine: ours.r0,
                        kernel: theirs.retval,
                    });
                }
                if packets {
                    let mut packet = ours.packet.unwrap_or_default();
                    if socket_filter && packet.len() >= ETH_HLEN {
                        packet[..ETH_HLEN].fill(0);
                    }
                    if let Some(diff) = ByteDiff::of(&packet, &theirs.data_out) {
                        differences.push(Difference::Packet(diff));
                    }
                }
                differences.extend(
                    compare_maps(&engine, &kernel)
                        .into_iter()
                        .map(Difference::Map),
                );
                if differences.is_empty() {
                    Verdict::Agree {
                        retval: theirs.retval,
                    }
                } else {
                    Verdict::Differ(differences)
                }
            }
        };
        report.inputs.push(InputReport { index, verdict });
    }
    Ok(report)
}

/// Every map whose entries differ between the engines, by name.
fn compare_maps(engine: &Engine, kernel: &LoadedObject) -> Vec<MapDiff> {
    let mut diffs = Vec::new();
    for ours in engine.maps() {
        let Some(theirs) = kernel.map(&ours.name) else {
            continue;
        };
        let fd = theirs.fd();
        if matches!(
            fd.map_type(),
            MapType::ProgArray | MapType::Ringbuf | MapType::PerfEventArray
        ) {
            continue;
        }
        let (a, b) = (engine_entries(&ours.map), kernel_entries(fd));
        if let Some(diff) = MapDiff::of(&ours.name, &a, &b) {
            diffs.push(diff);
        }
    }
    diffs
}

type Entries = BTreeMap<Vec<u8>, Vec<u8>>;

/// The entries the kernel shows for `map`.
fn kernel_entries(map: &MapFd) -> Entries {
    map.keys()
        .filter_map(Result::ok)
        .filter_map(|key| Some((key.clone(), map.lookup(&key).ok()??)))
        .collect()
}

/// The entries the engine shows for `map`.
fn engine_entries(map: &visor_vm::Map) -> Entries {
    let mut out = BTreeMap::new();
    let mut key = None;
    while let Ok(Some(next)) = map.next_key(key.as_deref()) {
        if let Ok(Some(value)) = map.lookup(&next) {
            out.insert(next.clone(), value);
        }
        key = Some(next);
        if out.len() > 1 << 20 {
            break;
        }
    }
    out
}
