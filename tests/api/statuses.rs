//! `/openapi.json` lists every status a route answers, and no error status it never
//! answers. Each route's error paths are provoked through the black box and every status
//! seen must be among `paths[path][method].responses`, with the body its schema names;
//! the other way round, every documented status but 200 and 500 must have been seen, or
//! be in [`not_provoked`] with the test that provokes it (a path the compiler checks) or the
//! reason no test here can.
//!
//! Not per operation, so not in the document: 405, which each path's fallback answers for
//! a method it has no operation for (utoipa documents operations; the `Allow` header names
//! them, see `errors.rs`); 404 for a path no route has; and the HTTP layer's own answers
//! to malformed requests. 500 is documented on every route and provoked on none: it is
//! what a broken invariant or a failing disk answers.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};

use camino::Utf8PathBuf;
use serde_json::Value;

use crate::helpers::*;

/// `(method, path)` as the document spells them.
type Route = (&'static str, &'static str);

const USER_UPLOAD: Route = ("post", "/api/v1/lora/upload");
const ADMIN_UPLOAD: Route = ("post", "/api/v1/admin/lora/upload");
const LIST: Route = ("get", "/api/v1/admin/lora");
const DELETE: Route = ("delete", "/api/v1/admin/lora");
const META: Route = ("patch", "/api/v1/admin/lora/meta");
const INSTALL: Route = ("post", "/api/v1/admin/lora/install");
const INSTALLS: Route = ("get", "/api/v1/admin/lora/install");
const INSTALL_GET: Route = ("get", "/api/v1/admin/lora/install/{id}");
const INSTALL_CANCEL: Route = ("delete", "/api/v1/admin/lora/install/{id}");
const EVENTS: Route = ("get", "/api/v1/events");
const BIN_LIST: Route = ("get", "/api/v1/admin/bin");
const RESTORE: Route = ("post", "/api/v1/admin/bin/restore");
const PURGE: Route = ("delete", "/api/v1/admin/bin");
const PURGE_BEFORE: Route = ("post", "/api/v1/admin/bin/purge");
const EVALUATE: Route = ("post", "/api/v1/evaluation/");
const ENSURE: Route = ("post", "/api/v1/lora/ensure");
const PREFETCH: Route = ("post", "/api/v1/admin/lora/prefetch");
const HEALTH: Route = ("get", "/api/v1/evaluation/health");
const TUS_OPTIONS: Route = ("options", "/api/v1/lora/uploads");
const TUS_CREATE: Route = ("post", "/api/v1/lora/uploads");
const TUS_HEAD: Route = ("head", "/api/v1/lora/uploads/{id}");
const TUS_PATCH: Route = ("patch", "/api/v1/lora/uploads/{id}");
const TUS_DELETE: Route = ("delete", "/api/v1/lora/uploads/{id}");
const TUS_GET: Route = ("get", "/api/v1/lora/uploads/{id}");
const TUS_ADMIN_OPTIONS: Route = ("options", "/api/v1/admin/lora/uploads");
const TUS_ADMIN_CREATE: Route = ("post", "/api/v1/admin/lora/uploads");
const TUS_ADMIN_HEAD: Route = ("head", "/api/v1/admin/lora/uploads/{id}");
const TUS_ADMIN_PATCH: Route = ("patch", "/api/v1/admin/lora/uploads/{id}");
const TUS_ADMIN_DELETE: Route = ("delete", "/api/v1/admin/lora/uploads/{id}");
const TUS_ADMIN_GET: Route = ("get", "/api/v1/admin/lora/uploads/{id}");

const ROUTES: [Route; 30] = [
    INSTALL,
    INSTALLS,
    INSTALL_GET,
    INSTALL_CANCEL,
    TUS_OPTIONS,
    TUS_CREATE,
    TUS_HEAD,
    TUS_PATCH,
    TUS_DELETE,
    TUS_GET,
    TUS_ADMIN_OPTIONS,
    TUS_ADMIN_CREATE,
    TUS_ADMIN_HEAD,
    TUS_ADMIN_PATCH,
    TUS_ADMIN_DELETE,
    TUS_ADMIN_GET,
    USER_UPLOAD,
    ADMIN_UPLOAD,
    LIST,
    DELETE,
    META,
    BIN_LIST,
    RESTORE,
    PURGE,
    PURGE_BEFORE,
    EVALUATE,
    ENSURE,
    PREFETCH,
    EVENTS,
    HEALTH,
];
const ADMIN_ONLY: [Route; 18] = [
    INSTALL,
    INSTALLS,
    INSTALL_GET,
    INSTALL_CANCEL,
    TUS_ADMIN_CREATE,
    TUS_ADMIN_HEAD,
    TUS_ADMIN_PATCH,
    TUS_ADMIN_DELETE,
    TUS_ADMIN_GET,
    ADMIN_UPLOAD,
    LIST,
    DELETE,
    META,
    BIN_LIST,
    RESTORE,
    PURGE,
    PURGE_BEFORE,
    PREFETCH,
];

/// Why a documented status is not provoked by the fast test.
enum Why {
    /// Another test provokes it: named by a path the compiler checks.
    Test(fn(), &'static str, &'static str),
    /// No test here can, and why the route still answers it.
    Because(&'static str),
}

/// `Why::Test` for a test function, with what it does.
macro_rules! provoked_by {
    ($($path:ident)::+, $how:expr) => {
        Why::Test($($path)::+ as fn(), stringify!($($path)::+), $how)
    };
}

const IDLE: &str = "a body that sends nothing for the idle timeout (60 s by default), provoked \
     with a short timeout";
const NO_CATALOGUE: &str = "the catalogue's index could not be made at start (its folder \
     unwritable); the listing's filters answer the same 503";
const FAILING_FS: &str = "a real read-only or full tmpfs (root only)";
const UNLINK_ENOSPC: &str = "a removal needs no room on ext4, xfs or tmpfs, but btrfs (copy-on-write \
     metadata) can refuse one with ENOSPC, which the store answers as StorageFull";
const TUS_BUSY: &str = "every upload slot taken (LORA_MAX_CONCURRENT_UPLOADS), as for the \
     multipart routes, or the shared storage away in fleet mode";
const ENSURE_FULL: &str = "fleet mode: a download that fills this node's disk (ENOSPC on \
     the staging write)";
const NO_INSTALLS: &str = "the installs' folder could not be made at start (the state folder \
     unwritable); a creation answers the same 503 when its record cannot be written, provoked \
     below";
const TUS_FULL: &str = "a disk that fills during a PATCH; the multipart routes' 507 is provoked \
     with fault injection on staging writes, which the part files do not go through";

/// Documented statuses the fast test does not provoke, and why the route answers them.
fn not_provoked() -> Vec<(Route, u16, Why)> {
    use crate::upload::{
        a_stalled_upload_is_dropped_after_the_idle_timeout as stalled,
        the_upload_cap_answers_503_from_the_headers_and_frees_slots as capped,
    };
    let idle = || provoked_by!(stalled, IDLE);
    let failing = || provoked_by!(a_read_only_or_full_filesystem_is_503_or_507, FAILING_FS);
    let room = || {
        provoked_by!(
            a_creation_larger_than_the_free_room_is_507,
            "an Upload-Length larger than the disk's free room, on a small tmpfs (root only)"
        )
    };
    vec![
        (USER_UPLOAD, 408, idle()),
        (ADMIN_UPLOAD, 408, idle()),
        (DELETE, 408, idle()),
        (META, 408, idle()),
        (META, 503, Why::Because(NO_CATALOGUE)),
        (INSTALL, 408, idle()),
        (INSTALLS, 503, Why::Because(NO_INSTALLS)),
        (INSTALL_GET, 503, Why::Because(NO_INSTALLS)),
        (INSTALL_CANCEL, 503, Why::Because(NO_INSTALLS)),
        (RESTORE, 408, idle()),
        (PURGE, 408, idle()),
        (PURGE_BEFORE, 408, idle()),
        (EVALUATE, 408, idle()),
        (ENSURE, 408, idle()),
        (PREFETCH, 408, idle()),
        (ENSURE, 507, Why::Because(ENSURE_FULL)),
        (DELETE, 507, failing()),
        (RESTORE, 507, failing()),
        (PURGE, 507, Why::Because(UNLINK_ENOSPC)),
        (PURGE_BEFORE, 507, Why::Because(UNLINK_ENOSPC)),
        (TUS_CREATE, 507, room()),
        (TUS_ADMIN_CREATE, 507, room()),
        (TUS_PATCH, 503, provoked_by!(capped, TUS_BUSY)),
        (TUS_ADMIN_PATCH, 503, provoked_by!(capped, TUS_BUSY)),
        (TUS_PATCH, 507, Why::Because(TUS_FULL)),
        (TUS_ADMIN_PATCH, 507, Why::Because(TUS_FULL)),
    ]
}

/// The statuses the document lists for `route`.
fn documented(doc: &Value, (method, path): Route) -> BTreeSet<u16> {
    let responses = doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is not in the document"));
    responses.keys().map(|k| k.parse().unwrap()).collect()
}

/// What each route answered, and to what.
struct Seen<'a> {
    doc: &'a Value,
    answers: BTreeMap<Route, BTreeMap<u16, String>>,
}

impl<'a> Seen<'a> {
    fn new(doc: &'a Value) -> Self {
        Self {
            doc,
            answers: BTreeMap::new(),
        }
    }

    /// `route` answered `r` to `how`, which must be `status`.
    fn expect(&mut self, route: Route, how: &str, status: u16, r: &Resp) {
        assert_eq!(
            r.status,
            status,
            "{} {} ({how}): {}",
            route.0,
            route.1,
            String::from_utf8_lossy(&r.body)
        );
        self.record(route, how, r);
    }

    /// `route` answered `r` to `how`: its status must be documented, with the body the
    /// document names for it.
    fn record(&mut self, (method, path): Route, how: &str, r: &Resp) {
        let response = &self.doc["paths"][path][method]["responses"][r.status.to_string()];
        assert!(
            response.is_object(),
            "{method} {path} answered {} ({how}), which the document does not list",
            r.status
        );
        if r.status >= 400 && method != "head" {
            let schema = response["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap_or_default();
            let (name, list) = match r.json()["detail"] {
                Value::Array(_) => ("HTTPValidationError", true),
                Value::String(_) => ("HTTPError", false),
                ref other => panic!("{method} {path} ({how}): detail is {other}"),
            };
            assert_eq!(
                schema,
                format!("#/components/schemas/{name}"),
                "{method} {path} {} ({how}): detail is a {}",
                r.status,
                if list { "list" } else { "string" }
            );
        }
        self.answers
            .entry((method, path))
            .or_default()
            .entry(r.status)
            .or_insert_with(|| how.to_owned());
    }
}

fn send(app: &TestApp, (method, path): Route, token: Option<&str>, ct: &str, body: &[u8]) -> Resp {
    let mut headers = token.map(bearer).unwrap_or_default();
    if !ct.is_empty() {
        headers.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    app.request(&method.to_uppercase(), path, &headers, body)
}

/// The status of a response that streams forever (the body is not read).
fn stream_status(app: &TestApp, (method, path): Route, token: Option<&str>) -> Resp {
    let mut stream = app.connect();
    let head = format!(
        "{} {path} HTTP/1.0\r\nHost: x\r\n{}\r\n",
        method.to_uppercase(),
        token.map(bearer).unwrap_or_default()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status).unwrap();
    Resp {
        status: status.split_whitespace().nth(1).unwrap().parse().unwrap(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn json(app: &TestApp, route: Route, token: Option<&str>, body: &str) -> Resp {
    send(app, route, token, "application/json", body.as_bytes())
}

fn form(app: &TestApp, route: Route, token: Option<&str>, parts: &[Part<'_>]) -> Resp {
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    send(app, route, token, &ct, &multipart(parts))
}

fn query(app: &TestApp, (method, path): Route, token: Option<&str>, query: &str) -> Resp {
    let headers = token.map(bearer).unwrap_or_default();
    app.request(
        &method.to_uppercase(),
        &format!("{path}{query}"),
        &headers,
        b"",
    )
}

/// A JSON request whose chunked body breaks off with a bad chunk size.
fn broken_body(app: &TestApp, (method, path): Route, token: &str) -> Resp {
    let mut stream = app.connect();
    let head = format!(
        "{} {path} HTTP/1.1\r\nHost: {}\r\n{}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{{\"a\"\r\nzz\r\n",
        method.to_uppercase(),
        app.addr,
        bearer(token)
    );
    stream.write_all(head.as_bytes()).unwrap();
    read_response(&mut BufReader::new(stream))
}

#[test]
fn every_status_a_route_answers_is_documented_and_every_documented_one_is_answered() {
    let app = spawn_app();
    let doc = app.request("GET", "/openapi.json", "", b"").json();
    let mut seen = Seen::new(&doc);
    let (admin, user) = (Some(app.admin.as_str()), Some(app.user.as_str()));
    let uploads = [(USER_UPLOAD, user), (ADMIN_UPLOAD, admin)];
    let bodies = [
        INSTALL,
        DELETE,
        META,
        RESTORE,
        PURGE,
        PURGE_BEFORE,
        EVALUATE,
        ENSURE,
        PREFETCH,
    ];
    let lora = st(1);
    let styled = |name| [file(name, &lora), Part::Text("entity_type", "styles")];

    // Who may call: no token is 401 everywhere but health; a user's token is 403 on the
    // admin routes.
    // (The tus routes have their own section: their URLs hold an id.)
    let plain = |r: &Route| !r.1.contains("/uploads");
    for route in ROUTES.into_iter().filter(|r| *r != HEALTH && plain(r)) {
        seen.expect(route, "no token", 401, &send(&app, route, None, "", b""));
    }
    for route in ADMIN_ONLY.into_iter().filter(plain) {
        seen.expect(
            route,
            "a user's token",
            403,
            &send(&app, route, user, "", b""),
        );
    }

    // Uploads.
    for (route, token) in uploads {
        let how = "a new name";
        seen.expect(
            route,
            how,
            200,
            &form(&app, route, token, &styled("a.safetensors")),
        );
        let [f, e] = styled("a.safetensors");
        let taken = [f, e, Part::Text("use_safe_filename", "false")];
        let how = "a taken name, use_safe_filename false";
        seen.expect(route, how, 409, &form(&app, route, token, &taken));
        let how = "a bad extension";
        seen.expect(route, how, 400, &form(&app, route, token, &styled("a.exe")));
        let how = "no file part";
        let r = form(&app, route, token, &[Part::Text("entity_type", "styles")]);
        seen.expect(route, how, 422, &r);
        let big = bytes(LIMIT as usize + 1);
        let how = "a file over the limit";
        seen.expect(
            route,
            how,
            413,
            &form(&app, route, token, &[file("big.pt", &big)]),
        );
        app.store.fail_writes_after(Some(1000));
        let how = "a full disk (ENOSPC on the staging write)";
        seen.expect(
            route,
            how,
            507,
            &form(&app, route, token, &styled("b.safetensors")),
        );
        app.store.fail_writes_after(None);
    }

    // Listings.
    for route in [LIST, BIN_LIST] {
        seen.expect(route, "a page", 200, &query(&app, route, admin, ""));
        let how = "a negative limit";
        seen.expect(route, how, 422, &query(&app, route, admin, "?limit=-1"));
    }

    // The event stream never ends: its status line is read, then the connection dropped.
    seen.expect(
        EVENTS,
        "a subscription",
        200,
        &stream_status(&app, EVENTS, user),
    );

    // JSON bodies: over 64 KiB, off the schema, unreadable, a path outside the folder.
    let long = format!(r#"{{"partial_path": "{}"}}"#, "a".repeat(64 * 1024));
    for route in bodies {
        let token = if route == EVALUATE || route == ENSURE {
            user
        } else {
            admin
        };
        seen.expect(
            route,
            "a body over 64 KiB",
            413,
            &json(&app, route, token, &long),
        );
        seen.expect(
            route,
            "an empty object",
            422,
            &json(&app, route, token, "{}"),
        );
        let r = broken_body(&app, route, token.unwrap());
        seen.expect(route, "a chunked body that breaks off", 400, &r);
    }
    for (route, field) in [
        (EVALUATE, "partial_path"),
        (ENSURE, "partial_path"),
        (DELETE, "partial_path"),
        (META, "partial_path"),
        (RESTORE, "bin_path"),
        (PURGE, "bin_path"),
    ] {
        let token = if route == EVALUATE || route == ENSURE {
            user
        } else {
            admin
        };
        let escape = format!(r#"{{"{field}": "../../etc/passwd"}}"#);
        seen.expect(
            route,
            "a path outside the folder",
            400,
            &json(&app, route, token, &escape),
        );
        let missing = format!(r#"{{"{field}": "styles/missing.safetensors"}}"#);
        seen.expect(
            route,
            "a file that is not there",
            404,
            &json(&app, route, token, &missing),
        );
    }
    let a = r#"{"partial_path": "styles/a.safetensors"}"#;
    seen.expect(
        EVALUATE,
        "a stored file",
        200,
        &json(&app, EVALUATE, user, a),
    );
    seen.expect(ENSURE, "a stored file", 200, &json(&app, ENSURE, user, a));
    let tagged = r#"{"partial_path": "styles/a.safetensors", "tags": ["ink"]}"#;
    seen.expect(META, "a stored file", 200, &json(&app, META, admin, tagged));
    seen.expect(
        PREFETCH,
        "a stored file",
        202,
        &json(&app, PREFETCH, admin, a),
    );
    let escape = r#"{"partial_path": "../../etc/passwd"}"#;
    let how = "a path outside the folder";
    seen.expect(PREFETCH, how, 400, &json(&app, PREFETCH, admin, escape));
    seen.expect(DELETE, "a stored file", 200, &json(&app, DELETE, admin, a));
    // The name is live again: restoring without a version clashes.
    form(&app, USER_UPLOAD, user, &styled("a.safetensors"));
    let clash = r#"{"bin_path": "styles/a.safetensors", "use_safe_filename": false}"#;
    let how = "a taken name, use_safe_filename false";
    seen.expect(RESTORE, how, 409, &json(&app, RESTORE, admin, clash));
    let entry = r#"{"bin_path": "styles/a.safetensors"}"#;
    seen.expect(
        RESTORE,
        "an entry (versioned)",
        200,
        &json(&app, RESTORE, admin, entry),
    );
    json(&app, DELETE, admin, a);
    seen.expect(PURGE, "an entry", 200, &json(&app, PURGE, admin, entry));
    let before = r#"{"before": "2000-01-01T00:00:00Z"}"#;
    seen.expect(
        PURGE_BEFORE,
        "a time",
        200,
        &json(&app, PURGE_BEFORE, admin, before),
    );
    seen.expect(HEALTH, "no token", 200, &send(&app, HEALTH, None, "", b""));

    tus_statuses(&app, &mut seen);
    install_statuses(&app, &mut seen);

    // The data directory removed under the server: uploads are 503; every other route
    // answers what the store makes of it, which must be documented too.
    std::fs::remove_dir_all(&app.data).unwrap();
    let how = "the data directory removed";
    let job = r#"{"url": "https://192.0.2.1/a.safetensors", "entity_type": "styles"}"#;
    seen.expect(INSTALL, how, 503, &json(&app, INSTALL, admin, job));
    for (route, token) in uploads {
        seen.expect(
            route,
            how,
            503,
            &form(&app, route, token, &styled("c.safetensors")),
        );
    }
    for (route, collection, token) in [
        (TUS_CREATE, "/api/v1/lora/uploads", user),
        (TUS_ADMIN_CREATE, "/api/v1/admin/lora/uploads", admin),
    ] {
        let headers = format!("{V}Upload-Length: 10\r\n{}", tus_meta("c.safetensors", ""));
        seen.expect(
            route,
            how,
            503,
            &tus(&app, "POST", collection, token, &headers, b""),
        );
    }
    for route in [LIST, BIN_LIST] {
        seen.record(route, how, &query(&app, route, admin, ""));
    }
    let c = r#"{"partial_path": "styles/c.safetensors"}"#;
    let c_bin = r#"{"bin_path": "styles/c.safetensors"}"#;
    seen.record(EVALUATE, how, &json(&app, EVALUATE, user, c));
    seen.expect(ENSURE, how, 503, &json(&app, ENSURE, user, c));
    seen.record(DELETE, how, &json(&app, DELETE, admin, c));
    seen.record(META, how, &json(&app, META, admin, c));
    seen.record(RESTORE, how, &json(&app, RESTORE, admin, c_bin));
    seen.record(PURGE, how, &json(&app, PURGE, admin, c_bin));
    let all = r#"{"before": "2999-01-01T00:00:00Z"}"#;
    seen.record(PURGE_BEFORE, how, &json(&app, PURGE_BEFORE, admin, all));
    seen.record(HEALTH, how, &send(&app, HEALTH, None, "", b""));

    // Every route is in the table, and the document has no other.
    let in_doc: BTreeSet<Route> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            let ops = ops.as_object().unwrap();
            ops.keys()
                .map(|m| (m.as_str(), path.as_str()))
                .collect::<Vec<_>>()
        })
        .map(|(m, p)| {
            *ROUTES
                .iter()
                .find(|r| **r == (m, p))
                .unwrap_or_else(|| panic!("{m} {p} is documented but not in this table"))
        })
        .collect();
    assert_eq!(in_doc, ROUTES.into_iter().collect());

    // Every documented status is answered, or its row says why it is not provoked here.
    let mut unexplained = Vec::new();
    let not_provoked = not_provoked();
    for (_, _, why) in &not_provoked {
        match why {
            Why::Test(test, name, how) => {
                // The compiler has checked the test exists; it must also be a real one.
                assert!(!name.is_empty() && !how.is_empty());
                let _: fn() = *test;
            }
            Why::Because(reason) => assert!(!reason.is_empty()),
        }
    }
    for route in ROUTES {
        let answered = seen.answers.get(&route).cloned().unwrap_or_default();
        let reasoned: BTreeSet<u16> = not_provoked
            .iter()
            .filter(|(r, ..)| *r == route)
            .map(|(_, status, _)| *status)
            .collect();
        let listed = documented(&doc, route);
        for status in &reasoned {
            assert!(
                listed.contains(status),
                "{route:?} {status}: not_provoked names a status the document does not list"
            );
            if let Some(how) = answered.get(status) {
                panic!("{route:?} {status} is provoked now ({how}): remove its not_provoked row");
            }
        }
        for status in listed {
            if status != 200
                && status != 500
                && !answered.contains_key(&status)
                && !reasoned.contains(&status)
            {
                unexplained.push(format!("{} {} {status}", route.0, route.1));
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "documented, but never answered here and not in not_provoked: {unexplained:#?}"
    );
}

/// A tus request to `path`, answered without reading a body for HEAD.
fn tus(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &str,
    body: &[u8],
) -> Resp {
    let auth = token.map(bearer).unwrap_or_default();
    if method == "HEAD" {
        return app.head(path, &format!("{auth}{headers}"));
    }
    app.request(method, path, &format!("{auth}{headers}"), body)
}

/// `Upload-Metadata` for `filename` (and `styles`).
fn tus_meta(filename: &str, extra: &str) -> String {
    use base64::Engine;
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "Upload-Metadata: filename {},entity_type {}{extra}\r\n",
        b(filename),
        b("styles")
    )
}

const V: &str = "Tus-Resumable: 1.0.0\r\n";
const OCTETS: &str = "Content-Type: application/offset+octet-stream\r\n";

/// Every status of the tus routes, both collections.
fn tus_statuses(app: &TestApp, seen: &mut Seen<'_>) {
    let (admin, user) = (Some(app.admin.as_str()), Some(app.user.as_str()));
    let lora = st(7);
    let len = lora.len();
    for (collection, routes, token) in [
        (
            "/api/v1/lora/uploads",
            [
                TUS_OPTIONS,
                TUS_CREATE,
                TUS_HEAD,
                TUS_PATCH,
                TUS_DELETE,
                TUS_GET,
            ],
            user,
        ),
        (
            "/api/v1/admin/lora/uploads",
            [
                TUS_ADMIN_OPTIONS,
                TUS_ADMIN_CREATE,
                TUS_ADMIN_HEAD,
                TUS_ADMIN_PATCH,
                TUS_ADMIN_DELETE,
                TUS_ADMIN_GET,
            ],
            admin,
        ),
    ] {
        let [options, create, head, patch, delete, get] = routes;
        seen.expect(
            options,
            "discovery",
            204,
            &tus(app, "OPTIONS", collection, None, "", b""),
        );
        let meta = tus_meta("t.safetensors", "");
        let length = format!("Upload-Length: {len}\r\n");
        let new = |extra: &str| {
            tus(
                app,
                "POST",
                collection,
                token,
                &format!("{V}{length}{meta}{extra}"),
                b"",
            )
        };
        seen.expect(
            create,
            "no Tus-Resumable",
            412,
            &tus(
                app,
                "POST",
                collection,
                token,
                &format!("{length}{meta}"),
                b"",
            ),
        );
        seen.expect(
            create,
            "no Upload-Length",
            400,
            &tus(app, "POST", collection, token, &format!("{V}{meta}"), b""),
        );
        let over = format!("{V}Upload-Length: {}\r\n{meta}", LIMIT + 1);
        seen.expect(
            create,
            "a length over the limit",
            413,
            &tus(app, "POST", collection, token, &over, b""),
        );
        let bad_bool = tus_meta("t.safetensors", ",use_safe_filename bWF5YmU=");
        seen.expect(
            create,
            "use_safe_filename maybe",
            422,
            &tus(
                app,
                "POST",
                collection,
                token,
                &format!("{V}{length}{bad_bool}"),
                b"",
            ),
        );
        let created = new("");
        seen.expect(create, "an upload", 201, &created);
        let url = created.header("location").unwrap().to_owned();
        seen.expect(
            head,
            "no Tus-Resumable",
            412,
            &tus(app, "HEAD", &url, token, "", b""),
        );
        seen.expect(
            head,
            "an upload",
            200,
            &tus(app, "HEAD", &url, token, V, b""),
        );
        let missing = format!("{collection}/{}", "0".repeat(32));
        seen.expect(
            head,
            "no such upload",
            404,
            &tus(app, "HEAD", &missing, token, V, b""),
        );
        seen.expect(
            patch,
            "not offset+octet-stream",
            415,
            &tus(
                app,
                "PATCH",
                &url,
                token,
                &format!("{V}Upload-Offset: 0\r\nContent-Type: text/plain\r\n"),
                b"x",
            ),
        );
        seen.expect(
            patch,
            "no Upload-Offset",
            400,
            &tus(app, "PATCH", &url, token, &format!("{V}{OCTETS}"), b"x"),
        );
        seen.expect(
            patch,
            "a wrong offset",
            409,
            &tus(
                app,
                "PATCH",
                &url,
                token,
                &format!("{V}{OCTETS}Upload-Offset: 5\r\n"),
                b"x",
            ),
        );
        seen.expect(
            patch,
            "past Upload-Length",
            413,
            &tus(
                app,
                "PATCH",
                &url,
                token,
                &format!("{V}{OCTETS}Upload-Offset: 0\r\n"),
                &vec![0u8; len + 1],
            ),
        );
        seen.expect(
            patch,
            "no Tus-Resumable",
            412,
            &tus(
                app,
                "PATCH",
                &url,
                token,
                &format!("{OCTETS}Upload-Offset: 0\r\n"),
                b"x",
            ),
        );
        seen.expect(
            patch,
            "no such upload",
            404,
            &tus(
                app,
                "PATCH",
                &missing,
                token,
                &format!("{V}{OCTETS}Upload-Offset: 0\r\n"),
                b"x",
            ),
        );
        // A PATCH holding the upload (its body still coming) makes a second one wait.
        let mut holder = app.connect();
        let auth = token.map(bearer).unwrap_or_default();
        write!(
            holder,
            "PATCH {url} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{auth}{V}{OCTETS}Upload-Offset: 0\r\nContent-Length: {len}\r\n\r\n",
            app.addr
        )
        .unwrap();
        holder.write_all(&lora[..10]).unwrap();
        // Its slot is taken after its claim: once health counts it, the claim is held.
        app.wait_for_uploads_in_flight(1);
        seen.expect(
            delete,
            "while a PATCH writes",
            423,
            &tus(app, "DELETE", &url, token, V, b""),
        );
        seen.expect(
            patch,
            "while another PATCH writes",
            423,
            &tus(
                app,
                "PATCH",
                &url,
                token,
                &format!("{V}{OCTETS}Upload-Offset: 0\r\n"),
                b"x",
            ),
        );
        holder.write_all(&lora[10..]).unwrap();
        let done = read_response(&mut BufReader::new(holder));
        seen.expect(patch, "the last byte", 204, &done);
        assert!(
            done.header("lora-partial-path")
                .unwrap()
                .starts_with("styles/t"),
            "{:?}",
            done.headers
        );
        seen.expect(
            get,
            "a completed upload",
            200,
            &tus(app, "GET", &url, token, "", b""),
        );
        seen.expect(
            get,
            "no such upload",
            404,
            &tus(app, "GET", &missing, token, "", b""),
        );
        // Termination.
        let doomed = new("").header("location").unwrap().to_owned();
        seen.expect(
            delete,
            "no Tus-Resumable",
            412,
            &tus(app, "DELETE", &doomed, token, "", b""),
        );
        seen.expect(
            delete,
            "an upload",
            204,
            &tus(app, "DELETE", &doomed, token, V, b""),
        );
        seen.expect(
            delete,
            "a terminated upload",
            404,
            &tus(app, "DELETE", &doomed, token, V, b""),
        );
        // Another subject's uploads are not there.
        let other = if token == admin {
            mint(lora_auth::Role::Admin, "another-admin")
        } else {
            mint(lora_auth::Role::User, "another-user")
        };
        let theirs = new("").header("location").unwrap().to_owned();
        seen.expect(
            head,
            "another subject's upload",
            404,
            &tus(app, "HEAD", &theirs, Some(&other), V, b""),
        );
        // At most 32 unfinished uploads per subject.
        let mut last = new("");
        for _ in 0..40 {
            if last.status != 201 {
                break;
            }
            last = new("");
        }
        seen.expect(create, "a 33rd unfinished upload", 429, &last);
        // No token; a user's token on the admin collection.
        for (route, path) in [
            (create, collection),
            (head, url.as_str()),
            (patch, url.as_str()),
            (delete, url.as_str()),
            (get, url.as_str()),
        ] {
            let method = match route.0 {
                "post" => "POST",
                "head" => "HEAD",
                "patch" => "PATCH",
                "delete" => "DELETE",
                _ => "GET",
            };
            seen.expect(
                route,
                "no token",
                401,
                &tus(app, method, path, None, V, b""),
            );
            if token == admin {
                seen.expect(
                    route,
                    "a user's token",
                    403,
                    &tus(app, method, path, user, V, b""),
                );
            }
        }
    }
}

/// A tmpfs mounted for one test (root only); unmounted lazily, as a server that is
/// still stopping may hold files open in it.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(options: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mount a tmpfs (run as root)");
        Tmpfs(dir)
    }

    fn path(&self) -> Utf8PathBuf {
        Utf8PathBuf::from_path_buf(self.0.path().to_path_buf()).unwrap()
    }

    /// Remounts with `options`; retried for a while, as a stopping server's open files
    /// make a remount read-only busy.
    fn remount(&self, options: &str) {
        for _ in 0..100 {
            let ok = std::process::Command::new("mount")
                .args(["-o", &format!("remount,{options}")])
                .arg(self.0.path())
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .output();
    }
}

/// The 503s and 507s of the routes that write, on a real filesystem that is full (of
/// inodes), then read-only. Each must be documented.
#[test]
#[ignore = "mounts a tmpfs, which needs root: .ci/run runs it (CI runs as root)"]
pub(crate) fn a_read_only_or_full_filesystem_is_503_or_507() {
    let fs = Tmpfs::mount("size=4m,nr_inodes=256");
    let data = fs.path().join("data");
    let app = spawn_app_at(data.clone());
    let doc = app.request("GET", "/openapi.json", "", b"").json();
    let mut seen = Seen::new(&doc);
    let (admin, user) = (Some(app.admin.as_str()), Some(app.user.as_str()));
    let lora = st(1);
    for (name, entity) in [("a.safetensors", "styles"), ("b.safetensors", "clothes")] {
        let parts = [file(name, &lora), Part::Text("entity_type", entity)];
        assert_eq!(form(&app, USER_UPLOAD, user, &parts).status, 200);
    }
    let b = r#"{"partial_path": "clothes/b.safetensors"}"#;
    assert_eq!(json(&app, DELETE, admin, b).status, 200);

    // Full: no inode is left. A rename needs none on a tmpfs, but a folder removed by
    // hand is made again on the way (as a rename on ext4 may need a new folder block).
    std::fs::remove_dir(data.join("bin/models/loras/styles")).unwrap();
    std::fs::remove_dir(data.join("models/loras/clothes")).unwrap();
    let filler = fs.path().join("filler");
    std::fs::create_dir(&filler).unwrap();
    let full = (0..1000)
        .find_map(|n| std::fs::File::create(filler.join(n.to_string())).err())
        .expect("the tmpfs runs out of inodes");
    assert_eq!(full.kind(), std::io::ErrorKind::StorageFull, "{full}");
    let how = "a full filesystem";
    let a = r#"{"partial_path": "styles/a.safetensors"}"#;
    seen.expect(DELETE, how, 507, &json(&app, DELETE, admin, a));
    let b_bin = r#"{"bin_path": "clothes/b.safetensors"}"#;
    seen.expect(RESTORE, how, 507, &json(&app, RESTORE, admin, b_bin));
    let c = [file("c.safetensors", &lora)];
    seen.expect(USER_UPLOAD, how, 507, &form(&app, USER_UPLOAD, user, &c));
    seen.expect(ADMIN_UPLOAD, how, 507, &form(&app, ADMIN_UPLOAD, admin, &c));
    assert!(data.join("models/loras/styles/a.safetensors").is_file());
    assert!(
        data.join("bin/models/loras/clothes/b.safetensors")
            .is_file()
    );

    // Read-only: a server started on it still reads, and refuses every write.
    std::fs::remove_dir_all(&filler).unwrap();
    std::fs::create_dir(data.join("bin/models/loras/styles")).unwrap();
    std::fs::create_dir(data.join("models/loras/clothes")).unwrap();
    drop(app);
    fs.remount("ro");
    let app = spawn_app_at(data);
    let (admin, user) = (Some(app.admin.as_str()), Some(app.user.as_str()));
    let how = "a read-only filesystem";
    seen.expect(DELETE, how, 503, &json(&app, DELETE, admin, a));
    seen.expect(RESTORE, how, 503, &json(&app, RESTORE, admin, b_bin));
    seen.expect(PURGE, how, 503, &json(&app, PURGE, admin, b_bin));
    let all = r#"{"before": "2999-01-01T00:00:00Z"}"#;
    seen.expect(
        PURGE_BEFORE,
        how,
        503,
        &json(&app, PURGE_BEFORE, admin, all),
    );
    seen.expect(USER_UPLOAD, how, 503, &form(&app, USER_UPLOAD, user, &c));
    seen.expect(ADMIN_UPLOAD, how, 503, &form(&app, ADMIN_UPLOAD, admin, &c));
    seen.expect(LIST, how, 200, &query(&app, LIST, admin, ""));
    seen.expect(BIN_LIST, how, 200, &query(&app, BIN_LIST, admin, ""));
    seen.expect(EVALUATE, how, 200, &json(&app, EVALUATE, user, a));
    drop(app);
}

/// A resumable upload announcing more than the disk's free room is refused at creation
/// (507), before any byte is sent.
#[test]
#[ignore = "mounts a tmpfs, which needs root: .ci/run runs it (CI runs as root)"]
pub(crate) fn a_creation_larger_than_the_free_room_is_507() {
    let fs = Tmpfs::mount("size=1m");
    let data = fs.path().join("data");
    let app = spawn_app_at(data);
    let doc = app.request("GET", "/openapi.json", "", b"").json();
    let mut seen = Seen::new(&doc);
    // Fill the disk to within 16 KiB of full: the test app's limit is 64 KiB.
    let filler = fs.path().join("filler");
    let free = app.health()["storage"]["free_bytes"].as_u64().unwrap();
    std::fs::write(
        &filler,
        vec![0u8; usize::try_from(free).unwrap() - (16 << 10)],
    )
    .unwrap();
    let (admin, user) = (Some(app.admin.as_str()), Some(app.user.as_str()));
    for (route, collection, token) in [
        (TUS_CREATE, "/api/v1/lora/uploads", user),
        (TUS_ADMIN_CREATE, "/api/v1/admin/lora/uploads", admin),
    ] {
        let headers = format!(
            "{V}Upload-Length: {}\r\n{}",
            32 << 10,
            tus_meta("big.safetensors", "")
        );
        let r = tus(&app, "POST", collection, token, &headers, b"");
        seen.expect(route, "more than the free room", 507, &r);
    }
    drop(app);
}

/// The install routes' own answers (who may call, bodies: above).
fn install_statuses(app: &TestApp, seen: &mut Seen<'_>) {
    let admin = Some(app.admin.as_str());
    let one = |id: &str| format!("/api/v1/admin/lora/install/{id}");
    let refused = r#"{"url": "ftp://example.com/a.safetensors", "entity_type": "styles"}"#;
    let how = "a scheme it does not fetch";
    seen.expect(INSTALL, how, 400, &json(app, INSTALL, admin, refused));
    // TEST-NET-1: a public literal address, so no name to resolve; nothing answers there.
    let job = r#"{"url": "https://192.0.2.1/a.safetensors", "entity_type": "styles"}"#;
    let created = json(app, INSTALL, admin, job);
    seen.expect(INSTALL, "a source it may fetch", 202, &created);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    seen.expect(INSTALLS, "the jobs", 200, &query(app, INSTALLS, admin, ""));
    let get = |path: &str| app.request("GET", path, &bearer(&app.admin), b"");
    let delete = |path: &str| app.request("DELETE", path, &bearer(&app.admin), b"");
    seen.expect(INSTALL_GET, "a job", 200, &get(&one(&id)));
    seen.expect(INSTALL_GET, "no such job", 404, &get(&one("nope")));
    seen.expect(INSTALL_CANCEL, "a queued job", 200, &delete(&one(&id)));
    seen.expect(INSTALL_CANCEL, "a cancelled job", 409, &delete(&one(&id)));
    seen.expect(INSTALL_CANCEL, "no such job", 404, &delete(&one("nope")));
}
