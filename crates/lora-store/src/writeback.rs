//! Write-back of a large upload while it is still arriving.
//!
//! Left alone, the kernel keeps an upload's pages dirty until the closing fsync, which
//! then has to write the whole file while the client waits (≈0.3 s for 500 MiB here,
//! with the CPUs idle). Every [`EVERY`] bytes this starts an `fdatasync` on another thread
//! (unless the previous one is still running), so the disk works while the network does
//! and the closing fsync only waits for the tail. The closing fsync is unchanged: this
//! only moves work earlier, it never replaces the durability point.
//!
//! A background `fdatasync` shares the open file description with the writer, so a
//! write-back error it sees would not be reported again to the closing fsync: its result
//! is therefore kept and returned by [`Writeback::finish`].

use std::fs::File;
use std::io;
use std::thread::JoinHandle;

/// Bytes written between two background flushes.
const EVERY: u64 = 8 << 20;

#[derive(Debug)]
pub(crate) struct Writeback {
    /// Bytes between two flushes.
    every: u64,
    /// The write size at which the next flush may start.
    next_at: u64,
    running: Option<JoinHandle<io::Result<()>>>,
    error: Option<io::Error>,
}

impl Default for Writeback {
    fn default() -> Self {
        Self::every(EVERY)
    }
}

impl Writeback {
    /// Flushes every `every` bytes (a resumable upload's PATCH, which must be durable
    /// when it is answered, flushes more often so its closing fsync waits for less).
    pub(crate) fn every(every: u64) -> Self {
        Self {
            every,
            next_at: every,
            running: None,
            error: None,
        }
    }

    /// Called after each write, with the bytes handed to `file` so far.
    pub(crate) fn wrote(&mut self, file: &File, written: u64) {
        if written < self.next_at || self.running.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        self.next_at = written + self.every;
        self.collect();
        // A clone that cannot be made, or a thread that cannot start, only costs speed:
        // the closing fsync still writes everything.
        if let Ok(clone) = file.try_clone()
            && let Ok(handle) = std::thread::Builder::new()
                .name("lora-writeback".into())
                .spawn(move || clone.sync_data())
        {
            self.running = Some(handle);
        }
    }

    /// Waits for a flush in flight; the first error any flush met, if one did.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        self.collect();
        self.error.take().map_or(Ok(()), Err)
    }

    fn collect(&mut self) {
        if let Some(handle) = self.running.take() {
            let result = handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("write-back thread panicked")));
            if let Err(e) = result {
                self.error.get_or_insert(e);
            }
        }
    }
}
