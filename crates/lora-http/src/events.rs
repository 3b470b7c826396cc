//! What changed in the catalogue, as events a pipeline can follow (`GET /api/v1/events`,
//! Server-Sent Events): a bounded history to resume from with `Last-Event-ID`, and a
//! broadcast to every subscriber that drops the ones that fall behind (they resume).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use lora_core::{EntityType, PartialPath, Sha256};
use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

/// Events kept for resuming: a client that was away for fewer than this many changes
/// catches up; one that was away longer gets `reset` and lists again.
pub(crate) const HISTORY: usize = 10_000;
/// Events a subscriber may fall behind the newest before it is dropped (its buffer).
pub(crate) const SUBSCRIBER_BUFFER: usize = 1024;
/// How often an idle stream gets a comment, so proxies and clients see it is alive
/// (`AppState::with_event_heartbeat` changes it).
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A file arrived (an upload, a restore, a file placed by hand or on another node).
    Added,
    /// A file went into the bin (or vanished from the folder).
    Removed,
    /// A binned file came back (an `added` for its new path follows).
    Restored,
    /// A binned file was removed for good.
    Purged,
    /// The user's metadata of a file changed.
    Meta,
    /// Fleet mode: this node now holds a copy of the file.
    Replicated,
    /// Fleet mode: this node no longer holds its copy (the file stays in the bucket).
    Evicted,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "added",
            EventKind::Removed => "removed",
            EventKind::Restored => "restored",
            EventKind::Purged => "purged",
            EventKind::Meta => "meta",
            EventKind::Replicated => "replicated",
            EventKind::Evicted => "evicted",
        }
    }
}

/// One change, as a subscriber receives it (the SSE `data:` line; `event:` is its
/// `type`, `id:` its `id`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Event {
    /// Monotonic within a server's life (microseconds since the epoch, or one more than
    /// the last when the clock stands still).
    pub id: u64,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The file (for `purged`, its path in the bin).
    pub partial_path: String,
    /// Its entity type.
    pub entity_type: EntityType,
    /// Its SHA-256, when known.
    pub sha256: Option<Sha256>,
    /// The node the change was seen on.
    pub node: String,
    /// When (RFC 3339, UTC).
    pub at: String,
}

/// The event that tells a client to list again (`event: reset`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ResetEvent {
    /// Always `reset`.
    #[serde(rename = "type")]
    #[schema(example = "reset")]
    pub kind: String,
    /// Why.
    pub reason: String,
}

/// What a `data:` line of the stream holds: a change, or a reset.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum StreamEvent {
    /// A change.
    Change(Event),
    /// List again.
    Reset(ResetEvent),
}

/// One frame of the stream as Server-Sent Events parse it: `event` names it, `data` holds
/// a `StreamEvent` as JSON, `id` its id (to send back as `Last-Event-ID`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SseFrame {
    /// `added`, `removed`, `restored`, `purged`, `meta` or `reset`.
    pub event: Option<String>,
    /// The event as JSON (a `StreamEvent`).
    pub data: Option<String>,
    /// The event's id (absent on `reset`).
    pub id: Option<String>,
    /// The reconnection delay the server asks for, in milliseconds (first frame).
    pub retry: Option<u64>,
}

/// The events of one server.
#[derive(Debug)]
pub(crate) struct Events {
    /// How often an idle stream gets a comment, in milliseconds.
    heartbeat_ms: std::sync::atomic::AtomicU64,
    node: String,
    sender: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

/// Where a subscriber starts.
pub(crate) enum Start {
    /// Every event after the one it last saw.
    Replay(Vec<Event>),
    /// Its last event is no longer in the history (or never was in this server's): it
    /// must list again.
    Reset,
}

impl Events {
    pub(crate) fn new() -> Self {
        let node = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        Self {
            heartbeat_ms: std::sync::atomic::AtomicU64::new(DEFAULT_HEARTBEAT.as_millis() as u64),
            node,
            sender: broadcast::channel(SUBSCRIBER_BUFFER).0,
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }

    /// How often an idle stream gets a comment.
    pub(crate) fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Sets how often an idle stream gets a comment (at least every millisecond).
    pub(crate) fn set_heartbeat(&self, every: Duration) {
        let ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
        self.heartbeat_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records and broadcasts a change of `path`.
    pub(crate) fn emit(&self, kind: EventKind, path: &PartialPath, sha256: Option<Sha256>) {
        let now = time::OffsetDateTime::now_utc();
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let micros = u64::try_from(now.unix_timestamp_nanos() / 1000).unwrap_or(0);
        let id = history
            .back()
            .map_or(micros, |last| micros.max(last.id + 1));
        let event = Event {
            id,
            kind,
            partial_path: path.to_string(),
            entity_type: path.entity(),
            sha256,
            node: self.node.clone(),
            at: lora_core::timestamp::format(now),
        };
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(event.clone());
        // Sent under the lock, so subscribers see ids in order. No subscriber: fine.
        let _ = self.sender.send(event);
    }

    /// A subscription from `last_id` (the client's `Last-Event-ID`, if any): what it
    /// missed and the live events after that, with no gap and no repeat between them.
    pub(crate) fn subscribe(&self, last_id: Option<u64>) -> (Start, broadcast::Receiver<Event>) {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let receiver = self.sender.subscribe();
        let start = match last_id {
            None => Start::Replay(Vec::new()),
            Some(last) => {
                let newest = history.back().map(|e| e.id);
                let oldest = history.front().map(|e| e.id);
                match (oldest, newest) {
                    // Nothing happened since this server started, or the client is up
                    // to date.
                    (_, Some(newest)) if last == newest => Start::Replay(Vec::new()),
                    // Within the history: replay what came after.
                    (Some(oldest), Some(newest))
                        if last.saturating_add(1) >= oldest && last < newest =>
                    {
                        Start::Replay(history.iter().filter(|e| e.id > last).cloned().collect())
                    }
                    _ => Start::Reset,
                }
            }
        };
        (start, receiver)
    }
}

/// One event as its SSE frame.
pub(crate) fn frame(event: &Event) -> String {
    let data = serde_json::to_string(&StreamEvent::Change(event.clone())).unwrap_or_default();
    format!(
        "id: {}\nevent: {}\ndata: {data}\n\n",
        event.id,
        event.kind.as_str()
    )
}

/// The frame telling a client to list again (its resume point is gone).
pub(crate) fn reset_frame() -> String {
    let reset = ResetEvent {
        kind: "reset".into(),
        reason: "the events since Last-Event-ID are no longer kept: list again".into(),
    };
    let data = serde_json::to_string(&StreamEvent::Reset(reset)).unwrap_or_default();
    format!("event: reset\ndata: {data}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> PartialPath {
        PartialPath::parse(&format!("styles/{name}")).unwrap()
    }

    #[test]
    fn ids_are_monotonic_and_a_resume_replays_exactly_what_was_missed() {
        let events = Events::new();
        let (_, mut live) = events.subscribe(None);
        for name in ["a.safetensors", "b.safetensors", "c.safetensors"] {
            events.emit(EventKind::Added, &path(name), None);
        }
        let first = live.try_recv().unwrap();
        let ids: Vec<u64> = events
            .history
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert!(ids.windows(2).all(|w| w[1] > w[0]), "{ids:?}");
        let Start::Replay(missed) = events.subscribe(Some(first.id)).0 else {
            panic!("within the history");
        };
        let names: Vec<&str> = missed.iter().map(|e| e.partial_path.as_str()).collect();
        assert_eq!(names, ["styles/b.safetensors", "styles/c.safetensors"]);
        assert!(matches!(events.subscribe(Some(ids[2])).0, Start::Replay(v) if v.is_empty()));
        // Ids from before this server's history, or from another server's: reset.
        assert!(matches!(events.subscribe(Some(1)).0, Start::Reset));
        assert!(matches!(events.subscribe(Some(u64::MAX)).0, Start::Reset));
        assert!(frame(&first).starts_with(&format!("id: {}\nevent: added\ndata: {{", first.id)));
    }

    #[test]
    fn the_history_is_bounded_and_a_slow_subscriber_falls_behind() {
        let events = Events::new();
        let (_, mut slow) = events.subscribe(None);
        for i in 0..HISTORY + 5 {
            events.emit(EventKind::Added, &path(&format!("{i}.safetensors")), None);
        }
        assert_eq!(events.history.lock().unwrap().len(), HISTORY);
        assert!(matches!(
            slow.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
    }
}
