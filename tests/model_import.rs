//! Any model, with its real architecture (issue 20): fourteen published Hugging Face
//! config.json files (tests/data/models/, sources in SOURCES.md) are imported through
//! `registry/tables/architectures.ron`, and their parameter counts, layer kinds, KV cache per
//! token and for a 32k context are checked against values worked out by hand below.

mod common;

use ratchet::engine::{Engine, EngineConfig};
use ratchet::model_import::{ImportOptions, Imported, import_file};

fn engine(rule_set: &str) -> Engine {
    let mut cfg = EngineConfig::default();
    cfg.rules(rule_set);
    let out = Engine::load(&cfg);
    out.engine.unwrap_or_else(|| panic!("{:?}", out.report))
}

fn import(e: &Engine, file: &str, quant: Option<&str>) -> Imported {
    let path = common::root().join("tests/data/models").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{file}: {err}"));
    let opts = ImportOptions { quant: quant.map(str::to_string), key: None };
    import_file(e.registry(), &path.display().to_string(), &text, &opts)
        .unwrap_or_else(|ds| panic!("{file}: {:?}", ds.iter().map(|d| d.one_line()).collect::<Vec<_>>()))
}

/// One model: layers by kind (full, sliding, state), parameters, decoded parameters per token,
/// KV bytes each further token adds at 16 bits, and the cache of one 32,768-token sequence.
struct Case {
    file: &'static str,
    layers: (u32, u32, u32),
    params: u64,
    active: u64,
    kv_per_token: f64,
    kv_32k: f64,
}

const CTX: f64 = 32768.0;

/// The worked values. Notation: L layers, h hidden, H heads, K KV heads, d head width, I
/// feed-forward width, V vocabulary, E experts (k per token, width i). A GQA block has
/// h·H·d (Q) + 2·h·K·d (K, V) + H·d·h (O) weights, a gated feed-forward block 3·h·I, a
/// layer's two norms 2·h; the model adds V·h for the embedding, V·h for an untied output and
/// h for the final norm. A token's KV at 16 bits is 2 (K, V) · K · d · 2 bytes per layer.
/// "active" leaves out the routed experts a token is not sent to, (1 − k/E) of them, and the
/// embedding table (a token reads one row of it) unless the output shares it.
fn cases() -> Vec<Case> {
    vec![
        // Llama-2-7B: L 32, h 4096, H = K 32, d 128, I 11008, V 32000.
        // layer: 4·4096² + 3·4096·11008 + 2·4096 = 67,108,864 + 135,266,304 + 8,192 = 202,383,360
        // × 32 = 6,476,267,520; + 2·32000·4096 + 4096 = 262,148,096 → 6,738,415,616 (the
        // published 6.74 B). Active: − 131,072,000 = 6,607,343,616. KV: 32·2·32·128·2 = 524,288.
        Case {
            file: "meta-llama--Llama-2-7b-hf.config.json",
            layers: (32, 0, 0),
            params: 6_738_415_616,
            active: 6_607_343_616,
            kv_per_token: 524_288.0,
            kv_32k: 524_288.0 * CTX,
        },
        // Llama-3.1-8B: L 32, h 4096, H 32, K 8, d 128, I 14336, V 128256.
        // layer: 2·4096·4096 + 2·4096·1024 + 3·4096·14336 + 8192 = 33,554,432 + 8,388,608 +
        // 176,160,768 + 8,192 = 218,112,000 × 32 = 6,979,584,000; + 2·128256·4096 + 4096 =
        // 1,050,677,248 → 8,030,261,248. KV: 32·2·8·128·2 = 131,072.
        Case {
            file: "meta-llama--Llama-3.1-8B.config.json",
            layers: (32, 0, 0),
            params: 8_030_261_248,
            active: 8_030_261_248 - 525_336_576,
            kv_per_token: 131_072.0,
            kv_32k: 131_072.0 * CTX,
        },
        // Llama-3.2-1B: L 16, h 2048, H 32, K 8, d 64, I 8192, V 128256, tied.
        // layer: 2·2048² + 2·2048·512 + 3·2048·8192 + 4096 = 8,388,608 + 2,097,152 +
        // 50,331,648 + 4,096 = 60,821,504 × 16 = 973,144,064; + 128256·2048 + 2048 =
        // 262,670,336 → 1,235,814,400; tied: active = all. KV: 16·2·8·64·2 = 32,768.
        Case {
            file: "meta-llama--Llama-3.2-1B-Instruct.config.json",
            layers: (16, 0, 0),
            params: 1_235_814_400,
            active: 1_235_814_400,
            kv_per_token: 32_768.0,
            kv_32k: 32_768.0 * CTX,
        },
        // Qwen2.5-7B: L 28, h 3584, H 28, K 4, d 128, I 18944, V 152064, Q/K/V biases.
        // layer: 2·3584² + 2·3584·512 + (3584 + 1024) biases + 3·3584·18944 + 7168 =
        // 25,690,112 + 3,670,016 + 4,608 + 203,685,888 + 7,168 = 233,057,792 × 28 =
        // 6,525,618,176; + 2·152064·3584 + 3584 = 1,089,998,336 → 7,615,616,512.
        // KV: 28·2·4·128·2 = 57,344 (`use_sliding_window` false: no window).
        Case {
            file: "Qwen--Qwen2.5-7B.config.json",
            layers: (28, 0, 0),
            params: 7_615_616_512,
            active: 7_615_616_512 - 544_997_376,
            kv_per_token: 57_344.0,
            kv_32k: 57_344.0 * CTX,
        },
        // Qwen3-8B: L 36, h 4096, H 32, K 8, d 128, I 12288, V 151936, Q/K norms (2·128).
        // layer: 2·4096·4096 + 2·4096·1024 + 256 + 3·4096·12288 + 8192 = 33,554,432 +
        // 8,388,608 + 256 + 150,994,944 + 8,192 = 192,946,432 × 36 = 6,946,071,552; +
        // 2·151936·4096 + 4096 = 1,244,663,808 → 8,190,735,360. KV: 36·2·8·128·2 = 147,456.
        Case {
            file: "Qwen--Qwen3-8B.config.json",
            layers: (36, 0, 0),
            params: 8_190_735_360,
            active: 8_190_735_360 - 622_329_856,
            kv_per_token: 147_456.0,
            kv_32k: 147_456.0 * CTX,
        },
        // Qwen3-30B-A3B: L 48, h 2048, H 32, K 4, d 128, E 128 (k 8) of i 768, V 151936.
        // attention: 2·2048·4096 + 2·2048·512 + 256 + 2048 (norm) = 18,876,672; experts:
        // 128·3·2048·768 = 603,979,776; router 2048·128 = 262,144; norm 2048. Layer
        // 623,120,640 × 48 = 29,909,790,720; + 2·151936·2048 + 2048 = 622,331,904 →
        // 30,532,122,624. Active: − 603,979,776·48·(120/128) − 311,164,928 =
        // 30,532,122,624 − 27,179,089,920 − 311,164,928 = 3,041,867,776.
        // KV: 48·2·4·128·2 = 98,304 (the reference's hidden/heads formula says 49,152).
        Case {
            file: "Qwen--Qwen3-30B-A3B.config.json",
            layers: (48, 0, 0),
            params: 30_532_122_624,
            active: 3_041_867_776,
            kv_per_token: 98_304.0,
            kv_32k: 98_304.0 * CTX,
        },
        // Mixtral-8x7B: L 32, h 4096, H 32, K 8, d 128, E 8 (k 2) of i 14336, V 32000.
        // layer: 41,943,040 (attention) + 8·3·4096·14336 = 1,409,286,144 + router 32,768 +
        // norms 8,192 = 1,451,270,144 × 32 = 46,440,644,608; + 2·32000·4096 + 4096 =
        // 262,148,096 → 46,702,792,704. Active: − 45,097,156,608·(6/8) − 131,072,000 =
        // 12,748,853,248. KV: 131,072 (`sliding_window` null: no window).
        Case {
            file: "mistralai--Mixtral-8x7B-v0.1.config.json",
            layers: (32, 0, 0),
            params: 46_702_792_704,
            active: 12_748_853_248,
            kv_per_token: 131_072.0,
            kv_32k: 131_072.0 * CTX,
        },
        // phi-4: L 40, h 5120, H 40, K 10, d 128, I 17920, V 100352.
        // layer: 2·5120² + 2·5120·1280 + 3·5120·17920 + 10240 = 52,428,800 + 13,107,200 +
        // 275,251,200 + 10,240 = 340,797,440 × 40 = 13,631,897,600; + 2·100352·5120 + 5120 =
        // 1,027,609,600 → 14,659,507,200. KV: 40·2·10·128·2 = 204,800.
        Case {
            file: "microsoft--phi-4.config.json",
            layers: (40, 0, 0),
            params: 14_659_507_200,
            active: 14_659_507_200 - 513_802_240,
            kv_per_token: 204_800.0,
            kv_32k: 204_800.0 * CTX,
        },
        // gemma-3-27b-it (language model; Gemma3TextConfig defaults for what the config
        // omits): L 62, h 5376, H 32, K 16, d 128, I 21504, V 262208, tied, 4 norms a layer,
        // Q/K norms; one layer in 6 full attention (`sliding_window_pattern` 6): 10 full, 52
        // with a 1,024-token window. layer: 5376·4096·2 + 5376·2048·2 + 256 + 3·5376·21504 +
        // 4·5376 = 44,040,192 + 22,020,096 + 256 + 346,816,512 + 21,504 = 412,898,560 × 62 =
        // 25,599,710,720; + 262208·5376 + 5376 = 1,409,635,584 → 27,009,346,304.
        // KV a layer a token: 2·16·128·2 = 8,192; per further token 10·8,192 = 81,920; at
        // 32k: 81,920·32768 + 52·8,192·1,024 = 2,684,354,560 + 436,207,616.
        Case {
            file: "google--gemma-3-27b-it.config.json",
            layers: (10, 52, 0),
            params: 27_009_346_304,
            active: 27_009_346_304,
            kv_per_token: 81_920.0,
            kv_32k: 2_684_354_560.0 + 436_207_616.0,
        },
        // gemma-3-4b-it: L 34, h 2560, H 8, K 4, d 256 (defaults), I 10240, V 262208, tied;
        // 5 full, 29 sliding (1,024). layer: 2560·2048·2 + 2560·1024·2 + 512 + 3·2560·10240 +
        // 4·2560 = 10,485,760 + 5,242,880 + 512 + 78,643,200 + 10,240 = 94,382,592 × 34 =
        // 3,209,008,128; + 262208·2560 + 2560 = 671,255,040 → 3,880,263,168.
        // KV a layer a token 2·4·256·2 = 4,096; per further token 5·4,096 = 20,480; at 32k
        // 20,480·32768 + 29·4,096·1,024 = 671,088,640 + 121,634,816.
        Case {
            file: "google--gemma-3-4b-it.config.json",
            layers: (5, 29, 0),
            params: 3_880_263_168,
            active: 3_880_263_168,
            kv_per_token: 20_480.0,
            kv_32k: 671_088_640.0 + 121_634_816.0,
        },
        // gpt-oss-20b: L 24, h 2880, H 64, K 8, d 64, E 32 (k 4) of i 2880 with biases,
        // V 201088; attention biases and one sink per head; `layer_types`: 12 full, 12 with a
        // 128-token window. attention: 2880·4096·2 + 2880·512·2 + (4096 + 1024) + 2880 + 64 +
        // 2880 (norm) = 23,592,960 + 2,949,120 + 5,120 + 2,880 + 64 + 2,880 = 26,553,024;
        // experts: 32·(3·2880·2880 + 2·2880 + 2880) = 32·24,891,840 = 796,538,880; router
        // 2880·32 + 32 = 92,192; norm 2880. Layer: 26,553,024 + 796,538,880 +
        // 92,192 + 2,880 = 823,186,976 × 24 = 19,756,487,424; + 2·201088·2880 + 2880 =
        // 1,158,269,760 → 20,914,757,184 (OpenAI: 20.91 B). Active: − 19,116,933,120·(28/32)
        // − 579,133,440 = 3,608,307,264 (OpenAI: 3.61 B).
        // KV a layer a token 2·8·64·2 = 2,048; per further token 12·2,048 = 24,576; at 32k
        // 24,576·32768 + 12·2,048·128 = 805,306,368 + 3,145,728.
        Case {
            file: "openai--gpt-oss-20b.config.json",
            layers: (12, 12, 0),
            params: 20_914_757_184,
            active: 3_608_307_264,
            kv_per_token: 24_576.0,
            kv_32k: 805_306_368.0 + 3_145_728.0,
        },
        // DeepSeek-V3 (main model; the MTP layer is not counted): L 61, h 7168, H 128, MLA
        // with q rank 1536, KV rank 512, RoPE 64, nope 128, v 128; 3 dense layers of 18432,
        // 58 MoE layers of 256 routed (k 8) + 1 shared expert of 2048; V 129280.
        // attention: 7168·1536 + 1536 + 1536·128·192 + 7168·576 + 512 + 512·128·256 +
        // 128·128·7168 + 7168 (norm) = 187,114,496; dense FFN 3·7168·18432 + 7168 =
        // 396,368,896; MoE: routed 256·44,040,192 = 11,274,289,152, shared 44,040,192,
        // router 1,835,008 + norm 7168. Total 61·187,114,496 + 3·396,368,896 +
        // 58·11,320,171,520 + 2·129280·7168 + 7168 = 671,026,404,352 (DeepSeek: 671 B).
        // Active: − 58·11,274,289,152·(248/256) − 926,679,040 = 36,625,603,584 (37 B).
        // KV: the latent and the RoPE key, 61·(512 + 64)·2 = 70,272 (not 61·2·128·128·2).
        Case {
            file: "deepseek-ai--DeepSeek-V3.config.json",
            layers: (61, 0, 0),
            params: 671_026_404_352,
            active: 36_625_603_584,
            kv_per_token: 70_272.0,
            kv_32k: 70_272.0 * CTX,
        },
        // DeepSeek-V2-Lite(-Chat): L 27, h 2048, H 16, MLA without a query rank (q_lora_rank
        // null: Q is h·H·(128 + 64)), KV rank 512, RoPE 64, nope 128, v 128; 1 dense layer of
        // 10944, 26 MoE layers of 64 routed (k 6) + 2 shared experts of 1408; V 102400.
        // attention: 2048·16·192 + 2048·576 + 512 + 512·16·256 + 16·128·2048 + 2048 (norm) =
        // 6,291,456 + 1,179,648 + 512 + 2,097,152 + 4,194,304 + 2,048 = 13,765,120 × 27 =
        // 371,658,240; dense FFN 3·2048·10944 + 2048 = 67,241,984; routed 26·64·3·2048·1408 =
        // 14,394,851,328; shared 26·2·8,650,752 = 449,839,104; router and norm 26·(2048·64 +
        // 2048) = 3,461,120; embedding + output 2·102400·2048 = 419,430,400; final norm 2048.
        // Total 15,706,484,224 (DeepSeek: 15.7 B). Active: − 14,394,851,328·(58/64) −
        // 209,715,200 = 2,451,435,008 (DeepSeek: 2.4 B). KV: 27·(512 + 64)·2 = 31,104.
        Case {
            file: "deepseek-ai--DeepSeek-V2-Lite-Chat.config.json",
            layers: (27, 0, 0),
            params: 15_706_484_224,
            active: 2_451_435_008,
            kv_per_token: 31_104.0,
            kv_32k: 31_104.0 * CTX,
        },
        // Qwen3-Next-80B-A3B: L 48, one in 4 gated full attention (12; H 16, K 2, d 256),
        // 36 Gated DeltaNet (16 key heads, 32 value heads, widths 128, conv 4); E 512 (k 10)
        // of i 512 and one gated shared expert of 512; V 151936.
        // KV per further token: 12·2·2·256·2 = 24,576; the state layers keep
        // (4−1)·(2·2048 + 4096) + 32·128·128 = 548,864 f32 elements each, 36·548,864·4 =
        // 79,036,416 bytes whatever the context. Parameters as the block formulas give them
        // (79.67 B; Qwen: 80 B).
        Case {
            file: "Qwen--Qwen3-Next-80B-A3B-Thinking.config.json",
            layers: (12, 0, 36),
            params: 79_674_391_296,
            active: 3_563_764_480,
            kv_per_token: 24_576.0,
            kv_32k: 24_576.0 * CTX + 79_036_416.0,
        },
    ]
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-9 * want.abs().max(1.0)
}

#[test]
fn fourteen_real_configs_import_to_their_worked_sizes() {
    let e = engine("default");
    let tier = e.registry().tier("NPU High").unwrap_or_else(|| panic!("no NPU High"));
    let cases = cases();
    assert!(cases.len() >= 12);
    for c in &cases {
        let m = import(&e, c.file, None);
        assert_eq!(m.layers, c.layers, "{}: layers by kind", c.file);
        let params: f64 = m.groups.iter().map(|g| g.params).sum();
        assert_eq!(params, c.params as f64, "{}: parameters", c.file);
        assert!(close(m.model.total_params_b * 1e9, c.params as f64), "{}: total_params_b", c.file);
        assert!(
            close(m.model.active_params_b * 1e9, c.active as f64),
            "{}: active {}",
            c.file,
            m.model.active_params_b
        );
        let kv = e.kv_cache_bytes_per_token(&m.model, Some(2.0)).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(kv, c.kv_per_token, "{}: KV bytes per further token", c.file);
        let f = e.memory_feasibility(&m.model, tier, CTX as u64).unwrap_or_else(|err| panic!("{err}"));
        assert!(close(f.breakdown.kv_cache_gb * 1e9, c.kv_32k), "{}: KV at 32k {}", c.file, f.breakdown.kv_cache_gb);
    }
}

#[test]
fn storage_follows_the_checkpoint_or_the_chosen_quant() {
    let e = engine("default");
    // gpt-oss keeps attention, router, embedding and output in BF16 (2 bytes) and its experts
    // in MXFP4 (4.25 bits = 0.53125 bytes): 19,116,933,120 · 0.53125 + 1,797,824,064 · 2 =
    // 10,155,870,720 + 3,595,648,128 = 13,751,518,848 bytes (the published checkpoint: 13.8 GB)
    let m = import(&e, "openai--gpt-oss-20b.config.json", None);
    assert_eq!(m.model.quant_scheme, "MXFP4");
    assert!(close(m.model.gguf_size_gb * 1e9, 13_751_518_848.0), "{}", m.model.gguf_size_gb);
    // a chosen mix stores each tensor as llama.cpp's recipe does: Llama-3.1-8B in Q4_K_M is
    // the embedding, Q, K, O, gate and up in Q4_K (144 bytes per 256), the output in Q6_K
    // (210 per 256), V and down in Q6_K on 16 of 32 layers, 65 norms of 4096 in F32:
    // 295,501,824 + 679,477,248 + 2,113,929,216 (Q4_K) + 92,798,976 (V) + 1,299,185,664
    // (down) + 430,940,160 (output) + 1,064,960 (norms) = 4,912,898,048 bytes
    let q = import(&e, "meta-llama--Llama-3.1-8B.config.json", Some("Q4_K_M"));
    assert!(close(q.model.gguf_size_gb * 1e9, 4_912_898_048.0), "{}", q.model.gguf_size_gb);
    assert_eq!(q.model.compute_dtype, "fp16");
    // a scheme without a recipe stores every tensor at its bytes per parameter
    let f = import(&e, "meta-llama--Llama-3.1-8B.config.json", Some("FP16"));
    assert!(close(f.model.gguf_size_gb, 8.030_261_248 * 2.0), "{}", f.model.gguf_size_gb);
    // DeepSeek-V3's checkpoint is FP8 (`quant_method` fp8): one byte a parameter
    let d = import(&e, "deepseek-ai--DeepSeek-V3.config.json", None);
    assert_eq!(d.model.quant_scheme, "FP8");
    assert!(close(d.model.gguf_size_gb, 671.026_404_352));
}

#[test]
fn a_config_stored_in_a_llama_cpp_mix_lands_on_the_published_file_size() {
    // The reference's own table (quant_schemes.ron, spec §2.7) gives the GGUF sizes of
    // Qwen3-30B-A3B: 18.6 GB in Q4_K_M, 21.7 in Q5_K_M, 32.5 in Q8_0. Sized tensor by tensor
    // by llama.cpp's recipe (Q4_K base, Q6_K output, attn_v and ffn_down(_exps) in Q6_K on 24
    // of 48 "more bits" layers, F32 norms and router), the config lands within 2 % of each.
    let e = engine("default");
    for (q, published) in [("Q4_K_M", 18.6), ("Q5_K_M", 21.7), ("Q8_0", 32.5)] {
        let m = import(&e, "Qwen--Qwen3-30B-A3B.config.json", Some(q));
        let off = m.model.gguf_size_gb / published - 1.0;
        assert!(off.abs() < 0.02, "{q}: {} GB vs {published} GB", m.model.gguf_size_gb);
    }
    // the reference's flat 0.57 bytes a parameter would say 17.4 GB (−6 %)
    let m = import(&e, "Qwen--Qwen3-30B-A3B.config.json", Some("Q4_K_M"));
    let experts = m.groups.iter().find(|g| g.group == "routed_experts").unwrap_or_else(|| panic!("no experts"));
    assert_eq!(experts.quant, "Q4_K+Q6_K");
    // 24 of 48 layers store ffn_down_exps in Q6_K (210/256 bytes), the rest and gate/up in
    // Q4_K (144/256): 201,326,592 weights a tensor a layer
    let t = 201_326_592.0;
    let want = t * (24.0 * 210.0 / 256.0 + 24.0 * 144.0 / 256.0 + 96.0 * 144.0 / 256.0);
    assert!((experts.params * experts.bytes_per_param - want).abs() < 1.0);
    assert_eq!(ratchet::model_import::params::more_bits_layers(48), 24);
    assert_eq!(ratchet::model_import::params::more_bits_layers(32), 16);
}

#[test]
fn the_reference_rules_keep_their_kv_formula() {
    // the layout lives in the default rules only: under ratchet-0.3.2 the imported
    // Qwen3-30B-A3B and gpt-oss are sized by layers x 2 x hidden x (K / H) x 2, as the
    // reference does (2048/32 = 64 wide heads: 48 x 2 x 2048 x 4/32 x 2 = 49,152)
    let e = engine("ratchet-0.3.2");
    let m = import(&e, "Qwen--Qwen3-30B-A3B.config.json", None);
    assert_eq!(e.kv_cache_bytes_per_token(&m.model, Some(2.0)).ok(), Some(49_152.0));
    let g = import(&e, "openai--gpt-oss-20b.config.json", None);
    // 24 x 2 x 2880 x 8/64 x 2 = 34,560
    assert_eq!(e.kv_cache_bytes_per_token(&g.model, Some(2.0)).ok(), Some(34_560.0));
}

fn import_text(e: &Engine, text: &str) -> Vec<String> {
    match import_file(e.registry(), "config.json", text, &ImportOptions::default()) {
        Ok(m) => panic!("imported {:?}", m.model.key),
        Err(ds) => ds.iter().map(|d| d.one_line()).collect(),
    }
}

#[test]
fn what_cannot_be_read_is_refused_where_it_is() {
    let e = engine("default");
    let base = std::fs::read_to_string(common::root().join("tests/data/models/meta-llama--Llama-3.1-8B.config.json"))
        .unwrap_or_else(|err| panic!("{err}"));
    let cases: Vec<(String, &str)> = vec![
        (base.replace("LlamaForCausalLM", "LlamaForCausalLMM"), "did you mean `LlamaForCausalLM`?"),
        (base.replace("\"num_hidden_layers\"", "\"n_layers_x\""), "`num_hidden_layers`, `n_layer`, `num_layers`"),
        (base.replace("\"hidden_size\": 4096", "\"hidden_size\": \"4096\""), "`hidden_size` is `\"4096\"`"),
        (base.replace("\"torch_dtype\": \"bfloat16\"", "\"torch_dtype\": \"float8\""), "give `--quant`"),
        (base.replace("4096,", "Infinity,"), "error[syntax]: config.json:"),
        ("{\"model_type\": \"llama\"}".to_string(), "no `architectures` list"),
        (
            base.replace("\"num_hidden_layers\": 32", "\"num_hidden_layers\": 9007199254740991"),
            "the importer reads up to 1048576",
        ),
    ];
    for (text, want) in cases {
        let got = import_text(&e, &text);
        assert!(got.iter().any(|l| l.contains(want)), "want {want:?} in {got:?}");
    }
    // a bad value is located at its line and column
    let typed = import_text(&e, &base.replace("\"hidden_size\": 4096", "\"hidden_size\": -1"));
    assert!(typed.iter().any(|l| l.contains("config.json:") && l.contains("`hidden_size` is `-1`")), "{typed:?}");
    // a layer kind the table does not know, with the nearest
    let gpt = std::fs::read_to_string(common::root().join("tests/data/models/openai--gpt-oss-20b.config.json"))
        .unwrap_or_else(|err| panic!("{err}"));
    let got = import_text(&e, &gpt.replacen("\"sliding_attention\"", "\"sliding_atention\"", 1));
    assert!(got.iter().any(|l| l.contains("did you mean `sliding_attention`?")), "{got:?}");
    let short = gpt.replacen("\"sliding_attention\",", "", 1);
    assert!(import_text(&e, &short).iter().any(|l| l.contains("lists 23 layers; the model has 24")));
}

#[test]
fn the_cli_imports_and_every_model_flag_takes_a_config() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = common::root().join("tests/data/models/google--gemma-3-27b-it.config.json");
    let cfg = cfg.to_str().unwrap_or_default();
    let out = dir.path().join("gemma.ron");
    let (code, stdout, stderr) = common::run(&[
        "model",
        "import",
        cfg,
        "--quant",
        "Q4_K_M",
        "--name",
        "gemma3_27b",
        "--out",
        out.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("sliding_window: 1024") && stdout.contains("sliding_window_layers: 52"), "{stdout}");
    assert!(stderr.contains("10 full attention, 52 sliding window"), "{stderr}");
    // the written catalog file joins a registry and the model is a catalog key there
    let (_reg_dir, reg) = common::temp_registry();
    let written = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(reg.join("catalog/gemma.ron"), written).unwrap_or_else(|e| panic!("{e}"));
    let r = reg.to_str().unwrap_or_default();
    let (code, _, stderr) = common::run(&["validate", "--registry", r]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) =
        common::run(&["project", "--registry", r, "--model", "gemma3_27b", "--tier", "NPU High"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("gemma3_27b"), "{stdout}");
    // `--model` takes the config itself, with `--quant`
    let (code, stdout, stderr) = common::run(&["ladder", "--model", cfg, "--quant", "Q4_K_M", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("gemma_3_27b_it"), "{stdout}");
    let gpt = common::root().join("tests/data/models/openai--gpt-oss-20b.config.json");
    let (code, stdout, stderr) = common::run(&[
        "plan",
        "--model",
        gpt.to_str().unwrap_or_default(),
        "--tier",
        "NPU Mid",
        "--max-context",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    // 24 GB less 13.75 GB of weights and 1 GB of overhead, at 24,576 bytes a token past the
    // 12 windows' 3,145,728 bytes: about 376 k tokens, where the all-layers formula gives half
    let max = v["max_context_tokens"].as_u64().unwrap_or_default();
    assert!((370_000..380_000).contains(&max), "{v}");
    // a catalog model re-stored with --quant, and a scheme it cannot take
    let (code, stdout, _) = common::run(&[
        "project",
        "--model",
        "qwen25_7b_dense",
        "--quant",
        "Q8_0",
        "--tier",
        "NPU Mid",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    assert!(stdout.contains("qwen25_7b_dense@Q8_0"), "{stdout}");
    let (code, _, stderr) =
        common::run(&["project", "--model", "qwen25_7b_dense", "--quant", "Q9", "--tier", "NPU Mid"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("`--quant` `Q9`"), "{stderr}");
}

#[test]
fn the_architecture_table_is_data() {
    // Gemma 3's one-in-six pattern is the table's: made one in two in a copy of the registry,
    // the built binary reads 31 full and 31 sliding layers, with no rebuild
    let (_dir, reg) = common::temp_registry();
    let path = reg.join("tables/architectures.ron");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let edited = text.replace("key: \"sliding_window_pattern\", n: 6", "n: 2");
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap_or_else(|e| panic!("{e}"));
    let cfg = common::root().join("tests/data/models/google--gemma-3-27b-it.config.json");
    let (code, _, stderr) = common::run(&[
        "model",
        "import",
        cfg.to_str().unwrap_or_default(),
        "--registry",
        reg.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("31 full attention, 31 sliding window"), "{stderr}");
    // a recipe naming a ggml type the table lacks is located in the quant table
    let qpath = reg.join("tables/quant_schemes.ron");
    let qtext = std::fs::read_to_string(&qpath).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&qpath, qtext.replacen("recipe: (base: \"Q4_K\"", "recipe: (base: \"Q4_KK\"", 1))
        .unwrap_or_else(|e| panic!("{e}"));
    let (code, stdout, stderr) = common::run(&["validate", "--registry", reg.to_str().unwrap_or_default()]);
    assert_ne!(code, 0);
    let all = stdout + &stderr;
    assert!(all.contains("quant_schemes.ron:") && all.contains("did you mean `Q4_K`?"), "{all}");
    std::fs::write(&qpath, qtext).unwrap_or_else(|e| panic!("{e}"));
    // and a scheme the quant table lacks is a located error in the table
    std::fs::write(&path, text.replace("(scheme: \"FP8\")", "(scheme: \"FP9\")")).unwrap_or_else(|e| panic!("{e}"));
    let (code, stdout, stderr) = common::run(&["validate", "--registry", reg.to_str().unwrap_or_default()]);
    assert_ne!(code, 0);
    let all = stdout + &stderr;
    assert!(all.contains("architectures.ron:") && all.contains("unknown quant scheme `FP9`"), "{all}");
}
