// SPDX-License-Identifier: GPL-2.0
// net: a TC classifier (attach at ingress or egress) that parses Ethernet,
// an optional VLAN tag, IPv4 or IPv6, and TCP or UDP, with the bounds checks
// the verifier demands; counts packets per (IP version, protocol,
// destination port); and marks unmarked IPv4 packets with DSCP CS1, fixing
// the header checksum. Every packet goes on (TC_ACT_OK).
#include <visor/bpf_helpers.h>
#include <visor/net.h>

// DSCP CS1, the "lower effort" class: a harmless, visible mark.
#define DSCP_MARK 8

struct flow_key {
	__u8 family;   // 4, 6, or 0 for a packet that is not IP
	__u8 protocol; // the IP protocol (IPv6: the first next header)
	__u16 port;    // TCP or UDP destination port, host order; else 0
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct flow_key);
	__type(value, __u64); // packets
} packets SEC(".maps");

static __always_inline void count(const struct flow_key *key)
{
	__u64 one = 1;
	__u64 *packets_seen = bpf_map_lookup_elem(&packets, key);

	if (packets_seen)
		__sync_fetch_and_add(packets_seen, 1);
	else
		bpf_map_update_elem(&packets, key, &one, BPF_NOEXIST);
}

// The destination port of the TCP or UDP header at `l4`, or 0.
static __always_inline __u16 dest_port(void *l4, void *data_end, __u8 protocol)
{
	if (protocol == IPPROTO_TCP) {
		struct tcp_hdr *tcp = l4;
		if ((void *)(tcp + 1) <= data_end)
			return bpf_ntohs(tcp->dest);
	} else if (protocol == IPPROTO_UDP) {
		struct udp_hdr *udp = l4;
		if ((void *)(udp + 1) <= data_end)
			return bpf_ntohs(udp->dest);
	}
	return 0;
}

// Sets the DSCP of the IPv4 header at `l3_off` if it has none, keeping the
// ECN bits. TOS is not in the TCP/UDP pseudo-header, so only the IP
// checksum changes; rewriting an address would also need
// bpf_l4_csum_replace(skb, ..., BPF_F_PSEUDO_HDR | 4).
static __always_inline void mark_dscp(struct __sk_buff *skb, __u32 l3_off,
				      __u8 version_ihl, __u8 tos)
{
	if (tos >> 2 != 0)
		return;
	__u8 new_tos = DSCP_MARK << 2 | (tos & 0x3);

	// The checksum is over 16-bit words; TOS shares its word with
	// version/IHL. Build both words as the packet holds them.
	__u8 old_bytes[2] = { version_ihl, tos };
	__u8 new_bytes[2] = { version_ihl, new_tos };
	__u16 old_word, new_word;
	__builtin_memcpy(&old_word, old_bytes, 2);
	__builtin_memcpy(&new_word, new_bytes, 2);

	bpf_skb_store_bytes(skb, l3_off + offsetof(struct ipv4_hdr, tos), &new_tos, 1, 0);
	bpf_l3_csum_replace(skb, l3_off + offsetof(struct ipv4_hdr, check), old_word,
			    new_word, sizeof(new_word));
}

SEC("tc")
int classify(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct flow_key key = {};

	struct eth_hdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_OK;
	__be16 proto = eth->proto;
	__u32 l3_off = sizeof(*eth);

	// A tag the NIC did not strip into skb->vlan_tci is still in the packet.
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vlan = (void *)(eth + 1);
		if ((void *)(vlan + 1) > data_end)
			return TC_ACT_OK;
		proto = vlan->proto;
		l3_off += sizeof(*vlan);
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct ipv4_hdr *ip = data + l3_off;
		if ((void *)(ip + 1) > data_end)
			return TC_ACT_OK;
		__u32 ip_len = ipv4_hdr_len(ip);
		if (ip_len < sizeof(*ip))
			return TC_ACT_OK; // malformed: leave it to the stack
		key.family = 4;
		key.protocol = ip->protocol;
		// Only the first fragment carries the ports.
		if (!(ip->frag_off & bpf_htons(IPV4_FRAG_OFFSET)))
			key.port = dest_port((void *)ip + ip_len, data_end, ip->protocol);
		__u8 version_ihl = ip->version_ihl, tos = ip->tos;
		count(&key);
		// After a helper changes the packet, `ip` and `data` are stale:
		// mark_dscp works with offsets and copied values only.
		mark_dscp(skb, l3_off, version_ihl, tos);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6_hdr *ip6 = data + l3_off;
		if ((void *)(ip6 + 1) > data_end)
			return TC_ACT_OK;
		key.family = 6;
		// Extension headers are not followed: their protocol is counted.
		key.protocol = ip6->nexthdr;
		key.port = dest_port(ip6 + 1, data_end, ip6->nexthdr);
		count(&key);
	} else {
		count(&key);
	}
	return TC_ACT_OK;
}

BPF_LICENSE("GPL");
