// SPDX-License-Identifier: GPL-2.0
// `visor trace hello`: a line in trace_pipe for every clone(2). The front
// end (crates/cli/src/trace/hello.rs) reads it back with TracePipe.
#include <visor/bpf_helpers.h>

SEC("tracepoint/syscalls/sys_enter_clone")
int hello(void *ctx)
{
	bpf_printk("Hello, World!");
	return 0;
}

// bpf_trace_printk is GPL-only.
BPF_LICENSE("GPL");
