/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * visor/types.h: the kernel's fixed-width integer names (__u8 ... __s64,
 * __be16, __wsum), so BPF programs need no system headers at all.
 *
 * Repeating a typedef with the same type is valid C11, so these coexist
 * with <linux/types.h> in either order.
 */
#ifndef VISOR_TYPES_H
#define VISOR_TYPES_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef signed short __s16;
typedef unsigned int __u32;
typedef signed int __s32;
typedef unsigned long long __u64;
typedef signed long long __s64;

/* Byte-order annotations: plain integers to the compiler, a hint to readers. */
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef __u16 __le16;
typedef __u32 __le32;
typedef __u64 __le64;

/* A 32-bit partial one's-complement checksum (bpf_csum_diff's seed). */
typedef __u32 __wsum;

#ifndef NULL
#define NULL ((void *)0)
#endif
#ifndef offsetof
#define offsetof(type, member) __builtin_offsetof(type, member)
#endif

#endif /* VISOR_TYPES_H */
