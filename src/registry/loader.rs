//! Where data files come from: a directory, the copy embedded in the binary, or memory.
//! One trait so the validator, the engine and the hot-reload watcher read data the same way.

use std::io;
use std::path::{Path, PathBuf};

/// A read-only tree of data files addressed by `/`-separated relative paths.
pub trait Loader: Send + Sync {
    /// Human description (`registry/ (embedded)`, a directory path).
    fn describe(&self) -> String;
    /// Every file, as sorted relative paths. Hidden files and editor backups are skipped.
    fn list(&self) -> io::Result<Vec<String>>;
    /// The bytes of one file.
    fn read(&self, rel: &str) -> io::Result<Vec<u8>>;
    /// The path shown in diagnostics for `rel`.
    fn display(&self, rel: &str) -> String;
    /// True for a directory entry at `rel` (a directory where a file was expected).
    fn is_dir(&self, _rel: &str) -> bool {
        false
    }
}

/// True for names an editor or the OS leaves behind: hidden files, backups, swap files.
pub fn is_ignored_name(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || name.starts_with('#')
        || name == "4913"
}

/// Files under a directory on disk.
#[derive(Debug, Clone)]
pub struct DirLoader {
    root: PathBuf,
    shown: String,
}

impl DirLoader {
    /// A loader rooted at `root`; diagnostics show paths as `root/rel`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let shown = root.display().to_string();
        DirLoader { root, shown }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn walk(&self, dir: &Path, prefix: &str, out: &mut Vec<String>, depth: usize) -> io::Result<()> {
        if depth > 8 {
            return Ok(());
        }
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            if is_ignored_name(&name) {
                continue;
            }
            let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            let ft = entry.file_type()?;
            if ft.is_dir() {
                // a directory directly where data files live is listed so it can be reported
                if self.expects_file_at(&rel) {
                    out.push(rel.clone());
                }
                self.walk(&entry.path(), &rel, out, depth + 1)?;
            } else {
                out.push(rel);
            }
        }
        Ok(())
    }

    fn expects_file_at(&self, rel: &str) -> bool {
        rel.ends_with(".ron") || rel.ends_with(".json") || rel.ends_with(".toml")
    }
}

impl Loader for DirLoader {
    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let meta = std::fs::metadata(&self.root)?;
        if !meta.is_dir() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a directory"));
        }
        let mut out = Vec::new();
        self.walk(&self.root, "", &mut out, 0)?;
        out.sort();
        Ok(out)
    }

    fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.root.join(rel))
    }

    fn display(&self, rel: &str) -> String {
        let joined = self.root.join(rel);
        joined.display().to_string()
    }

    fn is_dir(&self, rel: &str) -> bool {
        self.root.join(rel).is_dir()
    }
}

/// Files compiled into the binary (the shipped `registry/`, `rules/`, `packs/`).
#[derive(Debug, Clone)]
pub struct EmbeddedLoader {
    name: &'static str,
    files: &'static [(&'static str, &'static [u8])],
    prefix: std::borrow::Cow<'static, str>,
}

impl EmbeddedLoader {
    /// The files of one embedded tree whose paths start with `prefix` (may be empty).
    pub const fn new(
        name: &'static str,
        files: &'static [(&'static str, &'static [u8])],
        prefix: &'static str,
    ) -> Self {
        EmbeddedLoader { name, files, prefix: std::borrow::Cow::Borrowed(prefix) }
    }

    /// The files under `dir/` of one embedded tree (an owned prefix: nothing is leaked per
    /// call, which matters to a server that reloads all day).
    pub fn under(name: &'static str, files: &'static [(&'static str, &'static [u8])], dir: &str) -> Self {
        EmbeddedLoader { name, files, prefix: std::borrow::Cow::Owned(format!("{}/", dir.trim_end_matches('/'))) }
    }
}

impl Loader for EmbeddedLoader {
    fn describe(&self) -> String {
        format!("{} (embedded)", self.name)
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut v: Vec<String> = self
            .files
            .iter()
            .filter_map(|(p, _)| p.strip_prefix(&*self.prefix).map(str::to_string))
            .filter(|p| !p.split('/').any(is_ignored_name))
            .collect();
        v.sort();
        Ok(v)
    }

    fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
        let full = format!("{}{rel}", self.prefix);
        self.files
            .iter()
            .find(|(p, _)| *p == full)
            .map(|(_, b)| b.to_vec())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no embedded file `{full}`")))
    }

    fn display(&self, rel: &str) -> String {
        format!("{}/{}{rel}", self.name, self.prefix)
    }
}

/// Files held in memory (uploads to the service, tests).
#[derive(Debug, Clone, Default)]
pub struct MemoryLoader {
    name: String,
    files: Vec<(String, Vec<u8>)>,
}

impl MemoryLoader {
    /// An empty in-memory tree.
    pub fn new(name: impl Into<String>) -> Self {
        MemoryLoader { name: name.into(), files: Vec::new() }
    }

    /// Adds a file.
    pub fn with(mut self, rel: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        self.files.push((rel.into(), bytes.into()));
        self
    }
}

impl Loader for MemoryLoader {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut v: Vec<String> = self.files.iter().map(|(p, _)| p.clone()).collect();
        v.sort();
        Ok(v)
    }

    fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
        self.files
            .iter()
            .find(|(p, _)| p == rel)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no file `{rel}`")))
    }

    fn display(&self, rel: &str) -> String {
        if self.name.is_empty() { rel.to_string() } else { format!("{}/{rel}", self.name) }
    }
}

/// The files of another loader under one directory (a pack's `registry/`).
pub struct SubLoader<'a> {
    inner: &'a dyn Loader,
    prefix: String,
}

impl<'a> SubLoader<'a> {
    /// The files of `inner` under `dir/`.
    pub fn new(inner: &'a dyn Loader, dir: &str) -> Self {
        SubLoader { inner, prefix: format!("{}/", dir.trim_end_matches('/')) }
    }
}

impl Loader for SubLoader<'_> {
    fn describe(&self) -> String {
        format!("{}/{}", self.inner.describe(), self.prefix.trim_end_matches('/'))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.inner.list()?.into_iter().filter_map(|p| p.strip_prefix(&self.prefix).map(str::to_string)).collect())
    }

    fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
        self.inner.read(&format!("{}{rel}", self.prefix))
    }

    fn display(&self, rel: &str) -> String {
        self.inner.display(&format!("{}{rel}", self.prefix))
    }

    fn is_dir(&self, rel: &str) -> bool {
        self.inner.is_dir(&format!("{}{rel}", self.prefix))
    }
}
