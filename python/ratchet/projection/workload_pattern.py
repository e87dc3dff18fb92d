"""The reference's module path ``ratchet.projection.workload_pattern``: workload-pattern multipliers. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "WorkloadPatternMultipliers",
    "apply_workload_pattern",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["WorkloadPatternMultipliers", "apply_workload_pattern"], "ratchet"),
    },
)
