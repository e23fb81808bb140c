//! Code generation: from the syntax tree to a [`Blocks`] graph, the way
//! libpcap's `gencode.c` builds it, so that the unoptimized program is the
//! same instruction for instruction.
//!
//! [`Gen`] holds all state of one compilation (no globals): the link-layer
//! [`Layout`] and how primitives such as `vlan`, `mpls`, `pppoes`, `geneve`
//! and `vxlan` move it for the primitives after them, scratch-register
//! allocation, and the options. Submodules:
//!
//! - [`link`]: link-layer type tests (`gen_linktype`), LLC/SNAP, VLAN,
//!   MPLS, PPPoE, Geneve, VXLAN, variable-length header prologues.
//! - [`net`]: hosts, networks, ports, `proto`, `protochain`, `gateway`.
//! - [`arith`]: packet-data access and arithmetic (`tcp[13] & 2 != 0`).
//! - [`misc`]: broadcast/multicast, 802.11, PFLOG, ATM, MTP2/3, direction.
//!
//! Errors are values ([`CompileError::Semantic`]) carrying the span of the
//! primitive that caused them.

mod arith;
mod link;
mod misc;
mod net;

use visor_isa::cbpf::Insn;
use visor_isa::cbpf::opcode as op;

use super::ast::{Expr, Join, Primitive};
use super::blocks::{BlockId, Blocks};
use super::lex::Span;
use super::linktype::{AbsOffset, Layout, LinkType};
use super::{Capture, CompileError, CompileOptions};

pub(super) type Gened<T> = Result<T, CompileError>;

/// What an offset given to [`Gen::load_a`] is relative to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OffRel {
    Packet,
    LinkHdr,
    PrevLinkHdr,
    Llc,
    PrevMplsHdr,
    LinkType,
    LinkPl,
    LinkPlNoSnap,
    TranIpv4,
    TranIpv6,
}

/// The offsets that [`Gen::abs_offset_varpart`] may load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OffField {
    LinkHdr,
    PrevLinkHdr,
    LinkPl,
    LinkType,
}

/// Load widths, as opcode size bits.
pub(super) const W: u16 = op::W;
pub(super) const H: u16 = op::H;
pub(super) const B: u16 = op::B;

/// Jump conditions, as opcode bits.
pub(super) const JEQ: u16 = op::JEQ;
pub(super) const JGT: u16 = op::JGT;
pub(super) const JGE: u16 = op::JGE;
pub(super) const JSET: u16 = op::JSET;

/// Whether a comparison is taken as written or inverted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sense {
    AsIs,
    Reversed,
}

pub(super) fn stmt(code: u16, k: u32) -> Insn {
    Insn::new(code, 0, 0, k)
}

/// The state of one compilation.
pub(super) struct Gen<'a> {
    pub g: Blocks,
    pub opts: &'a CompileOptions,
    pub span: Span,
    pub linktype: LinkType,
    pub prevlinktype: LinkType,
    pub outermostlinktype: LinkType,
    pub off_linkhdr: AbsOffset,
    pub off_prevlinkhdr: AbsOffset,
    pub off_outermostlinkhdr: AbsOffset,
    pub off_linkpl: AbsOffset,
    pub off_linktype: AbsOffset,
    pub off_nl: u32,
    pub off_nl_nosnap: u32,
    pub is_encap: bool,
    pub is_vlan_vloffset: bool,
    pub label_stack_depth: u32,
    pub vlan_stack_depth: u32,
    regused: [bool; 16],
    curreg: usize,
}

impl<'a> Gen<'a> {
    pub fn new(opts: &'a CompileOptions) -> Gen<'a> {
        let link = opts.linktype;
        let layout = Layout::of(link);
        Gen {
            g: Blocks::default(),
            opts,
            span: Span::default(),
            linktype: link,
            prevlinktype: link,
            outermostlinktype: link,
            off_linkhdr: layout.linkhdr,
            off_prevlinkhdr: layout.linkhdr,
            off_outermostlinkhdr: layout.linkhdr,
            off_linkpl: layout.linkpl,
            off_linktype: layout.linktype,
            off_nl: layout.nl,
            off_nl_nosnap: layout.nl_nosnap,
            is_encap: false,
            is_vlan_vloffset: false,
            label_stack_depth: 0,
            vlan_stack_depth: 0,
            regused: [false; 16],
            curreg: 0,
        }
    }

    /// The whole program for `expr` (`None`: accept everything).
    pub fn program(mut self, expr: Option<&Expr>) -> Gened<Vec<Insn>> {
        let snaplen = self.opts.snaplen;
        let root = match expr {
            None => self.g.ret(snaplen),
            Some(e) => {
                let b = self.expr(e)?;
                self.finish(b)?
            }
        };
        self.g.layout(root)
    }

    /// libpcap's `finish_parse`: prologue, PPI check, returns.
    fn finish(&mut self, mut b: BlockId) -> Gened<BlockId> {
        let head = self.g.head(b);
        self.insert_compute_vloffsets(head)?;
        if self.linktype == LinkType::PPI {
            let check = self.cmp(
                OffRel::Packet,
                4,
                W,
                LinkType::IEEE802_11.dlt().swap_bytes(),
            )?;
            b = self.g.and(check, b);
        }
        let accept = self.g.ret(self.opts.snaplen);
        self.g.backpatch(b, accept);
        self.g.not(b);
        let reject = self.g.ret(0);
        self.g.backpatch(b, reject);
        Ok(self.g.head(b))
    }

    fn expr(&mut self, e: &Expr) -> Gened<BlockId> {
        match e {
            Expr::Chain(first, rest) => {
                let mut b = self.expr(first)?;
                for (join, e) in rest {
                    let r = self.expr(e)?;
                    b = match join {
                        Join::And => self.g.and(b, r),
                        Join::Or => self.g.or(b, r),
                    };
                }
                Ok(b)
            }
            Expr::Not(inner) => {
                let b = self.expr(inner)?;
                self.g.not(b);
                Ok(b)
            }
            Expr::Prim(p, span) => {
                self.span = *span;
                self.primitive(p)
            }
        }
    }

    fn primitive(&mut self, p: &Primitive) -> Gened<BlockId> {
        match p {
            Primitive::Id(q, id) => self.id(*q, id),
            Primitive::Orphan(_) => Err(CompileError::syntax(self.span, "")),
            Primitive::Proto(proto) => self.proto_abbrev(*proto),
            Primitive::Relation(rel, a, b) => self.relation(*rel, a, b),
            other => self.other(other),
        }
    }

    /// An error about the current primitive.
    pub fn err(&self, message: impl Into<String>) -> CompileError {
        CompileError::Semantic {
            span: self.span,
            message: message.into(),
        }
    }

    /// `'KW' not supported on DLT_...`
    pub fn fail_kw(&self, keyword: &str) -> CompileError {
        self.err(format!("'{keyword}' not supported on {}", self.linktype))
    }

    pub fn assert_max(&self, name: &str, value: u32, max: u32) -> Gened<()> {
        if value > max {
            return Err(self.err(format!("{name} {value} greater than maximum {max}")));
        }
        Ok(())
    }

    // ---- scratch registers (libpcap's rotating allocator) ----

    pub fn alloc_reg(&mut self) -> Gened<u32> {
        for _ in 0..16 {
            if self.regused[self.curreg] {
                self.curreg = (self.curreg + 1) % 16;
            } else {
                self.regused[self.curreg] = true;
                return Ok(self.curreg as u32);
            }
        }
        Err(self.err("too many registers needed to evaluate expression"))
    }

    pub fn free_reg(&mut self, reg: u32) {
        if let Some(r) = self.regused.get_mut(reg as usize) {
            *r = false;
        }
    }

    // ---- loads ----

    fn offset_mut(&mut self, which: OffField) -> &mut AbsOffset {
        match which {
            OffField::LinkHdr => &mut self.off_linkhdr,
            OffField::PrevLinkHdr => &mut self.off_prevlinkhdr,
            OffField::LinkPl => &mut self.off_linkpl,
            OffField::LinkType => &mut self.off_linktype,
        }
    }

    /// `ldx M[reg]` of a variable offset (allocating its register), or
    /// `None` for a constant one.
    pub fn abs_offset_varpart(&mut self, which: OffField) -> Gened<Option<Vec<Insn>>> {
        if !self.offset_mut(which).variable {
            return Ok(None);
        }
        let reg = match self.offset_mut(which).reg {
            Some(r) => r,
            None => {
                let r = self.alloc_reg()?;
                self.offset_mut(which).reg = Some(r);
                r
            }
        };
        Ok(Some(vec![stmt(op::LDX | op::MEM, reg)]))
    }

    fn load_absoffsetrel(&mut self, which: OffField, offset: u32, size: u16) -> Gened<Vec<Insn>> {
        let k = self.offset_mut(which).k().wrapping_add(offset);
        Ok(match self.abs_offset_varpart(which)? {
            Some(mut s) => {
                s.push(stmt(op::LD | op::IND | size, k));
                s
            }
            None => vec![stmt(op::LD | op::ABS | size, k)],
        })
    }

    /// Statements that load `size` bytes at `offset` from `rel` into A.
    pub fn load_a(&mut self, rel: OffRel, offset: u32, size: u16) -> Gened<Vec<Insn>> {
        match rel {
            OffRel::Packet => Ok(vec![stmt(op::LD | op::ABS | size, offset)]),
            OffRel::LinkHdr => self.load_absoffsetrel(OffField::LinkHdr, offset, size),
            OffRel::PrevLinkHdr => self.load_absoffsetrel(OffField::PrevLinkHdr, offset, size),
            OffRel::Llc => self.load_absoffsetrel(OffField::LinkPl, offset, size),
            OffRel::PrevMplsHdr => {
                let o = self.off_nl.wrapping_sub(4).wrapping_add(offset);
                self.load_absoffsetrel(OffField::LinkPl, o, size)
            }
            OffRel::LinkPl => {
                let o = self.off_nl.wrapping_add(offset);
                self.load_absoffsetrel(OffField::LinkPl, o, size)
            }
            OffRel::LinkPlNoSnap => {
                let o = self.off_nl_nosnap.wrapping_add(offset);
                self.load_absoffsetrel(OffField::LinkPl, o, size)
            }
            OffRel::LinkType => self.load_absoffsetrel(OffField::LinkType, offset, size),
            OffRel::TranIpv4 => {
                let mut s = self.loadx_iphdrlen()?;
                let k = self
                    .off_linkpl
                    .k()
                    .wrapping_add(self.off_nl)
                    .wrapping_add(offset);
                s.push(stmt(op::LD | op::IND | size, k));
                Ok(s)
            }
            OffRel::TranIpv6 => {
                let o = self.off_nl.wrapping_add(40).wrapping_add(offset);
                self.load_absoffsetrel(OffField::LinkPl, o, size)
            }
        }
    }

    /// X = IPv4 header length (plus the variable part of the payload offset).
    pub fn loadx_iphdrlen(&mut self) -> Gened<Vec<Insn>> {
        let k = self.off_linkpl.k().wrapping_add(self.off_nl);
        Ok(match self.abs_offset_varpart(OffField::LinkPl)? {
            Some(mut s) => {
                s.push(stmt(op::LD | op::IND | op::B, k));
                s.push(stmt(op::ALU | op::AND | op::K, 0xf));
                s.push(stmt(op::ALU | op::LSH | op::K, 2));
                s.push(stmt(op::ALU | op::ADD | op::X, 0));
                s.push(stmt(op::MISC | op::TAX, 0));
                s
            }
            None => vec![stmt(op::LDX | op::MSH | op::B, k)],
        })
    }

    // ---- comparisons ----

    pub fn jmp_k(&mut self, jtype: u16, k: u32, stmts: Vec<Insn>) -> BlockId {
        self.g.jump(op::JMP | jtype | op::K, k, stmts)
    }

    pub fn jmp_x(&mut self, jtype: u16, stmts: Vec<Insn>) -> BlockId {
        self.g.jump(op::JMP | jtype | op::X, 0, stmts)
    }

    pub fn set(&mut self, k: u32, stmts: Vec<Insn>) -> BlockId {
        self.jmp_k(JSET, k, stmts)
    }

    pub fn unset(&mut self, k: u32, stmts: Vec<Insn>) -> BlockId {
        let b = self.set(k, stmts);
        self.g.not(b);
        b
    }

    #[allow(clippy::too_many_arguments)] // libpcap's gen_ncmp: one field test.
    pub fn ncmp(
        &mut self,
        rel: OffRel,
        offset: u32,
        size: u16,
        mask: u32,
        jtype: u16,
        sense: Sense,
        v: u32,
    ) -> Gened<BlockId> {
        let mut s = self.load_a(rel, offset, size)?;
        if mask != u32::MAX {
            s.push(stmt(op::ALU | op::AND | op::K, mask));
        }
        let b = self.jmp_k(jtype, v, s);
        if sense == Sense::Reversed {
            self.g.not(b);
        }
        Ok(b)
    }

    pub fn cmp(&mut self, rel: OffRel, offset: u32, size: u16, v: u32) -> Gened<BlockId> {
        self.ncmp(rel, offset, size, u32::MAX, JEQ, Sense::AsIs, v)
    }

    pub fn cmp_gt(&mut self, rel: OffRel, offset: u32, size: u16, v: u32) -> Gened<BlockId> {
        self.ncmp(rel, offset, size, u32::MAX, JGT, Sense::AsIs, v)
    }

    pub fn cmp_ge(&mut self, rel: OffRel, offset: u32, size: u16, v: u32) -> Gened<BlockId> {
        self.ncmp(rel, offset, size, u32::MAX, JGE, Sense::AsIs, v)
    }

    pub fn cmp_lt(&mut self, rel: OffRel, offset: u32, size: u16, v: u32) -> Gened<BlockId> {
        self.ncmp(rel, offset, size, u32::MAX, JGE, Sense::Reversed, v)
    }

    pub fn cmp_le(&mut self, rel: OffRel, offset: u32, size: u16, v: u32) -> Gened<BlockId> {
        self.ncmp(rel, offset, size, u32::MAX, JGT, Sense::Reversed, v)
    }

    pub fn cmp_ne(&mut self, rel: OffRel, offset: u32, size: u16, v: u32) -> Gened<BlockId> {
        self.ncmp(rel, offset, size, u32::MAX, JEQ, Sense::Reversed, v)
    }

    pub fn mcmp(
        &mut self,
        rel: OffRel,
        offset: u32,
        size: u16,
        v: u32,
        mask: u32,
    ) -> Gened<BlockId> {
        if mask == 0 {
            return Ok(if v != 0 { self.false_() } else { self.true_() });
        }
        self.ncmp(rel, offset, size, mask, JEQ, Sense::AsIs, v)
    }

    pub fn mcmp_ne(
        &mut self,
        rel: OffRel,
        offset: u32,
        size: u16,
        v: u32,
        mask: u32,
    ) -> Gened<BlockId> {
        self.ncmp(rel, offset, size, mask, JEQ, Sense::Reversed, v)
    }

    /// Compares `bytes` at `offset`, as big words from the end.
    pub fn bcmp(&mut self, rel: OffRel, offset: u32, bytes: &[u8]) -> Gened<BlockId> {
        let mut b: Option<BlockId> = None;
        let mut size = bytes.len();
        let mut chain = |s: &mut Self, tmp: BlockId| {
            let tmp = match b {
                Some(prev) => s.g.and(prev, tmp),
                None => tmp,
            };
            b = Some(tmp);
        };
        while size >= 4 {
            let v = u32::from_be_bytes([
                bytes[size - 4],
                bytes[size - 3],
                bytes[size - 2],
                bytes[size - 1],
            ]);
            let tmp = self.cmp(rel, offset + size as u32 - 4, W, v)?;
            chain(self, tmp);
            size -= 4;
        }
        while size >= 2 {
            let v = u32::from(u16::from_be_bytes([bytes[size - 2], bytes[size - 1]]));
            let tmp = self.cmp(rel, offset + size as u32 - 2, H, v)?;
            chain(self, tmp);
            size -= 2;
        }
        if size > 0 {
            let tmp = self.cmp(rel, offset, B, u32::from(bytes[0]))?;
            chain(self, tmp);
        }
        match b {
            Some(b) => Ok(b),
            None => Ok(self.true_()),
        }
    }

    pub fn true_(&mut self) -> BlockId {
        self.g.constant(true)
    }

    pub fn false_(&mut self) -> BlockId {
        self.g.constant(false)
    }

    /// Whether `b` is a lone [`Gen::false_`] block (`ld #k; jeq #0` whose
    /// outcome, after any `not`, is false).
    pub fn never(&self, b: BlockId) -> bool {
        let block = self.g.get(b);
        let lone = block.jt.is_none() && block.jf.is_none() && block.head == b;
        let constant = match block.stmts.as_slice() {
            [ld] if ld.code == op::LD | op::IMM => Some(ld.k == 0),
            _ => None,
        };
        let compares_zero = block.jump.code == op::JMP | op::JEQ | op::K && block.jump.k == 0;
        match constant {
            // `ld #0; jeq #0` holds; the block means that unless negated.
            Some(holds) if lone && compares_zero => holds == block.sense,
            _ => false,
        }
    }

    /// Whether the capture is a savefile (offline filter), and swapped.
    pub fn savefile(&self) -> Option<bool> {
        match self.opts.capture {
            Capture::Savefile(order) => Some(order == super::ByteOrder::Swapped),
            _ => None,
        }
    }

    pub fn linux_live(&self) -> bool {
        self.opts.capture == Capture::LinuxLive
    }
}
