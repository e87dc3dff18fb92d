"""The engine: loading data (``load``), the active engine, raw requests (``ask``), and the
sizing engine's demands and KPIs (``ratchet.sizing``, re-exported here)."""

from .._core import ask, ask_many, engine, load
from ..sizing import (
    KpiResult,
    SubsystemDemand,
    chip_summary,
    cpu_kpis,
    eff_tops,
    evaluate_budget,
    llm_demand,
    memory_bw_kpi,
    memory_capacity_kpi,
    npu_kpis,
    vpu_pixel_rate_kpi,
)

__all__ = [
    "load",
    "engine",
    "ask",
    "ask_many",
    "SubsystemDemand",
    "KpiResult",
    "evaluate_budget",
    "npu_kpis",
    "cpu_kpis",
    "vpu_pixel_rate_kpi",
    "memory_bw_kpi",
    "memory_capacity_kpi",
    "chip_summary",
    "eff_tops",
    "llm_demand",
]
