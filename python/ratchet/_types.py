"""The reference's data classes (field names and order of ratchet 0.3.2), filled from the
engine's JSON. Fields the Rust engine adds (a calibrated tier's ``llm_calibration``, a
projection's ``provenance`` and ``badge``) travel in ``extensions`` and back."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from . import _core


def _build(cls, data: Dict[str, Any]):
    """An instance of ``cls`` from a JSON object; unknown keys go to ``extensions`` (or are
    dropped by classes without one)."""
    names = {f.name for f in dataclasses.fields(cls)}
    kw = {}
    extra = {}
    for k, v in data.items():
        if k in ("__type__", "type"):
            continue
        conv = _NESTED.get((cls.__name__, k))
        if k in names:
            kw[k] = conv(v) if (conv and v is not None) else v
        else:
            extra[k] = v
    if "extensions" in names:
        kw["extensions"] = extra
    return cls(**kw)


@dataclass(frozen=True)
class CpuComplex:
    """The CPU cluster of a tier."""

    cores: int
    microarch: str
    clock_ghz: float


@dataclass(frozen=True)
class CalibrationSource:
    """Where a tier's numbers come from: method, reference, confidence."""

    method: str
    reference: str
    confidence: str = "medium"

    def __post_init__(self):
        # the engine's rules for a source (`default` needs `low` confidence): ValueError
        _core.ask("calibration_source", method=self.method, reference=self.reference, confidence=self.confidence)


@dataclass(frozen=True)
class CapabilityInfo:
    """One capability row: the level and why."""

    level: str
    reason: str
    via_dtype: Optional[str] = None


@dataclass(frozen=True)
class Hardware:
    """A silicon tier (reference ``Hardware``). Build canonical ones from ``TIERS``, memory
    upgrades with ``hw_with_memory``, custom ones with ``make_custom_tier``, overrides with
    ``dataclasses.replace``."""

    name: str
    peak_tops_bf16: float
    peak_tops_int8: float
    peak_tops_fp8: float
    mem_bandwidth_gbs: float
    mem_capacity_gb: float
    mem_bus_width_bits: int
    mem_type: str
    mem_data_rate_gtps: float
    peak_tops_fp4: float = 0.0
    cpu: Optional[CpuComplex] = None
    # the reference dataclass's defaults, which are the registry's `tier_defaults`
    # (tables/silicon_classes.ron; test_surface checks the two agree)
    compute_efficiency: float = 0.65
    bandwidth_efficiency: float = 0.7
    tdp_watts: float = 0.0
    tier_family: Optional[str] = None
    compute_util_factor: float = 0.45
    llm_prefill_util_factor: float = 0.1
    llm_decode_bw_realization: float = 1.0
    compute_overhead_ms: float = 1.0
    npu_share_default: float = 0.75
    capability_levels: Optional[Dict[str, Any]] = None
    npu_precision_set: Optional[str] = None
    calibration_source: Optional[CalibrationSource] = None
    bw_projected: bool = False
    stock_mem_bandwidth_gbs: Optional[float] = None
    stock_name: Optional[str] = None
    measured_decode_overrides: Optional[Dict[str, float]] = None
    measured_prefill_overrides: Optional[Dict[str, float]] = None
    measured_vision_overrides: Optional[Dict[str, Any]] = None
    measured_llm: Optional[Dict[str, Any]] = None
    measured_perception: Optional[Dict[str, Any]] = None
    extensions: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def effective_bandwidth_gbs(self) -> float:
        """Spec bandwidth x bandwidth efficiency."""
        return self.mem_bandwidth_gbs * self.bandwidth_efficiency

    @property
    def tier_lookup_name(self) -> str:
        """The name silicon-intrinsic lookups use (capability, deployment path, anchor
        routing): a memory-upgrade clone's stock tier, else the tier itself."""
        return self.stock_name if self.stock_name is not None else self.name

    def get_measured_llm_cell(self, model_key: str, workload_id: str) -> Optional[Dict[str, Any]]:
        """The measured cell of ``(model_key, workload_id)`` in ``measured_llm``, or ``None``
        (direct lookup: measurement aliases are resolved where the projection is made)."""
        cell = (self.measured_llm or {}).get(model_key)
        return cell.get(workload_id) if isinstance(cell, dict) else None

    def effective_tops(self, dtype: str) -> float:
        """Peak TOPS for ``dtype`` x compute efficiency."""
        return _core.result(_core.ask("effective_tops", hw=self, dtype=dtype))

    def get_perception_anchor(self, workload_class: str) -> "Optional[PerceptionAnchor]":
        """The measured perception anchor of ``workload_class`` on this tier, or ``None``."""
        out = _core.result(_core.ask("get_perception_anchor", hw=self, workload_class=workload_class))
        return None if out is None else _build(PerceptionAnchor, out)


@dataclass(frozen=True)
class LLMModel:
    """A model of the catalog (reference ``LLMModel``)."""

    key: str
    family: str
    base: str
    total_params_b: float
    active_params_b: float
    quant_scheme: str
    bytes_per_param: float
    gguf_size_gb: float
    size_gb_inflight: float
    compute_dtype: str
    num_layers: int
    hidden_dim: int
    num_attention_heads: int
    num_kv_heads: int
    is_moe: bool = False
    num_experts: Optional[int] = None
    experts_per_token: Optional[int] = None
    ctx_len_trained: int = 0
    vocab_size: int = 0
    training: Optional[str] = None
    training_recipe: Optional[str] = None
    fine_tune_version: Optional[str] = None
    perf_reference_only: bool = False
    measurement_alias: Optional[str] = None
    pass_rate: Optional[float] = None
    pass_n_passes: Optional[int] = None
    pass_n_total: Optional[int] = None
    category_deltas: Optional[Dict[str, Any]] = None
    accuracy_bullet: Optional[str] = None
    description: str = ""
    # the reference's default: a decode rate is intrinsic to (model, tier)
    llm_invariant_decode: bool = True
    # width of one attention head when the model sets its own (config.json ``head_dim``);
    # None: hidden_dim / num_attention_heads. The default rule set's KV cache reads it.
    head_dim: Optional[int] = None
    # the attention and expert layout (docs/models.md); the default rule set's KV cache
    # reads it: sliding windows cap a layer's cache, latent attention caches the latent,
    # state layers keep a constant state
    sliding_window: Optional[int] = None
    sliding_window_layers: Optional[int] = None
    kv_lora_rank: Optional[int] = None
    qk_rope_head_dim: Optional[int] = None
    state_layers: Optional[int] = None
    state_elements_per_layer: Optional[int] = None
    shared_experts: Optional[int] = None
    first_dense_layers: Optional[int] = None
    routed_expert_params_b: Optional[float] = None
    tie_word_embeddings: Optional[bool] = None
    extensions: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Projected:
    """A projection (reference ``Projected``); ``source`` says which path answered."""

    decode_tok_s: float
    prefill_tok_s: float
    ttft_s: float
    decode_tokens: int
    prompt_tokens: int
    decode_s: float
    prefill_s: float
    total_s: float
    host_ms: float
    source: str
    regime: str
    hw_name: str
    model_key: str
    workload_id: str
    decode_ceiling_tok_s: Optional[float] = None
    base_decode_pre_multiplier: Optional[float] = None
    silicon_anchor_meta: Optional[Dict[str, Any]] = None
    extensions: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def _band(self, value: float, factors: str) -> Optional[Tuple[float, float]]:
        lo = self.extensions.get(factors + "_p10")
        hi = self.extensions.get(factors + "_p90")
        if not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)) or (lo == 1 and hi == 1):
            return None
        return (value * lo, value * hi)

    @property
    def decode_band(self) -> Optional[Tuple[float, float]]:
        """The 80 % uncertainty band of ``decode_tok_s`` (10th, 90th percentile), tok/s;
        ``None`` under a rule set that states none, or for a measured rate."""
        return self._band(self.decode_tok_s, "band_decode")

    @property
    def prefill_band(self) -> Optional[Tuple[float, float]]:
        """The 80 % uncertainty band of ``prefill_tok_s``, tok/s."""
        return self._band(self.prefill_tok_s, "band_prefill")

    @property
    def ttft_band(self) -> Optional[Tuple[float, float]]:
        """The 80 % uncertainty band of ``ttft_s``, s."""
        return self._band(self.ttft_s, "band_ttft")

    @property
    def band_basis(self) -> Optional[str]:
        """What the bands rest on: ``measured``, ``fit_held_out_device``,
        ``fit_held_out_point``, ``fit_widened`` or ``engine_defaults``."""
        return self.extensions.get("band_basis")


@dataclass(frozen=True)
class WontFit:
    """The model does not fit the tier's memory."""

    hw_name: str
    model_key: str
    workload_id: str
    required_gb: float
    available_gb: float
    headroom_gb: float
    breakdown: Dict[str, float]
    prompt_tokens: int
    decode_tokens: int
    extensions: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class DtypeMismatch:
    """The tier cannot execute the model's dtype; ``retargeting_hint`` says what would."""

    hw_name: str
    model_key: str
    workload_id: str
    required_dtype: str
    tier_capability: str
    retargeting_hint: str
    extensions: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class FeasibilityCheck:
    """Memory feasibility: verdict, required and available GB, headroom, breakdown."""

    verdict: str
    required_gb: float
    available_gb: float
    headroom_gb: float
    breakdown: Dict[str, float]
    extensions: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


ProjectionResult = (Projected, WontFit, DtypeMismatch)


@dataclass(frozen=True)
class LatencyDistribution:
    """A measured latency: median, p95 and max, ms."""

    median_ms: float
    p95_ms: float
    max_ms: Optional[float] = None


@dataclass(frozen=True)
class SolverConvergenceAnchor:
    """A measured solver: iterations (median, p95, max) and the solve latency."""

    iters_median: int
    iters_p95: int
    solve_ms: LatencyDistribution
    iters_max: Optional[int] = None


@dataclass(frozen=True)
class CpuLatencyProjection:
    """A CPU workload's latency on another CPU complex."""

    median_ms: float
    p95_ms: float
    max_ms: Optional[float]
    speedup: float
    source: str
    extensions: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class SolverConvergenceProjection:
    """A solver's iterations and latency on another CPU complex."""

    iters_median: int
    iters_p95: int
    iters_max: Optional[int]
    solve_median_ms: float
    solve_p95_ms: float
    solve_max_ms: Optional[float]
    speedup: float
    source: str
    extensions: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class PerceptionAnchor:
    """One perception workload measured on one tier; each metric with its own source."""

    workload_class: str
    latency: LatencyDistribution
    latency_source: CalibrationSource
    solver: Optional[SolverConvergenceAnchor] = None
    solver_source: Optional[CalibrationSource] = None
    bw_gbs: Optional[float] = None
    bw_source: Optional[CalibrationSource] = None
    cores: Optional[float] = None
    cores_source: Optional[CalibrationSource] = None


@dataclass(frozen=True)
class WorkloadPatternMultipliers:
    """How a workload pattern scales a projection: decode p50/p95, TTFT p50."""

    decode_p50_mult: float = 1.0
    decode_p95_mult: float = 1.0
    ttft_p50_mult: float = 1.0

def _source(v):
    return CalibrationSource(v["method"], v["reference"], v["confidence"])


def _solver(v):
    return SolverConvergenceAnchor(
        v["iters_median"], v["iters_p95"], _build(LatencyDistribution, v["solve_ms"]), v.get("iters_max")
    )


_NESTED = {
    ("Hardware", "cpu"): lambda v: _build(CpuComplex, v),
    ("Hardware", "calibration_source"): _source,
    ("PerceptionAnchor", "latency"): lambda v: _build(LatencyDistribution, v),
    ("PerceptionAnchor", "latency_source"): _source,
    ("PerceptionAnchor", "solver"): _solver,
    ("PerceptionAnchor", "solver_source"): _source,
    ("PerceptionAnchor", "bw_source"): _source,
    ("PerceptionAnchor", "cores_source"): _source,
}


def hardware(data: Dict[str, Any]) -> Hardware:
    """A ``Hardware`` from the engine's tier JSON."""
    return _build(Hardware, data)


def model(data: Dict[str, Any]) -> LLMModel:
    """An ``LLMModel`` from the engine's model JSON."""
    return _build(LLMModel, data)


def _defaults(c) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for f in dataclasses.fields(c):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
    return out


_RESULTS = {
    c.__name__: (c, frozenset(f.name for f in dataclasses.fields(c)) - {"extensions"}, _defaults(c))
    for c in (Projected, WontFit, DtypeMismatch)
}


def projection(data: Dict[str, Any]):
    """The result class the answer's ``type`` names, for answers that come back as JSON
    (``apply_workload_pattern``, the anchor overlay); ``project_llm``'s results are built by
    the extension itself.

    The engine's answer carries every field, already checked, so the instance is filled
    directly rather than through the frozen dataclass ``__init__`` (a third of a call's time);
    equality, ``repr``, ``match`` and ``dataclasses.replace`` see an ordinary instance."""
    cls, names, defaults = _RESULTS[data.pop("type")]
    obj = object.__new__(cls)
    d = obj.__dict__
    d.update(defaults)
    extra = {}
    for k, v in data.items():
        if k in names:
            d[k] = v
        else:
            extra[k] = v
    missing = names - d.keys()
    if missing:  # an answer without a required field: say so as the class would
        raise TypeError(f"{cls.__name__}: missing {sorted(missing)}")
    d["extensions"] = extra
    return obj


# `project_llm`'s results are made by the extension as these classes
_core.set_result_classes(Projected, WontFit, DtypeMismatch)
