//! Random text through both assemblers. What assembles must survive the
//! round trip through the disassembler unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use visor_isa::asm::{Syntax, assemble};
use visor_isa::disasm::program_text;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for syntax in [Syntax::Llvm, Syntax::Ubpf] {
        if let Ok(program) = assemble(text, syntax) {
            let again = assemble(&program_text(&program), Syntax::Llvm).expect("disassembly reassembles");
            assert_eq!(again, program, "round trip changed the program");
        }
    }
});
