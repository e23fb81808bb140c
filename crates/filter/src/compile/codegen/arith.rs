//! Packet data and arithmetic: `proto[index:size]`, `len`, numbers, the
//! binary operators, and relations between two such values. Every value
//! lives in a scratch register (libpcap's `struct arth`), so unoptimized
//! programs store and reload around each operation.

use visor_isa::cbpf::Insn;
use visor_isa::cbpf::opcode as op;

use super::{BlockId, Gen, Gened, JEQ, JGE, JGT, OffField, OffRel, stmt};
use crate::compile::ast::{Arith, ArithOp, Proto, Rel};
use crate::compile::linktype::LinkType;

/// A value being computed: its statements, the register that will hold
/// it, and the protocol test that must pass for it to mean anything.
struct Arth {
    stmts: Vec<Insn>,
    reg: u32,
    guard: Option<BlockId>,
}

impl Rel {
    /// The jump that tests this relation, and whether it is inverted.
    pub(in crate::compile) fn jump(self) -> (u16, super::Sense) {
        use super::Sense::{AsIs, Reversed};
        match self {
            Rel::Gt => (JGT, AsIs),
            Rel::Ge => (JGE, AsIs),
            Rel::Eq => (JEQ, AsIs),
            Rel::Le => (JGT, Reversed),
            Rel::Lt => (JGE, Reversed),
            Rel::Ne => (JEQ, Reversed),
        }
    }
}

impl Gen<'_> {
    /// `lhs rel rhs`
    pub fn relation(&mut self, rel: Rel, lhs: &Arith, rhs: &Arith) -> Gened<BlockId> {
        let a0 = self.arith(lhs)?;
        let a1 = self.arith(rhs)?;
        let (jtype, sense) = rel.jump();
        let mut stmts = a0.stmts;
        stmts.extend(a1.stmts);
        stmts.push(stmt(op::LDX | op::MEM, a1.reg));
        stmts.push(stmt(op::LD | op::MEM, a0.reg));
        let b = self.jmp_x(jtype, stmts);
        if sense == super::Sense::Reversed {
            self.g.not(b);
        }
        self.free_reg(a0.reg);
        self.free_reg(a1.reg);
        let guard = match (a0.guard, a1.guard) {
            (Some(g0), Some(g1)) => {
                let g1 = self.g.and(g0, g1);
                Some(g1)
            }
            (g0, g1) => g0.or(g1),
        };
        let b = match guard {
            Some(g) => self.g.and(g, b),
            None => b,
        };
        Ok(b)
    }

    fn arith(&mut self, a: &Arith) -> Gened<Arth> {
        match a {
            Arith::Num(v) => {
                let reg = self.alloc_reg()?;
                Ok(Arth {
                    stmts: vec![stmt(op::LD | op::IMM, *v), stmt(op::ST, reg)],
                    reg,
                    guard: None,
                })
            }
            Arith::Len => {
                let reg = self.alloc_reg()?;
                Ok(Arth {
                    stmts: vec![stmt(op::LD | op::LEN, 0), stmt(op::ST, reg)],
                    reg,
                    guard: None,
                })
            }
            Arith::Neg(inner) => {
                let mut x = self.arith(inner)?;
                x.stmts.push(stmt(op::LD | op::MEM, x.reg));
                x.stmts.push(stmt(op::ALU | op::NEG, 0));
                x.stmts.push(stmt(op::ST, x.reg));
                Ok(x)
            }
            Arith::Binary(o, l, r, span) => {
                let mut a0 = self.arith(l)?;
                let a1 = self.arith(r)?;
                self.span = *span;
                let first_imm = a1
                    .stmts
                    .first()
                    .filter(|s| s.code == op::LD | op::IMM)
                    .map(|s| s.k);
                let code = match o {
                    ArithOp::Add => op::ADD,
                    ArithOp::Sub => op::SUB,
                    ArithOp::Mul => op::MUL,
                    ArithOp::Div => op::DIV,
                    ArithOp::Mod => op::MOD,
                    ArithOp::And => op::AND,
                    ArithOp::Or => op::OR,
                    ArithOp::Xor => op::XOR,
                    ArithOp::Lsh => op::LSH,
                    ArithOp::Rsh => op::RSH,
                };
                match (o, first_imm) {
                    (ArithOp::Div, Some(0)) => return Err(self.err("division by zero")),
                    (ArithOp::Mod, Some(0)) => return Err(self.err("modulus by zero")),
                    (ArithOp::Lsh | ArithOp::Rsh, Some(k)) if k > 31 => {
                        return Err(self.err("shift by more than 31 bits"));
                    }
                    _ => {}
                }
                a0.stmts.extend(a1.stmts);
                a0.stmts.push(stmt(op::LDX | op::MEM, a1.reg));
                a0.stmts.push(stmt(op::LD | op::MEM, a0.reg));
                a0.stmts.push(stmt(op::ALU | op::X | code, 0));
                self.free_reg(a0.reg);
                self.free_reg(a1.reg);
                a0.reg = self.alloc_reg()?;
                a0.stmts.push(stmt(op::ST, a0.reg));
                Ok(a0)
            }
            Arith::Load {
                proto,
                index,
                size,
                span,
            } => {
                let inst = self.arith(index)?;
                self.span = *span;
                self.load(*proto, inst, *size)
            }
        }
    }

    /// `proto[inst : size]` (libpcap's `gen_load`).
    fn load(&mut self, proto: Proto, mut inst: Arth, size: u32) -> Gened<Arth> {
        let regno = self.alloc_reg()?;
        self.free_reg(inst.reg);
        let size = match size {
            1 => op::B,
            2 => op::H,
            4 => op::W,
            _ => return Err(self.err("data size must be 1, 2, or 4")),
        };
        let index_into_x = |s: &mut Self, which: OffField, reg: u32| -> Gened<Vec<Insn>> {
            Ok(match s.abs_offset_varpart(which)? {
                Some(mut v) => {
                    v.push(stmt(op::LD | op::MEM, reg));
                    v.push(stmt(op::ALU | op::ADD | op::X, 0));
                    v.push(stmt(op::MISC | op::TAX, 0));
                    v
                }
                None => vec![stmt(op::LDX | op::MEM, reg)],
            })
        };
        use Proto::*;
        match proto {
            Radio => {
                if !matches!(
                    self.linktype,
                    LinkType::IEEE802_11_RADIO_AVS
                        | LinkType::IEEE802_11_RADIO
                        | LinkType::PRISM_HEADER
                ) {
                    return Err(self.err("radio information not present in capture"));
                }
                inst.stmts.push(stmt(op::LDX | op::MEM, inst.reg));
                inst.stmts.push(stmt(op::LD | op::IND | size, 0));
            }
            Link => {
                let mut s = index_into_x(self, OffField::LinkHdr, inst.reg)?;
                s.push(stmt(op::LD | op::IND | size, self.off_linkhdr.k()));
                inst.stmts.extend(s);
            }
            Ip | Arp | Rarp | Atalk | Decnet | Sca | Lat | Moprc | Mopdl | Ip6 => {
                let mut s = index_into_x(self, OffField::LinkPl, inst.reg)?;
                s.push(stmt(
                    op::LD | op::IND | size,
                    self.off_linkpl.k().wrapping_add(self.off_nl),
                ));
                inst.stmts.extend(s);
                let b = self.proto_abbrev(proto)?;
                let b = match inst.guard {
                    Some(g) => self.g.and(g, b),
                    None => b,
                };
                inst.guard = Some(b);
            }
            Sctp | Tcp | Udp | Icmp | Igmp | Igrp | Pim | Vrrp | Carp => {
                let mut s = self.loadx_iphdrlen()?;
                s.push(stmt(op::LD | op::MEM, inst.reg));
                s.push(stmt(op::ALU | op::ADD | op::X, 0));
                s.push(stmt(op::MISC | op::TAX, 0));
                s.push(stmt(
                    op::LD | op::IND | size,
                    self.off_linkpl.k().wrapping_add(self.off_nl),
                ));
                inst.stmts.extend(s);
                let number = match proto {
                    Sctp => 132,
                    Tcp => 6,
                    Udp => 17,
                    Icmp => 1,
                    Igmp => 2,
                    Igrp => 9,
                    Pim => 103,
                    _ => 112,
                };
                let b0 = self.proto(number, Ip)?;
                let b = self.ipfrag()?;
                let b = self.g.and(b0, b);
                let b = match inst.guard {
                    Some(g) => self.g.and(g, b),
                    None => b,
                };
                inst.guard = Some(b);
            }
            Icmp6 => {
                let b = self.proto_abbrev(Ip6)?;
                let b = match inst.guard {
                    Some(g) => self.g.and(g, b),
                    None => b,
                };
                inst.guard = Some(b);
                let b = self.cmp(OffRel::LinkPl, 6, super::B, 58)?;
                let b = match inst.guard {
                    Some(g) => self.g.and(g, b),
                    None => b,
                };
                inst.guard = Some(b);
                let mut s = index_into_x(self, OffField::LinkPl, inst.reg)?;
                s.push(stmt(
                    op::LD | op::IND | size,
                    self.off_linkpl
                        .k()
                        .wrapping_add(self.off_nl)
                        .wrapping_add(40),
                ));
                inst.stmts.extend(s);
            }
            other => {
                return Err(self.err(format!(
                    "'{}' does not support the index operation",
                    other.keyword()
                )));
            }
        }
        inst.reg = regno;
        inst.stmts.push(stmt(op::ST, regno));
        Ok(inst)
    }
}
