#!/usr/bin/env python3
"""Writes examples/net.pcap: a small Ethernet capture for the networking
examples (IPv4/IPv6, TCP/UDP/ICMP, a VLAN tag, a fragment, ARP).
Run from the repository root: python3 examples/make_net_pcap.py"""
import struct

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF

def eth(ethertype, payload, dst=b"\x02\0\0\0\0\x02", src=b"\x02\0\0\0\0\x01"):
    return dst + src + struct.pack("!H", ethertype) + payload

def ipv4(proto, payload, src="10.0.0.1", dst="10.0.0.2", tos=0, frag=0x4000, ident=1):
    a = bytes(map(int, src.split("."))); b = bytes(map(int, dst.split(".")))
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), ident, frag, 64, proto, 0, a, b)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload

def ipv6(nh, payload):
    src = bytes.fromhex("fd000000000000000000000000000001")
    dst = bytes.fromhex("fd000000000000000000000000000002")
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, 64) + src + dst + payload

def tcp(sport, dport, flags=0x02):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0)

def udp(sport, dport, data=b"visor"):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data

frames = [
    eth(0x0800, ipv4(6, tcp(40000, 80))),
    eth(0x0800, ipv4(6, tcp(80, 40000, 0x12), src="10.0.0.2", dst="10.0.0.1")),
    eth(0x0800, ipv4(17, udp(5353, 53))),
    eth(0x0800, ipv4(1, bytes([8, 0, 0xF7, 0xFF, 0, 1, 0, 1]))),
    eth(0x0800, ipv4(6, tcp(40001, 443), tos=0x20)),
    eth(0x0800, ipv4(17, udp(5353, 53)[:8], frag=0x0010, ident=7)),
    eth(0x86DD, ipv6(6, tcp(40002, 80))),
    eth(0x86DD, ipv6(17, udp(40003, 53))),
    eth(0x86DD, ipv6(58, bytes([128, 0, 0, 0, 0, 1, 0, 1]))),
    eth(0x8100, struct.pack("!HH", 5, 0x0800) + ipv4(17, udp(1234, 4789))),
    eth(0x0806, struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + bytes(20), dst=b"\xff" * 6),
    eth(0x0800, ipv4(6, tcp(40004, 8080)), dst=b"\0" * 6),
]

with open("examples/net.pcap", "wb") as out:
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, frame in enumerate(frames):
        out.write(struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)))
        out.write(frame)
