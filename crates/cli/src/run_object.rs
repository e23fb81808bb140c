//! `visor run OBJECT`: an ELF object (or restricted C, built first) loaded
//! into the userspace engine, one program run over each input, verdicts,
//! trace output, a summary and a map dump.
//!
//! Maps are changed with flags of `run`, not a separate command: the
//! engine's maps live only as long as the run, so `--map-update NAME
//! KEY=VALUE` and `--map-delete NAME KEY` apply before the first input,
//! and the dump (every map, or `--map NAME`) comes after the last.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use visor_vm::engine::{Engine, EngineProgram, Loader, Outcome, RunEngine};
use visor_vm::{MapKind, MapOps, UpdateMode};

use crate::hex;

/// What `run` was given for an object.
pub struct ObjectRun<'a> {
    pub file: &'a Path,
    pub program: Option<&'a str>,
    pub pcap: Option<&'a Path>,
    pub packet: Option<&'a str>,
    pub ctx: Option<&'a Path>,
    pub repeat: u64,
    pub json: bool,
    pub results: bool,
    pub map_updates: &'a [String],
    pub map_deletes: &'a [String],
    pub dump_maps: &'a [String],
    /// Check the program with visor's verifier before running it.
    pub verify: bool,
    pub engine: RunEngine,
}

/// Whether `bytes` (the file named on the command line) is an ELF object.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Compiles restricted C with visor-build, returning the object's path.
pub fn build_c(source: &Path) -> anyhow::Result<PathBuf> {
    let clang = visor_build::Clang::find(None)?;
    let output = std::env::temp_dir().join(format!(
        "visor-run-{}-{}.o",
        std::process::id(),
        source
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("prog")
    ));
    let options = visor_build::BuildOptions {
        output: Some(output.clone()),
        ..visor_build::BuildOptions::new(source)
    };
    visor_build::BuildCommand::new(&clang, &options)?.run()?;
    Ok(output)
}

pub fn run(args: &ObjectRun<'_>, bytes: &[u8], out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let object =
        visor_object::Object::parse(bytes).with_context(|| format!("{}", args.file.display()))?;
    let engine = Loader::new()
        .engine(args.engine)
        .load(&object)
        .with_context(|| format!("{}", args.file.display()))?;
    let program = choose(&engine, args.program)?;
    if args.verify {
        verify(&object, program)?;
    }
    for update in args.map_updates {
        map_update(&engine, update)?;
    }
    for delete in args.map_deletes {
        map_delete(&engine, delete)?;
    }
    let inputs = inputs(args, program)?;
    let mut verdicts: Vec<(String, usize)> = Vec::new();
    let mut records = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let (mut outcome, mean) = program.run_repeated(input, 0, args.repeat)?;
        let trace = engine.take_trace();
        if args.repeat > 1 {
            let mean = super::run::format_duration(mean.as_secs_f64());
            eprintln!("input {index}: {} runs, mean {mean} per run", args.repeat);
            if !trace.is_empty() {
                eprintln!(
                    "input {index}: {} trace lines from the {} runs, not shown \
                     (run without --repeat to see one run's)",
                    trace.len(),
                    args.repeat
                );
            }
        } else {
            outcome.trace = trace;
        }
        let name = outcome.verdict.name();
        match verdicts.iter_mut().find(|(v, _)| *v == name) {
            Some((_, n)) => *n += 1,
            None => verdicts.push((name, 1)),
        }
        if args.results {
            writeln!(out, "{}", outcome.r0)?;
        } else if args.json {
            records.push(outcome_json(index, input, &outcome));
        } else {
            print_outcome(out, index, input, &outcome)?;
        }
    }
    if args.results {
        return Ok(ExitCode::SUCCESS);
    }
    let maps = dump(&engine, args.dump_maps)?;
    if args.json {
        let document = serde_json::json!({
            "program": program.name(),
            "section": program.section(),
            "program_type": program.program_type().map(|t| t.name()),
            "runs": records,
            "summary": verdicts.iter().map(|(v, n)| serde_json::json!({"verdict": v, "count": n})).collect::<Vec<_>>(),
            "maps": maps.iter().map(|(name, kind, entries)| serde_json::json!({
                "name": name,
                "type": kind,
                "entries": entries.iter().map(|(k, v)| serde_json::json!({"key": hex_of(k), "value": hex_of(v)})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&document)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let summary: Vec<String> = verdicts.iter().map(|(v, n)| format!("{n} {v}")).collect();
    writeln!(
        out,
        "{} input(s) through {} ({}): {}",
        inputs.len(),
        program.name(),
        program.program_type().map_or("unknown type", |t| t.name()),
        summary.join(", ")
    )?;
    for (name, kind, entries) in &maps {
        writeln!(out, "map {name} ({kind}): {} entries", entries.len())?;
        for (key, value) in entries {
            writeln!(out, "  key: {}  value: {}", spaced(key), spaced(value))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs visor's verifier over `program`; a rejection is the run's error,
/// with the verifier's diagnostic.
fn verify(object: &visor_object::Object<'_>, program: &EngineProgram) -> anyhow::Result<()> {
    let report = visor_verifier::verify_object(object, Some(program.name()));
    for checked in &report.programs {
        if let Err(rejection) = &checked.result {
            bail!(
                "visor's verifier rejects {} ({}); fix the program, or run trusted code \
                 with --no-verify:\n{rejection}",
                checked.name,
                checked.section
            );
        }
    }
    Ok(())
}

/// The program asked for, or the only one.
fn choose<'e>(engine: &'e Engine, name: Option<&str>) -> anyhow::Result<&'e EngineProgram> {
    let names = || {
        engine
            .programs()
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(name) => engine
            .program(name)
            .with_context(|| format!("no program named {name}; the object has: {}", names())),
        None => match engine.programs() {
            [only] => Ok(only),
            _ => bail!(
                "the object has several programs, choose one with --program: {}",
                names()
            ),
        },
    }
}

/// The inputs: each frame of the capture, the packet, the context file,
/// or one empty context.
fn inputs(args: &ObjectRun<'_>, program: &EngineProgram) -> anyhow::Result<Vec<Vec<u8>>> {
    if let Some(path) = args.pcap {
        return read_capture(path);
    }
    if let Some(text) = args.packet {
        return Ok(vec![hex::parse_bytes(text).context("--packet")?]);
    }
    if let Some(path) = args.ctx {
        let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(vec![bytes]);
    }
    if program.context_kind().is_some_and(|k| k.has_packet()) {
        bail!(
            "{} runs on packets: give --pcap FILE or --packet HEX",
            program.name()
        );
    }
    Ok(vec![Vec::new()])
}

/// Every packet of a pcap or pcapng capture.
pub fn read_capture(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut frames = Vec::new();
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let mut reader = pcap_file::pcapng::PcapNgReader::new(&bytes[..])
            .with_context(|| format!("{}: not a pcapng capture", path.display()))?;
        while let Some(block) = reader.next_block() {
            match block.with_context(|| format!("{}: corrupt block", path.display()))? {
                pcap_file::pcapng::Block::EnhancedPacket(p) => frames.push(p.data.into_owned()),
                pcap_file::pcapng::Block::SimplePacket(p) => frames.push(p.data.into_owned()),
                _ => {}
            }
        }
    } else {
        let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..])
            .with_context(|| format!("{}: not a pcap capture", path.display()))?;
        while let Some(packet) = reader.next_packet() {
            let packet = packet.with_context(|| format!("{}: corrupt record", path.display()))?;
            frames.push(packet.data.into_owned());
        }
    }
    Ok(frames)
}

fn print_outcome(
    out: &mut impl Write,
    index: usize,
    input: &[u8],
    outcome: &Outcome,
) -> anyhow::Result<()> {
    let mut line = format!(
        "#{index}: {} bytes -> {} ({})",
        input.len(),
        outcome.r0 as i64,
        outcome.verdict
    );
    if let Some(redirect) = outcome.redirect {
        line += &format!(", redirect to ifindex {}", redirect.ifindex);
    }
    if outcome.packet.as_deref().is_some_and(|p| p != input) {
        line += ", packet rewritten";
    }
    writeln!(out, "{line}")?;
    for trace in &outcome.trace {
        writeln!(out, "  trace: {}", trace.trim_end())?;
    }
    Ok(())
}

fn outcome_json(index: usize, input: &[u8], outcome: &Outcome) -> serde_json::Value {
    serde_json::json!({
        "input": index,
        "len": input.len(),
        "retval": outcome.r0,
        "verdict": outcome.verdict.name(),
        "instructions": outcome.instructions,
        "packet": outcome.packet.as_deref().filter(|p| *p != input).map(hex_of),
        "redirect": outcome.redirect.map(|r| r.ifindex),
        "trace": outcome.trace,
    })
}

type Dumped = (String, &'static str, Vec<(Vec<u8>, Vec<u8>)>);

/// Every entry of the maps named (all when none is), bpftool-like.
fn dump(engine: &Engine, only: &[String]) -> anyhow::Result<Vec<Dumped>> {
    for name in only {
        if engine.map(name).is_none() {
            bail!("no map named {name}");
        }
    }
    let mut all = Vec::new();
    for map in engine.maps() {
        if !only.is_empty() && !only.contains(&map.name) {
            continue;
        }
        let kind = map.map.kind();
        if matches!(
            kind,
            MapKind::RingBuf | MapKind::PerfEventArray | MapKind::ProgArray
        ) {
            continue;
        }
        let mut entries = Vec::new();
        let mut key: Option<Vec<u8>> = None;
        while let Ok(Some(next)) = map.map.next_key(key.as_deref()) {
            if let Ok(Some(value)) = map.map.lookup(&next) {
                entries.push((next.clone(), value));
            }
            key = Some(next);
            if entries.len() > 1 << 20 {
                break;
            }
        }
        all.push((map.name.clone(), kind.name(), entries));
    }
    Ok(all)
}

/// `NAME KEY=VALUE` with KEY and VALUE in hex.
fn map_update(engine: &Engine, spec: &str) -> anyhow::Result<()> {
    let (name, rest) = spec
        .split_once(' ')
        .or_else(|| spec.split_once(':'))
        .with_context(|| format!("--map-update {spec}: expected NAME:KEY=VALUE (hex bytes)"))?;
    let (key, value) = rest
        .split_once('=')
        .with_context(|| format!("--map-update {spec}: expected KEY=VALUE"))?;
    let map = engine
        .map(name)
        .with_context(|| format!("no map named {name}"))?;
    map.update(
        &hex::parse_bytes(key)?,
        &hex::parse_bytes(value)?,
        UpdateMode::Any,
    )
    .with_context(|| format!("--map-update {spec}"))?;
    Ok(())
}

/// `NAME:KEY` with KEY in hex.
fn map_delete(engine: &Engine, spec: &str) -> anyhow::Result<()> {
    let (name, key) = spec
        .split_once(':')
        .with_context(|| format!("--map-delete {spec}: expected NAME:KEY (hex bytes)"))?;
    let map = engine
        .map(name)
        .with_context(|| format!("no map named {name}"))?;
    map.delete(&hex::parse_bytes(key)?)
        .with_context(|| format!("--map-delete {spec}"))?;
    Ok(())
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn spaced(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
