//! visor's `-d` listing against every listing libpcap master printed in
//! `../shared/filters/accept.json`: each line is read back into an
//! instruction, and `image` must print exactly that line again.

mod common;

use visor_isa::cbpf::{Format, Listing, image};

#[test]
fn every_accept_listing_prints_as_libpcap() {
    let Some(blocks) = common::accept_blocks() else {
        return;
    };
    let (mut listings, mut lines) = (0, 0);
    for block in blocks.iter().filter(|b| b.name != "bpf_image") {
        for (field, text) in &block.listings {
            let program = common::parse_listing(text)
                .unwrap_or_else(|e| panic!("{} {field}: {e}", block.name));
            for ((pc, insn), want) in program.iter().enumerate().zip(text.lines()) {
                assert_eq!(image(insn, pc), want, "{} {field}", block.name);
            }
            let whole = Listing::new(&program, Format::Image).to_string();
            assert_eq!(whole.trim_end(), text.trim_end(), "{} {field}", block.name);
            listings += 1;
            lines += program.len();
        }
    }
    eprintln!("{listings} listings, {lines} lines: identical");
    assert!(
        listings > 1000,
        "accept.json looks truncated: {listings} listings"
    );
}

/// The block that lists one instruction of every valid opcode, with the
/// opcode after each line: the lines, read back without that column, print
/// the whole block again, column included.
#[test]
fn the_bpf_image_block_prints_as_libpcap() {
    let Some(blocks) = common::accept_blocks() else {
        return;
    };
    let block = blocks
        .iter()
        .find(|b| b.name == "bpf_image")
        .expect("bpf_image block");
    let (_, text) = block
        .listings
        .iter()
        .find(|(f, _)| *f == "unopt")
        .expect("unopt listing");
    let mut plain = String::new();
    let mut codes = Vec::new();
    for line in text.lines() {
        let (listed, code) = line.split_once("; 0x").expect("opcode column");
        plain.push_str(listed.trim_end());
        plain.push('\n');
        codes.push(u16::from_str_radix(code, 16).expect("hex opcode"));
    }
    let program = common::parse_listing(&plain).expect("block parses");
    let listed_codes: Vec<u16> = program.iter().map(|insn| insn.code).collect();
    assert_eq!(
        listed_codes, codes,
        "the opcode column names each instruction"
    );
    assert_eq!(program.len(), 49, "one instruction per valid opcode");
    let listing = Listing::new(&program, Format::ImageWithOpcodes).to_string();
    assert_eq!(listing.trim_end(), text.trim_end());
}
