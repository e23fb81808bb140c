//! Runs a checked cBPF program over one packet with the semantics of
//! libpcap's `bpf_filter`.
//!
//! - A, X and the sixteen scratch words start at 0.
//! - Packet loads read the captured bytes only. A load that would end past
//!   them, or whose offset `X + k` overflows 32 bits, ends the filter with 0
//!   (reject); so does `div x` or `mod x` with X = 0.
//! - `ld #pktlen` and `ldx #pktlen` give the length on the wire, which a
//!   capture with a snap length may not hold entirely ([`Packet::new`]).
//! - A shift by X of 32 or more gives 0 (libpcap; the kernel masks the
//!   count instead).
//! - Linux metadata loads ([`Ancillary`]) are not supported: like libpcap
//!   without auxiliary data, the filter returns 0 there.
//! - A backward `ja` (only [`Rules::Libpcap`](crate::Rules) allows one)
//!   may be taken [`MAX_BACKWARD_JUMPS`] times per packet; the next one
//!   ends the filter with 0.
//!
//! The result is what `ret` returned: the number of bytes to keep, 0 to
//! reject. Running never fails and never panics: the program is checked,
//! and every run ends (forward jumps, and few backward ones).
//!
//! **Speed.** The checker decodes each program once more ([`decode`]):
//! one flat variant per instruction kind and operand (`ldh [k]`, `jeq #k`,
//! ...), with jump targets as absolute indices and the questions a run
//! would otherwise ask every time (is this offset Linux metadata? which
//! size? K or X?) answered ahead; frequent load-and-test pairs fused; jumps
//! threaded past loads and tests whose outcome the jump already knows, and
//! jumps to `ret #k` returning directly ([`thread`]); `jeq` chains on one
//! value (EtherType, port) made one instruction. [`run`] is then a
//! single `match` per instruction, on locals.

mod decode;
mod thread;

use decode::branch;
pub(crate) use decode::{Code, Decoded, decode};

use visor_isa::cbpf::AluOp;

use crate::check::CheckedProgram;

/// A packet as a filter sees it: the captured bytes, and the length it
/// had on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    bytes: &'a [u8],
    wire_len: u32,
}

impl<'a> Packet<'a> {
    /// `bytes` as captured from a packet of `wire_len` bytes (a pcap
    /// record's `caplen` bytes and its `len`).
    pub fn new(bytes: &'a [u8], wire_len: u32) -> Packet<'a> {
        Packet { bytes, wire_len }
    }

    /// A packet captured whole: the wire length is the length of `bytes`
    /// (saturated at `u32::MAX`).
    pub fn whole(bytes: &'a [u8]) -> Packet<'a> {
        let wire_len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        Packet { bytes, wire_len }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn wire_len(&self) -> u32 {
        self.wire_len
    }
}

/// How many backward jumps one run may take. libpcap's `bpf_filter` sets
/// no bound; only `protochain` emits backward jumps, one per IPv6 extension
/// header walked, and a 65,535-byte packet holds at most 8,192 headers of
/// 8 bytes. So every real chain is followed to its end, as libpcap does
/// (`ipv6_ext_headers.pcap` has 100), and every run still ends.
pub const MAX_BACKWARD_JUMPS: u32 = 8192;

const MEM_WORDS: usize = visor_isa::cbpf::opcode::MEM_WORDS as usize;

/// What the filter returns for `packet`: bytes to keep, 0 to reject.
///
/// ```
/// use visor_filter::{CheckedProgram, Packet, run};
/// use visor_isa::cbpf::{Load, Op, RetVal, Size};
/// let second_byte = CheckedProgram::from_ops(&[
///     Op::Ld(Load::Abs { size: Size::Byte, offset: 1 }),
///     Op::Ret(RetVal::A),
/// ])?;
/// assert_eq!(run(&second_byte, Packet::whole(&[7, 42])), 42);
/// assert_eq!(run(&second_byte, Packet::whole(&[7])), 0);
/// # Ok::<(), visor_filter::CheckError>(())
/// ```
#[inline]
pub fn run(program: &CheckedProgram, packet: Packet<'_>) -> u32 {
    let decoded = program.decoded();
    // Most filters never touch scratch memory: their runs skip clearing it.
    if decoded.uses_memory {
        execute::<true>(decoded, packet)
    } else {
        execute::<false>(decoded, packet)
    }
}

/// [`run`]; `MEMORY` says whether the program uses scratch memory.
#[inline(always)]
fn execute<const MEMORY: bool>(decoded: &Decoded, packet: Packet<'_>) -> u32 {
    let Decoded {
        code,
        returns,
        cases,
        ..
    } = decoded;
    let bytes = packet.bytes;
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; MEM_WORDS];
    let mut backward_jumps = 0;
    let mut pc = 0usize;
    // `?` on a load or a division: `None` rejects the packet.
    macro_rules! or_reject {
        ($value:expr) => {
            match $value {
                Some(v) => v,
                None => return 0,
            }
        };
    }
    loop {
        // Past the code, a jump returns a constant (none other gets there).
        let Some(&insn) = code.get(pc) else {
            return pc
                .checked_sub(code.len())
                .and_then(|i| returns.get(i))
                .copied()
                .unwrap_or(0);
        };
        pc += 1;
        match insn {
            Code::LdW(k) => a = or_reject!(word(bytes, k as usize)),
            Code::LdH(k) => a = or_reject!(half(bytes, k as usize)),
            Code::LdB(k) => a = or_reject!(byte(bytes, k as usize)),
            Code::LdIndW(k) => a = or_reject!(word(bytes, or_reject!(indexed(x, k)))),
            Code::LdIndH(k) => a = or_reject!(half(bytes, or_reject!(indexed(x, k)))),
            Code::LdIndB(k) => a = or_reject!(byte(bytes, or_reject!(indexed(x, k)))),
            Code::LdImm(k) => a = k,
            Code::LdMem(s) if MEMORY => a = mem[usize::from(s) % MEM_WORDS],
            Code::LdLen => a = packet.wire_len,
            Code::LdxImm(k) => x = k,
            Code::LdxMem(s) if MEMORY => x = mem[usize::from(s) % MEM_WORDS],
            Code::LdxLen => x = packet.wire_len,
            Code::LdxMsh(k) => x = (or_reject!(byte(bytes, k as usize)) & 0xf) << 2,
            Code::St(s) if MEMORY => mem[usize::from(s) % MEM_WORDS] = a,
            Code::Stx(s) if MEMORY => mem[usize::from(s) % MEM_WORDS] = x,
            // Not reached: programs that use memory run with `MEMORY`.
            Code::LdMem(_) | Code::LdxMem(_) | Code::St(_) | Code::Stx(_) => return 0,
            Code::AluK(op, k) => a = or_reject!(alu(op, a, k)),
            Code::AluX(op) => a = or_reject!(alu(op, a, x)),
            Code::Neg => a = a.wrapping_neg(),
            Code::Tax => x = a,
            Code::Txa => a = x,
            Code::Ja(to) => pc = to as usize,
            Code::JaBack(to) => {
                if backward_jumps >= MAX_BACKWARD_JUMPS {
                    return 0;
                }
                backward_jumps += 1;
                pc = to as usize;
            }
            Code::JeqK(t) => pc = t.next(a == t.k),
            Code::JgtK(t) => pc = t.next(a > t.k),
            Code::JgeK(t) => pc = t.next(a >= t.k),
            Code::JsetK(t) => pc = t.next(a & t.k != 0),
            Code::JX { cond, jt, jf } => pc = branch(cond.holds(a, x), jt, jf),
            Code::LdWJeq(at, t) => {
                a = or_reject!(word(bytes, at as usize));
                pc = t.next(a == t.k);
            }
            Code::LdHJeq(at, t) => {
                a = or_reject!(half(bytes, at as usize));
                pc = t.next(a == t.k);
            }
            Code::LdBJeq(at, t) => {
                a = or_reject!(byte(bytes, at as usize));
                pc = t.next(a == t.k);
            }
            Code::LdHJgt(at, t) => {
                a = or_reject!(half(bytes, at as usize));
                pc = t.next(a > t.k);
            }
            Code::LdHJset(at, t) => {
                a = or_reject!(half(bytes, at as usize));
                pc = t.next(a & t.k != 0);
            }
            Code::LdBJset(at, t) => {
                a = or_reject!(byte(bytes, at as usize));
                pc = t.next(a & t.k != 0);
            }
            Code::LdIndHJeq(at, t) => {
                a = or_reject!(half(bytes, or_reject!(indexed(x, at))));
                pc = t.next(a == t.k);
            }
            Code::LdIndBJeq(at, t) => {
                a = or_reject!(byte(bytes, or_reject!(indexed(x, at))));
                pc = t.next(a == t.k);
            }
            Code::Cases(c) => pc = c.next(cases, a),
            Code::LdHCases(at, c) => {
                a = or_reject!(half(bytes, at as usize));
                pc = c.next(cases, a);
            }
            Code::AndJeq(m, t) => {
                a &= m;
                pc = t.next(a == t.k);
            }
            Code::RetK(k) => return k,
            Code::RetA => return a,
            Code::Reject => return 0,
        }
    }
}

/// `X + k` as a packet offset. The sum is taken in 64 bits: one that
/// overflows 32 bits lies past any packet, and is rejected as such.
fn indexed(x: u32, k: u32) -> Option<usize> {
    usize::try_from(u64::from(x) + u64::from(k)).ok()
}

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..)?.first_chunk::<4>()?;
    Some(u32::from_be_bytes(*b))
}

fn half(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..)?.first_chunk::<2>()?;
    Some(u32::from(u16::from_be_bytes(*b)))
}

fn byte(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at).copied().map(u32::from)
}

/// `a op v`; `None` for a division or modulo by zero.
fn alu(op: AluOp, a: u32, v: u32) -> Option<u32> {
    Some(match op {
        AluOp::Add => a.wrapping_add(v),
        AluOp::Sub => a.wrapping_sub(v),
        AluOp::Mul => a.wrapping_mul(v),
        AluOp::Div => a.checked_div(v)?,
        AluOp::Mod => a.checked_rem(v)?,
        AluOp::And => a & v,
        AluOp::Or => a | v,
        AluOp::Xor => a ^ v,
        AluOp::Lsh => a.checked_shl(v).unwrap_or(0),
        AluOp::Rsh => a.checked_shr(v).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use visor_isa::cbpf::{Ancillary, JmpCond, Load, LoadX, Op, RetVal, Size, Src};

    const RET_A: Op = Op::Ret(RetVal::A);

    /// Runs `ops` (checked) over whole `bytes`.
    #[track_caller]
    fn eval(ops: &[Op], bytes: &[u8]) -> u32 {
        let program = CheckedProgram::from_ops(ops).expect("test program passes the checker");
        run(&program, Packet::whole(bytes))
    }

    fn ld_imm(k: u32) -> Op {
        Op::Ld(Load::Imm(k))
    }

    fn ldx_imm(k: u32) -> Op {
        Op::Ldx(LoadX::Imm(k))
    }

    fn abs(size: Size, offset: u32) -> Op {
        Op::Ld(Load::Abs { size, offset })
    }

    fn ind(size: Size, offset: u32) -> Op {
        Op::Ld(Load::Ind { size, offset })
    }

    fn alu_k(op: AluOp, k: u32) -> Op {
        Op::Alu { op, src: Src::K(k) }
    }

    fn alu_x(op: AluOp) -> Op {
        Op::Alu { op, src: Src::X }
    }

    const PACKET: [u8; 6] = [0x12, 0x34, 0x56, 0x78, 0x9a, 0x45];

    #[test]
    fn registers_and_memory_start_at_zero() {
        assert_eq!(eval(&[RET_A], &[]), 0);
        assert_eq!(eval(&[Op::Txa, RET_A], &[]), 0);
        assert_eq!(
            eval(&[ld_imm(9), Op::St { slot: 15 }, ld_imm(1), RET_A], &[]),
            1
        );
    }

    #[test]
    fn absolute_loads_are_big_endian_and_bounded() {
        assert_eq!(eval(&[abs(Size::Word, 0), RET_A], &PACKET), 0x1234_5678);
        assert_eq!(eval(&[abs(Size::Half, 4), RET_A], &PACKET), 0x9a45);
        assert_eq!(eval(&[abs(Size::Byte, 5), RET_A], &PACKET), 0x45);
        // One byte short, and far out: reject.
        assert_eq!(eval(&[abs(Size::Word, 3), RET_A], &PACKET), 0);
        assert_eq!(eval(&[abs(Size::Half, 5), RET_A], &PACKET), 0);
        assert_eq!(eval(&[abs(Size::Byte, 6), RET_A], &PACKET), 0);
        assert_eq!(
            eval(&[abs(Size::Byte, Ancillary::BASE - 1), RET_A], &PACKET),
            0
        );
        // A rejecting load ends the filter even before a `ret #k`.
        let reject = [abs(Size::Byte, 6), Op::Ret(RetVal::K(99))];
        assert_eq!(eval(&reject, &PACKET), 0);
    }

    #[test]
    fn indirect_loads_add_x_without_wrapping() {
        assert_eq!(
            eval(&[ldx_imm(2), ind(Size::Half, 1), RET_A], &PACKET),
            0x789a
        );
        assert_eq!(
            eval(&[ldx_imm(5), ind(Size::Byte, 0), RET_A], &PACKET),
            0x45
        );
        assert_eq!(eval(&[ldx_imm(5), ind(Size::Half, 0), RET_A], &PACKET), 0);
        // X + k wraps to 1 in 32 bits; libpcap rejects, so do we.
        let wrap = [ldx_imm(u32::MAX), ind(Size::Byte, 2), RET_A];
        assert_eq!(eval(&wrap, &PACKET), 0);
    }

    #[test]
    fn msh_is_four_times_the_low_nibble() {
        let msh = |offset| Op::Ldx(LoadX::Msh { offset });
        assert_eq!(eval(&[msh(5), Op::Txa, RET_A], &PACKET), 20);
        assert_eq!(eval(&[msh(6), Op::Txa, RET_A], &PACKET), 0);
        // A is untouched.
        assert_eq!(eval(&[ld_imm(7), msh(0), RET_A], &PACKET), 7);
    }

    #[test]
    fn length_is_the_wire_length() {
        let program = CheckedProgram::from_ops(&[Op::Ld(Load::Len), RET_A]).unwrap();
        assert_eq!(run(&program, Packet::whole(&PACKET)), 6);
        assert_eq!(run(&program, Packet::new(&PACKET, 1514)), 1514);
        let ldx = CheckedProgram::from_ops(&[Op::Ldx(LoadX::Len), Op::Txa, RET_A]).unwrap();
        assert_eq!(run(&ldx, Packet::new(&PACKET, 60)), 60);
        // Loads stay bounded by the captured bytes whatever the wire says.
        let past = CheckedProgram::from_ops(&[abs(Size::Byte, 6), RET_A]).unwrap();
        assert_eq!(run(&past, Packet::new(&PACKET, 1514)), 0);
    }

    #[test]
    fn scratch_memory_and_transfers() {
        let ops = [
            ld_imm(11),
            Op::St { slot: 0 },
            Op::Tax,
            Op::Stx { slot: 15 },
            ld_imm(0),
            Op::Ldx(LoadX::Mem { slot: 0 }),
            Op::Ld(Load::Mem { slot: 15 }),
            alu_x(AluOp::Add),
            RET_A,
        ];
        assert_eq!(eval(&ops, &[]), 22);
    }

    #[test]
    fn arithmetic_wraps_at_32_bits() {
        let with = |a, op| eval(&[ld_imm(a), op, RET_A], &[]);
        assert_eq!(with(u32::MAX, alu_k(AluOp::Add, 2)), 1);
        assert_eq!(with(1, alu_k(AluOp::Sub, 2)), u32::MAX);
        assert_eq!(with(0x8000_0001, alu_k(AluOp::Mul, 2)), 2);
        assert_eq!(with(7, alu_k(AluOp::Div, 2)), 3);
        assert_eq!(with(u32::MAX, alu_k(AluOp::Div, 0x8000_0000)), 1);
        assert_eq!(with(7, alu_k(AluOp::Mod, 4)), 3);
        assert_eq!(with(0xf0, alu_k(AluOp::And, 0x3c)), 0x30);
        assert_eq!(with(0xf0, alu_k(AluOp::Or, 0x0f)), 0xff);
        assert_eq!(with(0xff, alu_k(AluOp::Xor, 0x0f)), 0xf0);
        assert_eq!(with(0x8000_0001, alu_k(AluOp::Lsh, 1)), 2);
        assert_eq!(with(0x8000_0000, alu_k(AluOp::Rsh, 31)), 1);
        assert_eq!(with(1, Op::Neg), u32::MAX);
        assert_eq!(with(0x8000_0000, Op::Neg), 0x8000_0000);
    }

    #[test]
    fn x_operands_and_their_edge_cases() {
        let with = |a, x, op| eval(&[ld_imm(a), ldx_imm(x), op, RET_A], &[]);
        assert_eq!(with(5, 3, alu_x(AluOp::Sub)), 2);
        assert_eq!(with(5, 3, alu_x(AluOp::Mul)), 15);
        assert_eq!(with(5, 3, alu_x(AluOp::Div)), 1);
        assert_eq!(with(5, 3, alu_x(AluOp::Mod)), 2);
        assert_eq!(with(5, 3, alu_x(AluOp::And)), 1);
        assert_eq!(with(5, 3, alu_x(AluOp::Or)), 7);
        assert_eq!(with(5, 3, alu_x(AluOp::Xor)), 6);
        assert_eq!(with(5, 3, alu_x(AluOp::Lsh)), 40);
        assert_eq!(with(40, 3, alu_x(AluOp::Rsh)), 5);
        // Division by X = 0 rejects, even where `ret #k` follows.
        let div0 = [ld_imm(5), alu_x(AluOp::Div), Op::Ret(RetVal::K(1))];
        assert_eq!(eval(&div0, &[]), 0);
        let mod0 = [ld_imm(5), alu_x(AluOp::Mod), Op::Ret(RetVal::K(1))];
        assert_eq!(eval(&mod0, &[]), 0);
        // Shifts by 32 or more give 0, not a masked count.
        assert_eq!(with(5, 32, alu_x(AluOp::Lsh)), 0);
        assert_eq!(with(5, 33, alu_x(AluOp::Rsh)), 0);
        assert_eq!(with(5, 31, alu_x(AluOp::Lsh)), 0x8000_0000);
    }

    #[test]
    fn jumps_compare_unsigned() {
        let test = |cond, src, a, x| {
            let ops = [
                ld_imm(a),
                ldx_imm(x),
                Op::Jump {
                    cond,
                    src,
                    jt: 1,
                    jf: 0,
                },
                Op::Ret(RetVal::K(0)),
                Op::Ret(RetVal::K(1)),
            ];
            eval(&ops, &[]) == 1
        };
        for src in [Src::K(0x8000_0000), Src::X] {
            let x = 0x8000_0000;
            assert!(test(JmpCond::Eq, src, x, x));
            assert!(!test(JmpCond::Eq, src, 1, x));
            assert!(test(JmpCond::Gt, src, u32::MAX, x));
            assert!(!test(JmpCond::Gt, src, 1, x));
            assert!(test(JmpCond::Ge, src, x, x));
            assert!(!test(JmpCond::Ge, src, x - 1, x));
            assert!(test(JmpCond::Set, src, u32::MAX, x));
            assert!(!test(JmpCond::Set, src, x - 1, x));
        }
        let ja = [
            Op::Ja { k: 1 },
            Op::Ret(RetVal::K(0)),
            Op::Ret(RetVal::K(2)),
        ];
        assert_eq!(eval(&ja, &[]), 2);
    }

    #[test]
    fn backward_jumps_are_bounded() {
        // Count iterations in X until A reaches `limit`:
        // 0: ld M[0]; 1: add #1; 2: st M[0]; 3: tax;
        // 4: jge #limit jt 6 jf 5; 5: ja 0 (back); 6: txa; 7: ret
        let looping = |limit| {
            let ops = [
                Op::Ld(Load::Mem { slot: 0 }),
                alu_k(AluOp::Add, 1),
                Op::St { slot: 0 },
                Op::Tax,
                Op::Jump {
                    cond: JmpCond::Ge,
                    src: Src::K(limit),
                    jt: 1,
                    jf: 0,
                },
                Op::Ja { k: (-6i32) as u32 },
                Op::Txa,
                RET_A,
            ];
            let insns: Vec<_> = ops.iter().map(|op| op.encode()).collect();
            let program = crate::check_with(&insns, crate::Rules::Libpcap).unwrap();
            run(&program, Packet::whole(&[]))
        };
        assert_eq!(looping(10), 10);
        // N backward jumps run the body N + 1 times; the next jump rejects.
        assert_eq!(looping(MAX_BACKWARD_JUMPS + 1), MAX_BACKWARD_JUMPS + 1);
        assert_eq!(looping(MAX_BACKWARD_JUMPS + 2), 0);
    }

    #[test]
    fn fused_pairs_keep_their_jump_for_jumps_landing_on_it() {
        // 0: ld #7; 1: ja 3; 2: ldb [0]; 3: jeq #7 jt 4 jf 5;
        // 4: ret #1; 5: ret #2. The load at 2 fuses with the jeq at 3,
        // which the `ja` still reaches alone, skipping the load.
        let ops = [
            ld_imm(7),
            Op::Ja { k: 1 },
            abs(Size::Byte, 0),
            Op::Jump {
                cond: JmpCond::Eq,
                src: Src::K(7),
                jt: 0,
                jf: 1,
            },
            Op::Ret(RetVal::K(1)),
            Op::Ret(RetVal::K(2)),
        ];
        let program = CheckedProgram::from_ops(&ops).unwrap();
        let code = &program.decoded().code;
        assert!(matches!(code[2], Code::LdBJeq(0, _)));
        assert!(matches!(code[3], Code::JeqK(t) if t.k == 7));
        assert_eq!(run(&program, Packet::whole(&[9])), 1);
        assert_eq!(run(&program, Packet::whole(&[])), 1);
        // Fused, the pair loads and compares as the two would.
        let pair = CheckedProgram::from_ops(&ops[2..]).unwrap();
        assert_eq!(run(&pair, Packet::whole(&[7])), 1);
        assert_eq!(run(&pair, Packet::whole(&[9])), 2);
        assert_eq!(run(&pair, Packet::whole(&[])), 0);
    }

    #[test]
    fn returns_k_or_a() {
        assert_eq!(eval(&[Op::Ret(RetVal::K(u32::MAX))], &[]), u32::MAX);
        assert_eq!(eval(&[ld_imm(262144), RET_A], &[]), 262144);
    }

    #[test]
    fn metadata_loads_reject() {
        for field in Ancillary::ALL {
            let load = abs(Size::Word, field.offset());
            assert_eq!(
                eval(&[load, Op::Ret(RetVal::K(1))], &PACKET),
                0,
                "{field:?}"
            );
        }
    }
}
