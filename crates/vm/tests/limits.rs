//! The instruction budget, running off the end, and sharing an interpreter.

mod common;

use common::*;
use visor_isa::{Insn, JmpCond, Program, Source, Width};
use visor_vm::{Helpers, Interpreter, VmError};

fn with_budget(insns: Vec<Insn>, budget: Option<u64>) -> Result<u64, VmError> {
    Interpreter::new(&program(insns), Helpers::new())
        .unwrap()
        .with_budget(budget)
        .run(&mut [])
}

#[test]
fn the_budget_stops_an_endless_loop() {
    let error = with_budget(vec![mov(R0, 0), ja(-1), exit()], Some(1000)).unwrap_err();
    assert!(
        matches!(
            error,
            VmError::BudgetExhausted {
                pc: 1,
                budget: 1000
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "instruction 1: instruction budget of 1000 exhausted"
    );
}

#[test]
fn the_budget_counts_executed_instructions_exactly() {
    let three = vec![mov(R0, 1), mov(R0, 2), exit()];
    assert_eq!(with_budget(three.clone(), Some(3)).unwrap(), 2);
    let error = with_budget(three, Some(2)).unwrap_err();
    assert!(matches!(
        error,
        VmError::BudgetExhausted { pc: 2, budget: 2 }
    ));
    assert!(with_budget(vec![exit()], Some(0)).is_err());
    // A loop of 1000 iterations fits in an unlimited budget.
    let counted = vec![
        mov(R1, 1000),
        add(R1, -1),
        jump(Width::W64, JmpCond::Ne, R1, Source::Imm(0), -2),
        exit(),
    ];
    assert!(with_budget(counted.clone(), None).is_ok());
    assert!(with_budget(counted.clone(), Some(2001)).is_err());
    assert!(with_budget(counted, Some(2002)).is_ok());
}

#[test]
fn running_off_the_end_is_an_error() {
    let error = run(vec![mov(R0, 1), mov(R0, 2)]).unwrap_err();
    assert!(matches!(error, VmError::FellOffEnd { pc: 2 }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "execution fell off the end of the program at slot 2 without exit"
    );
    // Falling through after a not-taken final branch.
    let branch = run(vec![
        mov(R0, 0),
        jump(Width::W64, JmpCond::Eq, R0, Source::Imm(1), -2),
    ]);
    assert!(matches!(branch, Err(VmError::FellOffEnd { pc: 2 })));
}

#[test]
fn one_interpreter_serves_many_threads() {
    fn assert_sync_send<T: Sync + Send>() {}
    assert_sync_send::<Interpreter>();
    let vm = Interpreter::new(
        &Program::new(vec![load(visor_isa::Size::B, R0, R1, 0), exit()]).unwrap(),
        Helpers::new(),
    )
    .unwrap();
    std::thread::scope(|scope| {
        for n in 0..4u8 {
            let vm = &vm;
            scope.spawn(move || {
                let mut memory = [n];
                assert_eq!(vm.run(&mut memory).unwrap(), u64::from(n));
            });
        }
    });
}
