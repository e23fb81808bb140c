"""visor: a BCC-style front end over visor's eBPF engines.

    from visor import BPF
    b = BPF(text='int tracepoint__syscalls__sys_enter_clone(void *ctx) '
                 '{ bpf_printk("Hello, World!"); return 0; }')
    b.trace_print()

Programs load into the running kernel (as root) or into visor's userspace
engine (``engine="userspace"``), where ``b.run(fn, packet=...)`` runs them
without privileges.
"""

from ._visor import AttachError, CompileError, LoadError, VisorError
from .bpf import BPF, Function
from .table import Array, HashTable, PerCpuArray, PerCpuHash, PerfEventArray, RingBuf

__all__ = [
    "BPF",
    "Function",
    "VisorError",
    "CompileError",
    "LoadError",
    "AttachError",
    "HashTable",
    "Array",
    "PerCpuHash",
    "PerCpuArray",
    "PerfEventArray",
    "RingBuf",
]
