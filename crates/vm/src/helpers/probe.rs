//! Reading memory the program does not own directly: `bpf_probe_read`
//! (4), `bpf_probe_read_user` (112), `bpf_probe_read_kernel` (113) and
//! the string variants `bpf_probe_read_str` (45),
//! `bpf_probe_read_user_str` (114), `bpf_probe_read_kernel_str` (115).
//!
//! The userspace engine has one address space, the run's regions, so user
//! and kernel variants behave alike: the source is any guest address, read
//! through [`Memory`] with the program's checks. As in the kernel, a source
//! that faults zeroes the whole destination and returns `-EFAULT` (the
//! program goes on); a destination that is not writable stops the program
//! (the kernel's verifier would have refused it).

use super::{Helpers, Outcome, failed, ids, read_cstr, read_vec, returned, size_arg, write_bytes};
use crate::maps::Errno;
use crate::memory::Memory;

pub(super) fn register(helpers: &mut Helpers) {
    helpers.register(ids::PROBE_READ, "probe_read", probe_read);
    helpers.register(ids::PROBE_READ_USER, "probe_read_user", probe_read);
    helpers.register(ids::PROBE_READ_KERNEL, "probe_read_kernel", probe_read);
    helpers.register(ids::PROBE_READ_STR, "probe_read_str", probe_read_str);
    helpers.register(
        ids::PROBE_READ_USER_STR,
        "probe_read_user_str",
        probe_read_str,
    );
    helpers.register(
        ids::PROBE_READ_KERNEL_STR,
        "probe_read_kernel_str",
        probe_read_str,
    );
}

/// `(dst, size, unsafe_ptr)`: copies `size` bytes; 0 or `-EFAULT`.
fn probe_read(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let [dst, size, src, ..] = args;
    let size = size_arg(size, 2)?;
    match read_vec(memory, src, size) {
        Ok(bytes) => {
            write_bytes(memory, dst, &bytes)?;
            returned(0)
        }
        Err(_) => {
            write_bytes(memory, dst, &vec![0; size])?;
            failed(Errno::EFAULT)
        }
    }
}

/// `(dst, size, unsafe_ptr)`: copies a NUL-terminated string, at most
/// `size - 1` bytes and a NUL; returns the bytes written, NUL included, 0
/// when `size` is 0, or `-EFAULT`. The bytes after the NUL are left as
/// they were, as in the kernel since 5.5.
fn probe_read_str(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let [dst, size, src, ..] = args;
    let size = size_arg(size, 2)?;
    if size == 0 {
        return returned(0);
    }
    match read_cstr(memory, src, size - 1) {
        Ok(mut bytes) => {
            bytes.push(0);
            memory.write(dst, &bytes)?;
            returned(bytes.len() as u64)
        }
        Err(_) => {
            memory.write(dst, &vec![0; size])?;
            failed(Errno::EFAULT)
        }
    }
}
