"""Models from their Hugging Face configs (docs/models.md): ``import_model`` reads a
config.json through the registry's architecture table, and the imported model projects,
checks memory and sizes its KV cache by its real attention layout."""

import json
import pathlib

import pytest

import ratchet

MODELS = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "models"


def test_a_config_file_imports_with_its_layout():
    m = ratchet.import_model(MODELS / "openai--gpt-oss-20b.config.json")
    assert m.key == "gpt_oss_20b"
    assert m.quant_scheme == "MXFP4"
    # 12 of 24 layers attend over a 128-token window (the config's `layer_types`)
    assert (m.sliding_window, m.sliding_window_layers) == (128, 12)
    # OpenAI: 20.91 B parameters, 3.61 B active
    assert m.total_params_b == pytest.approx(20.914757184)
    assert m.active_params_b == pytest.approx(3.608307264)
    _, report = ratchet.import_model(MODELS / "openai--gpt-oss-20b.config.json", report=True)
    assert report["layers"] == [12, 12, 0]
    groups = {g["group"]: g["quant"] for g in report["groups"]}
    assert groups["routed_experts"] == "MXFP4" and groups["attention"] == "BF16"


def test_the_kv_cache_follows_the_layout():
    m = ratchet.import_model(MODELS / "openai--gpt-oss-20b.config.json")
    # each further token adds the 12 full-attention layers' K and V: 12 x 2 x 8 x 64 x 2
    assert ratchet.kv_cache_bytes_per_token(m, 2) == 24576
    # its MXFP4 experts need FP4 compute, which NPU High lacks; stored in Q4_K_M it runs
    assert isinstance(ratchet.project_llm(m, ratchet.NPU_HIGH), ratchet.DtypeMismatch)
    q = ratchet.import_model(MODELS / "openai--gpt-oss-20b.config.json", quant="Q4_K_M")
    assert ratchet.project_llm(q, ratchet.NPU_HIGH).decode_tok_s > 0


def test_a_parsed_config_and_a_chosen_quant():
    cfg = json.loads((MODELS / "meta-llama--Llama-3.1-8B.config.json").read_text())
    m = ratchet.import_model(cfg, quant="Q4_K_M", name="llama31_8b")
    assert m.key == "llama31_8b"
    # tensor by tensor as llama.cpp stores Q4_K_M (tests/model_import.rs works it out)
    assert m.gguf_size_gb == pytest.approx(4.912898048)
    assert ratchet.kv_cache_bytes_per_token(m, 2) == 131072


def test_an_unknown_architecture_is_refused_by_name():
    cfg = json.loads((MODELS / "meta-llama--Llama-3.1-8B.config.json").read_text())
    cfg["architectures"] = ["LlamaForCausalLMM"]
    with pytest.raises(ValueError, match="did you mean `LlamaForCausalLM`"):
        ratchet.import_model(cfg)


def test_the_kv_cache_type_is_an_option_everywhere():
    m = ratchet.import_model(MODELS / "Qwen--Qwen3-8B.config.json")
    # 36 layers x 2 x 8 KV heads x 128 = 73,728 elements a token: 2 bytes at f16, 34/32 at q8_0
    assert ratchet.kv_cache_bytes_per_token(m, kv_cache_dtype="q8_0") == 73728 * 34 / 32
    f16 = ratchet.memory_feasibility(m, ratchet.NPU_HIGH, 32768)
    q4 = ratchet.memory_feasibility(m, ratchet.NPU_HIGH, 32768, kv_cache_dtype="q4_0")
    assert q4.breakdown["kv_cache_gb"] == pytest.approx(f16.breakdown["kv_cache_gb"] * 18 / 32 / 2)
    slow = ratchet.project_llm(m, ratchet.NPU_HIGH, prompt_tokens=16000)
    fast = ratchet.project_llm(m, ratchet.NPU_HIGH, prompt_tokens=16000, kv_cache_dtype="q4_0")
    assert fast.decode_tok_s > slow.decode_tok_s
    many = ratchet.project_llm_many([dict(model=m, hw=ratchet.NPU_HIGH, prompt_tokens=16000, kv_cache_dtype="q4_0")])
    assert many[0].decode_tok_s == fast.decode_tok_s
    cols = ratchet.project_llm_columns(m, ratchet.NPU_HIGH, prompt_tokens=16000, kv_cache_dtype=["f16", "q4_0"])
    assert cols["decode_tok_s"] == [slow.decode_tok_s, fast.decode_tok_s]
    with pytest.raises(KeyError, match="did you mean `q8_0`"):
        ratchet.project_llm(m, ratchet.NPU_HIGH, kv_cache_dtype="q8")
