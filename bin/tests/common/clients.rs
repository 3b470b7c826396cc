//! The tus clients nobody on this project wrote (tuspy from PyPI, tus-js-client and the
//! reference server `@tus/server` from npm), installed into the target folder on first
//! use; shared by the test binaries that drive them (each uses some of them).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub(crate) fn tools() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("tus-clients")
}

/// `tools()/{dir}`, made once by `install` (given the folder) unless `marker` is there.
pub(crate) fn installed(
    cell: &'static OnceLock<PathBuf>,
    dir: &str,
    marker: &str,
    install: fn(&Path) -> Command,
) -> &'static Path {
    cell.get_or_init(|| {
        let dir = tools().join(dir);
        if !dir.join(marker).exists() {
            std::fs::create_dir_all(&dir).unwrap();
            let ok = install(&dir).status().expect("the installer runs");
            assert!(ok.success(), "installing into {} failed", dir.display());
        }
        dir
    })
}

pub(crate) fn npm(dir: &Path, packages: &[&str]) -> Command {
    let mut cmd = Command::new("npm");
    cmd.args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .args(packages);
    cmd
}

/// `pip install --target dir package`.
pub(crate) fn pip(dir: &Path, package: &str) -> Command {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
    ])
    .arg(dir)
    .arg(package);
    cmd
}

/// `PYTHONPATH` holding tuspy (installed from PyPI once).
pub(crate) fn tuspy() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    installed(&DIR, "python", "tusclient", |dir| pip(dir, "tuspy==1.1.0"))
}

/// The folder whose `node_modules` holds tus-js-client (installed from npm once).
pub(crate) fn tus_js() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    installed(&DIR, "node", "node_modules/tus-js-client", |dir| {
        npm(dir, &["tus-js-client@4.3.1"])
    })
}

/// The folder whose `node_modules` holds the reference server `@tus/server` with its
/// file store (installed from npm once).
pub(crate) fn tus_reference_server() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    installed(&DIR, "reference", "node_modules/@tus/file-store", |dir| {
        npm(dir, &["@tus/server@2.4.5", "@tus/file-store@2.1.1"])
    })
}

/// A tuspy client: `python3 -c TUSPY ENDPOINT TOKEN PATH NAME MODE [ARG]`. `start` sends
/// 1 MiB PATCHes until ARG MiB and prints the upload's URL; `big` goes on at the URL ARG
/// in one 16 MiB PATCH at a time; `resume` goes on at the URL ARG in 1 MiB PATCHes and
/// prints the offset it ended at.
pub(crate) const TUSPY: &str = r#"
import sys
from tusclient import client
endpoint, token, path, name, mode, arg = sys.argv[1:7]
c = client.TusClient(endpoint, headers={"Authorization": "Bearer " + token})
meta = {"filename": name, "entity_type": "styles"}
if mode == "start":
    u = c.uploader(path, chunk_size=1 << 20, metadata=meta)
    u.upload(stop_at=int(arg) << 20)
    print(u.url)
elif mode == "big":
    u = c.uploader(path, chunk_size=16 << 20, url=arg, metadata=meta)
    u.upload()
else:
    u = c.uploader(path, chunk_size=1 << 20, url=arg, metadata=meta)
    u.upload()
    print(u.offset)
"#;

/// `PYTHONPATH` holding openapi-python-client and what its clients import (httpx, attrs),
/// installed from PyPI once.
pub(crate) fn openapi_python_client() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    installed(&DIR, "openapi-python", "openapi_python_client", |dir| {
        pip(dir, "openapi-python-client==0.29.1")
    })
}
