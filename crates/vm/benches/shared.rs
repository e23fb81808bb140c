//! The benchmark programs of `../shared/bench` (see its README): each
//! `NAME_vm` entry in visor's interpreter and JIT (constants blinded, the
//! default, and verbatim), and in the `rbpf` crate's interpreter and JIT;
//! where root allows, each `NAME_tc` entry on the kernel's JIT through
//! `BPF_PROG_TEST_RUN`. Every engine's r0 must be the README's checksum.
//! Also: JIT compile time per 1,000 instructions, what preparing the
//! program (`Interpreter::new`: lowering) costs before that, and the
//! first compile, which for a buffer program also makes the verifier's
//! proof of its accesses.
//!
//! ```text
//! cargo bench -p visor-vm --bench shared
//! VISOR_BENCH_CASES=parser,switch cargo bench -p visor-vm --bench shared
//! ```
//!
//! The objects are built with `clang-19 -target bpf -O2 -mcpu=v3 -g` into
//! Cargo's bench scratch directory (`NAME_vm` is the whole `.text`,
//! extracted with `llvm-objcopy-19`). Prints a table of nanoseconds per
//! run: the fastest of 101 samples, the engines taking turns sample by
//! sample, so that load from neighbours on a shared machine slows them
//! alike and drops out. The kernel's figures are `BPF_PROG_TEST_RUN`'s
//! own per-run average (the fastest of 11 calls) less the empty
//! program's, its per-run overhead.
//! The map-heavy program and the tail-call chain run in visor's engine
//! and the kernel in turns too, each sample a call of 10,000 repeated
//! runs (see `fastest_in_turns`).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use visor_isa::Program;
use visor_vm::{Helpers, Interpreter, RunInput, Session};

/// One program of the suite: its name, input file and checksum.
struct Case {
    name: &'static str,
    input: Option<&'static str>,
    checksum: u64,
}

const CASES: [Case; 6] = [
    Case {
        name: "empty",
        input: None,
        checksum: 0,
    },
    Case {
        name: "prime",
        input: None,
        checksum: 1229,
    },
    Case {
        name: "memcpy",
        input: Some("mem8k.bin"),
        checksum: 503_843_895,
    },
    Case {
        name: "bitcount",
        input: None,
        checksum: 32249,
    },
    Case {
        name: "switch",
        input: None,
        checksum: 3_793_219_482,
    },
    Case {
        name: "parser",
        input: Some("pkt64.bin"),
        checksum: 443,
    },
];

fn bench_dir() -> PathBuf {
    std::env::var_os("VISOR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("bench")
}

/// Runs `program` with `args`; the error says what to install.
fn tool(program: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program} ({e}): install clang-19 and llvm-19"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The object of `name`, built now, and the bytes of its `NAME_vm`.
fn build(dir: &Path, name: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shared-bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let source = dir.join(format!("{name}.bpf.c"));
    let object = out.join(format!("{name}.o"));
    let text = out.join(format!("{name}.bin"));
    let flags = ["-target", "bpf", "-O2", "-mcpu=v3", "-g", "-c"].map(std::ffi::OsStr::new);
    let mut args = flags.to_vec();
    // <linux/types.h> includes <asm/types.h> from the multiarch directory.
    let multiarch = visor_build::host_multiarch_include();
    if let Some(include) = &multiarch {
        args.extend(["-idirafter".as_ref(), include.as_os_str()]);
    }
    args.extend([source.as_os_str(), "-o".as_ref(), object.as_os_str()]);
    tool("clang-19", &args)?;
    let only_text = ["-O", "binary", "--only-section=.text"].map(std::ffi::OsStr::new);
    let mut args = only_text.to_vec();
    args.extend([object.as_os_str(), text.as_os_str()]);
    tool("llvm-objcopy-19", &args)?;
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
    Ok((read(&object)?, read(&text)?))
}

/// One way of running a `NAME_vm` entry on its input; returns r0.
trait Engine {
    fn run(&mut self, input: &mut [u8]) -> u64;
}

/// visor-vm in a session (interpreter or JIT, as `vm` was prepared).
struct Visor<'a>(Session<'a>);

impl Engine for Visor<'_> {
    fn run(&mut self, input: &mut [u8]) -> u64 {
        self.0
            .run(RunInput::memory(black_box(input)))
            .expect("the benchmark programs run")
    }
}

/// rbpf's raw-buffer VM: r1 = the buffer. It leaves r2 zero, so its
/// program starts with `r2 = len` (one instruction, uncounted in effect).
struct Rbpf {
    vm: rbpf::EbpfVmRaw<'static>,
    jit: bool,
}

impl Engine for Rbpf {
    fn run(&mut self, input: &mut [u8]) -> u64 {
        let input = black_box(input);
        let ran = if self.jit {
            // SAFETY: the program is one of the benchmark suite's, which
            // only reads and writes its input and its stack within bounds
            // (rbpf's interpreter, which checks, runs it the same).
            unsafe { self.vm.execute_program_jit(input) }
        } else {
            self.vm.execute_program(input)
        };
        ran.expect("rbpf runs the benchmark programs")
    }
}

/// `NAME_vm`'s bytecode with `r2 = len` in front, for rbpf.
fn rbpf_bytecode(text: &[u8], len: usize) -> Vec<u8> {
    let mov_r2 = [0xb7, 0x02, 0, 0];
    let len = u32::try_from(len).expect("inputs are small");
    let mut code = mov_r2.to_vec();
    code.extend(len.to_le_bytes());
    code.extend(text);
    code
}

/// The engines' names, in table order (the kernel's column comes after).
const ENGINES: [&str; 5] = [
    "visor interpreter",
    "visor JIT",
    "visor JIT (trusted)",
    "rbpf interpreter",
    "rbpf JIT",
];

/// Nanoseconds per run of each engine: the fastest of interleaved samples.
fn ns_per_run(engines: &mut [Box<dyn Engine + '_>], input: &[u8]) -> Vec<f64> {
    const SAMPLES: usize = 101;
    const SAMPLE_TIME: Duration = Duration::from_millis(2);
    let mut buffers: Vec<Vec<u8>> = engines.iter().map(|_| input.to_vec()).collect();
    let rounds: Vec<u32> = engines
        .iter_mut()
        .zip(&mut buffers)
        .map(|(engine, buffer)| {
            let start = Instant::now();
            let mut rounds = 0;
            while start.elapsed() < SAMPLE_TIME {
                black_box(engine.run(buffer));
                rounds += 1;
            }
            rounds
        })
        .collect();
    let mut best = vec![f64::INFINITY; engines.len()];
    for _ in 0..SAMPLES {
        for (((engine, buffer), &rounds), best) in engines
            .iter_mut()
            .zip(&mut buffers)
            .zip(&rounds)
            .zip(&mut best)
        {
            let start = Instant::now();
            for _ in 0..rounds {
                black_box(engine.run(buffer));
            }
            *best = best.min(start.elapsed().as_nanos() as f64 / f64::from(rounds));
        }
    }
    best
}

/// The kernel's JIT on `NAME_tc`: ns per run as `BPF_PROG_TEST_RUN`
/// reports it, or why it was not measured.
fn kernel_ns(case: &Case, elf: &[u8], input: &[u8]) -> Result<f64, String> {
    use visor_kernel::{LoadOptions, LoadedObject, UpdateMode};
    let object = LoadedObject::load(elf, &LoadOptions::default()).map_err(|e| e.to_string())?;
    let entry = format!("{}_tc", case.name);
    let program = object
        .program(&entry)
        .ok_or_else(|| format!("{entry} did not load"))?;
    if let Some(map) = object.map("membuf") {
        map.fd()
            .update(&0u32.to_le_bytes(), input, UpdateMode::Any)
            .map_err(|e| e.to_string())?;
    }
    // A test-run packet must hold an Ethernet header at least.
    let packet = if case.name == "parser" {
        input.to_vec()
    } else {
        vec![0; 64]
    };
    let repeat = if case.name == "prime" { 20 } else { 100_000 };
    test_run_ns(program.fd(), &packet, repeat, case.checksum & 0xffff_ffff)
        .map_err(|why| format!("{entry}: {why}"))
}

/// `BPF_PROG_TEST_RUN`'s per-run average of `program` on `packet` (the
/// fastest of 11 calls of `repeat` runs each), or why not: the program
/// must return `expected`.
fn test_run_ns(
    program: &visor_kernel::ProgramFd,
    packet: &[u8],
    repeat: u32,
    expected: u64,
) -> Result<f64, String> {
    let mut best = f64::INFINITY;
    for _ in 0..11 {
        let (ns, r0) = test_run_once(program, packet, repeat)?;
        if r0 != expected {
            return Err(format!("returned {r0}, not {expected}"));
        }
        best = best.min(ns);
    }
    Ok(best)
}

/// One `BPF_PROG_TEST_RUN` of `repeat` runs of `program` on `packet`: its
/// per-run average and the last run's r0 (its low 32 bits).
fn test_run_once(
    program: &visor_kernel::ProgramFd,
    packet: &[u8],
    repeat: u32,
) -> Result<(f64, u64), String> {
    let mut run = visor_kernel::TestRun::new(packet);
    run.repeat = repeat;
    let result = program.test_run(&run).map_err(|e| e.to_string())?;
    Ok((f64::from(result.duration_ns), u64::from(result.retval)))
}

/// The map-heavy program and the tail-call chain, in
/// `benches/programs/maps_tail.bpf.c`, with an empty program for the
/// engine's own per-run cost: TC programs on a 64-byte packet.
const OBJECT_PROGRAMS: [&str; 3] = ["nothing", "hash_churn", "chain_0"];

/// visor's engine (`Engine`: context, maps and program arrays) running
/// one program of an object, with the JIT or the interpreter.
struct VisorObject {
    engine: visor_vm::engine::Engine,
    program: &'static str,
}

impl VisorObject {
    /// The object in `elf` loaded for `engine`, its program array filled
    /// (slot n holds `chain_n`, as a loader following libbpf would once
    /// told).
    fn load(elf: &[u8], program: &'static str, engine: visor_vm::engine::RunEngine) -> VisorObject {
        let object = visor_object::Object::parse(elf).expect("the object parses");
        let loader = visor_vm::engine::Loader::new().engine(engine);
        let engine = loader.load(&object).expect("visor loads it");
        let chain = engine.map("chain").expect("the program array");
        for n in 1..8 {
            let link = engine.program(&format!("chain_{n}")).expect("each link");
            let interpreter = std::sync::Arc::clone(link.interpreter());
            chain
                .set_program(n, n, interpreter)
                .expect("a slot of the array");
        }
        VisorObject { engine, program }
    }
}

impl VisorObject {
    /// One sample: ns per run of a `run_repeated` call of
    /// [`OBJECT_REPEAT`] runs, and the last run's r0.
    fn sample(&self, packet: &[u8]) -> Result<(f64, u64), String> {
        let program = self.engine.program(self.program).expect("the program");
        let (outcome, mean) = program
            .run_repeated(packet, 0, OBJECT_REPEAT.into())
            .map_err(|e| e.to_string())?;
        Ok((mean.as_nanos() as f64, outcome.r0))
    }
}

/// Runs per sample of [`OBJECT_PROGRAMS`], in visor and the kernel.
const OBJECT_REPEAT: u32 = 10_000;

/// One sample of an engine: ns per run and the last run's r0.
type Sampler<'a> = Box<dyn FnMut() -> Result<(f64, u64), String> + 'a>;

/// The fastest sample of each of `samplers` and the r0 of its samples,
/// the samplers taking turns until each has given 11 samples and the
/// turns took two seconds (at most 1,001 samples): `nothing` gets
/// hundreds of samples, `hash_churn` (0.4 s a sample) its 11. A sampler
/// that fails, or whose r0 differs from its first sample's, leaves the
/// turns with an error.
fn fastest_in_turns(mut samplers: Vec<Sampler<'_>>) -> Vec<Result<(f64, u64), String>> {
    let mut best: Vec<Result<(f64, u64), String>> =
        samplers.iter().map(|_| Ok((f64::INFINITY, 0))).collect();
    let started = Instant::now();
    for turn in 0..1001 {
        if turn >= 11 && started.elapsed() > Duration::from_secs(2) {
            break;
        }
        for (sampler, best) in samplers.iter_mut().zip(&mut best) {
            let Ok((fastest, first_r0)) = *best else {
                continue;
            };
            *best = sampler().and_then(|(ns, r0)| match turn == 0 || r0 == first_r0 {
                true => Ok((fastest.min(ns), r0)),
                false => Err(format!("returned {r0} after {first_r0}")),
            });
        }
    }
    best
}

/// The kernel's sampler for `name` of the object in `elf`, its program
/// array filled as visor's is.
fn kernel_object_sampler<'a>(
    elf: &[u8],
    name: &str,
    packet: &'a [u8],
) -> Result<Sampler<'a>, String> {
    use std::os::fd::AsRawFd;
    use visor_kernel::{LoadOptions, LoadedObject, UpdateMode};
    let object = LoadedObject::load(elf, &LoadOptions::default()).map_err(|e| e.to_string())?;
    let chain = object.map("chain").ok_or("no program array")?;
    for n in 1..8u32 {
        let link = object
            .program(&format!("chain_{n}"))
            .ok_or("a link did not load")?;
        let fd = link.fd().as_raw_fd() as u32;
        chain
            .fd()
            .update(&n.to_le_bytes(), &fd.to_le_bytes(), UpdateMode::Any)
            .map_err(|e| e.to_string())?;
    }
    object
        .program(name)
        .ok_or_else(|| format!("{name} did not load"))?;
    let name = name.to_owned();
    Ok(Box::new(move || {
        let program = object.program(&name).expect("checked above");
        test_run_once(program.fd(), packet, OBJECT_REPEAT)
    }))
}

/// Rows for [`OBJECT_PROGRAMS`]: visor's interpreter and JIT (blinded)
/// through the engine, and the kernel, taking turns sample by sample,
/// each sample timing repeated runs on one context as
/// `BPF_PROG_TEST_RUN` does; rbpf has neither maps nor tail calls. The
/// last run's r0 (the hash map by then in its steady state) must be the
/// same in every engine. The kernel's figures are net of its `nothing`
/// when that was measured (in turns, as they were), else of
/// `kernel_empty`. `chosen` picks the programs.
fn object_rows(
    mut kernel_empty: Option<f64>,
    chosen: impl Fn(&str) -> bool,
) -> Result<Vec<String>, String> {
    use visor_vm::engine::RunEngine;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/programs/maps_tail.bpf.c");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shared-bench/maps_tail.o");
    let clang = visor_build::Clang::find(None).map_err(|e| e.to_string())?;
    let mut options = visor_build::BuildOptions::new(&source);
    options.output = Some(out.clone());
    visor_build::build(&clang, &options).map_err(|e| e.to_string())?;
    let elf = std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let packet = vec![0u8; 64];
    let mut rows = Vec::new();
    for name in OBJECT_PROGRAMS.into_iter().filter(|name| chosen(name)) {
        let engines = [RunEngine::Interpreter, RunEngine::Jit];
        let [interp, jit] = engines.map(|engine| VisorObject::load(&elf, name, engine));
        let mut samplers: Vec<Sampler<'_>> = vec![
            Box::new(|| interp.sample(&packet)),
            Box::new(|| jit.sample(&packet)),
        ];
        let kernel = kernel_object_sampler(&elf, name, &packet);
        let kernel_error = kernel.as_ref().err().cloned();
        samplers.extend(kernel.ok());
        let mut fastest = fastest_in_turns(samplers).into_iter();
        let mut next = || fastest.next().expect("a result per sampler");
        let (interp_ns, interp_r0) = next().map_err(|e| format!("{name}: {e}"))?;
        let (jit_ns, jit_r0) = next().map_err(|e| format!("{name}: {e}"))?;
        assert_eq!(
            interp_r0, jit_r0,
            "{name}: the interpreter and the JIT differ"
        );
        let kernel = match kernel_error {
            Some(why) => Err(why),
            None => next().and_then(|(ns, r0)| match r0 == interp_r0 {
                true => Ok(ns),
                false => Err(format!("returned {r0}, not {interp_r0}")),
            }),
        };
        let kernel_nothing = kernel.as_ref().ok().filter(|_| name == "nothing");
        let cell = kernel_cell(name, kernel.clone(), kernel_empty);
        kernel_empty = kernel_nothing.copied().or(kernel_empty);
        rows.push(format!(
            "| {name} | {} | {} | — | — | — | {cell} |",
            format_ns(interp_ns),
            format_ns(jit_ns)
        ));
    }
    Ok(rows)
}

/// The kernel's column: ns per run less the empty program's `empty`
/// (`raw − empty`), or a dash when the kernel could not run `name` (the
/// reason on stderr).
fn kernel_cell(name: &str, kernel: Result<f64, String>, empty: Option<f64>) -> String {
    match (kernel, empty) {
        (Ok(ns), Some(empty)) => format!(
            "{} ({} − {})",
            format_ns((ns - empty).max(0.0)),
            format_ns(ns),
            format_ns(empty)
        ),
        (Ok(ns), None) => format_ns(ns),
        (Err(why), _) => {
            eprintln!("{name}: kernel not measured: {why}");
            "—".to_owned()
        }
    }
}

/// Microseconds to compile `program` per 1,000 slots, blinded and not,
/// the proof of a buffer program made already (by the first compile).
fn compile_us_per_1000(program: &Program) -> (f64, f64) {
    let slots = program.slot_len() as f64;
    let time = |trusted: bool| {
        let mut vm = Interpreter::new(program, Helpers::new()).expect("it loads");
        let mut best = Duration::MAX;
        for _ in 0..51 {
            let start = Instant::now();
            let compiled = if trusted {
                vm.compile_trusted_jit()
            } else {
                vm.compile_jit()
            };
            compiled.expect("the JIT takes it");
            best = best.min(start.elapsed());
        }
        best.as_secs_f64() * 1e6 / slots * 1000.0
    };
    (time(false), time(true))
}

/// µs for `Interpreter::new` (lowering), and for the first
/// `compile_jit` after it, which for a leaf program over its buffer
/// also makes the verifier's proof of its accesses: the fastest of 51.
fn prepare_us(program: &Program) -> (f64, f64) {
    let (mut new, mut first) = (Duration::MAX, Duration::MAX);
    for _ in 0..51 {
        let start = Instant::now();
        let mut vm = black_box(Interpreter::new(program, Helpers::new()).expect("it loads"));
        new = new.min(start.elapsed());
        let start = Instant::now();
        vm.compile_jit().expect("the JIT takes it");
        first = first.min(start.elapsed());
    }
    (new.as_secs_f64() * 1e6, first.as_secs_f64() * 1e6)
}

/// `12.3` below 100 ns, else whole nanoseconds with thousands separated:
/// `5,623,195`.
fn format_ns(ns: f64) -> String {
    if ns < 100.0 {
        return format!("{ns:.1}");
    }
    let digits = (ns.round() as u64).to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn main() {
    // `cargo test --benches` runs benchmarks once, without timing.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let dir = bench_dir();
    if !dir.join("README.md").exists() {
        println!("skipped: no {} (set VISOR_SHARED)", dir.display());
        return;
    }
    let mut rows = Vec::new();
    let mut compile_rows = Vec::new();
    let mut kernel_empty = None;
    // `empty` always runs: the kernel's figures are net of it.
    let chosen = std::env::var("VISOR_BENCH_CASES").ok();
    let chosen = |name: &str| {
        let names = chosen
            .as_deref()
            .map(|list| list.split(',').collect::<Vec<_>>());
        name == "empty" || names.is_none_or(|names| names.contains(&name))
    };
    for case in CASES.iter().filter(|case| chosen(case.name)) {
        let (elf, text) = match build(&dir, case.name) {
            Ok(built) => built,
            Err(why) => {
                println!("skipped: {why}");
                return;
            }
        };
        let input = match case.input {
            Some(file) => std::fs::read(dir.join(file)).expect("the README's input file"),
            None => Vec::new(),
        };
        let program = Program::decode(&text).expect("NAME_vm decodes");
        let prepare = |jit: fn(&mut Interpreter) -> Result<(), visor_vm::JitError>| {
            let mut vm = Interpreter::new(&program, Helpers::new()).expect("visor-vm loads it");
            jit(&mut vm).expect("the JIT takes it");
            vm
        };
        let interpreter = prepare(|_| Ok(()));
        let jit = prepare(Interpreter::compile_jit);
        let trusted = prepare(Interpreter::compile_trusted_jit);
        let rbpf_code: &'static [u8] = Box::leak(rbpf_bytecode(&text, input.len()).into());
        let rbpf_vm = || rbpf::EbpfVmRaw::new(Some(rbpf_code)).expect("rbpf takes it");
        let mut rbpf_jit = rbpf_vm();
        rbpf_jit.jit_compile().expect("rbpf's JIT takes it");
        let mut engines: Vec<Box<dyn Engine + '_>> = vec![
            Box::new(Visor(Session::new(&interpreter))),
            Box::new(Visor(Session::new(&jit))),
            Box::new(Visor(Session::new(&trusted))),
            Box::new(Rbpf {
                vm: rbpf_vm(),
                jit: false,
            }),
            Box::new(Rbpf {
                vm: rbpf_jit,
                jit: true,
            }),
        ];
        for (engine, name) in engines.iter_mut().zip(ENGINES) {
            let r0 = engine.run(&mut input.clone());
            assert_eq!(r0, case.checksum, "{}: {name} returns {r0}", case.name);
        }
        let times = ns_per_run(&mut engines, &input);
        let kernel = kernel_ns(case, &elf, &input);
        if case.name == "empty" {
            kernel_empty = kernel.as_ref().ok().copied();
        }
        let empty = kernel_empty.filter(|_| case.name != "empty");
        let kernel_cell = kernel_cell(case.name, kernel, empty);
        let mut cells: Vec<String> = times.into_iter().map(format_ns).collect();
        cells.push(kernel_cell);
        rows.push(format!("| {} | {} |", case.name, cells.join(" | ")));
        let (blinded, verbatim) = compile_us_per_1000(&program);
        let (new, first) = prepare_us(&program);
        compile_rows.push(format!(
            "| {} | {} | {blinded:.1} | {verbatim:.1} | {new:.1} | {first:.1} |",
            case.name,
            program.slot_len(),
        ));
    }
    println!(
        "\nns per run (fastest of 101 interleaved samples); r0 checked against the checksums:\n"
    );
    println!(
        "| program | {} | kernel JIT, net of empty (raw − empty) |",
        ENGINES.join(" | ")
    );
    println!("|---|{}", "---:|".repeat(ENGINES.len() + 1));
    for row in rows {
        println!("{row}");
    }
    if OBJECT_PROGRAMS.iter().any(|name| chosen(name)) {
        match object_rows(kernel_empty, chosen) {
            Ok(rows) => rows.iter().for_each(|row| println!("{row}")),
            Err(why) => println!("(maps and tail calls skipped: {why})"),
        }
    }
    println!("\nJIT compile time, µs per 1,000 instructions (fastest of 51), and µs to prepare:\n");
    println!(
        "| program | slots | constants blinded | verbatim | `Interpreter::new` (µs) | first `compile_jit`, with the proof (µs) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for row in compile_rows {
        println!("{row}");
    }
}
