//! Values as sizing programs see them: a profile, workload, constant or table value
//! ([`Val`]), the model's interned strings ([`Interner`]) and an evaluation's run-time strings
//! over them ([`Strings`]), the pack's lookup tables ([`Table`]), and the small hasher the
//! engine's internal maps use ([`Fx`]).

use crate::expr::Ty;
use std::collections::HashMap;

/// A value read from a profile, workload, constant or table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    /// Not present.
    Missing,
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// An interned string.
    Str(u32),
    /// A map or a list where a value was expected.
    Map,
}

/// A small, fast, non-cryptographic hasher for the engine's internal tables (FxHash, as in
/// rustc): keys are ids and short names of the model's own data, never untrusted input at a
/// scale where flooding matters.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fx(u64);

const FX_K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl std::hash::Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(FX_K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(FX_K);
        }
    }

    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(x)).wrapping_mul(FX_K);
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(FX_K);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash map with [`Fx`].
pub type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

/// String interning for one compiled sizing model.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    names: Vec<String>,
    index: FxMap<String, u32>,
}

impl Interner {
    /// The id of `s`, adding it when new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    /// The id of `s`, if interned.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.index.get(s).copied()
    }

    /// The text of `id`.
    pub fn text(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(String::as_str)
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Strings during one evaluation: the model's interned strings plus any new text met at run
/// time (a string in a JSON input, a concatenation).
#[derive(Debug)]
pub struct Strings<'a> {
    base: &'a Interner,
    extra: Vec<String>,
    buf: String,
    /// Concatenations of interned strings already made, `(a, b)` → id (interned results
    /// only, so they stay valid across runs).
    pairs: FxMap<(u32, u32), u32>,
}

impl<'a> Strings<'a> {
    /// Run-time strings over `base`.
    pub fn new(base: &'a Interner) -> Self {
        Strings { base, extra: Vec::new(), buf: String::new(), pairs: FxMap::default() }
    }

    /// The id of `s` (new text gets an id past the interned ones).
    pub fn id(&mut self, s: &str) -> u32 {
        if let Some(i) = self.base.get(s) {
            return i;
        }
        let n = self.base.len() as u32;
        if let Some(p) = self.extra.iter().position(|e| e == s) {
            return n + p as u32;
        }
        self.extra.push(s.to_string());
        n + (self.extra.len() - 1) as u32
    }

    /// The id of the concatenation of two strings (no allocation when it is known).
    pub fn concat(&mut self, a: u32, b: u32) -> u32 {
        if let Some(id) = self.pairs.get(&(a, b)) {
            return *id;
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.push_str(self.text(a));
        buf.push_str(self.text(b));
        let id = self.id(&buf);
        self.buf = buf;
        let n = self.base.len() as u32;
        if a < n && b < n && id < n {
            self.pairs.insert((a, b), id);
        }
        id
    }

    /// The text of `id`.
    pub fn text(&self, id: u32) -> &str {
        match self.base.text(id) {
            Some(t) => t,
            None => self.extra.get((id as usize).wrapping_sub(self.base.len())).map_or("", String::as_str),
        }
    }

    /// Forgets run-time strings (keeps the allocation).
    pub fn reset(&mut self) {
        self.extra.clear();
    }
}

/// A lookup table of a pack: string key → value.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The table's name (for messages).
    pub name: String,
    /// Entries by interned key.
    pub entries: HashMap<u32, Val>,
    /// The type of every value.
    pub ty: Option<Ty>,
}
