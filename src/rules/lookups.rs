//! The lookups the cascade may use, exposed to the rules as named built-ins: a per-cell
//! measurement, a tier-level anchor, and a same-family sibling's anchor. Each writes a
//! block of registers: a found flag, then (value, present) pairs, then strings.

use super::sref::SRef;
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

    /// Numeric registers the block needs: found flag + (value, present) per field.
    pub fn num_slots(self) -> usize {
        1 + 2 * self.num_fields().len()
    }

    /// Registers of the whole block: the numeric part, then one per string field.
    pub fn block_len(self) -> usize {
        self.num_slots() + self.str_fields().len()
    }

    /// The slot of numeric field `i`'s value in the block (its presence flag follows it).
    pub fn value_slot(i: usize) -> usize {
        1 + 2 * i
    }

    /// The slot of string field `j` in the block.
    pub fn str_slot(self, j: usize) -> usize {
        self.num_slots() + j
    }
}

/// Writes a lookup's block: the found flag, (value, present) per numeric field, then the
/// string fields (the sibling tier's name).
pub fn write_block(kind: LookupKind, found: Option<&Found>, out: &mut [f64]) {
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    if let Some(o) = out.first_mut() {
        *o = b(found.is_some());
    }
    for i in 0..kind.num_fields().len() {
        let v = found.and_then(|f| f.nums.get(i).copied().flatten());
        let slot = LookupKind::value_slot(i);
        if let Some(o) = out.get_mut(slot) {
            *o = v.unwrap_or(0.0);
        }
        if let Some(o) = out.get_mut(slot + 1) {
            *o = b(v.is_some());
        }
    }
    let name = found.and_then(|f| f.tier).map_or(SRef::Empty, SRef::TierName);
    for j in 0..kind.str_fields().len() {
        if let Some(o) = out.get_mut(kind.str_slot(j)) {
            *o = name.encode();
        }
    }
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
