//! The lookups the cascade may use, exposed to the rules as named built-ins: a per-cell
//! measurement, a tier-level anchor, and a same-family sibling's anchor. Each writes a
//! block of slots: a found flag, then (value, present) pairs, then strings.

use super::vm::{Ctx, LookupSite, SRef};

/// A built-in lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    /// `hw.measured_llm[key][workload]`, first candidate key that has a cell.
    MeasuredCell,
    /// `hw.measured_decode_overrides[key]` (+ the prefill override of the same key).
    TierAnchor,
    /// The first registry tier, in registry order, with the same family and a decode
    /// override for a candidate key, skipping the tier named `skip_name`.
    FamilySibling,
}

/// (kind, builtin name, namespace, numeric fields, string fields).
type LookupEntry = (LookupKind, &'static str, &'static str, &'static [&'static str], &'static [&'static str]);

impl LookupKind {
    /// Every lookup: (builtin name, namespace, numeric fields, string fields).
    pub const ALL: &'static [LookupEntry] = &[
        (
            LookupKind::MeasuredCell,
            "measured_cell",
            "cell",
            &["decode_tok_s", "prefill_tok_s", "ttft_s", "host_ms"],
            &[],
        ),
        (LookupKind::TierAnchor, "tier_anchor", "anchor", &["decode_tok_s", "prefill_tok_s"], &[]),
        (
            LookupKind::FamilySibling,
            "family_sibling",
            "sibling",
            &["decode_tok_s", "prefill_tok_s", "mem_bandwidth_gbs", "bandwidth_efficiency"],
            &["name"],
        ),
    ];

    /// The lookup with this builtin name.
    pub fn by_name(name: &str) -> Option<LookupKind> {
        Self::ALL.iter().find(|e| e.1 == name).map(|e| e.0)
    }

    fn entry(
        self,
    ) -> &'static (LookupKind, &'static str, &'static str, &'static [&'static str], &'static [&'static str]) {
        Self::ALL.iter().find(|e| e.0 == self).unwrap_or(&Self::ALL[0])
    }

    /// The builtin name.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// The namespace its fields are read under (`cell`, `anchor`, `sibling`).
    pub fn namespace(self) -> &'static str {
        self.entry().2
    }

    /// Numeric fields, in slot order.
    pub fn num_fields(self) -> &'static [&'static str] {
        self.entry().3
    }

    /// String fields, in slot order.
    pub fn str_fields(self) -> &'static [&'static str] {
        self.entry().4
    }

    /// Numeric slots the block needs: found flag + (value, present) per field.
    pub fn num_slots(self) -> usize {
        1 + 2 * self.num_fields().len()
    }
}

fn put(nums: &mut [f64], base: usize, field: usize, v: Option<f64>) {
    let (x, h) = match v {
        Some(x) => (x, 1.0),
        None => (0.0, 0.0),
    };
    nums[base + 1 + 2 * field] = x;
    nums[base + 2 + 2 * field] = h;
}

/// Runs one lookup site, writing its block.
pub fn run(site: &LookupSite, cx: &Ctx<'_, '_>, nums: &mut [f64], strs: &mut [SRef], arena: &[String]) {
    let base = site.base as usize;
    nums[base] = 0.0;
    for i in 0..site.kind.num_fields().len() {
        put(nums, base, i, None);
    }
    let Some(hw) = cx.inp.hw else { return };
    let keys: smallkeys::Keys<'_> = site.keys.iter().map(|k| cx.text(strs[*k as usize], arena)).collect();
    match site.kind {
        LookupKind::MeasuredCell => {
            let Some(cells) = hw.spec.measured_llm.as_ref().filter(|c| !c.is_empty()) else { return };
            let workload = site.workload.map(|w| cx.text(strs[w as usize], arena)).unwrap_or("");
            for key in keys.iter() {
                if let Some(cell) = cells.get(key).and_then(|per| per.get(workload)) {
                    nums[base] = 1.0;
                    put(nums, base, 0, Some(cell.decode_tok_s));
                    put(nums, base, 1, cell.prefill_tok_s);
                    put(nums, base, 2, cell.ttft_s);
                    put(nums, base, 3, cell.host_ms);
                    return;
                }
            }
        }
        LookupKind::TierAnchor => {
            let Some(dec) = hw.spec.measured_decode_overrides.as_ref() else { return };
            for key in keys.iter() {
                if let Some(v) = dec.get(key) {
                    nums[base] = 1.0;
                    put(nums, base, 0, Some(*v));
                    put(nums, base, 1, hw.spec.measured_prefill_overrides.as_ref().and_then(|p| p.get(key)).copied());
                    return;
                }
            }
        }
        LookupKind::FamilySibling => {
            let family = site.family.map(|f| cx.text(strs[f as usize], arena)).unwrap_or("");
            let skip = site.skip.map(|f| cx.text(strs[f as usize], arena)).unwrap_or("");
            for (ti, sib) in cx.env.registry.tiers().iter().enumerate() {
                let s = &sib.spec;
                if s.name == skip || s.tier_family.as_deref() != Some(family) {
                    continue;
                }
                let Some(dec) = s.measured_decode_overrides.as_ref() else { continue };
                for key in keys.iter() {
                    if let Some(v) = dec.get(key) {
                        nums[base] = 1.0;
                        put(nums, base, 0, Some(*v));
                        put(nums, base, 1, s.measured_prefill_overrides.as_ref().and_then(|p| p.get(key)).copied());
                        put(nums, base, 2, Some(s.mem_bandwidth_gbs));
                        put(nums, base, 3, Some(s.bandwidth_efficiency));
                        strs[site.sbase as usize] = SRef::TierName(ti as u32);
                        return;
                    }
                }
            }
        }
    }
}

mod smallkeys {
    //! Up to four candidate keys without a heap allocation.

    pub struct Keys<'a> {
        items: [&'a str; 4],
        len: usize,
    }

    impl<'a> Keys<'a> {
        pub fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
            self.items[..self.len].iter().copied()
        }
    }

    impl<'a> FromIterator<&'a str> for Keys<'a> {
        fn from_iter<T: IntoIterator<Item = &'a str>>(iter: T) -> Self {
            let mut k = Keys { items: [""; 4], len: 0 };
            for v in iter.into_iter().take(4) {
                k.items[k.len] = v;
                k.len += 1;
            }
            k
        }
    }
}
