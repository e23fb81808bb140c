//! The compiler against libpcap master's expectations in
//! `../shared/filters`: every expression of `accept.json` (the unoptimized
//! and the optimized listing; an `opt` of null must fail with "expression
//! rejects all packets") and every case of `reject.json`. Pass rates are printed per link
//! type; the floors asserted are the rates reached, so regressions fail.

/// `$VISOR_SHARED/filters`, else `../shared/filters` beside the repository.
fn filters_dir() -> std::path::PathBuf {
    std::env::var_os("VISOR_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("filters")
}

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use visor_filter::compile::{
    ByteOrder, Capture, CompileOptions, LinkType, NameDb, NameFiles, Optimize, compile,
};
use visor_isa::cbpf::{Format, Listing};

fn load(name: &str) -> Option<Vec<serde_json::Value>> {
    let path = filters_dir().join(name);
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: {} is missing (set VISOR_SHARED)", path.display());
        return None;
    };
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    Some(json.as_array().expect("a list").clone())
}

/// Name databases from `names/`, as the `skip` notes ask.
fn test_names() -> NameDb {
    let dir = filters_dir().join("names");
    let (hosts, ethers, networks) = (dir.join("hosts"), dir.join("ethers"), dir.join("networks"));
    NameDb::from_files(&NameFiles {
        hosts: Some(&hosts),
        ethers: Some(&ethers),
        networks: Some(&networks),
    })
}

fn options(block: &serde_json::Value, names: &NameDb) -> Option<CompileOptions> {
    let linktype = LinkType::from_name(block["dlt"].as_str()?)?;
    let mut opts = CompileOptions::new(linktype);
    opts.names = names.clone();
    if let Some(s) = block["snaplen"].as_u64() {
        opts.snaplen = s as u32;
    }
    if let Some(m) = block["netmask"].as_str() {
        opts.netmask = m.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
    }
    if block["linuxext"].as_u64() == Some(1) {
        opts.capture = Capture::LinuxLive;
    }
    match block["generate_offline_filter"].as_str() {
        Some("swapped") => opts.capture = Capture::Savefile(ByteOrder::Swapped),
        Some(_) => opts.capture = Capture::Savefile(ByteOrder::Native),
        None => {}
    }
    Some(opts)
}

#[derive(Default)]
struct Tally {
    pass: usize,
    total: usize,
}

fn report(what: &str, tallies: &BTreeMap<String, Tally>) -> (usize, usize) {
    let (pass, total) = tallies
        .values()
        .fold((0, 0), |(p, t), x| (p + x.pass, t + x.total));
    let per: Vec<String> = tallies
        .iter()
        .map(|(k, t)| format!("{k} {}/{}", t.pass, t.total))
        .collect();
    eprintln!("{what}: {}; total {pass}/{total}", per.join(" "));
    (pass, total)
}

#[test]
fn accept_unoptimized_listings() {
    let Some(blocks) = load("accept.json") else {
        return;
    };
    let names = test_names();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut opt_tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut opt_failures = Vec::new();
    let mut not_linux: BTreeMap<String, usize> = BTreeMap::new();
    for block in &blocks {
        let name = block["name"].as_str().unwrap_or("?");
        if name == "bpf_image" || block["skip"].as_str() == Some("little-endian") {
            continue;
        }
        if let Some(why) = other_platform(block) {
            let n = block["expressions"].as_array().map_or(0, Vec::len);
            *not_linux.entry(why).or_default() += n;
            continue;
        }
        let dlt = block["dlt"].as_str().unwrap_or("?").to_owned();
        let want = block["unopt"].as_str().unwrap_or("");
        for expr in block["expressions"].as_array().into_iter().flatten() {
            let expr = expr.as_str().unwrap_or("");
            check_optimized(block, expr, &names, &mut opt_tallies, &mut opt_failures);
            let tally = tallies.entry(dlt.clone()).or_default();
            tally.total += 1;
            let got = match options(block, &names) {
                None => Err(format!("link type {dlt} not supported")),
                Some(opts) => compile(expr, &opts)
                    .map(|p| Listing::new(&p, Format::Image).to_string())
                    .map_err(|e| e.to_string()),
            };
            match got {
                Ok(text) if text.trim_end() == want.trim_end() => tally.pass += 1,
                Ok(text) => failures.push(format!(
                    "{name} [{dlt}] {expr:?}: listing differs\n--- got\n{text}--- want\n{want}\n"
                )),
                Err(e) => failures.push(format!("{name} [{dlt}] {expr:?}: {e}")),
            }
        }
    }
    if let Ok(path) = std::env::var("VISOR_FILTER_FAILURES") {
        std::fs::write(path, failures.join("\n")).expect("failure log written");
    }
    if let Ok(path) = std::env::var("VISOR_FILTER_OPT_FAILURES") {
        std::fs::write(path, opt_failures.join("\n")).expect("failure log written");
    }
    let (pass, total) = report("accept unopt", &tallies);
    for (why, n) in &not_linux {
        eprintln!("accept unopt: not applicable on Linux: {n} expressions ({why})");
    }
    let (opt_pass, opt_total) = report("accept opt", &opt_tallies);
    for (core, floor) in OPT_CORE_FLOORS {
        let passed = opt_tallies.get(core).map_or(0, |t| t.pass);
        assert!(
            passed >= floor,
            "{core} (opt) regressed: {passed} < {floor}"
        );
    }
    assert!(
        opt_pass >= OPT_ACCEPT_FLOOR,
        "accept opt regressed: {opt_pass}/{opt_total}"
    );
    for (core, floor) in CORE_FLOORS {
        let passed = tallies.get(core).map_or(0, |t| t.pass);
        assert!(passed >= floor, "{core} regressed: {passed} < {floor}");
    }
    assert!(
        pass >= ACCEPT_FLOOR,
        "accept unopt regressed: {pass}/{total}"
    );
}

/// Why a block's expected program is another platform's, if it is. The
/// blocks' names carry the platform constant that TESTrun selects them by:
/// `link_proto_ip6_28LE_NULL` expects `AF_INET6` = 28 (FreeBSD) in a live
/// NULL header, `ip6_28_index_PFLOG` the same in PFLOG's, and
/// `igrp_88` expects `IPPROTO_IGRP` = 88, where Linux has no such constant
/// and libpcap falls back to 9. Offline (savefile) blocks use libpcap's
/// fixed BSD values and apply everywhere.
fn other_platform(block: &serde_json::Value) -> Option<String> {
    let name = block["name"].as_str()?;
    if name.starts_with("igrp_88") {
        return Some("IPPROTO_IGRP = 88; libpcap uses 9 on Linux".to_owned());
    }
    if block["generate_offline_filter"].is_string() {
        return None;
    }
    // PFLOG's `ip6[...]`, `icmp6[...]` and `udp[...]` blocks carry the
    // address family the same way: `ip6_28_index_PFLOG`.
    let pflog_index = |prefix: &str| {
        name.strip_prefix(prefix)
            .filter(|rest| rest.ends_with("_index_PFLOG"))
    };
    let (family, linux, rest) = if let Some(rest) = name.strip_prefix("link_proto_ip6_") {
        ("AF_INET6", 10, rest)
    } else if let Some(rest) = name.strip_prefix("link_proto_ip_") {
        ("AF_INET", 2, rest)
    } else if let Some(rest) = pflog_index("ip6_").or_else(|| pflog_index("icmp6_")) {
        ("AF_INET6", 10, rest)
    } else if let Some(rest) = pflog_index("udp_") {
        ("AF_INET", 2, rest)
    } else {
        return None;
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let value: u32 = digits.parse().ok()?;
    (value != linux).then(|| format!("{family} = {value}; Linux has {linux}"))
}

/// The optimized listing of `expr` against the block's `opt`.
fn check_optimized(
    block: &serde_json::Value,
    expr: &str,
    names: &NameDb,
    tallies: &mut BTreeMap<String, Tally>,
    failures: &mut Vec<String>,
) {
    let name = block["name"].as_str().unwrap_or("?");
    let dlt = block["dlt"].as_str().unwrap_or("?").to_owned();
    let tally = tallies.entry(dlt.clone()).or_default();
    tally.total += 1;
    let got = match options(block, names) {
        None => Err(format!("link type {dlt} not supported")),
        Some(mut opts) => {
            opts.optimize = Optimize::On;
            compile(expr, &opts)
                .map(|p| Listing::new(&p, Format::Image).to_string())
                .map_err(|e| e.to_string())
        }
    };
    match (block["opt"].as_str(), got) {
        (Some(want), Ok(text)) if text.trim_end() == want.trim_end() => tally.pass += 1,
        (None, Err(e)) if e.contains("expression rejects all packets") => tally.pass += 1,
        (Some(want), Ok(text)) => failures.push(format!(
            "{name} [{dlt}] {expr:?}: listing differs\n--- got\n{text}--- want\n{want}\n"
        )),
        (None, Ok(text)) => failures.push(format!(
            "{name} [{dlt}] {expr:?}: compiled, want rejects all packets\n{text}"
        )),
        (_, Err(e)) => failures.push(format!("{name} [{dlt}] {expr:?}: {e}")),
    }
}

/// Optimized floors reached so far: every case passes.
const OPT_ACCEPT_FLOOR: usize = 1726;
const OPT_CORE_FLOORS: [(&str, usize); 8] = [
    ("EN10MB", 414),
    ("RAW", 176),
    ("NULL", 5),
    ("LOOP", 6),
    ("LINUX_SLL", 16),
    ("LINUX_SLL2", 22),
    ("IPV4", 50),
    ("IPV6", 3),
];

/// Floors reached so far. Blocks for other platforms' constants are left
/// out ([`other_platform`]); on what remains, every case passes.
const ACCEPT_FLOOR: usize = 1726;
const CORE_FLOORS: [(&str, usize); 8] = [
    ("EN10MB", 414),
    ("RAW", 176),
    ("NULL", 5),
    ("LOOP", 6),
    ("LINUX_SLL", 16),
    ("LINUX_SLL2", 22),
    ("IPV4", 50),
    ("IPV6", 3),
];

/// Reject cases that hold only for a libpcap built another way: TESTrun
/// runs `protochain_disabled` when libpcap was configured without
/// `protochain`, which the accept cases (`protochain 17`) show ours has.
const OTHER_BUILD: [&str; 1] = ["protochain_disabled"];

/// Whether the capture-file case `case` fails to open, as libpcap's
/// does; `None` when its file is not in `pcaps/`.
fn capture_rejected(case: &serde_json::Value) -> Option<Result<(), String>> {
    let file = case["savefile"].as_str()?;
    let bytes = std::fs::read(filters_dir().join("pcaps").join(file)).ok()?;
    let want = case["error"].as_str().unwrap_or("");
    Some(match visor_filter::capture::Capture::parse(&bytes) {
        Ok(_) => Err(format!("{file} opened; libpcap says {want:?}")),
        Err(_) => Ok(()),
    })
}

/// Compiled as libpcap's filtertest compiles by default, optimizer on:
/// "expression rejects all packets" is the optimizer's verdict.
#[test]
fn reject_cases_fail_quickly() {
    let Some(cases) = load("reject.json") else {
        return;
    };
    let names = test_names();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let (mut worded, mut failed, mut skipped, mut slowest) = (0, 0, 0, Duration::ZERO);
    let mut unsupported = 0;
    let mut accepted = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        if OTHER_BUILD.contains(&name) {
            eprintln!("reject: skipped {name}: for a libpcap built without this feature");
            skipped += 1;
            continue;
        }
        let Some(expr) = case["expression"].as_str() else {
            match capture_rejected(case) {
                Some(Ok(())) => failed += 1,
                Some(Err(e)) => accepted.push(format!("{name}: {e}")),
                None => {
                    eprintln!("reject: skipped {name}: its capture is not in pcaps/");
                    skipped += 1;
                }
            }
            continue;
        };
        let dlt = case["dlt"].as_str().unwrap_or("?").to_owned();
        let tally = tallies.entry(dlt.clone()).or_default();
        tally.total += 1;
        let Some(mut opts) = options(case, &names) else {
            tally.pass += 1; // unsupported link type: rejected by name
            failed += 1;
            unsupported += 1;
            continue;
        };
        opts.optimize = Optimize::On;
        let start = Instant::now();
        let result = compile(expr, &opts);
        slowest = slowest.max(start.elapsed());
        match result {
            Ok(_) => accepted.push(format!("{} [{dlt}] {expr:?}", case["name"])),
            Err(e) => {
                tally.pass += 1;
                failed += 1;
                if e.to_string()
                    .contains(case["error"].as_str().unwrap_or("\u{0}"))
                {
                    worded += 1;
                }
            }
        }
    }
    let known: BTreeMap<String, Tally> = tallies
        .into_iter()
        .filter(|(k, _)| LinkType::from_name(k).is_some())
        .collect();
    report("reject (supported link types)", &known);
    eprintln!(
        "reject: {failed} failed to compile or open ({worded} with libpcap's wording, {unsupported} by unsupported link type), {} accepted, {skipped} skipped; slowest {slowest:?}",
        accepted.len()
    );
    if let Ok(path) = std::env::var("VISOR_FILTER_REJECT_FAILURES") {
        std::fs::write(path, accepted.join("\n")).expect("log written");
    }
    assert!(
        accepted.is_empty(),
        "{} rejects compiled:\n{}",
        accepted.len(),
        accepted.join("\n")
    );
}

/// 255.255.255.255 is libpcap's "netmask unknown", not a /32.
#[test]
fn ip_broadcast_needs_a_known_netmask() {
    let mut opts = CompileOptions::new(LinkType::EN10MB);
    opts.netmask = Some(u32::MAX);
    let err = compile("ip broadcast", &opts).unwrap_err().to_string();
    assert!(err.contains("netmask not known"), "{err}");
    opts.netmask = Some(0xffff_ff00);
    assert!(compile("ip broadcast", &opts).is_ok());
}

/// Solaris ipnet marks direction in its header: 1 outbound, 2 inbound.
#[test]
fn ipnet_direction_values() {
    let opts = CompileOptions::new(LinkType::IPNET);
    for (expr, value) in [("outbound", 1), ("inbound", 2)] {
        let program = compile(expr, &opts).unwrap();
        let listing = Listing::new(&program, Format::Image).to_string();
        assert!(
            listing.contains(&format!("jeq      #0x{value} ")),
            "{expr}: {listing}"
        );
    }
}
