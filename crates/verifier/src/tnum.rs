//! Known bits ("tristate numbers"): for each bit of a 64-bit value, known
//! zero, known one, or unknown.
//!
//! A `Tnum { value, mask }` stands for every `x` with `x & !mask == value`:
//! bits set in `mask` are unknown, the others equal `value`'s. `value & mask`
//! is always zero. Every operation is sound: if `a ∈ A` and `b ∈ B` then
//! `a op b ∈ A.op(B)` (checked against brute force in the tests below).

use core::fmt;

/// A set of 64-bit values described by known and unknown bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tnum {
    /// The known bits' values (zero where unknown).
    pub value: u64,
    /// The unknown bits.
    pub mask: u64,
}

impl Tnum {
    /// Every value.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// Exactly `value`.
    pub const fn constant(value: u64) -> Tnum {
        Tnum { value, mask: 0 }
    }

    /// The smallest tnum holding every value in `min..=max`: the bits above
    /// the highest bit where the bounds differ are known.
    pub fn range(min: u64, max: u64) -> Tnum {
        let differ = min ^ max;
        if differ == 0 {
            return Tnum::constant(min);
        }
        let bits = 64 - differ.leading_zeros();
        let mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        Tnum {
            value: min & !mask,
            mask,
        }
    }

    pub fn is_const(self) -> bool {
        self.mask == 0
    }

    pub fn contains(self, x: u64) -> bool {
        x & !self.mask == self.value
    }

    /// Whether every value of `other` is also in `self`.
    pub fn includes(self, other: Tnum) -> bool {
        other.mask & !self.mask == 0 && other.value & !self.mask == self.value
    }

    /// The smallest value.
    pub fn min(self) -> u64 {
        self.value
    }

    /// The largest value.
    pub fn max(self) -> u64 {
        self.value | self.mask
    }

    pub fn plus(self, other: Tnum) -> Tnum {
        let sum_mask = self.mask.wrapping_add(other.mask);
        let sum_value = self.value.wrapping_add(other.value);
        let all = sum_mask.wrapping_add(sum_value);
        // Bits where the sums with and without the unknown bits differ may
        // carry differently; so may any unknown input bit.
        let carries = all ^ sum_value;
        let mask = carries | self.mask | other.mask;
        Tnum {
            value: sum_value & !mask,
            mask,
        }
    }

    pub fn minus(self, other: Tnum) -> Tnum {
        let diff_value = self.value.wrapping_sub(other.value);
        let lowest = diff_value.wrapping_add(self.mask);
        let highest = diff_value.wrapping_sub(other.mask);
        let borrows = lowest ^ highest;
        let mask = borrows | self.mask | other.mask;
        Tnum {
            value: diff_value & !mask,
            mask,
        }
    }

    pub fn negate(self) -> Tnum {
        Tnum::constant(0).minus(self)
    }

    pub fn and(self, other: Tnum) -> Tnum {
        let maybe_one_a = self.value | self.mask;
        let maybe_one_b = other.value | other.mask;
        let value = self.value & other.value;
        Tnum {
            value,
            mask: maybe_one_a & maybe_one_b & !value,
        }
    }

    pub fn or(self, other: Tnum) -> Tnum {
        let value = self.value | other.value;
        Tnum {
            value,
            mask: (self.mask | other.mask) & !value,
        }
    }

    pub fn xor(self, other: Tnum) -> Tnum {
        let mask = self.mask | other.mask;
        Tnum {
            value: (self.value ^ other.value) & !mask,
            mask,
        }
    }

    /// Multiplication as shift-and-add over the bits of `self`.
    pub fn times(self, other: Tnum) -> Tnum {
        let mut acc_value = Tnum::constant(self.value.wrapping_mul(other.value));
        let mut acc_mask = Tnum::constant(0);
        let (mut a, mut b) = (self, other);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                // Known one: adds b's unknown part.
                acc_mask = acc_mask.plus(Tnum {
                    value: 0,
                    mask: b.mask,
                });
            } else if a.mask & 1 != 0 {
                // Unknown: adds nothing or b, entirely unknown.
                acc_mask = acc_mask.plus(Tnum {
                    value: 0,
                    mask: b.value | b.mask,
                });
            }
            a = a.rsh(1);
            b = b.lsh(1);
        }
        acc_value = acc_value.plus(acc_mask);
        acc_value
    }

    pub fn lsh(self, shift: u32) -> Tnum {
        Tnum {
            value: self.value.wrapping_shl(shift),
            mask: self.mask.wrapping_shl(shift),
        }
    }

    pub fn rsh(self, shift: u32) -> Tnum {
        Tnum {
            value: self.value.wrapping_shr(shift),
            mask: self.mask.wrapping_shr(shift),
        }
    }

    /// Arithmetic right shift of the low `bits` (32 or 64), zero-extended.
    pub fn arsh(self, shift: u32, bits: u32) -> Tnum {
        if bits == 32 {
            let value = ((self.value as u32 as i32) >> shift) as u32 as u64;
            let mask = ((self.mask as u32 as i32) >> shift) as u32 as u64;
            Tnum { value, mask }
        } else {
            Tnum {
                value: ((self.value as i64) >> shift) as u64,
                mask: ((self.mask as i64) >> shift) as u64,
            }
        }
    }

    /// The low `bytes` bytes, zero-extended.
    pub fn truncate(self, bytes: usize) -> Tnum {
        if bytes >= 8 {
            return self;
        }
        let keep = (1u64 << (bytes * 8)) - 1;
        Tnum {
            value: self.value & keep,
            mask: self.mask & keep,
        }
    }

    /// The values in both, or `None` when they conflict.
    pub fn intersect(self, other: Tnum) -> Option<Tnum> {
        let known_both = !self.mask & !other.mask;
        if (self.value ^ other.value) & known_both != 0 {
            return None;
        }
        let value = self.value | other.value;
        let mask = self.mask & other.mask;
        Some(Tnum { value, mask })
    }

    /// The smallest tnum holding both.
    pub fn union(self, other: Tnum) -> Tnum {
        let mask = self.mask | other.mask | (self.value ^ other.value);
        Tnum {
            value: self.value & !mask,
            mask,
        }
    }
}

impl fmt::Debug for Tnum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:#x}; {:#x})", self.value, self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every tnum over the low `bits` bits (the rest known zero).
    fn all_small(bits: u32) -> Vec<Tnum> {
        let n = 1u64 << bits;
        let mut out = Vec::new();
        for mask in 0..n {
            for value in 0..n {
                if value & mask == 0 {
                    out.push(Tnum { value, mask });
                }
            }
        }
        out
    }

    fn members(t: Tnum) -> Vec<u64> {
        // Enumerate the subsets of the mask (small masks only).
        let mut out = Vec::new();
        let mut sub = t.mask;
        loop {
            out.push(t.value | sub);
            if sub == 0 {
                break;
            }
            sub = (sub - 1) & t.mask;
        }
        out
    }

    #[test]
    fn binary_operations_are_sound_by_brute_force() {
        let small = all_small(3);
        type Op = (&'static str, fn(Tnum, Tnum) -> Tnum, fn(u64, u64) -> u64);
        let ops: [Op; 6] = [
            ("add", Tnum::plus, u64::wrapping_add),
            ("sub", Tnum::minus, u64::wrapping_sub),
            ("and", Tnum::and, |a, b| a & b),
            ("or", Tnum::or, |a, b| a | b),
            ("xor", Tnum::xor, |a, b| a ^ b),
            ("mul", Tnum::times, u64::wrapping_mul),
        ];
        for (name, abstract_op, concrete_op) in ops {
            for &a in &small {
                for &b in &small {
                    let result = abstract_op(a, b);
                    for x in members(a) {
                        for y in members(b) {
                            let z = concrete_op(x, y);
                            assert!(result.contains(z), "{name} {a:?} {b:?}: {x} {y} -> {z}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn range_union_and_intersection() {
        assert_eq!(Tnum::range(4, 7), Tnum { value: 4, mask: 3 });
        assert_eq!(Tnum::range(5, 5), Tnum::constant(5));
        assert_eq!(Tnum::range(0, u64::MAX), Tnum::UNKNOWN);
        let u = Tnum::constant(4).union(Tnum::constant(6));
        assert_eq!(u, Tnum { value: 4, mask: 2 });
        assert!(u.contains(4) && u.contains(6) && !u.contains(5));
        assert_eq!(Tnum::constant(1).intersect(Tnum::constant(2)), None);
        assert_eq!(
            Tnum::UNKNOWN.intersect(Tnum::constant(9)),
            Some(Tnum::constant(9))
        );
        assert!(Tnum::UNKNOWN.includes(u) && !u.includes(Tnum::UNKNOWN));
    }

    proptest! {
        #[test]
        fn shifts_and_truncation_are_sound(value: u64, mask: u64, pick: u64, shift in 0u32..64) {
            let t = Tnum { value: value & !mask, mask };
            let x = t.value | (pick & mask);
            prop_assert!(t.contains(x));
            prop_assert!(t.lsh(shift).contains(x << shift));
            prop_assert!(t.rsh(shift).contains(x >> shift));
            prop_assert!(t.arsh(shift, 64).contains(((x as i64) >> shift) as u64));
            let s32 = shift % 32;
            prop_assert!(t.arsh(s32, 32).contains(((x as u32 as i32) >> s32) as u32 as u64));
            prop_assert!(t.truncate(4).contains(x as u32 as u64));
            prop_assert!(t.negate().contains(x.wrapping_neg()));
        }

        #[test]
        fn range_holds_its_bounds(a: u64, b: u64, pick: u64) {
            let (lo, hi) = (a.min(b), a.max(b));
            let t = Tnum::range(lo, hi);
            let x = lo + pick % (hi - lo).saturating_add(1).max(1);
            prop_assert!(t.contains(lo) && t.contains(hi) && t.contains(x.min(hi)));
        }
    }
}
