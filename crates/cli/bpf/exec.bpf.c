// SPDX-License-Identifier: GPL-2.0
// `visor trace exec`: one record per exec(2), through a ring buffer.
// The file name is a `__data_loc` field of sched_process_exec: a u32
// holding the string's offset (low 16 bits) and length (high 16) within
// the record. The front end (crates/cli/src/trace/exec.rs) finds where
// that u32 is in the tracepoint's format file and writes it in `config`.
#include <visor/bpf_helpers.h>

// Not in visor's header yet: helper 115 copies a NUL-terminated string.
static long (*const bpf_probe_read_kernel_str)(void *dst, __u32 size,
					       const void *unsafe_ptr) = (void *)115;

struct event {
	__u32 pid; // tgid
	__u32 tid;
	char comm[16];
	char filename[256];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32); // offset of the `filename` field in the record
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int exec(void *ctx)
{
	__u32 zero = 0;
	__u32 *filename_field = bpf_map_lookup_elem(&config, &zero);
	struct event *event;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 loc = 0;

	if (!filename_field)
		return 0;
	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event)
		return 0; // the ring is full: the reader is behind
	event->pid = pid_tgid >> 32;
	event->tid = (__u32)pid_tgid;
	bpf_get_current_comm(event->comm, sizeof(event->comm));
	bpf_probe_read_kernel(&loc, sizeof(loc), (char *)ctx + (*filename_field & 0xfff));
	bpf_probe_read_kernel_str(event->filename, sizeof(event->filename),
				  (char *)ctx + (loc & 0xffff));
	bpf_ringbuf_submit(event, 0);
	return 0;
}

BPF_LICENSE("GPL");
