//! Link-layer tests: which network protocol a frame carries, per link type
//! (libpcap's `gen_linktype` and helpers), 802.2 LLC and SNAP, and the
//! encapsulations that move the offsets of later tests: VLAN, MPLS, PPPoE,
//! Geneve, VXLAN. Also the prologue that computes variable header lengths
//! (radio headers, 802.11, PFLOG) once, at the start of the program.

use visor_isa::cbpf::Insn;
use visor_isa::cbpf::opcode as op;

use super::{B, BlockId, Gen, Gened, H, JEQ, OffField, OffRel, W, stmt};
use crate::compile::ast::Llc;
use crate::compile::linktype::{AbsOffset, LinkType, sunatm};

pub(in crate::compile) mod ethertype {
    pub const IP: u32 = 0x0800;
    pub const ARP: u32 = 0x0806;
    pub const REVARP: u32 = 0x8035;
    pub const IPV6: u32 = 0x86dd;
    pub const ATALK: u32 = 0x809b;
    pub const AARP: u32 = 0x80f3;
    pub const IPX: u32 = 0x8137;
    pub const DN: u32 = 0x6003;
    pub const SCA: u32 = 0x6007;
    pub const LAT: u32 = 0x6004;
    pub const MOPDL: u32 = 0x6001;
    pub const MOPRC: u32 = 0x6002;
    pub const NS: u32 = 0x0600;
    pub const VLAN_8021Q: u32 = 0x8100;
    pub const VLAN_8021AD: u32 = 0x88a8;
    pub const VLAN_QINQ: u32 = 0x9100;
    pub const MPLS: u32 = 0x8847;
    pub const PPPOED: u32 = 0x8863;
    pub const PPPOES: u32 = 0x8864;
    pub const TEB: u32 = 0x6558;
}

pub(in crate::compile) mod sap {
    pub const IP: u32 = 0x06;
    pub const ISONS: u32 = 0xfe;
    pub const NETBEUI: u32 = 0xf0;
    pub const IPX: u32 = 0xe0;
    pub const SNAP: u8 = 0xaa;
    pub const STP: u32 = 0x42;
}

const ETHERMTU: u32 = 1500;
const SLL_P_802_3: u32 = 0x0001;
const SLL_P_802_2: u32 = 0x0004;

/// The PPP protocol number for an Ethernet type (`ethertype_to_ppptype`).
fn ppp_type(proto: u32) -> u32 {
    match proto {
        ethertype::IP => 0x0021,
        ethertype::IPV6 => 0x0057,
        ethertype::DN => 0x0027,
        ethertype::ATALK => 0x0029,
        ethertype::NS => 0x0025,
        sap::ISONS => 0x0023,
        sap::STP => 0x0031,
        sap::IPX => 0x002b,
        other => other,
    }
}

impl Gen<'_> {
    /// Frames of link-layer protocol `proto` (an Ethernet type when above
    /// 1500, else an LLC SAP).
    pub fn linktype(&mut self, proto: u32) -> Gened<BlockId> {
        use LinkType::*;
        if self.label_stack_depth > 0 {
            return self.mpls_linktype(proto);
        }
        match self.linktype {
            EN10MB | NETANALYZER | NETANALYZER_TRANSPARENT | DSA_TAG_BRCM | DSA_TAG_DSA => {
                let b0 = if self.is_encap {
                    None
                } else {
                    self.prevlinkhdr_check()?
                };
                let b1 = self.ether_linktype(proto)?;
                let b1 = match b0 {
                    Some(b0) => self.g.and(b0, b1),
                    None => b1,
                };
                Ok(b1)
            }
            C_HDLC => {
                self.assert_max("HDLC protocol", proto, 0xffff)?;
                let p = if proto == sap::ISONS {
                    (proto << 8) | sap::ISONS
                } else {
                    proto
                };
                self.cmp(OffRel::LinkType, 0, H, p)
            }
            IEEE802_11 | PRISM_HEADER | IEEE802_11_RADIO_AVS | IEEE802_11_RADIO | PPI => {
                let b0 = self.mcmp(OffRel::LinkHdr, 0, B, 0x08, 0x0c)?;
                let b1 = self.llc_linktype(proto)?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            FDDI | IEEE802 | ATM_RFC1483 | ATM_CLIP | IP_OVER_FC => self.llc_linktype(proto),
            SUNATM => {
                let b0 = self.atm_prototype(sunatm::PT_LLC)?;
                let b1 = self.llc_linktype(proto)?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            LINUX_SLL => self.linux_sll_linktype(proto),
            SLIP | SLIP_BSDOS | RAW => match proto {
                ethertype::IP => self.mcmp(OffRel::LinkHdr, 0, B, 0x40, 0xf0),
                ethertype::IPV6 => self.mcmp(OffRel::LinkHdr, 0, B, 0x60, 0xf0),
                _ => Ok(self.false_()),
            },
            IPV4 => Ok(if proto == ethertype::IP {
                self.true_()
            } else {
                self.false_()
            }),
            IPV6 => Ok(if proto == ethertype::IPV6 {
                self.true_()
            } else {
                self.false_()
            }),
            PPP | PPP_PPPD | PPP_SERIAL | PPP_ETHER => {
                self.assert_max("PPP protocol", proto, 0xffff)?;
                self.cmp(OffRel::LinkType, 0, H, ppp_type(proto))
            }
            PPP_BSDOS => match proto {
                ethertype::IP => {
                    let b0 = self.cmp(OffRel::LinkType, 0, H, 0x0021)?;
                    let b1 = self.cmp(OffRel::LinkType, 0, H, 0x002d)?;
                    let b1 = self.g.or(b0, b1);
                    let b0 = self.cmp(OffRel::LinkType, 0, H, 0x002f)?;
                    let b0 = self.g.or(b1, b0);
                    Ok(b0)
                }
                _ => {
                    self.assert_max("PPP protocol", proto, 0xffff)?;
                    self.cmp(OffRel::LinkType, 0, H, ppp_type(proto))
                }
            },
            NULL | ENC => match self.savefile() {
                // A savefile may come from a host of either byte order:
                // test the other order, then this one.
                Some(swapped) => {
                    let b0 = self.loopback_family(proto, !swapped)?;
                    let b1 = self.loopback_family(proto, swapped)?;
                    Ok(self.g.or(b0, b1))
                }
                None => self.loopback_family(proto, false),
            },
            LOOP => self.loopback_family(proto, false),
            // The address family byte: Linux's values live, and for a
            // savefile any BSD's IPv6 value (30, 24 or 28), as for NULL.
            PFLOG => match proto {
                ethertype::IP => self.cmp(OffRel::LinkHdr, 1, B, 2),
                ethertype::IPV6 if self.savefile().is_some() => {
                    let b0 = self.cmp(OffRel::LinkHdr, 1, B, 24)?;
                    let b1 = self.cmp(OffRel::LinkHdr, 1, B, 28)?;
                    let b1 = self.g.or(b0, b1);
                    let b0 = self.cmp(OffRel::LinkHdr, 1, B, 30)?;
                    Ok(self.g.or(b0, b1))
                }
                ethertype::IPV6 => self.cmp(OffRel::LinkHdr, 1, B, 10),
                _ => Ok(self.false_()),
            },
            ARCNET | ARCNET_LINUX => {
                let sc = match proto {
                    ethertype::IPV6 => 0xc4,
                    ethertype::IP => 212,
                    ethertype::ARP => 213,
                    ethertype::REVARP => 214,
                    ethertype::ATALK => 221,
                    _ => return Ok(self.false_()),
                };
                self.cmp(OffRel::LinkType, 0, B, sc)
            }
            LTALK => Ok(if proto == ethertype::ATALK {
                self.true_()
            } else {
                self.false_()
            }),
            FRELAY => match proto {
                ethertype::IP => self.cmp(OffRel::LinkHdr, 2, H, 0x03cc),
                ethertype::IPV6 => self.cmp(OffRel::LinkHdr, 2, H, 0x038e),
                sap::ISONS => {
                    let b0 = self.cmp(OffRel::LinkHdr, 2, H, 0x0381)?;
                    let b1 = self.cmp(OffRel::LinkHdr, 2, H, 0x0382)?;
                    let b2 = self.cmp(OffRel::LinkHdr, 2, H, 0x0383)?;
                    let b2 = self.g.or(b1, b2);
                    let b2 = self.g.or(b0, b2);
                    Ok(b2)
                }
                _ => Ok(self.false_()),
            },
            JUNIPER_MFR => self.mcmp(OffRel::LinkHdr, 0, W, 0x4d474300, 0xffffff00),
            IPNET => match proto {
                ethertype::IP => self.cmp(OffRel::LinkType, 0, B, 2),
                ethertype::IPV6 => self.cmp(OffRel::LinkType, 0, B, 26),
                _ => Ok(self.false_()),
            },
            _ => {
                if self.off_linktype.constant.is_some() {
                    self.assert_max("EtherType", proto, 0xffff)?;
                    self.cmp(OffRel::LinkType, 0, H, proto)
                } else {
                    Err(self.err(format!(
                        "link-layer type filtering not implemented for {}",
                        self.linktype
                    )))
                }
            }
        }
    }

    /// DLT_NULL/ENC/LOOP: the 4-byte address family, `swapped` when the
    /// writer's byte order differs from this host's.
    fn loopback_family(&mut self, proto: u32, swapped: bool) -> Gened<BlockId> {
        match proto {
            ethertype::IP => self.loopback_linktype(2, swapped),
            ethertype::IPV6 => {
                if self.savefile().is_some() {
                    let b0 = self.loopback_linktype(24, swapped)?;
                    let b1 = self.loopback_linktype(28, swapped)?;
                    let b1 = self.g.or(b0, b1);
                    let b0 = self.loopback_linktype(30, swapped)?;
                    Ok(self.g.or(b0, b1))
                } else {
                    // Linux's AF_INET6.
                    self.loopback_linktype(10, swapped)
                }
            }
            _ => Ok(self.false_()),
        }
    }

    fn loopback_linktype(&mut self, af: u32, swapped: bool) -> Gened<BlockId> {
        let mut v = af;
        if matches!(self.linktype, LinkType::NULL | LinkType::ENC) {
            if swapped {
                v = v.swap_bytes();
            }
            // htonl on a little-endian host.
            v = v.swap_bytes();
        }
        self.cmp(OffRel::LinkHdr, 0, W, v)
    }

    fn ether_linktype(&mut self, proto: u32) -> Gened<BlockId> {
        match proto {
            sap::ISONS | sap::IP | sap::NETBEUI => {
                let b0 = self.cmp_le(OffRel::LinkType, 0, H, ETHERMTU)?;
                let b1 = self.cmp(OffRel::Llc, 0, H, (proto << 8) | proto)?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            sap::IPX => {
                let b0 = self.cmp(OffRel::Llc, 0, B, sap::IPX)?;
                let b1 = self.cmp(OffRel::Llc, 0, H, 0xffff)?;
                let b1 = self.g.or(b0, b1);
                let b0 = self.snap(0x000000, ethertype::IPX)?;
                let b1 = self.g.or(b0, b1);
                let b0 = self.cmp_le(OffRel::LinkType, 0, H, ETHERMTU)?;
                let b1 = self.g.and(b0, b1);
                let b0 = self.cmp(OffRel::LinkType, 0, H, ethertype::IPX)?;
                let b1 = self.g.or(b0, b1);
                Ok(b1)
            }
            ethertype::ATALK | ethertype::AARP => {
                let b0 = self.cmp_le(OffRel::LinkType, 0, H, ETHERMTU)?;
                let b1 = if proto == ethertype::ATALK {
                    self.snap(0x080007, ethertype::ATALK)?
                } else {
                    self.snap(0x000000, ethertype::AARP)?
                };
                let b1 = self.g.and(b0, b1);
                let b0 = self.cmp(OffRel::LinkType, 0, H, proto)?;
                let b1 = self.g.or(b0, b1);
                Ok(b1)
            }
            _ if proto <= ETHERMTU => {
                self.assert_max("LLC DSAP", proto, 0xff)?;
                let b0 = self.cmp_le(OffRel::LinkType, 0, H, ETHERMTU)?;
                let b1 = self.cmp(OffRel::LinkType, 2, B, proto)?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            _ => {
                self.assert_max("EtherType", proto, 0xffff)?;
                self.cmp(OffRel::LinkType, 0, H, proto)
            }
        }
    }

    fn linux_sll_linktype(&mut self, proto: u32) -> Gened<BlockId> {
        match proto {
            sap::ISONS | sap::IP | sap::NETBEUI => {
                let b0 = self.cmp(OffRel::LinkType, 0, H, SLL_P_802_2)?;
                let b1 = self.cmp(OffRel::Llc, 0, H, (proto << 8) | proto)?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            sap::IPX => {
                let b0 = self.cmp(OffRel::Llc, 0, B, sap::IPX)?;
                let b1 = self.snap(0x000000, ethertype::IPX)?;
                let b1 = self.g.or(b0, b1);
                let b0 = self.cmp(OffRel::LinkType, 0, H, SLL_P_802_2)?;
                let b1 = self.g.and(b0, b1);
                let b0 = self.cmp(OffRel::LinkType, 0, H, SLL_P_802_3)?;
                let b1 = self.g.or(b0, b1);
                let b0 = self.cmp(OffRel::LinkType, 0, H, ethertype::IPX)?;
                let b1 = self.g.or(b0, b1);
                Ok(b1)
            }
            ethertype::ATALK | ethertype::AARP => {
                let b0 = self.cmp(OffRel::LinkType, 0, H, SLL_P_802_2)?;
                let b1 = if proto == ethertype::ATALK {
                    self.snap(0x080007, ethertype::ATALK)?
                } else {
                    self.snap(0x000000, ethertype::AARP)?
                };
                let b1 = self.g.and(b0, b1);
                let b0 = self.cmp(OffRel::LinkType, 0, H, proto)?;
                let b1 = self.g.or(b0, b1);
                Ok(b1)
            }
            _ if proto <= ETHERMTU => {
                self.assert_max("LLC DSAP", proto, 0xff)?;
                let b0 = self.cmp(OffRel::LinkType, 0, H, SLL_P_802_2)?;
                let k = self.off_linkpl.k();
                let b1 = self.cmp(OffRel::LinkHdr, k, B, proto)?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            _ => {
                self.assert_max("EtherType", proto, 0xffff)?;
                self.cmp(OffRel::LinkType, 0, H, proto)
            }
        }
    }

    /// An LLC SNAP header with organization `org` and type `ptype`.
    pub fn snap(&mut self, org: u32, ptype: u32) -> Gened<BlockId> {
        let [_, o1, o2, o3] = org.to_be_bytes();
        let [_, _, p1, p2] = ptype.to_be_bytes();
        let bytes = [sap::SNAP, sap::SNAP, 0x03, o1, o2, o3, p1, p2];
        self.bcmp(OffRel::Llc, 0, &bytes)
    }

    /// For link types that always carry 802.2 LLC.
    fn llc_linktype(&mut self, proto: u32) -> Gened<BlockId> {
        match proto {
            sap::IP | sap::ISONS | sap::NETBEUI => {
                self.cmp(OffRel::Llc, 0, H, (proto << 8) | proto)
            }
            sap::IPX => self.cmp(OffRel::Llc, 0, B, sap::IPX),
            ethertype::ATALK => self.snap(0x080007, ethertype::ATALK),
            _ if proto <= ETHERMTU => {
                self.assert_max("LLC DSAP", proto, 0xff)?;
                self.cmp(OffRel::Llc, 0, B, proto)
            }
            _ => {
                self.assert_max("EtherType", proto, 0xffff)?;
                self.cmp(OffRel::Llc, 6, H, proto)
            }
        }
    }

    fn mpls_linktype(&mut self, proto: u32) -> Gened<BlockId> {
        let version = match proto {
            ethertype::IP => 0x40,
            ethertype::IPV6 => 0x60,
            _ => return Err(self.err("unsupported protocol over mpls")),
        };
        // The last label must be the bottom of the stack.
        let s = self.load_a(OffRel::LinkPl, (-2i32) as u32, B)?;
        let b0 = self.set(0x01, s);
        let b1 = self.mcmp(OffRel::LinkPl, 0, B, version, 0xf0)?;
        let b1 = self.g.and(b0, b1);
        Ok(b1)
    }

    fn prevlinkhdr_check(&mut self) -> Gened<Option<BlockId>> {
        if self.is_encap {
            return self.encap_ll_check().map(Some);
        }
        if self.prevlinktype == LinkType::SUNATM {
            return self.cmp_ne(OffRel::PrevLinkHdr, 4, H, 0xff00).map(Some);
        }
        Ok(None)
    }

    pub fn prevlinkhdr_check_pub(&mut self) -> Gened<Option<BlockId>> {
        self.prevlinkhdr_check()
    }

    fn encap_ll_check(&mut self) -> Gened<BlockId> {
        let s = vec![
            stmt(op::LD | op::MEM, self.off_linkhdr.reg.unwrap_or(0)),
            stmt(op::LDX | op::MEM, self.off_linkpl.reg.unwrap_or(0)),
        ];
        let b = self.jmp_x(JEQ, s);
        self.g.not(b);
        Ok(b)
    }

    // ---- ATM helpers used by the SUNATM link type ----

    pub fn atm_prototype(&mut self, v: u32) -> Gened<BlockId> {
        self.mcmp(OffRel::LinkHdr, sunatm::TYPE_POS, B, v, sunatm::TYPE_MASK)
    }

    // ---- LLC primitives ----

    fn llc_frame(&mut self) -> Gened<BlockId> {
        use LinkType::*;
        match self.linktype {
            EN10MB | DSA_TAG_BRCM | DSA_TAG_DSA => {
                let b0 = self.cmp_le(OffRel::LinkType, 0, H, ETHERMTU)?;
                let b1 = self.cmp_ne(OffRel::Llc, 0, H, 0xffff)?;
                let b1 = self.g.and(b0, b1);
                Ok(b1)
            }
            SUNATM => {
                let b = self.atm_prototype(sunatm::PT_LLC)?;
                self.linktype = self.prevlinktype;
                Ok(b)
            }
            IEEE802 | FDDI | ATM_RFC1483 => Ok(self.true_()),
            IEEE802_11 | PRISM_HEADER | IEEE802_11_RADIO | IEEE802_11_RADIO_AVS | PPI => {
                self.mcmp(OffRel::LinkHdr, 0, B, 0x08, 0x0c)
            }
            _ => Err(self.fail_kw("llc")),
        }
    }

    pub fn llc(&mut self, kind: Llc) -> Gened<BlockId> {
        let b0 = self.llc_frame()?;
        let b1 = match kind {
            Llc::Any => return Ok(b0),
            Llc::I => {
                let s = self.load_a(OffRel::Llc, 2, B)?;
                self.unset(0x01, s)
            }
            Llc::S => self.mcmp(OffRel::Llc, 2, B, 0x01, 0x03)?,
            Llc::U => self.mcmp(OffRel::Llc, 2, B, 0x03, 0x03)?,
            Llc::SSubtype(v) => self.mcmp(OffRel::Llc, 2, B, v, 0x0f)?,
            Llc::USubtype(v) => self.mcmp(OffRel::Llc, 2, B, v, 0xef)?,
        };
        let b1 = self.g.and(b0, b1);
        Ok(b1)
    }

    // ---- VLAN ----

    fn vlan_tpid_test(&mut self) -> Gened<BlockId> {
        let b0 = self.linktype(ethertype::VLAN_8021Q)?;
        let b1 = self.linktype(ethertype::VLAN_8021AD)?;
        let b1 = self.g.or(b0, b1);
        let b0 = b1;
        let b1 = self.linktype(ethertype::VLAN_QINQ)?;
        let b1 = self.g.or(b0, b1);
        Ok(b1)
    }

    fn vlan_vid_test(&mut self, vid: u32) -> Gened<BlockId> {
        self.assert_max("VLAN tag", vid, 0x0fff)?;
        self.mcmp(OffRel::LinkPl, 0, H, vid, 0x0fff)
    }

    fn vlan_no_extensions(&mut self, vid: Option<u32>) -> Gened<BlockId> {
        let mut b0 = self.vlan_tpid_test()?;
        if let Some(vid) = vid {
            let b1 = self.vlan_vid_test(vid)?;
            let b1 = self.g.and(b0, b1);
            b0 = b1;
        }
        self.off_linkpl.constant = Some(self.off_linkpl.k() + 4);
        self.off_linktype.constant = Some(self.off_linktype.k() + 4);
        Ok(b0)
    }

    fn vloffset_add(&mut self, which: OffField, v: u32, s: &mut Vec<Insn>) -> Gened<()> {
        let reg = {
            let off = self.offset_field(which);
            off.variable = true;
            off.reg
        };
        let reg = match reg {
            Some(r) => r,
            None => {
                let r = self.alloc_reg()?;
                self.offset_field(which).reg = Some(r);
                r
            }
        };
        s.push(stmt(op::LD | op::MEM, reg));
        s.push(stmt(op::ALU | op::ADD | op::K, v));
        s.push(stmt(op::ST, reg));
        Ok(())
    }

    fn offset_field(&mut self, which: OffField) -> &mut AbsOffset {
        match which {
            OffField::LinkHdr => &mut self.off_linkhdr,
            OffField::PrevLinkHdr => &mut self.off_prevlinkhdr,
            OffField::LinkPl => &mut self.off_linkpl,
            OffField::LinkType => &mut self.off_linktype,
        }
    }

    fn vlan_extensions(&mut self, vid: Option<u32>) -> Gened<BlockId> {
        use visor_isa::cbpf::Ancillary;
        let s = vec![stmt(
            op::LD | op::B | op::ABS,
            Ancillary::VlanTagPresent.offset(),
        )];
        let b0 = self.jmp_k(JEQ, 1, s);
        let b_tpid = self.vlan_tpid_test()?;
        let b_vid = match vid {
            Some(v) => Some(self.vlan_vid_test(v)?),
            None => None,
        };
        // Patch the TPID test: update the variable offsets first.
        self.is_vlan_vloffset = true;
        let mut s = Vec::new();
        self.vloffset_add(OffField::LinkPl, 4, &mut s)?;
        self.vloffset_add(OffField::LinkType, 4, &mut s)?;
        let head = self.g.head(b_tpid);
        let block = self.g.get_mut(head);
        s.append(&mut block.stmts);
        block.stmts = s;
        let b_tpid = self.g.or(b0, b_tpid);
        let mut b0 = b_tpid;
        if let Some(b_vid) = b_vid {
            // Load the TCI from metadata when present, else from the packet.
            let n = self.g.get(b_vid).stmts.len() as u32;
            let mut s = vec![
                stmt(op::LD | op::B | op::ABS, Ancillary::VlanTagPresent.offset()),
                Insn::new(op::JMP | op::JEQ | op::K, 0, 2, 1),
                stmt(op::LD | op::H | op::ABS, Ancillary::VlanTag.offset()),
                stmt(op::JMP | op::JA, n.saturating_sub(1)),
            ];
            let block = self.g.get_mut(b_vid);
            s.append(&mut block.stmts);
            block.stmts = s;
            let b_vid = self.g.and(b0, b_vid);
            b0 = b_vid;
        }
        Ok(b0)
    }

    pub fn vlan(&mut self, vid: Option<u32>) -> Gened<BlockId> {
        use LinkType::*;
        if self.label_stack_depth > 0 {
            return Err(self.err("no VLAN match after MPLS"));
        }
        let b = match self.linktype {
            EN10MB => {
                let outer = self.vlan_stack_depth == 0
                    && !self.off_linkhdr.variable
                    && self.off_linkhdr.constant == self.off_outermostlinkhdr.constant;
                if outer && self.linux_live() {
                    self.vlan_extensions(vid)?
                } else {
                    self.vlan_no_extensions(vid)?
                }
            }
            NETANALYZER
            | NETANALYZER_TRANSPARENT
            | DSA_TAG_BRCM
            | DSA_TAG_DSA
            | IEEE802_11
            | PRISM_HEADER
            | IEEE802_11_RADIO_AVS
            | IEEE802_11_RADIO => self.vlan_no_extensions(vid)?,
            _ => return Err(self.fail_kw("vlan")),
        };
        self.vlan_stack_depth += 1;
        Ok(b)
    }

    // ---- MPLS ----

    pub fn mpls(&mut self, label: Option<u32>) -> Gened<BlockId> {
        use LinkType::*;
        let mut b0 = if self.label_stack_depth > 0 {
            // The previous label must not be the bottom of the stack.
            let s = self.load_a(OffRel::PrevMplsHdr, 2, B)?;
            self.unset(0x01, s)
        } else {
            match self.linktype {
                C_HDLC
                | EN10MB
                | NETANALYZER
                | NETANALYZER_TRANSPARENT
                | DSA_TAG_BRCM
                | DSA_TAG_DSA => self.linktype(ethertype::MPLS)?,
                PPP => self.linktype(0x0281)?,
                _ => return Err(self.fail_kw("mpls")),
            }
        };
        if let Some(label) = label {
            self.assert_max("MPLS label", label, 0xfffff)?;
            let b1 = self.mcmp(OffRel::LinkPl, 0, W, label << 12, 0xfffff000)?;
            let b1 = self.g.and(b0, b1);
            b0 = b1;
        }
        self.off_nl_nosnap = self.off_nl_nosnap.wrapping_add(4);
        self.off_nl = self.off_nl.wrapping_add(4);
        self.label_stack_depth += 1;
        Ok(b0)
    }

    // ---- PPPoE ----

    pub fn pppoed(&mut self) -> Gened<BlockId> {
        self.linktype(ethertype::PPPOED)
    }

    pub fn pppoes(&mut self, session: Option<u32>) -> Gened<BlockId> {
        let mut b0 = self.linktype(ethertype::PPPOES)?;
        if let Some(id) = session {
            self.assert_max("PPPoE session number", id, 0xffff)?;
            let b1 = self.cmp(OffRel::LinkPl, 2, H, id)?;
            let b1 = self.g.and(b0, b1);
            b0 = b1;
        }
        let constant = self.off_linkpl.k() + self.off_nl + 6;
        self.push_linkhdr(
            LinkType::PPP,
            AbsOffset {
                variable: self.off_linkpl.variable,
                constant: Some(constant),
                reg: self.off_linkpl.reg,
            },
        );
        self.off_linktype = self.off_linkhdr;
        self.off_linkpl.constant = Some(self.off_linkhdr.k() + 2);
        self.off_nl = 0;
        self.off_nl_nosnap = 0;
        Ok(b0)
    }

    fn push_linkhdr(&mut self, link: LinkType, hdr: AbsOffset) {
        self.prevlinktype = self.linktype;
        self.off_prevlinkhdr = self.off_linkhdr;
        self.linktype = link;
        self.off_linkhdr = hdr;
        self.is_encap = false;
    }

    // ---- Geneve and VXLAN ----

    fn tunnel_check(&mut self, tunnel: Tunnel, v6: bool, vni: Option<u32>) -> Gened<BlockId> {
        let rel = if v6 {
            OffRel::TranIpv6
        } else {
            OffRel::TranIpv4
        };
        let mut b0 = if v6 {
            self.port6(tunnel.port(), Some(17), crate::compile::ast::Dir::Dst)?
        } else {
            self.port4(tunnel.port(), Some(17), crate::compile::ast::Dir::Dst)?
        };
        let b1 = match tunnel {
            Tunnel::Geneve => self.mcmp(rel, 8, B, 0, 0xc0)?,
            Tunnel::Vxlan => self.cmp(rel, 8, B, 0x08)?,
        };
        let b1 = self.g.and(b0, b1);
        b0 = b1;
        if let Some(vni) = vni {
            let what = match tunnel {
                Tunnel::Geneve => "Geneve VNI",
                Tunnel::Vxlan => "VXLAN VNI",
            };
            self.assert_max(what, vni, 0xffffff)?;
            let b1 = self.mcmp(rel, 12, W, vni << 8, 0xffffff00)?;
            let b1 = self.g.and(b0, b1);
            b0 = b1;
        }
        Ok(b0)
    }

    fn tunnel4(&mut self, tunnel: Tunnel, vni: Option<u32>) -> Gened<BlockId> {
        let b0 = self.tunnel_check(tunnel, false, vni)?;
        let mut s = self.loadx_iphdrlen()?;
        s.push(stmt(op::MISC | op::TXA, 0));
        let b1 = self.jmp_x(JEQ, s);
        let b1 = self.g.and(b0, b1);
        Ok(b1)
    }

    fn tunnel6(&mut self, tunnel: Tunnel, vni: Option<u32>) -> Gened<BlockId> {
        let b0 = self.tunnel_check(tunnel, true, vni)?;
        let mut s = match self.abs_offset_varpart(OffField::LinkPl)? {
            Some(mut s) => {
                s.push(stmt(op::LD | op::IMM, 40));
                s.push(stmt(op::ALU | op::ADD | op::X, 0));
                s
            }
            None => vec![stmt(op::LD | op::IMM, 40)],
        };
        s.push(stmt(op::MISC | op::TAX, 0));
        let b1 = self.jmp_x(JEQ, s);
        let b1 = self.g.and(b0, b1);
        Ok(b1)
    }

    fn geneve_offsets(&mut self) -> Gened<Vec<Insn>> {
        self.g.keep_unoptimized();
        let mut s = vec![
            stmt(
                op::ALU | op::ADD | op::K,
                self.off_linkpl.k() + self.off_nl + 8,
            ),
            stmt(op::MISC | op::TAX, 0),
            stmt(op::ALU | op::ADD | op::K, 2),
        ];
        let lt = self.alloc_reg()?;
        self.off_linktype = AbsOffset {
            variable: true,
            constant: Some(0),
            reg: Some(lt),
        };
        s.push(stmt(op::ST, lt));
        s.push(stmt(op::LD | op::IND | op::B, 0));
        s.push(stmt(op::ALU | op::AND | op::K, 0x3f));
        s.push(stmt(op::ALU | op::MUL | op::K, 4));
        s.push(stmt(op::ALU | op::ADD | op::K, 8));
        s.push(stmt(op::ALU | op::ADD | op::X, 0));
        let hdr = self.alloc_reg()?;
        self.push_linkhdr(
            LinkType::EN10MB,
            AbsOffset {
                variable: true,
                constant: Some(0),
                reg: Some(hdr),
            },
        );
        s.push(stmt(op::ST, hdr));
        s.push(stmt(op::LD | op::IND | op::H, 2));
        s.push(stmt(op::LDX | op::MEM, hdr));
        // jeq #TEB: true to txa (next), false to the final stx (6 ahead).
        s.push(Insn::new(op::JMP | op::JEQ | op::K, 0, 5, ethertype::TEB));
        s.push(stmt(op::MISC | op::TXA, 0));
        s.push(stmt(op::ALU | op::ADD | op::K, 12));
        s.push(stmt(op::ST, lt));
        s.push(stmt(op::ALU | op::ADD | op::K, 2));
        s.push(stmt(op::MISC | op::TAX, 0));
        let pl = self.alloc_reg()?;
        self.off_linkpl = AbsOffset {
            variable: true,
            constant: Some(0),
            reg: Some(pl),
        };
        s.push(stmt(op::STX, pl));
        self.off_nl = 0;
        Ok(s)
    }

    fn vxlan_offsets(&mut self) -> Gened<Vec<Insn>> {
        let mut s = vec![
            stmt(
                op::ALU | op::ADD | op::K,
                self.off_linkpl.k() + self.off_nl + 8,
            ),
            stmt(op::ALU | op::ADD | op::K, 8),
        ];
        let hdr = self.alloc_reg()?;
        self.push_linkhdr(
            LinkType::EN10MB,
            AbsOffset {
                variable: true,
                constant: Some(0),
                reg: Some(hdr),
            },
        );
        s.push(stmt(op::ST, hdr));
        s.push(stmt(op::ALU | op::ADD | op::K, 12));
        let lt = self.alloc_reg()?;
        self.off_linktype = AbsOffset {
            variable: true,
            constant: Some(0),
            reg: Some(lt),
        };
        s.push(stmt(op::ST, lt));
        s.push(stmt(op::ALU | op::ADD | op::K, 2));
        s.push(stmt(op::MISC | op::TAX, 0));
        let pl = self.alloc_reg()?;
        self.off_linkpl = AbsOffset {
            variable: true,
            constant: Some(0),
            reg: Some(pl),
        };
        s.push(stmt(op::STX, pl));
        self.off_nl = 0;
        Ok(s)
    }

    pub fn tunnel(&mut self, tunnel: Tunnel, vni: Option<u32>) -> Gened<BlockId> {
        let b0 = self.tunnel4(tunnel, vni)?;
        let b1 = self.tunnel6(tunnel, vni)?;
        let b1 = self.g.or(b0, b1);
        let b0 = b1;
        let mut s = match tunnel {
            Tunnel::Geneve => self.geneve_offsets()?,
            Tunnel::Vxlan => self.vxlan_offsets()?,
        };
        let b1 = self.true_();
        let block = self.g.get_mut(b1);
        s.append(&mut block.stmts);
        block.stmts = s;
        let b1 = self.g.and(b0, b1);
        self.is_encap = true;
        Ok(b1)
    }

    // ---- the prologue for variable-length headers ----

    /// Prepends to block `b` the code that computes variable offsets.
    pub fn insert_compute_vloffsets(&mut self, b: BlockId) -> Gened<()> {
        use LinkType::*;
        if self.off_linkpl.reg.is_some()
            && self.off_linkhdr.variable
            && self.off_linkhdr.reg.is_none()
        {
            self.off_linkhdr.reg = Some(self.alloc_reg()?);
        }
        if self.outermostlinktype == PRISM_HEADER {
            self.g.keep_unoptimized();
        }
        let hdr_reg = self.off_linkhdr.reg;
        let mut s: Option<Vec<Insn>> = match (self.outermostlinktype, hdr_reg) {
            (PRISM_HEADER, Some(r)) => Some(vec![
                stmt(op::LD | op::W | op::ABS, 0),
                stmt(op::ALU | op::AND | op::K, 0xfffff000),
                Insn::new(op::JMP | op::JEQ | op::K, 0, 2, 0x80211000),
                stmt(op::LD | op::W | op::ABS, 4),
                stmt(op::JMP | op::JA, 1),
                stmt(op::LD | op::W | op::IMM, 144),
                stmt(op::ST, r),
                stmt(op::MISC | op::TAX, 0),
            ]),
            (IEEE802_11_RADIO_AVS, Some(r)) => Some(vec![
                stmt(op::LD | op::W | op::ABS, 4),
                stmt(op::ST, r),
                stmt(op::MISC | op::TAX, 0),
            ]),
            (IEEE802_11_RADIO | PPI, Some(r)) => Some(vec![
                stmt(op::LD | op::B | op::ABS, 3),
                stmt(op::ALU | op::LSH | op::K, 8),
                stmt(op::MISC | op::TAX, 0),
                stmt(op::LD | op::B | op::ABS, 2),
                stmt(op::ALU | op::OR | op::X, 0),
                stmt(op::ST, r),
                stmt(op::MISC | op::TAX, 0),
            ]),
            _ => None,
        };
        match self.outermostlinktype {
            IEEE802_11 | PRISM_HEADER | IEEE802_11_RADIO_AVS | IEEE802_11_RADIO | PPI => {
                s = self.wlan_header_len(s)?;
            }
            PFLOG => {
                s = self.off_linkpl.reg.map(|r| {
                    vec![
                        stmt(op::LD | op::B | op::ABS, 0),
                        stmt(op::ALU | op::ADD | op::K, 3),
                        stmt(op::ALU | op::AND | op::K, 0xfffffffc),
                        stmt(op::ST, r),
                        stmt(op::MISC | op::TAX, 0),
                    ]
                });
            }
            _ => {}
        }
        if s.is_none() && self.is_vlan_vloffset {
            if self.off_linkpl.reg.is_none() {
                self.off_linkpl.reg = Some(self.alloc_reg()?);
            }
            if self.off_linktype.reg.is_none() {
                self.off_linktype.reg = Some(self.alloc_reg()?);
            }
            s = Some(vec![
                stmt(op::LD | op::W | op::IMM, 0),
                stmt(op::ST, self.off_linkpl.reg.unwrap_or(0)),
                stmt(op::ST, self.off_linktype.reg.unwrap_or(0)),
            ]);
        }
        if let Some(mut s) = s {
            let block = self.g.get_mut(b);
            s.append(&mut block.stmts);
            block.stmts = s;
        }
        Ok(())
    }

    /// The length of the 802.11 header (data frames with QoS have 2 more
    /// bytes; radiotap may add padding), into the payload register.
    fn wlan_header_len(&mut self, s: Option<Vec<Insn>>) -> Gened<Option<Vec<Insn>>> {
        let Some(pl) = self.off_linkpl.reg else {
            return Ok(s);
        };
        self.g.keep_unoptimized();
        let mut s =
            s.unwrap_or_else(|| vec![stmt(op::LDX | op::IMM, self.off_outermostlinkhdr.k())]);
        s.push(stmt(op::MISC | op::TXA, 0));
        s.push(stmt(op::ALU | op::ADD | op::K, 24));
        s.push(stmt(op::ST, pl));
        s.push(stmt(op::LD | op::IND | op::B, 0));
        let radiotap = self.linktype == LinkType::IEEE802_11_RADIO;
        // Relative jump distances below count statements to skip; "end"
        // is the first statement after this prologue.
        if radiotap {
            // jset #0x8 (data?) jt next, jf end(+17)
            s.push(Insn::new(op::JMP | op::JSET | op::K, 0, 17, 0x08));
            // jset #0x4 (ctl?) jt end(+16), jf next
            s.push(Insn::new(op::JMP | op::JSET | op::K, 16, 0, 0x04));
            // jset #0x80 (qos?) jt next, jf radiotap flags check (+3)
            s.push(Insn::new(op::JMP | op::JSET | op::K, 0, 3, 0x80));
            s.push(stmt(op::LD | op::MEM, pl));
            s.push(stmt(op::ALU | op::ADD | op::K, 2));
            s.push(stmt(op::ST, pl));
            s.push(stmt(op::LD | op::ABS | op::W, 4));
            s.push(Insn::new(op::JMP | op::JSET | op::K, 0, 10, 0x0200_0000));
            s.push(Insn::new(op::JMP | op::JSET | op::K, 9, 0, 0x0000_0080));
            s.push(Insn::new(op::JMP | op::JSET | op::K, 0, 2, 0x0100_0000));
            s.push(stmt(op::LD | op::ABS | op::B, 16));
            s.push(Insn::new(op::JMP | op::JSET | op::K, 2, 6, 0x20));
            s.push(stmt(op::LD | op::ABS | op::B, 8));
            s.push(Insn::new(op::JMP | op::JSET | op::K, 0, 4, 0x20));
            s.push(stmt(op::LD | op::MEM, pl));
            s.push(stmt(op::ALU | op::ADD | op::K, 3));
            s.push(stmt(op::ALU | op::AND | op::K, !3u32));
            s.push(stmt(op::ST, pl));
        } else {
            s.push(Insn::new(op::JMP | op::JSET | op::K, 0, 5, 0x08));
            s.push(Insn::new(op::JMP | op::JSET | op::K, 4, 0, 0x04));
            s.push(Insn::new(op::JMP | op::JSET | op::K, 0, 3, 0x80));
            s.push(stmt(op::LD | op::MEM, pl));
            s.push(stmt(op::ALU | op::ADD | op::K, 2));
            s.push(stmt(op::ST, pl));
        }
        Ok(Some(s))
    }
}

/// UDP-encapsulated tunnels whose payload later tests look into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tunnel {
    Geneve,
    Vxlan,
}

impl Tunnel {
    fn port(self) -> u16 {
        match self {
            Tunnel::Geneve => 6081,
            Tunnel::Vxlan => 4789,
        }
    }
}
