use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use crate::claims::{MintClaims, WireClaims};
use crate::{AuthConfig, AuthError, Claims, PublicKeyAlgorithm, Role, VerifyingKey};

/// The most clock leeway a configuration may ask for.
const MAX_LEEWAY_SECS: u64 = 60;

/// Checks bearer tokens against one key and one algorithm.
///
/// Cheap to share: build it once and put it behind an `Arc`.
pub struct Verifier {
    decoding: DecodingKey,
    validation: Validation,
    encoding: Option<EncodingKey>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithms", &self.validation.algorithms)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.validation.leeway)
            .field("can_mint", &self.encoding.is_some())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Builds a verifier.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidKey`] for an empty secret or a PEM that is not a public key of
    /// the configured algorithm's type.
    pub fn new(config: AuthConfig) -> Result<Self, AuthError> {
        let (algorithm, decoding, encoding) = match &config.key {
            VerifyingKey::Hs256(secret) => {
                if secret.bytes().is_empty() {
                    return Err(AuthError::InvalidKey("the HS256 secret is empty".into()));
                }
                (
                    Algorithm::HS256,
                    DecodingKey::from_secret(secret.bytes()),
                    Some(EncodingKey::from_secret(secret.bytes())),
                )
            }
            VerifyingKey::PublicKey { algorithm, pem } => {
                let (alg, key) = match algorithm {
                    PublicKeyAlgorithm::Rs256 => (Algorithm::RS256, DecodingKey::from_rsa_pem(pem)),
                    PublicKeyAlgorithm::Es256 => (Algorithm::ES256, DecodingKey::from_ec_pem(pem)),
                    PublicKeyAlgorithm::EdDsa => (Algorithm::EdDSA, DecodingKey::from_ed_pem(pem)),
                };
                let key = key.map_err(|e| {
                    AuthError::InvalidKey(format!("the {alg:?} public key PEM is not usable: {e}"))
                })?;
                (alg, key, None)
            }
        };

        let mut validation = Validation::new(algorithm);
        let mut required = vec!["exp", "sub"];
        validation.leeway = config.leeway_secs.min(MAX_LEEWAY_SECS);
        validation.validate_nbf = true;
        match &config.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &config.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);

        Ok(Self {
            decoding,
            validation,
            encoding,
            issuer: config.issuer,
            audience: config.audience,
        })
    }

    /// Verifies a bare token.
    ///
    /// # Errors
    ///
    /// [`AuthError::Expired`] for an expired token, [`AuthError::InvalidToken`] for
    /// anything else wrong with it.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let data = jsonwebtoken::decode::<WireClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::InvalidToken("bad signature".into()),
                ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                    AuthError::InvalidToken("algorithm not accepted".into())
                }
                ErrorKind::MissingRequiredClaim(c) => {
                    AuthError::InvalidToken(format!("missing required claim '{c}'"))
                }
                ErrorKind::InvalidIssuer => AuthError::InvalidToken("wrong issuer".into()),
                ErrorKind::InvalidAudience => AuthError::InvalidToken("wrong audience".into()),
                ErrorKind::ImmatureSignature => AuthError::InvalidToken("not valid yet".into()),
                ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => {
                    AuthError::InvalidToken("claims are not of the expected form".into())
                }
                _ => AuthError::InvalidToken("malformed token".into()),
            })?;
        data.claims.try_into()
    }

    /// Verifies the value of an `Authorization` header (`Bearer <token>`, scheme in any case).
    ///
    /// # Errors
    ///
    /// [`AuthError::MissingCredentials`] without a header, [`AuthError::InvalidScheme`]
    /// when it is not a bearer token, and [`Verifier::verify`]'s errors.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Claims, AuthError> {
        let header = header.ok_or(AuthError::MissingCredentials)?;
        let (scheme, token) = header
            .trim()
            .split_once(' ')
            .ok_or(AuthError::InvalidScheme)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::InvalidScheme);
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::InvalidScheme);
        }
        self.verify(token)
    }

    /// Verifies the header and checks that its role satisfies `required`.
    ///
    /// # Errors
    ///
    /// [`Verifier::verify_header`]'s errors, and [`AuthError::Forbidden`] for a valid
    /// token whose role is not enough.
    pub fn authorize(&self, header: Option<&str>, required: Role) -> Result<Claims, AuthError> {
        let claims = self.verify_header(header)?;
        if claims.role().satisfies(required) {
            Ok(claims)
        } else {
            Err(AuthError::Forbidden)
        }
    }

    /// Mints a token for `sub` with `role`, valid for `ttl_secs`, carrying the configured
    /// issuer and audience. Only an HS256 verifier can mint.
    ///
    /// # Errors
    ///
    /// [`AuthError::CannotMint`] without an HS256 secret.
    pub fn mint(&self, role: Role, sub: &str, ttl_secs: u64) -> Result<String, AuthError> {
        let key = self.encoding.as_ref().ok_or_else(|| {
            AuthError::CannotMint(
                "only an HS256 secret can mint; this verifier holds a public key".into(),
            )
        })?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let claims = MintClaims {
            sub,
            role: role.as_str(),
            iat: now,
            exp: now.saturating_add(ttl_secs),
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
            .map_err(|e| AuthError::CannotMint(e.to_string()))
    }
}
