//! The HTTP service: JSON over HTTP on top of the live generation (`docs/openapi.json`).
//!
//! Every request takes the current generation once and answers from it alone (the
//! `x-ratchet-generation` header says which). CPU-heavy requests (batches, what-if) run on
//! the blocking pool so the reactor keeps accepting. Errors are JSON
//! `{"error": {"kind", "message"}}` with a 4xx status that says what is wrong.

use crate::diagnostic::{Report, did_you_mean};
use crate::error::EngineError;
use crate::reload::{Generation, Live};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Service settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Largest request body, bytes.
    pub body_limit: usize,
    /// Longest a request may take, its body included: a client that trickles a body is
    /// answered 503 `timeout` when it runs out.
    pub timeout: Duration,
    /// Longest a client may take to send a request's headers (and an idle keep-alive
    /// connection to start its next request) before the connection is closed.
    pub header_timeout: Duration,
    /// Open connections at most; further clients wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            body_limit: 16 << 20,
            timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// Latency histogram bucket upper bounds, seconds.
const BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

/// Every route, as axum matches it; the last entry, `other`, counts requests that match no
/// route. A fixed set, so metrics need no allocation and no lock per request.
pub const ROUTES: [&str; 20] = [
    "/",
    "/assets/{*file}",
    "/healthz",
    "/v1/status",
    "/v1/tiers",
    "/v1/tiers/{name}",
    "/v1/models",
    "/v1/packs",
    "/v1/registry",
    "/v1/project",
    "/v1/ladder",
    "/v1/plan",
    "/v1/batch",
    "/v1/whatif/point",
    "/v1/whatif/sweep",
    "/v1/whatif/pareto",
    "/v1/validate",
    "/metrics",
    "/openapi.json",
    "other",
];

#[derive(Debug, Default)]
struct RouteStats {
    requests: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    sum_us: AtomicU64,
}

/// Shared state of the service.
#[derive(Debug)]
pub struct AppState {
    live: Arc<Live>,
    cfg: ServeConfig,
    stats: Vec<RouteStats>,
    started: SystemTime,
}

impl AppState {
    /// State over a live generation.
    pub fn new(live: Arc<Live>, cfg: ServeConfig) -> Arc<Self> {
        Arc::new(AppState {
            live,
            cfg,
            stats: (0..ROUTES.len()).map(|_| RouteStats::default()).collect(),
            started: SystemTime::now(),
        })
    }
}

type S = State<Arc<AppState>>;

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": {"kind": kind, "message": message.into()}}))).into_response()
}

fn engine_error(e: &EngineError) -> Response {
    let status = match e {
        EngineError::BadRequest(_) => StatusCode::BAD_REQUEST,
        EngineError::UnknownKey(_) => StatusCode::NOT_FOUND,
        EngineError::InvalidValue(_)
        | EngineError::NonFinite(_)
        | EngineError::DivisionByZero(_)
        | EngineError::WrongType(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    error(status, e.kind(), e.to_string())
}

fn with_generation(mut r: Response, g: &Generation) -> Response {
    if let Ok(v) = HeaderValue::from_str(&g.id.to_string()) {
        r.headers_mut().insert("x-ratchet-generation", v);
    }
    r
}

fn json_response(v: &Value, g: &Generation) -> Response {
    with_generation(axum::Json(v).into_response(), g)
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Records requests and latencies per route; bounds each request's time.
async fn track(State(st): S, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let i = route.as_deref().and_then(|r| ROUTES.iter().position(|x| *x == r)).unwrap_or(ROUTES.len() - 1);
    let t = Instant::now();
    let resp = match tokio::time::timeout(st.cfg.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request took longer than {} s", st.cfg.timeout.as_secs_f64()),
        ),
    };
    let dt = t.elapsed().as_secs_f64();
    let s = &st.stats[i];
    s.requests.fetch_add(1, Ordering::Relaxed);
    if resp.status().is_client_error() {
        s.client_errors.fetch_add(1, Ordering::Relaxed);
    } else if resp.status().is_server_error() {
        s.server_errors.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(b) = BUCKETS.iter().position(|ub| dt <= *ub) {
        s.buckets[b].fetch_add(1, Ordering::Relaxed);
    }
    s.sum_us.fetch_add((dt * 1e6) as u64, Ordering::Relaxed);
    resp
}

/// The service's routes.
pub fn router(st: Arc<AppState>) -> Router {
    let limit = st.cfg.body_limit;
    Router::new()
        .route("/", get(page))
        .route("/assets/{*file}", get(page))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/v1/status", get(status))
        .route("/v1/tiers", get(tiers))
        .route("/v1/tiers/{name}", get(tier))
        .route("/v1/models", get(models))
        .route("/v1/packs", get(packs))
        .route("/v1/registry", get(registry))
        .route("/v1/project", post(project))
        .route("/v1/ladder", post(|s: S, b| blocking_op(s, "ladder", b)))
        .route("/v1/plan", post(|s: S, b| blocking_op(s, "plan", b)))
        .route("/v1/batch", post(batch))
        .route("/v1/whatif/point", post(|s: S, b| whatif(s, "whatif_point", b)))
        .route("/v1/whatif/sweep", post(|s: S, b| whatif(s, "whatif_sweep", b)))
        .route("/v1/whatif/pareto", post(|s: S, b| whatif(s, "whatif_pareto", b)))
        .route("/v1/validate", post(validate))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such route; see /openapi.json") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "wrong method for this route; see /openapi.json",
            )
        })
        .layer(middleware::from_fn_with_state(st.clone(), track))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(st)
}

// the error is the response to send; it is built once per bad request
#[allow(clippy::result_large_err)]
fn body_json(body: Result<Bytes, BytesRejection>) -> Result<serde_json::Map<String, Value>, Response> {
    let bytes = body.map_err(|e| {
        let status = e.status();
        let kind = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "bad_request" };
        error(status, kind, e.body_text().to_lowercase())
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(error(StatusCode::BAD_REQUEST, "bad_request", "the body must be a JSON object")),
        Err(e) => Err(error(StatusCode::BAD_REQUEST, "bad_request", format!("the body is not valid JSON: {e}"))),
    }
}

async fn status(State(st): S) -> Response {
    let g = st.live.current();
    let p = g.engine.provenance();
    let failure = st.live.last_failure().map(|f| {
        json!({
            "at": epoch(f.at),
            "kept_generation": f.kept,
            "errors": f.report.errors(),
            "diagnostics": f.report.diagnostics,
        })
    });
    let packs = g.engine.packs().map(|p| p.packs.clone()).unwrap_or_default();
    let v = json!({
        "generation": g.id,
        "registry": p.registry,
        "registry_version": p.registry_version,
        "rule_set": p.rule_set,
        "content_hash": p.content_hash,
        "loaded_at": epoch(g.loaded_at),
        "build_ms": g.build_ms,
        "started_at": epoch(st.started),
        "packs": packs,
        "anchors_loaded": g.engine.anchors().is_some(),
        "reloads": st.live.reloads(),
        "reload_failures": st.live.failures(),
        "last_reload_error": failure,
        "engine_version": crate::version::ENGINE_VERSION,
    });
    json_response(&v, &g)
}

async fn tiers(State(st): S) -> Response {
    let g = st.live.current();
    let reg = g.engine.registry();
    let rows: Vec<Value> = reg.tiers().iter().map(|t| reg.tier_summary(t)).collect();
    let ladder = g.engine.packs().and_then(|p| p.ladder.clone());
    json_response(&json!({"tiers": rows, "visible_ladder": ladder, "provenance": g.engine.provenance()}), &g)
}

async fn tier(State(st): S, Path(name): Path<String>) -> Response {
    let g = st.live.current();
    let reg = g.engine.registry();
    match reg.tier(&name) {
        Some(t) => json_response(&serde_json::to_value(t.to_full_spec()).unwrap_or_default(), &g),
        None => {
            let help = did_you_mean(&name, reg.tiers().iter().map(|t| t.name()))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            with_generation(error(StatusCode::NOT_FOUND, "unknown_key", format!("unknown tier `{name}`{help}")), &g)
        }
    }
}

async fn models(State(st): S) -> Response {
    let g = st.live.current();
    let list: Vec<Value> =
        g.engine.registry().catalog().iter().map(|m| serde_json::to_value(m.as_ref()).unwrap_or_default()).collect();
    json_response(&json!({"models": list}), &g)
}

async fn project(State(st): S, body: Result<Bytes, BytesRejection>) -> Response {
    let mut o = match body_json(body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match o.get("op") {
        None => {
            o.insert("op".into(), Value::String("project_llm".into()));
        }
        Some(Value::String(s)) if s == "project_llm" => {}
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("`op` must be `project_llm` here, got `{other}`"),
            );
        }
    }
    // like `ratchet project`: private anchors overlay the result unless the request says not
    o.entry("overlay_anchors").or_insert(Value::Bool(true));
    let g = st.live.current();
    match crate::batch::answer(&g.engine, &o) {
        Ok(v) => json_response(&v, &g),
        Err(e) => with_generation(engine_error(&e), &g),
    }
}

async fn batch(State(st): S, body: Result<Bytes, BytesRejection>) -> Response {
    let bytes = match body {
        Ok(b) => b,
        Err(e) => return error(e.status(), "bad_request", e.body_text().to_lowercase()),
    };
    let g = st.live.current();
    let g2 = g.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(bytes.len() * 2);
        crate::batch::run(&g2.engine, std::io::Cursor::new(bytes), &mut out).map(|_| out)
    })
    .await;
    match out {
        Ok(Ok(out)) => {
            let mut r = (StatusCode::OK, out).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
            with_generation(r, &g)
        }
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, "bad_request", format!("cannot read the batch: {e}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("the batch failed: {e}")),
    }
}

async fn page(uri: axum::http::Uri) -> Response {
    match crate::web::asset(uri.path()) {
        Some(a) => {
            let mut r = a.body.into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        None => error(StatusCode::NOT_FOUND, "not_found", format!("no asset `{}`", uri.path())),
    }
}

/// The packs of the live generation: profiles, workloads and sliders, for the what-if page.
async fn packs(State(st): S) -> Response {
    let g = st.live.current();
    let list: Vec<Value> = match g.engine.packs() {
        None => Vec::new(),
        Some(p) => {
            let m = &p.sizing;
            let sliders: Vec<Value> = m
                .sliders
                .iter()
                .map(|s| {
                    let d = &s.def;
                    json!({
                        "name": d.name, "category": d.category, "units": d.units, "default": d.default,
                        "min": d.min_val, "max": d.max_val, "step": d.step,
                    })
                })
                .collect();
            let name = p.packs.last().map(|i| i.name.clone()).unwrap_or_default();
            vec![json!({
                "name": name,
                "packs": p.packs,
                "profiles": m.profiles.iter().map(|x| x.name.clone()).collect::<Vec<_>>(),
                "workloads": m.workloads.iter().map(|w| w.name.clone()).collect::<Vec<_>>(),
                "sliders": sliders,
                "default_profile": p.whatif.default_profile,
                "ladder": p.ladder,
            })]
        }
    };
    json_response(&json!({"packs": list}), &g)
}

/// The registry as a browser shows it: every tier with the file it came from and its
/// calibration source, and every table.
async fn registry(State(st): S) -> Response {
    let g = st.live.current();
    let reg = g.engine.registry();
    let tiers: Vec<Value> = reg
        .tiers()
        .iter()
        .map(|t| {
            let origin = reg.tier_origin(t.name());
            json!({
                "name": t.name(),
                "file": origin.map(|o| o.file.clone()),
                "line": origin.map(|o| o.line),
                "tier_family": t.spec.tier_family,
                "calibration_source": t.spec.calibration_source,
                "capability_table": t.capability.as_ref().and_then(|c| c.name.clone()),
            })
        })
        .collect();
    let caps: serde_json::Map<String, Value> = reg
        .capability_tables()
        .iter()
        .map(|(k, t)| (k.clone(), serde_json::to_value(&t.entries).unwrap_or_default()))
        .collect();
    let v = json!({
        "provenance": g.engine.provenance(),
        "tiers": tiers,
        "models": reg.catalog().keys().collect::<Vec<_>>(),
        "tables": {
            "quant_schemes": reg.quant_schemes(),
            "dtypes": reg.dtypes(),
            "precision_sets": reg.precision_sets(),
            "silicon_classes": reg.silicon_classes(),
            "memory": reg.memory(),
            "badges": reg.badges(),
            "capability_tables": caps,
        },
    });
    json_response(&v, &g)
}

/// A batch operation named by the route (`ladder`, `plan`), run on the blocking pool.
async fn blocking_op(State(st): S, op: &'static str, body: Result<Bytes, BytesRejection>) -> Response {
    let mut o = match body_json(body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Some(other) = o.get("op").filter(|v| v.as_str() != Some(op)) {
        return error(StatusCode::BAD_REQUEST, "bad_request", format!("`op` must be `{op}` here, got `{other}`"));
    }
    o.insert("op".into(), Value::String(op.into()));
    answer_blocking(st, o).await
}

async fn whatif(State(st): S, op: &'static str, body: Result<Bytes, BytesRejection>) -> Response {
    let mut o = match body_json(body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    o.insert("op".into(), Value::String(op.into()));
    // a surface's slider values are checked against their sliders (range, step, name)
    o.insert("checked".into(), Value::Bool(true));
    answer_blocking(st, o).await
}

/// Answers a batch request on the blocking pool from the current generation.
async fn answer_blocking(st: Arc<AppState>, o: serde_json::Map<String, Value>) -> Response {
    let g = st.live.current();
    let g2 = g.clone();
    let r = tokio::task::spawn_blocking(move || crate::batch::answer(&g2.engine, &o)).await;
    match r {
        Ok(Ok(v)) => json_response(&v, &g),
        Ok(Err(e)) => with_generation(engine_error(&e), &g),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("the run failed: {e}")),
    }
}

async fn validate(
    State(st): S,
    Query(q): Query<HashMap<String, String>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bytes = match body {
        Ok(b) => b,
        Err(e) => return error(e.status(), "bad_request", e.body_text().to_lowercase()),
    };
    let Some(path) = q.get("path").cloned() else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "give the file's place in the registry as `?path=tiers/10-my-tier.ron`",
        );
    };
    if path.contains("..") || path.starts_with('/') || crate::registry::classify(&path).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "`{path}` is not a registry file path (registry.ron, tiers/*, custom-tiers/*, capabilities/*, catalog/*, tables/*.ron|json)"
            ),
        );
    }
    let live = st.live.clone();
    let r = tokio::task::spawn_blocking(move || {
        let report = validate_upload(&live, &path, &bytes);
        json!({
            "path": path,
            "valid": !report.has_errors(),
            "errors": report.errors(),
            "warnings": report.warnings(),
            "diagnostics": report.diagnostics,
        })
    })
    .await;
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("validation failed: {e}")),
    }
}

/// Validates one uploaded file in place of (or added to) the live registry's files, without
/// installing it.
fn validate_upload(live: &Live, path: &str, bytes: &[u8]) -> Report {
    use crate::registry::loader::{DirLoader, Loader, MemoryLoader};
    let base: Box<dyn Loader> = match &live.config().registry {
        Some(d) => Box::new(DirLoader::new(d.clone())),
        None => Box::new(crate::embedded::registry()),
    };
    let mut mem = MemoryLoader::new("upload");
    if let Ok(list) = base.list() {
        for rel in list {
            if rel != path {
                if let Ok(b) = base.read(&rel) {
                    mem = mem.with(rel, b);
                }
            }
        }
    }
    mem = mem.with(path.to_string(), bytes.to_vec());
    let out = crate::registry::load(&mem);
    // only what concerns the uploaded file (the rest of the registry is already live)
    let mut report = Report::default();
    let shown = format!("upload/{path}");
    for d in out.report.diagnostics {
        if d.file.as_deref().is_none_or(|f| f == shown) {
            report.push(d);
        }
    }
    report
}

async fn metrics(State(st): S) -> Response {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "# HELP ratchet_requests_total Requests by route.\n# TYPE ratchet_requests_total counter");
    for (i, r) in ROUTES.iter().enumerate() {
        let x = &st.stats[i];
        let _ = writeln!(s, "ratchet_requests_total{{route=\"{r}\"}} {}", x.requests.load(Ordering::Relaxed));
    }
    let _ = writeln!(
        s,
        "# HELP ratchet_request_errors_total Error responses by route and class.\n# TYPE ratchet_request_errors_total counter"
    );
    for (i, r) in ROUTES.iter().enumerate() {
        let x = &st.stats[i];
        let _ = writeln!(
            s,
            "ratchet_request_errors_total{{route=\"{r}\",class=\"4xx\"}} {}",
            x.client_errors.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "ratchet_request_errors_total{{route=\"{r}\",class=\"5xx\"}} {}",
            x.server_errors.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        s,
        "# HELP ratchet_request_duration_seconds Request latency by route.\n# TYPE ratchet_request_duration_seconds histogram"
    );
    for (i, r) in ROUTES.iter().enumerate() {
        let x = &st.stats[i];
        let mut cum = 0;
        for (b, ub) in BUCKETS.iter().enumerate() {
            cum += x.buckets[b].load(Ordering::Relaxed);
            let _ = writeln!(s, "ratchet_request_duration_seconds_bucket{{route=\"{r}\",le=\"{ub}\"}} {cum}");
        }
        let n = x.requests.load(Ordering::Relaxed);
        let _ = writeln!(s, "ratchet_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {n}");
        let _ = writeln!(
            s,
            "ratchet_request_duration_seconds_sum{{route=\"{r}\"}} {}",
            x.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "ratchet_request_duration_seconds_count{{route=\"{r}\"}} {n}");
    }
    let g = st.live.current();
    let _ = writeln!(
        s,
        "# HELP ratchet_generation The live generation.\n# TYPE ratchet_generation gauge\nratchet_generation {}",
        g.id
    );
    let _ = writeln!(
        s,
        "# HELP ratchet_reloads_total Successful reloads.\n# TYPE ratchet_reloads_total counter\nratchet_reloads_total {}",
        st.live.reloads()
    );
    let _ = writeln!(
        s,
        "# HELP ratchet_reload_failures_total Failed reloads (the previous generation stayed live).\n# TYPE ratchet_reload_failures_total counter\nratchet_reload_failures_total {}",
        st.live.failures()
    );
    let _ = writeln!(
        s,
        "# HELP ratchet_generation_build_seconds Load, validate and compile time of the live generation.\n# TYPE ratchet_generation_build_seconds gauge\nratchet_generation_build_seconds {}",
        g.build_ms / 1e3
    );
    let mut r = s.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}

/// The OpenAPI document (committed as `docs/openapi.json`).
pub const OPENAPI: &str = include_str!("../docs/openapi.json");

async fn openapi() -> Response {
    let mut r = OPENAPI.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Serves on `listener` until `shutdown` resolves, then finishes in-flight requests.
///
/// The connection loop is hyper's HTTP/1 server under the router, with a timer so that
/// `header_timeout` closes a connection whose client trickles its headers or idles between
/// requests; at most `max_connections` are open at once (the rest wait in the backlog). An
/// accept error (out of file descriptors, say) pauses the loop briefly instead of ending it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    st: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let cfg = st.cfg.clone();
    let app = router(st);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(cfg.header_timeout).keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(cfg.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), svc));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    // in-flight requests finish; idle connections close at once
    graceful.shutdown().await;
    Ok(())
}
