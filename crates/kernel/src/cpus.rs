//! The number of possible CPUs, which sizes per-CPU map values.

use std::path::Path;
use std::sync::OnceLock;

use crate::error::KernelError;

const POSSIBLE: &str = "/sys/devices/system/cpu/possible";

/// How many CPUs the kernel may ever bring up: a per-CPU map value seen
/// from userspace has one 8-byte-aligned slot for each.
pub fn possible_cpus() -> Result<usize, KernelError> {
    static COUNT: OnceLock<usize> = OnceLock::new();
    if let Some(count) = COUNT.get() {
        return Ok(*count);
    }
    let path = Path::new(POSSIBLE);
    let text = std::fs::read_to_string(path).map_err(|source| KernelError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let count = parse_cpu_list(&text).ok_or_else(|| KernelError::ParseFile {
        path: path.to_owned(),
        content: text.clone(),
    })?;
    Ok(*COUNT.get_or_init(|| count))
}

/// Counts the CPUs of a kernel CPU list such as `0-3,8-11` or `0`: the
/// highest CPU plus one, since per-CPU slots are indexed by CPU number.
fn parse_cpu_list(text: &str) -> Option<usize> {
    let mut highest: Option<usize> = None;
    for part in text.trim().split(',') {
        let last = match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (first.parse::<usize>().ok()?, last.parse::<usize>().ok()?);
                if first > last {
                    return None;
                }
                last
            }
            None => part.parse().ok()?,
        };
        highest = Some(highest.map_or(last, |h| h.max(last)));
    }
    highest?.checked_add(1)
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-3,8-11"), Some(12));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
    }
}
