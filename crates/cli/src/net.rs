//! `visor net attach xdp|tc OBJ --dev IF`: one program of an object on a
//! network interface (XDP or TC through TCX, both bpf links) until Ctrl-C,
//! printing what was attached and the ids of the object's maps, which
//! `visor map dump ID` reads while it runs.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use visor_kernel::{LoadOptions, LoadedObject, LoadedProgram, ProgramType, TcDirection, XdpMode};

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
    let link = match args.hook {
        Hook::Xdp => {
            let mode = match args.mode {
                None => XdpMode::Any,
                Some(Mode::Generic) => XdpMode::Generic,
                Some(Mode::Native) => XdpMode::Native,
            };
            visor_kernel::attach_xdp(program.fd(), index, mode)?
        }
        Hook::Tc => {
            let direction = match args.direction {
                Direction::Ingress => TcDirection::Ingress,
                Direction::Egress => TcDirection::Egress,
            };
            visor_kernel::attach_tcx(program.fd(), index, direction)?
        }
    };
    let info = program.fd().info()?;
    let place = match (args.hook, args.mode, args.direction) {
        (Hook::Xdp, None, _) => "xdp".to_owned(),
        (Hook::Xdp, Some(mode), _) => format!("xdp ({mode:?} mode)").to_lowercase(),
        (Hook::Tc, _, direction) => format!("tcx {direction:?}").to_lowercase(),
    };
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
    link.detach()?;
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
