//! The current task: `bpf_get_current_pid_tgid` (14),
//! `bpf_get_current_uid_gid` (15) and `bpf_get_current_comm` (16), from
//! [`HelperEnv::task`]. With no task (`None`) they fail with `-EINVAL`,
//! as the kernel's do when `current` is NULL.

use super::env::TaskInfo;
use super::{HelperEnv, Helpers, Outcome, failed, ids, returned, size_arg};
use crate::maps::Errno;
use crate::memory::Memory;

pub(super) fn register(helpers: &mut Helpers, env: &HelperEnv) {
    let task = env.task.clone();
    helpers.register(
        ids::GET_CURRENT_PID_TGID,
        "get_current_pid_tgid",
        move |_, _| match &task {
            Some(task) => returned(u64::from(task.tgid) << 32 | u64::from(task.pid)),
            None => failed(Errno::EINVAL),
        },
    );
    let task = env.task.clone();
    helpers.register(
        ids::GET_CURRENT_UID_GID,
        "get_current_uid_gid",
        move |_, _| match &task {
            Some(task) => returned(u64::from(task.gid) << 32 | u64::from(task.uid)),
            None => failed(Errno::EINVAL),
        },
    );
    let task = env.task.clone();
    helpers.register(
        ids::GET_CURRENT_COMM,
        "get_current_comm",
        move |args, memory| current_comm(task.as_ref(), args[0], args[1], memory),
    );
}

/// `bpf_get_current_comm(buf, size)`: the name, cut to `size - 1` bytes,
/// NUL-padded to `size` (the kernel's `strscpy_pad`); with no task, `size`
/// zeros and `-EINVAL`.
fn current_comm(task: Option<&TaskInfo>, buf: u64, size: u64, memory: &mut Memory<'_>) -> Outcome {
    let size = size_arg(size, 2)?;
    let mut name = vec![0; size];
    let Some(task) = task else {
        memory.write(buf, &name)?;
        return failed(Errno::EINVAL);
    };
    let comm = task.comm_bytes();
    let len = comm.len().min(size.saturating_sub(1));
    name[..len].copy_from_slice(&comm[..len]);
    memory.write(buf, &name)?;
    returned(0)
}
