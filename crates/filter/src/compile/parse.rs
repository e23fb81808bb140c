//! From tokens to an [`Expr`]: libpcap's grammar (`grammar.y`), by
//! recursive descent.
//!
//! - `and` and `or` have the same precedence and group to the left;
//!   `not` binds tighter. `a or b and c` is `(a or b) and c`.
//! - An identifier right after `and`/`or`/`not` or inside parentheses
//!   inherits the qualifiers of the term before it: `host a or b`. After a
//!   term without qualifiers (`tcp`, `len > 5`) there is nothing to inherit
//!   and the identifier is an error ([`Primitive::Orphan`]).
//! - Arithmetic: `|` < `&` < shifts < `+ -` < `* / %` < unary `-`; `^`
//!   binds like `|`.
//!
//! Where the grammar needs more than one token of lookahead (a `(` may
//! open an expression, a list of identifiers or arithmetic), the parser
//! tries the alternatives in turn. A step budget bounds that search, so no
//! input makes parsing slow.

use super::CompileError;
use super::ast::*;
use super::lex::{Kw, Punct, Span, Token, TokenKind, tokenize};

/// Parses `text`; `Ok(None)` for an empty expression (accept everything).
pub fn parse(text: &str) -> Result<Option<Expr>, CompileError> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    check_nesting(&tokens, text)?;
    let mut p = Parser {
        text,
        tokens,
        pos: 0,
        steps: 0,
    };
    let (expr, _) = p.expr(None)?;
    if p.pos < p.tokens.len() {
        return Err(p.error());
    }
    Ok(Some(expr))
}

/// Backtracking attempts allowed per parse; ample for any real filter.
const STEP_BUDGET: u32 = 200_000;

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    steps: u32,
}

type Parsed<T> = Result<T, CompileError>;
/// An expression and the qualifiers an identifier after it inherits.
type WithQual = (Expr, Option<Qual>);

impl Parser<'_> {
    fn peek(&self) -> Option<&TokenKind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn peek_at(&self, n: usize) -> Option<&TokenKind> {
        self.tokens.get(self.pos + n).map(|t| &t.kind)
    }

    fn span(&self) -> Span {
        match self.tokens.get(self.pos) {
            Some(t) => t.span,
            None => Span {
                start: self.text.len(),
                end: self.text.len(),
            },
        }
    }

    fn span_from(&self, start: usize) -> Span {
        let first = self
            .tokens
            .get(start)
            .map_or(self.text.len(), |t| t.span.start);
        let last = match self.pos {
            0 => first,
            n => self.tokens.get(n - 1).map_or(first, |t| t.span.end),
        };
        Span {
            start: first,
            end: last.max(first),
        }
    }

    fn error(&self) -> CompileError {
        CompileError::syntax(self.span(), self.text)
    }

    fn bump(&mut self) -> Option<TokenKind> {
        let t = self.tokens.get(self.pos).map(|t| t.kind.clone());
        self.pos += 1;
        t
    }

    fn is_kw(&self, kw: Kw) -> bool {
        self.peek() == Some(&TokenKind::Kw(kw))
    }

    fn is_punct(&self, p: Punct) -> bool {
        self.peek() == Some(&TokenKind::Punct(p))
    }

    fn eat_kw(&mut self, kw: Kw) -> bool {
        let hit = self.is_kw(kw);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn eat_punct(&mut self, p: Punct) -> bool {
        let hit = self.is_punct(p);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect_punct(&mut self, p: Punct) -> Parsed<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn num(&mut self) -> Parsed<u32> {
        match self.peek() {
            Some(TokenKind::Num(n)) => {
                let n = *n;
                self.pos += 1;
                Ok(n)
            }
            _ => Err(self.error()),
        }
    }

    fn tick(&mut self) -> Parsed<()> {
        self.steps += 1;
        if self.steps > STEP_BUDGET {
            return Err(CompileError::TooComplex);
        }
        Ok(())
    }

    /// Runs `f`; on failure, rewinds and returns `None` (the first error
    /// is kept by the caller's own fallback).
    fn attempt<T>(&mut self, f: impl FnOnce(&mut Self) -> Parsed<T>) -> Parsed<Option<T>> {
        self.tick()?;
        let saved = self.pos;
        match f(self) {
            Ok(v) => Ok(Some(v)),
            Err(CompileError::TooComplex) => Err(CompileError::TooComplex),
            Err(_) => {
                self.pos = saved;
                Ok(None)
            }
        }
    }

    /// `expr: term | expr (and|or) (term|id)`
    fn expr(&mut self, inherit: Option<Qual>) -> Parsed<WithQual> {
        let (first, mut qual) = self.term(inherit)?;
        let mut rest = Vec::new();
        while let Some(join) = self.join() {
            let (rhs, q) = self.term_or_id(qual)?;
            rest.push((join, rhs));
            qual = q;
        }
        Ok((chain(first, rest), qual))
    }

    fn join(&mut self) -> Option<Join> {
        if self.eat_kw(Kw::And) {
            Some(Join::And)
        } else if self.eat_kw(Kw::Or) {
            Some(Join::Or)
        } else {
            None
        }
    }

    /// `term: rterm | not term`
    fn term(&mut self, inherit: Option<Qual>) -> Parsed<WithQual> {
        self.tick()?;
        if self.eat_not() {
            let (t, q) = self.term(inherit)?;
            return Ok((Expr::Not(Box::new(t)), q));
        }
        self.rterm(inherit)
    }

    fn eat_not(&mut self) -> bool {
        self.eat_kw(Kw::Not) || self.eat_punct(Punct::Bang)
    }

    fn starts_nid(&self) -> bool {
        matches!(
            self.peek(),
            Some(
                TokenKind::Id(_)
                    | TokenKind::Hid(_)
                    | TokenKind::Hid6(_)
                    | TokenKind::Eid(_)
                    | TokenKind::Aid(_)
            )
        )
    }

    /// Whether the token after a number continues arithmetic or compares.
    fn arith_follows(&self, n: usize) -> bool {
        matches!(
            self.peek_at(n),
            Some(TokenKind::Punct(
                Punct::Plus
                    | Punct::Minus
                    | Punct::Star
                    | Punct::Slash
                    | Punct::Percent
                    | Punct::Amp
                    | Punct::Pipe
                    | Punct::Caret
                    | Punct::Lsh
                    | Punct::Rsh
                    | Punct::Gt
                    | Punct::Geq
                    | Punct::Eq
                    | Punct::Leq
                    | Punct::Lt
                    | Punct::Neq
            ))
        )
    }

    /// After `and`/`or`: a term, or an identifier inheriting `inherit`.
    fn term_or_id(&mut self, inherit: Option<Qual>) -> Parsed<WithQual> {
        self.tick()?;
        if self.eat_not() {
            let (t, q) = self.term_or_id(inherit)?;
            return Ok((Expr::Not(Box::new(t)), q));
        }
        if self.starts_nid() {
            return self.id(inherit).map(|e| (e, inherit));
        }
        match self.peek() {
            Some(TokenKind::Num(_)) if !self.arith_follows(1) => {
                self.id(inherit).map(|e| (e, inherit))
            }
            Some(TokenKind::Punct(Punct::LParen)) => {
                if let Some(e) = self.attempt(|p| p.paren_id(inherit))? {
                    return Ok((e, inherit));
                }
                self.rterm(inherit)
            }
            _ => self.rterm(inherit),
        }
    }

    /// `id: nid | pnum | paren pid ')'`, with the qualifiers `qual`.
    fn id(&mut self, qual: Option<Qual>) -> Parsed<Expr> {
        self.tick()?;
        if self.eat_not() {
            return Ok(Expr::Not(Box::new(self.id(qual)?)));
        }
        if self.is_punct(Punct::LParen) {
            return self.paren_id(qual);
        }
        let start = self.pos;
        let id = match self.bump() {
            Some(TokenKind::Num(n)) => Id::Num(n),
            Some(TokenKind::Id(s)) => Id::Name(s),
            Some(TokenKind::Eid(s)) => Id::Mac48(s),
            Some(TokenKind::Aid(s)) => Id::Mac8(s),
            Some(TokenKind::Hid(s)) => {
                if self.eat_punct(Punct::Slash) {
                    Id::Ipv4Prefix(s, self.num()?)
                } else if self.eat_kw(Kw::Mask) {
                    match self.bump() {
                        Some(TokenKind::Hid(m)) => Id::Ipv4Mask(s, m),
                        _ => {
                            self.pos -= 1;
                            return Err(self.error());
                        }
                    }
                } else {
                    Id::Ipv4(s)
                }
            }
            Some(TokenKind::Hid6(s)) => {
                if self.eat_punct(Punct::Slash) {
                    Id::Ipv6Prefix(s, self.num()?)
                } else {
                    Id::Ipv6(s)
                }
            }
            _ => {
                self.pos = start;
                return Err(self.error());
            }
        };
        let span = self.span_from(start);
        let prim = match qual {
            Some(q) => Primitive::Id(q, id),
            None => Primitive::Orphan(id),
        };
        Ok(Expr::Prim(prim, span))
    }

    /// `'(' pid ')'` or `'(' pnum ')'`: identifiers joined by and/or.
    fn paren_id(&mut self, qual: Option<Qual>) -> Parsed<Expr> {
        self.expect_punct(Punct::LParen)?;
        let first = self.id(qual)?;
        let mut rest = Vec::new();
        while let Some(join) = self.join() {
            rest.push((join, self.id(qual)?));
        }
        self.expect_punct(Punct::RParen)?;
        Ok(chain(first, rest))
    }

    fn pname(kind: Option<&TokenKind>) -> Option<Proto> {
        let Some(TokenKind::Kw(kw)) = kind else {
            return None;
        };
        Some(match kw {
            Kw::Link => Proto::Link,
            Kw::Ip => Proto::Ip,
            Kw::Arp => Proto::Arp,
            Kw::Rarp => Proto::Rarp,
            Kw::Sctp => Proto::Sctp,
            Kw::Tcp => Proto::Tcp,
            Kw::Udp => Proto::Udp,
            Kw::Icmp => Proto::Icmp,
            Kw::Igmp => Proto::Igmp,
            Kw::Igrp => Proto::Igrp,
            Kw::Pim => Proto::Pim,
            Kw::Vrrp => Proto::Vrrp,
            Kw::Carp => Proto::Carp,
            Kw::Atalk => Proto::Atalk,
            Kw::Aarp => Proto::Aarp,
            Kw::Decnet => Proto::Decnet,
            Kw::Lat => Proto::Lat,
            Kw::Sca => Proto::Sca,
            Kw::Mopdl => Proto::Mopdl,
            Kw::Moprc => Proto::Moprc,
            Kw::Ip6 => Proto::Ip6,
            Kw::Icmp6 => Proto::Icmp6,
            Kw::Ah => Proto::Ah,
            Kw::Esp => Proto::Esp,
            Kw::Iso => Proto::Iso,
            Kw::Esis => Proto::Esis,
            Kw::Isis => Proto::Isis,
            Kw::L1 => Proto::IsisL1,
            Kw::L2 => Proto::IsisL2,
            Kw::Iih => Proto::IsisIih,
            Kw::Lsp => Proto::IsisLsp,
            Kw::Snp => Proto::IsisSnp,
            Kw::Psnp => Proto::IsisPsnp,
            Kw::Csnp => Proto::IsisCsnp,
            Kw::Clnp => Proto::Clnp,
            Kw::Stp => Proto::Stp,
            Kw::Ipx => Proto::Ipx,
            Kw::Netbeui => Proto::Netbeui,
            Kw::Radio => Proto::Radio,
            _ => return None,
        })
    }

    fn starts_head_rest(kind: Option<&TokenKind>) -> bool {
        matches!(
            kind,
            Some(TokenKind::Kw(
                Kw::Src
                    | Kw::Dst
                    | Kw::Addr1
                    | Kw::Addr2
                    | Kw::Addr3
                    | Kw::Addr4
                    | Kw::Ra
                    | Kw::Ta
                    | Kw::Host
                    | Kw::Net
                    | Kw::Port
                    | Kw::Portrange
                    | Kw::Proto
                    | Kw::Protochain
                    | Kw::Gateway
            ))
        )
    }

    fn rterm(&mut self, inherit: Option<Qual>) -> Parsed<WithQual> {
        self.tick()?;
        let start = self.pos;
        let prim = |p: Primitive, s: &Self| Ok((Expr::Prim(p, s.span_from(start)), None));
        if self.is_punct(Punct::LParen) {
            let grouped = self.attempt(|p| {
                p.expect_punct(Punct::LParen)?;
                let (e, _) = p.expr(inherit)?;
                p.expect_punct(Punct::RParen)?;
                Ok(e)
            })?;
            if let Some(e) = grouped {
                return Ok((e, inherit));
            }
            return self.relation(start);
        }
        if let Some(proto) = Self::pname(self.peek()) {
            let next = self.peek_at(1);
            if Self::starts_head_rest(next) {
                self.pos += 1;
                return self.head(proto);
            }
            match next {
                Some(TokenKind::Punct(Punct::LBracket)) => return self.relation(start),
                Some(TokenKind::Kw(Kw::Broadcast)) => {
                    self.pos += 2;
                    return prim(Primitive::Broadcast(proto), self);
                }
                Some(TokenKind::Kw(Kw::Multicast)) => {
                    self.pos += 2;
                    return prim(Primitive::Multicast(proto), self);
                }
                Some(TokenKind::Kw(Kw::Type | Kw::Subtype | Kw::Dir)) => {
                    self.pos += 1;
                    let p = self.wlan()?;
                    return prim(p, self);
                }
                _ => {
                    self.pos += 1;
                    return prim(Primitive::Proto(proto), self);
                }
            }
        }
        if Self::starts_head_rest(self.peek()) {
            return self.head(Proto::Default);
        }
        let Some(TokenKind::Kw(kw)) = self.peek().cloned() else {
            return self.relation(start);
        };
        if kw == Kw::Len {
            return self.relation(start);
        }
        self.pos += 1;
        let p = match kw {
            Kw::Broadcast => Primitive::Broadcast(Proto::Default),
            Kw::Multicast => Primitive::Multicast(Proto::Default),
            Kw::Type | Kw::Subtype | Kw::Dir => {
                self.pos -= 1;
                self.wlan()?
            }
            Kw::Less => Primitive::Less(self.num()?),
            Kw::Greater => Primitive::Greater(self.num()?),
            Kw::Byte => {
                let index = self.num()?;
                let op = match self.bump() {
                    Some(TokenKind::Punct(Punct::Amp)) => ByteOp::And,
                    Some(TokenKind::Punct(Punct::Pipe)) => ByteOp::Or,
                    Some(TokenKind::Punct(Punct::Lt)) => ByteOp::Lt,
                    Some(TokenKind::Punct(Punct::Gt)) => ByteOp::Gt,
                    Some(TokenKind::Punct(Punct::Eq)) => ByteOp::Eq,
                    _ => {
                        self.pos -= 1;
                        return Err(self.error());
                    }
                };
                let value = self.num()?;
                Primitive::Byte { index, op, value }
            }
            Kw::Inbound => Primitive::Inbound,
            Kw::Outbound => Primitive::Outbound,
            Kw::Ifindex => Primitive::Ifindex(self.num()?),
            Kw::Vlan => Primitive::Vlan(self.opt_pnum()?),
            Kw::Mpls => Primitive::Mpls(self.opt_pnum()?),
            Kw::Pppoed => Primitive::Pppoed,
            Kw::Pppoes => Primitive::Pppoes(self.opt_pnum()?),
            Kw::Geneve => Primitive::Geneve(self.opt_pnum()?),
            Kw::Vxlan => Primitive::Vxlan(self.opt_pnum()?),
            Kw::PfIfname => Primitive::PfIfname(self.name()?),
            Kw::PfRset => Primitive::PfRuleset(self.name()?),
            Kw::PfRnr => Primitive::PfRnr(self.num()?),
            Kw::PfSrnr => Primitive::PfSrnr(self.num()?),
            Kw::PfReason => Primitive::PfReason(self.named_value(pf_reason, "PF reason")?),
            Kw::PfAction => match self.bump() {
                Some(TokenKind::Id(s)) => match pf_action(&s) {
                    Some(v) => Primitive::PfAction(v),
                    None => return Err(self.semantic(start, format!("unknown PF action \"{s}\""))),
                },
                _ => {
                    self.pos -= 1;
                    return Err(self.error());
                }
            },
            Kw::Llc => self.llc(start)?,
            Kw::Lane => Primitive::Atm(AtmType::Lane),
            Kw::Metac => Primitive::Atm(AtmType::Metac),
            Kw::Bcc => Primitive::Atm(AtmType::Bcc),
            Kw::Oamf4ec => Primitive::Atm(AtmType::Oamf4ec),
            Kw::Oamf4sc => Primitive::Atm(AtmType::Oamf4sc),
            Kw::Sc => Primitive::Atm(AtmType::Sc),
            Kw::Ilmic => Primitive::Atm(AtmType::Ilmic),
            Kw::Oam => Primitive::Atm(AtmType::Oam),
            Kw::Oamf4 => Primitive::Atm(AtmType::Oamf4),
            Kw::Connectmsg => Primitive::Atm(AtmType::Connectmsg),
            Kw::Metaconnect => Primitive::Atm(AtmType::Metaconnect),
            Kw::Vpi => Primitive::AtmField(AtmField::Vpi, self.field_tests()?),
            Kw::Vci => Primitive::AtmField(AtmField::Vci, self.field_tests()?),
            Kw::Fisu => Primitive::Mtp2(Mtp2Type::Fisu),
            Kw::Lssu => Primitive::Mtp2(Mtp2Type::Lssu),
            Kw::Msu => Primitive::Mtp2(Mtp2Type::Msu),
            Kw::Hfisu => Primitive::Mtp2(Mtp2Type::Hfisu),
            Kw::Hlssu => Primitive::Mtp2(Mtp2Type::Hlssu),
            Kw::Hmsu => Primitive::Mtp2(Mtp2Type::Hmsu),
            Kw::Sio => Primitive::Mtp3(Mtp3Field::Sio, self.field_tests()?),
            Kw::Opc => Primitive::Mtp3(Mtp3Field::Opc, self.field_tests()?),
            Kw::Dpc => Primitive::Mtp3(Mtp3Field::Dpc, self.field_tests()?),
            Kw::Sls => Primitive::Mtp3(Mtp3Field::Sls, self.field_tests()?),
            Kw::Hsio => Primitive::Mtp3(Mtp3Field::Hsio, self.field_tests()?),
            Kw::Hopc => Primitive::Mtp3(Mtp3Field::Hopc, self.field_tests()?),
            Kw::Hdpc => Primitive::Mtp3(Mtp3Field::Hdpc, self.field_tests()?),
            Kw::Hsls => Primitive::Mtp3(Mtp3Field::Hsls, self.field_tests()?),
            _ => {
                self.pos -= 1;
                return Err(self.error());
            }
        };
        prim(p, self)
    }

    fn semantic(&self, start: usize, message: String) -> CompileError {
        CompileError::Semantic {
            span: self.span_from(start),
            message,
        }
    }

    fn name(&mut self) -> Parsed<String> {
        match self.bump() {
            Some(TokenKind::Id(s)) => Ok(s),
            _ => {
                self.pos -= 1;
                Err(self.error())
            }
        }
    }

    fn named_value(&mut self, lookup: fn(&str) -> Option<u32>, what: &str) -> Parsed<u32> {
        let start = self.pos;
        match self.bump() {
            Some(TokenKind::Num(n)) => Ok(n),
            Some(TokenKind::Id(s)) => {
                lookup(&s).ok_or_else(|| self.semantic(start, format!("unknown {what} \"{s}\"")))
            }
            _ => {
                self.pos -= 1;
                Err(self.error())
            }
        }
    }

    /// `pnum: NUM | '(' pnum ')'`, optional.
    fn opt_pnum(&mut self) -> Parsed<Option<u32>> {
        let mut depth = 0;
        let start = self.pos;
        while self.is_punct(Punct::LParen) {
            self.pos += 1;
            depth += 1;
        }
        match self.peek() {
            Some(TokenKind::Num(n)) => {
                let n = *n;
                self.pos += 1;
                for _ in 0..depth {
                    if !self.eat_punct(Punct::RParen) {
                        self.pos = start;
                        return Ok(None);
                    }
                }
                Ok(Some(n))
            }
            _ => {
                self.pos = start;
                Ok(None)
            }
        }
    }

    /// `head id`: qualifiers after `proto`, then the identifier.
    fn head(&mut self, proto: Proto) -> Parsed<WithQual> {
        let mut qual = Qual {
            proto,
            ..Qual::DEFAULT
        };
        let dir = match self.peek() {
            Some(TokenKind::Kw(Kw::Src)) => Some(self.dir_pair(Dir::Src, Kw::Dst)),
            Some(TokenKind::Kw(Kw::Dst)) => Some(self.dir_pair(Dir::Dst, Kw::Src)),
            Some(TokenKind::Kw(kw)) => {
                let d = match kw {
                    Kw::Addr1 => Some(Dir::Addr1),
                    Kw::Addr2 => Some(Dir::Addr2),
                    Kw::Addr3 => Some(Dir::Addr3),
                    Kw::Addr4 => Some(Dir::Addr4),
                    Kw::Ra => Some(Dir::Ra),
                    Kw::Ta => Some(Dir::Ta),
                    _ => None,
                };
                if d.is_some() {
                    self.pos += 1;
                }
                d
            }
            _ => None,
        };
        let aqual = |kw: Option<&TokenKind>| match kw {
            Some(TokenKind::Kw(Kw::Host)) => Some(AddrKind::Host),
            Some(TokenKind::Kw(Kw::Net)) => Some(AddrKind::Net),
            Some(TokenKind::Kw(Kw::Port)) => Some(AddrKind::Port),
            Some(TokenKind::Kw(Kw::Portrange)) => Some(AddrKind::Portrange),
            _ => None,
        };
        if let Some(d) = dir {
            qual.dir = d;
            if let Some(a) = aqual(self.peek()) {
                self.pos += 1;
                qual.addr = a;
            }
        } else if let Some(a) = aqual(self.peek()) {
            self.pos += 1;
            qual.addr = a;
        } else if self.eat_kw(Kw::Proto) {
            qual.addr = AddrKind::Proto;
        } else if self.eat_kw(Kw::Protochain) {
            qual.addr = AddrKind::Protochain;
        } else if self.eat_kw(Kw::Gateway) {
            qual.addr = AddrKind::Gateway;
        } else {
            return Err(self.error());
        }
        let e = self.id(Some(qual))?;
        Ok((e, Some(qual)))
    }

    /// `src`, `src or dst`, `src and dst` (or the same from `dst`).
    fn dir_pair(&mut self, single: Dir, other: Kw) -> Dir {
        self.pos += 1;
        let joined = match self.peek() {
            Some(TokenKind::Kw(Kw::Or)) => Some(Dir::Or),
            Some(TokenKind::Kw(Kw::And)) => Some(Dir::And),
            _ => None,
        };
        match joined {
            Some(d) if self.peek_at(1) == Some(&TokenKind::Kw(other)) => {
                self.pos += 2;
                d
            }
            _ => single,
        }
    }

    /// `type T [subtype S] | subtype S | dir D` (the `type` keyword next).
    fn wlan(&mut self) -> Parsed<Primitive> {
        let start = self.pos;
        match self.bump() {
            Some(TokenKind::Kw(Kw::Type)) => {
                let ty = match self.bump() {
                    Some(TokenKind::Num(n)) => {
                        if n & !WLAN_TYPE_MASK != 0 {
                            return Err(self
                                .semantic(start, format!("invalid 802.11 type value 0x{n:02x}")));
                        }
                        n
                    }
                    Some(TokenKind::Id(s)) => wlan_type(&s).ok_or_else(|| {
                        self.semantic(start, format!("unknown 802.11 type name \"{s}\""))
                    })?,
                    _ => {
                        self.pos -= 1;
                        return Err(self.error());
                    }
                };
                if self.eat_kw(Kw::Subtype) {
                    let sub = match self.bump() {
                        Some(TokenKind::Num(n)) => {
                            if n & !WLAN_SUBTYPE_MASK != 0 {
                                return Err(self.semantic(
                                    start,
                                    format!("invalid 802.11 subtype value 0x{n:02x}"),
                                ));
                            }
                            n
                        }
                        Some(TokenKind::Id(s)) => wlan_subtype(ty, &s).ok_or_else(|| {
                            self.semantic(start, format!("unknown 802.11 subtype name \"{s}\""))
                        })?,
                        _ => {
                            self.pos -= 1;
                            return Err(self.error());
                        }
                    };
                    return Ok(Primitive::WlanType {
                        value: ty | sub,
                        mask: WLAN_TYPE_MASK | WLAN_SUBTYPE_MASK,
                    });
                }
                Ok(Primitive::WlanType {
                    value: ty,
                    mask: WLAN_TYPE_MASK,
                })
            }
            Some(TokenKind::Kw(Kw::Subtype)) => {
                let s = self.name()?;
                let value = WLAN_SUBTYPES
                    .iter()
                    .find_map(|&(ty, names)| {
                        names
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case(&s))
                            .map(|&(_, v)| v | ty)
                    })
                    .ok_or_else(|| self.semantic(start, "unknown 802.11 type name".to_owned()))?;
                Ok(Primitive::WlanType {
                    value,
                    mask: WLAN_TYPE_MASK | WLAN_SUBTYPE_MASK,
                })
            }
            Some(TokenKind::Kw(Kw::Dir)) => match self.bump() {
                // The direction is the two DS bits of the frame control.
                Some(TokenKind::Num(n)) if n > 3 => Err(self.semantic(
                    start,
                    format!(
                        "invalid 802.11 direction {n}: use 0 to 3, or nods, tods, fromds, dstods"
                    ),
                )),
                Some(TokenKind::Num(n)) => Ok(Primitive::WlanDir(n)),
                Some(TokenKind::Id(s)) => {
                    let d = ["nods", "tods", "fromds", "dstods"]
                        .iter()
                        .position(|d| d.eq_ignore_ascii_case(&s))
                        .ok_or_else(|| {
                            self.semantic(start, "unknown 802.11 direction".to_owned())
                        })?;
                    Ok(Primitive::WlanDir(d as u32))
                }
                _ => {
                    self.pos -= 1;
                    Err(self.error())
                }
            },
            _ => {
                self.pos = start;
                Err(self.error())
            }
        }
    }

    fn llc(&mut self, start: usize) -> Parsed<Primitive> {
        if self.eat_kw(Kw::PfRnr) {
            return Ok(Primitive::Llc(Llc::SSubtype(LLC_RNR)));
        }
        let Some(TokenKind::Id(s)) = self.peek().cloned() else {
            return Ok(Primitive::Llc(Llc::Any));
        };
        self.pos += 1;
        let lower = s.to_ascii_lowercase();
        Ok(Primitive::Llc(match lower.as_str() {
            "i" => Llc::I,
            "s" => Llc::S,
            "u" => Llc::U,
            _ => {
                if let Some(&(_, v)) = LLC_S_SUBTYPES.iter().find(|(n, _)| *n == lower) {
                    Llc::SSubtype(v)
                } else if let Some(&(_, v)) = LLC_U_SUBTYPES.iter().find(|(n, _)| *n == lower) {
                    Llc::USubtype(v)
                } else {
                    return Err(self.semantic(start, format!("unknown LLC type name \"{s}\"")));
                }
            }
        }))
    }

    /// The value part of `vpi`, `sio`, ...: `N`, `relop N`, `(N or N ...)`.
    fn field_tests(&mut self) -> Parsed<Vec<FieldTest>> {
        if self.eat_punct(Punct::LParen) {
            let mut tests = vec![FieldTest {
                rel: Rel::Eq,
                value: self.num()?,
            }];
            while self.eat_kw(Kw::Or) {
                tests.push(FieldTest {
                    rel: Rel::Eq,
                    value: self.num()?,
                });
            }
            self.expect_punct(Punct::RParen)?;
            return Ok(tests);
        }
        let rel = self.relop().unwrap_or(Rel::Eq);
        Ok(vec![FieldTest {
            rel,
            value: self.num()?,
        }])
    }

    fn relop(&mut self) -> Option<Rel> {
        let rel = match self.peek() {
            Some(TokenKind::Punct(Punct::Gt)) => Rel::Gt,
            Some(TokenKind::Punct(Punct::Geq)) => Rel::Ge,
            Some(TokenKind::Punct(Punct::Eq)) => Rel::Eq,
            Some(TokenKind::Punct(Punct::Leq)) => Rel::Le,
            Some(TokenKind::Punct(Punct::Lt)) => Rel::Lt,
            Some(TokenKind::Punct(Punct::Neq)) => Rel::Ne,
            _ => return None,
        };
        self.pos += 1;
        Some(rel)
    }

    /// `arth relop arth`
    fn relation(&mut self, start: usize) -> Parsed<WithQual> {
        let lhs = self.arith(0)?;
        let Some(rel) = self.relop() else {
            return Err(self.error());
        };
        let rhs = self.arith(0)?;
        Ok((
            Expr::Prim(Primitive::Relation(rel, lhs, rhs), self.span_from(start)),
            None,
        ))
    }

    fn binop(&self) -> Option<(ArithOp, u8)> {
        let Some(TokenKind::Punct(p)) = self.peek() else {
            return None;
        };
        Some(match p {
            Punct::Pipe => (ArithOp::Or, 1),
            Punct::Caret => (ArithOp::Xor, 1),
            Punct::Amp => (ArithOp::And, 2),
            Punct::Lsh => (ArithOp::Lsh, 3),
            Punct::Rsh => (ArithOp::Rsh, 3),
            Punct::Plus => (ArithOp::Add, 4),
            Punct::Minus => (ArithOp::Sub, 4),
            Punct::Star => (ArithOp::Mul, 5),
            Punct::Slash => (ArithOp::Div, 5),
            Punct::Percent => (ArithOp::Mod, 5),
            _ => return None,
        })
    }

    /// Precedence climbing over left-associative binary operators.
    fn arith(&mut self, min: u8) -> Parsed<Arith> {
        self.tick()?;
        let start = self.pos;
        let mut lhs = self.unary()?;
        let mut length = 0;
        while let Some((op, prec)) = self.binop() {
            if prec <= min {
                break;
            }
            length += 1;
            if length > MAX_NESTING {
                return Err(CompileError::TooDeep { span: self.span() });
            }
            self.pos += 1;
            let rhs = self.arith(prec)?;
            lhs = Arith::Binary(op, Box::new(lhs), Box::new(rhs), self.span_from(start));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Parsed<Arith> {
        self.tick()?;
        let start = self.pos;
        if self.eat_punct(Punct::Minus) {
            return Ok(Arith::Neg(Box::new(self.unary()?)));
        }
        if self.eat_punct(Punct::LParen) {
            let inner = self.arith(0)?;
            self.expect_punct(Punct::RParen)?;
            return Ok(inner);
        }
        if self.eat_kw(Kw::Len) {
            return Ok(Arith::Len);
        }
        if let Some(proto) = Self::pname(self.peek()) {
            self.pos += 1;
            self.expect_punct(Punct::LBracket)?;
            let index = self.arith(0)?;
            let size = if self.eat_punct(Punct::Colon) {
                self.num()?
            } else {
                1
            };
            self.expect_punct(Punct::RBracket)?;
            return Ok(Arith::Load {
                proto,
                index: Box::new(index),
                size,
                span: self.span_from(start),
            });
        }
        Ok(Arith::Num(self.num()?))
    }
}

fn chain(first: Expr, rest: Vec<(Join, Expr)>) -> Expr {
    if rest.is_empty() {
        first
    } else {
        Expr::Chain(Box::new(first), rest)
    }
}

/// How deep parentheses, `not` and unary minus may nest; libpcap's parser
/// stack is bounded too. Keeps recursion (and `Drop`) shallow.
const MAX_NESTING: usize = 200;

/// Rejects input nested deeper than [`MAX_NESTING`] before parsing.
fn check_nesting(tokens: &[Token], text: &str) -> Result<(), CompileError> {
    let (mut depth, mut run) = (0usize, 0usize);
    for t in tokens {
        match t.kind {
            TokenKind::Punct(Punct::LParen) => depth += 1,
            TokenKind::Punct(Punct::RParen) => depth = depth.saturating_sub(1),
            _ => {}
        }
        let prefix = matches!(
            t.kind,
            TokenKind::Punct(Punct::Bang | Punct::Minus | Punct::LParen) | TokenKind::Kw(Kw::Not)
        );
        run = if prefix { run + 1 } else { 0 };
        if depth > MAX_NESTING || run > MAX_NESTING {
            let _ = text;
            return Err(CompileError::TooDeep { span: t.span });
        }
    }
    Ok(())
}

/// 802.11 frame control: type and subtype bits.
pub const WLAN_TYPE_MASK: u32 = 0x0c;
pub const WLAN_SUBTYPE_MASK: u32 = 0xf0;

fn wlan_type(name: &str) -> Option<u32> {
    [
        ("mgt", 0x00),
        ("management", 0x00),
        ("ctl", 0x04),
        ("control", 0x04),
        ("data", 0x08),
    ]
    .iter()
    .find(|(n, _)| n.eq_ignore_ascii_case(name))
    .map(|&(_, v)| v)
}

/// Subtype names per type value.
const WLAN_SUBTYPES: &[(u32, &[(&str, u32)])] = &[
    (
        0x00,
        &[
            ("assocreq", 0x00),
            ("assoc-req", 0x00),
            ("assocresp", 0x10),
            ("assoc-resp", 0x10),
            ("reassocreq", 0x20),
            ("reassoc-req", 0x20),
            ("reassocresp", 0x30),
            ("reassoc-resp", 0x30),
            ("probereq", 0x40),
            ("probe-req", 0x40),
            ("proberesp", 0x50),
            ("probe-resp", 0x50),
            ("beacon", 0x80),
            ("atim", 0x90),
            ("disassoc", 0xa0),
            ("disassociation", 0xa0),
            ("auth", 0xb0),
            ("authentication", 0xb0),
            ("deauth", 0xc0),
            ("deauthentication", 0xc0),
        ],
    ),
    (
        0x04,
        &[
            ("bar", 0x80),
            ("ba", 0x90),
            ("ps-poll", 0xa0),
            ("rts", 0xb0),
            ("cts", 0xc0),
            ("ack", 0xd0),
            ("cf-end", 0xe0),
            ("cf-end-ack", 0xf0),
        ],
    ),
    (
        0x08,
        &[
            ("data", 0x00),
            ("data-cf-ack", 0x10),
            ("data-cf-poll", 0x20),
            ("data-cf-ack-poll", 0x30),
            ("null", 0x40),
            ("cf-ack", 0x50),
            ("cf-poll", 0x60),
            ("cf-ack-poll", 0x70),
            ("qos-data", 0x80),
            ("qos-data-cf-ack", 0x90),
            ("qos-data-cf-poll", 0xa0),
            ("qos-data-cf-ack-poll", 0xb0),
            ("qos", 0xc0),
            ("qos-cf-poll", 0xe0),
            ("qos-cf-ack-poll", 0xf0),
        ],
    ),
];

fn wlan_subtype(ty: u32, name: &str) -> Option<u32> {
    WLAN_SUBTYPES
        .iter()
        .find(|(t, _)| *t == ty)?
        .1
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, v)| v)
}

const LLC_RNR: u32 = 0x05;
const LLC_S_SUBTYPES: &[(&str, u32)] = &[("rr", 0x01), ("rnr", LLC_RNR), ("rej", 0x09)];
const LLC_U_SUBTYPES: &[(&str, u32)] = &[
    ("ui", 0x03),
    ("ua", 0x63),
    ("disc", 0x43),
    ("dm", 0x0f),
    ("sabme", 0x6f),
    ("test", 0xe3),
    ("xid", 0xaf),
    ("frmr", 0x87),
];

/// PF reason codes: OpenBSD's and FreeBSD's lists agree up to
/// `synproxy` (14) and differ after it; libpcap takes the names of both.
fn pf_reason(name: &str) -> Option<u32> {
    const LATER: [(&str, u32); 3] = [("map-failed", 15), ("no-route", 16), ("dummynet", 15)];
    const REASONS: [&str; 15] = [
        "match",
        "bad-offset",
        "fragment",
        "short",
        "normalize",
        "memory",
        "bad-timestamp",
        "congestion",
        "ip-option",
        "proto-cksum",
        "state-mismatch",
        "state-insert",
        "state-limit",
        "src-limit",
        "synproxy",
    ];
    REASONS
        .iter()
        .position(|r| r.eq_ignore_ascii_case(name))
        .map(|i| i as u32)
        .or_else(|| {
            LATER
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|&(_, v)| v)
        })
}

/// PF rule actions: the shared ones, then OpenBSD's (`defer` to `afrt`)
/// and FreeBSD's (`dummynet` to `nonat64`), which reuse the same numbers.
fn pf_action(name: &str) -> Option<u32> {
    const ACTIONS: [(&str, u32); 22] = [
        ("pass", 0),
        ("accept", 0),
        ("drop", 1),
        ("block", 1),
        ("scrub", 2),
        ("noscrub", 3),
        ("nat", 4),
        ("nonat", 5),
        ("binat", 6),
        ("nobinat", 7),
        ("rdr", 8),
        ("nordr", 9),
        ("synproxy-drop", 10),
        ("defer", 11),
        ("match", 12),
        ("divert", 13),
        ("rt", 14),
        ("afrt", 15),
        ("dummynet", 11),
        ("nodummynet", 12),
        ("nat64", 13),
        ("nonat64", 14),
    ];
    ACTIONS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(proto: Proto, dir: Dir, addr: AddrKind) -> Qual {
        Qual { proto, dir, addr }
    }

    fn ids(e: &Expr, out: &mut Vec<(Option<Qual>, Id)>) {
        match e {
            Expr::Chain(a, rest) => {
                ids(a, out);
                for (_, b) in rest {
                    ids(b, out);
                }
            }
            Expr::Not(a) => ids(a, out),
            Expr::Prim(Primitive::Id(q, id), _) => out.push((Some(*q), id.clone())),
            Expr::Prim(Primitive::Orphan(id), _) => out.push((None, id.clone())),
            Expr::Prim(..) => {}
        }
    }

    fn parsed(text: &str) -> Vec<(Option<Qual>, Id)> {
        let mut out = Vec::new();
        ids(&parse(text).unwrap().unwrap(), &mut out);
        out
    }

    #[test]
    fn qualifiers_are_inherited() {
        let host = q(Proto::Default, Dir::Default, AddrKind::Host);
        assert_eq!(
            parsed("host a or b"),
            vec![
                (Some(host), Id::Name("a".into())),
                (Some(host), Id::Name("b".into()))
            ]
        );
        let port = q(Proto::Tcp, Dir::Src, AddrKind::Port);
        assert_eq!(
            parsed("tcp src port 1 and not (2 or 3)"),
            vec![
                (Some(port), Id::Num(1)),
                (Some(port), Id::Num(2)),
                (Some(port), Id::Num(3))
            ]
        );
        assert_eq!(parsed("tcp and 80"), vec![(None, Id::Num(80))]);
    }

    #[test]
    fn and_or_share_precedence() {
        let e = parse("tcp or udp and icmp").unwrap().unwrap();
        let Expr::Chain(_, rest) = e else {
            panic!("not a chain")
        };
        assert_eq!(
            rest.iter().map(|(j, _)| *j).collect::<Vec<_>>(),
            [Join::Or, Join::And]
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("tcp port").unwrap_err().to_string();
        assert!(err.contains("syntax error"), "{err}");
        assert!(parse("host").is_err());
        assert!(parse("((((").is_err());
        assert!(parse("1.2.3.4").is_err());
        assert_eq!(parse("  ").unwrap(), None);
    }

    #[test]
    fn wlan_directions_are_two_bits() {
        assert!(parse("wlan dir 3").is_ok());
        let err = parse("ip or wlan dir 4").unwrap_err();
        assert_eq!(err.span(), Some(Span { start: 11, end: 16 })); // "dir 4"
        assert!(
            err.to_string().contains("invalid 802.11 direction 4"),
            "{err}"
        );
    }
}
