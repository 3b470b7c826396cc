//! Answers for what no route handles, in the contract's JSON shape.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};

use crate::ApiError;

pub(crate) async fn not_found() -> HttpResponse {
    ApiError::RouteNotFound.error_response()
}

/// A handler answering 405 with `Allow: {allow}`.
pub(crate) fn method_not_allowed(allow: &'static str) -> actix_web::Route {
    actix_web::web::to(move || async move { ApiError::MethodNotAllowed { allow }.error_response() })
}

/// Last line of defence: any error response that is not JSON yet (one produced inside the
/// framework, say) gets `{"detail": "<reason phrase>"}` instead of its text or HTML body.
pub(crate) fn json_errors<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let detail = status.canonical_reason().unwrap_or("Error");
    let (req, mut response) = res.into_parts();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = serde_json::to_string(&crate::error::HttpError {
        detail: detail.to_owned(),
    })
    .unwrap_or_default();
    let response = response.set_body(BoxBody::new(body));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
