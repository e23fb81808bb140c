//! Static safety analysis of eBPF programs, for a program type: what the
//! kernel's verifier proves before a program runs, with one root-cause
//! diagnostic per rejection.
//!
//! ```
//! use visor_isa::asm::{Syntax, assemble};
//! use visor_verifier::{Category, VerifyEnv, verify};
//! let ok = assemble("r0 = *(u32 *)(r1 + 0)\nexit", Syntax::Llvm).unwrap();
//! let env = VerifyEnv::for_type(visor_object::ProgramType::SocketFilter);
//! assert!(verify(&ok, &env).is_ok());
//! let bad = assemble("r0 = *(u64 *)(r10 - 8)\nexit", Syntax::Llvm).unwrap();
//! assert_eq!(verify(&bad, &env).unwrap_err().category, Category::UninitStack);
//! ```
//!
//! # Module map
//!
//! | module | what |
//! |---|---|
//! | [`cfg`] | control flow before values: functions, reachability, jumps inside functions, recursion, call depth, combined stack; prune points and register liveness |
//! | [`loops`] | counted loops, found syntactically, whose heads the walk widens instead of unrolling |
//! | [`tnum`] | known bits of a 64-bit value |
//! | [`scalar`] | [`Scalar`]: signed and unsigned 64- and 32-bit ranges plus a tnum, kept consistent; every ALU op; refinement by conditional jumps |
//! | [`state`] | registers ([`Value`], [`PtrKind`]), stack frames tracked per byte with spills, the inclusion order used for pruning |
//! | `analyze` | the abstract interpreter: depth-first over paths with state pruning; ALU, jumps, exit and return ranges |
//! | `access` | loads, stores, atomics, legacy packet loads, helper memory: one bounds check per region |
//! | `calls` | helper calls against their prototypes; local calls with a new frame |
//! | [`helpers`] | helper prototypes and the program types allowed to call them |
//! | [`context`] | context layouts per program type: readable/writable fields, packet pointers |
//! | [`diagnostic`] | [`Rejection`] and its [`Category`] |
//! | `report` | [`verify_object`]: every program of an object, rendered as text or JSON |
//!
//! # Tests
//!
//! Unit tests beside the code (one per rule in `tests.rs`; tnum and scalar
//! operations and refinements property-tested against concrete values);
//! `tests/corpus.rs` judges `../shared/objects/build` per program, for the
//! right reason, and compares verdicts with the running kernel's over the
//! corpus (the crate is optimised in test builds for Cilium's sake); `tests/prevail.rs` translates
//! PREVAIL's YAML cases and prints `N agree, M disagree`;
//! `tests/soundness.rs` runs random accepted programs in visor-vm's
//! interpreter. `examples/verify_timed.rs` times each program of objects.
//!
//! # Programs on a buffer
//!
//! visor-vm runs plain programs on a byte buffer: r1 its address, r2 its
//! length. [`state::State::buffer_entry`] is that entry: the buffer is
//! the packet (`data`), and r2, with every 64-bit copy of it, is known to
//! be its length, so comparing it with a number proves that many bytes
//! present and `data + len` is `data_end`. [`Findings::reached`] says
//! which regions each access reached on every path: visor-vm's JIT runs
//! accesses that only ever reached the buffer without run-time checks.
//!
//! # Decisions
//!
//! - Privileges: the defaults follow a privileged loader (no pointer
//!   masking, no Spectre rules) except that pointers may not leak into
//!   maps, helper memory or the return value ([`Pointers`]: `Leak` allows
//!   that, as `CAP_PERFMON` does in the kernel; `Strict` is the kernel's
//!   pointer rules without it). As for a
//!   privileged loader, 32-bit subtractions involving pointers give
//!   unknown numbers, and loads from frozen read-only maps (`.rodata`) at
//!   constant offsets give their contents.
//! - Precision, in two steps: scalars whose values cannot reach a decision
//!   (a branch, an address, a helper's argument, the exit value) on any
//!   path are forgotten at prune points ([`precision`], computed before
//!   the walk); and a stored state prunes states that differ from it only
//!   in numbers its own exploration never decided on (`backtrack.rs`, the
//!   kernel's precision marks, carried back along each path).
//! - Array map keys that are constants on the stack are range-checked
//!   against `max_entries` (the kernel only fails such calls at run time).
//! - Division by zero is allowed: eBPF defines it (the result is zero).
//! - Loops are explored iteration by iteration, like the kernel; a loop
//!   that returns to an identical state is rejected at once, others when
//!   the instruction budget ([`VerifyEnv::budget`]) runs out. Counted
//!   loops ([`loops`]: one register stepped by a constant toward a
//!   constant limit) are proven to end by their shape, so after two laps
//!   the counter is widened to the values it can take and the laps left
//!   are pruned against that state: their cost does not grow with the
//!   trip count (as long as running them fits the budget).
//!
//! # Not yet modelled
//!
//! Scalar ids linking copies of a register (a bound learned on one copy is
//! not applied to the others), reference tracking (ring buffer records and
//! socket references must be released), callbacks (`bpf_loop`,
//! `bpf_for_each_map_elem`), kfuncs, `callx` to anything but a known
//! helper id, BTF-typed pointers
//! (fentry/fexit/lsm arguments), spin locks, dynptrs and iterators, and
//! widening of loops other than counted ones.
#![forbid(unsafe_code)]

mod access;
mod analyze;
mod backtrack;
mod calls;
pub mod cfg;
pub mod context;
pub mod diagnostic;
pub mod helpers;
pub mod loops;
pub mod precision;
pub mod prevail;
mod report;
pub mod scalar;
pub mod state;
pub mod tnum;

pub use access::Reached;
pub use diagnostic::{Category, Rejection, SourceLine};
pub use report::{ProgramReport, Report, object_env, verify_object, verify_object_logged};
pub use scalar::Scalar;
pub use state::{PtrKind, Value};

use visor_isa::Program;
use visor_object::{MapDef, ProgramType};

/// The kernel's instruction budget (`BPF_COMPLEXITY_LIMIT_INSNS`).
pub const DEFAULT_BUDGET: u64 = 1_000_000;

/// What a program may do with pointers. The kernel decides by the
/// loader's capabilities (its `allow_ptr_leaks`, from `CAP_PERFMON`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pointers {
    /// Everything a loader with `CAP_PERFMON` may do: pointers may also
    /// be stored in maps and helper memory, and returned.
    Leak,
    /// Visor's default: the arithmetic and comparisons of a privileged
    /// loader, but no pointer reaches a map, helper memory or the return
    /// value.
    NoLeaks,
    /// The kernel's pointer rules for a loader without `CAP_PERFMON`: no
    /// leaks, and no copies of half a pointer, 32-bit arithmetic on
    /// pointers, subtraction of one pointer from another, or comparison
    /// of pointers other than null checks and packet bounds.
    Strict,
}

/// What a program is verified against.
#[derive(Clone, Debug)]
pub struct VerifyEnv {
    /// The program type; `None` for an unknown section (generic rules: a
    /// read-only context, every helper allowed).
    pub program_type: Option<ProgramType>,
    /// Map definitions, by the index `lddw` `PSEUDO_MAP_IDX` carries.
    pub maps: Vec<MapDef>,
    /// BTF line info: `(slot, source line)`, sorted by slot.
    pub lines: Vec<(usize, SourceLine)>,
    /// Calls the object could not resolve: `(slot, function name)`.
    pub unresolved_calls: Vec<(usize, String)>,
    /// The contents of read-only maps (`.rodata`), by map index, where
    /// the loader freezes them before loading the program: loads from them
    /// at constant offsets are constants, as in the kernel.
    pub frozen_contents: Vec<Option<Vec<u8>>>,
    /// What the program may do with pointers.
    pub pointers: Pointers,
    /// Prove that loops end (off: a loop back to an explored state is
    /// pruned like any other path, which proves safety only).
    pub check_termination: bool,
    /// Allow divisors that may be zero (eBPF defines the result).
    pub allow_division_by_zero: bool,
    /// Instructions processed (over all paths) before giving up.
    pub budget: u64,
}

impl VerifyEnv {
    pub fn new(program_type: Option<ProgramType>) -> VerifyEnv {
        VerifyEnv {
            program_type,
            maps: Vec::new(),
            lines: Vec::new(),
            unresolved_calls: Vec::new(),
            frozen_contents: Vec::new(),
            pointers: Pointers::NoLeaks,
            check_termination: true,
            allow_division_by_zero: true,
            budget: DEFAULT_BUDGET,
        }
    }

    pub fn for_type(program_type: ProgramType) -> VerifyEnv {
        VerifyEnv::new(Some(program_type))
    }

    pub fn with_maps(mut self, maps: Vec<MapDef>) -> VerifyEnv {
        self.maps = maps;
        self
    }

    /// The source line slot `pc` was compiled from.
    pub fn source_line(&self, pc: usize) -> Option<&SourceLine> {
        let end = self.lines.partition_point(|(at, _)| *at <= pc);
        self.lines[..end].last().map(|(_, line)| line)
    }
}

/// What an accepted program cost to verify.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Instructions interpreted, over all paths.
    pub insns_processed: u64,
    /// States stored at prune points.
    pub states_stored: u64,
    /// Paths cut short because an explored state included theirs.
    pub pruned: u64,
    /// Stack bytes used by the entry function.
    pub stack_depth: usize,
}

/// What an accepted program's analysis found besides its cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    pub stats: Stats,
    /// Conditional jumps one of whose outcomes never happens, as
    /// `(slot, taken)`: dead code the compiler (or the author) left.
    pub dead_branches: Vec<(usize, bool)>,
    /// The slots that access memory, with the regions they reached.
    pub reached: Vec<(usize, Reached)>,
}

/// Verifies `program` against `env`.
pub fn verify(program: &Program, env: &VerifyEnv) -> Result<Stats, Rejection> {
    verify_logged(program, env, false).0
}

/// Verifies `program` and returns, with the verdict, the per-instruction
/// log (`--log`): each instruction interpreted, on every path, with the
/// registers it changed; path starts show the whole state.
pub fn verify_logged(
    program: &Program,
    env: &VerifyEnv,
    log: bool,
) -> (Result<Stats, Rejection>, String) {
    let (result, text) = verify_from(program, env, state::State::entry(), log);
    (result.map(|f| f.stats), text)
}

/// Verifies `program` from `entry` instead of the program-entry state (a
/// test harness's pre-state), with the findings of an accepted program.
pub fn verify_from(
    program: &Program,
    env: &VerifyEnv,
    entry: state::State,
    log: bool,
) -> (Result<Findings, Rejection>, String) {
    let mut text = String::new();
    let result = run(program, env, entry, log, &mut text);
    let result = result.map_err(|mut rejection| {
        let insn = program
            .iter()
            .find(|(pc, _)| *pc == rejection.pc)
            .map(|(_, i)| *i);
        if let Some(insn) = insn {
            rejection.insn = visor_isa::disasm::format_insn(&insn);
        }
        rejection.source = env.source_line(rejection.pc).cloned().map(Box::new);
        rejection
    });
    (result, text)
}

fn run(
    program: &Program,
    env: &VerifyEnv,
    entry: state::State,
    log: bool,
    text: &mut String,
) -> Result<Findings, Rejection> {
    if let Some((pc, name)) = env.unresolved_calls.first() {
        return Err(Rejection::new(
            *pc,
            Category::UnknownHelper,
            format!(
                "`{name}` is neither a helper nor a function of this object: call helpers through their declarations in bpf_helpers.h, or define the function"
            ),
        ));
    }
    let cfg = cfg::Cfg::build(program, &entry)?;
    let mut analyzer = analyze::Analyzer::new(&cfg, env, log, true);
    let mut result = analyzer.run(entry.clone());
    // Widening loses precision: a rejection after it is decided again by
    // unrolling every loop, as the kernel does.
    if result.is_err() && analyzer.widened {
        analyzer = analyze::Analyzer::new(&cfg, env, log, false);
        result = analyzer.run(entry);
    }
    if let Some(log) = analyzer.log.take() {
        *text = log;
    }
    result?;
    cfg.check_stack(&analyzer.stack_depth)?;
    let mut stats = analyzer.stats;
    stats.stack_depth = analyzer.stack_depth.first().copied().unwrap_or(0);
    Ok(Findings {
        stats,
        dead_branches: analyzer.dead_branches(),
        reached: analyzer
            .reached
            .iter()
            .enumerate()
            .filter(|(_, reached)| **reached != Reached::default())
            .map(|(pc, reached)| (pc, *reached))
            .collect(),
    })
}

#[cfg(test)]
mod tests;
