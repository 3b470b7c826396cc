use serde::{Deserialize, Serialize};

use crate::AuthError;

/// What a verified token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `role: "admin"`: every route.
    Admin,
    /// Any other role, or none: the user routes only.
    User,
}

impl Role {
    /// Whether a holder of this role may use a route that requires `required`.
    pub fn satisfies(self, required: Role) -> bool {
        matches!(
            (self, required),
            (Role::Admin, _) | (Role::User, Role::User)
        )
    }

    /// The `role` claim value minted for this role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

/// The verified facts of a token that the service uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    sub: String,
    role: Role,
    exp: u64,
}

impl Claims {
    /// The subject: who the token was issued to (used in logs).
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// The role derived from the `role` claim.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Expiry, in seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.exp
    }
}

/// The claims as they come out of the token; `role` may be any JSON value.
#[derive(Deserialize)]
pub(crate) struct WireClaims {
    #[serde(default)]
    sub: Option<String>,
    exp: u64,
    #[serde(default)]
    role: Option<serde_json::Value>,
}

impl TryFrom<WireClaims> for Claims {
    type Error = AuthError;

    fn try_from(wire: WireClaims) -> Result<Self, AuthError> {
        let sub = match wire.sub {
            None => {
                return Err(AuthError::InvalidToken(
                    "missing required claim 'sub'".into(),
                ));
            }
            Some(s) if s.trim().is_empty() => {
                return Err(AuthError::InvalidToken("empty 'sub' claim".into()));
            }
            Some(s) => s,
        };
        let role = match wire.role {
            Some(serde_json::Value::String(r)) if r == "admin" => Role::Admin,
            _ => Role::User,
        };
        Ok(Claims {
            sub,
            role,
            exp: wire.exp,
        })
    }
}

/// The claims written by [`crate::Verifier::mint`].
#[derive(Serialize)]
pub(crate) struct MintClaims<'a> {
    pub sub: &'a str,
    pub role: &'a str,
    pub iat: u64,
    pub exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<&'a str>,
}
