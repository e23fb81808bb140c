//! One block at a time (libpcap's `opt_blk`): values on entry from the
//! predecessors, each statement through [`opt_stmt`], then the peephole
//! rules and dead-store elimination, and the branch's operand value for
//! the jump threading that follows.

use visor_isa::cbpf::opcode as op;

use super::graph::{A, Graph, N_ATOMS, Node, Stmt, Use, X, atom_bit, atom_def, atom_use};
use super::values::{Progress, UNKNOWN, Values, opt_stmt};
use crate::compile::CompileError;

/// Optimizes block `b`; `do_stmts` is libpcap's second phase, where
/// statements may be deleted wholesale.
pub fn opt_blk(
    g: &mut Graph,
    vn: &mut Values,
    b: usize,
    do_stmts: bool,
    progress: &mut Progress,
) -> Result<(), CompileError> {
    let mut val = [UNKNOWN; N_ATOMS];
    if let Some((first, rest)) = g.nodes[b].in_edges.split_first() {
        val = g.nodes[first.from].val;
        for e in rest {
            let other = &g.nodes[e.from].val;
            for (v, o) in val.iter_mut().zip(other) {
                if v != o {
                    *v = UNKNOWN;
                }
            }
        }
    }
    let (aval, xval) = (val[A], val[X]);
    let node = &mut g.nodes[b];
    if node.has_local_jumps() {
        for s in &node.stmts {
            if let Some(a) = s.code.and_then(|c| atom_def(c, s.k)) {
                val[a] = UNKNOWN;
            }
        }
        node.val = val;
        set_operand_value(node, vn);
        return Ok(());
    }
    for s in &mut node.stmts {
        opt_stmt(vn, s, &mut val, do_stmts, progress)?;
    }
    node.val = val;
    // libpcap also wipes blocks whose jump compares with X; the X value
    // it assumes on entry may come from a load it deleted as redundant
    // (its issue 1699: `1/2=1/3&&1>4/5&&1>6/7` matched nothing).
    let unchanged = node.out_use == 0
        && node.code & op::SRC_MASK == op::K
        && aval != UNKNOWN
        && val[A] == aval
        && xval != UNKNOWN
        && val[X] == xval;
    if do_stmts && (unchanged || node.code & op::CLASS_MASK == op::RET) {
        if !node.stmts.is_empty() {
            node.stmts.clear();
            progress.simplify();
        }
    } else {
        opt_peep(g, vn, b, progress);
        opt_deadstores(g, b, progress);
    }
    set_operand_value(&mut g.nodes[b], vn);
    Ok(())
}

/// The value number of the jump's operand, for jump threading.
fn set_operand_value(node: &mut Node, vn: &mut Values) {
    node.oval = if node.code & op::SRC_MASK == op::K {
        vn.constant(node.k)
    } else {
        node.val[X]
    };
}

/// The next statement at or after `i` that is not deleted.
fn live(stmts: &[Stmt], mut i: usize) -> Option<usize> {
    while i < stmts.len() && stmts[i].code.is_none() {
        i += 1;
    }
    (i < stmts.len()).then_some(i)
}

fn code_at(stmts: &[Stmt], i: Option<usize>) -> Option<u16> {
    i.and_then(|i| stmts[i].code)
}

/// libpcap's `opt_peep`, without its `jset #0xffffffff` rule (that jump
/// is taken only when A is not 0; libpcap treated it as always taken).
fn opt_peep(g: &mut Graph, vn: &mut Values, b: usize, progress: &mut Progress) {
    let node = &mut g.nodes[b];
    let stmts = &mut node.stmts;
    if stmts.is_empty() {
        return;
    }
    let mut last = 0;
    let mut cur = 0;
    while let Some(s) = live(stmts, cur) {
        let Some(next) = live(stmts, s + 1) else {
            break;
        };
        last = next;
        cur = next;
        let (sc, nc) = (stmts[s].code, stmts[next].code);
        // st M[k]; ldx M[k]  ->  st M[k]; tax
        if sc == Some(op::ST) && nc == Some(op::LDX | op::MEM) && stmts[s].k == stmts[next].k {
            progress.simplify();
            stmts[next].code = Some(op::MISC | op::TAX);
        }
        // ld #k; tax  ->  ldx #k; txa
        if sc == Some(op::LD | op::IMM) && stmts[next].code == Some(op::MISC | op::TAX) {
            stmts[s].code = Some(op::LDX | op::IMM);
            stmts[next].code = Some(op::MISC | op::TXA);
            progress.simplify();
        }
        // ld #k; [ldxms]; add x; tax; ld [x + o]  ->  [ldxms]; ld [x + o + k]
        if stmts[s].code == Some(op::LD | op::IMM) {
            if node.out_use & atom_bit(X) != 0 {
                continue;
            }
            let add = if stmts[next].code != Some(op::LDX | op::MSH | op::B) {
                Some(next)
            } else {
                live(stmts, next + 1)
            };
            if code_at(stmts, add) != Some(op::ALU | op::ADD | op::X) {
                continue;
            }
            let Some(add) = add else { continue };
            let tax = live(stmts, add + 1);
            if code_at(stmts, tax) != Some(op::MISC | op::TAX) {
                continue;
            }
            let Some(tax) = tax else { continue };
            let Some(ild) = live(stmts, tax + 1) else {
                continue;
            };
            let Some(ic) = stmts[ild].code else { continue };
            if ic & op::CLASS_MASK != op::LD || ic & op::MODE_MASK != op::IND {
                continue;
            }
            stmts[ild].k = stmts[ild].k.wrapping_add(stmts[s].k);
            stmts[s].code = None;
            stmts[add].code = None;
            stmts[tax].code = None;
            progress.simplify();
        }
    }
    if node.code == op::JMP | op::JEQ | op::K && node.out_use & atom_bit(A) == 0 {
        let lc = stmts[last].code;
        if lc == Some(op::ALU | op::SUB | op::X) {
            if let Some(x) = vn.const_of(node.val[X]) {
                // sub x; jeq #y  ->  jeq #(x + y), X known
                node.k = node.k.wrapping_add(x);
                stmts[last].code = None;
                progress.simplify();
            } else if node.k == 0 {
                // sub x; jeq #0  ->  jeq x
                stmts[last].code = None;
                node.code = op::JMP | op::JEQ | op::X;
                progress.simplify();
            }
        } else if lc == Some(op::ALU | op::SUB | op::K) {
            // sub #x; jeq #y  ->  jeq #(x + y)
            stmts[last].code = None;
            node.k = node.k.wrapping_add(stmts[last].k);
            progress.simplify();
        } else if lc == Some(op::ALU | op::AND | op::K) && node.k == 0 {
            if stmts[last].k == u32::MAX {
                // and #0xffffffff; jeq #0  ->  jeq #0
                stmts[last].code = None;
            } else {
                // and #k; jeq #0  ->  jset #k, branches swapped
                node.k = stmts[last].k;
                node.code = op::JMP | op::K | op::JSET;
                stmts[last].code = None;
                std::mem::swap(&mut node.jt, &mut node.jf);
            }
            progress.simplify();
        }
    }
    if node.code == op::JMP | op::K | op::JSET && node.k == 0 {
        node.jt = node.jf;
    }
    if let Some(x) = vn.const_of(node.val[X])
        && node.code & op::SRC_MASK == op::X
    {
        node.code &= !op::X;
        node.k = x;
    }
    if let Some(a) = vn.const_of(node.val[A])
        && node.code & op::SRC_MASK == op::K
    {
        let taken = match node.code & op::OP_MASK {
            op::JEQ => a == node.k,
            op::JGT => a > node.k,
            op::JGE => a >= node.k,
            op::JSET => a & node.k != 0,
            _ => return,
        };
        if node.jt != node.jf {
            progress.simplify();
        }
        if taken {
            node.jf = node.jt;
        } else {
            node.jt = node.jf;
        }
    }
}

/// libpcap's `opt_deadstores`: a definition overwritten before any use,
/// or not used after the block, is deleted.
fn opt_deadstores(g: &mut Graph, b: usize, progress: &mut Progress) {
    let node = &mut g.nodes[b];
    // `None`: the jump at the end; `Some(i)`: statement i.
    let mut last: [Option<Option<usize>>; N_ATOMS] = [None; N_ATOMS];
    let count = node.stmts.len();
    for i in 0..=count {
        let (code, k) = match node.stmts.get(i) {
            Some(s) => match s.code {
                Some(c) => (c, s.k),
                None => continue,
            },
            None => (node.code, node.k),
        };
        match atom_use(code, k) {
            Use::Nothing => {}
            Use::Atom(a) => last[a] = None,
            Use::AandX => {
                last[A] = None;
                last[X] = None;
            }
        }
        if let Some(a) = atom_def(code, k) {
            if let Some(Some(prev)) = last[a] {
                progress.simplify();
                node.stmts[prev].code = None;
            }
            last[a] = Some((i < count).then_some(i));
        }
    }
    for (atom, l) in last.iter().enumerate() {
        if let Some(Some(i)) = l
            && node.out_use & atom_bit(atom) == 0
        {
            node.stmts[*i].code = None;
            node.val[atom] = UNKNOWN;
            progress.simplify();
        }
    }
}
