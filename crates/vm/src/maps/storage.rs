//! Value storage that programs point into while other threads use the
//! same map: words of `AtomicU64`, so concurrent access is defined
//! behaviour without `unsafe`, and a guest window that gives each value
//! its own bounds.
//!
//! ```text
//!  guest offset (lower 32 bits of an address into a map's region):
//!
//!   31            shift  shift-1             0
//!  +--------------------+--------------------+
//!  |   element index    |  offset in value   |    offset in value + len
//!  +--------------------+--------------------+        <= value_size
//!
//!  host: words[element * stride_words ..][.. value_size bytes]
//! ```
//!
//! `1 << shift` is twice `value_size` rounded up to a power of two (at
//! least 16), so finding the element and checking the access is a shift,
//! a mask and one compare, which a JIT can emit inline. No access
//! straddles two values, and one that runs past a value's end, by any
//! amount up to the value's size, lands in the guard half of the window
//! and faults, padding included. What this cannot stop is arithmetic
//! that jumps whole windows: `ptr + (1 << shift)` names the next value,
//! whose bounds then hold (the kernel's verifier refuses such programs;
//! giving each value its own region id would stop it here too, at the
//! cost of a 24-bit element limit).
//!
//! On the host values sit `stride` bytes apart (`value_size` rounded up
//! to 8). The host byte of a checked guest offset is
//! `(offset - within) * scale / 2^32 + within`, with
//! `scale = stride << (32 - shift)`: a multiply and a fixed shift, which
//! lets the JIT's inline access (`MapWindow`) do without a variable one.
//!
//! An access that fits inside one aligned 8-byte word is one atomic
//! operation (relaxed loads and stores; sequentially consistent
//! read-modify-writes for the `BPF_ATOMIC` instructions). An access that
//! straddles two words is split; the kernel's verifier refuses misaligned
//! atomics, so only plain loads and stores can straddle.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::maps::def::round8;
use crate::maps::error::MapError;
use crate::memory::FaultCause;

/// The guest window of all a map's values may not exceed the 32-bit
/// offset of an address.
const GUEST_WINDOW: u64 = 1 << 32;
/// Host bytes one map may take: a definition beyond this is refused
/// rather than exhausting memory.
const HOST_LIMIT: u64 = 1 << 30;

/// `elements` values of `value_size` bytes, each 8-byte aligned.
#[derive(Debug)]
pub(crate) struct ValueStore {
    words: Box<[AtomicU64]>,
    value_size: usize,
    stride_words: usize,
    shift: u32,
    elements: usize,
    program_writable: bool,
}

impl ValueStore {
    /// Zeroed storage for `elements` values; `program_writable` is false
    /// for `BPF_F_RDONLY_PROG` maps, whose values programs only read.
    pub(crate) fn new(
        value_size: u32,
        elements: u64,
        program_writable: bool,
    ) -> Result<ValueStore, MapError> {
        let stride = round8(value_size.max(1)) as u64;
        // Twice the value, rounded up to a power of two: the unused half
        // is a guard, so running off a value's end faults.
        let shift = stride.next_power_of_two().trailing_zeros() + 1;
        let host = elements.saturating_mul(stride);
        if elements << shift > GUEST_WINDOW || host > HOST_LIMIT {
            return Err(MapError::TooLarge { bytes: host });
        }
        let words = host as usize / 8;
        Ok(ValueStore {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            value_size: value_size as usize,
            stride_words: stride as usize / 8,
            shift,
            elements: elements as usize,
            program_writable,
        })
    }

    /// Bytes per value.
    pub(crate) fn value_size(&self) -> usize {
        self.value_size
    }

    /// Whether programs may write.
    pub(crate) fn program_writable(&self) -> bool {
        self.program_writable
    }

    /// Where value `element` starts in the map's guest region.
    pub(crate) fn guest_offset(&self, element: usize) -> u32 {
        // `new` checked that every element's window fits in 32 bits.
        (element << self.shift) as u32
    }

    /// The host byte index of guest `offset`, if `len` bytes from there
    /// stay inside one value: the per-value bounds check.
    pub(crate) fn locate(&self, offset: u32, len: usize) -> Result<usize, FaultCause> {
        let offset = offset as usize;
        let element = offset >> self.shift;
        let within = offset & ((1 << self.shift) - 1);
        if element >= self.elements || within + len > self.value_size {
            return Err(FaultCause::OutOfBounds {
                size: self.value_size,
            });
        }
        Ok(element * self.stride_words * 8 + within)
    }

    /// What native code needs to reach these values inline.
    #[cfg_attr(not(native_jit), allow(dead_code))] // for native code
    pub(crate) fn window(&self) -> crate::jit::MapWindow {
        // `new` keeps `shift` at most 31 (`HOST_LIMIT`), and `stride` below
        // `1 << shift`: the scale fits in 32 bits.
        let stride = (self.stride_words * 8) as u64;
        crate::jit::MapWindow::new(
            self.words.as_ptr().cast(),
            (1 << self.shift) - 1,
            stride << (32 - self.shift),
            (self.value_size, self.program_writable),
            (self.elements as u64) << self.shift,
        )
    }

    /// The host byte index of value `element`.
    fn start(&self, element: usize) -> usize {
        element * self.stride_words * 8
    }

    /// Copies value `element` into `out` (`value_size` bytes).
    pub(crate) fn read_value(&self, element: usize, out: &mut [u8]) {
        self.read_at(self.start(element), out);
    }

    /// Value `element` as a vector.
    pub(crate) fn value(&self, element: usize) -> Vec<u8> {
        let mut out = vec![0; self.value_size];
        self.read_value(element, &mut out);
        out
    }

    /// Overwrites value `element` with `data` (up to `value_size` bytes;
    /// the rest is zeroed).
    pub(crate) fn write_value(&self, element: usize, data: &[u8]) {
        let start = self.start(element);
        let data = data.get(..self.value_size).unwrap_or(data);
        self.write_at(start, data);
        let rest = self.value_size - data.len();
        if rest > 0 {
            self.write_at(start + data.len(), &vec![0; rest]);
        }
    }

    /// Copies `out.len()` bytes from host byte `at`.
    pub(crate) fn read_at(&self, at: usize, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            let byte = at + done;
            let (word, shift) = (byte / 8, byte % 8);
            let take = (8 - shift).min(out.len() - done);
            let value = self
                .words
                .get(word)
                .map_or(0, |w| w.load(Ordering::Relaxed));
            let bytes = value.to_le_bytes();
            out[done..done + take].copy_from_slice(&bytes[shift..shift + take]);
            done += take;
        }
    }

    /// Writes `data` at host byte `at`, each word touched atomically so a
    /// concurrent writer of the word's other bytes is not undone.
    pub(crate) fn write_at(&self, at: usize, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            let byte = at + done;
            let (word, shift) = (byte / 8, byte % 8);
            let take = (8 - shift).min(data.len() - done);
            if let Some(word) = self.words.get(word) {
                if take == 8 {
                    let mut bytes = [0; 8];
                    bytes.copy_from_slice(&data[done..done + 8]);
                    word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
                } else {
                    let part = &data[done..done + take];
                    let _ = word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                        let mut bytes = old.to_le_bytes();
                        bytes[shift..shift + take].copy_from_slice(part);
                        Some(u64::from_le_bytes(bytes))
                    });
                }
            }
            done += take;
        }
    }

    /// The little-endian value of `len` (1 to 8) bytes at host byte `at`.
    pub(crate) fn load(&self, at: usize, len: usize) -> u64 {
        let mut bytes = [0; 8];
        self.read_at(at, &mut bytes[..len]);
        u64::from_le_bytes(bytes)
    }

    /// Stores the low `len` bytes of `value` at host byte `at`.
    pub(crate) fn store(&self, at: usize, len: usize, value: u64) {
        self.write_at(at, &value.to_le_bytes()[..len]);
    }

    /// Replaces the `len`-byte value at host byte `at` with `update(old)`
    /// and returns `old`: one atomic operation when it fits in a word.
    pub(crate) fn update(&self, at: usize, len: usize, update: impl Fn(u64) -> u64) -> u64 {
        let (word, shift) = (at / 8, at % 8);
        let mask = u64::MAX >> (64 - 8 * len as u32);
        match self.words.get(word) {
            Some(cell) if shift + len <= 8 => {
                let bit = 8 * shift as u32;
                let result = cell.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |whole| {
                    let old = (whole >> bit) & mask;
                    let new = update(old) & mask;
                    Some(whole & !(mask << bit) | new << bit)
                });
                let whole = result.unwrap_or_else(|whole| whole);
                (whole >> bit) & mask
            }
            _ => {
                let old = self.load(at, len);
                self.store(at, len, update(old));
                old
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_windowed_and_bounded() {
        let store = ValueStore::new(12, 3, true).unwrap();
        assert_eq!(store.guest_offset(1), 32);
        assert_eq!(store.locate(32 + 4, 8), Ok(16 + 4));
        assert_eq!(
            store.locate(32 + 8, 8),
            Err(FaultCause::OutOfBounds { size: 12 })
        );
        assert_eq!(
            store.locate(32 + 16, 1),
            Err(FaultCause::OutOfBounds { size: 12 })
        );
        assert_eq!(
            store.locate(32 * 3, 1),
            Err(FaultCause::OutOfBounds { size: 12 })
        );
        store.write_value(2, &[1; 12]);
        store.store(store.locate(64 + 3, 4).unwrap(), 4, 0xaabb_ccdd);
        assert_eq!(
            store.value(2),
            [1, 1, 1, 0xdd, 0xcc, 0xbb, 0xaa, 1, 1, 1, 1, 1]
        );
        assert_eq!(store.value(1), [0; 12]);
    }

    #[test]
    fn updates_inside_a_word_are_atomic() {
        let store = std::sync::Arc::new(ValueStore::new(8, 1, true).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        store.update(4, 4, |v| v + 1);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(store.load(4, 4), 4000);
        assert_eq!(store.load(0, 4), 0);
    }

    #[test]
    fn huge_maps_are_refused() {
        assert!(matches!(
            ValueStore::new(4096, 1 << 21, true),
            Err(MapError::TooLarge { .. })
        ));
    }
}
