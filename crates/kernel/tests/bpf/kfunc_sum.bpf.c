// SPDX-License-Identifier: GPL-2.0
// Calls kfuncs: the open-coded numeric iterator (bpf_iter_num_*) sums 0
// to 9. Built with `visor build`; crates/kernel/tests/loader.rs loads it
// to check that kfunc calls get their kernel BTF ids.
#include <visor/bpf_helpers.h>

#define __ksym __attribute__((section(".ksyms")))

struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

SEC("tc")
int sum_to_ten(struct __sk_buff *skb)
{
	struct bpf_iter_num it;
	int *v, sum = 0;

	bpf_iter_num_new(&it, 0, 10);
	while ((v = bpf_iter_num_next(&it)))
		sum += *v;
	bpf_iter_num_destroy(&it);
	return sum;
}

char LICENSE[] SEC("license") = "GPL";
