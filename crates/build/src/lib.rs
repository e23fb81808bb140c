//! Restricted C to eBPF objects: find clang, give it visor's headers and the
//! flags a BPF object needs, run it.
//!
//! `visor build` and the Python front end share this crate; it holds every
//! decision about compiling (which clang, which flags, where the headers go),
//! so both front ends compile a file the same way.
//!
//! ```no_run
//! use visor_build::{BuildOptions, Clang};
//! let clang = Clang::find(None)?;
//! let built = visor_build::build(&clang, &BuildOptions::new("hello.bpf.c"))?;
//! assert_eq!(built, std::path::Path::new("hello.bpf.o"));
//! # Ok::<(), visor_build::BuildError>(())
//! ```
//!
//! **Architecture Invariant:** depends on no visor crate; the only program
//! it runs is clang, and the only files it writes are the object and the
//! header cache.
#![forbid(unsafe_code)]

pub mod bcc;
mod clang;
mod command;
mod error;
pub mod headers;

use std::path::PathBuf;

pub use clang::{Clang, ClangOrigin, ClangSearch};
pub use command::{
    BuildCommand, BuildOptions, Cpu, clang_args, default_output, host_multiarch_include,
};
pub use error::BuildError;

/// Compiles `options.source` with `clang`, returning the object's path.
/// clang's diagnostics go to this process's stderr, unchanged.
pub fn build(clang: &Clang, options: &BuildOptions) -> Result<PathBuf, BuildError> {
    let command = BuildCommand::new(clang, options)?;
    command.run()?;
    Ok(command.output().to_path_buf())
}
