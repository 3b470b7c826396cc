use std::fmt;
use std::str::FromStr;

use crate::AuthError;

/// An HS256 shared secret. Its `Debug` output never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct HmacSecret(Vec<u8>);

impl HmacSecret {
    /// Wraps secret bytes (for HS256, at least 32 random bytes are advisable).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// 32 bytes from the operating system's random source, for development servers.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidKey`] if the operating system has no randomness to give.
    pub fn generate() -> Result<Self, AuthError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| AuthError::InvalidKey(format!("no random source: {e}")))?;
        // Hex keeps the secret printable, so it can be pasted into LORA_JWT_SECRET.
        Ok(Self(hex::encode(bytes).into_bytes()))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HmacSecret(<{} bytes redacted>)", self.0.len())
    }
}

/// The asymmetric algorithms a PEM public key may be used with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl FromStr for PublicKeyAlgorithm {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "RS256" => Ok(Self::Rs256),
            "ES256" => Ok(Self::Es256),
            "EDDSA" => Ok(Self::EdDsa),
            other => Err(AuthError::InvalidKey(format!(
                "unsupported public-key algorithm '{other}' (use RS256, ES256 or EdDSA)"
            ))),
        }
    }
}

/// The key tokens are verified with; it also fixes the one accepted algorithm.
#[derive(Debug, Clone)]
pub enum VerifyingKey {
    /// HS256 with a shared secret (which also lets the verifier mint tokens).
    Hs256(HmacSecret),
    /// A PEM public key for an asymmetric algorithm.
    PublicKey {
        /// The only algorithm accepted.
        algorithm: PublicKeyAlgorithm,
        /// The PEM text (`-----BEGIN PUBLIC KEY-----` …).
        pem: Vec<u8>,
    },
}

/// Everything a [`crate::Verifier`] needs.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The verification key and algorithm.
    pub key: VerifyingKey,
    /// When set, tokens must carry exactly this `iss`.
    pub issuer: Option<String>,
    /// When set, tokens must name this audience in `aud`.
    pub audience: Option<String>,
    /// Clock leeway for `exp` (and `nbf`), in seconds; capped at 60.
    pub leeway_secs: u64,
}

impl AuthConfig {
    /// HS256 with `secret`, no issuer or audience check, 30 s of leeway.
    pub fn hs256(secret: HmacSecret) -> Self {
        Self {
            key: VerifyingKey::Hs256(secret),
            issuer: None,
            audience: None,
            leeway_secs: 30,
        }
    }

    /// A PEM public key for `algorithm`, no issuer or audience check, 30 s of leeway.
    pub fn public_key(algorithm: PublicKeyAlgorithm, pem: Vec<u8>) -> Self {
        Self {
            key: VerifyingKey::PublicKey { algorithm, pem },
            issuer: None,
            audience: None,
            leeway_secs: 30,
        }
    }
}
