//! Random bytecode and input memory through the interpreter and the JIT:
//! both must give the same r0 or the same error, the same instruction
//! count and the same memory afterwards, and neither may crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use visor_isa::Program;
use visor_vm::{HelperOutcome, Helpers, Interpreter, RunInput};

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
    let Ok(vm) = Interpreter::new(&program, helpers()) else {
        return;
    };
    let vm = vm.with_budget(Some(u64::from(budget) * 100 + 1));
    let interpreted = observe(&vm, mem);
    let Ok(jit) = vm.with_jit() else { return };
    assert_eq!(
        observe(&jit, mem),
        interpreted,
        "the JIT disagrees with the interpreter"
    );
});
