//! `bpf_loop` (helper 181): the interpreter calls a function of the program
//! with the index and a context, until it returns 1 or the count runs out.

use visor_isa::asm::{Syntax, assemble};
use visor_vm::{HelperEnv, Helpers, Interpreter, VmError};

/// Sums the indices the callback sees into a stack slot of the caller and
/// returns `sum * 1000 + r0 of bpf_loop`. The callback stops at `stop`.
fn summing_program(iterations: i64, stop: i64, flags: i64) -> String {
    format!(
        "
    r1 = 0
    *(u64 *)(r10 - 8) = r1
    r1 = {iterations} ll
    r2 = add_index ll
    r3 = r10
    r3 += -8
    r4 = {flags}
    call 181
    r6 = r0
    r0 = *(u64 *)(r10 - 8)
    r0 *= 1000
    r0 += r6
    exit
add_index:
    r3 = *(u64 *)(r2 + 0)
    r3 += r1
    *(u64 *)(r2 + 0) = r3
    r0 = 0
    if r1 != {stop} goto done
    r0 = 1
done:
    exit
"
    )
}

/// Runs `text` in the interpreter and, on x86-64, on the JIT (whose
/// helper calls go through its own service), which must agree.
fn run(text: &str) -> Result<u64, VmError> {
    let program = assemble(text, Syntax::Llvm).expect("test program assembles");
    let vm = || {
        let vm = Interpreter::new(&program, Helpers::standard(HelperEnv::default()));
        vm.map(|vm| vm.with_budget(Some(10_000_000)))
    };
    let interpreted = vm()?.run(&mut []);
    if visor_vm::jit::AVAILABLE {
        let jit = vm()?.with_jit().expect("the JIT takes it");
        let native = jit.run(&mut []).map_err(|e| e.to_string());
        assert_eq!(
            native,
            interpreted.as_ref().map_err(|e| e.to_string()).copied()
        );
    }
    interpreted
}

#[test]
fn the_callback_runs_until_it_returns_one() {
    // Indices 0 to 5 are summed (15); bpf_loop reports 6 calls.
    assert_eq!(run(&summing_program(10, 5, 0)).unwrap(), 15 * 1000 + 6);
}

#[test]
fn the_callback_runs_every_iteration_when_it_never_stops() {
    // 0 + 1 + ... + 99 = 4950, and 100 calls.
    assert_eq!(
        run(&summing_program(100, -1, 0)).unwrap(),
        4950 * 1000 + 100
    );
    assert_eq!(run(&summing_program(0, -1, 0)).unwrap(), 0);
}

#[test]
fn bad_arguments_fail_as_in_the_kernel() {
    let result = |text: &str| run(text).unwrap() % 1000;
    let negative = |errno: u64| (errno as i64).wrapping_neg() as u64 % 1000;
    // Flags must be 0: -EINVAL. Too many iterations: -E2BIG.
    assert_eq!(result(&summing_program(10, 5, 1)), negative(22));
    assert_eq!(result(&summing_program((1 << 23) + 1, 5, 0)), negative(7));
}

#[test]
fn a_callback_that_is_not_a_function_stops_the_program() {
    let text = "
    r1 = 3
    r2 = 0x1234
    r3 = 0
    r4 = 0
    call 181
    exit";
    let error = run(text).unwrap_err();
    assert!(
        error.to_string().contains("not a function address"),
        "{error}"
    );
}
