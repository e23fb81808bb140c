//! The control-flow graph the code generator builds, and its layout into a
//! flat program.
//!
//! A [`Block`] is straight-line statements ending in one conditional jump
//! (or a `ret`). While an expression is being built, the exits that are not
//! yet known form a linked list threaded through the blocks' own `jt`/`jf`
//! fields: `sense` says which of the two is the link. [`Blocks::and`] and
//! [`Blocks::or`] join two such lists by backpatching, as libpcap does, so
//! the graph (and therefore the program) has exactly libpcap's shape.
//!
//! [`Blocks::layout`] is libpcap's `icode_to_fcode`: blocks are placed in
//! the reverse of a post-order walk that visits the false branch before the
//! true one, so the root comes first and each block precedes its
//! successors. A branch farther than 255 instructions gets an extra `ja`
//! after the jump, and the layout is redone.

use visor_isa::cbpf::Insn;
use visor_isa::cbpf::opcode as op;

use super::CompileError;

/// Index of a block in [`Blocks`].
pub type BlockId = usize;

#[derive(Clone, Debug)]
pub struct Block {
    /// Statements run before the jump. Jumps among them (radio headers,
    /// `protochain`) are already relative.
    pub stmts: Vec<Insn>,
    /// The final jump or `ret` (`jt`/`jf` unused: see the fields below).
    pub jump: Insn,
    pub jt: Option<BlockId>,
    pub jf: Option<BlockId>,
    /// Which successor links the list of unresolved exits: `jt` when false.
    pub sense: bool,
    /// The first block of the expression this block ends.
    pub head: BlockId,
    /// For `true`/`false` blocks (`ld #0`/`ld #1; jeq #0`): the value they
    /// give as built, before any `not`. `and`/`or` fold these away.
    constant: Option<bool>,
    long_jt: bool,
    long_jf: bool,
}

/// All blocks of one compilation.
#[derive(Clone, Debug, Default)]
pub struct Blocks {
    blocks: Vec<Block>,
    /// Run the optimizer when the program is laid out.
    optimize: bool,
}

impl Blocks {
    pub fn get(&self, b: BlockId) -> &Block {
        &self.blocks[b]
    }

    /// Mutable access; a block changed this way is no longer a constant.
    pub fn get_mut(&mut self, b: BlockId) -> &mut Block {
        self.blocks[b].constant = None;
        &mut self.blocks[b]
    }

    /// A block that is always `value` (libpcap's `gen_true`/`gen_false`):
    /// `ld #0` (true) or `ld #1` (false), then `jeq #0`.
    pub fn constant(&mut self, value: bool) -> BlockId {
        let stmts = vec![Insn::new(op::LD | op::IMM, 0, 0, u32::from(!value))];
        let b = self.jump(op::JMP | op::JEQ | op::K, 0, stmts);
        self.blocks[b].constant = Some(value);
        b
    }

    /// The value of `b` if it is a constant, `not`s applied.
    fn truth(&self, b: BlockId) -> Option<bool> {
        let block = &self.blocks[b];
        block.constant.map(|v| v != block.sense)
    }

    /// A block of `stmts` ending in the jump `code` with constant `k`.
    pub fn jump(&mut self, code: u16, k: u32, stmts: Vec<Insn>) -> BlockId {
        let id = self.blocks.len();
        self.blocks.push(Block {
            stmts,
            jump: Insn::new(code, 0, 0, k),
            jt: None,
            jf: None,
            sense: false,
            head: id,
            constant: None,
            long_jt: false,
            long_jf: false,
        });
        id
    }

    /// A block that returns `k`.
    pub fn ret(&mut self, k: u32) -> BlockId {
        self.jump(op::RET | op::K, k, Vec::new())
    }

    pub fn head(&self, b: BlockId) -> BlockId {
        self.blocks[b].head
    }

    /// The first block of the expression ending at `b`.
    pub fn first(&self, b: BlockId) -> BlockId {
        self.blocks[b].head
    }

    pub fn not(&mut self, b: BlockId) {
        self.blocks[b].sense = !self.blocks[b].sense;
    }

    /// Points every exit on the list starting at `list` to `target`.
    pub fn backpatch(&mut self, list: BlockId, target: BlockId) {
        let mut cur = Some(list);
        while let Some(b) = cur {
            let block = &mut self.blocks[b];
            cur = if block.sense {
                block.jf.replace(target)
            } else {
                block.jt.replace(target)
            };
        }
    }

    /// Appends the list `b1` to the end of the list `b0`.
    fn merge(&mut self, b0: BlockId, b1: BlockId) {
        let mut cur = b0;
        loop {
            let block = &mut self.blocks[cur];
            let link = if block.sense {
                &mut block.jf
            } else {
                &mut block.jt
            };
            match *link {
                Some(next) => cur = next,
                None => {
                    *link = Some(b1);
                    return;
                }
            }
        }
    }

    /// `b0 and b1`. A constant operand folds away (`true and x` is `x`,
    /// `false and x` is that `false`), as in libpcap master.
    #[must_use = "the result replaces both operands"]
    pub fn and(&mut self, b0: BlockId, b1: BlockId) -> BlockId {
        match (self.truth(b0), self.truth(b1)) {
            (Some(true), _) => return b1,
            (Some(false), _) => return b0,
            (None, Some(true)) => return b0,
            (None, Some(false)) => return b1,
            (None, None) => {}
        }
        self.backpatch(b0, self.blocks[b1].head);
        self.not(b0);
        self.not(b1);
        self.merge(b1, b0);
        self.not(b1);
        self.blocks[b1].head = self.blocks[b0].head;
        b1
    }

    /// `b0 or b1`, constants folded (`true or x` is that `true`).
    #[must_use = "the result replaces both operands"]
    pub fn or(&mut self, b0: BlockId, b1: BlockId) -> BlockId {
        match (self.truth(b0), self.truth(b1)) {
            (Some(true), _) => return b0,
            (Some(false), _) => return b1,
            (None, Some(true)) => return b1,
            (None, Some(false)) => return b0,
            (None, None) => {}
        }
        self.not(b0);
        self.backpatch(b0, self.blocks[b1].head);
        self.not(b0);
        self.merge(b1, b0);
        self.blocks[b1].head = self.blocks[b0].head;
        b1
    }

    /// Makes [`Blocks::layout`] optimize the graph first.
    pub fn optimize_on_layout(&mut self) {
        self.optimize = true;
    }

    /// libpcap's `no_optimize`: the program is laid out unoptimized even
    /// when optimization was asked for. libpcap sets it where it generates
    /// jumps among statements it does not trust its optimizer with (the
    /// Prism/AVS prologue, which it sets even when no prologue is needed,
    /// 802.11 header lengths, `protochain`, Geneve).
    pub fn keep_unoptimized(&mut self) {
        self.optimize = false;
    }

    /// The program rooted at `root`, laid out as libpcap does (optimized
    /// first if [`Blocks::optimize_on_layout`] was called).
    pub fn layout(&mut self, root: BlockId) -> Result<Vec<Insn>, CompileError> {
        if std::mem::take(&mut self.optimize) {
            return super::optimize::optimize(self, root);
        }
        let order = self.post_order(root);
        loop {
            let total: usize = order.iter().map(|&b| self.size(b)).sum();
            let mut offset = vec![0usize; self.blocks.len()];
            let mut tail = total;
            for &b in &order {
                tail -= self.size(b);
                offset[b] = tail;
            }
            let mut program = vec![Insn::default(); total];
            let mut retry = false;
            for &b in &order {
                retry |= self.emit(b, &offset, &mut program);
            }
            if !retry {
                return Ok(program);
            }
            if total > crate::LIBPCAP_MAX_INSNS {
                return Err(CompileError::TooComplex);
            }
        }
    }

    fn size(&self, b: BlockId) -> usize {
        let block = &self.blocks[b];
        block.stmts.len() + 1 + usize::from(block.long_jt) + usize::from(block.long_jf)
    }

    /// Blocks in post-order, false successor first (iterative).
    fn post_order(&self, root: BlockId) -> Vec<BlockId> {
        let mut seen = vec![false; self.blocks.len()];
        let mut order = Vec::new();
        // (block, whether its successors are done); a block is marked when
        // first visited, as in a recursive walk.
        let mut stack = vec![(root, false)];
        while let Some((b, done)) = stack.pop() {
            if done {
                order.push(b);
                continue;
            }
            if seen[b] {
                continue;
            }
            seen[b] = true;
            stack.push((b, true));
            // Visited first must be on top: push jt, then jf.
            for next in [self.blocks[b].jt, self.blocks[b].jf].into_iter().flatten() {
                if !seen[next] {
                    stack.push((next, false));
                }
            }
        }
        order
    }

    /// Writes block `b`; `true` if a branch was too far and the block now
    /// reserves an extra `ja` (the layout must be redone).
    fn emit(&mut self, b: BlockId, offset: &[usize], program: &mut [Insn]) -> bool {
        let at = offset[b];
        let block = &self.blocks[b];
        let slen = block.stmts.len();
        program[at..at + slen].copy_from_slice(&block.stmts);
        let jump_at = at + slen;
        program[jump_at] = block.jump;
        let (Some(jt), Some(jf)) = (block.jt, block.jf) else {
            return false;
        };
        let mut extra = 0u8;
        let mut retry = false;
        for (target, long, is_jt) in [(jt, block.long_jt, true), (jf, block.long_jf, false)] {
            let off = offset[target].wrapping_sub(jump_at + 1);
            let field = if off >= 256 {
                if !long {
                    retry = true;
                    if is_jt {
                        self.blocks[b].long_jt = true;
                    } else {
                        self.blocks[b].long_jf = true;
                    }
                    continue;
                }
                let field = extra;
                extra += 1;
                let k = (off - usize::from(extra)) as u32;
                program[jump_at + usize::from(extra)] = Insn::new(op::JMP | op::JA, 0, 0, k);
                field
            } else {
                off as u8
            };
            if is_jt {
                program[jump_at].jt = field;
            } else {
                program[jump_at].jf = field;
            }
        }
        retry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use visor_isa::cbpf::{Format, Listing};

    #[test]
    fn and_then_finish_gives_libpcap_shape() {
        let mut g = Blocks::default();
        let ip = g.jump(op::JMP | op::JEQ, 0x800, vec![Insn::new(0x28, 0, 0, 12)]);
        let tcp = g.jump(op::JMP | op::JEQ, 6, vec![Insn::new(0x30, 0, 0, 23)]);
        let tcp = g.and(ip, tcp);
        let accept = g.ret(262144);
        g.backpatch(tcp, accept);
        g.not(tcp);
        let reject = g.ret(0);
        g.backpatch(tcp, reject);
        let program = g.layout(g.head(tcp)).unwrap();
        assert_eq!(
            Listing::new(&program, Format::Image).to_string(),
            "(000) ldh      [12]\n\
             (001) jeq      #0x800           jt 2\tjf 5\n\
             (002) ldb      [23]\n\
             (003) jeq      #0x6             jt 4\tjf 5\n\
             (004) ret      #262144\n\
             (005) ret      #0\n"
        );
    }
}
