//! `BPF(text=...)` and `BPF(src_file=...)`: restricted C to object bytes,
//! with clang's diagnostics in the exception when it fails.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use visor_build::{BuildCommand, BuildOptions, Clang, bcc};

use crate::{CompileError, chain};

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        let mut dir = std::env::temp_dir();
        let unique = format!(
            "visor-py-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        );
        dir.push(unique.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', ""));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles `text`, or the file at `path`, into an object; `cflags` go to
/// clang as they are. The BCC prelude (see `visor_build::bcc`) comes first.
#[pyfunction]
#[pyo3(signature = (text=None, path=None, cflags=Vec::new()))]
pub fn compile(
    py: Python<'_>,
    text: Option<String>,
    path: Option<PathBuf>,
    cflags: Vec<String>,
) -> PyResult<Vec<u8>> {
    let failed = |what: &str, e: &dyn std::error::Error| {
        CompileError::new_err(format!("{what}: {}", chain(e)))
    };
    let scratch = Scratch::new().map_err(|e| failed("cannot make a scratch directory", &e))?;
    let (source_text, source) = match (text, path) {
        (Some(text), None) => {
            let source = scratch.0.join("program.bpf.c");
            std::fs::write(&source, &text).map_err(|e| failed("cannot write the source", &e))?;
            (text, source)
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| failed(&format!("cannot read {}", path.display()), &e))?;
            (text, path)
        }
        _ => {
            return Err(CompileError::new_err(
                "give exactly one of text= and src_file=",
            ));
        }
    };
    let prelude = scratch.0.join("visor_prelude.h");
    std::fs::write(&prelude, bcc::prelude(&source_text))
        .map_err(|e| failed("cannot write the prelude", &e))?;
    let output = scratch.0.join("program.bpf.o");
    // clang runs for a while: let other Python threads go on meanwhile.
    py.detach(|| build(&source, &prelude, &output, cflags))
        .map_err(|e| CompileError::new_err(chain(&e)))?;
    std::fs::read(&output).map_err(|e| failed("cannot read the object clang wrote", &e))
}

fn build(
    source: &Path,
    prelude: &Path,
    output: &Path,
    cflags: Vec<String>,
) -> Result<(), visor_build::BuildError> {
    let clang = Clang::find(None)?;
    let mut extra_args = vec!["-include".to_owned(), prelude.display().to_string()];
    extra_args.extend(cflags);
    let options = BuildOptions {
        output: Some(output.to_path_buf()),
        extra_args,
        ..BuildOptions::new(source)
    };
    BuildCommand::new(&clang, &options)?.run_captured()
}
