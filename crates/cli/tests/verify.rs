//! `visor verify --prevail`: PREVAIL's YAML cases run directly, each with
//! both verdicts, and the tally last.

use std::process::Command;

const CASES: &str = r#"---
test-case: a set register is returned

pre: []

code:
  <start>: |
    r0 = 0
    exit

post: []
---
test-case: an unset register is returned

pre: []

code:
  <start>: |
    r0 = r5
    exit

post: []

messages:
  - "0: Invalid type (r5.type in {number, ctx, stack, packet, shared})"
---
test-case: a case visor and PREVAIL see differently

pre: []

code:
  <start>: |
    r0 = 0
    exit

post: []

messages:
  - "made up: PREVAIL would reject this"
"#;

#[test]
fn prevail_cases_print_both_verdicts_and_the_tally() {
    let path = std::env::temp_dir().join(format!("visor-prevail-{}.yaml", std::process::id()));
    std::fs::write(&path, CASES).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_visor"))
        .args(["verify", "--prevail"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "a set register is returned: visor accept, expected accept",
            "an unset register is returned: visor reject, expected reject",
            "a case visor and PREVAIL see differently: visor accept, expected reject: DISAGREE (made up: PREVAIL would reject this)",
            "2 agree, 1 disagree",
        ]
    );
    assert!(!output.status.success(), "a disagreement fails the command");
}
