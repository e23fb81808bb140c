//! The guest address space: which region an address names, and where.
//!
//! A guest address is a region id in the upper 32 bits and an offset into
//! that region in the lower 32 bits. The ids are fixed, so a program, a
//! context builder and an error message all agree on what `0x2_0000_01f8`
//! is (8 bytes below the top of stack frame 0) without asking the engine.
//!
//! Ids 0 to 15 index the run's region table; ids from [`MAP_FIRST`] up
//! name the values of the program's maps, `MAP_FIRST + n` for map `n` of
//! its [`ProgramMaps`](crate::ProgramMaps) (inner maps met at run time
//! follow). Inside a map's region each value has its own window (see
//! `maps::storage`).

use core::fmt;

/// Bits the region id is shifted left by in a guest address.
pub const REGION_SHIFT: u32 = 32;
/// Mask of the offset part of a guest address.
pub const OFFSET_MASK: u64 = (1 << REGION_SHIFT) - 1;
/// Entries in the region table: ids `0..REGION_SLOTS` can be mapped.
pub const REGION_SLOTS: usize = 16;
/// Ring buffer reservations one run can hold at once; a further
/// `bpf_ringbuf_reserve` returns NULL, as for a full ring.
pub const MAX_RESERVATIONS: usize = 4;
/// The region id of map 0's values; map `n` is `MAP_FIRST + n`.
pub const MAP_FIRST: u32 = REGION_SLOTS as u32;
/// Offset bit that marks a function address in the handle region.
const FUNCTION_BIT: u32 = 1 << 31;
/// Bytes in one stack frame (the kernel's `MAX_BPF_STACK`).
pub const STACK_FRAME_SIZE: usize = 512;
/// Frames a program may have live at once, the main one included (the
/// kernel's `MAX_CALL_FRAMES`).
pub const MAX_FRAMES: usize = 8;

/// The id of a region: the upper 32 bits of every address inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionId(u32);

impl RegionId {
    /// Never mapped: null, and every plain number below 4 GiB used as a
    /// pointer, fault here.
    pub const NULL: RegionId = RegionId(0);
    /// The context (the input memory of [`Interpreter::run`]); r1 points at
    /// its start.
    ///
    /// [`Interpreter::run`]: crate::Interpreter::run
    pub const CONTEXT: RegionId = RegionId(1);
    /// Stack frame 0; frame `n` is `STACK_FIRST + n`.
    const STACK_FIRST: u32 = 2;
    /// The main program's stack frame.
    pub(crate) const FRAME_0: RegionId = RegionId(Self::STACK_FIRST);
    /// The packet, when it is not the context itself.
    pub const PACKET: RegionId = RegionId(Self::STACK_FIRST + MAX_FRAMES as u32);
    /// Ring buffer reservation 0; reservation `n` is `RESERVATION_FIRST + n`.
    const RESERVATION_FIRST: u32 = Self::PACKET.0 + 1;
    /// Never mapped: map handles (what `lddw` with `MAP_FD`/`MAP_IDX`
    /// loads, offsets below 2^31) and function addresses (`PSEUDO_FUNC`,
    /// [`RegionId::function`]) are addresses here, so dereferencing one
    /// faults.
    pub const MAP_HANDLES: RegionId = RegionId(Self::RESERVATION_FIRST + MAX_RESERVATIONS as u32);

    /// The region of ring buffer reservation `slot`, if it exists.
    pub const fn reservation(slot: usize) -> Option<RegionId> {
        if slot < MAX_RESERVATIONS {
            Some(RegionId(Self::RESERVATION_FIRST + slot as u32))
        } else {
            None
        }
    }

    /// The region of map `index`'s values, if the id fits.
    pub const fn map(index: u32) -> Option<RegionId> {
        match MAP_FIRST.checked_add(index) {
            Some(id) => Some(RegionId(id)),
            None => None,
        }
    }

    /// The handle of map `index`: what `lddw rN, map[idx:index]` loads.
    pub const fn map_handle(index: u32) -> u64 {
        Self::MAP_HANDLES.addr(index)
    }

    /// The address of the function starting at slot `slot`: what
    /// `lddw rN, func[...]` loads, and what `bpf_loop` calls.
    pub const fn function(slot: u32) -> u64 {
        Self::MAP_HANDLES.addr(FUNCTION_BIT | slot)
    }

    /// The slot of the function at `addr`, if it is a function address.
    pub const fn function_slot(addr: u64) -> Option<usize> {
        let offset = offset_of(addr);
        if RegionId::of(addr).0 == Self::MAP_HANDLES.0 && offset & FUNCTION_BIT != 0 {
            Some((offset & !FUNCTION_BIT) as usize)
        } else {
            None
        }
    }

    /// The region of stack frame `frame` (0 is the main program's), if it
    /// exists.
    pub const fn stack(frame: usize) -> Option<RegionId> {
        if frame < MAX_FRAMES {
            Some(RegionId(Self::STACK_FIRST + frame as u32))
        } else {
            None
        }
    }

    /// The region `addr` points into.
    pub const fn of(addr: u64) -> RegionId {
        RegionId((addr >> REGION_SHIFT) as u32)
    }

    /// The guest address of byte `offset` of this region.
    pub const fn addr(self, offset: u32) -> u64 {
        ((self.0 as u64) << REGION_SHIFT) | offset as u64
    }

    /// Index into the region table (may be past its end).
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// What the fixed layout keeps at this id.
    pub const fn kind(self) -> RegionKind {
        match self.0 {
            0 => RegionKind::Null,
            1 => RegionKind::Context,
            id if id >= Self::STACK_FIRST && id < Self::PACKET.0 => RegionKind::Stack {
                frame: (id - Self::STACK_FIRST) as u8,
            },
            id if id == Self::PACKET.0 => RegionKind::Packet,
            id if id >= Self::RESERVATION_FIRST && id < Self::MAP_HANDLES.0 => {
                RegionKind::Reservation {
                    slot: (id - Self::RESERVATION_FIRST) as u8,
                }
            }
            id if id == Self::MAP_HANDLES.0 => RegionKind::MapHandles,
            id => RegionKind::MapValues {
                map: id - MAP_FIRST,
            },
        }
    }
}

impl fmt::Display for RegionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            RegionKind::Null => f.write_str("the null region"),
            RegionKind::Context => f.write_str("context"),
            RegionKind::Stack { frame } => write!(f, "stack frame {frame}"),
            RegionKind::Packet => f.write_str("packet"),
            RegionKind::Reservation { slot } => write!(f, "ring buffer reservation {slot}"),
            RegionKind::MapHandles => f.write_str("map handles"),
            RegionKind::MapValues { map } => write!(f, "map {map} values"),
        }
    }
}

/// What a region holds, by its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// Id 0, never mapped.
    Null,
    /// The context or input memory.
    Context,
    /// A stack frame.
    Stack {
        /// The call depth it belongs to, 0 for the main program.
        frame: u8,
    },
    /// The packet of `LD_ABS`/`LD_IND`, when separate from the context.
    Packet,
    /// A ring buffer record reserved by the program, until it is
    /// submitted or discarded.
    Reservation {
        /// Which of the [`MAX_RESERVATIONS`].
        slot: u8,
    },
    /// Map handles: never mapped.
    MapHandles,
    /// The values of a map; each value has its own window.
    MapValues {
        /// The map's index among the run's maps.
        map: u32,
    },
}

/// The offset part of `addr`.
pub const fn offset_of(addr: u64) -> u32 {
    (addr & OFFSET_MASK) as u32
}

/// The frame pointer (r10) of stack frame `frame`: one past its last byte.
pub(crate) const fn frame_pointer(frame: usize) -> u64 {
    match RegionId::stack(frame) {
        Some(region) => region.addr(STACK_FRAME_SIZE as u32),
        None => 0,
    }
}

/// A guest address shown as region and offset: `0x2_0000_01f8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestAddr(pub u64);

impl fmt::Display for GuestAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = offset_of(self.0);
        match RegionId::of(self.0) {
            RegionId::NULL => write!(f, "{offset:#x}"),
            region => write!(
                f,
                "{:#x}_{:04x}_{:04x}",
                region.0,
                offset >> 16,
                offset & 0xffff
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fixed_and_named() {
        assert_eq!(RegionId::CONTEXT.addr(0), 0x1_0000_0000);
        assert_eq!(RegionId::stack(0), Some(RegionId(2)));
        assert_eq!(RegionId::stack(7), Some(RegionId(9)));
        assert_eq!(RegionId::stack(8), None);
        assert_eq!(RegionId::PACKET, RegionId(10));
        assert_eq!(frame_pointer(0), 0x2_0000_0200);
        assert_eq!(RegionId::of(0x9_0000_0010).to_string(), "stack frame 7");
        assert_eq!(RegionId::of(0xab_0000_0000).to_string(), "map 155 values");
        assert_eq!(RegionId::reservation(3), Some(RegionId(14)));
        assert_eq!(RegionId::reservation(4), None);
        assert_eq!(RegionId::MAP_HANDLES, RegionId(15));
        assert_eq!(RegionId::map(0), Some(RegionId(16)));
        assert_eq!(RegionId::map(u32::MAX), None);
        assert_eq!(RegionId::map_handle(2), 0xf_0000_0002);
        assert_eq!(RegionId(12).to_string(), "ring buffer reservation 1");
    }

    #[test]
    fn addresses_print_as_region_and_offset() {
        assert_eq!(GuestAddr(0x2_0000_0200).to_string(), "0x2_0000_0200");
        assert_eq!(GuestAddr(0x10).to_string(), "0x10");
        assert_eq!(GuestAddr(u64::MAX).to_string(), "0xffffffff_ffff_ffff");
    }
}
