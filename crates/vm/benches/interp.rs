//! The interpreter and the JIT on loop-heavy programs: time per run, and
//! instructions per second (criterion's "elem/s": one element is one
//! instruction), one group per engine.
//!
//! `cargo bench -p visor-vm --bench interp`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use visor_isa::asm::{Syntax, assemble};
use visor_vm::{Helpers, Interpreter, RunInput, Session};

struct Case {
    name: &'static str,
    source: &'static str,
    memory: Vec<u8>,
    r0: u64,
}

/// 128 KiB whose first half holds the words 0, 1, 2, ...: memcpy sums them.
fn memcpy_input() -> Vec<u8> {
    let mut memory = vec![0; 128 * 1024];
    for (i, word) in memory[..64 * 1024].chunks_exact_mut(8).enumerate() {
        word.copy_from_slice(&(i as u64).to_le_bytes());
    }
    memory
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "primes",
            source: include_str!("../../../examples/primes.s"),
            memory: Vec::new(),
            r0: 1229,
        },
        Case {
            name: "memcpy_64k",
            source: include_str!("../../../examples/memcpy.s"),
            memory: memcpy_input(),
            r0: (0..8192).sum(),
        },
        Case {
            name: "bitcount",
            source: include_str!("../../../examples/bitcount.s"),
            memory: Vec::new(),
            r0: 32297,
        },
    ]
}

/// Which engine a benchmark group runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Engine {
    Interpreter,
    /// The JIT with constants blinded (the default).
    Jit,
    /// The JIT with constants verbatim (`compile_trusted_jit`).
    TrustedJit,
}

fn bench_engine(c: &mut Criterion, engine: Engine) {
    let name = match engine {
        Engine::Interpreter => "interpreter",
        Engine::Jit => "jit",
        Engine::TrustedJit => "jit_trusted",
    };
    let mut group = c.benchmark_group(name);
    for case in cases() {
        let program = assemble(case.source, Syntax::Llvm).expect("bench program assembles");
        let mut vm = Interpreter::new(&program, Helpers::new()).expect("bench program loads");
        let compiled = match engine {
            Engine::Interpreter => Ok(()),
            Engine::Jit => vm.compile_jit(),
            Engine::TrustedJit => vm.compile_trusted_jit(),
        };
        if compiled.is_err() {
            println!("skipped: no JIT on this host");
            return;
        }
        let mut memory = case.memory;
        let finished = vm
            .run_counted(RunInput::memory(&mut memory))
            .expect("bench program runs");
        assert_eq!(finished.r0, case.r0, "{}: wrong result", case.name);
        group.throughput(Throughput::Elements(finished.instructions));
        group.bench_function(case.name, |b| b.iter(|| vm.run(black_box(&mut memory))));
    }
    group.finish();
}

fn interpreter(c: &mut Criterion) {
    bench_engine(c, Engine::Interpreter);
}

fn jit(c: &mut Criterion) {
    bench_engine(c, Engine::Jit);
}

fn jit_trusted(c: &mut Criterion) {
    bench_engine(c, Engine::TrustedJit);
}

/// Compile time: the JIT on each program (criterion's "elem/s": slots
/// compiled per second).
fn jit_compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("jit_compile");
    for case in cases() {
        let program = assemble(case.source, Syntax::Llvm).expect("bench program assembles");
        let mut vm = Interpreter::new(&program, Helpers::new()).expect("bench program loads");
        if vm.compile_jit().is_err() {
            println!("skipped: no JIT on this host");
            return;
        }
        group.throughput(Throughput::Elements(program.slot_len() as u64));
        group.bench_function(case.name, |b| b.iter(|| vm.compile_jit()));
    }
    group.finish();
}

/// Per-run overhead: `r0 = 0; exit` run over and over, by
/// [`Interpreter::run`] (which sets a run up each time) and in a
/// [`Session`] (which reuses the setup), in each engine.
fn per_run(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_run");
    let program = assemble("r0 = 0\nexit", Syntax::Llvm).expect("bench program assembles");
    let interpreter = Interpreter::new(&program, Helpers::new()).expect("bench program loads");
    let jit = Interpreter::new(&program, Helpers::new())
        .expect("bench program loads")
        .with_jit();
    let engines = [
        ("interpreter", Some(&interpreter)),
        ("jit", jit.as_ref().ok()),
    ];
    for (name, vm) in engines {
        let Some(vm) = vm else {
            println!("skipped: no JIT on this host");
            continue;
        };
        group.bench_function(format!("{name}/run"), |b| {
            b.iter(|| vm.run(black_box(&mut [])))
        });
        let mut session = Session::new(vm);
        group.bench_function(format!("{name}/session"), |b| {
            b.iter(|| session.run(RunInput::readonly(black_box(&[]))))
        });
    }
    group.finish();
}

criterion_group!(benches, interpreter, jit, jit_trusted, jit_compile, per_run);
criterion_main!(benches);
