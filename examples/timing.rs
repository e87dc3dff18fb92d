//! Quick timing of one projection in a loop (profiling aid).
use std::hint::black_box;
fn main() {
    let e = ratchet::Engine::embedded().unwrap_or_else(|r| panic!("{r:?}"));
    let e = e.with_rule_set("ratchet-0.3.2").unwrap_or_else(|e| panic!("{e}"));
    let args: Vec<String> = std::env::args().collect();
    let t = e.tier(args.get(1).map(String::as_str).unwrap_or("NPU High")).unwrap_or_else(|e| panic!("{e}"));
    let m = e.model(args.get(2).map(String::as_str).unwrap_or("qwen25_7b_dense")).unwrap_or_else(|e| panic!("{e}"));
    let p = ratchet::ProjectParams { prompt_tokens: Some(500), decode_tokens: Some(200), ..Default::default() };
    let n: u64 = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000_000);
    let start = std::time::Instant::now();
    let mut acc = 0.0;
    for _ in 0..n {
        if let Ok(ratchet::Projection::Projected(r)) =
            e.project_llm(black_box(m), black_box(t), "rag_qa", black_box(&p))
        {
            acc += r.total_s;
        }
    }
    let dt = start.elapsed();
    println!(
        "{:.1} ns/projection ({:.2} M/s) acc={acc}",
        dt.as_nanos() as f64 / n as f64,
        n as f64 / dt.as_secs_f64() / 1e6
    );
}
