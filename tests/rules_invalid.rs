//! Broken rules each give exactly one diagnostic at the formula's `file:line:col`
//! (snapshot-tested), and never a panic. Each case edits one line of a copy of the shipped
//! rules.

mod common;

use ratchet::engine::registry_tables;
use ratchet::registry::loader::DirLoader;
use ratchet::rules;

/// (case, file, text to replace, replacement)
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "syntax-error",
        "ratchet-0.3.2.ron",
        r#""gqa_ratio": "kv_heads / attn_heads","#,
        r#""gqa_ratio": "kv_heads / (attn_heads","#,
    ),
    (
        "unknown-variable",
        "ratchet-0.3.2.ron",
        r#""effective_bandwidth_gbs": "hw.mem_bandwidth_gbs * hw.bandwidth_efficiency","#,
        r#""effective_bandwidth_gbs": "hw.mem_bandwidth_gbs * hw.bandwith_efficiency","#,
    ),
    (
        "unknown-formula-name",
        "ratchet-0.3.2.ron",
        r#""per_token_ms": "max(bw_floor_ms_decode, compute_floor_ms_decode)","#,
        r#""per_token_ms": "max(bw_floor_ms_decode, compute_floor_ms_decod)","#,
    ),
    (
        "cycle",
        "ratchet-0.3.2.ron",
        r#""gqa_ratio": "kv_heads / attn_heads","#,
        r#""gqa_ratio": "kv_heads / attn_heads * kv_cache_bytes_per_token(1)","#,
    ),
    (
        "missing-path",
        "ratchet-0.3.2.ron",
        r#"cascade: ["measured", "tier_anchor", "same_class", "cross_class"],"#,
        r#"cascade: ["measured", "tier_anchor", "same_clas", "cross_class"],"#,
    ),
    ("unknown-lookup", "ratchet-0.3.2.ron", r#"builtin: "family_sibling","#, r#"builtin: "family_sibilng","#),
    (
        "wrong-arity",
        "ratchet-0.3.2.ron",
        r#""per_token_ms": "max(bw_floor_ms_decode, compute_floor_ms_decode)","#,
        r#""per_token_ms": "max(bw_floor_ms_decode)","#,
    ),
    (
        "unknown-function",
        "ratchet-0.3.2.ron",
        r#""floor_peak_tops": "max(peak_tops(floor_dtype), eps_tops)","#,
        r#""floor_peak_tops": "max(peak_top(floor_dtype), eps_tops)","#,
    ),
    (
        "type-mismatch",
        "ratchet-0.3.2.ron",
        r#""gops_per_token": "2 * model.active_params_b","#,
        r#""gops_per_token": "2 * model.key","#,
    ),
    (
        "unknown-table",
        "ratchet-0.3.2.ron",
        r#"lookup_or("quant_capability_key", q, dtype_capability_key(q))"#,
        r#"lookup_or("quant_capability_keys", q, dtype_capability_key(q))"#,
    ),
    (
        "unknown-output",
        "ratchet-0.3.2.ron",
        r#""decode_ceiling_tok_s": "1000 / max(bw_floor_ms_decode, eps_ms)","#,
        r#""decode_ceiling_tok_s": "1000 / max(bw_floor_ms_decode, eps_ms)", "decode_ceiling": "1","#,
    ),
    ("ron-syntax-error", "ratchet-0.3.2.ron", r#""tight_fraction": 0.15,"#, r#""tight_fraction": 0.15"#),
    ("unknown-extends", "fix-fp4-alias.ron", r#"extends: "ratchet-0.3.2","#, r#"extends: "ratchet-0.32","#),
    (
        "shadowing",
        "ratchet-0.3.2.ron",
        r#"let: {"host_s": "host_or_overhead_s"},"#,
        r#"let: {"host_s": "host_or_overhead_s", "gops_per_token": "1"},"#,
    ),
    ("unknown-kv-cache-default", "kv-architecture.ron", r#""kv_cache_dtype": "f16","#, r#""kv_cache_dtype": "f61","#),
    (
        "unknown-numeric-table",
        "unified-memory.ron",
        r#"lookup_num("memory_sharing_reserve_gb","#,
        r#"lookup_num("memory_sharing_reserve","#,
    ),
    (
        "branch-types",
        "ratchet-0.3.2.ron",
        r#""attn_heads": "max(if(model.num_attention_heads != 0, model.num_attention_heads, 1), 1)","#,
        r#""attn_heads": "max(if(model.num_attention_heads != 0, model.num_attention_heads, \"1\"), 1)","#,
    ),
];

#[test]
fn broken_rules_give_one_diagnostic_each() {
    let engine_reg = ratchet::Registry::embedded().registry.unwrap_or_else(|| panic!("registry"));
    let tables = registry_tables(&engine_reg);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(common::root().join("tests/snapshots/rules"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for (name, file, from, to) in CASES {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let rules_dir = dir.path().join("rules");
            common::copy_dir(&common::root().join("rules"), &rules_dir);
            let path = rules_dir.join(file);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(text.contains(from), "{name}: the shipped rules no longer contain {from}");
            std::fs::write(&path, text.replacen(from, to, 1)).unwrap_or_else(|e| panic!("{e}"));
            let loader = DirLoader::new(rules_dir.clone());
            let out = rules::load(&[&loader], &tables);
            let errors: Vec<_> = out.report.diagnostics.iter().filter(|d| d.is_error()).collect();
            assert_eq!(errors.len(), 1, "{name}: {:#?}", out.report.diagnostics);
            let d = errors[0];
            assert!(d.line > 0 && d.col > 0, "{name}: no position: {d}");
            assert!(out.sets.is_empty(), "{name}: broken rules must not load");
            let prefix = rules_dir.display().to_string();
            let text =
                format!("{}\n\n{}", d.one_line().replace(&prefix, "rules"), d.render().replace(&prefix, "rules"));
            insta::assert_snapshot!(*name, text);
        }
    });
}

#[test]
fn shipped_rules_load_clean() {
    let reg = ratchet::Registry::embedded().registry.unwrap_or_else(|| panic!("registry"));
    let out = rules::load(&[&ratchet::embedded::rules()], &registry_tables(&reg));
    assert!(out.report.diagnostics.is_empty(), "{:#?}", out.report.diagnostics);
    assert!(out.sets.contains_key("ratchet-0.3.2") && out.sets.contains_key("default"));
}
