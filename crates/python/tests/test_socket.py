"""``attach_raw_socket``: a socket filter on a raw socket bound to a
device keeps only the frames it accepts, as in BCC."""

import socket
import time

from conftest import needs_clang, needs_kernel
from visor import BPF

PROGRAM = r"""
#include <visor/net.h>

/* Keeps UDP/IPv4 datagrams to port 7777, whole; drops everything else. */
SEC("socket")
int udp_7777(struct __sk_buff *skb)
{
    __u8 protocol;
    __be16 port;
    if (bpf_skb_load_bytes(skb, 14 + 9, &protocol, 1) < 0 || protocol != 17)
        return 0;
    if (bpf_skb_load_bytes(skb, 14 + 20 + 2, &port, 2) < 0)
        return 0;
    return port == bpf_htons(7777) ? -1 : 0;
}
"""


@needs_clang
@needs_kernel
def test_a_raw_socket_sees_only_what_the_filter_keeps():
    with BPF(text=PROGRAM, engine="kernel") as b:
        fn = b.load_func("udp_7777", BPF.SOCKET_FILTER)
        b.attach_raw_socket(fn, "lo")
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for port in (7777, 7778, 7777, 7778, 7777):
            sender.sendto(b"visor", ("127.0.0.1", port))
        time.sleep(0.2)
        ports = []
        while True:
            try:
                frame = fn.sock.recv(2048)
            except BlockingIOError:
                break
            ports.append(int.from_bytes(frame[14 + 20 + 2 : 14 + 20 + 4], "big"))
        # Loopback shows each datagram leaving and arriving.
        assert ports and set(ports) == {7777}
        assert len(ports) in (3, 6)
