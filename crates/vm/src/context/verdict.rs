//! What a program's return value means for its program type.

use core::fmt;

use super::ContextKind;

/// A return value read the way the hook reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// XDP: `XDP_ABORTED` 0, `XDP_DROP` 1, `XDP_PASS` 2, `XDP_TX` 3,
    /// `XDP_REDIRECT` 4; anything else is treated as aborted.
    Xdp(u32),
    /// TC: `TC_ACT_UNSPEC` -1, `OK` 0, `RECLASSIFY` 1, `SHOT` 2, `PIPE` 3,
    /// `STOLEN` 4, `QUEUED` 5, `REPEAT` 6, `REDIRECT` 7, `TRAP` 8.
    Tc(i32),
    /// Socket filter: bytes of the packet to keep; 0 drops it.
    KeepBytes(u32),
    /// Tracing programs: the value, which the kernel mostly ignores.
    Value(u64),
}

impl Verdict {
    /// `r0` as `kind`'s hook reads it (the kernel keeps the low 32 bits
    /// for packet programs).
    pub fn of(kind: ContextKind, r0: u64) -> Verdict {
        match kind {
            ContextKind::Xdp => Verdict::Xdp(r0 as u32),
            ContextKind::Skb(super::SkbHook::Tc) => Verdict::Tc(r0 as u32 as i32),
            ContextKind::Skb(super::SkbHook::SocketFilter) => Verdict::KeepBytes(r0 as u32),
            ContextKind::Record => Verdict::Value(r0),
        }
    }

    /// The symbolic name: `XDP_PASS`, `TC_ACT_SHOT`, `drop`, `keep 54
    /// bytes`, or the number.
    pub fn name(&self) -> String {
        match *self {
            Verdict::Xdp(action) => match action {
                0 => "XDP_ABORTED".into(),
                1 => "XDP_DROP".into(),
                2 => "XDP_PASS".into(),
                3 => "XDP_TX".into(),
                4 => "XDP_REDIRECT".into(),
                other => format!("unknown XDP action {other} (aborted)"),
            },
            Verdict::Tc(action) => match action {
                -1 => "TC_ACT_UNSPEC".into(),
                0 => "TC_ACT_OK".into(),
                1 => "TC_ACT_RECLASSIFY".into(),
                2 => "TC_ACT_SHOT".into(),
                3 => "TC_ACT_PIPE".into(),
                4 => "TC_ACT_STOLEN".into(),
                5 => "TC_ACT_QUEUED".into(),
                6 => "TC_ACT_REPEAT".into(),
                7 => "TC_ACT_REDIRECT".into(),
                8 => "TC_ACT_TRAP".into(),
                other => format!("TC action {other}"),
            },
            Verdict::KeepBytes(0) => "drop".into(),
            Verdict::KeepBytes(n) => format!("accept, keep {n} bytes"),
            Verdict::Value(v) => format!("{v}"),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}
