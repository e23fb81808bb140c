//! The embeddable engine: an ELF object loaded the way a loader would
//! load it into the kernel, its programs run on packets or context
//! records, its maps read and written from outside.
//!
//! ```
//! use visor_vm::engine::Engine;
//! use visor_vm::context::Verdict;
//!
//! // The tail-call dispatcher: TCP goes to its handler, which counts it.
//! let engine = Engine::open(include_bytes!("../../../../examples/tailcall.bpf.o"))?;
//! let dispatch = engine.program("dispatch").expect("the object has it");
//! let mut frame = vec![0u8; 54];
//! frame[12..14].copy_from_slice(&[0x08, 0x00]); // IPv4
//! frame[14] = 0x45;
//! frame[23] = 6; // TCP
//! let outcome = dispatch.run(&frame)?;
//! assert_eq!(outcome.verdict, Verdict::Tc(0)); // TC_ACT_OK
//! let counts = engine.map("per_protocol").expect("the object has it");
//! # use visor_vm::MapOps;
//! let tcp = counts.lookup(&1u32.to_le_bytes())?.expect("an array has every index");
//! assert_eq!(tcp, 1u64.to_le_bytes());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Loading ([`Loader::load`]) creates every map of the object with its
//! definition (`.rodata` read-only to programs, as libbpf's
//! `BPF_F_RDONLY_PROG`), fills global data with its initial bytes and
//! program arrays and map-in-map slots from the object's `.maps`
//! initialisers, and prepares each program with the helpers of its program
//! type (the standard helpers, the map helpers, and the packet helpers of
//! [`crate::context`]). A call to a helper this engine does not have, or
//! a kernel function, is a load error naming it, as the kernel's verifier
//! makes it.

mod error;
mod names;

pub use error::EngineError;
pub use names::helper_name;

use std::sync::Arc;
use std::time::Duration;

use visor_isa::{CallTarget, Insn};
use visor_object::{MapOrigin, Object, ProgramType, SlotTarget};

use crate::context::{ContextKind, Redirect, Verdict, register_packet_helpers};
use crate::helpers::{HelperEnv, Helpers, TraceBuffer};
use crate::interpreter::{Interpreter, RunInput, Runs};
use crate::maps::{Map, MapDef, MapKind, MapOps, ProgramMaps, UpdateMode, flags};
use crate::region::Region;

/// Builds the helpers of one program: called once per program with its
/// context kind.
pub type HelperFactory = dyn Fn(ContextKind) -> Helpers + Send + Sync;

/// How to load an object: which helpers programs get, what the standard
/// helpers see of the world, and the instruction budget of a run.
pub struct Loader {
    helpers: Option<Box<HelperFactory>>,
    env: HelperEnv,
    trace: Option<TraceBuffer>,
    budget: Option<u64>,
    engine: RunEngine,
}

/// Which engine runs an object's programs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunEngine {
    /// The JIT (constants blinded) where it takes the program, the
    /// interpreter for the rest and on hosts other than x86-64.
    #[default]
    Auto,
    /// The JIT; loading fails for a program it does not take.
    Jit,
    /// The interpreter, everywhere (for debugging, or to compare).
    Interpreter,
}

impl Default for Loader {
    fn default() -> Loader {
        let trace = TraceBuffer::new();
        Loader {
            helpers: None,
            env: HelperEnv::host().with_trace(trace.clone()),
            trace: Some(trace),
            budget: Some(DEFAULT_BUDGET),
            engine: RunEngine::Auto,
        }
    }
}

/// Instructions one run may execute by default: far more than the
/// kernel's verifier lets a program take, so only a runaway stops.
pub const DEFAULT_BUDGET: u64 = 100_000_000;

/// The helpers a program gets from a [`Loader`] without a helper factory:
/// [`Helpers::standard`] with `env` (the packet helpers are added after).
pub fn standard_helpers(env: &HelperEnv) -> Helpers {
    Helpers::standard(env.clone())
}

impl Loader {
    /// The standard helpers with the host's task and clocks, trace lines
    /// kept for [`Outcome::trace`], a budget of [`DEFAULT_BUDGET`].
    pub fn new() -> Loader {
        Loader::default()
    }

    /// The standard helpers see `env` (task, clock, seed, trace sink);
    /// trace lines go to its sink rather than to [`Outcome::trace`].
    pub fn env(self, env: HelperEnv) -> Loader {
        Loader {
            env,
            trace: None,
            ..self
        }
    }

    /// The environment the standard helpers see.
    pub fn helper_env(&self) -> &HelperEnv {
        &self.env
    }

    /// Programs get `factory(kind)`'s helpers instead of the standard ones
    /// (the map and packet helpers are added at ids it leaves free).
    pub fn helpers(
        self,
        factory: impl Fn(ContextKind) -> Helpers + Send + Sync + 'static,
    ) -> Loader {
        Loader {
            helpers: Some(Box::new(factory)),
            ..self
        }
    }

    /// Stops each run after `budget` instructions (`None`: never).
    pub fn budget(self, budget: Option<u64>) -> Loader {
        Loader { budget, ..self }
    }

    /// Runs programs in `engine` ([`RunEngine::Auto`] by default).
    pub fn engine(self, engine: RunEngine) -> Loader {
        Loader { engine, ..self }
    }

    /// `vm` compiled for the chosen engine.
    fn compiled(&self, name: &str, mut vm: Interpreter) -> Result<Interpreter, EngineError> {
        let compiled = match self.engine {
            RunEngine::Interpreter => return Ok(vm),
            RunEngine::Auto if !cfg!(native_jit) => return Ok(vm),
            RunEngine::Auto | RunEngine::Jit => vm.compile_jit(),
        };
        match compiled {
            Ok(()) => Ok(vm),
            Err(reason) if self.engine == RunEngine::Jit => Err(EngineError::Jit {
                program: name.to_owned(),
                reason,
            }),
            // The interpreter runs what the JIT does not take.
            Err(_) => Ok(vm),
        }
    }

    /// Loads `object`: maps first, then programs, then program arrays.
    pub fn load(&self, object: &Object<'_>) -> Result<Engine, EngineError> {
        let mut maps = Vec::new();
        for map in object.maps() {
            let def = convert_def(map.name(), map.def(), map.origin())?;
            let created = Map::new(def).map_err(|reason| EngineError::Map {
                map: map.name().to_owned(),
                reason,
            })?;
            if let Some(data) = map.initial_data() {
                let mut value = vec![0; created.def().value_size as usize];
                let n = data.len().min(value.len());
                value[..n].copy_from_slice(&data[..n]);
                created
                    .update(&0u32.to_le_bytes(), &value, UpdateMode::Any)
                    .map_err(|reason| EngineError::Map {
                        map: map.name().to_owned(),
                        reason,
                    })?;
            }
            maps.push(EngineMap {
                name: map.name().to_owned(),
                map: Arc::new(created),
            });
        }
        let table: ProgramMaps = maps.iter().map(|m| m.map.clone()).collect();

        let mut programs = Vec::new();
        for program in object.programs() {
            let program_type = program.kind().program_type();
            let kind = program_type.and_then(ContextKind::of);
            let name = program.name().to_owned();
            if let Some(external) = program.extern_refs().first() {
                return Err(EngineError::Extern {
                    program: name,
                    symbol: external.name.to_owned(),
                });
            }
            let mut helpers = match &self.helpers {
                Some(factory) => factory(kind.unwrap_or(ContextKind::Record)),
                None => standard_helpers(&self.env),
            };
            if let Some(kind) = kind {
                register_packet_helpers(&mut helpers, kind);
            }
            let vm = Interpreter::with_maps(program.insns(), helpers, table.clone())
                .map_err(|reason| EngineError::Prepare {
                    program: name.clone(),
                    reason: Box::new(reason),
                })?
                .with_budget(self.budget);
            check_helpers(&name, program.insns().insns(), &vm)?;
            let vm = self.compiled(&name, vm)?;
            programs.push(EngineProgram {
                name,
                section: program.section().to_owned(),
                program_type,
                kind,
                vm: Arc::new(vm),
            });
        }

        for (map, engine_map) in object.maps().iter().zip(&maps) {
            for (slot, target) in map.slots() {
                let filled = match target {
                    SlotTarget::Program(name) => {
                        let Some((at, program)) =
                            programs.iter().enumerate().find(|(_, p)| p.name == *name)
                        else {
                            return Err(EngineError::MissingSlot {
                                map: engine_map.name.clone(),
                                slot: *slot,
                                target: (*name).to_owned(),
                            });
                        };
                        engine_map
                            .map
                            .set_program(*slot, at as u32 + 1, program.vm.clone())
                    }
                    SlotTarget::Map(index) => {
                        let Some(inner) = maps.get(*index) else {
                            return Err(EngineError::MissingSlot {
                                map: engine_map.name.clone(),
                                slot: *slot,
                                target: format!("map {index}"),
                            });
                        };
                        engine_map.map.set_inner(
                            &slot.to_le_bytes(),
                            inner.map.clone(),
                            UpdateMode::Any,
                        )
                    }
                };
                filled.map_err(|reason| EngineError::Map {
                    map: engine_map.name.clone(),
                    reason,
                })?;
            }
        }
        Ok(Engine {
            programs,
            maps,
            trace: self.trace.clone(),
        })
    }
}

/// Fails naming the first helper `vm` cannot call.
fn check_helpers(program: &str, insns: &[Insn], vm: &Interpreter) -> Result<(), EngineError> {
    for (pc, insn) in insns.iter().enumerate() {
        match *insn {
            Insn::Call(CallTarget::Helper(id)) if vm.helpers().name(id as u32).is_none() => {
                return Err(EngineError::UnknownHelper {
                    program: program.to_owned(),
                    pc,
                    id,
                });
            }
            Insn::Call(CallTarget::Kfunc(id)) => {
                return Err(EngineError::Kfunc {
                    program: program.to_owned(),
                    pc,
                    id,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// The engine's definition of an object's map.
fn convert_def(
    name: &str,
    def: &visor_object::MapDef,
    origin: &MapOrigin,
) -> Result<MapDef, EngineError> {
    let type_id = def.map_type.id();
    let kind = MapKind::ALL
        .into_iter()
        .find(|kind| kind.id() == type_id)
        .ok_or_else(|| EngineError::MapType {
            map: name.to_owned(),
            map_type: def.map_type.name().unwrap_or("unknown").to_owned(),
        })?;
    let mut map_flags = def.flags;
    if matches!(origin, MapOrigin::Data(visor_object::DataKind::Rodata)) {
        map_flags |= flags::RDONLY_PROG;
    }
    // As libbpf does, a perf event array of size 0 gets one ring per CPU:
    // this engine's maps have one CPU.
    let max_entries = match (kind, def.max_entries) {
        (MapKind::PerfEventArray, 0) => 1,
        (_, n) => n,
    };
    let mut out = MapDef::new(kind, def.key_size, def.value_size, max_entries)
        .with_flags(map_flags)
        .with_name(name);
    if let Some(inner) = &def.inner {
        out = out.with_inner(convert_def(
            name,
            inner,
            &MapOrigin::Data(visor_object::DataKind::Data),
        )?);
    }
    Ok(out)
}

/// An object loaded into the userspace engine.
#[derive(Debug)]
pub struct Engine {
    programs: Vec<EngineProgram>,
    maps: Vec<EngineMap>,
    /// Where the standard `trace_printk` writes, unless the loader was
    /// given its own environment.
    trace: Option<TraceBuffer>,
}

/// One map of a loaded object.
#[derive(Debug)]
pub struct EngineMap {
    /// The object's name for it (`packets`, `.rodata`).
    pub name: String,
    /// The map, shared with the programs.
    pub map: Arc<Map>,
}

impl Engine {
    /// Parses `bytes` as an ELF object and loads it with the default
    /// [`Loader`].
    pub fn open(bytes: &[u8]) -> Result<Engine, EngineError> {
        let object = Object::parse(bytes)?;
        Loader::new().load(&object)
    }

    /// Loads a parsed object with the default [`Loader`].
    pub fn load(object: &Object<'_>) -> Result<Engine, EngineError> {
        Loader::new().load(object)
    }

    /// The programs, in the object's order.
    pub fn programs(&self) -> &[EngineProgram] {
        &self.programs
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Option<&EngineProgram> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// The maps, in the object's order (their `lddw` indices).
    pub fn maps(&self) -> &[EngineMap] {
        &self.maps
    }

    /// The map named `name`.
    pub fn map(&self, name: &str) -> Option<&Arc<Map>> {
        self.maps.iter().find(|m| m.name == name).map(|m| &m.map)
    }

    /// Runs program `name` on `input` (see [`EngineProgram::run`]), and
    /// collects the trace lines it printed into [`Outcome::trace`].
    pub fn run(&self, name: &str, input: &[u8]) -> Result<Outcome, EngineError> {
        let program = self.program(name).ok_or_else(|| EngineError::NoProgram {
            program: name.to_owned(),
            available: self.programs.iter().map(|p| p.name.clone()).collect(),
        })?;
        let mut outcome = program.run(input)?;
        outcome.trace = self.take_trace();
        Ok(outcome)
    }

    /// Trace lines printed by runs since the last call (`trace_printk`,
    /// in `trace_pipe`'s format), when the engine keeps them.
    pub fn take_trace(&self) -> Vec<String> {
        self.trace
            .as_ref()
            .map(|t| t.take().iter().map(|e| e.trace_pipe_line()).collect())
            .unwrap_or_default()
    }
}

/// One program of a loaded object, ready to run.
#[derive(Debug)]
pub struct EngineProgram {
    name: String,
    section: String,
    program_type: Option<ProgramType>,
    kind: Option<ContextKind>,
    vm: Arc<Interpreter>,
}

/// What one run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The program's return value (r0).
    pub r0: u64,
    /// r0 as the program type's hook reads it.
    pub verdict: Verdict,
    /// Packet programs: the frame as the program left it, from the link
    /// header (a socket filter's pulled link header included).
    pub packet: Option<Vec<u8>>,
    /// Where `bpf_redirect` sent the packet.
    pub redirect: Option<Redirect>,
    /// Copies `bpf_clone_redirect` sent, with their targets.
    pub clones: Vec<(Redirect, Vec<u8>)>,
    /// Instructions executed.
    pub instructions: u64,
    /// Trace lines the run printed (filled by [`Engine::run`]).
    pub trace: Vec<String>,
}

impl EngineProgram {
    /// The function's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ELF section it came from (`tc`, `tracepoint/syscalls/...`).
    pub fn section(&self) -> &str {
        &self.section
    }

    /// Its program type, when the section names one.
    pub fn program_type(&self) -> Option<ProgramType> {
        self.program_type
    }

    /// Its context kind, when this engine runs its program type.
    pub fn context_kind(&self) -> Option<ContextKind> {
        self.kind
    }

    /// The prepared interpreter.
    pub fn interpreter(&self) -> &Arc<Interpreter> {
        &self.vm
    }

    /// Runs on `input`: an Ethernet frame for packet programs, the
    /// context record's bytes (read-only) for tracing programs.
    pub fn run(&self, input: &[u8]) -> Result<Outcome, EngineError> {
        self.run_on_cpu(input, 0)
    }

    /// Runs like [`EngineProgram::run`] on CPU `cpu`.
    pub fn run_on_cpu(&self, input: &[u8], cpu: u32) -> Result<Outcome, EngineError> {
        self.run_as(input, cpu, Runs::Once)
            .map(|(outcome, _)| outcome)
    }

    /// Runs `repeat` times (at least once) on CPU `cpu` with one context
    /// and packet built from `input`, as `BPF_PROG_TEST_RUN`'s repeat
    /// does: each run sees the context and packet as the run before left
    /// them, on a zeroed stack; the first error ends the repeats. Returns
    /// the last run's outcome and the mean time of one run.
    pub fn run_repeated(
        &self,
        input: &[u8],
        cpu: u32,
        repeat: u64,
    ) -> Result<(Outcome, Duration), EngineError> {
        let (outcome, mean) = self.run_as(input, cpu, Runs::Timed(repeat))?;
        Ok((outcome, mean.unwrap_or_default()))
    }

    /// The last run's outcome of `runs` on `input`, and their mean time
    /// when timed.
    fn run_as(
        &self,
        input: &[u8],
        cpu: u32,
        runs: Runs,
    ) -> Result<(Outcome, Option<Duration>), EngineError> {
        let kind = self.kind.ok_or_else(|| EngineError::UnsupportedType {
            program: self.name.clone(),
            program_type: self.program_type.map_or("unknown", |t| t.name()).to_owned(),
        })?;
        let run = RunInput::packet_context(kind, input)
            .unwrap_or_else(|| RunInput::context(Region::readonly(input)));
        let served = self.vm.run_served(run.on_cpu(cpu), runs);
        let finished = served.finished.map_err(|reason| EngineError::Run {
            program: self.name.clone(),
            reason: Box::new(reason),
        })?;
        let mut outcome = Outcome {
            r0: finished.r0,
            verdict: Verdict::of(kind, finished.r0),
            packet: None,
            redirect: None,
            clones: Vec::new(),
            instructions: finished.instructions,
            trace: Vec::new(),
        };
        if kind.has_packet() {
            let mut packet = served.packet;
            if let Some(context) = served.context {
                let meta = context.meta_len.min(packet.len());
                packet.drain(..meta);
                if matches!(kind, ContextKind::Skb(_)) {
                    let mut frame = context.head.clone();
                    frame.extend_from_slice(&packet);
                    packet = frame;
                }
                outcome.redirect = context.redirect;
                outcome.clones = context.clones;
            }
            outcome.packet = Some(packet);
        }
        Ok((outcome, served.mean))
    }
}
