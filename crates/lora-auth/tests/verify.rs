//! The verifier against hand-made tokens: forged, expired, wrong algorithm, missing claims.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lora_auth::{AuthConfig, AuthError, HmacSecret, PublicKeyAlgorithm, Role, Verifier};
use serde_json::{Value, json};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs_verifier() -> Verifier {
    Verifier::new(AuthConfig::hs256(HmacSecret::new(SECRET.to_vec()))).unwrap()
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
}

fn hs(claims: &Value) -> String {
    sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET), claims)
}

fn valid(role: &str) -> Value {
    json!({"sub": "alice", "exp": now() + 600, "role": role})
}

fn key(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn invalid(result: Result<lora_auth::Claims, AuthError>) -> String {
    match result {
        Err(AuthError::InvalidToken(reason)) => reason,
        other => panic!("expected InvalidToken, got {other:?}"),
    }
}

#[test]
fn roles_come_from_the_role_claim() {
    let v = hs_verifier();
    assert_eq!(v.verify(&hs(&valid("admin"))).unwrap().role(), Role::Admin);
    assert_eq!(v.verify(&hs(&valid("user"))).unwrap().role(), Role::User);
    assert_eq!(v.verify(&hs(&valid("Admin"))).unwrap().role(), Role::User);
    let no_role = json!({"sub": "a", "exp": now() + 60});
    assert_eq!(v.verify(&hs(&no_role)).unwrap().role(), Role::User);
    let odd_role = json!({"sub": "a", "exp": now() + 60, "role": ["admin"]});
    assert_eq!(v.verify(&hs(&odd_role)).unwrap().role(), Role::User);
}

#[test]
fn alg_none_is_refused() {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(valid("admin").to_string());
    for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
        invalid(hs_verifier().verify(&token));
    }
}

#[test]
fn a_wrong_secret_is_a_bad_signature() {
    let forged = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"guess"),
        &valid("admin"),
    );
    assert_eq!(invalid(hs_verifier().verify(&forged)), "bad signature");
}

#[test]
fn a_tampered_payload_is_a_bad_signature() {
    let token = hs(&valid("user"));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(valid("admin").to_string());
    assert_eq!(
        invalid(hs_verifier().verify(&parts.join("."))),
        "bad signature"
    );
}

#[test]
fn only_the_configured_algorithm_is_accepted() {
    let hs384 = sign(
        Algorithm::HS384,
        &EncodingKey::from_secret(SECRET),
        &valid("admin"),
    );
    assert_eq!(
        invalid(hs_verifier().verify(&hs384)),
        "algorithm not accepted"
    );

    // HS/RS confusion: an HS256 token signed with the RSA public key's bytes.
    let public = key("rsa_public.pem");
    let rs = Verifier::new(AuthConfig::public_key(
        PublicKeyAlgorithm::Rs256,
        public.clone(),
    ))
    .unwrap();
    let confused = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(&public),
        &valid("admin"),
    );
    assert_eq!(invalid(rs.verify(&confused)), "algorithm not accepted");
}

#[test]
fn public_key_algorithms_verify_their_own_tokens() {
    let cases = [
        (
            PublicKeyAlgorithm::Rs256,
            Algorithm::RS256,
            "rsa",
            EncodingKey::from_rsa_pem as fn(&[u8]) -> _,
        ),
        (
            PublicKeyAlgorithm::Es256,
            Algorithm::ES256,
            "ec",
            EncodingKey::from_ec_pem,
        ),
        (
            PublicKeyAlgorithm::EdDsa,
            Algorithm::EdDSA,
            "ed",
            EncodingKey::from_ed_pem,
        ),
    ];
    for (ours, alg, name, load) in cases {
        let v = Verifier::new(AuthConfig::public_key(
            ours,
            key(&format!("{name}_public.pem")),
        ))
        .unwrap();
        let private = load(&key(&format!("{name}_private.pem"))).unwrap();
        let claims = v.verify(&sign(alg, &private, &valid("admin"))).unwrap();
        assert_eq!(claims.role(), Role::Admin, "{name}");
        assert!(
            v.mint(Role::Admin, "x", 60).is_err(),
            "{name} must not mint"
        );
    }
}

#[test]
fn a_public_key_of_the_wrong_type_is_a_configuration_error() {
    let err = Verifier::new(AuthConfig::public_key(
        PublicKeyAlgorithm::Es256,
        key("rsa_public.pem"),
    ));
    assert!(matches!(err, Err(AuthError::InvalidKey(_))));
    let err = Verifier::new(AuthConfig::hs256(HmacSecret::new(Vec::new())));
    assert!(matches!(err, Err(AuthError::InvalidKey(_))));
}

#[test]
fn expired_tokens_are_refused_beyond_the_leeway() {
    let v = hs_verifier();
    let long_ago = json!({"sub": "a", "exp": now() - 3600, "role": "admin"});
    assert!(matches!(v.verify(&hs(&long_ago)), Err(AuthError::Expired)));
    let just_now = json!({"sub": "a", "exp": now() - 5, "role": "admin"});
    assert!(v.verify(&hs(&just_now)).is_ok(), "inside the 30 s leeway");
}

#[test]
fn sub_and_exp_are_required() {
    let v = hs_verifier();
    assert!(invalid(v.verify(&hs(&json!({"exp": now() + 60})))).contains("sub"));
    assert!(invalid(v.verify(&hs(&json!({"sub": "a"})))).contains("exp"));
    invalid(v.verify(&hs(&json!({"sub": "", "exp": now() + 60}))));
    invalid(v.verify(&hs(&json!({"sub": 42, "exp": now() + 60}))));
    invalid(v.verify(&hs(&json!({"sub": "a", "exp": "tomorrow"}))));
}

#[test]
fn issuer_and_audience_are_checked_when_configured() {
    let mut config = AuthConfig::hs256(HmacSecret::new(SECRET.to_vec()));
    config.issuer = Some("backend".into());
    config.audience = Some("compute".into());
    let v = Verifier::new(config).unwrap();
    let good = json!({"sub": "a", "exp": now() + 60, "iss": "backend", "aud": "compute"});
    assert!(v.verify(&hs(&good)).is_ok());
    let in_list = json!({"sub": "a", "exp": now() + 60, "iss": "backend", "aud": ["x", "compute"]});
    assert!(v.verify(&hs(&in_list)).is_ok());
    for bad in [
        json!({"sub": "a", "exp": now() + 60, "iss": "other", "aud": "compute"}),
        json!({"sub": "a", "exp": now() + 60, "iss": "backend", "aud": "other"}),
        json!({"sub": "a", "exp": now() + 60, "aud": "compute"}),
        json!({"sub": "a", "exp": now() + 60, "iss": "backend"}),
    ] {
        invalid(v.verify(&hs(&bad)));
    }
    // Minted tokens carry the configured issuer and audience.
    let minted = v.mint(Role::Admin, "ops", 60).unwrap();
    assert_eq!(v.verify(&minted).unwrap().role(), Role::Admin);
}

#[test]
fn unconfigured_audience_is_not_checked() {
    let with_aud = json!({"sub": "a", "exp": now() + 60, "aud": "anything"});
    assert!(hs_verifier().verify(&hs(&with_aud)).is_ok());
}

#[test]
fn header_parsing() {
    let v = hs_verifier();
    let token = hs(&valid("admin"));
    assert!(matches!(
        v.verify_header(None),
        Err(AuthError::MissingCredentials)
    ));
    assert!(matches!(
        v.verify_header(Some("")),
        Err(AuthError::InvalidScheme)
    ));
    assert!(matches!(
        v.verify_header(Some(&format!("Basic {token}"))),
        Err(AuthError::InvalidScheme)
    ));
    assert!(matches!(
        v.verify_header(Some("Bearer ")),
        Err(AuthError::InvalidScheme)
    ));
    assert!(v.verify_header(Some(&format!("bearer {token}"))).is_ok());
    invalid(v.verify_header(Some("Bearer not.a.jwt")));
    invalid(v.verify_header(Some("Bearer garbage")));
}

#[test]
fn users_are_forbidden_admin_routes() {
    let v = hs_verifier();
    let user = format!("Bearer {}", hs(&valid("user")));
    let admin = format!("Bearer {}", hs(&valid("admin")));
    assert!(matches!(
        v.authorize(Some(&user), Role::Admin),
        Err(AuthError::Forbidden)
    ));
    assert!(v.authorize(Some(&user), Role::User).is_ok());
    assert!(v.authorize(Some(&admin), Role::Admin).is_ok());
    assert!(v.authorize(Some(&admin), Role::User).is_ok());
}

#[test]
fn debug_output_hides_secrets() {
    let secret = HmacSecret::new(SECRET.to_vec());
    assert!(!format!("{secret:?}").contains("0123"));
    assert!(!format!("{:?}", AuthConfig::hs256(secret)).contains("0123"));
    assert!(!format!("{:?}", hs_verifier()).contains("0123"));
}

#[test]
fn generated_secrets_are_random_and_printable() {
    let a = HmacSecret::generate().unwrap();
    let b = HmacSecret::generate().unwrap();
    assert_ne!(a, b);
    let v = Verifier::new(AuthConfig::hs256(a)).unwrap();
    let token = v.mint(Role::User, "dev", 60).unwrap();
    assert_eq!(v.verify(&token).unwrap().sub(), "dev");
}
