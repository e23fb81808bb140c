//! The remaining primitives: broadcast and multicast, `less`/`greater`,
//! `byte`, direction and interface, VLAN/MPLS/PPPoE/tunnels dispatch,
//! PFLOG fields, 802.11 frame type and direction, LLC, ATM and SS7.

use visor_isa::cbpf::Ancillary;
use visor_isa::cbpf::opcode as op;

use super::link::{Tunnel, ethertype};
use super::{B, BlockId, Gen, Gened, H, JEQ, JGE, JGT, OffRel, W, stmt};
use crate::compile::ast::{
    AtmField, AtmType, ByteOp, Dir, FieldTest, Mtp2Type, Mtp3Field, Primitive, Proto,
};
use crate::compile::linktype::{AbsOffset, LinkType, sunatm};

/// Where Q.2931 signalling puts the message type, in the AAL5 payload.
const MSG_TYPE_POS: u32 = 5;

impl Gen<'_> {
    pub fn other(&mut self, p: &Primitive) -> Gened<BlockId> {
        match p {
            Primitive::Broadcast(proto) => self.broadcast(*proto),
            Primitive::Multicast(proto) => self.multicast(*proto),
            Primitive::Less(n) => {
                let b = self.len_test(JGT, *n);
                self.g.not(b);
                Ok(b)
            }
            Primitive::Greater(n) => Ok(self.len_test(JGE, *n)),
            Primitive::Byte { index, op, value } => self.byteop(*op, *index, *value),
            Primitive::Inbound => self.direction(false),
            Primitive::Outbound => self.direction(true),
            Primitive::Ifindex(i) => self.ifindex(*i),
            Primitive::Vlan(v) => self.vlan(*v),
            Primitive::Mpls(v) => self.mpls(*v),
            Primitive::Pppoed => self.pppoed(),
            Primitive::Pppoes(v) => self.pppoes(*v),
            Primitive::Geneve(v) => self.tunnel(Tunnel::Geneve, *v),
            Primitive::Vxlan(v) => self.tunnel(Tunnel::Vxlan, *v),
            Primitive::PfIfname(name) => self.pf_string("ifname", 4, name),
            Primitive::PfRuleset(name) => self.pf_string("ruleset", 20, name),
            Primitive::PfRnr(n) => self.pf_field("rnr", 36, W, *n),
            Primitive::PfSrnr(n) => self.pf_field("srnr", 40, W, *n),
            Primitive::PfReason(n) => self.pf_field("reason", 3, B, *n),
            Primitive::PfAction(n) => self.pf_field("action", 2, B, *n),
            Primitive::WlanType { value, mask } => {
                if !self.linktype.is_wlan() {
                    return Err(self.fail_kw("type/subtype"));
                }
                self.mcmp(OffRel::LinkHdr, 0, B, *value, *mask)
            }
            Primitive::WlanDir(d) => {
                if !self.linktype.is_wlan() {
                    return Err(self.fail_kw("dir"));
                }
                self.mcmp(OffRel::LinkHdr, 1, B, *d, 0x03)
            }
            Primitive::Llc(kind) => self.llc(*kind),
            Primitive::Atm(t) => self.atm_type(*t),
            Primitive::AtmField(field, tests) => self.atm_tests(*field, tests),
            Primitive::Mtp2(t) => self.mtp2(*t),
            Primitive::Mtp3(field, tests) => {
                let mut b: Option<BlockId> = None;
                for t in tests {
                    let x = self.mtp3(*field, *t)?;
                    let x = match b {
                        Some(prev) => self.g.or(prev, x),
                        None => x,
                    };
                    b = Some(x);
                }
                b.ok_or_else(|| self.err("empty MTP3 value list"))
            }
            Primitive::Id(..)
            | Primitive::Orphan(_)
            | Primitive::Proto(_)
            | Primitive::Relation(..) => Err(self.err("internal: not an 'other' primitive")),
        }
    }

    fn len_test(&mut self, jtype: u16, n: u32) -> BlockId {
        self.jmp_k(jtype, n, vec![stmt(op::LD | op::LEN, 0)])
    }

    fn byteop(&mut self, byte_op: ByteOp, index: u32, value: u32) -> Gened<BlockId> {
        self.assert_max("byte argument", value, 255)?;
        let alu = match byte_op {
            ByteOp::Eq => return self.cmp(OffRel::LinkHdr, index, B, value),
            ByteOp::Lt => return self.cmp_lt(OffRel::LinkHdr, index, B, value),
            ByteOp::Gt => return self.cmp_gt(OffRel::LinkHdr, index, B, value),
            ByteOp::Or => op::OR,
            ByteOp::And => op::AND,
        };
        let mut s = self.load_a(OffRel::LinkHdr, index, B)?;
        s.push(stmt(op::ALU | alu | op::K, value));
        let b = self.jmp_k(JEQ, 0, s);
        self.g.not(b);
        Ok(b)
    }

    fn broadcast(&mut self, proto: Proto) -> Gened<BlockId> {
        match proto {
            Proto::Default | Proto::Link => match self.linktype {
                LinkType::ARCNET | LinkType::ARCNET_LINUX => {
                    self.mac8host(0, Dir::Dst, "broadcast")
                }
                LinkType::BACNET_MS_TP => self.mac8host(0xff, Dir::Dst, "broadcast"),
                _ => self.mac48host(&[0xff; 6], Dir::Dst, "broadcast"),
            },
            Proto::Ip => {
                // 255.255.255.255 is libpcap's PCAP_NETMASK_UNKNOWN, what
                // tcpdump passes when the interface has no address.
                let Some(netmask) = self.opts.netmask.filter(|&m| m != u32::MAX) else {
                    return Err(self.err(
                        "netmask not known, so 'ip broadcast' not supported: give the network's netmask",
                    ));
                };
                let b0 = self.linktype(ethertype::IP)?;
                let hostmask = !netmask;
                let b1 = self.mcmp(OffRel::LinkPl, 16, W, 0, hostmask)?;
                let b2 = self.mcmp(OffRel::LinkPl, 16, W, hostmask, hostmask)?;
                let b2 = self.g.or(b1, b2);
                let b2 = self.g.and(b0, b2);
                Ok(b2)
            }
            other => Err(self.err(format!(
                "'{}' is not a valid qualifier for 'broadcast'",
                other.keyword()
            ))),
        }
    }

    fn mac_multicast(&mut self, offset: u32) -> Gened<BlockId> {
        let s = self.load_a(OffRel::LinkHdr, offset, B)?;
        Ok(self.set(1, s))
    }

    fn multicast(&mut self, proto: Proto) -> Gened<BlockId> {
        use LinkType::*;
        match proto {
            Proto::Default | Proto::Link => match self.linktype {
                ARCNET | ARCNET_LINUX => self.mac8host(0, Dir::Dst, "multicast"),
                EN10MB | NETANALYZER | NETANALYZER_TRANSPARENT | DSA_TAG_BRCM | DSA_TAG_DSA => {
                    let b1 = self.prevlinkhdr_check_pub()?;
                    let b0 = self.mac_multicast(0)?;
                    let b0 = match b1 {
                        Some(b1) => self.g.and(b1, b0),
                        None => b0,
                    };
                    Ok(b0)
                }
                FDDI => self.mac_multicast(1),
                IEEE802 => self.mac_multicast(2),
                IEEE802_11 | PRISM_HEADER | IEEE802_11_RADIO_AVS | IEEE802_11_RADIO | PPI => {
                    let s = self.load_a(OffRel::LinkHdr, 1, B)?;
                    let b1 = self.set(0x01, s);
                    let b0 = self.mac_multicast(16)?;
                    let b0 = self.g.and(b1, b0);
                    let s = self.load_a(OffRel::LinkHdr, 1, B)?;
                    let b2 = self.unset(0x01, s);
                    let b1 = self.mac_multicast(4)?;
                    let b1 = self.g.and(b2, b1);
                    let b0 = self.g.or(b1, b0);
                    let s = self.load_a(OffRel::LinkHdr, 0, B)?;
                    let b1 = self.set(0x08, s);
                    let b0 = self.g.and(b1, b0);
                    let s = self.load_a(OffRel::LinkHdr, 0, B)?;
                    let b2 = self.unset(0x08, s);
                    let b1 = self.mac_multicast(4)?;
                    let b1 = self.g.and(b2, b1);
                    let b0 = self.g.or(b1, b0);
                    let s = self.load_a(OffRel::LinkHdr, 0, B)?;
                    let b1 = self.unset(0x04, s);
                    let b0 = self.g.and(b1, b0);
                    Ok(b0)
                }
                IP_OVER_FC => self.mac_multicast(2),
                _ => Err(self.fail_kw("multicast")),
            },
            Proto::Ip => {
                let b0 = self.linktype(ethertype::IP)?;
                let b1 = self.mcmp(OffRel::LinkPl, 16, B, 0xe0, 0xf0)?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            Proto::Ip6 => {
                let b0 = self.linktype(ethertype::IPV6)?;
                let b1 = self.cmp(OffRel::LinkPl, 24, B, 255)?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            other => Err(self.err(format!(
                "'{}' is not a valid qualifier for 'multicast'",
                other.keyword()
            ))),
        }
    }

    fn not_live(&self, keyword: &str) -> crate::compile::CompileError {
        self.err(format!(
            "not a live capture, '{keyword}' not supported on {}",
            self.linktype
        ))
    }

    fn ifindex(&mut self, index: u32) -> Gened<BlockId> {
        if self.linktype == LinkType::LINUX_SLL2 {
            return self.cmp(OffRel::LinkHdr, 4, W, index);
        }
        if !self.linux_live() {
            return Err(self.not_live("ifindex"));
        }
        self.cmp(OffRel::LinkHdr, Ancillary::Ifindex.offset(), W, index)
    }

    fn direction(&mut self, outbound: bool) -> Gened<BlockId> {
        use LinkType::*;
        let pick = |out: u32, inb: u32| if outbound { out } else { inb };
        match self.linktype {
            SLIP => self.cmp(OffRel::LinkHdr, 0, B, pick(1, 0)),
            // ipnet's dl_dir: IPNET_OUTBOUND is 1, IPNET_INBOUND 2.
            IPNET => self.cmp(OffRel::LinkHdr, 2, H, pick(1, 2)),
            LINUX_SLL | LINUX_SLL2 => {
                let (off, size) = if self.linktype == LINUX_SLL {
                    (0, H)
                } else {
                    (10, B)
                };
                let b = self.cmp(OffRel::LinkHdr, off, size, 4)?;
                if !outbound {
                    self.g.not(b);
                }
                Ok(b)
            }
            PFLOG => self.cmp(OffRel::LinkHdr, 60, B, pick(2, 1)),
            PPP_PPPD => self.cmp(OffRel::LinkHdr, 0, B, pick(1, 0)),
            JUNIPER_MFR => self.mcmp(OffRel::LinkHdr, 3, B, pick(0, 1), 0x01),
            // The switch tag's opcode (Broadcom: 1 from the CPU, 0 to it)
            // or mode bit (Marvell: From_CPU).
            DSA_TAG_BRCM => self.mcmp(OffRel::LinkHdr, 12, B, pick(0x20, 0), 0xe0),
            DSA_TAG_DSA => self.mcmp(OffRel::LinkHdr, 12, B, pick(0x40, 0), 0x40),
            _ => {
                let kw = if outbound { "outbound" } else { "inbound" };
                if !self.linux_live() {
                    return Err(self.not_live(kw));
                }
                let b = self.cmp(OffRel::LinkHdr, Ancillary::PktType.offset(), H, 4)?;
                if !outbound {
                    self.g.not(b);
                }
                Ok(b)
            }
        }
    }

    fn pf_string(&mut self, kw: &str, offset: u32, value: &str) -> Gened<BlockId> {
        if self.linktype != LinkType::PFLOG {
            return Err(self.err(format!("'{kw}' supported only on PFLOG linktype")));
        }
        if value.len() >= 16 {
            return Err(self.err(format!("{kw} names can only be 15 characters")));
        }
        self.bcmp(OffRel::LinkHdr, offset, value.as_bytes())
    }

    fn pf_field(&mut self, kw: &str, offset: u32, size: u16, value: u32) -> Gened<BlockId> {
        if self.linktype != LinkType::PFLOG {
            return Err(self.err(format!("'{kw}' supported only on PFLOG linktype")));
        }
        self.cmp(OffRel::LinkHdr, offset, size, value)
    }

    // ---- ATM ----

    fn assert_atm(&self, kw: &str) -> Gened<()> {
        if self.linktype != LinkType::SUNATM {
            return Err(self.err(format!("'{kw}' supported only on SUNATM")));
        }
        Ok(())
    }

    fn atm_field(&mut self, field: AtmField, t: FieldTest) -> Gened<BlockId> {
        let (jtype, sense) = t.rel.jump();
        match field {
            AtmField::Vpi => {
                self.assert_atm("vpi")?;
                self.assert_max("VPI", t.value, 255)?;
                self.ncmp(
                    OffRel::LinkHdr,
                    sunatm::VPI_POS,
                    B,
                    u32::MAX,
                    jtype,
                    sense,
                    t.value,
                )
            }
            AtmField::Vci => {
                self.assert_atm("vci")?;
                self.assert_max("VCI", t.value, 0xffff)?;
                self.ncmp(
                    OffRel::LinkHdr,
                    sunatm::VCI_POS,
                    H,
                    u32::MAX,
                    jtype,
                    sense,
                    t.value,
                )
            }
        }
    }

    fn atm_tests(&mut self, field: AtmField, tests: &[FieldTest]) -> Gened<BlockId> {
        let mut b: Option<BlockId> = None;
        for t in tests {
            let x = self.atm_field(field, *t)?;
            let x = match b {
                Some(prev) => self.g.or(prev, x),
                None => x,
            };
            b = Some(x);
        }
        b.ok_or_else(|| self.err("empty ATM value list"))
    }

    fn vpi_vci(&mut self, vci: u32) -> Gened<BlockId> {
        use crate::compile::ast::Rel;
        let b0 = self.atm_field(
            AtmField::Vpi,
            FieldTest {
                rel: Rel::Eq,
                value: 0,
            },
        )?;
        let b1 = self.atm_field(
            AtmField::Vci,
            FieldTest {
                rel: Rel::Eq,
                value: vci,
            },
        )?;
        let b1 = self.g.and(b0, b1);
        Ok(b1)
    }

    fn atm_msg(&mut self, t: u32) -> Gened<BlockId> {
        self.cmp(OffRel::LinkHdr, sunatm::PKT_BEGIN_POS + MSG_TYPE_POS, B, t)
    }

    fn atm_type(&mut self, t: AtmType) -> Gened<BlockId> {
        use crate::compile::ast::Rel;
        let kw = match t {
            AtmType::Lane => "lane",
            AtmType::Metac => "metac",
            AtmType::Bcc => "bcc",
            AtmType::Oamf4ec => "oamf4ec",
            AtmType::Oamf4sc => "oamf4sc",
            AtmType::Sc => "sc",
            AtmType::Ilmic => "ilmic",
            AtmType::Oam => "oam",
            AtmType::Oamf4 => "oamf4",
            AtmType::Connectmsg => "connectmsg",
            AtmType::Metaconnect => "metaconnect",
        };
        self.assert_atm(kw)?;
        match t {
            AtmType::Metac => self.vpi_vci(1),
            AtmType::Bcc => self.vpi_vci(2),
            AtmType::Oamf4sc => self.vpi_vci(3),
            AtmType::Oamf4ec => self.vpi_vci(4),
            AtmType::Sc => self.vpi_vci(5),
            AtmType::Ilmic => self.vpi_vci(16),
            AtmType::Lane => {
                let b1 = self.atm_prototype(sunatm::PT_LANE)?;
                self.prevlinktype = self.linktype;
                self.off_prevlinkhdr = self.off_linkhdr;
                self.linktype = LinkType::EN10MB;
                self.off_linkhdr = AbsOffset::fixed(sunatm::PKT_BEGIN_POS + 2);
                self.is_encap = false;
                self.off_linktype = AbsOffset::fixed(self.off_linkhdr.k() + 12);
                self.off_linkpl = AbsOffset::fixed(self.off_linkhdr.k() + 14);
                self.off_nl = 0;
                self.off_nl_nosnap = 3;
                Ok(b1)
            }
            AtmType::Oam | AtmType::Oamf4 => {
                let b0 = self.atm_field(
                    AtmField::Vci,
                    FieldTest {
                        rel: Rel::Eq,
                        value: 3,
                    },
                )?;
                let b1 = self.atm_field(
                    AtmField::Vci,
                    FieldTest {
                        rel: Rel::Eq,
                        value: 4,
                    },
                )?;
                let b1 = self.g.or(b0, b1);
                let b0 = self.atm_field(
                    AtmField::Vpi,
                    FieldTest {
                        rel: Rel::Eq,
                        value: 0,
                    },
                )?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            AtmType::Connectmsg | AtmType::Metaconnect => {
                let msgs: &[u32] = if t == AtmType::Connectmsg {
                    &[0x05, 0x02, 0x07, 0x0f, 0x4d, 0x5a]
                } else {
                    &[0x05, 0x02, 0x07, 0x4d, 0x5a]
                };
                let b0 = self.atm_msg(msgs[0])?;
                let b1 = self.atm_msg(msgs[1])?;
                let mut b1 = self.g.or(b0, b1);
                for &m in &msgs[2..] {
                    let b0 = self.atm_msg(m)?;
                    b1 = self.g.or(b0, b1);
                }
                let b0 = if t == AtmType::Connectmsg {
                    self.vpi_vci(5)?
                } else {
                    self.vpi_vci(1)?
                };
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
        }
    }

    // ---- SS7 ----

    /// MTP offsets: (li, li_hsl, sio, opc, dpc, sls).
    fn mtp_offsets(&self, kw: &str) -> Gened<(u32, u32, u32, u32, u32, u32)> {
        match self.linktype {
            LinkType::MTP2 => Ok((2, 4, 3, 4, 4, 7)),
            LinkType::MTP2_WITH_PHDR => Ok((6, 8, 7, 8, 8, 11)),
            _ => Err(self.err(format!("'{kw}' supported only on SS7"))),
        }
    }

    fn mtp2(&mut self, t: Mtp2Type) -> Gened<BlockId> {
        use super::Sense::{AsIs, Reversed};
        let kw = match t {
            Mtp2Type::Fisu => "fisu",
            Mtp2Type::Lssu => "lssu",
            Mtp2Type::Msu => "msu",
            Mtp2Type::Hfisu => "hfisu",
            Mtp2Type::Hlssu => "hlssu",
            Mtp2Type::Hmsu => "hmsu",
        };
        let (li, li_hsl, ..) = self.mtp_offsets(kw)?;
        let p = OffRel::Packet;
        match t {
            Mtp2Type::Fisu => self.ncmp(p, li, B, 0x3f, JEQ, AsIs, 0),
            Mtp2Type::Lssu => {
                let b0 = self.ncmp(p, li, B, 0x3f, JGT, Reversed, 2)?;
                let b1 = self.ncmp(p, li, B, 0x3f, JGT, AsIs, 0)?;
                let b0 = self.g.and(b1, b0);
                Ok(b0)
            }
            Mtp2Type::Msu => self.ncmp(p, li, B, 0x3f, JGT, AsIs, 2),
            Mtp2Type::Hfisu => self.ncmp(p, li_hsl, H, 0xff80, JEQ, AsIs, 0),
            Mtp2Type::Hlssu => {
                let b0 = self.ncmp(p, li_hsl, H, 0xff80, JGT, Reversed, 0x0100)?;
                let b1 = self.ncmp(p, li_hsl, H, 0xff80, JGT, AsIs, 0)?;
                let b0 = self.g.and(b1, b0);
                Ok(b0)
            }
            Mtp2Type::Hmsu => self.ncmp(p, li_hsl, H, 0xff80, JGT, AsIs, 0x0100),
        }
    }

    fn mtp3(&mut self, field: Mtp3Field, t: FieldTest) -> Gened<BlockId> {
        let kw = field.keyword();
        let (_, _, sio, opc, dpc, sls) = self.mtp_offsets(kw)?;
        let (jtype, sense) = t.rel.jump();
        let v = t.value;
        let p = OffRel::Packet;
        let hsl = matches!(
            field,
            Mtp3Field::Hsio | Mtp3Field::Hopc | Mtp3Field::Hdpc | Mtp3Field::Hsls
        );
        let extra = if hsl { 3 } else { 0 };
        match field {
            Mtp3Field::Sio | Mtp3Field::Hsio => {
                self.assert_max(kw, v, 255)?;
                self.ncmp(p, sio + extra, B, u32::MAX, jtype, sense, v)
            }
            Mtp3Field::Opc | Mtp3Field::Hopc => {
                self.assert_max(kw, v, 0x3fff)?;
                self.ncmp(
                    p,
                    opc + extra,
                    W,
                    (0x3fffu32 << 14).swap_bytes(),
                    jtype,
                    sense,
                    (v << 14).swap_bytes(),
                )
            }
            Mtp3Field::Dpc | Mtp3Field::Hdpc => {
                self.assert_max(kw, v, 0x3fff)?;
                let swap16 = |x: u32| ((x & 0xff) << 8) | ((x >> 8) & 0xff);
                self.ncmp(p, dpc + extra, H, swap16(0x3fff), jtype, sense, swap16(v))
            }
            Mtp3Field::Sls | Mtp3Field::Hsls => {
                self.assert_max(kw, v, 0xf)?;
                self.ncmp(p, sls + extra, B, 0xf << 4, jtype, sense, v << 4)
            }
        }
    }
}
