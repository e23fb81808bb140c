//! What a comparison found, and how it reads.

use std::collections::BTreeMap;
use std::fmt;

/// Every input's verdict for one program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub program: String,
    pub inputs: Vec<InputReport>,
}

/// One input's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputReport {
    /// The input's place (a frame's index in its capture).
    pub index: usize,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Same return value, packet and maps.
    Agree { retval: u32 },
    /// At least one difference.
    Differ(Vec<Difference>),
    /// Both engines refused to run it (the same way or not): not a
    /// disagreement about what the program does.
    BothFailed { engine: String, kernel: String },
    /// Not run; the reason says why.
    NotRun(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    ReturnValue { engine: u64, kernel: u32 },
    Packet(ByteDiff),
    Map(MapDiff),
    EngineFailed(String),
    KernelFailed(String),
}

/// Where two byte strings differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByteDiff {
    pub engine_len: usize,
    pub kernel_len: usize,
    /// `(offset, engine byte, kernel byte)` of each differing byte both
    /// have, at most [`ByteDiff::SHOWN`].
    pub bytes: Vec<(usize, u8, u8)>,
    /// Differing bytes in all (past the shown ones too).
    pub count: usize,
}

impl ByteDiff {
    /// Differing bytes listed at most.
    pub const SHOWN: usize = 16;

    /// `None` when `engine` and `kernel` are equal.
    pub fn of(engine: &[u8], kernel: &[u8]) -> Option<ByteDiff> {
        if engine == kernel {
            return None;
        }
        let differing = engine
            .iter()
            .zip(kernel)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(at, (&a, &b))| (at, a, b));
        let count = differing.clone().count();
        Some(ByteDiff {
            engine_len: engine.len(),
            kernel_len: kernel.len(),
            bytes: differing.take(Self::SHOWN).collect(),
            count,
        })
    }
}

/// How one map's entries differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDiff {
    pub map: String,
    pub entries: Vec<EntryDiff>,
}

/// One key whose value differs; `None` where an engine has no entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryDiff {
    pub key: Vec<u8>,
    pub engine: Option<Vec<u8>>,
    pub kernel: Option<Vec<u8>>,
}

impl MapDiff {
    /// `None` when both engines hold the same entries.
    pub fn of(
        map: &str,
        engine: &BTreeMap<Vec<u8>, Vec<u8>>,
        kernel: &BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Option<MapDiff> {
        let mut entries = Vec::new();
        for key in engine
            .keys()
            .chain(kernel.keys().filter(|k| !engine.contains_key(*k)))
        {
            let (a, b) = (engine.get(key), kernel.get(key));
            if a != b {
                entries.push(EntryDiff {
                    key: key.clone(),
                    engine: a.cloned(),
                    kernel: b.cloned(),
                });
            }
        }
        (!entries.is_empty()).then(|| MapDiff {
            map: map.to_owned(),
            entries,
        })
    }
}

impl Report {
    pub fn agreed(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Agree { .. } | Verdict::BothFailed { .. }))
    }

    pub fn differed(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Differ(_)))
    }

    pub fn not_run(&self) -> usize {
        self.count(|v| matches!(v, Verdict::NotRun(_)))
    }

    /// No input differs (and at least one ran).
    pub fn all_agree(&self) -> bool {
        self.differed() == 0 && self.agreed() > 0
    }

    fn count(&self, f: impl Fn(&Verdict) -> bool) -> usize {
        self.inputs.iter().filter(|i| f(&i.verdict)).count()
    }

    /// `12 inputs: 11 agree, 0 differ, 1 not run`.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} inputs: {} agree, {} differ",
            self.inputs.len(),
            self.agreed(),
            self.differed()
        );
        if self.not_run() > 0 {
            text += &format!(", {} not run", self.not_run());
        }
        text
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for InputReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.index;
        match &self.verdict {
            Verdict::Agree { retval } => write!(f, "#{i}: agree (returns {})", *retval as i32),
            Verdict::NotRun(why) => write!(f, "#{i}: not run: {why}"),
            Verdict::BothFailed { engine, kernel } => {
                write!(
                    f,
                    "#{i}: agree (both refuse)\n  engine: {engine}\n  kernel: {kernel}"
                )
            }
            Verdict::Differ(differences) => {
                write!(f, "#{i}: DIFFER")?;
                for d in differences {
                    write!(f, "\n  {d}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::ReturnValue { engine, kernel } => write!(
                f,
                "return value: engine {} ({engine:#x}), kernel {} ({kernel:#x})",
                *engine as u32 as i32, *kernel as i32
            ),
            Difference::EngineFailed(e) => write!(f, "the engine failed, the kernel ran it: {e}"),
            Difference::KernelFailed(e) => write!(f, "the kernel failed, the engine ran it: {e}"),
            Difference::Packet(diff) => {
                write!(
                    f,
                    "packet: engine {} bytes, kernel {} bytes",
                    diff.engine_len, diff.kernel_len
                )?;
                if diff.count > 0 {
                    write!(f, ", {} bytes differ", diff.count)?;
                }
                for (at, a, b) in &diff.bytes {
                    write!(
                        f,
                        "\n    offset {at} ({at:#x}): engine {a:#04x}, kernel {b:#04x}"
                    )?;
                }
                if diff.count > diff.bytes.len() {
                    write!(f, "\n    ... {} more", diff.count - diff.bytes.len())?;
                }
                Ok(())
            }
            Difference::Map(diff) => {
                write!(f, "map {}: {} entries differ", diff.map, diff.entries.len())?;
                let show =
                    |v: &Option<Vec<u8>>| v.as_deref().map_or_else(|| "(none)".to_owned(), hex);
                for entry in diff.entries.iter().take(ByteDiff::SHOWN) {
                    write!(
                        f,
                        "\n    key {}: engine {}, kernel {}",
                        hex(&entry.key),
                        show(&entry.engine),
                        show(&entry.kernel)
                    )?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_diffs_name_offsets_and_both_values() {
        assert_eq!(ByteDiff::of(b"abc", b"abc"), None);
        let diff = ByteDiff::of(&[1, 2, 3, 4], &[1, 9, 3]).unwrap();
        assert_eq!((diff.engine_len, diff.kernel_len, diff.count), (4, 3, 1));
        assert_eq!(diff.bytes, vec![(1, 2, 9)]);
        let text = Difference::Packet(diff).to_string();
        assert!(
            text.contains("offset 1 (0x1): engine 0x02, kernel 0x09"),
            "{text}"
        );
    }

    #[test]
    fn map_diffs_list_missing_and_changed_entries() {
        let a: BTreeMap<_, _> = [(vec![1], vec![5]), (vec![2], vec![6])].into();
        let b: BTreeMap<_, _> = [(vec![1], vec![5]), (vec![3], vec![7])].into();
        assert_eq!(MapDiff::of("m", &a, &a), None);
        let diff = MapDiff::of("m", &a, &b).unwrap();
        let entry = |key, engine, kernel| EntryDiff {
            key,
            engine,
            kernel,
        };
        assert_eq!(
            diff.entries,
            vec![
                entry(vec![2], Some(vec![6]), None),
                entry(vec![3], None, Some(vec![7]))
            ]
        );
    }

    #[test]
    fn the_summary_counts_verdicts() {
        let report = Report {
            program: "p".into(),
            inputs: vec![
                InputReport {
                    index: 0,
                    verdict: Verdict::Agree { retval: 0 },
                },
                InputReport {
                    index: 1,
                    verdict: Verdict::Differ(vec![]),
                },
                InputReport {
                    index: 2,
                    verdict: Verdict::NotRun("short".into()),
                },
            ],
        };
        assert_eq!(report.summary(), "3 inputs: 1 agree, 1 differ, 1 not run");
        assert!(!report.all_agree());
    }
}
