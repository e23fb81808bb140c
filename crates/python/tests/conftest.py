"""Shared fixtures: paths, privilege checks that skip with a printed
reason, and a minimal pcap reader for the bundled captures."""

import os
import shutil
import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"


def _why_no_kernel():
    if os.geteuid() != 0:
        return "needs root for bpf(2)"
    return None


def _why_no_clang():
    if not any(shutil.which(c) for c in ("clang-19", "clang")) and not os.environ.get("CLANG"):
        return "needs clang 19 (apt-get install clang-19)"
    return None


needs_kernel = pytest.mark.skipif(_why_no_kernel() is not None, reason=_why_no_kernel() or "")
needs_clang = pytest.mark.skipif(_why_no_clang() is not None, reason=_why_no_clang() or "")


def pcap_packets(path):
    """The packets of a classic little-endian pcap file."""
    data = Path(path).read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), "a little-endian pcap file"
    packets, at = [], 24
    while at + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, at + 8)[0]
        packets.append(data[at + 16 : at + 16 + caplen])
        at += 16 + caplen
    return packets
