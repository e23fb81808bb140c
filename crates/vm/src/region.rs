//! One mapped region: host bytes that guest addresses may reach, and
//! whether guest code may write them.

/// Host bytes mapped into the guest, read-only or writable.
///
/// The permission is fixed at construction ([`Region::readonly`],
/// [`Region::writable`]); the borrow says which, so a read-only region
/// cannot be written even by a bug in the engine.
#[derive(Debug)]
pub struct Region<'a> {
    bytes: Bytes<'a>,
}

#[derive(Debug)]
enum Bytes<'a> {
    ReadOnly(&'a [u8]),
    Writable(&'a mut [u8]),
    /// Owned by the run: a ring buffer reservation's scratch bytes.
    Owned(Box<[u8]>),
}

impl<'a> Region<'a> {
    /// Bytes the program may read but not write.
    pub fn readonly(bytes: &'a [u8]) -> Region<'a> {
        Region {
            bytes: Bytes::ReadOnly(bytes),
        }
    }

    /// Bytes the program may read and write.
    pub fn writable(bytes: &'a mut [u8]) -> Region<'a> {
        Region {
            bytes: Bytes::Writable(bytes),
        }
    }

    /// Bytes owned by the region, writable (ring buffer reservations).
    pub(crate) fn owned(bytes: Box<[u8]>) -> Region<'a> {
        Region {
            bytes: Bytes::Owned(bytes),
        }
    }

    /// The bytes of an owned region (empty for borrowed ones).
    pub(crate) fn into_owned(self) -> Box<[u8]> {
        match self.bytes {
            Bytes::Owned(bytes) => bytes,
            Bytes::ReadOnly(_) | Bytes::Writable(_) => Box::default(),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Whether the region holds no bytes (every access faults).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether guest code may write the region.
    pub fn is_writable(&self) -> bool {
        matches!(self.bytes, Bytes::Writable(_) | Bytes::Owned(_))
    }

    /// All the bytes, for reading.
    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::ReadOnly(bytes) => bytes,
            Bytes::Writable(bytes) => bytes,
            Bytes::Owned(bytes) => bytes,
        }
    }

    /// All the bytes for writing, if the region is writable.
    pub fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        match &mut self.bytes {
            Bytes::ReadOnly(_) => None,
            Bytes::Writable(bytes) => Some(bytes),
            Bytes::Owned(bytes) => Some(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_follows_the_constructor() {
        let data = [1, 2, 3];
        let mut readonly = Region::readonly(&data);
        assert_eq!(readonly.bytes(), &[1, 2, 3]);
        assert!(!readonly.is_writable());
        assert!(readonly.bytes_mut().is_none());

        let mut buffer = [0u8; 2];
        let mut writable = Region::writable(&mut buffer);
        assert!(writable.is_writable());
        writable.bytes_mut().unwrap()[1] = 9;
        assert_eq!(writable.bytes(), &[0, 9]);
        assert_eq!(writable.len(), 2);
    }
}
