//! The memory model: every guest load, store and atomic goes through
//! [`Memory`], which finds the region from the address's upper half and
//! checks bounds and permission before touching a byte.
//!
//! ```text
//!   addr >> 32 --> table[id] --> Some(region)? --> offset + len <= region.len()?
//!                                 | no               | no         (+ writable?)
//!                                 v                  v
//!                              Unmapped          OutOfBounds / ReadOnly
//! ```
//!
//! Ids from [`MAP_FIRST`] up are map values: the same shape of check, with
//! the bounds of one value (`maps::storage`), against storage shared with
//! other threads, so those bytes are read and written with atomics.

use core::fmt;
use std::borrow::Cow;

use visor_isa::Size;

use crate::context::RunContext;
use crate::jit::{HostRegion, JitContext, MapWindow};
use crate::layout::{
    GuestAddr, MAP_FIRST, MAX_FRAMES, MAX_RESERVATIONS, REGION_SLOTS, RegionId, STACK_FRAME_SIZE,
    offset_of,
};
use crate::maps::RunMaps;
use crate::maps::storage::ValueStore;
use crate::region::Region;
use crate::state::CallStack;

/// The host bytes behind all stack frames of one run.
pub(crate) type Stack = [[u8; STACK_FRAME_SIZE]; MAX_FRAMES];

/// Expands `$body` once per access size, with `$n` the size in bytes as a
/// constant, so each operation is written once over width.
macro_rules! by_size {
    ($size:expr, $n:ident => $body:expr) => {
        match $size {
            Size::B => {
                const $n: usize = 1;
                $body
            }
            Size::H => {
                const $n: usize = 2;
                $body
            }
            Size::W => {
                const $n: usize = 4;
                $body
            }
            Size::DW => {
                const $n: usize = 8;
                $body
            }
        }
    };
}

/// The regions one run of a program can reach, by id.
///
/// Helpers receive `&mut Memory` to read and write guest memory through the
/// same checks as the program's own instructions.
#[derive(Debug)]
pub struct Memory<'a> {
    table: [Option<Region<'a>>; REGION_SLOTS],
    /// Frames not in use: mapped on call, parked again on return, so a
    /// pointer into a finished call's frame faults.
    idle_frames: [Option<Region<'a>>; MAX_FRAMES],
    /// The region `LD_ABS`/`LD_IND` read.
    packet: Option<RegionId>,
    /// The deepest frame entered in this run: frames are zeroed on first
    /// entry, so a run never sees what an earlier run left.
    deepest_frame: usize,
    /// The local calls live in the frames: here, so that every machine
    /// serving the run (the JIT builds one per call into Rust) sees them.
    pub(crate) calls: CallStack,
    /// The maps the program reaches, its CPU, its ring buffer
    /// reservations and a pending tail call.
    pub(crate) maps: RunMaps,
    /// A served context (`__sk_buff`, `xdp_md`): when set, the context
    /// region is left out of the table and accesses to it that miss there
    /// are answered by its field table (`context`).
    pub(crate) context: Option<Box<RunContext>>,
    /// Whether a region was mapped or unmapped, or the packet changed,
    /// since the JIT last took the table ([`Memory::host_table`]).
    layout_changed: bool,
    /// Whether the maps changed since the JIT last took their values
    /// ([`Memory::host_maps`]).
    maps_changed: bool,
    /// The JIT's context for runs on this memory, kept from one native
    /// entry to the next (tail calls, repeated runs): its region table is
    /// taken again only when the layout changed.
    pub(crate) native: Option<Box<JitContext>>,
}

impl<'a> Memory<'a> {
    /// Memory with frame 0 of `stack` mapped, zeroed, and nothing else.
    /// Deeper frames are zeroed when first entered.
    pub(crate) fn new(stack: &'a mut Stack) -> Memory<'a> {
        stack[0].fill(0);
        Memory::resuming(stack)
    }

    /// Memory with frame 0 of `stack` mapped as it is: a session's native
    /// code has been running on it (see `session`), since its run began
    /// on a zeroed frame. Deeper frames are zeroed when first entered.
    /// Inlined, so that the memory is built where it stays, not moved.
    #[inline]
    pub(crate) fn resuming(stack: &'a mut Stack) -> Memory<'a> {
        let mut frames = stack.iter_mut();
        let mut memory = Memory {
            table: [const { None }; REGION_SLOTS],
            idle_frames: core::array::from_fn(|_| {
                frames.next().map(|frame| Region::writable(frame))
            }),
            packet: None,
            deepest_frame: 0,
            calls: CallStack::default(),
            maps: RunMaps::default(),
            context: None,
            layout_changed: true,
            maps_changed: true,
            native: None,
        };
        memory.enter_frame(0);
        memory
    }

    /// Readies this memory for another run of the program whose `maps`
    /// it holds, after a run that ended: no local calls (a helper may end
    /// a run from inside one), no reservations, frame 0 zeroed when
    /// `zero_frame` (a program that cannot read it need not pay for it)
    /// and deeper frames zeroed again when entered, the program's own maps
    /// (a tail call brought others), no tail calls taken yet.
    pub(crate) fn restart(
        &mut self,
        maps: Option<&std::sync::Arc<crate::ProgramMaps>>,
        zero_frame: bool,
    ) {
        for frame in (1..=self.calls.depth()).rev() {
            self.leave_frame(frame);
        }
        self.calls.clear();
        // The run's end discarded its reservations; their bytes go too.
        for id in (0..MAX_RESERVATIONS).filter_map(RegionId::reservation) {
            self.unmap(id);
        }
        let frame = self.table[RegionId::FRAME_0.index()].as_mut();
        if zero_frame && let Some(bytes) = frame.and_then(Region::bytes_mut) {
            bytes.fill(0);
        }
        self.deepest_frame = 0;
        if self.maps.tail_calls > 0 {
            self.set_maps(maps);
            self.maps.tail_calls = 0;
        }
    }

    /// Makes `table` the maps ids and handles name (at the start of a run
    /// and on a tail call, which brings the target's maps).
    pub(crate) fn set_maps(&mut self, table: Option<&std::sync::Arc<crate::ProgramMaps>>) {
        // Programs loaded together share their maps: nothing to redo.
        if !self.maps.holds_table(table) {
            self.maps.set_table(table.cloned());
            self.maps_changed = true;
        }
    }

    /// Maps `region` at `id`, replacing what was there. Ids past the table
    /// and the null id are ignored: nothing can be mapped there.
    pub(crate) fn map(&mut self, id: RegionId, region: Region<'a>) {
        if id == RegionId::NULL {
            return;
        }
        if let Some(slot) = self.table.get_mut(id.index()) {
            *slot = Some(region);
            self.layout_changed = true;
        }
    }

    /// Makes the region at `id` the packet of `LD_ABS`/`LD_IND`.
    pub(crate) fn set_packet(&mut self, id: RegionId) {
        self.packet = Some(id);
        self.layout_changed = true;
    }

    /// Maps the stack frame of call depth `frame`.
    pub(crate) fn enter_frame(&mut self, frame: usize) {
        let (Some(id), Some(idle)) = (RegionId::stack(frame), self.idle_frames.get_mut(frame))
        else {
            return;
        };
        if frame > self.deepest_frame {
            self.deepest_frame = frame;
            if let Some(bytes) = idle.as_mut().and_then(Region::bytes_mut) {
                bytes.fill(0);
            }
        }
        if let Some(slot) = self.table.get_mut(id.index()) {
            *slot = idle.take();
            self.layout_changed = true;
        }
    }

    /// Unmaps the stack frame of call depth `frame`; its bytes stay as the
    /// call left them until the next call at that depth in this run.
    pub(crate) fn leave_frame(&mut self, frame: usize) {
        let (Some(id), Some(idle)) = (RegionId::stack(frame), self.idle_frames.get_mut(frame))
        else {
            return;
        };
        if let Some(slot) = self.table.get_mut(id.index()) {
            *idle = slot.take();
            self.layout_changed = true;
        }
    }

    /// The region mapped at `id`, if any.
    pub fn region(&self, id: RegionId) -> Option<&Region<'a>> {
        self.table.get(id.index()).and_then(Option::as_ref)
    }

    /// The packet's bytes (empty when the run has no packet).
    pub(crate) fn packet(&self) -> &[u8] {
        self.packet
            .and_then(|id| self.region(id))
            .map_or(&[], Region::bytes)
    }

    /// The guest address of the packet's first byte and the packet's
    /// length, when the run has a packet (the packet helpers' bounds).
    pub(crate) fn packet_span(&self) -> Option<(u64, usize)> {
        let id = self.packet?;
        Some((id.addr(0), self.region(id)?.len()))
    }

    /// Unmaps the region at `id` and returns it (reservations end so).
    pub(crate) fn unmap(&mut self, id: RegionId) -> Option<Region<'a>> {
        let region = self.table.get_mut(id.index()).and_then(Option::take);
        self.layout_changed |= region.is_some();
        region
    }

    /// The region table as the JIT's native code reads it: host pointer
    /// and readable and writable lengths per id (all zero when unmapped,
    /// so every access there takes the slow path back into this type).
    /// A mapped region's bytes never move, so the table stays right until
    /// [`Memory::layout_changed`]; the JIT takes it again after a call into
    /// Rust only then.
    pub(crate) fn host_table(&mut self, out: &mut [HostRegion; REGION_SLOTS]) {
        for (entry, region) in out.iter_mut().zip(self.table.iter_mut()) {
            *entry = match region {
                None => HostRegion::UNMAPPED,
                Some(region) => HostRegion::of(region),
            };
        }
        self.layout_changed = false;
    }

    /// The values of the program's first maps as native code reads them
    /// (`MapWindow::NONE` for maps without values); returns how many of
    /// `out` it filled. They stay right until [`Memory::maps_changed`] (a
    /// tail call to a program with other maps): a map's values never move.
    #[cfg_attr(not(native_jit), allow(dead_code))] // for native code
    pub(crate) fn host_maps(&mut self, out: &mut [MapWindow]) -> usize {
        let maps = self.maps.table_maps();
        let mut filled = 0;
        for (window, map) in out.iter_mut().zip(maps) {
            *window = map.values().map_or(MapWindow::NONE, ValueStore::window);
            filled += 1;
        }
        self.maps_changed = false;
        filled
    }

    /// Whether the maps changed since [`Memory::host_maps`] was last
    /// called.
    pub(crate) fn maps_changed(&self) -> bool {
        self.maps_changed
    }

    /// Whether a region was mapped or unmapped, or the packet changed,
    /// since [`Memory::host_table`] was last called.
    pub(crate) fn layout_changed(&self) -> bool {
        self.layout_changed
    }

    /// The packet of `LD_ABS`/`LD_IND` as native code reads it.
    pub(crate) fn host_packet(&mut self) -> HostRegion {
        let id = self.packet;
        match id.and_then(|id| self.table.get_mut(id.index())?.as_mut()) {
            Some(region) => HostRegion::of(region),
            None => HostRegion::UNMAPPED,
        }
    }

    /// The CPU the program runs on (`bpf_get_smp_processor_id`; per-CPU
    /// maps use its values).
    pub fn cpu(&self) -> u32 {
        self.maps.cpu
    }

    /// `len` bytes at `addr`, for reading: borrowed from the region, or
    /// copied when they are a map value (shared with other threads).
    pub fn bytes(&self, addr: u64, len: usize) -> Result<Cow<'_, [u8]>, AccessFault> {
        if is_map(addr) {
            let mut out = vec![0; len];
            self.read(addr, &mut out)?;
            return Ok(Cow::Owned(out));
        }
        self.plain_bytes(addr, len).map(Cow::Borrowed)
    }

    /// Copies `out.len()` bytes at `addr` into `out`.
    pub fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), AccessFault> {
        if is_map(addr) {
            let (store, at) = self.map_value(addr, out.len(), AccessKind::Read)?;
            store.read_at(at, out);
            return Ok(());
        }
        out.copy_from_slice(self.plain_bytes(addr, out.len())?);
        Ok(())
    }

    fn plain_bytes(&self, addr: u64, len: usize) -> Result<&[u8], AccessFault> {
        let fault = |cause| AccessFault::new(addr, len, AccessKind::Read, cause);
        let region = self.find(addr).map_err(fault)?;
        let size = region.len();
        region
            .bytes()
            .get(start(addr)..)
            .and_then(|rest| rest.get(..len))
            .ok_or_else(|| fault(FaultCause::OutOfBounds { size }))
    }

    /// `len` bytes at `addr`, for writing. Map values cannot be borrowed
    /// (other threads share them): they fault with
    /// [`FaultCause::SharedMapValue`]; use [`Memory::write`].
    pub fn bytes_mut(&mut self, addr: u64, len: usize) -> Result<&mut [u8], AccessFault> {
        let fault = |cause| AccessFault::new(addr, len, AccessKind::Write, cause);
        if is_map(addr) {
            return Err(fault(FaultCause::SharedMapValue));
        }
        let bytes = self.find_writable(addr).map_err(fault)?;
        let size = bytes.len();
        bytes
            .get_mut(start(addr)..)
            .and_then(|rest| rest.get_mut(..len))
            .ok_or_else(|| fault(FaultCause::OutOfBounds { size }))
    }

    /// Copies `data` to `addr`.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), AccessFault> {
        if is_map(addr) {
            let (store, at) = self.map_value(addr, data.len(), AccessKind::Write)?;
            store.write_at(at, data);
            return Ok(());
        }
        self.bytes_mut(addr, data.len())?.copy_from_slice(data);
        Ok(())
    }

    /// The little-endian value of `size` at `addr`, zero-extended.
    pub fn load(&self, addr: u64, size: Size) -> Result<u64, AccessFault> {
        if is_map(addr) {
            let (store, at) = self.map_value(addr, size.bytes(), AccessKind::Read)?;
            return Ok(store.load(at, size.bytes()));
        }
        by_size!(size, N => self.array::<N>(addr).map(le_value))
            .or_else(|fault| self.served_load(fault, size))
    }

    /// A load the table refused: served by the context's field table when
    /// it named an unmapped context region that has one.
    #[cold]
    fn served_load(&self, fault: AccessFault, size: Size) -> Result<u64, AccessFault> {
        match (&self.context, fault.cause) {
            (Some(context), FaultCause::Unmapped) if fault.region() == RegionId::CONTEXT => {
                let packet_len = self.region(RegionId::PACKET).map_or(0, Region::len);
                context
                    .load(offset_of(fault.addr), size, packet_len)
                    .map_err(|cause| AccessFault { cause, ..fault })
            }
            _ => Err(fault),
        }
    }

    /// A store the table refused, served like [`Memory::served_load`].
    #[cold]
    fn served_store(
        &mut self,
        fault: AccessFault,
        size: Size,
        value: u64,
    ) -> Result<(), AccessFault> {
        match (&mut self.context, fault.cause) {
            (Some(context), FaultCause::Unmapped) if fault.region() == RegionId::CONTEXT => context
                .store(offset_of(fault.addr), size, value)
                .map_err(|cause| AccessFault { cause, ..fault }),
            _ => Err(fault),
        }
    }

    /// Stores the low `size` bytes of `value` little-endian at `addr`.
    pub fn store(&mut self, addr: u64, size: Size, value: u64) -> Result<(), AccessFault> {
        if is_map(addr) {
            let (store, at) = self.map_value(addr, size.bytes(), AccessKind::Write)?;
            store.store(at, size.bytes(), value);
            return Ok(());
        }
        let stored = by_size!(size, N => {
            self.array_mut::<N>(addr, AccessKind::Write).map(|slot| *slot = le_bytes(value))
        });
        stored.or_else(|fault| self.served_store(fault, size, value))
    }

    /// Replaces the value of `size` at `addr` with `update(old)` and
    /// returns `old`; faults unless the bytes are readable and writable.
    pub(crate) fn update(
        &mut self,
        addr: u64,
        size: Size,
        update: impl Fn(u64) -> u64,
    ) -> Result<u64, AccessFault> {
        if is_map(addr) {
            let (store, at) = self.map_value(addr, size.bytes(), AccessKind::Atomic)?;
            return Ok(store.update(at, size.bytes(), update));
        }
        by_size!(size, N => {
            let slot = self.array_mut::<N>(addr, AccessKind::Atomic)?;
            let old = le_value(slot);
            *slot = le_bytes(update(old));
            Ok(old)
        })
    }

    fn array<const N: usize>(&self, addr: u64) -> Result<&[u8; N], AccessFault> {
        let fault = |cause| AccessFault::new(addr, N, AccessKind::Read, cause);
        let region = self.find(addr).map_err(fault)?;
        let size = region.len();
        region
            .bytes()
            .get(start(addr)..)
            .and_then(<[u8]>::first_chunk)
            .ok_or_else(|| fault(FaultCause::OutOfBounds { size }))
    }

    fn array_mut<const N: usize>(
        &mut self,
        addr: u64,
        kind: AccessKind,
    ) -> Result<&mut [u8; N], AccessFault> {
        let fault = |cause| AccessFault::new(addr, N, kind, cause);
        let bytes = self.find_writable(addr).map_err(fault)?;
        let size = bytes.len();
        bytes
            .get_mut(start(addr)..)
            .and_then(<[u8]>::first_chunk_mut)
            .ok_or_else(|| fault(FaultCause::OutOfBounds { size }))
    }

    /// The value storage `addr` points into and the host byte it names,
    /// after the per-value bounds check and, for writes, the permission.
    fn map_value(
        &self,
        addr: u64,
        len: usize,
        kind: AccessKind,
    ) -> Result<(&ValueStore, usize), AccessFault> {
        let fault = |cause| AccessFault::new(addr, len, kind, cause);
        let store = self
            .maps
            .values(RegionId::of(addr))
            .ok_or(fault(FaultCause::Unmapped))?;
        if kind != AccessKind::Read && !store.program_writable() {
            return Err(fault(FaultCause::ReadOnly {
                size: store.value_size(),
            }));
        }
        let at = store.locate(offset_of(addr), len).map_err(fault)?;
        Ok((store, at))
    }

    fn find(&self, addr: u64) -> Result<&Region<'a>, FaultCause> {
        match RegionId::of(addr) {
            RegionId::NULL => Err(FaultCause::Null),
            id => self.region(id).ok_or(FaultCause::Unmapped),
        }
    }

    fn find_writable(&mut self, addr: u64) -> Result<&mut [u8], FaultCause> {
        let id = RegionId::of(addr);
        if id == RegionId::NULL {
            return Err(FaultCause::Null);
        }
        let region = self
            .table
            .get_mut(id.index())
            .and_then(Option::as_mut)
            .ok_or(FaultCause::Unmapped)?;
        let size = region.len();
        region.bytes_mut().ok_or(FaultCause::ReadOnly { size })
    }
}

/// Whether `addr` names a map's values rather than a table region.
#[inline]
fn is_map(addr: u64) -> bool {
    RegionId::of(addr).index() >= MAP_FIRST as usize
}

/// Where an access starts inside its region.
fn start(addr: u64) -> usize {
    // u32 to usize is lossless on every host Rust supports with 32-bit or
    // wider pointers; on a 16-bit host an offset past usize faults as out of
    // bounds because `get` sees usize::MAX.
    usize::try_from(offset_of(addr)).unwrap_or(usize::MAX)
}

/// The little-endian value of the `size` bytes of `bytes` at `at`,
/// zero-extended; `None` unless all are there.
#[inline]
pub(crate) fn load_le(bytes: &[u8], at: usize, size: Size) -> Option<u64> {
    let rest = bytes.get(at..)?;
    by_size!(size, N => rest.first_chunk::<N>().map(le_value))
}

/// Stores the low `size` bytes of `value` little-endian at `at` of
/// `bytes`; `None` (and nothing stored) unless all are there.
#[inline]
pub(crate) fn store_le(bytes: &mut [u8], at: usize, size: Size, value: u64) -> Option<()> {
    let rest = bytes.get_mut(at..)?;
    by_size!(size, N => *rest.first_chunk_mut::<N>()? = le_bytes(value));
    Some(())
}

/// The little-endian value of up to 8 bytes, zero-extended.
fn le_value<const N: usize>(bytes: &[u8; N]) -> u64 {
    let mut word = [0; 8];
    word.iter_mut().zip(bytes).for_each(|(w, b)| *w = *b);
    u64::from_le_bytes(word)
}

/// The low `N` bytes of `value`, little-endian.
fn le_bytes<const N: usize>(value: u64) -> [u8; N] {
    let mut bytes = [0; N];
    bytes
        .iter_mut()
        .zip(value.to_le_bytes())
        .for_each(|(b, v)| *b = v);
    bytes
}

/// What an access meant to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An atomic read-modify-write: needs both permissions.
    Atomic,
}

impl fmt::Display for AccessKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccessKind::Read => "read",
            AccessKind::Write => "write",
            AccessKind::Atomic => "atomic update",
        })
    }
}

/// Why an access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultCause {
    /// Region 0: a null pointer, or a number that is not a pointer.
    Null,
    /// No region is mapped at the address's id (for a stack frame: no call
    /// at that depth is running).
    Unmapped,
    /// The access does not fit in the region of `size` bytes.
    OutOfBounds {
        /// Length of the region.
        size: usize,
    },
    /// A write to a region of `size` bytes mapped read-only (for map
    /// values: the size of one value).
    ReadOnly {
        /// Length of the region.
        size: usize,
    },
    /// A borrow of map value bytes for writing ([`Memory::bytes_mut`]):
    /// other threads share them, so they are only written by copy.
    SharedMapValue,
    /// A context access the kernel's verifier refuses for this program
    /// type: the field, and the rule it breaks.
    Context {
        /// The field's name (`__sk_buff.mark`), or the struct's when the
        /// offset is past its end.
        field: &'static str,
        /// What the kernel allows instead.
        rule: &'static str,
    },
}

/// A refused memory access: where, how wide, which way, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AccessFault {
    /// The guest address of the first byte.
    pub addr: u64,
    /// Bytes accessed.
    pub len: usize,
    /// Read, write or atomic update.
    pub kind: AccessKind,
    /// Why it was refused.
    pub cause: FaultCause,
}

impl AccessFault {
    fn new(addr: u64, len: usize, kind: AccessKind, cause: FaultCause) -> AccessFault {
        AccessFault {
            addr,
            len,
            kind,
            cause,
        }
    }

    /// The region the address names.
    pub fn region(&self) -> RegionId {
        RegionId::of(self.addr)
    }
}

impl fmt::Display for AccessFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, len, addr, region) = (
            self.kind,
            ByteCount(self.len),
            GuestAddr(self.addr),
            self.region(),
        );
        match self.cause {
            FaultCause::Null => write!(f, "null-pointer {kind} of {len} at {addr}"),
            FaultCause::Unmapped => write!(f, "{kind} of {len} at {addr}: {region} is not mapped"),
            FaultCause::OutOfBounds { size } => write!(
                f,
                "out-of-bounds {kind} of {len} at {addr} ({region}, {})",
                ByteCount(size)
            ),
            FaultCause::ReadOnly { size } => write!(
                f,
                "{kind} of {len} at {addr}: {region} ({}) is read-only",
                ByteCount(size)
            ),
            FaultCause::SharedMapValue => write!(
                f,
                "{kind} of {len} at {addr}: {region} cannot be borrowed (shared); copy with Memory::write"
            ),
            FaultCause::Context { field, rule } => {
                write!(f, "{kind} of {len} of context field {field}: {rule}")
            }
        }
    }
}

impl std::error::Error for AccessFault {}

/// "1 byte", "8 bytes".
struct ByteCount(usize);

impl fmt::Display for ByteCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("1 byte"),
            n => write!(f, "{n} bytes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_memory<T>(check: impl FnOnce(&mut Memory<'_>) -> T) -> T {
        let mut stack = [[0; STACK_FRAME_SIZE]; MAX_FRAMES];
        let mut context = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        let packet = [0xaa; 4];
        let mut memory = Memory::new(&mut stack);
        memory.map(RegionId::CONTEXT, Region::writable(&mut context));
        memory.map(RegionId::PACKET, Region::readonly(&packet));
        check(&mut memory)
    }

    const CONTEXT: u64 = 0x1_0000_0000;
    const PACKET: u64 = 0xa_0000_0000;
    const FRAME0_TOP: u64 = 0x2_0000_0200;

    /// Memory moves between threads with its run, as before the JIT kept
    /// its context in it.
    #[test]
    fn memory_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Memory<'static>>();
    }

    /// A repeated run starts as a fresh one would: no reservation left
    /// from the run before, zeroed frames, no local calls.
    #[test]
    fn restart_leaves_nothing_of_the_run_before() {
        let mut stack = [[0; STACK_FRAME_SIZE]; MAX_FRAMES];
        let mut memory = Memory::new(&mut stack);
        let reservation = RegionId::reservation(0).unwrap();
        memory.map(reservation, Region::owned(vec![7; 8].into()));
        memory.store(FRAME0_TOP - 8, Size::DW, 9).unwrap();
        let frame = memory.calls.push(1, &crate::state::Registers::default());
        memory.enter_frame(frame.unwrap());
        let frame1 = RegionId::stack(1).unwrap().addr(0);
        memory.store(frame1, Size::B, 5).unwrap();
        memory.restart(None, true);
        assert!(memory.region(reservation).is_none());
        assert_eq!(memory.load(FRAME0_TOP - 8, Size::DW), Ok(0));
        assert_eq!(memory.calls.depth(), 0);
        assert!(memory.load(frame1, Size::B).is_err(), "frame 1 is idle");
        memory.enter_frame(1);
        assert_eq!(memory.load(frame1, Size::B), Ok(0));
    }

    #[test]
    fn loads_are_little_endian_and_zero_extended() {
        with_memory(|memory| {
            assert_eq!(memory.load(CONTEXT, Size::B), Ok(0x11));
            assert_eq!(memory.load(CONTEXT + 1, Size::H), Ok(0x3322));
            assert_eq!(memory.load(CONTEXT + 4, Size::W), Ok(0x8877_6655));
            assert_eq!(memory.load(CONTEXT, Size::DW), Ok(0x8877_6655_4433_2211));
        });
    }

    #[test]
    fn stores_write_the_low_bytes_only() {
        with_memory(|memory| {
            memory.store(CONTEXT + 2, Size::H, 0xdead_beef).unwrap();
            assert_eq!(
                &*memory.bytes(CONTEXT, 8).unwrap(),
                &[0x11, 0x22, 0xef, 0xbe, 0x55, 0x66, 0x77, 0x88]
            );
            memory.store(FRAME0_TOP - 8, Size::DW, u64::MAX).unwrap();
            assert_eq!(memory.load(FRAME0_TOP - 8, Size::DW), Ok(u64::MAX));
        });
    }

    #[test]
    fn every_byte_of_an_access_must_be_inside() {
        with_memory(|memory| {
            let fault = memory.load(CONTEXT + 5, Size::W).unwrap_err();
            assert_eq!(fault.cause, FaultCause::OutOfBounds { size: 8 });
            assert_eq!(
                fault.to_string(),
                "out-of-bounds read of 4 bytes at 0x1_0000_0005 (context, 8 bytes)"
            );
            let fault = memory.store(FRAME0_TOP, Size::DW, 0).unwrap_err();
            assert_eq!(
                fault.to_string(),
                "out-of-bounds write of 8 bytes at 0x2_0000_0200 (stack frame 0, 512 bytes)"
            );
            // Below frame 0 is the far end of the region before it.
            let below = memory.load(FRAME0_TOP - 0x201, Size::B).unwrap_err();
            assert_eq!(below.addr, 0x1_ffff_ffff);
            assert_eq!(below.cause, FaultCause::OutOfBounds { size: 8 });
            assert!(memory.bytes(CONTEXT + 0xffff_ffff, 2).is_err());
        });
    }

    #[test]
    fn null_unmapped_and_read_only_are_told_apart() {
        with_memory(|memory| {
            let null = memory.load(0x10, Size::W).unwrap_err();
            assert_eq!(null.to_string(), "null-pointer read of 4 bytes at 0x10");
            let idle = memory.load(0x5_0000_01f8, Size::DW).unwrap_err();
            assert_eq!(
                idle.to_string(),
                "read of 8 bytes at 0x5_0000_01f8: stack frame 3 is not mapped"
            );
            let far = memory.load(u64::MAX, Size::B).unwrap_err();
            assert_eq!(far.cause, FaultCause::Unmapped);
            assert_eq!(memory.load(PACKET, Size::W), Ok(0xaaaa_aaaa));
            let read_only = memory.store(PACKET, Size::B, 1).unwrap_err();
            assert_eq!(
                read_only.to_string(),
                "write of 1 byte at 0xa_0000_0000: packet (4 bytes) is read-only"
            );
            let atomic = memory.update(PACKET, Size::W, |v| v).unwrap_err();
            assert_eq!(atomic.kind, AccessKind::Atomic);
        });
    }

    #[test]
    fn frames_are_mapped_only_while_in_use() {
        with_memory(|memory| {
            let frame1 = RegionId::stack(1).unwrap().addr(0);
            assert!(memory.load(frame1, Size::B).is_err());
            memory.enter_frame(1);
            memory.store(frame1, Size::B, 7).unwrap();
            memory.leave_frame(1);
            assert!(memory.load(frame1, Size::B).is_err());
            memory.enter_frame(1);
            assert_eq!(memory.load(frame1, Size::B), Ok(7));
        });
    }

    #[test]
    fn a_reused_stack_is_zeroed_frame_by_frame() {
        let mut stack = [[0xee; STACK_FRAME_SIZE]; MAX_FRAMES];
        {
            let mut memory = Memory::new(&mut stack);
            let frame = |n| RegionId::stack(n).unwrap().addr(0);
            assert_eq!(memory.load(frame(0), Size::DW), Ok(0));
            memory.enter_frame(1);
            assert_eq!(memory.load(frame(1), Size::DW), Ok(0));
            memory.store(frame(1), Size::B, 5).unwrap();
            memory.leave_frame(1);
            memory.enter_frame(1);
            assert_eq!(memory.load(frame(1), Size::B), Ok(5), "same run: kept");
        }
        assert_eq!(stack[2][0], 0xee, "never entered: left alone");
    }

    #[test]
    fn update_returns_the_old_value() {
        with_memory(|memory| {
            let old = memory.update(CONTEXT, Size::W, |v| v + 1).unwrap();
            assert_eq!(old, 0x4433_2211);
            assert_eq!(memory.load(CONTEXT, Size::W), Ok(0x4433_2212));
        });
    }
}
