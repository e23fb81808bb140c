//! Checked programs decoded once for [`run`](super::run): one flat
//! variant per instruction kind and operand, frequent load-and-test pairs
//! fused, jumps threaded ([`super::thread`]), then `jeq` chains on one
//! value made one instruction.

use visor_isa::cbpf::{AluOp, Ancillary, JmpCond, Load, LoadX, Op, RetVal, Size, Src};

use super::MEM_WORDS;

/// A scratch-memory slot, already reduced to the range of `M[]`.
type Slot = u8;

/// One instruction of a checked program, decoded for [`run`]. Jump targets
/// are absolute instruction indices; packet loads are split by size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    /// `ld [k]`, `ldh [k]`, `ldb [k]`.
    LdW(u32),
    LdH(u32),
    LdB(u32),
    /// `ld [x + k]`, `ldh [x + k]`, `ldb [x + k]`.
    LdIndW(u32),
    LdIndH(u32),
    LdIndB(u32),
    LdImm(u32),
    LdMem(Slot),
    LdLen,
    LdxImm(u32),
    LdxMem(Slot),
    LdxLen,
    /// `ldxb 4*([k]&0xf)`.
    LdxMsh(u32),
    St(Slot),
    Stx(Slot),
    AluK(AluOp, u32),
    AluX(AluOp),
    Neg,
    Tax,
    Txa,
    /// Forward `ja`, and backward `ja` (counted against
    /// [`MAX_BACKWARD_JUMPS`](super::MAX_BACKWARD_JUMPS)).
    Ja(u32),
    JaBack(u32),
    /// `jxx #k` and `jxx x`: to `jt` when the condition holds, else `jf`.
    JeqK(Test),
    JgtK(Test),
    JgeK(Test),
    JsetK(Test),
    JX {
        cond: JmpCond,
        jt: u32,
        jf: u32,
    },
    /// A load into A fused with the `jxx #k` after it (the pairs most
    /// frequent in compiled filters): one dispatch instead of two. The
    /// `jxx` keeps its own slot too, for the jumps that land on it.
    LdWJeq(u32, Test),
    LdHJeq(u32, Test),
    LdBJeq(u32, Test),
    LdHJgt(u32, Test),
    LdHJset(u32, Test),
    LdBJset(u32, Test),
    LdIndHJeq(u32, Test),
    LdIndBJeq(u32, Test),
    /// `and #k` then `jeq #k'`.
    AndJeq(u32, Test),
    /// `jeq` after `jeq` on the same A, each to the next when false
    /// (EtherType and port dispatch): one dispatch for the lot.
    Cases(Chain),
    /// `ldh [k]`, then such a chain.
    LdHCases(u32, Chain),
    RetK(u32),
    RetA,
    /// An instruction that always ends the filter with 0 (a Linux
    /// metadata load), or an index out of range (never, once checked).
    Reject,
}

/// A `jxx #k`, alone or the second half of a fused [`Code`]. A target at
/// or past the end of the code is a constant return ([`Decoded`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Test {
    pub k: u32,
    pub jt: u32,
    pub jf: u32,
}

impl Test {
    /// The next instruction when the condition is `holds`.
    #[inline(always)]
    pub fn next(self, holds: bool) -> usize {
        branch(holds, self.jt, self.jf)
    }
}

/// `jeq` tests in a row: `cases[start..end]` in order, the first equal
/// constant giving the target, else `default`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chain {
    start: u32,
    end: u32,
    default: u32,
}

/// One `jeq #k` of a [`Chain`], and where it goes when A is `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Case {
    k: u32,
    to: u32,
}

impl Chain {
    /// The next instruction when A is `a`.
    #[inline(always)]
    pub fn next(self, cases: &[Case], a: u32) -> usize {
        let tests = cases.get(self.start as usize..self.end as usize);
        let hit = tests.unwrap_or_default().iter().find(|c| c.k == a);
        hit.map_or(self.default, |c| c.to) as usize
    }
}

/// The longest [`Chain`] built: chains overlap (each `jeq` of one starts
/// its own), so this bounds the table at that many cases per instruction.
const MAX_CHAIN: usize = 8;

/// Replaces each `jeq` whose false jump goes to another `jeq` (and so
/// on) by one [`Chain`]; the `jeq`s stay for the jumps that land on them.
/// Returns the chains' cases.
fn chain_tests(code: &mut [Code]) -> Vec<Case> {
    let mut cases = Vec::new();
    for pc in 0..code.len() {
        let (load, first) = match code[pc] {
            Code::JeqK(t) => (None, t),
            Code::LdHJeq(at, t) => (Some(at), t),
            _ => continue,
        };
        let start = cases.len();
        cases.push(Case {
            k: first.k,
            to: first.jt,
        });
        let mut default = first.jf;
        while let Some(&Code::JeqK(t)) = code.get(default as usize) {
            if cases.len() - start == MAX_CHAIN {
                break;
            }
            cases.push(Case { k: t.k, to: t.jt });
            default = t.jf;
        }
        if cases.len() - start < 2 {
            cases.truncate(start);
            continue;
        }
        let chain = Chain {
            start: start as u32,
            end: cases.len() as u32,
            default,
        };
        code[pc] = match load {
            Some(at) => Code::LdHCases(at, chain),
            None => Code::Cases(chain),
        };
    }
    cases
}

/// `jt` if `holds`, else `jf`, by a conditional branch. Left alone, the
/// compiler picks with a conditional move, which makes fetching the next
/// instruction wait for the packet load and the comparison; a branch is
/// predicted, and the processor runs on. The empty `black_box` on one side
/// cannot be executed speculatively, so the two sides stay a branch (and,
/// given `()`, it moves no value through memory).
#[inline(always)]
pub(super) fn branch(holds: bool, jt: u32, jf: u32) -> usize {
    if holds {
        jt as usize
    } else {
        std::hint::black_box(());
        jf as usize
    }
}

/// A checked program decoded for [`run`](super::run): the instructions,
/// the constants that jumps return without a dispatch of their own (a
/// jump to `code.len() + i` returns `returns[i]`), and the cases of the
/// [`Chain`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub code: Vec<Code>,
    pub returns: Vec<u32>,
    pub cases: Vec<Case>,
    /// Whether any instruction reads or writes scratch memory.
    pub uses_memory: bool,
}

/// Decodes the checked `ops` into [`Code`], index for index, fuses each
/// load into A with the `jxx #k` that follows it, where frequent, then
/// threads the jumps ([`super::thread`]).
pub(crate) fn decode(ops: &[Op]) -> Decoded {
    let mut code = decode_each(ops);
    for i in 1..code.len() {
        let fused = match (code[i - 1], code[i]) {
            (Code::LdW(at), Code::JeqK(t)) => Code::LdWJeq(at, t),
            (Code::LdH(at), Code::JeqK(t)) => Code::LdHJeq(at, t),
            (Code::LdB(at), Code::JeqK(t)) => Code::LdBJeq(at, t),
            (Code::LdH(at), Code::JgtK(t)) => Code::LdHJgt(at, t),
            (Code::LdH(at), Code::JsetK(t)) => Code::LdHJset(at, t),
            (Code::LdB(at), Code::JsetK(t)) => Code::LdBJset(at, t),
            (Code::LdIndH(at), Code::JeqK(t)) => Code::LdIndHJeq(at, t),
            (Code::LdIndB(at), Code::JeqK(t)) => Code::LdIndBJeq(at, t),
            (Code::AluK(AluOp::And, m), Code::JeqK(t)) => Code::AndJeq(m, t),
            _ => continue,
        };
        code[i - 1] = fused;
    }
    super::thread::thread_jumps(&mut code);
    let returns = super::thread::fold_returns(&mut code);
    let cases = chain_tests(&mut code);
    let uses_memory = code.iter().any(|c| {
        matches!(
            c,
            Code::LdMem(_) | Code::LdxMem(_) | Code::St(_) | Code::Stx(_)
        )
    });
    Decoded {
        code,
        returns,
        cases,
        uses_memory,
    }
}

/// Decodes each of the checked `ops` alone.
fn decode_each(ops: &[Op]) -> Vec<Code> {
    let target = |pc: usize, skip: i64| {
        // Checked jumps land inside the program; anything else rejects.
        let to = i64::try_from(pc)
            .ok()
            .and_then(|pc| (pc + 1).checked_add(skip));
        to.and_then(|to| u32::try_from(to).ok())
            .filter(|&to| (to as usize) < ops.len())
    };
    let slot = |slot: u32| {
        usize::try_from(slot)
            .ok()
            .filter(|&s| s < MEM_WORDS)
            .map(|s| s as Slot)
    };
    ops.iter()
        .enumerate()
        .map(|(pc, &op)| {
            let code = match op {
                Op::Ld(Load::Abs { offset, .. }) if Ancillary::from_offset(offset).is_some() => {
                    None
                }
                Op::Ld(Load::Abs { size, offset }) => Some(match size {
                    Size::Word => Code::LdW(offset),
                    Size::Half => Code::LdH(offset),
                    Size::Byte => Code::LdB(offset),
                }),
                Op::Ld(Load::Ind { size, offset }) => Some(match size {
                    Size::Word => Code::LdIndW(offset),
                    Size::Half => Code::LdIndH(offset),
                    Size::Byte => Code::LdIndB(offset),
                }),
                Op::Ld(Load::Imm(k)) => Some(Code::LdImm(k)),
                Op::Ld(Load::Mem { slot: s }) => slot(s).map(Code::LdMem),
                Op::Ld(Load::Len) => Some(Code::LdLen),
                Op::Ldx(LoadX::Imm(k)) => Some(Code::LdxImm(k)),
                Op::Ldx(LoadX::Mem { slot: s }) => slot(s).map(Code::LdxMem),
                Op::Ldx(LoadX::Len) => Some(Code::LdxLen),
                Op::Ldx(LoadX::Msh { offset }) => Some(Code::LdxMsh(offset)),
                Op::St { slot: s } => slot(s).map(Code::St),
                Op::Stx { slot: s } => slot(s).map(Code::Stx),
                Op::Alu { op, src: Src::K(k) } => Some(Code::AluK(op, k)),
                Op::Alu { op, src: Src::X } => Some(Code::AluX(op)),
                Op::Neg => Some(Code::Neg),
                Op::Tax => Some(Code::Tax),
                Op::Txa => Some(Code::Txa),
                // libpcap reads `k` as signed: protochain loops backward.
                Op::Ja { k } => {
                    let skip = i64::from(k as i32);
                    target(pc, skip).map(|to| {
                        if skip < 0 {
                            Code::JaBack(to)
                        } else {
                            Code::Ja(to)
                        }
                    })
                }
                Op::Jump { cond, src, jt, jf } => {
                    match (target(pc, i64::from(jt)), target(pc, i64::from(jf))) {
                        (Some(jt), Some(jf)) => Some(match (cond, src) {
                            (JmpCond::Eq, Src::K(k)) => Code::JeqK(Test { k, jt, jf }),
                            (JmpCond::Gt, Src::K(k)) => Code::JgtK(Test { k, jt, jf }),
                            (JmpCond::Ge, Src::K(k)) => Code::JgeK(Test { k, jt, jf }),
                            (JmpCond::Set, Src::K(k)) => Code::JsetK(Test { k, jt, jf }),
                            (cond, Src::X) => Code::JX { cond, jt, jf },
                        }),
                        _ => None,
                    }
                }
                Op::Ret(RetVal::K(k)) => Some(Code::RetK(k)),
                Op::Ret(RetVal::A) => Some(Code::RetA),
            };
            code.unwrap_or(Code::Reject)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use visor_isa::cbpf::{JmpCond, Load, Op, RetVal, Size, Src};

    use super::{Code, decode};

    /// `vlan`, unoptimized: three EtherType tests, reloading each time.
    #[test]
    fn ethertype_tests_in_a_row_become_one_chain() {
        let ldh12 = Op::Ld(Load::Abs {
            size: Size::Half,
            offset: 12,
        });
        let jeq = |k, jt, jf| Op::Jump {
            cond: JmpCond::Eq,
            src: Src::K(k),
            jt,
            jf,
        };
        let ops = [
            ldh12,
            jeq(0x8100, 4, 0),
            ldh12,
            jeq(0x88a8, 2, 0),
            ldh12,
            jeq(0x9100, 0, 1),
            Op::Ret(RetVal::K(1)),
            Op::Ret(RetVal::K(0)),
        ];
        let decoded = decode(&ops);
        let Code::LdHCases(12, chain) = decoded.code[0] else {
            panic!("{:?}", decoded.code);
        };
        let returned = |a| decoded.returns[chain.next(&decoded.cases, a) - decoded.code.len()];
        for (a, want) in [(0x8100, 1), (0x88a8, 1), (0x9100, 1), (0x0800, 0)] {
            assert_eq!(returned(a), want, "{a:#x}");
        }
    }
}
