//! Request ids and the access log.
//!
//! Every request gets an id: the client's `X-Request-Id` when it sends a sane one (1–128
//! visible ASCII characters), else 16 random hex digits. It is echoed in the response and
//! carried by a tracing span around the handler, so every log line the request causes
//! (the access line, the audit line, errors) names it.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

/// The header carrying the request id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// The request id of the request being handled, for handlers that log.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The client's id if it is sane, else a fresh one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(fresh_id, str::to_owned)
}

fn fresh_id() -> String {
    let mut raw = [0u8; 8];
    // Without randomness, a counter still tells requests apart within one process.
    if getrandom::fill(&mut raw).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        raw = NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    }
    hex::encode(raw)
}

/// The middleware: id, span, access line, `X-Request-Id` on the response.
pub(crate) async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let peer = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let metrics = req
        .app_data::<actix_web::web::Data<crate::AppState>>()
        .map(|state| std::sync::Arc::clone(&state.metrics));
    if let Some(m) = &metrics {
        m.in_flight.inc();
        let announced = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(n) = announced {
            m.bytes_received.inc_by(n);
        }
    }
    let span = tracing::info_span!("request", request_id = %id);
    let result = next.call(req).instrument(span.clone()).await;
    if let Some(m) = &metrics {
        m.in_flight.dec();
    }
    let mut response = result?;
    if let (Ok(name), Ok(value)) = (HeaderName::try_from(REQUEST_ID), HeaderValue::from_str(&id)) {
        response.headers_mut().insert(name, value);
    }
    let status = response.status().as_u16();
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    if let Some(m) = &metrics {
        let seconds = started.elapsed().as_secs_f64();
        m.requests
            .get_or_create(&crate::observe::metrics::HttpLabels {
                route: route.clone(),
                method: method.clone(),
                status,
            })
            .observe(seconds);
        if status == 401 || status == 403 {
            m.auth_failures
                .get_or_create(&crate::observe::metrics::Status { status })
                .inc();
        }
        let refused = response
            .response()
            .error()
            .and_then(|e| e.as_error::<crate::ApiError>())
            .map(crate::ApiError::reason);
        if let Some(reason) = refused
            && method != "GET"
            && method != "HEAD"
        {
            m.refused(reason);
        }
    }
    let _entered = span.enter();
    tracing::info!(
        target: "lora_http::access",
        peer = %peer,
        method = %method,
        path = %path,
        route = %route,
        status,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn a_clients_id_is_kept_only_when_sane() {
        let req = TestRequest::default()
            .insert_header((REQUEST_ID, "abc-123"))
            .to_srv_request();
        assert_eq!(request_id(&req), "abc-123");
        let long = "x".repeat(200);
        let req = TestRequest::default()
            .insert_header((REQUEST_ID, long.as_str()))
            .to_srv_request();
        assert_eq!(request_id(&req).len(), 16);
        let req = TestRequest::default()
            .insert_header((REQUEST_ID, "has space"))
            .to_srv_request();
        assert_ne!(request_id(&req), "has space");
    }
}
