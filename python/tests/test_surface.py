"""A surface's code written for the reference, run against the package: imports from the
package root and `ratchet.catalog.reference`, `match` on results, exceptions, memory clones,
custom tiers, `dataclasses.replace` overrides, and `ratchet.load` over directories."""

import dataclasses
import json
import pathlib
import shutil

import pytest

import ratchet
import ratchet.engine
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
    # the reference's README says 19.6 GB; the default rule set sizes Qwen3's KV cache at its
    # head_dim of 128 (fix-kv-head-dim), so a little more is needed
    assert describe(project_llm(QWEN3_30B_A3B_MOE_Q4, NPU_LOW_LP4, "rag_qa")).startswith("Won't fit: 19.7 GB needed")
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
    # default answers it on the fitted path (the class fit's constants)
    r = project_llm("qwen25_7b_dense", gpu, "chat")
    assert isinstance(r, Projected) and r.source == "fitted"
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


def test_the_same_bad_option_gets_the_same_error_as_the_cli_batch_and_http():
    # the table tests/option_checks.rs runs through the CLI, a batch line and HTTP
    import json

    table = json.loads((ROOT / "tests/data/bad_options.json").read_text())
    assert len(table["cases"]) >= 10
    for case in table["cases"]:
        with pytest.raises(ValueError) as e:
            project_llm(table["model"], table["hw"], **case["options"])
        assert str(e.value) == case["error"], case
        # the columnar batch answers the same error in the row's column
        cols = ratchet.project_llm_columns(table["model"], table["hw"], **case["options"])
        assert cols["type"] == ["invalid_value"], (case, cols)


def test_bad_inputs_get_the_same_error_as_a_batch_line():
    # tests/data/bad_inputs.json: names, tokens, workloads, memory options, inline, variant
    # and custom tiers, wrong types; the batch's words (tests/option_checks.rs checks them
    # for the CLI, batch and HTTP), and never a number
    table = json.loads((ROOT / "tests/data/bad_inputs.json").read_text())
    for case in table["cases"]:
        req = dict(case["request"])
        model = req.pop("model", table["model"])
        hw = req.pop("hw", table["hw"])
        workload = req.pop("workload_id", "default")
        prompt = req.pop("prompt_tokens", None)
        decode = req.pop("decode_tokens", None)
        if not isinstance(hw, str):
            hw = json.dumps(hw)
        with pytest.raises((ValueError, KeyError)) as e:
            project_llm(model, hw, workload, prompt, decode, **req)
        msg = e.value.args[0] if e.value.args else ""
        want = case.get("python_error", case["error"])
        assert msg == want, case


def test_default_and_reference_rules():
    # default: the tier takes its silicon class's fitted cost model (llama.cpp CUDA); the
    # reference keeps its spec-sheet constants
    base = project_llm("qwen25_7b_dense", RTX_5090_REFERENCE).decode_tok_s
    ratchet.load(rules="ratchet-0.3.2")
    try:
        ref = project_llm("qwen25_7b_dense", ratchet.RTX_5090_REFERENCE).decode_tok_s
    finally:
        ratchet.load()
    assert (base, ref) == (249.16, 351.62)


def test_every_projected_number_carries_its_band():
    # a fitted tier: the band of its class fit's held-out errors, around the number
    r = project_llm("qwen25_7b_dense", RTX_5090_REFERENCE)
    assert r.band_basis == "fit_held_out_device"
    for value, band in [(r.decode_tok_s, r.decode_band), (r.prefill_tok_s, r.prefill_band), (r.ttft_s, r.ttft_band)]:
        lo, hi = band
        assert 0 < lo < hi
        assert lo <= value <= hi
    # engine defaults: the band of their own errors, which may lie off the number
    d = project_llm("qwen25_7b_dense", NPU_LOW_LP4)
    assert d.band_basis == "engine_defaults"
    assert d.prefill_band[0] > d.prefill_tok_s
    # the columnar path carries the same band's ends
    cols = ratchet.project_llm_columns("qwen25_7b_dense", [RTX_5090_REFERENCE, NPU_LOW_LP4])
    assert (cols["decode_tok_s_p10"][0], cols["decode_tok_s_p90"][0]) == pytest.approx(r.decode_band)
    assert cols["prefill_tok_s_p10"][1] == pytest.approx(d.prefill_band[0])
    # the reference rule set states no band
    ratchet.load(rules="ratchet-0.3.2")
    try:
        ref = project_llm("qwen25_7b_dense", ratchet.RTX_5090_REFERENCE)
    finally:
        ratchet.load()
    assert (ref.decode_band, ref.band_basis) == (None, None)


def test_a_capability_level_is_the_enum_member_and_unsupported_is_falsy():
    from ratchet import CapabilityLevel, NPU_MID, hw_supports_dtype, hw_supports_dtype_via_key

    level = hw_supports_dtype(NPU_MID, "fp8")
    assert level is CapabilityLevel.UNSUPPORTED and not level and level == "unsupported"
    native = hw_supports_dtype(RTX_5090_REFERENCE, "bf16")
    assert native is CapabilityLevel.TENSOR_NATIVE and native
    assert hw_supports_dtype_via_key(NPU_MID, "int8") is CapabilityLevel.TENSOR_NATIVE


def test_dataclass_defaults_are_the_references_and_the_registrys():
    import dataclasses
    import pathlib
    import re

    from ratchet import Hardware, LLMModel

    text = (pathlib.Path(__file__).resolve().parents[2] / "registry/tables/silicon_classes.ron").read_text()
    block = re.search(r"tier_defaults: \(([^)]*)\)", text)
    assert block, "tier_defaults moved"
    registry = {k: float(v) for k, v in re.findall(r"(\w+): ([0-9.]+)", block.group(1))}
    defaults = {f.name: f.default for f in dataclasses.fields(Hardware)}
    for name, value in registry.items():
        assert defaults[name] == value, name
    assert {f.name: f.default for f in dataclasses.fields(LLMModel)}["llm_invariant_decode"] is True


def test_lookup_model_answers_the_catalog_entry():
    from ratchet import REFERENCE_MODELS, LLMModel, lookup_model

    m = lookup_model("qwen25_7b_dense")
    assert isinstance(m, LLMModel) and m is REFERENCE_MODELS["qwen25_7b_dense"]
    assert lookup_model("nope") is None
    # a surface's own catalog
    mine = {"mine": m}
    assert lookup_model("mine", mine) is m and lookup_model("qwen25_7b_dense", mine) is None


def test_tier_lookup_name_and_measured_cells():
    from ratchet import NPU_MID, hw_with_memory

    assert NPU_MID.tier_lookup_name == NPU_MID.name
    clone = hw_with_memory(NPU_MID, "LPDDR5X", 9.6)
    assert clone.name != NPU_MID.name and clone.tier_lookup_name == NPU_MID.name
    import dataclasses

    cell = {"decode_tok_s": 250.0, "prefill_tok_s": 9000.0}
    measured = dataclasses.replace(RTX_5090_REFERENCE, measured_llm={"qwen25_7b_dense": {"chat": cell}})
    assert measured.get_measured_llm_cell("qwen25_7b_dense", "chat") == cell
    assert measured.get_measured_llm_cell("qwen25_7b_dense", "no_such_workload") is None
    assert NPU_MID.get_measured_llm_cell("no_such_model", "default") is None


def test_a_request_names_its_runtime():
    own = project_llm("qwen25_7b_dense", RTX_5090_REFERENCE)
    vulkan = project_llm("qwen25_7b_dense", RTX_5090_REFERENCE, runtime="llamacpp-vulkan")
    # gddr_class holds no Vulkan fit: its CUDA fit, applied and labelled so, with a wider band
    assert (own.band_basis, vulkan.band_basis) == ("fit_held_out_device", "fit_widened")
    assert vulkan.decode_band[0] < own.decode_band[0]
    assert "applied to runtime `llamacpp-vulkan`" in vulkan.extensions["calibration_source"]["reference"]
    # by name, the same answer
    by_name = project_llm("qwen25_7b_dense", "RTX 5090 (reference, measured)", runtime="llamacpp-vulkan")
    assert by_name.decode_tok_s == vulkan.decode_tok_s
    with pytest.raises((KeyError, ValueError), match="llamacpp-vulkan"):
        project_llm("qwen25_7b_dense", RTX_5090_REFERENCE, runtime="llamacpp-vulcan")
    many = ratchet.project_llm_many([{"model": "qwen25_7b_dense", "hw": RTX_5090_REFERENCE, "runtime": "llamacpp-vulkan"}])
    assert many[0].decode_tok_s == vulkan.decode_tok_s


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


def test_probes_write_what_rust_reads_and_record_failures(tmp_path):
    from ratchet.probes import (
        EncoderProbe,
        GlassToGlassProbe,
        OperationProbe,
        WorkloadRecord,
        WorkloadWriter,
        read_records,
    )

    r = WorkloadRecord()
    assert len(r.record_id) == 36 and r.phase == "idle" and r.latency_ns is None and r.extras == {}
    assert r.t_wall_ns > 1_700_000_000 * 10**9

    w = WorkloadWriter(tmp_path / "run", "perception")
    probe = OperationProbe(w, run_id="run-7", subsystem="perception", phase=lambda: "cruise")
    with probe.operation("infer", macs=1000, precision="int8", gpu_util_pct=50.0, note="hello") as op:
        op.output_bytes = 64
    with pytest.raises(RuntimeError):
        with probe.operation("broken"):
            raise RuntimeError("the work failed")
    with pytest.raises(ValueError, match="latency_ns"):  # a call-time extra that is not an int64
        with probe.operation("bad", latency_ns="soon"):
            pass
    enc = EncoderProbe(w, run_id="run-7")
    enc.on_input_frame(t_ns=1)
    enc.on_encoded_frame(1200, keyframe=True)
    g2g = GlassToGlassProbe(w, run_id="run-7")
    assert g2g.stamp(5, "capture", t_ns=1_000_000) is False
    assert g2g.stamp(5, "display", t_ns=34_000_000) is True
    with pytest.raises(KeyError, match="did you mean `display`"):
        g2g.stamp(6, "dispaly")
    w.close()
    assert w.rows_written == 4

    rows = read_records(w.path)
    assert [x.operation for x in rows] == ["infer", "broken", "h265_encode_frame", "glass_to_glass"]
    infer, broken, frame, glass = rows
    assert infer.phase == "cruise" and infer.macs == 1000 and infer.output_bytes == 64 and infer.gpu_util_pct == 50.0
    assert infer.extras == {} and infer.latency_ns is not None and infer.latency_ns >= 0
    assert broken.latency_ns is not None, "a failed operation still records its latency"
    assert frame.encode_keyframe is True and frame.encode_frame_size_bytes == 1200 and frame.encode_codec == "h265"
    assert glass.g2g_total_ms == pytest.approx(33.0)

    with pytest.raises(ValueError, match="t_sim_ns"):
        WorkloadWriter(tmp_path / "run2", "x").write(WorkloadRecord(t_sim_ns="late"))
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match="junk.parquet"):
        read_records(tmp_path / "junk.parquet")


def test_workload_schema_matches_the_written_file(tmp_path):
    from ratchet import WORKLOAD_SCHEMA, WorkloadRecord
    from ratchet.probes import WorkloadWriter

    assert len(WORKLOAD_SCHEMA) == 65 and WORKLOAD_SCHEMA.names[:3] == ["record_id", "run_id", "t_wall_ns"]
    assert WORKLOAD_SCHEMA.field("encode_keyframe").type == "bool"
    assert [f.name for f in dataclasses.fields(WorkloadRecord)] == WORKLOAD_SCHEMA.names + ["extras"]
    with pytest.raises(KeyError):
        WORKLOAD_SCHEMA.field("nope")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    with WorkloadWriter(tmp_path, "llm") as w:
        w.write(WorkloadRecord(operation="decode", llm_tokens_per_sec=37.5))
    table = pq.read_table(tmp_path / "llm.parquet")
    assert table.schema.equals(WORKLOAD_SCHEMA.to_arrow()), table.schema
    assert pa.schema(WORKLOAD_SCHEMA).equals(WORKLOAD_SCHEMA.to_arrow())
    assert table.column("llm_tokens_per_sec").to_pylist() == [37.5]


def test_sizing_and_whatif_surface():
    from ratchet.engine import chip_summary, evaluate_budget, llm_demand
    from ratchet.whatif import PackRunner, Slider, WhatifRunner, scale_path, set_path

    k = evaluate_budget("t", "chip", "x", "m", 95.0, 100.0, "u")
    assert (k.status, k.emoji, k.margin) == ("WARN", "⚠️", 5.0)
    assert ratchet.KpiResult("n", "chip", "x", "m", 1.0, 0.0, "u", "FAIL", -1.0, 0.0).emoji == "❌"
    d = llm_demand({}, {"llm": {"active": True, "params_b": 7, "tokens_per_sec": 20, "precision": "int8"}})
    assert (d.memory_bw_gbps, d.tops_required, d.memory_capacity_mb, d.latency_ms_p99) == (140.0, 0.28, 7000.0, 50.0)
    d.notes.append("mutable, like the reference's")
    assert chip_summary([k])["viable"] is True

    # a surface's own sliders: callables and the two data actions
    seen = []
    sliders = [
        Slider("tops", "NPU TOPS", "capability", "TOPS", 50.0, 10.0, 200.0, apply=set_path("profile", "npu.tops")),
        Slider("bw", "bandwidth scale", "capability", "x", 1.0, 0.5, 2.0, apply=scale_path("profile", "mem.bw")),
        Slider("log", "a callable", "operating", "-", 0.0, 0.0, 1.0, apply=lambda p, w, v: seen.append(v)),
    ]
    profile, workload = {"mem": {"bw": 100.0}}, {}
    ratchet.apply_sliders(sliders, profile, workload, {"bw": 9.0, "tops": 5.0, "log": 0.5, "other": 1.0})
    assert profile == {"mem": {"bw": 200.0}, "npu": {"tops": 10.0}} and seen == [0.5]

    def evaluate(p, w):
        return [evaluate_budget("npu", "chip", "npu", "TOPS", 60.0, p["npu"]["tops"], "TOPS")]

    r = WhatifRunner(sliders, evaluate, dict, lambda name: {"mem": {"bw": 100.0}})
    s = r.sweep("any", "tops", steps=3)
    assert [row.value for row in s.rows] == [10.0, 105.0, 200.0]
    assert [row.summary["viable"] for row in s.rows] == [False, True, True]
    with pytest.raises(KeyError, match="Unknown slider: nope"):
        r.sweep("any", "nope")

    # the same questions over a pack, evaluated in the engine
    pack = str(ROOT / "tests" / "data" / "packs" / "whatif-golden")
    pr = PackRunner(pack)
    point = pr.point("small")
    assert point.summary["viable"] is False and isinstance(point.kpis[0], ratchet.KpiResult)
    names = [x.name for x in pr.sliders]
    assert names == list(pr.default_values())
    prof, wl = pr.profile("small"), pr.workload_doc("default")
    ratchet.apply_sliders(pr.sliders, prof, wl, {"npu_tops": 75.0})
    assert prof["npu"]["tops_bf16"] == 75.0
    grid = pr.pareto("small", "npu_tops", "llm_tps", 4, 3)
    assert grid.xs == [10.0, 73.33333333333334, 136.66666666666669, 200.0] and len(grid.cells) == 3
    with pytest.raises(KeyError, match="Unknown slider: nope"):
        pr.sweep("small", "nope", 3)
    drone = PackRunner("drone-soc")
    sweep = drone.sweep(None, drone.sliders[0].name, 5)
    assert len(sweep.rows) == 5


def test_result_objects_are_ordinary_dataclass_instances():
    r = project_llm("qwen25_7b_dense", "NPU Mid", "chat", 500, 200)
    w = project_llm("qwen25_32b_dense", "NPU Low-LP4", "chat", 500, 200)
    assert isinstance(r, Projected) and isinstance(w, WontFit)
    for x in (r, w):
        d = dataclasses.asdict(x)
        assert dataclasses.replace(x) == x and type(x)(**d) == x
        assert x.extensions["provenance"]["registry_version"] == "0.3.2"
    assert r.extensions["badge"] and set(w.breakdown) == {"weights_gb", "kv_cache_gb", "overhead_gb"}
    assert dataclasses.replace(r, decode_tok_s=1.0).decode_tok_s == 1.0
    # each result owns its extension maps
    r.extensions["provenance"]["registry"] = "changed"
    assert project_llm("qwen25_7b_dense", "NPU Mid", "chat", 500, 200).extensions["provenance"]["registry"] != "changed"
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.decode_tok_s = 2.0


def test_sizing_errors_are_the_reference_exception_types():
    from ratchet.engine import cpu_kpis, llm_demand, npu_kpis

    d = ratchet.SubsystemDemand("a", "npu", tops_required=1.0)
    with pytest.raises(KeyError):
        npu_kpis({}, [d])  # no npu.tops_bf16
    with pytest.raises(KeyError):
        cpu_kpis({"cpu": {}}, [d])  # no cpu.cores
    with pytest.raises(KeyError, match="llm"):
        llm_demand({}, {})  # no llm block at all
    with pytest.raises(ZeroDivisionError):
        llm_demand({}, {"llm": {"active": True, "params_b": 7, "tokens_per_sec": 0, "precision": "int8"}})
    with pytest.raises(TypeError):
        ratchet.engine.ask("set_path", d={"a": 1}, path="a.b", value=2)


def test_anchor_defaults_and_inline_anchor_checks():
    a = ratchet.LLMAnchor(tokps=50.0, peak_bw_gbps=100.0)
    assert (a.bw_share_frac, a.bw_efficiency_frac) == (0.75, 0.70)  # the registry's field_defaults
    assert a.achieved_bw_gbps() == 52.5 and a.achieved_bw_gbps(0.5) == 35.0
    with pytest.raises(ValueError, match="bw_share_frac"):  # present but not a number
        ratchet.engine.ask("llm_anchor_methods", anchor={"tokps": 50.0, "bw_share_frac": "x"})
    c = ratchet.CNNAnchor(ms_per_inference=10.0, peak_bw_gbps=100.0)
    assert c.achieved_bw_gbps() == 52.5


def test_columns_take_any_iterable_and_keep_exception_classes():
    tiers = ("NPU Mid", "NPU High")
    got = ratchet.project_llm_columns("qwen25_7b_dense", iter(tiers), "chat", range(500, 502), 200)
    assert got["type"] == ["Projected", "Projected"]
    with pytest.raises(TypeError, match=r"`prompt_tokens\[1\]`"):
        ratchet.project_llm_columns("qwen25_7b_dense", "NPU Mid", prompt_tokens=[1, "x"])
    with pytest.raises(OverflowError):
        ratchet.project_llm_columns("qwen25_7b_dense", "NPU Mid", prompt_tokens=[-1])


def test_probe_extras_and_phase_failures(tmp_path):
    from ratchet.probes import OperationProbe, WorkloadWriter, read_records

    w = WorkloadWriter(tmp_path, "s")

    def broken_phase():
        raise RuntimeError("no phase")

    probe = OperationProbe(w, phase=broken_phase)
    with probe.operation("op", blob=object()):  # not a column: kept in memory, never checked or written
        pass
    with pytest.raises(ValueError, match="macs"):  # a column value is checked before the work
        with probe.operation("op", macs="many"):
            raise AssertionError("the work must not run")
    w.close()
    (r,) = read_records(w.path)
    assert r.phase == "idle" and r.operation == "op"


def test_pack_runner_steps_like_the_reference():
    from ratchet.whatif import PackRunner

    pr = PackRunner(str(ROOT / "tests" / "data" / "packs" / "whatif-golden"))
    assert len(pr.sweep("small", "npu_tops", -3).rows) == 2
    assert len(pr.pareto("small", "npu_tops", "llm_tps", 0, 1).xs) == 2


def test_a_custom_tier_names_how_much_of_its_memory_it_may_use():
    # a 64 GB Mac: Metal's working set is 3/4 of the RAM (tables/memory.ron, `macos-metal`)
    kw = dict(name="Mac 64", silicon_class="unknown", peak_tops_int8=34.0, peak_tops_bf16=17.0,
              mem_bandwidth_gbs=400.0, mem_capacity_gb=64.0, mem_bus_width_bits=512, mem_type="LPDDR5",
              mem_data_rate_gtps=6.4)
    mac = make_custom_tier(memory_sharing="macos-metal", **kw)
    assert mac.extensions["memory_sharing"] == "macos-metal"
    assert ratchet.memory_feasibility("qwen25_7b_dense", mac, 4096).available_gb == 48.0
    assert ratchet.memory_feasibility("qwen25_7b_dense", make_custom_tier(**kw), 4096).available_gb == 64.0
    # the field travels with the tier through dataclasses.replace
    assert ratchet.memory_feasibility("qwen25_7b_dense", dataclasses.replace(mac, mem_capacity_gb=32.0),
                                      4096).available_gb == pytest.approx(32.0 * 2 / 3)
    with pytest.raises(ValueError, match="did you mean `macos-metal`"):
        make_custom_tier(memory_sharing="macos-metall", **kw)
