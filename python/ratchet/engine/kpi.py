"""The reference's module path ``ratchet.engine.kpi``: kPI groups and the budget. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "KpiResult",
    "evaluate_budget",
    "npu_kpis",
    "cpu_kpis",
    "vpu_pixel_rate_kpi",
    "memory_bw_kpi",
    "memory_capacity_kpi",
    "chip_summary",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["KpiResult"], "ratchet"),
        **dict.fromkeys(["evaluate_budget", "npu_kpis", "cpu_kpis", "vpu_pixel_rate_kpi", "memory_bw_kpi", "memory_capacity_kpi", "chip_summary"], "ratchet.engine"),
    },
)
