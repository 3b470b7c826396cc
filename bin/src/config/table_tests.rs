//! Tests that walk the table of keys, the help made from it and the redacted `Debug`.

use super::keys::KEYS;
use super::tests::env;
use super::*;
use camino::Utf8PathBuf;

/// Loads a config file holding `text`.
fn load_file(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().join("lora.toml")).unwrap();
    std::fs::write(&path, text).unwrap();
    Config::load(Some(&path), &env(&[]))
}

/// The help's entries: each variable's name and its text.
fn help_entries(help: &str) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in help.lines().skip_while(|l| !l.starts_with("  ")) {
        let rest = line.trim_start();
        let indent = line.len() - rest.len();
        match entries.last_mut() {
            Some((_, text)) if indent > 2 => {
                text.push(' ');
                text.push_str(rest);
            }
            _ => {
                let (name, text) = rest.split_once(' ').unwrap();
                entries.push((name.to_owned(), text.trim().to_owned()));
            }
        }
    }
    entries
}

/// The header's promise: every variable in the help is the file key of its lower-case
/// name without LORA_, or the help marks it "environment only" and the file refuses it.
#[test]
fn every_variable_in_the_help_is_a_file_key_or_marked_environment_only() {
    let help = env_help();
    let entries = help_entries(&help);
    assert_eq!(entries.len(), KEYS.len() + 1, "{entries:?}"); // and RUST_LOG
    for (name, text) in &entries {
        let file_key = name.trim_start_matches("LORA_").to_lowercase();
        let key = KEYS.iter().find(|k| k.env == name.as_str());
        let sample = key.map_or("\"x\"", |k| k.toml_sample);
        let loaded = load_file(&format!("{file_key} = {sample}\n"));
        if text.contains("(environment only)") {
            assert!(
                matches!(loaded, Err(ConfigError::ParseFile { .. })),
                "{name} is environment only, yet the file accepts {file_key}"
            );
            assert!(key.is_none_or(|k| k.file.is_none()), "{name}");
        } else {
            assert!(
                name.starts_with("LORA_"),
                "{name} is not marked environment only"
            );
            let key = key.unwrap();
            assert_eq!(key.file, Some(file_key.as_str()), "{name}");
            // Accepted, or refused for its value by this key's own converter.
            match loaded {
                Ok(_) => {}
                Err(ConfigError::Invalid { key: k, .. }) if k == key.env => {}
                Err(e) => panic!("{file_key} = {sample} in the file: {e}"),
            }
        }
        if let Some(key) = key {
            let default = (key.default)();
            assert!(
                text.ends_with(&format!("[default: {default}]")),
                "{name}: {text}"
            );
        }
    }
}

/// Environment names are unique, and an empty `LORA_*` variable is refused by name for
/// every key.
#[test]
fn every_empty_lora_variable_is_refused_by_name() {
    for (i, key) in KEYS.iter().enumerate() {
        assert!(
            KEYS[..i]
                .iter()
                .all(|k| k.env != key.env && k.file.is_none_or(|f| Some(f) != key.file)),
            "{} twice",
            key.env
        );
        for blank in ["", " \t"] {
            let loaded = Config::load(None, &env(&[(key.env, blank)]));
            if key.env.starts_with("LORA_") {
                let err = loaded.err().unwrap();
                assert!(
                    matches!(err, ConfigError::Empty { key: k } if k == key.env),
                    "{err}"
                );
            } else {
                assert!(loaded.is_ok(), "{}", key.env);
            }
        }
    }
}

/// Every key marked secret is hidden by `Debug`, from the environment and from the file.
#[test]
fn debug_hides_every_secret_key() {
    let secrets: Vec<_> = KEYS.iter().filter(|k| k.secret).collect();
    assert_eq!(
        secrets.len(),
        5,
        "jwt_secret, metrics_token, AWS secret, HF and Civitai tokens"
    );
    for key in secrets {
        let value = format!("hunter2-{}", key.env);
        let c = Config::load(
            None,
            &env(&[(key.env, value.as_str()), ("LORA_STORAGE_URL", "s3://b")]),
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(
            debug.contains("<redacted>") && !debug.contains(&value),
            "{debug}"
        );
        if let Some(file) = key.file {
            let c = load_file(&format!("{file} = \"{value}\"\n")).unwrap();
            let debug = format!("{c:?}");
            assert!(
                debug.contains("<redacted>") && !debug.contains(&value),
                "{debug}"
            );
        }
    }
}

/// No secret's value reaches `Debug`, wherever it came from.
#[test]
fn debug_never_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().join("lora.toml")).unwrap();
    std::fs::write(&path, "metrics_token = \"hunter2-metrics\"\n").unwrap();
    let c = Config::load(
        Some(&path),
        &env(&[
            ("LORA_JWT_SECRET", "hunter2-jwt"),
            ("LORA_STORAGE_URL", "s3://loras"),
            ("AWS_SECRET_ACCESS_KEY", "hunter2-aws"),
        ]),
    )
    .unwrap();
    assert!(c.metrics_token.is_some() && c.aws_secret_access_key.is_some());
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(
        debug.contains("metrics_token: Some(\"<redacted>\")"),
        "{debug}"
    );
    assert!(
        debug.contains("aws_secret_access_key: Some(\"<redacted>\")"),
        "{debug}"
    );
}

/// The help's AWS_REGION default is lora-fleet's.
#[test]
fn the_region_default_is_lora_fleets() {
    let key = KEYS.iter().find(|k| k.env == "AWS_REGION").unwrap();
    assert_eq!(
        (key.default)(),
        lora_fleet::FleetConfig::from_url("s3://b").unwrap().region
    );
}

/// Long entries wrap under the descriptions, and `[default: VALUE` is never split.
#[test]
fn the_help_is_wrapped() {
    let help = env_help();
    for line in help.lines() {
        assert!(line.chars().count() <= 88, "{line:?}");
        assert!(!line.ends_with("[default:"), "{line:?}");
    }
    assert!(help.contains(
        "\n  LORA_BIND                 address:port to listen on [default: 127.0.0.1:8000]\n"
    ));
}
