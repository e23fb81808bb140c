#!/usr/bin/env python3
"""The latency of read(2) as a log2 histogram of microseconds, printed
with print_log2_hist exactly as BCC prints it.

    sudo python3 examples/python/syscall_latency.py --duration 5
"""
import argparse
import time

from visor import BPF

PROGRAM = r"""
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, __u32);   /* thread id */
    __type(value, __u64); /* when its read(2) began, ns */
} start SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 65);
    __type(key, __u32);   /* log2 slot */
    __type(value, __u64); /* calls */
} dist SEC(".maps");

/* The slot of v: its bit length, 1 for 0 (BCC's bpf_log2l). */
static __always_inline __u32 log2_slot(__u64 v)
{
    __u32 slot = 1;
    for (int i = 0; i < 64 && v > 1; i++) {
        v >>= 1;
        slot++;
    }
    return slot;
}

int tracepoint__syscalls__sys_enter_read(void *ctx)
{
    __u32 tid = bpf_get_current_pid_tgid();
    __u64 now = bpf_ktime_get_ns();
    bpf_map_update_elem(&start, &tid, &now, BPF_ANY);
    return 0;
}

int tracepoint__syscalls__sys_exit_read(void *ctx)
{
    __u32 tid = bpf_get_current_pid_tgid();
    __u64 *began = bpf_map_lookup_elem(&start, &tid);
    if (!began)
        return 0;
    __u32 slot = log2_slot((bpf_ktime_get_ns() - *began) / 1000);
    bpf_map_delete_elem(&start, &tid);
    __u64 *count = bpf_map_lookup_elem(&dist, &slot);
    if (count)
        __sync_fetch_and_add(count, 1);
    return 0;
}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5, help="seconds to measure (default 5)")
    args = parser.parse_args()

    b = BPF(text=PROGRAM)
    print("Tracing read(2) for %g s..." % args.duration)
    time.sleep(args.duration)
    b["dist"].print_log2_hist("usecs")


if __name__ == "__main__":
    main()
