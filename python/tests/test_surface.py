"""A surface's code written for the reference, run against the package: imports from the
package root and `ratchet.catalog.reference`, `match` on results, exceptions, memory clones,
custom tiers, `dataclasses.replace` overrides, and `ratchet.load` over directories."""

import dataclasses
import pathlib
import shutil

import pytest

import ratchet
from ratchet import (
    NPU_HIGH,
    NPU_LOW_LP4,
    NPU_MID,
    RTX_5090_REFERENCE,
    TIERS,
    DtypeMismatch,
    Hardware,
    Projected,
    WontFit,
    deployment_path_for_tier,
    hw_with_memory,
    make_custom_tier,
    project_llm,
)
from ratchet.catalog.reference import QWEN3_30B_A3B_MOE_Q4

ROOT = pathlib.Path(__file__).resolve().parents[2]


def describe(result):
    match result:
        case Projected(decode_tok_s=t, source=s):
            return f"{t} tok/s ({s})"
        case WontFit(required_gb=r, available_gb=a):
            return f"Won't fit: {r:.1f} GB needed, {a:.1f} available"
        case DtypeMismatch(retargeting_hint=h):
            return h


def test_the_readme_example_of_the_reference():
    r = project_llm(QWEN3_30B_A3B_MOE_Q4, NPU_MID, "rag_qa", prompt_tokens=4800, decode_tokens=400)
    assert describe(r) == "37.85 tok/s (measured_anchor)"
    assert describe(project_llm(QWEN3_30B_A3B_MOE_Q4, NPU_LOW_LP4, "rag_qa")).startswith("Won't fit: 19.6 GB needed")
    assert deployment_path_for_tier(RTX_5090_REFERENCE, "nvfp4", "fresh_compile") == "native_fast"
    assert deployment_path_for_tier(RTX_5090_REFERENCE, "nvfp4", "fresh_compile", "immature") == "fp4_runtime_immature"


def test_tiers_constants_and_classes():
    assert list(TIERS)[:2] == ["NPU Low-LP4", "NPU Low-LP5-32bit"]
    assert len(TIERS) == 9
    assert isinstance(NPU_HIGH, Hardware) and NPU_HIGH.name == "NPU High"
    assert NPU_MID.effective_bandwidth_gbs == 94.08
    assert NPU_MID.cpu.cores == 8 and NPU_MID.calibration_source.method == "measured"
    assert len(ratchet.REFERENCE_MODELS) == 3


def test_memory_upgrade_custom_tier_and_override():
    up = hw_with_memory(NPU_MID, "LPDDR6", 14.0)
    assert up.bw_projected and up.stock_name == "NPU Mid" and up.mem_bandwidth_gbs > NPU_MID.mem_bandwidth_gbs
    gpu = make_custom_tier(name="My GPU", silicon_class="gddr_class", peak_tops_int8=400.0, peak_tops_bf16=200.0,
                           mem_bandwidth_gbs=1000.0, mem_capacity_gb=24.0, mem_bus_width_bits=384,
                           mem_type="GDDR7", mem_data_rate_gtps=20.0)
    assert gpu.tier_family == "GDDR-custom"
    # the calibrated silicon class travels with the tier (an extension field)
    assert gpu.extensions["llm_calibration"]["decode_bw_efficiency"] > 0
    r = project_llm("qwen25_7b_dense", gpu, "chat")
    assert isinstance(r, Projected) and r.source == "cross_class"
    faster = dataclasses.replace(gpu, mem_bandwidth_gbs=2000.0)
    assert project_llm("qwen25_7b_dense", faster, "chat").decode_tok_s > r.decode_tok_s


def test_errors_are_the_reference_exception_types():
    with pytest.raises(ValueError, match="unknown silicon_class='bogus'"):
        make_custom_tier(name="x", silicon_class="bogus", peak_tops_int8=2.0, mem_bandwidth_gbs=10.0,
                         mem_capacity_gb=8.0, mem_bus_width_bits=32, mem_type="LPDDR5", mem_data_rate_gtps=6.4)
    with pytest.raises(KeyError, match="did you mean `NPU High`"):
        ratchet.tier("NPU Hihg")
    with pytest.raises(KeyError):
        project_llm("qwen3_30b_moe", NPU_MID)
    out = ratchet.project_llm_many([{"model": "nope", "hw": NPU_MID}, {"model": "qwen25_7b_dense", "hw": NPU_MID}])
    assert isinstance(out[0], KeyError) and isinstance(out[1], Projected)


def test_default_and_reference_rules():
    # default: the KV cache read moves first-principles decode; the reference does not
    base = project_llm("qwen25_7b_dense", RTX_5090_REFERENCE).decode_tok_s
    ratchet.load(rules="ratchet-0.3.2")
    try:
        ref = project_llm("qwen25_7b_dense", ratchet.RTX_5090_REFERENCE).decode_tok_s
    finally:
        ratchet.load()
    assert (base, ref) == (348.85, 351.62)


def test_load_a_registry_directory_and_a_pack(tmp_path):
    reg = tmp_path / "registry"
    shutil.copytree(ROOT / "registry", reg)
    tier = reg / "tiers" / "07-npu-mid.ron"
    tier.write_text(tier.read_text().replace("mem_bandwidth_gbs: 134.4", "mem_bandwidth_gbs: 268.8"))
    try:
        ratchet.load(registry=reg)
        assert ratchet.NPU_MID.mem_bandwidth_gbs == 268.8
        assert ratchet.TIERS["NPU Mid"].mem_bandwidth_gbs == 268.8
        ratchet.load(packs=["reference-silicon"])
        assert "NVIDIA H200 (reference, calibrated)" in ratchet.TIERS
        r = project_llm("h200_llama_8b_bf16", "NVIDIA H200 (reference, calibrated)", prompt_tokens=32768, decode_tokens=1)
        assert abs(r.decode_tok_s - 125.13) / 125.13 < 0.10
        with pytest.raises(ValueError, match="invalid"):
            bad = tmp_path / "bad"
            shutil.copytree(reg, bad)
            (bad / "tiers" / "07-npu-mid.ron").write_text("Tier(")
            ratchet.load(registry=bad)
    finally:
        ratchet.load()
    assert ratchet.NPU_MID.mem_bandwidth_gbs == 134.4
