/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * visor/bpf.h: the part of the kernel's UAPI (include/uapi/linux/bpf.h,
 * linux/pkt_cls.h) that BPF programs use: map types, update and helper
 * flags, program return codes, and the __sk_buff and xdp_md contexts.
 *
 * Values and layouts are the kernel's ABI and never change. Newer values
 * than Debian 12's 6.1 headers carry are included, so programs need not
 * depend on the installed <linux/bpf.h>.
 *
 * If <linux/bpf.h> (or a vmlinux.h) was included first, its definitions are
 * used and this file adds nothing; including it afterwards is an error, so
 * pick one: these headers, or the kernel's.
 */
#ifndef VISOR_BPF_H
#define VISOR_BPF_H

#include <visor/types.h>

#if !defined(__LINUX_BPF_H__) && !defined(__VMLINUX_H__)

/* enum bpf_map_type: the `type` of a map definition. */
enum visor_bpf_map_type {
	BPF_MAP_TYPE_UNSPEC = 0,
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PROG_ARRAY = 3,
	BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_STACK_TRACE = 7,
	BPF_MAP_TYPE_CGROUP_ARRAY = 8,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_LRU_PERCPU_HASH = 10,
	BPF_MAP_TYPE_LPM_TRIE = 11,
	BPF_MAP_TYPE_ARRAY_OF_MAPS = 12,
	BPF_MAP_TYPE_HASH_OF_MAPS = 13,
	BPF_MAP_TYPE_DEVMAP = 14,
	BPF_MAP_TYPE_SOCKMAP = 15,
	BPF_MAP_TYPE_CPUMAP = 16,
	BPF_MAP_TYPE_XSKMAP = 17,
	BPF_MAP_TYPE_SOCKHASH = 18,
	BPF_MAP_TYPE_CGROUP_STORAGE = 19,
	BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = 20,
	BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE = 21,
	BPF_MAP_TYPE_QUEUE = 22,
	BPF_MAP_TYPE_STACK = 23,
	BPF_MAP_TYPE_SK_STORAGE = 24,
	BPF_MAP_TYPE_DEVMAP_HASH = 25,
	BPF_MAP_TYPE_STRUCT_OPS = 26,
	BPF_MAP_TYPE_RINGBUF = 27,
	BPF_MAP_TYPE_INODE_STORAGE = 28,
	BPF_MAP_TYPE_TASK_STORAGE = 29,
	BPF_MAP_TYPE_BLOOM_FILTER = 30,
	BPF_MAP_TYPE_USER_RINGBUF = 31,
	BPF_MAP_TYPE_CGRP_STORAGE = 32, /* Linux 6.2 */
	BPF_MAP_TYPE_ARENA = 33,        /* Linux 6.9 */
};

/* The `flags` of bpf_map_update_elem. */
#define BPF_ANY 0     /* create or update */
#define BPF_NOEXIST 1 /* create only */
#define BPF_EXIST 2   /* update only */
#define BPF_F_LOCK 4  /* take the value's bpf_spin_lock */

/* The `map_flags` of a map definition (a few common ones). */
#define BPF_F_NO_PREALLOC (1U << 0)
#define BPF_F_NO_COMMON_LRU (1U << 1)
#define BPF_F_RDONLY_PROG (1U << 7)
#define BPF_F_WRONLY_PROG (1U << 8)
#define BPF_F_MMAPABLE (1U << 10)

/* bpf_skb_store_bytes. */
#define BPF_F_RECOMPUTE_CSUM (1ULL << 0)
#define BPF_F_INVALIDATE_HASH (1ULL << 1)

/* bpf_l3_csum_replace and bpf_l4_csum_replace: the low four bits hold the
 * size of the replaced field (2 or 4; 0 with bpf_csum_diff's result). */
#define BPF_F_HDR_FIELD_MASK 0xfULL
#define BPF_F_PSEUDO_HDR (1ULL << 4)     /* the field is in the pseudo-header */
#define BPF_F_MARK_MANGLED_0 (1ULL << 5) /* UDP: a zero result becomes 0xffff */
#define BPF_F_MARK_ENFORCE (1ULL << 6)

/* bpf_perf_event_output: the CPU index in `flags`. */
#define BPF_F_INDEX_MASK 0xffffffffULL
#define BPF_F_CURRENT_CPU BPF_F_INDEX_MASK

/* bpf_ringbuf_output, _submit, _discard. */
#define BPF_RB_NO_WAKEUP (1ULL << 0)
#define BPF_RB_FORCE_WAKEUP (1ULL << 1)

/* bpf_ringbuf_query. */
#define BPF_RB_AVAIL_DATA 0
#define BPF_RB_RING_SIZE 1
#define BPF_RB_CONS_POS 2
#define BPF_RB_PROD_POS 3

/* bpf_skb_adjust_room's mode. */
#define BPF_ADJ_ROOM_NET 0
#define BPF_ADJ_ROOM_MAC 1

/* bpf_skb_load_bytes_relative's start header. */
#define BPF_HDR_START_MAC 0
#define BPF_HDR_START_NET 1

/* What an XDP program returns. */
enum visor_xdp_action {
	XDP_ABORTED = 0,
	XDP_DROP = 1,
	XDP_PASS = 2,
	XDP_TX = 3,
	XDP_REDIRECT = 4,
};

/* What a TC classifier returns (linux/pkt_cls.h). */
#define TC_ACT_UNSPEC (-1)
#define TC_ACT_OK 0
#define TC_ACT_RECLASSIFY 1
#define TC_ACT_SHOT 2
#define TC_ACT_PIPE 3
#define TC_ACT_STOLEN 4
#define TC_ACT_QUEUED 5
#define TC_ACT_REPEAT 6
#define TC_ACT_REDIRECT 7

/* A pointer field of a context: 64 bits wide for every target. */
#define VISOR_CTX_PTR(type, name) \
	union { type name; __u64 : 64; } __attribute__((aligned(8)))

struct bpf_flow_keys;
struct bpf_sock;

/*
 * The context of socket filters and TC programs. The kernel rewrites each
 * access to the real sk_buff; which fields a program type may read or write
 * is the verifier's business. Multi-byte protocol fields (`protocol`,
 * `vlan_proto`) are in network byte order.
 */
struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
	__u32 tc_index;
	__u32 cb[5];
	__u32 hash;
	__u32 tc_classid;
	__u32 data; /* direct packet access: cast with (void *)(long) */
	__u32 data_end;
	__u32 napi_id;
	/* Socket fields, for sk_skb programs. */
	__u32 family;
	__u32 remote_ip4;
	__u32 local_ip4;
	__u32 remote_ip6[4];
	__u32 local_ip6[4];
	__u32 remote_port;
	__u32 local_port;
	__u32 data_meta;
	VISOR_CTX_PTR(struct bpf_flow_keys *, flow_keys);
	__u64 tstamp;
	__u32 wire_len;
	__u32 gso_segs;
	VISOR_CTX_PTR(struct bpf_sock *, sk);
	__u32 gso_size;
	__u8 tstamp_type;
	__u32 : 24;
	__u64 hwtstamp;
};

/* The context of XDP programs. */
struct xdp_md {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

#endif /* !__LINUX_BPF_H__ && !__VMLINUX_H__ */

#endif /* VISOR_BPF_H */
