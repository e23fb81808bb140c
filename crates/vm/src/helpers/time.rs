//! Clocks and random numbers: `bpf_ktime_get_ns` (5),
//! `bpf_ktime_get_boot_ns` (125), `bpf_ktime_get_coarse_ns` (160) from
//! the environment's [`Clock`](super::Clock), and `bpf_get_prandom_u32`
//! (7) from a seeded generator.
//!
//! The kernel's `prandom` is per CPU and unseeded by programs; here one
//! SplitMix64 sequence, seeded by [`HelperEnv::seed`], is shared by every
//! run of the registered helpers (threads included), so a single-threaded
//! embedder gets the same numbers for the same seed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ids;
use super::{HelperEnv, Helpers, returned};

/// SplitMix64's increment (the golden ratio in 64 bits).
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Sebastiano Vigna's SplitMix64: one atomic add per number, so runs on
/// several threads never lock.
#[derive(Debug)]
pub(crate) struct SplitMix64 {
    state: AtomicU64,
}

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64 {
            state: AtomicU64::new(seed),
        }
    }

    pub(crate) fn next_u64(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(GOLDEN_GAMMA, Ordering::Relaxed)
            .wrapping_add(GOLDEN_GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The high half: SplitMix64's best bits.
    pub(crate) fn next_u32(&self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

pub(super) fn register(helpers: &mut Helpers, env: &HelperEnv) {
    let clock = env.clock.clone();
    helpers.register(ids::KTIME_GET_NS, "ktime_get_ns", move |_, _| {
        returned(clock.monotonic_ns())
    });
    let clock = env.clock.clone();
    helpers.register(ids::KTIME_GET_BOOT_NS, "ktime_get_boot_ns", move |_, _| {
        returned(clock.boot_ns())
    });
    // Coarse time is the monotonic clock read at the last tick; an exact
    // reading is a valid one.
    let clock = env.clock.clone();
    helpers.register(
        ids::KTIME_GET_COARSE_NS,
        "ktime_get_coarse_ns",
        move |_, _| returned(clock.monotonic_ns()),
    );
    let random = Arc::new(SplitMix64::new(env.seed));
    helpers.register(ids::GET_PRANDOM_U32, "get_prandom_u32", move |_, _| {
        returned(random.next_u32().into())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_its_reference_sequence() {
        // The first outputs of SplitMix64 seeded with 0 (Vigna's
        // splitmix64.c).
        let random = SplitMix64::new(0);
        assert_eq!(random.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(random.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(random.next_u64(), 0x06c4_5d18_8009_454f);
    }
}
