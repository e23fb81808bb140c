//! `apply.json`: filters run over the captures in `../shared/filters/pcaps`
//! with the checked-program interpreter, and translated to eBPF on the JIT
//! (`visor filter`'s default); each packet's return value must be
//! libpcap's, for both the optimized and the unoptimized program.

/// `$VISOR_SHARED/filters`, else `../shared/filters` beside the repository.
fn filters_dir() -> std::path::PathBuf {
    std::env::var_os("VISOR_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("filters")
}

use visor_filter::capture::Capture as CaptureFile;
use visor_filter::compile::{
    ByteOrder, Capture, CompileOptions, LinkType, NameDb, NameFiles, Optimize, compile,
};
use visor_filter::{Packet, Rules, check_with, run, to_ebpf};
use visor_vm::{Helpers, Interpreter, RunInput, Session};

#[test]
fn apply_cases_match_libpcap_per_packet() {
    let path = filters_dir().join("apply.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: {} is missing (set VISOR_SHARED)", path.display());
        return;
    };
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).expect("valid JSON");
    let (mut pass, mut opt_pass, mut failures) = (0, 0, Vec::new());
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        let file = case["savefile"].as_str().unwrap_or("");
        let expr = case["expression"].as_str().unwrap_or("");
        let want: Vec<u64> = case["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_u64())
            .collect();
        let netmask = case["netmask"]
            .as_str()
            .and_then(|m| m.parse::<std::net::Ipv4Addr>().ok())
            .map(u32::from);
        for (optimize, passed) in [(Optimize::Off, &mut pass), (Optimize::On, &mut opt_pass)] {
            match results(file, expr, netmask, optimize) {
                Ok(got) if got.iter().map(|&r| u64::from(r)).eq(want.iter().copied()) => {
                    *passed += 1
                }
                Ok(got) => failures.push(format!(
                    "{name} ({optimize:?}): {expr:?} on {file}: got {got:?}, want {want:?}"
                )),
                Err(e) => failures.push(format!("{name} ({optimize:?}): {expr:?} on {file}: {e}")),
            }
        }
    }
    for f in &failures {
        eprintln!("apply failure: {f}");
    }
    eprintln!(
        "apply (unoptimized): {pass}/{} cases match on every packet; optimized: {opt_pass}/{}",
        cases.len(),
        cases.len()
    );
    assert!(pass >= APPLY_FLOOR, "apply regressed: {pass}");
    assert!(
        opt_pass >= APPLY_OPT_FLOOR,
        "apply (optimized) regressed: {opt_pass}"
    );
}

/// Cases passing so far (raise as the compiler improves).
const APPLY_FLOOR: usize = 148;
const APPLY_OPT_FLOOR: usize = 130;

fn results(
    file: &str,
    expr: &str,
    netmask: Option<u32>,
    optimize: Optimize,
) -> Result<Vec<u32>, String> {
    let path = filters_dir().join("pcaps").join(file);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let capture = CaptureFile::parse(&bytes).map_err(|e| e.to_string())?;
    let dlt = capture.linktype().ok_or("no interface")?;
    let linktype = LinkType::from_dlt(dlt).ok_or(format!("link type {dlt} not supported"))?;
    let mut opts = CompileOptions::new(linktype);
    opts.snaplen = capture.snaplen();
    opts.optimize = optimize;
    opts.netmask = netmask;
    let names = filters_dir().join("names");
    let (hosts, ethers, networks) = (
        names.join("hosts"),
        names.join("ethers"),
        names.join("networks"),
    );
    opts.names = NameDb::from_files(&NameFiles {
        hosts: Some(&hosts),
        ethers: Some(&ethers),
        networks: Some(&networks),
    });
    opts.capture = Capture::Savefile(if capture.swapped() {
        ByteOrder::Swapped
    } else {
        ByteOrder::Native
    });
    let program = compile(expr, &opts).map_err(|e| e.to_string())?;
    let checked = check_with(&program, Rules::Libpcap).map_err(|e| e.to_string())?;
    // The eBPF translation on the JIT, as `visor filter` runs it, must
    // agree packet by packet.
    let mut vm = Interpreter::new(&to_ebpf(&checked), Helpers::new()).map_err(|e| e.to_string())?;
    let _interpreter_where_no_jit = vm.compile_jit();
    let mut session = Session::new(&vm);
    capture
        .map(|record| {
            let r = record.map_err(|e| e.to_string())?;
            let cbpf = run(&checked, Packet::new(r.data, r.orig_len));
            let input = RunInput::readonly(r.data).with_length(u64::from(r.orig_len));
            match session.run(input) {
                Ok(r0) if r0 == u64::from(cbpf) => Ok(cbpf),
                ebpf => Err(format!("cBPF returns {cbpf}, its eBPF on the JIT {ebpf:?}")),
            }
        })
        .collect()
}
