//! [`Object`]: one object loaded into the kernel or into visor's
//! userspace engine, with the same byte-level operations on both, and
//! [`Attachment`], a program on a kernel hook.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use visor_kernel::{
    Attachment as KernelAttachment, LoadOptions, LoadedObject, TcDirection, TcMode, TestRun,
    UprobeSpec, XdpMode,
};
use visor_object::ProgramKind;
use visor_vm::MapOps;
use visor_vm::engine::Engine;

use crate::{AttachError, LoadError, VisorError, chain, types};

/// Which engine holds the object.
enum Loaded {
    Kernel(LoadedObject),
    Userspace(Engine),
}

/// An object loaded into an engine.
#[pyclass(module = "visor._visor")]
pub struct Object {
    elf: Vec<u8>,
    loaded: Loaded,
    /// Userspace: trace lines runs printed, until `trace_lines` takes them.
    trace: std::sync::Mutex<Vec<String>>,
}

fn visor_error(error: &dyn std::error::Error) -> PyErr {
    VisorError::new_err(chain(error))
}

#[pymethods]
impl Object {
    /// Loads `elf` into `engine`: `"kernel"` (whose verifier checks it)
    /// or `"userspace"`, where visor's verifier checks it first unless
    /// `verify` is false (trusted code).
    #[new]
    #[pyo3(signature = (elf, engine, verify=true))]
    fn new(py: Python<'_>, elf: Vec<u8>, engine: &str, verify: bool) -> PyResult<Object> {
        let loaded = match engine {
            "kernel" => py
                .detach(|| LoadedObject::load(&elf, &LoadOptions::default()))
                .map(Loaded::Kernel)
                .map_err(|e| LoadError::new_err(chain(&e)))?,
            "userspace" => {
                let object =
                    visor_object::Object::parse(&elf).map_err(|e| LoadError::new_err(chain(&e)))?;
                if verify {
                    py.detach(|| verified(&object))?;
                }
                Engine::load(&object)
                    .map(Loaded::Userspace)
                    .map_err(|e| LoadError::new_err(chain(&e)))?
            }
            other => {
                return Err(VisorError::new_err(format!(
                    "unknown engine {other:?}: choose \"kernel\" or \"userspace\""
                )));
            }
        };
        Ok(Object {
            elf,
            loaded,
            trace: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// `"kernel"` or `"userspace"`.
    #[getter]
    fn engine(&self) -> &'static str {
        match self.loaded {
            Loaded::Kernel(_) => "kernel",
            Loaded::Userspace(_) => "userspace",
        }
    }

    /// `(name, section)` of each program, in the object's order.
    fn programs(&self) -> Vec<(String, String)> {
        match &self.loaded {
            Loaded::Kernel(k) => k
                .programs()
                .iter()
                .map(|p| (p.name().to_owned(), p.section().to_owned()))
                .collect(),
            Loaded::Userspace(u) => u
                .programs()
                .iter()
                .map(|p| (p.name().to_owned(), p.section().to_owned()))
                .collect(),
        }
    }

    /// One dictionary per map: `name`, `type` (the kernel's name, `hash`),
    /// `type_id`, `key_size`, `value_size`, `max_entries`, and `key` and
    /// `value`, the BTF type descriptions (see `types`) or `None`.
    fn maps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let object = visor_object::Object::parse(&self.elf).map_err(|e| visor_error(&e))?;
        let list = PyList::empty(py);
        for map in object.maps() {
            let def = map.def();
            let entry = PyDict::new(py);
            entry.set_item("name", map.name())?;
            entry.set_item("type", def.map_type.name().unwrap_or("unknown"))?;
            entry.set_item("type_id", def.map_type.id())?;
            entry.set_item("key_size", def.key_size)?;
            entry.set_item("value_size", def.value_size)?;
            entry.set_item("max_entries", def.max_entries)?;
            let (key, value) = match (map.origin(), object.btf()) {
                (
                    visor_object::MapOrigin::Btf {
                        key_type,
                        value_type,
                    },
                    Some(btf),
                ) => (
                    key_type
                        .map(|id| types::describe(py, btf, id))
                        .transpose()?,
                    value_type
                        .map(|id| types::describe(py, btf, id))
                        .transpose()?,
                ),
                _ => (None, None),
            };
            entry.set_item("key", key.flatten())?;
            entry.set_item("value", value.flatten())?;
            list.append(entry)?;
        }
        Ok(list)
    }

    /// The description of the type called `name` in the object's BTF (for
    /// events), or `None`.
    fn type_named<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Option<Bound<'py, PyDict>>> {
        let object = visor_object::Object::parse(&self.elf).map_err(|e| visor_error(&e))?;
        match object.btf() {
            Some(btf) => types::describe_named(py, btf, name),
            None => Ok(None),
        }
    }

    /// The kernel's descriptor of program `program` (for sockets).
    fn program_fd(&self, program: &str) -> PyResult<i32> {
        use std::os::fd::AsRawFd;
        Ok(self.kernel_program(program)?.as_raw_fd())
    }

    /// How many values a per-CPU map keeps per entry: the kernel's
    /// possible CPUs, or the userspace engine's one.
    fn value_cpus(&self, map: &str) -> PyResult<u32> {
        match &self.loaded {
            Loaded::Kernel(k) => {
                kernel_map(k, map)?;
                let cpus = visor_kernel::possible_cpus().map_err(|e| visor_error(&e))?;
                Ok(u32::try_from(cpus).unwrap_or(u32::MAX))
            }
            Loaded::Userspace(u) => Ok(user_map(u, map)?.ncpus()),
        }
    }

    /// The value under `key`, or `None`. Per-CPU maps give every CPU's
    /// value, each padded to 8 bytes, one after the other.
    fn lookup(&self, map: &str, key: Vec<u8>) -> PyResult<Option<Vec<u8>>> {
        match &self.loaded {
            Loaded::Kernel(k) => kernel_map(k, map)?
                .lookup(&key)
                .map_err(|e| visor_error(&e)),
            Loaded::Userspace(u) => user_map(u, map)?.lookup(&key).map_err(|e| visor_error(&e)),
        }
    }

    /// Writes `value` under `key`; `flags` as `BPF_ANY` (0), `BPF_NOEXIST`
    /// (1), `BPF_EXIST` (2).
    #[pyo3(signature = (map, key, value, flags=0))]
    fn update(&self, map: &str, key: Vec<u8>, value: Vec<u8>, flags: u64) -> PyResult<()> {
        match &self.loaded {
            Loaded::Kernel(k) => {
                let mode = match flags {
                    1 => visor_kernel::UpdateMode::NoExist,
                    2 => visor_kernel::UpdateMode::Exist,
                    _ => visor_kernel::UpdateMode::Any,
                };
                kernel_map(k, map)?
                    .update(&key, &value, mode)
                    .map_err(|e| visor_error(&e))
            }
            Loaded::Userspace(u) => {
                let mode = match flags {
                    1 => visor_vm::UpdateMode::NoExist,
                    2 => visor_vm::UpdateMode::Exist,
                    _ => visor_vm::UpdateMode::Any,
                };
                user_map(u, map)?
                    .update(&key, &value, mode)
                    .map_err(|e| visor_error(&e))
            }
        }
    }

    /// Deletes `key`; whether it was there.
    fn delete(&self, map: &str, key: Vec<u8>) -> PyResult<bool> {
        match &self.loaded {
            Loaded::Kernel(k) => kernel_map(k, map)?
                .delete(&key)
                .map_err(|e| visor_error(&e)),
            Loaded::Userspace(u) => match user_map(u, map)?.delete(&key) {
                Ok(()) => Ok(true),
                Err(visor_vm::MapError::NotFound) => Ok(false),
                Err(e) => Err(visor_error(&e)),
            },
        }
    }

    /// The key after `key` (the first with `None`), or `None` at the end.
    #[pyo3(signature = (map, key=None))]
    fn next_key(&self, map: &str, key: Option<Vec<u8>>) -> PyResult<Option<Vec<u8>>> {
        match &self.loaded {
            Loaded::Kernel(k) => kernel_map(k, map)?
                .next_key(key.as_deref())
                .map_err(|e| visor_error(&e)),
            Loaded::Userspace(u) => user_map(u, map)?
                .next_key(key.as_deref())
                .map_err(|e| visor_error(&e)),
        }
    }

    /// Runs `program` once on `data` (a packet, or a context record for
    /// tracing programs): `(return value, packet after the run or None)`.
    /// Userspace runs in visor's engine; kernel runs use
    /// `BPF_PROG_TEST_RUN`.
    fn run(
        &self,
        py: Python<'_>,
        program: &str,
        data: Vec<u8>,
    ) -> PyResult<(u64, Option<Vec<u8>>)> {
        match &self.loaded {
            Loaded::Kernel(k) => {
                let result = kernel_test_run(py, k, program, &data, 1)?;
                let packet = (!result.data_out.is_empty()).then_some(result.data_out);
                Ok((u64::from(result.retval), packet))
            }
            Loaded::Userspace(u) => {
                let outcome = py
                    .detach(|| u.run(program, &data))
                    .map_err(|e| visor_error(&e))?;
                self.pending_trace().extend(outcome.trace);
                Ok((outcome.r0, outcome.packet))
            }
        }
    }

    /// Runs `program` `repeat` times on one copy of `data`, as
    /// `BPF_PROG_TEST_RUN`'s repeat does in both engines: nanoseconds per
    /// run (the kernel's figure is its own, in whole nanoseconds).
    fn time(&self, py: Python<'_>, program: &str, data: Vec<u8>, repeat: u32) -> PyResult<f64> {
        match &self.loaded {
            Loaded::Kernel(k) => {
                let result = kernel_test_run(py, k, program, &data, repeat.max(1))?;
                Ok(f64::from(result.duration_ns))
            }
            Loaded::Userspace(u) => {
                let engine_program = u
                    .program(program)
                    .ok_or_else(|| VisorError::new_err(format!("no program named {program}")))?;
                let (_, mean) = py
                    .detach(|| engine_program.run_repeated(&data, 0, repeat.into()))
                    .map_err(|e| visor_error(&e))?;
                self.pending_trace().extend(u.take_trace());
                Ok(mean.as_nanos() as f64)
            }
        }
    }

    /// Userspace: the `bpf_trace_printk` lines printed since the last call,
    /// in trace_pipe's format. Kernel: always empty (read trace_pipe).
    fn trace_lines(&self) -> Vec<String> {
        std::mem::take(&mut *self.pending_trace())
    }

    /// Attaches `program` where its section says (`tracepoint/CAT/NAME`,
    /// `raw_tracepoint/NAME`, `uprobe/...`); `None` when the section names
    /// no hook that attaches by itself.
    fn attach_auto(&self, program: &str) -> PyResult<Option<Attachment>> {
        let kernel = self.kernel("attach programs")?;
        let loaded = kernel
            .program(program)
            .ok_or_else(|| AttachError::new_err(format!("no program named {program}")))?;
        if let ProgramKind::Kprobe { target, .. } | ProgramKind::Kretprobe { target, .. } =
            loaded.kind()
        {
            return Err(AttachError::new_err(format!(
                "{program}: this kernel has no kprobes, so `{target}` cannot be probed; \
                 use a tracepoint (tracepoint__CATEGORY__NAME) or a raw tracepoint instead"
            )));
        }
        match kernel.attach(program, &visor_kernel::AttachOptions::default()) {
            Some(visor_kernel::AttachOutcome::Attached(attached)) => {
                let target = attached.target().to_owned();
                Ok(Some(Attachment::new(attached.into_attachment(), target)))
            }
            Some(visor_kernel::AttachOutcome::Failed { error, .. }) => {
                Err(AttachError::new_err(chain(&error)))
            }
            Some(visor_kernel::AttachOutcome::Skipped { .. }) | None => Ok(None),
        }
    }

    /// `attach_tracepoint(tp="CATEGORY:NAME", fn_name=...)`.
    fn attach_tracepoint(&self, program: &str, category: &str, name: &str) -> PyResult<Attachment> {
        let fd = self.kernel_program(program)?;
        visor_kernel::attach_tracepoint(fd, category, name)
            .map(|a| {
                Attachment::new(
                    KernelAttachment::Perf(a),
                    format!("tracepoint {category}:{name}"),
                )
            })
            .map_err(|e| AttachError::new_err(chain(&e)))
    }

    fn attach_raw_tracepoint(&self, program: &str, name: &str) -> PyResult<Attachment> {
        let fd = self.kernel_program(program)?;
        visor_kernel::attach_raw_tracepoint(fd, name)
            .map(|l| Attachment::new(KernelAttachment::Link(l), format!("raw tracepoint {name}")))
            .map_err(|e| AttachError::new_err(chain(&e)))
    }

    /// A uprobe (or uretprobe) on `symbol` in `binary` (a path, or a name
    /// looked up in `$PATH`), in every process or only `pid`.
    #[pyo3(signature = (program, binary, symbol, retprobe=false, pid=None))]
    fn attach_uprobe(
        &self,
        program: &str,
        binary: &str,
        symbol: &str,
        retprobe: bool,
        pid: Option<u32>,
    ) -> PyResult<Attachment> {
        let fd = self.kernel_program(program)?;
        let path = visor_kernel::resolve_binary(binary);
        let spec = UprobeSpec {
            kind: if retprobe {
                visor_kernel::ProbeKind::Return
            } else {
                visor_kernel::ProbeKind::Entry
            },
            pid,
            ..UprobeSpec::symbol(&path, symbol)
        };
        let what = format!(
            "{} {}:{symbol}",
            if retprobe { "uretprobe" } else { "uprobe" },
            path.display()
        );
        visor_kernel::attach_uprobe(fd, &spec)
            .map(|a| Attachment::new(KernelAttachment::Perf(a), what))
            .map_err(|e| AttachError::new_err(chain(&e)))
    }

    /// XDP on device `dev`; `mode` `"generic"`, `"native"` or `None` (the
    /// driver's if it has one).
    #[pyo3(signature = (program, dev, mode=None))]
    fn attach_xdp(&self, program: &str, dev: &str, mode: Option<&str>) -> PyResult<Attachment> {
        let fd = self.kernel_program(program)?;
        let mode = match mode {
            None => XdpMode::Any,
            Some("generic" | "skb") => XdpMode::Generic,
            Some("native" | "drv") => XdpMode::Native,
            Some(other) => {
                return Err(AttachError::new_err(format!(
                    "unknown XDP mode {other:?}: choose \"generic\" or \"native\""
                )));
            }
        };
        visor_kernel::ifindex(dev)
            .and_then(|index| visor_kernel::attach_xdp(fd, index, mode))
            .map(|l| Attachment::new(KernelAttachment::Link(l), format!("xdp on {dev}")))
            .map_err(|e| AttachError::new_err(chain(&e)))
    }

    /// TC on device `dev`, `direction` `"ingress"` or `"egress"`.
    fn attach_tc(&self, program: &str, dev: &str, direction: &str) -> PyResult<Attachment> {
        let fd = self.kernel_program(program)?;
        let direction = match direction {
            "ingress" => TcDirection::Ingress,
            "egress" => TcDirection::Egress,
            other => {
                return Err(AttachError::new_err(format!(
                    "unknown TC direction {other:?}: choose \"ingress\" or \"egress\""
                )));
            }
        };
        visor_kernel::ifindex(dev)
            .and_then(|index| visor_kernel::attach_tc(fd, index, direction, TcMode::Auto))
            .map(|tc| {
                let what = format!("{} {direction:?} on {dev}", tc.describe()).to_lowercase();
                Attachment::new(KernelAttachment::Tc(tc), what)
            })
            .map_err(|e| AttachError::new_err(chain(&e)))
    }

    /// The kernel's descriptor of map `map` (for readers), kernel only.
    fn map_fd(&self, map: &str) -> PyResult<i32> {
        use std::os::fd::AsRawFd;
        Ok(kernel_map(self.kernel("give map descriptors")?, map)?.as_raw_fd())
    }
}

impl Object {
    fn pending_trace(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        // A panic while holding it left a plain Vec behind: still usable.
        self.trace
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The kernel side, or an error saying that `what` needs it.
    fn kernel(&self, what: &str) -> PyResult<&LoadedObject> {
        match &self.loaded {
            Loaded::Kernel(k) => Ok(k),
            Loaded::Userspace(_) => Err(AttachError::new_err(format!(
                "the userspace engine cannot {what}: it has no kernel hooks; run programs \
                 with run(), or load with engine=\"kernel\" (as root)"
            ))),
        }
    }

    fn kernel_program(&self, program: &str) -> PyResult<&visor_kernel::ProgramFd> {
        self.kernel("attach programs")?
            .program(program)
            .map(|p| p.fd())
            .ok_or_else(|| AttachError::new_err(format!("no program named {program}")))
    }

    /// The userspace engine's map `name`.
    pub(crate) fn user_map(&self, name: &str) -> PyResult<Option<std::sync::Arc<visor_vm::Map>>> {
        match &self.loaded {
            Loaded::Userspace(u) => user_map(u, name).map(|m| Some(m.clone())),
            Loaded::Kernel(_) => Ok(None),
        }
    }

    /// The kernel's map `name`.
    pub(crate) fn kernel_map(&self, name: &str) -> PyResult<Option<&visor_kernel::MapFd>> {
        match &self.loaded {
            Loaded::Kernel(k) => kernel_map(k, name).map(Some),
            Loaded::Userspace(_) => Ok(None),
        }
    }
}

/// Every program of `object` through visor's verifier; the rejections, with
/// their diagnostics, as one error.
fn verified(object: &visor_object::Object<'_>) -> PyResult<()> {
    let report = visor_verifier::verify_object(object, None);
    let rejected: Vec<String> = report
        .programs
        .iter()
        .filter_map(|p| {
            let rejection = p.result.as_ref().err()?;
            Some(format!(
                "program {} ({}) rejected: {rejection}",
                p.name, p.section
            ))
        })
        .collect();
    if rejected.is_empty() {
        Ok(())
    } else {
        Err(LoadError::new_err(rejected.join("\n")))
    }
}

/// `BPF_PROG_TEST_RUN` of `program` on `data`, `repeat` times, reading
/// the packet back with room for an XDP program's headroom growth, as the
/// kernel allows.
fn kernel_test_run(
    py: Python<'_>,
    loaded: &LoadedObject,
    program: &str,
    data: &[u8],
    repeat: u32,
) -> PyResult<visor_kernel::TestRunResult> {
    let loaded = loaded
        .program(program)
        .ok_or_else(|| VisorError::new_err(format!("no program named {program}")))?;
    let run = TestRun {
        repeat,
        data_out_size: data.len() + 256,
        ..TestRun::new(data)
    };
    py.detach(|| loaded.fd().test_run(&run))
        .map_err(|e| visor_error(&e))
}

fn kernel_map<'a>(loaded: &'a LoadedObject, name: &str) -> PyResult<&'a visor_kernel::MapFd> {
    loaded
        .map(name)
        .map(|m| m.fd())
        .ok_or_else(|| VisorError::new_err(format!("no map named {name}")))
}

fn user_map<'a>(engine: &'a Engine, name: &str) -> PyResult<&'a std::sync::Arc<visor_vm::Map>> {
    engine
        .map(name)
        .ok_or_else(|| VisorError::new_err(format!("no map named {name}")))
}

/// A program on a kernel hook; detached by `detach()` or when collected.
#[pyclass(module = "visor._visor")]
pub struct Attachment {
    attachment: Option<KernelAttachment>,
    target: String,
}

impl Attachment {
    fn new(attachment: KernelAttachment, target: String) -> Attachment {
        Attachment {
            attachment: Some(attachment),
            target,
        }
    }
}

#[pymethods]
impl Attachment {
    /// Where it is attached, for people: `tracepoint syscalls:sys_enter_clone`.
    #[getter]
    fn target(&self) -> &str {
        &self.target
    }

    /// Detaches now; a second call does nothing.
    fn detach(&mut self) -> PyResult<()> {
        match self.attachment.take() {
            Some(attachment) => attachment
                .detach()
                .map_err(|e| AttachError::new_err(chain(&e))),
            None => Ok(()),
        }
    }
}
