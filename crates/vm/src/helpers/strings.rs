//! Text: `bpf_strtol` (105), `bpf_strtoul` (106) and `bpf_snprintf` (165).
//!
//! `strtol`/`strtoul` parse `buf_len` bytes of guest memory as the kernel
//! does: leading whitespace, an optional `-` (no `+`), then digits of
//! base 8, 10 or 16, or with base 0 the C prefixes (`0x` hexadecimal, `0`
//! octal); at most 63 bytes after the sign are looked at. They return the
//! bytes consumed and store the value at `res` (first set to 0), or
//! `-EINVAL` (no digits, bad base or flags, `-` for `strtoul`) or
//! `-ERANGE` (overflow).
//!
//! `snprintf` formats a NUL-terminated guest string (the kernel requires
//! it in read-only memory; any readable memory is taken here) with
//! `data_len / 8` arguments read from `data`, writes at most `str_size`
//! bytes NUL included, and returns the untruncated length plus one.

use visor_isa::Size;

use super::format::{format, is_space};
use super::{Helpers, Outcome, failed, ids, read_cstr, read_vec, returned, size_arg};
use crate::maps::Errno;
use crate::memory::Memory;

/// `BPF_STRTOX_BASE_MASK`.
const BASE_MASK: u64 = 0x1f;
/// The kernel copies at most this many bytes after the sign.
const MAX_DIGITS: usize = 63;
/// `MAX_BPRINTF_VARARGS`: `bpf_snprintf` takes at most 12 arguments.
const MAX_SNPRINTF_ARGS: u64 = 12;
/// The longest format `bpf_snprintf` reads here before giving up on
/// finding its NUL.
const MAX_FORMAT: usize = 1 << 16;

pub(super) fn register(helpers: &mut Helpers) {
    helpers.register(ids::STRTOL, "strtol", strtol);
    helpers.register(ids::STRTOUL, "strtoul", strtoul);
    helpers.register(ids::SNPRINTF, "snprintf", snprintf);
}

/// A parsed number: its magnitude, whether a `-` preceded it, and the
/// bytes consumed (whitespace, sign, prefix and digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub(crate) magnitude: u64,
    pub(crate) negative: bool,
    pub(crate) consumed: usize,
}

/// The kernel's `__bpf_strtoull`.
pub(crate) fn parse(buf: &[u8], flags: u64) -> Result<Parsed, Errno> {
    let mut base = (flags & BASE_MASK) as u32;
    if buf.is_empty() || !matches!(base, 0 | 8 | 10 | 16) || flags & !BASE_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    // The kernel's isspace also takes Latin-1's no-break space.
    let blanks = buf
        .iter()
        .take_while(|&&c| is_space(c) || c == 0xa0)
        .count();
    let negative = buf.get(blanks) == Some(&b'-');
    let start = blanks + usize::from(negative);
    let rest = buf.get(start..).unwrap_or_default();
    if rest.is_empty() {
        return Err(Errno::EINVAL);
    }
    let text = &rest[..rest.len().min(MAX_DIGITS)];
    let at = |i: usize| text.get(i).copied().unwrap_or(0);
    let hex_prefix = at(0) == b'0' && at(1).eq_ignore_ascii_case(&b'x');
    if base == 0 {
        base = match (at(0), hex_prefix && at(2).is_ascii_hexdigit()) {
            (b'0', true) => 16,
            (b'0', false) => 8,
            _ => 10,
        };
    }
    let prefix = if base == 16 && hex_prefix { 2 } else { 0 };
    let mut magnitude = 0u64;
    let mut overflow = false;
    let mut digits = 0;
    while let Some(digit) = (at(prefix + digits) as char).to_digit(base) {
        match magnitude
            .checked_mul(base.into())
            .and_then(|m| m.checked_add(digit.into()))
        {
            Some(next) => magnitude = next,
            None => {
                overflow = true;
                magnitude = magnitude
                    .wrapping_mul(base.into())
                    .wrapping_add(digit.into());
            }
        }
        digits += 1;
    }
    if overflow {
        return Err(Errno::ERANGE);
    }
    if digits == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(Parsed {
        magnitude,
        negative,
        consumed: start + prefix + digits,
    })
}

/// The kernel's `__bpf_strtoll`: the signed value, or `-ERANGE`.
pub(crate) fn signed(parsed: Parsed) -> Result<i64, Errno> {
    let value = if parsed.negative {
        parsed.magnitude.wrapping_neg() as i64
    } else {
        parsed.magnitude as i64
    };
    match (parsed.negative, value) {
        (true, v) if v > 0 => Err(Errno::ERANGE),
        (false, v) if v < 0 => Err(Errno::ERANGE),
        (_, v) => Ok(v),
    }
}

/// Reads `buf_len` bytes at `buf` and sets `*res = 0` first, as the
/// kernel does.
fn start(args: [u64; 5], memory: &mut Memory<'_>) -> Result<Vec<u8>, super::HelperError> {
    let [buf, buf_len, _, res, _] = args;
    memory.store(res, Size::DW, 0)?;
    Ok(read_vec(memory, buf, size_arg(buf_len, 2)?)?)
}

fn strtol(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let bytes = start(args, memory)?;
    let parsed = parse(&bytes, args[2]).and_then(|p| Ok((signed(p)?, p.consumed)));
    match parsed {
        Ok((value, consumed)) => {
            memory.store(args[3], Size::DW, value as u64)?;
            returned(consumed as u64)
        }
        Err(errno) => failed(errno),
    }
}

fn strtoul(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let bytes = start(args, memory)?;
    match parse(&bytes, args[2]) {
        Ok(parsed) if parsed.negative => failed(Errno::EINVAL),
        Ok(parsed) => {
            memory.store(args[3], Size::DW, parsed.magnitude)?;
            returned(parsed.consumed as u64)
        }
        Err(errno) => failed(errno),
    }
}

fn snprintf(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let [out, out_size, fmt, data, data_len] = args;
    if data_len % 8 != 0 || data_len > MAX_SNPRINTF_ARGS * 8 || (data_len != 0 && data == 0) {
        return failed(Errno::EINVAL);
    }
    let raw = read_vec(memory, data, data_len as usize)?;
    let values: Vec<u64> = raw
        .chunks_exact(8)
        .map(|word| u64::from_le_bytes(word.try_into().unwrap_or_default()))
        .collect();
    let text = read_cstr(memory, fmt, MAX_FORMAT)?;
    if text.len() == MAX_FORMAT {
        return failed(Errno::EINVAL);
    }
    let size = size_arg(out_size, 2)?;
    let formatted = match format(&text, &values, memory, size) {
        Ok(formatted) => formatted,
        Err(errno) => return failed(errno),
    };
    if size > 0 {
        let mut bytes = formatted.bytes;
        bytes.push(0);
        memory.write(out, &bytes)?;
    }
    returned(formatted.len as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strtol_of(text: &str, flags: u64) -> Result<(i64, usize), Errno> {
        let parsed = parse(text.as_bytes(), flags)?;
        Ok((signed(parsed)?, parsed.consumed))
    }

    #[test]
    fn bases_prefixes_signs_and_whitespace() {
        assert_eq!(strtol_of("123abc", 10), Ok((123, 3)));
        assert_eq!(strtol_of("  \t-42 ", 0), Ok((-42, 6)));
        assert_eq!(strtol_of("0x1F", 0), Ok((31, 4)));
        assert_eq!(strtol_of("0X1f", 16), Ok((31, 4)));
        assert_eq!(strtol_of("1f", 16), Ok((31, 2)));
        assert_eq!(strtol_of("0755", 0), Ok((0o755, 4)));
        assert_eq!(strtol_of("0789", 0), Ok((7, 2)), "octal stops at 8");
        assert_eq!(
            strtol_of("0xg", 0),
            Ok((0, 1)),
            "0x without a hex digit is octal 0"
        );
        assert_eq!(strtol_of("0", 0), Ok((0, 1)));
        assert_eq!(strtol_of("-0", 10), Ok((0, 2)));
        assert_eq!(strtol_of("777", 8), Ok((511, 3)));
        assert_eq!(
            strtol_of("\u{a0}5", 10),
            Err(Errno::EINVAL),
            "UTF-8 bytes are not 0xa0 alone"
        );
        assert_eq!(parse(b"\xa05", 10).map(|p| p.consumed), Ok(2));
    }

    #[test]
    fn errors_are_the_kernels() {
        assert_eq!(strtol_of("+5", 10), Err(Errno::EINVAL), "no plus sign");
        assert_eq!(strtol_of("", 10), Err(Errno::EINVAL));
        assert_eq!(strtol_of("   ", 10), Err(Errno::EINVAL));
        assert_eq!(strtol_of("-", 10), Err(Errno::EINVAL));
        assert_eq!(strtol_of("abc", 10), Err(Errno::EINVAL));
        assert_eq!(
            strtol_of("0x", 16),
            Err(Errno::EINVAL),
            "prefix and no digits"
        );
        assert_eq!(strtol_of("12", 2), Err(Errno::EINVAL), "base 2");
        assert_eq!(
            strtol_of("12", 10 | 0x20),
            Err(Errno::EINVAL),
            "unknown flag"
        );
    }

    #[test]
    fn ranges_of_long_and_unsigned_long() {
        assert_eq!(strtol_of("9223372036854775807", 10), Ok((i64::MAX, 19)));
        assert_eq!(strtol_of("9223372036854775808", 10), Err(Errno::ERANGE));
        assert_eq!(strtol_of("-9223372036854775808", 10), Ok((i64::MIN, 20)));
        assert_eq!(strtol_of("-9223372036854775809", 10), Err(Errno::ERANGE));
        let max = parse(b"18446744073709551615", 10).unwrap();
        assert_eq!((max.magnitude, max.consumed), (u64::MAX, 20));
        assert_eq!(parse(b"18446744073709551616", 10), Err(Errno::ERANGE));
        assert_eq!(parse(b"0xffffffffffffffff", 0).unwrap().magnitude, u64::MAX);
    }

    #[test]
    fn only_63_bytes_after_the_sign_are_read() {
        let zeros = format!("-{}1", "0".repeat(70));
        assert_eq!(strtol_of(&zeros, 10), Ok((0, 64)));
    }
}
