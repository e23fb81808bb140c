"""Each script of examples/python runs and prints what it promises."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

from conftest import EXAMPLES, needs_clang, needs_kernel

SCRIPTS = EXAMPLES / "python"


def run(script, *args, timeout=120):
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args], capture_output=True, text=True, timeout=timeout, check=True
    ).stdout


@needs_clang
@needs_kernel
def test_hello_prints_on_every_clone():
    # Ctrl-C must reach it even when the test runs with SIGINT ignored.
    process = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "hello.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines = []

    def read():
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # Keep cloning until the first lines arrive (compiling takes a moment).
        deadline = time.time() + 60
        hello = lambda: [line for line in lines if "Hello, World!" in line]
        while len(hello()) < 3 and time.time() < deadline and process.poll() is None:
            # fork(2) is clone(2) underneath; subprocess would use clone3.
            child = os.fork()
            if child == 0:
                os._exit(0)
            os.waitpid(child, 0)
            time.sleep(0.05)
    finally:
        # Ctrl-C ends trace_print() at once (it waits in short slices).
        process.send_signal(signal.SIGINT)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError("hello.py ignored Ctrl-C")
    # trace_pipe is the whole system's: other programs' lines may come too.
    assert len(hello()) >= 3, (lines, process.stderr.read())
    assert "KeyboardInterrupt" in process.stderr.read()


@needs_clang
@needs_kernel
def test_count_lists_processes():
    out = run("count.py", "--duration", "0.5", "--top", "3").splitlines()
    assert out[0].split() == ["PID", "COMM", "SYSCALLS"]
    assert 1 <= len(out) - 1 <= 3
    assert all(re.match(r"^\d+\s+.*\s+\d+$", row) for row in out[1:])


@needs_clang
@needs_kernel
def test_syscall_latency_prints_a_bcc_histogram():
    # Reads during the measurement, so the histogram has rows.
    stop = time.time() + 1.5
    reader = threading.Thread(
        target=lambda: [open("/etc/hostname").read() for _ in iter(lambda: time.time() < stop, False)], daemon=True
    )
    reader.start()
    out = run("syscall_latency.py", "--duration", "1")
    reader.join()
    lines = out.splitlines()
    assert lines[1] == "     usecs               : count     distribution"
    assert re.match(r"^ {9}0 -> 1 {10}: \d+ +\|\**\s*\|$", lines[2]), lines[2]


@needs_clang
@needs_kernel
def test_xdp_counts_pings_and_datagrams():
    out = run("xdp_count.py", "--packets", "4")
    assert out.split() == ["icmp", "4", "udp", "4"]
