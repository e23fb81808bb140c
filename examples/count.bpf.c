// SPDX-License-Identifier: GPL-2.0
// count: hello with state. Counts clone(2) calls per process (tgid) in a
// hash map that userspace reads: `visor map dump counts` or bpftool.
#include <visor/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);   // tgid, the process id that `ps` shows
	__type(value, __u64); // clone calls
} counts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_clone")
int count_clones(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1;

	__u64 *count = bpf_map_lookup_elem(&counts, &tgid);
	if (count) {
		// Other CPUs may count the same process at the same time.
		__sync_fetch_and_add(count, 1);
		return 0;
	}
	// First call: create the entry. If another CPU created it between the
	// lookup and here, NOEXIST fails, and we add to theirs instead.
	if (bpf_map_update_elem(&counts, &tgid, &one, BPF_NOEXIST) != 0) {
		count = bpf_map_lookup_elem(&counts, &tgid);
		if (count)
			__sync_fetch_and_add(count, 1);
	}
	return 0;
}

BPF_LICENSE("GPL");
