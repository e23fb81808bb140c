//! PREVAIL's YAML verifier cases (`../shared/verifier/prevail/*.yaml`)
//! through `visor_verifier::prevail`: prints every disagreement and `N
//! agree, M disagree`, checks the disagreements against the list in
//! `tests/prevail-disagreements.txt` (each with its reason; regenerate
//! with `VISOR_BLESS=1`), and asserts a floor.

use std::io::Write;
use std::path::PathBuf;

use visor_verifier::prevail::{parse_cases, run_case};

fn shared() -> PathBuf {
    std::env::var_os("VISOR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// The checked-in list of disagreements, one per line.
const DISAGREEMENTS: &str = "tests/prevail-disagreements.txt";

/// One disagreement as the list writes it: file, case, both verdicts, and
/// the reason (visor's diagnostic when it rejects, PREVAIL's first message
/// when PREVAIL does, or why the case could not be translated).
fn disagreement(stem: &str, case: &visor_verifier::prevail::Case) -> Option<String> {
    let verdict = |a: bool| if a { "accept" } else { "reject" };
    let expected = case.expects_accept();
    let prevail_says = case.messages.first().map(String::as_str).unwrap_or("");
    match run_case(case) {
        Ok((accepted, _)) if accepted == expected => None,
        Ok((accepted, why)) => {
            let reason = if accepted {
                prevail_says.to_owned()
            } else {
                why
            };
            Some(format!(
                "{stem}: {}: visor {}, PREVAIL {}: {reason}",
                case.name,
                verdict(accepted),
                verdict(expected)
            ))
        }
        Err(why) => Some(format!("{stem}: {}: not translated: {why}", case.name)),
    }
}

#[test]
fn prevail_cases_agree() {
    let dir = shared().join("verifier/prevail");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        let _ = writeln!(std::io::stderr(), "skipped: {} not found", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("test-schema.yaml"))
        .collect();
    files.sort();
    let (mut agree, mut found) = (0, Vec::new());
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let stem = file.file_stem().unwrap().to_string_lossy().to_string();
        for case in parse_cases(&text) {
            match disagreement(&stem, &case) {
                None => agree += 1,
                Some(line) => found.push(line),
            }
        }
    }
    for line in &found {
        println!("DISAGREE {line}");
    }
    let disagree = found.len();
    // Shown even when the test passes (the harness captures `println!`).
    let _ = writeln!(
        std::io::stderr(),
        "PREVAIL: {agree} agree, {disagree} disagree"
    );
    let total = agree + disagree;
    assert!(total > 0, "no cases found");
    assert!(
        agree * 100 >= total * FLOOR_PERCENT,
        "agreement {agree}/{total} below {FLOOR_PERCENT}%"
    );

    let listed_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DISAGREEMENTS);
    let current = found.join("\n") + "\n";
    if std::env::var_os("VISOR_BLESS").is_some() {
        std::fs::write(&listed_path, &current).unwrap();
        return;
    }
    let listed = std::fs::read_to_string(&listed_path).unwrap_or_default();
    let listed: Vec<&str> = listed.lines().collect();
    let new: Vec<_> = found
        .iter()
        .filter(|l| !listed.contains(&l.as_str()))
        .collect();
    let gone: Vec<_> = listed
        .iter()
        .filter(|l| !found.iter().any(|f| f == *l))
        .collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "{DISAGREEMENTS} is out of date (rerun with VISOR_BLESS=1 and review the diff):\n\
         new: {new:#?}\nno longer: {gone:#?}"
    );
}

/// The agreement this verifier reaches today, as a floor against regressions.
const FLOOR_PERCENT: usize = 90;
