"""Silicon anchors: private measured points per (tier, precision, model), read from the
anchor file given to ``ratchet.load(anchors=...)`` (or ``RATCHET_ANCHORS``), and the route
from a tier and capability key to an anchor's (tier, precision)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import json

from .. import _core, _types
from .._types import Hardware

# what a cell leaves out takes the registry's defaults (`anchor_routes.ron`
# `field_defaults`), as loaded at import
_FIELD_DEFAULTS = json.loads(_core.engine().reference_tables())["ANCHOR_FIELD_DEFAULTS"]


class _Derived:
    """The derived quantities both anchor kinds have, worked out by the rule set (``_OP``
    names its batch operation)."""

    _OP = ""

    @property
    def badge(self) -> str:
        """The badge of the anchor's source (``""`` when the registry has none)."""
        return _derived(self._OP, self, None)["badge"]

    def achieved_bw_gbps(self, share_override: Optional[float] = None) -> float:
        """Peak bandwidth × share (``share_override`` or the anchor's) × efficiency, as the
        rule set works it out for this kind of anchor."""
        return _derived(self._OP, self, share_override)["achieved_bw_gbps"]


@dataclass(frozen=True)
class LLMAnchor(_Derived):
    """A measured LLM point on an anchor tier."""

    _OP = "llm_anchor_methods"

    tokps: float
    prefill_tokps: float = 0.0
    mem_gb: float = 0.0
    seqlen: int = 0
    source: str = ""
    measured_date: str = ""
    peak_bw_gbps: float = 0.0
    bw_share_frac: float = _FIELD_DEFAULTS["bw_share_frac"]
    bw_efficiency_frac: float = _FIELD_DEFAULTS["bw_efficiency_frac"]
    notes: str = ""

    def bytes_per_token(self, share_override: Optional[float] = None) -> float:
        """Bytes read per decoded token at the achieved bandwidth (0 when ``tokps`` ≤ 0)."""
        return _derived("llm_anchor_methods", self, share_override)["bytes_per_token"]


@dataclass(frozen=True)
class CNNAnchor(_Derived):
    """A measured CNN point on an anchor tier."""

    _OP = "cnn_anchor_methods"

    ms_per_inference: float
    fps: float = 0.0
    mem_mb: float = 0.0
    input_res: str = ""
    source: str = ""
    measured_date: str = ""
    peak_bw_gbps: float = 0.0
    bw_share_frac: float = _FIELD_DEFAULTS["bw_share_frac"]
    bw_efficiency_frac: float = _FIELD_DEFAULTS["bw_efficiency_frac"]
    notes: str = ""


def _derived(op: str, anchor, share: Optional[float]) -> dict:
    return _core.result(_core.ask(op, anchor=anchor, share_override=share))


def load_llm_anchor(tier: str, precision: str, model_key: str) -> Optional[LLMAnchor]:
    """The anchor of ``model_key`` at (``tier``, ``precision``), or ``None`` (also when no
    anchor file is loaded)."""
    out = _core.result(_core.ask("load_llm_anchor", tier=tier, precision=precision, model_key=model_key))
    return None if out is None else _types._build(LLMAnchor, out)


def load_cnn_anchor(tier: str, precision: str, cnn_key: str) -> Optional[CNNAnchor]:
    """The anchor of ``cnn_key`` at (``tier``, ``precision``), or ``None``."""
    out = _core.result(_core.ask("load_cnn_anchor", tier=tier, precision=precision, cnn_key=cnn_key))
    return None if out is None else _types._build(CNNAnchor, out)


def hw_to_anchor_tier_precision(hw: Hardware, capability_key: str) -> Optional[Tuple[str, str]]:
    """The anchor (tier, precision) a tier's capability key routes to, or ``None``."""
    out = _core.result(_core.ask("hw_to_anchor_tier_precision", hw=hw, capability_key=capability_key))
    return None if out is None else tuple(out)




def overlay_llm_anchor(
    result,
    hw: Hardware,
    model,
    catalog_to_spec_key=None,
    decode_mult: float = 1.0,
    ttft_mult: float = 1.0,
):
    """``result`` (a ``Projected``) with the private silicon anchor of its model on ``hw``
    applied, when the loaded anchor file has one; otherwise ``result`` itself.
    ``catalog_to_spec_key`` maps the catalog key to the anchor file's key: ``None`` (the same
    key), a dict (absent keys: no anchor) or a callable returning a key or ``None``."""
    from .._types import Projected

    if not isinstance(result, Projected):
        return result
    d = _core.to_json(result)
    d["type"] = "Projected"
    key = result.model_key
    if catalog_to_spec_key is None:
        spec_map = None
    elif isinstance(catalog_to_spec_key, dict):
        spec_map = catalog_to_spec_key
    else:
        k = catalog_to_spec_key(key)
        spec_map = {key: k} if k is not None else {}
    out = _core.ask(
        "overlay_llm_anchor",
        result=d,
        hw=hw,
        model=model,
        spec_key_map=spec_map,
        decode_mult=decode_mult,
        ttft_mult=ttft_mult,
    )
    if out == d:
        return result
    return _types.projection(out)


__all__ = ["LLMAnchor", "CNNAnchor", "load_llm_anchor", "load_cnn_anchor", "hw_to_anchor_tier_precision", "overlay_llm_anchor"]
