//! Memory accesses: loads, stores, atomics, legacy packet loads, and the
//! memory that helpers read or write. Every access is resolved once
//! ([`Analyzer::resolve`]): the pointer's kind decides the region, its
//! offset range plus the access size must fit the region's proven size.

use crate::Pointers;
use crate::analyze::Analyzer;
use crate::context::{self, Access, Loaded};
use crate::diagnostic::{Category, Rejection};
use crate::scalar::Scalar;
use crate::state::{Byte, Pointer, PtrKind, STACK_SIZE, State, Value, stack_index};
use visor_isa::{AtomicOp, PacketOffset, Reg};
use visor_object::ProgramType;

use visor_object::maps::BPF_F_RDONLY_PROG as MAP_READ_ONLY_FOR_PROGRAM;

/// The largest offset into a packet (the kernel's `MAX_PACKET_OFF`).
const MAX_PACKET_OFFSET: u64 = 0xffff;

/// Where a checked access lands.
pub(crate) enum Target {
    /// `len` stack bytes from `index` of frame `frame`, exactly.
    Stack { frame: usize, index: usize },
    /// Somewhere in stack bytes `lo..hi` of frame `frame`.
    StackRange { frame: usize, lo: usize, hi: usize },
    /// A context field.
    Ctx(Loaded),
    /// Bytes of a frozen read-only map, known (little-endian).
    Frozen(u64),
    /// Map values, packet, helper memory: bounds proven, contents unknown.
    Plain,
}

/// `size` bytes at `at` of a frozen map's contents (bounds already
/// checked against the value size; a shorter section reads as zeros).
fn frozen_bytes(bytes: &[u8], at: usize, size: usize) -> Target {
    let value = (0..size).fold(0u64, |acc, i| {
        acc | u64::from(bytes.get(at + i).copied().unwrap_or(0)) << (8 * i)
    });
    Target::Frozen(value)
}

/// The regions one load, store, atomic or helper's memory argument
/// reached, over every path the analysis took to it: what a JIT may
/// rely on when it drops the access's run-time checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Reached(u16);

impl Reached {
    fn add(&mut self, kind: PtrKind) {
        self.0 |= 1 << Reached::index(kind);
    }

    /// Whether every path reached the packet through `data` or a pointer
    /// derived from it (and nothing else).
    pub fn packet_only(self) -> bool {
        self.0 == 1 << Reached::index(PtrKind::Packet { id: 0 })
    }

    fn index(kind: PtrKind) -> u32 {
        match kind {
            PtrKind::Ctx => 0,
            PtrKind::Stack { .. } => 1,
            PtrKind::Packet { .. } => 2,
            PtrKind::PacketMeta => 3,
            PtrKind::MapValue { .. } => 4,
            PtrKind::Mem { .. } => 5,
            PtrKind::Socket { .. } => 6,
            // Rejected when accessed; counted apart all the same.
            _ => 7,
        }
    }
}

/// Whether an access reads or writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    Read,
    Write,
}

impl From<Use> for Access {
    fn from(access: Use) -> Access {
        match access {
            Use::Read => Access::Read,
            Use::Write => Access::Write,
        }
    }
}

impl Analyzer<'_> {
    /// Checks an access of `size` bytes at `ptr + off` through `base`.
    #[allow(clippy::too_many_arguments)] // one access, as the instruction states it
    pub(crate) fn resolve(
        &mut self,
        pc: usize,
        state: &State,
        base: Reg,
        value: Value,
        off: i64,
        size: u64,
        access: Use,
    ) -> Result<Target, Rejection> {
        if let Value::Ptr(p) = value {
            self.reached[pc].add(p.kind);
        }
        let reject = |category, message: String| Err(self.reject(pc, state, category, message));
        let p = match value {
            Value::Ptr(p) => p,
            Value::Scalar(s) => {
                return reject(
                    Category::InvalidMemoryAccess,
                    format!(
                        "{base} is a number ({s}), not a pointer: memory can only be accessed through pointers the verifier knows"
                    ),
                );
            }
            Value::Uninit => {
                return reject(
                    Category::UninitRegister,
                    format!("{base} is used as a pointer before it is written"),
                );
            }
        };
        let total = p.off.alu(
            visor_isa::AluOp::Add,
            visor_isa::Width::W64,
            &Scalar::constant(off as u64),
        );
        let (lo, hi) = (total.smin, total.smax.saturating_add(size as i64));
        let range = || {
            if lo == total.smax {
                format!("offset {lo}")
            } else {
                format!("offsets {lo}..={}", total.smax)
            }
        };
        match p.kind {
            PtrKind::MapValueOrNull { .. }
            | PtrKind::MemOrNull { .. }
            | PtrKind::MapPtrOrNull { .. }
            | PtrKind::SocketOrNull { .. } => {
                let origin = match p.kind {
                    PtrKind::MemOrNull { .. } => "bpf_ringbuf_reserve",
                    PtrKind::SocketOrNull { .. } => "the socket lookup",
                    _ => "bpf_map_lookup_elem",
                };
                reject(
                    Category::NullPointer,
                    format!(
                        "{base} may be NULL here: check the result of {origin} against 0 before dereferencing it"
                    ),
                )
            }
            PtrKind::Ctx => {
                let Some(at) = total.as_const() else {
                    return reject(
                        Category::ContextAccess,
                        format!(
                            "{base} points into the context at a variable offset: context fields must be accessed at constant offsets"
                        ),
                    );
                };
                match context::check(
                    self.env.program_type,
                    at as i64,
                    size as usize,
                    access.into(),
                ) {
                    Ok(loaded) => Ok(Target::Ctx(loaded)),
                    Err(why) => reject(
                        Category::ContextAccess,
                        format!("invalid context access: {why}"),
                    ),
                }
            }
            PtrKind::Stack { frame } => {
                if lo < -(STACK_SIZE as i64) || hi > 0 {
                    return reject(
                        Category::OutOfBounds,
                        format!(
                            "stack access of {size} bytes at {} from {base} is outside the {STACK_SIZE}-byte frame (valid: fp-512 up to fp)",
                            range()
                        ),
                    );
                }
                let function = state.frames.get(frame).map_or(0, |f| f.function);
                let index = self.cfg.function_at(function).unwrap_or(0);
                self.stack_depth[index] = self.stack_depth[index].max((-lo) as usize);
                let start = stack_index(lo, 0).unwrap_or(0);
                if total.as_const().is_some() {
                    Ok(Target::Stack {
                        frame,
                        index: start,
                    })
                } else {
                    let end = stack_index(hi, 0).unwrap_or(STACK_SIZE);
                    Ok(Target::StackRange {
                        frame,
                        lo: start,
                        hi: end,
                    })
                }
            }
            PtrKind::MapValue { map } => {
                let def = &self.maps[map];
                if lo < 0 || hi > i64::from(def.value_size) {
                    return reject(
                        Category::OutOfBounds,
                        format!(
                            "{base} accesses {size} bytes at {} of a {}-byte value of map #{map}: stay within the value (check the index or the value type)",
                            range(),
                            def.value_size
                        ),
                    );
                }
                if access == Use::Write && def.flags & MAP_READ_ONLY_FOR_PROGRAM != 0 {
                    return reject(
                        Category::InvalidMemoryAccess,
                        format!("map #{map} is read-only for programs (a `.rodata` or frozen map)"),
                    );
                }
                let frozen = self.env.frozen_contents.get(map).and_then(Option::as_ref);
                match (frozen, total.as_const(), access) {
                    (Some(bytes), Some(at), Use::Read) => {
                        Ok(frozen_bytes(bytes, at as usize, size as usize))
                    }
                    _ => Ok(Target::Plain),
                }
            }
            PtrKind::Packet { .. } | PtrKind::PacketMeta => {
                let (proven, what) = match p.kind {
                    PtrKind::Packet { id: 0 } => (state.packet_min, "data_end"),
                    PtrKind::Packet { id } => {
                        let known = state.packet_bases.get(&id).copied();
                        let from_data = known.map_or(Scalar::UNKNOWN, |b| b.from_data);
                        if from_data.smin < 0 || from_data.umax > MAX_PACKET_OFFSET {
                            return reject(
                                Category::PacketBounds,
                                format!(
                                    "{base} points at packet offset {from_data} from data, which may be negative or past 64 KiB: bound the offset you added (unsigned, with `&` or a comparison)"
                                ),
                            );
                        }
                        (known.map_or(0, |b| b.proven), "data_end")
                    }
                    _ => (state.meta_min, "data"),
                };
                if lo < 0 || hi as u64 > proven {
                    return reject(
                        Category::PacketBounds,
                        format!(
                            "{base} reads or writes {size} bytes at packet {} but only {proven} bytes are proven present: compare {base} + {} with {what} first",
                            range(),
                            hi.max(0)
                        ),
                    );
                }
                Ok(Target::Plain)
            }
            PtrKind::Mem { size: len } => {
                if lo < 0 || hi > i64::from(len) {
                    return reject(
                        Category::OutOfBounds,
                        format!(
                            "{base} accesses {size} bytes at {} of a {len}-byte record",
                            range()
                        ),
                    );
                }
                Ok(Target::Plain)
            }
            PtrKind::PacketEnd => reject(
                Category::InvalidMemoryAccess,
                format!(
                    "{base} is data_end, which marks the end of the packet and cannot be read or written"
                ),
            ),
            PtrKind::MapPtr { map } => reject(
                Category::InvalidMemoryAccess,
                format!(
                    "{base} points to map #{map} itself: read its contents with bpf_map_lookup_elem"
                ),
            ),
            PtrKind::Func { .. } => reject(
                Category::InvalidMemoryAccess,
                format!("{base} is a function address and cannot be dereferenced"),
            ),
            PtrKind::Socket { common } => {
                let checked = total
                    .as_const()
                    .ok_or_else(|| "at a variable offset".to_string())
                    .and_then(|at| {
                        context::check_socket(common, at as i64, size as usize, access.into())
                    });
                match checked {
                    Ok(loaded) => Ok(Target::Ctx(loaded)),
                    Err(why) => reject(
                        Category::InvalidMemoryAccess,
                        format!("invalid socket access through {base}: {why}"),
                    ),
                }
            }
        }
    }

    pub(crate) fn load(
        &mut self,
        pc: usize,
        state: &mut State,
        src: Reg,
        off: i16,
        size: usize,
        signed: bool,
    ) -> Result<Value, Rejection> {
        let base = self.read(pc, state, src)?;
        let target = self.resolve(pc, state, src, base, i64::from(off), size as u64, Use::Read)?;
        let extend = |v: Value| match v {
            Value::Scalar(s) if signed => Value::Scalar(s.sign_extend(size)),
            other => other,
        };
        let plain = extend(Value::Scalar(Scalar::of_size(size)));
        self.note_stack_access(&target, size);
        Ok(match target {
            Target::Stack { frame, index } => match state.frames[frame].stack.read(index, size) {
                Ok(value) => extend(value),
                Err(at) => return Err(self.uninit_stack(pc, state, at, "read")),
            },
            Target::StackRange { frame, lo, hi } => {
                let stack = &state.frames[frame].stack;
                if let Some(at) = (lo..hi).find(|&i| stack.byte(i) == Byte::Uninit) {
                    return Err(self.uninit_stack(
                        pc,
                        state,
                        at,
                        "read (through a variable offset)",
                    ));
                }
                plain
            }
            Target::Ctx(Loaded::Scalar) | Target::Plain => plain,
            Target::Frozen(value) => extend(Value::constant(value)),
            Target::Ctx(Loaded::PacketData) => {
                Value::Ptr(Pointer::new(PtrKind::Packet { id: 0 }, 0))
            }
            Target::Ctx(Loaded::PacketEnd) => Value::Ptr(Pointer::new(PtrKind::PacketEnd, 0)),
            Target::Ctx(Loaded::PacketMeta) => Value::Ptr(Pointer::new(PtrKind::PacketMeta, 0)),
        })
    }

    /// Remembers a constant-offset stack access for backtracking.
    fn note_stack_access(&mut self, target: &Target, size: usize) {
        if let Target::Stack { frame, index } = *target {
            self.stack_access = Some((frame as u8, index as u16, size as u8));
        }
    }

    pub(crate) fn uninit_stack(
        &self,
        pc: usize,
        state: &State,
        index: usize,
        what: &str,
    ) -> Rejection {
        let off = index as i64 - STACK_SIZE as i64;
        self.reject(
            pc,
            state,
            Category::UninitStack,
            format!("stack byte fp{off} is {what} before it is written: initialise the variable (for example with `= {{0}}`) first"),
        )
    }

    pub(crate) fn store(
        &mut self,
        pc: usize,
        state: &mut State,
        dst: Reg,
        off: i16,
        size: usize,
        value: Value,
    ) -> Result<(), Rejection> {
        let base = self.read(pc, state, dst)?;
        let target = self.resolve(
            pc,
            state,
            dst,
            base,
            i64::from(off),
            size as u64,
            Use::Write,
        )?;
        self.note_stack_access(&target, size);
        let leak = matches!(value, Value::Ptr(_)) && self.env.pointers != Pointers::Leak;
        match target {
            Target::Stack { frame, index } => state.frames[frame].stack.write(index, size, &value),
            Target::StackRange { frame, lo, hi } => {
                let stack = &mut state.frames[frame].stack;
                for i in lo..hi {
                    if stack.byte(i) != Byte::Uninit {
                        stack.clobber(i, 1);
                    }
                }
            }
            Target::Ctx(_) | Target::Plain | Target::Frozen(_) if leak => {
                return Err(self.reject(
                    pc,
                    state,
                    Category::PointerLeak,
                    format!("storing a pointer ({value}) through {dst} would let user space read a kernel address: store numbers only"),
                ));
            }
            Target::Ctx(_) | Target::Plain | Target::Frozen(_) => {}
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // the instruction's own fields
    pub(crate) fn atomic(
        &mut self,
        pc: usize,
        state: &mut State,
        size: usize,
        op: AtomicOp,
        dst: Reg,
        src: Reg,
        off: i16,
    ) -> Result<(), Rejection> {
        let operand = self.read(pc, state, src)?;
        if let Value::Ptr(_) = operand {
            return Err(self.reject(
                pc,
                state,
                Category::PointerLeak,
                format!(
                    "atomic operation with a pointer in {src}: only numbers may be stored this way"
                ),
            ));
        }
        if op == AtomicOp::Cmpxchg {
            self.read(pc, state, Reg::R0)?;
        }
        let base = self.read(pc, state, dst)?;
        if let Value::Ptr(Pointer {
            kind: PtrKind::Ctx | PtrKind::Packet { .. } | PtrKind::PacketMeta,
            ..
        }) = base
        {
            return Err(self.reject(pc, state, Category::InvalidMemoryAccess, format!("atomic operations are allowed on the stack and map values, not through {dst} ({base})")));
        }
        let target = self.resolve(
            pc,
            state,
            dst,
            base,
            i64::from(off),
            size as u64,
            Use::Write,
        )?;
        match target {
            Target::Stack { frame, index } => {
                if let Err(at) = state.frames[frame].stack.read(index, size) {
                    return Err(self.uninit_stack(pc, state, at, "updated atomically"));
                }
                state.frames[frame].stack.clobber(index, size);
            }
            Target::StackRange { .. } => {
                return Err(self.reject(
                    pc,
                    state,
                    Category::Unsupported,
                    "atomic operations on the stack need a constant offset",
                ));
            }
            Target::Ctx(_) | Target::Plain | Target::Frozen(_) => {}
        }
        let old = Value::Scalar(Scalar::of_size(size));
        match op {
            AtomicOp::Cmpxchg => state.set(Reg::R0, old),
            AtomicOp::Xchg
            | AtomicOp::Add { fetch: true }
            | AtomicOp::Or { fetch: true }
            | AtomicOp::And { fetch: true }
            | AtomicOp::Xor { fetch: true } => state.set(src, old),
            _ => {}
        }
        Ok(())
    }

    /// `LD_ABS`/`LD_IND`: skb programs only, context in `r6`; the kernel
    /// ends the program if the packet is too short.
    pub(crate) fn legacy_packet_load(
        &mut self,
        pc: usize,
        state: &mut State,
        size: usize,
        offset: PacketOffset,
    ) -> Result<(), Rejection> {
        use ProgramType as P;
        let allowed = matches!(
            self.env.program_type,
            None | Some(P::SocketFilter | P::SchedCls | P::SchedAct)
        );
        if !allowed {
            return Err(self.reject(pc, state, Category::InvalidMemoryAccess, "legacy packet loads (LD_ABS/LD_IND) are only allowed in socket filters and TC programs"));
        }
        match state.reg(Reg::R6) {
            Value::Ptr(Pointer {
                kind: PtrKind::Ctx,
                off,
            }) if off.as_const() == Some(0) => {}
            other => {
                return Err(self.reject(
                    pc,
                    state,
                    Category::ContextAccess,
                    format!("legacy packet loads need the context in r6, but r6 is {other}"),
                ));
            }
        }
        if let PacketOffset::Ind(reg) = offset
            && let Value::Ptr(_) = self.read(pc, state, reg)?
        {
            return Err(self.reject(
                pc,
                state,
                Category::PointerArithmetic,
                format!("the packet offset in {reg} must be a number"),
            ));
        }
        let frame = state.frame_mut();
        for reg in &mut frame.regs[1..=5] {
            *reg = Value::Uninit;
        }
        state.set(Reg::R0, Value::Scalar(Scalar::of_size(size)));
        Ok(())
    }

    /// Memory a helper reads or writes: `reg` points to at least `size`
    /// bytes (a scalar range), initialised when read.
    #[allow(clippy::too_many_arguments)] // one helper argument and its size
    pub(crate) fn helper_memory(
        &mut self,
        pc: usize,
        state: &mut State,
        reg: Reg,
        size: Scalar,
        access: Use,
        nullable: bool,
        helper: &str,
    ) -> Result<(), Rejection> {
        let value = self.read(pc, state, reg)?;
        if nullable && matches!(value, Value::Scalar(s) if s.as_const() == Some(0)) {
            return Ok(());
        }
        if let Value::Ptr(Pointer {
            kind:
                PtrKind::Ctx
                | PtrKind::MapPtr { .. }
                | PtrKind::PacketEnd
                | PtrKind::Func { .. }
                | PtrKind::Socket { .. },
            ..
        }) = value
        {
            return Err(self.reject(pc, state, Category::HelperArgument, format!("{reg} ({value}) cannot be passed to {helper} as memory: pass a pointer to the stack, a map value or the packet")));
        }
        if size.umax > i32::MAX as u64 {
            return Err(self.reject(pc, state, Category::HelperArgument, format!("the size passed to {helper} may be as large as {}: bound it with a comparison first", size.umax)));
        }
        if size.umax == 0 {
            return Ok(());
        }
        let target = self.resolve(pc, state, reg, value, 0, size.umax, access)?;
        let (frame, lo, hi) = match target {
            Target::Stack { frame, index } => (frame, index, index + size.umax as usize),
            Target::StackRange { frame, lo, hi } => (frame, lo, hi),
            Target::Ctx(_) | Target::Plain | Target::Frozen(_) => return Ok(()),
        };
        match access {
            Use::Read => {
                let stack = &state.frames[frame].stack;
                if let Some(at) = (lo..hi).find(|&i| stack.byte(i) == Byte::Uninit) {
                    let off = at as i64 - STACK_SIZE as i64;
                    return Err(self.reject(
                        pc,
                        state,
                        Category::UninitStack,
                        format!("stack byte fp{off}, passed to {helper} through {reg}, is not initialised: write the whole buffer (for example `= {{0}}`) before passing it"),
                    ));
                }
                if let (false, Some(at)) = (
                    self.env.pointers == Pointers::Leak,
                    stack.holds_pointer(lo, hi - lo),
                ) {
                    let off = (at / 8 * 8) as i64 - STACK_SIZE as i64;
                    return Err(self.reject(
                        pc,
                        state,
                        Category::PointerLeak,
                        format!("the memory passed to {helper} through {reg} holds a pointer (spilled at fp{off}): handing it over would leak a kernel address"),
                    ));
                }
            }
            Use::Write => {
                let stack = &mut state.frames[frame].stack;
                stack.clobber(lo, hi - lo);
            }
        }
        Ok(())
    }
}
