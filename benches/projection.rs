//! `project_llm` throughput: the interpreted cascade over every canonical tier × reference
//! model × four token counts, against a hand-written native version of the first-principles
//! path (the floor an interpreter is measured against), and `ratchet batch` end to end.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ratchet::{Engine, ProjectParams};
use std::hint::black_box;

const TOKENS: [(u64, u64); 4] = [(500, 200), (4800, 400), (1000, 100), (128, 0)];

/// The first-principles (cross-class) path written directly in Rust, bench-only: the same
/// formulas, guards, operation order and rounding as `rules/ratchet-0.3.2.ron`, with the
/// tier fields read directly. Used only as the floor to compare the interpreter against.
mod native {
    use ratchet::LlmModel;
    use ratchet::numeric::{py_max, py_round};
    use ratchet::tier::Tier;

    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Out {
        pub decode_tok_s: f64,
        pub prefill_tok_s: f64,
        pub ttft_s: f64,
        pub decode_s: f64,
        pub prefill_s: f64,
        pub total_s: f64,
        pub host_ms: f64,
        pub ceiling: f64,
        pub bw_bound: bool,
    }

    #[inline(never)]
    pub fn cross_class(m: &LlmModel, hw: &Tier, prompt: f64, decode: f64, peak_floor: f64) -> Out {
        let s = &hw.spec;
        let active_params_gb = m.active_params_b * m.bytes_per_param;
        let gops = 2.0 * m.active_params_b;
        let peak = py_max(peak_floor, 1e-9);
        let eff_bw = s.mem_bandwidth_gbs * s.bandwidth_efficiency;
        let realized = (eff_bw * s.llm_decode_bw_realization) * s.npu_share_default;
        let bw_dec = (active_params_gb / py_max(realized, 1e-9)) * 1000.0;
        let cmp_dec = gops / (peak * s.llm_prefill_util_factor);
        let per_token = py_max(bw_dec, cmp_dec);
        let decode_tok_s = (1000.0 / py_max(per_token, 1e-6)) * 1.0;
        let bw_pre = (active_params_gb / eff_bw) * 1000.0;
        let cmp_pre = (gops * prompt) / (peak * s.llm_prefill_util_factor);
        let ttft_ms = py_max(bw_pre, cmp_pre) + s.compute_overhead_ms;
        let prefill_tok_s = (prompt / py_max(ttft_ms / 1000.0, 1e-6)) * 1.0;
        let host_s = s.compute_overhead_ms / 1000.0;
        let decode_s = decode / py_max(decode_tok_s, 1e-6);
        let prefill_s = prompt / py_max(prefill_tok_s, 1e-6);
        let total_s = (host_s + prefill_s) + decode_s;
        Out {
            decode_tok_s: py_round(decode_tok_s, 2),
            prefill_tok_s: py_round(prefill_tok_s, 2),
            ttft_s: py_round(ttft_ms / 1000.0, 4),
            decode_s: py_round(decode_s, 3),
            prefill_s: py_round(prefill_s, 3),
            total_s: py_round(total_s, 3),
            host_ms: py_round(host_s * 1000.0, 2),
            ceiling: py_round(1000.0 / py_max(bw_dec, 1e-6), 2),
            bw_bound: bw_dec >= cmp_dec,
        }
    }
}

fn bench(c: &mut Criterion) {
    let engine = Engine::embedded()
        .unwrap_or_else(|r| panic!("{r:?}"))
        .with_rule_set("ratchet-0.3.2")
        .unwrap_or_else(|e| panic!("{e}"));
    let reg = engine.registry();
    let tiers: Vec<_> = reg.tiers().to_vec();
    let models: Vec<_> = reg.catalog().iter().cloned().collect();
    let params: Vec<ProjectParams> = TOKENS
        .iter()
        .map(|(p, d)| ProjectParams { prompt_tokens: Some(*p), decode_tokens: Some(*d), ..Default::default() })
        .collect();
    let n = (tiers.len() * models.len() * params.len()) as u64;

    let mut g = c.benchmark_group("project_llm");
    g.throughput(Throughput::Elements(n));
    g.bench_function("interpreted_cascade_all_tiers_models_tokens", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for t in &tiers {
                for m in &models {
                    for p in &params {
                        if let Ok(ratchet::Projection::Projected(r)) = engine.project_llm(m, t, "rag_qa", black_box(p))
                        {
                            acc += r.total_s;
                        }
                    }
                }
            }
            black_box(acc)
        })
    });

    // The same grid in lanes: per (tier, model), the token pairs as one block (one dispatch
    // of each instruction for the block).
    let block: Vec<(&str, &ProjectParams)> = params.iter().map(|p| ("rag_qa", p)).collect();
    let blocks = |pairs: &[(&ratchet::Tier, &ratchet::LlmModel)]| {
        let mut out = Vec::with_capacity(block.len());
        let mut acc = 0.0;
        for (t, m) in pairs {
            out.clear();
            engine.project_llm_block(m, t, black_box(&block), &mut out);
            for r in &out {
                if let Ok(ratchet::Projection::Projected(r)) = r {
                    acc += r.total_s;
                }
            }
        }
        acc
    };
    let all: Vec<(&ratchet::Tier, &ratchet::LlmModel)> =
        tiers.iter().flat_map(|t| models.iter().map(move |m| (t.as_ref(), m.as_ref()))).collect();
    g.bench_function("lanes_cascade_all_tiers_models_tokens", |b| b.iter(|| black_box(blocks(&all))));

    // The cross-class path alone, interpreted vs native, on the tiers where it answers.
    let cross: Vec<(&ratchet::Tier, &ratchet::LlmModel)> = tiers
        .iter()
        .flat_map(|t| models.iter().map(move |m| (t.as_ref(), m.as_ref())))
        .filter(|(t, m)| {
            matches!(engine.project_llm(m, t, "rag_qa", &params[0]), Ok(ratchet::Projection::Projected(r)) if r.source == "cross_class")
        })
        .collect();
    let nc = (cross.len() * params.len()) as u64;
    g.throughput(Throughput::Elements(nc));
    g.bench_function("interpreted_cross_class", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for (t, m) in &cross {
                for p in &params {
                    if let Ok(ratchet::Projection::Projected(r)) = engine.project_llm(m, t, "rag_qa", black_box(p)) {
                        acc += r.total_s;
                    }
                }
            }
            black_box(acc)
        })
    });
    g.bench_function("lanes_cross_class", |b| b.iter(|| black_box(blocks(&cross))));
    let peaks: Vec<f64> = cross
        .iter()
        .map(|(t, m)| reg.dtypes().tops_field(&m.compute_dtype).map(|f| f.get(&t.spec)).unwrap_or(0.0))
        .collect();
    // the native floor must agree with the interpreter
    for ((t, m), pk) in cross.iter().zip(&peaks) {
        for p in &params {
            let (pt, dt) = (p.prompt_tokens.unwrap_or(0) as f64, p.decode_tokens.unwrap_or(0) as f64);
            let n = native::cross_class(m, t, pt, dt, *pk);
            if let Ok(ratchet::Projection::Projected(r)) = engine.project_llm(m, t, "rag_qa", p) {
                assert_eq!(
                    (n.decode_tok_s, n.prefill_tok_s, n.ttft_s, n.total_s),
                    (r.decode_tok_s, r.prefill_tok_s, r.ttft_s, r.total_s)
                );
            }
        }
    }
    g.bench_function("native_cross_class_floor", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for ((t, m), pk) in cross.iter().zip(&peaks) {
                for p in &params {
                    let (pt, dt) = (p.prompt_tokens.unwrap_or(0) as f64, p.decode_tokens.unwrap_or(0) as f64);
                    acc += native::cross_class(m, t, black_box(pt), black_box(dt), *pk).total_s;
                }
            }
            black_box(acc)
        })
    });
    g.finish();

    // batch end to end (parse, project, serialise), in memory
    let mut input = String::new();
    for t in &tiers {
        for m in &models {
            for (p, d) in TOKENS {
                input.push_str(&format!(
                    "{{\"op\":\"project_llm\",\"model\":\"{}\",\"hw\":\"{}\",\"workload_id\":\"rag_qa\",\"prompt_tokens\":{p},\"decode_tokens\":{d}}}\n",
                    m.key,
                    t.name()
                ));
            }
        }
    }
    let lines = input.lines().count() as u64;
    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(lines));
    g.bench_function("batch_end_to_end_in_memory", |b| {
        let mut out = Vec::with_capacity(input.len() * 8);
        b.iter(|| {
            out.clear();
            let stats = ratchet::batch::run(&engine, input.as_bytes(), &mut out).unwrap_or_default();
            black_box(stats)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
