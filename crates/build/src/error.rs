//! What can go wrong while building, each error saying what to do next.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use crate::ClangOrigin;

/// Why a build did not produce an object.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No clang given, and none on `PATH`.
    #[error(
        "no clang found ({tried}); install clang 19 (`apt-get install clang-19`), \
         or set $CLANG or pass --clang with the path of a clang binary"
    )]
    NoClang {
        /// What the search looked at, in order.
        tried: String,
    },
    /// `--clang` or `$CLANG` named something that is not an executable file.
    #[error(
        "{origin} names `{}`, which is not an executable file; \
         give the path of a clang binary, or install clang-19",
        path.display()
    )]
    ClangMissing { path: PathBuf, origin: ClangOrigin },
    /// The header cache could not be written.
    #[error("cannot write visor's headers to {}: {source}; set $XDG_CACHE_HOME to a writable directory", dir.display())]
    Headers {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// clang could not be started.
    #[error("cannot run {}: {source}", clang.display())]
    Spawn {
        clang: PathBuf,
        #[source]
        source: io::Error,
    },
    /// clang ran and reported errors (already printed on stderr).
    #[error("clang failed: {} did not compile ({status}); clang's diagnostics are above", source_file.display())]
    Compile {
        source_file: PathBuf,
        status: ExitStatus,
    },
    /// clang ran and reported errors, captured here.
    #[error("clang could not compile {}:\n{diagnostics}", source_file.display())]
    Diagnostics {
        source_file: PathBuf,
        diagnostics: String,
    },
}
