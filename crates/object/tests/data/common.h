/* Minimal definitions for the test fixtures (in the spirit of bpf_helpers.h). */
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]

typedef unsigned int u32;
typedef unsigned long long u64;

enum { MAP_HASH = 1, MAP_ARRAY = 2, MAP_PROG_ARRAY = 3, MAP_ARRAY_OF_MAPS = 12, MAP_RINGBUF = 27 };

/* Helpers by their kernel numbers. */
static void *(*map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*tail_call)(void *ctx, void *prog_array, u32 index) = (void *)12;
static long (*loop)(u32 nr, void *callback, void *ctx, u64 flags) = (void *)181;
