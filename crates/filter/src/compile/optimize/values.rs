//! Value numbering and constant propagation (libpcap's `F`, `K`,
//! `opt_stmt` and `fold_op`): each statement's result gets a number that
//! equal computations share, so a load of a value already in a register
//! can be deleted and constant operands folded.

use std::collections::HashMap;

use visor_isa::cbpf::opcode as op;

use super::graph::{A, N_ATOMS, Stmt, X};
use crate::compile::CompileError;

/// The value number of "unknown" (paths merge with different values).
pub const UNKNOWN: u32 = 0;

/// The opcode under which constants are numbered (`ld #k`).
const CONST_CODE: u16 = op::LD | op::IMM | op::W;

/// Value numbers of one pass, and the constants among them.
#[derive(Clone, Debug, Default)]
pub struct Values {
    table: HashMap<(u16, u32, u32), u32>,
    /// `consts[v]`: the constant value `v` stands for, if it is one.
    consts: Vec<Option<u32>>,
}

impl Values {
    pub fn clear(&mut self) {
        self.table.clear();
        self.consts.clear();
        self.consts.push(None); // UNKNOWN
    }

    /// The number of the value `code` computes from `v0` and `v1`.
    pub fn number(&mut self, code: u16, v0: u32, v1: u32) -> u32 {
        if let Some(&v) = self.table.get(&(code, v0, v1)) {
            return v;
        }
        let v = self.consts.len() as u32;
        let is_imm =
            code & op::MODE_MASK == op::IMM && matches!(code & op::CLASS_MASK, op::LD | op::LDX);
        self.consts.push(is_imm.then_some(v0));
        self.table.insert((code, v0, v1), v);
        v
    }

    /// The number of the constant `k`.
    pub fn constant(&mut self, k: u32) -> u32 {
        self.number(CONST_CODE, k, 0)
    }

    /// The constant `v` stands for.
    pub fn const_of(&self, v: u32) -> Option<u32> {
        self.consts.get(v as usize).copied().flatten()
    }
}

/// What a pass changed, for its fixed-point loop.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Something changed: run another pass.
    pub changed: bool,
    /// Something other than moving a branch changed.
    pub simplified: bool,
}

impl Progress {
    pub fn simplify(&mut self) {
        self.changed = true;
        self.simplified = true;
    }
}

/// Records that `s` leaves `new` in `*slot`, or deletes `s` when altering
/// and `*slot` already holds that known value.
fn store(s: &mut Stmt, slot: &mut u32, new: u32, alter: bool) {
    if alter && new != UNKNOWN && *slot == new {
        s.code = None;
    } else {
        *slot = new;
    }
}

/// `a op b` for a constant fold, or the error libpcap reports.
fn fold(code: u16, a: u32, b: u32) -> Result<u32, CompileError> {
    Ok(match code & op::OP_MASK {
        op::ADD => a.wrapping_add(b),
        op::SUB => a.wrapping_sub(b),
        op::MUL => a.wrapping_mul(b),
        op::DIV => a.checked_div(b).ok_or(CompileError::DivisionByZero)?,
        op::MOD => a.checked_rem(b).ok_or(CompileError::ModulusByZero)?,
        op::AND => a & b,
        op::OR => a | b,
        op::XOR => a ^ b,
        op::LSH => a.checked_shl(b).unwrap_or(0),
        op::RSH => a.checked_shr(b).unwrap_or(0),
        _ => return Err(CompileError::TooComplex),
    })
}

/// libpcap's `opt_stmt`: computes the value `s` defines into `val`, and
/// when `alter`, simplifies `s` with what is known.
pub fn opt_stmt(
    vn: &mut Values,
    s: &mut Stmt,
    val: &mut [u32; N_ATOMS],
    alter: bool,
    progress: &mut Progress,
) -> Result<(), CompileError> {
    let Some(code) = s.code else { return Ok(()) };
    let class = code & op::CLASS_MASK;
    let mode = code & op::MODE_MASK;
    match (class, mode) {
        (op::LD, op::ABS) => {
            let v = vn.number(code, s.k, 0);
            store(s, &mut val[A], v, alter);
        }
        (op::LD, op::IND) => {
            let v = match vn.const_of(val[X]) {
                Some(x) if alter => {
                    let code = op::LD | op::ABS | (code & op::SIZE_MASK);
                    s.code = Some(code);
                    s.k = s.k.wrapping_add(x);
                    progress.simplify();
                    vn.number(code, s.k, 0)
                }
                _ => vn.number(code, s.k, val[X]),
            };
            store(s, &mut val[A], v, alter);
        }
        (op::LD, op::LEN) => {
            let v = vn.number(code, 0, 0);
            store(s, &mut val[A], v, alter);
        }
        (op::LD, op::IMM) => {
            let v = vn.constant(s.k);
            store(s, &mut val[A], v, alter);
        }
        (op::LDX, op::IMM) => {
            let v = vn.constant(s.k);
            store(s, &mut val[X], v, alter);
        }
        (op::LDX, op::MSH) => {
            let v = vn.number(code, s.k, 0);
            store(s, &mut val[X], v, alter);
        }
        (op::LD, op::MEM) | (op::LDX, op::MEM) => {
            let reg = if class == op::LD { A } else { X };
            let v = val[s.k as usize];
            if let (true, Some(c)) = (alter, vn.const_of(v)) {
                s.code = Some(class | op::IMM);
                s.k = c;
                progress.simplify();
            }
            store(s, &mut val[reg], v, alter);
        }
        (op::ALU, _) if code & op::OP_MASK == op::NEG => match vn.const_of(val[A]) {
            Some(a) if alter => {
                s.code = Some(op::LD | op::IMM);
                s.k = 0u32.wrapping_sub(a);
                val[A] = vn.constant(s.k);
            }
            _ => val[A] = vn.number(code, val[A], 0),
        },
        (op::ALU, _) if code & op::SRC_MASK == op::K => alu_k(vn, s, code, val, alter, progress)?,
        (op::ALU, _) => alu_x(vn, s, code, val, alter, progress)?,
        (op::MISC, _) if code & op::MISCOP_MASK == op::TXA => {
            let v = val[X];
            store(s, &mut val[A], v, alter);
        }
        (op::MISC, _) => {
            let v = val[A];
            store(s, &mut val[X], v, alter);
        }
        (op::ST, _) => {
            let v = val[A];
            store(s, &mut val[s.k as usize], v, alter);
        }
        (op::STX, _) => {
            let v = val[X];
            store(s, &mut val[s.k as usize], v, alter);
        }
        _ => {}
    }
    Ok(())
}

/// `A op #k`.
fn alu_k(
    vn: &mut Values,
    s: &mut Stmt,
    code: u16,
    val: &mut [u32; N_ATOMS],
    alter: bool,
    progress: &mut Progress,
) -> Result<(), CompileError> {
    let operation = code & op::OP_MASK;
    if alter {
        if s.k == 0 {
            match operation {
                // "sub #0" stays: later code may fix it up.
                op::ADD | op::LSH | op::RSH | op::OR | op::XOR => {
                    s.code = None;
                    return Ok(());
                }
                op::MUL | op::AND => {
                    s.code = Some(op::LD | op::IMM);
                    val[A] = vn.constant(s.k);
                    return Ok(());
                }
                op::DIV => return Err(CompileError::DivisionByZero),
                op::MOD => return Err(CompileError::ModulusByZero),
                _ => {}
            }
        }
        if let Some(a) = vn.const_of(val[A]) {
            s.k = fold(code, a, s.k)?;
            s.code = Some(op::LD | op::IMM);
            progress.simplify();
            val[A] = vn.constant(s.k);
            return Ok(());
        }
    }
    let kv = vn.constant(s.k);
    val[A] = vn.number(code, val[A], kv);
    Ok(())
}

/// `A op X`.
fn alu_x(
    vn: &mut Values,
    s: &mut Stmt,
    code: u16,
    val: &mut [u32; N_ATOMS],
    alter: bool,
    progress: &mut Progress,
) -> Result<(), CompileError> {
    let operation = code & op::OP_MASK;
    if let (true, Some(x)) = (alter, vn.const_of(val[X])) {
        if let Some(a) = vn.const_of(val[A]) {
            s.k = fold(code, a, x)?;
            s.code = Some(op::LD | op::IMM);
            progress.simplify();
            val[A] = vn.constant(s.k);
        } else {
            s.code = Some(op::ALU | op::K | operation);
            s.k = x;
            if matches!(operation, op::LSH | op::RSH) && x > 31 {
                return Err(CompileError::ShiftTooFar);
            }
            progress.simplify();
            let kv = vn.constant(x);
            val[A] = vn.number(op::ALU | op::K | operation, val[A], kv);
        }
        return Ok(());
    }
    if alter && vn.const_of(val[A]) == Some(0) {
        match operation {
            op::ADD | op::OR | op::XOR => {
                s.code = Some(op::MISC | op::TXA);
                let v = val[X];
                store(s, &mut val[A], v, alter);
                return Ok(());
            }
            op::MUL | op::DIV | op::MOD | op::AND | op::LSH | op::RSH => {
                s.code = Some(op::LD | op::IMM);
                s.k = 0;
                let v = vn.constant(0);
                store(s, &mut val[A], v, alter);
                return Ok(());
            }
            _ => {}
        }
    }
    val[A] = vn.number(code, val[A], val[X]);
    Ok(())
}
