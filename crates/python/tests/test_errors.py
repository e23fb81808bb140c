"""Failures arrive as exceptions that say what went wrong: clang's own
diagnostics, the kernel verifier's log, and hooks this kernel lacks."""

import pytest

from conftest import needs_clang, needs_kernel
from visor import BPF, AttachError, CompileError, LoadError


@needs_clang
def test_compile_errors_carry_clangs_message():
    with pytest.raises(CompileError) as error:
        BPF(text="int broken(void *ctx) { return undeclared_thing; }", engine="userspace")
    text = str(error.value)
    assert "undeclared_thing" in text and "error:" in text


UNCHECKED = r"""
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } m SEC(".maps");
SEC("socket") int unchecked(void *ctx) {
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&m, &k);
    return *v;   /* no NULL check */
}
"""


@needs_clang
@needs_kernel
def test_verifier_rejections_carry_the_kernels_log():
    with pytest.raises(LoadError) as error:
        BPF(text=UNCHECKED, engine="kernel")
    assert "map_value_or_null" in str(error.value)


@needs_clang
def test_userspace_loads_carry_visors_diagnostic():
    with pytest.raises(LoadError) as error:
        BPF(text=UNCHECKED, engine="userspace")
    text = str(error.value)
    assert "program unchecked (socket) rejected: error[null-pointer]" in text
    assert "return *v;" in text and "check the result of bpf_map_lookup_elem" in text
    # Trusted code may skip it.
    BPF(text=UNCHECKED, engine="userspace", verify=False)


@needs_clang
@needs_kernel
def test_kprobes_fail_with_a_way_out():
    with pytest.raises(AttachError) as error:
        BPF(text="int kprobe__do_nanosleep(void *ctx) { return 0; }", engine="kernel")
    assert "no kprobes" in str(error.value) and "tracepoint" in str(error.value)


def test_exactly_one_source():
    with pytest.raises(ValueError):
        BPF()
    with pytest.raises(ValueError):
        BPF(text="x", obj="y")


@needs_clang
def test_userspace_has_no_hooks():
    b = BPF(text="int tracepoint__syscalls__sys_enter_clone(void *ctx) { return 0; }", engine="userspace")
    with pytest.raises(AttachError) as error:
        b.attach_tracepoint(tp="syscalls:sys_enter_clone", fn_name="tracepoint__syscalls__sys_enter_clone")
    assert "engine=\"kernel\"" in str(error.value)
