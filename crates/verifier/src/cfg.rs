//! Control flow, checked before any value is tracked: functions found from
//! local calls, jumps that stay inside their function, no unreachable code,
//! every function ending in `exit` or a jump, a call graph without recursion
//! and at most [`MAX_FRAMES`] deep. Also computes what the abstract
//! interpreter needs: prune points, register liveness, and which registers'
//! exact values may matter (precision).
//!
//! [`visor_isa::Program`] already guarantees that every jump lands on an
//! instruction inside the program (never inside `lddw`).

use crate::diagnostic::{Category, Rejection};
use crate::loops::{self, CountedLoop};
use crate::precision::{Precision, Slots};
use crate::state::{MAX_FRAMES, STACK_SIZE, State};
use visor_isa::{CallTarget, Insn, LoadImm, Program, Reg, Source, branch_target};

/// One function: slots `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    pub start: usize,
    pub end: usize,
}

/// The program's control-flow facts.
#[derive(Clone, Debug)]
pub struct Cfg {
    /// The instruction starting at each slot (`None` for `lddw`'s second).
    pub insns: Vec<Option<Insn>>,
    /// Functions in program order; the first is the entry.
    pub functions: Vec<Function>,
    /// `(call site, callee function index)` for local calls and callbacks.
    pub calls: Vec<(usize, usize)>,
    /// Where the interpreter compares states (jump targets, join points).
    pub prune: Vec<bool>,
    /// Registers live on entry to each slot, one bit per register.
    pub live: Vec<u16>,
    /// Which registers' and own stack slots' exact values may matter.
    pub precision: Precision,
    /// The counted loops, by head slot.
    pub counted: Vec<Option<CountedLoop>>,
    /// For each slot, the head of the counted loop whose body holds it.
    pub counted_body: Vec<Option<usize>>,
}

/// Register sets, one bit per register: the arguments r1..r5, and what a
/// call leaves unusable (them and r0, which it sets).
pub(crate) const ARGS: u16 = 0b11_1110;
pub(crate) const CALL_CLOBBERS: u16 = 1 | ARGS;
const FRAME_POINTER: u16 = 1 << 10;

impl Cfg {
    /// The control flow of `program`, and its precision when run from
    /// `entry`.
    pub fn build(program: &Program, entry: &State) -> Result<Cfg, Rejection> {
        let len = program.slot_len();
        let mut insns = vec![None; len];
        for (pc, insn) in program.iter() {
            insns[pc] = Some(*insn);
        }
        let mut starts = vec![0usize];
        for (pc, insn) in program.iter() {
            let callee = matches!(
                insn,
                Insn::Call(CallTarget::Local(_))
                    | Insn::LoadImm64 {
                        kind: LoadImm::Func,
                        ..
                    }
            );
            if let (true, Some(target)) = (callee, branch_target(pc, insn)) {
                starts.push(target as usize);
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let functions: Vec<Function> = starts
            .iter()
            .enumerate()
            .map(|(i, &start)| Function {
                start,
                end: starts.get(i + 1).copied().unwrap_or(len),
            })
            .collect();
        let mut cfg = Cfg {
            insns,
            functions,
            calls: Vec::new(),
            prune: vec![false; len],
            live: vec![0; len],
            precision: Precision::default(),
            counted: Vec::new(),
            counted_body: Vec::new(),
        };
        cfg.check_functions()?;
        cfg.check_call_graph()?;
        cfg.compute_liveness();
        cfg.precision = Precision::compute(&cfg, entry);
        (cfg.counted, cfg.counted_body) = loops::find(&cfg);
        // Their heads are where laps are compared.
        for (pc, counted) in cfg.counted.iter().enumerate() {
            cfg.prune[pc] |= counted.is_some();
        }
        Ok(cfg)
    }

    /// Index of the function holding slot `pc`.
    pub fn function_of(&self, pc: usize) -> usize {
        self.functions
            .partition_point(|f| f.start <= pc)
            .saturating_sub(1)
    }

    /// Index of the function starting at `pc`.
    pub fn function_at(&self, pc: usize) -> Option<usize> {
        self.functions.iter().position(|f| f.start == pc)
    }

    /// Slots control may reach from `pc` within its function.
    pub(crate) fn successors(&self, pc: usize) -> Vec<usize> {
        let Some(insn) = self.insns[pc] else {
            return Vec::new();
        };
        let next = pc + insn.slot_count();
        match insn {
            Insn::Exit => vec![],
            Insn::Ja { .. } => branch_target(pc, &insn)
                .map(|t| t as usize)
                .into_iter()
                .collect(),
            Insn::Jump { .. } => {
                let mut out = vec![next];
                out.extend(branch_target(pc, &insn).map(|t| t as usize));
                out
            }
            _ => vec![next],
        }
    }

    fn check_functions(&mut self) -> Result<(), Rejection> {
        for (index, function) in self.functions.clone().iter().enumerate() {
            let mut reached = vec![false; function.end - function.start];
            let mut work = vec![function.start];
            while let Some(pc) = work.pop() {
                if reached[pc - function.start] {
                    continue;
                }
                reached[pc - function.start] = true;
                for next in self.successors(pc) {
                    if !(function.start..function.end).contains(&next) {
                        let message = if next >= function.end && next == self.insns.len() {
                            "control falls off the end of the program: end every path with `exit`"
                                .to_string()
                        } else if next == function.end {
                            format!(
                                "control falls through from function {index} into the next function at {next}: end it with `exit`"
                            )
                        } else {
                            format!(
                                "jump from {pc} to {next} leaves its function (slots {}..{})",
                                function.start, function.end
                            )
                        };
                        return Err(Rejection::new(pc, Category::ControlFlow, message));
                    }
                    let jump_target =
                        self.insns[pc].is_some_and(|i| branch_target(pc, &i) == Some(next as i64));
                    let conditional = matches!(self.insns[pc], Some(Insn::Jump { .. }));
                    if jump_target || conditional {
                        self.prune[next] = true;
                    }
                    work.push(next);
                }
            }
            for pc in function.start..function.end {
                if self.insns[pc].is_some() && !reached[pc - function.start] {
                    return Err(Rejection::new(
                        pc,
                        Category::ControlFlow,
                        format!("instruction {pc} is unreachable: remove it or the jump around it"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_call_graph(&mut self) -> Result<(), Rejection> {
        for pc in 0..self.insns.len() {
            let Some(insn) = self.insns[pc] else { continue };
            let callee = match insn {
                Insn::Call(CallTarget::Local(_))
                | Insn::LoadImm64 {
                    kind: LoadImm::Func,
                    ..
                } => branch_target(pc, &insn).and_then(|t| self.function_at(t as usize)),
                _ => None,
            };
            if let Some(callee) = callee {
                self.calls.push((pc, callee));
                if matches!(insn, Insn::Call(_)) && pc + 1 < self.insns.len() {
                    self.prune[pc + 1] = true;
                }
            }
        }
        // Depth-first over the call graph: a callee on the current chain is
        // recursion; a chain longer than the frame limit is too deep.
        let mut chain = vec![(0usize, 0usize)];
        self.walk_calls(&mut chain)
    }

    fn walk_calls(&self, chain: &mut Vec<(usize, usize)>) -> Result<(), Rejection> {
        let (current, _) = *chain.last().expect("chain starts with the entry");
        let function = self.functions[current];
        for &(site, callee) in &self.calls {
            if !(function.start..function.end).contains(&site) {
                continue;
            }
            if chain.iter().any(|&(f, _)| f == callee) {
                return Err(Rejection::new(
                    site,
                    Category::CallStack,
                    format!(
                        "recursive call: function at {} calls itself (directly or through others), which eBPF does not allow",
                        self.functions[callee].start
                    ),
                ));
            }
            if chain.len() >= MAX_FRAMES {
                return Err(Rejection::new(
                    site,
                    Category::CallStack,
                    format!(
                        "calls nested {} deep: at most {MAX_FRAMES} frames are allowed",
                        chain.len() + 1
                    ),
                ));
            }
            chain.push((callee, site));
            self.walk_calls(chain)?;
            chain.pop();
        }
        Ok(())
    }

    /// The kernel's combined stack rule: along any chain of calls, the
    /// frames' depths (each rounded up to 32 bytes) add up to at most 512.
    pub fn check_stack(&self, depths: &[usize]) -> Result<(), Rejection> {
        let rounded = |f: usize| depths.get(f).copied().unwrap_or(0).max(1).div_ceil(32) * 32;
        let mut chain = vec![(0usize, usize::MAX)];
        self.walk_stack(&mut chain, rounded(0), &rounded)
    }

    fn walk_stack(
        &self,
        chain: &mut Vec<(usize, usize)>,
        total: usize,
        rounded: &dyn Fn(usize) -> usize,
    ) -> Result<(), Rejection> {
        let (current, site) = *chain.last().expect("chain starts with the entry");
        if total > STACK_SIZE {
            return Err(Rejection::new(
                site.min(self.functions[current].start),
                Category::CallStack,
                format!(
                    "combined stack of the call chain is {total} bytes: at most {STACK_SIZE} are allowed; use less stack in the callers or the callee"
                ),
            ));
        }
        let function = self.functions[current];
        for &(site, callee) in &self.calls {
            if (function.start..function.end).contains(&site) {
                chain.push((callee, site));
                self.walk_stack(chain, total + rounded(callee), rounded)?;
                chain.pop();
            }
        }
        Ok(())
    }

    fn compute_liveness(&mut self) {
        self.live = self.solve_backward(|insn, after| {
            let (uses, defs) = uses_defs(insn);
            uses | (after & !defs) | FRAME_POINTER
        });
    }

    /// Solves a backward problem over register sets: `before(insn, after)`
    /// is the set on entry to an instruction given the union of the sets
    /// on entry to its successors (none after `exit`). Calls flow to the
    /// next instruction: each function is solved on its own.
    fn solve_backward(&self, before: impl Fn(&Insn, u16) -> u16) -> Vec<u16> {
        let len = self.insns.len();
        let mut sets = vec![0u16; len];
        let mut changed = true;
        while changed {
            changed = false;
            for pc in (0..len).rev() {
                let Some(insn) = self.insns[pc] else { continue };
                let after = self
                    .successors(pc)
                    .iter()
                    .fold(0, |acc, &s| acc | sets.get(s).copied().unwrap_or(0));
                let value = before(&insn, after);
                if sets[pc] != value {
                    sets[pc] = value;
                    changed = true;
                }
            }
        }
        sets
    }

    /// Whether `reg` may be read at or after `pc` before being written.
    pub fn is_live(&self, pc: usize, reg: usize) -> bool {
        self.live.get(pc).is_some_and(|l| l & (1 << reg) != 0)
    }

    /// Whether the exact value `reg` holds at `pc` may decide something
    /// later: a branch, a memory access, a helper's argument, the return
    /// value. A scalar whose value cannot is as good as any other scalar.
    pub fn is_precise(&self, pc: usize, reg: usize) -> bool {
        self.precision
            .regs
            .get(pc)
            .is_some_and(|p| p & (1 << reg) != 0)
    }

    /// The own frame's stack slots whose exact values may matter at `pc`.
    pub fn precise_slots(&self, pc: usize) -> Slots {
        self.precision.slots.get(pc).copied().unwrap_or(0)
    }

    /// The own frame's stack slots that may be read at or after `pc`.
    pub fn live_slots(&self, pc: usize) -> Slots {
        self.precision
            .live_slots
            .get(pc)
            .copied()
            .unwrap_or(Slots::MAX)
    }
}

pub(crate) fn bit(reg: Reg) -> u16 {
    1 << reg.index()
}

pub(crate) fn source_bit(src: Source) -> u16 {
    match src {
        Source::Reg(r) => bit(r),
        Source::Imm(_) => 0,
    }
}

/// Registers read and written by one instruction.
pub(crate) fn uses_defs(insn: &Insn) -> (u16, u16) {
    use visor_isa::{AluOp, AtomicOp, PacketOffset};
    match *insn {
        Insn::Alu {
            op: AluOp::Mov | AluOp::Movsx(_),
            dst,
            src,
            ..
        } => (source_bit(src), bit(dst)),
        Insn::Alu { dst, src, .. } => (bit(dst) | source_bit(src), bit(dst)),
        Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => (bit(dst), bit(dst)),
        Insn::Load { dst, src, .. } => (bit(src), bit(dst)),
        Insn::Store { dst, src, .. } => (bit(dst) | source_bit(src), 0),
        Insn::Atomic { op, dst, src, .. } => {
            let r0 = if op == AtomicOp::Cmpxchg {
                bit(Reg::R0)
            } else {
                0
            };
            (
                bit(dst) | bit(src) | r0,
                if op == AtomicOp::Cmpxchg {
                    r0
                } else {
                    bit(src)
                },
            )
        }
        Insn::LoadImm64 { dst, .. } => (0, bit(dst)),
        Insn::LoadPacket { offset, .. } => {
            let index = match offset {
                PacketOffset::Ind(r) => bit(r),
                PacketOffset::Abs => 0,
            };
            (bit(Reg::R6) | index, CALL_CLOBBERS)
        }
        Insn::Jump { dst, src, .. } => (bit(dst) | source_bit(src), 0),
        Insn::Ja { .. } => (0, 0),
        Insn::Call(_) => (ARGS, CALL_CLOBBERS),
        Insn::CallReg(r) => (ARGS | bit(r), CALL_CLOBBERS),
        Insn::Exit => (1, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use visor_isa::asm::{Syntax, assemble};

    fn build(text: &str) -> Result<Cfg, Rejection> {
        Cfg::build(&assemble(text, Syntax::Llvm).unwrap(), &State::entry())
    }

    #[test]
    fn unreachable_code_and_fall_through_are_rejected() {
        let e = build("r0 = 0\nexit\nr0 = 1\nexit").unwrap_err();
        assert_eq!((e.pc, e.category), (2, Category::ControlFlow));
        let e = build("r0 = 0").unwrap_err();
        assert_eq!(e.category, Category::ControlFlow);
        assert!(build("r0 = 0\nif r0 == 0 goto +1\nr0 = 1\nexit").is_ok());
    }

    #[test]
    fn functions_recursion_and_liveness() {
        let cfg = build("call pc+1\nexit\nr0 = 1\nexit").unwrap();
        assert_eq!(cfg.functions.len(), 2);
        assert_eq!(cfg.calls, vec![(0, 1)]);
        let e = build("call pc+1\nexit\ncall pc-1\nexit").unwrap_err();
        assert_eq!(e.category, Category::CallStack);
        let cfg = build("r2 = 1\nr0 = r2\nexit").unwrap();
        assert!(cfg.is_live(1, 2) && !cfg.is_live(0, 2) && cfg.is_live(2, 0));
    }

    #[test]
    fn combined_stack_is_limited() {
        let cfg = build("call pc+1\nexit\nr0 = 1\nexit").unwrap();
        assert!(cfg.check_stack(&[256, 256]).is_ok());
        let e = cfg.check_stack(&[300, 256]).unwrap_err();
        assert_eq!(e.category, Category::CallStack);
    }
}
