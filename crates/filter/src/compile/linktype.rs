//! Link-layer header types (libpcap's `DLT_` values) and where, in a packet
//! of each, the filter compiler finds the fields it tests.
//!
//! [`LinkType`] names the types; [`Layout::of`] says, per type, where the
//! link-layer type field is, where the link-layer payload starts, and how far
//! into that payload the network header lies with and without an 802.2 SNAP
//! header (libpcap's `init_linktype`). Types whose header length varies per
//! packet (802.11 with radio headers, PFLOG) mark those offsets variable: the
//! code generator then loads them from scratch memory at run time.
//!
//! Supported: every type named by [`LinkType::ALL`]. Types that are not in
//! the table are rejected by name with [`CompileError::UnknownLinkType`].
//!
//! [`CompileError::UnknownLinkType`]: crate::CompileError::UnknownLinkType

/// A link-layer header type, by libpcap's name (`EN10MB` for `DLT_EN10MB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)] // The names are libpcap's, so users find them.
pub enum LinkType {
    NULL,
    EN10MB,
    IEEE802,
    ARCNET,
    SLIP,
    PPP,
    FDDI,
    ATM_RFC1483,
    RAW,
    SLIP_BSDOS,
    PPP_BSDOS,
    ATM_CLIP,
    PPP_SERIAL,
    PPP_ETHER,
    SYMANTEC_FIREWALL,
    C_HDLC,
    IEEE802_11,
    FRELAY,
    LOOP,
    ENC,
    LINUX_SLL,
    LTALK,
    PFLOG,
    PRISM_HEADER,
    IP_OVER_FC,
    SUNATM,
    IEEE802_11_RADIO,
    ARCNET_LINUX,
    APPLE_IP_OVER_IEEE1394,
    MTP2_WITH_PHDR,
    MTP2,
    IEEE802_11_RADIO_AVS,
    BACNET_MS_TP,
    PPP_PPPD,
    JUNIPER_MFR,
    PPI,
    IPNET,
    IPV4,
    IPV6,
    NETANALYZER,
    NETANALYZER_TRANSPARENT,
    LINUX_SLL2,
    DSA_TAG_BRCM,
    DSA_TAG_DSA,
}

impl LinkType {
    /// Every supported type, with its name and `DLT_` number.
    pub const ALL: [(LinkType, &'static str, u32); 44] = [
        (LinkType::NULL, "NULL", 0),
        (LinkType::EN10MB, "EN10MB", 1),
        (LinkType::IEEE802, "IEEE802", 6),
        (LinkType::ARCNET, "ARCNET", 7),
        (LinkType::SLIP, "SLIP", 8),
        (LinkType::PPP, "PPP", 9),
        (LinkType::FDDI, "FDDI", 10),
        (LinkType::ATM_RFC1483, "ATM_RFC1483", 11),
        (LinkType::RAW, "RAW", 12),
        (LinkType::SLIP_BSDOS, "SLIP_BSDOS", 15),
        (LinkType::PPP_BSDOS, "PPP_BSDOS", 16),
        (LinkType::ATM_CLIP, "ATM_CLIP", 19),
        (LinkType::PPP_SERIAL, "PPP_SERIAL", 50),
        (LinkType::PPP_ETHER, "PPP_ETHER", 51),
        (LinkType::SYMANTEC_FIREWALL, "SYMANTEC_FIREWALL", 99),
        (LinkType::C_HDLC, "C_HDLC", 104),
        (LinkType::IEEE802_11, "IEEE802_11", 105),
        (LinkType::FRELAY, "FRELAY", 107),
        (LinkType::LOOP, "LOOP", 108),
        (LinkType::ENC, "ENC", 109),
        (LinkType::LINUX_SLL, "LINUX_SLL", 113),
        (LinkType::LTALK, "LTALK", 114),
        (LinkType::PFLOG, "PFLOG", 117),
        (LinkType::PRISM_HEADER, "PRISM_HEADER", 119),
        (LinkType::IP_OVER_FC, "IP_OVER_FC", 122),
        (LinkType::SUNATM, "SUNATM", 123),
        (LinkType::IEEE802_11_RADIO, "IEEE802_11_RADIO", 127),
        (LinkType::ARCNET_LINUX, "ARCNET_LINUX", 129),
        (
            LinkType::APPLE_IP_OVER_IEEE1394,
            "APPLE_IP_OVER_IEEE1394",
            138,
        ),
        (LinkType::MTP2_WITH_PHDR, "MTP2_WITH_PHDR", 139),
        (LinkType::MTP2, "MTP2", 140),
        (LinkType::IEEE802_11_RADIO_AVS, "IEEE802_11_RADIO_AVS", 163),
        (LinkType::BACNET_MS_TP, "BACNET_MS_TP", 165),
        (LinkType::PPP_PPPD, "PPP_PPPD", 166),
        (LinkType::JUNIPER_MFR, "JUNIPER_MFR", 167),
        (LinkType::PPI, "PPI", 192),
        (LinkType::IPNET, "IPNET", 226),
        (LinkType::IPV4, "IPV4", 228),
        (LinkType::IPV6, "IPV6", 229),
        (LinkType::NETANALYZER, "NETANALYZER", 240),
        (
            LinkType::NETANALYZER_TRANSPARENT,
            "NETANALYZER_TRANSPARENT",
            241,
        ),
        (LinkType::LINUX_SLL2, "LINUX_SLL2", 276),
        (LinkType::DSA_TAG_BRCM, "DSA_TAG_BRCM", 281),
        (LinkType::DSA_TAG_DSA, "DSA_TAG_DSA", 284),
    ];

    /// The type called `name` (`EN10MB`, or `DLT_EN10MB`; any case).
    pub fn from_name(name: &str) -> Option<LinkType> {
        let name = match name.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("DLT_") => &name[4..],
            _ => name,
        };
        LinkType::ALL
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(t, _, _)| t)
    }

    /// The type whose `DLT_` (or `LINKTYPE_`) number is `dlt`.
    pub fn from_dlt(dlt: u32) -> Option<LinkType> {
        // LINKTYPE_ numbers that differ from the DLT_ ones.
        let dlt = match dlt {
            101 => 12,
            _ => dlt,
        };
        LinkType::ALL
            .iter()
            .find(|&&(_, _, n)| n == dlt)
            .map(|&(t, _, _)| t)
    }

    /// libpcap's name, without `DLT_`.
    pub fn name(self) -> &'static str {
        LinkType::ALL
            .iter()
            .find(|(t, _, _)| *t == self)
            .map_or("?", |(_, n, _)| n)
    }

    /// The `DLT_` number.
    pub fn dlt(self) -> u32 {
        LinkType::ALL
            .iter()
            .find(|(t, _, _)| *t == self)
            .map_or(0, |(_, _, n)| *n)
    }

    /// Whether addresses are 48-bit MAC addresses (`ether host` works).
    pub fn has_mac48(self) -> bool {
        use LinkType::*;
        matches!(
            self,
            EN10MB
                | DSA_TAG_BRCM
                | DSA_TAG_DSA
                | FDDI
                | IEEE802
                | IEEE802_11
                | IEEE802_11_RADIO
                | IEEE802_11_RADIO_AVS
                | IP_OVER_FC
                | NETANALYZER
                | NETANALYZER_TRANSPARENT
                | PPI
                | PRISM_HEADER
        )
    }

    /// 802.11, bare or behind a radio header.
    pub fn is_wlan(self) -> bool {
        use LinkType::*;
        matches!(
            self,
            IEEE802_11 | PRISM_HEADER | IEEE802_11_RADIO_AVS | IEEE802_11_RADIO | PPI
        )
    }

    /// Ethernet, bare or behind a fixed pseudo-header.
    pub fn is_ethernet(self) -> bool {
        matches!(
            self,
            LinkType::EN10MB | LinkType::NETANALYZER | LinkType::NETANALYZER_TRANSPARENT
        )
    }
}

impl core::fmt::Display for LinkType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DLT_{}", self.name())
    }
}

/// The 4-byte pseudo-header of SunATM captures (libpcap's `sunatmpos.h`),
/// before the AAL5 payload.
pub mod sunatm {
    /// The flags byte: direction in the top bit, the traffic type (LANE,
    /// LLC, ...) in the low four.
    pub const TYPE_POS: u32 = 0;
    pub const TYPE_MASK: u32 = 0x0f;
    pub const VPI_POS: u32 = 1;
    /// Two bytes.
    pub const VCI_POS: u32 = 2;
    pub const PKT_BEGIN_POS: u32 = 4;
    /// Traffic types in the low nibble of the flags byte.
    pub const PT_LANE: u32 = 0x01;
    pub const PT_LLC: u32 = 0x02;
}

/// An offset from the start of the packet: a constant, plus, if
/// `variable`, a value computed at run time into a scratch register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbsOffset {
    pub variable: bool,
    /// `None` when absent: the layer does not exist for this link type.
    pub constant: Option<u32>,
    /// The scratch register holding the variable part, once allocated.
    pub reg: Option<u32>,
}

impl AbsOffset {
    pub const fn fixed(constant: u32) -> AbsOffset {
        AbsOffset {
            variable: false,
            constant: Some(constant),
            reg: None,
        }
    }

    pub const NONE: AbsOffset = AbsOffset {
        variable: false,
        constant: None,
        reg: None,
    };

    pub const fn variable(constant: u32) -> AbsOffset {
        AbsOffset {
            variable: true,
            constant: Some(constant),
            reg: None,
        }
    }

    /// The constant part, 0 when the layer is absent (libpcap's arithmetic
    /// on `OFFSET_NOT_SET` is never reached for absent layers).
    pub fn k(&self) -> u32 {
        self.constant.unwrap_or(0)
    }
}

/// Where a link type puts the fields the compiler tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Start of the link-layer header (after any fixed pseudo-header).
    pub linkhdr: AbsOffset,
    /// The link-layer type field (or the LLC header, for 802 LANs).
    pub linktype: AbsOffset,
    /// Start of the link-layer payload.
    pub linkpl: AbsOffset,
    /// Network header, relative to the payload, after LLC+SNAP (or none).
    pub nl: u32,
    /// Network header, relative to the payload, after a plain 802.2 LLC.
    pub nl_nosnap: u32,
}

impl Layout {
    /// libpcap's `init_linktype` for `link`.
    pub fn of(link: LinkType) -> Layout {
        use LinkType::*;
        let plain = |linktype: Option<u32>, linkpl: u32| Layout {
            linkhdr: AbsOffset::fixed(0),
            linktype: linktype.map_or(AbsOffset::NONE, AbsOffset::fixed),
            linkpl: AbsOffset::fixed(linkpl),
            nl: 0,
            nl_nosnap: 0,
        };
        let llc = |linktype: u32, linkpl: u32| Layout {
            nl: 8,
            nl_nosnap: 3,
            ..plain(Some(linktype), linkpl)
        };
        match link {
            ARCNET => plain(Some(2), 6),
            ARCNET_LINUX => plain(Some(4), 8),
            EN10MB => Layout {
                nl_nosnap: 3,
                ..plain(Some(12), 14)
            },
            // Ethernet with a 4-byte switch tag between the source address
            // and the type (Broadcom, Marvell DSA).
            DSA_TAG_BRCM | DSA_TAG_DSA => Layout {
                nl_nosnap: 3,
                ..plain(Some(16), 18)
            },
            SLIP => plain(None, 16),
            SLIP_BSDOS => plain(None, 24),
            NULL | LOOP => plain(Some(0), 4),
            ENC => plain(Some(0), 12),
            PPP | PPP_PPPD | C_HDLC | PPP_SERIAL => plain(Some(2), 4),
            PPP_ETHER => plain(Some(6), 8),
            PPP_BSDOS => plain(Some(5), 24),
            FDDI => llc(13, 13),
            IEEE802 => llc(14, 14),
            IEEE802_11 => Layout {
                linkpl: AbsOffset::variable(0),
                ..llc(24, 0)
            },
            PRISM_HEADER | IEEE802_11_RADIO_AVS | IEEE802_11_RADIO | PPI => Layout {
                linkhdr: AbsOffset::variable(0),
                linkpl: AbsOffset::variable(0),
                ..llc(24, 0)
            },
            ATM_RFC1483 | ATM_CLIP => llc(0, 0),
            SUNATM => llc(sunatm::PKT_BEGIN_POS, sunatm::PKT_BEGIN_POS),
            RAW | IPV4 | IPV6 | LTALK | FRELAY => plain(None, 0),
            LINUX_SLL => plain(Some(14), 16),
            LINUX_SLL2 => plain(Some(0), 20),
            IP_OVER_FC => llc(16, 16),
            APPLE_IP_OVER_IEEE1394 => plain(Some(16), 18),
            SYMANTEC_FIREWALL => plain(Some(6), 44),
            PFLOG => Layout {
                linkpl: AbsOffset::variable(0),
                ..plain(Some(0), 0)
            },
            JUNIPER_MFR => plain(Some(4), 4),
            MTP2 | MTP2_WITH_PHDR | BACNET_MS_TP => Layout {
                linkhdr: AbsOffset::fixed(0),
                linktype: AbsOffset::NONE,
                linkpl: AbsOffset::NONE,
                nl: 0,
                nl_nosnap: 0,
            },
            IPNET => plain(Some(1), 24),
            NETANALYZER => Layout {
                linkhdr: AbsOffset::fixed(4),
                nl_nosnap: 3,
                ..plain(Some(16), 18)
            },
            NETANALYZER_TRANSPARENT => Layout {
                linkhdr: AbsOffset::fixed(12),
                nl_nosnap: 3,
                ..plain(Some(24), 26)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for (link, name, dlt) in LinkType::ALL {
            assert_eq!(LinkType::from_name(name), Some(link));
            assert_eq!(LinkType::from_dlt(dlt), Some(link));
            assert_eq!(link.name(), name);
        }
        assert_eq!(LinkType::from_name("dlt_en10mb"), Some(LinkType::EN10MB));
        assert_eq!(LinkType::from_name("NOPE"), None);
    }

    #[test]
    fn ethernet_payload_follows_the_type_field() {
        let en = Layout::of(LinkType::EN10MB);
        assert_eq!(en.linktype.constant, Some(12));
        assert_eq!(en.linkpl.constant, Some(14));
        assert_eq!(Layout::of(LinkType::RAW).linktype, AbsOffset::NONE);
    }
}
