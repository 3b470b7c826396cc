//! The configuration's unit tests.

use super::*;
use camino::Utf8PathBuf;
use lora_inspect::BaseModel;
use std::collections::HashMap;

pub(super) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn defaults() {
    let c = Config::load(None, &env(&[])).unwrap();
    assert_eq!(c.bind.to_string(), "127.0.0.1:8000");
    assert_eq!(c.data_dir, "./data");
    assert_eq!(c.max_upload_bytes, 524_288_000);
    assert!(c.auth().unwrap().is_none());
}

#[test]
fn environment_wins_over_the_file_and_file_paths_are_relative_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().join("lora.toml")).unwrap();
    std::fs::write(&path, "bind = \"0.0.0.0:9000\"\ndata_dir = \"store\"\nmax_upload_bytes = 10\njwt_secret = \"from-file\"\n").unwrap();
    let c = Config::load(Some(&path), &env(&[("LORA_MAX_UPLOAD_BYTES", "20")])).unwrap();
    assert_eq!(c.bind.to_string(), "0.0.0.0:9000");
    assert_eq!(c.data_dir, path.parent().unwrap().join("store"));
    assert_eq!(c.max_upload_bytes, 20);
    assert!(c.auth().unwrap().is_some());
}

#[test]
fn bad_values_are_named() {
    let err = Config::load(None, &env(&[("LORA_BIND", "nowhere")]))
        .err()
        .unwrap();
    assert!(err.to_string().contains("LORA_BIND"));
    let err = Config::load(None, &env(&[("LORA_MAX_UPLOAD_BYTES", "lots")]))
        .err()
        .unwrap();
    assert!(err.to_string().contains("LORA_MAX_UPLOAD_BYTES"));
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().join("bad.toml")).unwrap();
    std::fs::write(&path, "colour = \"blue\"\n").unwrap();
    assert!(matches!(
        Config::load(Some(&path), &env(&[])),
        Err(ConfigError::ParseFile { .. })
    ));
}

#[test]
fn key_combinations() {
    let both = Config::load(
        None,
        &env(&[
            ("LORA_JWT_SECRET", "s"),
            ("LORA_JWT_PUBLIC_KEY_FILE", "k.pem"),
        ]),
    )
    .unwrap();
    assert!(both.auth().is_err());
    let no_alg = Config::load(None, &env(&[("LORA_JWT_PUBLIC_KEY_FILE", "k.pem")])).unwrap();
    assert!(no_alg.auth().is_err());
    let wrong_alg = Config::load(
        None,
        &env(&[("LORA_JWT_SECRET", "s"), ("LORA_JWT_ALGORITHM", "RS256")]),
    )
    .unwrap();
    assert!(wrong_alg.auth().is_err());
    let ok = Config::load(
        None,
        &env(&[
            ("LORA_JWT_SECRET", "s"),
            ("LORA_JWT_ALGORITHM", "hs256"),
            ("LORA_JWT_ISSUER", "me"),
        ]),
    )
    .unwrap();
    assert_eq!(ok.auth().unwrap().unwrap().issuer.as_deref(), Some("me"));
}

#[test]
fn fleet_mode_from_the_environment() {
    assert!(Config::load(None, &env(&[])).unwrap().fleet.is_none());
    let c = Config::load(
        None,
        &env(&[
            ("LORA_STORAGE_URL", "s3://loras/prod/"),
            ("LORA_S3_ENDPOINT", "http://127.0.0.1:8333"),
            ("LORA_S3_ALLOW_HTTP", "true"),
            ("LORA_SYNC_INTERVAL_SECS", "3"),
            ("LORA_ABANDONED_UPLOAD_SECS", "600"),
            ("AWS_ACCESS_KEY_ID", "id"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]),
    )
    .unwrap();
    let fleet = c.fleet.unwrap();
    assert_eq!(
        (fleet.bucket.as_str(), fleet.prefix.as_str()),
        ("loras", "prod")
    );
    assert_eq!(fleet.region, "us-east-1");
    assert_eq!(fleet.sync_interval, std::time::Duration::from_secs(3));
    assert_eq!(fleet.abandoned_after, std::time::Duration::from_secs(600));
    assert_eq!(
        fleet.copy_if_not_exists,
        lora_fleet::DEFAULT_COPY_IF_NOT_EXISTS
    );
    assert!(
        !format!("{fleet:?}").contains("secret\""),
        "the secret is redacted"
    );
    // Plain HTTP only when allowed; a bad URL or interval is named.
    for (vars, key) in [
        (
            vec![
                ("LORA_STORAGE_URL", "s3://loras"),
                ("LORA_S3_ENDPOINT", "http://127.0.0.1:8333"),
            ],
            "LORA_S3_ENDPOINT",
        ),
        (
            vec![("LORA_STORAGE_URL", "https://loras")],
            "LORA_STORAGE_URL",
        ),
        (
            vec![
                ("LORA_STORAGE_URL", "s3://loras"),
                ("LORA_SYNC_INTERVAL_SECS", "0"),
            ],
            "LORA_SYNC_INTERVAL_SECS",
        ),
    ] {
        let err = Config::load(None, &env(&vars)).err().unwrap();
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn other_kinds_are_refused_unless_accepted() {
    let default = Config::load(None, &env(&[])).unwrap();
    assert_eq!(default.admission(), lora_inspect::Admission::default());
    let c = Config::load(
        None,
        &env(&[
            ("LORA_ACCEPT_NON_LORA", "true"),
            ("LORA_ACCEPT_UNHEALTHY_WEIGHTS", "true"),
            (
                "LORA_ACCEPT_BASE_MODELS",
                "hunyuan_video, qwen_image, unknown",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.admission(),
        lora_inspect::Admission {
            base_models: Some(vec![
                BaseModel::HunyuanVideo,
                BaseModel::QwenImage,
                BaseModel::Unknown
            ]),
            non_lora: true,
            unhealthy_weights: true,
        }
    );
    let err = Config::load(None, &env(&[("LORA_ACCEPT_NON_LORA", "maybe")]))
        .err()
        .unwrap();
    assert!(err.to_string().contains("LORA_ACCEPT_NON_LORA"), "{err}");
}

#[test]
fn accepted_base_models() {
    let c = Config::load(None, &env(&[("LORA_ACCEPT_BASE_MODELS", "sdxl, Flux")])).unwrap();
    assert_eq!(
        c.accept_base_models,
        Some(vec![BaseModel::Sdxl, BaseModel::Flux])
    );
    assert!(Config::load(None, &env(&[("LORA_ACCEPT_BASE_MODELS", "sdxl,sd9")])).is_err());
    assert_eq!(
        Config::load(None, &env(&[])).unwrap().accept_base_models,
        None
    );
}

#[test]
fn an_empty_variable_is_refused_by_name() {
    for key in [
        "LORA_JWT_SECRET",
        "LORA_JWT_PUBLIC_KEY_FILE",
        "LORA_DATA_DIR",
        "LORA_ACCEPT_BASE_MODELS",
    ] {
        for blank in ["", "  "] {
            let err = Config::load(None, &env(&[(key, blank)])).err().unwrap();
            assert!(
                matches!(err, ConfigError::Empty { key: k } if k == key),
                "{err}"
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("{key} is set but empty"))
            );
        }
    }
}

/// Each variable overrides its own key only: a public key from the file and a secret
/// from the environment are both configured, and that is refused.
#[test]
fn a_file_key_and_an_environment_secret_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().join("lora.toml")).unwrap();
    std::fs::write(
        &path,
        "jwt_public_key_file = \"jwt.pem\"\njwt_algorithm = \"RS256\"\n",
    )
    .unwrap();
    let c = Config::load(Some(&path), &env(&[("LORA_JWT_SECRET", "s")])).unwrap();
    let err = c.auth().err().unwrap().to_string();
    assert!(
        err.contains("LORA_JWT_SECRET or jwt_secret") && err.contains("keep only one"),
        "{err}"
    );
}

#[test]
fn bin_retention_must_be_positive() {
    for bad in ["0", "-1", "NaN"] {
        let err = Config::load(None, &env(&[("LORA_BIN_RETENTION_DAYS", bad)]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("LORA_BIN_RETENTION_DAYS"), "{err}");
    }
    let c = Config::load(None, &env(&[("LORA_BIN_RETENTION_DAYS", "0.5")])).unwrap();
    assert_eq!(
        c.bin_retention,
        Some(std::time::Duration::from_secs(43_200))
    );
}

#[test]
fn an_allowlist_naming_nothing_is_refused() {
    let err = Config::load(None, &env(&[("LORA_ACCEPT_BASE_MODELS", " , ")]))
        .err()
        .unwrap();
    assert!(err.to_string().contains("names no base model"), "{err}");
}

/// `--help` names every variable the configuration reads, with the defaults.
#[test]
fn the_help_lists_every_variable_read() {
    let asked = std::cell::RefCell::new(Vec::new());
    let recording = |key: &str| {
        asked.borrow_mut().push(key.to_owned());
        None
    };
    let c = Config::load(None, &recording).unwrap();
    let asked = asked.into_inner();
    let help = env_help();
    assert!(asked.len() >= 12, "{asked:?}");
    for key in &asked {
        assert!(
            help.contains(key.as_str()),
            "{key} is missing from the help"
        );
    }
    assert!(help.contains(&format!("[default: {}]", c.bind)));
    assert!(help.contains(&format!("[default: {}]", c.data_dir)));
    assert!(help.contains(&format!("[default: {}]", c.max_upload_bytes)));
    assert!(help.contains(&format!("[default: {}]", c.shutdown_grace_secs)));
}

#[test]
fn debug_hides_the_secret() {
    let c = Config::load(None, &env(&[("LORA_JWT_SECRET", "hunter2-very-secret")])).unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
}

/// `LORA_LOG_FORMAT` is a key like the others: parsed once, refused when empty or unknown,
/// and the file may set it.
#[test]
fn the_log_format_is_text_or_json() {
    assert_eq!(
        Config::load(None, &env(&[])).unwrap().log_format,
        LogFormat::Text
    );
    let c = Config::load(None, &env(&[("LORA_LOG_FORMAT", " JSON ")])).unwrap();
    assert_eq!(c.log_format, LogFormat::Json);
    for blank in ["", " "] {
        let err = Config::load(None, &env(&[("LORA_LOG_FORMAT", blank)]))
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                ConfigError::Empty {
                    key: "LORA_LOG_FORMAT"
                }
            ),
            "{err}"
        );
    }
    let err = Config::load(None, &env(&[("LORA_LOG_FORMAT", "yaml")]))
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                key: "LORA_LOG_FORMAT",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("'yaml' is not text or json"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().join("lora.toml")).unwrap();
    std::fs::write(&path, "log_format = \"json\"\n").unwrap();
    let c = Config::load(Some(&path), &env(&[])).unwrap();
    assert_eq!(c.log_format, LogFormat::Json);
    let c = Config::load(Some(&path), &env(&[("LORA_LOG_FORMAT", "text")])).unwrap();
    assert_eq!(c.log_format, LogFormat::Text, "the environment wins");
}

/// The fleet keys are read whether or not fleet mode is on, so an empty one is refused
/// in every mode; AWS_* variables keep their own convention (empty means unset).
#[test]
fn fleet_keys_are_checked_outside_fleet_mode_too() {
    let err = Config::load(None, &env(&[("LORA_S3_ENDPOINT", "")]))
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            ConfigError::Empty {
                key: "LORA_S3_ENDPOINT"
            }
        ),
        "{err}"
    );
    let err = Config::load(None, &env(&[("LORA_SYNC_INTERVAL_SECS", "0")]))
        .err()
        .unwrap();
    assert!(err.to_string().contains("LORA_SYNC_INTERVAL_SECS"), "{err}");
    let c = Config::load(
        None,
        &env(&[("AWS_REGION", " "), ("AWS_ACCESS_KEY_ID", "")]),
    )
    .unwrap();
    assert!(c.aws_region.is_none() && c.aws_access_key_id.is_none());
    assert!(c.fleet.is_none());
}

/// Fleet mode from the file, with the region and credentials from the environment.
#[test]
fn fleet_mode_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().join("lora.toml")).unwrap();
    std::fs::write(
        &path,
        "storage_url = \"s3://loras/a\"\ns3_endpoint = \"https://r2.example\"\n\
         s3_copy_if_not_exists = \"multipart\"\nsync_interval_secs = 7\n",
    )
    .unwrap();
    let c = Config::load(
        Some(&path),
        &env(&[("AWS_REGION", "auto"), ("AWS_ACCESS_KEY_ID", "id")]),
    )
    .unwrap();
    let fleet = c.fleet.unwrap();
    assert_eq!(fleet.endpoint.as_deref(), Some("https://r2.example"));
    assert_eq!(fleet.copy_if_not_exists, "multipart");
    assert_eq!(fleet.sync_interval, std::time::Duration::from_secs(7));
    assert_eq!(fleet.region, "auto");
    assert_eq!(fleet.access_key_id.as_deref(), Some("id"));
}

/// The defaults are the other crates' own constants.
#[test]
fn defaults_come_from_the_crates_that_own_them() {
    let c = Config::load(None, &env(&[("LORA_STORAGE_URL", "s3://b")])).unwrap();
    assert_eq!(c.max_upload_bytes, lora_http::DEFAULT_MAX_UPLOAD_BYTES);
    assert_eq!(c.upload_idle_timeout, lora_http::DEFAULT_BODY_IDLE_TIMEOUT);
    assert_eq!(
        c.max_concurrent_uploads,
        lora_http::DEFAULT_MAX_CONCURRENT_UPLOADS
    );
    assert_eq!(c.upload_expiry, lora_http::DEFAULT_UPLOAD_EXPIRY);
    assert_eq!(
        std::time::Duration::from_secs(c.shutdown_grace_secs),
        lora_http::ServerOptions::default().shutdown_grace
    );
    let fleet = c.fleet.unwrap();
    assert_eq!(fleet, lora_fleet::FleetConfig::from_url("s3://b").unwrap());
}

#[test]
fn a_working_set_takes_a_positive_budget_pins_and_a_lease_up_to_a_day() {
    let fleet = [("LORA_STORAGE_URL", "s3://loras/p")];
    let ok = Config::load(
        None,
        &env(&[
            fleet[0],
            ("LORA_REPLICA_BUDGET_BYTES", "1000000"),
            ("LORA_REPLICA_PIN_TYPES", "styles, clothes"),
            ("LORA_REPLICA_LEASE_SECS", "0"),
        ]),
    )
    .unwrap();
    let f = ok.fleet.unwrap();
    assert_eq!(f.budget, Some(1_000_000));
    assert_eq!(
        f.pins,
        [
            lora_core::EntityType::Styles,
            lora_core::EntityType::Clothes
        ]
    );
    assert_eq!(ok.replica_lease, std::time::Duration::ZERO);
    for (key, bad) in [
        ("LORA_REPLICA_BUDGET_BYTES", "0"),
        ("LORA_REPLICA_BUDGET_BYTES", "lots"),
        ("LORA_REPLICA_BUDGET_BYTES", "-5"),
        ("LORA_REPLICA_PIN_TYPES", "robots"),
        ("LORA_REPLICA_LEASE_SECS", "86401"),
    ] {
        let e = Config::load(None, &env(&[fleet[0], (key, bad)])).unwrap_err();
        assert!(e.to_string().contains(key), "{key}={bad}: {e}");
    }
    // Without a budget: a complete replica, as before.
    let complete = Config::load(None, &env(&fleet)).unwrap();
    assert_eq!(complete.fleet.unwrap().budget, None);
}
