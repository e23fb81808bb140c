//! `visor net attach xdp|tc OBJ --dev IF`: one program of an object on a
//! network interface (XDP by link; TC by TCX link or clsact filter) until Ctrl-C,
//! printing what was attached and the ids of the object's maps, which
//! `visor map dump ID` reads while it runs.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use visor_kernel::{
    Attachment, LoadOptions, LoadedObject, LoadedProgram, ProgramType, TcDirection, TcMode, XdpMode,
};

#[derive(Args)]
pub struct NetArgs {
    #[command(subcommand)]
    command: NetCommand,
}

#[derive(Subcommand)]
enum NetCommand {
    /// Attach an XDP or TC program to an interface until Ctrl-C.
    Attach(AttachArgs),
}

#[derive(Args)]
struct AttachArgs {
    /// The hook.
    hook: Hook,
    /// ELF object built by `clang -target bpf` (or `visor build`).
    object: PathBuf,
    /// The interface.
    #[arg(long, value_name = "IF")]
    dev: String,
    /// The program (default: the object's only program of the hook's type).
    #[arg(long)]
    program: Option<String>,
    /// XDP: in the driver (native) or after the kernel built an skb
    /// (generic); default: native where the driver has it.
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// TC: which direction.
    #[arg(long, value_enum, default_value_t = Direction::Ingress)]
    direction: Direction,
    /// TC: a TCX link (Linux 6.6), a cls_bpf filter on a clsact qdisc (the
    /// older path, which `tc filter show` lists), or TCX falling back to
    /// clsact where the kernel has no TCX.
    #[arg(long, value_enum, default_value_t = TcPath::Auto)]
    tc_mode: TcPath,
}

/// `--tc-mode`, shared with `visor load --attach`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TcPath {
    Auto,
    Tcx,
    Clsact,
}

impl From<TcPath> for TcMode {
    fn from(path: TcPath) -> TcMode {
        match path {
            TcPath::Auto => TcMode::Auto,
            TcPath::Tcx => TcMode::Tcx,
            TcPath::Clsact => TcMode::Clsact,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Hook {
    Xdp,
    Tc,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    Generic,
    Native,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Direction {
    Ingress,
    Egress,
}

pub fn run(args: &NetArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    match &args.command {
        NetCommand::Attach(a) => attach(a, out),
    }
}

fn attach(args: &AttachArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let elf =
        fs::read(&args.object).with_context(|| format!("cannot read {}", args.object.display()))?;
    let object = LoadedObject::load(&elf, &LoadOptions::default())
        .map_err(|e| crate::load::explain(e, false))?;
    let wanted = match args.hook {
        Hook::Xdp => ProgramType::Xdp,
        Hook::Tc => ProgramType::SchedCls,
    };
    let program = choose(&object, args.program.as_deref(), wanted)?;
    let index = visor_kernel::ifindex(&args.dev)?;
    let (attachment, place) = match args.hook {
        Hook::Xdp => {
            let mode = match args.mode {
                None => XdpMode::Any,
                Some(Mode::Generic) => XdpMode::Generic,
                Some(Mode::Native) => XdpMode::Native,
            };
            let link = visor_kernel::attach_xdp(program.fd(), index, mode)?;
            let place = match args.mode {
                None => "xdp".to_owned(),
                Some(mode) => format!("xdp ({mode:?} mode)").to_lowercase(),
            };
            (Attachment::Link(link), place)
        }
        Hook::Tc => {
            let direction = match args.direction {
                Direction::Ingress => TcDirection::Ingress,
                Direction::Egress => TcDirection::Egress,
            };
            let tc = visor_kernel::attach_tc(program.fd(), index, direction, args.tc_mode.into())?;
            let place = format!("{} {direction:?}", tc.describe()).to_lowercase();
            (Attachment::Tc(tc), place)
        }
    };
    let info = program.fd().info()?;
    writeln!(
        out,
        "attached {} (prog id {}) to {place} on {} (ifindex {index})",
        program.name(),
        info.id,
        args.dev
    )?;
    for map in object.maps() {
        writeln!(
            out,
            "map {} id {} ({})",
            map.name(),
            map.fd().info()?.id,
            map.fd().map_type()
        )?;
    }
    // Blocked before the prompt, so that a Ctrl-C right after it is taken
    // here instead of ending the process with the programs attached.
    let interrupts = visor_kernel::Interrupts::block()?;
    writeln!(out, "running; press Ctrl-C to detach and exit")?;
    out.flush()?;
    let signal = interrupts.next()?;
    attachment.detach()?;
    writeln!(
        out,
        "detached {} from {} on {signal}",
        program.name(),
        args.dev
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The program named, or the only one of type `wanted`.
fn choose<'o>(
    object: &'o LoadedObject,
    name: Option<&str>,
    wanted: ProgramType,
) -> anyhow::Result<&'o LoadedProgram> {
    let names = || {
        object
            .programs()
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let program = match name {
        Some(name) => object
            .program(name)
            .with_context(|| format!("no program named {name}; the object has: {}", names()))?,
        None => {
            let mut fitting = object
                .programs()
                .iter()
                .filter(|p| p.fd().program_type() == wanted);
            match (fitting.next(), fitting.next()) {
                (Some(only), None) => only,
                (None, _) => bail!("the object has no {wanted} program; it has: {}", names()),
                (Some(_), Some(_)) => bail!(
                    "the object has several {wanted} programs; choose one with --program: {}",
                    names()
                ),
            }
        }
    };
    if program.fd().program_type() != wanted {
        bail!(
            "{} is a {} program, not {wanted}",
            program.name(),
            program.fd().program_type()
        );
    }
    Ok(program)
}
