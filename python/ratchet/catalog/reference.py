"""The reference catalog's models as constants (``QWEN3_30B_A3B_MOE_Q4``, ...): each catalog
model of the loaded registry as ``<KEY>`` and, for a 4-bit quant, ``<KEY>_Q4``."""

from __future__ import annotations

from . import REFERENCE_MODELS, _refresh

if not REFERENCE_MODELS:
    _refresh()

for _key, _m in REFERENCE_MODELS.items():
    _name = "".join(c if c.isalnum() else "_" for c in _key).upper()
    globals()[_name] = _m
    if _m.quant_scheme.upper().startswith("Q4"):
        globals()[_name + "_Q4"] = _m

del _key, _m, _name
