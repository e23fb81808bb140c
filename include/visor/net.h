/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * visor/net.h: the packet headers a BPF program parses, and byte-order
 * conversion. Struct names differ from the kernel's (ethhdr, iphdr, ...), so
 * this file coexists with <linux/if_ether.h> and friends.
 *
 * Every struct matches the wire layout; multi-byte fields are in network
 * byte order: compare them with bpf_htons(CONSTANT), which folds at compile
 * time. Bounds-check a header against data_end before reading it.
 */
#ifndef VISOR_NET_H
#define VISOR_NET_H

#include <visor/types.h>

/* ---- Byte order ------------------------------------------------------ */

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define bpf_htons(x) ((__be16)__builtin_bswap16(x))
#define bpf_htonl(x) ((__be32)__builtin_bswap32(x))
#elif __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define bpf_htons(x) ((__be16)(x))
#define bpf_htonl(x) ((__be32)(x))
#else
#error "unknown byte order"
#endif
#define bpf_ntohs(x) bpf_htons(x)
#define bpf_ntohl(x) bpf_htonl(x)

/* ---- Numbers --------------------------------------------------------- */

#define ETH_ALEN 6
#define ETH_P_IP 0x0800     /* IPv4 (EtherType) */
#define ETH_P_IPV6 0x86DD   /* IPv6 */
#define ETH_P_8021Q 0x8100  /* 802.1Q VLAN tag */
#define ETH_P_8021AD 0x88A8 /* 802.1ad outer VLAN tag */

/* IP protocol numbers; <linux/in.h> makes them an enum, hence the guards. */
#ifndef IPPROTO_ICMP
#define IPPROTO_ICMP 1
#endif
#ifndef IPPROTO_TCP
#define IPPROTO_TCP 6
#endif
#ifndef IPPROTO_UDP
#define IPPROTO_UDP 17
#endif
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

/* ---- Headers --------------------------------------------------------- */

/* Ethernet II (IEEE 802.3). */
struct eth_hdr {
	__u8 dst[ETH_ALEN];
	__u8 src[ETH_ALEN];
	__be16 proto;
} __attribute__((packed));

/* An 802.1Q tag, following the Ethernet addresses. */
struct vlan_hdr {
	__be16 tci;   /* priority, drop eligible, VLAN id */
	__be16 proto; /* the EtherType of what follows */
};

/* IPv4 (RFC 791, section 3.1). */
struct ipv4_hdr {
	__u8 version_ihl; /* version << 4 | header length in 32-bit words */
	__u8 tos;         /* DSCP << 2 | ECN */
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;  /* flags << 13 | fragment offset in 8-byte units */
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
};

#define IPV4_FRAG_OFFSET 0x1FFF /* in frag_off, host order */
#define IPV4_MORE_FRAGMENTS 0x2000

/* The IPv4 header length in bytes (20 to 60; less means malformed). */
static inline __u32 ipv4_hdr_len(const struct ipv4_hdr *ip)
{
	return (__u32)(ip->version_ihl & 0x0F) * 4;
}

/* IPv6 (RFC 8200, section 3). */
struct ipv6_hdr {
	__be32 version_class_flow; /* version << 28 | class << 20 | flow label */
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* TCP (RFC 9293, section 3.1). */
struct tcp_hdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 data_offset; /* header length in 32-bit words << 4 */
	__u8 flags;       /* TCP_FLAG_* */
	__be16 window;
	__be16 check;
	__be16 urg_ptr;
};

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_ACK 0x10
#define TCP_FLAG_URG 0x20

/* UDP (RFC 768). */
struct udp_hdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__be16 check; /* 0: none (IPv4 only) */
};

#endif /* VISOR_NET_H */
