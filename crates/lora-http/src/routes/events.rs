//! `GET /api/v1/events`: the catalogue's changes as Server-Sent Events.

use std::convert::Infallible;

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use tokio::sync::broadcast::error::RecvError;

use crate::error::HttpError;
use crate::events::{SseFrame, Start, frame, reset_frame};
use crate::{ApiError, AppState, UserClaims};

/// Follow changes (Server-Sent Events).
///
/// A `text/event-stream` of `added`, `removed`, `restored`, `purged` and `meta` events
/// (and in fleet mode `replicated` and `evicted`, for this node's copies),
/// each with `id`, `type`, `partial_path`, `entity_type`, `sha256`, `node` and `at` (the
/// `Event` schema). Reconnect with `Last-Event-ID` to get what was missed: the last 10,000
/// events are kept; older (or from before the server started) answers a `reset` event,
/// after which the client lists again. A comment line every 15 s keeps idle streams
/// alive; a client that falls 1,024 events behind is disconnected and resumes the same way.
/// User and admin tokens.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "lora",
    operation_id = "events",
    params(
        ("Last-Event-ID" = Option<u64>, Header, description = "The id of the last event received"),
    ),
    responses(
        (status = 200, description = "The event stream (text/event-stream; each `data:` line is an Event, or a ResetEvent)", body = SseFrame, content_type = "text/event-stream"),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 500, description = "Unexpected failure", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn stream(
    _claims: UserClaims,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let last = req.headers().get("Last-Event-ID").map(|v| {
        // An id this server cannot read is one it never sent: start over.
        v.to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
    });
    let (start, receiver) = state.events.subscribe(last);
    let heartbeat = state.events.heartbeat();
    let mut first = vec!["retry: 3000\n\n".to_owned()];
    match start {
        Start::Replay(missed) => first.extend(missed.iter().map(frame)),
        Start::Reset => first.push(reset_frame()),
    }
    let body = futures_util::stream::unfold(
        (first.into_iter(), receiver),
        move |(mut pending, mut live)| async move {
            if let Some(text) = pending.next() {
                return Some((Ok::<_, Infallible>(Bytes::from(text)), (pending, live)));
            }
            let next = match actix_web::rt::time::timeout(heartbeat, live.recv()).await {
                Err(_) => Bytes::from_static(b": keep-alive\n\n"),
                Ok(Ok(event)) => Bytes::from(frame(&event)),
                // Fallen too far behind, or shutting down: the client resumes with
                // Last-Event-ID.
                Ok(Err(RecvError::Lagged(_) | RecvError::Closed)) => return None,
            };
            Some((Ok(next), (pending, live)))
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
