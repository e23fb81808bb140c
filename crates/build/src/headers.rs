//! visor's C headers (`include/visor/`), shipped inside the binary and
//! written to a cache directory for clang's `-I`.
//!
//! Shipping them in the binary keeps `#include <visor/bpf_helpers.h>` working
//! from any directory, with no dependency on where the checkout was. The
//! directory name carries the crate version and a hash of the contents, so
//! two visor versions never share (or fight over) one directory, and a file
//! is rewritten only when its contents differ from what is there.

use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::BuildError;

/// One header: its path under the include directory, and its text.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! header {
    ($name:literal) => {
        Header {
            name: concat!("visor/", $name),
            text: include_str!(concat!("../../../include/visor/", $name)),
        }
    };
}

/// Every header, in `#include <NAME>` form.
pub const HEADERS: [Header; 4] = [
    header!("types.h"),
    header!("bpf.h"),
    header!("bpf_helpers.h"),
    header!("net.h"),
];

/// The directory name for this header set: `<version>-<hash>`.
pub fn set_name() -> String {
    // FNV-1a over names and texts: stable across builds and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for header in HEADERS {
        for byte in header.name.bytes().chain([0]).chain(header.text.bytes()) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{}-{:08x}", env!("CARGO_PKG_VERSION"), hash as u32)
}

/// Where the header set goes: `$XDG_CACHE_HOME/visor/include/<set>`, else
/// `~/.cache/visor/include/<set>`, else under the temporary directory.
pub fn cache_dir() -> PathBuf {
    let cache = env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .filter(|dir| dir.is_absolute())
        .unwrap_or_else(|| env::temp_dir().join("visor-cache"));
    cache.join("visor").join("include").join(set_name())
}

/// Writes the headers to [`cache_dir`], falling back to the temporary
/// directory when the cache is not writable; returns the directory to pass
/// to clang with `-I`.
pub fn install() -> Result<PathBuf, BuildError> {
    let preferred = cache_dir();
    match install_in(&preferred) {
        Ok(()) => Ok(preferred),
        Err(_) => {
            let fallback = env::temp_dir().join("visor-include").join(set_name());
            install_in(&fallback).map_err(|source| BuildError::Headers {
                dir: fallback.clone(),
                source,
            })?;
            Ok(fallback)
        }
    }
}

/// Writes every header under `dir`, leaving files that are already right.
pub fn install_in(dir: &Path) -> io::Result<()> {
    for header in HEADERS {
        let path = dir.join(header.name);
        if fs::read(&path).is_ok_and(|bytes| bytes == header.text.as_bytes()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        // Write aside, then rename: a concurrent build sees the old file or
        // the new one, never half of one.
        let partial = path.with_extension(format!("h.{}.tmp", std::process::id()));
        fs::write(&partial, header.text)?;
        fs::rename(&partial, &path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_include_each_other_by_visor_path() {
        let names: Vec<_> = HEADERS.iter().map(|h| h.name).collect();
        for header in HEADERS {
            for line in header.text.lines() {
                if let Some(rest) = line.strip_prefix("#include <visor/") {
                    let name = format!("visor/{}", rest.trim_end_matches('>'));
                    assert!(
                        names.contains(&name.as_str()),
                        "{} includes {name}, not shipped",
                        header.name
                    );
                }
            }
        }
    }

    #[test]
    fn install_writes_every_header_and_repairs_changed_ones() {
        let dir = env::temp_dir().join(format!("visor-build-headers-{}", std::process::id()));
        install_in(&dir).unwrap();
        let helpers = dir.join("visor/bpf_helpers.h");
        fs::write(&helpers, "stale").unwrap();
        install_in(&dir).unwrap();
        for header in HEADERS {
            assert_eq!(
                fs::read_to_string(dir.join(header.name)).unwrap(),
                header.text
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn set_name_starts_with_the_version() {
        assert!(set_name().starts_with(concat!(env!("CARGO_PKG_VERSION"), "-")));
    }
}
