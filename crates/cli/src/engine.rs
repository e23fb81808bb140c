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

/// `--jit` / `--interp`: which engine runs the program.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct EngineFlags {
    /// Run natively with the x86-64 JIT; fail if it cannot compile the
    /// program (default: the JIT when it can, else the interpreter).
    #[arg(long, conflicts_with = "interp")]
    jit: bool,
    /// Run in the interpreter.
    #[arg(long)]
    interp: bool,
}

impl EngineFlags {
    /// The engine objects' programs run in.
    pub fn run_engine(self) -> visor_vm::engine::RunEngine {
        use visor_vm::engine::RunEngine;
        match (self.jit, self.interp) {
            (true, _) => RunEngine::Jit,
            (_, true) => RunEngine::Interpreter,
            _ => RunEngine::Auto,
        }
    }

    /// `vm` set up to run in the chosen engine.
    pub fn apply(self, mut vm: Interpreter) -> anyhow::Result<Interpreter> {
        if self.interp {
            return Ok(vm);
        }
        match vm.compile_jit() {
            Ok(()) => Ok(vm),
            Err(error) if self.jit => Err(error.into()),
            // Default: the interpreter runs what the JIT does not take.
            Err(_) => Ok(vm),
        }
    }
}

/// Runs `program` over `memory` with the conformance helpers.
pub fn run_conformance(
    program: &Program,
    memory: &mut [u8],
    engine: EngineFlags,
) -> anyhow::Result<u64> {
    let vm = Interpreter::new(program, conformance_helpers())?.with_budget(Some(DEFAULT_BUDGET));
    Ok(engine.apply(vm)?.run(memory)?)
}
