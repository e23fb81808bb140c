//! `bpf_get_func_ip` (173) and `bpf_loop` (181).
//!
//! `get_func_ip` gives a tracing program the address of the traced
//! function; the userspace engine traces no function, so it returns 0
//! (what the kernel gives where no address is known).
//!
//! `bpf_loop` calls a static subprogram whose address an `lddw` with the
//! `BPF_PSEUDO_FUNC` source loaded. The interpreter does not lower such
//! `lddw`s yet (a program holding one is refused by
//! [`Interpreter::new`](crate::Interpreter::new) with
//! `VmError::UnsupportedLoadImm64`), and a helper cannot call back into
//! the program, so this helper only reports that it is not supported.

use super::{HelperError, Helpers, ids, returned};

pub(super) fn register(helpers: &mut Helpers) {
    helpers.register(ids::GET_FUNC_IP, "get_func_ip", |_, _| returned(0));
    helpers.register(ids::LOOP, "loop", |_, _| {
        Err(HelperError::Unsupported(
            "bpf_loop callbacks (the interpreter cannot call a subprogram from a helper yet)",
        ))
    });
}
