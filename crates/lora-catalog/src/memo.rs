//! Answers remembered for one index generation: a pipeline polling its filter costs no
//! SQL while nothing changed.

use std::collections::HashMap;
use std::sync::Mutex;

/// Answers remembered by key for the index generation they were read in; a bounded
/// map, emptied when full (the keys a fleet polls are few, and a write makes them all
/// stale anyway).
#[derive(Debug)]
pub(crate) struct Remembered<T> {
    kept: usize,
    map: Mutex<HashMap<String, (u64, T)>>,
}

impl<T: Clone> Remembered<T> {
    pub(crate) fn new(kept: usize) -> Self {
        Self {
            kept,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, key: &str, generation: u64) -> Option<T> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn put(&self, key: String, generation: u64, value: T) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.kept {
            map.clear();
        }
        map.insert(key, (generation, value));
    }
}
