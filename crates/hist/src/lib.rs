//! Histograms printed exactly as BCC's `print_log2_hist` and
//! `print_linear_hist` print them, for the tools of `visor trace` and the
//! Python front end's tables. Both take counts by slot index and return the
//! text; both print nothing when every printed slot is empty.
//!
//! **log2.** Slot `i` (from 1) counts values from `2^(i-1)` to `2^i - 1`,
//! slot 1 also counting 0 (`0 -> 1`); slot 0 is never printed. Rows run
//! from slot 1 to the last non-empty slot: trailing empty slots are
//! trimmed, leading ones kept unless asked to strip them. Up to slot 32 the
//! value columns are 10 wide and the star column 40; past it the value
//! columns are 20 wide and the star column 20.
//!
//! **linear.** Slot `i` counts the value `i`; rows run from 0 to the last
//! non-empty slot, with a 40-wide star column.
//!
//! A row has `floor(width * count / max)` stars (at most `width`), `max`
//! being the largest count of any slot, printed or not.

use std::fmt::Write as _;

/// The width of the star column for histograms up to slot 32.
const STARS: usize = 40;

/// The log2 histogram of `slots` (counts by slot index), as text lines.
/// `label` names the values (`usecs`); with `strip_leading_zero`, rows
/// before the first non-empty slot are left out.
pub fn log2(slots: &[u64], label: &str, strip_leading_zero: bool) -> String {
    let mut text = String::new();
    let last = slots.iter().rposition(|&c| c > 0);
    let max = slots.iter().copied().max().unwrap_or(0);
    let Some(last) = last.filter(|&l| l > 0) else {
        return text;
    };
    let first = if strip_leading_zero {
        slots
            .iter()
            .skip(1)
            .position(|&c| c > 0)
            .map_or(1, |i| i + 1)
    } else {
        1
    };
    let wide = last > 32;
    let stars = if wide { STARS / 2 } else { STARS };
    if wide {
        let _ = writeln!(text, "               {label:<29} : count     distribution");
    } else {
        let _ = writeln!(text, "     {label:<19} : count     distribution");
    }
    for (slot, &count) in slots.iter().enumerate().take(last + 1).skip(first) {
        let high = (1u128 << slot) - 1;
        let low = if slot == 1 { 0 } else { 1u128 << (slot - 1) };
        let bar = star_bar(count, max, stars);
        if wide {
            let _ = writeln!(text, "{low:>20} -> {high:<20} : {count:<8} |{bar:<stars$}|");
        } else {
            let _ = writeln!(text, "{low:>10} -> {high:<10} : {count:<8} |{bar:<stars$}|");
        }
    }
    text
}

/// The linear histogram of `slots` (counts by value), as text lines.
pub fn linear(slots: &[u64], label: &str) -> String {
    let mut text = String::new();
    let Some(last) = slots.iter().rposition(|&c| c > 0) else {
        return text;
    };
    let max = slots.iter().copied().max().unwrap_or(0);
    let _ = writeln!(text, "     {label:<13} : count     distribution");
    for (value, &count) in slots.iter().enumerate().take(last + 1) {
        let bar = star_bar(count, max, STARS);
        let _ = writeln!(text, "        {value:<10} : {count:<8} |{bar:<STARS$}|");
    }
    text
}

/// `floor(width * count / max)` stars, at most `width`.
fn star_bar(count: u64, max: u64, width: usize) -> String {
    if max == 0 {
        return String::new();
    }
    let n = (u128::from(count) * width as u128 / u128::from(max)).min(width as u128);
    "*".repeat(n as usize)
}

/// The log2 slot of `value`, as BCC's `bpf_log2l` and the tools' programs
/// compute it: its bit length, 1 for 0.
pub fn log2_slot(value: u64) -> usize {
    (64 - value.leading_zeros() as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_match_bccs_layout() {
        let mut slots = [0u64; 64];
        slots[1] = 3;
        slots[3] = 12;
        slots[4] = 5;
        let text = log2(&slots, "usecs", false);
        let expected = "     usecs               : count     distribution
         0 -> 1          : 3        |**********                              |
         2 -> 3          : 0        |                                        |
         4 -> 7          : 12       |****************************************|
         8 -> 15         : 5        |****************                        |
";
        assert_eq!(text, expected);
    }

    #[test]
    fn leading_empty_slots_stay_and_nothing_prints_when_empty() {
        let mut slots = [0u64; 64];
        assert_eq!(log2(&slots, "usecs", false), "");
        slots[0] = 9; // slot 0 is never printed
        assert_eq!(log2(&slots, "usecs", false), "");
        slots[3] = 1;
        let text = log2(&slots, "usecs", false);
        assert_eq!(text.lines().count(), 4);
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with("         0 -> 1          : 0  ")
        );
    }

    #[test]
    fn past_slot_32_the_columns_widen() {
        let mut slots = [0u64; 64];
        slots[34] = 2;
        let text = log2(&slots, "nsecs", false);
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "               nsecs                         : count     distribution"
        );
        let row = format!(
            "{}8589934592 -> 17179869183{} : 2        |{}|",
            " ".repeat(10),
            " ".repeat(9),
            "*".repeat(20)
        );
        assert_eq!(lines.nth(33).unwrap(), row);
    }

    #[test]
    fn slots_are_bit_lengths() {
        assert_eq!(
            [0, 1, 2, 3, 4, 7, 8, u64::MAX].map(log2_slot),
            [1, 1, 2, 2, 3, 3, 4, 64]
        );
    }

    #[test]
    fn stripping_leading_zeros_starts_at_the_first_count() {
        let mut slots = [0u64; 64];
        slots[3] = 4;
        slots[5] = 2;
        let text = log2(&slots, "usecs", true);
        let rows: Vec<_> = text.lines().skip(1).map(|l| &l[..24]).collect();
        assert_eq!(
            rows,
            [
                "         4 -> 7          ",
                "         8 -> 15         ",
                "        16 -> 31         "
            ]
            .map(|r| &r[..24])
        );
    }

    #[test]
    fn linear_rows_run_from_zero_to_the_last_count() {
        let mut slots = [0u64; 1025];
        slots[1] = 2;
        slots[3] = 8;
        let expected = "     kbytes        : count     distribution
        0          : 0        |                                        |
        1          : 2        |**********                              |
        2          : 0        |                                        |
        3          : 8        |****************************************|
";
        assert_eq!(linear(&slots, "kbytes"), expected);
        assert_eq!(linear(&[0; 4], "kbytes"), "");
    }
}
