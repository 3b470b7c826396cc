//! Permissions as extractors: a handler that takes [`AdminClaims`] cannot run without an
//! admin token, and the check happens from the headers, before any of the body is read.

use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use actix_web::{FromRequest, HttpRequest, web};
use lora_auth::{Claims, Role};

use crate::{ApiError, AppState};

/// The claims of a verified admin token. Only the extractor makes one, so holding it
/// proves the request carried an admin token.
#[derive(Debug, Clone)]
pub struct AdminClaims(Claims);

/// The claims of a verified token of any role. Only the extractor makes one.
#[derive(Debug, Clone)]
pub struct UserClaims(Claims);

impl AdminClaims {
    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.0
    }
}

impl UserClaims {
    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.0
    }
}

pub(crate) fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    role: Role,
) -> Result<Claims, ApiError> {
    // A header that is not visible ASCII cannot hold a JWT: treat it as a malformed one.
    let header = match headers.get(AUTHORIZATION) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| lora_auth::AuthError::InvalidScheme)?,
        ),
    };
    Ok(state.verifier.authorize(header, role)?)
}

fn extract(req: &HttpRequest, role: Role) -> Result<Claims, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or(ApiError::Internal(
            "AppState is not registered: mount the routes with lora_http::configure",
        ))?;
    authorize(state, req.headers(), role)
}

impl FromRequest for AdminClaims {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(extract(req, Role::Admin).map(AdminClaims))
    }
}

impl FromRequest for UserClaims {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(extract(req, Role::User).map(UserClaims))
    }
}

impl Deref for AdminClaims {
    type Target = Claims;
    fn deref(&self) -> &Claims {
        &self.0
    }
}

impl Deref for UserClaims {
    type Target = Claims;
    fn deref(&self) -> &Claims {
        &self.0
    }
}
