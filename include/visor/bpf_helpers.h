/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * visor/bpf_helpers.h: what a restricted-C BPF program includes.
 *
 *   #include <visor/bpf_helpers.h>
 *
 *   SEC("tracepoint/syscalls/sys_enter_clone")
 *   int hello(void *ctx) { bpf_printk("Hello, World!"); return 0; }
 *
 *   BPF_LICENSE("GPL");
 *
 * `visor build` puts these headers on clang's include path. They follow the
 * conventions libbpf established, so objects load with visor, libbpf and
 * bpftool alike: program sections named by SEC(), maps defined in ".maps"
 * and described by BTF, helpers called by their kernel number.
 */
#ifndef VISOR_BPF_HELPERS_H
#define VISOR_BPF_HELPERS_H

#include <visor/bpf.h>

/* ---- Sections -------------------------------------------------------- */

/* Places a program, map or license in the ELF section a loader looks for;
 * `used` keeps clang from dropping a definition nothing references. */
#define SEC(name) __attribute__((section(name), used))

/* The license the kernel checks before granting GPL-only helpers
 * (bpf_trace_printk, bpf_probe_read*, bpf_ktime_get_boot_ns, ...). */
#define BPF_LICENSE(name) char _license[] SEC("license") = name

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif

/* ---- BTF-defined maps ------------------------------------------------ */
/*
 * A map is a global struct in section ".maps" whose members encode its
 * definition in their types, which BTF then describes to the loader:
 *
 *   struct {
 *           __uint(type, BPF_MAP_TYPE_HASH);
 *           __uint(max_entries, 1024);
 *           __type(key, __u32);
 *           __type(value, __u64);
 *   } counts SEC(".maps");
 *
 * __uint records a number as an array length (a pointer to int[N]); __type
 * records a type as a pointer to it; __array declares the initial contents
 * of a map of maps or program array.
 */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]

/* ---- Helpers --------------------------------------------------------- */
/*
 * A helper is called through a constant function pointer whose value is the
 * helper's number in the kernel's enum bpf_func_id; clang turns each call
 * into `call N`. Numbers and signatures are those of include/uapi/linux/bpf.h.
 */
#define VISOR_HELPER(ret, name, id, ...) \
	static ret (*const bpf_##name)(__VA_ARGS__) = (void *)(id)

/* Maps. */
VISOR_HELPER(void *, map_lookup_elem, 1, void *map, const void *key);
VISOR_HELPER(long, map_update_elem, 2, void *map, const void *key,
	     const void *value, __u64 flags);
VISOR_HELPER(long, map_delete_elem, 3, void *map, const void *key);
VISOR_HELPER(long, map_push_elem, 87, void *map, const void *value, __u64 flags);
VISOR_HELPER(long, map_pop_elem, 88, void *map, void *value);
VISOR_HELPER(long, map_peek_elem, 89, void *map, void *value);

/* Memory outside the program. */
VISOR_HELPER(long, probe_read, 4, void *dst, __u32 size, const void *unsafe_ptr);
VISOR_HELPER(long, probe_read_user, 112, void *dst, __u32 size,
	     const void *unsafe_ptr);
VISOR_HELPER(long, probe_read_kernel, 113, void *dst, __u32 size,
	     const void *unsafe_ptr);

/* Time, randomness, the current task. */
VISOR_HELPER(__u64, ktime_get_ns, 5, void);
VISOR_HELPER(__u64, ktime_get_boot_ns, 125, void);
VISOR_HELPER(__u32, get_prandom_u32, 7, void);
VISOR_HELPER(__u32, get_smp_processor_id, 8, void);
VISOR_HELPER(__u64, get_current_pid_tgid, 14, void); /* tgid << 32 | pid */
VISOR_HELPER(__u64, get_current_uid_gid, 15, void);  /* gid << 32 | uid */
VISOR_HELPER(long, get_current_comm, 16, void *buf, __u32 size_of_buf);
VISOR_HELPER(__u64, get_func_ip, 173, void *ctx);

/* Text. */
VISOR_HELPER(long, trace_printk, 6, const char *fmt, __u32 fmt_size, ...);
VISOR_HELPER(long, snprintf, 165, char *str, __u32 str_size, const char *fmt,
	     __u64 *data, __u32 data_len);
VISOR_HELPER(long, strtol, 105, const char *buf, unsigned long buf_len,
	     __u64 flags, long *res);

/* Control flow. */
VISOR_HELPER(long, tail_call, 12, void *ctx, void *prog_array_map, __u32 index);
VISOR_HELPER(long, loop, 181, __u32 nr_loops, void *callback_fn,
	     void *callback_ctx, __u64 flags);

/* Packets: sk_buff. */
VISOR_HELPER(long, skb_store_bytes, 9, struct __sk_buff *skb, __u32 offset,
	     const void *from, __u32 len, __u64 flags);
VISOR_HELPER(long, skb_load_bytes, 26, const void *skb, __u32 offset, void *to,
	     __u32 len);
VISOR_HELPER(long, skb_load_bytes_relative, 68, const void *skb, __u32 offset,
	     void *to, __u32 len, __u32 start_header);
VISOR_HELPER(long, l3_csum_replace, 10, struct __sk_buff *skb, __u32 offset,
	     __u64 from, __u64 to, __u64 size);
VISOR_HELPER(long, l4_csum_replace, 11, struct __sk_buff *skb, __u32 offset,
	     __u64 from, __u64 to, __u64 flags);
VISOR_HELPER(__s64, csum_diff, 28, __be32 *from, __u32 from_size, __be32 *to,
	     __u32 to_size, __wsum seed);
VISOR_HELPER(long, clone_redirect, 13, struct __sk_buff *skb, __u32 ifindex,
	     __u64 flags);
VISOR_HELPER(long, redirect, 23, __u32 ifindex, __u64 flags);
VISOR_HELPER(long, skb_change_proto, 31, struct __sk_buff *skb, __be16 proto,
	     __u64 flags);
VISOR_HELPER(long, skb_adjust_room, 50, struct __sk_buff *skb, __s32 len_diff,
	     __u32 mode, __u64 flags);

/* Packets: XDP. */
VISOR_HELPER(long, xdp_adjust_head, 44, struct xdp_md *xdp_md, int delta);
VISOR_HELPER(long, xdp_adjust_tail, 65, struct xdp_md *xdp_md, int delta);

/* Sending data to userspace. */
VISOR_HELPER(long, perf_event_output, 25, void *ctx, void *map, __u64 flags,
	     void *data, __u64 size);
VISOR_HELPER(long, ringbuf_output, 130, void *ringbuf, void *data, __u64 size,
	     __u64 flags);
VISOR_HELPER(void *, ringbuf_reserve, 131, void *ringbuf, __u64 size, __u64 flags);
VISOR_HELPER(void, ringbuf_submit, 132, void *data, __u64 flags);
VISOR_HELPER(void, ringbuf_discard, 133, void *data, __u64 flags);
VISOR_HELPER(__u64, ringbuf_query, 134, void *ringbuf, __u64 flags);

/*
 * bpf_printk("fmt", args...): a line in /sys/kernel/tracing/trace_pipe.
 * At most three arguments (a bpf_trace_printk limit). The format is copied
 * to the stack rather than kept in .rodata, so the program needs no global
 * data and loads on any kernel.
 */
#define bpf_printk(fmt, ...)                                              \
	({                                                                \
		char visor_printk_fmt[] = fmt;                            \
		bpf_trace_printk(visor_printk_fmt, sizeof(visor_printk_fmt), \
				 ##__VA_ARGS__);                          \
	})

#endif /* VISOR_BPF_HELPERS_H */
