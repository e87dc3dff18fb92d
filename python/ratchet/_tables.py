"""The registry's tables under the reference's constant names, re-read on every
``ratchet.load`` (the dicts and lists are updated in place, so ``from ratchet import
DTYPE_ATTR_MAP`` stays current)."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple

from . import _core
from ._types import CapabilityInfo

DTYPE_ATTR_MAP: Dict[str, str] = {}
QUANT_SCHEME_CAPABILITY_KEY: Dict[str, str] = {}
BYTES_PER_PARAM: Dict[str, float] = {}
GGUF_SIZE_GB: Dict[str, float] = {}
PRECISION_SET_COMPUTE_DTYPE: Dict[str, str] = {}
PRECISION_SET_CAPABILITY: Dict[str, str] = {}
PRECISION_SET_ZEROED_PEAK_TOPS: Dict[str, List[str]] = {}
MEMORY_UPGRADE_OPTIONS: List[Tuple[str, str, float]] = []
SILICON_CLASS_DEFAULTS: Dict[str, Dict[str, Any]] = {}
BADGE_FOR_SOURCE: Dict[str, str] = {}
CAPABILITY_TABLES: Dict[str, Dict[str, CapabilityInfo]] = {}
# a number: rebound on every load (and `ratchet.ACTIVE_PARAMS` with it)
ACTIVE_PARAMS: float = 0.0

_DICTS = [
    "DTYPE_ATTR_MAP",
    "QUANT_SCHEME_CAPABILITY_KEY",
    "BYTES_PER_PARAM",
    "GGUF_SIZE_GB",
    "PRECISION_SET_COMPUTE_DTYPE",
    "PRECISION_SET_CAPABILITY",
    "PRECISION_SET_ZEROED_PEAK_TOPS",
    "SILICON_CLASS_DEFAULTS",
    "BADGE_FOR_SOURCE",
]


def _refresh() -> None:
    """Re-reads the tables from the engine (after ``ratchet.load``; the package re-publishes
    the capability tables and ``ACTIVE_PARAMS`` under its own names)."""
    t = json.loads(_core.engine().reference_tables())
    g = globals()
    for name in _DICTS:
        g[name].clear()
        g[name].update(t[name])
    MEMORY_UPGRADE_OPTIONS[:] = [tuple(o) for o in t["MEMORY_UPGRADE_OPTIONS"]]
    CAPABILITY_TABLES.clear()
    for name, rows in t["capability_tables"].items():
        CAPABILITY_TABLES[name] = {k: CapabilityInfo(r["level"], r["reason"]) for k, r in rows.items()}
        g[name] = CAPABILITY_TABLES[name]
    g["ACTIVE_PARAMS"] = t["ACTIVE_PARAMS"]


# `load` re-reads the tables after the tiers and the catalog
_core.on_load(_refresh, 30)


def _enum(name: str, values) -> "enum.EnumMeta":
    import enum

    return enum.Enum(name, {v.upper(): v for v in values}, type=str, module="ratchet")


def enums():
    """``SiliconClass`` and ``NpuPrecisionSet`` from the registry's tables (as loaded at
    import)."""
    return _enum("SiliconClass", SILICON_CLASS_DEFAULTS), _enum("NpuPrecisionSet", PRECISION_SET_COMPUTE_DTYPE)
