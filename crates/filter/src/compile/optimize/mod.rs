//! The optimizer: libpcap's `bpf_optimize` over the block graph the code
//! generator built, written anew from its algorithm so that the program
//! comes out as libpcap master's.
//!
//! The passes, one module each, in the order libpcap applies them:
//!
//! - [`graph`]: the optimizer's copy of the graph, numbered as libpcap
//!   numbers blocks, with levels (height over the returns) and in-edges;
//! - [`dataflow`]: block dominators, edge dominators, register use;
//! - [`values`]: value numbering and constant folding of statements;
//! - [`block`]: per block, values on entry, peephole rules, dead stores;
//! - [`branch`]: jump threading (`opt_j`) and the `or`/`and` pull-ups;
//! - [`intern`]: merging identical blocks, and moving the root.
//!
//! The fixed-point loop runs twice, first moving branches and simplifying
//! statements, then deleting statements of blocks that change nothing;
//! like libpcap, it stops after 100 passes in a row that only moved
//! branches (libpcap can cycle there). The layout is
//! [`Blocks::layout`], shared with the unoptimized program.
//!
//! Known libpcap bugs kept out (each has a regression test in
//! `tests/optimize.rs`): `jset #0xffffffff` is not "always true" (it is
//! taken when A is not 0; `and #0xffffffff; jeq #0` becomes `jeq #0`); a
//! branch moved around a block, or a block skipped because both its
//! branches agree, must not change a value the new successor reads
//! (libpcap issue 1670, `vxlan and arp`); a block whose jump compares
//! with X keeps its statements even when they seem to change nothing
//! (libpcap issue 1699, constants folded to equal values).
//!
//! Jumps among statements: where libpcap refuses to optimize (its
//! `no_optimize`: Prism/AVS, 802.11 header lengths, `protochain`, Geneve)
//! the code generator calls [`Blocks::keep_unoptimized`]. The one place
//! libpcap optimizes around them, the VLAN ID test with Linux metadata,
//! keeps that block's statements untouched and its values unknown
//! ([`graph::Node::has_local_jumps`]). Block dominators are libpcap's
//! quadratic bit sets.

mod block;
mod branch;
mod dataflow;
mod graph;
mod intern;
mod values;

use visor_isa::cbpf::Insn;
use visor_isa::cbpf::opcode as op;

use super::CompileError;
use super::blocks::{BlockId, Blocks};
use branch::Chain;
use dataflow::{Dominators, EdgeDominators};
use graph::{Edge, Graph};
use values::{Progress, Values};

/// Passes in a row that only move branches before the loop gives up.
const BRANCH_ONLY_PASSES: usize = 100;

/// Optimizes the program rooted at `root` and lays it out. Programs the
/// optimizer does not model are laid out unoptimized.
pub fn optimize(blocks: &mut Blocks, root: BlockId) -> Result<Vec<Insn>, CompileError> {
    let Some(mut g) = Graph::from_blocks(blocks, root) else {
        return blocks.layout(root);
    };
    let mut opt = Optimizer::default();
    opt.run(&mut g, false)?;
    opt.run(&mut g, true)?;
    intern::intern_blocks(&mut g);
    intern::opt_root(&mut g);
    let r = &g.nodes[g.root];
    if r.code == op::RET | op::K && r.k == 0 {
        return Err(CompileError::RejectsAll);
    }
    let (mut out, root) = g.to_blocks();
    out.layout(root)
}

/// State the passes share.
#[derive(Default)]
struct Optimizer {
    values: Values,
    dom: Dominators,
    edom: EdgeDominators,
    scratch: Vec<usize>,
}

impl Optimizer {
    /// libpcap's `opt_loop`.
    fn run(&mut self, g: &mut Graph, do_stmts: bool) -> Result<(), CompileError> {
        let mut branch_only = 0;
        loop {
            g.find_levels();
            self.dom.compute(g);
            dataflow::find_ud(g);
            self.edom.compute(g);
            let progress = self.pass(g, do_stmts)?;
            if !progress.changed {
                return Ok(());
            }
            if progress.simplified {
                branch_only = 0;
            } else {
                branch_only += 1;
                if branch_only >= BRANCH_ONLY_PASSES {
                    return Ok(());
                }
            }
        }
    }

    /// libpcap's `opt_blks`.
    fn pass(&mut self, g: &mut Graph, do_stmts: bool) -> Result<Progress, CompileError> {
        let mut progress = Progress::default();
        self.values.clear();
        g.find_inedges();
        for b in g.top_down(0) {
            block::opt_blk(g, &mut self.values, b, do_stmts, &mut progress)?;
        }
        if do_stmts {
            return Ok(progress);
        }
        let inner = g.bottom_up(1);
        for &b in &inner {
            for taken in [true, false] {
                let e = Edge { from: b, taken };
                branch::opt_j(g, &self.edom, e, &mut self.scratch, &mut progress);
            }
        }
        g.find_inedges();
        for &b in &inner {
            branch::pullup(g, &mut self.dom, b, Chain::Or, &mut progress);
            branch::pullup(g, &mut self.dom, b, Chain::And, &mut progress);
        }
        Ok(progress)
    }
}
