//! Addresses and protocol numbers: `host`, `net`, `port`, `portrange`,
//! `proto`, `protochain`, `gateway`, and the MAC-address forms (libpcap's
//! `gen_scode`, `gen_ncode`, `gen_mcode`, `gen_mcode6`, `gen_ecode`,
//! `gen_acode` and what they call).

use std::net::IpAddr;

use visor_isa::cbpf::Insn;
use visor_isa::cbpf::opcode as op;

use super::link::{ethertype, sap};
use super::{B, BlockId, Gen, Gened, H, JEQ, OffRel, W, stmt};
use crate::compile::ast::{AddrKind, Dir, Id, Proto, Qual};
use crate::compile::linktype::LinkType;
use crate::compile::names::{self, Transport};

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_SCTP: u8 = 132;

/// ISO and IS-IS numbers.
mod iso {
    pub const CLNP: u32 = 0x81;
    pub const ESIS: u32 = 0x82;
    pub const ISIS: u32 = 0x83;
    pub const L1_LAN_IIH: u32 = 15;
    pub const L2_LAN_IIH: u32 = 16;
    pub const PTP_IIH: u32 = 17;
    pub const L1_LSP: u32 = 18;
    pub const L2_LSP: u32 = 20;
    pub const L1_CSNP: u32 = 24;
    pub const L2_CSNP: u32 = 25;
    pub const L1_PSNP: u32 = 26;
    pub const L2_PSNP: u32 = 27;
}

/// What an IPv4 identifier looked like, for error messages.
fn ipv4_form(id: &Id) -> &'static str {
    match id {
        Id::Ipv4Prefix(..) => "IPv4 address and prefix length",
        Id::Ipv4Mask(..) => "IPv4 address and netmask",
        Id::Ipv6(_) => "IPv6 address",
        Id::Ipv6Prefix(..) => "IPv6 address and prefix length",
        _ => "IPv4 address",
    }
}

impl Gen<'_> {
    /// Qualifiers and an identifier.
    pub fn id(&mut self, q: Qual, id: &Id) -> Gened<BlockId> {
        if matches!(
            id,
            Id::Ipv4(_) | Id::Ipv4Prefix(..) | Id::Ipv4Mask(..) | Id::Ipv6(_) | Id::Ipv6Prefix(..)
        ) && matches!(
            q.addr,
            AddrKind::Port | AddrKind::Portrange | AddrKind::Proto | AddrKind::Protochain
        ) {
            return Err(self.err(format!(
                "'{}' qualifier applied to {}",
                q.addr.keyword(),
                ipv4_form(id)
            )));
        }
        match id {
            Id::Name(name) => self.scode(q, name),
            Id::Num(v) => self.ncode(q, None, *v),
            Id::Ipv4(s) => self.ncode(q, Some(s), 0),
            Id::Ipv4Prefix(s, len) => self.mcode(q, s, None, *len),
            Id::Ipv4Mask(s, m) => self.mcode(q, s, Some(m), 0),
            Id::Ipv6(s) => self.mcode6(q, s, 128),
            Id::Ipv6Prefix(s, len) => self.mcode6(q, s, *len),
            Id::Mac48(s) => self.ecode(q, s),
            Id::Mac8(s) => self.acode(q, s),
        }
    }

    fn decnet_not_for(&self, q: Qual) -> CompileError {
        let addr = if q.addr == AddrKind::Default {
            AddrKind::Host
        } else {
            q.addr
        };
        self.err(format!(
            "'decnet' is not a valid qualifier for '{}'",
            addr.keyword()
        ))
    }

    fn scode(&mut self, q: Qual, name: &str) -> Gened<BlockId> {
        if q.proto == Proto::Decnet {
            return Err(self.decnet_not_for(q));
        }
        match q.addr {
            AddrKind::Net => {
                let Some(mut addr) = self.opts.names.network(name) else {
                    return Err(self.err(format!("unknown network '{name}'")));
                };
                let mut mask = u32::MAX;
                while addr != 0 && addr & 0xff00_0000 == 0 {
                    addr <<= 8;
                    mask <<= 8;
                }
                self.host(addr, mask, q.proto, q.dir, AddrKind::Net)
            }
            AddrKind::Default | AddrKind::Host => {
                if q.proto == Proto::Link {
                    return self.mac48host_byname(name, q.dir, "link host NAME");
                }
                let (mut p4, mut p6) = (q.proto, q.proto);
                if self.off_linktype.constant.is_none() && q.proto == Proto::Default {
                    p4 = Proto::Ip;
                    p6 = Proto::Ip6;
                }
                self.host46_byname(name, p4, p6, q.dir)
            }
            AddrKind::Port => {
                self.port_proto(q.proto, "port")?;
                let (port, real) = self.service(name)?;
                let real = self.reconcile(q.proto, real, &format!("port '{name}'"))?;
                let b = self.port4(port, real, q.dir)?;
                let b6 = self.port6(port, real, q.dir)?;
                let b = self.g.or(b6, b);
                Ok(b)
            }
            AddrKind::Portrange => {
                self.port_proto(q.proto, "portrange")?;
                let (p1, p2, real) = self.port_range(name)?;
                let real = self.reconcile(q.proto, real, &format!("port in range '{name}'"))?;
                let b = self.portrange4(p1, p2, real, q.dir)?;
                let b6 = self.portrange6(p1, p2, real, q.dir)?;
                let b = self.g.or(b6, b);
                Ok(b)
            }
            AddrKind::Gateway => self.gateway(name, q.proto),
            AddrKind::Proto => {
                let v = self.lookup_proto(name, q)?;
                self.proto(v, q.proto)
            }
            AddrKind::Protochain => {
                let v = self.lookup_proto(name, q)?;
                self.protochain(v, q.proto)
            }
        }
    }

    /// Checks a `port`'s protocol qualifier; `None` means any of the three.
    fn port_proto(&self, proto: Proto, kw: &str) -> Gened<Option<u8>> {
        match proto {
            Proto::Udp => Ok(Some(IPPROTO_UDP)),
            Proto::Tcp => Ok(Some(IPPROTO_TCP)),
            Proto::Sctp => Ok(Some(IPPROTO_SCTP)),
            Proto::Default => Ok(None),
            other => Err(self.err(format!(
                "'{}' is not a valid qualifier for '{kw}'",
                other.keyword()
            ))),
        }
    }

    /// A service name's port and the protocol it is defined for (`None`:
    /// the same for TCP and UDP).
    fn service(&self, name: &str) -> Gened<(u16, Option<u8>)> {
        let db = &self.opts.names;
        let tcp = db.port(name, Transport::Tcp);
        let udp = db.port(name, Transport::Udp);
        match (tcp, udp) {
            (Some(t), Some(u)) if t == u => Ok((t, None)),
            (Some(t), _) => Ok((t, Some(IPPROTO_TCP))),
            (None, Some(u)) => Ok((u, Some(IPPROTO_UDP))),
            (None, None) => match db.port(name, Transport::Sctp) {
                Some(s) => Ok((s, Some(IPPROTO_SCTP))),
                None => Err(self.err(format!("unknown port '{name}'"))),
            },
        }
    }

    /// A port given as a number or a name, inside a range.
    fn range_port(&self, text: &str) -> Gened<(u32, Option<u8>)> {
        if text.bytes().all(|c| c.is_ascii_alphanumeric())
            && text.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && let Ok(n) = crate::compile::lex::number(text)
        {
            return Ok((n, None));
        }
        let db = &self.opts.names;
        let tcp = db.port(text, Transport::Tcp);
        let udp = db.port(text, Transport::Udp);
        match (tcp, udp) {
            (Some(t), Some(u)) if t == u => Ok((u32::from(t), None)),
            (Some(t), _) => Ok((u32::from(t), Some(IPPROTO_TCP))),
            (None, Some(u)) => Ok((u32::from(u), Some(IPPROTO_UDP))),
            (None, None) => Err(self.err(format!("'{text}' is not a valid port"))),
        }
    }

    fn port_range(&self, text: &str) -> Gened<(u16, u16, Option<u8>)> {
        let Some((first, second)) = text.split_once('-') else {
            return Err(self.err(format!("port range '{text}' contains no hyphen")));
        };
        if second.contains('-') {
            return Err(self.err(format!("port range '{text}' contains more than one hyphen")));
        }
        if first.is_empty() {
            return Err(self.err(format!("port range '{text}' has no starting port")));
        }
        let (p1, proto1) = self.range_port(first)?;
        if second.is_empty() {
            return Err(self.err(format!("port range '{text}' has no ending port")));
        }
        let (p2, proto2) = self.range_port(second)?;
        let proto = if proto1 == proto2 { proto1 } else { None };
        for p in [p1, p2] {
            if p > 65535 {
                return Err(self.err(format!("illegal port number {p} > 65535")));
            }
        }
        Ok((p1 as u16, p2 as u16, proto))
    }

    /// A named port's protocol against the qualifier written.
    fn reconcile(&self, written: Proto, real: Option<u8>, what: &str) -> Gened<Option<u8>> {
        let want = match written {
            Proto::Udp => IPPROTO_UDP,
            Proto::Tcp => IPPROTO_TCP,
            Proto::Sctp => IPPROTO_SCTP,
            _ => return Ok(real),
        };
        match real {
            Some(p) if p != want => {
                let name = match p {
                    IPPROTO_TCP => "tcp",
                    IPPROTO_UDP => "udp",
                    _ => "sctp",
                };
                Err(self.err(format!("{what} is {name}")))
            }
            _ => Ok(Some(want)),
        }
    }

    fn ncode(&mut self, q: Qual, s: Option<&str>, v: u32) -> Gened<BlockId> {
        if q.proto == Proto::Decnet {
            if !matches!(q.addr, AddrKind::Default | AddrKind::Host) {
                return Err(self.decnet_not_for(q));
            }
            let Some(s) = s else {
                return Err(self.err(format!("invalid DECnet address '{v}'")));
            };
            let addr =
                dn_address(s).ok_or_else(|| self.err(format!("invalid DECnet address '{s}'")))?;
            return self.host(addr, 0, q.proto, q.dir, q.addr);
        }
        let (mut v, vlen) = match s {
            None => (v, 32),
            Some(text) => names::atoin(text)
                .ok_or_else(|| self.err(format!("invalid IPv4 address '{text}'")))?,
        };
        match q.addr {
            AddrKind::Default | AddrKind::Host | AddrKind::Net => {
                if q.proto == Proto::Link {
                    return Err(self.err(match s {
                        Some(s) => format!("illegal link-layer address '{s}'"),
                        None => format!("illegal link-layer address '{v}'"),
                    }));
                }
                let mut mask = u32::MAX;
                if s.is_none() && q.addr == AddrKind::Net {
                    while v != 0 && v & 0xff00_0000 == 0 {
                        v <<= 8;
                        mask <<= 8;
                    }
                } else {
                    let shift = 32 - vlen;
                    v = v.checked_shl(shift).unwrap_or(0);
                    mask = mask.checked_shl(shift).unwrap_or(0);
                }
                self.host(v, mask, q.proto, q.dir, q.addr)
            }
            AddrKind::Port | AddrKind::Portrange => {
                let kw = q.addr.keyword();
                let proto = self.port_proto(q.proto, kw)?;
                if v > 65535 {
                    return Err(self.err(format!("illegal port number {v} > 65535")));
                }
                let port = v as u16;
                let (b, b6) = if q.addr == AddrKind::Port {
                    (
                        self.port4(port, proto, q.dir)?,
                        self.port6(port, proto, q.dir)?,
                    )
                } else {
                    (
                        self.portrange4(port, port, proto, q.dir)?,
                        self.portrange6(port, port, proto, q.dir)?,
                    )
                };
                let b = self.g.or(b6, b);
                Ok(b)
            }
            AddrKind::Gateway => Err(self.err(match s {
                Some(s) => format!("'gateway' is not a valid qualifier for '{s}'"),
                None => "'gateway' requires a name".to_owned(),
            })),
            AddrKind::Proto => self.proto(v, q.proto),
            AddrKind::Protochain => self.protochain(v, q.proto),
        }
    }

    fn mcode(&mut self, q: Qual, s1: &str, s2: Option<&str>, masklen: u32) -> Gened<BlockId> {
        if q.proto == Proto::Decnet {
            return Err(self.decnet_not_for(q));
        }
        let (n, nlen) =
            names::atoin(s1).ok_or_else(|| self.err(format!("invalid IPv4 address '{s1}'")))?;
        let n = n.checked_shl(32 - nlen).unwrap_or(0);
        let (m, shown) = match s2 {
            Some(s2) => {
                let (m, mlen) = names::atoin(s2)
                    .ok_or_else(|| self.err(format!("invalid IPv4 address '{s2}'")))?;
                let m = m.checked_shl(32 - mlen).unwrap_or(0);
                if n & !m != 0 {
                    return Err(self.err(format!("non-network bits set in \"{s1} mask {s2}\"")));
                }
                (m, format!("{s1} mask {s2}"))
            }
            None => {
                if masklen > 32 {
                    return Err(self.err("mask length must be <= 32"));
                }
                let m = (u64::from(u32::MAX) << (32 - masklen)) as u32;
                if n & !m != 0 {
                    return Err(self.err(format!("non-network bits set in \"{s1}/{masklen}\"")));
                }
                (m, format!("{s1}/{masklen}"))
            }
        };
        match q.addr {
            AddrKind::Net | AddrKind::Default => self.host(n, m, q.proto, q.dir, AddrKind::Net),
            other => Err(self.err(format!(
                "'{}' is not a valid qualifier for '{shown}'",
                other.keyword()
            ))),
        }
    }

    fn mcode6(&mut self, q: Qual, s: &str, masklen: u32) -> Gened<BlockId> {
        let addr: std::net::Ipv6Addr = s
            .parse()
            .map_err(|_| self.err(format!("'{s}' is not a valid IPv6 address")))?;
        if masklen > 128 {
            return Err(self.err("mask length must be <= 128"));
        }
        let mask = if masklen == 0 {
            0u128
        } else {
            u128::MAX << (128 - masklen)
        };
        let a = u128::from(addr);
        if a & !mask != 0 {
            return Err(self.err(format!("non-network bits set in \"{s}/{masklen}\"")));
        }
        let shown = if masklen == 128 {
            s.to_owned()
        } else {
            format!("{s}/{masklen}")
        };
        match q.addr {
            AddrKind::Default | AddrKind::Host if masklen != 128 => {
                Err(self.err(format!("'host' is not a valid qualifier for '{shown}'")))
            }
            AddrKind::Default | AddrKind::Host | AddrKind::Net => {
                self.host6(&[a], mask, q.proto, q.dir, q.addr)
            }
            other => Err(self.err(format!(
                "'{}' is not a valid qualifier for '{shown}'",
                other.keyword()
            ))),
        }
    }

    fn ecode(&mut self, q: Qual, s: &str) -> Gened<BlockId> {
        let context = "link host XX:XX:XX:XX:XX:XX";
        if !(matches!(q.addr, AddrKind::Host | AddrKind::Default) && q.proto == Proto::Link) {
            return Err(self.err("Ethernet address used in non-ether expression"));
        }
        if !self.linktype.has_mac48() {
            return Err(self.fail_kw(context));
        }
        let mac = names::parse_mac(s).ok_or_else(|| self.err("invalid Ethernet address"))?;
        self.mac48host(&mac, q.dir, context)
    }

    fn acode(&mut self, q: Qual, s: &str) -> Gened<BlockId> {
        if !matches!(q.addr, AddrKind::Host | AddrKind::Default) {
            return Err(self.err(format!(
                "'{}' is not a valid qualifier for '$XX'",
                q.addr.keyword()
            )));
        }
        if q.proto != Proto::Link {
            return Err(self.err("'link' is the only valid proto qualifier for 'host $XX'"));
        }
        let v = u8::from_str_radix(s.trim_start_matches('$'), 16)
            .map_err(|_| self.err(format!("invalid MAC-8 address '{s}'")))?;
        self.mac8host(v, q.dir, "link host $XX")
    }

    // ---- hosts and networks ----

    fn hostop(&mut self, addr: u32, mask: u32, dir: Dir, src: u32, dst: u32) -> Gened<BlockId> {
        let offset = match dir {
            Dir::Src => src,
            Dir::Dst => dst,
            Dir::And | Dir::Or | Dir::Default => {
                let b0 = self.hostop(addr, mask, Dir::Src, src, dst)?;
                let b1 = self.hostop(addr, mask, Dir::Dst, src, dst)?;
                let b1 = if dir == Dir::And {
                    self.g.and(b0, b1)
                } else {
                    self.g.or(b0, b1)
                };
                return Ok(b1);
            }
            other => return Err(self.wlan_only(other)),
        };
        self.mcmp(OffRel::LinkPl, offset, W, addr, mask)
    }

    pub fn wlan_only(&self, dir: Dir) -> CompileError {
        self.err(format!(
            "'{}' is valid for 802.11 syntax only",
            dir.keyword()
        ))
    }

    fn hostop6(&mut self, addr: u128, mask: u128, dir: Dir, src: u32, dst: u32) -> Gened<BlockId> {
        let offset = match dir {
            Dir::Src => src,
            Dir::Dst => dst,
            Dir::And | Dir::Or | Dir::Default => {
                let b0 = self.hostop6(addr, mask, Dir::Src, src, dst)?;
                let b1 = self.hostop6(addr, mask, Dir::Dst, src, dst)?;
                let b1 = if dir == Dir::And {
                    self.g.and(b0, b1)
                } else {
                    self.g.or(b0, b1)
                };
                return Ok(b1);
            }
            other => return Err(self.wlan_only(other)),
        };
        let word = |v: u128, i: u32| (v >> (96 - 32 * i)) as u32;
        let mut b1: Option<BlockId> = None;
        for i in (0..4).rev() {
            let (a, m) = (word(addr, i), word(mask, i));
            if a == 0 && m == 0 {
                continue;
            }
            let b0 = self.mcmp(OffRel::LinkPl, offset + 4 * i, W, a, m)?;
            match b1 {
                Some(b) => b1 = Some(self.g.and(b0, b)),
                None => b1 = Some(b0),
            }
        }
        Ok(match b1 {
            Some(b) => b,
            None => self.true_(),
        })
    }

    fn host(
        &mut self,
        addr: u32,
        mask: u32,
        proto: Proto,
        dir: Dir,
        kind: AddrKind,
    ) -> Gened<BlockId> {
        self.host_test(&[addr], mask, proto, dir, kind, HostMatch::Is)
    }

    /// Tests the IPv4 `addrs` (a name may have several) under `proto`: one
    /// link-layer type test per protocol, then the addresses or'ed, as
    /// libpcap master does for a name with many addresses.
    fn host_test(
        &mut self,
        addrs: &[u32],
        mask: u32,
        proto: Proto,
        dir: Dir,
        kind: AddrKind,
        test: HostMatch,
    ) -> Gened<BlockId> {
        let (linktype, src, dst) = match proto {
            Proto::Default => {
                let b0 = self.host_test(addrs, mask, Proto::Ip, dir, kind, test)?;
                if self.label_stack_depth == 0 {
                    let b1 = self.host_test(addrs, mask, Proto::Arp, dir, kind, test)?;
                    let b1 = self.g.or(b0, b1);
                    let b0 = self.host_test(addrs, mask, Proto::Rarp, dir, kind, test)?;
                    let b0 = self.g.or(b1, b0);
                    return Ok(b0);
                }
                return Ok(b0);
            }
            Proto::Ip => (ethertype::IP, 12, 16),
            Proto::Rarp => (ethertype::REVARP, 14, 24),
            Proto::Arp => (ethertype::ARP, 14, 24),
            Proto::Decnet => {
                let b0 = self.linktype(ethertype::DN)?;
                let b1 = self.any_of(addrs, |cg, &a| cg.dnhostop(a, dir))?;
                let b1 = self.g.and(b0, b1);
                return Ok(b1);
            }
            other => {
                let what = if kind == AddrKind::Net {
                    "ip net"
                } else {
                    "ip host"
                };
                return Err(self.err(format!(
                    "'{}' is not a valid qualifier for '{what}'",
                    other.keyword()
                )));
            }
        };
        let b0 = self.linktype(linktype)?;
        // No address test behind a link type that never matches (ARP on
        // PFLOG): its loads would only cost a header-length prologue.
        if mask == 0 && addrs == [0] {
            return Ok(b0);
        }
        let plain_dir = matches!(dir, Dir::Src | Dir::Dst | Dir::And | Dir::Or | Dir::Default);
        if plain_dir && self.never(b0) {
            return Ok(b0);
        }
        let b1 = self.any_of(addrs, |cg, &a| cg.hostop(a, mask, dir, src, dst))?;
        if test == HostMatch::IsNot {
            self.g.not(b1);
        }
        let b1 = self.g.and(b0, b1);
        Ok(b1)
    }

    /// `gen(first) or gen(second) or ...`, in order; `items` is not empty.
    fn any_of<T>(
        &mut self,
        items: &[T],
        mut test_one: impl FnMut(&mut Self, &T) -> Gened<BlockId>,
    ) -> Gened<BlockId> {
        let mut ret: Option<BlockId> = None;
        for item in items {
            let b = test_one(self, item)?;
            ret = Some(match ret {
                Some(r) => self.g.or(r, b),
                None => b,
            });
        }
        Ok(ret.expect("callers pass at least one item"))
    }

    fn host6(
        &mut self,
        addrs: &[u128],
        mask: u128,
        proto: Proto,
        dir: Dir,
        kind: AddrKind,
    ) -> Gened<BlockId> {
        match proto {
            Proto::Default | Proto::Ip6 => {
                let b0 = self.linktype(ethertype::IPV6)?;
                if mask == 0 && addrs == [0] {
                    return Ok(b0);
                }
                let b1 = self.any_of(addrs, |cg, &a| cg.hostop6(a, mask, dir, 8, 24))?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            other => {
                let what = if kind == AddrKind::Net {
                    "ip6 net"
                } else {
                    "ip6 host"
                };
                Err(self.err(format!(
                    "'{}' is not a valid qualifier for '{what}'",
                    other.keyword()
                )))
            }
        }
    }

    fn host46_byname(&mut self, name: &str, p4: Proto, p6: Proto, dir: Dir) -> Gened<BlockId> {
        self.host46_test(name, p4, p6, dir, HostMatch::Is)
    }

    /// A host by name: its IPv4 addresses under `p4`, then its IPv6
    /// addresses under `p6`, each family tested once for the link type.
    fn host46_test(
        &mut self,
        name: &str,
        p4: Proto,
        p6: Proto,
        dir: Dir,
        test: HostMatch,
    ) -> Gened<BlockId> {
        let addrs = self.opts.names.host(name);
        if addrs.is_empty() {
            return Err(self.err(format!("unknown host '{name}'")));
        }
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for a in &addrs {
            match a {
                IpAddr::V4(a) => v4.push(u32::from(*a)),
                IpAddr::V6(a) => v6.push(u128::from(*a)),
            }
        }
        let mut ret: Option<BlockId> = None;
        if p4 != Proto::Ip6 && !v4.is_empty() {
            ret = Some(self.host_test(&v4, u32::MAX, p4, dir, AddrKind::Host, test)?);
        }
        if !matches!(p6, Proto::Arp | Proto::Ip | Proto::Rarp) && !v6.is_empty() {
            let b = self.host6(&v6, u128::MAX, p6, dir, AddrKind::Host)?;
            ret = Some(match ret {
                Some(r) => self.g.or(r, b),
                None => b,
            });
        }
        ret.ok_or_else(|| {
            let tail = if p4 == Proto::Default {
                ""
            } else {
                " for specified address family"
            };
            self.err(format!("unknown host '{name}'{tail}"))
        })
    }

    fn dnhostop(&mut self, addr: u32, dir: Dir) -> Gened<BlockId> {
        let (sh, lh) = match dir {
            Dir::Dst => (1, 7),
            Dir::Src => (3, 15),
            Dir::And | Dir::Or | Dir::Default => {
                let b0 = self.dnhostop(addr, Dir::Src)?;
                let b1 = self.dnhostop(addr, Dir::Dst)?;
                let b1 = if dir == Dir::And {
                    self.g.and(b0, b1)
                } else {
                    self.g.or(b0, b1)
                };
                return Ok(b1);
            }
            other => return Err(self.wlan_only(other)),
        };
        let swapped = ((addr & 0xff) << 8) | ((addr >> 8) & 0xff);
        let tmp = self.mcmp(OffRel::LinkPl, 2, H, 0x8106, 0xff07)?;
        let b1 = self.cmp(OffRel::LinkPl, 2 + 1 + lh, H, swapped)?;
        let b1 = self.g.and(tmp, b1);
        let tmp = self.mcmp(OffRel::LinkPl, 2, B, 0x06, 0x07)?;
        let b2 = self.cmp(OffRel::LinkPl, 2 + lh, H, swapped)?;
        let b2 = self.g.and(tmp, b2);
        let b1 = self.g.or(b2, b1);
        let b2 = if dir == Dir::Dst {
            self.mcmp(OffRel::LinkPl, 2, W, 0x8102_0000 | swapped, 0xff07_ffff)?
        } else {
            let tmp = self.mcmp(OffRel::LinkPl, 2, H, 0x8102, 0xff07)?;
            let b2 = self.cmp(OffRel::LinkPl, 2 + 1 + sh, H, swapped)?;
            self.g.and(tmp, b2)
        };
        let b1 = self.g.or(b2, b1);
        let b2 = if dir == Dir::Dst {
            self.mcmp(
                OffRel::LinkPl,
                2,
                W,
                0x0200_0000 | (swapped << 8),
                0x07ff_ff00,
            )?
        } else {
            let tmp = self.mcmp(OffRel::LinkPl, 2, B, 0x02, 0x07)?;
            let b2 = self.cmp(OffRel::LinkPl, 2 + sh, H, swapped)?;
            self.g.and(tmp, b2)
        };
        let b1 = self.g.or(b2, b1);
        Ok(b1)
    }

    // ---- MAC addresses ----

    pub fn mac48host(&mut self, mac: &[u8; 6], dir: Dir, keyword: &str) -> Gened<BlockId> {
        use LinkType::*;
        let mut check = None;
        let (src, dst) = match self.linktype {
            EN10MB | NETANALYZER | NETANALYZER_TRANSPARENT | DSA_TAG_BRCM | DSA_TAG_DSA => {
                check = self.prevlinkhdr_check_pub()?;
                (6, 0)
            }
            FDDI => (7, 1),
            IEEE802 => (8, 2),
            IEEE802_11 | PRISM_HEADER | IEEE802_11_RADIO_AVS | IEEE802_11_RADIO | PPI => {
                return self.wlanhostop(mac, dir);
            }
            IP_OVER_FC => (10, 2),
            _ => return Err(self.fail_kw(keyword)),
        };
        let b0 = match dir {
            Dir::Src => self.bcmp(OffRel::LinkHdr, src, mac)?,
            Dir::Dst => self.bcmp(OffRel::LinkHdr, dst, mac)?,
            Dir::And | Dir::Or | Dir::Default => {
                let tmp = self.bcmp(OffRel::LinkHdr, src, mac)?;
                let b0 = self.bcmp(OffRel::LinkHdr, dst, mac)?;
                if dir == Dir::And {
                    self.g.and(tmp, b0)
                } else {
                    self.g.or(tmp, b0)
                }
            }
            other => return Err(self.wlan_only(other)),
        };
        let b0 = match check {
            Some(b1) => self.g.and(b1, b0),
            None => b0,
        };
        Ok(b0)
    }

    fn mac48host_byname(&mut self, name: &str, dir: Dir, context: &str) -> Gened<BlockId> {
        if !self.linktype.has_mac48() {
            return Err(self.fail_kw(context));
        }
        let mac = self
            .opts
            .names
            .ether(name)
            .ok_or_else(|| self.err(format!("unknown Ethernet-like host '{name}'")))?;
        self.mac48host(&mac, dir, context)
    }

    pub fn mac8host(&mut self, v: u8, dir: Dir, context: &str) -> Gened<BlockId> {
        let (src, dst) = match self.linktype {
            LinkType::ARCNET | LinkType::ARCNET_LINUX => (0, 1),
            LinkType::BACNET_MS_TP => (4, 3),
            _ => return Err(self.fail_kw(context)),
        };
        let v = u32::from(v);
        match dir {
            Dir::Src => self.cmp(OffRel::LinkHdr, src, B, v),
            Dir::Dst => self.cmp(OffRel::LinkHdr, dst, B, v),
            Dir::And | Dir::Or | Dir::Default => {
                let s = self.cmp(OffRel::LinkHdr, src, B, v)?;
                let d = self.cmp(OffRel::LinkHdr, dst, B, v)?;
                let d = if dir == Dir::And {
                    self.g.and(s, d)
                } else {
                    self.g.or(s, d)
                };
                Ok(d)
            }
            other => Err(self.err(format!(
                "'{}' is not a valid qualifier for '{context}'",
                other.keyword()
            ))),
        }
    }

    fn wlan_byte(&mut self, offset: u32) -> Gened<Vec<Insn>> {
        self.load_a(OffRel::LinkHdr, offset, B)
    }

    /// 802.11 addresses: where SA and DA are depends on the frame.
    fn wlanhostop(&mut self, mac: &[u8; 6], dir: Dir) -> Gened<BlockId> {
        const DATA: u32 = 0x08;
        const CTL: u32 = 0x04;
        const TODS: u32 = 0x01;
        const FROMDS: u32 = 0x02;
        match dir {
            Dir::Src | Dir::Dst => {
                let src = dir == Dir::Src;
                let s = self.wlan_byte(1)?;
                let b1 = self.set(TODS, s);
                let b0 = self.bcmp(OffRel::LinkHdr, if src { 24 } else { 16 }, mac)?;
                let b0 = self.g.and(b1, b0);
                let s = self.wlan_byte(1)?;
                let b2 = self.unset(TODS, s);
                let b1 = self.bcmp(OffRel::LinkHdr, if src { 16 } else { 4 }, mac)?;
                let b1 = self.g.and(b2, b1);
                let mut b0 = self.g.or(b1, b0);
                if src {
                    let s = self.wlan_byte(1)?;
                    let b1 = self.set(FROMDS, s);
                    b0 = self.g.and(b1, b0);
                    let s = self.wlan_byte(1)?;
                    let b2 = self.unset(FROMDS, s);
                    let b1 = self.bcmp(OffRel::LinkHdr, 10, mac)?;
                    let b1 = self.g.and(b2, b1);
                    b0 = self.g.or(b1, b0);
                }
                let s = self.wlan_byte(0)?;
                let b1 = self.set(DATA, s);
                let b0 = self.g.and(b1, b0);
                let s = self.wlan_byte(0)?;
                let b2 = self.unset(DATA, s);
                let b1 = self.bcmp(OffRel::LinkHdr, if src { 10 } else { 4 }, mac)?;
                let b1 = self.g.and(b2, b1);
                let b0 = self.g.or(b1, b0);
                let s = self.wlan_byte(0)?;
                let b1 = self.unset(CTL, s);
                let b0 = self.g.and(b1, b0);
                Ok(b0)
            }
            Dir::And | Dir::Or | Dir::Default => {
                let b0 = self.wlanhostop(mac, Dir::Src)?;
                let b1 = self.wlanhostop(mac, Dir::Dst)?;
                let b1 = if dir == Dir::And {
                    self.g.and(b0, b1)
                } else {
                    self.g.or(b0, b1)
                };
                Ok(b1)
            }
            Dir::Addr1 => self.bcmp(OffRel::LinkHdr, 4, mac),
            Dir::Addr2 | Dir::Ta => {
                let b0 = self.mcmp_ne(OffRel::LinkHdr, 0, B, CTL, 0x0c)?;
                let b1 = self.mcmp_ne(OffRel::LinkHdr, 0, B, 0xc0, 0xf0)?;
                let b2 = self.mcmp_ne(OffRel::LinkHdr, 0, B, 0xd0, 0xf0)?;
                let b2 = self.g.and(b1, b2);
                let mut b2 = self.g.or(b0, b2);
                if dir == Dir::Ta {
                    let s = self.wlan_byte(0)?;
                    let b1 = self.set(DATA, s);
                    b2 = self.g.and(b1, b2);
                }
                let b1 = self.bcmp(OffRel::LinkHdr, 10, mac)?;
                let b1 = self.g.and(b2, b1);
                Ok(b1)
            }
            Dir::Addr3 => {
                let b0 = self.mcmp_ne(OffRel::LinkHdr, 0, B, CTL, 0x0c)?;
                let b1 = self.bcmp(OffRel::LinkHdr, 16, mac)?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            Dir::Addr4 => {
                let b0 = self.mcmp(OffRel::LinkHdr, 1, B, 0x03, 0x03)?;
                let b1 = self.bcmp(OffRel::LinkHdr, 24, mac)?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            Dir::Ra => {
                let s = self.wlan_byte(0)?;
                let b1 = self.set(DATA, s);
                let b0 = self.bcmp(OffRel::LinkHdr, 4, mac)?;
                let b0 = self.g.and(b1, b0);
                Ok(b0)
            }
        }
    }

    fn gateway(&mut self, name: &str, proto: Proto) -> Gened<BlockId> {
        if !matches!(proto, Proto::Default | Proto::Ip | Proto::Arp | Proto::Rarp) {
            return Err(self.err(format!(
                "'{}' is not a valid qualifier for 'gateway'",
                proto.keyword()
            )));
        }
        let b0 = self.mac48host_byname(name, Dir::Or, "gateway")?;
        // A frame of the family whose address is not the host's.
        let b1 = self.host46_test(name, proto, Proto::Ip, Dir::Or, HostMatch::IsNot)?;
        let b1 = self.g.and(b0, b1);
        Ok(b1)
    }

    // ---- ports ----

    fn ip_proto(&mut self, p: u8) -> Gened<BlockId> {
        self.cmp(OffRel::LinkPl, 9, B, u32::from(p))
    }

    fn ip6_proto(&mut self, p: u8) -> Gened<BlockId> {
        self.cmp(OffRel::LinkPl, 6, B, u32::from(p))
    }

    pub fn ipfrag(&mut self) -> Gened<BlockId> {
        let s = self.load_a(OffRel::LinkPl, 6, H)?;
        Ok(self.unset(0x1fff, s))
    }

    fn port_dirs(
        &mut self,
        dir: Dir,
        kw: &str,
        mut atom: impl FnMut(&mut Self, u32) -> Gened<BlockId>,
    ) -> Gened<BlockId> {
        match dir {
            Dir::Src => atom(self, 0),
            Dir::Dst => atom(self, 2),
            Dir::And | Dir::Or | Dir::Default => {
                let tmp = atom(self, 0)?;
                let b1 = atom(self, 2)?;
                let b1 = if dir == Dir::And {
                    self.g.and(tmp, b1)
                } else {
                    self.g.or(tmp, b1)
                };
                Ok(b1)
            }
            other => Err(self.err(format!(
                "'{}' is not a valid qualifier for '{kw}'",
                other.keyword()
            ))),
        }
    }

    fn proto_any(&mut self, ip6: bool, proto: Option<u8>) -> Gened<BlockId> {
        let one = |s: &mut Self, p: u8| if ip6 { s.ip6_proto(p) } else { s.ip_proto(p) };
        match proto {
            Some(p) => one(self, p),
            None => {
                let tmp = one(self, IPPROTO_SCTP)?;
                let udp = one(self, IPPROTO_UDP)?;
                let tmp = self.g.or(udp, tmp);
                let tcp = one(self, IPPROTO_TCP)?;
                let tmp = self.g.or(tcp, tmp);
                Ok(tmp)
            }
        }
    }

    fn port_common(&mut self, proto: Option<u8>, b1: BlockId) -> Gened<BlockId> {
        let tmp = self.proto_any(false, proto)?;
        let b0 = self.ipfrag()?;
        let b0 = self.g.and(tmp, b0);
        let b1 = self.g.and(b0, b1);
        let lt = self.linktype(ethertype::IP)?;
        let b1 = self.g.and(lt, b1);
        Ok(b1)
    }

    fn port6_common(&mut self, proto: Option<u8>, b1: BlockId) -> Gened<BlockId> {
        let tmp = self.proto_any(true, proto)?;
        let b1 = self.g.and(tmp, b1);
        let lt = self.linktype(ethertype::IPV6)?;
        let b1 = self.g.and(lt, b1);
        Ok(b1)
    }

    pub fn port4(&mut self, port: u16, proto: Option<u8>, dir: Dir) -> Gened<BlockId> {
        let v = u32::from(port);
        let b1 = self.port_dirs(dir, "port", |s, off| s.cmp(OffRel::TranIpv4, off, H, v))?;
        self.port_common(proto, b1)
    }

    pub fn port6(&mut self, port: u16, proto: Option<u8>, dir: Dir) -> Gened<BlockId> {
        let v = u32::from(port);
        let b1 = self.port_dirs(dir, "port", |s, off| s.cmp(OffRel::TranIpv6, off, H, v))?;
        self.port6_common(proto, b1)
    }

    fn range_atom(&mut self, rel: OffRel, off: u32, v1: u16, v2: u16) -> Gened<BlockId> {
        if v1 == v2 {
            return self.cmp(rel, off, H, u32::from(v1));
        }
        let b1 = self.cmp_ge(rel, off, H, u32::from(v1.min(v2)))?;
        let b2 = self.cmp_le(rel, off, H, u32::from(v1.max(v2)))?;
        let b2 = self.g.and(b1, b2);
        Ok(b2)
    }

    fn portrange4(&mut self, p1: u16, p2: u16, proto: Option<u8>, dir: Dir) -> Gened<BlockId> {
        let b1 = self.port_dirs(dir, "portrange", |s, off| {
            s.range_atom(OffRel::TranIpv4, off, p1, p2)
        })?;
        self.port_common(proto, b1)
    }

    fn portrange6(&mut self, p1: u16, p2: u16, proto: Option<u8>, dir: Dir) -> Gened<BlockId> {
        let b1 = self.port_dirs(dir, "portrange", |s, off| {
            s.range_atom(OffRel::TranIpv6, off, p1, p2)
        })?;
        self.port6_common(proto, b1)
    }

    // ---- protocols ----

    fn lookup_proto(&self, name: &str, q: Qual) -> Gened<u32> {
        let v = match q.proto {
            Proto::Default | Proto::Ip | Proto::Ip6 => {
                self.opts.names.protocol(name).map(u32::from)
            }
            Proto::Link => names::ether_proto(name).or_else(|| names::llc_sap(name)),
            Proto::Iso => match name {
                "esis" => Some(iso::ESIS),
                "isis" => Some(iso::ISIS),
                "clnp" => Some(iso::CLNP),
                _ => None,
            },
            _ => None,
        };
        v.ok_or_else(|| {
            if q.proto == Proto::Default {
                self.err(format!("unknown '{}' value '{name}'", q.addr.keyword()))
            } else {
                self.err(format!(
                    "unknown '{} {}' value '{name}'",
                    q.proto.keyword(),
                    q.addr.keyword()
                ))
            }
        })
    }

    pub fn proto(&mut self, v: u32, proto: Proto) -> Gened<BlockId> {
        match proto {
            Proto::Default => {
                let b0 = self.proto(v, Proto::Ip)?;
                let b1 = self.proto(v, Proto::Ip6)?;
                let b1 = self.g.or(b0, b1);
                Ok(b1)
            }
            Proto::Link => self.linktype(v),
            Proto::Ip => {
                self.assert_max("protocol number", v, 255)?;
                let b0 = self.linktype(ethertype::IP)?;
                let b1 = self.ip_proto(v as u8)?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            Proto::Ip6 => {
                self.assert_max("protocol number", v, 255)?;
                let b0 = self.linktype(ethertype::IPV6)?;
                let b2 = self.ip6_proto(44)?;
                let b1 = self.cmp(OffRel::LinkPl, 40, B, v)?;
                let b1 = self.g.and(b2, b1);
                let b2 = self.ip6_proto(v as u8)?;
                let b1 = self.g.or(b2, b1);
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            Proto::Iso => {
                self.assert_max("ISO protocol", v, 255)?;
                match self.linktype {
                    LinkType::FRELAY => self.cmp(OffRel::LinkHdr, 2, H, 0x0300 | v),
                    LinkType::C_HDLC => {
                        let b0 = self.linktype(sap::ISONS << 8 | sap::ISONS)?;
                        let b1 = self.cmp(OffRel::LinkPlNoSnap, 1, B, v)?;
                        let b1 = self.g.and(b0, b1);
                        Ok(b1)
                    }
                    _ => {
                        let b0 = self.linktype(sap::ISONS)?;
                        let b1 = self.cmp(OffRel::LinkPlNoSnap, 0, B, v)?;
                        let b1 = self.g.and(b0, b1);
                        Ok(b1)
                    }
                }
            }
            Proto::Isis => {
                self.assert_max("IS-IS PDU type", v, 0x1f)?;
                let b0 = self.proto(iso::ISIS, Proto::Iso)?;
                let off = if self.linktype == LinkType::C_HDLC {
                    5
                } else {
                    4
                };
                let b1 = self.mcmp(OffRel::LinkPlNoSnap, off, B, v, 0x1f)?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            other => Err(self.err(format!(
                "'{}' is not a valid qualifier for 'proto'",
                other.keyword()
            ))),
        }
    }

    /// A protocol keyword alone: `tcp`, `ip6`, `l1`, ...
    pub fn proto_abbrev(&mut self, proto: Proto) -> Gened<BlockId> {
        use Proto::*;
        let isis_any = |s: &mut Self, types: &[u32]| -> Gened<BlockId> {
            let mut b1 = s.proto(types[0], Isis)?;
            let b0 = s.proto(types[1], Isis)?;
            let b0 = s.g.or(b1, b0);
            b1 = b0;
            for &t in &types[2..] {
                let b0 = s.proto(t, Isis)?;
                b1 = s.g.or(b0, b1);
            }
            Ok(b1)
        };
        match proto {
            Sctp => self.proto(u32::from(IPPROTO_SCTP), Default),
            Tcp => self.proto(u32::from(IPPROTO_TCP), Default),
            Udp => self.proto(u32::from(IPPROTO_UDP), Default),
            Icmp => self.proto(1, Ip),
            Igmp => self.proto(2, Ip),
            Igrp => self.proto(9, Ip),
            Pim => self.proto(103, Default),
            Vrrp | Carp => self.proto(112, Ip),
            Ip => self.linktype(ethertype::IP),
            Arp => self.linktype(ethertype::ARP),
            Rarp => self.linktype(ethertype::REVARP),
            Atalk => self.linktype(ethertype::ATALK),
            Aarp => self.linktype(ethertype::AARP),
            Decnet => self.linktype(ethertype::DN),
            Sca => self.linktype(ethertype::SCA),
            Lat => self.linktype(ethertype::LAT),
            Mopdl => self.linktype(ethertype::MOPDL),
            Moprc => self.linktype(ethertype::MOPRC),
            Ip6 => self.linktype(ethertype::IPV6),
            Icmp6 => self.proto(58, Ip6),
            Ah => self.proto(51, Default),
            Esp => self.proto(50, Default),
            Iso => self.linktype(sap::ISONS),
            Esis => self.proto(iso::ESIS, Iso),
            Isis => self.proto(iso::ISIS, Iso),
            IsisL1 => isis_any(
                self,
                &[
                    iso::L1_LAN_IIH,
                    iso::PTP_IIH,
                    iso::L1_LSP,
                    iso::L1_CSNP,
                    iso::L1_PSNP,
                ],
            ),
            IsisL2 => isis_any(
                self,
                &[
                    iso::L2_LAN_IIH,
                    iso::PTP_IIH,
                    iso::L2_LSP,
                    iso::L2_CSNP,
                    iso::L2_PSNP,
                ],
            ),
            IsisIih => isis_any(self, &[iso::L1_LAN_IIH, iso::L2_LAN_IIH, iso::PTP_IIH]),
            IsisLsp => isis_any(self, &[iso::L1_LSP, iso::L2_LSP]),
            IsisSnp => isis_any(
                self,
                &[iso::L1_CSNP, iso::L2_CSNP, iso::L1_PSNP, iso::L2_PSNP],
            ),
            IsisCsnp => isis_any(self, &[iso::L1_CSNP, iso::L2_CSNP]),
            IsisPsnp => isis_any(self, &[iso::L1_PSNP, iso::L2_PSNP]),
            Clnp => self.proto(iso::CLNP, Iso),
            Stp => self.linktype(sap::STP),
            Ipx => self.linktype(sap::IPX),
            Netbeui => self.linktype(sap::NETBEUI),
            Link | Radio | Default => Err(self.err(format!(
                "'{}' cannot be used as an abbreviation",
                proto.keyword()
            ))),
        }
    }

    /// `protochain`: walks IPv6 extension headers and AH with a loop.
    pub fn protochain(&mut self, v: u32, proto: Proto) -> Gened<BlockId> {
        let reg2 = self.alloc_reg()?;
        let ip6 = match proto {
            Proto::Ip => false,
            Proto::Ip6 => true,
            Proto::Default => {
                let b0 = self.protochain(v, Proto::Ip)?;
                let b = self.protochain(v, Proto::Ip6)?;
                let b = self.g.or(b0, b);
                return Ok(b);
            }
            other => {
                return Err(self.err(format!(
                    "'{}' is not a valid qualifier for 'protochain'",
                    other.keyword()
                )));
            }
        };
        self.assert_max("protocol number", v, 255)?;
        if self.off_linkpl.variable {
            return Err(self.err("'protochain' not supported with variable length headers"));
        }
        self.g.keep_unoptimized();
        let base = self.off_linkpl.k() + self.off_nl;
        let b0 = self.linktype(if ip6 { ethertype::IPV6 } else { ethertype::IP })?;
        // Statements by index (libpcap's s[1..]); jumps are fixed below.
        let mut s: Vec<Insn> = Vec::new();
        let jeq = |k: u32| stmt(op::JMP | op::JEQ | op::K, k);
        if ip6 {
            s.extend(self.load_a(OffRel::LinkPl, 6, B)?);
            s.push(stmt(op::LDX | op::IMM, 40));
        } else {
            s.extend(self.load_a(OffRel::LinkPl, 9, B)?);
            s.extend(self.loadx_iphdrlen()?);
        }
        let again = s.len();
        s.push(jeq(v));
        let fix2 = s.len();
        s.push(jeq(59));
        let mut targets: Vec<(usize, Option<usize>, Option<usize>)> = Vec::new();
        let ahcheck;
        if ip6 {
            let v6start = s.len();
            for k in [0, 60, 43, 44] {
                s.push(jeq(k));
            }
            let v6end = s.len() - 1;
            let advance = s.len();
            s.push(stmt(op::LD | op::IND | op::B, base));
            s.push(stmt(op::ST, reg2));
            s.push(stmt(op::LD | op::IND | op::B, base + 1));
            s.push(stmt(op::ALU | op::ADD | op::K, 1));
            s.push(stmt(op::ALU | op::MUL | op::K, 8));
            s.push(stmt(op::ALU | op::ADD | op::X, 0));
            s.push(stmt(op::MISC | op::TAX, 0));
            s.push(stmt(op::LD | op::MEM, reg2));
            let ja = s.len();
            s.push(stmt(
                op::JMP | op::JA,
                (again as u32).wrapping_sub(ja as u32 + 1),
            ));
            ahcheck = s.len();
            for j in v6start..=v6end {
                let jf = if j == v6end { ahcheck } else { j + 1 };
                targets.push((j, Some(advance), Some(jf)));
            }
            targets.push((fix2, None, Some(v6start)));
        } else {
            let nop = s.len();
            s.push(stmt(op::ALU | op::ADD | op::K, 0));
            targets.push((fix2, None, Some(nop)));
            ahcheck = s.len();
        }
        s.push(jeq(51));
        s.push(stmt(op::LD | op::IND | op::B, base));
        s.push(stmt(op::ST, reg2));
        s.push(stmt(op::MISC | op::TXA, 0));
        s.push(stmt(op::ALU | op::ADD | op::K, 1));
        s.push(stmt(op::MISC | op::TAX, 0));
        s.push(stmt(op::LD | op::IND | op::B, base));
        s.push(stmt(op::ALU | op::ADD | op::K, 2));
        s.push(stmt(op::ALU | op::MUL | op::K, 4));
        s.push(stmt(op::MISC | op::TAX, 0));
        s.push(stmt(op::LD | op::MEM, reg2));
        let ja = s.len();
        s.push(stmt(
            op::JMP | op::JA,
            (again as u32).wrapping_sub(ja as u32 + 1),
        ));
        let end = s.len();
        s.push(stmt(op::ALU | op::ADD | op::K, 0));
        targets.push((again, Some(end), Some(again + 1)));
        targets.push((fix2, Some(end), None));
        targets.push((ahcheck, Some(ahcheck + 1), Some(end)));
        for (at, jt, jf) in targets {
            if let Some(t) = jt {
                s[at].jt = (t - at - 1) as u8;
            }
            if let Some(t) = jf {
                s[at].jf = (t - at - 1) as u8;
            }
        }
        let b = self.jmp_k(JEQ, v, s);
        self.free_reg(reg2);
        let b = self.g.and(b0, b);
        Ok(b)
    }
}

use crate::compile::CompileError;

/// Whether a host test asks for the address or for its absence (the IP
/// part of `gateway`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostMatch {
    Is,
    IsNot,
}

/// A DECnet address `area.node` as its 16-bit value.
fn dn_address(text: &str) -> Option<u32> {
    let (area, node) = text.split_once('.')?;
    let area: u32 = area.parse().ok()?;
    let node: u32 = node.parse().ok()?;
    (area <= 63 && node <= 1023).then_some((area << 10) | node)
}
