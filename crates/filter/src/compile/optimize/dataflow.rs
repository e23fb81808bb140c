//! Dataflow facts the passes read: block dominators, edge dominators and
//! register use, computed over the level lists as libpcap computes them.
//!
//! Block dominators are bit sets recomputed, like libpcap's `find_dom`,
//! over the level lists of the start of the pass even after a pull-up
//! changed the graph (the pull-ups' results depend on that). Edge
//! dominators are only computed at the start of a pass, where every set
//! is a path to the root in a tree; the tree (parent and depth per edge)
//! replaces libpcap's quadratic bit sets. libpcap's backward closure sets
//! are never read by its passes and are not computed.

use super::graph::{A, AtomSet, Edge, Graph, Use, X, atom_bit, atom_def, atom_use};
use visor_isa::cbpf::opcode as op;

/// Block dominator sets, one bit set per block.
#[derive(Clone, Debug, Default)]
pub struct Dominators {
    words: usize,
    bits: Vec<u64>,
}

impl Dominators {
    /// Whether `d` is in the dominator set of `b`.
    pub fn dominates(&self, d: usize, b: usize) -> bool {
        self.bits[b * self.words + d / 64] & (1 << (d % 64)) != 0
    }

    /// libpcap's `find_dom` over the graph's level lists.
    pub fn compute(&mut self, g: &Graph) {
        let n = g.nodes.len();
        self.words = n / 64 + 1;
        let words = self.words;
        self.bits.clear();
        self.bits.resize(n * words, u64::MAX);
        let root = g.root;
        self.bits[root * words..(root + 1) * words].fill(0);
        for b in g.top_down(0) {
            self.bits[b * words + b / 64] |= 1 << (b % 64);
            let node = &g.nodes[b];
            let (Some(t), Some(f)) = (node.jt, node.jf) else {
                continue;
            };
            for c in [t, f] {
                if c == b {
                    continue;
                }
                let (src, dst) = if b < c {
                    let (lo, hi) = self.bits.split_at_mut(c * words);
                    (&lo[b * words..(b + 1) * words], &mut hi[..words])
                } else {
                    let (lo, hi) = self.bits.split_at_mut(b * words);
                    (&hi[..words], &mut lo[c * words..(c + 1) * words])
                };
                for (d, s) in dst.iter_mut().zip(src) {
                    *d &= *s;
                }
            }
        }
    }
}

/// Edge dominators of the start of a pass: the set of an edge is itself
/// and its ancestors in this tree.
#[derive(Clone, Debug, Default)]
pub struct EdgeDominators {
    parent: Vec<Option<usize>>,
    depth: Vec<usize>,
}

impl EdgeDominators {
    /// libpcap's `find_edom`: the out-edges of a block are dominated by
    /// the edges dominating every edge into it.
    pub fn compute(&mut self, g: &Graph) {
        let n = g.nodes.len();
        self.parent.clear();
        self.parent.resize(2 * n, None);
        self.depth.clear();
        self.depth.resize(2 * n, 0);
        // Per block: `None` until an edge into it is seen, then the
        // deepest edge dominating all of them (`Some(None)`: none does).
        let mut meet: Vec<Option<Option<usize>>> = vec![None; n];
        for b in g.top_down(0) {
            let parent = if b == g.root { None } else { meet[b].flatten() };
            let depth = parent.map_or(0, |p| self.depth[p] + 1);
            let node = &g.nodes[b];
            for (taken, succ) in [(true, node.jt), (false, node.jf)] {
                let id = g.edge_id(Edge { from: b, taken });
                self.parent[id] = parent;
                self.depth[id] = depth;
                if let Some(s) = succ {
                    meet[s] = Some(match meet[s] {
                        None => Some(id),
                        Some(m) => self.common(m, Some(id)),
                    });
                }
            }
        }
    }

    /// The deepest common ancestor of two edges (each its own ancestor).
    fn common(&self, a: Option<usize>, b: Option<usize>) -> Option<usize> {
        let (mut a, mut b) = (a?, b?);
        while self.depth[a] > self.depth[b] {
            a = self.parent[a]?;
        }
        while self.depth[b] > self.depth[a] {
            b = self.parent[b]?;
        }
        while a != b {
            a = self.parent[a]?;
            b = self.parent[b]?;
        }
        Some(a)
    }

    /// The edges dominating `id` (itself included), by increasing number.
    pub fn dominators_of(&self, id: usize, out: &mut Vec<usize>) {
        out.clear();
        let mut cur = Some(id);
        while let Some(e) = cur {
            out.push(e);
            cur = self.parent[e];
        }
        out.sort_unstable();
    }
}

/// Adds to `use_set` the atoms `code`/`k` reads that `def` has not written.
fn note_use(code: u16, k: u32, def: AtomSet, use_set: &mut AtomSet) {
    let mut read = |a: usize| {
        if def & atom_bit(a) == 0 {
            *use_set |= atom_bit(a);
        }
    };
    match atom_use(code, k) {
        Use::Nothing => {}
        Use::Atom(a) => read(a),
        Use::AandX => {
            read(X);
            read(A);
        }
    }
}

/// libpcap's `find_ud`: per-block use/def/kill, then uses after each block.
pub fn find_ud(g: &mut Graph) {
    for b in g.top_down(0) {
        let node = &mut g.nodes[b];
        // Past a local jump a definition may have been skipped: then every
        // read counts as a use and nothing is surely killed.
        let straight = !node.has_local_jumps();
        let (mut def, mut use_set, mut kill) = (0, 0, 0);
        for s in &node.stmts {
            let Some(code) = s.code else { continue };
            note_use(code, s.k, if straight { def } else { 0 }, &mut use_set);
            if let Some(a) = atom_def(code, s.k) {
                if straight && use_set & atom_bit(a) == 0 {
                    kill |= atom_bit(a);
                }
                def |= atom_bit(a);
            }
        }
        if node.code & op::CLASS_MASK == op::JMP {
            note_use(
                node.code,
                node.k,
                if straight { def } else { 0 },
                &mut use_set,
            );
        }
        node.def = def;
        node.kill = kill;
        node.in_use = use_set;
        node.out_use = 0;
    }
    for b in g.bottom_up(1) {
        let node = &g.nodes[b];
        let (Some(t), Some(f)) = (node.jt, node.jf) else {
            continue;
        };
        let out = g.nodes[t].in_use | g.nodes[f].in_use;
        let node = &mut g.nodes[b];
        node.out_use |= out;
        node.in_use |= node.out_use & !node.kill;
    }
}
