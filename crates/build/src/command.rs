//! The clang command line for a BPF object, and running it.
//!
//! The flags, and why:
//! - `-target bpf`: BPF code, in the host's byte order (`bpfel` on x86-64).
//! - `-O2`: the verifier needs optimised code; at `-O0` clang spills
//!   pointers in ways it rejects, and `always_inline` is not honoured.
//! - `-g`: BTF and `.BTF.ext` (line info, and the map definitions of
//!   `.maps`, which a loader reads from BTF). Off with `--no-debug`.
//! - `-mcpu=v3`: 32-bit jumps and ALU32 (kernel 5.1 and later); v4 adds
//!   sign extension, bswap and 32-bit `ja` (kernel 6.6).
//! - `-Wall`; `-fno-stack-protector`, because some distributions turn the
//!   stack protector on by default and BPF has no canary to check.
//! - `-I` visor's headers, after the user's `-I` so theirs win;
//!   `-idirafter` the host's multiarch include directory, so that
//!   `<linux/bpf.h>` finds `<asm/types.h>` (clang does not look there for
//!   the bpf target).
//!
//! No `-D__TARGET_ARCH_x86`: that is for libbpf's `PT_REGS_*` macros in
//! `bpf_tracing.h`, which visor's headers do not have.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{BuildError, Clang, headers};

/// The BPF instruction set version clang targets (`-mcpu`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cpu {
    V1,
    V2,
    /// 32-bit jumps and ALU32; what the kernel samples and libbpf-tools use.
    #[default]
    V3,
    V4,
}

impl Cpu {
    pub fn as_str(self) -> &'static str {
        match self {
            Cpu::V1 => "v1",
            Cpu::V2 => "v2",
            Cpu::V3 => "v3",
            Cpu::V4 => "v4",
        }
    }
}

/// What to compile, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// The restricted C file.
    pub source: PathBuf,
    /// The object to write; `None` for [`default_output`].
    pub output: Option<PathBuf>,
    /// `-I` directories, searched before visor's headers.
    pub include_dirs: Vec<PathBuf>,
    /// `-D` definitions, `NAME` or `NAME=VALUE`.
    pub defines: Vec<String>,
    pub cpu: Cpu,
    /// Emit BTF and line info (`-g`).
    pub debug_info: bool,
    /// More clang arguments, after visor's own and before the source
    /// (`-Wno-unused`, `-include prelude.h`).
    pub extra_args: Vec<String>,
}

impl BuildOptions {
    /// The defaults: `-O2 -g -mcpu=v3`, output beside the source.
    pub fn new(source: impl Into<PathBuf>) -> BuildOptions {
        BuildOptions {
            source: source.into(),
            output: None,
            include_dirs: Vec::new(),
            defines: Vec::new(),
            cpu: Cpu::default(),
            debug_info: true,
            extra_args: Vec::new(),
        }
    }

    /// The object this build writes.
    pub fn output_path(&self) -> PathBuf {
        self.output
            .clone()
            .unwrap_or_else(|| default_output(&self.source))
    }
}

/// `prog.bpf.c` becomes `prog.bpf.o`, `prog.c` becomes `prog.o`, and any
/// other name gets `.o` appended.
pub fn default_output(source: &Path) -> PathBuf {
    match source.extension() {
        Some(ext) if ext == "c" => source.with_extension("o"),
        _ => {
            let mut name = source.as_os_str().to_owned();
            name.push(".o");
            PathBuf::from(name)
        }
    }
}

/// clang's arguments (without the program name) for `options`, with
/// visor's headers in `visor_include` and the host's multiarch headers, if
/// any, in `system_include`.
pub fn clang_args(
    options: &BuildOptions,
    visor_include: &Path,
    system_include: Option<&Path>,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["-target", "bpf", "-O2"].map(OsString::from).to_vec();
    if options.debug_info {
        args.push("-g".into());
    }
    args.push(format!("-mcpu={}", options.cpu.as_str()).into());
    args.extend(["-Wall", "-fno-stack-protector"].map(OsString::from));
    for define in &options.defines {
        args.push(format!("-D{define}").into());
    }
    for dir in options
        .include_dirs
        .iter()
        .map(PathBuf::as_path)
        .chain([visor_include])
    {
        args.push("-I".into());
        args.push(dir.into());
    }
    if let Some(dir) = system_include {
        args.push("-idirafter".into());
        args.push(dir.into());
    }
    args.extend(options.extra_args.iter().map(OsString::from));
    args.push("-c".into());
    args.push(options.source.clone().into());
    args.push("-o".into());
    args.push(options.output_path().into());
    args
}

/// The host's multiarch include directory (`/usr/include/x86_64-linux-gnu`),
/// where Debian and Ubuntu keep `<asm/types.h>`, if it exists.
pub fn host_multiarch_include() -> Option<PathBuf> {
    let triple = match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        "powerpc64" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        _ => return None,
    };
    let dir = Path::new("/usr/include").join(triple);
    dir.is_dir().then_some(dir)
}

/// A ready-to-run clang invocation: headers installed, arguments built.
#[derive(Clone, Debug)]
pub struct BuildCommand {
    clang: PathBuf,
    args: Vec<OsString>,
    source: PathBuf,
    output: PathBuf,
}

impl BuildCommand {
    /// Installs visor's headers and builds the command for `options`.
    pub fn new(clang: &Clang, options: &BuildOptions) -> Result<BuildCommand, BuildError> {
        let visor_include = headers::install()?;
        let system_include = host_multiarch_include();
        Ok(BuildCommand {
            clang: clang.path().to_path_buf(),
            args: clang_args(options, &visor_include, system_include.as_deref()),
            source: options.source.clone(),
            output: options.output_path(),
        })
    }

    /// The object the command writes.
    pub fn output(&self) -> &Path {
        &self.output
    }

    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// Runs clang; its output goes to this process's stdout and stderr.
    pub fn run(&self) -> Result<(), BuildError> {
        let status = Command::new(&self.clang)
            .args(&self.args)
            .status()
            .map_err(|source| self.spawn_failed(source))?;
        match status.success() {
            true => Ok(()),
            false => Err(BuildError::Compile {
                source_file: self.source.clone(),
                status,
            }),
        }
    }

    /// Runs clang with its diagnostics captured: a failed build's error
    /// carries them ([`BuildError::Diagnostics`]), for callers that have
    /// no terminal to show them on (the Python front end).
    pub fn run_captured(&self) -> Result<(), BuildError> {
        let output = Command::new(&self.clang)
            .args(&self.args)
            .output()
            .map_err(|source| self.spawn_failed(source))?;
        match output.status.success() {
            true => Ok(()),
            false => Err(BuildError::Diagnostics {
                source_file: self.source.clone(),
                diagnostics: String::from_utf8_lossy(&output.stderr).into_owned(),
            }),
        }
    }

    fn spawn_failed(&self, source: std::io::Error) -> BuildError {
        BuildError::Spawn {
            clang: self.clang.clone(),
            source,
        }
    }
}

/// The command as a shell would take it (for `--verbose`).
impl fmt::Display for BuildCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            shell_word(&self.clang.as_os_str().to_string_lossy())
        )?;
        for arg in &self.args {
            write!(f, " {}", shell_word(&arg.to_string_lossy()))?;
        }
        Ok(())
    }
}

fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=+:,@%".contains(c);
    match !word.is_empty() && word.chars().all(plain) {
        true => word.to_owned(),
        false => format!("'{}'", word.replace('\'', r"'\''")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn default_command_line() {
        let args = clang_args(
            &BuildOptions::new("ex/hello.bpf.c"),
            Path::new("/cache/inc"),
            None,
        );
        assert_eq!(
            strings(&args).join(" "),
            "-target bpf -O2 -g -mcpu=v3 -Wall -fno-stack-protector -I /cache/inc \
             -c ex/hello.bpf.c -o ex/hello.bpf.o"
        );
    }

    #[test]
    fn options_reach_the_command_line_in_order() {
        let options = BuildOptions {
            output: Some("out/x.o".into()),
            include_dirs: vec!["inc1".into(), "inc2".into()],
            defines: vec!["DEBUG".into(), "PORT=80".into()],
            cpu: Cpu::V4,
            debug_info: false,
            extra_args: vec!["-Wno-unused".into()],
            ..BuildOptions::new("x.c")
        };
        let args = strings(&clang_args(
            &options,
            Path::new("/v"),
            Some(Path::new("/usr/include/arch")),
        ));
        assert_eq!(
            args.join(" "),
            "-target bpf -O2 -mcpu=v4 -Wall -fno-stack-protector -DDEBUG -DPORT=80 \
             -I inc1 -I inc2 -I /v -idirafter /usr/include/arch -Wno-unused -c x.c -o out/x.o"
        );
    }

    #[test]
    fn default_output_replaces_c_only() {
        assert_eq!(
            default_output(Path::new("a/prog.bpf.c")),
            Path::new("a/prog.bpf.o")
        );
        assert_eq!(default_output(Path::new("prog.c")), Path::new("prog.o"));
        assert_eq!(
            default_output(Path::new("prog.bpf")),
            Path::new("prog.bpf.o")
        );
        assert_eq!(default_output(Path::new("prog")), Path::new("prog.o"));
    }

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let command = BuildCommand {
            clang: "/usr/bin/clang-19".into(),
            args: vec!["-DMSG=\"hi there\"".into(), "-c".into(), "my prog.c".into()],
            source: "my prog.c".into(),
            output: "my prog.o".into(),
        };
        assert_eq!(
            command.to_string(),
            r#"/usr/bin/clang-19 '-DMSG="hi there"' -c 'my prog.c'"#
        );
    }
}
