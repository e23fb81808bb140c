"""Perf buffers and ring buffers deliver every event, in both engines;
trace lines come back through trace_pipe (kernel) or the engine's sink."""

import ctypes as ct
import os

import pytest

from conftest import needs_clang, needs_kernel
from visor import BPF

PROGRAM = r"""
struct event { __u32 pid; __u32 len; };

/* Names the event's type in the BTF, for event(data, "struct event"). */
struct event last_event;

struct {
    __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
    __uint(key_size, 4);
    __uint(value_size, 4);
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 64 * 1024);
} ring SEC(".maps");

/* The process to report on; 0 reports every run. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} target SEC(".maps");

static __always_inline int report(void *ctx, __u32 len)
{
    __u32 zero = 0;
    __u32 *pid = bpf_map_lookup_elem(&target, &zero);
    __u32 me = bpf_get_current_pid_tgid() >> 32;
    if (!pid || (*pid && *pid != me))
        return 0;
    struct event e = { .pid = me, .len = len };
    bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &e, sizeof(e));
    bpf_ringbuf_output(&ring, &e, sizeof(e), 0);
    bpf_printk("event %u", len);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int on_getpid(void *ctx) { return report(ctx, 0); }

SEC("socket")
int on_packet(struct __sk_buff *skb) { return report(skb, skb->len); }
"""

RUNS = 40


class Event(ct.Structure):
    _fields_ = [("pid", ct.c_uint32), ("len", ct.c_uint32)]


def collect(b):
    """Perf samples decoded by a ctypes type, ring records by BTF name."""
    perf, ring = [], []
    b["events"].open_perf_buffer(lambda cpu, data, size: perf.append(b["events"].event(data)), event_type=Event)
    b["ring"].open_ring_buffer(lambda ctx, data, size: ring.append(b["ring"].event(data, "struct event")))
    return perf, ring


@needs_clang
def test_userspace_runs_deliver_every_event():
    with BPF(text=PROGRAM, engine="userspace") as b:
        perf, ring = collect(b)
        # skb->len counts from past the 14-byte Ethernet header.
        for n in range(RUNS):
            b.run("on_packet", packet=bytes(14 + n))
        b.perf_buffer_poll(0)
        b.ring_buffer_poll(0)
        assert sorted(e.len for e in perf) == list(range(RUNS))
        assert [e.len for e in ring] == list(range(RUNS))
        fields = b.trace_fields()
        assert fields[5] == "event 0"
        assert b.trace_readline().endswith("event 1")


@needs_clang
@needs_kernel
def test_kernel_tracepoint_events_reach_both_readers():
    pid = os.getpid()
    with BPF(text=PROGRAM, engine="kernel") as b:
        b["target"][0] = ct.c_uint32(pid)
        b.attach_tracepoint(tp="syscalls:sys_enter_getpid", fn_name="on_getpid")
        perf, ring = collect(b)
        for _ in range(RUNS):
            os.getpid()
        for _ in range(10):
            b.perf_buffer_poll(100)
            b.ring_buffer_poll(100)
            if len(perf) >= RUNS and len(ring) >= RUNS:
                break
        assert len(perf) == RUNS
        assert len(ring) == RUNS
        assert all(e.pid == pid for e in perf + ring)
        b.detach_tracepoint("syscalls:sys_enter_getpid")
        os.getpid()
        b.perf_buffer_poll(50)
        assert len(perf) == RUNS, "nothing after detach"
