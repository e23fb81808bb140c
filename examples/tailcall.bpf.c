// SPDX-License-Identifier: GPL-2.0
// tailcall: a TC dispatcher that jumps to a handler chosen by the packet's
// IP protocol, through a program array. A tail call replaces the running
// program (it does not return), keeps the context and drops the stack; when
// the slot is empty it fails and the caller goes on.
//
// The array is filled in the object itself (`.values`), so a loader that
// follows libbpf's conventions installs the handlers; userspace may replace
// them at run time with map updates.
#include <visor/bpf_helpers.h>
#include <visor/net.h>

enum slot { SLOT_ICMP, SLOT_TCP, SLOT_UDP, SLOT_OTHER, SLOTS };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64); // packets
} per_protocol SEC(".maps");

static __always_inline int count(__u32 slot)
{
	__u64 *packets = bpf_map_lookup_elem(&per_protocol, &slot);
	if (packets)
		__sync_fetch_and_add(packets, 1);
	return TC_ACT_OK;
}

SEC("tc")
int handle_icmp(struct __sk_buff *skb)
{
	return count(SLOT_ICMP);
}

SEC("tc")
int handle_tcp(struct __sk_buff *skb)
{
	return count(SLOT_TCP);
}

SEC("tc")
int handle_udp(struct __sk_buff *skb)
{
	return count(SLOT_UDP);
}

// Indexed by IP protocol number.
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__array(values, int(struct __sk_buff *));
} handlers SEC(".maps") = {
	.values = {
		[IPPROTO_ICMP] = (void *)&handle_icmp,
		[IPPROTO_TCP] = (void *)&handle_tcp,
		[IPPROTO_UDP] = (void *)&handle_udp,
	},
};

SEC("tc")
int dispatch(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct eth_hdr *eth = data;
	__u32 protocol;

	if ((void *)(eth + 1) > data_end)
		return count(SLOT_OTHER);
	if (eth->proto == bpf_htons(ETH_P_IP)) {
		struct ipv4_hdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return count(SLOT_OTHER);
		protocol = ip->protocol;
	} else if (eth->proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6_hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return count(SLOT_OTHER);
		protocol = ip6->nexthdr;
	} else {
		return count(SLOT_OTHER);
	}

	bpf_tail_call(skb, &handlers, protocol);
	// Reached only when handlers[protocol] is empty.
	return count(SLOT_OTHER);
}

BPF_LICENSE("GPL");
