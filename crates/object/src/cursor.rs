//! A forward-only reader over one untrusted section (BTF, `.BTF.ext`, map
//! definitions). No method panics: every read returns a `Result` naming what
//! was being read and where, and a failed read empties the cursor so that a
//! loop over garbage ends.

use crate::error::{ObjectError, Result};

/// Reads little-endian values from a section's bytes.
#[derive(Clone, Debug)]
pub(crate) struct Cursor<'data, 'name> {
    bytes: &'data [u8],
    pos: usize,
    /// Offset of `bytes[0]` inside the section, so errors give section offsets.
    base: usize,
    section: &'name str,
}

impl<'data, 'name> Cursor<'data, 'name> {
    pub fn new(bytes: &'data [u8], section: &'name str) -> Self {
        Cursor {
            bytes,
            pos: 0,
            base: 0,
            section,
        }
    }

    /// Offset of the next read inside the section.
    pub fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    pub fn section(&self) -> &'name str {
        self.section
    }

    /// The next `len` bytes, as a slice of the input.
    pub fn bytes(&mut self, len: usize, what: &'static str) -> Result<&'data [u8]> {
        let end = self.pos.checked_add(len);
        match end.and_then(|end| self.bytes.get(self.pos..end)) {
            Some(head) => {
                self.pos += len;
                Ok(head)
            }
            None => Err(self.truncated(what, len)),
        }
    }

    /// A sub-cursor over the next `len` bytes; this cursor moves past them.
    pub fn split(&mut self, len: usize, what: &'static str) -> Result<Cursor<'data, 'name>> {
        let base = self.offset();
        let bytes = self.bytes(len, what)?;
        Ok(Cursor {
            bytes,
            pos: 0,
            base,
            section: self.section,
        })
    }

    /// A cursor over `len` bytes at `offset` from the start of this cursor's
    /// bytes, leaving this cursor where it is.
    pub fn sub(
        &self,
        offset: usize,
        len: usize,
        what: &'static str,
    ) -> Result<Cursor<'data, 'name>> {
        let mut at = self.clone();
        at.pos = 0;
        at.skip(offset, what)?;
        at.split(len, what)
    }

    pub fn skip(&mut self, len: usize, what: &'static str) -> Result<()> {
        self.bytes(len, what).map(|_| ())
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        match rest.split_first_chunk::<N>() {
            Some((head, _)) => {
                self.pos += N;
                Ok(*head)
            }
            None => Err(self.truncated(what, N)),
        }
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        self.array::<1>(what).map(|[b]| b)
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16> {
        self.array(what).map(u16::from_le_bytes)
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub fn i32(&mut self, what: &'static str) -> Result<i32> {
        self.array(what).map(i32::from_le_bytes)
    }

    /// A u32 count or length, as `usize`.
    pub fn len32(&mut self, what: &'static str) -> Result<usize> {
        let at = self.offset();
        let value = self.u32(what)?;
        usize::try_from(value).map_err(|_| ObjectError::bad_value(self.section, what, at, value))
    }

    fn truncated(&mut self, what: &'static str, need: usize) -> ObjectError {
        let error = ObjectError::Truncated {
            section: self.section.to_owned(),
            what,
            offset: self.offset(),
            need,
        };
        self.pos = self.bytes.len();
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_names_truncation() {
        let bytes = [1, 0, 2, 0, 0, 0, 9];
        let mut cursor = Cursor::new(&bytes, ".BTF");
        assert_eq!(cursor.u16("a").unwrap(), 1);
        assert_eq!(cursor.u32("b").unwrap(), 2);
        assert_eq!(
            cursor.u32("c").unwrap_err(),
            ObjectError::Truncated {
                section: ".BTF".into(),
                what: "c",
                offset: 6,
                need: 4
            }
        );
        assert!(cursor.is_empty(), "a failed read empties the cursor");
    }

    #[test]
    fn sub_cursors_report_section_offsets() {
        let bytes = [0u8; 16];
        let cursor = Cursor::new(&bytes, "s");
        let mut sub = cursor.sub(8, 4, "x").unwrap();
        assert_eq!(sub.offset(), 8);
        sub.u32("y").unwrap();
        assert!(matches!(
            sub.u8("z"),
            Err(ObjectError::Truncated { offset: 12, .. })
        ));
        assert!(cursor.sub(usize::MAX, 2, "far").is_err());
    }
}
