//! Requests: a batch line (JSON) answered by the embedded engine, or an HTTP request (method,
//! path and body from the input) through the real service router, in process.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

struct Http {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
}

fn http() -> &'static Http {
    static H: OnceLock<Http> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
        let live = ratchet::reload::Live::start(Default::default()).unwrap_or_else(|r| panic!("{r:?}"));
        let st = ratchet::serve::AppState::new(Arc::new(live), ratchet::serve::ServeConfig::default());
        Http { rt, app: ratchet::serve::router(st) }
    })
}

/// The service's routes with their parameters filled in, and the upload forms of validate.
fn routes() -> &'static [String] {
    static R: OnceLock<Vec<String>> = OnceLock::new();
    R.get_or_init(|| {
        let mut r: Vec<String> = ratchet::serve::ROUTES
            .iter()
            .filter(|r| **r != "other")
            .map(|r| r.replace("{name}", "NPU%20Mid"))
            .collect();
        r.extend(["/v1/validate?path=tiers/x.ron", "/v1/validate?path=pack.ron", "/v1/tiers/nope"].map(String::from));
        r
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    if sel & 1 == 0 {
        let text = String::from_utf8_lossy(body);
        for line in text.lines() {
            let _ = ratchet::batch::answer_line(common::engine(), line);
            let mut out = Vec::new();
            let _ = ratchet::batch::answer_line_to(common::engine(), line, &mut out);
        }
        return;
    }
    let h = http();
    let method = if sel & 2 == 0 { "POST" } else { "GET" };
    // a listed route, or one taken from the input's first line
    let (path, body) = if sel & 4 == 0 {
        let r = routes();
        (r[(sel >> 3) as usize % r.len()].clone(), body.to_vec())
    } else {
        match body.iter().position(|b| *b == b'\n') {
            Some(i) => (String::from_utf8_lossy(&body[..i]).into_owned(), body[i + 1..].to_vec()),
            None => return,
        }
    };
    let Ok(req) = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
    else {
        return;
    };
    h.rt.block_on(async {
        let Ok(resp) = h.app.clone().oneshot(req).await;
        let _ = axum::body::to_bytes(resp.into_body(), 1 << 24).await;
    });
});
