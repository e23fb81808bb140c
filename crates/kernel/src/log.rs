//! The verifier's log, as `BPF_PROG_LOAD` and `BPF_BTF_LOAD` write it.
//!
//! Since Linux 6.4 the kernel keeps the *end* of the log when the buffer is
//! too small (the error is there), fails the load with `ENOSPC`, and says
//! in `log_true_size` how big a buffer the whole log needs; the loaders use
//! that to load once more with room for all of it when the full log is asked
//! for. Older kernels keep the start and report no size, so the loaders
//! double the buffer instead.

/// How much the verifier writes (`log_level`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LogLevel {
    /// Level 1: the instructions on the path to an error, and statistics.
    #[default]
    Basic,
    /// Level 2: every instruction with the register state after it.
    Verbose,
}

impl LogLevel {
    pub(crate) const fn number(self) -> u32 {
        match self {
            LogLevel::Basic => 1,
            LogLevel::Verbose => 2,
        }
    }
}

/// Log buffer sizes: where a load starts, and the most the kernel accepts
/// (`UINT_MAX >> 2` since Linux 5.2).
pub(crate) const LOG_START: usize = 256 * 1024;
pub(crate) const LOG_MAX: usize = (u32::MAX >> 2) as usize;

/// The verifier's text for one load.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifierLog {
    text: String,
    truncated: bool,
}

impl VerifierLog {
    /// The log from the kernel's buffer: text up to the first NUL.
    pub(crate) fn from_buffer(buffer: &[u8], truncated: bool) -> VerifierLog {
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        VerifierLog {
            text: String::from_utf8_lossy(&buffer[..end]).into_owned(),
            truncated,
        }
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the kernel had more to say than the buffer held (the text is
    /// then the log's end on Linux 6.4 and later, its start before).
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The line that says why, for one-line messages: the last line that is
    /// not one of the verifier's closing statistics, or a note when the
    /// kernel wrote no log at all.
    pub fn summary(&self) -> &str {
        self.text
            .lines()
            .rev()
            .map(str::trim)
            .find(|line| {
                !line.is_empty()
                    && !line.starts_with("processed ")
                    && !line.starts_with("verification time")
                    && !line.starts_with("stack depth")
                    && !line.starts_with("max_states_per_insn")
            })
            .unwrap_or("the kernel wrote no log")
    }
}

impl core::fmt::Display for VerifierLog {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.text)?;
        if self.truncated {
            f.write_str("\n(log truncated)")?;
        }
        Ok(())
    }
}

/// The next buffer size to try after a log of `current` bytes was cut,
/// given the size the kernel reported (0 before Linux 6.4).
pub(crate) fn grown(current: usize, true_size: u32) -> Option<usize> {
    let wanted = if true_size as usize > current {
        true_size as usize
    } else {
        current.saturating_mul(2)
    };
    let next = wanted.min(LOG_MAX);
    (next > current).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_skips_statistics() {
        let log = VerifierLog::from_buffer(
            b"0: (b7) r0 = 0\n1: (95) exit\nR0 !read_ok\n\
              processed 2 insns (limit 1000000) max_states_per_insn 0\n\0garbage",
            false,
        );
        assert_eq!(log.summary(), "R0 !read_ok");
        assert!(!log.text().contains("garbage"));
        assert_eq!(VerifierLog::default().summary(), "the kernel wrote no log");
    }

    #[test]
    fn buffers_grow_to_the_reported_size_or_double() {
        assert_eq!(grown(1024, 5000), Some(5000));
        assert_eq!(grown(1024, 0), Some(2048));
        assert_eq!(grown(LOG_MAX, 0), None);
    }
}
