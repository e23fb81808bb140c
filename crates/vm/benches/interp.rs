//! The interpreter on loop-heavy programs: time per run, and instructions
//! per second (criterion's "elem/s": one element is one instruction).
//!
//! `cargo bench -p visor-vm --bench interp`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use visor_isa::asm::{Syntax, assemble};
use visor_vm::{Helpers, Interpreter, RunInput};

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

fn interpreter(c: &mut Criterion) {
    let mut group = c.benchmark_group("interpreter");
    for case in cases() {
        let program = assemble(case.source, Syntax::Llvm).expect("bench program assembles");
        let vm = Interpreter::new(&program, Helpers::new()).expect("bench program loads");
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

criterion_group!(benches, interpreter);
criterion_main!(benches);
