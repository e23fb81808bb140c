// SPDX-License-Identifier: GPL-2.0
// hello: the smallest useful BPF program. Every clone(2) prints a line to
// /sys/kernel/tracing/trace_pipe.
#include <visor/bpf_helpers.h>

SEC("tracepoint/syscalls/sys_enter_clone")
int hello(void *ctx)
{
	bpf_printk("Hello, World!");
	return 0;
}

// bpf_trace_printk is GPL-only.
BPF_LICENSE("GPL");
