//! `visor build`: compile restricted C into a BPF object with clang.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use visor_build::{BuildCommand, BuildOptions, Clang, Cpu};

#[derive(clap::Args)]
pub struct BuildArgs {
    /// The restricted C source, e.g. examples/hello.bpf.c.
    file: PathBuf,
    /// The object to write (default: FILE with .c replaced by .o).
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// Add a directory to the include path, before visor's headers.
    #[arg(short = 'I', value_name = "DIR")]
    include: Vec<PathBuf>,
    /// Define a preprocessor macro.
    #[arg(short = 'D', value_name = "NAME[=VALUE]")]
    define: Vec<String>,
    /// The clang to run (default: $CLANG, else clang-19, else clang on PATH).
    #[arg(long, value_name = "PATH")]
    clang: Option<PathBuf>,
    /// BPF instruction set version to target.
    #[arg(long, value_enum, default_value_t = CpuArg::V3)]
    mcpu: CpuArg,
    /// Emit BTF and line info (the default).
    #[arg(short = 'g', long = "debug", overrides_with = "no_debug")]
    debug: bool,
    /// Omit BTF and line info; BTF-defined maps (".maps") then cannot load.
    #[arg(long, overrides_with = "debug")]
    no_debug: bool,
    /// Print the clang command line on stderr before running it.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CpuArg {
    V1,
    V2,
    V3,
    V4,
}

impl From<CpuArg> for Cpu {
    fn from(cpu: CpuArg) -> Cpu {
        match cpu {
            CpuArg::V1 => Cpu::V1,
            CpuArg::V2 => Cpu::V2,
            CpuArg::V3 => Cpu::V3,
            CpuArg::V4 => Cpu::V4,
        }
    }
}

pub fn run(args: &BuildArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let clang = Clang::find(args.clang.as_deref())?;
    let options = BuildOptions {
        output: args.output.clone(),
        include_dirs: args.include.clone(),
        defines: args.define.clone(),
        cpu: args.mcpu.into(),
        // `-g` and `--no-debug` override each other: the last one given wins.
        debug_info: args.debug || !args.no_debug,
        ..BuildOptions::new(&args.file)
    };
    let command = BuildCommand::new(&clang, &options)?;
    if args.verbose {
        eprintln!("{command}");
    }
    command.run()?;
    writeln!(out, "wrote {}", command.output().display())?;
    Ok(ExitCode::SUCCESS)
}
