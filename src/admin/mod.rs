//! The admin page at `/admin`: select failed events and reprocess them from a browser.
//!
//! Grafana cannot multi-select table rows and POST them, so the exporter serves this small page,
//! linked from the dashboard's event table. It holds no data of its own: every call goes to the
//! authenticated `/api/v1` with the token the admin typed. Assets are compiled in (no CDN, no
//! external fonts) and served under a strict Content-Security-Policy.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// Only the page's own script, styles and API calls; no inline code, no framing, no form posts
/// elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router {
    Router::new()
        .route("/admin", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/admin/app.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/admin/app.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
}

/// The options of the page's `<select id="...">`, for the tests that hold its lists to the
/// vocabularies.
#[cfg(test)]
pub(crate) fn select_options(id: &str) -> Vec<&'static str> {
    let select = &INDEX[INDEX.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no select {id}"))..];
    let select = &select[..select.find("</select>").unwrap()];
    select.split("<option>").skip(1).map(|o| o.split('<').next().unwrap()).collect()
}
