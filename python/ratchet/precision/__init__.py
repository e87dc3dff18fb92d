"""Capabilities and precisions: what a tier can execute, at what peak, and how it deploys a
dtype. Each function is an operation of the active rule set."""

from __future__ import annotations

import enum
from typing import Optional

from .. import _core
from .._types import CapabilityInfo, Hardware


class CapabilityLevel(str, enum.Enum):
    """How a tier executes a dtype."""

    TENSOR_NATIVE = "tensor_native"
    TENSOR_COMPAT = "tensor_compat"
    CUDA_CORE = "cuda_core"
    UNSUPPORTED = "unsupported"

    def __bool__(self) -> bool:
        """Only ``unsupported`` counts as not supported."""
        return self is not CapabilityLevel.UNSUPPORTED


class FP4RuntimeMaturity(str, enum.Enum):
    """Whether the runtime has mature FP4 kernels."""

    MATURE = "mature"
    IMMATURE = "immature"


def _op(name: str, **kw):
    return _core.result(_core.ask(name, **{k: getattr(v, "value", v) for k, v in kw.items()}))


def _level(value: str):
    """A capability level as the reference's enum member (falsy when ``unsupported``, and
    equal to its string); a level the loaded registry adds beyond the enum stays a string."""
    try:
        return CapabilityLevel(value)
    except ValueError:
        return value


def hw_supports_dtype(hw: Hardware, dtype: str) -> CapabilityLevel:
    """The capability level of ``dtype`` on ``hw``: a ``CapabilityLevel`` member, so
    ``bool(hw_supports_dtype(hw, "fp8"))`` is ``False`` where the tier cannot run it."""
    return _level(_op("hw_supports_dtype", hw=hw, dtype=dtype))


def hw_supports_dtype_via_key(hw: Hardware, cap_key: str) -> CapabilityLevel:
    """The capability level of a capability-table key on ``hw`` (a ``CapabilityLevel``)."""
    return _level(_op("hw_supports_dtype_via_key", hw=hw, cap_key=cap_key))


def hw_peak_tops_for_dtype(hw: Hardware, dtype: str) -> float:
    """The spec peak TOPS of ``hw`` for ``dtype``."""
    return _op("hw_peak_tops_for_dtype", hw=hw, dtype=dtype)


def quant_scheme_capability_key(quant_scheme: str) -> str:
    """The capability-table key of a quant scheme."""
    return _op("quant_scheme_capability_key", quant_scheme=quant_scheme)


def deployment_path_for_tier(
    hw: Hardware, dtype: str, workload_kernel_source: str = "precompiled", fp4_runtime_maturity: str = "mature"
) -> str:
    """How ``hw`` would deploy ``dtype``: native, compat, blocked, fallback or unsupported."""
    return _op(
        "deployment_path_for_tier",
        hw=hw,
        dtype=dtype,
        workload_kernel_source=workload_kernel_source,
        fp4_runtime_maturity=fp4_runtime_maturity,
    )


def effective_compute_dtype(dtype: str, fp4_runtime_maturity: str = "mature") -> str:
    """The dtype a runtime actually computes in (FP4 on an immature runtime: weight-only)."""
    return _op("effective_compute_dtype", dtype=dtype, fp4_runtime_maturity=fp4_runtime_maturity)


def is_fp4_compute_dtype(dtype: str) -> bool:
    """Whether ``dtype`` is an FP4 compute dtype."""
    return _op("is_fp4_compute_dtype", dtype=dtype)


def resolve_floor_dtype(
    npu_precision_set: Optional[str], model_compute_dtype: str, fp4_runtime_maturity: str = "mature"
) -> str:
    """The dtype of the compute floor of a precision rung for a model's compute dtype."""
    return _op(
        "resolve_floor_dtype",
        npu_precision_set=npu_precision_set,
        model_compute_dtype=model_compute_dtype,
        fp4_runtime_maturity=fp4_runtime_maturity,
    )


__all__ = [
    "CapabilityInfo",
    "CapabilityLevel",
    "FP4RuntimeMaturity",
    "hw_supports_dtype",
    "hw_supports_dtype_via_key",
    "hw_peak_tops_for_dtype",
    "quant_scheme_capability_key",
    "deployment_path_for_tier",
    "effective_compute_dtype",
    "is_fp4_compute_dtype",
    "resolve_floor_dtype",
]
