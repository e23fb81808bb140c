//! Hex text as the conformance protocol and `--mem` write it.

use anyhow::{Context, bail};

/// Parses bytes written in hex, separated by any whitespace or not at all
/// (`"b7 00"`, `"b700"`, `"0xb7 0x00"`).
pub fn parse_bytes(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut digits = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        let word = word.strip_prefix("0x").unwrap_or(word);
        if let Some(bad) = word.chars().find(|c| !c.is_ascii_hexdigit()) {
            bail!("`{bad}` in `{word}` is not a hex digit");
        }
        if word.len() % 2 != 0 {
            bail!("`{word}` is not a whole number of hex bytes (two digits per byte)");
        }
        digits.push_str(word);
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            let pair = &digits[i..i + 2];
            u8::from_str_radix(pair, 16).with_context(|| format!("`{pair}` is not a hex byte"))
        })
        .collect()
}

/// Formats bytes as space-separated pairs of hex digits.
pub fn format_bytes(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    pairs.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_protocols_double_spaces_and_prefixes() {
        assert_eq!(parse_bytes("b7  00 \n0x01").unwrap(), [0xb7, 0x00, 0x01]);
        assert_eq!(parse_bytes("b70001").unwrap(), [0xb7, 0x00, 0x01]);
        assert_eq!(parse_bytes("").unwrap(), Vec::<u8>::new());
        assert!(parse_bytes("b7 0").is_err());
        assert!(parse_bytes("zz").is_err());
        // Non-ASCII must be an error, not a panic on a char boundary.
        assert!(parse_bytes("é1").is_err());
        assert!(parse_bytes("aéb").is_err());
    }

    #[test]
    fn formats_as_pairs() {
        assert_eq!(format_bytes(&[0x95, 0, 1]), "95 00 01");
    }
}
