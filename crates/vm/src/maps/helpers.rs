//! The map helpers, numbered as in the kernel's `include/uapi/linux/bpf.h`.
//!
//! Keys and values are guest pointers read and written through the run's
//! [`Memory`] with the program's own checks; a fault stops the program
//! with an error naming the helper. Map failures are returned in r0 as
//! `-errno`, as the kernel does. A register that should hold a map handle
//! and does not is an error (the kernel's verifier would have refused the
//! program).

use std::sync::Arc;

use crate::helpers::{Helper, HelperError, HelperOutcome, Helpers};
use crate::layout::{MAX_RESERVATIONS, RegionId};
use crate::maps::def::MapKind;
use crate::maps::error::{Errno, MapError, UpdateMode};
use crate::maps::map::{Found, Map, MapOps};
use crate::maps::ringbuf::RingQuery;
use crate::maps::run::Reservation;
use crate::memory::Memory;
use crate::region::Region;

/// Helper ids (`BPF_FUNC_*`).
pub mod ids {
    /// `void *bpf_map_lookup_elem(map, key)`.
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    /// `long bpf_map_update_elem(map, key, value, flags)`.
    pub const MAP_UPDATE_ELEM: u32 = 2;
    /// `long bpf_map_delete_elem(map, key)`.
    pub const MAP_DELETE_ELEM: u32 = 3;
    /// `u32 bpf_get_smp_processor_id(void)`.
    pub const GET_SMP_PROCESSOR_ID: u32 = 8;
    /// `long bpf_tail_call(ctx, prog_array_map, index)`.
    pub const TAIL_CALL: u32 = 12;
    /// `long bpf_perf_event_output(ctx, map, flags, data, size)`.
    pub const PERF_EVENT_OUTPUT: u32 = 25;
    /// `long bpf_map_push_elem(map, value, flags)`.
    pub const MAP_PUSH_ELEM: u32 = 87;
    /// `long bpf_map_pop_elem(map, value)`.
    pub const MAP_POP_ELEM: u32 = 88;
    /// `long bpf_map_peek_elem(map, value)`.
    pub const MAP_PEEK_ELEM: u32 = 89;
    /// `long bpf_ringbuf_output(ringbuf, data, size, flags)`.
    pub const RINGBUF_OUTPUT: u32 = 130;
    /// `void *bpf_ringbuf_reserve(ringbuf, size, flags)`.
    pub const RINGBUF_RESERVE: u32 = 131;
    /// `void bpf_ringbuf_submit(data, flags)`.
    pub const RINGBUF_SUBMIT: u32 = 132;
    /// `void bpf_ringbuf_discard(data, flags)`.
    pub const RINGBUF_DISCARD: u32 = 133;
    /// `u64 bpf_ringbuf_query(ringbuf, flags)`.
    pub const RINGBUF_QUERY: u32 = 134;
}

/// The kernel's `MAX_TAIL_CALL_CNT`: tail calls one run may take.
pub const MAX_TAIL_CALLS: u32 = 33;
/// `BPF_F_INDEX_MASK` of `bpf_perf_event_output` flags.
const PERF_INDEX_MASK: u64 = 0xffff_ffff;
/// `BPF_F_CURRENT_CPU`.
const PERF_CURRENT_CPU: u64 = PERF_INDEX_MASK;
/// `BPF_F_CTXLEN_MASK`.
const PERF_CTXLEN_MASK: u64 = 0xf_ffff << 32;
/// `BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP`: accepted, meaningless here.
const RB_WAKEUP_FLAGS: u64 = 3;

type Outcome = Result<HelperOutcome, HelperError>;
type HelperBody = fn([u64; 5], &mut Memory<'_>) -> Outcome;

/// Every helper of this module, with its id and kernel name.
pub(crate) const MAP_HELPERS: [(u32, &str, HelperBody); 14] = [
    (ids::MAP_LOOKUP_ELEM, "map_lookup_elem", lookup),
    (ids::MAP_UPDATE_ELEM, "map_update_elem", update),
    (ids::MAP_DELETE_ELEM, "map_delete_elem", delete),
    (
        ids::GET_SMP_PROCESSOR_ID,
        "get_smp_processor_id",
        processor_id,
    ),
    (ids::TAIL_CALL, "tail_call", tail_call),
    (
        ids::PERF_EVENT_OUTPUT,
        "perf_event_output",
        perf_event_output,
    ),
    (ids::MAP_PUSH_ELEM, "map_push_elem", push),
    (ids::MAP_POP_ELEM, "map_pop_elem", pop),
    (ids::MAP_PEEK_ELEM, "map_peek_elem", peek),
    (ids::RINGBUF_OUTPUT, "ringbuf_output", ringbuf_output),
    (ids::RINGBUF_RESERVE, "ringbuf_reserve", ringbuf_reserve),
    (ids::RINGBUF_SUBMIT, "ringbuf_submit", ringbuf_submit),
    (ids::RINGBUF_DISCARD, "ringbuf_discard", ringbuf_discard),
    (ids::RINGBUF_QUERY, "ringbuf_query", ringbuf_query),
];

impl Helpers {
    /// Registers the map helpers (lookup, update, delete, push, pop, peek,
    /// the ring buffer five, perf_event_output, tail_call and
    /// get_smp_processor_id) under their kernel ids, replacing what was
    /// registered there.
    pub fn register_map_helpers(&mut self) {
        for (id, name, body) in MAP_HELPERS {
            self.insert(map_helper(id, name, body));
        }
    }

    /// Registers the map helpers at the ids nothing is registered at yet.
    pub(crate) fn register_missing_map_helpers(&mut self) {
        for (id, name, body) in MAP_HELPERS {
            if self.index_of(id).is_none() {
                self.insert(map_helper(id, name, body));
            }
        }
    }
}

fn map_helper(id: u32, name: &str, body: HelperBody) -> Helper {
    Helper {
        id,
        name: name.to_owned(),
        call: Box::new(body),
        tail_call: id == ids::TAIL_CALL,
    }
}

fn returned(value: u64) -> Outcome {
    Ok(HelperOutcome::Return(value))
}

/// r0 for a map operation: 0, or `-errno`.
fn status(result: Result<(), MapError>) -> Outcome {
    returned(result.map_or_else(|e| e.helper_return(), |()| 0))
}

fn errno(errno: Errno) -> u64 {
    (-i64::from(errno.0)) as u64
}

/// The map handle in argument register `reg`.
fn map_arg<'m>(
    memory: &'m Memory<'_>,
    reg: u8,
    handle: u64,
) -> Result<(u32, &'m Arc<Map>), HelperError> {
    memory
        .maps
        .by_handle(handle)
        .ok_or(HelperError::BadArgument {
            reg,
            value: handle,
            reason: "not a map handle (load one with lddw map[idx:N])",
        })
}

fn read(memory: &Memory<'_>, addr: u64, len: usize) -> Result<Vec<u8>, HelperError> {
    let mut out = vec![0; len];
    memory.read(addr, &mut out)?;
    Ok(out)
}

fn lookup(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let (index, map) = map_arg(memory, 1, args[0])?;
    let key = memory.bytes(args[1], map.def().key_size as usize)?;
    let inner = match map
        .program_lookup(&key, memory.cpu())
        .map_err(HelperError::Map)?
    {
        Found::Missing => return returned(0),
        Found::Value(element) => {
            let offset = map.values().map_or(0, |v| v.guest_offset(element));
            return returned(RegionId::map(index).map_or(0, |id| id.addr(offset)));
        }
        Found::Map(inner) => inner,
    };
    drop(key);
    let inner = memory.maps.intern(inner);
    returned(inner.map_or(0, RegionId::map_handle))
}

fn update(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let (_, map) = map_arg(memory, 1, args[0])?;
    let key = memory.bytes(args[1], map.def().key_size as usize)?;
    let value = memory.bytes(args[2], map.def().value_size as usize)?;
    let result = UpdateMode::from_flags(args[3])
        .and_then(|mode| map.program_update(&key, &value, mode, memory.cpu()));
    match result {
        Err(error @ MapError::NoSuchCpu { .. }) => Err(HelperError::Map(error)),
        result => status(result),
    }
}

fn delete(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let (_, map) = map_arg(memory, 1, args[0])?;
    let key = memory.bytes(args[1], map.def().key_size as usize)?;
    status(map.delete(&key))
}

fn processor_id(_: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    returned(memory.cpu().into())
}

fn push(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let (_, map) = map_arg(memory, 1, args[0])?;
    let value = read(memory, args[1], map.def().value_size as usize)?;
    status(UpdateMode::from_flags(args[2]).and_then(|mode| map.push(&value, mode)))
}

fn pop_or_peek(args: [u64; 5], memory: &mut Memory<'_>, take: bool) -> Outcome {
    let (_, map) = map_arg(memory, 1, args[0])?;
    // Check the destination before taking the value, so a fault loses
    // nothing.
    let len = map.def().value_size as usize;
    read(memory, args[1], len)?;
    match map.pop(take) {
        Ok(value) => {
            memory.write(args[1], &value)?;
            returned(0)
        }
        Err(error) => returned(error.helper_return()),
    }
}

fn pop(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    pop_or_peek(args, memory, true)
}

fn peek(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    pop_or_peek(args, memory, false)
}

fn tail_call(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let (_, map) = map_arg(memory, 2, args[1])?;
    if map.kind() != MapKind::ProgArray {
        return Err(HelperError::BadArgument {
            reg: 2,
            value: args[1],
            reason: "tail calls need a prog_array map",
        });
    }
    // As in the kernel, a failed tail call returns to the program, which
    // goes on after the call.
    match map.tail_call_target(args[2]) {
        Some(target) if memory.maps.tail_calls < MAX_TAIL_CALLS => {
            memory.maps.tail_calls += 1;
            memory.maps.tail_call = Some(target);
            Ok(HelperOutcome::TailCall)
        }
        _ => returned(errno(Errno::ENOENT)),
    }
}

fn perf_event_output(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let (_, map) = map_arg(memory, 2, args[1])?;
    let flags = args[2];
    let Some(perf) = map.as_perf_event_array() else {
        return Err(HelperError::BadArgument {
            reg: 2,
            value: args[1],
            reason: "perf_event_output needs a perf_event_array map",
        });
    };
    // Appending context bytes (BPF_F_CTXLEN_MASK) needs a program type's
    // context; not supported.
    if flags & !(PERF_INDEX_MASK | PERF_CTXLEN_MASK) != 0 || flags & PERF_CTXLEN_MASK != 0 {
        return returned(errno(Errno::EINVAL));
    }
    let index = match flags & PERF_INDEX_MASK {
        PERF_CURRENT_CPU => memory.cpu(),
        index => index as u32,
    };
    let data = read(memory, args[3], size_arg(args[4], 5)?)?;
    status(perf.output(index, &data))
}

/// A size argument as a host length (guest memory checks bound it).
fn size_arg(size: u64, reg: u8) -> Result<usize, HelperError> {
    usize::try_from(size).map_err(|_| HelperError::BadArgument {
        reg,
        value: size,
        reason: "size does not fit in memory",
    })
}

fn ring_arg(memory: &Memory<'_>, handle: u64) -> Result<Arc<Map>, HelperError> {
    let (_, map) = map_arg(memory, 1, handle)?;
    match map.kind() {
        MapKind::RingBuf => Ok(Arc::clone(map)),
        _ => Err(HelperError::BadArgument {
            reg: 1,
            value: handle,
            reason: "not a ringbuf map",
        }),
    }
}

fn ringbuf_output(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let map = ring_arg(memory, args[0])?;
    if args[3] & !RB_WAKEUP_FLAGS != 0 {
        return returned(errno(Errno::EINVAL));
    }
    let data = read(memory, args[1], size_arg(args[2], 3)?)?;
    let written = map.as_ringbuf().is_some_and(|ring| ring.output(&data));
    returned(if written { 0 } else { errno(Errno::EAGAIN) })
}

fn ringbuf_reserve(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let map = ring_arg(memory, args[0])?;
    let (size, flags) = (args[1], args[2]);
    let free = memory.maps.reservations.iter().position(Option::is_none);
    let (Some(slot), Some(ring), 0) = (free, map.as_ringbuf(), flags) else {
        return returned(0);
    };
    let (Some(id), Some(pos)) = (RegionId::reservation(slot), ring.reserve(size)) else {
        return returned(0);
    };
    memory.map(id, Region::owned(vec![0; size as usize].into()));
    memory.maps.reservations[slot] = Some(Reservation { map, pos });
    returned(id.addr(0))
}

/// Ends the reservation `addr` points at: submits its bytes or discards.
fn end_reservation(addr: u64, memory: &mut Memory<'_>, submit: bool) -> Outcome {
    let slot = (0..MAX_RESERVATIONS)
        .find(|&slot| RegionId::reservation(slot).map(|id| id.addr(0)) == Some(addr));
    let reservation = slot.and_then(|slot| memory.maps.reservations[slot].take());
    let (Some(slot), Some(reservation)) = (slot, reservation) else {
        return Err(HelperError::BadArgument {
            reg: 1,
            value: addr,
            reason: "not a live ring buffer reservation",
        });
    };
    let bytes = RegionId::reservation(slot)
        .and_then(|id| memory.unmap(id))
        .map(Region::into_owned)
        .unwrap_or_default();
    if let Some(ring) = reservation.map.as_ringbuf() {
        match submit {
            true => ring.submit(reservation.pos, &bytes),
            false => ring.discard(reservation.pos),
        }
    }
    returned(0)
}

fn ringbuf_submit(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    end_reservation(args[0], memory, true)
}

fn ringbuf_discard(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    end_reservation(args[0], memory, false)
}

fn ringbuf_query(args: [u64; 5], memory: &mut Memory<'_>) -> Outcome {
    let map = ring_arg(memory, args[0])?;
    let value = match (map.as_ringbuf(), RingQuery::from_flags(args[1])) {
        (Some(ring), Some(query)) => ring.query(query),
        _ => 0,
    };
    returned(value)
}
