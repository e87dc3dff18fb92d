//! The live commands: `ratchet watch` (reload on every save, show what changed) and
//! `ratchet serve` (the HTTP service over the live generation).

use super::table::fmt_num;
use super::{DataArgs, EXIT_OK, EXIT_USAGE, exit_for, plural};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(super) struct ReloadArgs {
    /// Quiet period after the last change before reloading, ms.
    #[arg(long, default_value_t = 200)]
    pub(super) debounce_ms: u64,
    /// Poll the files instead of using change events (network and container file systems).
    #[arg(long)]
    pub(super) poll: bool,
}

#[derive(Debug, Args)]
pub(super) struct WatchArgs {
    #[command(flatten)]
    pub(super) data: DataArgs,
    #[command(flatten)]
    pub(super) reload: ReloadArgs,
    /// Batch requests (JSON Lines) answered after each reload; changed answers are shown.
    #[arg(long, value_name = "FILE")]
    pub(super) query: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    #[command(flatten)]
    pub(super) data: DataArgs,
    #[command(flatten)]
    pub(super) reload: ReloadArgs,
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(super) addr: String,
    /// Do not watch the data directories.
    #[arg(long)]
    pub(super) no_watch: bool,
    /// Largest request body, MiB.
    #[arg(long, default_value_t = 16)]
    pub(super) body_limit_mib: usize,
    /// Longest a request may take, its body included, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub(super) timeout_s: f64,
    /// Longest a client may take to send a request's headers, or idle between requests,
    /// before its connection is closed, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub(super) header_timeout_s: f64,
    /// Open connections at most (the rest wait in the listen backlog).
    #[arg(long, default_value_t = 4096)]
    pub(super) max_connections: usize,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub(super) threads: Option<usize>,
}

fn start_live(data: &DataArgs) -> Result<std::sync::Arc<crate::reload::Live>, i32> {
    match crate::reload::Live::start(data.config()) {
        Ok(l) => Ok(std::sync::Arc::new(l)),
        Err(report) => {
            let mut err = std::io::stderr().lock();
            for d in report.diagnostics.iter().filter(|d| d.is_error()) {
                let _ = write!(err, "{}", d.render());
            }
            let _ = writeln!(err, "error: the data is invalid ({} errors)", report.errors());
            Err(exit_for(&report))
        }
    }
}

fn outcome_line(o: &crate::reload::Outcome) -> String {
    match o {
        crate::reload::Outcome::Unchanged { id } => format!("no content change; generation {id} stays live"),
        crate::reload::Outcome::Swapped { id, build_ms, swap_us } => {
            format!("generation {id} live in {build_ms:.1} ms (swap {swap_us:.1} µs)")
        }
        crate::reload::Outcome::Failed(f) => {
            let mut s = String::new();
            for d in f.report.diagnostics.iter().filter(|d| d.is_error()) {
                s.push_str(&d.render());
            }
            s.push_str(&format!(
                "reload failed ({} error{}); generation {} stays live",
                f.report.errors(),
                plural(f.report.errors()),
                f.kept
            ));
            s
        }
    }
}

fn answer_queries(engine: &crate::engine::Engine, lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| crate::batch::answer_line(engine, l).to_string()).collect()
}

/// `ratchet watch`.
pub(super) fn watch(a: WatchArgs) -> i32 {
    let live = match start_live(&a.data) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let queries: Vec<String> = match &a.query {
        None => Vec::new(),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => t.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect(),
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", p.display());
                return EXIT_USAGE;
            }
        },
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let w = crate::reload::watch(
        live.clone(),
        std::time::Duration::from_millis(a.reload.debounce_ms),
        a.reload.poll,
        move |o| {
            let _ = tx.send(o);
        },
    );
    let w = match w {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if w.paths.is_empty() {
        eprintln!(
            "error: nothing to watch: the data is embedded; give --registry, --rules, --pack or --anchors directories"
        );
        return EXIT_USAGE;
    }
    let g = live.current();
    let mut answers = answer_queries(&g.engine, &queries);
    println!(
        "generation {} live ({} ms); watching {}",
        g.id,
        fmt_num(g.build_ms, 1),
        w.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    for o in rx {
        println!("{}", outcome_line(&o));
        if let crate::reload::Outcome::Swapped { .. } = o {
            let g = live.current();
            let now = answer_queries(&g.engine, &queries);
            for (i, (old, new)) in answers.iter().zip(&now).enumerate() {
                if old != new {
                    println!("  query {}: {}\n    was {old}\n    now {new}", i + 1, queries[i]);
                }
            }
            answers = now;
        }
    }
    EXIT_OK
}

/// `ratchet serve`.
pub(super) fn serve(a: ServeArgs) -> i32 {
    let live = match start_live(&a.data) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let watcher = if a.no_watch {
        None
    } else {
        match crate::reload::watch(
            live.clone(),
            std::time::Duration::from_millis(a.reload.debounce_ms),
            a.reload.poll,
            |o| eprintln!("{}", outcome_line(&o)),
        ) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        }
    };
    for (flag, v) in [("--timeout-s", a.timeout_s), ("--header-timeout-s", a.header_timeout_s)] {
        // at most a day: Duration::from_secs_f64 must not overflow
        if !(v.is_finite() && v > 0.0 && v <= 86_400.0) {
            eprintln!("error: `{flag}` must be a positive number of seconds, at most 86400; found `{v}`");
            return EXIT_USAGE;
        }
    }
    if a.max_connections == 0 {
        eprintln!("error: `--max-connections` must be at least 1");
        return EXIT_USAGE;
    }
    let cfg = crate::serve::ServeConfig {
        body_limit: a.body_limit_mib.saturating_mul(1 << 20),
        timeout: std::time::Duration::from_secs_f64(a.timeout_s),
        header_timeout: std::time::Duration::from_secs_f64(a.header_timeout_s),
        max_connections: a.max_connections,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = a.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return EXIT_USAGE;
        }
    };
    let watched: Option<Vec<PathBuf>> = watcher.as_ref().map(|w| w.paths.clone());
    let code = rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&a.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on `{}`: {e}", a.addr);
                return EXIT_USAGE;
            }
        };
        let addr = listener.local_addr().map(|x| x.to_string()).unwrap_or_else(|_| a.addr.clone());
        let watching = match &watched {
            Some(paths) if !paths.is_empty() => {
                format!("watching {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))
            }
            _ => "not watching".to_string(),
        };
        eprintln!("listening on http://{addr} (generation {}; {watching})", live.current().id);
        let st = crate::serve::AppState::new(live, cfg);
        match crate::serve::serve(listener, st, crate::serve::shutdown_signal()).await {
            Ok(()) => {
                eprintln!("shut down");
                EXIT_OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_USAGE
            }
        }
    });
    drop(watcher);
    code
}
