// SPDX-License-Identifier: GPL-2.0
// A small XDP counter for `visor net attach xdp` (docs/net-walkthrough.md):
// IPv4 packets counted by IP protocol number, everything passed on.
#include <visor/bpf_helpers.h>
#include <visor/net.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);   // IP protocol (1 ICMP, 6 TCP, 17 UDP)
	__type(value, __u64); // packets
} protocols SEC(".maps");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct eth_hdr *eth = data;
	struct ipv4_hdr *ip = data + sizeof(*eth);
	__u32 protocol;
	__u64 *count;

	if ((void *)(ip + 1) > data_end || eth->proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	protocol = ip->protocol;
	count = bpf_map_lookup_elem(&protocols, &protocol);
	if (count)
		__sync_fetch_and_add(count, 1);
	return XDP_PASS;
}

BPF_LICENSE("GPL");
