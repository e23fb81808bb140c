//! The filter-language compiler on arbitrary text: lexing, parsing and code
//! generation must return a program or an error, never panic, for every
//! link type; a program that compiles must pass libpcap's checker.
#![no_main]

use libfuzzer_sys::fuzz_target;
use visor_filter::compile::{CompileOptions, LinkType, NameDb, compile};
use visor_filter::{Rules, check_with};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let all = LinkType::ALL;
    let (linktype, _, _) = all[usize::from(selector) % all.len()];
    let mut opts = CompileOptions::new(linktype);
    opts.names = NameDb::default();
    if let Ok(program) = compile(text, &opts) {
        assert!(
            check_with(&program, Rules::Libpcap).is_ok(),
            "compiled program fails the checker"
        );
    }
});
