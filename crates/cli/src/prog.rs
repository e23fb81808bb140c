//! `visor prog`: the kernel's loaded programs, as `bpftool prog` shows
//! them: list, show, dump the translated instructions, load an object
//! (pinning it), pin, and test-run (`BPF_PROG_TEST_RUN`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use visor_isa::{CallTarget, Insn, LoadImm, SLOT_LEN, Slot};
use visor_kernel::{LoadOptions, LoadedObject, ObjectKind, ProgramFd, ProgramInfo, TestRun};

use crate::hex;

#[derive(Args)]
pub struct ProgArgs {
    #[command(subcommand)]
    command: ProgCommand,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum ProgCommand {
    /// Every loaded program.
    List,
    /// One program, by id or pinned path.
    Show { prog: String },
    /// The program's instructions as the verifier left them (xlated).
    Dump { prog: String },
    /// Load every program of an object; with --pin, pin them (and the
    /// maps, under DIR/maps) so they outlive this command.
    Load {
        object: PathBuf,
        #[arg(long, value_name = "DIR")]
        pin: Option<PathBuf>,
        /// Print the verifier's whole log when a program is rejected.
        #[arg(long)]
        log: bool,
    },
    /// Pin a program at PATH in bpffs.
    Pin { prog: String, path: PathBuf },
    /// Run the program once (or --repeat times) on a packet with
    /// BPF_PROG_TEST_RUN.
    Run {
        prog: String,
        /// The packet as hex.
        #[arg(
            long,
            conflicts_with = "data_file",
            required_unless_present = "data_file"
        )]
        data: Option<String>,
        /// The packet as a binary file.
        #[arg(long, value_name = "FILE")]
        data_file: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        repeat: u32,
    },
}

pub fn run(args: &ProgArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    match &args.command {
        ProgCommand::List => {
            let mut programs = Vec::new();
            for id in visor_kernel::ids(ObjectKind::Program) {
                // A program may unload between listing and opening it.
                let Ok(program) = ProgramFd::from_id(id?) else {
                    continue;
                };
                programs.push(ProgJson::from(&program.info()?));
            }
            print_programs(&programs, args.json, out)?;
        }
        ProgCommand::Show { prog } => {
            let info = open(prog)?.info()?;
            print_programs(&[ProgJson::from(&info)], args.json, out)?;
        }
        ProgCommand::Dump { prog } => dump(&open(prog)?, args.json, out)?,
        ProgCommand::Load { object, pin, log } => {
            load(object, pin.as_deref(), *log, args.json, out)?
        }
        ProgCommand::Pin { prog, path } => {
            open(prog)?
                .pin(path)
                .with_context(|| format!("cannot pin at {}", path.display()))?;
        }
        ProgCommand::Run {
            prog,
            data,
            data_file,
            repeat,
        } => {
            let packet = match (data, data_file) {
                (Some(text), _) => hex::parse_bytes(text)?,
                (None, Some(path)) => {
                    fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
                }
                (None, None) => bail!("give the packet with --data HEX or --data-file FILE"),
            };
            test_run(&open(prog)?, &packet, *repeat, args.json, out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens a program by id (`42`) or pinned path (`/sys/fs/bpf/x`).
pub fn open(prog: &str) -> anyhow::Result<ProgramFd> {
    match prog.parse::<u32>() {
        Ok(id) => ProgramFd::from_id(id).with_context(|| format!("no program with id {id}")),
        Err(_) => ProgramFd::from_pin(Path::new(prog))
            .with_context(|| format!("no program pinned at {prog}")),
    }
}

/// A program as `bpftool prog show --json` describes it.
#[derive(Serialize)]
struct ProgJson {
    id: u32,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    tag: String,
    gpl_compatible: bool,
    /// Seconds since the epoch.
    loaded_at: u64,
    uid: u32,
    bytes_xlated: u32,
    jited: bool,
    bytes_jited: u32,
    map_ids: Vec<u32>,
    btf_id: u32,
    run_time_ns: u64,
    run_cnt: u64,
}

impl From<&ProgramInfo> for ProgJson {
    fn from(info: &ProgramInfo) -> Self {
        ProgJson {
            id: info.id,
            kind: info.program_type().map_or_else(
                || format!("type {}", info.type_number),
                |t| t.name().to_owned(),
            ),
            name: info.name.clone(),
            tag: info.tag.to_string(),
            gpl_compatible: info.gpl_compatible,
            loaded_at: boot_time().saturating_add(info.load_time_ns / 1_000_000_000),
            uid: info.created_by_uid,
            bytes_xlated: info.xlated_len,
            jited: info.jited_len > 0,
            bytes_jited: info.jited_len,
            map_ids: info.map_ids.clone(),
            btf_id: info.btf_id,
            run_time_ns: info.run_time_ns,
            run_cnt: info.run_count,
        }
    }
}

fn print_programs(programs: &[ProgJson], json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(programs)?)?;
        return Ok(());
    }
    for p in programs {
        write!(out, "{}: {}  name {}  tag {}", p.id, p.kind, p.name, p.tag)?;
        writeln!(out, "{}", if p.gpl_compatible { "  gpl" } else { "" })?;
        if p.run_cnt > 0 {
            writeln!(out, "\trun_time_ns {} run_cnt {}", p.run_time_ns, p.run_cnt)?;
        }
        writeln!(out, "\tloaded_at {}  uid {}", rfc3339(p.loaded_at), p.uid)?;
        write!(out, "\txlated {}B  ", p.bytes_xlated)?;
        if p.jited {
            write!(out, "jited {}B", p.bytes_jited)?;
        } else {
            write!(out, "not jited")?;
        }
        if !p.map_ids.is_empty() {
            let ids: Vec<String> = p.map_ids.iter().map(u32::to_string).collect();
            write!(out, "  map_ids {}", ids.join(","))?;
        }
        writeln!(out)?;
        if p.btf_id != 0 {
            writeln!(out, "\tbtf_id {}", p.btf_id)?;
        }
    }
    Ok(())
}

/// The translated instructions, one per line as `bpftool prog dump
/// xlated` prints them: source lines above their instructions when the
/// program was loaded with line info, maps by id, helpers by the kernel
/// function the verifier bound the call to, subprogram calls by offset. A slot visor's
/// decoder does not take (the kernel uses a few internal encodings) is
/// shown as raw bytes.
fn dump(program: &ProgramFd, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let bytes = program.xlated_insns()?;
    if bytes.is_empty() {
        bail!(
            "the kernel withholds this program's instructions (kernel.kptr_restrict, or not root)"
        );
    }
    let slots: Vec<Slot> = bytes
        .chunks_exact(SLOT_LEN)
        .map(|c| {
            xlated_slot(Slot::from_bytes(
                c.try_into().expect("chunks_exact gives whole slots"),
            ))
        })
        .collect();
    let symbols = KernelSymbols::read();
    let mut lines = Vec::new();
    let mut pc = 0;
    while pc < slots.len() {
        let (text, taken) = match Insn::decode(&slots[pc..]) {
            Ok((insn, taken)) => (xlated_text(&insn, &symbols), taken),
            Err(_) => (format!(".quad {:#018x}", slots[pc].to_word()), 1),
        };
        lines.push((pc, slots[pc].code, text));
        pc += taken;
    }
    let sources = program.source_lines()?;
    let source_at = |pc: usize| {
        sources
            .iter()
            .find(|s| s.insn == pc)
            .map(|s| s.text.trim().to_owned())
    };
    if json {
        let json: Vec<_> = lines
            .iter()
            .map(|(pc, code, text)| {
                let mut entry = serde_json::json!({"pc": pc, "code": code, "insn": text});
                if let Some(source) = source_at(*pc) {
                    entry["src"] = source.into();
                }
                entry
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string(&json)?)?;
    } else {
        for (pc, code, text) in lines {
            if let Some(source) = source_at(pc) {
                writeln!(out, "; {source}")?;
            }
            writeln!(out, "{pc:4}: ({code:02x}) {text}")?;
        }
    }
    Ok(())
}

/// A slot as the instruction set reads it. After the JIT has split a
/// program into functions, the kernel keeps a subprogram call's offset in
/// `off` and the callee's index in `imm`.
fn xlated_slot(slot: Slot) -> Slot {
    let subprogram_call = slot.code == 0x85 && slot.src == 1 && slot.off != 0;
    if subprogram_call {
        Slot {
            imm: i32::from(slot.off),
            off: 0,
            ..slot
        }
    } else {
        slot
    }
}

/// One translated instruction: the verifier has put map ids where the
/// object had map descriptors, and kernel function addresses (relative to
/// `__bpf_call_base`) where it had helper ids.
fn xlated_text(insn: &Insn, symbols: &KernelSymbols) -> String {
    match *insn {
        Insn::LoadImm64 {
            kind: LoadImm::MapFd,
            dst,
            imm,
        } => format!("{dst} = map[id:{}]", imm as u32),
        Insn::LoadImm64 {
            kind: LoadImm::MapValue,
            dst,
            imm,
        } => format!("{dst} = map[id:{}][0]+{}", imm as u32, imm >> 32),
        Insn::Call(CallTarget::Helper(delta)) => match symbols.helper(delta) {
            Some(name) => format!("call {name}"),
            None => visor_isa::disasm::format_insn(insn),
        },
        _ => visor_isa::disasm::format_insn(insn),
    }
}

/// The kernel's function symbols from `/proc/kallsyms`, to name the
/// functions helper calls were bound to. Empty when the addresses are
/// hidden (they read as zero without privilege).
struct KernelSymbols {
    /// `__bpf_call_base`, which call immediates are relative to.
    base: Option<u64>,
    /// Sorted by address.
    functions: Vec<(u64, String)>,
}

impl KernelSymbols {
    fn read() -> KernelSymbols {
        let text = fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        let mut functions: Vec<(u64, String)> = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let address = u64::from_str_radix(fields.next()?, 16).ok()?;
                let kind = fields.next()?;
                let name = fields.next()?;
                let function = matches!(kind, "t" | "T");
                (function && address != 0).then(|| (address, name.to_owned()))
            })
            .collect();
        functions.sort_unstable();
        let base = functions
            .iter()
            .find(|(_, name)| name == "__bpf_call_base")
            .map(|&(address, _)| address);
        KernelSymbols { base, functions }
    }

    /// The function a helper call with immediate `delta` enters.
    fn helper(&self, delta: i32) -> Option<&str> {
        let target = self.base?.checked_add_signed(i64::from(delta))?;
        let at = self
            .functions
            .binary_search_by_key(&target, |&(a, _)| a)
            .ok()?;
        Some(&self.functions[at].1)
    }
}

fn load(
    path: &Path,
    pin: Option<&Path>,
    full_log: bool,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let options = LoadOptions {
        full_log,
        ..LoadOptions::default()
    };
    let loaded =
        LoadedObject::load(&bytes, &options).map_err(|e| crate::load::explain(e, full_log))?;
    if let Some(dir) = pin {
        visor_kernel::ensure_bpffs(Path::new(visor_kernel::BPFFS))?;
        let maps_dir = dir.join("maps");
        fs::create_dir_all(&maps_dir)
            .with_context(|| format!("cannot create {}", maps_dir.display()))?;
        for program in loaded.programs() {
            let at = dir.join(program.name());
            program
                .fd()
                .pin(&at)
                .with_context(|| format!("cannot pin {} at {}", program.name(), at.display()))?;
        }
        for map in loaded.maps() {
            let at = maps_dir.join(map.name());
            map.fd()
                .pin(&at)
                .with_context(|| format!("cannot pin {} at {}", map.name(), at.display()))?;
        }
    }
    let mut programs = Vec::new();
    for program in loaded.programs() {
        programs.push(ProgJson::from(&program.fd().info()?));
    }
    print_programs(&programs, json, out)?;
    if pin.is_none() && !json {
        writeln!(
            out,
            "(not pinned: the programs unload when visor exits; use --pin DIR)"
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct RunJson {
    retval: u32,
    duration_ns: u32,
    repeat: u32,
    data_out: String,
}

fn test_run(
    program: &ProgramFd,
    packet: &[u8],
    repeat: u32,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let run = TestRun {
        repeat,
        // XDP may grow the packet into its 256 bytes of headroom.
        data_out_size: packet.len() + 256,
        ..TestRun::new(packet)
    };
    let result = program.test_run(&run)?;
    if json {
        let json = RunJson {
            retval: result.retval,
            duration_ns: result.duration_ns,
            repeat,
            data_out: hex::format_bytes(&result.data_out),
        };
        writeln!(out, "{}", serde_json::to_string(&json)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "Return value: {}, duration{}: {}ns",
        result.retval,
        if repeat > 1 { " (average)" } else { "" },
        result.duration_ns
    )?;
    if !result.data_out.is_empty() {
        writeln!(out, "data_out:")?;
        for line in result.data_out.chunks(16) {
            writeln!(out, "{}", hex::format_bytes(line))?;
        }
    }
    Ok(())
}

/// Seconds since the epoch at boot (`btime` of `/proc/stat`); 0 when
/// unknown.
fn boot_time() -> u64 {
    fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| {
            stat.lines()
                .find_map(|line| line.strip_prefix("btime ")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `2024-05-01T10:20:30+0000`, the layout bpftool prints (in UTC here).
fn rfc3339(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+0000",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn dates_print_like_bpftool() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00+0000");
        assert_eq!(rfc3339(1_714_558_830), "2024-05-01T10:20:30+0000");
    }
}
