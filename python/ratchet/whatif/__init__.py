"""Sliders and the what-if runner of the reference (spec §1.12, §3.18–3.19).

Two ways to run what-ifs:

* ``WhatifRunner(catalog, evaluate, default_workload_factory, profile_loader)`` — the
  reference's runner, for surfaces that keep their sliders, profiles and evaluation function in
  Python. The KPI functions the evaluation calls (``ratchet.sizing``) are the engine's.
* ``PackRunner(pack)`` — the same ``point`` / ``sweep`` / ``pareto`` over a rule pack's sliders,
  profiles, workloads and KPIs (``packs/drone-soc``, a directory), evaluated entirely in the
  Rust engine: one call per sweep or grid, not one per point.

A slider's ``apply`` is a callable ``apply(profile, workload, value)`` that changes the maps in
place; ``set_path`` and ``scale_path`` build the two the reference's data uses.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, MutableMapping, Optional, Sequence

from .. import _core
from ..sizing import KpiResult, _kpis, chip_summary

__all__ = [
    "Slider",
    "SliderAction",
    "set_path",
    "scale_path",
    "default_values",
    "slider_categories",
    "apply_sliders",
    "WhatifRunner",
    "PackRunner",
    "PointResult",
    "SweepRow",
    "SweepResult",
    "ParetoResult",
]

Action = Callable[[MutableMapping[str, Any], MutableMapping[str, Any], float], None]


@dataclass(frozen=True)
class SliderAction:
    """A slider action as data: ``op`` (``set`` or ``scale``) the dotted ``path`` of the
    ``target`` map (``profile`` or ``workload``) with the clamped value. Callable like any
    action."""

    op: str
    target: str
    path: str

    def __post_init__(self) -> None:
        if self.op not in ("set", "scale"):
            raise ValueError(f"slider action op must be `set` or `scale`, got `{self.op}`")
        if self.target not in ("profile", "workload"):
            raise ValueError(f"slider action target must be `profile` or `workload`, got `{self.target}`")

    def __call__(self, profile: MutableMapping[str, Any], workload: MutableMapping[str, Any], value: float) -> None:
        d = profile if self.target == "profile" else workload
        (_set_path if self.op == "set" else _scale_path)(d, self.path, value)


def set_path(target: str, path: str) -> SliderAction:
    """An action that sets ``path`` of the ``target`` map to the slider's value."""
    return SliderAction("set", target, path)


def scale_path(target: str, path: str) -> SliderAction:
    """An action that multiplies ``path`` of the ``target`` map by the slider's value."""
    return SliderAction("scale", target, path)


@dataclass(frozen=True)
class Slider:
    """An assumption knob: its value is clamped to ``[min_val, max_val]`` before ``apply``
    runs; ``apply=None`` is an informational slider. ``step`` and ``affects`` are for display."""

    name: str
    description: str
    category: str
    units: str
    default: float
    min_val: float
    max_val: float
    step: float = 1.0
    affects: List[str] = field(default_factory=list)
    apply: Optional[Action] = None

    def clamp(self, value: float) -> float:
        """``value`` within the slider's range (the step is not enforced)."""
        return max(self.min_val, min(self.max_val, value))


def _set_path(d: MutableMapping[str, Any], path: str, value: Any) -> None:
    """Sets ``a.b.c`` of ``d``, creating missing intermediate maps."""
    *head, last = path.split(".")
    for k in head:
        d = d.setdefault(k, {})
    d[last] = value


def _scale_path(d: MutableMapping[str, Any], path: str, factor: float) -> None:
    """Multiplies ``a.b.c`` of ``d`` by ``factor`` (``KeyError`` when a part is missing)."""
    *head, last = path.split(".")
    for k in head:
        d = d[k]
    d[last] = d[last] * factor


def default_values(catalog: Sequence[Slider]) -> Dict[str, float]:
    """Every slider's default, in catalog order."""
    return {s.name: s.default for s in catalog}


def slider_categories(catalog: Sequence[Slider]) -> Dict[str, List[Slider]]:
    """The sliders grouped by category, in order of first appearance."""
    out: Dict[str, List[Slider]] = {}
    for s in catalog:
        out.setdefault(s.category, []).append(s)
    return out


def apply_sliders(
    catalog: Sequence[Slider],
    profile: MutableMapping[str, Any],
    workload: MutableMapping[str, Any],
    values: Mapping[str, float],
) -> None:
    """Runs each slider's action with its clamped value, in the order of ``values``;
    names not in the catalog and informational sliders are skipped. Changes the maps in place."""
    by_name = {s.name: s for s in catalog}
    for name, v in values.items():
        s = by_name.get(name)
        if s is None or s.apply is None:
            continue
        s.apply(profile, workload, s.clamp(v))


@dataclass(frozen=True)
class PointResult:
    """One what-if point: the KPIs of a profile with slider overrides, and their summary."""

    profile: str
    overrides: Dict[str, float]
    kpis: List[KpiResult]
    summary: Dict[str, Any]


@dataclass(frozen=True)
class SweepRow:
    """One value of a swept slider."""

    value: float
    summary: Dict[str, Any]
    kpis: List[KpiResult]


@dataclass(frozen=True)
class SweepResult:
    """A slider swept from its minimum to its maximum."""

    profile: str
    slider: str
    base_overrides: Dict[str, float]
    rows: List[SweepRow]


@dataclass(frozen=True)
class ParetoResult:
    """Two sliders over a grid; ``cells[y_index][x_index]`` is a chip summary."""

    profile: str
    x_slider: str
    y_slider: str
    base_overrides: Dict[str, float]
    xs: List[float]
    ys: List[float]
    cells: List[List[Dict[str, Any]]]


def _steps(s: Slider, steps: int) -> List[float]:
    n = max(2, steps)
    span = s.max_val - s.min_val
    return [s.min_val + ((span * i) / (n - 1)) for i in range(n)]


class WhatifRunner:
    """The reference's what-if runner over Python sliders, profiles and evaluation.

    ``evaluate(profile, workload)`` returns the KPI list; ``default_workload_factory()`` the
    workload (deep-copied per point); ``profile_loader(name)`` a fresh profile map. Every
    slider is applied with its default first (the reference's behaviour), then the overrides.
    """

    def __init__(
        self,
        catalog: Sequence[Slider],
        evaluate: Callable[[Dict[str, Any], Dict[str, Any]], List[KpiResult]],
        default_workload_factory: Callable[[], Dict[str, Any]],
        profile_loader: Callable[[str], Dict[str, Any]],
    ) -> None:
        self.catalog = list(catalog)
        self.evaluate = evaluate
        self.default_workload_factory = default_workload_factory
        self.profile_loader = profile_loader
        self._by_name = {s.name: s for s in self.catalog}

    def _slider(self, name: str) -> Slider:
        s = self._by_name.get(name)
        if s is None:
            raise KeyError(f"Unknown slider: {name}")
        return s

    def build_state(self, profile_name: str, overrides: Optional[Mapping[str, float]] = None):
        """The profile and workload of a point: defaults, then overrides, applied in place."""
        profile = self.profile_loader(profile_name)
        workload = copy.deepcopy(self.default_workload_factory())
        values = default_values(self.catalog)
        values.update(overrides or {})
        apply_sliders(self.catalog, profile, workload, values)
        return profile, workload

    def _kpis(self, profile_name: str, overrides: Mapping[str, float]) -> List[KpiResult]:
        profile, workload = self.build_state(profile_name, overrides)
        return list(self.evaluate(profile, workload))

    def point(self, profile: str, overrides: Optional[Mapping[str, float]] = None) -> PointResult:
        """The KPIs and summary of one profile with slider overrides."""
        ov = dict(overrides or {})
        kpis = self._kpis(profile, ov)
        return PointResult(profile=profile, overrides=ov, kpis=kpis, summary=chip_summary(kpis))

    def sweep(
        self, profile: str, slider: str, steps: int = 10, base_overrides: Optional[Mapping[str, float]] = None
    ) -> SweepResult:
        """``slider`` from its minimum to its maximum in ``max(2, steps)`` values."""
        s = self._slider(slider)
        base = dict(base_overrides or {})
        rows = []
        for v in _steps(s, steps):
            kpis = self._kpis(profile, {**base, slider: v})
            rows.append(SweepRow(value=v, summary=chip_summary(kpis), kpis=kpis))
        return SweepResult(profile=profile, slider=slider, base_overrides=base, rows=rows)

    def pareto(
        self,
        profile: str,
        x: str,
        y: str,
        steps_x: int = 10,
        steps_y: int = 10,
        base_overrides: Optional[Mapping[str, float]] = None,
    ) -> ParetoResult:
        """Chip summaries over an x × y grid of two sliders (y outer)."""
        sx = self._slider(x)
        sy = self._slider(y)
        base = dict(base_overrides or {})
        xs, ys = _steps(sx, steps_x), _steps(sy, steps_y)
        cells = [[chip_summary(self._kpis(profile, {**base, x: xv, y: yv})) for xv in xs] for yv in ys]
        return ParetoResult(profile=profile, x_slider=x, y_slider=y, base_overrides=base, xs=xs, ys=ys, cells=cells)


@dataclass(frozen=True)
class _PackAction:
    """A pack slider's actions (formulas of the pack), run by the engine on the maps. The
    maps travel as JSON and their contents are replaced by the engine's answer (so values
    must be JSON values; nested maps are new objects afterwards)."""

    pack: str
    slider: str

    def __call__(self, profile: MutableMapping[str, Any], workload: MutableMapping[str, Any], value: float) -> None:
        out = _core.ask(
            "apply_sliders", pack=self.pack, profile=dict(profile), workload=dict(workload), values={self.slider: value}
        )
        for d, new in ((profile, out["profile"]), (workload, out["workload"])):
            d.clear()
            d.update(new)


class PackRunner:
    """``point`` / ``sweep`` / ``pareto`` over a rule pack (a shipped pack name such as
    ``"drone-soc"`` or a pack directory), evaluated in the Rust engine. ``workload`` names one
    of the pack's workloads (its default when absent); a ``profile`` of ``None`` is the pack's
    default profile."""

    def __init__(self, pack: str, workload: Optional[str] = None) -> None:
        self.pack = str(pack)
        self.workload = workload

    @property
    def sliders(self) -> List[Slider]:
        """The pack's sliders; each one's ``apply`` runs the pack's actions in the engine."""
        out = []
        for d in _core.ask("sliders", pack=self.pack):
            out.append(
                Slider(
                    name=d["name"],
                    description=d.get("description", ""),
                    category=d["category"],
                    units=d["units"],
                    default=d["default"],
                    min_val=d["min_val"],
                    max_val=d["max_val"],
                    step=d.get("step", 1.0),
                    affects=list(d.get("affects", [])),
                    apply=_PackAction(self.pack, d["name"]) if d.get("apply") else None,
                )
            )
        return out

    def profile(self, name: str) -> Dict[str, Any]:
        """A fresh copy of one of the pack's profiles."""
        return _core.ask("sizing_doc", pack=self.pack, kind="profile", name=name)

    def workload_doc(self, name: str) -> Dict[str, Any]:
        """A fresh copy of one of the pack's workloads."""
        return _core.ask("sizing_doc", pack=self.pack, kind="workload", name=name)

    def default_values(self) -> Dict[str, float]:
        """The pack's slider defaults, in catalog order."""
        return _core.ask("default_values", pack=self.pack)

    def point(self, profile: Optional[str] = None, overrides: Optional[Mapping[str, float]] = None) -> PointResult:
        """The KPIs and summary of one profile with slider overrides."""
        out = _core.ask(
            "whatif_point", pack=self.pack, workload=self.workload, profile=profile, overrides=dict(overrides or {})
        )
        return PointResult(
            profile=out["profile"], overrides=out["overrides"], kpis=_kpis(out["kpis"]), summary=out["summary"]
        )

    def sweep(
        self, profile: Optional[str], slider: str, steps: int = 10, base_overrides: Optional[Mapping[str, float]] = None
    ) -> SweepResult:
        """``slider`` from its minimum to its maximum in ``max(2, steps)`` values, in one call."""
        out = _core.ask(
            "whatif_sweep",
            pack=self.pack,
            workload=self.workload,
            profile=profile,
            slider=slider,
            steps=max(2, steps),
            base_overrides=dict(base_overrides or {}),
        )
        rows = [SweepRow(value=r["value"], summary=r["summary"], kpis=_kpis(r["kpis"])) for r in out["rows"]]
        return SweepResult(profile=out["profile"], slider=out["slider"], base_overrides=out["base_overrides"], rows=rows)

    def pareto(
        self,
        profile: Optional[str],
        x: str,
        y: str,
        steps_x: int = 10,
        steps_y: int = 10,
        base_overrides: Optional[Mapping[str, float]] = None,
    ) -> ParetoResult:
        """Chip summaries over an x × y grid of two sliders (y outer), in one call."""
        out = _core.ask(
            "whatif_pareto",
            pack=self.pack,
            workload=self.workload,
            profile=profile,
            x=x,
            y=y,
            steps_x=max(2, steps_x),
            steps_y=max(2, steps_y),
            base_overrides=dict(base_overrides or {}),
        )
        return ParetoResult(
            profile=out["profile"],
            x_slider=out["x_slider"],
            y_slider=out["y_slider"],
            base_overrides=out["base_overrides"],
            xs=out["xs"],
            ys=out["ys"],
            cells=out["cells"],
        )
