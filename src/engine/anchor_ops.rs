//! Engine operations on private silicon anchors (spec §3.14): the derived quantities of an
//! anchor, the anchor cell that serves a model on a tier, and the overlay of a result — each
//! the rule set's step over the anchor file's data (`crate::anchors`).

use crate::anchors::*;
use crate::engine::Engine;
use crate::engine::ResultIn;
use crate::error::EngineError;
use crate::rules::entries::EntryRecord;

impl Engine {
    /// The badge of an anchor or calibration source ("" when the registry has none).
    pub fn source_badge(&self, source: &str) -> &str {
        self.registry().badges().anchor_sources.get(source).map(String::as_str).unwrap_or("")
    }

    /// Derived quantities of an LLM anchor, at its own bandwidth share or `share`.
    pub fn llm_anchor_derived(&self, a: &LlmAnchor, share: Option<f64>) -> Result<AnchorDerived, EngineError> {
        let mut rec = EntryRecord::new(self.entry_layout("llm_anchor_derived")?);
        fill_llm_anchor(&mut rec, a);
        rec.opt("share", share);
        let out = self.run_entry(&rec, None, None)?;
        Ok(AnchorDerived {
            badge: self.source_badge(&a.source).to_string(),
            achieved_bw_gbps: out.num("achieved_bw_gbps")?,
            bytes_per_token: Some(out.num("bytes_per_token")?),
        })
    }

    /// Derived quantities of a CNN anchor.
    pub fn cnn_anchor_derived(&self, a: &CnnAnchor, share: Option<f64>) -> Result<AnchorDerived, EngineError> {
        let mut rec = EntryRecord::new(self.entry_layout("cnn_anchor_derived")?);
        rec.num("anchor.peak_bw_gbps", a.peak_bw_gbps)
            .num("anchor.bw_share_frac", a.bw_share_frac)
            .num("anchor.bw_efficiency_frac", a.bw_efficiency_frac)
            .opt("share", share);
        let out = self.run_entry(&rec, None, None)?;
        Ok(AnchorDerived {
            badge: self.source_badge(&a.source).to_string(),
            achieved_bw_gbps: out.num("achieved_bw_gbps")?,
            bytes_per_token: None,
        })
    }

    /// The anchor cell `(tier, precision)` that serves a model on a tier, from the registry's
    /// routing table and the model's quant-scheme capability key (never its compute dtype).
    pub fn anchor_cell(
        &self,
        hw: &crate::tier::Tier,
        model: &crate::catalog::LlmModel,
    ) -> Result<Option<(String, String)>, EngineError> {
        let key = self.run_operation(
            "quant_scheme_capability_key",
            None,
            None,
            &[crate::rules::inputs::RecVal::Str(&model.quant_scheme)],
        )?;
        Ok(self
            .registry()
            .anchor_routes()
            .route(hw.lookup_name(), key.str())
            .map(|(t, p)| (t.to_string(), p.to_string())))
    }

    /// `overlay_llm_anchor`: replaces the decode rate (and, by the rules, TTFT, totals and any
    /// other field of the result record the step writes) of a projection with the private
    /// silicon anchor of its cell, when there is one whose source the rules accept.
    /// `spec_key` is the anchor file's key for the model (`None`: no anchor). Returns `None`
    /// when the result stands unchanged.
    #[allow(clippy::too_many_arguments)]
    pub fn overlay_anchor(
        &self,
        result: ResultIn<'_>,
        hw: &crate::tier::Tier,
        model: &crate::catalog::LlmModel,
        spec_key: Option<&str>,
        decode_mult: f64,
        ttft_mult: f64,
    ) -> Result<Option<Overlay>, EngineError> {
        let Some(file) = self.anchors() else { return Ok(None) };
        let Some((tier, precision)) = self.anchor_cell(hw, model)? else { return Ok(None) };
        let Some(spec_key) = spec_key else { return Ok(None) };
        let Some(a) = file.llm(&tier, &precision, spec_key, &self.registry().anchor_routes().field_defaults)? else {
            return Ok(None);
        };
        let mut rec = EntryRecord::new(self.entry_layout("anchor_overlay")?);
        result.fill(&mut rec)?;
        fill_llm_anchor(&mut rec, &a);
        rec.num("mult.decode", decode_mult).num("mult.ttft", ttft_mult);
        let out = self.run_entry(&rec, Some(hw), Some(model))?;
        if !out.bool("applies")? {
            return Ok(None);
        }
        let what = || format!("the anchor overlay of `{}` on `{}`", model.key, hw.name());
        Ok(Some(Overlay {
            source: out.str("source")?.to_string(),
            changes: out.result_changes(what)?,
            meta: crate::projection::SiliconAnchorMeta {
                measured_date: a.measured_date.clone(),
                spec_tier_precision: format!("{tier}_{precision}"),
                spec_model_key: spec_key.to_string(),
                bw_projected: hw.spec.bw_projected,
            },
        }))
    }
}

/// Sets the step inputs `anchor.*` from an LLM anchor.
fn fill_llm_anchor<'a>(rec: &mut EntryRecord<'a>, a: &'a LlmAnchor) {
    rec.num("anchor.tokps", a.tokps)
        .num("anchor.prefill_tokps", a.prefill_tokps)
        .num("anchor.mem_gb", a.mem_gb)
        .num("anchor.seqlen", a.seqlen as f64)
        .num("anchor.peak_bw_gbps", a.peak_bw_gbps)
        .num("anchor.bw_share_frac", a.bw_share_frac)
        .num("anchor.bw_efficiency_frac", a.bw_efficiency_frac)
        .str("anchor.source", &a.source)
        .str("anchor.measured_date", &a.measured_date);
}
