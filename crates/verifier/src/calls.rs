//! Calls: helpers checked against their prototypes ([`crate::helpers`]),
//! and local functions entered with a fresh frame, verified in the
//! caller's context as the kernel does.

use crate::access::Use;
use crate::analyze::{Analyzer, Successors};
use crate::backtrack::{self, Marks};
use crate::diagnostic::{Category, Rejection};
use crate::helpers::{self, Arg, Ret};
use crate::scalar::Scalar;
use crate::state::{Frame, MAX_FRAMES, Pointer, PtrKind, Stack, State, Value};
use visor_isa::{CallTarget, Insn, Reg, branch_target};
use visor_object::MapType;

const ARG_REGS: [Reg; 5] = [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5];

impl Analyzer<'_> {
    pub(crate) fn call(
        &mut self,
        pc: usize,
        state: State,
        target: CallTarget,
    ) -> Result<Successors, Rejection> {
        match target {
            CallTarget::Helper(id) => self.helper(pc, state, id),
            CallTarget::Local(_) => self.local_call(pc, state),
            CallTarget::Kfunc(id) => Err(self.reject(
                pc,
                &state,
                Category::Unsupported,
                format!(
                    "kernel function calls (kfunc, BTF id {id}) are not modelled by this verifier"
                ),
            )),
        }
    }

    fn local_call(&mut self, pc: usize, mut state: State) -> Result<Successors, Rejection> {
        let insn = Insn::Call(match self.cfg.insns[pc] {
            Some(Insn::Call(t)) => t,
            _ => CallTarget::Local(0),
        });
        let target = branch_target(pc, &insn).map_or(pc + 1, |t| t as usize);
        if state.frames.len() >= MAX_FRAMES {
            return Err(self.reject(
                pc,
                &state,
                Category::CallStack,
                format!("calls nested more than {MAX_FRAMES} deep"),
            ));
        }
        let mut regs = [Value::Uninit; Reg::COUNT];
        for reg in ARG_REGS {
            regs[reg.index()] = state.reg(reg);
        }
        let depth = state.frames.len();
        regs[Reg::R10.index()] = Value::Ptr(Pointer::new(PtrKind::Stack { frame: depth }, 0));
        state.forget_packet_len();
        state.frames.push(Frame {
            regs,
            stack: Stack::default(),
            return_pc: Some(pc + 1),
            function: target,
        });
        Ok(vec![(target, state)])
    }

    pub(crate) fn helper(
        &mut self,
        pc: usize,
        mut state: State,
        id: i32,
    ) -> Result<Successors, Rejection> {
        let Some(proto) = helpers::lookup(id) else {
            return Err(self.reject(
                pc,
                &state,
                Category::UnknownHelper,
                format!("helper {id} does not exist or is not known to this verifier"),
            ));
        };
        let name = proto.name;
        if !proto.group.allows(self.env.program_type) {
            let program = self.env.program_type.map_or("this", |t| t.name());
            return Err(self.reject(
                pc,
                &state,
                Category::HelperNotAllowed,
                format!("{name} cannot be called from {program} programs"),
            ));
        }
        // Sizes, constants, nulls: the numbers checked by value. A plain
        // number argument is only checked to be one.
        let checked: Vec<Reg> = proto
            .args
            .iter()
            .zip(ARG_REGS)
            .filter(|(arg, _)| !matches!(arg, Arg::Anything | Arg::Scalar))
            .map(|(_, reg)| reg)
            .collect();
        self.mark_scalars(&state, &checked);
        let mut map: Option<usize> = None;
        let mut const_arg: Option<u64> = None;
        for (i, arg) in proto.args.iter().enumerate() {
            let reg = ARG_REGS[i];
            let value = state.reg(reg);
            if value == Value::Uninit {
                return Err(self.reject(
                    pc,
                    &state,
                    Category::UninitRegister,
                    format!("{reg} (argument {} of {name}) is not initialised", i + 1),
                ));
            }
            let bad = |this: &Self, state: &State, what: String| {
                Err(this.reject(
                    pc,
                    state,
                    Category::HelperArgument,
                    format!("argument {} of {name} ({reg} = {value}) {what}", i + 1),
                ))
            };
            match *arg {
                Arg::Anything | Arg::Scalar => {}
                Arg::Map(_)
                    if matches!(
                        value,
                        Value::Ptr(Pointer {
                            kind: PtrKind::MapPtrOrNull { .. },
                            ..
                        })
                    ) =>
                {
                    return Err(self.reject(pc, &state, Category::NullPointer, format!("{reg} may be NULL here: check the inner map from bpf_map_lookup_elem before passing it to {name}")));
                }
                Arg::Map(class) => {
                    let Value::Ptr(Pointer {
                        kind: PtrKind::MapPtr { map: index },
                        ..
                    }) = value
                    else {
                        return bad(self, &state, "must be a map (`&map_name`)".to_string());
                    };
                    let map_type = self.maps[index].map_type;
                    if !class.accepts(map_type) {
                        let actual = map_type.name().unwrap_or("unknown");
                        return bad(
                            self,
                            &state,
                            format!(
                                "must be {}, but map #{index} is of type {actual}",
                                class.describe()
                            ),
                        );
                    }
                    map = Some(index);
                }
                Arg::MapKey | Arg::MapValue => {
                    let Some(index) = map else {
                        return bad(self, &state, "needs a map argument before it".to_string());
                    };
                    let def = &self.maps[index];
                    let size = if *arg == Arg::MapKey {
                        def.key_size
                    } else {
                        def.value_size
                    };
                    self.helper_memory(
                        pc,
                        &mut state,
                        reg,
                        Scalar::constant(u64::from(size)),
                        Use::Read,
                        false,
                        name,
                    )?;
                    if *arg == Arg::MapKey && proto.id == helpers::MAP_UPDATE_ELEM {
                        self.check_array_key(pc, &state, reg, index, name)?;
                    }
                }
                Arg::ReadMem { .. } | Arg::WriteMem => {
                    let (access, nullable) = match *arg {
                        Arg::ReadMem { nullable } => (Use::Read, nullable),
                        _ => (Use::Write, false),
                    };
                    let size = match proto.args.get(i + 1) {
                        Some(Arg::Size { zero_ok }) => {
                            self.size_arg(pc, &state, ARG_REGS[i + 1], *zero_ok, name)?
                        }
                        _ => {
                            let Some(index) = map else {
                                return bad(
                                    self,
                                    &state,
                                    "needs a map argument before it".to_string(),
                                );
                            };
                            Scalar::constant(u64::from(self.maps[index].value_size))
                        }
                    };
                    self.helper_memory(pc, &mut state, reg, size, access, nullable, name)?;
                }
                Arg::Size { .. } => {}
                Arg::Ctx | Arg::CtxOrNull => {
                    let context = matches!(value, Value::Ptr(Pointer { kind: PtrKind::Ctx, off }) if off.as_const() == Some(0));
                    let null = *arg == Arg::CtxOrNull
                        && matches!(value, Value::Scalar(s) if s.as_const() == Some(0));
                    if !context && !null {
                        let what = if *arg == Arg::CtxOrNull {
                            "must be the context pointer (r1 at program entry), unmoved, or 0"
                        } else {
                            "must be the context pointer (r1 at program entry), unmoved"
                        };
                        return bad(self, &state, what.to_string());
                    }
                }
                Arg::RingbufRecord => match value {
                    Value::Ptr(Pointer {
                        kind: PtrKind::Mem { .. },
                        off,
                    }) if off.as_const() == Some(0) => {}
                    Value::Ptr(Pointer {
                        kind: PtrKind::MemOrNull { .. },
                        ..
                    }) => {
                        return Err(self.reject(pc, &state, Category::NullPointer, format!("{reg} may be NULL here: check the result of bpf_ringbuf_reserve before passing it to {name}")));
                    }
                    _ => {
                        return bad(
                            self,
                            &state,
                            "must be a record from bpf_ringbuf_reserve, unmoved".to_string(),
                        );
                    }
                },
                Arg::Socket { nullable } => match value {
                    Value::Ptr(Pointer {
                        kind: PtrKind::Socket { .. },
                        off,
                    }) if off.as_const() == Some(0) => {}
                    Value::Ptr(Pointer {
                        kind: PtrKind::SocketOrNull { .. },
                        ..
                    }) if !nullable => {
                        return Err(self.reject(pc, &state, Category::NullPointer, format!("{reg} may be NULL here: check the socket from the lookup before passing it to {name}")));
                    }
                    Value::Ptr(Pointer {
                        kind: PtrKind::SocketOrNull { .. },
                        ..
                    }) => {}
                    Value::Scalar(s) if nullable && s.as_const() == Some(0) => {}
                    _ => {
                        return bad(
                            self,
                            &state,
                            "must be a socket from bpf_sk_lookup_tcp or a similar lookup"
                                .to_string(),
                        );
                    }
                },
                Arg::Const => match value {
                    Value::Scalar(s) if s.as_const().is_some() => const_arg = s.as_const(),
                    _ => return bad(self, &state, "must be a constant".to_string()),
                },
            }
        }
        let r0 = match proto.ret {
            Ret::Integer => Value::Scalar(Scalar::UNKNOWN),
            Ret::Void => Value::Uninit,
            Ret::MapValueOrNull => {
                let id = state.next_id;
                state.next_id += 1;
                let map = map.unwrap_or(0);
                let kind = if self.maps[map].map_type.is_map_in_map() {
                    let Some(inner) = self.inner[map] else {
                        return Err(self.reject(
                            pc,
                            &state,
                            Category::Unsupported,
                            format!(
                                "map #{map} holds maps, but its inner map's definition is unknown"
                            ),
                        ));
                    };
                    PtrKind::MapPtrOrNull { map: inner, id }
                } else {
                    PtrKind::MapValueOrNull { map, id }
                };
                Value::Ptr(Pointer::new(kind, 0))
            }
            Ret::SocketOrNull { common } => {
                let id = state.next_id;
                state.next_id += 1;
                Value::Ptr(Pointer::new(PtrKind::SocketOrNull { common, id }, 0))
            }
            Ret::MemOrNull => {
                let id = state.next_id;
                state.next_id += 1;
                let size = const_arg.unwrap_or(0).min(u64::from(u32::MAX)) as u32;
                Value::Ptr(Pointer::new(PtrKind::MemOrNull { size, id }, 0))
            }
        };
        for reg in ARG_REGS {
            state.set(reg, Value::Uninit);
        }
        if helpers::changes_packet(id) {
            invalidate_packet(&mut state);
        }
        state.set(Reg::R0, r0);
        Ok(vec![(pc + 1, state)])
    }

    fn size_arg(
        &self,
        pc: usize,
        state: &State,
        reg: Reg,
        zero_ok: bool,
        helper: &str,
    ) -> Result<Scalar, Rejection> {
        let size = match state.reg(reg) {
            Value::Scalar(s) => s,
            Value::Uninit => {
                return Err(self.reject(
                    pc,
                    state,
                    Category::UninitRegister,
                    format!("{reg} (a size for {helper}) is not initialised"),
                ));
            }
            other => {
                return Err(self.reject(
                    pc,
                    state,
                    Category::HelperArgument,
                    format!("{reg} must be a size for {helper}, not a pointer ({other})"),
                ));
            }
        };
        if size.smin < 0 && size.umax > i32::MAX as u64 {
            return Err(self.reject(
                pc,
                state,
                Category::HelperArgument,
                format!("the size in {reg} for {helper} may be negative ({size}): bound it first"),
            ));
        }
        if size.umin == 0 && !zero_ok {
            return Err(self.reject(pc, state, Category::HelperArgument, format!("the size in {reg} for {helper} may be zero ({size}): check that it is at least 1")));
        }
        Ok(size)
    }

    /// A constant key on the stack for an array map must be in range.
    fn check_array_key(
        &mut self,
        pc: usize,
        state: &State,
        reg: Reg,
        map: usize,
        helper: &str,
    ) -> Result<(), Rejection> {
        let def = &self.maps[map];
        let max_entries = def.max_entries;
        if !matches!(def.map_type, MapType::Array | MapType::PercpuArray) || def.key_size != 4 {
            return Ok(());
        }
        let Value::Ptr(Pointer {
            kind: PtrKind::Stack { frame },
            off,
        }) = state.reg(reg)
        else {
            return Ok(());
        };
        let Some(index) = off
            .as_const()
            .and_then(|o| crate::state::stack_index(o as i64, 4))
        else {
            return Ok(());
        };
        let Ok(Value::Scalar(key)) = state.frames[frame].stack.read(index, 4) else {
            return Ok(());
        };
        let mut marks = Marks::default();
        marks[frame].slots = backtrack::slots(index, 4);
        self.mark_precise(marks);
        match key.as_const() {
            Some(k) if k >= u64::from(max_entries) => Err(self.reject(
                pc,
                state,
                Category::MapKeyOutOfRange,
                format!("key {} passed to {helper} is out of range for array map #{map} with {max_entries} entries", k as u32 as i32),
            )),
            _ => Ok(()),
        }
    }
}

/// After a helper that may move or resize the packet, every packet pointer
/// is stale: it becomes a number, and no bytes are proven present.
fn invalidate_packet(state: &mut State) {
    state.map_values(|value| {
        if let Value::Ptr(Pointer {
            kind: PtrKind::Packet { .. } | PtrKind::PacketEnd | PtrKind::PacketMeta,
            ..
        }) = value
        {
            *value = Value::Scalar(Scalar::UNKNOWN);
        }
    });
    state.packet_min = 0;
    state.meta_min = 0;
    state.packet_bases.clear();
}
