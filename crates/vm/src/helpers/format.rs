//! The printf of `bpf_trace_printk` and `bpf_snprintf`: the kernel's
//! `bpf_bprintf_prepare` rules (which formats are accepted, how many
//! arguments, the 512-byte argument buffer) and `vsnprintf`'s output for
//! what they accept.
//!
//! Accepted conversions: `%d %i %u %x %X` with an optional `l` or `ll`
//! (`int` is 32 bits, `long` and `long long` 64), `%c`, `%s`, `%p` and its
//! extensions `%pK %px %ps %pS %pB %pks %pus %pI4 %pi4 %pI6 %pi6`, and
//! `%%`; flags `0 + - space` and a width. No precision, no `#`, no `h`,
//! no `*`: those are `-EINVAL`, as is any byte of the format that is not
//! printable ASCII or whitespace, a conversion past the last argument,
//! and `%s`/`%p` followed directly by a letter or digit.
//!
//! Where the userspace engine cannot do what the kernel does:
//! - `%p` and `%pK` print the guest address unhashed (the kernel hashes
//!   non-NULL pointers unless booted with `no_hash_pointers`), as 16
//!   zero-padded hex digits like `%px`;
//! - `%ps`, `%pS`, `%pB` find no symbol, so print `0x` and the address in
//!   hex, as the kernel does for an address outside every symbol.
//!
//! `%s`, `%pks`, `%pus`, `%pI4`/`%pI6` read guest memory through the
//! run's [`Memory`]; an address that faults prints an empty string (or
//! the all-zero address), as the kernel's non-faulting copies do.

use crate::helpers::read_cstr;
use crate::maps::Errno;
use crate::memory::Memory;

/// `MAX_BPRINTF_BIN_ARGS`: bytes for the arguments of one call, strings
/// included.
const BIN_ARGS_SIZE: usize = 512;
/// `FIELD_WIDTH_MAX` of `vsnprintf`: larger widths are clamped.
const MAX_WIDTH: usize = (1 << 23) - 1;

/// A formatted message: the bytes that fit, and the length the whole
/// output would have had (what `vsnprintf` returns).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Formatted {
    /// At most `size - 1` bytes, no NUL.
    pub(crate) bytes: Vec<u8>,
    /// The untruncated length, without the NUL.
    pub(crate) len: usize,
}

/// Formats `format` (the bytes before its NUL) with `args` into a buffer
/// of `size` bytes, NUL included. Errors are the kernel's: `EINVAL` for a
/// format it refuses, `ENOSPC` when the arguments overflow its buffer.
pub(crate) fn format(
    format: &[u8],
    args: &[u64],
    memory: &Memory<'_>,
    size: usize,
) -> Result<Formatted, Errno> {
    let mut printer = Printer {
        format,
        at: 0,
        args,
        used: 0,
        next_arg: 0,
        out: Output::new(size),
    };
    printer.run(memory)?;
    Ok(Formatted {
        bytes: printer.out.bytes,
        len: printer.out.len,
    })
}

/// Output that keeps what fits and counts all.
struct Output {
    bytes: Vec<u8>,
    keep: usize,
    len: usize,
}

impl Output {
    fn new(size: usize) -> Output {
        Output {
            bytes: Vec::new(),
            keep: size.saturating_sub(1),
            len: 0,
        }
    }

    fn push(&mut self, byte: u8) {
        self.repeat(byte, 1);
    }

    fn repeat(&mut self, byte: u8, count: usize) {
        let room = self.keep.saturating_sub(self.bytes.len()).min(count);
        self.bytes.extend(core::iter::repeat_n(byte, room));
        self.len = self.len.saturating_add(count);
    }

    fn extend(&mut self, bytes: &[u8]) {
        let room = self.keep.saturating_sub(self.bytes.len()).min(bytes.len());
        self.bytes
            .extend_from_slice(bytes.get(..room).unwrap_or_default());
        self.len = self.len.saturating_add(bytes.len());
    }
}

/// Flags and width of one conversion.
#[derive(Clone, Copy, Debug, Default)]
struct Spec {
    left: bool,
    plus: bool,
    space: bool,
    zero: bool,
    width: usize,
}

/// How an integer is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Radix {
    Signed,
    Unsigned,
    Hex,
    HexUpper,
}

struct Printer<'f, 'a> {
    format: &'f [u8],
    at: usize,
    args: &'a [u64],
    /// Bytes of the kernel's argument buffer used so far.
    used: usize,
    next_arg: usize,
    out: Output,
}

impl Printer<'_, '_> {
    /// The format byte at `at`, or the terminating NUL past the end.
    fn byte(&self, at: usize) -> u8 {
        self.format.get(at).copied().unwrap_or(0)
    }

    fn run(&mut self, memory: &Memory<'_>) -> Result<(), Errno> {
        while self.at < self.format.len() {
            let c = self.byte(self.at);
            if !(is_print(c) || is_space(c)) {
                return Err(Errno::EINVAL);
            }
            self.at += 1;
            if c != b'%' {
                self.out.push(c);
                continue;
            }
            if self.byte(self.at) == b'%' {
                self.out.push(b'%');
                self.at += 1;
                continue;
            }
            let arg = *self.args.get(self.next_arg).ok_or(Errno::EINVAL)?;
            self.next_arg += 1;
            let spec = self.spec();
            self.conversion(spec, arg, memory)?;
        }
        Ok(())
    }

    /// Flags `0 + - space`, then a width that starts with 1 to 9.
    fn spec(&mut self) -> Spec {
        let mut spec = Spec::default();
        loop {
            match self.byte(self.at) {
                b'0' => spec.zero = true,
                b'+' => spec.plus = true,
                b'-' => spec.left = true,
                b' ' => spec.space = true,
                _ => break,
            }
            self.at += 1;
        }
        if matches!(self.byte(self.at), b'1'..=b'9') {
            while let c @ b'0'..=b'9' = self.byte(self.at) {
                spec.width = spec
                    .width
                    .saturating_mul(10)
                    .saturating_add(usize::from(c - b'0'));
                self.at += 1;
            }
        }
        spec.width = spec.width.min(MAX_WIDTH);
        if spec.left {
            spec.zero = false;
        }
        spec
    }

    /// The conversion at `at` (after flags and width), with its argument.
    fn conversion(&mut self, spec: Spec, arg: u64, memory: &Memory<'_>) -> Result<(), Errno> {
        let c = self.byte(self.at);
        self.at += 1;
        match c {
            b'p' => self.pointer(spec, arg, memory),
            b's' => {
                self.string_end()?;
                let bytes = self.copy_string(arg, memory)?;
                self.string(spec, &bytes);
                Ok(())
            }
            b'c' => {
                self.reserve_bytes(1)?;
                let pad = spec.width.saturating_sub(1);
                if !spec.left {
                    self.out.repeat(b' ', pad);
                }
                self.out.push(arg as u8);
                if spec.left {
                    self.out.repeat(b' ', pad);
                }
                Ok(())
            }
            _ => {
                self.at -= 1;
                let mut long = false;
                for _ in 0..2 {
                    if self.byte(self.at) == b'l' {
                        long = true;
                        self.at += 1;
                    }
                }
                let radix = match self.byte(self.at) {
                    b'd' | b'i' => Radix::Signed,
                    b'u' => Radix::Unsigned,
                    b'x' => Radix::Hex,
                    b'X' => Radix::HexUpper,
                    _ => return Err(Errno::EINVAL),
                };
                self.at += 1;
                self.reserve_word(if long { 8 } else { 4 })?;
                let value = match (long, radix) {
                    (true, _) => arg,
                    (false, Radix::Signed) => i64::from(arg as i32) as u64,
                    (false, _) => u64::from(arg as u32),
                };
                self.number(spec, value, radix);
                Ok(())
            }
        }
    }

    /// `%p` and its extensions; `at` is just past the `p`.
    fn pointer(&mut self, spec: Spec, arg: u64, memory: &Memory<'_>) -> Result<(), Errno> {
        let next = self.byte(self.at);
        if next == 0 || is_space(next) || is_punct(next) {
            self.reserve_word(8)?;
            self.raw_pointer(spec, arg);
            return Ok(());
        }
        match (next, self.byte(self.at + 1)) {
            (b'k' | b'u', b's') => {
                self.at += 2;
                self.string_end()?;
                let bytes = self.copy_string(arg, memory)?;
                self.string(spec, &bytes);
            }
            (b'K' | b'x', _) => {
                self.at += 1;
                self.reserve_word(8)?;
                self.raw_pointer(spec, arg);
            }
            (b's' | b'S' | b'B', _) => {
                self.at += 1;
                self.reserve_word(8)?;
                self.string(spec, format!("{arg:#x}").as_bytes());
            }
            (b'i' | b'I', version @ (b'4' | b'6')) => {
                self.at += 2;
                let text = self.ip_address(arg, next == b'I', version == b'4', memory)?;
                self.string(spec, &text);
            }
            _ => return Err(Errno::EINVAL),
        }
        // `vsnprintf` skips the letters and digits after an extension.
        while self.byte(self.at).is_ascii_alphanumeric() {
            self.at += 1;
        }
        Ok(())
    }

    /// `%s` must be followed by the end, whitespace or punctuation.
    fn string_end(&self) -> Result<(), Errno> {
        match self.byte(self.at) {
            0 => Ok(()),
            c if is_space(c) || is_punct(c) => Ok(()),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Copies a guest string into the argument buffer: what fits, and a
    /// NUL; nothing if `addr` faults.
    fn copy_string(&mut self, addr: u64, memory: &Memory<'_>) -> Result<Vec<u8>, Errno> {
        let room = BIN_ARGS_SIZE - self.used;
        if room == 0 {
            return Err(Errno::ENOSPC);
        }
        let bytes = read_cstr(memory, addr, room - 1).unwrap_or_default();
        self.used += bytes.len() + 1;
        Ok(bytes)
    }

    /// An IPv4 or IPv6 address read from guest memory, formatted now (the
    /// kernel formats it into the argument buffer too).
    fn ip_address(
        &mut self,
        addr: u64,
        separated: bool,
        v4: bool,
        memory: &Memory<'_>,
    ) -> Result<Vec<u8>, Errno> {
        let len = if v4 { 4 } else { 16 };
        let room = BIN_ARGS_SIZE - self.used;
        if room < len {
            return Err(Errno::ENOSPC);
        }
        let mut raw = [0u8; 16];
        let raw = &mut raw[..len];
        if memory.read(addr, raw).is_err() {
            raw.fill(0);
        }
        let text = match (v4, separated) {
            (true, true) => raw.iter().map(u8::to_string).collect::<Vec<_>>().join("."),
            (true, false) => raw
                .iter()
                .map(|b| format!("{b:03}"))
                .collect::<Vec<_>>()
                .join("."),
            (false, true) => raw
                .chunks(2)
                .map(|w| format!("{:02x}{:02x}", w[0], w[1]))
                .collect::<Vec<_>>()
                .join(":"),
            (false, false) => raw.iter().map(|b| format!("{b:02x}")).collect(),
        };
        let mut text = text.into_bytes();
        text.truncate(room - 1);
        self.used += text.len() + 1;
        Ok(text)
    }

    /// Room for one 32- or 64-bit argument, 4-byte aligned.
    fn reserve_word(&mut self, size: usize) -> Result<(), Errno> {
        self.used = self.used.next_multiple_of(4);
        if BIN_ARGS_SIZE.saturating_sub(self.used) < size {
            return Err(Errno::ENOSPC);
        }
        self.used += size;
        Ok(())
    }

    fn reserve_bytes(&mut self, size: usize) -> Result<(), Errno> {
        if BIN_ARGS_SIZE - self.used < size {
            return Err(Errno::ENOSPC);
        }
        self.used += size;
        Ok(())
    }

    /// A string padded with spaces to the width (`0` does not apply).
    fn string(&mut self, spec: Spec, bytes: &[u8]) {
        let pad = spec.width.saturating_sub(bytes.len());
        if !spec.left {
            self.out.repeat(b' ', pad);
        }
        self.out.extend(bytes);
        if spec.left {
            self.out.repeat(b' ', pad);
        }
    }

    /// A pointer in hex: 16 zero-padded digits unless a width is given.
    fn raw_pointer(&mut self, mut spec: Spec, addr: u64) {
        if spec.width == 0 {
            spec.width = 16;
            spec.zero = true;
        }
        self.number(spec, addr, Radix::Hex);
    }

    /// `vsnprintf`'s `number()` without precision: spaces, sign, zeros,
    /// digits, or digits then spaces when left-justified.
    fn number(&mut self, spec: Spec, value: u64, radix: Radix) {
        let (sign, magnitude) = match radix {
            Radix::Signed if (value as i64) < 0 => (Some(b'-'), (value as i64).unsigned_abs()),
            Radix::Signed if spec.plus => (Some(b'+'), value),
            Radix::Signed if spec.space => (Some(b' '), value),
            _ => (None, value),
        };
        let digits = match radix {
            Radix::Signed | Radix::Unsigned => magnitude.to_string(),
            Radix::Hex => format!("{magnitude:x}"),
            Radix::HexUpper => format!("{magnitude:X}"),
        };
        let pad = spec
            .width
            .saturating_sub(digits.len() + usize::from(sign.is_some()));
        if !spec.left && !spec.zero {
            self.out.repeat(b' ', pad);
        }
        if let Some(sign) = sign {
            self.out.push(sign);
        }
        if spec.zero {
            self.out.repeat(b'0', pad);
        }
        self.out.extend(digits.as_bytes());
        if spec.left {
            self.out.repeat(b' ', pad);
        }
    }
}

/// The kernel's `isprint` for ASCII: space to tilde.
fn is_print(c: u8) -> bool {
    (0x20..0x7f).contains(&c)
}

/// The kernel's `isspace` for ASCII.
pub(crate) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The kernel's `ispunct` for ASCII: printable, not a letter, digit or
/// space.
fn is_punct(c: u8) -> bool {
    c.is_ascii_punctuation()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{MAX_FRAMES, RegionId, STACK_FRAME_SIZE};
    use crate::region::Region;

    /// Formats with a context region holding `data` at 0x1_0000_0000.
    fn fmt_with(data: &[u8], format_str: &str, args: &[u64], size: usize) -> Result<String, Errno> {
        let mut stack = [[0; STACK_FRAME_SIZE]; MAX_FRAMES];
        let mut memory = Memory::new(&mut stack);
        memory.map(RegionId::CONTEXT, Region::readonly(data));
        let done = format(format_str.as_bytes(), args, &memory, size)?;
        let text = String::from_utf8(done.bytes).unwrap();
        assert!(done.len >= text.len());
        Ok(text)
    }

    fn fmt(format_str: &str, args: &[u64]) -> Result<String, Errno> {
        fmt_with(b"", format_str, args, 1024)
    }

    const CTX: u64 = 0x1_0000_0000;

    #[test]
    fn integers_follow_vsnprintf() {
        let neg = (-5i64) as u64;
        assert_eq!(fmt("%d %i %u", &[neg, 7, neg]).unwrap(), "-5 7 4294967291");
        assert_eq!(
            fmt("%x %X", &[0xdead_beef_cafe, 0xab]).unwrap(),
            "beefcafe AB"
        );
        assert_eq!(
            fmt("%ld %lu %lx", &[neg, neg, neg]).unwrap(),
            "-5 18446744073709551611 fffffffffffffffb"
        );
        assert_eq!(
            fmt("%lld %llu %llx", &[i64::MIN as u64, u64::MAX, 0]).unwrap(),
            "-9223372036854775808 18446744073709551615 0"
        );
        assert_eq!(fmt("%d", &[0x1_0000_0005]).unwrap(), "5", "int is 32 bits");
    }

    #[test]
    fn flags_and_widths_pad_like_the_kernel() {
        let neg = (-42i64) as u64;
        assert_eq!(fmt("[%5d]", &[42]).unwrap(), "[   42]");
        assert_eq!(fmt("[%-5d]", &[42]).unwrap(), "[42   ]");
        assert_eq!(fmt("[%05d]", &[neg]).unwrap(), "[-0042]");
        assert_eq!(fmt("[%+d]", &[42]).unwrap(), "[+42]");
        assert_eq!(fmt("[% d]", &[42]).unwrap(), "[ 42]");
        assert_eq!(fmt("[%+u]", &[42]).unwrap(), "[42]", "no sign on unsigned");
        assert_eq!(fmt("[%-05d]", &[7]).unwrap(), "[7    ]", "- beats 0");
        assert_eq!(fmt("[%08x]", &[0xbeef]).unwrap(), "[0000beef]");
        assert_eq!(fmt("[%1d]", &[12345]).unwrap(), "[12345]");
        assert_eq!(
            fmt("[%3c|%-3c]", &[b'a'.into(), b'b'.into()]).unwrap(),
            "[  a|b  ]"
        );
        assert_eq!(fmt("100%% %d", &[1]).unwrap(), "100% 1");
    }

    #[test]
    fn strings_are_read_from_guest_memory() {
        let data = b"hello\0world\0";
        assert_eq!(fmt_with(data, "<%s>", &[CTX], 1024).unwrap(), "<hello>");
        assert_eq!(fmt_with(data, "<%8s>", &[CTX], 1024).unwrap(), "<   hello>");
        assert_eq!(
            fmt_with(data, "<%-8s>", &[CTX], 1024).unwrap(),
            "<hello   >"
        );
        assert_eq!(
            fmt_with(data, "<%08s>", &[CTX], 1024).unwrap(),
            "<   hello>"
        );
        assert_eq!(
            fmt_with(data, "%pks,%pus", &[CTX + 6, CTX], 1024).unwrap(),
            "world,hello"
        );
        // A fault or NULL prints nothing, as the kernel's copy does.
        assert_eq!(
            fmt_with(data, "<%s><%s>", &[0, CTX + 100], 1024).unwrap(),
            "<><>"
        );
        // Unterminated before the region's end: the copy faults.
        assert_eq!(fmt_with(b"abc", "%s", &[CTX], 1024).unwrap(), "");
    }

    #[test]
    fn pointers_print_unhashed() {
        assert_eq!(fmt("%p", &[0x2_0000_01f8]).unwrap(), "00000002000001f8");
        assert_eq!(
            fmt("%px %pK", &[0, 0x10]).unwrap(),
            "0000000000000000 0000000000000010"
        );
        assert_eq!(fmt("[%20p]", &[0xab]).unwrap(), "[                  ab]");
        assert_eq!(fmt("%ps %pS", &[0x1234, 0]).unwrap(), "0x1234 0x0");
        assert_eq!(
            fmt("%pxyz!", &[1]).unwrap(),
            "0000000000000001!",
            "letters skipped"
        );
    }

    #[test]
    fn ip_addresses_are_read_and_formatted() {
        let data = [
            192, 168, 0, 1, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ];
        assert_eq!(
            fmt_with(&data, "%pI4", &[CTX], 1024).unwrap(),
            "192.168.0.1"
        );
        assert_eq!(
            fmt_with(&data, "%pi4", &[CTX], 1024).unwrap(),
            "192.168.000.001"
        );
        assert_eq!(
            fmt_with(&data, "%pI6", &[CTX + 4], 1024).unwrap(),
            "2001:0db8:0000:0000:0000:0000:0000:0001"
        );
        assert_eq!(
            fmt_with(&data, "%pi6", &[CTX + 4], 1024).unwrap(),
            "20010db8000000000000000000000001"
        );
        assert_eq!(fmt_with(&data, "%pI4", &[0], 1024).unwrap(), "0.0.0.0");
    }

    #[test]
    fn bad_formats_are_einval() {
        for bad in [
            "%",
            "%q",
            "%.2d",
            "%#x",
            "%hd",
            "%lc",
            "%5%",
            "%sx",
            "%pa",
            "%pI5",
            "%*d",
            "é",
            "\x01",
            "%d %d %d %d",
        ] {
            assert_eq!(fmt(bad, &[1, 2, 3]), Err(Errno::EINVAL), "{bad:?}");
        }
        assert_eq!(fmt("%d", &[]), Err(Errno::EINVAL));
        assert_eq!(fmt("tab\there\n", &[]).unwrap(), "tab\there\n");
    }

    #[test]
    fn output_is_truncated_but_counted() {
        let mut stack = [[0; STACK_FRAME_SIZE]; MAX_FRAMES];
        let memory = Memory::new(&mut stack);
        let done = format(b"%d-%d", &[1234, 5678], &memory, 5).unwrap();
        assert_eq!((done.bytes.as_slice(), done.len), (&b"1234"[..], 9));
        let nothing = format(b"abc", &[], &memory, 0).unwrap();
        assert_eq!((nothing.bytes.len(), nothing.len), (0, 3));
        let wide = format(b"%8000000d", &[1], &memory, 4).unwrap();
        assert_eq!(wide.len, 8_000_000);
    }

    #[test]
    fn the_argument_buffer_is_512_bytes() {
        let long = vec![b'x'; 600];
        let args = [CTX; 12];
        // The first string takes 511 bytes and the NUL; the next finds none.
        let done = fmt_with(&long, "%s", &args, 1024).unwrap();
        assert_eq!(done.len(), 511);
        assert_eq!(fmt_with(&long, "%s%s", &args, 1024), Err(Errno::ENOSPC));
        assert_eq!(fmt_with(&long, "%s%d", &args, 1024), Err(Errno::ENOSPC));
    }
}
