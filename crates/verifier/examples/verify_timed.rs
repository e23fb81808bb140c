//! Verifies every program of the objects given on the command line and
//! prints each verdict with its time and cost:
//! `cargo run --release -p visor-verifier --example verify_timed -- OBJ...`.

use std::time::Instant;
use visor_object::Object;
use visor_verifier::{object_env, verify};

fn main() {
    for path in std::env::args().skip(1) {
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("{path}: cannot read");
            continue;
        };
        let object = match Object::parse(&bytes) {
            Ok(object) => object,
            Err(error) => {
                eprintln!("{path}: {error}");
                continue;
            }
        };
        for program in object.programs() {
            let env = object_env(&object, program);
            let started = Instant::now();
            let result = verify(program.insns(), &env);
            let elapsed = started.elapsed();
            let verdict = match &result {
                Ok(stats) => format!(
                    "accepted ({} insns processed, {} states)",
                    stats.insns_processed, stats.states_stored
                ),
                Err(r) => format!("rejected [{}] at {}: {}", r.category, r.pc, r.message),
            };
            println!(
                "{path} {} ({} slots): {verdict} in {elapsed:.2?}",
                program.name(),
                program.insns().slot_len()
            );
        }
    }
}
