#!/usr/bin/env python3
"""Counts system calls per process for a while, then prints the busiest
processes: a hash map keyed by process id, read as a Python dict.

    sudo python3 examples/python/count.py --duration 5 --top 10
"""
import argparse
import time

from visor import BPF

PROGRAM = r"""
struct counter {
    __u64 calls;
    char comm[16];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, __u32);              /* process id (tgid) */
    __type(value, struct counter);
} counts SEC(".maps");

int tracepoint__raw_syscalls__sys_enter(void *ctx)
{
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct counter *counter = bpf_map_lookup_elem(&counts, &tgid);

    if (!counter) {
        struct counter fresh = { .calls = 0 };
        bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
        bpf_map_update_elem(&counts, &tgid, &fresh, BPF_NOEXIST);
        counter = bpf_map_lookup_elem(&counts, &tgid);
        if (!counter)
            return 0;
    }
    __sync_fetch_and_add(&counter->calls, 1);
    return 0;
}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5, help="seconds to count (default 5)")
    parser.add_argument("--top", type=int, default=10, help="processes to print (default 10)")
    args = parser.parse_args()

    b = BPF(text=PROGRAM)
    time.sleep(args.duration)
    counts = b["counts"]
    rows = sorted(counts.items(), key=lambda kv: kv[1].calls, reverse=True)
    print("%-8s %-16s %10s" % ("PID", "COMM", "SYSCALLS"))
    for pid, counter in rows[: args.top]:
        print("%-8d %-16s %10d" % (pid.value, counter.comm.decode(errors="replace"), counter.calls))


if __name__ == "__main__":
    main()
