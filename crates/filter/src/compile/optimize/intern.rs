//! The end of optimization: identical blocks merged (libpcap's
//! `intern_blocks`) and the root's useless tests skipped (`opt_root`).

use std::collections::HashMap;

use visor_isa::cbpf::opcode as op;

use super::graph::{Graph, Stmt};

/// What `eq_blk` compares: jump, constant, successors, live statements.
type BlockKey = (u16, u32, Option<usize>, Option<usize>, Vec<Stmt>);

/// Reachable blocks, as libpcap's `mark_code` finds them.
fn marks(g: &Graph) -> Vec<bool> {
    g.reachable()
}

/// libpcap's `intern_blocks`: every edge to a block equal to a later one
/// (same jump, successors and live statements) goes to the first of the
/// later equal blocks instead; repeated until nothing changes.
pub fn intern_blocks(g: &mut Graph) {
    let n = g.nodes.len();
    loop {
        let marked = marks(g);
        let mut link: Vec<Option<usize>> = vec![None; n];
        // Key of a block: what `eq_blk` compares. Walking down from the
        // end, the map holds the lowest-numbered later block per key.
        let mut seen: HashMap<BlockKey, usize> = HashMap::new();
        for i in (0..n).rev() {
            if !marked[i] {
                continue;
            }
            let node = &g.nodes[i];
            let stmts = node
                .stmts
                .iter()
                .filter(|s| s.code.is_some())
                .copied()
                .collect();
            let key = (node.code, node.k, node.jt, node.jf, stmts);
            if i + 1 < n
                && let Some(&j) = seen.get(&key)
            {
                link[i] = Some(link[j].unwrap_or(j));
            }
            seen.insert(key, i);
        }
        let mut changed = false;
        for p in 0..n {
            let node = &mut g.nodes[p];
            let (Some(t), Some(f)) = (node.jt, node.jf) else {
                continue;
            };
            if let Some(to) = link[t] {
                node.jt = Some(to);
                changed = true;
            }
            if let Some(to) = link[f] {
                node.jf = Some(to);
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

/// libpcap's `opt_root`: the root moves past tests whose branches agree,
/// keeping its statements; a root that returns needs none.
pub fn opt_root(g: &mut Graph) {
    let saved = std::mem::take(&mut g.nodes[g.root].stmts);
    let mut root = g.root;
    while g.nodes[root].code & op::CLASS_MASK == op::JMP && g.nodes[root].jt == g.nodes[root].jf {
        match g.nodes[root].jt {
            Some(next) => root = next,
            None => break,
        }
    }
    g.root = root;
    let node = &mut g.nodes[root];
    let tail = std::mem::replace(&mut node.stmts, saved);
    node.stmts.extend(tail);
    if node.code & op::CLASS_MASK == op::RET {
        node.stmts.clear();
    }
}
