//! JWT verification for the LoRA file service.
//!
//! A [`Verifier`] is built once from an [`AuthConfig`] and then checks
//! `Authorization: Bearer <JWT>` headers:
//!
//! * exactly one algorithm is accepted, the configured one: HS256 with a shared secret, or
//!   RS256 / ES256 / EdDSA with a PEM public key (never `none`, no HS/RS confusion);
//! * `sub` and `exp` are required; `iss` and `aud` are checked when configured; the clock
//!   leeway is [`AuthConfig::leeway_secs`] (30 s by default);
//! * the `role` claim decides the [`Role`]: `"admin"` is an admin, anything else a user.
//!
//! This crate knows nothing of HTTP frameworks; `lora-http` turns its [`AuthError`]s into
//! 401 (with `WWW-Authenticate: Bearer`) and 403 answers.
//!
//! ```
//! use lora_auth::{AuthConfig, HmacSecret, Role, Verifier};
//!
//! let verifier = Verifier::new(AuthConfig::hs256(HmacSecret::new(b"a long shared secret".to_vec())))?;
//! let token = verifier.mint(Role::User, "backend", 3600)?;
//!
//! let claims = verifier.verify_header(Some(&format!("Bearer {token}")))?;
//! assert_eq!(claims.sub(), "backend");
//! assert_eq!(claims.role(), Role::User);
//! assert!(verifier.authorize(Some(&format!("Bearer {token}")), Role::Admin).is_err());
//! # Ok::<(), lora_auth::AuthError>(())
//! ```
#![deny(missing_docs)]

mod claims;
mod config;
mod error;
mod verifier;

pub use claims::{Claims, Role};
pub use config::{AuthConfig, HmacSecret, PublicKeyAlgorithm, VerifyingKey};
pub use error::AuthError;
pub use verifier::Verifier;
