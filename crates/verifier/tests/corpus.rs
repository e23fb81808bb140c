//! Every program of `../shared/objects/build`: the deliberately unsafe ones
//! must be rejected for the right reason, the others accepted. Prints a
//! table and the agreement counts. The rest of `../shared/objects` is
//! verified too and summarised (no expectations: those need the kernel's
//! verdicts).

use std::path::PathBuf;
use std::time::{Duration, Instant};
use visor_object::Object;
use visor_verifier::{Category, verify_object};

fn shared() -> PathBuf {
    std::env::var_os("VISOR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// The expected verdict per program: `None` accepts, `Some` rejects with
/// that category. Where PREVAIL's samples and the kernel differ, the kernel
/// wins: `divzero` (division by zero is defined), `bounded_loop` (1000
/// iterations fit the budget) and `infinite_loop` (clang replaced the loop
/// by a closed form) are accepted; `byteswap` (an inline `exit` leaves the
/// compiler's code unreachable) and `correlated_branch2` (a socket filter
/// calling `bpf_skb_store_bytes`) are rejected.
fn expected(stem: &str, program: &str) -> Option<Category> {
    match stem {
        "tail_call_bad" if program == "callee" => None,
        // `bpf_tail_call` returns nothing: the caller returns an unset r0
        // when the tail call fails (the kernel: "R0 !read_ok").
        "tail_call" if program == "caller" => Some(Category::UninitRegister),
        "byteswap" => Some(Category::ControlFlow),
        "correlated_branch" => Some(Category::PacketBounds),
        "correlated_branch2" => Some(Category::HelperNotAllowed),
        "badhelpercall" => Some(Category::OutOfBounds),
        "badmapptr" | "ptr_arith" => Some(Category::PointerArithmetic),
        "badrelo" | "externalfunction" => Some(Category::UnknownHelper),
        "exposeptr" | "exposeptr2" => Some(Category::PointerLeak),
        "mapoverflow" | "mapunderflow" => Some(Category::MapKeyOutOfRange),
        "mapvalue-overrun" => Some(Category::OutOfBounds),
        "nullmapref" => Some(Category::NullPointer),
        "packet_overflow" => Some(Category::PacketBounds),
        // A socket filter may not read `data_end` at all (the packet
        // invalidation it meant to test is covered by a unit test).
        "packet_reallocate" => Some(Category::ContextAccess),
        // A lookup in the ring buffer the outer map holds.
        "ringbuf_in_map" => Some(Category::HelperArgument),
        "ringbuf_uninit" => Some(Category::UninitStack),
        "tail_call_bad" | "ctxoffset" => Some(Category::HelperArgument),
        "wronghelper" => Some(Category::HelperNotAllowed),
        // Division by zero is defined in eBPF (the kernel accepts it).
        _ => None,
    }
}

#[test]
fn build_objects_are_judged_for_the_right_reason() {
    let dir = shared().join("objects/build");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        summary(format_args!("skipped: {} not found", dir.display()));
        return;
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .collect();
    paths.sort();
    let (mut agree, mut disagree) = (0, 0);
    let mut wrong = Vec::new();
    println!(
        "{:<28} {:<28} {:<22} {:<22} verdict",
        "object", "program", "expected", "visor"
    );
    for path in &paths {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(path).unwrap();
        let object = match Object::parse(&bytes) {
            Ok(object) => object,
            Err(error) => {
                println!("{stem:<28} (does not parse: {error})");
                continue;
            }
        };
        let report = verify_object(&object, None);
        for program in &report.programs {
            let want = expected(&stem, &program.name);
            let got = program.result.as_ref().err().map(|r| r.category);
            let ok = want == got;
            let show =
                |c: Option<Category>| c.map_or("accept".to_string(), |c| format!("reject {c}"));
            println!(
                "{stem:<28} {:<28} {:<22} {:<22} {}",
                program.name,
                show(want),
                show(got),
                if ok { "agree" } else { "DISAGREE" }
            );
            if ok {
                agree += 1;
            } else {
                disagree += 1;
                if let Err(r) = &program.result {
                    println!("{r}");
                }
                wrong.push(format!("{stem}/{}", program.name));
            }
        }
    }
    println!("build corpus: {agree} agree, {disagree} disagree");
    assert!(wrong.is_empty(), "disagreements: {wrong:?}");
}

#[test]
fn the_whole_corpus_is_verified_without_panics() {
    let root = shared().join("objects");
    let objects = corpus_objects(&root);
    if objects.is_empty() {
        summary(format_args!("skipped: no objects under {}", root.display()));
        return;
    }
    let (mut accepted, mut rejected) = (0, 0);
    let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
    for path in &objects {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let Ok(object) = Object::parse(&bytes) else {
            continue;
        };
        let started = std::time::Instant::now();
        let report = verify_object(&object, None);
        let accepted_here = report.programs.iter().filter(|p| p.result.is_ok()).count();
        println!(
            "{}: {accepted_here}/{} accepted in {:.2?}",
            path.strip_prefix(&root).unwrap_or(path).display(),
            report.programs.len(),
            started.elapsed()
        );
        for program in report.programs {
            match program.result {
                Ok(_) => accepted += 1,
                Err(r) => {
                    rejected += 1;
                    *reasons.entry(r.category.name()).or_default() += 1;
                }
            }
        }
    }
    println!(
        "whole corpus: {} objects, {accepted} programs accepted, {rejected} rejected",
        objects.len()
    );
    for (reason, count) in reasons {
        println!("  rejected for {reason}: {count}");
    }
}

/// Every object of the corpus folders under `root`, sorted.
fn corpus_objects(root: &std::path::Path) -> Vec<PathBuf> {
    let mut objects = Vec::new();
    let folders = [
        "build",
        "linux",
        "new_linux",
        "prototype-kernel",
        "suricata",
        "ovs",
        "cilium-core",
        "cilium-examples",
    ];
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(root.join(folder)) else {
            continue;
        };
        objects.extend(
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "o")),
        );
    }
    objects.sort();
    objects
}

/// The running kernel's verdict on every program it can load, compared
/// with visor's. Programs the kernel refuses for reasons other than its
/// verifier (unknown program type, missing feature, map creation) are
/// listed, not counted.
/// Helpers the kernel offers only in some configurations: its verifier then
/// refuses them as unknown to the program type ("program of this type
/// cannot use helper"), a missing feature rather than a verdict on the
/// program. `None` when `summary` is not such a refusal.
fn config_dependent_helper(summary: &str) -> Option<&'static str> {
    const HELPERS: [(&str, &str); 2] = [
        (
            "bpf_override_return",
            "bpf_override_return needs CONFIG_BPF_KPROBE_OVERRIDE",
        ),
        (
            "bpf_probe_write_user",
            "bpf_probe_write_user is withheld under kernel lockdown",
        ),
    ];
    if !summary.contains("program of this type cannot use helper") {
        return None;
    }
    HELPERS
        .iter()
        .find(|(helper, _)| summary.contains(helper))
        .map(|&(_, feature)| feature)
}

#[test]
fn verdicts_agree_with_the_running_kernel() {
    use visor_kernel::{LoadOptions, LoadedObject, Rejection as Why};
    let root = shared().join("objects");
    let objects = corpus_objects(&root);
    if objects.is_empty() {
        summary(format_args!("skipped: no objects under {}", root.display()));
        return;
    }
    let options = LoadOptions {
        keep_going: true,
        ..LoadOptions::default()
    };
    // Cilium's objects are also counted apart.
    let mut tallies = [Tally::default(), Tally::default()];
    let mut not_counted = 0;
    let mut permission = false;
    // Wall time of the kernel's load calls (maps and BTF included, so an
    // upper bound on its verification) and of visor's verdicts, over the
    // objects the kernel loaded.
    let (mut kernel_time, mut visor_time) = (Duration::ZERO, Duration::ZERO);
    for path in &objects {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let Ok(object) = Object::parse(&bytes) else {
            continue;
        };
        let name = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let started = Instant::now();
        let loaded = match LoadedObject::load_parsed(&object, &bytes, &options) {
            Ok(loaded) => {
                kernel_time += started.elapsed();
                loaded
            }
            Err(error) => {
                if error.to_string().contains("ermission") {
                    permission = true;
                }
                println!(
                    "{name}: not loaded by the kernel ({}): not counted",
                    error.category()
                );
                not_counted += object.programs().len();
                continue;
            }
        };
        let report = verify_object(&object, None);
        visor_time += report.programs.iter().map(|p| p.elapsed).sum::<Duration>();
        for program in &report.programs {
            let kernel_ok = loaded.program(&program.name).is_some();
            let failure = loaded.failures().iter().find(|f| f.name == program.name);
            if let Some(f) = failure {
                let summary = f
                    .error
                    .verifier_log()
                    .map(|l| l.summary().to_string())
                    .unwrap_or_default();
                if let Some(feature) = config_dependent_helper(&summary) {
                    println!(
                        "{name}/{}: kernel: {feature} (missing kernel feature, not counted)",
                        program.name
                    );
                    not_counted += 1;
                    continue;
                }
                if f.error.category() != Why::VerifierRejection {
                    println!(
                        "{name}/{}: kernel: {} (not counted)",
                        program.name,
                        f.error.category()
                    );
                    not_counted += 1;
                    continue;
                }
            } else if !kernel_ok {
                not_counted += 1;
                continue;
            }
            let visor_ok = program.result.is_ok();
            tallies[usize::from(name.starts_with("cilium"))].count(kernel_ok, visor_ok);
            if kernel_ok != visor_ok {
                let why = match &program.result {
                    Err(r) => format!("{}: {}", r.category, r.message),
                    Ok(_) => {
                        let log = failure
                            .and_then(|f| f.error.verifier_log())
                            .map(|l| l.summary().to_string())
                            .unwrap_or_default();
                        format!("kernel says: {}", log.lines().last().unwrap_or(""))
                    }
                };
                println!(
                    "{name}/{}: kernel {}, visor {}: {why}",
                    program.name,
                    if kernel_ok { "accepts" } else { "rejects" },
                    if visor_ok { "accepts" } else { "rejects" }
                );
            }
        }
    }
    let [core, cilium] = tallies;
    if permission && core.total() + cilium.total() == 0 {
        summary(format_args!("skipped: no privilege to load programs"));
        return;
    }
    let all = core.plus(cilium);
    summary(format_args!(
        "kernel agreement: {all}, {not_counted} programs not counted"
    ));
    if cilium.total() > 0 {
        summary(format_args!("of which Cilium: {cilium}; the rest: {core}"));
    }
    summary(format_args!(
        "time over the objects the kernel loaded: visor {:.1} ms, kernel {:.1} ms (load calls' wall time)",
        visor_time.as_secs_f64() * 1e3,
        kernel_time.as_secs_f64() * 1e3
    ));
    // The goals: every kernel rejection shared, 95% of its acceptances.
    assert_eq!(
        all.reject_agree, all.reject_total,
        "visor accepts what the kernel rejects"
    );
    assert!(
        all.accept_agree * 100 >= all.accept_total * 95,
        "visor rejects too much of what the kernel accepts: {all}"
    );
}

/// A line shown even when the test passes: the harness captures
/// `println!`, not writes to the standard error handle.
fn summary(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Verdicts compared with the kernel's.
#[derive(Clone, Copy, Default)]
struct Tally {
    accept_agree: usize,
    accept_total: usize,
    reject_agree: usize,
    reject_total: usize,
}

impl Tally {
    fn count(&mut self, kernel_ok: bool, visor_ok: bool) {
        if kernel_ok {
            self.accept_total += 1;
            self.accept_agree += usize::from(visor_ok);
        } else {
            self.reject_total += 1;
            self.reject_agree += usize::from(!visor_ok);
        }
    }

    fn total(&self) -> usize {
        self.accept_total + self.reject_total
    }

    fn plus(self, other: Tally) -> Tally {
        Tally {
            accept_agree: self.accept_agree + other.accept_agree,
            accept_total: self.accept_total + other.accept_total,
            reject_agree: self.reject_agree + other.reject_agree,
            reject_total: self.reject_total + other.reject_total,
        }
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "accepts {}/{}, rejects {}/{}",
            self.accept_agree, self.accept_total, self.reject_agree, self.reject_total
        )
    }
}
