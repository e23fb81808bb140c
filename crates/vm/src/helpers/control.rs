//! `bpf_get_func_ip` (173) and `bpf_loop` (181).
//!
//! `get_func_ip` gives a tracing program the address of the traced
//! function; the userspace engine traces no function, so it returns 0
//! (what the kernel gives where no address is known).
//!
//! `bpf_loop(nr_loops, callback, ctx, flags)` calls a static subprogram,
//! whose address an `lddw` with the `BPF_PSEUDO_FUNC` source loaded, with
//! the index in r1 and `ctx` in r2, until it returns 1 or `nr_loops` calls
//! are made; r0 is the number of calls. This helper checks the arguments
//! as the kernel does and hands the calls to the interpreter
//! ([`HelperOutcome::Loop`]), which alone can run guest code.

use super::{HelperError, HelperOutcome, Helpers, LoopCall, failed, ids, returned};
use crate::layout::RegionId;
use crate::maps::Errno;

/// The kernel's `BPF_MAX_LOOPS`: more iterations are refused with E2BIG.
pub const MAX_LOOPS: u64 = 1 << 23;

pub(super) fn register(helpers: &mut Helpers) {
    helpers.register(ids::GET_FUNC_IP, "get_func_ip", |_, _| returned(0));
    helpers.register(
        ids::LOOP,
        "loop",
        |[iterations, callback, context, flags, _], _| {
            if flags != 0 {
                return failed(Errno::EINVAL);
            }
            if iterations > MAX_LOOPS {
                return failed(Errno::E2BIG);
            }
            if RegionId::function_slot(callback).is_none() {
                return Err(HelperError::BadArgument {
                    reg: 2,
                    value: callback,
                    reason: "not a function address (load one with lddw func[...])",
                });
            }
            Ok(HelperOutcome::Loop(LoopCall {
                iterations,
                callback,
                context,
            }))
        },
    );
}
