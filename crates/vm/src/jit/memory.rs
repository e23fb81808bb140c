//! Guest memory from native code: the inline check against the region
//! table, and the loads, stores and atomics behind it.
//!
//! ```text
//!   rax = base + off                       (wrapping, as the interpreter)
//!   rcx = rax >> 32        ; id >= 16 ?  -> map path
//!   rdx = (u32)rax + len   ; > table[id].read_len (write_len) ? -> slow path
//!   rdx = table[id].ptr + (u32)rax         ; the host byte
//!
//!   map path (out of line; loads and stores, not atomics):
//!   id >= MAP_FIRST + windows ?                        -> slow path
//!   rdx = ((u32)rax & mask) + len ; > read_len (write_len) ? -> slow path
//!   (u32)rax >= limit ?                                -> slow path
//!   rdx = ptr + ((u32)rax - within) * scale >> 32 + within ; back
//! ```
//!
//! Unmapped ids have lengths 0, so null, idle frames and served contexts
//! all fall to the slow path, which runs the instruction with the
//! interpreter's `step`: the same `Memory` code decides every value and
//! every error that is not a plain in-bounds access. Map values are the
//! words of `maps::storage`, which other threads may use at the same
//! time: a plain x86 load or store of up to 8 bytes inside one aligned
//! word is atomic, as the interpreter's relaxed atomics are, and one that
//! straddles two words is two accesses there too.

use core::mem::offset_of;

use visor_isa::{AtomicOp, ByteOrder, PacketOffset, Reg, Size, Source};

use super::blinding::Operand;
use super::codegen::{Body, CTX, Codegen, context_field, host};
use super::lean;
use super::x64::{AluKind, Assembler, Cond, Gpr, Label, Mem, OperandSize};
use super::{HOST_REGION_SHIFT, HostRegion, JitContext, JitError, MAP_WINDOW_SHIFT, MapWindow};
use crate::layout::{MAP_FIRST, REGION_SLOTS};

/// Which permission an access needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access {
    Read,
    /// Stores and atomics.
    Write,
}

/// The host operand size of an access size.
pub(super) fn size_of_access(size: Size) -> OperandSize {
    match size {
        Size::B => OperandSize::S8,
        Size::H => OperandSize::S16,
        Size::W => OperandSize::S32,
        Size::DW => OperandSize::S64,
    }
}

/// Emits the check of an access of `size` at `base + off` against the
/// region table; jumps to `maps` when the address is past the table (a
/// map value or junk), to `slow` when it does not pass. Returns the host
/// operand (`[rdx]`); rax and rcx are free afterwards.
pub(super) fn access_check(
    asm: &mut Assembler,
    access: Access,
    size: Size,
    (base, off): (Gpr, i16),
    maps: Label,
    slow: Label,
) -> Mem {
    let table = offset_of!(JitContext, table);
    let len_field = match access {
        Access::Read => offset_of!(HostRegion, read_len),
        Access::Write => offset_of!(HostRegion, write_len),
    };
    let entry = |field: usize| Mem::indexed(CTX, Gpr::Rcx, (table + field) as i32);
    asm.lea(Gpr::Rax, Mem::at(base, i32::from(off)));
    asm.mov_rr(OperandSize::S64, Gpr::Rcx, Gpr::Rax);
    asm.shift_ri(super::x64::ShiftKind::Shr, OperandSize::S64, Gpr::Rcx, 32);
    asm.alu_ri(
        AluKind::Cmp,
        OperandSize::S64,
        Gpr::Rcx,
        REGION_SLOTS as i32,
    );
    asm.jcc(Cond::Ae, maps);
    asm.shift_ri(
        super::x64::ShiftKind::Shl,
        OperandSize::S32,
        Gpr::Rcx,
        HOST_REGION_SHIFT,
    );
    asm.mov_rr(OperandSize::S32, Gpr::Rdx, Gpr::Rax);
    asm.alu_ri(
        AluKind::Add,
        OperandSize::S64,
        Gpr::Rdx,
        size.bytes() as i32,
    );
    asm.alu_rm(AluKind::Cmp, OperandSize::S64, Gpr::Rdx, entry(len_field));
    asm.jcc(Cond::A, slow);
    asm.mov_rm(
        OperandSize::S64,
        Gpr::Rdx,
        entry(offset_of!(HostRegion, ptr)),
    );
    asm.mov_rr(OperandSize::S32, Gpr::Rax, Gpr::Rax);
    asm.alu_rr(AluKind::Add, OperandSize::S64, Gpr::Rdx, Gpr::Rax);
    Mem::at(Gpr::Rdx, 0)
}

/// Emits the map path of an access whose table check jumped to `entry`
/// with the address in rax and its id in rcx: the check of one map
/// value's bounds (see the module), then back to `access` with the host
/// byte in rdx, or to `slow`.
pub(super) fn map_access_check(
    asm: &mut Assembler,
    (access, size): (Access, Size),
    entry: Label,
    back: Label,
    slow: Label,
) {
    // Entries are indexed by id, from `MAP_FIRST`.
    let first = (MAP_FIRST as usize) << MAP_WINDOW_SHIFT;
    let window = |field: usize| {
        let at = offset_of!(JitContext, maps) + field;
        Mem::indexed(CTX, Gpr::Rcx, at as i32 - first as i32)
    };
    let len_field = match access {
        Access::Read => offset_of!(MapWindow, read_len),
        Access::Write => offset_of!(MapWindow, write_len),
    };
    let len = size.bytes() as i32;
    asm.bind(entry);
    let ids_end = context_field(offset_of!(JitContext, map_ids_end));
    asm.alu_rm(AluKind::Cmp, OperandSize::S64, Gpr::Rcx, ids_end);
    asm.jcc(Cond::Ae, slow);
    asm.shift_ri(
        super::x64::ShiftKind::Shl,
        OperandSize::S32,
        Gpr::Rcx,
        MAP_WINDOW_SHIFT,
    );
    // rdx = within + len, against the value's size.
    asm.mov_rr(OperandSize::S32, Gpr::Rdx, Gpr::Rax);
    asm.alu_rm(
        AluKind::And,
        OperandSize::S32,
        Gpr::Rdx,
        window(offset_of!(MapWindow, mask)),
    );
    asm.alu_ri(AluKind::Add, OperandSize::S32, Gpr::Rdx, len);
    asm.alu_rm(AluKind::Cmp, OperandSize::S32, Gpr::Rdx, window(len_field));
    asm.jcc(Cond::A, slow);
    // The element, against the map's size.
    asm.mov_rr(OperandSize::S32, Gpr::Rax, Gpr::Rax);
    asm.alu_rm(
        AluKind::Cmp,
        OperandSize::S64,
        Gpr::Rax,
        window(offset_of!(MapWindow, limit)),
    );
    asm.jcc(Cond::Ae, slow);
    // rdx = ptr + (offset - within) * scale >> 32 + within; the product
    // of a 32-bit number and a scale below 2^32 fits in 64 bits.
    asm.alu_ri(AluKind::Sub, OperandSize::S32, Gpr::Rdx, len);
    asm.alu_rr(AluKind::Sub, OperandSize::S32, Gpr::Rax, Gpr::Rdx);
    asm.imul_rm(
        OperandSize::S64,
        Gpr::Rax,
        window(offset_of!(MapWindow, scale)),
    );
    asm.shift_ri(super::x64::ShiftKind::Shr, OperandSize::S64, Gpr::Rax, 32);
    asm.alu_rr(AluKind::Add, OperandSize::S64, Gpr::Rdx, Gpr::Rax);
    asm.alu_rm(
        AluKind::Add,
        OperandSize::S64,
        Gpr::Rdx,
        window(offset_of!(MapWindow, ptr)),
    );
    asm.jmp(back);
}

impl Codegen<'_> {
    /// `LD_ABS`/`LD_IND`: r0 = the big-endian value at the offset in the
    /// packet of the context's `packet` entry. A negative offset, or
    /// bytes not all inside the packet, go to the interpreter's `step`,
    /// which ends the program with 0.
    pub(super) fn load_packet(
        &mut self,
        pc: u32,
        size: Size,
        offset: PacketOffset,
        imm: i32,
    ) -> Result<(), JitError> {
        let (slow, resume) = (self.asm.new_label(), self.asm.new_label());
        // eax = the offset, as the interpreter's 32-bit truncation of
        // base + imm; rax is zero-extended, so rax + size cannot wrap.
        match (offset, self.operand(Source::Imm(imm))) {
            (PacketOffset::Abs, Operand::Imm(imm)) => self.asm.mov_ri32(Gpr::Rax, imm as u32),
            (PacketOffset::Ind(reg), Operand::Imm(imm)) => {
                self.asm.lea(Gpr::Rax, Mem::at(host(reg), imm));
            }
            // Blinded: the immediate is in rax, sign-extended.
            (PacketOffset::Abs, Operand::Reg(_)) => {}
            (PacketOffset::Ind(reg), Operand::Reg(_)) => {
                self.asm
                    .alu_rr(AluKind::Add, OperandSize::S64, Gpr::Rax, host(reg));
            }
        }
        match (offset, imm >= 0) {
            // A constant offset's sign is known now: no test at run time
            // (and rax, loaded sign-extended, is already zero-extended).
            (PacketOffset::Abs, true) => {}
            (PacketOffset::Abs, false) => self.asm.jmp(slow),
            (PacketOffset::Ind(_), _) => {
                self.asm.mov_rr(OperandSize::S32, Gpr::Rax, Gpr::Rax);
                self.asm.test_rr(OperandSize::S32, Gpr::Rax, Gpr::Rax);
                self.asm.jcc(Cond::L, slow);
            }
        }
        self.asm
            .lea(Gpr::Rdx, Mem::at(Gpr::Rax, size.bytes() as i32));
        let packet = self.packet_within(slow);
        self.load(
            size,
            false,
            host(Reg::R0),
            Mem::indexed(packet, Gpr::Rax, 0),
        );
        if size != Size::B {
            let bits = (size.bytes() * 8) as u8;
            self.endian(pc as usize, ByteOrder::ToBe, bits, Reg::R0)?;
        }
        self.resume_after(slow, resume, pc);
        Ok(())
    }

    /// Jumps to `slow` unless rdx, the end of a packet load, is within the
    /// packet; returns the register holding the packet's address. The
    /// machine body keeps the packet in the context, the lean body in
    /// registers.
    fn packet_within(&mut self, slow: Label) -> Gpr {
        if let Body::Lean(_) = self.body {
            self.asm
                .alu_rr(AluKind::Cmp, OperandSize::S64, Gpr::Rdx, lean::PACKET_LEN);
            self.asm.jcc(Cond::A, slow);
            return lean::PACKET_PTR;
        }
        let packet = |field: usize| context_field(offset_of!(JitContext, packet) + field);
        let len = packet(offset_of!(HostRegion, read_len));
        self.asm
            .alu_rm(AluKind::Cmp, OperandSize::S64, Gpr::Rdx, len);
        self.asm.jcc(Cond::A, slow);
        let ptr = packet(offset_of!(HostRegion, ptr));
        self.asm.mov_rm(OperandSize::S64, Gpr::Rdx, ptr);
        Gpr::Rdx
    }

    /// `dst = *(size *)mem`, zero- or sign-extended to 64 bits.
    pub(super) fn load(&mut self, size: Size, signed: bool, dst: Gpr, mem: Mem) {
        let from = size_of_access(size);
        match (size, signed) {
            (Size::DW, _) => self.asm.mov_rm(OperandSize::S64, dst, mem),
            (Size::W, false) => self.asm.mov_rm(OperandSize::S32, dst, mem),
            (_, false) => self.asm.movzx_rm(from, dst, mem),
            (_, true) => self.asm.movsx_rm(from, OperandSize::S64, dst, mem),
        }
    }

    /// `*(size *)mem = src`.
    pub(super) fn store(&mut self, size: Size, mem: Mem, src: Source) {
        let size = size_of_access(size);
        // rax and rcx are free after the access check.
        match self.operand(src) {
            Operand::Reg(s) => self.asm.mov_mr(size, mem, s),
            Operand::Imm(imm) => self.asm.mov_mi(size, mem, imm),
        }
    }

    /// An atomic read-modify-write at `dst + off` with `src` (and r0 for
    /// `cmpxchg`). Sizes other than W and DW go to the interpreter whole.
    pub(super) fn atomic(
        &mut self,
        pc: u32,
        size: Size,
        op: AtomicOp,
        dst: Reg,
        src: Reg,
        off: i16,
    ) {
        let (slow, resume) = (self.asm.new_label(), self.asm.new_label());
        if !matches!(size, Size::W | Size::DW) {
            self.asm.jmp(slow);
            self.resume_after(slow, resume, pc);
            return;
        }
        let width = size_of_access(size);
        let s = host(src);
        // Atomics on map values take the slow path: the interpreter's
        // read-modify-write never locks across two words.
        let at = (host(dst), off);
        let mem = access_check(&mut self.asm, Access::Write, size, at, slow, slow);
        let alu = |op: AtomicOp| match op {
            AtomicOp::Add { .. } => AluKind::Add,
            AtomicOp::Or { .. } => AluKind::Or,
            AtomicOp::And { .. } => AluKind::And,
            _ => AluKind::Xor,
        };
        match op {
            AtomicOp::Add { fetch: true } => self.asm.lock_xadd(width, mem, s),
            AtomicOp::Add { fetch: false }
            | AtomicOp::Or { fetch: false }
            | AtomicOp::And { fetch: false }
            | AtomicOp::Xor { fetch: false } => self.asm.lock_alu_mr(alu(op), width, mem, s),
            AtomicOp::Or { fetch: true }
            | AtomicOp::And { fetch: true }
            | AtomicOp::Xor { fetch: true } => {
                // No x86 instruction returns the old value of or/and/xor:
                // retry a compare-exchange until no one raced us.
                let again = self.asm.new_label();
                self.asm.mov_rm(width, Gpr::Rax, mem);
                self.asm.bind(again);
                self.asm.mov_rr(width, Gpr::Rcx, Gpr::Rax);
                self.asm.alu_rr(alu(op), width, Gpr::Rcx, s);
                self.asm.lock_cmpxchg(width, mem, Gpr::Rcx);
                self.asm.jcc(Cond::Ne, again);
                self.asm.mov_rr(width, s, Gpr::Rax);
            }
            AtomicOp::Xchg => self.asm.xchg(width, mem, s),
            AtomicOp::Cmpxchg => {
                let r0 = host(Reg::R0);
                self.asm.mov_rr(OperandSize::S64, Gpr::Rax, r0);
                self.asm.lock_cmpxchg(width, mem, s);
                // The old value, zero-extended at either width.
                self.asm.mov_rr(width, r0, Gpr::Rax);
            }
        }
        self.resume_after(slow, resume, pc);
    }
}
