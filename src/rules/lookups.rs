//! The lookups the cascade may use, exposed to the rules as named built-ins: a per-cell
//! measurement, a tier-level anchor, and a same-family sibling's anchor. Each writes a
//! block of slots: a found flag, then (value, present) pairs, then strings.

use super::vm::{Ctx, LookupSite, SRef};
use indexmap::IndexMap;

/// A map lookup that scans small maps (cheaper than hashing a key) and hashes large ones.
#[inline]
fn find<'m, V>(m: &'m IndexMap<String, V>, key: &str) -> Option<&'m V> {
    if m.len() <= 8 { m.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v) } else { m.get(key) }
}

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

/// What a lookup found: numeric fields in slot order (absent = `None`) and the registry
/// tier index it came from (for string fields).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// Numeric fields.
    pub nums: [Option<f64>; 4],
    /// The sibling tier's registry index (`family_sibling`).
    pub tier: Option<u32>,
}

/// The lookup itself, shared by evaluation and by load-time specialisation.
pub fn search(
    kind: LookupKind,
    keys: &[&str],
    workload: &str,
    family: &str,
    skip: &str,
    hw: &crate::tier::Tier,
    registry: &crate::registry::Registry,
) -> Option<Found> {
    match kind {
        LookupKind::MeasuredCell => {
            let cells = hw.spec.measured_llm.as_ref().filter(|c| !c.is_empty())?;
            keys.iter().find_map(|key| find(cells, key).and_then(|per| find(per, workload))).map(|cell| Found {
                nums: [Some(cell.decode_tok_s), cell.prefill_tok_s, cell.ttft_s, cell.host_ms],
                tier: None,
            })
        }
        LookupKind::TierAnchor => {
            let dec = hw.spec.measured_decode_overrides.as_ref()?;
            keys.iter().find_map(|key| {
                find(dec, key).map(|v| Found {
                    nums: [
                        Some(*v),
                        hw.spec.measured_prefill_overrides.as_ref().and_then(|p| find(p, key)).copied(),
                        None,
                        None,
                    ],
                    tier: None,
                })
            })
        }
        LookupKind::FamilySibling => {
            for (ti, sib) in registry.tiers().iter().enumerate() {
                let s = &sib.spec;
                if s.name == skip || s.tier_family.as_deref() != Some(family) {
                    continue;
                }
                let Some(dec) = s.measured_decode_overrides.as_ref() else { continue };
                for key in keys {
                    if let Some(v) = find(dec, key) {
                        return Some(Found {
                            nums: [
                                Some(*v),
                                s.measured_prefill_overrides.as_ref().and_then(|p| find(p, key)).copied(),
                                Some(s.mem_bandwidth_gbs),
                                Some(s.bandwidth_efficiency),
                            ],
                            tier: Some(ti as u32),
                        });
                    }
                }
            }
            None
        }
    }
}

/// True when a lookup's answer depends only on the tier and the keys, not on the workload:
/// `measured_cell` on a tier without measured cells always finds nothing.
pub fn workload_free(kind: LookupKind, hw: &crate::tier::Tier) -> bool {
    kind != LookupKind::MeasuredCell || hw.spec.measured_llm.as_ref().is_none_or(|c| c.is_empty())
}

/// Runs one lookup site, writing its block.
pub fn run(site: &LookupSite, cx: &Ctx<'_, '_>, nums: &mut [f64], strs: &mut [SRef], arena: &[String]) {
    let base = site.base as usize;
    let Some(hw) = cx.inp.hw else {
        nums[base] = 0.0;
        return;
    };
    let keys: smallkeys::Keys<'_> = site.keys.iter().map(|k| cx.text(strs[*k as usize], arena)).collect();
    let text = |s: Option<u16>| s.map(|w| cx.text(strs[w as usize], arena)).unwrap_or("");
    let found = search(
        site.kind,
        keys.as_slice(),
        text(site.workload),
        text(site.family),
        text(site.skip),
        hw,
        cx.env.registry,
    );
    match found {
        Some(f) => {
            nums[base] = 1.0;
            for i in 0..site.kind.num_fields().len() {
                put(nums, base, i, f.nums[i]);
            }
            if let Some(t) = f.tier {
                strs[site.sbase as usize] = SRef::TierName(t);
            }
        }
        None => {
            nums[base] = 0.0;
            for i in 0..site.kind.num_fields().len() {
                put(nums, base, i, None);
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
        pub fn as_slice(&self) -> &[&'a str] {
            &self.items[..self.len]
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
