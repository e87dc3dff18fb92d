"""LLM projection: ``project_llm`` (the 4-path cascade of the active rule set) and its batch
form, memory feasibility and KV-cache size."""

from __future__ import annotations

import gc
import json
from typing import Any, Dict, Iterable, List, Optional, Union

from .. import _core, _types
from .._types import (
    CpuLatencyProjection,
    DtypeMismatch,
    FeasibilityCheck,
    Hardware,
    LatencyDistribution,
    LLMModel,
    Projected,
    ProjectionResult,
    SolverConvergenceAnchor,
    SolverConvergenceProjection,
    WontFit,
    WorkloadPatternMultipliers,
)

ModelArg = Union[LLMModel, str]
HwArg = Union[Hardware, str]


def project_llm(
    model: ModelArg,
    hw: HwArg,
    workload_id: str = "default",
    prompt_tokens: Optional[int] = None,
    decode_tokens: Optional[int] = None,
    *,
    host_ms: Optional[float] = None,
    compiler_quality: Optional[float] = None,
    npu_share: Optional[float] = None,
    fp4_runtime_maturity: Optional[str] = None,
    runtime: Optional[str] = None,
    kv_cache_dtype: Optional[str] = None,
) -> Union[Projected, WontFit, DtypeMismatch]:
    """Projects ``model`` on ``hw`` under ``workload_id``: ``Projected``, ``WontFit`` or
    ``DtypeMismatch``. ``model`` and ``hw`` may be objects or registry names. ``runtime``
    (a key of the registry's runtime table, e.g. ``"llamacpp-vulkan"``) projects the tier
    with its silicon class's fit under that runtime, as the tier form
    ``{"base": hw, "set": {"runtime": runtime}}`` does. ``kv_cache_dtype`` (``"f16"``,
    ``"q8_0"``, ``"q4_0"``, ``"fp8"``, ...: a key of the registry's ``kv_cache_types``) is the
    KV cache's element type; the rule set's default when ``None``. Raises ``ValueError`` for
    invalid values and ``KeyError`` for unknown names."""
    hw_wire = _under_runtime(_core.wire(hw), runtime)
    # the engine answers with the result object itself (registered in _core)
    return _core.engine().project_llm(
        _core.wire(model),
        hw_wire,
        workload_id,
        prompt_tokens,
        decode_tokens,
        host_ms,
        compiler_quality,
        npu_share,
        getattr(fp4_runtime_maturity, "value", fp4_runtime_maturity),
        kv_cache_dtype,
    )


def _under_runtime(hw_wire: str, runtime: Optional[str]) -> str:
    """The tier argument under ``runtime``: the tier form ``{"base": hw, "set": {"runtime":
    runtime}}`` (the tier itself when ``runtime`` is ``None``)."""
    if runtime is None:
        return hw_wire
    base = json.loads(hw_wire) if hw_wire.startswith("{") else hw_wire
    return json.dumps({"base": base, "set": {"runtime": runtime}})


def project_llm_many(requests: Iterable[dict]) -> List[Any]:
    """Many projections in one call into the engine. Each request is a dict of
    ``project_llm``'s arguments (``model``, ``hw``, ``workload_id``, ...); each answer is a
    result object, or the exception it would raise (not raised)."""
    eng = _core.engine()
    wire = _core.wire
    out: List[Any] = []
    # the results are kept, so the cyclic collector would rescan them again and again as the
    # list grows (none of them can form a cycle): paused for the loop
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        _many(requests, eng, wire, out)
    finally:
        if was_enabled:
            gc.enable()
    return out


def _many(requests, eng, wire, out) -> None:
    for r in requests:
        unknown = r.keys() - _MANY_KEYS
        if unknown:
            raise TypeError(f"project_llm_many: unexpected argument(s) {sorted(unknown)}")
        try:
            g = r.get
            m = g("fp4_runtime_maturity")
            out.append(eng.project_llm(
                wire(r["model"]), _under_runtime(wire(r["hw"]), g("runtime")), g("workload_id", "default"), g("prompt_tokens"), g("decode_tokens"),
                g("host_ms"), g("compiler_quality"), g("npu_share"), getattr(m, "value", m), g("kv_cache_dtype"),
            ))
        except (KeyError, ValueError) as e:
            out.append(e)


def project_llm_columns(
    model: Any,
    hw: Any,
    workload_id: Any = "default",
    prompt_tokens: Any = None,
    decode_tokens: Any = None,
    *,
    host_ms: Any = None,
    compiler_quality: Any = None,
    npu_share: Any = None,
    fp4_runtime_maturity: Any = None,
    kv_cache_dtype: Any = None,
) -> Dict[str, List[Any]]:
    """``project_llm`` over columns: each argument is an iterable — a list, a tuple, a numpy
    array, a pandas series — (one value per row; they share one length) or one value for
    every row. Returns result columns, a list each: ``type``
    (``Projected``, ``WontFit``, ``DtypeMismatch``, or the error kind of a bad row),
    ``decode_tok_s``, ``prefill_tok_s``, ``ttft_s``, ``decode_s``, ``prefill_s``, ``total_s``,
    ``host_ms``, ``source``, ``regime``, ``decode_ceiling_tok_s`` (``None`` where not
    projected), the 80 % uncertainty band's ends ``decode_tok_s_p10`` / ``_p90``,
    ``prefill_tok_s_p10`` / ``_p90``, ``ttft_s_p10`` / ``_p90`` (``None`` where the rule set
    states none or the number is measured), ``required_gb`` / ``available_gb`` (``WontFit`` rows), ``required_dtype`` /
    ``retargeting_hint`` (``DtypeMismatch`` rows) and ``error`` (a bad row's message).
    The same numbers as ``project_llm``, without an object per row: the fast path for grids
    (``pandas.DataFrame(project_llm_columns(...))``)."""

    def many(v: Any) -> bool:  # a column: any iterable but a text or a tier/model object
        return not isinstance(v, (str, bytes)) and not hasattr(v, "__dataclass_fields__") and hasattr(v, "__iter__")

    def col(v: Any) -> Any:
        return [_core.wire(x) for x in v] if many(v) else _core.wire(v)

    def plain(v: Any) -> Any:
        return [getattr(x, "value", x) for x in v] if many(v) else getattr(v, "value", v)

    return _core.engine().project_columns(
        col(model),
        col(hw),
        workload_id,
        prompt_tokens,
        decode_tokens,
        host_ms,
        compiler_quality,
        npu_share,
        plain(fp4_runtime_maturity),
        kv_cache_dtype,
    )


_MANY_KEYS = frozenset(
    ["model", "hw", "workload_id", "prompt_tokens", "decode_tokens", "host_ms", "compiler_quality", "npu_share",
     "fp4_runtime_maturity", "runtime", "kv_cache_dtype"]
)


def memory_feasibility(
    model: ModelArg, hw: HwArg, context_tokens: int, *, kv_cache_dtype: Optional[str] = None
) -> FeasibilityCheck:
    """Whether ``model`` fits ``hw`` at ``context_tokens`` of context, and by how much;
    ``kv_cache_dtype`` is the KV cache's element type (the rule set's default when ``None``)."""
    out = _core.ask(
        "memory_feasibility", model=model, hw=hw, context_tokens=context_tokens, kv_cache_dtype=kv_cache_dtype
    )
    return _types._build(FeasibilityCheck, out)


def kv_cache_bytes_per_token(
    model: ModelArg, dtype_bytes: float = 2, *, kv_cache_dtype: Optional[str] = None
) -> float:
    """KV-cache bytes one token of context takes, at ``dtype_bytes`` per element or at the
    width of KV-cache type ``kv_cache_dtype`` (``"q8_0"``: 34 bytes per 32 elements)."""
    if kv_cache_dtype is not None:
        return _core.result(_core.ask("kv_cache_bytes_per_token", model=model, kv_cache_dtype=kv_cache_dtype))
    return _core.result(_core.ask("kv_cache_bytes_per_token", model=model, dtype_bytes=dtype_bytes))


def apply_workload_pattern(result: Projected, multipliers: WorkloadPatternMultipliers) -> Projected:
    """``result`` scaled by a workload pattern (decode rate and time to first token)."""
    d = _core.to_json(result)
    d["type"] = type(result).__name__
    return _types.projection(_core.ask("apply_workload_pattern", result=d, multipliers=multipliers))


def project_frame_latency(baseline: LatencyDistribution, speedup: float) -> CpuLatencyProjection:
    """A CPU workload's measured latency projected by a CPU speedup (``ValueError`` when
    the speedup is not > 0)."""
    return _types._build(CpuLatencyProjection, _core.ask("project_frame_latency", baseline=baseline, speedup=speedup))


def project_solver_convergence(anchor: SolverConvergenceAnchor, speedup: float) -> SolverConvergenceProjection:
    """A measured solver projected by a CPU speedup: iterations kept, latency scaled."""
    out = _core.ask("project_solver_convergence", anchor=anchor, speedup=speedup)
    return _types._build(SolverConvergenceProjection, out)


__all__ = [
    "apply_workload_pattern",
    "project_frame_latency",
    "project_solver_convergence",
    "LatencyDistribution",
    "SolverConvergenceAnchor",
    "CpuLatencyProjection",
    "SolverConvergenceProjection",
    "WorkloadPatternMultipliers",
    "project_llm",
    "project_llm_many",
    "memory_feasibility",
    "kv_cache_bytes_per_token",
    "Projected",
    "WontFit",
    "DtypeMismatch",
    "ProjectionResult",
    "FeasibilityCheck",
]
