//! The running kernel's own BTF, `/sys/kernel/btf/vmlinux`: programs that
//! are typed against kernel functions or tracepoints (`tp_btf`) name their
//! target at load by its type id there (`attach_btf_id`).

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
    let path = Path::new(VMLINUX_BTF);
    let bytes = std::fs::read(path).map_err(|source| KernelError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let btf = Btf::parse(&bytes).map_err(|error| KernelError::ParseFile {
        path: path.to_owned(),
        content: error.to_string(),
    })?;
    let typedef = format!("btf_trace_{name}");
    typedef_id(&btf, &typedef).ok_or_else(|| KernelError::BtfTypeNotFound {
        name: typedef,
        path: path.to_owned(),
    })
}

/// The id of the typedef called `name`.
fn typedef_id(btf: &Btf<'_>, name: &str) -> Option<u32> {
    let index = btf
        .types()
        .iter()
        .position(|t| t.name == name && matches!(t.kind, TypeKind::Typedef(_)))?;
    u32::try_from(index).ok()
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
    }
}
