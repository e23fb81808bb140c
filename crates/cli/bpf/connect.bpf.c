// SPDX-License-Identifier: GPL-2.0
// `visor trace connect`: outgoing TCP connections, seen when a socket
// enters SYN_SENT (sock:inet_sock_set_state, in the connecting task).
// The program copies the tracepoint's record into a ring buffer as it
// is; the front end (crates/cli/src/trace/connect.rs) decodes the
// addresses and ports with the tracepoint's format file, and told the
// program where `newstate` is through `config`.
#include <visor/bpf_helpers.h>

#define TCP_SYN_SENT 2
#define RECORD_MAX 128

struct where {
	__u32 newstate_offset; // of the `newstate` field (int)
	__u32 record_len;      // bytes of the record to copy
};

struct event {
	__u32 pid; // tgid
	__u32 record_len;
	char comm[16];
	__u8 record[RECORD_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct where);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int connect(void *ctx)
{
	__u32 zero = 0;
	struct where *where = bpf_map_lookup_elem(&config, &zero);
	struct event *event;
	int newstate = 0;
	__u32 len;

	if (!where)
		return 0;
	bpf_probe_read_kernel(&newstate, sizeof(newstate),
			      (char *)ctx + (where->newstate_offset & 0xfff));
	if (newstate != TCP_SYN_SENT)
		return 0;
	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event)
		return 0;
	event->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(event->comm, sizeof(event->comm));
	len = where->record_len;
	if (len > RECORD_MAX)
		len = RECORD_MAX;
	event->record_len = len;
	bpf_probe_read_kernel(event->record, len, ctx);
	bpf_ringbuf_submit(event, 0);
	return 0;
}

BPF_LICENSE("GPL");
