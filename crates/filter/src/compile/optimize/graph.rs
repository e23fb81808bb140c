//! The optimizer's own copy of the block graph: blocks numbered in
//! libpcap's depth-first pre-order (true branch first), statements that can
//! be deleted in place, and the per-pass bookkeeping (levels, in-edges,
//! register use) that the passes read.

use visor_isa::cbpf::opcode as op;
use visor_isa::cbpf::{Insn, opcode::MEM_WORDS};

use crate::compile::blocks::{BlockId, Blocks};

/// Scratch memory words, then the accumulator and the index register:
/// the "atoms" whose values the optimizer tracks.
pub const MEMWORDS: usize = MEM_WORDS as usize;
pub const A: usize = MEMWORDS;
pub const X: usize = MEMWORDS + 1;
pub const N_ATOMS: usize = MEMWORDS + 2;

/// A set of atoms, one bit each.
pub type AtomSet = u32;

pub fn atom_bit(atom: usize) -> AtomSet {
    1 << atom
}

/// One statement; `code` is `None` once the optimizer deleted it. A jump
/// among statements keeps its relative targets in `jt` and `jf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stmt {
    pub code: Option<u16>,
    pub k: u32,
    pub jt: u8,
    pub jf: u8,
}

/// What a statement or jump reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    Nothing,
    Atom(usize),
    /// Both A and X (an ALU or jump with X as operand).
    AandX,
}

/// Atoms read by the instruction `code` with constant `k`.
pub fn atom_use(code: u16, k: u32) -> Use {
    match code & op::CLASS_MASK {
        op::RET => match code & op::RVAL_MASK {
            op::RET_A => Use::Atom(A),
            op::RET_X => Use::Atom(X),
            _ => Use::Nothing,
        },
        op::LD | op::LDX => match code & op::MODE_MASK {
            op::IND => Use::Atom(X),
            op::MEM => Use::Atom(k as usize),
            _ => Use::Nothing,
        },
        op::ST => Use::Atom(A),
        op::STX => Use::Atom(X),
        op::JMP | op::ALU if code & op::SRC_MASK == op::X => Use::AandX,
        op::JMP | op::ALU => Use::Atom(A),
        _ if code & op::MISCOP_MASK == op::TXA => Use::Atom(X),
        _ => Use::Atom(A),
    }
}

/// The atom written by the statement `code` with constant `k`, if any.
pub fn atom_def(code: u16, k: u32) -> Option<usize> {
    match code & op::CLASS_MASK {
        op::LD | op::ALU => Some(A),
        op::LDX => Some(X),
        op::ST | op::STX => Some(k as usize),
        op::MISC if code & op::MISCOP_MASK == op::TAX => Some(X),
        op::MISC => Some(A),
        _ => None,
    }
}

/// An edge: the true or false exit of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Edge {
    pub from: usize,
    pub taken: bool,
}

/// One block and what the current pass knows about it.
#[derive(Clone, Debug)]
pub struct Node {
    pub stmts: Vec<Stmt>,
    /// The final jump or `ret`.
    pub code: u16,
    pub k: u32,
    pub jt: Option<usize>,
    pub jf: Option<usize>,
    pub level: usize,
    /// Atoms read before being written here, written here, written before
    /// being read here, and read after this block.
    pub in_use: AtomSet,
    pub def: AtomSet,
    pub kill: AtomSet,
    pub out_use: AtomSet,
    /// Value number of each atom on exit.
    pub val: [u32; N_ATOMS],
    /// Value number of the jump's operand (`k` or X).
    pub oval: u32,
    /// In-edges, in libpcap's list order.
    pub in_edges: Vec<Edge>,
}

impl Node {
    /// Whether jumps among the statements branch inside this block (the
    /// VLAN ID test with Linux metadata: libpcap optimizes around it).
    /// Deleting a statement there could move a jump's target, and what the
    /// block leaves in an atom depends on the path taken, so the passes
    /// keep its statements and know nothing of the values it defines.
    pub fn has_local_jumps(&self) -> bool {
        self.stmts
            .iter()
            .any(|s| s.code.is_some_and(|c| c & op::CLASS_MASK == op::JMP))
    }
}

/// The graph being optimized.
#[derive(Clone, Debug)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub root: usize,
    /// `levels[l]`: the blocks at height `l` (0 for returns), in the order
    /// libpcap's level lists hold them.
    pub levels: Vec<Vec<usize>>,
}

impl Graph {
    /// Copies the blocks reachable from `root`, numbered as libpcap's
    /// `number_blks_r` does. `None` when the graph holds something the
    /// optimizer does not model (scratch memory out of range): the caller
    /// keeps the unoptimized program.
    pub fn from_blocks(blocks: &Blocks, root: BlockId) -> Option<Graph> {
        let mut id_of = std::collections::HashMap::new();
        let mut order = Vec::new();
        let mut stack = vec![root];
        while let Some(b) = stack.pop() {
            if id_of.contains_key(&b) {
                continue;
            }
            id_of.insert(b, order.len());
            order.push(b);
            let block = blocks.get(b);
            // Pre-order, true branch first: push false, then true.
            for next in [block.jf, block.jt].into_iter().flatten() {
                if !id_of.contains_key(&next) {
                    stack.push(next);
                }
            }
        }
        let mut nodes = Vec::with_capacity(order.len());
        for &b in &order {
            let block = blocks.get(b);
            let mut stmts = Vec::with_capacity(block.stmts.len());
            for s in &block.stmts {
                if !modelled(s) {
                    return None;
                }
                stmts.push(Stmt {
                    code: Some(s.code),
                    k: s.k,
                    jt: s.jt,
                    jf: s.jf,
                });
            }
            let (jt, jf) = match (block.jt, block.jf) {
                (Some(t), Some(f)) => (Some(id_of[&t]), Some(id_of[&f])),
                (None, None) if block.jump.code & op::CLASS_MASK == op::RET => (None, None),
                _ => return None,
            };
            nodes.push(Node {
                stmts,
                code: block.jump.code,
                k: block.jump.k,
                jt,
                jf,
                level: 0,
                in_use: 0,
                def: 0,
                kill: 0,
                out_use: 0,
                val: [0; N_ATOMS],
                oval: 0,
                in_edges: Vec::new(),
            });
        }
        Some(Graph {
            nodes,
            root: 0,
            levels: Vec::new(),
        })
    }

    /// The optimized graph as fresh [`Blocks`] (deleted statements
    /// dropped), with its root, ready for layout.
    pub fn to_blocks(&self) -> (Blocks, BlockId) {
        let mut out = Blocks::default();
        let reachable = self.reachable();
        let mut map = vec![usize::MAX; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            if !reachable[i] {
                continue;
            }
            let stmts = n
                .stmts
                .iter()
                .filter_map(|s| s.code.map(|c| Insn::new(c, s.jt, s.jf, s.k)))
                .collect();
            map[i] = out.jump(n.code, n.k, stmts);
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if let (true, Some(t), Some(f)) = (reachable[i], n.jt, n.jf) {
                let block = out.get_mut(map[i]);
                block.jt = Some(map[t]);
                block.jf = Some(map[f]);
            }
        }
        (out, map[self.root])
    }

    /// Blocks reachable from the root.
    pub fn reachable(&self) -> Vec<bool> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![self.root];
        while let Some(b) = stack.pop() {
            if std::mem::replace(&mut seen[b], true) {
                continue;
            }
            stack.extend([self.nodes[b].jt, self.nodes[b].jf].into_iter().flatten());
        }
        seen
    }

    pub fn succ(&self, e: Edge) -> Option<usize> {
        let n = &self.nodes[e.from];
        if e.taken { n.jt } else { n.jf }
    }

    pub fn set_succ(&mut self, e: Edge, to: Option<usize>) {
        let n = &mut self.nodes[e.from];
        if e.taken {
            n.jt = to;
        } else {
            n.jf = to;
        }
    }

    /// libpcap's edge numbering: true edges `0..n`, false edges `n..2n`.
    pub fn edge_id(&self, e: Edge) -> usize {
        e.from + if e.taken { 0 } else { self.nodes.len() }
    }

    pub fn edge(&self, id: usize) -> Edge {
        let n = self.nodes.len();
        Edge {
            from: id % n,
            taken: id < n,
        }
    }

    /// `find_levels`: each block's height over the returns, and the level
    /// lists, by a post-order walk (true branch first) from the root.
    pub fn find_levels(&mut self) {
        let n = self.nodes.len();
        let mut seen = vec![false; n];
        let mut levels: Vec<Vec<usize>> = Vec::new();
        let mut stack = vec![(self.root, false)];
        while let Some((b, children_done)) = stack.pop() {
            if children_done {
                let node = &self.nodes[b];
                let level = match (node.jt, node.jf) {
                    (Some(t), Some(f)) => self.nodes[t].level.max(self.nodes[f].level) + 1,
                    _ => 0,
                };
                self.nodes[b].level = level;
                if levels.len() <= level {
                    levels.resize(level + 1, Vec::new());
                }
                // libpcap prepends; iterate these lists in reverse.
                levels[level].push(b);
                continue;
            }
            if std::mem::replace(&mut seen[b], true) {
                continue;
            }
            stack.push((b, true));
            let node = &self.nodes[b];
            for next in [node.jf, node.jt].into_iter().flatten() {
                if !seen[next] {
                    stack.push((next, false));
                }
            }
        }
        for list in &mut levels {
            list.reverse();
        }
        self.levels = levels;
    }

    /// Blocks from the root's level down to `lowest`, in libpcap's order.
    pub fn top_down(&self, lowest: usize) -> Vec<usize> {
        let top = self.nodes[self.root].level;
        (lowest..=top)
            .rev()
            .flat_map(|l| self.levels.get(l).into_iter().flatten().copied())
            .collect()
    }

    /// Blocks from level `lowest` up to the root's level.
    pub fn bottom_up(&self, lowest: usize) -> Vec<usize> {
        let top = self.nodes[self.root].level;
        (lowest..=top)
            .flat_map(|l| self.levels.get(l).into_iter().flatten().copied())
            .collect()
    }

    /// `find_inedges` over the (possibly stale) level lists.
    pub fn find_inedges(&mut self) {
        for n in &mut self.nodes {
            n.in_edges.clear();
        }
        for b in self.top_down(1) {
            for taken in [true, false] {
                let e = Edge { from: b, taken };
                if let Some(s) = self.succ(e) {
                    self.nodes[s].in_edges.push(e);
                }
            }
        }
        // libpcap links each edge at the head of the list.
        for n in &mut self.nodes {
            n.in_edges.reverse();
        }
    }
}

/// Whether the optimizer models statement `s` (and its operands).
fn modelled(s: &Insn) -> bool {
    let class = s.code & op::CLASS_MASK;
    let mem = match class {
        op::LD | op::LDX => s.code & op::MODE_MASK == op::MEM,
        op::ST | op::STX => true,
        _ => false,
    };
    class != op::RET && (!mem || (s.k as usize) < MEMWORDS)
}
