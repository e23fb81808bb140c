//! The abstract machine state: registers and stack frames.
//!
//! A register is [`Value::Uninit`], a [`Value::Scalar`] or a
//! [`Value::Ptr`]: a [`PtrKind`] (what region it points into) plus an offset
//! from the region's start, itself a [`Scalar`]. Stack pointers count their
//! offset from the frame pointer, so valid offsets are `-512..0`.
//!
//! The stack of each frame is tracked per byte ([`Byte`]); an aligned 8-byte
//! store of a register also records the register's whole value ("spill"), so
//! a later aligned 8-byte load gives it back exactly ("fill"), pointers
//! included.
//!
//! [`State::includes`] orders states for pruning: `Uninit` is the top of
//! every register (a path that never reads a register is safe whatever it
//! holds), scalars are ordered by inclusion, pointers must agree on kind.

use crate::backtrack::{self, Marks};
use crate::scalar::Scalar;
use core::fmt;
use std::collections::BTreeMap;
use visor_isa::Reg;

/// Bytes in one stack frame.
pub const STACK_SIZE: usize = 512;
/// Nested frames at most (the kernel's `MAX_CALL_FRAMES`).
pub const MAX_FRAMES: usize = 8;

/// What region a pointer points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PtrKind {
    /// The program's context (`r1` at entry).
    Ctx,
    /// A stack frame, by depth (0 is the entry function's).
    Stack { frame: usize },
    /// A map value of the map at this index.
    MapValue { map: usize },
    /// A map lookup's result before its null check; copies share `id`.
    MapValueOrNull { map: usize, id: u32 },
    /// A map itself (`lddw` of a map), to be passed to helpers.
    MapPtr { map: usize },
    /// An inner map from a map-in-map lookup, before its null check.
    MapPtrOrNull { map: usize, id: u32 },
    /// Packet data: from `data` when `id` is 0, else from a base that a
    /// variable offset was added to ([`State::packet_bases`]).
    Packet { id: u32 },
    /// One past the packet's last byte (`data_end`): compared, never read.
    PacketEnd,
    /// Packet metadata from `data_meta`, which ends at `data`.
    PacketMeta,
    /// Helper-allocated memory of `size` bytes (a ring buffer record).
    Mem { size: u32 },
    /// Allocated memory before its null check.
    MemOrNull { size: u32, id: u32 },
    /// A local function's address (`lddw` of a function), for callbacks.
    Func { pc: usize },
    /// A socket from a lookup helper: a full socket (`bpf_sk_lookup_tcp`)
    /// or, when `common`, its common part (`bpf_skc_lookup_tcp`).
    Socket { common: bool },
    /// A socket lookup's result before its null check.
    SocketOrNull { common: bool, id: u32 },
}

impl PtrKind {
    /// What the kernel's log calls this kind.
    pub fn name(self) -> &'static str {
        match self {
            PtrKind::Ctx => "ctx",
            PtrKind::Stack { .. } => "fp",
            PtrKind::MapValue { .. } => "map_value",
            PtrKind::MapValueOrNull { .. } => "map_value_or_null",
            PtrKind::MapPtr { .. } => "map_ptr",
            PtrKind::MapPtrOrNull { .. } => "map_ptr_or_null",
            PtrKind::Packet { .. } => "pkt",
            PtrKind::PacketEnd => "pkt_end",
            PtrKind::PacketMeta => "pkt_meta",
            PtrKind::Mem { .. } => "mem",
            PtrKind::MemOrNull { .. } => "mem_or_null",
            PtrKind::Func { .. } => "func",
            PtrKind::Socket { common: false } => "sock",
            PtrKind::Socket { common: true } => "sock_common",
            PtrKind::SocketOrNull { common: false, .. } => "sock_or_null",
            PtrKind::SocketOrNull { common: true, .. } => "sock_common_or_null",
        }
    }

    /// Whether this kind may be null (needs a check before use).
    pub fn maybe_null(self) -> bool {
        matches!(
            self,
            PtrKind::MapValueOrNull { .. }
                | PtrKind::MemOrNull { .. }
                | PtrKind::MapPtrOrNull { .. }
                | PtrKind::SocketOrNull { .. }
        )
    }
}

/// Pairs of ids, `(ours, theirs)`, that stand for the same pointer in two
/// states being compared: ids are handed out in path order, so the same
/// lookup on two paths gets different ones (the kernel's `idmap`).
#[derive(Clone, Debug, Default)]
pub struct IdMap(Vec<(u32, u32)>);

impl IdMap {
    /// Pairs `mine` with `theirs`; false if either is paired otherwise.
    fn link(&mut self, mine: u32, theirs: u32) -> bool {
        match self.0.iter().find(|(a, b)| *a == mine || *b == theirs) {
            Some(&pair) => pair == (mine, theirs),
            None => {
                self.0.push((mine, theirs));
                true
            }
        }
    }

    fn theirs(&self, mine: u32) -> Option<u32> {
        self.0.iter().find(|(a, _)| *a == mine).map(|&(_, b)| b)
    }
}

impl PtrKind {
    /// The same kind of pointer, with ids that correspond through `ids`.
    fn matches(self, other: PtrKind, ids: &mut IdMap) -> bool {
        use PtrKind as K;
        match (self, other) {
            (K::MapValueOrNull { map: a, id: x }, K::MapValueOrNull { map: b, id: y })
            | (K::MapPtrOrNull { map: a, id: x }, K::MapPtrOrNull { map: b, id: y }) => {
                a == b && ids.link(x, y)
            }
            (K::MemOrNull { size: a, id: x }, K::MemOrNull { size: b, id: y }) => {
                a == b && ids.link(x, y)
            }
            (K::SocketOrNull { common: a, id: x }, K::SocketOrNull { common: b, id: y }) => {
                a == b && ids.link(x, y)
            }
            // Id 0 is `data` itself, the others bases of variable offsets.
            (K::Packet { id: x }, K::Packet { id: y }) if x != 0 && y != 0 => ids.link(x, y),
            (a, b) => a == b,
        }
    }
}

/// A pointer: a region and an offset into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pointer {
    pub kind: PtrKind,
    pub off: Scalar,
}

impl Pointer {
    pub fn new(kind: PtrKind, off: i64) -> Pointer {
        Pointer {
            kind,
            off: Scalar::constant(off as u64),
        }
    }
}

/// One register's abstract value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    Uninit,
    Scalar(Scalar),
    Ptr(Pointer),
}

impl Value {
    pub fn constant(value: u64) -> Value {
        Value::Scalar(Scalar::constant(value))
    }

    pub fn includes(&self, other: &Value) -> bool {
        self.includes_mapped(other, &mut IdMap::default())
    }

    /// [`Value::includes`], where pointer ids need only correspond through
    /// `ids`, which the comparison extends.
    pub fn includes_mapped(&self, other: &Value, ids: &mut IdMap) -> bool {
        match (self, other) {
            (Value::Uninit, _) => true,
            (Value::Scalar(a), Value::Scalar(b)) => a.includes(b),
            (Value::Ptr(a), Value::Ptr(b)) => a.kind.matches(b.kind, ids) && a.off.includes(&b.off),
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Uninit => f.write_str("uninit"),
            Value::Scalar(s) => write!(f, "{s}"),
            Value::Ptr(p) => {
                let name = p.kind.name();
                let region = match p.kind {
                    PtrKind::Stack { frame } if frame > 0 => format!("{name}{frame}"),
                    PtrKind::MapValue { map }
                    | PtrKind::MapValueOrNull { map, .. }
                    | PtrKind::MapPtr { map }
                    | PtrKind::MapPtrOrNull { map, .. } => format!("{name}(map #{map})"),
                    PtrKind::Mem { size } | PtrKind::MemOrNull { size, .. } => {
                        format!("{name}({size} bytes)")
                    }
                    PtrKind::Func { pc } => format!("{name}(pc {pc})"),
                    PtrKind::Packet { id } if id > 0 => format!("{name}#{id}"),
                    _ => name.to_string(),
                };
                match p.off.as_const() {
                    Some(0) => f.write_str(&region),
                    Some(c) => write!(f, "{region}{:+}", c as i64),
                    None => write!(f, "{region}+{}", p.off),
                }
            }
        }
    }
}

/// What the verifier knows of one stack byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Byte {
    Uninit,
    /// Written with a value not known.
    Unknown,
    /// Written with a known value.
    Known(u8),
    /// Part of a spilled register (see [`Stack::spill_at`]).
    Spill,
}

impl Byte {
    /// Its two-bit tag in [`Stack`]'s packed slots.
    fn tag(self) -> u16 {
        match self {
            Byte::Uninit => 0,
            Byte::Unknown => 1,
            Byte::Known(_) => 2,
            Byte::Spill => 3,
        }
    }
}

/// The indices of the bits set in `mask`, lowest first.
fn bits(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let bit = mask.trailing_zeros();
        (bit < 64).then(|| {
            mask &= mask - 1;
            bit as usize
        })
    })
}

/// Slots of 8 bytes in a frame.
const SLOTS: usize = STACK_SIZE / 8;

/// The tags of a slot all of whose bytes are [`Byte::Spill`].
const SPILLED: u16 = 0xffff;

/// One frame's 512 bytes, packed by 8-byte slot so that states compare
/// and copy a slot at a time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Stack {
    /// Per slot, each byte's [`Byte`] tag: byte `i` of the slot (at frame
    /// offset `8 * slot + i - 512`) in bits `2i..2i + 2`.
    tags: [u16; SLOTS],
    /// Per slot, the values of its known bytes (little-endian), 0 in the
    /// others, so that equal slots are equal words.
    known: [u64; SLOTS],
    /// Registers spilled to whole slots, by slot, in slot order.
    spills: Vec<(u8, Value)>,
}

impl Default for Stack {
    fn default() -> Self {
        Stack {
            tags: [0; SLOTS],
            known: [0; SLOTS],
            spills: Vec::new(),
        }
    }
}

/// A byte range inside a frame, from a frame-pointer offset.
pub fn stack_index(off: i64, len: usize) -> Option<usize> {
    let start = off.checked_add(STACK_SIZE as i64)?;
    let end = start.checked_add(len as i64)?;
    (start >= 0 && end <= STACK_SIZE as i64).then_some(start as usize)
}

impl Stack {
    pub fn byte(&self, index: usize) -> Byte {
        let (slot, i) = (index / 8, index % 8);
        let Some(tags) = self.tags.get(slot) else {
            return Byte::Uninit;
        };
        match tags >> (2 * i) & 3 {
            0 => Byte::Uninit,
            1 => Byte::Unknown,
            2 => Byte::Known((self.known[slot] >> (8 * i)) as u8),
            _ => Byte::Spill,
        }
    }

    fn set_byte(&mut self, index: usize, byte: Byte) {
        let (slot, i) = (index / 8, index % 8);
        self.tags[slot] = self.tags[slot] & !(3 << (2 * i)) | byte.tag() << (2 * i);
        let value = match byte {
            Byte::Known(b) => u64::from(b),
            _ => 0,
        };
        self.known[slot] = self.known[slot] & !(0xff << (8 * i)) | value << (8 * i);
    }

    /// Sets `len` bytes from `index` to `value`'s bytes: known where it is
    /// a constant, unknown otherwise.
    fn set_number(&mut self, index: usize, len: usize, value: &Value) {
        let known = match value {
            Value::Scalar(s) => s.as_const(),
            _ => None,
        };
        for i in 0..len {
            let byte = match known {
                Some(c) => Byte::Known((c >> (8 * i)) as u8),
                None => Byte::Unknown,
            };
            self.set_byte(index + i, byte);
        }
    }

    fn spill(&self, slot: usize) -> Option<&Value> {
        let at = self
            .spills
            .binary_search_by_key(&slot, |(s, _)| usize::from(*s))
            .ok()?;
        Some(&self.spills[at].1)
    }

    fn take_spill(&mut self, slot: usize) -> Option<Value> {
        let at = self
            .spills
            .binary_search_by_key(&slot, |(s, _)| usize::from(*s))
            .ok()?;
        Some(self.spills.remove(at).1)
    }

    pub fn spill_at(&self, index: usize) -> Option<&Value> {
        if !index.is_multiple_of(8) {
            return None;
        }
        self.spill(index / 8)
    }

    /// Stores `value` as `len` bytes at `index`.
    pub fn write(&mut self, index: usize, len: usize, value: &Value) {
        self.break_spills(index, len);
        if len == 8 && index.is_multiple_of(8) && !matches!(value, Value::Uninit) {
            let slot = index / 8;
            let at = self.spills.partition_point(|(s, _)| usize::from(*s) < slot);
            self.spills.insert(at, (slot as u8, *value));
            self.tags[slot] = SPILLED;
            self.known[slot] = 0;
            return;
        }
        self.set_number(index, len, value);
    }

    /// Forgets the values of the scalars in the slots not in `keep` (bit
    /// `i` for bytes `8i..8i + 8`): they become unknown, still initialised.
    pub fn forget_values(&mut self, keep: u64) {
        for slot in 0..SLOTS {
            if keep & (1 << slot) != 0 || self.known[slot] == 0 && self.tags[slot] & 0xaaaa == 0 {
                continue;
            }
            // Tag 2 (known) becomes 1 (unknown): the bytes whose high tag
            // bit is set and low bit clear.
            let tags = self.tags[slot];
            let known = tags & 0xaaaa & !(tags << 1);
            self.tags[slot] = tags ^ (known | known >> 1);
            self.known[slot] = 0;
        }
        for (slot, value) in &mut self.spills {
            if keep & (1 << *slot) == 0
                && let Value::Scalar(s) = value
            {
                *s = Scalar::UNKNOWN;
            }
        }
    }

    /// Whether `slot` holds no pointer (its bytes may be uninitialised).
    fn holds_numbers(&self, slot: usize) -> bool {
        !matches!(self.spill(slot), Some(Value::Ptr(_)))
    }

    /// Forgets the slots not in `live` (bit `i` for bytes `8i..8i + 8`):
    /// nothing reads them again, so they become unwritten.
    pub fn forget_slots(&mut self, live: u64) {
        for slot in 0..SLOTS {
            if live & (1 << slot) == 0 {
                self.tags[slot] = 0;
                self.known[slot] = 0;
            }
        }
        self.spills.retain(|(slot, _)| live & (1 << *slot) != 0);
    }

    /// Marks `len` bytes written with unknown data (helpers, atomics).
    pub fn clobber(&mut self, index: usize, len: usize) {
        self.break_spills(index, len);
        for i in index..index + len {
            self.set_byte(i, Byte::Unknown);
        }
    }

    /// Turns spills overlapping `index..index + len` into plain bytes.
    fn break_spills(&mut self, index: usize, len: usize) {
        for slot in index / 8..(index + len).div_ceil(8) {
            if let Some(value) = self.take_spill(slot) {
                self.set_number(slot * 8, 8, &value);
            }
        }
    }

    /// The value of `len` bytes at `index`, or the first uninitialised byte.
    pub fn read(&self, index: usize, len: usize) -> Result<Value, usize> {
        if let Some(value) = self.spill_at(index).filter(|_| len == 8) {
            return Ok(*value);
        }
        let mut constant = Some(0u64);
        for i in 0..len {
            let byte = match self.byte(index + i) {
                Byte::Uninit => return Err(index + i),
                Byte::Known(b) => Some(b),
                Byte::Spill => match self.spill((index + i) / 8) {
                    Some(Value::Scalar(s)) => {
                        s.as_const().map(|c| (c >> (8 * ((index + i) % 8))) as u8)
                    }
                    _ => None,
                },
                Byte::Unknown => None,
            };
            constant = match (constant, byte) {
                (Some(c), Some(b)) => Some(c | u64::from(b) << (8 * i)),
                _ => None,
            };
        }
        Ok(match constant {
            Some(c) => Value::constant(c),
            None => Value::Scalar(Scalar::of_size(len)),
        })
    }

    /// The registers spilled here.
    pub fn spilled_values(&self) -> impl Iterator<Item = &Value> {
        self.spills.iter().map(|(_, value)| value)
    }

    fn spilled_values_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.spills.iter_mut().map(|(_, value)| value)
    }

    /// Whether `len` bytes at `index` hold a spilled pointer.
    pub fn holds_pointer(&self, index: usize, len: usize) -> Option<usize> {
        (index..index + len).find(|&i| {
            self.byte(i) == Byte::Spill && matches!(self.spill(i / 8), Some(Value::Ptr(_)))
        })
    }

    /// Whether every concrete stack `other` stands for is one of ours,
    /// where slots outside `precise` may hold any numbers.
    pub fn includes_where(&self, other: &Stack, precise: u64, ids: &mut IdMap) -> bool {
        // Spilled slots compare by value; a spill against plain bytes
        // compares byte by byte below.
        let mut differ = 0u64;
        for (slot, mine) in &self.spills {
            let slot = usize::from(*slot);
            match other.spill(slot) {
                Some(theirs) => {
                    let free = precise & (1 << slot) == 0
                        && matches!((mine, theirs), (Value::Scalar(_), Value::Scalar(_)));
                    if !free && !mine.includes_mapped(theirs, ids) {
                        return false;
                    }
                }
                None => differ |= 1 << slot,
            }
        }
        // Other slots: those we wrote that are not the same words (most
        // are), found without branches.
        for slot in 0..SLOTS {
            let same = self.tags[slot] == other.tags[slot] && self.known[slot] == other.known[slot];
            let plain = self.tags[slot] != 0 && self.tags[slot] != SPILLED;
            differ |= u64::from(!same && plain) << slot;
        }
        bits(differ).all(|slot| self.slot_includes(other, slot, precise))
    }

    /// [`Stack::includes_where`] for one slot, byte by byte.
    fn slot_includes(&self, other: &Stack, slot: usize, precise: u64) -> bool {
        // A slot whose numbers did not matter: any number will do in
        // each byte where we hold one.
        let free =
            precise & (1 << slot) == 0 && self.holds_numbers(slot) && other.holds_numbers(slot);
        (slot * 8..slot * 8 + 8).all(|i| match (self.byte(i), other.byte(i)) {
            (Byte::Uninit, _) => true,
            (
                Byte::Unknown | Byte::Known(_) | Byte::Spill,
                Byte::Unknown | Byte::Known(_) | Byte::Spill,
            ) if free => true,
            (Byte::Unknown, Byte::Unknown | Byte::Known(_)) => true,
            (Byte::Unknown, Byte::Spill) => matches!(other.spill(slot), Some(Value::Scalar(_))),
            (Byte::Known(x), Byte::Known(y)) => x == y,
            _ => false,
        })
    }

    /// Bytes in use, from the frame pointer down: the frame's depth.
    pub fn depth(&self) -> usize {
        self.tags
            .iter()
            .position(|&tags| tags != 0)
            .map_or(0, |slot| {
                STACK_SIZE - (slot * 8 + self.tags[slot].trailing_zeros() as usize / 2)
            })
    }

    /// A compact listing of the written slots, for logs.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for slot in (0..SLOTS).filter(|&slot| self.tags[slot] != 0) {
            let off = slot as i64 * 8 - STACK_SIZE as i64;
            let text = match self.spill(slot) {
                Some(v) => v.to_string(),
                None => (slot * 8..slot * 8 + 8)
                    .map(|i| match self.byte(i) {
                        Byte::Uninit => '.',
                        Byte::Unknown => 'm',
                        Byte::Known(0) => '0',
                        Byte::Known(_) => 'k',
                        Byte::Spill => 's',
                    })
                    .collect(),
            };
            parts.push(format!("fp{off}={text}"));
        }
        parts.join(" ")
    }
}

/// One function activation: its registers and stack.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    pub regs: [Value; Reg::COUNT],
    pub stack: Stack,
    /// Where the caller resumes (`None` for the entry function).
    pub return_pc: Option<usize>,
    /// The function's first instruction.
    pub function: usize,
}

/// Where a packet pointer with a variable offset starts, and how many bytes
/// after it comparisons with `data_end` proved present.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PacketBase {
    /// The base's offset from `data`.
    pub from_data: Scalar,
    pub proven: u64,
}

/// Everything the verifier knows at one instruction on one path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// The entry function's frame first; the last is the running one.
    pub frames: Vec<Frame>,
    /// Packet bytes proven present after `data` (by comparisons with
    /// `data_end`).
    pub packet_min: u64,
    /// Metadata bytes proven present before `data`.
    pub meta_min: u64,
    /// Bases of packet pointers with variable offsets, by id.
    pub packet_bases: BTreeMap<u32, PacketBase>,
    /// The next id for a pointer that may be null.
    pub next_id: u32,
    /// Registers of the running frame that hold exactly the packet's
    /// length, one bit each ([`State::buffer_entry`]'s r2 and its copies):
    /// comparing one with a number proves packet bytes present, and adding
    /// one to `data` gives `data_end`.
    pub packet_len_regs: u16,
}

impl State {
    /// Program entry: `r1` is the context, `r10` the frame pointer.
    pub fn entry() -> State {
        let mut regs = [Value::Uninit; Reg::COUNT];
        regs[Reg::R1.index()] = Value::Ptr(Pointer::new(PtrKind::Ctx, 0));
        regs[Reg::R10.index()] = Value::Ptr(Pointer::new(PtrKind::Stack { frame: 0 }, 0));
        State {
            frames: vec![Frame {
                regs,
                stack: Stack::default(),
                return_pc: None,
                function: 0,
            }],
            packet_min: 0,
            meta_min: 0,
            packet_bases: BTreeMap::new(),
            next_id: 1,
            packet_len_regs: 0,
        }
    }

    /// Entry of a program run on a plain buffer, as visor-vm runs one:
    /// `r1` points at the buffer's first byte, `r2` is its length (below
    /// 2^32), and the buffer is the packet (no context).
    pub fn buffer_entry() -> State {
        let mut state = State::entry();
        state.set(
            Reg::R1,
            Value::Ptr(Pointer::new(PtrKind::Packet { id: 0 }, 0)),
        );
        state.set(Reg::R2, Value::Scalar(Scalar::of_size(4)));
        state.packet_len_regs = crate::cfg::bit(Reg::R2);
        state
    }

    pub fn frame(&self) -> &Frame {
        self.frames.last().expect("a state always has a frame")
    }

    pub fn frame_mut(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a state always has a frame")
    }

    pub fn depth(&self) -> usize {
        self.frames.len() - 1
    }

    pub fn reg(&self, reg: Reg) -> Value {
        self.frame().regs[reg.index()]
    }

    pub fn set(&mut self, reg: Reg, value: Value) {
        self.packet_len_regs &= !crate::cfg::bit(reg);
        self.frame_mut().regs[reg.index()] = value;
    }

    /// `reg` holds the same value, now known better (a comparison refined
    /// it): what else it is known to be stays.
    pub fn narrow(&mut self, reg: Reg, value: Value) {
        self.frame_mut().regs[reg.index()] = value;
    }

    /// `dst = src`, 64 bits: a copy of the packet's length is one too.
    pub fn copy(&mut self, dst: Reg, src: Reg) {
        let is_len = self.is_packet_len(src);
        self.set(dst, self.reg(src));
        if is_len {
            self.packet_len_regs |= crate::cfg::bit(dst);
        }
    }

    /// Whether `reg` holds exactly the packet's length.
    pub fn is_packet_len(&self, reg: Reg) -> bool {
        self.packet_len_regs & crate::cfg::bit(reg) != 0
    }

    /// Registers of a frame just entered or left hold no length.
    pub fn forget_packet_len(&mut self) {
        self.packet_len_regs = 0;
    }

    /// What the registers holding the packet's length are now known to be
    /// at least, packet bytes are known present.
    pub fn learn_packet_len(&mut self) {
        for reg in Reg::ALL {
            if let (true, Value::Scalar(len)) = (self.is_packet_len(reg), self.reg(reg)) {
                self.packet_min = self.packet_min.max(len.umin);
            }
        }
    }

    /// Applies `f` to every register and spilled value of every frame.
    pub fn map_values(&mut self, mut f: impl FnMut(&mut Value)) {
        for frame in &mut self.frames {
            frame.regs.iter_mut().for_each(&mut f);
            frame.stack.spilled_values_mut().for_each(&mut f);
        }
    }

    /// Whether every concrete state `other` stands for is one of `self`'s.
    pub fn includes(&self, other: &State) -> bool {
        self.includes_where(other, &backtrack::ALL)
    }

    /// [`State::includes`], where the numbers (in registers and stack
    /// slots) that `precise` does not mark may be any numbers: what this
    /// state's exploration found it needed ([`crate::backtrack`]).
    /// Registers are compared first: they differ most often, and cheaply.
    pub fn includes_where(&self, other: &State, precise: &Marks) -> bool {
        let mut ids = IdMap::default();
        let frames = self.frames.iter().zip(&other.frames).zip(precise);
        self.frames.len() == other.frames.len()
            && self.packet_len_regs & !other.packet_len_regs == 0
            && self.packet_min <= other.packet_min
            && self.meta_min <= other.meta_min
            && frames.clone().all(|((a, b), marks)| {
                a.return_pc == b.return_pc
                    && a.regs.iter().zip(&b.regs).enumerate().all(|(reg, (x, y))| {
                        let free = marks.regs & (1 << reg) == 0;
                        free && matches!((x, y), (Value::Scalar(_), Value::Scalar(_)))
                            || x.includes_mapped(y, &mut ids)
                    })
            })
            && frames
                .clone()
                .all(|((a, b), marks)| a.stack.includes_where(&b.stack, marks.slots, &mut ids))
            // Every base our pointers use was paired with one of theirs.
            && self.packet_bases.iter().all(|(id, base)| {
                let theirs = ids.theirs(*id).and_then(|t| other.packet_bases.get(&t));
                theirs.is_some_and(|o| {
                    base.from_data.includes(&o.from_data) && base.proven <= o.proven
                })
            })
    }

    /// Drops what was proven about packet pointers no register or spill
    /// holds any more: the bases of variable offsets, and the bytes proven
    /// present for plain packet and metadata pointers (a pointer loaded
    /// from the context afresh starts with none proven, as in the kernel).
    pub fn forget_unused_packet_facts(&mut self) {
        let (mut data, mut meta, mut bases) = (false, false, Vec::new());
        self.map_values(|value| match value {
            Value::Ptr(Pointer {
                kind: PtrKind::Packet { id: 0 },
                ..
            }) => data = true,
            Value::Ptr(Pointer {
                kind: PtrKind::Packet { id },
                ..
            }) => bases.push(*id),
            Value::Ptr(Pointer {
                kind: PtrKind::PacketMeta,
                ..
            }) => meta = true,
            _ => {}
        });
        if !data {
            self.packet_min = 0;
        }
        if !meta {
            self.meta_min = 0;
        }
        self.packet_bases.retain(|id, _| bases.contains(id));
    }

    /// The same knowledge, ignoring id counters.
    pub fn same_as(&self, other: &State) -> bool {
        self.frames == other.frames
            && self.packet_bases == other.packet_bases
            && self.packet_min == other.packet_min
            && self.meta_min == other.meta_min
            && self.packet_len_regs == other.packet_len_regs
    }

    /// The registers other than `Uninit`, as `r1=ctx r10=fp`.
    pub fn describe_regs(&self) -> String {
        let frame = self.frame();
        let mut parts = Vec::new();
        for (i, value) in frame.regs.iter().enumerate() {
            if *value != Value::Uninit {
                parts.push(format!("r{i}={value}"));
            }
        }
        parts.join(" ")
    }

    /// Registers, stack and packet knowledge, one line.
    pub fn describe(&self) -> String {
        let mut text = self.describe_regs();
        let stack = self.frame().stack.describe();
        if !stack.is_empty() {
            text.push(' ');
            text.push_str(&stack);
        }
        if self.packet_min > 0 {
            text.push_str(&format!(" pkt_len>={}", self.packet_min));
        }
        if self.depth() > 0 {
            text = format!("[frame {}] {text}", self.depth());
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_fill_back_exactly_and_break_on_partial_writes() {
        let mut stack = Stack::default();
        let ptr = Value::Ptr(Pointer::new(PtrKind::Ctx, 0));
        let at = stack_index(-8, 8).unwrap();
        stack.write(at, 8, &ptr);
        assert_eq!(stack.read(at, 8), Ok(ptr));
        assert_eq!(stack.holds_pointer(at, 8), Some(at));
        stack.write(at, 4, &Value::constant(7));
        assert_eq!(stack.holds_pointer(at, 8), None);
        assert_eq!(stack.read(at, 4), Ok(Value::constant(7)));
        assert_eq!(stack.read(at + 4, 4), Ok(Value::Scalar(Scalar::of_size(4))));
    }

    #[test]
    fn uninitialised_bytes_are_reported() {
        let mut stack = Stack::default();
        let at = stack_index(-16, 8).unwrap();
        stack.write(at, 4, &Value::constant(1));
        assert_eq!(stack.read(at, 8), Err(at + 4));
        assert_eq!(stack_index(-520, 8), None);
        assert_eq!(stack_index(-4, 8), None);
        assert_eq!(stack.depth(), 16);
    }

    #[test]
    fn uninit_registers_include_anything() {
        let mut wide = State::entry();
        let narrow = {
            let mut s = wide.clone();
            s.set(Reg::R2, Value::constant(3));
            s
        };
        assert!(wide.includes(&narrow));
        assert!(!narrow.includes(&wide));
        wide.set(Reg::R2, Value::Scalar(Scalar::urange(0, 9)));
        assert!(wide.includes(&narrow));
    }
}
