//! Which clang to run: `--clang`, else `$CLANG`, else `clang-19` on `PATH`,
//! else `clang` on `PATH`.
//!
//! An explicit choice (`--clang`, `$CLANG`) that does not exist is an error,
//! not a reason to try the next candidate: the user asked for that one.
//! `clang-19` comes before `clang` because a distribution's plain `clang` may
//! be older than the BPF features visor's examples use (`-mcpu=v3` and up).

use std::env;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::BuildError;

/// The names looked up on `PATH` when no clang is given, in order.
pub const PATH_CANDIDATES: [&str; 2] = ["clang-19", "clang"];

/// Where the chosen clang came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClangOrigin {
    /// The `--clang` option.
    Flag,
    /// The `$CLANG` environment variable.
    EnvVar,
    /// A search of `PATH` for this name.
    Path(&'static str),
}

impl fmt::Display for ClangOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClangOrigin::Flag => f.write_str("--clang"),
            ClangOrigin::EnvVar => f.write_str("$CLANG"),
            ClangOrigin::Path(name) => write!(f, "`{name}` on PATH"),
        }
    }
}

/// The inputs of the search, so that tests need not touch the environment.
#[derive(Clone, Debug, Default)]
pub struct ClangSearch<'a> {
    /// The `--clang` option.
    pub flag: Option<&'a Path>,
    /// The value of `$CLANG`; empty counts as unset.
    pub env_clang: Option<&'a OsStr>,
    /// The value of `$PATH`.
    pub path_var: Option<&'a OsStr>,
}

/// A clang binary to compile with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clang {
    path: PathBuf,
    origin: ClangOrigin,
}

impl Clang {
    /// Searches with `flag` (the `--clang` option) and this process's
    /// `$CLANG` and `$PATH`.
    pub fn find(flag: Option<&Path>) -> Result<Clang, BuildError> {
        let env_clang = env::var_os("CLANG");
        let path_var = env::var_os("PATH");
        Clang::search(&ClangSearch {
            flag,
            env_clang: env_clang.as_deref(),
            path_var: path_var.as_deref(),
        })
    }

    /// Searches with explicit inputs; see the module docs for the order.
    pub fn search(search: &ClangSearch<'_>) -> Result<Clang, BuildError> {
        let explicit = match (search.flag, search.env_clang) {
            (Some(path), _) => Some((path.as_os_str(), ClangOrigin::Flag)),
            (None, Some(value)) if !value.is_empty() => Some((value, ClangOrigin::EnvVar)),
            _ => None,
        };
        if let Some((given, origin)) = explicit {
            return resolve(given, search.path_var)
                .map(|path| Clang {
                    path,
                    origin: origin.clone(),
                })
                .ok_or_else(|| BuildError::ClangMissing {
                    path: PathBuf::from(given),
                    origin,
                });
        }
        for name in PATH_CANDIDATES {
            if let Some(path) = on_path(OsStr::new(name), search.path_var) {
                return Ok(Clang {
                    path,
                    origin: ClangOrigin::Path(name),
                });
            }
        }
        Err(BuildError::NoClang {
            tried: describe_search(search),
        })
    }

    /// Wraps a known clang binary, without checking it.
    pub fn at(path: impl Into<PathBuf>, origin: ClangOrigin) -> Clang {
        Clang {
            path: path.into(),
            origin,
        }
    }

    /// The binary to run.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the binary was chosen.
    pub fn origin(&self) -> &ClangOrigin {
        &self.origin
    }
}

/// A name without a `/` is looked up on `PATH`, like a shell does; anything
/// else is a path, relative to the current directory.
fn resolve(given: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    match given.as_encoded_bytes().contains(&b'/') {
        true => is_executable(Path::new(given)).then(|| PathBuf::from(given)),
        false => on_path(given, path_var),
    }
}

fn on_path(name: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let path_var = path_var?;
    env::split_paths(path_var)
        // An empty PATH entry means the current directory, as in a shell.
        .map(|dir| match dir.as_os_str().is_empty() {
            true => PathBuf::from(".").join(name),
            false => dir.join(name),
        })
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// "--clang not given, $CLANG unset, no clang-19 or clang in PATH".
fn describe_search(search: &ClangSearch<'_>) -> String {
    let env = match search.env_clang {
        Some(value) if !value.is_empty() => "$CLANG set",
        _ => "$CLANG unset",
    };
    let path = match search.path_var {
        Some(_) => format!("no {} in PATH", PATH_CANDIDATES.join(" or ")),
        None => "PATH unset".to_owned(),
    };
    format!("--clang not given, {env}, {path}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::fs;

    fn join_path(dirs: &[&Path]) -> OsString {
        env::join_paths(dirs).unwrap()
    }

    /// A scratch directory holding fake executables, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = env::temp_dir().join(format!("visor-build-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn exe(&self, name: &str) -> PathBuf {
            use std::os::unix::fs::PermissionsExt;
            let path = self.0.join(name);
            fs::write(&path, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn prefers_clang_19_over_clang_on_path() {
        let dir = Scratch::new("prefer");
        let clang = dir.exe("clang");
        let clang19 = dir.exe("clang-19");
        let path = join_path(&[&dir.0]);
        let search = ClangSearch {
            path_var: Some(&path),
            ..ClangSearch::default()
        };
        assert_eq!(
            Clang::search(&search).unwrap(),
            Clang::at(&clang19, ClangOrigin::Path("clang-19"))
        );
        fs::remove_file(clang19).unwrap();
        assert_eq!(
            Clang::search(&search).unwrap(),
            Clang::at(&clang, ClangOrigin::Path("clang"))
        );
    }

    #[test]
    fn flag_beats_env_and_env_beats_path() {
        let dir = Scratch::new("order");
        let flag = dir.exe("my-clang");
        let env_clang = dir.exe("env-clang");
        dir.exe("clang-19");
        let path = join_path(&[&dir.0]);
        let mut search = ClangSearch {
            flag: Some(&flag),
            env_clang: Some(env_clang.as_os_str()),
            path_var: Some(&path),
        };
        assert_eq!(Clang::search(&search).unwrap().origin(), &ClangOrigin::Flag);
        search.flag = None;
        assert_eq!(
            Clang::search(&search).unwrap(),
            Clang::at(&env_clang, ClangOrigin::EnvVar)
        );
        // An empty $CLANG is unset.
        search.env_clang = Some(OsStr::new(""));
        assert_eq!(
            Clang::search(&search).unwrap().origin(),
            &ClangOrigin::Path("clang-19")
        );
    }

    #[test]
    fn env_name_without_slash_is_looked_up_on_path() {
        let dir = Scratch::new("envname");
        let clang18 = dir.exe("clang-18");
        let path = join_path(&[&dir.0]);
        let search = ClangSearch {
            env_clang: Some(OsStr::new("clang-18")),
            path_var: Some(&path),
            ..ClangSearch::default()
        };
        assert_eq!(
            Clang::search(&search).unwrap(),
            Clang::at(&clang18, ClangOrigin::EnvVar)
        );
    }

    #[test]
    fn a_missing_explicit_clang_is_an_error_not_a_fallback() {
        let dir = Scratch::new("missing");
        dir.exe("clang-19");
        let path = join_path(&[&dir.0]);
        let missing = dir.0.join("nope");
        let search = ClangSearch {
            flag: Some(&missing),
            path_var: Some(&path),
            ..ClangSearch::default()
        };
        let error = Clang::search(&search).unwrap_err();
        assert!(matches!(
            error,
            BuildError::ClangMissing {
                origin: ClangOrigin::Flag,
                ..
            }
        ));
        assert!(error.to_string().contains("--clang names"), "{error}");
    }

    #[test]
    fn a_file_that_is_not_executable_does_not_count() {
        let dir = Scratch::new("noexec");
        fs::write(dir.0.join("clang-19"), "").unwrap();
        let path = join_path(&[&dir.0]);
        let search = ClangSearch {
            path_var: Some(&path),
            ..ClangSearch::default()
        };
        assert!(matches!(
            Clang::search(&search),
            Err(BuildError::NoClang { .. })
        ));
    }

    #[test]
    fn no_clang_says_what_was_tried_and_what_to_do() {
        let dir = Scratch::new("none");
        let path = join_path(&[&dir.0]);
        let search = ClangSearch {
            path_var: Some(&path),
            ..ClangSearch::default()
        };
        let message = Clang::search(&search).unwrap_err().to_string();
        assert!(
            message.contains("--clang not given, $CLANG unset, no clang-19 or clang in PATH"),
            "{message}"
        );
        assert!(message.contains("install clang 19"), "{message}");
        assert!(message.contains("set $CLANG"), "{message}");
    }
}
