//! Branch movement: jump threading along dominating edges (libpcap's
//! `opt_j` and `fold_edge`) and the pull-ups of repeated tests in `or`
//! and `and` chains (`or_pullup`, `and_pullup`).

use visor_isa::cbpf::opcode as op;

use super::dataflow::{Dominators, EdgeDominators};
use super::graph::{A, Edge, Graph, N_ATOMS, atom_bit};
use super::values::{Progress, UNKNOWN};

/// libpcap's `use_conflict`: some atom read after `succ` has a value on
/// exit from `succ` other than on exit from `b`.
fn use_conflict(g: &Graph, b: usize, succ: usize) -> bool {
    let used = g.nodes[succ].out_use;
    (0..N_ATOMS).any(|a| used & atom_bit(a) != 0 && g.nodes[b].val[a] != g.nodes[succ].val[a])
}

/// Whether going from `pred` straight to `target`, around `skipped`,
/// would change a value `target` or its successors read: an atom that
/// `skipped` writes must already hold that known value on exit from
/// `pred`. libpcap checks only [`use_conflict`], which misses what
/// `target` itself reads (its issue 1670, `vxlan and arp`).
fn bypass_conflict(g: &Graph, pred: usize, skipped: usize, target: usize) -> bool {
    let reads = g.nodes[target].in_use & g.nodes[skipped].def;
    (0..N_ATOMS).any(|a| {
        let v = g.nodes[pred].val[a];
        reads & atom_bit(a) != 0 && (v == UNKNOWN || v != g.nodes[skipped].val[a])
    })
}

/// libpcap's `fold_edge`: if the test ending `child` is decided by having
/// come along the dominating edge `e`, the successor of `child` taken.
fn fold_edge(g: &Graph, child: usize, e: Edge) -> Option<usize> {
    let pred = &g.nodes[e.from];
    let c = &g.nodes[child];
    if c.code != pred.code || c.val[A] != pred.val[A] {
        return None;
    }
    if c.oval == pred.oval {
        return if e.taken { c.jt } else { c.jf };
    }
    // Equal constants share a value number, so different numbers are
    // different constants: after `jeq #k` was taken, `jeq #j` is not.
    if e.taken && c.code == op::JMP | op::JEQ | op::K {
        return c.jf;
    }
    None
}

/// libpcap's `opt_j` on edge `e`.
pub fn opt_j(
    g: &mut Graph,
    edom: &EdgeDominators,
    e: Edge,
    scratch: &mut Vec<usize>,
    progress: &mut Progress,
) {
    let Some(mut succ) = g.succ(e) else { return };
    let Some(jt) = g.nodes[succ].jt else { return };
    if Some(jt) == g.nodes[succ].jf
        && !use_conflict(g, e.from, jt)
        && !bypass_conflict(g, e.from, succ, jt)
    {
        progress.simplify();
        g.set_succ(e, Some(jt));
        succ = jt;
    }
    edom.dominators_of(g.edge_id(e), scratch);
    'top: loop {
        for &k in scratch.iter() {
            let Some(target) = fold_edge(g, succ, g.edge(k)) else {
                continue;
            };
            if use_conflict(g, e.from, target) || bypass_conflict(g, e.from, succ, target) {
                continue;
            }
            progress.changed = true;
            g.set_succ(e, Some(target));
            succ = target;
            if g.nodes[target].jt.is_some() {
                continue 'top;
            }
            return;
        }
        return;
    }
}

/// Which way a pull-up walks a chain of tests.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// `or`: tests joined by their false branches, sharing the true one.
    Or,
    /// `and`: joined by true branches, sharing the false one.
    And,
}

/// libpcap's `or_pullup` / `and_pullup` on block `b`: a later test of the
/// value the chain above `b` tests is moved up before the tests of other
/// values. Recomputes `dom` when the graph changes.
pub fn pullup(
    g: &mut Graph,
    dom: &mut Dominators,
    b: usize,
    chain: Chain,
    progress: &mut Progress,
) {
    let Some(first) = g.nodes[b].in_edges.first().copied() else {
        return;
    };
    let val = g.nodes[first.from].val[A];
    if g.nodes[b].in_edges[1..]
        .iter()
        .any(|e| g.nodes[e.from].val[A] != val)
    {
        return;
    }
    // `along`: the branch joining the chain; `shared`: the exit all share.
    let along = chain == Chain::And;
    let exit = |g: &Graph, n: usize| {
        if along { g.nodes[n].jf } else { g.nodes[n].jt }
    };
    let shared = exit(g, b);
    let mut diff = Edge {
        from: first.from,
        taken: g.nodes[first.from].jt == Some(b),
    };
    let mut at_top = true;
    loop {
        let Some(d) = g.succ(diff) else { return };
        if exit(g, d) != shared || !dom.dominates(b, d) {
            return;
        }
        if g.nodes[d].val[A] != val {
            break;
        }
        diff = Edge {
            from: d,
            taken: along,
        };
        at_top = false;
    }
    let Some(d) = g.succ(diff) else { return };
    let mut same = Edge {
        from: d,
        taken: along,
    };
    loop {
        let Some(s) = g.succ(same) else { return };
        if exit(g, s) != shared || !dom.dominates(b, s) {
            return;
        }
        if g.nodes[s].val[A] == val {
            break;
        }
        same = Edge {
            from: s,
            taken: along,
        };
    }
    let Some(pull) = g.succ(same) else { return };
    let below = g.succ(Edge {
        from: pull,
        taken: along,
    });
    g.set_succ(same, below);
    let diff_target = g.succ(diff);
    g.set_succ(
        Edge {
            from: pull,
            taken: along,
        },
        diff_target,
    );
    if at_top {
        let preds = g.nodes[b].in_edges.clone();
        for e in preds {
            let p = e.from;
            if g.nodes[p].jt == Some(b) {
                g.nodes[p].jt = Some(pull);
            } else {
                g.nodes[p].jf = Some(pull);
            }
        }
    } else {
        g.set_succ(diff, Some(pull));
    }
    progress.changed = true;
    dom.compute(g);
}
