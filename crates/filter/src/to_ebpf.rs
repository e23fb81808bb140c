//! Translation of a checked cBPF program into an eBPF [`Program`] that
//! returns, in r0, what [`run`](crate::run) returns, so filters run on
//! visor's eBPF engines.
//!
//! The approach is the kernel's (`bpf_convert_filter`): cBPF state lives in
//! fixed eBPF registers and stack slots, each cBPF instruction becomes a
//! short sequence, and jumps are re-targeted to where those sequences start.
//!
//! | cBPF | eBPF |
//! |---|---|
//! | A | r0, so packet loads (which write r0) load A directly |
//! | X | r7 |
//! | `M[k]` | the 32-bit word at `r10 - 64 + 4k` |
//! | backward jumps taken | the 32-bit word at `r10 - 68` (libpcap rules) |
//! | the packet | r6, a copy of r1 at entry (the kernel's `LD_ABS` context) |
//! | `#pktlen` | r9, the low 32 bits of r2 at entry |
//! | scratch | r8 (kept out of r1–r5, which packet loads may clobber) |
//!
//! **Calling convention:** at entry r1 points at the packet and r2 holds its
//! wire length. visor-vm's interpreter passes the buffer and its length, so
//! there the wire length is the captured length. A and X only ever take
//! 32-bit writes, so the upper half of r0 is zero and r0 is the cBPF result.
//!
//! Where libpcap's semantics and the eBPF instructions differ, the
//! translation adds the difference, and jumps to one shared "return 0"
//! epilogue, emitted only when used:
//!
//! - `div x` and `mod x` end the filter with 0 when X is 0 (eBPF would give
//!   0 and A).
//! - `lsh x` and `rsh x` give 0 when X is 32 or more (eBPF masks the count).
//! - `ld [x + k]` computes `X + k` in 64 bits into r8 and rejects sums past
//!   `i32::MAX` before loading at `r8 + 0`, so no engine can wrap the sum
//!   the way the kernel's 32-bit offset would (libpcap rejects instead).
//!   Absolute offsets past `i32::MAX` (including the Linux metadata range,
//!   which visor's interpreter does not support either) reject outright.
//!   Both assume packets shorter than 2 GiB.
//! - Comparisons use 32-bit jumps (JMP32), so a constant with its top bit
//!   set is not sign-extended.
//! - Programs checked with [`Rules::Libpcap`] may load scratch words never
//!   stored: the prologue zeroes them. A backward `ja` counts itself in a
//!   stack word and rejects past [`MAX_BACKWARD_JUMPS`], as `run` does.
//! - Programs too long for 16-bit jump offsets (only libpcap's rules allow
//!   them) jump to labels with `gotol`, conditional jumps through a
//!   `gotol` they skip.
//!
//! The output is meant for visor's engines. Like the kernel's own
//! conversion it keeps unreachable cBPF code, so the kernel's eBPF verifier
//! may refuse it.

use visor_isa::cbpf::{self, Load, LoadX, RetVal, Src, Successors};
use visor_isa::{AluOp, Insn, JmpCond, PacketOffset, Program, Reg, Size, Source, Width};

use crate::check::{CheckedProgram, LIBPCAP_MAX_INSNS, MAX_INSNS, Rules};
use crate::interp::MAX_BACKWARD_JUMPS;

/// The accumulator A.
const A: Reg = Reg::R0;
/// The index register X.
const X: Reg = Reg::R7;
/// The packet, for the kernel's implicit `LD_ABS`/`LD_IND` context.
const CTX: Reg = Reg::R6;
/// Scratch for `ldxb`, `ld [x + k]` and the backward-jump count; survives
/// packet loads.
const TMP: Reg = Reg::R8;
/// The wire length (`#pktlen`).
const WIRE_LEN: Reg = Reg::R9;
/// Number of scratch words.
const MEM_WORDS: i16 = cbpf::opcode::MEM_WORDS as i16;
/// Offset from r10 of `M[0]`: sixteen words below the frame pointer.
const SCRATCH_BASE: i16 = -4 * MEM_WORDS;
/// Offset from r10 of the count of backward jumps taken.
const BACKWARD_COUNT: i16 = SCRATCH_BASE - 4;
/// Largest offset handed to a packet load; see the module docs.
const MAX_PACKET_OFFSET: i32 = i32::MAX;

/// Instructions before the first translated one, at most: registers,
/// zeroed scratch (two words per store), the backward-jump count.
const PROLOGUE_MAX: usize = 4 + MEM_WORDS as usize / 2 + 1;
/// Instructions of the shared "return 0" block.
const REJECT_LEN: usize = 2;
/// The longest translation of one cBPF instruction with 16-bit jumps
/// (`ldxb`), and with far jumps (a backward `ja`).
const MAX_EXPANSION_NEAR: usize = 6;
const MAX_EXPANSION_FAR: usize = 7;

/// The longest translation of `len` instructions with 16-bit jumps.
const fn near_len(len: usize) -> usize {
    PROLOGUE_MAX + len * MAX_EXPANSION_NEAR + REJECT_LEN
}

// Kernel programs always take 16-bit jumps; libpcap's always fit `gotol`.
const _: () = assert!(near_len(MAX_INSNS) <= i16::MAX as usize);
const _: () =
    assert!(PROLOGUE_MAX + LIBPCAP_MAX_INSNS * MAX_EXPANSION_FAR + REJECT_LEN <= i32::MAX as usize);

/// The eBPF program equivalent to `program` (see the module docs).
///
/// ```
/// use visor_filter::{CheckedProgram, to_ebpf};
/// use visor_isa::cbpf::{Op, RetVal};
/// let accept_all = CheckedProgram::from_ops(&[Op::Ret(RetVal::K(262144))])?;
/// let ebpf = to_ebpf(&accept_all);
/// assert_eq!(ebpf.insns().len(), 6); // prologue, r0 = 262144, exit
/// # Ok::<(), visor_filter::CheckError>(())
/// ```
pub fn to_ebpf(program: &CheckedProgram) -> Program {
    let reach = if near_len(program.len()) <= i16::MAX as usize {
        Reach::Near
    } else {
        Reach::Far
    };
    let mut out = Emitter::new(reach);
    out.prologue(program);
    for (pc, &op) in program.ops().iter().enumerate() {
        out.starts.push(out.insns.len());
        out.translate(pc, op);
    }
    out.finish()
}

/// How jumps to labels are emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reach {
    /// With the 16-bit offset of the jump itself.
    Near,
    /// Through `gotol`, whose offset has 32 bits.
    Far,
}

/// Where a jump goes before offsets are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    /// The start of the translation of cBPF instruction `n`.
    Cbpf(usize),
    /// The shared block that returns 0.
    Reject,
}

struct Emitter {
    reach: Reach,
    insns: Vec<Insn>,
    /// Index of each jump to patch, and where it goes.
    fixups: Vec<(usize, Label)>,
    /// eBPF index where each cBPF instruction's translation starts.
    starts: Vec<usize>,
}

impl Emitter {
    fn new(reach: Reach) -> Emitter {
        Emitter {
            reach,
            insns: Vec::new(),
            fixups: Vec::new(),
            starts: Vec::new(),
        }
    }

    fn emit(&mut self, insn: Insn) {
        self.insns.push(insn);
    }

    fn prologue(&mut self, program: &CheckedProgram) {
        self.emit(mov(Width::W64, CTX, Source::Reg(Reg::R1)));
        self.emit(mov(Width::W32, WIRE_LEN, Source::Reg(Reg::R2)));
        self.emit(mov(Width::W32, A, Source::Imm(0)));
        self.emit(mov(Width::W32, X, Source::Imm(0)));
        let ops = program.ops();
        let loads_scratch = ops.iter().any(|op| {
            matches!(
                op,
                cbpf::Op::Ld(Load::Mem { .. }) | cbpf::Op::Ldx(LoadX::Mem { .. })
            )
        });
        // Kernel rules prove every load follows a store.
        if program.rules() == Rules::Libpcap && loads_scratch {
            for pair in (0..MEM_WORDS).step_by(2) {
                self.emit(Insn::Store {
                    size: Size::DW,
                    dst: Reg::R10,
                    off: SCRATCH_BASE + 4 * pair,
                    src: Source::Imm(0),
                });
            }
        }
        if ops.iter().any(|&op| is_backward(op)) {
            self.emit(Insn::Store {
                size: Size::W,
                dst: Reg::R10,
                off: BACKWARD_COUNT,
                src: Source::Imm(0),
            });
        }
    }

    /// `if dst cond src goto label`, compared at `width`.
    fn jump(&mut self, width: Width, cond: JmpCond, dst: Reg, src: Source, label: Label) {
        let jump = |off| Insn::Jump {
            width,
            cond,
            dst,
            src,
            off,
        };
        match self.reach {
            Reach::Near => {
                self.fixups.push((self.insns.len(), label));
                self.emit(jump(0));
            }
            Reach::Far => {
                // Taken: skip the skip, onto the gotol.
                self.emit(jump(1));
                self.emit(Insn::Ja {
                    off: 1,
                    long: false,
                });
                self.goto(label);
            }
        }
    }

    fn goto(&mut self, label: Label) {
        self.fixups.push((self.insns.len(), label));
        let long = self.reach == Reach::Far;
        self.emit(Insn::Ja { off: 0, long });
    }

    fn translate(&mut self, pc: usize, op: cbpf::Op) {
        use cbpf::Op;
        match op {
            Op::Ld(load) => self.load_a(load),
            Op::Ldx(load) => self.load_x(load),
            Op::St { slot } => self.emit(store(slot, A)),
            Op::Stx { slot } => self.emit(store(slot, X)),
            Op::Alu { op, src } => self.alu(op, src),
            Op::Neg => self.emit(Insn::Neg {
                width: Width::W32,
                dst: A,
            }),
            Op::Ja { .. } => {
                let Successors::One(target) = op.successors(pc) else {
                    return;
                };
                if is_backward(op) {
                    self.count_backward_jump();
                }
                self.goto(Label::Cbpf(landing(target)));
            }
            Op::Jump { cond, src, .. } => {
                let Successors::Two(jt, jf) = op.successors(pc) else {
                    return;
                };
                let (jt, jf) = (landing(jt), landing(jf));
                let src = operand(src);
                let cond = jmp_cond(cond);
                let next = pc + 1;
                match inverse(cond) {
                    _ if jf == next => self.jump(Width::W32, cond, A, src, Label::Cbpf(jt)),
                    Some(inverse) if jt == next => {
                        self.jump(Width::W32, inverse, A, src, Label::Cbpf(jf));
                    }
                    _ => {
                        self.jump(Width::W32, cond, A, src, Label::Cbpf(jt));
                        self.goto(Label::Cbpf(jf));
                    }
                }
            }
            Op::Ret(RetVal::K(k)) => {
                self.emit(mov(Width::W32, A, imm(k)));
                self.emit(Insn::Exit);
            }
            Op::Ret(RetVal::A) => self.emit(Insn::Exit),
            Op::Tax => self.emit(mov(Width::W32, X, Source::Reg(A))),
            Op::Txa => self.emit(mov(Width::W32, A, Source::Reg(X))),
        }
    }

    /// Rejects if the run already took its share of backward jumps, else
    /// counts this one.
    fn count_backward_jump(&mut self) {
        let limit = Source::Imm(MAX_BACKWARD_JUMPS as i32);
        self.emit(Insn::Load {
            size: Size::W,
            signed: false,
            dst: TMP,
            src: Reg::R10,
            off: BACKWARD_COUNT,
        });
        self.jump(Width::W32, JmpCond::Ge, TMP, limit, Label::Reject);
        self.emit(alu(AluOp::Add, Width::W32, TMP, Source::Imm(1)));
        self.emit(Insn::Store {
            size: Size::W,
            dst: Reg::R10,
            off: BACKWARD_COUNT,
            src: Source::Reg(TMP),
        });
    }

    fn load_a(&mut self, load: Load) {
        match load {
            Load::Imm(k) => self.emit(mov(Width::W32, A, imm(k))),
            Load::Abs { size, offset } => match i32::try_from(offset) {
                Ok(offset) => self.emit(Insn::LoadPacket {
                    size: packet_size(size),
                    offset: PacketOffset::Abs,
                    imm: offset,
                }),
                Err(_) => self.goto(Label::Reject),
            },
            Load::Ind { size, offset } => {
                // TMP = X + k in 64 bits: mov32 zero-extends k.
                self.emit(mov(Width::W32, TMP, imm(offset)));
                self.emit(alu(AluOp::Add, Width::W64, TMP, Source::Reg(X)));
                let limit = Source::Imm(MAX_PACKET_OFFSET);
                self.jump(Width::W64, JmpCond::Gt, TMP, limit, Label::Reject);
                self.emit(Insn::LoadPacket {
                    size: packet_size(size),
                    offset: PacketOffset::Ind(TMP),
                    imm: 0,
                });
            }
            Load::Mem { slot } => self.emit(Insn::Load {
                size: Size::W,
                signed: false,
                dst: A,
                src: Reg::R10,
                off: scratch_offset(slot),
            }),
            Load::Len => self.emit(mov(Width::W32, A, Source::Reg(WIRE_LEN))),
        }
    }

    fn load_x(&mut self, load: LoadX) {
        match load {
            LoadX::Imm(k) => self.emit(mov(Width::W32, X, imm(k))),
            LoadX::Mem { slot } => self.emit(Insn::Load {
                size: Size::W,
                signed: false,
                dst: X,
                src: Reg::R10,
                off: scratch_offset(slot),
            }),
            LoadX::Len => self.emit(mov(Width::W32, X, Source::Reg(WIRE_LEN))),
            LoadX::Msh { offset } => match i32::try_from(offset) {
                // The byte load lands in r0, which is A: keep A in TMP.
                Ok(offset) => {
                    self.emit(mov(Width::W64, TMP, Source::Reg(A)));
                    self.emit(Insn::LoadPacket {
                        size: Size::B,
                        offset: PacketOffset::Abs,
                        imm: offset,
                    });
                    self.emit(alu(AluOp::And, Width::W32, A, Source::Imm(0xf)));
                    self.emit(alu(AluOp::Lsh, Width::W32, A, Source::Imm(2)));
                    self.emit(mov(Width::W32, X, Source::Reg(A)));
                    self.emit(mov(Width::W64, A, Source::Reg(TMP)));
                }
                Err(_) => self.goto(Label::Reject),
            },
        }
    }

    fn alu(&mut self, op: cbpf::AluOp, src: Src) {
        let ebpf_op = alu_op(op);
        let operand = operand(src);
        match (op, src) {
            (cbpf::AluOp::Div | cbpf::AluOp::Mod, Src::X) => {
                self.jump(Width::W32, JmpCond::Eq, X, Source::Imm(0), Label::Reject);
                self.emit(alu(ebpf_op, Width::W32, A, operand));
            }
            (cbpf::AluOp::Lsh | cbpf::AluOp::Rsh, Src::X) => {
                // if X >= 32 { A = 0 } else { A op= X }
                self.emit(Insn::Jump {
                    width: Width::W32,
                    cond: JmpCond::Ge,
                    dst: X,
                    src: Source::Imm(32),
                    off: 2,
                });
                self.emit(alu(ebpf_op, Width::W32, A, operand));
                self.emit(Insn::Ja {
                    off: 1,
                    long: false,
                });
                self.emit(mov(Width::W32, A, Source::Imm(0)));
            }
            // The checker rules out `div #0` and shifts by 32 or more.
            _ => self.emit(alu(ebpf_op, Width::W32, A, operand)),
        }
    }

    fn finish(mut self) -> Program {
        let reject = self.insns.len();
        if self.fixups.iter().any(|&(_, label)| label == Label::Reject) {
            self.emit(mov(Width::W32, A, Source::Imm(0)));
            self.emit(Insn::Exit);
        }
        for &(at, label) in &self.fixups {
            let to = match label {
                Label::Cbpf(n) => self.starts[n],
                Label::Reject => reject,
            };
            let off = to as i64 - at as i64 - 1;
            // 16-bit offsets only in programs that `near_len` keeps within
            // reach; `gotol` reaches any program (the assertions above).
            let short = || i16::try_from(off).expect("near jumps stay within i16::MAX");
            match &mut self.insns[at] {
                Insn::Jump { off: o, .. } => *o = short(),
                Insn::Ja {
                    off: o,
                    long: false,
                } => *o = i32::from(short()),
                Insn::Ja { off: o, long: true } => {
                    *o = i32::try_from(off).expect("programs stay within i32::MAX");
                }
                _ => {}
            }
        }
        Program::new(self.insns).expect("every jump targets a translated instruction")
    }
}

/// A `ja` that goes back (libpcap's rules only).
fn is_backward(op: cbpf::Op) -> bool {
    matches!(op, cbpf::Op::Ja { k } if (k as i32) < 0)
}

/// A jump target as an index. The checker put every target inside the
/// program, so it is a valid index into `starts`.
fn landing(target: i64) -> usize {
    usize::try_from(target).expect("the checker keeps jump targets inside the program")
}

fn mov(width: Width, dst: Reg, src: Source) -> Insn {
    alu(AluOp::Mov, width, dst, src)
}

fn alu(op: AluOp, width: Width, dst: Reg, src: Source) -> Insn {
    Insn::Alu {
        width,
        op,
        dst,
        src,
    }
}

/// A 32-bit constant as eBPF's immediate: the same bits.
fn imm(k: u32) -> Source {
    Source::Imm(k as i32)
}

fn operand(src: Src) -> Source {
    match src {
        Src::K(k) => imm(k),
        Src::X => Source::Reg(X),
    }
}

fn store(slot: u32, src: Reg) -> Insn {
    Insn::Store {
        size: Size::W,
        dst: Reg::R10,
        off: scratch_offset(slot),
        src: Source::Reg(src),
    }
}

/// The checker keeps `slot` below 16, so the offset is -64 to -4.
fn scratch_offset(slot: u32) -> i16 {
    SCRATCH_BASE + 4 * (slot as i16)
}

fn packet_size(size: cbpf::Size) -> Size {
    match size {
        cbpf::Size::Word => Size::W,
        cbpf::Size::Half => Size::H,
        cbpf::Size::Byte => Size::B,
    }
}

fn alu_op(op: cbpf::AluOp) -> AluOp {
    match op {
        cbpf::AluOp::Add => AluOp::Add,
        cbpf::AluOp::Sub => AluOp::Sub,
        cbpf::AluOp::Mul => AluOp::Mul,
        cbpf::AluOp::Div => AluOp::Div,
        cbpf::AluOp::Or => AluOp::Or,
        cbpf::AluOp::And => AluOp::And,
        cbpf::AluOp::Lsh => AluOp::Lsh,
        cbpf::AluOp::Rsh => AluOp::Rsh,
        cbpf::AluOp::Mod => AluOp::Mod,
        cbpf::AluOp::Xor => AluOp::Xor,
    }
}

fn jmp_cond(cond: cbpf::JmpCond) -> JmpCond {
    match cond {
        cbpf::JmpCond::Eq => JmpCond::Eq,
        cbpf::JmpCond::Gt => JmpCond::Gt,
        cbpf::JmpCond::Ge => JmpCond::Ge,
        cbpf::JmpCond::Set => JmpCond::Set,
    }
}

/// The condition that holds exactly when `cond` does not; eBPF has no
/// "bits clear" jump, so `jset` has none.
fn inverse(cond: JmpCond) -> Option<JmpCond> {
    match cond {
        JmpCond::Eq => Some(JmpCond::Ne),
        JmpCond::Gt => Some(JmpCond::Le),
        JmpCond::Ge => Some(JmpCond::Lt),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cbpf::{JmpCond as Cond, Op};

    /// The prologue of a kernel program: registers only.
    const PROLOGUE_LEN: usize = 4;

    fn translate(ops: &[Op]) -> Program {
        to_ebpf(&CheckedProgram::from_ops(ops).expect("test program passes the checker"))
    }

    fn translate_libpcap(ops: &[Op]) -> Program {
        let insns: Vec<_> = ops.iter().map(|op| op.encode()).collect();
        to_ebpf(&crate::check_with(&insns, Rules::Libpcap).expect("libpcap accepts it"))
    }

    /// Every valid opcode, with `k` values at the edges.
    fn every_op() -> Vec<Op> {
        let ks = [0, 1, 0x7fff_ffff, 0x8000_0000, u32::MAX - 1, u32::MAX];
        (0..=u16::MAX)
            .flat_map(|code| ks.map(|k| cbpf::Insn::new(code, 0, 0, k).op()))
            .filter_map(Result::ok)
            .collect()
    }

    #[test]
    fn no_instruction_expands_past_the_maximum() {
        for (reach, max) in [
            (Reach::Near, MAX_EXPANSION_NEAR),
            (Reach::Far, MAX_EXPANSION_FAR),
        ] {
            for op in every_op() {
                let mut out = Emitter::new(reach);
                // At 1 << 31 every `ja` lands at or after 0.
                out.translate(1 << 31, op);
                assert!(
                    out.insns.len() <= max,
                    "{reach:?} {op:?}: {}",
                    out.insns.len()
                );
            }
        }
    }

    #[test]
    fn a_typical_filter() {
        // tcpdump -d 'ip': ldh [12]; jeq #0x800 jt 2 jf 3; ret #262144; ret #0
        let program = translate(&[
            Op::Ld(Load::Abs {
                size: cbpf::Size::Half,
                offset: 12,
            }),
            Op::Jump {
                cond: Cond::Eq,
                src: Src::K(0x800),
                jt: 0,
                jf: 1,
            },
            Op::Ret(RetVal::K(262144)),
            Op::Ret(RetVal::K(0)),
        ]);
        let body = &program.insns()[PROLOGUE_LEN..];
        assert_eq!(
            body,
            [
                Insn::LoadPacket {
                    size: Size::H,
                    offset: PacketOffset::Abs,
                    imm: 12
                },
                // jt falls through: one inverted jump to `ret #0`.
                Insn::Jump {
                    width: Width::W32,
                    cond: JmpCond::Ne,
                    dst: A,
                    src: Source::Imm(0x800),
                    off: 2
                },
                mov(Width::W32, A, Source::Imm(262144)),
                Insn::Exit,
                mov(Width::W32, A, Source::Imm(0)),
                Insn::Exit,
            ]
        );
    }

    #[test]
    fn jset_with_both_targets_needs_a_ja() {
        let program = translate(&[
            Op::Jump {
                cond: Cond::Set,
                src: Src::X,
                jt: 1,
                jf: 0,
            },
            Op::Tax,
            Op::Ret(RetVal::A),
        ]);
        let body = &program.insns()[PROLOGUE_LEN..];
        assert_eq!(body.len(), 3);
        assert!(matches!(
            body[0],
            Insn::Jump {
                cond: JmpCond::Set,
                off: 1,
                ..
            }
        ));
        let program = translate(&[
            Op::Jump {
                cond: Cond::Set,
                src: Src::X,
                jt: 0,
                jf: 1,
            },
            Op::Tax,
            Op::Ret(RetVal::A),
        ]);
        let body = &program.insns()[PROLOGUE_LEN..];
        assert_eq!(
            body[1],
            Insn::Ja {
                off: 1,
                long: false
            }
        );
    }

    #[test]
    fn reject_block_only_when_used() {
        let plain = translate(&[Op::Ret(RetVal::A)]);
        assert_eq!(plain.insns().len(), PROLOGUE_LEN + 1);
        let divides = translate(&[
            Op::Alu {
                op: cbpf::AluOp::Div,
                src: Src::X,
            },
            Op::Ret(RetVal::A),
        ]);
        let tail = &divides.insns()[divides.insns().len() - REJECT_LEN..];
        assert_eq!(tail, [mov(Width::W32, A, Source::Imm(0)), Insn::Exit]);
    }

    #[test]
    fn the_longest_kernel_program_takes_near_jumps() {
        // 4094 `ldxb` and a `ret`, with a first jump over all of them.
        let mut ops = vec![Op::Ja { k: 4094 }];
        ops.extend([Op::Ldx(LoadX::Msh { offset: 14 }); MAX_INSNS - 2]);
        ops.push(Op::Ret(RetVal::A));
        let program = translate(&ops);
        let ja = program.insns()[PROLOGUE_LEN];
        let off = (MAX_INSNS - 2) * MAX_EXPANSION_NEAR;
        assert_eq!(
            ja,
            Insn::Ja {
                off: off as i32,
                long: false
            }
        );
    }

    #[test]
    fn libpcap_rules_zero_scratch_and_count_backward_jumps() {
        let load = Op::Ld(Load::Mem { slot: 15 });
        let program = translate_libpcap(&[load, Op::Ret(RetVal::A)]);
        let zeroed = &program.insns()[PROLOGUE_LEN..PROLOGUE_LEN + 8];
        assert!(
            zeroed
                .iter()
                .all(|i| matches!(i, Insn::Store { size: Size::DW, .. }))
        );
        // 0: ja 2; 1: ret; 2: ja 1 (back); 3: ret
        let back = Op::Ja { k: (-2i32) as u32 };
        let ret = Op::Ret(RetVal::A);
        let program = translate_libpcap(&[Op::Ja { k: 1 }, ret, back, ret]);
        let count = Insn::Store {
            size: Size::W,
            dst: Reg::R10,
            off: BACKWARD_COUNT,
            src: Source::Imm(0),
        };
        assert_eq!(program.insns()[PROLOGUE_LEN], count);
    }

    #[test]
    fn long_libpcap_programs_take_far_jumps() {
        let len = 6000;
        let mut ops = vec![Op::Ja { k: len - 2 }];
        ops.extend((2..len).map(|_| Op::Ldx(LoadX::Msh { offset: 14 })));
        ops.push(Op::Ret(RetVal::A));
        let program = translate_libpcap(&ops);
        let off = (len as usize - 2) * MAX_EXPANSION_NEAR;
        assert_eq!(
            program.insns()[PROLOGUE_LEN],
            Insn::Ja {
                off: off as i32,
                long: true
            }
        );
    }
}
