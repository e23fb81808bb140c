/* The map-heavy program and the tail-call chain of `benches/shared.rs`:
 * TC programs, run on a 64-byte packet in visor's engine and through the
 * kernel's BPF_PROG_TEST_RUN.
 *
 *   nothing:    returns 0 (the engine's own per-run cost);
 *   hash_churn: 256 rounds of a lookup, an increment of the value found,
 *               and an update of the key the next round looks up, in a
 *               512-entry hash map; returns how many lookups found their
 *               key (255 once the map is warm: every key but the first).
 *   chain_0:    eight programs, each tail-calling the next through a
 *               program array; the last returns 7.
 */
#include <visor/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("tc")
int nothing(struct __sk_buff *skb)
{
	return 0;
}

SEC("tc")
int hash_churn(struct __sk_buff *skb)
{
	__u32 found = 0;

	for (__u32 i = 0; i < 256; i++) {
		__u32 key = (i * 37) & 511;
		__u64 *value = bpf_map_lookup_elem(&counts, &key);

		if (value) {
			*value += 1;
			found++;
		}
		__u32 next = (key + 37) & 511;
		__u64 start = i;
		bpf_map_update_elem(&counts, &next, &start, BPF_ANY);
	}
	return found;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} chain SEC(".maps");

#define LINK(n)                                                                \
	SEC("tc") int chain_##n(struct __sk_buff *skb)                         \
	{                                                                      \
		bpf_tail_call(skb, &chain, (n) + 1);                           \
		return n;                                                      \
	}

LINK(0) LINK(1) LINK(2) LINK(3) LINK(4) LINK(5) LINK(6) LINK(7)

char LICENSE[] SEC("license") = "Dual MIT/GPL";
