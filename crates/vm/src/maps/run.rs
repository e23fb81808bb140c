//! The maps side of one run: which maps region ids and handles name, the
//! CPU, live ring buffer reservations and a pending tail call.

use std::sync::Arc;

use crate::interpreter::Interpreter;
use crate::layout::{MAP_FIRST, MAX_RESERVATIONS, RegionId, offset_of};
use crate::maps::map::{Map, ProgramMaps};
use crate::maps::ringbuf::RecordPos;
use crate::maps::storage::ValueStore;

/// A reserved ring buffer record, whose bytes are the region at
/// `RegionId::reservation(slot)` until submit or discard.
#[derive(Debug)]
pub(crate) struct Reservation {
    pub(crate) map: Arc<Map>,
    pub(crate) pos: RecordPos,
}

#[derive(Debug, Default)]
pub(crate) struct RunMaps {
    /// The running program's maps: map `n` is region `MAP_FIRST + n`.
    table: Option<Arc<ProgramMaps>>,
    /// Inner maps a map-in-map lookup returned, numbered after the table.
    extra: Vec<Arc<Map>>,
    pub(crate) reservations: [Option<Reservation>; MAX_RESERVATIONS],
    pub(crate) cpu: u32,
    /// Set by `bpf_tail_call`, taken by the interpreter.
    pub(crate) tail_call: Option<Arc<Interpreter>>,
    /// Tail calls taken in this run.
    pub(crate) tail_calls: u32,
}

impl RunMaps {
    /// Makes `table` the maps ids and handles name (at the start of a run
    /// and on a tail call, which brings the target's maps).
    pub(crate) fn set_table(&mut self, table: Option<Arc<ProgramMaps>>) {
        self.table = table;
        self.extra.clear();
    }

    /// Whether `table` names the same maps by the same numbers as the
    /// table now does (programs of one object share their maps).
    pub(crate) fn holds_table(&self, table: Option<&Arc<ProgramMaps>>) -> bool {
        let held = self.table_maps();
        let table = table.map_or(&[][..], |t| t.as_slice());
        held.len() == table.len() && held.iter().zip(table).all(|(a, b)| Arc::ptr_eq(a, b))
    }

    /// The table, when there is one.
    #[cfg_attr(not(native_jit), allow(dead_code))] // for native code
    pub(crate) fn table(&self) -> Option<&Arc<ProgramMaps>> {
        self.table.as_ref()
    }

    /// The maps of the table, in order: map `n` is region `MAP_FIRST + n`.
    pub(crate) fn table_maps(&self) -> &[Arc<Map>] {
        self.table.as_deref().map_or(&[], ProgramMaps::as_slice)
    }

    /// The map numbered `index` in this run.
    pub(crate) fn map(&self, index: u32) -> Option<&Arc<Map>> {
        let (index, table) = (index as usize, self.table_maps());
        match index.checked_sub(table.len()) {
            None => table.get(index),
            Some(extra) => self.extra.get(extra),
        }
    }

    /// The values region `id` names.
    pub(crate) fn values(&self, id: RegionId) -> Option<&ValueStore> {
        let index = (id.index() as u64).checked_sub(MAP_FIRST.into())?;
        self.map(u32::try_from(index).ok()?)?.values()
    }

    /// The map a handle register names, and its number.
    pub(crate) fn by_handle(&self, handle: u64) -> Option<(u32, &Arc<Map>)> {
        if RegionId::of(handle) != RegionId::MAP_HANDLES {
            return None;
        }
        let index = offset_of(handle);
        Some((index, self.map(index)?))
    }

    /// The number of `map` in this run, adding it after the table if it is
    /// new (an inner map).
    pub(crate) fn intern(&mut self, map: Arc<Map>) -> Option<u32> {
        let mut maps = self.table_maps().iter().chain(self.extra.iter());
        let index = match maps.position(|m| Arc::ptr_eq(m, &map)) {
            Some(index) => index,
            None => {
                self.extra.push(map);
                self.table_maps().len() + self.extra.len() - 1
            }
        };
        let index = u32::try_from(index).ok()?;
        RegionId::map(index).map(|_| index)
    }

    /// Discards every reservation the run did not submit or discard, so a
    /// consumer is not blocked by a record that will never complete (the
    /// kernel's verifier refuses such programs).
    pub(crate) fn discard_reservations(&mut self) {
        for reservation in self.reservations.iter_mut().filter_map(Option::take) {
            if let Some(ring) = reservation.map.as_ringbuf() {
                ring.discard(reservation.pos);
            }
        }
    }
}
