"""ratchet: data-driven SoC sizing — the reference engine's Python API (ratchet 0.3.2),
answered by the Rust engine over its embedded registry and rules, or over directories given to
``ratchet.load``.

    from ratchet import project_llm, NPU_MID, Projected, WontFit, DtypeMismatch
    from ratchet.catalog.reference import QWEN3_30B_A3B_MOE_Q4

    match project_llm(QWEN3_30B_A3B_MOE_Q4, NPU_MID, "rag_qa", prompt_tokens=4800, decode_tokens=400):
        case Projected(decode_tok_s=t, source=s):
            print(t, s)

The default rule set is ``default`` (the reference with its quirks corrected and the measured
cost model, docs/calibration.md); ``ratchet.load(rules="ratchet-0.3.2")`` (or the
``RATCHET_RULES`` environment variable) gives the reference's numbers bit for bit.
"""

from __future__ import annotations

from . import _native
from ._core import load
from ._types import (
    CalibrationSource,
    CapabilityInfo,
    CpuComplex,
    DtypeMismatch,
    FeasibilityCheck,
    Hardware,
    LLMModel,
    Projected,
    ProjectionResult,
    WontFit,
)
from .anchors import (
    CNNAnchor,
    LLMAnchor,
    hw_to_anchor_tier_precision,
    load_cnn_anchor,
    load_llm_anchor,
    overlay_llm_anchor,
)
from .catalog import REFERENCE_MODELS, import_model, lookup_model, resolve_measurement_key
from .precision import (
    CapabilityLevel,
    FP4RuntimeMaturity,
    deployment_path_for_tier,
    effective_compute_dtype,
    hw_peak_tops_for_dtype,
    hw_supports_dtype,
    hw_supports_dtype_via_key,
    is_fp4_compute_dtype,
    quant_scheme_capability_key,
    resolve_floor_dtype,
)
from ._types import (
    PerceptionAnchor,
    CpuLatencyProjection,
    LatencyDistribution,
    SolverConvergenceAnchor,
    SolverConvergenceProjection,
    WorkloadPatternMultipliers,
)
from .projection import (
    apply_workload_pattern,
    kv_cache_bytes_per_token,
    memory_feasibility,
    project_frame_latency,
    project_llm,
    project_llm_columns,
    project_llm_many,
    project_solver_convergence,
)
from .tiers import TIERS, hw_with_memory, make_custom_tier, tier
from .probes import WorkloadRecord
from .schemas import WORKLOAD_SCHEMA
from .sizing import KpiResult, SubsystemDemand
from .whatif import Slider, WhatifRunner, apply_sliders, default_values

__version__ = "0.3.2"
ENGINE_VERSION = _native.__version__

from . import _core  # noqa: E402
from . import _tables  # noqa: E402
from . import catalog as _catalog  # noqa: E402
from . import tiers as _tiers  # noqa: E402
from ._tables import (  # noqa: E402
    BADGE_FOR_SOURCE,
    BYTES_PER_PARAM,
    CAPABILITY_TABLES,
    DTYPE_ATTR_MAP,
    GGUF_SIZE_GB,
    MEMORY_UPGRADE_OPTIONS,
    PRECISION_SET_CAPABILITY,
    PRECISION_SET_COMPUTE_DTYPE,
    PRECISION_SET_ZEROED_PEAK_TOPS,
    QUANT_SCHEME_CAPABILITY_KEY,
    SILICON_CLASS_DEFAULTS,
)


def _publish() -> None:
    """Re-binds the package's names that ``load`` replaces rather than updates in place: the
    tier constants (``NPU_MID``, ...), the capability tables by name and ``ACTIVE_PARAMS``
    (``TIERS``, ``REFERENCE_MODELS`` and the other tables are updated in place)."""
    g = globals()
    for const, name in _tiers.CANONICAL_CONSTANTS.items():
        if name in _tiers.TIERS:
            g[const] = _tiers.TIERS[name]
    for name, table in _tables.CAPABILITY_TABLES.items():
        g[name] = table
    g["ACTIVE_PARAMS"] = _tables.ACTIVE_PARAMS


# after each `load`'s refreshes of the tiers (10), the catalog (20) and the tables (30)
_core.on_load(_publish, 1000)

_tiers._refresh()
_catalog._refresh()
_tables._refresh()
_publish()

# the silicon classes and precision rungs of the registry loaded at import
SiliconClass, NpuPrecisionSet = _tables.enums()

__all__ = [
    "__version__",
    "load",
    "Hardware",
    "TIERS",
    "tier",
    *_tiers.CANONICAL_CONSTANTS,
    "hw_with_memory",
    "make_custom_tier",
    "CpuComplex",
    "CapabilityLevel",
    "CapabilityInfo",
    "hw_supports_dtype",
    "hw_supports_dtype_via_key",
    "hw_peak_tops_for_dtype",
    "quant_scheme_capability_key",
    "deployment_path_for_tier",
    "FP4RuntimeMaturity",
    "effective_compute_dtype",
    "is_fp4_compute_dtype",
    "resolve_floor_dtype",
    "project_llm",
    "project_llm_many",
    "project_llm_columns",
    "Projected",
    "WontFit",
    "DtypeMismatch",
    "ProjectionResult",
    "memory_feasibility",
    "kv_cache_bytes_per_token",
    "FeasibilityCheck",
    "LLMModel",
    "REFERENCE_MODELS",
    "import_model",
    "lookup_model",
    "resolve_measurement_key",
    "CalibrationSource",
    "WorkloadPatternMultipliers",
    "apply_workload_pattern",
    "project_frame_latency",
    "project_solver_convergence",
    "CpuLatencyProjection",
    "SolverConvergenceProjection",
    "LatencyDistribution",
    "SolverConvergenceAnchor",
    "LLMAnchor",
    "CNNAnchor",
    "load_llm_anchor",
    "load_cnn_anchor",
    "hw_to_anchor_tier_precision",
    "overlay_llm_anchor",
    "DTYPE_ATTR_MAP",
    "QUANT_SCHEME_CAPABILITY_KEY",
    "BYTES_PER_PARAM",
    "GGUF_SIZE_GB",
    "ACTIVE_PARAMS",
    "PRECISION_SET_CAPABILITY",
    "PRECISION_SET_COMPUTE_DTYPE",
    "PRECISION_SET_ZEROED_PEAK_TOPS",
    "MEMORY_UPGRADE_OPTIONS",
    "SILICON_CLASS_DEFAULTS",
    "BADGE_FOR_SOURCE",
    "CAPABILITY_TABLES",
    "SiliconClass",
    "NpuPrecisionSet",
    "PerceptionAnchor",
    "NEUTRON_INT8_ONLY_CAPABILITY",
    "NPU_FULL_DTYPE_CAPABILITY",
    "SM120_BLACKWELL_CAPABILITY",
    "NPU_FP4_CAPABILITY",
    "WorkloadRecord",
    "WORKLOAD_SCHEMA",
    "Slider",
    "SubsystemDemand",
    "KpiResult",
    "apply_sliders",
    "default_values",
    "WhatifRunner",
]
