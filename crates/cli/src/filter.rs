//! `visor filter`: compile a pcap filter expression (tcpdump's flags) and
//! print its program, or run it over a capture file.

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use visor_filter::capture::{Capture as CaptureFile, Record};
use visor_filter::compile::{
    ByteOrder, Capture, CompileOptions, LinkType, NameDb, NameFiles, Optimize, compile,
};
use visor_filter::{Rules, check_with};
use visor_isa::cbpf::{Format, Insn, Listing};

use crate::filter_engine::{FilterEngine, PreparedFilter};

#[derive(clap::Args)]
pub struct FilterArgs {
    /// Read packets from this pcap or pcapng file.
    #[arg(short = 'r')]
    read: Option<PathBuf>,
    /// Write the matching packets to this pcap file.
    #[arg(short = 'w')]
    write: Option<PathBuf>,
    /// Stop after this many matching packets.
    #[arg(short = 'c')]
    count: Option<u64>,
    /// Link-layer type by DLT name (EN10MB, RAW, ...) when not reading a file.
    #[arg(short = 'y', default_value = "EN10MB")]
    dlt: String,
    /// Snapshot length: what the filter returns for accepted packets.
    #[arg(short = 's')]
    snaplen: Option<u32>,
    /// Do not optimize (libpcap's optimizer runs by default).
    #[arg(short = 'O')]
    no_optimize: bool,
    /// Print the program: -d as text, -dd as a C array, -ddd in decimal.
    #[arg(short = 'd', action = clap::ArgAction::Count)]
    dump: u8,
    /// Print addresses numerically (always the case).
    #[arg(short = 'n')]
    numeric: bool,
    /// Short per-packet output (always the case).
    #[arg(short = 'q')]
    quiet: bool,
    /// The IPv4 netmask, for `ip broadcast`.
    #[arg(long)]
    netmask: Option<Ipv4Addr>,
    /// Compile for a live Linux capture (BPF extensions: vlan, ifindex).
    #[arg(long = "linux-ext")]
    linux_ext: bool,
    /// Compile for a savefile of this byte order (unswapped|swapped).
    #[arg(long, value_parser = ["unswapped", "swapped"])]
    offline: Option<String>,
    /// Read the expression from this file.
    #[arg(short = 'F')]
    file: Option<PathBuf>,
    /// With -r: print the filter's return value for every packet.
    #[arg(long)]
    results: bool,
    /// With -r: the engine that runs the filter. `jit` translates the
    /// cBPF program to eBPF and runs it natively (the eBPF interpreter on
    /// hosts without the JIT); `ebpf-interp` runs the translation in the
    /// eBPF interpreter; `cbpf-interp` runs the cBPF program itself. All
    /// give libpcap's result for every packet.
    #[arg(long, value_enum, default_value_t = FilterEngine::Jit)]
    engine: FilterEngine,
    /// hosts(5) file for `host NAME` (default: $VISOR_HOSTS or /etc/hosts).
    #[arg(long = "hosts-file")]
    hosts_file: Option<PathBuf>,
    /// ethers(5) file for `ether host NAME` (default: $VISOR_ETHERS or /etc/ethers).
    #[arg(long = "ethers-file")]
    ethers_file: Option<PathBuf>,
    /// networks(5) file for `net NAME` (default: $VISOR_NETWORKS or /etc/networks).
    #[arg(long = "networks-file")]
    networks_file: Option<PathBuf>,
    /// The filter expression; words are joined with spaces.
    expression: Vec<String>,
}

pub fn run(args: &FilterArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let expression = match &args.file {
        Some(path) => {
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => args.expression.join(" "),
    };
    let bytes = match &args.read {
        Some(path) => {
            Some(fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)
        }
        None => None,
    };
    let capture = match &bytes {
        Some(b) => {
            let name = args.read.as_deref().unwrap_or(std::path::Path::new("-"));
            Some(CaptureFile::parse(b).with_context(|| format!("{}", name.display()))?)
        }
        None => None,
    };
    let opts = options(args, capture.as_ref())?;
    let program = match compile(&expression, &opts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("visor: {e}");
            if let Some(span) = e.span() {
                eprintln!(
                    "  {expression}\n  {}{}",
                    " ".repeat(span.start),
                    "^".repeat((span.end - span.start).max(1))
                );
            }
            return Ok(ExitCode::from(2));
        }
    };
    if args.dump > 0 {
        let format = match args.dump {
            1 => Format::Image,
            2 => Format::CArray,
            _ => Format::Decimal,
        };
        write!(out, "{}", Listing::new(&program, format))?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(capture) = capture else {
        bail!("nothing to do: give -d to print the program, or -r FILE to run it");
    };
    filter_capture(args, &program, capture, out)
}

fn options(args: &FilterArgs, capture: Option<&CaptureFile<'_>>) -> anyhow::Result<CompileOptions> {
    let linktype = match capture {
        Some(c) => {
            let dlt = c.linktype().context("the capture has no interface")?;
            LinkType::from_dlt(dlt).with_context(|| format!("link type {dlt} is not supported"))?
        }
        None => LinkType::from_name(&args.dlt)
            .with_context(|| format!("unknown or unsupported link type '{}'", args.dlt))?,
    };
    let mut opts = CompileOptions::new(linktype);
    opts.optimize = if args.no_optimize {
        Optimize::Off
    } else {
        Optimize::On
    };
    opts.snaplen = args
        .snaplen
        .or(capture.map(CaptureFile::snaplen))
        .unwrap_or(262_144);
    opts.netmask = args.netmask.map(u32::from);
    opts.capture = match (&args.offline, capture) {
        (Some(o), _) if o == "swapped" => Capture::Savefile(ByteOrder::Swapped),
        (Some(_), _) => Capture::Savefile(ByteOrder::Native),
        (None, Some(c)) if c.swapped() => Capture::Savefile(ByteOrder::Swapped),
        (None, Some(_)) => Capture::Savefile(ByteOrder::Native),
        (None, None) if args.linux_ext => Capture::LinuxLive,
        (None, None) => Capture::Dead,
    };
    let env = |var: &str| std::env::var_os(var).map(PathBuf::from);
    let hosts = args.hosts_file.clone().or_else(|| env("VISOR_HOSTS"));
    let ethers = args.ethers_file.clone().or_else(|| env("VISOR_ETHERS"));
    let networks = args.networks_file.clone().or_else(|| env("VISOR_NETWORKS"));
    opts.names = NameDb::from_files(&NameFiles {
        hosts: hosts.as_deref(),
        ethers: ethers.as_deref(),
        networks: networks.as_deref(),
    });
    Ok(opts)
}

fn filter_capture(
    args: &FilterArgs,
    program: &[Insn],
    capture: CaptureFile<'_>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let checked = check_with(program, Rules::Libpcap)?;
    let prepared = PreparedFilter::new(&checked, args.engine)?;
    let mut filter = prepared.runner();
    let linktype = capture.linktype().unwrap_or(1);
    let mut writer = match &args.write {
        Some(path) => Some(PcapWriter::create(path, linktype, capture.snaplen())?),
        None => None,
    };
    let (mut read, mut matched, mut status) = (0u64, 0u64, ExitCode::SUCCESS);
    for record in capture {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let name = args.read.as_deref().map(|p| p.display().to_string());
                eprintln!("visor: {}: {e}", name.unwrap_or_default());
                status = ExitCode::FAILURE;
                break;
            }
        };
        read += 1;
        let result = filter.run(record.data, record.orig_len)?;
        if args.results {
            writeln!(out, "{result}")?;
        } else if result != 0 {
            writeln!(out, "{}", summary(&record))?;
        }
        if result != 0 {
            matched += 1;
            if let Some(w) = writer.as_mut() {
                w.write(&record, result)?;
            }
            if args.count.is_some_and(|c| matched >= c) {
                break;
            }
        }
    }
    eprintln!("{read} packets read, {matched} matched");
    Ok(status)
}

/// `HH:MM:SS.ffffff` and a short protocol summary, like `tcpdump -n -q`.
fn summary(r: &Record<'_>) -> String {
    let secs = r.ts_sec % 86_400;
    let ts = format!(
        "{:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        r.ts_nsec / 1000
    );
    let network = match r.linktype {
        1 => ethernet(r.data),
        12 | 101 | 228 | 229 => ip(r.data),
        0 | 108 => r.data.get(4..).map_or_else(|| "truncated".to_owned(), ip),
        113 => r.data.get(16..).map_or_else(|| "truncated".to_owned(), ip),
        276 => r.data.get(20..).map_or_else(|| "truncated".to_owned(), ip),
        other => format!("link type {other}, length {}", r.orig_len),
    };
    format!("{ts} {network}")
}

fn ethernet(d: &[u8]) -> String {
    let mut at = 12;
    loop {
        let Some(t) = d.get(at..at + 2) else {
            return "truncated ethernet".to_owned();
        };
        let ethertype = u16::from_be_bytes([t[0], t[1]]);
        match ethertype {
            0x8100 | 0x88a8 | 0x9100 => at += 4,
            0x0800 | 0x86dd => return ip(&d[at + 2..]),
            0x0806 => return "ARP".to_owned(),
            t if t <= 1500 => return format!("802.3, length {t}"),
            t => return format!("ethertype {t:#06x}"),
        }
    }
}

fn ip(d: &[u8]) -> String {
    let Some(&first) = d.first() else {
        return "truncated IP".to_owned();
    };
    let (src, dst, proto, payload) = match first >> 4 {
        4 if d.len() >= 20 => {
            let hl = usize::from(first & 0xf) * 4;
            let src = Ipv4Addr::new(d[12], d[13], d[14], d[15]).to_string();
            let dst = Ipv4Addr::new(d[16], d[17], d[18], d[19]).to_string();
            (src, dst, d[9], d.get(hl..).unwrap_or(&[]))
        }
        6 if d.len() >= 40 => {
            let addr = |s: &[u8]| {
                let mut a = [0u8; 16];
                a.copy_from_slice(s);
                Ipv6Addr::from(a).to_string()
            };
            (addr(&d[8..24]), addr(&d[24..40]), d[6], &d[40..])
        }
        _ => return "truncated or unknown IP".to_owned(),
    };
    let family = if first >> 4 == 4 { "IP" } else { "IP6" };
    let ports = payload.get(..4).map(|p| {
        (
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        )
    });
    match (proto, ports) {
        (6, Some((s, t))) => format!("{family} {src}.{s} > {dst}.{t}: tcp {}", payload.len()),
        (17, Some((s, t))) => format!(
            "{family} {src}.{s} > {dst}.{t}: UDP, length {}",
            payload.len()
        ),
        (1, _) | (58, _) => format!("{family} {src} > {dst}: ICMP"),
        (p, _) => format!("{family} {src} > {dst}: ip-proto-{p} {}", payload.len()),
    }
}

/// Writes matching packets as classic pcap (microsecond timestamps).
struct PcapWriter {
    file: std::io::BufWriter<fs::File>,
}

impl PcapWriter {
    fn create(path: &std::path::Path, linktype: u32, snaplen: u32) -> anyhow::Result<PcapWriter> {
        let file =
            fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut file = std::io::BufWriter::new(file);
        file.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        file.write_all(&2u16.to_le_bytes())?;
        file.write_all(&4u16.to_le_bytes())?;
        file.write_all(&[0; 8])?;
        file.write_all(&snaplen.to_le_bytes())?;
        file.write_all(&linktype.to_le_bytes())?;
        Ok(PcapWriter { file })
    }

    fn write(&mut self, r: &Record<'_>, keep: u32) -> anyhow::Result<()> {
        let data = &r.data[..r.data.len().min(keep as usize)];
        self.file.write_all(&(r.ts_sec as u32).to_le_bytes())?;
        self.file.write_all(&(r.ts_nsec / 1000).to_le_bytes())?;
        self.file.write_all(&(data.len() as u32).to_le_bytes())?;
        self.file.write_all(&r.orig_len.to_le_bytes())?;
        self.file.write_all(data)?;
        Ok(())
    }
}
