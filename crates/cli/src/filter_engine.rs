//! `visor filter --engine`: which engine runs a checked cBPF program over
//! a capture. All give libpcap's `bpf_filter` result for every packet.

use anyhow::Context;
use visor_filter::{CheckedProgram, Packet, run as run_cbpf, to_ebpf};
use visor_vm::{Helpers, Interpreter, RunInput, Session};

/// The engine that runs the filter over each packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FilterEngine {
    /// Translate to eBPF and run on visor's x86-64 JIT (on other hosts, the
    /// eBPF interpreter), as the kernel runs socket filters.
    #[default]
    Jit,
    /// Translate to eBPF and run on visor's eBPF interpreter.
    EbpfInterp,
    /// Run the cBPF program itself in visor's cBPF interpreter: for short
    /// filters about as fast as the JIT (see the README's Performance
    /// section).
    CbpfInterp,
}

/// A filter prepared for one engine.
pub enum PreparedFilter<'a> {
    Cbpf(&'a CheckedProgram),
    /// The eBPF translation, ready to run many times (boxed: an
    /// `Interpreter` is a few hundred bytes).
    Ebpf(Box<Interpreter>),
}

impl<'a> PreparedFilter<'a> {
    /// Prepares `program` for `engine`.
    pub fn new(program: &'a CheckedProgram, engine: FilterEngine) -> anyhow::Result<Self> {
        if engine == FilterEngine::CbpfInterp {
            return Ok(PreparedFilter::Cbpf(program));
        }
        let mut vm = Interpreter::new(&to_ebpf(program), Helpers::new())
            .context("visor-vm cannot run the eBPF translation; try --engine cbpf-interp")?;
        if engine == FilterEngine::Jit
            && let Err(_no_jit) = vm.compile_jit()
        {
            // Not an error: on this host the interpreter runs the
            // translation, with the same results.
        }
        Ok(PreparedFilter::Ebpf(Box::new(vm)))
    }

    /// A runner of this filter over packets, one at a time.
    pub fn runner(&self) -> FilterRunner<'_> {
        match self {
            PreparedFilter::Cbpf(program) => FilterRunner::Cbpf(program),
            PreparedFilter::Ebpf(vm) => FilterRunner::Ebpf(Session::new(vm)),
        }
    }
}

/// Runs a prepared filter packet after packet.
pub enum FilterRunner<'a> {
    Cbpf(&'a CheckedProgram),
    Ebpf(Session<'a>),
}

impl FilterRunner<'_> {
    /// What the filter returns for `data`, captured from a packet of
    /// `wire_len` bytes: 0 rejects, else the bytes to keep.
    pub fn run(&mut self, data: &[u8], wire_len: u32) -> anyhow::Result<u32> {
        match self {
            FilterRunner::Cbpf(program) => Ok(run_cbpf(program, Packet::new(data, wire_len))),
            FilterRunner::Ebpf(session) => {
                let input = RunInput::readonly(data).with_length(u64::from(wire_len));
                let r0 = session
                    .run(input)
                    .context("the eBPF translation failed; try --engine cbpf-interp")?;
                // The translation writes only 32-bit values to r0.
                Ok(r0 as u32)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use visor_filter::check;
    use visor_filter::compile::{CompileOptions, LinkType, compile};

    /// What each engine returns for `expression` on `data` from a packet
    /// of `wire_len` bytes.
    fn every_engine(expression: &str, data: &[u8], wire_len: u32) -> Vec<u32> {
        let insns = compile(expression, &CompileOptions::new(LinkType::EN10MB)).unwrap();
        let program = check(&insns).unwrap();
        [
            FilterEngine::Jit,
            FilterEngine::EbpfInterp,
            FilterEngine::CbpfInterp,
        ]
        .into_iter()
        .map(|engine| {
            let prepared = PreparedFilter::new(&program, engine).unwrap();
            prepared.runner().run(data, wire_len).unwrap()
        })
        .collect()
    }

    #[test]
    fn the_wire_length_is_the_packets_not_the_captured_bytes() {
        let cut = [0u8; 60];
        assert_eq!(every_engine("greater 100", &cut, 1500), [262_144; 3]);
        assert_eq!(every_engine("greater 100", &cut, 60), [0; 3]);
        assert_eq!(every_engine("len = 1500", &cut, 1500), [262_144; 3]);
    }

    #[test]
    fn a_load_past_the_captured_bytes_rejects_in_every_engine() {
        // The IPv4 protocol byte is at 23: past these 20 bytes.
        let mut short = [0u8; 20];
        short[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(every_engine("ip and udp", &short, 60), [0; 3]);
    }
}
