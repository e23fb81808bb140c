//! The syntax tree of a filter expression.
//!
//! The parser resolves qualifier inheritance (`host a or b` means
//! `host a or host b`), so every [`Primitive::Id`] carries the full
//! [`Qual`] it was written or inherited with. Code generation walks the tree
//! in order, left to right, as libpcap's parser actions run.

use super::lex::Span;

/// A boolean expression over primitives.
///
/// `and` and `or` share one precedence and group to the left, so a run of
/// them is kept flat, as a [`Expr::Chain`]: deep trees only come from
/// parentheses and `not`, which the parser bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// `first join e1 join e2 ...`, evaluated left to right.
    Chain(Box<Expr>, Vec<(Join, Expr)>),
    Not(Box<Expr>),
    Prim(Primitive, Span),
}

/// How a [`Expr::Chain`] joins the next operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Join {
    And,
    Or,
}

/// Protocol qualifiers (`ip`, `tcp`, `link`, ...): libpcap's `Q_*` protos.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    Default,
    Link,
    Ip,
    Arp,
    Rarp,
    Sctp,
    Tcp,
    Udp,
    Icmp,
    Igmp,
    Igrp,
    Atalk,
    Decnet,
    Lat,
    Sca,
    Moprc,
    Mopdl,
    Ip6,
    Icmp6,
    Ah,
    Esp,
    Pim,
    Vrrp,
    Aarp,
    Iso,
    Esis,
    Isis,
    Clnp,
    Stp,
    Ipx,
    Netbeui,
    IsisL1,
    IsisL2,
    IsisIih,
    IsisSnp,
    IsisCsnp,
    IsisPsnp,
    IsisLsp,
    Radio,
    Carp,
}

impl Proto {
    /// The keyword as written.
    pub fn keyword(self) -> &'static str {
        use Proto::*;
        match self {
            Default => "",
            Link => "link",
            Ip => "ip",
            Arp => "arp",
            Rarp => "rarp",
            Sctp => "sctp",
            Tcp => "tcp",
            Udp => "udp",
            Icmp => "icmp",
            Igmp => "igmp",
            Igrp => "igrp",
            Atalk => "atalk",
            Decnet => "decnet",
            Lat => "lat",
            Sca => "sca",
            Moprc => "moprc",
            Mopdl => "mopdl",
            Ip6 => "ip6",
            Icmp6 => "icmp6",
            Ah => "ah",
            Esp => "esp",
            Pim => "pim",
            Vrrp => "vrrp",
            Aarp => "aarp",
            Iso => "iso",
            Esis => "esis",
            Isis => "isis",
            Clnp => "clnp",
            Stp => "stp",
            Ipx => "ipx",
            Netbeui => "netbeui",
            IsisL1 => "l1",
            IsisL2 => "l2",
            IsisIih => "iih",
            IsisSnp => "snp",
            IsisCsnp => "csnp",
            IsisPsnp => "psnp",
            IsisLsp => "lsp",
            Radio => "radio",
            Carp => "carp",
        }
    }
}

/// Direction qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    Default,
    Src,
    Dst,
    /// `src or dst`
    Or,
    /// `src and dst`
    And,
    Addr1,
    Addr2,
    Addr3,
    Addr4,
    Ra,
    Ta,
}

impl Dir {
    pub fn keyword(self) -> &'static str {
        match self {
            Dir::Default => "",
            Dir::Src => "src",
            Dir::Dst => "dst",
            Dir::Or => "src or dst",
            Dir::And => "src and dst",
            Dir::Addr1 => "addr1",
            Dir::Addr2 => "addr2",
            Dir::Addr3 => "addr3",
            Dir::Addr4 => "addr4",
            Dir::Ra => "ra",
            Dir::Ta => "ta",
        }
    }

    /// `ra`, `ta`, `addr1`..`addr4`: only 802.11 has these.
    pub fn is_wlan_only(self) -> bool {
        matches!(
            self,
            Dir::Addr1 | Dir::Addr2 | Dir::Addr3 | Dir::Addr4 | Dir::Ra | Dir::Ta
        )
    }
}

/// Address-type qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrKind {
    Default,
    Host,
    Net,
    Port,
    Portrange,
    Gateway,
    Proto,
    Protochain,
}

impl AddrKind {
    pub fn keyword(self) -> &'static str {
        match self {
            AddrKind::Default | AddrKind::Host => "host",
            AddrKind::Net => "net",
            AddrKind::Port => "port",
            AddrKind::Portrange => "portrange",
            AddrKind::Gateway => "gateway",
            AddrKind::Proto => "proto",
            AddrKind::Protochain => "protochain",
        }
    }
}

/// The qualifiers of an identifier. `None` in an inherited position means
/// there was nothing to inherit (`tcp and 80`): a syntax error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Qual {
    pub proto: Proto,
    pub dir: Dir,
    pub addr: AddrKind,
}

impl Qual {
    pub const DEFAULT: Qual = Qual {
        proto: Proto::Default,
        dir: Dir::Default,
        addr: AddrKind::Default,
    };
}

/// What follows the qualifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Id {
    /// A name: host, network, service, protocol.
    Name(String),
    /// A number.
    Num(u32),
    /// A dotted IPv4 address (`N.N` to `N.N.N.N`).
    Ipv4(String),
    /// `addr/len`
    Ipv4Prefix(String, u32),
    /// `addr mask mask`
    Ipv4Mask(String, String),
    Ipv6(String),
    Ipv6Prefix(String, u32),
    Mac48(String),
    Mac8(String),
}

/// Relational operators of `arth relop arth` (libpcap's jump and sense).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rel {
    Gt,
    Ge,
    Eq,
    Le,
    Lt,
    Ne,
}

/// Binary arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
    Lsh,
    Rsh,
}

/// An arithmetic expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arith {
    Num(u32),
    Len,
    /// `proto[index : size]`
    Load {
        proto: Proto,
        index: Box<Arith>,
        size: u32,
        span: Span,
    },
    Binary(ArithOp, Box<Arith>, Box<Arith>, Span),
    Neg(Box<Arith>),
}

/// `byte N op M`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOp {
    And,
    Or,
    Lt,
    Gt,
    Eq,
}

/// 802.2 LLC frame kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Llc {
    Any,
    I,
    S,
    U,
    SSubtype(u32),
    USubtype(u32),
}

/// ATM abbreviations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtmType {
    Lane,
    Metac,
    Bcc,
    Oamf4ec,
    Oamf4sc,
    Sc,
    Ilmic,
    Oam,
    Oamf4,
    Connectmsg,
    Metaconnect,
}

/// MTP2 message-type abbreviations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mtp2Type {
    Fisu,
    Lssu,
    Msu,
    Hfisu,
    Hlssu,
    Hmsu,
}

/// MTP3 fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mtp3Field {
    Sio,
    Opc,
    Dpc,
    Sls,
    Hsio,
    Hopc,
    Hdpc,
    Hsls,
}

impl Mtp3Field {
    pub fn keyword(self) -> &'static str {
        match self {
            Mtp3Field::Sio => "sio",
            Mtp3Field::Opc => "opc",
            Mtp3Field::Dpc => "dpc",
            Mtp3Field::Sls => "sls",
            Mtp3Field::Hsio => "hsio",
            Mtp3Field::Hopc => "hopc",
            Mtp3Field::Hdpc => "hdpc",
            Mtp3Field::Hsls => "hsls",
        }
    }
}

/// `vpi` or `vci`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtmField {
    Vpi,
    Vci,
}

/// One comparison of a field with a value (ATM, MTP3), by relational op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldTest {
    pub rel: Rel,
    pub value: u32,
}

/// A primitive: anything that is true or false of a packet by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Primitive {
    /// Qualifiers and an identifier: `src host 1.2.3.4`, `port 80`.
    Id(Qual, Id),
    /// An identifier whose qualifier would be inherited from a term that
    /// has none (`tcp and 80`).
    Orphan(Id),
    /// A protocol name alone: `tcp`, `ip6`, `l1`.
    Proto(Proto),
    Relation(Rel, Arith, Arith),
    Broadcast(Proto),
    Multicast(Proto),
    Less(u32),
    Greater(u32),
    Byte {
        index: u32,
        op: ByteOp,
        value: u32,
    },
    Inbound,
    Outbound,
    Ifindex(u32),
    Vlan(Option<u32>),
    Mpls(Option<u32>),
    Pppoed,
    Pppoes(Option<u32>),
    Geneve(Option<u32>),
    Vxlan(Option<u32>),
    PfIfname(String),
    PfRuleset(String),
    PfRnr(u32),
    PfSrnr(u32),
    PfReason(u32),
    PfAction(u32),
    /// `type T [subtype S]`, `subtype S`: value and mask of frame control.
    WlanType {
        value: u32,
        mask: u32,
    },
    WlanDir(u32),
    Llc(Llc),
    Atm(AtmType),
    /// `vpi 1`, `vci > 2`, `vpi (1 or 2)`.
    AtmField(AtmField, Vec<FieldTest>),
    Mtp2(Mtp2Type),
    Mtp3(Mtp3Field, Vec<FieldTest>),
}
