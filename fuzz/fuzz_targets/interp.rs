//! Random bytecode and input memory through the interpreter: decoding may
//! fail and runs may stop with an error, but nothing may panic or touch
//! memory outside the program's regions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use visor_isa::Program;
use visor_vm::{HelperOutcome, Helpers, Interpreter};

fuzz_target!(|data: &[u8]| {
    // First byte: how many 8-byte slots of input memory follow the program.
    let Some((&mem_slots, rest)) = data.split_first() else { return };
    let mem_len = (usize::from(mem_slots) * 8).min(rest.len());
    let (mem, code) = rest.split_at(mem_len);
    let Ok(program) = Program::decode(code) else { return };
    let mut helpers = Helpers::new();
    helpers.register(5, "unwind", |args, _| {
        Ok(if args[0] == 0 { HelperOutcome::Exit(0) } else { HelperOutcome::Return(args[0]) })
    });
    let Ok(vm) = Interpreter::new(&program, helpers) else { return };
    let mut memory = mem.to_vec();
    let _ = vm.with_budget(Some(10_000)).run(&mut memory);
});
