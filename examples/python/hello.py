#!/usr/bin/env python3
# Hello world on every clone(2), the classic BCC demo: run as root, then
# start any program in another terminal. Ctrl-C stops it.
from visor import BPF

prog = 'int tracepoint__syscalls__sys_enter_clone(void *ctx) { bpf_printk("Hello, World!"); return 0; }'
BPF(text=prog).trace_print()
