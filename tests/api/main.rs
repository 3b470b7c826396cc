//! The contract suite: one test binary that starts the real server on `127.0.0.1:0` for
//! each test and talks raw HTTP/1.1 to it, so that hostile requests (bad multipart,
//! `Expect: 100-continue`, disconnects) can be written exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod auth;
mod bin;
mod catalogue;
mod ensure;
mod errors;
mod evaluation;
mod events;
mod files;
mod health;
mod metrics;
mod statuses;
mod tus;
mod upload;
mod weights;
