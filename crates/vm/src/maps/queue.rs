//! `QUEUE` (FIFO) and `STACK` (LIFO): values without keys. Push takes
//! `BPF_ANY` (fail when full) or `BPF_EXIST` (drop the oldest value to make
//! room); pop and peek fail with ENOENT when empty.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::maps::def::MapDef;
use crate::maps::error::{MapError, UpdateMode};
use crate::maps::lock::lock;

#[derive(Debug)]
pub(crate) struct QueueStack {
    max_entries: u32,
    lifo: bool,
    values: Mutex<VecDeque<Box<[u8]>>>,
}

impl QueueStack {
    pub(crate) fn new(def: &MapDef, lifo: bool) -> QueueStack {
        QueueStack {
            max_entries: def.max_entries,
            lifo,
            values: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn push(&self, value: &[u8], mode: UpdateMode) -> Result<(), MapError> {
        let mut values = lock(&self.values);
        if values.len() >= self.max_entries as usize {
            match mode {
                UpdateMode::Exist => {
                    // The oldest is the front for both kinds.
                    values.pop_front();
                }
                _ => {
                    return Err(MapError::Full {
                        max_entries: self.max_entries,
                    });
                }
            }
        }
        values.push_back(value.into());
        Ok(())
    }

    /// The value pop would take, without taking it.
    pub(crate) fn peek(&self) -> Option<Vec<u8>> {
        let values = lock(&self.values);
        let value = if self.lifo {
            values.back()
        } else {
            values.front()
        };
        value.map(|v| v.to_vec())
    }

    pub(crate) fn pop(&self) -> Option<Vec<u8>> {
        let mut values = lock(&self.values);
        let value = if self.lifo {
            values.pop_back()
        } else {
            values.pop_front()
        };
        value.map(Vec::from)
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.values).len()
    }
}
