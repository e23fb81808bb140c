/* Several programs per section, .text subprograms (global and static),
 * a callback passed by address, and line info.
 * Built with: clang-19 -target bpf -O2 -g -c programs.c -o programs.o */
#include "common.h"

static __attribute__((noinline)) int double_it(int x)
{
	return x * 2;
}

__attribute__((noinline)) int add_one(int x)
{
	return double_it(x) + 1;
}

static int count_step(u32 index, void *ctx)
{
	*(int *)ctx += index;
	return 0;
}

SEC("xdp")
int first(void *ctx)
{
	int n = (int)(long)ctx;
	return add_one(n);
}

SEC("xdp")
int second(void *ctx)
{
	int total = 0;
	loop(4, count_step, &total, 0);
	return double_it(total);
}

SEC("tracepoint/syscalls/sys_enter_write")
int on_write(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
