// SPDX-License-Identifier: GPL-2.0
// tcp80: a socket filter equivalent to tcpdump's `tcp port 80`: IPv4 or
// IPv6 TCP with source or destination port 80. A socket filter returns how
// many bytes of the packet to keep: all of them (skb->len) or 0 to drop.
//
// Where the packet data starts depends on the socket: the link-layer header
// on an AF_PACKET SOCK_RAW socket (what tcpdump uses), the network header on
// SOCK_DGRAM and AF_INET sockets. Loading relative to the network header
// (BPF_HDR_START_NET) and taking the protocol from skb->protocol makes the
// filter right on all of them, whatever the link layer.
#include <visor/bpf_helpers.h>
#include <visor/net.h>

#define PORT 80

static __always_inline int load(struct __sk_buff *skb, __u32 offset, void *to, __u32 len)
{
	return bpf_skb_load_bytes_relative(skb, offset, to, len, BPF_HDR_START_NET);
}

// Whether the TCP header at `offset` (from the network header) has port 80.
static __always_inline int has_port(struct __sk_buff *skb, __u32 offset)
{
	__be16 ports[2]; // source, destination
	if (load(skb, offset, ports, sizeof(ports)) < 0)
		return 0;
	return ports[0] == bpf_htons(PORT) || ports[1] == bpf_htons(PORT);
}

SEC("socket")
int tcp_port_80(struct __sk_buff *skb)
{
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct ipv4_hdr ip;
		if (load(skb, 0, &ip, sizeof(ip)) < 0 || ip.protocol != IPPROTO_TCP)
			return 0;
		// A later fragment has no TCP header (tcpdump checks this too).
		if (ip.frag_off & bpf_htons(IPV4_FRAG_OFFSET))
			return 0;
		__u32 ip_len = ipv4_hdr_len(&ip);
		if (ip_len < sizeof(ip) || !has_port(skb, ip_len))
			return 0;
		return skb->len;
	}
	if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6_hdr ip6;
		// Like tcpdump, only TCP right after the fixed header counts.
		if (load(skb, 0, &ip6, sizeof(ip6)) < 0 || ip6.nexthdr != IPPROTO_TCP)
			return 0;
		if (!has_port(skb, sizeof(ip6)))
			return 0;
		return skb->len;
	}
	return 0;
}

BPF_LICENSE("GPL");
