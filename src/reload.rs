//! Hot reload: data on disk → load, validate, compile → an immutable generation, swapped in
//! atomically. A failed reload keeps the last good generation and publishes its diagnostics;
//! a save that changes no content does not make a new generation.
//!
//! Readers take the current generation with one atomic load ([`Live::current`]) and keep it
//! for the whole request, so an answer never mixes two generations.

use crate::diagnostic::Report;
use crate::engine::{Engine, EngineConfig};
use arc_swap::{ArcSwap, ArcSwapOption};
use notify::{EventKind, RecursiveMode};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// One compiled, immutable generation of the data.
#[derive(Debug)]
pub struct Generation {
    /// The engine (registry, rules, packs, anchors).
    pub engine: Engine,
    /// Generation id (1 for the first load, +1 per successful reload).
    pub id: u64,
    /// When it went live.
    pub loaded_at: SystemTime,
    /// Load + validate + compile time, ms.
    pub build_ms: f64,
    /// Hash of everything it was built from, the anchor file included.
    pub data_hash: String,
}

/// A reload that failed; the previous generation stays live.
#[derive(Debug, Clone)]
pub struct Failure {
    /// When.
    pub at: SystemTime,
    /// The generation that stayed live.
    pub kept: u64,
    /// What was wrong.
    pub report: Report,
}

/// What a reload did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The data is byte-for-byte what the live generation was built from.
    Unchanged {
        /// The live generation.
        id: u64,
    },
    /// A new generation is live.
    Swapped {
        /// New id.
        id: u64,
        /// Load + validate + compile, ms.
        build_ms: f64,
        /// The atomic swap itself, µs.
        swap_us: f64,
    },
    /// The data is invalid; the old generation stays.
    Failed(Box<Failure>),
}

/// How many times a failed read is retried when the data was still changing under it.
pub const TORN_READ_RETRIES: u32 = 3;

/// How deep [`Live::fingerprint`] walks a watched directory (data trees are a few levels deep).
const FINGERPRINT_DEPTH: usize = 8;

/// The live generation and its reload history.
#[derive(Debug)]
pub struct Live {
    cfg: EngineConfig,
    current: ArcSwap<Generation>,
    last_failure: ArcSwapOption<Failure>,
    reloads: AtomicU64,
    failures: AtomicU64,
    next_id: AtomicU64,
    lock: Mutex<()>,
}

fn anchors_hash(cfg: &EngineConfig) -> String {
    let mut h = Sha256::new();
    if let Some(p) = &cfg.anchors {
        h.update(std::fs::read(p).unwrap_or_default());
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl Live {
    /// Loads the first generation.
    pub fn start(cfg: EngineConfig) -> Result<Live, Report> {
        let t = Instant::now();
        let out = Engine::load(&cfg);
        let Some(mut engine) = out.engine else { return Err(out.report) };
        engine.set_generation(1);
        let data_hash = format!("{}{}", engine.provenance().content_hash, anchors_hash(&cfg));
        let g = Generation {
            engine,
            id: 1,
            loaded_at: SystemTime::now(),
            build_ms: t.elapsed().as_secs_f64() * 1e3,
            data_hash,
        };
        Ok(Live {
            cfg,
            current: ArcSwap::from_pointee(g),
            last_failure: ArcSwapOption::empty(),
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            next_id: AtomicU64::new(2),
            lock: Mutex::new(()),
        })
    }

    /// The live generation (one atomic load; keep it for the whole request).
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// The last failed reload, if the most recent reload attempt failed.
    pub fn last_failure(&self) -> Option<Arc<Failure>> {
        self.last_failure.load_full()
    }

    /// Successful reloads so far.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Failed reloads so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The configuration generations are built from.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Rebuilds from disk and swaps the result in when it is valid and different.
    pub fn reload(&self) -> Outcome {
        self.reload_settled(Duration::ZERO)
    }

    /// Like [`Live::reload`], but a failed load counts only when the data held still while it
    /// was read: if any watched file changed within `settle` of a failed read (an editor that
    /// truncates and then writes, a copy still in progress), the read was torn and is retried,
    /// up to [`TORN_READ_RETRIES`] times. `Duration::ZERO` reads once.
    pub fn reload_settled(&self, settle: Duration) -> Outcome {
        // one reload at a time; readers never wait
        let _guard = self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut tries = 0;
        loop {
            let before = (!settle.is_zero()).then(|| self.fingerprint());
            let t = Instant::now();
            let out = Engine::load(&self.cfg);
            match out.engine {
                Some(engine) => return self.install(engine, t),
                None => {
                    tries += 1;
                    if let Some(before) = before {
                        std::thread::sleep(settle);
                        if tries <= TORN_READ_RETRIES && self.fingerprint() != before {
                            continue;
                        }
                    }
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    let f = Failure { at: SystemTime::now(), kept: self.current().id, report: out.report };
                    self.last_failure.store(Some(Arc::new(f.clone())));
                    return Outcome::Failed(Box::new(f));
                }
            }
        }
    }

    /// Size and modification time of every file under the watched paths: what changes when a
    /// file is written, so two equal fingerprints mean the data held still between them.
    fn fingerprint(&self) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
        fn walk(p: &Path, out: &mut Vec<(PathBuf, u64, Option<SystemTime>)>, depth: usize) {
            let Ok(m) = std::fs::metadata(p) else { return };
            if m.is_dir() {
                if depth == 0 {
                    return;
                }
                for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                    walk(&e.path(), out, depth - 1);
                }
            } else {
                out.push((p.to_path_buf(), m.len(), m.modified().ok()));
            }
        }
        let mut out = Vec::new();
        for p in self.data_dirs() {
            walk(&p, &mut out, FINGERPRINT_DEPTH);
        }
        // the anchor file's directory is watched for renames; only the file itself is data
        if let Some(a) = &self.cfg.anchors {
            walk(a, &mut out, 0);
        }
        out.sort();
        out
    }

    /// Puts a freshly loaded engine live unless it is built from the same data.
    fn install(&self, mut engine: Engine, t: Instant) -> Outcome {
        let cur = self.current();
        let data_hash = format!("{}{}", engine.provenance().content_hash, anchors_hash(&self.cfg));
        if data_hash == cur.data_hash {
            self.last_failure.store(None);
            return Outcome::Unchanged { id: cur.id };
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        engine.set_generation(id);
        let build_ms = t.elapsed().as_secs_f64() * 1e3;
        let g = Arc::new(Generation { engine, id, loaded_at: SystemTime::now(), build_ms, data_hash });
        let s = Instant::now();
        self.current.store(g);
        let swap_us = s.elapsed().as_secs_f64() * 1e6;
        self.last_failure.store(None);
        self.reloads.fetch_add(1, Ordering::Relaxed);
        Outcome::Swapped { id, build_ms, swap_us }
    }

    /// The directories whose changes make a new generation: the registry, rules and pack
    /// directories, and the anchor file's directory (embedded data is not watched).
    pub fn watch_paths(&self) -> Vec<PathBuf> {
        let mut v = self.data_dirs();
        if let Some(a) = &self.cfg.anchors {
            let parent = a.parent().map(Path::to_path_buf).filter(|p| !p.as_os_str().is_empty());
            v.push(parent.unwrap_or_else(|| PathBuf::from(".")));
        }
        let mut out: Vec<PathBuf> = Vec::new();
        for p in v {
            let p = p.canonicalize().unwrap_or(p);
            if !out.iter().any(|q| p.starts_with(q)) {
                out.retain(|q| !q.starts_with(&p));
                out.push(p);
            }
        }
        out
    }

    /// The registry, rules and pack directories read from disk.
    fn data_dirs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = Vec::new();
        if let Some(r) = &self.cfg.registry {
            v.push(r.clone());
        }
        v.extend(self.cfg.rules_dirs.iter().cloned());
        if let Some(p) = self.current().engine.packs() {
            v.extend(p.dirs.iter().cloned());
        }
        for p in &self.cfg.packs {
            if let crate::pack::PackRef::Dir(d) = p {
                v.push(d.clone());
            }
        }
        v
    }
}

/// True for an event that can change data: not a read, and about at least one path that is
/// not an editor's temporary or backup file.
fn relevant(e: &notify::Event) -> bool {
    if matches!(e.kind, EventKind::Access(_)) {
        return false;
    }
    e.paths
        .iter()
        .any(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| !crate::registry::loader::is_ignored_name(n)))
}

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    _inner: Box<dyn std::any::Any + Send>,
    /// Directories watched.
    pub paths: Vec<PathBuf>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").field("paths", &self.paths).finish()
    }
}

/// Watches the data of `live` and reloads after each burst of changes (`debounce`), calling
/// `on_reload` with what happened. `poll` uses a polling watcher for file systems without
/// change events.
pub fn watch(
    live: Arc<Live>,
    debounce: Duration,
    poll: bool,
    on_reload: impl Fn(Outcome) + Send + 'static,
) -> Result<Watcher, String> {
    let paths = live.watch_paths();
    let handler = move |res: notify_debouncer_full::DebounceEventResult| {
        let changed = match &res {
            Ok(events) => events.iter().any(|e| relevant(e)),
            // errors (a watched directory vanished, an overflow): re-read to be safe
            Err(_) => true,
        };
        if changed {
            on_reload(live.reload_settled(debounce.max(Duration::from_millis(20))));
        }
    };
    let tick = Some((debounce / 4).max(Duration::from_millis(5)));
    let inner: Box<dyn std::any::Any + Send> = if poll {
        let cfg = notify::Config::default().with_poll_interval(debounce.max(Duration::from_millis(50)));
        let mut d = notify_debouncer_full::new_debouncer_opt::<_, notify::PollWatcher, _>(
            debounce,
            tick,
            handler,
            notify_debouncer_full::FileIdMap::new(),
            cfg,
        )
        .map_err(|e| format!("cannot start the watcher: {e}"))?;
        for p in &paths {
            d.watch(p, RecursiveMode::Recursive).map_err(|e| format!("cannot watch `{}`: {e}", p.display()))?;
        }
        Box::new(d)
    } else {
        let mut d = notify_debouncer_full::new_debouncer(debounce, tick, handler)
            .map_err(|e| format!("cannot start the watcher: {e}"))?;
        for p in &paths {
            d.watch(p, RecursiveMode::Recursive).map_err(|e| format!("cannot watch `{}`: {e}", p.display()))?;
        }
        Box::new(d)
    };
    Ok(Watcher { _inner: inner, paths })
}
