"""LLM projection: ``project_llm`` (the 4-path cascade of the active rule set) and its batch
form, memory feasibility and KV-cache size."""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Union

from . import _core, _types
from ._types import DtypeMismatch, FeasibilityCheck, Hardware, LLMModel, Projected, ProjectionResult, WontFit

ModelArg = Union[LLMModel, str]
HwArg = Union[Hardware, str]


def _request(
    model: ModelArg,
    hw: HwArg,
    workload_id: str = "default",
    prompt_tokens: Optional[int] = None,
    decode_tokens: Optional[int] = None,
    host_ms: Optional[float] = None,
    compiler_quality: Optional[float] = None,
    npu_share: Optional[float] = None,
    fp4_runtime_maturity: Optional[str] = None,
) -> dict:
    req: dict = {"op": "project_llm", "model": model, "hw": hw, "workload_id": workload_id}
    for k, v in (
        ("prompt_tokens", prompt_tokens),
        ("decode_tokens", decode_tokens),
        ("host_ms", host_ms),
        ("compiler_quality", compiler_quality),
        ("npu_share", npu_share),
        ("fp4_runtime_maturity", fp4_runtime_maturity),
    ):
        if v is not None:
            req[k] = getattr(v, "value", v)
    return req


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
) -> Union[Projected, WontFit, DtypeMismatch]:
    """Projects ``model`` on ``hw`` under ``workload_id``: ``Projected``, ``WontFit`` or
    ``DtypeMismatch``. ``model`` and ``hw`` may be objects or registry names."""
    req = _request(
        model, hw, workload_id, prompt_tokens, decode_tokens, host_ms, compiler_quality, npu_share, fp4_runtime_maturity
    )
    req.pop("op")
    return _types.projection(_core.ask("project_llm", **req))


def project_llm_many(requests: Iterable[dict]) -> List[Any]:
    """Many projections in one call into the engine. Each request is a dict of
    ``project_llm``'s arguments (``model``, ``hw``, ``workload_id``, ...); each answer is a
    result object, or the exception it would raise (not raised)."""
    reqs = [_request(**r) for r in requests]
    out: List[Any] = []
    for a in _core.ask_many(reqs):
        if isinstance(a, dict) and set(a) == {"error"}:
            e = a["error"]
            out.append((KeyError if e.get("kind") == "unknown_key" else ValueError)(e.get("message", "")))
        else:
            out.append(_types.projection(a))
    return out


def memory_feasibility(model: ModelArg, hw: HwArg, context_tokens: int) -> FeasibilityCheck:
    """Whether ``model`` fits ``hw`` at ``context_tokens`` of context, and by how much."""
    out = _core.ask("memory_feasibility", model=model, hw=hw, context_tokens=context_tokens)
    return _types._build(FeasibilityCheck, out)


def kv_cache_bytes_per_token(model: ModelArg, dtype_bytes: float = 2) -> float:
    """KV-cache bytes one token of context takes."""
    return _core.result(_core.ask("kv_cache_bytes_per_token", model=model, dtype_bytes=dtype_bytes))


__all__ = [
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
