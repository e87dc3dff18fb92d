"""The reference package's module paths: every module a surface imports from exists, its
names are this package's own objects, and a name ``ratchet.load`` rebinds is read fresh."""

import importlib

import pytest

import ratchet

# module path -> names it must serve (the reference's layout)
PATHS = {
    "ratchet.anchors.loader": ["BADGE_FOR_SOURCE", "LLMAnchor", "CNNAnchor", "load_llm_anchor", "load_cnn_anchor"],
    "ratchet.anchors.overlay": ["overlay_llm_anchor"],
    "ratchet.anchors.spec_routing": ["hw_to_anchor_tier_precision"],
    "ratchet.calibration": ["CalibrationSource", "SILICON_CLASS_DEFAULTS"],
    "ratchet.calibration.silicon_class": ["SILICON_CLASS_DEFAULTS"],
    "ratchet.calibration.source": ["CalibrationSource"],
    "ratchet.catalog.alias": ["resolve_measurement_key", "LLMModel"],
    "ratchet.catalog.constants": ["BYTES_PER_PARAM", "GGUF_SIZE_GB", "ACTIVE_PARAMS"],
    "ratchet.catalog.model": ["LLMModel", "lookup_model", "resolve_measurement_key"],
    "ratchet.engine.demand": ["SubsystemDemand", "eff_tops", "llm_demand"],
    "ratchet.engine.kpi": ["KpiResult", "evaluate_budget", "npu_kpis", "cpu_kpis", "chip_summary"],
    "ratchet.engine.slider": ["Slider", "apply_sliders", "default_values", "slider_categories"],
    "ratchet.precision.capability": ["CapabilityLevel", "NPU_FULL_DTYPE_CAPABILITY", "SM120_BLACKWELL_CAPABILITY"],
    "ratchet.precision.deployment_path": ["deployment_path_for_tier"],
    "ratchet.precision.dtype_map": ["DTYPE_ATTR_MAP", "hw_supports_dtype", "effective_compute_dtype"],
    "ratchet.projection.cpu": ["project_frame_latency", "project_solver_convergence"],
    "ratchet.projection.feasibility": ["kv_cache_bytes_per_token", "memory_feasibility"],
    "ratchet.projection.llm": ["project_llm"],
    "ratchet.projection.result": ["Projected", "WontFit", "DtypeMismatch"],
    "ratchet.projection.workload_pattern": ["WorkloadPatternMultipliers", "apply_workload_pattern"],
    "ratchet.schemas.workload_record": ["WorkloadRecord", "WORKLOAD_SCHEMA"],
    "ratchet.tiers.cpu": ["CpuComplex"],
    "ratchet.tiers.custom": ["make_custom_tier"],
    "ratchet.tiers.hardware": ["Hardware"],
    "ratchet.tiers.memory_overlay": ["hw_with_memory", "MEMORY_UPGRADE_OPTIONS"],
    "ratchet.tiers.perception": ["LatencyDistribution", "PerceptionAnchor", "SolverConvergenceAnchor"],
    "ratchet.tiers.registry": ["NPU_MID", "RTX_5090_REFERENCE", "TIERS"],
    "ratchet.whatif.runner": ["WhatifRunner", "SweepResult"],
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_reference_module_path_serves_the_packages_own_names(path):
    mod = importlib.import_module(path)
    for name in PATHS[path]:
        assert name in dir(mod), name
        got = getattr(mod, name)
        # the same object the package exports under that name, wherever it lives
        own = [getattr(importlib.import_module(m), name) for m in ("ratchet", "ratchet.engine", "ratchet.whatif")
               if hasattr(importlib.import_module(m), name)]
        assert own and got is own[0], name
    with pytest.raises(ImportError):
        exec(f"from {path} import no_such_name_here", {})


def test_a_name_load_rebinds_is_read_fresh(tmp_path):
    from ratchet.tiers import registry

    before = registry.NPU_MID
    ratchet.load(rules="ratchet-0.3.2")
    try:
        assert registry.NPU_MID is ratchet.NPU_MID
    finally:
        ratchet.load()
    assert registry.NPU_MID is ratchet.NPU_MID and before.name == ratchet.NPU_MID.name
