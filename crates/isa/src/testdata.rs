//! The bpf_conformance test format (`.data` files).
//!
//! ```text
//! # comment
//! -- asm
//! mov32 %r0, 1
//! exit
//! -- mem
//! 11 22
//! -- result
//! 0x1
//! ```
//!
//! Sections: `asm` (uBPF syntax), `raw` (64-bit slot words), `mem` (hex
//! bytes of the input memory), `result` (expected r0), `error` (expected
//! error text). Other sections (`c`, `no register offset`) are ignored.

/// One parsed test. Parsing never fails: a malformed number is kept as
/// `None` so that the runner reports the test, not the parser.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestCase {
    /// The `-- asm` section, comments included.
    pub asm: String,
    /// The `-- raw` words, when present.
    pub raw: Option<Vec<u64>>,
    /// The input memory (empty when there is no `-- mem`).
    pub mem: Vec<u8>,
    /// The expected r0.
    pub result: Option<u64>,
    /// The expected error text.
    pub error: Option<String>,
}

impl TestCase {
    pub fn parse(text: &str) -> TestCase {
        let mut case = TestCase::default();
        let mut section = "";
        let mut raw = Vec::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("-- ") {
                section = name.trim();
                if section == "raw" {
                    case.raw = Some(Vec::new());
                }
                continue;
            }
            let content = line.split('#').next().unwrap_or_default().trim();
            match section {
                "asm" => {
                    case.asm.push_str(line);
                    case.asm.push('\n');
                }
                "raw" if !content.is_empty() => raw.push(parse_number(content)),
                "mem" => case.mem.extend(
                    content
                        .split_whitespace()
                        .filter_map(|b| u8::from_str_radix(b, 16).ok()),
                ),
                "result" if !content.is_empty() => case.result = parse_number(content),
                "error" if !line.trim().is_empty() => case.error = Some(line.trim().to_owned()),
                _ => {}
            }
        }
        if case.raw.is_some() {
            case.raw = raw.into_iter().collect();
        }
        case
    }
}

/// `0x`-prefixed hex or decimal.
fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_section() {
        let case = TestCase::parse(
            "# c\n-- asm\nlddw %r0, 0x1\nexit\n-- raw\n0x0000000100000018\n0x0\n0x95\n-- mem\n11 22\n-- result\n0x1\n",
        );
        assert_eq!(case.asm, "lddw %r0, 0x1\nexit\n");
        assert_eq!(case.raw, Some(vec![0x0000000100000018, 0, 0x95]));
        assert_eq!(case.mem, [0x11, 0x22]);
        assert_eq!(case.result, Some(1));
        assert_eq!(case.error, None);
    }

    #[test]
    fn a_bad_raw_word_drops_the_raw_section() {
        let case = TestCase::parse("-- raw\nzz\n-- result\nbad\n");
        assert_eq!(case.raw, None);
        assert_eq!(case.result, None);
    }
}
