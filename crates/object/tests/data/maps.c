/* Legacy and BTF-defined maps, map-in-map, a prog array with initial
 * entries, and global data in .data, .rodata and .bss.
 * Built with: clang-19 -target bpf -O2 -g -c maps.c -o maps.o */
#include "common.h"

struct legacy_def {
	u32 type, key_size, value_size, max_entries, map_flags, inner_map_idx, numa_node;
};

struct legacy_def counters SEC("maps") = {
	.type = MAP_HASH, .key_size = 4, .value_size = 8, .max_entries = 128,
};
struct legacy_def table SEC("maps") = {
	.type = MAP_ARRAY, .key_size = 4, .value_size = 16, .max_entries = 4,
};

struct value { u64 packets; u64 bytes; };

struct {
	__uint(type, MAP_HASH);
	__type(key, u32);
	__type(value, struct value);
	__uint(max_entries, 1024);
	__uint(map_flags, 1);
} stats SEC(".maps");

struct inner {
	__uint(type, MAP_ARRAY);
	__uint(key_size, 4);
	__uint(value_size, 8);
	__uint(max_entries, 2);
} inner_a SEC(".maps");

struct {
	__uint(type, MAP_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [1] = &inner_a },
};

int tail(void *ctx);

struct {
	__uint(type, MAP_PROG_ARRAY);
	__uint(max_entries, 3);
	__type(key, u32);
	__array(values, int(void *));
} jumps SEC(".maps") = {
	.values = { [2] = (void *)&tail },
};

int hits = 7;
int misses = 3;
const volatile int limit = 100;
u64 seen;
static u64 local_seen;

SEC("socket")
int tail(void *ctx)
{
	return 1;
}

SEC("socket")
int use_maps(void *ctx)
{
	u32 key = 0;
	u64 *count = map_lookup_elem(&counters, &key);
	struct value *v = map_lookup_elem(&stats, &key);
	if (count && v && map_lookup_elem(&table, &key))
		*count += v->packets;
	if (map_lookup_elem(&outer, &key))
		tail_call(ctx, &jumps, 2);
	seen += hits + misses;
	local_seen++;
	return seen > limit + local_seen;
}

char LICENSE[] SEC("license") = "GPL";
u32 VERSION SEC("version") = 0x050a00;
