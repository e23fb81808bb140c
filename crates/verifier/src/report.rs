//! Verifying every program of an object, and printing the verdicts.

use crate::diagnostic::SourceLine;
use crate::{Pointers, Rejection, Stats, VerifyEnv, verify_logged};
use core::fmt::Write as _;
use visor_object::{Object, ProgramType};

/// One program's verdict.
#[derive(Clone, Debug)]
pub struct ProgramReport {
    pub name: String,
    pub section: String,
    pub program_type: Option<ProgramType>,
    pub result: Result<Stats, Rejection>,
    /// The per-instruction log, when asked for.
    pub log: String,
    /// How long the verdict took.
    pub elapsed: std::time::Duration,
}

/// The verdicts of an object's programs.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub programs: Vec<ProgramReport>,
}

/// The environment an object gives one of its programs: its program type
/// from the section name, the object's maps and the contents of its
/// read-only data (loaders freeze it), its BTF line info.
pub fn object_env(object: &Object<'_>, program: &visor_object::Program<'_>) -> VerifyEnv {
    let maps = object.maps().iter().map(|m| m.def().clone()).collect();
    let mut env = VerifyEnv::new(program.kind().program_type()).with_maps(maps);
    env.frozen_contents = object
        .maps()
        .iter()
        .map(|m| {
            let read_only = m.def().flags & visor_object::maps::BPF_F_RDONLY_PROG != 0;
            m.initial_data().filter(|_| read_only).map(<[u8]>::to_vec)
        })
        .collect();
    env.unresolved_calls = program
        .extern_refs()
        .iter()
        .filter(|e| e.call)
        .map(|e| (e.insn, e.name.to_string()))
        .collect();
    env.lines = program
        .line_info()
        .iter()
        .map(|l| {
            let line = SourceLine {
                file: l.file().into_owned(),
                line: l.line,
                text: l.text().into_owned(),
            };
            (l.insn, line)
        })
        .collect();
    env
}

/// Verifies every program of `object`, or only the one named `only`
/// (matched against the function name, then the section name).
pub fn verify_object(object: &Object<'_>, only: Option<&str>) -> Report {
    verify_object_logged(object, only, false, Pointers::NoLeaks)
}

/// [`verify_object`] under the given pointer rules, keeping each
/// program's `--log` text when `log`.
pub fn verify_object_logged(
    object: &Object<'_>,
    only: Option<&str>,
    log: bool,
    pointers: Pointers,
) -> Report {
    let programs = object
        .programs()
        .iter()
        .filter(|p| only.is_none_or(|name| p.name() == name || p.section() == name))
        .map(|program| {
            let env = VerifyEnv {
                pointers,
                ..object_env(object, program)
            };
            let started = std::time::Instant::now();
            let (result, log) = verify_logged(program.insns(), &env, log);
            ProgramReport {
                name: program.name().to_string(),
                section: program.section().to_string(),
                program_type: env.program_type,
                result,
                log,
                elapsed: started.elapsed(),
            }
        })
        .collect();
    Report { programs }
}

impl Report {
    pub fn all_accepted(&self) -> bool {
        self.programs.iter().all(|p| p.result.is_ok())
    }

    /// Human-readable verdicts: one line per accepted program, the
    /// diagnostic for each rejected one.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for p in &self.programs {
            let kind = p.program_type.map_or("unknown type", |t| t.name());
            if !p.log.is_empty() {
                let _ = writeln!(out, "{} ({}, {kind}): log", p.name, p.section);
                out.push_str(&p.log);
            }
            match &p.result {
                Ok(stats) => {
                    let _ = writeln!(
                        out,
                        "{} ({}, {kind}): accepted ({} instructions processed, {} states, {} pruned, stack {} bytes)",
                        p.name,
                        p.section,
                        stats.insns_processed,
                        stats.states_stored,
                        stats.pruned,
                        stats.stack_depth
                    );
                }
                Err(rejection) => {
                    let _ = writeln!(out, "{} ({}, {kind}): rejected", p.name, p.section);
                    out.push_str(&rejection.to_string());
                }
            }
        }
        out
    }

    /// One line per program with what its verdict cost: time,
    /// instructions processed, states stored; `source` names where the
    /// program came from (the object's file).
    pub fn render_stats(&self, source: &str) -> String {
        let mut out = String::new();
        for p in &self.programs {
            // A rejection stops the walk: its counts say nothing.
            let (verdict, insns, states) = match &p.result {
                Ok(stats) => (
                    "accept",
                    stats.insns_processed.to_string(),
                    stats.states_stored.to_string(),
                ),
                Err(_) => ("reject", "-".to_owned(), "-".to_owned()),
            };
            let _ = writeln!(
                out,
                "{source:<40} {:<32} {verdict:<7} {:>12.3} {insns:>12} {states:>9}",
                p.name,
                p.elapsed.as_secs_f64() * 1e3,
            );
        }
        out
    }

    /// The verdicts as a JSON array.
    pub fn to_json(&self) -> String {
        let items: Vec<String> = self
            .programs
            .iter()
            .map(|p| {
                let mut fields = vec![
                    format!("\"name\":{}", json_string(&p.name)),
                    format!("\"section\":{}", json_string(&p.section)),
                    format!("\"type\":{}", p.program_type.map_or("null".to_string(), |t| json_string(t.name()))),
                ];
                match &p.result {
                    Ok(s) => {
                        fields.push("\"accepted\":true".to_string());
                        fields.push(format!(
                            "\"stats\":{{\"insns_processed\":{},\"states\":{},\"pruned\":{},\"stack_depth\":{}}}",
                            s.insns_processed, s.states_stored, s.pruned, s.stack_depth
                        ));
                    }
                    Err(r) => {
                        fields.push("\"accepted\":false".to_string());
                        let source = r.source.as_ref().map_or("null".to_string(), |s| {
                            format!("{{\"file\":{},\"line\":{},\"text\":{}}}", json_string(&s.file), s.line, json_string(s.text.trim()))
                        });
                        fields.push(format!(
                            "\"error\":{{\"pc\":{},\"insn\":{},\"category\":{},\"message\":{},\"state\":{},\"source\":{}}}",
                            r.pc,
                            json_string(&r.insn),
                            json_string(r.category.name()),
                            json_string(&r.message),
                            json_string(&r.state),
                            source
                        ));
                    }
                }
                format!("{{{}}}", fields.join(","))
            })
            .collect();
        format!("[{}]\n", items.join(","))
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
