//! The tokens of the filter language (libpcap's `scanner.l`).
//!
//! Like flex, the lexer takes the longest match at each position, and on a
//! tie the earliest rule: keywords, then operators, `$XX` (MAC-8), MAC
//! addresses, numbers, dotted IPv4, IPv6, named constants (`tcp-syn`), and
//! finally names. Keywords are case-sensitive, as in libpcap. Every token
//! carries its [`Span`]; an error names the offending text and its position.

use super::CompileError;

/// Byte offsets `start..end` of a token in the expression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// Reserved words. Several spellings map to one keyword (`ether`, `link`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kw {
    Dst,
    Src,
    Link,
    Arp,
    Rarp,
    Ip,
    Sctp,
    Tcp,
    Udp,
    Icmp,
    Igmp,
    Igrp,
    Pim,
    Vrrp,
    Carp,
    Radio,
    Ip6,
    Icmp6,
    Ah,
    Esp,
    Atalk,
    Aarp,
    Decnet,
    Lat,
    Sca,
    Moprc,
    Mopdl,
    Iso,
    Esis,
    Isis,
    L1,
    L2,
    Iih,
    Lsp,
    Snp,
    Csnp,
    Psnp,
    Clnp,
    Stp,
    Ipx,
    Netbeui,
    Host,
    Net,
    Mask,
    Port,
    Portrange,
    Proto,
    Protochain,
    Gateway,
    Type,
    Subtype,
    Dir,
    Addr1,
    Addr2,
    Addr3,
    Addr4,
    Ra,
    Ta,
    Less,
    Greater,
    Byte,
    Broadcast,
    Multicast,
    And,
    Or,
    Not,
    Len,
    Inbound,
    Outbound,
    Ifindex,
    Vlan,
    Mpls,
    Pppoed,
    Pppoes,
    Geneve,
    Vxlan,
    Lane,
    Llc,
    Metac,
    Bcc,
    Oam,
    Oamf4,
    Oamf4ec,
    Oamf4sc,
    Sc,
    Ilmic,
    Vpi,
    Vci,
    Connectmsg,
    Metaconnect,
    PfIfname,
    PfRset,
    PfRnr,
    PfSrnr,
    PfReason,
    PfAction,
    Fisu,
    Lssu,
    Msu,
    Hfisu,
    Hlssu,
    Hmsu,
    Sio,
    Opc,
    Dpc,
    Sls,
    Hsio,
    Hopc,
    Hdpc,
    Hsls,
}

/// Spellings of the keywords.
const KEYWORDS: &[(&str, Kw)] = &[
    ("dst", Kw::Dst),
    ("src", Kw::Src),
    ("link", Kw::Link),
    ("ether", Kw::Link),
    ("ppp", Kw::Link),
    ("slip", Kw::Link),
    ("fddi", Kw::Link),
    ("tr", Kw::Link),
    ("wlan", Kw::Link),
    ("arp", Kw::Arp),
    ("rarp", Kw::Rarp),
    ("ip", Kw::Ip),
    ("sctp", Kw::Sctp),
    ("tcp", Kw::Tcp),
    ("udp", Kw::Udp),
    ("icmp", Kw::Icmp),
    ("igmp", Kw::Igmp),
    ("igrp", Kw::Igrp),
    ("pim", Kw::Pim),
    ("vrrp", Kw::Vrrp),
    ("carp", Kw::Carp),
    ("radio", Kw::Radio),
    ("ip6", Kw::Ip6),
    ("icmp6", Kw::Icmp6),
    ("ah", Kw::Ah),
    ("esp", Kw::Esp),
    ("atalk", Kw::Atalk),
    ("aarp", Kw::Aarp),
    ("decnet", Kw::Decnet),
    ("lat", Kw::Lat),
    ("sca", Kw::Sca),
    ("moprc", Kw::Moprc),
    ("mopdl", Kw::Mopdl),
    ("iso", Kw::Iso),
    ("esis", Kw::Esis),
    ("es-is", Kw::Esis),
    ("isis", Kw::Isis),
    ("is-is", Kw::Isis),
    ("l1", Kw::L1),
    ("l2", Kw::L2),
    ("iih", Kw::Iih),
    ("lsp", Kw::Lsp),
    ("snp", Kw::Snp),
    ("csnp", Kw::Csnp),
    ("psnp", Kw::Psnp),
    ("clnp", Kw::Clnp),
    ("stp", Kw::Stp),
    ("ipx", Kw::Ipx),
    ("netbeui", Kw::Netbeui),
    ("host", Kw::Host),
    ("net", Kw::Net),
    ("mask", Kw::Mask),
    ("port", Kw::Port),
    ("portrange", Kw::Portrange),
    ("proto", Kw::Proto),
    ("protochain", Kw::Protochain),
    ("gateway", Kw::Gateway),
    ("type", Kw::Type),
    ("subtype", Kw::Subtype),
    ("direction", Kw::Dir),
    ("dir", Kw::Dir),
    ("address1", Kw::Addr1),
    ("addr1", Kw::Addr1),
    ("address2", Kw::Addr2),
    ("addr2", Kw::Addr2),
    ("address3", Kw::Addr3),
    ("addr3", Kw::Addr3),
    ("address4", Kw::Addr4),
    ("addr4", Kw::Addr4),
    ("ra", Kw::Ra),
    ("ta", Kw::Ta),
    ("less", Kw::Less),
    ("greater", Kw::Greater),
    ("byte", Kw::Byte),
    ("broadcast", Kw::Broadcast),
    ("multicast", Kw::Multicast),
    ("and", Kw::And),
    ("or", Kw::Or),
    ("not", Kw::Not),
    ("len", Kw::Len),
    ("length", Kw::Len),
    ("inbound", Kw::Inbound),
    ("outbound", Kw::Outbound),
    ("ifindex", Kw::Ifindex),
    ("vlan", Kw::Vlan),
    ("mpls", Kw::Mpls),
    ("pppoed", Kw::Pppoed),
    ("pppoes", Kw::Pppoes),
    ("geneve", Kw::Geneve),
    ("vxlan", Kw::Vxlan),
    ("lane", Kw::Lane),
    ("llc", Kw::Llc),
    ("metac", Kw::Metac),
    ("bcc", Kw::Bcc),
    ("oam", Kw::Oam),
    ("oamf4", Kw::Oamf4),
    ("oamf4ec", Kw::Oamf4ec),
    ("oamf4sc", Kw::Oamf4sc),
    ("sc", Kw::Sc),
    ("ilmic", Kw::Ilmic),
    ("vpi", Kw::Vpi),
    ("vci", Kw::Vci),
    ("connectmsg", Kw::Connectmsg),
    ("metaconnect", Kw::Metaconnect),
    ("on", Kw::PfIfname),
    ("ifname", Kw::PfIfname),
    ("rset", Kw::PfRset),
    ("ruleset", Kw::PfRset),
    ("rnr", Kw::PfRnr),
    ("rulenum", Kw::PfRnr),
    ("srnr", Kw::PfSrnr),
    ("subrulenum", Kw::PfSrnr),
    ("reason", Kw::PfReason),
    ("action", Kw::PfAction),
    ("fisu", Kw::Fisu),
    ("lssu", Kw::Lssu),
    ("lsu", Kw::Lssu),
    ("msu", Kw::Msu),
    ("hfisu", Kw::Hfisu),
    ("hlssu", Kw::Hlssu),
    ("hmsu", Kw::Hmsu),
    ("sio", Kw::Sio),
    ("opc", Kw::Opc),
    ("dpc", Kw::Dpc),
    ("sls", Kw::Sls),
    ("hsio", Kw::Hsio),
    ("hopc", Kw::Hopc),
    ("hdpc", Kw::Hdpc),
    ("hsls", Kw::Hsls),
];

/// Names that stand for numbers (`tcp[tcpflags] & tcp-syn`).
const CONSTANTS: &[(&str, u32)] = &[
    ("icmptype", 0),
    ("icmpcode", 1),
    ("icmp-echoreply", 0),
    ("icmp-unreach", 3),
    ("icmp-sourcequench", 4),
    ("icmp-redirect", 5),
    ("icmp-echo", 8),
    ("icmp-routeradvert", 9),
    ("icmp-routersolicit", 10),
    ("icmp-timxceed", 11),
    ("icmp-paramprob", 12),
    ("icmp-tstamp", 13),
    ("icmp-tstampreply", 14),
    ("icmp-ireq", 15),
    ("icmp-ireqreply", 16),
    ("icmp-maskreq", 17),
    ("icmp-maskreply", 18),
    ("icmp6type", 0),
    ("icmp6code", 1),
    ("icmp6-destinationunreach", 1),
    ("icmp6-packettoobig", 2),
    ("icmp6-timeexceeded", 3),
    ("icmp6-parameterproblem", 4),
    ("icmp6-echo", 128),
    ("icmp6-echoreply", 129),
    ("icmp6-multicastlistenerquery", 130),
    ("icmp6-multicastlistenerreportv1", 131),
    ("icmp6-multicastlistenerdone", 132),
    ("icmp6-routersolicit", 133),
    ("icmp6-routeradvert", 134),
    ("icmp6-neighborsolicit", 135),
    ("icmp6-neighboradvert", 136),
    ("icmp6-redirect", 137),
    ("icmp6-routerrenum", 138),
    ("icmp6-nodeinformationquery", 139),
    ("icmp6-nodeinformationresponse", 140),
    ("icmp6-ineighbordiscoverysolicit", 141),
    ("icmp6-ineighbordiscoveryadvert", 142),
    ("icmp6-multicastlistenerreportv2", 143),
    ("icmp6-homeagentdiscoveryrequest", 144),
    ("icmp6-homeagentdiscoveryreply", 145),
    ("icmp6-mobileprefixsolicit", 146),
    ("icmp6-mobileprefixadvert", 147),
    ("icmp6-certpathsolicit", 148),
    ("icmp6-certpathadvert", 149),
    ("icmp6-multicastrouteradvert", 151),
    ("icmp6-multicastroutersolicit", 152),
    ("icmp6-multicastrouterterm", 153),
    ("tcpflags", 13),
    ("tcp-fin", 0x01),
    ("tcp-syn", 0x02),
    ("tcp-rst", 0x04),
    ("tcp-push", 0x08),
    ("tcp-ack", 0x10),
    ("tcp-urg", 0x20),
    ("tcp-ece", 0x40),
    ("tcp-cwr", 0x80),
];

/// Operators and punctuation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Punct {
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Colon,
    LBracket,
    RBracket,
    Bang,
    Lt,
    Gt,
    LParen,
    RParen,
    Amp,
    Pipe,
    Caret,
    Eq,
    Geq,
    Leq,
    Neq,
    Lsh,
    Rsh,
}

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Kw(Kw),
    Punct(Punct),
    /// A number, or a named constant.
    Num(u32),
    /// A name (host, service, protocol, ...), backslash removed.
    Id(String),
    /// A dotted IPv4 address or prefix: `N.N`, `N.N.N`, `N.N.N.N`.
    Hid(String),
    /// An IPv6 address.
    Hid6(String),
    /// A MAC-48 address.
    Eid(String),
    /// A MAC-8 address: `$XX`.
    Aid(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// The tokens of `text`, or the first lexical error.
pub fn tokenize(text: &str) -> Result<Vec<Token>, CompileError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let c = bytes[pos];
        if matches!(c, b' ' | b'\r' | b'\n' | b'\t') {
            pos += 1;
            continue;
        }
        let (len, kind) = next_token(&text[pos..])?.ok_or_else(|| {
            CompileError::syntax(
                Span {
                    start: pos,
                    end: pos + 1,
                },
                text,
            )
        })?;
        let span = Span {
            start: pos,
            end: pos + len,
        };
        let kind = kind.map_err(|message| CompileError::Lex { span, message })?;
        tokens.push(Token { kind, span });
        pos += len;
    }
    Ok(tokens)
}

type Lexed = Result<TokenKind, String>;

/// The longest token at the start of `s` (not whitespace), with its length.
fn next_token(s: &str) -> Result<Option<(usize, Lexed)>, CompileError> {
    let b = s.as_bytes();
    // Candidates in rule order; the longest wins, the first on a tie.
    let mut best: Option<(usize, Lexed)> = None;
    let mut offer = |len: usize, make: &dyn Fn() -> Lexed| {
        if len > 0 && best.as_ref().is_none_or(|(l, _)| len > *l) {
            best = Some((len, make()));
        }
    };
    let word = id_len(b);
    for &(spelling, kw) in KEYWORDS {
        if s.starts_with(spelling) {
            offer(spelling.len(), &|| Ok(TokenKind::Kw(kw)));
        }
    }
    if let Some(p) = punct(b) {
        offer(p.0, &|| Ok(TokenKind::Punct(p.1)));
    }
    if b.len() >= 2 && b[..2] == *b"&&" {
        offer(2, &|| Ok(TokenKind::Kw(Kw::And)));
    }
    if b.len() >= 2 && b[..2] == *b"||" {
        offer(2, &|| Ok(TokenKind::Kw(Kw::Or)));
    }
    if b[0] == b'$' {
        let n = hex_run(&b[1..]).min(2);
        if n > 0 {
            offer(1 + n, &|| Ok(TokenKind::Aid(s[..1 + n].to_owned())));
        }
    }
    let mac = mac_len(b);
    offer(mac, &|| Ok(TokenKind::Eid(s[..mac].to_owned())));
    let num = num_len(b);
    offer(num, &|| number(&s[..num]).map(TokenKind::Num));
    let hid = hid_len(b);
    offer(hid, &|| Ok(TokenKind::Hid(s[..hid].to_owned())));
    let v6 = v6_len(s);
    offer(v6, &|| {
        let text = &s[..v6];
        match text.parse::<std::net::Ipv6Addr>() {
            Ok(_) => Ok(TokenKind::Hid6(text.to_owned())),
            Err(_) => Err(format!("bogus IPv6 address {text}")),
        }
    });
    let bogus = bogus_mac_len(b);
    offer(bogus, &|| {
        Err(format!("bogus ethernet address {}", &s[..bogus]))
    });
    for &(spelling, value) in CONSTANTS {
        if s.starts_with(spelling) {
            offer(spelling.len(), &|| Ok(TokenKind::Num(value)));
        }
    }
    offer(word, &|| Ok(TokenKind::Id(s[..word].to_owned())));
    if b[0] == b'\\' {
        let n = b[1..]
            .iter()
            .take_while(|c| !matches!(c, b' ' | b'!' | b'(' | b')' | b'\n' | b'\t'))
            .count();
        if n > 0 {
            offer(1 + n, &|| Ok(TokenKind::Id(s[1..1 + n].to_owned())));
        }
    }
    Ok(best)
}

fn punct(b: &[u8]) -> Option<(usize, Punct)> {
    let two = match b.get(..2) {
        Some(b">=") => Some(Punct::Geq),
        Some(b"<=") => Some(Punct::Leq),
        Some(b"!=") => Some(Punct::Neq),
        Some(b"==") => Some(Punct::Eq),
        Some(b"<<") => Some(Punct::Lsh),
        Some(b">>") => Some(Punct::Rsh),
        _ => None,
    };
    if let Some(p) = two {
        return Some((2, p));
    }
    let p = match b[0] {
        b'+' => Punct::Plus,
        b'-' => Punct::Minus,
        b'*' => Punct::Star,
        b'/' => Punct::Slash,
        b'%' => Punct::Percent,
        b':' => Punct::Colon,
        b'[' => Punct::LBracket,
        b']' => Punct::RBracket,
        b'!' => Punct::Bang,
        b'<' => Punct::Lt,
        b'>' => Punct::Gt,
        b'(' => Punct::LParen,
        b')' => Punct::RParen,
        b'&' => Punct::Amp,
        b'|' => Punct::Pipe,
        b'^' => Punct::Caret,
        b'=' => Punct::Eq,
        _ => return None,
    };
    Some((1, p))
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

/// `[A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?`
fn id_len(b: &[u8]) -> usize {
    if b.is_empty() || !is_word(b[0]) {
        return 0;
    }
    let run = 1 + b[1..]
        .iter()
        .take_while(|&&c| is_word(c) || matches!(c, b'-' | b'_' | b'.'))
        .count();
    // Back off to the last character that may end a name.
    (1..=run)
        .rev()
        .find(|&n| n == 1 || is_word(b[n - 1]) || b[n - 1] == b'.')
        .unwrap_or(1)
}

fn hex_run(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_hexdigit()).count()
}

fn dec_run(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// `[0-9]+|0[xX][0-9A-Fa-f]+`
fn num_len(b: &[u8]) -> usize {
    if b.len() > 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') {
        let h = hex_run(&b[2..]);
        if h > 0 {
            return 2 + h;
        }
    }
    dec_run(b)
}

/// `N.N`, `N.N.N` or `N.N.N.N`, longest.
fn hid_len(b: &[u8]) -> usize {
    let mut best = 0;
    let mut at = num_len(b);
    if at == 0 {
        return 0;
    }
    for _ in 0..3 {
        if b.get(at) != Some(&b'.') {
            break;
        }
        let n = num_len(&b[at + 1..]);
        if n == 0 {
            break;
        }
        at += 1 + n;
        best = at;
    }
    best
}

/// MAC-48 forms: `x:x:x:x:x:x`, `x-x-...`, `x.x.x.x.x.x` (1-2 digits),
/// `xxxx.xxxx.xxxx`, `xxxxxxxxxxxx`.
fn mac_len(b: &[u8]) -> usize {
    let groups = |sep: u8, min: usize, max: usize, count: usize| -> usize {
        let mut at = 0;
        for i in 0..count {
            if i > 0 {
                if b.get(at) != Some(&sep) {
                    return 0;
                }
                at += 1;
            }
            let n = hex_run(&b[at.min(b.len())..]).min(max);
            if n < min {
                return 0;
            }
            at += n;
        }
        at
    };
    let mut best = 0;
    for sep in [b':', b'-', b'.'] {
        best = best.max(groups(sep, 1, 2, 6));
    }
    best = best.max(groups(b'.', 4, 4, 3));
    if hex_run(b) >= 12 {
        best = best.max(12);
    }
    best
}

/// `{B}:+({B}:+)+`: colon-separated bytes that are no valid address.
fn bogus_mac_len(b: &[u8]) -> usize {
    let mut at = 0;
    let mut groups = 0;
    loop {
        let n = hex_run(&b[at..]).min(2);
        if n == 0 {
            break;
        }
        let colons = b[at + n..].iter().take_while(|&&c| c == b':').count();
        if colons == 0 {
            break;
        }
        at += n + colons;
        groups += 1;
    }
    if groups >= 2 { at } else { 0 }
}

/// The longest prefix of `s` shaped like an IPv6 address (scanner.l's V6
/// patterns: hex groups of 1-4 digits, at most one `::`, optionally ending
/// in a dotted quad). Validity is checked by the caller.
fn v6_len(s: &str) -> usize {
    let b = s.as_bytes();
    let run = b
        .iter()
        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, b':' | b'.' | b'x' | b'X'))
        .count()
        .min(64);
    (2..=run).rev().find(|&n| v6_shaped(&s[..n])).unwrap_or(0)
}

fn v6_shaped(s: &str) -> bool {
    if !s.contains(':') {
        return false;
    }
    let (head, v4) = match s.rfind(':') {
        Some(i) if s[i + 1..].contains('.') => (&s[..=i], Some(&s[i + 1..])),
        _ => (s, None),
    };
    if let Some(v4) = v4 {
        let b = v4.as_bytes();
        if hid_len(b) != b.len() || v4.split('.').count() != 4 {
            return false;
        }
    }
    // With a v4 tail, `head` ends with ':' that separates it.
    let head = match v4 {
        Some(_) if head.ends_with("::") => head,
        Some(_) => &head[..head.len() - 1],
        None => head,
    };
    let max_groups = if v4.is_some() { 6 } else { 8 };
    let group_ok = |g: &str| (1..=4).contains(&g.len()) && g.bytes().all(|c| c.is_ascii_hexdigit());
    match head.find("::") {
        Some(i) => {
            let (l, r) = (&head[..i], &head[i + 2..]);
            if r.contains("::") {
                return false;
            }
            let part = |p: &str| -> Option<usize> {
                if p.is_empty() {
                    return Some(0);
                }
                p.split(':')
                    .try_fold(0, |n, g| group_ok(g).then_some(n + 1))
            };
            match (part(l), part(r)) {
                (Some(a), Some(b)) => a + b < max_groups,
                _ => false,
            }
        }
        None => {
            let groups: Vec<&str> = head.split(':').collect();
            groups.len() == max_groups && groups.iter().all(|g| group_ok(g))
        }
    }
}

/// A number as libpcap reads it: decimal, `0x` hex, or `0` octal.
pub fn number(text: &str) -> Result<u32, String> {
    let overflow = || format!("number {text} overflows 32 bits");
    let (digits, radix, kind) =
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (hex, 16, "hex")
        } else if text.len() > 1 && text.starts_with('0') {
            (&text[1..], 8, "octal")
        } else {
            (text, 10, "decimal")
        };
    let mut n: u32 = 0;
    for c in digits.chars() {
        let d = c
            .to_digit(radix)
            .ok_or_else(|| format!("number {text} contains non-{kind} digit"))?;
        n = n
            .checked_mul(radix)
            .and_then(|n| n.checked_add(d))
            .ok_or_else(overflow)?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn longest_match_and_rule_order() {
        assert_eq!(
            kinds("host hostname 10 1.2.3.4"),
            vec![
                TokenKind::Kw(Kw::Host),
                TokenKind::Id("hostname".into()),
                TokenKind::Num(10),
                TokenKind::Hid("1.2.3.4".into()),
            ]
        );
        assert_eq!(kinds("tcp-syn"), vec![TokenKind::Num(2)]);
        assert_eq!(
            kinds("abcdef000003"),
            vec![TokenKind::Eid("abcdef000003".into())]
        );
        assert_eq!(kinds("fe80::1"), vec![TokenKind::Hid6("fe80::1".into())]);
        assert_eq!(
            kinds("a:b:c:d:e:f"),
            vec![TokenKind::Eid("a:b:c:d:e:f".into())]
        );
        assert_eq!(kinds("\\tcp"), vec![TokenKind::Id("tcp".into())]);
        assert_eq!(
            kinds("a&&b"),
            vec![
                TokenKind::Id("a".into()),
                TokenKind::Kw(Kw::And),
                TokenKind::Id("b".into())
            ]
        );
    }

    #[test]
    fn numbers_in_three_radices() {
        assert_eq!(number("0x1F"), Ok(31));
        assert_eq!(number("017"), Ok(15));
        assert!(number("08").unwrap_err().contains("non-octal"));
        assert!(number("4294967296").unwrap_err().contains("overflows"));
        assert_eq!(number("4294967295"), Ok(u32::MAX));
    }
}
