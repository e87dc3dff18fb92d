//! Engine operations on private silicon anchors (spec §3.14): the derived quantities of an
//! anchor, the anchor cell that serves a model on a tier, and the overlay of a result — each
//! the rule set's step over the anchor file's data (`crate::anchors`).

use crate::anchors::*;
use crate::engine::Engine;
use crate::error::EngineError;

impl Engine {
    /// The badge of an anchor or calibration source ("" when the registry has none).
    pub fn source_badge(&self, source: &str) -> &str {
        self.registry().badges().anchor_sources.get(source).map(String::as_str).unwrap_or("")
    }

    /// Derived quantities of an LLM anchor, at its own bandwidth share or `share`.
    pub fn llm_anchor_derived(&self, a: &LlmAnchor, share: Option<f64>) -> Result<AnchorDerived, EngineError> {
        use crate::rules::inputs::RecVal::{Absent, Num, Str};
        let rec = [
            Num(a.tokps),
            Num(a.prefill_tokps),
            Num(a.mem_gb),
            Num(a.seqlen as f64),
            Num(a.peak_bw_gbps),
            Num(a.bw_share_frac),
            Num(a.bw_efficiency_frac),
            Str(&a.source),
            Str(&a.measured_date),
            share.map_or(Absent, Num),
        ];
        let inp = crate::rules::inputs::Inputs { record: &rec, ..Default::default() };
        let out = self.run_entry("llm_anchor_derived", &inp)?;
        Ok(AnchorDerived {
            badge: self.source_badge(&a.source).to_string(),
            achieved_bw_gbps: out[0].num(),
            bytes_per_token: Some(out[1].num()),
        })
    }

    /// Derived quantities of a CNN anchor.
    pub fn cnn_anchor_derived(&self, a: &CnnAnchor, share: Option<f64>) -> Result<AnchorDerived, EngineError> {
        use crate::rules::inputs::RecVal::{Absent, Num};
        let rec = [Num(a.peak_bw_gbps), Num(a.bw_share_frac), Num(a.bw_efficiency_frac), share.map_or(Absent, Num)];
        let inp = crate::rules::inputs::Inputs { record: &rec, ..Default::default() };
        let out = self.run_entry("cnn_anchor_derived", &inp)?;
        Ok(AnchorDerived {
            badge: self.source_badge(&a.source).to_string(),
            achieved_bw_gbps: out[0].num(),
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

    /// `overlay_llm_anchor`: replaces the decode rate (and, by the rules, TTFT and totals) of
    /// a projection with the private silicon anchor of its cell, when there is one whose
    /// source the rules accept. `spec_key` is the anchor file's key for the model (`None`: no
    /// anchor). Returns `None` when the result stands unchanged.
    #[allow(clippy::too_many_arguments)]
    pub fn overlay_anchor(
        &self,
        result: &ResultNums,
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
        use crate::rules::inputs::RecVal::{Num, Str};
        let r = result.record();
        let rec = [
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            r[8],
            Num(a.tokps),
            Num(a.prefill_tokps),
            Num(a.mem_gb),
            Num(a.seqlen as f64),
            Num(a.peak_bw_gbps),
            Num(a.bw_share_frac),
            Num(a.bw_efficiency_frac),
            Str(&a.source),
            Str(&a.measured_date),
            Num(decode_mult),
            Num(ttft_mult),
        ];
        let inp = crate::rules::inputs::Inputs { hw: Some(hw), model: Some(model), record: &rec, ..Default::default() };
        let out = self.run_entry("anchor_overlay", &inp)?;
        if !out[0].bool() {
            return Ok(None);
        }
        let v: Vec<f64> = out[2..].iter().map(crate::projection::OutVal::num).collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(EngineError::NonFinite(format!(
                "the anchor overlay of `{}` on `{}` gave a number that is not finite",
                model.key,
                hw.name()
            )));
        }
        Ok(Some(Overlay {
            source: out[1].str().to_string(),
            decode_tok_s: v[0],
            prefill_tok_s: v[1],
            ttft_s: v[2],
            decode_s: v[3],
            prefill_s: v[4],
            total_s: v[5],
            meta: crate::projection::SiliconAnchorMeta {
                measured_date: a.measured_date.clone(),
                spec_tier_precision: format!("{tier}_{precision}"),
                spec_model_key: spec_key.to_string(),
                bw_projected: hw.spec.bw_projected,
            },
        }))
    }
}
