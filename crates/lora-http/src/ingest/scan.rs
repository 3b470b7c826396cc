//! The content check's scan riding on a staging file's hashing thread: the weights are
//! checked, and the tensor data hashed, as the bytes arrive.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use lora_inspect::{ContentCheck, Incoming, Scanned};
use lora_store::Tap;

/// Hands a staging file's bytes to the check's [`Incoming`] and sends what it found when
/// the file is complete.
struct ScanTap {
    incoming: Incoming,
    done: SyncSender<Scanned>,
}

impl Tap for ScanTap {
    fn see(&mut self, chunk: &[u8]) {
        self.incoming.see(chunk);
    }

    fn end(self: Box<Self>) {
        // The session may be gone (a refused upload); then nobody needs the result.
        let _ = self.done.send(self.incoming.finish());
    }
}

/// The tap for `check`'s scan and where its result arrives, when the check has one.
pub(crate) fn scan_for(check: &dyn ContentCheck) -> Option<(Box<dyn Tap>, Receiver<Scanned>)> {
    let incoming = check.incoming()?;
    let (done, result) = sync_channel(1);
    Some((Box::new(ScanTap { incoming, done }), result))
}
