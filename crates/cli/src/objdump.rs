//! `visor objdump`: what an eBPF object holds — programs, maps, relocations —
//! and each program's linked instructions with the source lines BTF records,
//! as `llvm-objdump -S` interleaves them.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use visor_object::{MapOrigin, Object, Program, RelocTarget};

#[derive(clap::Args)]
pub struct ObjdumpArgs {
    /// ELF object built by `clang -target bpf`.
    file: PathBuf,
    /// Disassemble only this program (entry function or section name).
    #[arg(long, short)]
    program: Option<String>,
    /// Print the tables only, without instructions.
    #[arg(long)]
    headers: bool,
    /// Leave out the source lines from BTF line info.
    #[arg(long)]
    no_source: bool,
}

pub fn run(args: &ObjdumpArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let bytes =
        fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let object = Object::parse(&bytes).with_context(|| format!("{}", args.file.display()))?;
    let selected: Vec<&Program<'_>> = object
        .programs()
        .iter()
        .filter(|p| {
            args.program
                .as_deref()
                .is_none_or(|n| p.name() == n || p.section() == n)
        })
        .collect();
    if let Some(name) = &args.program {
        anyhow::ensure!(
            !selected.is_empty(),
            "{}: no program or section named {name}",
            args.file.display()
        );
    }

    write_summary(out, &args.file, &object)?;
    write_programs(out, &object)?;
    write_maps(out, &object)?;
    write_relocations(out, &object)?;
    if !args.headers {
        for program in selected {
            write_disassembly(out, program, !args.no_source)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_summary(
    out: &mut impl Write,
    file: &std::path::Path,
    object: &Object<'_>,
) -> anyhow::Result<()> {
    write!(out, "{}: eBPF object", file.display())?;
    if let Some(license) = object.license() {
        write!(out, ", license {license:?}")?;
    }
    if let Some(version) = object.kernel_version() {
        write!(out, ", kernel version {version:#x}")?;
    }
    writeln!(
        out,
        ", BTF {}",
        if object.btf().is_some() { "yes" } else { "no" }
    )?;
    Ok(())
}

fn write_programs(out: &mut impl Write, object: &Object<'_>) -> anyhow::Result<()> {
    let rows: Vec<[String; 5]> = object
        .programs()
        .iter()
        .map(|p| {
            let kind = p.kind();
            let attach = kind
                .attach_point()
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| "-".into());
            [
                p.section().into(),
                p.name().into(),
                kind.program_type().map_or("unknown", |t| t.name()).into(),
                attach,
                p.insns().slot_len().to_string(),
            ]
        })
        .collect();
    writeln!(out, "\nPrograms:")?;
    write_table(out, ["SECTION", "NAME", "TYPE", "ATTACH", "INSNS"], &rows)
}

fn write_maps(out: &mut impl Write, object: &Object<'_>) -> anyhow::Result<()> {
    let rows: Vec<[String; 8]> = object
        .maps()
        .iter()
        .enumerate()
        .map(|(index, map)| {
            let def = map.def();
            let origin = match map.origin() {
                MapOrigin::Legacy { record_size, .. } => {
                    format!("{} ({record_size}-byte record)", map.section())
                }
                MapOrigin::Btf { .. } => map.section().into(),
                MapOrigin::Data(_) => "global data".into(),
                _ => map.section().into(),
            };
            let mut ty = def.map_type.to_string();
            if let Some(inner) = &def.inner {
                ty = format!("{ty} of {}", inner.map_type);
            }
            [
                index.to_string(),
                map.name().into(),
                ty,
                def.key_size.to_string(),
                def.value_size.to_string(),
                def.max_entries.to_string(),
                format!("{:#x}", def.flags),
                origin,
            ]
        })
        .collect();
    writeln!(out, "\nMaps:")?;
    write_table(
        out,
        [
            "IDX",
            "NAME",
            "TYPE",
            "KEY",
            "VALUE",
            "MAX_ENTRIES",
            "FLAGS",
            "DEFINED IN",
        ],
        &rows,
    )
}

fn write_relocations(out: &mut impl Write, object: &Object<'_>) -> anyhow::Result<()> {
    let map_name = |index: usize| object.maps().get(index).map_or("?", |m| m.name());
    let rows: Vec<[String; 5]> = object
        .relocations()
        .iter()
        .map(|r| {
            let target = match r.target {
                RelocTarget::Map(map) => format!("map {map} ({})", map_name(map)),
                RelocTarget::MapValue { map, offset } => {
                    format!("map {map} ({}) value + {offset}", map_name(map))
                }
                RelocTarget::Code { section, slot } => {
                    let function = object
                        .function_at(section, slot * 8)
                        .map_or("?", |f| f.name);
                    format!("{section} insn {slot} <{function}>")
                }
                RelocTarget::Extern => "extern (kfunc or kernel symbol)".into(),
                RelocTarget::MapSlot { map, index } => {
                    format!("map {map} ({}) entry {index}", map_name(map))
                }
                _ => "-".into(),
            };
            [
                r.section.into(),
                format!("{:#x}", r.offset),
                r.type_name().into(),
                r.symbol.into(),
                target,
            ]
        })
        .collect();
    writeln!(out, "\nRelocations:")?;
    write_table(
        out,
        ["SECTION", "OFFSET", "TYPE", "SYMBOL", "TARGET"],
        &rows,
    )
}

/// The program's instructions, with function labels and, when asked, the
/// source line above the instructions it produced.
fn write_disassembly(
    out: &mut impl Write,
    program: &Program<'_>,
    source: bool,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "\nDisassembly of program {} (section {}):",
        program.name(),
        program.section()
    )?;
    let mut last_line = None;
    for (pc, insn) in program.insns().iter() {
        if let Some(function) = program.functions().iter().find(|f| f.start == pc) {
            writeln!(out, "\n<{}>:", function.name)?;
            last_line = None;
        }
        if source {
            for line in program.lines_at(pc) {
                let key = (line.file(), line.line);
                if last_line.as_ref() != Some(&key) {
                    writeln!(out, "; {}", line.text().trim_end())?;
                    last_line = Some(key);
                }
            }
        }
        let bytes: Vec<String> = insn
            .encode()
            .slots()
            .iter()
            .flat_map(|s| s.to_bytes())
            .map(|b| format!("{b:02x}"))
            .collect();
        writeln!(
            out,
            "{pc:>8}:\t{}\t{}",
            bytes.join(" "),
            visor_isa::disasm::format_insn(insn)
        )?;
    }
    Ok(())
}

/// Left-aligned columns, two spaces apart; `(none)` for an empty table.
fn write_table<const N: usize>(
    out: &mut impl Write,
    header: [&str; N],
    rows: &[[String; N]],
) -> anyhow::Result<()> {
    if rows.is_empty() {
        writeln!(out, "  (none)")?;
        return Ok(());
    }
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("  {}", padded.join("  ").trim_end())
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}
