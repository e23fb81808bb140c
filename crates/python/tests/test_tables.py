"""Tables: BCC's dict and list semantics over both engines, checked against
what the programs themselves wrote and against the Rust side (`visor map
dump --json`, the kernel crate's reading of the same map)."""

import ctypes as ct
import json
import subprocess

import pytest

from conftest import ROOT, needs_clang, needs_kernel
from visor import BPF

PROGRAM = r"""
struct pair { __u32 pid; __u32 slot; };

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u64);
} hash SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, struct pair);
} array SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} percpu SEC(".maps");

/* Each run: hash[len] += 1, array[len % 8] = {len, 7}, percpu[1] += len,
 * where len is the packet's length after its 14-byte Ethernet header. */
SEC("socket")
int record(struct __sk_buff *skb)
{
    __u32 len = skb->len, slot = len % 8, one = 1;
    __u64 first = 1;
    __u64 *seen = bpf_map_lookup_elem(&hash, &len);
    if (seen)
        *seen += 1;
    else
        bpf_map_update_elem(&hash, &len, &first, BPF_ANY);
    struct pair value = { .pid = len, .slot = 7 };
    bpf_map_update_elem(&array, &slot, &value, BPF_ANY);
    __u64 *sum = bpf_map_lookup_elem(&percpu, &one);
    if (sum)
        *sum += len;
    return 0;
}
"""

ENGINES = [
    pytest.param("userspace", marks=needs_clang),
    pytest.param("kernel", marks=[needs_clang, needs_kernel]),
]


@pytest.fixture(params=ENGINES)
def b(request):
    with BPF(text=PROGRAM, engine=request.param) as loaded:
        yield loaded


def run_lengths(b, lengths):
    """Runs on packets whose length past the Ethernet header is each of
    ``lengths``."""
    for n in lengths:
        b.run("record", packet=bytes(14 + n))


def test_types_come_from_btf(b):
    assert b["hash"].Key is ct.c_uint32
    assert b["hash"].Leaf is ct.c_uint64
    assert [f for f, _ in b["array"].Leaf._fields_] == ["pid", "slot"]


def test_hash_tables_are_dicts(b):
    run_lengths(b, [60, 60, 61])
    table = b["hash"]
    assert sorted((k.value, v.value) for k, v in table.items()) == [(60, 2), (61, 1)]
    assert len(table) == 2
    assert table[60].value == 2
    table[5] = ct.c_uint64(9)
    assert table[ct.c_uint32(5)].value == 9
    del table[60]
    with pytest.raises(KeyError):
        table[60]
    with pytest.raises(KeyError):
        del table[60]
    assert sorted(k.value for k in table.keys()) == [5, 61]
    table.clear()
    assert len(table) == 0


def test_arrays_are_lists(b):
    run_lengths(b, [64, 65])
    table = b["array"]
    assert len(table) == 8
    assert (table[0].pid, table[0].slot) == (64, 7)
    assert (table[1].pid, table[1].slot) == (65, 7)
    assert table[-8].pid == 64
    with pytest.raises(IndexError):
        table[8]
    del table[0]
    assert (table[0].pid, table[0].slot) == (0, 0)
    table.clear()
    assert all(v.pid == 0 for v in table.values())


def test_per_cpu_values_are_lists(b):
    run_lengths(b, [100, 23])
    values = b["percpu"][1]
    assert isinstance(values, list) and len(values) >= 1
    assert b["percpu"].sum(1) == 123
    assert b["percpu"].max(1) == 123


@needs_clang
@needs_kernel
def test_the_kernel_map_reads_the_same_from_rust():
    with BPF(text=PROGRAM, engine="kernel") as b:
        run_lengths(b, [70, 70, 70, 71])
        b["hash"][3] = ct.c_uint64(33)
        ids = subprocess.run(
            [str(ROOT / "target/debug/visor"), "map", "list", "--json"], capture_output=True, text=True, check=True
        )
        ours = [m for m in json.loads(ids.stdout) if m["name"] == "hash"]
        assert ours, ids.stdout
        dump = subprocess.run(
            [str(ROOT / "target/debug/visor"), "map", "dump", str(ours[-1]["id"]), "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        rust = {
            int.from_bytes(bytes(int(x, 16) for x in e["key"]), "little"): int.from_bytes(
                bytes(int(x, 16) for x in e["value"]), "little"
            )
            for e in json.loads(dump.stdout)
        }
        python = {k.value: v.value for k, v in b["hash"].items()}
        assert python == rust == {70: 3, 71: 1, 3: 33}
