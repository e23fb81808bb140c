//! One line of LLVM-syntax assembly as tokens, each with its column.
//!
//! Three kinds of token: words (registers, mnemonics, labels: letters,
//! digits, `_`, `.`, `$`, not starting with a digit), numbers (a digit and
//! whatever letters and digits follow, checked later by [`number_value`]),
//! and operators. A comment (`;`, `#` or `//`) ends the line.

use crate::asm::{AsmErrorKind, LineError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TokenKind {
    Word,
    Number,
    Symbol,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Token<'a> {
    pub kind: TokenKind,
    pub text: &'a str,
    /// 1-based column of the first character, in characters.
    pub column: usize,
}

/// Operators, longest first so that `<<=` is not read as `<` `<=`. The
/// signed ones start with `s`, so they are matched before words.
const SYMBOLS: [&str; 35] = [
    "s>>=", "<<=", ">>=", "s>=", "s<=", "s/=", "s%=", "s>", "s<", "+=", "-=", "*=", "/=", "%=",
    "|=", "&=", "^=", "==", "!=", ">=", "<=", ">", "<", "=", "&", "(", ")", "*", "+", "-", "[",
    "]", ",", ":", "|",
];

/// Where a comment starts.
const COMMENTS: [&str; 3] = [";", "#", "//"];

pub(super) fn tokenize(line: &str) -> Result<Vec<Token<'_>>, LineError> {
    let mut tokens = Vec::new();
    let mut column = 1;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if COMMENTS.iter().any(|comment| rest.starts_with(comment)) {
            break;
        }
        let len = if c.is_whitespace() {
            c.len_utf8()
        } else {
            let token = next_token(rest, column)?;
            tokens.push(token);
            token.text.len()
        };
        // Every token is ASCII, so its byte length is its width in columns.
        column += rest[..len].chars().count();
        rest = &rest[len..];
    }
    Ok(tokens)
}

/// The token at the start of `rest`, which is not whitespace or a comment.
fn next_token(rest: &str, column: usize) -> Result<Token<'_>, LineError> {
    let token = |kind, len| Token {
        kind,
        text: &rest[..len],
        column,
    };
    if let Some(symbol) = SYMBOLS.iter().find(|s| rest.starts_with(*s)) {
        return Ok(token(TokenKind::Symbol, symbol.len()));
    }
    let c = rest.chars().next().unwrap_or_default();
    let run = |continues: fn(char) -> bool| rest.find(|c| !continues(c)).unwrap_or(rest.len());
    if c.is_ascii_digit() {
        Ok(token(
            TokenKind::Number,
            run(|c| c.is_ascii_alphanumeric() || c == '_'),
        ))
    } else if is_word_start(c) {
        Ok(token(TokenKind::Word, run(is_word_char)))
    } else {
        Err(LineError {
            column,
            kind: AsmErrorKind::Expected {
                expected: "a register, number, name or operator",
                found: c.to_string(),
            },
        })
    }
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '_' | '.' | '$')
}

fn is_word_char(c: char) -> bool {
    is_word_start(c) || c.is_ascii_digit()
}

/// The value of a number token as llvm-mc reads it: `0x` hex, `0b` binary,
/// a leading `0` octal, otherwise decimal. `None` when it is not a number.
pub(super) fn number_value(text: &str) -> Option<u128> {
    let lower = text.to_ascii_lowercase();
    let (digits, radix) = if let Some(hex) = lower.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(binary) = lower.strip_prefix("0b") {
        (binary, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    // `from_str_radix` would take a leading `+`; a token never holds one,
    // but the check keeps this function honest on its own.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u128::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<(&str, usize)> {
        tokenize(line)
            .unwrap()
            .into_iter()
            .map(|t| (t.text, t.column))
            .collect()
    }

    #[test]
    fn operators_take_the_longest_match() {
        assert_eq!(texts("r0 s>>= 3"), [("r0", 1), ("s>>=", 4), ("3", 9)]);
        assert_eq!(
            texts("if r1 s<=r2"),
            [("if", 1), ("r1", 4), ("s<=", 7), ("r2", 10)]
        );
        assert_eq!(texts("w0 <<= w1"), [("w0", 1), ("<<=", 4), ("w1", 8)]);
    }

    #[test]
    fn words_starting_with_s_stay_words() {
        assert_eq!(texts("(s8)r1"), [("(", 1), ("s8", 2), (")", 4), ("r1", 5)]);
        assert_eq!(texts("skb[r1]")[0], ("skb", 1));
    }

    #[test]
    fn comments_end_the_line() {
        assert_eq!(texts("exit ; done"), [("exit", 1)]);
        assert_eq!(texts("exit # done"), [("exit", 1)]);
        assert_eq!(texts("exit // done"), [("exit", 1)]);
        assert_eq!(texts("r0 /= 2"), [("r0", 1), ("/=", 4), ("2", 7)]);
    }

    #[test]
    fn columns_count_characters_and_tabs_as_one() {
        assert_eq!(texts("\tr0 = 1"), [("r0", 2), ("=", 5), ("1", 7)]);
        let error = tokenize("é r0 @").unwrap_err();
        assert_eq!(error.column, 1);
        let error = tokenize("r0 = @").unwrap_err();
        assert_eq!(error.column, 6);
    }

    #[test]
    fn numbers_follow_llvm_mc() {
        assert_eq!(number_value("0x1f"), Some(31));
        assert_eq!(number_value("0X1F"), Some(31));
        assert_eq!(number_value("0b101"), Some(5));
        assert_eq!(number_value("010"), Some(8));
        assert_eq!(number_value("0"), Some(0));
        assert_eq!(number_value("42"), Some(42));
        assert_eq!(number_value("0x"), None);
        assert_eq!(number_value("09"), None);
        assert_eq!(number_value("12ab"), None);
        assert_eq!(number_value(&"9".repeat(60)), None);
    }
}
