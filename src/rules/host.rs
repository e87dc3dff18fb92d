//! What a rule-set program reads while it runs: the request's inputs, the tier's capability
//! table, the registry's dtype and string tables, and the cascade's lookups — the rules
//! dialect's [`Host`]. Strings are handles ([`SRef`]) to text owned by the program, the
//! request, the registry or the run's arena, so the numeric path allocates nothing.

use super::inputs::{INPUTS, Inputs};
use super::lookups::{self, LookupKind};
pub use super::sref::SRef;
use crate::expr::code::{Program, Ty, VmError};
use crate::expr::vm::Host;
use std::borrow::Cow;

/// Tables and sets the `lookup_or` / `lookup_num` / `member` built-ins read (from the
/// registry).
#[derive(Debug, Clone, Default)]
pub struct Tables {
    /// Named string maps.
    pub maps: Vec<(String, indexmap::IndexMap<String, String>)>,
    /// Named string sets.
    pub sets: Vec<(String, Vec<String>)>,
    /// Named numeric maps.
    pub nums: Vec<(String, indexmap::IndexMap<String, f64>)>,
}

/// The numeric table of bytes per cached element, by KV-cache type: the rules read it, the
/// engine checks a request's `kv_cache_dtype` against its keys.
pub const KV_CACHE_ELEMENT_BYTES: &str = "kv_cache_element_bytes";

/// What the evaluation environment provides besides the request.
pub struct Env<'a> {
    /// The registry (dtype table for `peak_tops`, tiers for `family_sibling`).
    pub registry: &'a crate::registry::Registry,
    /// Tables for `lookup_or` / `member`.
    pub tables: &'a Tables,
}

/// Input keys of `Load`/`Has`: an index in [`INPUTS`], or a record input with this bit.
pub const REC: u32 = 1 << 31;
/// `Has` of a string input (presence of a string, not of a number).
pub const STR: u32 = 1 << 30;

/// Host operations of rule-set programs.
pub mod op {
    /// `peak_tops(dtype)`: in [dtype], out [number].
    pub const PEAK_TOPS: u8 = 0;
    /// `has_tops_field(dtype)`: in [dtype], out [boolean].
    pub const HAS_TOPS_FIELD: u8 = 1;
    /// `capability(key)`: in [key], out [string].
    pub const CAPABILITY: u8 = 2;
    /// `capability_via(key)`: in [key], out [string].
    pub const CAPABILITY_VIA: u8 = 3;
    /// `lookup_or` of table `x`: in [key], out [value, found].
    pub const LOOKUP_OR: u8 = 4;
    /// `member` of set `x`: in [key], out [boolean].
    pub const MEMBER: u8 = 5;
    /// A cascade lookup (`x`: kind | keys << 4; `k`: 1 workload, 2 family, 4 skip given):
    /// in [keys…, workload, family, skip], out [found, (value, present)…, strings…].
    pub const LOOKUP: u8 = 6;
    /// `published_peak_tops(dtype)`: in [dtype], out [number].
    pub const PUBLISHED_PEAK_TOPS: u8 = 7;
    /// `lookup_num` of numeric table `x`: in [key], out [value, found].
    pub const LOOKUP_NUM: u8 = 8;
}

/// The index of a lookup kind in [`LookupKind::ALL`] (the `x` of a `LOOKUP`).
pub fn kind_index(k: LookupKind) -> u16 {
    LookupKind::ALL.iter().position(|e| e.0 == k).unwrap_or(0) as u16
}

/// A rule-set program's host: one request per lane.
pub struct RulesHost<'a, 'r> {
    /// The program (its string pool).
    pub program: &'a Program,
    /// Registry and tables.
    pub env: &'r Env<'a>,
    /// The request of each lane.
    pub inp: &'r [Inputs<'a>],
    /// Strings computed during the run (every lane's).
    pub arena: &'r mut Vec<String>,
}

#[inline(always)]
fn b2f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

impl<'a> RulesHost<'a, '_> {
    #[inline(always)]
    fn inputs(&self, lane: usize) -> &Inputs<'a> {
        // lanes past the end of a short block read the last request (their results are
        // dropped); a host without requests reads an empty one
        match self.inp.get(lane) {
            Some(i) => i,
            None => self.inp.last().unwrap_or(&Inputs::EMPTY),
        }
    }

    /// The text of a handle, borrowed from data that outlives the run where it can be (a
    /// computed string is copied: two outputs may hold the same one).
    pub fn cow(&self, lane: usize, h: f64) -> Cow<'a, str> {
        match SRef::decode(h) {
            SRef::Arena(i) => Cow::Owned(self.arena.get(i as usize).cloned().unwrap_or_default()),
            r => Cow::Borrowed(self.text_a(lane, r)),
        }
    }

    /// Text of a non-arena handle, with the data's lifetime.
    fn text_a(&self, lane: usize, r: SRef) -> &'a str {
        let inp = *self.inputs(lane);
        // entry `i` of the tier's capability table
        let cap = |i: u32| {
            inp.hw.and_then(|h| h.capability.as_ref()).and_then(|t| t.entries.get_index(i as usize)).map(|(_, c)| c)
        };
        match r {
            SRef::Empty | SRef::Arena(_) => "",
            SRef::Pool(k) => self.program.pool.get(k as usize).map(String::as_str).unwrap_or(""),
            SRef::Input(i) => INPUTS.get(i as usize).map_or("", |e| inp.str(e.0).0),
            SRef::CapLevel(i) => cap(i).map_or("", |c| c.level.as_str()),
            SRef::CapVia(i) => cap(i).and_then(|c| c.via_dtype.as_deref()).unwrap_or(""),
            SRef::Map(t, i) => self
                .env
                .tables
                .maps
                .get(t as usize)
                .and_then(|(_, m)| m.get_index(i as usize))
                .map(|(_, v)| v.as_str())
                .unwrap_or(""),
            SRef::TierName(i) => self.env.registry.tiers().get(i as usize).map(|t| t.name()).unwrap_or(""),
            SRef::Rec(i) => inp.rec_str(i).0,
        }
    }
}

/// Keys of the request's own numeric inputs: what a specialised program still loads, read
/// straight from the request (`Inputs::num` would look through the tier's fields first).
mod key {
    use super::super::inputs::Input;
    pub const PROMPT: u32 = Input::ReqPromptTokens as u32;
    pub const DECODE: u32 = Input::ReqDecodeTokens as u32;
    pub const HOST_MS: u32 = Input::OptHostMs as u32;
    pub const QUALITY: u32 = Input::OptCompilerQuality as u32;
    pub const NPU_SHARE: u32 = Input::OptNpuShare as u32;
    pub const CONTEXT: u32 = Input::ReqContextTokens as u32;
    pub const KV_BYTES: u32 = Input::OptKvCacheElementBytes as u32;
}

impl Host for RulesHost<'_, '_> {
    #[inline]
    fn load(&mut self, lane: usize, k: u32, ty: Ty) -> Result<f64, VmError> {
        let inp = self.inputs(lane);
        match k {
            key::PROMPT => return Ok(inp.prompt_tokens),
            key::DECODE => return Ok(inp.decode_tokens),
            key::HOST_MS => return Ok(inp.host_ms),
            key::QUALITY => return Ok(inp.compiler_quality),
            key::NPU_SHARE => return Ok(inp.npu_share.unwrap_or(0.0)),
            key::CONTEXT => return Ok(inp.context_tokens),
            key::KV_BYTES => return Ok(inp.kv_cache_element_bytes.unwrap_or(0.0)),
            _ => {}
        }
        if k & REC != 0 {
            let i = (k & 0xffff) as u16;
            return Ok(if ty == Ty::Str { SRef::Rec(i).encode() } else { inp.rec_num(i).0 });
        }
        if ty == Ty::Str {
            return Ok(SRef::Input(k as u16).encode());
        }
        Ok(INPUTS.get(k as usize).map_or(0.0, |e| inp.num(e.0).0))
    }

    #[inline]
    fn has(&mut self, lane: usize, k: u32) -> bool {
        let inp = self.inputs(lane);
        if k == key::NPU_SHARE {
            return inp.npu_share.is_some();
        }
        if k == key::KV_BYTES {
            return inp.kv_cache_element_bytes.is_some();
        }
        if k & REC != 0 {
            return inp.rec_num((k & 0xffff) as u16).1;
        }
        let Some(e) = INPUTS.get((k & 0xffff) as usize) else { return false };
        if k & STR != 0 { inp.str(e.0).1 } else { inp.num(e.0).1 }
    }

    fn param(&self, _: usize, _: u16) -> f64 {
        0.0
    }

    fn ext(&mut self, lane: usize, op: u8, x: u16, k: u32, inp: &[f64], out: &mut [f64]) -> Result<(), VmError> {
        let arg = |i: usize| inp.get(i).copied().unwrap_or(0.0);
        let request = *self.inputs(lane);
        match op {
            op::PEAK_TOPS | op::HAS_TOPS_FIELD | op::PUBLISHED_PEAK_TOPS => {
                let key = self.text(lane, arg(0));
                let field = self.env.registry.dtypes().tops_field(key);
                let v = if op == op::HAS_TOPS_FIELD {
                    b2f(field.is_some())
                } else {
                    match (request.hw, field) {
                        (Some(h), Some(f)) if op == op::PUBLISHED_PEAK_TOPS => f.published(&h.spec),
                        (Some(h), Some(f)) => f.get(&h.spec),
                        _ => 0.0,
                    }
                };
                if let Some(o) = out.first_mut() {
                    *o = v;
                }
            }
            op::CAPABILITY | op::CAPABILITY_VIA => {
                let key = self.text(lane, arg(0));
                let row = request
                    .hw
                    .and_then(|h| h.capability.as_ref())
                    .and_then(|t| t.entries.iter().enumerate().find(|(_, (k, _))| k.as_str() == key));
                let v = match row {
                    Some((i, _)) if op == op::CAPABILITY => SRef::CapLevel(i as u32),
                    Some((i, (_, info))) if info.via_dtype.is_some() => SRef::CapVia(i as u32),
                    _ => SRef::Empty,
                };
                if let Some(o) = out.first_mut() {
                    *o = v.encode();
                }
            }
            op::LOOKUP_OR => {
                let key = self.text(lane, arg(0));
                let found =
                    self.env.tables.maps.get(x as usize).and_then(|(_, m)| m.iter().position(|(k, _)| k == key));
                let (v, f) = match found {
                    Some(i) => (SRef::Map(x, i as u32), 1.0),
                    None => (SRef::Empty, 0.0),
                };
                if let [a, b, ..] = out {
                    *a = v.encode();
                    *b = f;
                }
            }
            op::LOOKUP_NUM => {
                let key = self.text(lane, arg(0));
                // a handful of short keys: a scan beats hashing
                let found = self
                    .env
                    .tables
                    .nums
                    .get(x as usize)
                    .and_then(|(_, m)| m.iter().find(|(k, _)| k.as_str() == key))
                    .map(|(_, v)| *v);
                if let [a, b, ..] = out {
                    *a = found.unwrap_or(0.0);
                    *b = b2f(found.is_some());
                }
            }
            op::MEMBER => {
                let key = self.text(lane, arg(0));
                let hit = self.env.tables.sets.get(x as usize).is_some_and(|(_, s)| s.iter().any(|v| v == key));
                if let Some(o) = out.first_mut() {
                    *o = b2f(hit);
                }
            }
            op::LOOKUP => {
                let kind = LookupKind::ALL.get((x & 0xf) as usize).map_or(LookupKind::MeasuredCell, |e| e.0);
                let nkeys = (x >> 4) as usize;
                let mut keys = [""; 4];
                for (i, key) in keys.iter_mut().enumerate().take(nkeys.min(4)) {
                    *key = self.text(lane, arg(i));
                }
                let mut next = nkeys;
                let mut opt = |bit: u32| {
                    if k & bit != 0 {
                        next += 1;
                        Some(next - 1)
                    } else {
                        None
                    }
                };
                let (w, f, s) = (opt(1), opt(2), opt(4));
                let text = |i: Option<usize>| i.map_or("", |i| self.text(lane, arg(i)));
                let found = match request.hw {
                    Some(hw) => {
                        lookups::search(kind, &keys[..nkeys.min(4)], text(w), text(f), text(s), hw, self.env.registry)
                    }
                    None => None,
                };
                lookups::write_block(kind, found.as_ref(), out);
            }
            _ => {}
        }
        Ok(())
    }

    #[inline]
    fn text(&self, lane: usize, h: f64) -> &str {
        match SRef::decode(h) {
            SRef::Arena(i) => self.arena.get(i as usize).map(String::as_str).unwrap_or(""),
            r => self.text_a(lane, r),
        }
    }

    fn make_str(&mut self, _: usize, s: String) -> f64 {
        self.arena.push(s);
        SRef::Arena((self.arena.len() - 1) as u32).encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_stay_finite() {
        for r in [
            SRef::Empty,
            SRef::Pool(7),
            SRef::Input(3),
            SRef::CapLevel(2),
            SRef::CapVia(9),
            SRef::Map(2, 40),
            SRef::TierName(12),
            SRef::Arena(u32::MAX),
            SRef::Rec(u16::MAX),
        ] {
            let x = r.encode();
            assert!(x.is_finite() && x >= 0.0, "{r:?}");
            assert_eq!(SRef::decode(x), r);
        }
    }

    #[test]
    fn a_computed_string_reads_the_same_every_time() {
        // two outputs of a record (or of a dtype mismatch) may name one computed string
        let engine = crate::Engine::embedded().unwrap_or_else(|r| panic!("{r:?}"));
        let tables = Tables::default();
        let env = Env { registry: engine.registry(), tables: &tables };
        let program = Program::default();
        let mut arena = Vec::new();
        let mut h = RulesHost { program: &program, env: &env, inp: &[], arena: &mut arena };
        let x = h.make_str(0, "LPDDR5X @ 8.533 GT/s".into());
        assert_eq!(h.cow(0, x), "LPDDR5X @ 8.533 GT/s");
        assert_eq!(h.cow(0, x), "LPDDR5X @ 8.533 GT/s");
        assert_eq!(h.text(0, x), "LPDDR5X @ 8.533 GT/s");
    }
}
