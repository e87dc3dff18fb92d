"""Tiers: ``TIERS`` (the registry, by name), the canonical tier constants, memory upgrades
and custom tiers. Everything comes from the loaded engine's registry."""

from __future__ import annotations

from typing import Dict, Optional

from .. import _core, _types
from .._types import Hardware

# the reference's constant for each canonical tier, by the tier's registry name
CANONICAL_CONSTANTS = {
    "NPU_LOW_LP4": "NPU Low-LP4",
    "NPU_LOW_LP5_32BIT": "NPU Low-LP5-32bit",
    "NPU_LOW_LP5_64BIT": "NPU Low-LP5-64bit",
    "NPU_LOW_LP5X": "NPU Low-LP5X",
    "IMX93_MEASURED": "i.MX 93 (2xA55, measured floor)",
    "IMX95_MEASURED": "NPU i.MX 95 (ground truth)",
    "NPU_MID": "NPU Mid",
    "NPU_HIGH": "NPU High",
    "RTX_5090_REFERENCE": "RTX 5090 (reference, measured)",
}

TIERS: Dict[str, Hardware] = {}


def tier(name: str) -> Hardware:
    """The registry tier ``name`` (``KeyError`` with a suggestion when there is none)."""
    return _types.hardware(_core.ask("resolve_tier", hw=name))


def _refresh() -> None:
    """Re-reads ``TIERS`` and the constants from the engine (after ``ratchet.load``; the
    package re-publishes the constants under its own names)."""
    TIERS.clear()
    for name in _core.engine().tier_names():
        TIERS[name] = tier(name)
    g = globals()
    for const, name in CANONICAL_CONSTANTS.items():
        if name in TIERS:
            g[const] = TIERS[name]


def _is_canonical(name: str, obj) -> bool:
    """Whether ``obj`` is the registry tier ``name`` of the loaded engine (sent by name)."""
    return TIERS.get(name) is obj


# the first of `load`'s refreshes: tiers, then the catalog, then the tables
_core.on_load(_refresh, 10)
_core.register_canonical(_is_canonical)


def hw_with_memory(hw: Hardware, mem_type: str, mem_data_rate_gtps: float, name_suffix: Optional[str] = None) -> Hardware:
    """``hw`` with another memory (type and data rate): bandwidth scaled by the bus, the
    stock figures kept, marked ``bw_projected``."""
    memory = {"mem_type": mem_type, "mem_data_rate_gtps": mem_data_rate_gtps}
    if name_suffix is not None:
        memory["name_suffix"] = name_suffix
    return _types.hardware(_core.ask("resolve_tier", hw={"base": _core.to_json(hw), "memory": memory}))


def make_custom_tier(**kwargs) -> Hardware:
    """A tier from a spec sheet and a silicon class (reference ``make_custom_tier``)."""
    out = _core.ask("make_custom_tier", **{k: v for k, v in kwargs.items()})
    return _types.hardware(out.get("hw", out) if isinstance(out, dict) else out)

