//! The web console at `/console/` in a real browser: headless Chromium driven through
//! chromedriver's W3C WebDriver HTTP API (a few JSON requests over a TCP socket, no
//! client crate). It fails when chromedriver is not installed (`.ci/run` installs it):
//! without a browser it would prove nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

#[path = "common/source.rs"]
mod source;

const EXE: &str = env!("CARGO_BIN_EXE_lora-server");
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const XSS_IMG: &str = r#"<img src=x onerror="window.__pwned=1">"#;
const XSS_SCRIPT: &str = "<script>window.__pwned=1</script>";

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `serve` in development mode on a free loopback port: its address and tokens.
fn serve_dev(data: &Path) -> (Killed, String, String, String) {
    let mut child = Command::new(EXE)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LORA_DATA_DIR", data)
        .env("LORA_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        // Installs from the test's own source on loopback.
        .env("LORA_INSTALL_ALLOW_HTTP", "true")
        .env("LORA_INSTALL_ALLOW_PRIVATE", "true")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut admin, mut user, mut addr) = (None, None, None);
    while let Some(Ok(line)) = lines.next() {
        let line = line.trim();
        if let Some(token) = line.strip_prefix("admin: ") {
            admin = Some(token.trim().to_owned());
        }
        if let Some(token) = line.strip_prefix("user: ") {
            user = Some(token.trim().to_owned());
        }
        if let Some(url) = line.split("http://").nth(1) {
            addr = Some(url.split('/').next().unwrap().to_owned());
            break;
        }
    }
    (Killed(child), addr.unwrap(), admin.unwrap(), user.unwrap())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request with a JSON body; the JSON answer.
fn http_json(addr: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Read the head, then exactly the body (chromedriver may keep the connection open).
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    let mut rest = Vec::new();
    if let Some(len) = header("content-length:") {
        rest.resize(len.parse().unwrap(), 0);
        reader.read_exact(&mut rest).unwrap();
    } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let len = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; len + 2];
            reader.read_exact(&mut chunk).unwrap();
            if len == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..len]);
        }
    } else {
        reader.read_to_end(&mut rest).unwrap();
    }
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let value = serde_json::from_slice(&rest).unwrap_or(Value::Null);
    (status, value)
}

/// A WebDriver session on chromedriver, with headless Chromium.
struct Browser {
    driver: String,
    session: String,
    _chromedriver: Killed,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = std::panic::catch_unwind(|| http_json(&self.driver, "DELETE", &path, None));
    }
}

impl Browser {
    /// `None` when chromedriver is not installed.
    fn start() -> Option<Browser> {
        let port = free_port();
        let child = match Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => Killed(child),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("cannot start chromedriver: {e}"),
        };
        let driver = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&driver).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut options = json!({"args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1280,800", "--no-first-run", "--disable-extensions",
        ]});
        for binary in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
            if Path::new(binary).exists() {
                options["binary"] = json!(binary);
                break;
            }
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        let (status, answer) = http_json(&driver, "POST", "/session", Some(&caps));
        assert_eq!(status, 200, "new session: {answer}");
        let session = answer["value"]["sessionId"].as_str().unwrap().to_owned();
        Some(Browser {
            driver,
            session,
            _chromedriver: child,
        })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let full = format!("/session/{}{path}", self.session);
        let (status, answer) = http_json(&self.driver, method, &full, body.as_ref());
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {v}"))
            .to_owned()
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Runs `script` (a function body; `return` its answer) in the page.
    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Polls `script` until it returns `true`; on time out, fails with `what` and the
    /// answer of `debug`.
    fn wait_for(&self, what: &str, script: &str, debug: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if self.js(script) == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                self.screenshot("timeout");
                panic!("timed out waiting for {what}: {}", self.js(debug));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Accepts the `confirm()` the last click opened.
    fn accept_dialog(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let full = format!("/session/{}/alert/accept", self.session);
            let (status, _) = http_json(&self.driver, "POST", &full, Some(&json!({})));
            if status == 200 {
                return;
            }
            assert!(Instant::now() < deadline, "no dialog to accept");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `text` into the `prompt()` the last click opened, and accepts it.
    fn answer_prompt(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let full = format!("/session/{}/alert/text", self.session);
            let (status, _) =
                http_json(&self.driver, "POST", &full, Some(&json!({ "text": text })));
            if status == 200 {
                return self.accept_dialog();
            }
            assert!(Instant::now() < deadline, "no prompt to answer");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn screenshot(&self, name: &str) {
        let png = self.cmd("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}

/// `target/console-screenshots/` of the target directory this test was built in.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/console-<hash>
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    target.join("console-screenshots")
}

fn lora(dir: &Path, name: &str, metadata: &[(&str, &str)]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        lora_inspect::fixtures::kohya_lora(
            &[
                ("lora_unet_input_blocks_4_1_proj_in", 64, 64),
                ("lora_unet_input_blocks_4_1_proj_out", 64, 64),
                ("lora_unet_output_blocks_3_1_proj_in", 64, 64),
            ],
            4,
            2.0,
            metadata,
        ),
    )
    .unwrap();
    path
}

/// The JavaScript that answers how the uploads stand, for failure messages.
const UPLOADS: &str = "return Array.from(document.querySelectorAll('#uploads li')).map(li => \
    [li.dataset.filename, li.querySelector('progress').value, li.querySelector('.status').textContent]);";

fn wait_uploaded(browser: &Browser, names: &[&str]) {
    let script = format!(
        "const want = {}; const rows = Array.from(document.querySelectorAll('#uploads li')); \
         return want.every(n => rows.some(li => li.dataset.filename === n \
           && li.querySelector('progress').value === 100 \
           && li.querySelector('.partial-path') && li.querySelector('.sha256').textContent.length === 64));",
        json!(names)
    );
    browser.wait_for("the uploads to finish", &script, UPLOADS);
}

/// A JavaScript expression: whether the table body `within` has a row for `path`.
fn row(within: &str, path: &str) -> String {
    format!("(document.querySelector('{within} tr[data-path=\"{path}\"]') !== null)")
}

#[test]
fn the_console_uploads_lists_evaluates_deletes_and_restores_in_a_browser() {
    let started = Instant::now();
    let browser = Browser::start().expect(
        "chromedriver is not installed: apt-get install -y chromium chromium-driver \
         (.ci/run does)",
    );
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let (_server, addr, admin, user) = serve_dev(data.path());
    let base = format!("http://{addr}");

    // `/console` redirects; the page loads with its scripts under the policy.
    browser.goto(&format!("{base}/console"));
    browser.wait_for(
        "the console to load",
        "return location.pathname === '/console/' && typeof tus === 'object' \
         && document.getElementById('upload-entity') !== null;",
        "return location.href;",
    );
    assert_eq!(browser.js("return document.title;"), json!("LoRA console"));
    // Its icon is served, so the browser logs no 404 for it.
    assert_eq!(
        browser.js("const r = new XMLHttpRequest(); \
             r.open('GET', document.querySelector('link[rel=icon]').href, false); r.send(); \
             return [r.status, r.getResponseHeader('content-type')];"),
        json!([200, "image/svg+xml"])
    );

    // A user token: no admin parts, no faces.
    browser.type_into("#token", &user);
    browser.click("#sign-in");
    browser.wait_for(
        "the user sign-in",
        "return document.getElementById('who-role').textContent === 'user';",
        "return document.getElementById('signin-error').textContent;",
    );
    assert_eq!(
        browser.js(
            "return [document.getElementById('files').hidden, document.getElementById('bin').hidden, \
             Array.from(document.querySelectorAll('#upload-entity option')).map(o => o.value).includes('faces'), \
             document.getElementById('who-sub').textContent, sessionStorage.length, location.href.includes('ey')];"
        ),
        json!([true, true, false, "dev-user", 1, false])
    );
    browser.click("#sign-out");

    // The admin token.
    browser.type_into("#token", &admin);
    browser.click("#sign-in");
    browser.wait_for(
        "the admin sign-in and an empty listing",
        "return document.getElementById('who-role').textContent === 'admin' \
         && !document.getElementById('files').hidden \
         && document.getElementById('files-page').textContent === '0 of 0';",
        "return [document.getElementById('who-role').textContent, document.getElementById('files-error').textContent];",
    );

    // Two files at once through the file input.
    let a = lora(
        files.path(),
        "alpha.safetensors",
        &[("ss_output_name", "alpha")],
    );
    let b = lora(files.path(), "beta.safetensors", &[]);
    browser.type_into(
        "#upload-files",
        &format!("{}\n{}", a.display(), b.display()),
    );
    wait_uploaded(&browser, &["alpha.safetensors", "beta.safetensors"]);
    browser.wait_for(
        "both files in the listing",
        &format!(
            "return {} && {};",
            row("#files-body", "styles/alpha.safetensors"),
            row("#files-body", "styles/beta.safetensors"),
        ),
        "return document.getElementById('files-body').textContent;",
    );
    browser.screenshot("1-uploaded");

    // Search, the family filter and the tags run through the catalogue, over every page.
    browser.type_into("#files-search", "alph");
    browser.wait_for(
        "the search narrows the listing on the server",
        &format!(
            "return {} && !{} && document.getElementById('files-page').textContent === '1–1 of 1';",
            row("#files-body", "styles/alpha.safetensors"),
            row("#files-body", "styles/beta.safetensors"),
        ),
        "return document.getElementById('files-body').textContent;",
    );
    browser.js("const s = document.getElementById('files-search'); s.value = ''; s.dispatchEvent(new Event('input')); return true;");
    browser.wait_for(
        "the search cleared",
        "return !document.getElementById('files-body').dataset.query.includes('q=');",
        "return document.getElementById('files-body').dataset.query;",
    );
    browser.wait_for(
        "the family filter lists the server's families and filters by one",
        "const f = document.getElementById('files-family'); \
         if (![...f.options].some((o) => o.value === 'sdxl')) return false; \
         if (f.value !== 'sdxl') { f.value = 'sdxl'; f.dispatchEvent(new Event('change')); return false; } \
         return document.getElementById('files-body').dataset.query.includes('base_model=sdxl') \
             && document.getElementById('files-page').textContent === '1–2 of 2';",
        "return [document.getElementById('files-page').textContent, document.getElementById('files-body').dataset.query];",
    );
    browser.click("#files-body tr[data-path=\"styles/beta.safetensors\"] button.tags");
    browser.answer_prompt("ink, monochrome");
    browser.wait_for(
        "the tags are kept and shown",
        &format!(
            "return {} && document.querySelector('#files-body tr[data-path=\"styles/beta.safetensors\"] .badge.tags')?.textContent === 'ink, monochrome';",
            row("#files-body", "styles/beta.safetensors"),
        ),
        "return [document.getElementById('files-error').textContent, document.getElementById('files-body').textContent];",
    );
    browser.click("#files-body tr[data-path=\"styles/beta.safetensors\"] button.meta");
    browser.js("const r = document.querySelector('.meta-row'); r.querySelector('[name=description]').value = 'brush strokes'; r.querySelector('[name=preferred_weight]').value = '0.7'; r.querySelector('button.save').click(); return true;");
    browser.wait_for(
        "the description and weight are kept",
        "const tr = document.querySelector('#files-body tr[data-path=\"styles/beta.safetensors\"] td.name'); return tr && tr.title === 'brush strokes';",
        "return [document.getElementById('files-error').textContent, document.getElementById('files-body').innerHTML];",
    );

    // One file's report: verdict, a finding, the chart, the metadata.
    browser.click("#files-body tr[data-path=\"styles/alpha.safetensors\"] button.report");
    browser.wait_for(
        "the report",
        "return !document.getElementById('report-body').hidden \
         && document.getElementById('report-name').textContent === 'styles/alpha.safetensors';",
        "return document.getElementById('report-error').textContent;",
    );
    let report = browser.js(
        "return {verdict: document.getElementById('report-verdict').textContent, \
         findings: Array.from(document.querySelectorAll('#report-findings li.finding')).map(li => li.textContent), \
         bars: document.querySelectorAll('#report-chart svg rect').length, \
         facts: document.getElementById('report-facts').textContent, \
         meta: document.getElementById('report-metadata').textContent};",
    );
    assert!(
        ["pass", "warn", "fail"].contains(&report["verdict"].as_str().unwrap()),
        "{report}"
    );
    assert_eq!(report["bars"], json!(3), "{report}");
    assert!(
        report["facts"].as_str().unwrap().contains("sdxl"),
        "{report}"
    );
    assert!(
        report["meta"].as_str().unwrap().contains("ss_output_name"),
        "{report}"
    );
    // The other file has no metadata: a finding says so.
    browser.click("#files-body tr[data-path=\"styles/beta.safetensors\"] button.report");
    browser.wait_for(
        "the second report, with its finding",
        "return document.getElementById('report-name').textContent === 'styles/beta.safetensors' \
         && document.querySelectorAll('#report-findings li.finding').length > 0;",
        "return document.getElementById('report-findings').textContent;",
    );
    let findings = browser.js(
        "return Array.from(document.querySelectorAll('#report-findings li.finding')).map(li => li.textContent);",
    );
    assert!(findings.to_string().contains("no_metadata"), "{findings}");
    browser.screenshot("2-report");

    // Delete one (confirming), then restore it from the bin.
    browser.click("#files-body tr[data-path=\"styles/alpha.safetensors\"] button.delete");
    browser.accept_dialog();
    browser.wait_for(
        "the file in the bin and out of the listing",
        &format!(
            "return !{} && {};",
            row("#files-body", "styles/alpha.safetensors"),
            row("#bin-body", "styles/alpha.safetensors"),
        ),
        "return [document.getElementById('files-error').textContent, document.getElementById('bin-body').textContent];",
    );
    browser.screenshot("3-deleted");
    browser.click("#bin-body tr[data-path=\"styles/alpha.safetensors\"] button.restore");
    browser.wait_for(
        "the file back in the listing",
        &format!(
            "return {} && document.getElementById('bin-body').textContent.includes('empty');",
            row("#files-body", "styles/alpha.safetensors"),
        ),
        "return [document.getElementById('bin-error').textContent, document.getElementById('files-body').textContent];",
    );

    // Install from a URL: the form starts a job, the table follows it to the stored
    // file, which then shows in the listing.
    let state = std::sync::Arc::new(source::State::default());
    let fetched = std::fs::read(lora(files.path(), "fetched.safetensors", &[])).unwrap();
    state
        .files
        .lock()
        .unwrap()
        .insert("fetched.safetensors".into(), fetched);
    state
        .faults
        .slow_ms
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let cdn = source::Source::start("127.0.0.1", state);
    browser.type_into(
        "#install-url",
        &format!("{}/cdn/fetched.safetensors", cdn.origin),
    );
    browser.click("#install-start");
    browser.wait_for(
        "the install done and its file listed",
        &format!(
            "const tr = document.querySelector('#installs-body tr[data-id]');              return tr !== null && tr.dataset.status === 'done'                && tr.querySelector('td.stored').textContent === 'styles/fetched.safetensors' && {};",
            row("#files-body", "styles/fetched.safetensors"),
        ),
        "return [document.getElementById('install-error').textContent, document.getElementById('installs-body').textContent];",
    );
    // A refused source: the server's reason under the form, no job.
    browser.type_into("#install-url", "ftp://example.com/x.safetensors");
    browser.click("#install-start");
    browser.wait_for(
        "the refusal's reason",
        "return document.getElementById('install-error').textContent.includes('ftp');",
        "return document.getElementById('install-error').textContent;",
    );
    assert_eq!(
        browser.js("return document.querySelectorAll('#installs-body tr[data-id]').length;"),
        json!(1)
    );
    browser.screenshot("3b-installed");

    // An error's detail is shown: evaluating a file that is not there.
    browser.js("document.getElementById('report-path').value = 'styles/none.safetensors';");
    browser.click("#report-open");
    browser.wait_for(
        "the refusal's detail",
        "return document.getElementById('report-error').textContent.length > 0;",
        "return document.getElementById('report-error').textContent;",
    );
    let refusal = browser.js("return document.getElementById('report-error').textContent;");
    let refusal = refusal.as_str().unwrap();
    assert!(
        !refusal.starts_with("HTTP ") && !refusal.contains('{'),
        "{refusal}"
    );

    // Hostile metadata is text, never markup.
    let evil = lora(
        files.path(),
        "evil.safetensors",
        &[("ss_note", XSS_IMG), ("ss_script", XSS_SCRIPT)],
    );
    browser.type_into("#upload-files", &evil.display().to_string());
    wait_uploaded(&browser, &["evil.safetensors"]);
    browser.click("#uploads li[data-filename=\"evil.safetensors\"] button.report");
    browser.wait_for(
        "the hostile file's report",
        "return !document.getElementById('report-body').hidden \
         && document.getElementById('report-name').textContent === 'styles/evil.safetensors';",
        "return document.getElementById('report-error').textContent;",
    );
    // Give an injected image time to fail and run its handler, had there been one.
    std::thread::sleep(Duration::from_millis(300));
    let shown = browser.js(
        "return {pwned: typeof window.__pwned, \
         injected: document.querySelectorAll('#report-metadata img, #report-metadata script').length, \
         values: Array.from(document.querySelectorAll('#report-metadata td.value')).map(td => td.textContent)};",
    );
    assert_eq!(shown["pwned"], json!("undefined"), "{shown}");
    assert_eq!(shown["injected"], json!(0), "{shown}");
    let values = shown["values"].as_array().unwrap();
    assert!(values.contains(&json!(XSS_IMG)), "{shown}");
    assert!(values.contains(&json!(XSS_SCRIPT)), "{shown}");
    browser.screenshot("4-hostile-metadata");

    // Phone width.
    browser.cmd(
        "POST",
        "/window/rect",
        Some(json!({"width": 390, "height": 844})),
    );
    browser.screenshot("5-phone");

    eprintln!(
        "console browser test: {:.1} s, screenshots in {}",
        started.elapsed().as_secs_f64(),
        screenshot_dir().display()
    );
}
