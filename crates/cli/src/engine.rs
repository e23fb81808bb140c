//! The userspace engine as the subcommands set it up.

use visor_isa::Program;
use visor_vm::{HelperOutcome, Helpers, Interpreter};

/// Instructions a program may execute before `run` and `exec` stop it.
pub const DEFAULT_BUDGET: u64 = 100_000_000;

/// The helpers the bpf_conformance suite expects.
pub fn conformance_helpers() -> Helpers {
    let mut helpers = Helpers::new();
    // Helper 5, "unwind": returns its argument; 0 ends the whole program with r0 = 0.
    helpers.register(5, "unwind", |args, _| {
        Ok(match args[0] {
            0 => HelperOutcome::Exit(0),
            value => HelperOutcome::Return(value),
        })
    });
    helpers
}

/// Runs `program` over `memory` with the conformance helpers.
pub fn run_conformance(program: &Program, memory: &mut [u8]) -> anyhow::Result<u64> {
    let vm = Interpreter::new(program, conformance_helpers())?.with_budget(Some(DEFAULT_BUDGET));
    Ok(vm.run(memory)?)
}
