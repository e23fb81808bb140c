//! The running kernel's own BTF, `/sys/kernel/btf/vmlinux`: programs that
//! are typed against kernel functions or tracepoints (`tp_btf`) name their
//! target at load by its type id there (`attach_btf_id`), and kfunc calls
//! name the kernel function they call by its id.

use std::path::Path;

use visor_object::Btf;
use visor_object::btf::TypeKind;

use crate::error::KernelError;

/// Where the kernel publishes its BTF (Linux 5.4, `CONFIG_DEBUG_INFO_BTF`).
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// The type id a `tp_btf/NAME` program is loaded against: the typedef
/// `btf_trace_NAME` that the kernel declares for every tracepoint, whose
/// function prototype gives the program's arguments.
pub fn btf_tracepoint_type_id(name: &str) -> Result<u32, KernelError> {
    let typedef = format!("btf_trace_{name}");
    let ids = type_ids(&[&typedef], |kind| matches!(kind, TypeKind::Typedef(_)))?;
    Ok(ids[0])
}

/// The BTF ids of the kernel functions `names` (kfuncs), in order: what a
/// kfunc call carries as its immediate.
pub fn kfunc_type_ids(names: &[&str]) -> Result<Vec<u32>, KernelError> {
    type_ids(names, |kind| matches!(kind, TypeKind::Func { .. }))
}

/// The id of each of `names` among the kernel's types of a kind `wanted`
/// accepts; the kernel's BTF (megabytes) is read and parsed once.
fn type_ids(
    names: &[&str],
    wanted: impl Fn(&TypeKind<'_>) -> bool,
) -> Result<Vec<u32>, KernelError> {
    let path = Path::new(VMLINUX_BTF);
    let bytes = std::fs::read(path).map_err(|source| KernelError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let btf = Btf::parse(&bytes).map_err(|error| KernelError::ParseFile {
        path: path.to_owned(),
        content: error.to_string(),
    })?;
    names
        .iter()
        .map(|&name| {
            btf.types()
                .iter()
                .position(|t| t.name == name && wanted(&t.kind))
                .and_then(|index| u32::try_from(index).ok())
                .ok_or_else(|| KernelError::BtfTypeNotFound {
                    name: name.to_owned(),
                    path: path.to_owned(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_declares_a_typedef_for_each_tracepoint() {
        if !Path::new(VMLINUX_BTF).exists() {
            eprintln!("skipped: {VMLINUX_BTF} is missing (a kernel without BTF)");
            return;
        }
        let id = btf_tracepoint_type_id("sched_process_exec").unwrap();
        assert!(id > 0);
        let err = btf_tracepoint_type_id("no_such_tracepoint").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no type btf_trace_no_such_tracepoint in /sys/kernel/btf/vmlinux"
        );
        let ids = kfunc_type_ids(&["bpf_iter_num_new", "bpf_iter_num_next"]).unwrap();
        assert!(ids[0] > 0 && ids[1] > 0 && ids[0] != ids[1], "{ids:?}");
    }
}
