//! Engine operations on tier forms (spec §3.3–3.5): a tier argument resolved to a tier — a
//! registry name, an inline tier, a custom tier, a memory upgrade or a field override of a
//! base — checked against the registry and projected through the rule set's variant steps.

use crate::diagnostic::did_you_mean;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::rules::entries::EntryRecord;
use crate::rules::inputs::RecVal;
use crate::tier::custom::make_custom_tier;
use crate::tier::variants::{MemorySpec, TierArg, TierForm, serde_msg};
use crate::tier::{Tier, TierSpec};
use serde_json::Value;

impl Engine {
    /// Checks a tier built for a request and resolves its capability table.
    fn finish_tier(&self, mut spec: TierSpec) -> Result<Tier, EngineError> {
        // a class fit is checked against the tier's own peaks like a fit of its own
        if let (None, Some(class)) = (&spec.llm_calibration, &spec.silicon_class) {
            spec.llm_calibration = self.registry().silicon_classes().fit_for(class, spec.runtime.as_deref());
        }
        if let Some(d) = self.registry().check_tier(&spec).into_iter().find(|d| d.is_error()) {
            let help = d.help.map(|h| format!(" ({h})")).unwrap_or_default();
            return Err(EngineError::InvalidValue(format!("tier `{}`: {}{help}", spec.name, d.message)));
        }
        Ok(self.registry().resolve_tier(spec))
    }

    /// Resolves any tier form.
    pub fn resolve_tier_form(&self, form: &TierForm) -> Result<TierArg<'_>, EngineError> {
        match form {
            TierForm::Name(n) => self.tier(n).map(TierArg::Registry),
            TierForm::Inline(spec) => Ok(TierArg::Inline(Box::new(self.finish_tier((**spec).clone())?))),
            TierForm::Custom { custom } => {
                let spec =
                    make_custom_tier(custom, self.registry().silicon_classes(), self.registry().precision_sets())?;
                Ok(TierArg::Inline(Box::new(self.finish_tier(spec)?)))
            }
            TierForm::Memory { base, memory } => {
                let b = self.resolve_tier_form(base)?;
                Ok(TierArg::Inline(Box::new(self.with_memory(b.get(), memory)?)))
            }
            TierForm::Set { base, set } => {
                let b = self.resolve_tier_form(base)?;
                let base_spec = &b.get().spec;
                // a fit the base took from its class follows a new runtime or class
                let rederive = (set.contains_key("runtime") || set.contains_key("silicon_class"))
                    && base_spec.silicon_class.as_deref().is_some_and(|c| {
                        base_spec.llm_calibration
                            == self.registry().silicon_classes().fit_for(c, base_spec.runtime.as_deref())
                    });
                // a runtime selects a silicon class's fit: on a tier whose fit is not its
                // class's (none, or its own) a new runtime would change nothing, silently
                let new_runtime = set.get("runtime").and_then(Value::as_str);
                if let Some(r) = new_runtime.filter(|r| !rederive && Some(*r) != base_spec.runtime.as_deref()) {
                    let why = if base_spec.silicon_class.is_none() {
                        "names no silicon class"
                    } else {
                        "has a fit of its own"
                    };
                    return Err(EngineError::InvalidValue(format!(
                        "tier `{}` {why}, so runtime `{r}` would change nothing: a runtime selects a silicon class's fit (set `silicon_class` too, or give the tier a fit made under that runtime)",
                        b.get().name()
                    )));
                }
                let mut v = serde_json::to_value(b.get().to_full_spec())
                    .map_err(|e| EngineError::InvalidValue(format!("cannot copy the base tier: {e}")))?;
                if let Value::Object(m) = &mut v {
                    if set.contains_key("capability_table") {
                        m.remove("capability_levels");
                    }
                    if rederive {
                        m.remove("llm_calibration");
                    }
                    for (k, x) in set {
                        m.insert(k.clone(), x.clone());
                    }
                }
                let spec: TierSpec = serde_path_to_error::deserialize(v).map_err(|e| {
                    let help = match e.inner().to_string().split('`').nth(1) {
                        Some(field) => {
                            let fields = crate::schema::cached_schema(crate::schema::FileKind::Tier);
                            let names: Vec<String> = fields["properties"]
                                .as_object()
                                .map(|p| p.keys().cloned().collect())
                                .unwrap_or_default();
                            did_you_mean(field, names.iter().map(String::as_str))
                                .map(|h| format!(" ({h})"))
                                .unwrap_or_default()
                        }
                        None => String::new(),
                    };
                    EngineError::BadRequest(format!("`set`: {}{help}", serde_msg(&e)))
                })?;
                Ok(TierArg::Inline(Box::new(self.finish_tier(spec)?)))
            }
        }
    }

    /// Resolves a tier form given as JSON.
    pub fn tier_from_json(&self, v: &Value) -> Result<TierArg<'_>, EngineError> {
        self.resolve_tier_form(&self.tier_form(v)?)
    }

    /// Reads a tier form from JSON; an inline tier's omitted constants come from the
    /// registry's tier defaults.
    pub fn tier_form(&self, v: &Value) -> Result<TierForm, EngineError> {
        TierForm::from_json(v, &self.registry().silicon_classes().tier_defaults)
    }

    /// `hw_with_memory`: a memory-upgrade clone. Bandwidth, name and the decode-override
    /// scale come from the rule set's `memory_upgrade` step; the clone keeps its stock
    /// identity (name and bandwidth of the original stock tier), scales decode overrides,
    /// holds prefill overrides, and is marked `bw_projected`.
    pub fn with_memory(&self, base: &Tier, m: &MemorySpec) -> Result<Tier, EngineError> {
        if !m.mem_data_rate_gtps.is_finite() {
            return Err(EngineError::InvalidValue("`mem_data_rate_gtps` must be a finite number".into()));
        }
        let mut rec = EntryRecord::new(self.entry_layout("memory_upgrade")?);
        rec.str("upgrade.mem_type", &m.mem_type)
            .num("upgrade.mem_data_rate_gtps", m.mem_data_rate_gtps)
            .set("upgrade.name_suffix", m.name_suffix.as_deref().map_or(RecVal::Absent, RecVal::Str));
        let out = self.run_entry(&rec, Some(base), None)?;
        let (name, bw, scale) = (out.str("name")?.to_string(), out.num("mem_bandwidth_gbs")?, out.num("decode_scale")?);
        if !bw.is_finite() || !scale.is_finite() {
            return Err(EngineError::InvalidValue(format!(
                "the memory upgrade of `{}` gives a bandwidth or scale that is not finite",
                base.name()
            )));
        }
        let b = &base.spec;
        let mut spec = b.clone();
        spec.schema_version = None;
        spec.name = name;
        spec.mem_type = m.mem_type.clone();
        spec.mem_data_rate_gtps = m.mem_data_rate_gtps;
        spec.mem_bandwidth_gbs = bw;
        spec.bw_projected = true;
        spec.stock_name = Some(b.stock_name.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| b.name.clone()));
        spec.stock_mem_bandwidth_gbs = Some(b.stock_mem_bandwidth_gbs.unwrap_or(b.mem_bandwidth_gbs));
        spec.measured_decode_overrides = b
            .measured_decode_overrides
            .as_ref()
            .filter(|o| !o.is_empty())
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v * scale)).collect());
        Ok(Tier { spec, capability: base.capability.clone(), registry_slot: None })
    }
}
