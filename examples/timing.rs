//! Quick timing of projections in a loop (profiling aid): `[TIER] [MODEL]`, `N` iterations;
//! with `LANES=k`, a block of `k` requests (the projection benchmark's token pairs, cycled) per
//! call of `project_llm_block` instead of one `project_llm` per request.
use std::hint::black_box;
fn main() {
    let e = ratchet::Engine::embedded().unwrap_or_else(|r| panic!("{r:?}"));
    let e = e.with_rule_set("ratchet-0.3.2").unwrap_or_else(|e| panic!("{e}"));
    let args: Vec<String> = std::env::args().collect();
    let t = e.tier(args.get(1).map(String::as_str).unwrap_or("NPU High")).unwrap_or_else(|e| panic!("{e}"));
    let m = e.model(args.get(2).map(String::as_str).unwrap_or("qwen25_7b_dense")).unwrap_or_else(|e| panic!("{e}"));
    let lanes: Option<usize> = std::env::var("LANES").ok().and_then(|v| v.parse().ok());
    let n: u64 = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000_000);
    let params: Vec<ratchet::ProjectParams> = [(500u64, 200u64), (4800, 400), (1000, 100), (128, 0)]
        .iter()
        .cycle()
        .take(lanes.unwrap_or(1))
        .map(|(p, d)| ratchet::ProjectParams { prompt_tokens: Some(*p), decode_tokens: Some(*d), ..Default::default() })
        .collect();
    let block: Vec<(&str, &ratchet::ProjectParams)> = params.iter().map(|p| ("rag_qa", p)).collect();
    let mut out = Vec::with_capacity(block.len());
    let start = std::time::Instant::now();
    let mut acc = 0.0;
    for _ in 0..n {
        if lanes.is_some() {
            out.clear();
            e.project_llm_block(black_box(m), black_box(t), black_box(&block), &mut out);
        } else if let Ok(ratchet::Projection::Projected(r)) =
            e.project_llm(black_box(m), black_box(t), "rag_qa", black_box(&params[0]))
        {
            acc += r.total_s;
        }
        for r in &out {
            if let Ok(ratchet::Projection::Projected(r)) = r {
                acc += r.total_s;
            }
        }
    }
    let dt = start.elapsed();
    let k = n * block.len() as u64;
    println!(
        "{:.1} ns/projection ({:.2} M/s) acc={acc}",
        dt.as_nanos() as f64 / k as f64,
        k as f64 / dt.as_secs_f64() / 1e6
    );
}
