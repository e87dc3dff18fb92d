//! The semantic layer: references resolve, names are unique, numbers are in range, and
//! provenance is honest. Each finding carries the path of the offending value so it can be
//! mapped to `file:line:col`.

use crate::catalog::LlmModel;
use crate::diagnostic::{Diagnostic, Report, did_you_mean};
use crate::document::{PathSeg, number_text};
use crate::precision::{CapabilityTable, CapabilityTableFile, DtypeTable, PrecisionSetTable, QuantSchemeTable};
use crate::registry::files::{BadgeTable, Manifest, MemoryTable, RuntimeTable, SiliconClassTable};
use crate::registry::read::ParsedFile;
use crate::tier::custom::CalibrationPolicy;
use crate::tier::{CalibrationSource, LlmCalibration, TierSpec, TopsField};
use indexmap::IndexMap;
use std::sync::Arc;

mod architectures;
pub(crate) use architectures::architectures;

/// The tables semantic checks resolve names against.
pub(crate) struct Context<'a> {
    pub broken_names: &'a [String],
    pub capability_tables: &'a IndexMap<String, Arc<CapabilityTable>>,
    pub dtypes: Option<&'a DtypeTable>,
    pub quant: Option<&'a QuantSchemeTable>,
    pub memory: Option<&'a MemoryTable>,
    pub precision_sets: Option<&'a PrecisionSetTable>,
    /// The label vocabulary (calibration methods, confidence levels); `None` skips those checks.
    pub badges: Option<&'a BadgeTable>,
    /// The physical ranges of fitted constants; `None` skips those checks.
    pub policy: Option<&'a CalibrationPolicy>,
    /// The runtimes a tier or class may name; `None` skips those checks.
    pub runtimes: Option<&'a RuntimeTable>,
    /// The silicon classes a registry tier may name; `None` skips that check.
    pub classes: Option<&'a SiliconClassTable>,
}

/// A runtime a tier or class names that the runtime table does not have.
fn runtime_ref(ctx: &Context<'_>, out: &mut Vec<Finding>, path: Vec<PathSeg>, name: &str) {
    let Some(t) = ctx.runtimes else { return };
    if !t.runtimes.contains_key(name) {
        out.push((
            path,
            Diagnostic::error("unknown-reference", format!("unknown runtime `{name}`"))
                .with_help(did_you_mean(name, t.runtimes.keys().map(String::as_str))),
        ));
    }
}

type Finding = (Vec<PathSeg>, Diagnostic);

fn k(s: &str) -> PathSeg {
    PathSeg::Key(s.to_string())
}

fn emit(pf: &ParsedFile, base: &[PathSeg], findings: Vec<Finding>, report: &mut Report) {
    for (path, d) in findings {
        let mut full = base.to_vec();
        full.extend(path);
        report.push(pf.diag_at(d, &full));
    }
}

/// Bounds for a number.
#[derive(Clone, Copy)]
enum Range {
    /// ≥ 0
    NonNegative,
    /// > 0
    Positive,
    /// (0, 1]
    Fraction,
}

fn check(out: &mut Vec<Finding>, path: Vec<PathSeg>, name: &str, v: f64, r: Range) {
    let ok = v.is_finite()
        && match r {
            Range::NonNegative => v >= 0.0,
            Range::Positive => v > 0.0,
            Range::Fraction => v > 0.0 && v <= 1.0,
        };
    if !ok {
        let want = match r {
            Range::NonNegative => "must be ≥ 0",
            Range::Positive => "must be > 0",
            Range::Fraction => "must be in (0, 1]",
        };
        out.push((path, Diagnostic::error("range", format!("`{name}` is `{}`; it {want}", number_text(v)))));
    }
}

fn calibration(ctx: &Context<'_>, out: &mut Vec<Finding>, base: Vec<PathSeg>, c: &CalibrationSource) {
    let Some(labels) = ctx.badges else { return };
    let un = &labels.uncalibrated;
    if c.method == un.method && c.confidence != un.confidence {
        let mut p = base.clone();
        p.push(k("confidence"));
        out.push((
            p,
            Diagnostic::error(
                "calibration",
                format!(
                    "calibration method `{}` requires confidence `{}`, found `{}`",
                    un.method, un.confidence, c.confidence
                ),
            )
            .with_help(Some(format!("calibration defaults are not calibrated; say `{}`", un.confidence))),
        ));
    }
    let conf = labels.confidence_levels.iter().map(String::as_str);
    if !labels.confidence_levels.contains(&c.confidence) {
        let mut p = base.clone();
        p.push(k("confidence"));
        let known = labels.confidence_levels.join(", ");
        out.push((
            p,
            Diagnostic::warning("calibration", format!("unknown calibration confidence `{}`", c.confidence))
                .with_help(did_you_mean(&c.confidence, conf).or(Some(format!("expected one of {known}")))),
        ));
    }
    if !labels.calibration_methods.contains(&c.method) {
        let mut p = base;
        p.push(k("method"));
        let known = labels.calibration_methods.join(", ");
        out.push((
            p,
            Diagnostic::warning("calibration", format!("unknown calibration method `{}`", c.method)).with_help(
                did_you_mean(&c.method, labels.calibration_methods.iter().map(String::as_str))
                    .or(Some(format!("known methods: {known}"))),
            ),
        ));
    }
}

/// Every semantic finding for one tier, with paths relative to the tier.
pub(crate) fn tier_findings(ctx: &Context<'_>, t: &TierSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    if t.name.trim().is_empty() {
        out.push((vec![k("name")], Diagnostic::error("value", "the tier name is empty")));
    }
    for f in [TopsField::PeakTopsBf16, TopsField::PeakTopsInt8, TopsField::PeakTopsFp8, TopsField::PeakTopsFp4] {
        check(&mut out, vec![k(f.name())], f.name(), f.get(t), Range::NonNegative);
    }
    check(&mut out, vec![k("mem_bandwidth_gbs")], "mem_bandwidth_gbs", t.mem_bandwidth_gbs, Range::NonNegative);
    check(&mut out, vec![k("mem_capacity_gb")], "mem_capacity_gb", t.mem_capacity_gb, Range::Positive);
    check(&mut out, vec![k("mem_data_rate_gtps")], "mem_data_rate_gtps", t.mem_data_rate_gtps, Range::NonNegative);
    if t.mem_bus_width_bits == 0 {
        out.push((
            vec![k("mem_bus_width_bits")],
            Diagnostic::error("range", "`mem_bus_width_bits` is `0`; it must be > 0"),
        ));
    }
    cost_constants(&mut out, &crate::tier::defaults::cost_fields!(t));
    if let Some(c) = &t.llm_calibration {
        // the tier's own peaks bound its prefill: the fit's prefill peak (BF16, the compute
        // floor of the quantized models, when it names none)
        let highest = TopsField::highest(t);
        let (dtype, base) =
            match c.prefill_peak.as_deref().and_then(|d| Some((d, ctx.dtypes?.tops_field(d)?.published(t)))) {
                Some((d, v)) if v > 0.0 => (d, v),
                _ => ("bf16", t.peak_tops_bf16),
            };
        let peaks = (base > 0.0).then_some((dtype, base, highest));
        // a tier's fit may be its class's, with the engine's `band_caveat` (ADR 0028): only
        // the class table's fits are checked for one
        fitted_constants(ctx, &mut out, vec![k("llm_calibration")], c, peaks, false);
    }
    if let Some(r) = &t.runtime {
        runtime_ref(ctx, &mut out, vec![k("runtime")], r);
    }
    if let (Some(s), Some(mem)) = (&t.memory_sharing, ctx.memory) {
        if !mem.sharing.contains_key(s) {
            out.push((
                vec![k("memory_sharing")],
                Diagnostic::error("unknown-reference", format!("unknown memory sharing rule `{s}`")).with_help(
                    did_you_mean(s, mem.sharing.keys().map(String::as_str)).or_else(|| {
                        Some(format!("known: {}", mem.sharing.keys().cloned().collect::<Vec<_>>().join(", ")))
                    }),
                ),
            ));
        }
    }
    for (f, p) in &t.published_peaks {
        check(&mut out, vec![k("published_peaks"), k(f.name()), k("value")], f.name(), p.value, Range::Positive);
        if p.source.trim().is_empty() {
            out.push((
                vec![k("published_peaks"), k(f.name()), k("source")],
                Diagnostic::error("value", format!("the published `{}` names no source", f.name())),
            ));
        }
    }
    if let (Some(c), Some(table)) = (&t.silicon_class, ctx.classes) {
        if !table.classes.contains_key(c) {
            out.push((
                vec![k("silicon_class")],
                Diagnostic::error("unknown-reference", format!("unknown silicon class `{c}`"))
                    .with_help(did_you_mean(c, table.classes.keys().map(String::as_str))),
            ));
        }
    }
    check(&mut out, vec![k("tdp_watts")], "tdp_watts", t.tdp_watts, Range::NonNegative);
    if let Some(s) = t.stock_mem_bandwidth_gbs {
        check(&mut out, vec![k("stock_mem_bandwidth_gbs")], "stock_mem_bandwidth_gbs", s, Range::NonNegative);
    }
    if let Some(cpu) = &t.cpu {
        if cpu.cores == 0 {
            out.push((vec![k("cpu"), k("cores")], Diagnostic::error("range", "`cpu.cores` is `0`; it must be > 0")));
        }
        check(&mut out, vec![k("cpu"), k("clock_ghz")], "cpu.clock_ghz", cpu.clock_ghz, Range::Positive);
    }

    match (&t.capability_levels, &t.capability_table) {
        (Some(_), Some(_)) => out.push((
            vec![k("capability_table")],
            Diagnostic::error("value", "give either `capability_levels` or `capability_table`, not both"),
        )),
        (None, Some(name)) if !ctx.capability_tables.contains_key(name) && !ctx.broken_names.contains(name) => out
            .push((
                vec![k("capability_table")],
                Diagnostic::error("unknown-reference", format!("unknown capability table `{name}`")).with_help(
                    did_you_mean(name, ctx.capability_tables.keys().map(String::as_str)).or_else(|| {
                        Some(format!(
                            "known tables: {}",
                            ctx.capability_tables.keys().cloned().collect::<Vec<_>>().join(", ")
                        ))
                    }),
                ),
            )),
        _ => {}
    }

    if let Some(c) = &t.calibration_source {
        calibration(ctx, &mut out, vec![k("calibration_source")], c);
    }
    if let (Some(rung), Some(sets)) = (&t.npu_precision_set, ctx.precision_sets) {
        if !rung.is_empty() && !sets.sets.contains_key(rung) {
            out.push((
                vec![k("npu_precision_set")],
                Diagnostic::error("unknown-reference", format!("unknown precision set `{rung}`")).with_help(
                    did_you_mean(rung, sets.sets.keys().map(String::as_str)).or_else(|| {
                        Some(format!("known sets: {}", sets.sets.keys().cloned().collect::<Vec<_>>().join(", ")))
                    }),
                ),
            ));
        }
    }

    // Bus width × data rate / 8 should give the stated bandwidth.
    let derived = f64::from(t.mem_bus_width_bits) * t.mem_data_rate_gtps / 8.0;
    if t.mem_bandwidth_gbs > 0.0
        && derived > 0.0
        && ((derived - t.mem_bandwidth_gbs).abs() / t.mem_bandwidth_gbs) > 0.01
    {
        out.push((
            vec![k("mem_bandwidth_gbs")],
            Diagnostic::warning(
                "bandwidth-mismatch",
                format!(
                    "`mem_bandwidth_gbs` is `{}` but {} bits × {} GT/s / 8 = {} GB/s (off by {:.1} %)",
                    number_text(t.mem_bandwidth_gbs),
                    t.mem_bus_width_bits,
                    number_text(t.mem_data_rate_gtps),
                    number_text(derived),
                    (derived - t.mem_bandwidth_gbs).abs() / t.mem_bandwidth_gbs * 100.0
                ),
            ),
        ));
    }
    if let Some(mem) = ctx.memory {
        if !mem.known_types.iter().any(|m| m == &t.mem_type) {
            out.push((
                vec![k("mem_type")],
                Diagnostic::warning("unknown-memory-type", format!("unknown memory type `{}`", t.mem_type)).with_help(
                    did_you_mean(&t.mem_type, mem.known_types.iter().map(String::as_str))
                        .or_else(|| Some(format!("known types: {}", mem.known_types.join(", ")))),
                ),
            ));
        }
    }
    for (field, map) in [
        ("measured_decode_overrides", &t.measured_decode_overrides),
        ("measured_prefill_overrides", &t.measured_prefill_overrides),
    ] {
        if let Some(m) = map {
            for (key, v) in m {
                check(&mut out, vec![k(field), k(key)], &format!("{field}.{key}"), *v, Range::NonNegative);
            }
        }
    }
    if let Some(cells) = &t.measured_llm {
        for (mk, per) in cells {
            for (wk, cell) in per {
                let base = vec![k("measured_llm"), k(mk), k(wk)];
                let name = format!("measured_llm.{mk}.{wk}");
                let mut p = base.clone();
                p.push(k("decode_tok_s"));
                check(&mut out, p, &format!("{name}.decode_tok_s"), cell.decode_tok_s, Range::NonNegative);
                for (f, v) in
                    [("prefill_tok_s", cell.prefill_tok_s), ("ttft_s", cell.ttft_s), ("host_ms", cell.host_ms)]
                {
                    if let Some(v) = v {
                        let mut p = base.clone();
                        p.push(k(f));
                        check(&mut out, p, &format!("{name}.{f}"), v, Range::NonNegative);
                    }
                }
            }
        }
    }
    if let Some(per) = &t.measured_perception {
        for (wc, a) in per {
            let base = vec![k("measured_perception"), k(wc)];
            for (f, c) in [
                ("latency_source", Some(&a.latency_source)),
                ("solver_source", a.solver_source.as_ref()),
                ("bw_source", a.bw_source.as_ref()),
                ("cores_source", a.cores_source.as_ref()),
            ] {
                if let Some(c) = c {
                    let mut p = base.clone();
                    p.push(k(f));
                    calibration(ctx, &mut out, p, c);
                }
            }
        }
    }
    out
}

/// Checks a tier file.
pub(crate) fn tier_file(ctx: &Context<'_>, pf: &ParsedFile, t: &TierSpec, report: &mut Report) {
    if t.schema_version != Some(1) {
        let d = match t.schema_version {
            None => Diagnostic::error("schema-version", "the tier file does not declare `schema_version`"),
            Some(v) => Diagnostic::error(
                "schema-version",
                format!("unsupported `schema_version` `{v}`; this ratchet reads version 1"),
            ),
        };
        report.push(pf.diag_at(d, &[k("schema_version")]));
    }
    emit(pf, &[], tier_findings(ctx, t), report);
}

/// Checks the schema version of a custom-tier file.
pub(crate) fn custom_tier_file(pf: &ParsedFile, p: &crate::tier::custom::CustomTierParams, report: &mut Report) {
    match p.schema_version {
        Some(v) => version_check(pf, v, report),
        None => report.push(pf.diag_at(
            Diagnostic::error("schema-version", "the custom-tier file does not declare `schema_version`"),
            &[k("schema_version")],
        )),
    }
}

/// Checks a tier built from a recipe file; findings on fields the recipe does not name point
/// at the file's top level.
pub(crate) fn built_tier(ctx: &Context<'_>, pf: &ParsedFile, t: &TierSpec, report: &mut Report) {
    emit(pf, &[], tier_findings(ctx, t), report);
}

/// Checks the manifest.
pub(crate) fn manifest(pf: &ParsedFile, m: &Manifest, report: &mut Report) {
    version_check(pf, m.schema_version, report);
    let parts: Vec<&str> = m.version.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.split('-').next().unwrap_or("").parse::<u64>().is_err()) {
        report.push(pf.diag_at(
            Diagnostic::warning("version", format!("registry version `{}` is not a semantic version", m.version)),
            &[k("version")],
        ));
    }
}

fn version_check(pf: &ParsedFile, v: u32, report: &mut Report) {
    if v != 1 {
        report.push(pf.diag_at(
            Diagnostic::error(
                "schema-version",
                format!("unsupported `schema_version` `{v}`; this ratchet reads version 1"),
            ),
            &[k("schema_version")],
        ));
    }
}

fn known_capability_keys(ctx: &Context<'_>) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    if let Some(q) = ctx.quant {
        keys.extend(q.schemes.values().map(|s| s.capability_key.clone()));
    }
    if let Some(d) = ctx.dtypes {
        keys.extend(d.capability_key.values().cloned());
        keys.extend(d.tops_field.keys().filter(|k| !d.capability_key.contains_key(*k)).cloned());
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Checks a capability table file.
pub(crate) fn capability_table(ctx: &Context<'_>, pf: &ParsedFile, t: &CapabilityTableFile, report: &mut Report) {
    version_check(pf, t.schema_version, report);
    let known = known_capability_keys(ctx);
    for (key, info) in &t.entries {
        if !known.is_empty() && !known.contains(key) {
            report.push(
                pf.diag_at_key(
                    Diagnostic::warning(
                        "unknown-key",
                        format!("capability key `{key}` is not produced by any dtype or quant scheme"),
                    )
                    .with_help(did_you_mean(key, known.iter().map(String::as_str))),
                    &[k("entries")],
                    key,
                ),
            );
        }
        if let (Some(via), Some(d)) = (&info.via_dtype, ctx.dtypes) {
            if d.tops_field(via).is_none() {
                report.push(
                    pf.diag_at(
                        Diagnostic::error("unknown-reference", format!("unknown dtype `{via}` in `via_dtype`"))
                            .with_help(did_you_mean(via, d.tops_field.keys().map(String::as_str))),
                        &[k("entries"), k(key), k("via_dtype")],
                    ),
                );
            }
        }
    }
}

/// Checks the dtype table.
pub(crate) fn dtypes(pf: &ParsedFile, d: &DtypeTable, report: &mut Report) {
    version_check(pf, d.schema_version, report);
    for key in d.tops_field.keys().chain(d.capability_key.keys()) {
        if key.to_lowercase() != *key {
            report.push(pf.diag_at_key(
                Diagnostic::error(
                    "value",
                    format!("dtype `{key}` must be lower-case (lookups lower-case the dtype first)"),
                ),
                &[k("tops_field")],
                key,
            ));
        }
    }
    for (i, f) in d.fp4_compute_dtypes.iter().enumerate() {
        if d.tops_field(f).is_none() {
            report.push(pf.diag_at(
                Diagnostic::error("unknown-reference", format!("FP4 dtype `{f}` has no entry in `tops_field`")),
                &[k("fp4_compute_dtypes"), PathSeg::Index(i)],
            ));
        }
    }
}

/// Checks the memory table's sharing rules: fractions in (0, 1], a step above a positive
/// capacity, non-negative GB figures, a floor below the ceiling, and a cited source.
pub(crate) fn memory_sharing(pf: &ParsedFile, t: &MemoryTable, report: &mut Report) {
    let mut out: Vec<Finding> = Vec::new();
    for (name, s) in &t.sharing {
        let at = |f: &str| vec![k("sharing"), k(name), k(f)];
        check(&mut out, at("fraction"), "fraction", s.fraction, Range::Fraction);
        if let Some(a) = &s.above {
            let mut p = at("above");
            p.push(k("from_gb"));
            check(&mut out, p, "from_gb", a.from_gb, Range::Positive);
            let mut p = at("above");
            p.push(k("fraction"));
            check(&mut out, p, "fraction", a.fraction, Range::Fraction);
        }
        for (f, v) in [("reserve_gb", s.reserve_gb), ("min_gb", s.min_gb), ("max_gb", s.max_gb)] {
            if let Some(v) = v {
                check(&mut out, at(f), f, v, Range::NonNegative);
            }
        }
        if let (Some(lo), Some(hi)) = (s.min_gb, s.max_gb) {
            if lo > hi {
                out.push((at("min_gb"), Diagnostic::error("range", format!("`min_gb` {lo} is above `max_gb` {hi}"))));
            }
        }
        if s.source.trim().is_empty() {
            out.push((at("source"), Diagnostic::error("value", format!("sharing rule `{name}` names no source"))));
        }
    }
    emit(pf, &[], out, report);
}

/// Checks the runtime table: every backend string names one runtime only, so a measurement's
/// runtime is never a guess.
pub(crate) fn runtimes(pf: &ParsedFile, t: &RuntimeTable, dtypes: Option<&DtypeTable>, report: &mut Report) {
    version_check(pf, t.schema_version, report);
    let mut seen: IndexMap<String, &str> = IndexMap::new();
    for (key, r) in &t.runtimes {
        if let (Some(d), Some(table)) = (&r.prefill_peak_dtype, dtypes) {
            if table.tops_field(d).is_none() {
                report.push(
                    pf.diag_at(
                        Diagnostic::error(
                            "unknown-reference",
                            format!("`prefill_peak_dtype` `{d}` is not a dtype with a peak"),
                        )
                        .with_help(did_you_mean(d, table.tops_field.keys().map(String::as_str))),
                        &[k("runtimes"), k(key), k("prefill_peak_dtype")],
                    ),
                );
            }
        }
        for (i, b) in r.backends.iter().enumerate() {
            let at = [k("runtimes"), k(key), k("backends"), PathSeg::Index(i)];
            if b.trim().is_empty() {
                report.push(pf.diag_at(Diagnostic::error("value", "an empty backend string"), &at));
                continue;
            }
            if let Some(prev) = seen.insert(b.to_lowercase(), key) {
                report.push(pf.diag_at(
                    Diagnostic::error(
                        "duplicate",
                        format!("backend `{b}` of runtime `{key}` is also listed by `{prev}`: a measurement's runtime must be one"),
                    ),
                    &at,
                ));
            }
        }
    }
}

/// Checks the quant-scheme table.
pub(crate) fn quant_schemes(ctx: &Context<'_>, pf: &ParsedFile, q: &QuantSchemeTable, report: &mut Report) {
    version_check(pf, q.schema_version, report);
    let table_keys: Vec<&str> =
        ctx.capability_tables.values().flat_map(|t| t.entries.keys().map(String::as_str)).collect();
    for (name, s) in &q.schemes {
        if !table_keys.is_empty() && !table_keys.contains(&s.capability_key.as_str()) {
            report.push(
                pf.diag_at(
                    Diagnostic::warning(
                        "unknown-reference",
                        format!(
                            "quant scheme `{name}` maps to capability key `{}`, which no capability table lists",
                            s.capability_key
                        ),
                    )
                    .with_help(did_you_mean(&s.capability_key, table_keys.iter().copied())),
                    &[k("schemes"), k(name), k("capability_key")],
                ),
            );
        }
        let mut out = Vec::new();
        if let Some(b) = s.bytes_per_param {
            check(&mut out, vec![k("bytes_per_param")], "bytes_per_param", b, Range::Positive);
        }
        if let Some(g) = s.gguf_size_gb {
            check(&mut out, vec![k("gguf_size_gb")], "gguf_size_gb", g, Range::Positive);
        }
        if let Some(b) = s.requant.as_ref().and_then(|r| r.bytes_per_param) {
            check(&mut out, vec![k("requant"), k("bytes_per_param")], "bytes_per_param", b, Range::Positive);
        }
        emit(pf, &[k("schemes"), k(name)], out, report);
    }
}

fn table_ref(ctx: &Context<'_>, pf: &ParsedFile, path: &[PathSeg], name: &str, report: &mut Report) {
    if !ctx.capability_tables.contains_key(name) && !ctx.broken_names.iter().any(|b| b == name) {
        report.push(
            pf.diag_at(
                Diagnostic::error("unknown-reference", format!("unknown capability table `{name}`"))
                    .with_help(did_you_mean(name, ctx.capability_tables.keys().map(String::as_str))),
                path,
            ),
        );
    }
}

/// Checks the precision-set table.
pub(crate) fn precision_sets(ctx: &Context<'_>, pf: &ParsedFile, p: &PrecisionSetTable, report: &mut Report) {
    version_check(pf, p.schema_version, report);
    for (rung, s) in &p.sets {
        table_ref(ctx, pf, &[k("sets"), k(rung), k("capability_table")], &s.capability_table, report);
        if let Some(d) = ctx.dtypes {
            if d.tops_field(&s.compute_dtype).is_none() {
                report.push(
                    pf.diag_at(
                        Diagnostic::error("unknown-reference", format!("unknown compute dtype `{}`", s.compute_dtype))
                            .with_help(did_you_mean(&s.compute_dtype, d.tops_field.keys().map(String::as_str))),
                        &[k("sets"), k(rung), k("compute_dtype")],
                    ),
                );
            }
        }
        for (i, z) in s.zeroed_peaks.iter().enumerate() {
            if *z == TopsField::PeakTopsInt8 {
                report.push(pf.diag_at(
                    Diagnostic::error(
                        "value",
                        "`peak_tops_int8` is never zeroed by a precision set (every rung has INT8)",
                    ),
                    &[k("sets"), k(rung), k("zeroed_peaks"), PathSeg::Index(i)],
                ));
            }
        }
    }
}

/// Checks the silicon-class table.
pub(crate) fn silicon_classes(ctx: &Context<'_>, pf: &ParsedFile, s: &SiliconClassTable, report: &mut Report) {
    version_check(pf, s.schema_version, report);
    let mut out = Vec::new();
    calibration(ctx, &mut out, vec![k("custom_calibration")], &s.custom_calibration);
    emit(pf, &[], out, report);
    let mut out = Vec::new();
    cost_constants(&mut out, &s.tier_defaults.fields());
    policy_values(&mut out, &s.calibration_policy);
    emit(pf, &[k("tier_defaults")], out, report);
    for (name, c) in &s.classes {
        if let Some(t) = &c.capability_table {
            table_ref(ctx, pf, &[k("classes"), k(name), k("capability_table")], t, report);
        }
        let mut out = Vec::new();
        cost_constants(&mut out, &crate::tier::defaults::cost_fields!(c));
        if let Some(cal) = &c.calibrated {
            fitted_constants(ctx, &mut out, vec![k("calibrated")], cal, None, true);
        }
        if let Some(r) = &c.default_runtime {
            runtime_ref(ctx, &mut out, vec![k("default_runtime")], r);
        }
        for (r, cal) in &c.runtime_calibrated {
            runtime_ref(ctx, &mut out, vec![k("runtime_calibrated"), k(r)], r);
            fitted_constants(ctx, &mut out, vec![k("runtime_calibrated"), k(r)], cal, None, true);
        }
        emit(pf, &[k("classes"), k(name)], out, report);
    }
}

/// The physical range of a fitted cost model (`calibration_policy`): a decode efficiency is
/// a share of the spec bandwidth, so at most `max_bandwidth_share`; per-layer costs are not
/// negative; `prefill_util` is positive and, where the peaks are known (`(compute floor,
/// highest)`), keeps prefill under the highest peak.
fn fitted_constants(
    ctx: &Context<'_>,
    out: &mut Vec<Finding>,
    base: Vec<PathSeg>,
    c: &LlmCalibration,
    peaks: Option<(&str, f64, f64)>,
    from_file: bool,
) {
    if let (Some(d), Some(table)) = (&c.prefill_peak, ctx.dtypes) {
        if table.tops_field(d).is_none() {
            let mut path = base.clone();
            path.push(k("prefill_peak"));
            out.push((
                path,
                Diagnostic::error("unknown-reference", format!("`prefill_peak` `{d}` is not a dtype with a peak"))
                    .with_help(did_you_mean(d, table.tops_field.keys().map(String::as_str))),
            ));
        }
    }
    error_band(out, &base, c, from_file);
    let Some(p) = ctx.policy else { return };
    let at = |f: &str| {
        let mut v = base.clone();
        v.push(k(f));
        v
    };
    let bw = [
        ("decode_bw_efficiency", Some(c.decode_bw_efficiency)),
        ("decode_kv_bw_efficiency", c.decode_kv_bw_efficiency),
    ];
    for (f, v) in bw.iter().filter_map(|(f, v)| v.map(|v| (*f, v))) {
        if !(v.is_finite() && v > 0.0 && v <= p.max_bandwidth_share) {
            out.push((
                at(f),
                Diagnostic::error(
                    "range",
                    format!(
                        "`{f}` is `{}`; it is a share of the spec bandwidth, so it must be in (0, {}]",
                        number_text(v),
                        number_text(p.max_bandwidth_share)
                    ),
                )
                .with_help(Some(
                    "no memory delivers more than its spec bandwidth: refit, or fix the tier's `mem_bandwidth_gbs`"
                        .into(),
                )),
            ));
        }
    }
    for (f, v) in [("decode_layer_us", c.decode_layer_us), ("prefill_layer_us", c.prefill_layer_us)] {
        check(out, at(f), f, v, Range::NonNegative);
    }
    check(out, at("prefill_util"), "prefill_util", c.prefill_util, Range::Positive);
    if let Some((dtype, floor, highest)) = peaks {
        let max = p.max_share_of_highest_peak * highest / floor;
        if c.prefill_util > max {
            out.push((
                at("prefill_util"),
                Diagnostic::error(
                    "range",
                    format!(
                        "`prefill_util` is `{}`: {} TOPS of a {} TOPS {} peak, above the tier's highest dense peak {} TOPS (at most `{:.3}`)",
                        number_text(c.prefill_util),
                        number_text(c.prefill_util * floor),
                        number_text(floor),
                        dtype.to_uppercase(),
                        number_text(highest),
                        max
                    ),
                ),
            ));
        }
    }
}

/// The policy's own values: shares and tolerances positive, bands ascending.
fn policy_values(out: &mut Vec<Finding>, p: &CalibrationPolicy) {
    let base = |f: &str| vec![k("calibration_policy"), k(f)];
    for (f, v) in [
        ("max_bandwidth_share", p.max_bandwidth_share),
        ("max_share_of_highest_peak", p.max_share_of_highest_peak),
        ("kv_context_spread_min", p.kv_context_spread_min),
        ("model_size_tolerance_pct", p.model_size_tolerance_pct),
        ("model_params_tolerance_pct", p.model_params_tolerance_pct),
    ] {
        check(out, base(f), f, v, Range::Positive);
    }
    for (i, v) in p.band_quantiles.iter().enumerate() {
        let mut path = base("band_quantiles");
        path.push(PathSeg::Index(i));
        check(out, path, "band_quantiles", *v, Range::Fraction);
    }
    if p.band_quantiles[0] >= p.band_quantiles[1] {
        out.push((
            base("band_quantiles"),
            Diagnostic::error("range", "`band_quantiles` must be [low, high] with low < high"),
        ));
    }
    for (i, v) in p.accuracy_bands_pct.iter().enumerate() {
        let mut path = base("accuracy_bands_pct");
        path.push(PathSeg::Index(i));
        check(out, path, "accuracy_bands_pct", *v, Range::Positive);
    }
}

/// A fit's error band (ADR 0030): each percentile a finite relative error above −1 (a rate
/// cannot be under-projected by 100 % or more), p10 ≤ p90, held out by `device` or `point`;
/// `band_caveat` is the engine's, never a file's (`from_file`: the fit is as a file wrote it).
fn error_band(out: &mut Vec<Finding>, base: &[PathSeg], c: &LlmCalibration, from_file: bool) {
    let at = |f: &[&str]| {
        let mut v = base.to_vec();
        v.extend(f.iter().map(|f| k(f)));
        v
    };
    if from_file && c.band_caveat.is_some() {
        out.push((
            at(&["band_caveat"]),
            Diagnostic::error(
                "range",
                "`band_caveat` is set by the engine when it applies a class fit; a file cannot set it",
            )
            .with_help(Some("remove it".into())),
        ));
    }
    let Some(b) = &c.error_band else { return };
    let pairs = [
        ("decode_p10", b.decode_p10, "decode_p90", b.decode_p90),
        ("prefill_p10", b.prefill_p10, "prefill_p90", b.prefill_p90),
    ];
    for (lo_name, lo, hi_name, hi) in pairs {
        for (f, v) in [(lo_name, lo), (hi_name, hi)] {
            if !(v.is_finite() && v > -1.0) {
                out.push((
                    at(&["error_band", f]),
                    Diagnostic::error(
                        "range",
                        format!(
                            "`{f}` is `{}`; a relative error of a rate must be a finite number above -1",
                            number_text(v)
                        ),
                    ),
                ));
            }
        }
        if lo > hi {
            out.push((
                at(&["error_band", lo_name]),
                Diagnostic::error(
                    "range",
                    format!("`{lo_name}` `{}` is above `{hi_name}` `{}`", number_text(lo), number_text(hi)),
                ),
            ));
        }
    }
    if let Some(n) = b.moe_points.filter(|n| *n > b.points) {
        out.push((
            at(&["error_band", "moe_points"]),
            Diagnostic::error("range", format!("`moe_points` `{n}` is more than the band's `points` `{}`", b.points)),
        ));
    }
    if !["device", "point"].contains(&b.held_out.as_str()) {
        out.push((
            at(&["error_band", "held_out"]),
            Diagnostic::error(
                "unknown-reference",
                format!("`held_out` is `{}`; expected `device` or `point`", b.held_out),
            )
            .with_help(did_you_mean(&b.held_out, ["device", "point"])),
        ));
    }
}

/// Range checks of a tier's calibration constants: fractions in (0, 1], the per-request
/// overhead ≥ 0.
fn cost_constants(out: &mut Vec<Finding>, fields: &[(&str, f64)]) {
    const OVERHEAD: &str = "compute_overhead_ms";
    for (f, v) in fields.iter().filter(|(f, _)| *f != OVERHEAD) {
        check(out, vec![k(f)], f, *v, Range::Fraction);
    }
    for (f, v) in fields.iter().filter(|(f, _)| *f == OVERHEAD) {
        check(out, vec![k(f)], f, *v, Range::NonNegative);
    }
}

/// Checks one catalog model.
pub(crate) fn model(
    ctx: &Context<'_>,
    pf: &ParsedFile,
    i: usize,
    m: &LlmModel,
    all_keys: &[String],
    report: &mut Report,
) {
    let base = vec![k("models"), PathSeg::Index(i)];
    for f in model_findings(ctx, m, all_keys) {
        let mut full = base.clone();
        full.extend(f.0);
        report.push(pf.diag_at(f.1, &full));
    }
}

/// Every semantic finding for one model.
/// The attention and expert layout of a model: widths that must be positive, layer counts
/// that must fit in the model's layers, expert counts that must fit in its experts.
fn architecture_findings(m: &LlmModel) -> Vec<Finding> {
    let mut out = Vec::new();
    let positive = [
        ("sliding_window", m.sliding_window),
        ("kv_lora_rank", m.kv_lora_rank),
        ("state_layers", m.state_layers),
        ("experts_per_token", m.experts_per_token),
        ("num_experts", m.num_experts),
    ];
    for (f, v) in positive {
        if v == Some(0) {
            out.push((vec![k(f)], Diagnostic::error("range", format!("`{f}` is `0`; it must be > 0"))));
        }
    }
    if m.state_elements_per_layer == Some(0) {
        out.push((
            vec![k("state_elements_per_layer")],
            Diagnostic::error("range", "`state_elements_per_layer` is `0`; it must be > 0"),
        ));
    }
    let layers = [
        ("sliding_window_layers", m.sliding_window_layers),
        ("state_layers", m.state_layers),
        ("first_dense_layers", m.first_dense_layers),
    ];
    for (f, v) in layers {
        if let Some(n) = v.filter(|n| *n > m.num_layers) {
            out.push((
                vec![k(f)],
                Diagnostic::error("range", format!("`{f}` (`{n}`) exceeds `num_layers` (`{}`)", m.num_layers)),
            ));
        }
    }
    let windowed = m.sliding_window.map(|_| m.sliding_window_layers.unwrap_or(m.num_layers)).unwrap_or(0);
    let stateful = m.state_layers.unwrap_or(0);
    if windowed.saturating_add(stateful) > m.num_layers && windowed <= m.num_layers && stateful <= m.num_layers {
        out.push((
            vec![k("state_layers")],
            Diagnostic::error(
                "range",
                format!(
                    "sliding-window layers (`{windowed}`) and state layers (`{stateful}`) add up to more than `num_layers` (`{}`)",
                    m.num_layers
                ),
            ),
        ));
    }
    let pairs = [
        ("sliding_window_layers", m.sliding_window_layers.is_some(), "sliding_window", m.sliding_window.is_some()),
        ("qk_rope_head_dim", m.qk_rope_head_dim.is_some(), "kv_lora_rank", m.kv_lora_rank.is_some()),
        ("state_elements_per_layer", m.state_elements_per_layer.is_some(), "state_layers", m.state_layers.is_some()),
        ("state_layers", m.state_layers.is_some(), "state_elements_per_layer", m.state_elements_per_layer.is_some()),
    ];
    for (f, given, needs, has) in pairs {
        if given && !has {
            out.push((vec![k(f)], Diagnostic::error("value", format!("`{f}` is given without `{needs}`"))));
        }
    }
    if let (Some(e), Some(t)) = (m.experts_per_token, m.num_experts) {
        if e > t {
            out.push((
                vec![k("experts_per_token")],
                Diagnostic::error("range", format!("`experts_per_token` (`{e}`) exceeds `num_experts` (`{t}`)")),
            ));
        }
    }
    if let Some(r) = m.routed_expert_params_b {
        check(&mut out, vec![k("routed_expert_params_b")], "routed_expert_params_b", r, Range::Positive);
        if r > m.total_params_b {
            out.push((
                vec![k("routed_expert_params_b")],
                Diagnostic::error(
                    "range",
                    format!(
                        "`routed_expert_params_b` (`{}`) exceeds `total_params_b` (`{}`)",
                        number_text(r),
                        number_text(m.total_params_b)
                    ),
                ),
            ));
        }
    }
    out
}

pub(crate) fn model_findings(ctx: &Context<'_>, m: &LlmModel, all_keys: &[String]) -> Vec<Finding> {
    let mut out = Vec::new();
    if m.key.trim().is_empty() {
        out.push((vec![k("key")], Diagnostic::error("value", "the model key is empty")));
    }
    check(&mut out, vec![k("total_params_b")], "total_params_b", m.total_params_b, Range::Positive);
    check(&mut out, vec![k("active_params_b")], "active_params_b", m.active_params_b, Range::Positive);
    check(&mut out, vec![k("bytes_per_param")], "bytes_per_param", m.bytes_per_param, Range::Positive);
    check(&mut out, vec![k("gguf_size_gb")], "gguf_size_gb", m.gguf_size_gb, Range::Positive);
    check(&mut out, vec![k("size_gb_inflight")], "size_gb_inflight", m.size_gb_inflight, Range::NonNegative);
    if m.active_params_b > m.total_params_b {
        out.push((
            vec![k("active_params_b")],
            Diagnostic::error(
                "range",
                format!(
                    "`active_params_b` (`{}`) exceeds `total_params_b` (`{}`)",
                    number_text(m.active_params_b),
                    number_text(m.total_params_b)
                ),
            ),
        ));
    }
    for (f, v) in
        [("num_layers", m.num_layers), ("hidden_dim", m.hidden_dim), ("num_attention_heads", m.num_attention_heads)]
            .into_iter()
            .chain(m.head_dim.map(|h| ("head_dim", h)))
    {
        if v == 0 {
            out.push((vec![k(f)], Diagnostic::error("range", format!("`{f}` is `0`; it must be > 0"))));
        }
    }
    out.extend(architecture_findings(m));
    if m.num_kv_heads > m.num_attention_heads {
        out.push((
            vec![k("num_kv_heads")],
            Diagnostic::warning(
                "range",
                format!(
                    "`num_kv_heads` (`{}`) exceeds `num_attention_heads` (`{}`)",
                    m.num_kv_heads, m.num_attention_heads
                ),
            ),
        ));
    }
    if let Some(q) = ctx.quant {
        match q.schemes.get(&m.quant_scheme) {
            None => out.push((
                vec![k("quant_scheme")],
                Diagnostic::error("unknown-reference", format!("unknown quant scheme `{}`", m.quant_scheme))
                    .with_help(did_you_mean(&m.quant_scheme, q.schemes.keys().map(String::as_str))),
            )),
            Some(s) => {
                if let Some(b) = s.bytes_per_param {
                    if (b - m.bytes_per_param).abs() > 1e-9 {
                        out.push((
                            vec![k("bytes_per_param")],
                            Diagnostic::warning(
                                "table-mismatch",
                                format!(
                                    "`bytes_per_param` is `{}` but the quant table gives `{}` for `{}`",
                                    number_text(m.bytes_per_param),
                                    number_text(b),
                                    m.quant_scheme
                                ),
                            ),
                        ));
                    }
                }
            }
        }
    }
    if let Some(d) = ctx.dtypes {
        if d.tops_field(&m.compute_dtype).is_none() {
            out.push((
                vec![k("compute_dtype")],
                Diagnostic::warning("unknown-reference", format!("unknown compute dtype `{}`", m.compute_dtype))
                    .with_help(did_you_mean(&m.compute_dtype, d.tops_field.keys().map(String::as_str))),
            ));
        }
    }
    if let Some(alias) = &m.measurement_alias {
        if !alias.is_empty() && !all_keys.iter().any(|x| x == alias) {
            out.push((
                vec![k("measurement_alias")],
                Diagnostic::warning(
                    "unknown-reference",
                    format!("`measurement_alias` names the unknown model `{alias}`"),
                )
                .with_help(did_you_mean(alias, all_keys.iter().map(String::as_str))),
            ));
        }
    }
    if let Some(p) = m.pass_rate {
        if !(0.0..=1.0).contains(&p) {
            out.push((
                vec![k("pass_rate")],
                Diagnostic::error("range", format!("`pass_rate` is `{}`; it must be in [0, 1]", number_text(p))),
            ));
        }
    }
    out
}
