//! Random bytecode and input memory through the interpreter and the JIT:
//! both must give the same r0 or the same error, the same instruction
//! count and the same memory afterwards, and neither may crash. Programs
//! that end without a budget (no backward jump, no call) also run without
//! one, which is when the JIT takes its lean body. Every program also runs
//! with a program array holding itself as map 0 (in slots 0 and 2), so that
//! its `bpf_tail_call`s (helper 12) go round, inline on the JIT.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use visor_isa::{Insn, Program};
use visor_vm::{
    HelperOutcome, Helpers, Interpreter, Map, MapDef, MapKind, MapOps, ProgramMaps, RunInput,
};

fn helpers() -> Helpers {
    let mut helpers = Helpers::new();
    helpers.register(5, "unwind", |args, _| {
        Ok(if args[0] == 0 {
            HelperOutcome::Exit(0)
        } else {
            HelperOutcome::Return(args[0])
        })
    });
    helpers.register(1, "mix", |args, _| {
        Ok(HelperOutcome::Return(
            args.iter().fold(7u64, |h, &a| h.rotate_left(9) ^ a),
        ))
    });
    helpers
}

/// r0 or the error's text, the instructions counted, and the memory after.
fn observe(vm: &Interpreter, mem: &[u8]) -> (Result<u64, String>, Option<u64>, Vec<u8>) {
    let mut memory = mem.to_vec();
    let counted = vm.run_counted(RunInput::memory(&mut memory));
    (
        counted.as_ref().map(|f| f.r0).map_err(|e| e.to_string()),
        counted.ok().map(|f| f.instructions),
        memory,
    )
}

/// Whether every jump goes forward and nothing calls: the program ends
/// without a budget.
fn ends_unbudgeted(program: &Program) -> bool {
    program.insns().iter().all(|insn| match *insn {
        Insn::Jump { off, .. } => off >= 0,
        Insn::Ja { off, .. } => off >= 0,
        Insn::Call(_) | Insn::CallReg(_) => false,
        _ => true,
    })
}

/// r0 or the error's text and the memory after, of a run without a
/// budget (the lean body's, for a leaf program on the JIT), plainly and
/// read-only with another r2.
fn observe_unbudgeted(vm: &Interpreter, mem: &[u8]) -> [(Result<u64, String>, Vec<u8>); 2] {
    let mut memory = mem.to_vec();
    let plain = vm.run_with(RunInput::memory(&mut memory));
    let read_only = RunInput::readonly(mem).with_length(mem.len() as u64 + 3);
    [
        (plain.map_err(|e| e.to_string()), memory),
        (vm.run_with(read_only).map_err(|e| e.to_string()), mem.to_vec()),
    ]
}

/// What `observe` gives for `program` in a program array that holds it in
/// slots 0 and 2, natively or not.
fn observe_tail_calls(
    program: &Program,
    budget: Option<u64>,
    native: bool,
    mem: &[u8],
) -> Option<(Result<u64, String>, Option<u64>, Vec<u8>)> {
    let array = Arc::new(Map::new(MapDef::new(MapKind::ProgArray, 4, 4, 3)).ok()?);
    let maps: ProgramMaps = [array.clone()].into_iter().collect();
    let vm = Interpreter::with_maps(program, helpers(), maps).ok()?;
    let vm = vm.with_budget(budget);
    let vm = Arc::new(if native { vm.with_jit().ok()? } else { vm });
    for slot in [0, 2] {
        array.set_program(slot, slot + 1, vm.clone()).ok()?;
    }
    let observed = observe(&vm, mem);
    for slot in [0u32, 2] {
        // Breaks the cycle: the program holds the array holding it.
        let _ = array.delete(&slot.to_le_bytes());
    }
    Some(observed)
}

fuzz_target!(|data: &[u8]| {
    // First byte: how many 8-byte slots of input memory follow; second:
    // the budget, in hundreds of instructions.
    let Some((&[mem_slots, budget], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let mem_len = (usize::from(mem_slots) * 8).min(rest.len());
    let (mem, code) = rest.split_at(mem_len);
    let Ok(program) = Program::decode(code) else {
        return;
    };
    let budget = Some(u64::from(budget) * 100 + 1);
    // First with the array: a program that names map 0 loads only so.
    if let Some(interpreted) = observe_tail_calls(&program, budget, false, mem) {
        assert_eq!(
            observe_tail_calls(&program, budget, true, mem),
            Some(interpreted),
            "the JIT disagrees with the interpreter on tail calls"
        );
    }
    let Ok(vm) = Interpreter::new(&program, helpers()) else {
        return;
    };
    if ends_unbudgeted(&program) {
        let interpreted = observe_unbudgeted(&vm, mem);
        let jit = Interpreter::new(&program, helpers()).ok();
        if let Some(jit) = jit.and_then(|vm| vm.with_jit().ok()) {
            assert_eq!(
                observe_unbudgeted(&jit, mem),
                interpreted,
                "the JIT disagrees with the interpreter without a budget"
            );
        }
    }
    let vm = vm.with_budget(budget);
    let interpreted = observe(&vm, mem);
    let Ok(jit) = vm.with_jit() else { return };
    assert_eq!(
        observe(&jit, mem),
        interpreted,
        "the JIT disagrees with the interpreter"
    );
});
