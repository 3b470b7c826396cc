//! The web console at `/console/`: static HTML, JavaScript and CSS compiled into the
//! binary (no CDN, works offline), served with a strict Content-Security-Policy. It calls
//! the same public API as any other client, with the token pasted into it.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

/// The policy of every console response: scripts, styles and requests only from this
/// origin (no inline script or style, no `eval`), no framing, no forms, no `<base>`.
pub const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; \
form-action 'none'";

/// The console's files: name under `/console/`, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../console/index.html"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../console/console.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../console/favicon.svg"),
    ),
    (
        "vendor/tus.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/vendor/tus.min.js"),
    ),
];

/// Registers `GET /console` (a redirect), `GET /console/` and `GET /console/{file}`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(redirect))
        .route("/console/", web::get().to(index))
        .route("/console/{file:.+}", web::get().to(file));
}

fn secured(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CONSOLE_CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    builder
}

async fn redirect() -> HttpResponse {
    secured(HttpResponse::PermanentRedirect())
        .insert_header((header::LOCATION, "/console/"))
        .finish()
}

async fn index() -> HttpResponse {
    serve("index.html")
}

async fn file(req: HttpRequest) -> HttpResponse {
    let name = req.match_info().get("file").unwrap_or_default().to_owned();
    serve(&name)
}

fn serve(name: &str) -> HttpResponse {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => secured(HttpResponse::Ok())
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(*bytes),
        None => secured(HttpResponse::NotFound())
            .content_type("application/json")
            .body(r#"{"detail":"Not Found"}"#),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test as web_test;

    use super::*;

    #[actix_web::test]
    async fn serves_its_files_with_the_policy() {
        let app = web_test::init_service(actix_web::App::new().configure(configure)).await;
        for (path, status, kind) in [
            ("/console/", 200, Some("text/html; charset=utf-8")),
            (
                "/console/console.js",
                200,
                Some("text/javascript; charset=utf-8"),
            ),
            ("/console/console.css", 200, Some("text/css; charset=utf-8")),
            (
                "/console/vendor/tus.min.js",
                200,
                Some("text/javascript; charset=utf-8"),
            ),
            ("/console", 308, None),
            ("/console/nope.js", 404, Some("application/json")),
            ("/console/../Cargo.toml", 404, Some("application/json")),
        ] {
            let res =
                web_test::call_service(&app, web_test::TestRequest::get().uri(path).to_request())
                    .await;
            assert_eq!(res.status().as_u16(), status, "{path}");
            let h = res.headers();
            assert_eq!(h.get(header::CONTENT_SECURITY_POLICY).unwrap(), CONSOLE_CSP);
            assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
            assert_eq!(h.get(header::REFERRER_POLICY).unwrap(), "no-referrer");
            if let Some(kind) = kind {
                assert_eq!(h.get(header::CONTENT_TYPE).unwrap(), kind, "{path}");
            } else {
                assert_eq!(h.get(header::LOCATION).unwrap(), "/console/");
            }
        }
    }

    /// What the policy forbids the files must not need.
    #[test]
    fn the_files_need_no_inline_code() {
        let html = std::str::from_utf8(FILES[0].2).unwrap();
        assert!(!html.contains("<script>") && !html.contains("style="));
        assert!(!html.contains("http://") && !html.contains("https://"));
        let js = std::str::from_utf8(FILES[1].2).unwrap();
        for banned in [
            "innerHTML",
            "outerHTML",
            "eval(",
            "new Function",
            "insertAdjacentHTML",
            "document.write",
        ] {
            assert!(!js.contains(banned), "{banned}");
        }
    }
}
