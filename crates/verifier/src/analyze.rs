//! The abstract interpreter: a depth-first walk over (instruction, state)
//! pairs that follows every feasible path, the way the kernel's verifier
//! does, so that refinements along one path are never blurred by a join.
//!
//! Cost stays bounded by pruning. At prune points (jump targets and join
//! points, see [`crate::cfg`]) the state is first stripped of dead
//! registers, then compared with the states already explored there: if one
//! of them *includes* the new state, and its exploration finished, the new
//! path is safe and stops. A stored state that is an ancestor of the current
//! path (its exploration is in progress: we are in a loop) cannot prune,
//! since that would assume what the loop still has to prove; if the loop
//! comes back to exactly the same state it would run forever, and the
//! program is rejected. Loops that make progress each iteration are
//! unrolled until they exit or the instruction budget runs out.
//!
//! Instruction semantics live here (ALU, jumps, exit); memory accesses in
//! `access.rs`, calls in `calls.rs`.

use crate::backtrack::{self, Marks, Step};
use crate::cfg::Cfg;
use crate::diagnostic::{Category, Rejection};
use crate::scalar::Scalar;
use crate::state::{PacketBase, Pointer, PtrKind, State, Value};
use crate::{Pointers, Stats, VerifyEnv};
use visor_isa::{AluOp, ByteOrder, Insn, JmpCond, LoadImm, Reg, Source, Width, branch_target};
use visor_object::{MapDef, ProgramType};

/// Stored states kept per instruction for pruning.
const MAX_STATES_PER_INSN: usize = 256;
/// Pointer offsets beyond this are rejected (the kernel's `BPF_MAX_VAR_OFF`).
const MAX_POINTER_OFFSET: i64 = 1 << 29;

/// An explored state, with how often it pruned a path and how often it
/// was compared in vain.
struct Stored {
    pc: usize,
    state: State,
    /// What the exploration from here decided on ([`crate::backtrack`]).
    precise: Marks,
    /// The steps from the previous stored state on its path to this one.
    history: Vec<Step>,
    hits: u32,
    misses: u32,
    /// Widened at a counted loop's head ([`Analyzer::widen_loop`]).
    widened: bool,
}

impl Stored {
    /// A finished state that keeps failing to prune costs a comparison at
    /// every visit and saves nothing: dropped after 3 misses a hit (and 3
    /// more), as the kernel does.
    fn is_useless(&self) -> bool {
        self.misses > self.hits * 3 + 3
    }
}

/// A path still to explore.
struct Work {
    pc: usize,
    state: State,
    /// Length of the ancestor chain when this path forked off.
    path_len: usize,
    /// The steps since the last of those ancestors.
    segment: Vec<Step>,
}

pub(crate) struct Analyzer<'a> {
    pub(crate) cfg: &'a Cfg,
    pub(crate) env: &'a VerifyEnv,
    /// The environment's maps, then the inner maps of map-in-map types.
    pub(crate) maps: Vec<MapDef>,
    /// For each map, the index of its inner map's definition.
    pub(crate) inner: Vec<Option<usize>>,
    pub(crate) stats: Stats,
    /// Explored states, by id; `None` once evicted.
    stored: Vec<Option<Stored>>,
    /// Ids of the states stored at each instruction.
    visited: Vec<Vec<usize>>,
    /// The current path's stored states (ancestors), and a flag per id.
    path: Vec<usize>,
    on_path: Vec<bool>,
    /// Deepest stack byte used, per function.
    pub(crate) stack_depth: Vec<usize>,
    pub(crate) log: Option<String>,
    /// For each conditional jump: whether falling through, and jumping,
    /// happened on some path.
    outcomes: Vec<[bool; 2]>,
    /// Per slot, the regions its memory access reached.
    pub(crate) reached: Vec<crate::access::Reached>,
    /// The current path's steps since its last stored state.
    segment: Vec<Step>,
    /// The constant-offset stack access of the step being taken.
    pub(crate) stack_access: Option<(u8, u16, u8)>,
    /// Whether counted loops may be widened, and whether one was.
    widen: bool,
    pub(crate) widened: bool,
}

/// What one instruction leads to.
pub(crate) type Successors = Vec<(usize, State)>;

impl<'a> Analyzer<'a> {
    pub(crate) fn new(cfg: &'a Cfg, env: &'a VerifyEnv, log: bool, widen: bool) -> Analyzer<'a> {
        let mut maps = env.maps.clone();
        let mut inner = vec![None; maps.len()];
        for (i, slot) in inner.iter_mut().enumerate() {
            if let (true, Some(def)) = (maps[i].map_type.is_map_in_map(), maps[i].inner.clone()) {
                *slot = Some(maps.len());
                maps.push(*def);
            }
        }
        Analyzer {
            cfg,
            env,
            maps,
            inner,
            stats: Stats::default(),
            stored: Vec::new(),
            visited: vec![Vec::new(); cfg.insns.len()],
            path: Vec::new(),
            on_path: Vec::new(),
            stack_depth: vec![0; cfg.functions.len()],
            log: log.then(String::new),
            outcomes: vec![[false; 2]; cfg.insns.len()],
            reached: vec![Default::default(); cfg.insns.len()],
            segment: Vec::new(),
            stack_access: None,
            widen,
            widened: false,
        }
    }

    pub(crate) fn run(&mut self, entry: State) -> Result<(), Rejection> {
        let mut work = vec![Work {
            pc: 0,
            state: entry,
            path_len: 0,
            segment: Vec::new(),
        }];
        while let Some(Work {
            mut pc,
            mut state,
            path_len,
            segment,
        }) = work.pop()
        {
            self.truncate_path(path_len);
            self.segment = segment;
            if let Some(log) = &mut self.log {
                log.push_str(&format!("-- path at {pc}: {}\n", state.describe()));
            }
            loop {
                if self.cfg.prune.get(pc).copied().unwrap_or(false) {
                    self.forget_dead(&mut state, pc);
                    let widened = self.widen_loop(pc, &mut state);
                    if let (true, Some(log)) = (widened, &mut self.log) {
                        log.push_str(&format!(
                            "{pc:>5}: counted loop: widened to the laps left: {}\n",
                            state.describe()
                        ));
                    }
                    if self.seen(pc, &state, widened)? {
                        if let Some(log) = &mut self.log {
                            log.push_str(&format!(
                                "{pc:>5}: safe: a state explored here includes this one\n"
                            ));
                        }
                        self.stats.pruned += 1;
                        break;
                    }
                }
                self.stats.insns_processed += 1;
                if self.stats.insns_processed > self.env.budget {
                    return Err(self.reject(
                        pc,
                        &state,
                        Category::Termination,
                        format!(
                            "gave up after {} instructions: a loop here may not terminate, or the program has too many paths; bound the loop with a constant",
                            self.env.budget
                        ),
                    ));
                }
                let before = self.log.as_ref().map(|_| state.clone());
                let depth = state.depth() as u8;
                self.stack_access = None;
                let mut next = self.step(pc, state)?;
                self.segment.push(Step {
                    pc: pc as u32,
                    depth,
                    stack: self.stack_access,
                });
                if let (Some(before), Some(log)) = (before, &mut self.log) {
                    log_step(log, self.cfg, pc, &before, &next);
                }
                match next.len() {
                    0 => break,
                    1 => (pc, state) = next.pop().expect("one successor"),
                    _ => {
                        let (other_pc, other) = next.pop().expect("two successors");
                        work.push(Work {
                            pc: other_pc,
                            state: other,
                            path_len: self.path.len(),
                            segment: self.segment.clone(),
                        });
                        (pc, state) = next.pop().expect("two successors");
                    }
                }
            }
        }
        self.stats.states_stored = self.stored.len() as u64;
        Ok(())
    }

    /// Conditional jumps reached with one outcome never feasible.
    pub(crate) fn dead_branches(&self) -> Vec<(usize, bool)> {
        let mut dead = Vec::new();
        for (pc, [fall, taken]) in self.outcomes.iter().enumerate() {
            if *fall != *taken {
                dead.push((pc, !*taken));
            }
        }
        dead
    }

    fn truncate_path(&mut self, len: usize) {
        while self.path.len() > len {
            let id = self.path.pop().expect("longer than len");
            self.on_path[id] = false;
            if let Some(stored) = &self.stored[id]
                && !self.visited[stored.pc].contains(&id)
            {
                self.stored[id] = None;
            }
        }
    }

    /// Registers and stack slots dead at `pc` become `Uninit`, and scalars
    /// whose exact value cannot matter any more become unknown: then states
    /// that differ only there prune each other.
    fn forget_dead(&self, state: &mut State, pc: usize) {
        let frame = state.frame_mut();
        for (reg, value) in frame.regs.iter_mut().enumerate() {
            if !self.cfg.is_live(pc, reg) {
                *value = Value::Uninit;
            } else if !self.cfg.is_precise(pc, reg) && matches!(value, Value::Scalar(_)) {
                *value = Value::Scalar(Scalar::UNKNOWN);
            }
        }
        frame.stack.forget_values(self.cfg.precise_slots(pc));
        frame.stack.forget_slots(self.cfg.live_slots(pc));
        state.forget_unused_packet_facts();
    }

    /// At a counted loop's head, widens `state` toward the laps left when
    /// the last state stored here on this path was one lap earlier (the
    /// counter one step behind) or was widened itself: the counter takes
    /// every value it can hold here ([`crate::loops`]), and the other
    /// numbers that changed over the lap go as far as they were going
    /// ([`Scalar::widen`]). Says whether it did.
    fn widen_loop(&mut self, pc: usize, state: &mut State) -> bool {
        let Some(counted) = self.cfg.counted[pc].filter(|_| self.widen) else {
            return false;
        };
        let Some((id, before)) = self.visited[pc]
            .iter()
            .rev()
            .find(|&&id| self.on_path[id])
            .and_then(|&id| Some((id, self.stored[id].as_ref()?)))
            .filter(|(_, stored)| stored.state.depth() == state.depth())
        else {
            return false;
        };
        let (Value::Scalar(then), Value::Scalar(now)) =
            (before.state.reg(counted.reg), state.reg(counted.reg))
        else {
            return false;
        };
        if steps_a_pointer(&before.state, state) {
            return false;
        }
        // Once widened, the counter holds every value a lap can bring
        // here (the test bounds it, even when the walk cannot tell, as
        // when it compares a copy); a new entry into the loop starts over.
        let counter = if before.widened {
            self.lapped(pc, id).then_some(then)
        } else {
            counted
                .widen(&now, self.env.budget)
                .filter(|_| counted.one_step(&then, &now))
        };
        let Some(counter) = counter else {
            return false;
        };
        let earlier = before.state.frame().regs;
        for (value, earlier) in state.frame_mut().regs.iter_mut().zip(earlier) {
            if let (Value::Scalar(now), Value::Scalar(then)) = (*value, earlier) {
                *value = Value::Scalar(then.widen(&now));
            }
        }
        state.set(counted.reg, Value::Scalar(counter));
        self.widened = true;
        true
    }

    /// Whether the path from the stored state `id` (on it) to `pc` went
    /// around a counted loop only: every state stored since lies in the
    /// body that holds `pc`. (Around an outer loop too, an equal state
    /// would mean that loop makes no progress.)
    fn lapped(&self, pc: usize, id: usize) -> bool {
        let Some(head) = self.cfg.counted_body[pc] else {
            return false;
        };
        let since = self.path.iter().skip_while(|&&on| on != id);
        since
            .filter_map(|&on| self.stored[on].as_ref())
            .all(|stored| self.cfg.counted_body[stored.pc] == Some(head))
    }

    /// Whether an explored state at `pc` includes `state` (prune); stores
    /// `state` otherwise. Rejects a loop that returns to the same state.
    fn seen(&mut self, pc: usize, state: &State, widened: bool) -> Result<bool, Rejection> {
        let mut useless = Vec::new();
        // On the path, whether the state there includes this one decides
        // two things below (when either applies): it is compared once.
        let needed = self.cfg.counted_body[pc].is_some() || !self.env.check_termination;
        for &id in &self.visited[pc] {
            let on_path_includes = self.on_path[id]
                && needed
                && self.stored[id]
                    .as_ref()
                    .is_some_and(|old| old.state.includes(state));
            // A counted loop ends by its shape: coming around it into a
            // state already being explored adds nothing.
            let around = on_path_includes && self.cfg.counted_body[pc].is_some();
            if around && self.lapped(pc, id) {
                self.mark_precise(backtrack::ALL);
                return Ok(true);
            }
            let Some(old) = &mut self.stored[id] else {
                continue;
            };
            if self.on_path[id] && !self.env.check_termination {
                if on_path_includes {
                    // What the ancestor's exploration will need is not
                    // known yet: everything on this path matters.
                    self.mark_precise(backtrack::ALL);
                    return Ok(true);
                }
                continue;
            }
            if self.on_path[id] {
                if old.state.same_as(state) {
                    return Err(self.reject(
                        pc,
                        state,
                        Category::Termination,
                        "infinite loop: control comes back here with nothing changed, so the loop can never exit",
                    ));
                }
                continue;
            }
            if old.state.includes_where(state, &old.precise) {
                old.hits += 1;
                let needed = old.precise;
                self.mark_precise(needed);
                return Ok(true);
            }
            old.misses += 1;
            if old.is_useless() {
                useless.push(id);
            }
        }
        for &id in &useless {
            self.stored[id] = None;
        }
        self.visited[pc].retain(|id| !useless.contains(id));
        // Keep the most recent states: in a loop explored iteration by
        // iteration, the paths left to explore return to recent states.
        // A state on the current path is only unlisted: backtracking goes
        // through it, and drops it when it leaves the path.
        if self.visited[pc].len() >= MAX_STATES_PER_INSN {
            let oldest = self.visited[pc].remove(0);
            if !self.on_path[oldest] {
                self.stored[oldest] = None;
            }
        }
        let id = self.stored.len();
        self.stored.push(Some(Stored {
            pc,
            state: state.clone(),
            precise: Marks::default(),
            history: std::mem::take(&mut self.segment),
            hits: 0,
            misses: 0,
            widened,
        }));
        self.on_path.push(true);
        self.visited[pc].push(id);
        self.path.push(id);
        Ok(false)
    }

    /// Marks values the current state's future depended on, and carries
    /// the marks back to every stored state on the current path.
    pub(crate) fn mark_precise(&mut self, mut marks: Marks) {
        for step in self.segment.iter().rev() {
            marks = self.step_back(step, marks);
        }
        for i in (0..self.path.len()).rev() {
            if backtrack::is_empty(&marks) {
                return;
            }
            let Some(stored) = self.stored[self.path[i]].as_mut() else {
                return;
            };
            if !backtrack::merge(&mut stored.precise, &marks) {
                return;
            }
            let history = std::mem::take(&mut stored.history);
            for step in history.iter().rev() {
                marks = self.step_back(step, marks);
            }
            if let Some(stored) = self.stored[self.path[i]].as_mut() {
                stored.history = history;
            }
        }
    }

    fn step_back(&self, step: &Step, marks: Marks) -> Marks {
        match self.cfg.insns[step.pc as usize] {
            Some(insn) => backtrack::before(&insn, step, marks),
            None => marks,
        }
    }

    /// Marks those of `regs` that hold numbers in the current frame.
    pub(crate) fn mark_scalars(&mut self, state: &State, regs: &[Reg]) {
        self.mark_precise(scalar_marks(state, regs));
    }

    pub(crate) fn reject(
        &self,
        pc: usize,
        state: &State,
        category: Category,
        message: impl Into<String>,
    ) -> Rejection {
        let mut rejection = Rejection::new(pc, category, message);
        rejection.state = state.describe();
        rejection
    }

    /// Reads a register that must be initialised.
    pub(crate) fn read(&self, pc: usize, state: &State, reg: Reg) -> Result<Value, Rejection> {
        match state.reg(reg) {
            Value::Uninit => Err(self.reject(
                pc,
                state,
                Category::UninitRegister,
                format!("{reg} is read before anything was written to it: initialise it on every path that reaches here"),
            )),
            value => Ok(value),
        }
    }

    fn source(
        &self,
        pc: usize,
        state: &State,
        src: Source,
        width: Width,
    ) -> Result<Value, Rejection> {
        match src {
            Source::Reg(reg) => self.read(pc, state, reg),
            Source::Imm(imm) => Ok(Value::Scalar(Scalar::constant(match width {
                Width::W64 => imm as i64 as u64,
                Width::W32 => u64::from(imm as u32),
            }))),
        }
    }

    fn write_dst(&self, pc: usize, state: &State, dst: Reg) -> Result<(), Rejection> {
        if dst == Reg::R10 {
            return Err(self.reject(
                pc,
                state,
                Category::FramePointerWrite,
                "r10 is the read-only frame pointer: copy it to another register (`r1 = r10`) and change the copy",
            ));
        }
        Ok(())
    }

    fn step(&mut self, pc: usize, mut state: State) -> Result<Successors, Rejection> {
        let Some(insn) = self.cfg.insns[pc] else {
            return Err(self.reject(
                pc,
                &state,
                Category::ControlFlow,
                "no instruction starts here",
            ));
        };
        let next = pc + insn.slot_count();
        match insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                self.write_dst(pc, &state, dst)?;
                self.mark_alu_operands(&state, op, dst, src);
                let value = self.alu(pc, &mut state, width, op, dst, src)?;
                match (width, op, src) {
                    (Width::W64, AluOp::Mov, Source::Reg(src)) => state.copy(dst, src),
                    _ => state.set(dst, value),
                }
            }
            Insn::Neg { width, dst } => {
                self.write_dst(pc, &state, dst)?;
                let value = self.scalar_operand(pc, &state, dst, "negated")?;
                state.set(dst, Value::Scalar(value.neg(width)));
            }
            Insn::Endian { order, bits, dst } => {
                self.write_dst(pc, &state, dst)?;
                let value = self.scalar_operand(pc, &state, dst, "byte-swapped")?;
                // On a little-endian machine `le` only truncates.
                let swap = order != ByteOrder::ToLe;
                state.set(dst, Value::Scalar(value.byte_swap(bits, swap)));
            }
            Insn::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => {
                self.write_dst(pc, &state, dst)?;
                let value = self.load(pc, &mut state, src, off, size.bytes(), signed)?;
                state.set(dst, value);
            }
            Insn::Store {
                size,
                dst,
                off,
                src,
            } => {
                let value = self.source(pc, &state, src, Width::W64)?;
                self.store(pc, &mut state, dst, off, size.bytes(), value)?;
            }
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => {
                self.atomic(pc, &mut state, size.bytes(), op, dst, src, off)?;
            }
            Insn::LoadImm64 { kind, dst, imm } => {
                self.write_dst(pc, &state, dst)?;
                let value = self.load_imm(pc, &state, kind, imm, &insn)?;
                state.set(dst, value);
            }
            Insn::LoadPacket { size, offset, .. } => {
                self.legacy_packet_load(pc, &mut state, size.bytes(), offset)?;
            }
            Insn::Jump {
                width,
                cond,
                dst,
                src,
                ..
            } => {
                let target = branch_target(pc, &insn).map_or(next, |t| t as usize);
                return self.branch(pc, state, width, cond, dst, src, target, next);
            }
            Insn::Ja { .. } => {
                let target = branch_target(pc, &insn).map_or(next, |t| t as usize);
                return Ok(vec![(target, state)]);
            }
            Insn::Call(target) => return self.call(pc, state, target),
            // `callx` calls the helper whose id the register holds; only a
            // known id can be checked against its prototype.
            Insn::CallReg(reg) => {
                let id = match self.read(pc, &state, reg)? {
                    Value::Scalar(s) => s.as_const().and_then(|id| i32::try_from(id).ok()),
                    Value::Ptr(_) | Value::Uninit => None,
                };
                let Some(id) = id else {
                    return Err(self.reject(
                        pc,
                        &state,
                        Category::Unsupported,
                        format!("`callx {reg}`: {reg} must hold a known helper id (indirect calls to anything else are not supported)"),
                    ));
                };
                self.mark_scalars(&state, &[reg]);
                return self.helper(pc, state, id);
            }
            Insn::Exit => return self.exit(pc, state),
        }
        Ok(vec![(next, state)])
    }

    fn scalar_operand(
        &self,
        pc: usize,
        state: &State,
        reg: Reg,
        what: &str,
    ) -> Result<Scalar, Rejection> {
        match self.read(pc, state, reg)? {
            Value::Scalar(s) => Ok(s),
            value => Err(self.reject(
                pc,
                state,
                Category::PointerArithmetic,
                format!("{reg} holds a pointer ({value}), which cannot be {what}"),
            )),
        }
    }

    /// A number added to a pointer sets its offset, and a divisor is
    /// checked for zero when that is asked: their values matter.
    fn mark_alu_operands(&mut self, state: &State, op: AluOp, dst: Reg, src: Source) {
        let Source::Reg(src) = src else { return };
        let pointers = (
            matches!(state.reg(dst), Value::Ptr(_)),
            matches!(state.reg(src), Value::Ptr(_)),
        );
        let divides = matches!(op, AluOp::Div | AluOp::Mod | AluOp::Sdiv | AluOp::Smod);
        if matches!(op, AluOp::Add | AluOp::Sub) && pointers != (false, false)
            || divides && !self.env.allow_division_by_zero
        {
            self.mark_scalars(state, &[dst, src]);
        }
    }

    fn alu(
        &self,
        pc: usize,
        state: &mut State,
        width: Width,
        op: AluOp,
        dst: Reg,
        src: Source,
    ) -> Result<Value, Rejection> {
        let rhs = self.source(pc, state, src, width)?;
        if matches!(op, AluOp::Mov) {
            return Ok(match (width, rhs) {
                (Width::W64, value) => value,
                (Width::W32, Value::Scalar(s)) => Value::Scalar(s.truncate(4)),
                // Half a pointer is a number that tells an address.
                (Width::W32, value) if self.env.pointers == Pointers::Strict => {
                    return Err(self.reject(
                        pc,
                        state,
                        Category::PointerLeak,
                        format!("the source holds a pointer ({value}): its low 32 bits would be a number that tells an address; copy it whole (64-bit `mov`)"),
                    ));
                }
                (Width::W32, _) => Value::Scalar(Scalar::of_size(4)),
            });
        }
        if let Some(end) = packet_end_sum(state, width, op, dst, src) {
            return Ok(end);
        }
        if let AluOp::Movsx(size) = op {
            let Value::Scalar(s) = rhs else {
                return Err(self.reject(
                    pc,
                    state,
                    Category::PointerArithmetic,
                    "sign extension of a pointer is not allowed",
                ));
            };
            let extended = s.sign_extend(size.bytes());
            return Ok(Value::Scalar(match width {
                Width::W64 => extended,
                Width::W32 => extended.truncate(4),
            }));
        }
        if matches!(op, AluOp::Div | AluOp::Mod | AluOp::Sdiv | AluOp::Smod)
            && !self.env.allow_division_by_zero
        {
            let divisor = match (rhs, width) {
                (Value::Scalar(s), Width::W32) => Some(s.truncate(4)),
                (Value::Scalar(s), Width::W64) => Some(s),
                _ => None,
            };
            if divisor.is_none_or(|d| d.contains(0)) {
                return Err(self.reject(
                    pc,
                    state,
                    Category::DivisionByZero,
                    "the divisor may be zero: check it first",
                ));
            }
        }
        if let (Source::Imm(imm), AluOp::Lsh | AluOp::Rsh | AluOp::Arsh) = (src, op)
            && (imm < 0 || imm as u32 >= width.bits())
        {
            {
                return Err(self.reject(
                    pc,
                    state,
                    Category::InvalidInstruction,
                    format!(
                        "shift by {imm} is out of range for a {}-bit operation",
                        width.bits()
                    ),
                ));
            }
        }
        let lhs = self.read(pc, state, dst)?;
        match (lhs, rhs) {
            (Value::Scalar(a), Value::Scalar(b)) => Ok(Value::Scalar(a.alu(op, width, &b))),
            // A privileged loader may take 32-bit differences of a pointer
            // and a number (Cilium computes lengths so): the kernel makes
            // the result a number it knows nothing of.
            (Value::Ptr(_), Value::Scalar(_)) | (Value::Scalar(_), Value::Ptr(_))
                if op == AluOp::Sub && width == Width::W32 && self.env.pointers != Pointers::Strict =>
            {
                Ok(Value::Scalar(Scalar::of_size(4)))
            }
            (Value::Ptr(p), Value::Scalar(s)) if matches!(op, AluOp::Add | AluOp::Sub) => {
                self.pointer_offset(pc, state, width, p, s, op == AluOp::Sub, dst)
            }
            (Value::Scalar(s), Value::Ptr(p)) if op == AluOp::Add => self.pointer_offset(pc, state, width, p, s, false, dst),
            // 32-bit too: `(u32)data_end - (u32)data` is a common way
            // to take a length (the kernel allows it to privileged loaders).
            (Value::Ptr(a), Value::Ptr(b)) if op == AluOp::Sub && self.env.pointers == Pointers::Strict => Err(self.reject(
                pc,
                state,
                Category::PointerLeak,
                format!("{dst}: the difference of two pointers ({} - {}) tells an address; keep offsets as numbers instead", a.kind.name(), b.kind.name()),
            )),
            (Value::Ptr(a), Value::Ptr(b)) if op == AluOp::Sub => {
                let same_region = match (a.kind, b.kind) {
                    (PtrKind::Packet { .. } | PtrKind::PacketMeta, PtrKind::Packet { .. } | PtrKind::PacketMeta | PtrKind::PacketEnd) => true,
                    (PtrKind::PacketEnd, PtrKind::Packet { .. } | PtrKind::PacketMeta) => true,
                    (x, y) => x == y,
                };
                if !same_region {
                    return Err(self.reject(
                        pc,
                        state,
                        Category::PointerArithmetic,
                        format!("subtracting pointers into different regions ({} - {})", a.kind.name(), b.kind.name()),
                    ));
                }
                if a.kind == b.kind {
                    Ok(Value::Scalar(a.off.alu(AluOp::Sub, width, &b.off)))
                } else {
                    Ok(Value::Scalar(Scalar::of_size(width.bits() as usize / 8)))
                }
            }
            (Value::Ptr(_), Value::Ptr(_)) => Err(self.reject(
                pc,
                state,
                Category::PointerArithmetic,
                format!("{dst}: only subtraction of two pointers into the same region is allowed; adding or combining pointers makes an address the verifier cannot check"),
            )),
            (Value::Ptr(p), _) | (_, Value::Ptr(p)) => Err(self.reject(
                pc,
                state,
                Category::PointerArithmetic,
                format!("{dst}: {op:?} on a pointer ({}) is not allowed; only adding or subtracting a number is", p.kind.name()),
            )),
            (Value::Uninit, _) | (_, Value::Uninit) => unreachable!("operands were read"),
        }
    }

    #[allow(clippy::too_many_arguments)] // one ALU operand set, as the instruction has it
    fn pointer_offset(
        &self,
        pc: usize,
        state: &mut State,
        width: Width,
        p: Pointer,
        s: Scalar,
        subtract: bool,
        dst: Reg,
    ) -> Result<Value, Rejection> {
        let problem = match p.kind {
            PtrKind::MapValueOrNull { .. } | PtrKind::MemOrNull { .. } | PtrKind::MapPtrOrNull { .. } | PtrKind::SocketOrNull { .. } => Some((
                Category::NullPointer,
                format!("{dst} may be NULL: check it against 0 before doing arithmetic on it"),
            )),
            PtrKind::MapPtr { .. } => Some((
                Category::PointerArithmetic,
                format!("{dst} is a map pointer: pass it to helpers unchanged, arithmetic on it is not allowed"),
            )),
            PtrKind::PacketEnd => Some((
                Category::PointerArithmetic,
                "arithmetic on data_end is not allowed: add to the data pointer and compare with data_end instead".to_string(),
            )),
            PtrKind::Func { .. } => Some((Category::PointerArithmetic, "arithmetic on a function address is not allowed".to_string())),
            PtrKind::Socket { .. } => Some((Category::PointerArithmetic, format!("{dst} is a socket: read its fields at constant offsets, arithmetic on it is not allowed"))),
            _ if width == Width::W32 => Some((
                Category::PointerArithmetic,
                format!("32-bit arithmetic on pointer {dst} is not allowed: use 64-bit operations"),
            )),
            _ => None,
        };
        if let Some((category, message)) = problem {
            return Err(self.reject(pc, state, category, message));
        }
        let op = if subtract { AluOp::Sub } else { AluOp::Add };
        if let (PtrKind::Packet { id }, None) = (p.kind, s.as_const()) {
            // A variable offset: a new base, checked when accessed.
            let base = match id {
                0 => Scalar::constant(0),
                _ => state
                    .packet_bases
                    .get(&id)
                    .map_or(Scalar::UNKNOWN, |b| b.from_data),
            };
            let from_data = base
                .alu(AluOp::Add, Width::W64, &p.off)
                .alu(op, Width::W64, &s);
            let id = state.next_id;
            state.next_id += 1;
            state.packet_bases.insert(
                id,
                PacketBase {
                    from_data,
                    proven: 0,
                },
            );
            return Ok(Value::Ptr(Pointer::new(PtrKind::Packet { id }, 0)));
        }
        let off = p.off.alu(op, Width::W64, &s);
        if off.smin < -MAX_POINTER_OFFSET || off.smax > MAX_POINTER_OFFSET {
            return Err(self.reject(
                pc,
                state,
                Category::PointerArithmetic,
                format!("offset of {dst} may be anywhere in {off}: bound the value you add (for example with `&` or a comparison) first"),
            ));
        }
        Ok(Value::Ptr(Pointer { kind: p.kind, off }))
    }

    fn load_imm(
        &self,
        pc: usize,
        state: &State,
        kind: LoadImm,
        imm: u64,
        insn: &Insn,
    ) -> Result<Value, Rejection> {
        let index = (imm & 0xffff_ffff) as usize;
        let high = imm >> 32;
        let map = |what: &str| -> Result<usize, Rejection> {
            if index >= self.env.maps.len() {
                return Err(self.reject(
                    pc,
                    state,
                    Category::InvalidInstruction,
                    format!(
                        "invalid map index {index} (have {} maps) in {what}",
                        self.env.maps.len()
                    ),
                ));
            }
            Ok(index)
        };
        Ok(match kind {
            LoadImm::Imm64 => Value::constant(imm),
            LoadImm::MapFd | LoadImm::MapIdx => {
                let map = map("a map load")?;
                if high != 0 {
                    return Err(self.reject(
                        pc,
                        state,
                        Category::PointerArithmetic,
                        format!("the map pointer carries an offset of {high}: pass `&map` itself to helpers, not an address near it"),
                    ));
                }
                Value::Ptr(Pointer::new(PtrKind::MapPtr { map }, 0))
            }
            LoadImm::MapValue | LoadImm::MapIdxValue => {
                let map = map("a map value load")?;
                Value::Ptr(Pointer::new(PtrKind::MapValue { map }, high as i64))
            }
            LoadImm::Func => {
                let target = branch_target(pc, insn).map_or(0, |t| t as usize);
                Value::Ptr(Pointer::new(PtrKind::Func { pc: target }, 0))
            }
            LoadImm::BtfId => {
                return Err(self.reject(
                    pc,
                    state,
                    Category::Unsupported,
                    "kernel variables (`lddw` of a BTF id) are not modelled by this verifier",
                ));
            }
        })
    }

    #[allow(clippy::too_many_arguments)] // the jump's own fields
    fn branch(
        &mut self,
        pc: usize,
        state: State,
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Source,
        target: usize,
        next: usize,
    ) -> Result<Successors, Rejection> {
        let lhs = self.read(pc, &state, dst)?;
        let rhs = self.source(pc, &state, src, width)?;
        if self.env.pointers == Pointers::Strict && !strictly_comparable(cond, width, lhs, rhs) {
            return Err(self.reject(
                pc,
                &state,
                Category::PointerLeak,
                format!("comparing {lhs} with {rhs} tells an address: under strict pointer rules, pointers are only compared with 0 (null checks) and packet pointers with each other"),
            ));
        }
        let src_reg = match src {
            Source::Reg(r) => Some(r),
            Source::Imm(_) => None,
        };
        // Marks for the numbers compared, taken before refining: they
        // decided the way (or, against a pointer, what the pointer is
        // found to be).
        let marks = match src_reg {
            Some(src) => scalar_marks(&state, &[dst, src]),
            None => scalar_marks(&state, &[dst]),
        };
        let mut out = Vec::new();
        // Fall-through first on the work list's top: explore the taken
        // branch last, as the kernel does.
        for (taken, pc_next, mut s) in [(false, next, state.clone()), (true, target, state)] {
            if self.refine(&mut s, width, cond, dst, lhs, src_reg, rhs, taken) {
                self.outcomes[pc][usize::from(taken)] = true;
                out.push((pc_next, s));
            }
        }
        let against_pointer = matches!(lhs, Value::Ptr(_)) || matches!(rhs, Value::Ptr(_));
        if out.len() < 2 || against_pointer {
            self.mark_precise(marks);
        }
        Ok(out)
    }

    /// Applies `dst cond src == taken` to `state`; `false` if impossible.
    #[allow(clippy::too_many_arguments)] // the jump's own fields and outcome
    fn refine(
        &self,
        state: &mut State,
        width: Width,
        cond: JmpCond,
        dst: Reg,
        lhs: Value,
        src: Option<Reg>,
        rhs: Value,
        taken: bool,
    ) -> bool {
        match (lhs, rhs) {
            (Value::Scalar(a), Value::Scalar(b)) => match a.refine(cond, width, &b, taken) {
                Some((a, b)) => {
                    if let Some(src) = src {
                        state.narrow(src, Value::Scalar(b));
                    }
                    state.narrow(dst, Value::Scalar(a));
                    state.learn_packet_len();
                    true
                }
                None => false,
            },
            // Only a whole pointer is null or not: its low half may be 0
            // (visor-vm's context sits at 2^32).
            (Value::Ptr(p), Value::Scalar(z)) | (Value::Scalar(z), Value::Ptr(p))
                if z.as_const() == Some(0)
                    && matches!(cond, JmpCond::Eq | JmpCond::Ne)
                    && width == Width::W64 =>
            {
                let is_null = (cond == JmpCond::Eq) == taken;
                null_check(state, p, is_null)
            }
            (Value::Ptr(a), Value::Ptr(b)) if width == Width::W64 => {
                packet_compare(state, cond, a, b, taken);
                true
            }
            _ => true,
        }
    }

    fn exit(&mut self, pc: usize, mut state: State) -> Result<Successors, Rejection> {
        // A function may return nothing, as the kernel allows: its caller's
        // r0 is then unset, and reading it there is the error.
        let r0 = match state.reg(Reg::R0) {
            Value::Uninit if state.frames.len() == 1 => {
                return Err(self.reject(
                    pc,
                    &state,
                    Category::UninitRegister,
                    "r0 is not set at exit: every path must set the return value in r0",
                ));
            }
            value => value,
        };
        if state.frames.len() > 1 {
            let frame = state.frames.pop().expect("more than one frame");
            state.forget_packet_len();
            if let Value::Ptr(Pointer {
                kind: PtrKind::Stack { frame: f },
                ..
            }) = r0
                && f >= state.frames.len()
            {
                return Err(self.reject(pc, &state, Category::PointerLeak, "the function returns a pointer to its own stack, which is gone after it returns"));
            }
            let caller = state.frame_mut();
            caller.regs[0] = r0;
            for reg in &mut caller.regs[1..=5] {
                *reg = Value::Uninit;
            }
            return Ok(vec![(frame.return_pc.unwrap_or(pc), state)]);
        }
        self.mark_scalars(&state, &[Reg::R0]);
        let Value::Scalar(value) = r0 else {
            if self.env.pointers == Pointers::Leak {
                return Ok(vec![]);
            }
            return Err(self.reject(
                pc,
                &state,
                Category::PointerLeak,
                format!("r0 holds a pointer ({r0}) at exit: returning it would leak a kernel address; return a number"),
            ));
        };
        if let Some((lo, hi)) = return_range(self.env.program_type)
            && (value.smin < lo || value.smax > hi)
        {
            return Err(self.reject(
                pc,
                &state,
                Category::ReturnValue,
                format!("r0 may be {value} at exit, but this program type must return a value in [{lo}, {hi}]"),
            ));
        }
        Ok(vec![])
    }
}

/// The return values a program type allows, when the kernel checks them.
pub fn return_range(program: Option<ProgramType>) -> Option<(i64, i64)> {
    use ProgramType as P;
    match program? {
        P::CgroupSkb
        | P::CgroupSock
        | P::CgroupSockAddr
        | P::CgroupDevice
        | P::CgroupSysctl
        | P::CgroupSockopt
        | P::SockOps
        | P::SkLookup
        | P::Netfilter => Some((0, 1)),
        P::Lsm => Some((-4095, 0)),
        _ => None,
    }
}

/// After `p == 0` (or `!=`): every copy of a maybe-null pointer becomes
/// null (a zero scalar) or non-null. `false` when the outcome is impossible.
fn null_check(state: &mut State, p: Pointer, is_null: bool) -> bool {
    let id = match p.kind {
        PtrKind::MapValueOrNull { id, .. }
        | PtrKind::MemOrNull { id, .. }
        | PtrKind::MapPtrOrNull { id, .. }
        | PtrKind::SocketOrNull { id, .. } => id,
        // Other pointers are never null.
        _ => return !is_null,
    };
    state.map_values(|value| {
        if let Value::Ptr(q) = value {
            let (same, non_null) = match q.kind {
                PtrKind::MapValueOrNull { map, id: i } => (i == id, PtrKind::MapValue { map }),
                PtrKind::MemOrNull { size, id: i } => (i == id, PtrKind::Mem { size }),
                PtrKind::MapPtrOrNull { map, id: i } => (i == id, PtrKind::MapPtr { map }),
                PtrKind::SocketOrNull { common, id: i } => (i == id, PtrKind::Socket { common }),
                _ => (false, q.kind),
            };
            if same {
                *value = if is_null {
                    Value::constant(0)
                } else {
                    Value::Ptr(Pointer {
                        kind: non_null,
                        off: q.off,
                    })
                };
            }
        }
    });
    true
}

/// Marks for those of `regs` that hold numbers in `state`'s running frame.
fn scalar_marks(state: &State, regs: &[Reg]) -> Marks {
    let mut marks = Marks::default();
    let depth = state.depth();
    for &reg in regs {
        if let Value::Scalar(_) = state.reg(reg) {
            marks[depth].regs |= crate::cfg::bit(reg);
        }
    }
    marks
}

/// Whether a comparison is allowed to a loader without `CAP_PERFMON`:
/// numbers, a pointer against null (a null check, or decided when the
/// pointer cannot be null), or packet pointers compared with each other.
fn strictly_comparable(cond: JmpCond, width: Width, lhs: Value, rhs: Value) -> bool {
    let packet = |v: Value| {
        matches!(
            v,
            Value::Ptr(Pointer {
                kind: PtrKind::Packet { .. } | PtrKind::PacketEnd | PtrKind::PacketMeta,
                ..
            })
        )
    };
    match (lhs, rhs) {
        (Value::Ptr(p), Value::Scalar(z)) | (Value::Scalar(z), Value::Ptr(p)) => {
            z.as_const() == Some(0)
                && matches!(cond, JmpCond::Eq | JmpCond::Ne)
                && (width == Width::W64 || !p.kind.maybe_null())
        }
        (Value::Ptr(_), Value::Ptr(_)) => packet(lhs) && packet(rhs) && width == Width::W64,
        _ => true,
    }
}

/// Whether a register holds a pointer at a constant offset that moved
/// since `before`, as a loop that walks an array steps one each lap.
/// Widening the counter cannot prune such a loop (pointers are not
/// widened, so no lap's state includes the next), and the walk would
/// only find that out after going all the way round: it unrolls the loop
/// instead, as the kernel does.
fn steps_a_pointer(before: &State, now: &State) -> bool {
    let mut regs = before.frame().regs.iter().zip(&now.frame().regs);
    regs.any(|pair| match pair {
        (Value::Ptr(a), Value::Ptr(b)) => {
            a.kind == b.kind
                && a.off.as_const().is_some()
                && b.off.as_const().is_some()
                && a.off != b.off
        }
        _ => false,
    })
}

/// `data + len` (or `len + data`), where `len` is the packet's length:
/// `data_end`.
fn packet_end_sum(state: &State, width: Width, op: AluOp, dst: Reg, src: Source) -> Option<Value> {
    let Source::Reg(src) = src else {
        return None;
    };
    let data = |reg: Reg| matches!(state.reg(reg), Value::Ptr(Pointer { kind: PtrKind::Packet { id: 0 }, off }) if off.as_const() == Some(0));
    let sum = (data(dst) && state.is_packet_len(src)) || (state.is_packet_len(dst) && data(src));
    (sum && width == Width::W64 && op == AluOp::Add)
        .then(|| Value::Ptr(Pointer::new(PtrKind::PacketEnd, 0)))
}

/// Comparisons of packet pointers with `data_end` (or metadata pointers
/// with `data`) prove how many bytes are there.
fn packet_compare(state: &mut State, cond: JmpCond, a: Pointer, b: Pointer, taken: bool) {
    // Normalise to `ptr OP end`.
    let (ptr, end, cond) = match (a.kind, b.kind) {
        (PtrKind::Packet { .. }, PtrKind::PacketEnd)
        | (PtrKind::PacketMeta, PtrKind::Packet { id: 0 }) => (a, b, cond),
        (PtrKind::PacketEnd, PtrKind::Packet { .. })
        | (PtrKind::Packet { id: 0 }, PtrKind::PacketMeta) => (b, a, mirror(cond)),
        _ => return,
    };
    if end.off.as_const() != Some(0) || ptr.off.smin < 0 {
        return;
    }
    // `ptr <= end` proves `off` bytes; `ptr < end` one more.
    let proven = match (cond, taken) {
        (JmpCond::Gt | JmpCond::Sgt, false) | (JmpCond::Le | JmpCond::Sle, true) => ptr.off.umin,
        (JmpCond::Ge | JmpCond::Sge, false) | (JmpCond::Lt | JmpCond::Slt, true) => {
            ptr.off.umin.saturating_add(1)
        }
        (JmpCond::Eq, true) => ptr.off.umin,
        _ => return,
    };
    match ptr.kind {
        PtrKind::Packet { id: 0 } => state.packet_min = state.packet_min.max(proven),
        PtrKind::Packet { id } => {
            if let Some(base) = state.packet_bases.get_mut(&id) {
                base.proven = base.proven.max(proven);
                if base.from_data.smin >= 0 {
                    let through = base.from_data.umin.saturating_add(proven);
                    state.packet_min = state.packet_min.max(through);
                }
            }
        }
        _ => state.meta_min = state.meta_min.max(proven),
    }
}

/// `a cond b` as `b cond' a`.
fn mirror(cond: JmpCond) -> JmpCond {
    match cond {
        JmpCond::Gt => JmpCond::Lt,
        JmpCond::Lt => JmpCond::Gt,
        JmpCond::Ge => JmpCond::Le,
        JmpCond::Le => JmpCond::Ge,
        JmpCond::Sgt => JmpCond::Slt,
        JmpCond::Slt => JmpCond::Sgt,
        JmpCond::Sge => JmpCond::Sle,
        JmpCond::Sle => JmpCond::Sge,
        other => other,
    }
}

/// One line of the `--log` listing: the instruction and what changed.
fn log_step(log: &mut String, cfg: &Cfg, pc: usize, before: &State, next: &Successors) {
    let text = cfg.insns[pc]
        .map(|i| visor_isa::disasm::format_insn(&i))
        .unwrap_or_default();
    let mut changes = Vec::new();
    if let Some((_, after)) = next.first() {
        if after.frames.len() == before.frames.len() {
            for reg in 0..Reg::COUNT {
                let (old, new) = (before.frame().regs[reg], after.frame().regs[reg]);
                if old != new && new != Value::Uninit {
                    changes.push(format!("r{reg}={new}"));
                }
            }
            if after.packet_min != before.packet_min {
                changes.push(format!("pkt_len>={}", after.packet_min));
            }
        } else {
            changes.push(after.describe());
        }
    }
    let branches = match next.len() {
        0 => " ; path ends".to_string(),
        2 => format!(
            " ; both branches feasible (to {} and {})",
            next[0].0, next[1].0
        ),
        _ => String::new(),
    };
    log.push_str(&format!(
        "{pc:>5}: {text:<40} ; {}{branches}\n",
        changes.join(" ")
    ));
}
