//! Whole objects in the running kernel: the bundled examples (which must
//! all load), the reference corpus (a table of what the kernel accepts and
//! why not), test runs through the loaded maps, and auto-attach.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{bpf_available, chain, udp_frame};
use visor_kernel::{
    AttachOptions, AttachOutcome, BtfStatus, LoadOptions, LoadedObject, Rejection, TestRun,
};

const EXAMPLES: [&str; 5] = ["hello", "count", "net", "tcp80", "tailcall"];

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../examples/{name}.bpf.o"))
}

fn shared() -> PathBuf {
    std::env::var_os("VISOR_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    )
}

fn load_example(name: &str) -> LoadedObject {
    let bytes = std::fs::read(example(name)).unwrap();
    LoadedObject::load(&bytes, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{name}.bpf.o: {}", chain(&e)))
}

#[test]
fn every_example_loads() {
    if !bpf_available("every_example_loads") {
        return;
    }
    for name in EXAMPLES {
        let loaded = load_example(name);
        let btf = match loaded.btf() {
            BtfStatus::Loaded(_) => "loaded".to_owned(),
            BtfStatus::Rejected(e) => format!("rejected: {}", chain(e)),
            BtfStatus::Absent => "absent".to_owned(),
            BtfStatus::Skipped => "skipped".to_owned(),
        };
        let programs: Vec<_> = loaded.programs().iter().map(|p| p.name()).collect();
        let maps: Vec<_> = loaded.maps().iter().map(|m| m.name()).collect();
        println!("{name}: programs {programs:?}, maps {maps:?}, BTF {btf}");
        assert!(!programs.is_empty(), "{name} has programs");
        assert!(
            matches!(loaded.btf(), BtfStatus::Loaded(_)),
            "{name}: the kernel takes clang's BTF ({btf})"
        );
    }
}

/// The TC example classifies a UDP packet and counts it in its hash map.
#[test]
fn net_counts_a_test_run_packet() {
    if !bpf_available("net_counts_a_test_run_packet") {
        return;
    }
    let loaded = load_example("net");
    let classify = loaded.program("classify").expect("net has classify");
    let run = classify
        .fd()
        .test_run(&TestRun::new(&udp_frame(64)))
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(run.retval, 0, "TC_ACT_OK");
    let packets = loaded.map("packets").expect("net has packets").fd();
    // struct flow_key { u8 family; u8 protocol; u16 port; }, port in host order.
    let mut key = vec![4, 17];
    key.extend_from_slice(&5678u16.to_ne_bytes());
    let value = packets
        .lookup(&key)
        .unwrap()
        .expect("the packet was counted");
    assert_eq!(u64::from_ne_bytes(value.try_into().unwrap()), 1);
}

/// The prog array's slots come from the object: the dispatcher's tail
/// call lands in the UDP handler.
#[test]
fn tailcall_slots_are_filled_from_the_object() {
    if !bpf_available("tailcall_slots_are_filled_from_the_object") {
        return;
    }
    let loaded = load_example("tailcall");
    let dispatch = loaded.program("dispatch").unwrap();
    let run = dispatch
        .fd()
        .test_run(&TestRun::new(&udp_frame(64)))
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(run.retval, 0);
    let per_protocol = loaded.map("per_protocol").unwrap().fd();
    let udp_slot = 2u32;
    let value = per_protocol
        .lookup(&udp_slot.to_ne_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(u64::from_ne_bytes(value.try_into().unwrap()), 1);
}

/// Attaching by section: count.bpf.o's tracepoint sees the clones of a
/// shell that forks, and detaching on drop stops the counting.
#[test]
fn count_attaches_and_counts_clones() {
    if !bpf_available("count_attaches_and_counts_clones") {
        return;
    }
    let loaded = load_example("count");
    let outcomes = loaded.attach_all(&AttachOptions::default());
    let attached: Vec<_> = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            AttachOutcome::Attached(a) => a,
            other => panic!("count_clones attaches: {other:?}"),
        })
        .collect();
    assert_eq!(attached.len(), 1);
    assert_eq!(attached[0].target(), "tracepoint syscalls:sys_enter_clone");
    // bash forks (glibc's fork is clone(2), not clone3) for each external
    // command; `exit` keeps it from exec'ing the last one in place.
    let status = std::process::Command::new("bash")
        .args(["-c", "/bin/true; /bin/true; /bin/true; exit 0"])
        .status()
        .unwrap();
    assert!(status.success());
    let counts = loaded.map("counts").unwrap().fd();
    let total: u64 = counts
        .keys()
        .map(|key| {
            let value = counts.lookup(&key.unwrap()).unwrap().unwrap();
            u64::from_ne_bytes(value.try_into().unwrap())
        })
        .sum();
    println!("clones counted: {total}");
    assert!(total >= 3, "three forks at least, counted {total}");
    drop(attached);
    std::thread::sleep(Duration::from_millis(10));
}

/// The programs of an object, each with how it fared.
type ObjectRow = (String, Vec<(String, Result<(), Rejection>)>);

/// Loads every object of the reference corpus and prints a table of what
/// the kernel accepted, and the kind of reason for what it did not.
#[test]
fn corpus_load_table() {
    if !bpf_available("corpus_load_table") {
        return;
    }
    let root = shared().join("objects");
    if !root.is_dir() {
        println!("skipped: corpus_load_table: no {}", root.display());
        return;
    }
    let mut files = Vec::new();
    collect_objects(&root, &mut files);
    files.sort();
    let mut rows: Vec<ObjectRow> = Vec::new();
    let options = LoadOptions {
        keep_going: true,
        ..LoadOptions::default()
    };
    for path in &files {
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        let bytes = std::fs::read(path).unwrap();
        let programs = match LoadedObject::load(&bytes, &options) {
            Ok(loaded) => {
                let mut programs: Vec<_> = loaded
                    .programs()
                    .iter()
                    .map(|p| (p.name().to_owned(), Ok(())))
                    .collect();
                programs.extend(loaded.failures().iter().map(|f| {
                    println!("  {name}: {}: {}", f.name, chain(&f.error));
                    (f.name.clone(), Err(f.error.category()))
                }));
                programs
            }
            Err(error) => {
                println!("  {name}: {}", chain(&error));
                vec![("(object)".to_owned(), Err(error.category()))]
            }
        };
        rows.push((name, programs));
    }
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    let (mut objects_ok, mut programs_ok, mut programs_total) = (0, 0, 0);
    println!(
        "{:<60} {:>9} {:>9}  reasons",
        "object", "accepted", "rejected"
    );
    for (name, programs) in &rows {
        let accepted = programs.iter().filter(|p| p.1.is_ok()).count();
        let mut reasons: Vec<String> = programs
            .iter()
            .filter_map(|p| p.1.err().map(|r| r.to_string()))
            .collect();
        reasons.dedup();
        for reason in &reasons {
            *by_reason.entry(reason.clone()).or_default() += 1;
        }
        programs_ok += accepted;
        programs_total += programs.len();
        if accepted == programs.len() {
            objects_ok += 1;
        }
        println!(
            "{name:<60} {accepted:>9} {:>9}  {}",
            programs.len() - accepted,
            reasons.join(", ")
        );
    }
    println!(
        "summary: {objects_ok}/{} objects load whole; {programs_ok}/{programs_total} programs accepted",
        rows.len()
    );
    for (reason, objects) in &by_reason {
        println!("  {reason}: {objects} objects");
    }
    assert!(programs_ok > 0, "the kernel accepts some corpus programs");
}

fn collect_objects(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_objects(&path, out);
        } else if path.extension().is_some_and(|e| e == "o") {
            out.push(path);
        }
    }
}

/// `tests/bpf/kfunc_sum.bpf.c` calls the `bpf_iter_num_*` kfuncs: each call
/// gets its function's id in the kernel's BTF, and the program sums 0..10.
#[test]
fn kfunc_calls_get_their_kernel_btf_ids() {
    if !bpf_available("kfunc_calls_get_their_kernel_btf_ids") {
        return;
    }
    if !Path::new(visor_kernel::VMLINUX_BTF).exists() {
        println!("skipped: kfunc_calls_get_their_kernel_btf_ids: no kernel BTF");
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bpf/kfunc_sum.bpf.o");
    let bytes = std::fs::read(path).unwrap();
    let loaded = LoadedObject::load(&bytes, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let program = loaded.program("sum_to_ten").unwrap();
    let run = program
        .fd()
        .test_run(&TestRun::new(&udp_frame(64)))
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(run.retval, 45);
}
