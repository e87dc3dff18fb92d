"""The reference's module path ``ratchet.precision.dtype_map``: dtype lookups, FP4 maturity and NPU precision sets. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "FP4RuntimeMaturity",
    "NpuPrecisionSet",
    "PRECISION_SET_COMPUTE_DTYPE",
    "PRECISION_SET_ZEROED_PEAK_TOPS",
    "DTYPE_ATTR_MAP",
    "hw_peak_tops_for_dtype",
    "is_fp4_compute_dtype",
    "effective_compute_dtype",
    "resolve_floor_dtype",
    "quant_scheme_capability_key",
    "hw_supports_dtype_via_key",
    "hw_supports_dtype",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["FP4RuntimeMaturity", "NpuPrecisionSet", "PRECISION_SET_COMPUTE_DTYPE", "PRECISION_SET_ZEROED_PEAK_TOPS", "DTYPE_ATTR_MAP", "hw_peak_tops_for_dtype", "is_fp4_compute_dtype", "effective_compute_dtype", "resolve_floor_dtype", "quant_scheme_capability_key", "hw_supports_dtype_via_key", "hw_supports_dtype"], "ratchet"),
    },
)
