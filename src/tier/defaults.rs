//! The calibration constants a tier may leave out, and how they are filled in.
//!
//! Their values are registry data (`tier_defaults` in `tables/silicon_classes.ron`): a tier
//! file or an inline tier that omits one gets the table's value before it is typed, so the
//! values live in one data file and `validate` checks them like any other.

use crate::tier::TierSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The seven cost constants of anything that carries them (the defaults, a tier, a silicon
/// class) as field name → value, in declaration order: the one list of their names.
macro_rules! cost_fields {
    ($x:expr) => {
        [
            ("compute_efficiency", $x.compute_efficiency),
            ("bandwidth_efficiency", $x.bandwidth_efficiency),
            ("compute_util_factor", $x.compute_util_factor),
            ("llm_prefill_util_factor", $x.llm_prefill_util_factor),
            ("llm_decode_bw_realization", $x.llm_decode_bw_realization),
            ("compute_overhead_ms", $x.compute_overhead_ms),
            ("npu_share_default", $x.npu_share_default),
        ]
    };
}
pub(crate) use cost_fields;

/// Values for the calibration constants a tier omits (the reference's tier defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierDefaults {
    /// Effective / peak TOPS (vision floor only), fraction.
    pub compute_efficiency: f64,
    /// Effective / peak bandwidth, fraction.
    pub bandwidth_efficiency: f64,
    /// Vision compute-floor utilisation, fraction.
    pub compute_util_factor: f64,
    /// LLM compute-floor utilisation applied to raw peak TOPS, fraction.
    pub llm_prefill_util_factor: f64,
    /// Decode bandwidth realisation, fraction.
    pub llm_decode_bw_realization: f64,
    /// Fixed per-request overhead, ms.
    pub compute_overhead_ms: f64,
    /// Bandwidth share of the NPU on a shared bus, fraction.
    pub npu_share_default: f64,
}

impl TierDefaults {
    /// The defaults as tier-field name → value, in declaration order.
    pub fn fields(&self) -> [(&'static str, f64); 7] {
        cost_fields!(self)
    }

    /// Adds each default the tier object lacks (a value that is not an object is left for
    /// the typed read to reject).
    pub fn fill(&self, v: &mut Value) {
        if let Value::Object(m) = v {
            for (k, x) in self.fields() {
                if !m.contains_key(k) {
                    m.insert(k.to_string(), Value::from(x));
                }
            }
        }
    }
}

/// Types a tier written as JSON, filling the constants it omits from `defaults`.
pub fn spec_from_json(
    mut v: Value,
    defaults: &TierDefaults,
) -> Result<TierSpec, serde_path_to_error::Error<serde_json::Error>> {
    defaults.fill(&mut v);
    serde_path_to_error::deserialize(v)
}

/// Schema transform of [`TierSpec`]: the fields [`TierDefaults`] supplies are optional in a
/// tier file, and say where their value comes from.
pub fn defaulted_fields_optional(schema: &mut schemars::Schema) {
    let names: Vec<String> = schemars::schema_for!(TierDefaults)
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(Value::Array(req)) = schema.get_mut("required") {
        req.retain(|r| !r.as_str().is_some_and(|r| names.iter().any(|n| n == r)));
    }
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        for n in &names {
            if let Some(Value::Object(p)) = props.get_mut(n) {
                let doc = p.get("description").and_then(Value::as_str).unwrap_or_default().to_string();
                let note = "Absent: the registry's `tier_defaults` (tables/silicon_classes.ron).";
                p.insert("description".into(), Value::String(format!("{doc} {note}").trim().to_string()));
            }
        }
    }
}
