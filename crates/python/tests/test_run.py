"""``run()`` in the userspace engine gives what the kernel's
BPF_PROG_TEST_RUN gives, for the bundled networking examples over every
packet of the bundled capture. (The kernel hands a socket filter's output
back with its 14-byte link header zeroed; the comparison does the same,
as `visor diff` does.)"""

import subprocess

import pytest

from conftest import EXAMPLES, ROOT, needs_kernel, pcap_packets
from visor import BPF

CASES = [("net", "classify"), ("tcp80", "tcp_port_80")]


@needs_kernel
@pytest.mark.parametrize("example,program", CASES)
def test_userspace_runs_match_the_kernel(example, program):
    obj = str(EXAMPLES / ("%s.bpf.o" % example))
    packets = pcap_packets(EXAMPLES / "net.pcap")
    with BPF(obj=obj, engine="userspace") as user, BPF(obj=obj, engine="kernel") as kernel:
        socket_filter = user._programs()[program] == "socket"
        for packet in packets:
            ours, theirs = user.run(program, packet=packet), kernel.run(program, packet=packet)
            if socket_filter:
                ours = (ours[0], bytes(14) + ours[1][14:])
            assert ours == theirs


def test_userspace_runs_need_no_privilege():
    """The same results as ``visor run --results``, the CLI over the same
    engine."""
    obj = str(EXAMPLES / "tcp80.bpf.o")
    pcap = EXAMPLES / "net.pcap"
    b = BPF(obj=obj, engine="userspace")
    results = [b.run("tcp_port_80", packet=p)[0] for p in pcap_packets(pcap)]
    cli = subprocess.run(
        [str(ROOT / "target/debug/visor"), "run", obj, "--pcap", str(pcap), "--results"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert results == [int(line) for line in cli.stdout.split()]


def time_dispatch(engine):
    """ns per run of the tail-call dispatcher over 50 runs on one TCP
    packet, and how many runs its counter saw."""
    obj = str(EXAMPLES / "tailcall.bpf.o")
    tcp = pcap_packets(EXAMPLES / "net.pcap")[0]
    with BPF(obj=obj, engine=engine) as b:
        ns = b.time("dispatch", packet=tcp, repeat=50)
        return ns, b.get_table("per_protocol")[1].value


def test_time_repeats_on_one_packet():
    """``time()`` runs the program ``repeat`` times, as the kernel's test
    run does: the dispatcher's handler counts every run."""
    ns, count = time_dispatch("userspace")
    assert ns > 0 and count == 50


@needs_kernel
def test_time_repeats_in_the_kernel_too():
    ns, count = time_dispatch("kernel")
    assert ns >= 0 and count == 50
