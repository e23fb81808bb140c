// SPDX-License-Identifier: GPL-2.0
// `visor trace count`: events of any tracepoint counted per process or
// per command name. The programs' sections name no tracepoint: the front
// end (crates/cli/src/trace/count.rs) attaches one of them where the user
// asks, and reads the map every interval.
#include <visor/bpf_helpers.h>

struct comm {
	char name[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32); // tgid: the process id `ps` shows
	__type(value, __u64);
} by_pid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct comm);
	__type(value, __u64);
} by_comm SEC(".maps");

// Adds one to `key`'s count. Other CPUs may count the same key at once:
// the increment is atomic, and NOEXIST keeps a racing first entry.
static __attribute__((always_inline)) void add(void *map, void *key)
{
	__u64 one = 1;
	__u64 *count = bpf_map_lookup_elem(map, key);

	if (!count && bpf_map_update_elem(map, key, &one, BPF_NOEXIST) == 0)
		return;
	if (!count)
		count = bpf_map_lookup_elem(map, key);
	if (count)
		__sync_fetch_and_add(count, 1);
}

SEC("tracepoint")
int count_by_pid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	add(&by_pid, &tgid);
	return 0;
}

SEC("tracepoint")
int count_by_comm(void *ctx)
{
	struct comm comm = {};

	bpf_get_current_comm(comm.name, sizeof(comm.name));
	add(&by_comm, &comm);
	return 0;
}

BPF_LICENSE("GPL");
