#!/usr/bin/env python3
"""Counts packets by IP protocol with XDP on one end of a veth pair whose
other end lives in a network namespace; pings and UDP datagrams sent from
inside the namespace are counted, then the script cleans up. Needs root.

    sudo python3 examples/python/xdp_count.py --packets 5
"""
import argparse
import socket
import subprocess

from visor import BPF

PROGRAM = r"""
#include <visor/net.h>

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 256);
    __type(key, __u32);   /* IP protocol */
    __type(value, __u64); /* packets */
} protocols SEC(".maps");

SEC("xdp")
int count_protocols(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct eth_hdr *eth = data;
    struct ipv4_hdr *ip = data + sizeof(*eth);

    if ((void *)(ip + 1) > data_end || eth->proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    __u32 protocol = ip->protocol;
    __u64 *packets = bpf_map_lookup_elem(&protocols, &protocol);
    if (packets)
        *packets += 1;
    return XDP_PASS;
}
"""

NETNS = "visor-py-xdp"
HOST_DEV, PEER_DEV = "visorxdp0", "visorxdp1"
HOST_ADDR, PEER_ADDR = "10.231.9.1", "10.231.9.2"


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


def make_pair():
    ip("netns", "add", NETNS)
    ip("link", "add", HOST_DEV, "type", "veth", "peer", "name", PEER_DEV, "netns", NETNS)
    ip("addr", "add", HOST_ADDR + "/24", "dev", HOST_DEV)
    ip("link", "set", HOST_DEV, "up")
    ip("-n", NETNS, "addr", "add", PEER_ADDR + "/24", "dev", PEER_DEV)
    ip("-n", NETNS, "link", "set", PEER_DEV, "up")


def remove_pair():
    # Deleting the namespace deletes its veth end, and with it the pair.
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)


def send_from_namespace(packets):
    netns = ["ip", "netns", "exec", NETNS]
    subprocess.run(netns + ["ping", "-c", str(packets), "-i", "0.01", "-W", "1", HOST_ADDR], capture_output=True)
    code = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    code += "for _ in range(%d): s.sendto(b'visor', ('%s', 9999))\n" % (packets, HOST_ADDR)
    subprocess.run(netns + ["python3", "-c", code], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packets", type=int, default=5, help="pings and datagrams to send (default 5 each)")
    args = parser.parse_args()

    remove_pair()
    make_pair()
    try:
        with BPF(text=PROGRAM) as b:
            b.attach_xdp(HOST_DEV, b.load_func("count_protocols", BPF.XDP), BPF.XDP_FLAGS_SKB_MODE)
            send_from_namespace(args.packets)
            protocols = b["protocols"]
            for number, name in ((socket.IPPROTO_ICMP, "icmp"), (socket.IPPROTO_UDP, "udp")):
                print("%-5s %d" % (name, protocols.sum(number)))
    finally:
        remove_pair()


if __name__ == "__main__":
    main()
