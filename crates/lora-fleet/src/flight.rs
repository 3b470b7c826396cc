//! One download per file at a time: concurrent ensures of one file wait for the first to
//! finish (and then find it on disk) instead of each downloading it.

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex, PoisonError};

use lora_core::PartialPath;

/// The files being brought onto this disk now.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    busy: Mutex<BTreeSet<PartialPath>>,
    done: Condvar,
}

/// The one flight of a file; the next waiter goes when it is dropped.
#[derive(Debug)]
pub(crate) struct Flight<'a> {
    flights: &'a Flights,
    path: PartialPath,
}

impl Flights {
    /// Downloads under way.
    pub(crate) fn len(&self) -> usize {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Waits until no one else brings `path` here, then holds it.
    pub(crate) fn take(&self, path: &PartialPath) -> Flight<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        while busy.contains(path) {
            busy = self.done.wait(busy).unwrap_or_else(PoisonError::into_inner);
        }
        busy.insert(path.clone());
        Flight {
            flights: self,
            path: path.clone(),
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.flights
            .busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.path);
        self.flights.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn one_flight_per_file_at_a_time() {
        let flights = Arc::new(Flights::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let path = PartialPath::parse("styles/a.pt").unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (flights, inside, path) =
                    (Arc::clone(&flights), Arc::clone(&inside), path.clone());
                std::thread::spawn(move || {
                    let _flight = flights.take(&path);
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two at once");
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Another file is never held up by this one.
        let _a = flights.take(&path);
        let _b = flights.take(&PartialPath::parse("styles/b.pt").unwrap());
    }
}
