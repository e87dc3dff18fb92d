"""The sizing engine of the reference (spec §1.12, §3.16–3.17): subsystem demands, KPI budgets
and the chip summary. Every number is the Rust engine's, from the formulas of the active
sizing pack (the shipped ``reference`` pack unless a call names another with ``pack=``);
this module only turns the reference's objects into requests and answers back into objects.

    demands = [llm_demand(profile, workload), SubsystemDemand("perception", "npu", tops_required=5.0)]
    kpis = npu_kpis(profile, demands) + cpu_kpis(profile, demands)
    chip_summary(kpis)["viable"]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from . import _core

__all__ = [
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


@dataclass
class SubsystemDemand:
    """What one subsystem asks of the chip (a mutable record, as in the reference)."""

    name: str
    target_engine: str
    tops_required: float = 0.0
    cpu_cores_required: float = 0.0
    memory_bw_gbps: float = 0.0
    memory_capacity_mb: float = 0.0
    latency_ms_p99: float = 0.0
    notes: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class KpiResult:
    """One budget check: ``required`` against ``budget``; ``margin`` > 0 is good."""

    name: str
    scope: str
    target: str
    metric: str
    required: float
    budget: float
    units: str
    status: str
    margin: float
    margin_pct: float
    notes: List[str] = field(default_factory=list)

    @property
    def emoji(self) -> str:
        """The status's mark in the loaded engine's sizing pack (the shipped ``reference``
        pack: PASS ✅, FAIL ❌, WARN ⚠️, anything else ``·``)."""
        return _emoji(self.status)


_EMOJI: Dict[Any, str] = {}


def _emoji(status: str) -> str:
    key = (_core._GENERATION, status)
    got = _EMOJI.get(key)
    if got is None:
        got = _core.result(_core.ask("kpi_emoji", status=status))
        _EMOJI[key] = got
    return got


_KPI_FIELDS = tuple(f.name for f in dataclasses.fields(KpiResult))
_DEMAND_FIELDS = tuple(f.name for f in dataclasses.fields(SubsystemDemand))


def _kpi(d: Mapping[str, Any]) -> KpiResult:
    return KpiResult(**{n: d[n] for n in _KPI_FIELDS if n in d})


def _kpis(out: Iterable[Mapping[str, Any]]) -> List[KpiResult]:
    return [_kpi(d) for d in out]


def _demand(d: Mapping[str, Any]) -> SubsystemDemand:
    return SubsystemDemand(**{n: d[n] for n in _DEMAND_FIELDS if n in d})


def _demands(demands: Sequence[Any]) -> List[Any]:
    return [_core.to_json(d) for d in demands]


def evaluate_budget(
    name: str,
    scope: str,
    target: str,
    metric: str,
    required: float,
    budget: float,
    units: str,
    warn_at_pct: float = 90.0,
    notes: Optional[List[str]] = None,
    *,
    pack: Optional[str] = None,
) -> KpiResult:
    """A KPI from a required amount and a budget (reference ``evaluate_budget``)."""
    out = _core.ask(
        "evaluate_budget",
        name=name,
        scope=scope,
        target=target,
        metric=metric,
        required=required,
        budget=budget,
        units=units,
        warn_at_pct=warn_at_pct,
        notes=list(notes) if notes is not None else None,
        pack=pack,
    )
    return _kpi(out)


def npu_kpis(profile: Mapping[str, Any], demands: Sequence[SubsystemDemand], *, pack: Optional[str] = None) -> List[KpiResult]:
    """One KPI per NPU-bound demand with TOPS, then the concurrent NPU load."""
    return _kpis(_core.ask("npu_kpis", profile=profile, demands=_demands(demands), pack=pack))


def cpu_kpis(profile: Mapping[str, Any], demands: Sequence[SubsystemDemand], *, pack: Optional[str] = None) -> List[KpiResult]:
    """The CPU-bound demands against the effective cores."""
    return _kpis(_core.ask("cpu_kpis", profile=profile, demands=_demands(demands), pack=pack))


def memory_bw_kpi(profile: Mapping[str, Any], demands: Sequence[SubsystemDemand], *, pack: Optional[str] = None) -> KpiResult:
    """Every demand's bandwidth against the memory system's usable bandwidth."""
    return _one(_core.ask("memory_bw_kpi", profile=profile, demands=_demands(demands), pack=pack))


def memory_capacity_kpi(
    profile: Mapping[str, Any], demands: Sequence[SubsystemDemand], *, pack: Optional[str] = None
) -> KpiResult:
    """Every demand's resident set against the memory capacity."""
    return _one(_core.ask("memory_capacity_kpi", profile=profile, demands=_demands(demands), pack=pack))


def vpu_pixel_rate_kpi(
    profile_vpu: Mapping[str, Any],
    total_mpix_per_sec: float,
    headroom_pct: float = 20.0,
    notes: Optional[List[str]] = None,
    *,
    pack: Optional[str] = None,
) -> KpiResult:
    """The encoder's pixel rate against the VPU's, less headroom."""
    out = _core.ask(
        "vpu_pixel_rate_kpi",
        profile_vpu=profile_vpu,
        total_mpix_per_sec=total_mpix_per_sec,
        headroom_pct=headroom_pct,
        notes=list(notes) if notes is not None else None,
        pack=pack,
    )
    return _one(out)


def chip_summary(kpis: Sequence[KpiResult], *, pack: Optional[str] = None) -> Dict[str, Any]:
    """Counts by status, ``viable`` (no FAIL) and the failures with their overage."""
    return _core.ask("chip_summary", kpis=[_core.to_json(k) for k in kpis], pack=pack)


def eff_tops(profile_npu: Mapping[str, Any], precision: str, *, pack: Optional[str] = None) -> float:
    """The NPU's effective TOPS at a precision (falls back to ``tops_bf16``)."""
    return _core.result(_core.ask("eff_tops", profile_npu=profile_npu, precision=precision, pack=pack))


def llm_demand(profile: Mapping[str, Any], workload: Mapping[str, Any], *, pack: Optional[str] = None) -> SubsystemDemand:
    """The LLM's demand from the workload's ``llm`` block (all zero when not active)."""
    return _demand(_core.ask("llm_demand", profile=profile, workload=workload, pack=pack))


def _one(out: Any) -> KpiResult:
    if isinstance(out, list):  # a KPI group answers as a list
        if len(out) != 1:
            raise ValueError(f"expected one KPI, got {len(out)}")
        out = out[0]
    return _kpi(out)
