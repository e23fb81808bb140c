//! Abstract scalars: unsigned and signed ranges at 64 and 32 bits, plus
//! known bits, kept consistent with one another.
//!
//! A [`Scalar`] stands for the 64-bit values that satisfy all five views at
//! once. [`Scalar::normalize`] lets each view tighten the others (a tnum
//! bounds the ranges, a range fixes the high bits, a 64-bit range inside
//! one 4 GiB window gives the 32-bit ranges, and so on) and says when the
//! set is empty, which is how a conditional jump learns that a branch cannot
//! be taken. 32-bit ALU operations are computed as 64-bit operations on the
//! zero- or sign-extended low halves, then truncated: the low 32 bits of
//! `add`, `sub`, `mul`, logic and left shifts depend only on the low 32 bits
//! of their operands.

use crate::tnum::Tnum;
use core::fmt;
use visor_isa::{AluOp, JmpCond, Width};

/// A set of 64-bit values.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scalar {
    pub umin: u64,
    pub umax: u64,
    pub smin: i64,
    pub smax: i64,
    pub u32min: u32,
    pub u32max: u32,
    pub s32min: i32,
    pub s32max: i32,
    pub bits: Tnum,
}

impl Scalar {
    /// Every value.
    pub const UNKNOWN: Scalar = Scalar {
        umin: 0,
        umax: u64::MAX,
        smin: i64::MIN,
        smax: i64::MAX,
        u32min: 0,
        u32max: u32::MAX,
        s32min: i32::MIN,
        s32max: i32::MAX,
        bits: Tnum::UNKNOWN,
    };

    pub fn constant(value: u64) -> Scalar {
        Scalar {
            umin: value,
            umax: value,
            smin: value as i64,
            smax: value as i64,
            u32min: value as u32,
            u32max: value as u32,
            s32min: value as i32,
            s32max: value as i32,
            bits: Tnum::constant(value),
        }
    }

    /// Values `min..=max` (unsigned).
    pub fn urange(min: u64, max: u64) -> Scalar {
        Scalar::UNKNOWN
            .with_urange(min, max)
            .unwrap_or(Scalar::UNKNOWN)
    }

    /// Values `min..=max` (signed).
    pub fn srange(min: i64, max: i64) -> Scalar {
        Scalar::UNKNOWN
            .with_srange(min, max)
            .unwrap_or(Scalar::UNKNOWN)
    }

    /// Any value that fits in `bytes` bytes, zero-extended: what
    /// `urange(0, max)` normalizes to, written out (loads and 32-bit
    /// results make many).
    pub const fn of_size(bytes: usize) -> Scalar {
        if bytes >= 8 {
            return Scalar::UNKNOWN;
        }
        let max = (1u64 << (bytes * 8)) - 1;
        let (s32min, s32max) = if bytes >= 4 {
            (i32::MIN, i32::MAX)
        } else {
            (0, max as i32)
        };
        Scalar {
            umin: 0,
            umax: max,
            smin: 0,
            smax: max as i64,
            u32min: 0,
            u32max: max as u32,
            s32min,
            s32max,
            bits: Tnum {
                value: 0,
                mask: max,
            },
        }
    }

    pub fn as_const(&self) -> Option<u64> {
        self.bits.is_const().then_some(self.bits.value)
    }

    pub fn contains(&self, x: u64) -> bool {
        (self.umin..=self.umax).contains(&x)
            && (self.smin..=self.smax).contains(&(x as i64))
            && (self.u32min..=self.u32max).contains(&(x as u32))
            && (self.s32min..=self.s32max).contains(&(x as i32))
            && self.bits.contains(x)
    }

    /// Whether every value of `other` is in `self` (for state pruning).
    pub fn includes(&self, other: &Scalar) -> bool {
        self.umin <= other.umin
            && other.umax <= self.umax
            && self.smin <= other.smin
            && other.smax <= self.smax
            && self.u32min <= other.u32min
            && other.u32max <= self.u32max
            && self.s32min <= other.s32min
            && other.s32max <= self.s32max
            && self.bits.includes(other.bits)
    }

    /// The smallest scalar holding both (control-flow joins).
    pub fn join(&self, other: &Scalar) -> Scalar {
        Scalar {
            umin: self.umin.min(other.umin),
            umax: self.umax.max(other.umax),
            smin: self.smin.min(other.smin),
            smax: self.smax.max(other.smax),
            u32min: self.u32min.min(other.u32min),
            u32max: self.u32max.max(other.u32max),
            s32min: self.s32min.min(other.s32min),
            s32max: self.s32max.max(other.s32max),
            bits: self.bits.union(other.bits),
        }
    }

    pub fn with_urange(mut self, min: u64, max: u64) -> Option<Scalar> {
        self.umin = self.umin.max(min);
        self.umax = self.umax.min(max);
        self.normalize()
    }

    pub fn with_srange(mut self, min: i64, max: i64) -> Option<Scalar> {
        self.smin = self.smin.max(min);
        self.smax = self.smax.min(max);
        self.normalize()
    }

    pub fn with_u32range(mut self, min: u32, max: u32) -> Option<Scalar> {
        self.u32min = self.u32min.max(min);
        self.u32max = self.u32max.min(max);
        self.normalize()
    }

    pub fn with_s32range(mut self, min: i32, max: i32) -> Option<Scalar> {
        self.s32min = self.s32min.max(min);
        self.s32max = self.s32max.min(max);
        self.normalize()
    }

    pub fn with_bits(mut self, bits: Tnum) -> Option<Scalar> {
        self.bits = self.bits.intersect(bits)?;
        self.normalize()
    }

    /// `next`, a later value of a number that was `self`, with each bound
    /// that moved pushed to its end: the values the number may take if it
    /// keeps moving so (loop widening).
    pub fn widen(&self, next: &Scalar) -> Scalar {
        if self == next {
            return *self;
        }
        fn low<T: PartialOrd>(then: T, now: T, end: T) -> T {
            if now < then { end } else { now }
        }
        fn high<T: PartialOrd>(then: T, now: T, end: T) -> T {
            if now > then { end } else { now }
        }
        let wide = Scalar {
            umin: low(self.umin, next.umin, 0),
            umax: high(self.umax, next.umax, u64::MAX),
            smin: low(self.smin, next.smin, i64::MIN),
            smax: high(self.smax, next.smax, i64::MAX),
            u32min: low(self.u32min, next.u32min, 0),
            u32max: high(self.u32max, next.u32max, u32::MAX),
            s32min: low(self.s32min, next.s32min, i32::MIN),
            s32max: high(self.s32max, next.s32max, i32::MAX),
            // Known bits would bound the moved ends again.
            bits: Tnum::UNKNOWN,
        };
        wide.join(next).normalize().unwrap_or(Scalar::UNKNOWN)
    }

    /// Lets every view tighten the others; `None` when no value is left.
    pub fn normalize(mut self) -> Option<Scalar> {
        // A constant is its own fixpoint, if every view holds it.
        if let Some(c) = self.as_const() {
            return self.contains(c).then(|| Scalar::constant(c));
        }
        for _ in 0..3 {
            let before = self;
            self.tighten()?;
            if self == before {
                break;
            }
        }
        Some(self)
    }

    fn tighten(&mut self) -> Option<()> {
        let empty = |ok: bool| if ok { Some(()) } else { None };
        // Known bits bound the unsigned ranges.
        self.umin = self.umin.max(self.bits.min());
        self.umax = self.umax.min(self.bits.max());
        let low = self.bits.truncate(4);
        self.u32min = self.u32min.max(low.min() as u32);
        self.u32max = self.u32max.min(low.max() as u32);
        empty(self.umin <= self.umax && self.u32min <= self.u32max)?;
        // Signed and unsigned agree when the range does not cross the sign.
        if self.smin >= 0 || self.smax < 0 {
            self.umin = self.umin.max(self.smin as u64);
            self.umax = self.umax.min(self.smax as u64);
        }
        if (self.umin as i64) <= (self.umax as i64) {
            self.smin = self.smin.max(self.umin as i64);
            self.smax = self.smax.min(self.umax as i64);
        }
        if self.s32min >= 0 || self.s32max < 0 {
            self.u32min = self.u32min.max(self.s32min as u32);
            self.u32max = self.u32max.min(self.s32max as u32);
        }
        if (self.u32min as i32) <= (self.u32max as i32) {
            self.s32min = self.s32min.max(self.u32min as i32);
            self.s32max = self.s32max.min(self.u32max as i32);
        }
        empty(self.umin <= self.umax && self.smin <= self.smax)?;
        empty(self.u32min <= self.u32max && self.s32min <= self.s32max)?;
        // A 64-bit range inside one 4 GiB window bounds the low half.
        for (lo, hi) in [(self.umin, self.umax), (self.smin as u64, self.smax as u64)] {
            if lo >> 32 == hi >> 32 {
                self.u32min = self.u32min.max(lo as u32);
                self.u32max = self.u32max.min(hi as u32);
                if (lo as i32) <= (hi as i32) {
                    self.s32min = self.s32min.max(lo as i32);
                    self.s32max = self.s32max.min(hi as i32);
                }
            }
        }
        if self.smin >= i64::from(i32::MIN) && self.smax <= i64::from(i32::MAX) {
            self.s32min = self.s32min.max(self.smin as i32);
            self.s32max = self.s32max.min(self.smax as i32);
        }
        empty(self.u32min <= self.u32max && self.s32min <= self.s32max)?;
        // Known high half: the low half's range gives the full range.
        if self.bits.mask >> 32 == 0 {
            let high = self.bits.value & !0xffff_ffff;
            self.umin = self.umin.max(high | u64::from(self.u32min));
            self.umax = self.umax.min(high | u64::from(self.u32max));
        }
        // Ranges fix the bits they share.
        let from_range = Tnum::range(self.umin, self.umax);
        let low_range = Tnum::range(u64::from(self.u32min), u64::from(self.u32max));
        let low_range = Tnum {
            value: low_range.value,
            mask: low_range.mask | !0xffff_ffff,
        };
        self.bits = self.bits.intersect(from_range)?.intersect(low_range)?;
        empty(self.umin <= self.umax)
    }

    /// The low `bytes` bytes, zero-extended (loads, 32-bit results).
    pub fn truncate(&self, bytes: usize) -> Scalar {
        if bytes >= 8 {
            return *self;
        }
        let keep = (1u64 << (bytes * 8)) - 1;
        if let Some(c) = self.as_const() {
            return Scalar::constant(c & keep);
        }
        // The size's range with our low bits and, where we know them,
        // the low part's bounds; then one normalization.
        let mut out = Scalar::of_size(bytes);
        out.bits = self.bits.truncate(bytes);
        if bytes == 4 {
            (out.umin, out.umax) = (u64::from(self.u32min), u64::from(self.u32max));
        } else if self.umax >> (bytes * 8) == self.umin >> (bytes * 8) {
            (out.umin, out.umax) = (self.umin & keep, self.umax & keep);
        }
        out.normalize().unwrap_or(Scalar::of_size(bytes))
    }

    /// The low `bytes` bytes, sign-extended to 64 bits.
    pub fn sign_extend(&self, bytes: usize) -> Scalar {
        if bytes >= 8 {
            return *self;
        }
        let bits = (bytes * 8) as u32;
        let low = self.truncate(bytes);
        let half = 1u64 << (bits - 1);
        if let Some(c) = low.as_const() {
            return Scalar::constant((((c << (64 - bits)) as i64) >> (64 - bits)) as u64);
        }
        if low.umax < half {
            // Non-negative at this size: same values.
            return low;
        }
        let min = -(half as i64);
        Scalar::srange(min, half as i64 - 1)
    }

    /// The result of `self op other` at `width`, for every op but `Mov`.
    pub fn alu(&self, op: AluOp, width: Width, other: &Scalar) -> Scalar {
        match width {
            Width::W64 => self.alu64(op, other),
            Width::W32 => {
                let signed = matches!(op, AluOp::Arsh | AluOp::Sdiv | AluOp::Smod);
                let (a, b) = if signed {
                    (self.sign_extend(4), other.sign_extend(4))
                } else {
                    (self.truncate(4), other.truncate(4))
                };
                let result = match op {
                    AluOp::Arsh => a.arsh(other, 32),
                    // 32-bit shifts take the amount modulo 32.
                    AluOp::Lsh | AluOp::Rsh => {
                        a.alu64(op, &b.alu64(AluOp::And, &Scalar::constant(31)))
                    }
                    _ => a.alu64(op, &b),
                };
                result.truncate(4)
            }
        }
    }

    fn alu64(&self, op: AluOp, other: &Scalar) -> Scalar {
        let result = match op {
            AluOp::Add => self.add(other),
            AluOp::Sub => self.sub(other),
            AluOp::Mul => self.mul(other),
            AluOp::Div => self.div(other),
            AluOp::Mod => self.rem(other),
            AluOp::Sdiv | AluOp::Smod => self.signed_divmod(op, other),
            AluOp::And => self.logic(other, Tnum::and),
            AluOp::Or => self.logic(other, Tnum::or),
            AluOp::Xor => self.logic(other, Tnum::xor),
            AluOp::Lsh => self.lsh(other),
            AluOp::Rsh => self.rsh(other),
            AluOp::Arsh => Some(self.arsh(other, 64)),
            AluOp::Mov => Some(*other),
            AluOp::Movsx(size) => Some(other.sign_extend(size.bytes())),
        };
        result.unwrap_or(Scalar::UNKNOWN)
    }

    pub fn neg(&self, width: Width) -> Scalar {
        Scalar::constant(0).alu(AluOp::Sub, width, self)
    }

    fn from_parts(u: Option<(u64, u64)>, s: Option<(i64, i64)>, bits: Tnum) -> Option<Scalar> {
        let mut out = Scalar {
            bits,
            ..Scalar::UNKNOWN
        };
        if let Some((lo, hi)) = u {
            (out.umin, out.umax) = (lo, hi);
        }
        if let Some((lo, hi)) = s {
            (out.smin, out.smax) = (lo, hi);
        }
        out.normalize()
    }

    fn add(&self, o: &Scalar) -> Option<Scalar> {
        let u = match (self.umin.checked_add(o.umin), self.umax.checked_add(o.umax)) {
            (Some(lo), Some(hi)) => Some((lo, hi)),
            _ => None,
        };
        let s = match (self.smin.checked_add(o.smin), self.smax.checked_add(o.smax)) {
            (Some(lo), Some(hi)) => Some((lo, hi)),
            _ => None,
        };
        Scalar::from_parts(u, s, self.bits.plus(o.bits))
    }

    fn sub(&self, o: &Scalar) -> Option<Scalar> {
        let u = match (self.umin.checked_sub(o.umax), self.umax.checked_sub(o.umin)) {
            (Some(lo), Some(hi)) => Some((lo, hi)),
            _ => None,
        };
        let s = match (self.smin.checked_sub(o.smax), self.smax.checked_sub(o.smin)) {
            (Some(lo), Some(hi)) => Some((lo, hi)),
            _ => None,
        };
        Scalar::from_parts(u, s, self.bits.minus(o.bits))
    }

    fn mul(&self, o: &Scalar) -> Option<Scalar> {
        let u = match (self.umin.checked_mul(o.umin), self.umax.checked_mul(o.umax)) {
            (Some(lo), Some(hi)) => Some((lo, hi)),
            _ => None,
        };
        let corners = [
            self.smin.checked_mul(o.smin),
            self.smin.checked_mul(o.smax),
            self.smax.checked_mul(o.smin),
            self.smax.checked_mul(o.smax),
        ];
        let s = if corners.iter().all(Option::is_some) {
            let values = corners.map(|c| c.unwrap_or(0));
            let lo = values.iter().copied().min().unwrap_or(i64::MIN);
            let hi = values.iter().copied().max().unwrap_or(i64::MAX);
            Some((lo, hi))
        } else {
            None
        };
        Scalar::from_parts(u, s, self.bits.times(o.bits))
    }

    /// Unsigned division; by zero gives zero (RFC 9669).
    fn div(&self, o: &Scalar) -> Option<Scalar> {
        if let (Some(a), Some(b)) = (self.as_const(), o.as_const()) {
            return Some(Scalar::constant(a.checked_div(b).unwrap_or(0)));
        }
        let hi = self.umax.checked_div(o.umin).unwrap_or(self.umax);
        let lo = if o.umin == 0 { 0 } else { self.umin / o.umax };
        Scalar::UNKNOWN.with_urange(lo, hi)
    }

    /// Unsigned remainder; by zero leaves the dividend (RFC 9669).
    fn rem(&self, o: &Scalar) -> Option<Scalar> {
        if let (Some(a), Some(b)) = (self.as_const(), o.as_const()) {
            return Some(Scalar::constant(if b == 0 { a } else { a % b }));
        }
        let hi = if o.umin == 0 {
            self.umax
        } else {
            self.umax.min(o.umax - 1)
        };
        Scalar::UNKNOWN.with_urange(0, hi)
    }

    fn signed_divmod(&self, op: AluOp, o: &Scalar) -> Option<Scalar> {
        let (Some(a), Some(b)) = (self.as_const(), o.as_const()) else {
            return Some(Scalar::UNKNOWN);
        };
        let (a, b) = (a as i64, b as i64);
        let value = match (op, b) {
            (AluOp::Sdiv, 0) => 0,
            (AluOp::Sdiv, _) => a.wrapping_div(b),
            (_, 0) => a,
            _ => a.wrapping_rem(b),
        };
        Some(Scalar::constant(value as u64))
    }

    fn logic(&self, o: &Scalar, op: fn(Tnum, Tnum) -> Tnum) -> Option<Scalar> {
        let bits = op(self.bits, o.bits);
        Scalar::UNKNOWN.with_bits(bits)
    }

    fn shift_amount(o: &Scalar, bits: u32) -> Option<u32> {
        // The kernel masks shift amounts; a constant in range is exact.
        o.as_const().map(|c| (c % u64::from(bits)) as u32)
    }

    fn lsh(&self, o: &Scalar) -> Option<Scalar> {
        let Some(shift) = Scalar::shift_amount(o, 64) else {
            return Some(Scalar::UNKNOWN);
        };
        let bits = self.bits.lsh(shift);
        let mut out = Scalar::UNKNOWN.with_bits(bits)?;
        if shift == 0 || self.umax.leading_zeros() >= shift {
            out = out.with_urange(self.umin << shift, self.umax << shift)?;
        }
        Some(out)
    }

    fn rsh(&self, o: &Scalar) -> Option<Scalar> {
        let Some(shift) = Scalar::shift_amount(o, 64) else {
            return Some(Scalar::UNKNOWN);
        };
        Scalar::UNKNOWN
            .with_bits(self.bits.rsh(shift))?
            .with_urange(self.umin >> shift, self.umax >> shift)
    }

    fn arsh(&self, o: &Scalar, width: u32) -> Scalar {
        let Some(shift) = Scalar::shift_amount(o, width) else {
            return Scalar::UNKNOWN;
        };
        let bits = self.bits.arsh(shift, width);
        let out = if width == 32 {
            let lo = i64::from(self.s32min >> shift);
            let hi = i64::from(self.s32max >> shift);
            // Zero-extended 32-bit result: only the bits are reliable here,
            // the caller truncates.
            Scalar::UNKNOWN
                .with_bits(bits)
                .and_then(|s| s.with_s32range(lo as i32, hi as i32))
        } else {
            Scalar::UNKNOWN
                .with_bits(bits)
                .and_then(|s| s.with_srange(self.smin >> shift, self.smax >> shift))
        };
        out.unwrap_or(Scalar::UNKNOWN)
    }

    /// Endianness conversion of the low `bits`: exact for constants.
    pub fn byte_swap(&self, bits: u8, swap: bool) -> Scalar {
        let bytes = usize::from(bits / 8);
        match self.as_const() {
            Some(c) if swap => {
                let swapped = c.swap_bytes() >> (64 - u32::from(bits));
                Scalar::constant(swapped)
            }
            Some(c) => Scalar::constant(Scalar::constant(c).truncate(bytes).umin),
            None if swap => Scalar::of_size(bytes),
            None => self.truncate(bytes),
        }
    }

    /// Refines `self` and `other` assuming `self cond other` at `width` is
    /// `taken` (or not). `None` when that outcome is impossible.
    pub fn refine(
        &self,
        cond: JmpCond,
        width: Width,
        other: &Scalar,
        taken: bool,
    ) -> Option<(Scalar, Scalar)> {
        if cond == JmpCond::Set {
            return refine_set_width(self, other, width, taken);
        }
        let cond = if taken { cond } else { negate(cond) };
        let (a, b) = (*self, *other);
        match width {
            Width::W64 => refine64(cond, a, b),
            Width::W32 => refine32(cond, a, b),
        }
    }
}

/// The condition that holds when `cond` does not (`Set` is handled apart).
fn negate(cond: JmpCond) -> JmpCond {
    match cond {
        JmpCond::Eq => JmpCond::Ne,
        JmpCond::Ne => JmpCond::Eq,
        JmpCond::Gt => JmpCond::Le,
        JmpCond::Le => JmpCond::Gt,
        JmpCond::Ge => JmpCond::Lt,
        JmpCond::Lt => JmpCond::Ge,
        JmpCond::Sgt => JmpCond::Sle,
        JmpCond::Sle => JmpCond::Sgt,
        JmpCond::Sge => JmpCond::Slt,
        JmpCond::Slt => JmpCond::Sge,
        JmpCond::Set => JmpCond::Set,
    }
}

fn refine64(cond: JmpCond, a: Scalar, b: Scalar) -> Option<(Scalar, Scalar)> {
    Some(match cond {
        JmpCond::Eq => {
            let both = Scalar::from_parts(
                Some((a.umin.max(b.umin), a.umax.min(b.umax))),
                Some((a.smin.max(b.smin), a.smax.min(b.smax))),
                a.bits.intersect(b.bits)?,
            )?;
            let both = both
                .with_u32range(a.u32min.max(b.u32min), a.u32max.min(b.u32max))?
                .with_s32range(a.s32min.max(b.s32min), a.s32max.min(b.s32max))?;
            (both, both)
        }
        JmpCond::Ne => {
            let (a, b) = (exclude(a, &b)?, exclude(b, &a)?);
            (a, b)
        }
        JmpCond::Gt => (
            a.with_urange(b.umin.checked_add(1)?, u64::MAX)?,
            b.with_urange(0, a.umax.checked_sub(1)?)?,
        ),
        JmpCond::Ge => (a.with_urange(b.umin, u64::MAX)?, b.with_urange(0, a.umax)?),
        JmpCond::Lt => (
            a.with_urange(0, b.umax.checked_sub(1)?)?,
            b.with_urange(a.umin.checked_add(1)?, u64::MAX)?,
        ),
        JmpCond::Le => (a.with_urange(0, b.umax)?, b.with_urange(a.umin, u64::MAX)?),
        JmpCond::Sgt => (
            a.with_srange(b.smin.checked_add(1)?, i64::MAX)?,
            b.with_srange(i64::MIN, a.smax.checked_sub(1)?)?,
        ),
        JmpCond::Sge => (
            a.with_srange(b.smin, i64::MAX)?,
            b.with_srange(i64::MIN, a.smax)?,
        ),
        JmpCond::Slt => (
            a.with_srange(i64::MIN, b.smax.checked_sub(1)?)?,
            b.with_srange(a.smin.checked_add(1)?, i64::MAX)?,
        ),
        JmpCond::Sle => (
            a.with_srange(i64::MIN, b.smax)?,
            b.with_srange(a.smin, i64::MAX)?,
        ),
        JmpCond::Set => (a, b),
    })
}

fn refine32(cond: JmpCond, a: Scalar, b: Scalar) -> Option<(Scalar, Scalar)> {
    Some(match cond {
        JmpCond::Eq => {
            let (lo, hi) = (a.u32min.max(b.u32min), a.u32max.min(b.u32max));
            let (slo, shi) = (a.s32min.max(b.s32min), a.s32max.min(b.s32max));
            let low_a = Tnum {
                value: a.bits.value & 0xffff_ffff,
                mask: a.bits.mask | !0xffff_ffff,
            };
            let low_b = Tnum {
                value: b.bits.value & 0xffff_ffff,
                mask: b.bits.mask | !0xffff_ffff,
            };
            let a2 = a
                .with_u32range(lo, hi)?
                .with_s32range(slo, shi)?
                .with_bits(low_b)?;
            let b2 = b
                .with_u32range(lo, hi)?
                .with_s32range(slo, shi)?
                .with_bits(low_a)?;
            (a2, b2)
        }
        JmpCond::Ne => {
            let (la, lb) = (a.truncate(4), b.truncate(4));
            match (la.as_const(), lb.as_const()) {
                (Some(x), Some(y)) if x == y => return None,
                _ => (a, b),
            }
        }
        JmpCond::Gt => (
            a.with_u32range(b.u32min.checked_add(1)?, u32::MAX)?,
            b.with_u32range(0, a.u32max.checked_sub(1)?)?,
        ),
        JmpCond::Ge => (
            a.with_u32range(b.u32min, u32::MAX)?,
            b.with_u32range(0, a.u32max)?,
        ),
        JmpCond::Lt => (
            a.with_u32range(0, b.u32max.checked_sub(1)?)?,
            b.with_u32range(a.u32min.checked_add(1)?, u32::MAX)?,
        ),
        JmpCond::Le => (
            a.with_u32range(0, b.u32max)?,
            b.with_u32range(a.u32min, u32::MAX)?,
        ),
        JmpCond::Sgt => (
            a.with_s32range(b.s32min.checked_add(1)?, i32::MAX)?,
            b.with_s32range(i32::MIN, a.s32max.checked_sub(1)?)?,
        ),
        JmpCond::Sge => (
            a.with_s32range(b.s32min, i32::MAX)?,
            b.with_s32range(i32::MIN, a.s32max)?,
        ),
        JmpCond::Slt => (
            a.with_s32range(i32::MIN, b.s32max.checked_sub(1)?)?,
            b.with_s32range(a.s32min.checked_add(1)?, i32::MAX)?,
        ),
        JmpCond::Sle => (
            a.with_s32range(i32::MIN, b.s32max)?,
            b.with_s32range(a.s32min, i32::MAX)?,
        ),
        JmpCond::Set => (a, b),
    })
}

/// `a & b != 0` (taken) or `== 0` (not taken), over the bits in `keep`.
fn refine_set(a: Scalar, b: Scalar, taken: bool, keep: u64) -> Option<(Scalar, Scalar)> {
    let a_may = (a.bits.value | a.bits.mask) & keep;
    let b_may = (b.bits.value | b.bits.mask) & keep;
    let a_sure = a.bits.value & keep;
    let b_sure = b.bits.value & keep;
    if taken {
        if a_may & b_may == 0 {
            return None;
        }
        Some((a, b))
    } else {
        if a_sure & b_sure != 0 {
            return None;
        }
        // With `b` constant, the bits it tests are zero in `a`.
        if let Some(mask) = b.as_const() {
            let known_zero = Tnum {
                value: 0,
                mask: !(mask & keep),
            };
            return Some((a.with_bits(known_zero)?, b));
        }
        Some((a, b))
    }
}

/// `a` without the single value of `b`, when that trims an end.
fn exclude(a: Scalar, b: &Scalar) -> Option<Scalar> {
    let Some(v) = b.as_const() else {
        return Some(a);
    };
    if a.as_const() == Some(v) {
        return None;
    }
    let mut out = a;
    if out.umin == v {
        out = out.with_urange(v + 1, u64::MAX)?;
    }
    if out.umax == v {
        out = out.with_urange(0, v - 1)?;
    }
    if out.smin == v as i64 {
        out = out.with_srange(v as i64 + 1, i64::MAX)?;
    }
    if out.smax == v as i64 {
        out = out.with_srange(i64::MIN, v as i64 - 1)?;
    }
    Some(out)
}

/// Both sides of `Set` at either width.
fn refine_set_width(a: &Scalar, b: &Scalar, width: Width, taken: bool) -> Option<(Scalar, Scalar)> {
    let keep = match width {
        Width::W32 => 0xffff_ffff,
        Width::W64 => u64::MAX,
    };
    refine_set(*a, *b, taken, keep)
}

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = self.as_const() {
            return write!(f, "{}", c as i64);
        }
        let mut parts = Vec::new();
        if self.smin != i64::MIN || self.smax != i64::MAX {
            parts.push(format!("s=[{}, {}]", self.smin, self.smax));
        }
        if self.umin != 0 || self.umax != u64::MAX {
            parts.push(format!("u=[{}, {}]", self.umin, self.umax));
        }
        if (self.s32min != i32::MIN || self.s32max != i32::MAX)
            && (self.s32min as i64, self.s32max as i64) != (self.smin, self.smax)
        {
            parts.push(format!("s32=[{}, {}]", self.s32min, self.s32max));
        }
        if (self.u32min != 0 || self.u32max != u32::MAX)
            && (self.u32min as u64, self.u32max as u64) != (self.umin, self.umax)
        {
            parts.push(format!("u32=[{}, {}]", self.u32min, self.u32max));
        }
        if self.bits.mask != u64::MAX && !Tnum::range(self.umin, self.umax).includes(self.bits) {
            parts.push(format!("bits={:?}", self.bits));
        }
        if parts.is_empty() {
            f.write_str("scalar")
        } else {
            write!(f, "scalar({})", parts.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn concrete(op: AluOp, width: Width, a: u64, b: u64) -> u64 {
        let w32 = width == Width::W32;
        let (x, y) = if w32 {
            (a & 0xffff_ffff, b & 0xffff_ffff)
        } else {
            (a, b)
        };
        let bits = width.bits() as u64;
        let r = match op {
            AluOp::Add => x.wrapping_add(y),
            AluOp::Sub => x.wrapping_sub(y),
            AluOp::Mul => x.wrapping_mul(y),
            AluOp::Div => x.checked_div(y).unwrap_or(0),
            AluOp::Mod => x.checked_rem(y).unwrap_or(x),
            AluOp::Sdiv | AluOp::Smod if w32 => {
                let (p, q) = (x as u32 as i32, y as u32 as i32);
                let v = match (op, q) {
                    (AluOp::Sdiv, 0) => 0,
                    (AluOp::Sdiv, _) => p.wrapping_div(q),
                    (_, 0) => p,
                    _ => p.wrapping_rem(q),
                };
                v as u32 as u64
            }
            AluOp::Sdiv | AluOp::Smod => {
                let (p, q) = (x as i64, y as i64);
                let v = match (op, q) {
                    (AluOp::Sdiv, 0) => 0,
                    (AluOp::Sdiv, _) => p.wrapping_div(q),
                    (_, 0) => p,
                    _ => p.wrapping_rem(q),
                };
                v as u64
            }
            AluOp::Or => x | y,
            AluOp::And => x & y,
            AluOp::Xor => x ^ y,
            AluOp::Lsh => x << (y % bits),
            AluOp::Rsh => x >> (y % bits),
            AluOp::Arsh if w32 => ((x as u32 as i32) >> (y % 32)) as u32 as u64,
            AluOp::Arsh => ((x as i64) >> (y % 64)) as u64,
            AluOp::Mov | AluOp::Movsx(_) => y,
        };
        if w32 { r & 0xffff_ffff } else { r }
    }

    /// A scalar holding `x` and `y`: their join.
    fn around(x: u64, y: u64) -> Scalar {
        Scalar::constant(x).join(&Scalar::constant(y))
    }

    const OPS: [AluOp; 13] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::Mod,
        AluOp::Sdiv,
        AluOp::Smod,
        AluOp::Or,
        AluOp::And,
        AluOp::Xor,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Arsh,
    ];

    fn value() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            0u64..20,
            (0u64..20).prop_map(|v| v.wrapping_neg()),
            (0u64..20).prop_map(|v| v + 0xffff_fff0),
            (0u64..20).prop_map(|v| v + 0x7fff_fff0),
        ]
    }

    proptest! {
        #[test]
        fn alu_results_hold_the_concrete_result(
            a in value(), a2 in value(), b in value(), b2 in value(),
            op in 0usize..OPS.len(), wide: bool,
        ) {
            let op = OPS[op];
            let width = if wide { Width::W64 } else { Width::W32 };
            let (sa, sb) = (around(a, a2), around(b, b2));
            let result = sa.alu(op, width, &sb);
            for x in [a, a2] {
                for y in [b, b2] {
                    let z = concrete(op, width, x, y);
                    prop_assert!(result.contains(z), "{op:?} {width:?} {sa} {sb} -> {result}: {x:#x} {y:#x} = {z:#x}");
                }
            }
        }

        #[test]
        fn refinement_keeps_every_pair_that_satisfies_the_condition(
            a in value(), a2 in value(), b in value(), b2 in value(),
            cond in 0usize..JmpCond::ALL.len(), wide: bool,
        ) {
            let cond = JmpCond::ALL[cond];
            let width = if wide { Width::W64 } else { Width::W32 };
            let (sa, sb) = (around(a, a2), around(b, b2));
            for x in [a, a2] {
                for y in [b, b2] {
                    let taken = holds(cond, width, x, y);
                    let refined = sa.refine(cond, width, &sb, taken);
                    let Some((ra, rb)) = refined else {
                        return Err(TestCaseError::fail(format!("{cond:?} {width:?} {taken} {sa} {sb} lost {x:#x} {y:#x}")));
                    };
                    prop_assert!(ra.contains(x) && rb.contains(y), "{cond:?} {width:?} {taken}: {ra} {rb} lost {x:#x} {y:#x}");
                }
            }
        }
    }

    pub(crate) fn holds(cond: JmpCond, width: Width, x: u64, y: u64) -> bool {
        let (x, y, sx, sy) = match width {
            Width::W32 => (
                x & 0xffff_ffff,
                y & 0xffff_ffff,
                i64::from(x as u32 as i32),
                i64::from(y as u32 as i32),
            ),
            Width::W64 => (x, y, x as i64, y as i64),
        };
        match cond {
            JmpCond::Eq => x == y,
            JmpCond::Ne => x != y,
            JmpCond::Gt => x > y,
            JmpCond::Ge => x >= y,
            JmpCond::Lt => x < y,
            JmpCond::Le => x <= y,
            JmpCond::Sgt => sx > sy,
            JmpCond::Sge => sx >= sy,
            JmpCond::Slt => sx < sy,
            JmpCond::Sle => sx <= sy,
            JmpCond::Set => x & y != 0,
        }
    }

    #[test]
    fn sizes_are_their_normalized_ranges() {
        for bytes in [1, 2, 4, 8] {
            let max = if bytes == 8 {
                u64::MAX
            } else {
                (1 << (bytes * 8)) - 1
            };
            assert_eq!(
                Scalar::of_size(bytes),
                Scalar::urange(0, max),
                "{bytes} bytes"
            );
        }
    }

    #[test]
    fn views_tighten_each_other() {
        let s = Scalar::urange(0, 255);
        assert_eq!((s.smin, s.smax), (0, 255));
        assert_eq!((s.u32min, s.u32max), (0, 255));
        assert_eq!(
            s.bits,
            Tnum {
                value: 0,
                mask: 255
            }
        );
        let neg = Scalar::srange(-4, -1);
        assert_eq!((neg.umin, neg.umax), ((-4i64) as u64, u64::MAX));
        assert!(Scalar::constant(3).with_urange(4, 9).is_none());
        let masked = Scalar::UNKNOWN.alu(AluOp::And, Width::W64, &Scalar::constant(0xff));
        assert_eq!((masked.umin, masked.umax), (0, 255));
    }

    #[test]
    fn both_branches_are_refined() {
        let x = Scalar::of_size(4);
        let ten = Scalar::constant(10);
        let (lt, _) = x.refine(JmpCond::Lt, Width::W64, &ten, true).unwrap();
        assert_eq!((lt.umin, lt.umax), (0, 9));
        let (ge, _) = x.refine(JmpCond::Lt, Width::W64, &ten, false).unwrap();
        assert_eq!((ge.umin, ge.umax), (10, u32::MAX as u64));
        assert!(
            ten.refine(JmpCond::Eq, Width::W64, &Scalar::constant(3), true)
                .is_none()
        );
        let (w32, _) = Scalar::UNKNOWN
            .refine(JmpCond::Le, Width::W32, &ten, true)
            .unwrap();
        assert_eq!((w32.u32min, w32.u32max), (0, 10));
    }
}
