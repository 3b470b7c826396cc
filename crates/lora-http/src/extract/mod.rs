//! What handlers take from a request before they act: permissions from the headers
//! (`auth`), typed JSON bodies (`json`), and the multipart parts' `Content-Disposition`
//! (`disposition`).

pub(crate) mod auth;
pub(crate) mod disposition;
pub(crate) mod json;
