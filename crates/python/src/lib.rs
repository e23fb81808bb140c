//! `visor._visor`, the native half of the `visor` Python package: the
//! Rust engines behind a small, byte-level API. The Python half
//! (`python/visor/`) builds BCC's interface on it: `BPF`, typed tables,
//! histograms, output readers.
//!
//! - `compile`: restricted C to an object through `visor-build`, with its
//!   BCC-style prelude (`visor_build::bcc`).
//! - `object`: [`object::Object`], a loaded object in either engine: map
//!   operations on raw bytes, runs, attachments.
//! - `types`: BTF types as plain descriptions Python turns into `ctypes`.
//! - `readers`: trace_pipe, perf buffers and ring buffers.
//!
//! Every error reaches Python as an exception whose text is the Rust
//! error's chain, so a verifier rejection shows its whole reason.

mod compile;
mod object;
mod readers;
mod types;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(_visor, VisorError, PyException, "Anything visor refused.");
create_exception!(
    _visor,
    CompileError,
    VisorError,
    "clang could not compile the C."
);
create_exception!(
    _visor,
    LoadError,
    VisorError,
    "The engine refused the object: a verifier rejection, a map it cannot make."
);
create_exception!(
    _visor,
    AttachError,
    VisorError,
    "A program could not be attached."
);

/// The error and its sources, one per line, as Python shows it.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// BCC's `print_log2_hist` layout for counts by slot.
#[pyfunction]
#[pyo3(signature = (slots, label, strip_leading_zero=false))]
fn log2_hist(slots: Vec<u64>, label: &str, strip_leading_zero: bool) -> String {
    visor_hist::log2(&slots, label, strip_leading_zero)
}

/// BCC's `print_linear_hist` layout for counts by value.
#[pyfunction]
fn linear_hist(slots: Vec<u64>, label: &str) -> String {
    visor_hist::linear(&slots, label)
}

#[pymodule]
fn _visor(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("VisorError", py.get_type::<VisorError>())?;
    m.add("CompileError", py.get_type::<CompileError>())?;
    m.add("LoadError", py.get_type::<LoadError>())?;
    m.add("AttachError", py.get_type::<AttachError>())?;
    m.add_function(wrap_pyfunction!(compile::compile, m)?)?;
    m.add_function(wrap_pyfunction!(log2_hist, m)?)?;
    m.add_function(wrap_pyfunction!(linear_hist, m)?)?;
    m.add_function(wrap_pyfunction!(readers::parse_trace_line, m)?)?;
    m.add_class::<object::Object>()?;
    m.add_class::<object::Attachment>()?;
    m.add_class::<readers::TracePipe>()?;
    m.add_class::<readers::PerfReader>()?;
    m.add_class::<readers::RingReader>()?;
    Ok(())
}
