//! `visor map`: the kernel's maps, as `bpftool map` shows them: list,
//! dump, lookup, update, delete, pin. Keys and values are hex bytes
//! (`"04 11 2e 16"` or `04112e16`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use visor_kernel::{MapFd, MapInfo, ObjectKind, UpdateMode, possible_cpus};

use crate::hex;

#[derive(Args)]
pub struct MapArgs {
    #[command(subcommand)]
    command: MapCommand,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum MapCommand {
    /// Every map.
    List,
    /// Every entry of a map, by id or pinned path.
    Dump { map: String },
    /// The value at KEY.
    Lookup { map: String, key: String },
    /// Store VALUE at KEY.
    Update {
        map: String,
        key: String,
        value: String,
        #[arg(long, value_enum, default_value_t = Mode::Any)]
        mode: Mode,
    },
    /// Delete the entry at KEY.
    Delete { map: String, key: String },
    /// Pin a map at PATH in bpffs.
    Pin { map: String, path: PathBuf },
}

/// BPF_ANY, BPF_NOEXIST, BPF_EXIST.
#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Any,
    Noexist,
    Exist,
}

pub fn run(args: &MapArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    match &args.command {
        MapCommand::List => {
            let mut maps = Vec::new();
            for id in visor_kernel::ids(ObjectKind::Map) {
                let Ok(map) = MapFd::from_id(id?) else {
                    continue;
                };
                maps.push(MapJson::from(&map.info()?));
            }
            print_maps(&maps, args.json, out)?;
        }
        MapCommand::Dump { map } => dump(&open(map)?, args.json, out)?,
        MapCommand::Lookup { map, key } => {
            let map = open(map)?;
            let key = hex::parse_bytes(key)?;
            match map.lookup(&key)? {
                Some(value) => print_entries(&map, &[(key, value)], args.json, false, out)?,
                None => bail!("no entry at key {}", hex::format_bytes(&key)),
            }
        }
        MapCommand::Update {
            map,
            key,
            value,
            mode,
        } => {
            let mode = match mode {
                Mode::Any => UpdateMode::Any,
                Mode::Noexist => UpdateMode::NoExist,
                Mode::Exist => UpdateMode::Exist,
            };
            open(map)?.update(&hex::parse_bytes(key)?, &hex::parse_bytes(value)?, mode)?;
        }
        MapCommand::Delete { map, key } => {
            let key = hex::parse_bytes(key)?;
            if !open(map)?.delete(&key)? {
                bail!("no entry at key {}", hex::format_bytes(&key));
            }
        }
        MapCommand::Pin { map, path } => {
            open(map)?
                .pin(path)
                .with_context(|| format!("cannot pin at {}", path.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens a map by id (`7`) or pinned path.
fn open(map: &str) -> anyhow::Result<MapFd> {
    match map.parse::<u32>() {
        Ok(id) => MapFd::from_id(id).with_context(|| format!("no map with id {id}")),
        Err(_) => {
            MapFd::from_pin(Path::new(map)).with_context(|| format!("no map pinned at {map}"))
        }
    }
}

/// A map as `bpftool map show --json` describes it.
#[derive(Serialize)]
struct MapJson {
    id: u32,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    flags: u32,
    bytes_key: u32,
    bytes_value: u32,
    max_entries: u32,
    btf_id: u32,
}

impl From<&MapInfo> for MapJson {
    fn from(info: &MapInfo) -> Self {
        MapJson {
            id: info.id,
            kind: info.map_type().map_or_else(
                || format!("type {}", info.type_number),
                |t| t.name().to_owned(),
            ),
            name: info.name.clone(),
            flags: info.flags,
            bytes_key: info.key_size,
            bytes_value: info.value_size,
            max_entries: info.max_entries,
            btf_id: info.btf_id,
        }
    }
}

fn print_maps(maps: &[MapJson], json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(maps)?)?;
        return Ok(());
    }
    for m in maps {
        writeln!(
            out,
            "{}: {}  name {}  flags {:#x}",
            m.id, m.kind, m.name, m.flags
        )?;
        writeln!(
            out,
            "\tkey {}B  value {}B  max_entries {}",
            m.bytes_key, m.bytes_value, m.max_entries
        )?;
        if m.btf_id != 0 {
            writeln!(out, "\tbtf_id {}", m.btf_id)?;
        }
    }
    Ok(())
}

fn dump(map: &MapFd, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let mut entries = Vec::new();
    for key in map.keys() {
        let key = key?;
        // An entry deleted during the walk is simply not shown.
        if let Some(value) = map.lookup(&key)? {
            entries.push((key, value));
        }
    }
    print_entries(map, &entries, json, true, out)
}

/// One entry as bpftool's JSON writes it without BTF: bytes as `"0x.."`.
#[derive(Serialize)]
struct EntryJson {
    key: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<Vec<CpuValueJson>>,
}

#[derive(Serialize)]
struct CpuValueJson {
    cpu: usize,
    value: Vec<String>,
}

fn json_bytes(bytes: &[u8]) -> Vec<String> {
    bytes.iter().map(|b| format!("0x{b:02x}")).collect()
}

fn print_entries(
    map: &MapFd,
    entries: &[(Vec<u8>, Vec<u8>)],
    json: bool,
    count: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let per_cpu = map.map_type().is_per_cpu();
    let slot = (map.def().value_size as usize).next_multiple_of(8);
    let cpus = if per_cpu { possible_cpus()? } else { 1 };
    let per_cpu_values = |value: &[u8]| -> Vec<Vec<u8>> {
        (0..cpus)
            .map(|cpu| {
                let start = cpu * slot;
                let end = (start + map.def().value_size as usize).min(value.len());
                value.get(start..end).unwrap_or_default().to_vec()
            })
            .collect()
    };
    if json {
        let json: Vec<EntryJson> = entries
            .iter()
            .map(|(key, value)| EntryJson {
                key: json_bytes(key),
                value: (!per_cpu).then(|| json_bytes(value)),
                values: per_cpu.then(|| {
                    per_cpu_values(value)
                        .iter()
                        .enumerate()
                        .map(|(cpu, v)| CpuValueJson {
                            cpu,
                            value: json_bytes(v),
                        })
                        .collect()
                }),
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string(&json)?)?;
        return Ok(());
    }
    for (key, value) in entries {
        if per_cpu {
            writeln!(out, "key:\n{}", hex::format_bytes(key))?;
            for (cpu, v) in per_cpu_values(value).iter().enumerate() {
                writeln!(out, "value (CPU {cpu:02}): {}", hex::format_bytes(v))?;
            }
        } else {
            writeln!(
                out,
                "key: {}  value: {}",
                hex::format_bytes(key),
                hex::format_bytes(value)
            )?;
        }
    }
    if count {
        let n = entries.len();
        writeln!(out, "Found {n} element{}", if n == 1 { "" } else { "s" })?;
    }
    Ok(())
}
