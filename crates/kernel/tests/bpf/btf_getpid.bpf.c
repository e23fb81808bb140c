// SPDX-License-Identifier: GPL-2.0
// A BTF tracepoint with a subprogram: counts getpid(2) calls per thread
// from `tp_btf/sys_enter`, whose arguments are (struct pt_regs *regs,
// long id). Built with `visor build`; crates/kernel/tests/tracing.rs loads
// it to check the tp_btf path and the programs' func and line info.
#include <visor/bpf_helpers.h>

#define NR_GETPID 39 /* x86-64 */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);   // thread id
	__type(value, __u64); // getpid calls
} getpid_calls SEC(".maps");

static __noinline int count_thread(__u32 tid)
{
	__u64 one = 1;
	__u64 *calls = bpf_map_lookup_elem(&getpid_calls, &tid);

	if (calls) {
		__sync_fetch_and_add(calls, 1);
		return 0;
	}
	return bpf_map_update_elem(&getpid_calls, &tid, &one, BPF_NOEXIST);
}

SEC("tp_btf/sys_enter")
int count_getpid(unsigned long long *ctx)
{
	long id = (long)ctx[1];

	if (id != NR_GETPID)
		return 0;
	count_thread((__u32)bpf_get_current_pid_tgid());
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
