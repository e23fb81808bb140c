//! What each computing instruction does to its operands (RFC 9669,
//! sections 4 and 5), as pure functions of the operand width.
//!
//! Registers hold `u64`; a 32-bit operation looks at the low halves and
//! zero-extends its result. Each function is written once over width: it
//! truncates or sign-extends its operands to `width` bits, computes in 64
//! bits, and truncates the result. The interpreter calls these; a JIT's
//! differential tests and constant folding can call them too.

use visor_isa::{AluOp, AtomicOp, ByteOrder, JmpCond, Width};

/// The low `bits` (1 to 64) of `value`.
#[inline]
pub fn low_bits(value: u64, bits: u32) -> u64 {
    // `wrapping_shr` masks the count, so no width can make this panic.
    value & u64::MAX.wrapping_shr(64u32.wrapping_sub(bits))
}

/// The low `bits` (1 to 64) of `value`, sign-extended to 64.
#[inline]
pub fn sign_extend(value: u64, bits: u32) -> i64 {
    let unused = 64u32.wrapping_sub(bits);
    (value.wrapping_shl(unused) as i64).wrapping_shr(unused)
}

/// `dst op src` at `width`. `src` is the register's value, or the
/// immediate sign-extended to 64 bits.
///
/// Division by zero gives 0 and modulo by zero leaves `dst` (truncated to
/// `width`); signed `MIN / -1` wraps to `MIN` and `MIN % -1` is 0. Shift
/// counts are masked to `width - 1`.
#[inline]
pub fn alu(op: AluOp, width: Width, dst: u64, src: u64) -> u64 {
    let bits = width.bits();
    let (a, b) = (low_bits(dst, bits), low_bits(src, bits));
    let (signed_a, signed_b) = (sign_extend(dst, bits), sign_extend(src, bits));
    let shift = (src & u64::from(bits - 1)) as u32;
    let result = match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => a.checked_div(b).unwrap_or(0),
        AluOp::Mod => a.checked_rem(b).unwrap_or(a),
        AluOp::Sdiv => match signed_b {
            0 => 0,
            _ => signed_a.wrapping_div(signed_b) as u64,
        },
        AluOp::Smod => match signed_b {
            0 => a,
            _ => signed_a.wrapping_rem(signed_b) as u64,
        },
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Xor => a ^ b,
        AluOp::Lsh => a.wrapping_shl(shift),
        AluOp::Rsh => a.wrapping_shr(shift),
        AluOp::Arsh => signed_a.wrapping_shr(shift) as u64,
        AluOp::Mov => b,
        AluOp::Movsx(size) => sign_extend(src, size.bytes() as u32 * 8) as u64,
    };
    low_bits(result, bits)
}

/// `-dst` at `width`.
#[inline]
pub fn neg(width: Width, dst: u64) -> u64 {
    low_bits(dst.wrapping_neg(), width.bits())
}

/// Byte-order conversion of the low `bits` (16, 32 or 64) of `value`; the
/// rest is cleared. Guest memory is little-endian, so `ToLe` only
/// truncates and `ToBe` swaps, like `Swap`.
#[inline]
pub fn endian(order: ByteOrder, bits: u32, value: u64) -> u64 {
    let low = low_bits(value, bits);
    match order {
        ByteOrder::ToLe => low,
        ByteOrder::ToBe | ByteOrder::Swap => {
            low.swap_bytes().wrapping_shr(64u32.wrapping_sub(bits))
        }
    }
}

/// Whether `dst cond src` holds when compared at `width`.
#[inline]
pub fn condition(cond: JmpCond, width: Width, dst: u64, src: u64) -> bool {
    let bits = width.bits();
    let (a, b) = (low_bits(dst, bits), low_bits(src, bits));
    let (signed_a, signed_b) = (sign_extend(dst, bits), sign_extend(src, bits));
    match cond {
        JmpCond::Eq => a == b,
        JmpCond::Ne => a != b,
        JmpCond::Set => a & b != 0,
        JmpCond::Gt => a > b,
        JmpCond::Ge => a >= b,
        JmpCond::Lt => a < b,
        JmpCond::Le => a <= b,
        JmpCond::Sgt => signed_a > signed_b,
        JmpCond::Sge => signed_a >= signed_b,
        JmpCond::Slt => signed_a < signed_b,
        JmpCond::Sle => signed_a <= signed_b,
    }
}

/// The value an atomic operation leaves in memory, given the `old` value
/// there, the `src` register and `r0` (compared by `Cmpxchg`), all at
/// `width` bits.
#[inline]
pub fn atomic(op: AtomicOp, width: Width, old: u64, src: u64, r0: u64) -> u64 {
    let bits = width.bits();
    let result = match op {
        AtomicOp::Add { .. } => old.wrapping_add(src),
        AtomicOp::Or { .. } => old | src,
        AtomicOp::And { .. } => old & src,
        AtomicOp::Xor { .. } => old ^ src,
        AtomicOp::Xchg => src,
        AtomicOp::Cmpxchg if low_bits(old, bits) == low_bits(r0, bits) => src,
        AtomicOp::Cmpxchg => old,
    };
    low_bits(result, bits)
}

/// Which register receives the old value of an atomic operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fetch {
    /// None: a plain read-modify-write.
    Nowhere,
    /// The source register (`fetch` forms and `xchg`).
    Src,
    /// r0 (`cmpxchg`).
    R0,
}

/// Where `op` puts the old value.
#[inline]
pub fn fetch(op: AtomicOp) -> Fetch {
    match op {
        AtomicOp::Add { fetch }
        | AtomicOp::Or { fetch }
        | AtomicOp::And { fetch }
        | AtomicOp::Xor { fetch } => {
            if fetch {
                Fetch::Src
            } else {
                Fetch::Nowhere
            }
        }
        AtomicOp::Xchg => Fetch::Src,
        AtomicOp::Cmpxchg => Fetch::R0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use visor_isa::Size;

    /// The 64-bit operations, written with Rust's own 64-bit types.
    fn reference64(op: AluOp, a: u64, b: u64) -> u64 {
        let (sa, sb) = (a as i64, b as i64);
        match op {
            AluOp::Add => a.wrapping_add(b),
            AluOp::Sub => a.wrapping_sub(b),
            AluOp::Mul => a.wrapping_mul(b),
            // Division by zero first, so the arms below never see it.
            AluOp::Div | AluOp::Sdiv if b == 0 => 0,
            AluOp::Mod | AluOp::Smod if b == 0 => a,
            AluOp::Div => a / b,
            AluOp::Mod => a % b,
            AluOp::Sdiv => sa.wrapping_div(sb) as u64,
            AluOp::Smod => sa.wrapping_rem(sb) as u64,
            AluOp::Or => a | b,
            AluOp::And => a & b,
            AluOp::Xor => a ^ b,
            AluOp::Lsh => a << (b & 63),
            AluOp::Rsh => a >> (b & 63),
            AluOp::Arsh => (sa >> (b & 63)) as u64,
            AluOp::Mov => b,
            AluOp::Movsx(Size::B) => b as u8 as i8 as i64 as u64,
            AluOp::Movsx(Size::H) => b as u16 as i16 as i64 as u64,
            AluOp::Movsx(_) => b as u32 as i32 as i64 as u64,
        }
    }

    /// The 32-bit operations, written with Rust's own 32-bit types and
    /// zero-extended.
    fn reference32(op: AluOp, a: u64, b: u64) -> u64 {
        let (a, b) = (a as u32, b as u32);
        let (sa, sb) = (a as i32, b as i32);
        let r: u32 = match op {
            AluOp::Add => a.wrapping_add(b),
            AluOp::Sub => a.wrapping_sub(b),
            AluOp::Mul => a.wrapping_mul(b),
            // Division by zero first, so the arms below never see it.
            AluOp::Div | AluOp::Sdiv if b == 0 => 0,
            AluOp::Mod | AluOp::Smod if b == 0 => a,
            AluOp::Div => a / b,
            AluOp::Mod => a % b,
            AluOp::Sdiv => sa.wrapping_div(sb) as u32,
            AluOp::Smod => sa.wrapping_rem(sb) as u32,
            AluOp::Or => a | b,
            AluOp::And => a & b,
            AluOp::Xor => a ^ b,
            AluOp::Lsh => a << (b & 31),
            AluOp::Rsh => a >> (b & 31),
            AluOp::Arsh => (sa >> (b & 31)) as u32,
            AluOp::Mov => b,
            AluOp::Movsx(Size::B) => b as u8 as i8 as i32 as u32,
            AluOp::Movsx(Size::H) => b as u16 as i16 as i32 as u32,
            AluOp::Movsx(_) => b,
        };
        u64::from(r)
    }

    #[test]
    fn division_edge_cases() {
        let min32 = 0x8000_0000;
        let minus_one = u64::MAX;
        assert_eq!(alu(AluOp::Sdiv, Width::W32, min32, minus_one), min32);
        assert_eq!(alu(AluOp::Smod, Width::W32, min32, minus_one), 0);
        assert_eq!(alu(AluOp::Sdiv, Width::W64, 1 << 63, minus_one), 1 << 63);
        assert_eq!(alu(AluOp::Smod, Width::W64, 1 << 63, minus_one), 0);
        assert_eq!(alu(AluOp::Div, Width::W64, 7, 0), 0);
        assert_eq!(alu(AluOp::Sdiv, Width::W32, 7, 0), 0);
        assert_eq!(alu(AluOp::Mod, Width::W64, 7, 0), 7);
        // 32-bit modulo by zero keeps the low half, zero-extended.
        assert_eq!(alu(AluOp::Mod, Width::W32, 0x1_0000_0007, 0), 7);
        assert_eq!(alu(AluOp::Smod, Width::W32, u64::MAX, 0), 0xffff_ffff);
        // Signed remainder takes the dividend's sign.
        assert_eq!(
            alu(AluOp::Smod, Width::W64, (-7i64) as u64, 2),
            (-1i64) as u64
        );
        assert_eq!(alu(AluOp::Smod, Width::W32, 7, (-2i64) as u64), 1);
    }

    #[test]
    fn shifts_are_masked_and_movsx_extends() {
        assert_eq!(alu(AluOp::Lsh, Width::W32, 1, 33), 2);
        assert_eq!(alu(AluOp::Lsh, Width::W64, 1, 65), 2);
        assert_eq!(alu(AluOp::Arsh, Width::W32, 0x8000_0000, 4), 0xf800_0000);
        assert_eq!(alu(AluOp::Rsh, Width::W32, u64::MAX, 28), 0xf);
        assert_eq!(
            alu(AluOp::Movsx(Size::B), Width::W64, 0, 0x80),
            u64::MAX - 0x7f
        );
        assert_eq!(
            alu(AluOp::Movsx(Size::H), Width::W32, 0, 0x8000),
            0xffff_8000
        );
        assert_eq!(
            alu(AluOp::Movsx(Size::W), Width::W64, 0, 0x8000_0000),
            0xffff_ffff_8000_0000
        );
        assert_eq!(neg(Width::W32, 1), 0xffff_ffff);
        assert_eq!(neg(Width::W64, 1 << 63), 1 << 63);
    }

    #[test]
    fn byte_order() {
        let v = 0x0102_0304_0506_0708;
        assert_eq!(endian(ByteOrder::ToLe, 16, v), 0x0708);
        assert_eq!(endian(ByteOrder::ToLe, 32, v), 0x0506_0708);
        assert_eq!(endian(ByteOrder::ToLe, 64, v), v);
        assert_eq!(endian(ByteOrder::ToBe, 16, v), 0x0807);
        assert_eq!(endian(ByteOrder::ToBe, 32, v), 0x0807_0605);
        assert_eq!(endian(ByteOrder::Swap, 64, v), 0x0807_0605_0403_0201);
    }

    #[test]
    fn atomics_and_their_fetch_register() {
        let cmpxchg = AtomicOp::Cmpxchg;
        assert_eq!(atomic(cmpxchg, Width::W64, 5, 9, 5), 9);
        assert_eq!(atomic(cmpxchg, Width::W64, 5, 9, 6), 5);
        // 32-bit: only the low half of r0 is compared.
        assert_eq!(atomic(cmpxchg, Width::W32, 5, 9, 0xffff_0000_0000_0005), 9);
        let add = AtomicOp::Add { fetch: true };
        assert_eq!(atomic(add, Width::W32, 0xffff_ffff, 1, 0), 0);
        assert_eq!(fetch(add), Fetch::Src);
        assert_eq!(fetch(AtomicOp::Xor { fetch: false }), Fetch::Nowhere);
        assert_eq!(fetch(AtomicOp::Xchg), Fetch::Src);
        assert_eq!(fetch(cmpxchg), Fetch::R0);
    }

    proptest! {
        /// The width-generic ALU agrees with Rust's native 32- and 64-bit arithmetic.
        #[test]
        fn alu_matches_native_types(index in 0..AluOp::ALL.len(), a: u64, b: u64, small in 0u64..70) {
            let op = AluOp::ALL[index];
            for b in [b, small, small.wrapping_neg()] {
                prop_assert_eq!(alu(op, Width::W64, a, b), reference64(op, a, b), "{:?} 64", op);
                prop_assert_eq!(alu(op, Width::W32, a, b), reference32(op, a, b), "{:?} 32", op);
            }
        }

        /// Conditions at 32 bits agree with native u32/i32 comparisons.
        #[test]
        fn conditions_match_native_types(a: u64, b: u64) {
            for cond in JmpCond::ALL {
                let native32 = native_condition(cond, a as u32 as u64, b as u32 as u64, a as i32 as i64, b as i32 as i64);
                let native64 = native_condition(cond, a, b, a as i64, b as i64);
                prop_assert_eq!(condition(cond, Width::W32, a, b), native32);
                prop_assert_eq!(condition(cond, Width::W64, a, b), native64);
            }
        }
    }

    fn native_condition(cond: JmpCond, a: u64, b: u64, sa: i64, sb: i64) -> bool {
        match cond {
            JmpCond::Eq => a == b,
            JmpCond::Ne => a != b,
            JmpCond::Set => a & b != 0,
            JmpCond::Gt => a > b,
            JmpCond::Ge => a >= b,
            JmpCond::Lt => a < b,
            JmpCond::Le => a <= b,
            JmpCond::Sgt => sa > sb,
            JmpCond::Sge => sa >= sb,
            JmpCond::Slt => sa < sb,
            JmpCond::Sle => sa <= sb,
        }
    }
}
