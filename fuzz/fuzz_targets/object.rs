//! Arbitrary bytes as an ELF object. Parsing must return, never panic; what
//! parses must hang together (map references name existing maps, line info
//! points into its program).
#![no_main]

use libfuzzer_sys::fuzz_target;
use visor_object::Object;

fuzz_target!(|data: &[u8]| {
    let Ok(object) = Object::parse(data) else {
        return;
    };
    for program in object.programs() {
        let len = program.insns().slot_len();
        for r in program.map_refs() {
            assert!(
                r.map < object.maps().len() && r.insn < len,
                "dangling map reference"
            );
        }
        for line in program.line_info() {
            assert!(line.insn < len, "line info past the program");
        }
    }
});
