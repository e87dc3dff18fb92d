//! The paths of a sizing model and where their values come from: every `profile.…` and
//! `workload.…` path the packs name gets a stable id in a [`Layout`] (its slot in the what-if
//! state vector), and an evaluation reads the values through an [`Env`] — the what-if state
//! vector itself, or JSON documents ([`JsonEnv`]) for one-off batch calls.

use super::value::{FxMap, Interner, Strings, Val};
use crate::expr::Ty;
use std::collections::HashMap;

/// Which document a path reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Root {
    /// The SoC profile.
    Profile,
    /// The workload (mission).
    Workload,
}

impl Root {
    /// `profile` or `workload`.
    pub fn name(self) -> &'static str {
        match self {
            Root::Profile => "profile",
            Root::Workload => "workload",
        }
    }
}

/// One dotted path the model knows about.
#[derive(Debug, Clone)]
pub struct PathInfo {
    /// `profile.npu.tops_bf16`.
    pub text: String,
    /// Which document.
    pub root: Root,
    /// Segments after the root.
    pub segs: Vec<String>,
    /// Type, from the data or from use.
    pub ty: Option<Ty>,
    /// The pack's default when the document lacks the value.
    pub default: Option<Val>,
    /// True when some profile, workload, default or slider provides the value.
    pub provided: bool,
}

/// Every path of a model, each with a stable id (its slot in the what-if state vector).
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Paths by id.
    pub paths: Vec<PathInfo>,
    index: HashMap<String, u32>,
    /// `(prefix path id, interned key)` → path id, for `field(prefix, key)`.
    children: FxMap<(u32, u32), u32>,
}

impl Layout {
    /// The id of `text`, adding it; `None` when it does not start with `profile.` or
    /// `workload.` or has an empty segment.
    pub fn id(&mut self, text: &str) -> Option<u32> {
        if let Some(&i) = self.index.get(text) {
            return Some(i);
        }
        let (root, rest) = split_root(text)?;
        let segs: Vec<String> = rest.split('.').map(str::to_string).collect();
        if segs.iter().any(String::is_empty) {
            return None;
        }
        let i = self.paths.len() as u32;
        self.paths.push(PathInfo { text: text.to_string(), root, segs, ty: None, default: None, provided: false });
        self.index.insert(text.to_string(), i);
        Some(i)
    }

    /// The id of `text`, if known.
    pub fn find(&self, text: &str) -> Option<u32> {
        self.index.get(text).copied()
    }

    /// Number of paths.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Indexes every path under its parent path (when the parent is itself a path of the
    /// layout) by the interned last segment, for run-time keyed reads.
    pub fn index_children(&mut self, strings: &mut Interner) {
        self.children.clear();
        for (i, p) in self.paths.iter().enumerate() {
            if let Some((parent, last)) = p.text.rsplit_once('.') {
                if let Some(&pid) = self.index.get(parent) {
                    self.children.insert((pid, strings.intern(last)), i as u32);
                }
            }
        }
    }

    /// The path `prefix.key`, by interned key.
    #[inline]
    pub fn child(&self, prefix: u32, key: u32) -> Option<u32> {
        self.children.get(&(prefix, key)).copied()
    }

    /// Paths the data provides, for suggestions.
    pub fn provided(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().filter(|p| p.provided).map(|p| p.text.as_str())
    }
}

/// Splits `profile.x.y` into its root and `x.y`.
pub fn split_root(text: &str) -> Option<(Root, &str)> {
    if let Some(r) = text.strip_prefix("profile.") {
        Some((Root::Profile, r))
    } else {
        text.strip_prefix("workload.").map(|r| (Root::Workload, r))
    }
}

/// Where profile and workload values come from during an evaluation.
pub trait Env {
    /// The value at path `p`.
    fn get(&self, p: u32, layout: &Layout, s: &mut Strings<'_>) -> Val;
    /// The value at `prefix.key` for a key known only at run time.
    fn dynamic(&self, prefix: u32, key: u32, layout: &Layout, s: &mut Strings<'_>) -> Val;
}

/// The what-if runner's state: one value per layout path.
impl Env for [Val] {
    #[inline]
    fn get(&self, p: u32, _: &Layout, _: &mut Strings<'_>) -> Val {
        self.get(p as usize).copied().unwrap_or(Val::Missing)
    }

    #[inline]
    fn dynamic(&self, prefix: u32, key: u32, layout: &Layout, _: &mut Strings<'_>) -> Val {
        match layout.child(prefix, key) {
            Some(i) => self.get(i as usize).copied().unwrap_or(Val::Missing),
            None => Val::Missing,
        }
    }
}

/// Profile and workload as JSON trees (batch calls and `apply_sliders`).
#[derive(Debug, Clone, Copy)]
pub struct JsonEnv<'a> {
    /// The profile map.
    pub profile: &'a serde_json::Value,
    /// The workload map.
    pub workload: &'a serde_json::Value,
}

/// Converts one JSON value.
pub fn json_val(v: Option<&serde_json::Value>, s: &mut Strings<'_>) -> Val {
    use serde_json::Value as J;
    match v {
        None | Some(J::Null) => Val::Missing,
        Some(J::Bool(b)) => Val::Bool(*b),
        Some(J::Number(n)) => n.as_f64().map_or(Val::Missing, Val::Num),
        Some(J::String(t)) => Val::Str(s.id(t)),
        Some(J::Array(_)) | Some(J::Object(_)) => Val::Map,
    }
}

impl JsonEnv<'_> {
    fn walk<'v>(&self, root: Root, segs: &[String]) -> Option<&'v serde_json::Value>
    where
        Self: 'v,
    {
        let mut cur = match root {
            Root::Profile => self.profile,
            Root::Workload => self.workload,
        };
        for s in segs {
            cur = cur.as_object()?.get(s)?;
        }
        Some(cur)
    }
}

impl Env for JsonEnv<'_> {
    fn get(&self, p: u32, layout: &Layout, s: &mut Strings<'_>) -> Val {
        let Some(info) = layout.paths.get(p as usize) else { return Val::Missing };
        json_val(self.walk(info.root, &info.segs), s)
    }

    fn dynamic(&self, prefix: u32, key: u32, layout: &Layout, s: &mut Strings<'_>) -> Val {
        let Some(info) = layout.paths.get(prefix as usize) else { return Val::Missing };
        let key = s.text(key).to_string();
        json_val(self.walk(info.root, &info.segs).and_then(|m| m.as_object()).and_then(|m| m.get(&key)), s)
    }
}
