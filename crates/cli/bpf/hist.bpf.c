// SPDX-License-Identifier: GPL-2.0
// `visor trace hist`: the time from one tracepoint to another, as a log2
// histogram of microseconds (slot N counts 2^(N-1) to 2^N - 1 us, slot 1
// also counts 0, as BCC's bpf_log2l does).
//
// A start is paired with its end by the thread (syscall enter and exit),
// or by the request's `dev` and `sector` fields (block I/O issue and
// completion). The front end (crates/cli/src/trace/hist.rs) finds those
// fields' offsets in the tracepoints' format files and writes them into
// `config`: entry 0 describes the start tracepoint, entry 1 the end.
#include <visor/bpf_helpers.h>

#define SLOTS 64

struct pairing {
	__u32 by_request;    // 0: by thread (pid_tgid); 1: by dev and sector
	__u32 dev_offset;    // where `dev` (u32) is in the record
	__u32 sector_offset; // where `sector` (u64) is in the record
};

struct key {
	__u64 id; // pid_tgid, or dev
	__u64 sector;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct pairing);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct key);
	__type(value, __u64); // ktime_get_ns at the start
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

// The key of this event; `side` is 0 at the start, 1 at the end.
static __attribute__((always_inline)) int key_of(void *ctx, __u32 side, struct key *key)
{
	struct pairing *pairing = bpf_map_lookup_elem(&config, &side);
	__u32 dev = 0;

	if (!pairing)
		return -1;
	if (!pairing->by_request) {
		key->id = bpf_get_current_pid_tgid();
		return 0;
	}
	// Offsets come from a map, so read through probe_read; the masks
	// bound them for the verifier (records are far shorter).
	bpf_probe_read_kernel(&dev, sizeof(dev), (char *)ctx + (pairing->dev_offset & 0xfff));
	bpf_probe_read_kernel(&key->sector, sizeof(key->sector),
			      (char *)ctx + (pairing->sector_offset & 0xfff));
	key->id = dev;
	return 0;
}

// The slot of `value`: its bit length (1 for 0 and 1), found by halving
// the range five times instead of looping over bits.
static __attribute__((always_inline)) __u32 log2_slot(__u64 value)
{
	__u32 log2 = 0, shift;

	shift = (value > 0xffffffff) << 5; value >>= shift; log2 |= shift;
	shift = (value > 0xffff) << 4; value >>= shift; log2 |= shift;
	shift = (value > 0xff) << 3; value >>= shift; log2 |= shift;
	shift = (value > 0xf) << 2; value >>= shift; log2 |= shift;
	shift = (value > 0x3) << 1; value >>= shift; log2 |= shift;
	log2 |= value >> 1;
	return log2 + 1 < SLOTS ? log2 + 1 : SLOTS - 1;
}

SEC("tracepoint")
int hist_start(void *ctx)
{
	struct key key = {};
	__u64 now = bpf_ktime_get_ns();

	if (key_of(ctx, 0, &key) == 0)
		bpf_map_update_elem(&start, &key, &now, BPF_ANY);
	return 0;
}

SEC("tracepoint")
int hist_end(void *ctx)
{
	struct key key = {};
	__u64 *then;
	__u32 slot;
	__u64 *count;

	if (key_of(ctx, 1, &key) != 0)
		return 0;
	then = bpf_map_lookup_elem(&start, &key);
	if (!then)
		return 0; // started before we attached
	slot = log2_slot((bpf_ktime_get_ns() - *then) / 1000);
	bpf_map_delete_elem(&start, &key);
	count = bpf_map_lookup_elem(&hist, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

BPF_LICENSE("GPL");
