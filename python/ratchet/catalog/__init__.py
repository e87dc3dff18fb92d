"""The model catalog: ``REFERENCE_MODELS`` (every model of the loaded registry's catalog, by
key), ``lookup_model`` and ``resolve_measurement_key``."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional, Union

from .. import _core, _types
from .._types import LLMModel

REFERENCE_MODELS: Dict[str, LLMModel] = {}


def _model(key: str) -> LLMModel:
    found = _core.result(_core.ask("lookup_model", key=key))
    if found is None:
        raise KeyError(f"unknown model `{key}`")
    return _types.model(found)


def _refresh() -> None:
    REFERENCE_MODELS.clear()
    for key in _core.engine().model_keys():
        REFERENCE_MODELS[key] = _model(key)


def _is_canonical(name: str, obj) -> bool:
    """Whether ``obj`` is the catalog model ``name`` of the loaded engine (sent by name)."""
    return REFERENCE_MODELS.get(name) is obj


# `load` re-reads the catalog after the tiers
_core.on_load(_refresh, 20)
_core.register_canonical(_is_canonical)


def lookup_model(key: str, catalog: "Union[str, Mapping[str, LLMModel]]" = "REFERENCE_MODELS") -> Optional[LLMModel]:
    """The catalog entry ``key`` names (an ``LLMModel``), or ``None``, as the reference
    answers. ``catalog`` is a mapping of key to model (a surface's own catalog), or the
    reference's name of the catalog searched: the loaded registry's."""
    if not isinstance(catalog, str):
        return catalog.get(key)
    found = _core.result(_core.ask("lookup_model", key=key))
    if not isinstance(found, dict):
        return None
    return REFERENCE_MODELS.get(found["key"]) or _types.model(found)


def resolve_measurement_key(model: LLMModel) -> str:
    """The key a model's measurements are filed under (its measurement alias, or its key)."""
    return _core.result(_core.ask("resolve_measurement_key", model=model))


def import_model(
    config: "Union[str, os.PathLike, Mapping[str, Any]]",
    quant: Optional[str] = None,
    name: Optional[str] = None,
    *,
    report: bool = False,
) -> Any:
    """An ``LLMModel`` from a Hugging Face ``config.json`` (a path, or the parsed object), read
    through the registry's architecture table as ``ratchet model import`` reads it
    (docs/models.md): its real parameter count, attention layout (sliding windows, latent
    attention, state layers) and experts, stored in ``quant`` (default: the checkpoint's own).
    With ``report=True``, ``(model, report)``: the import's architecture, tensor groups,
    layers by kind and notes."""
    source = None
    if isinstance(config, (str, os.PathLike)):
        source = os.fspath(config)
        with open(source, encoding="utf-8") as f:
            config = json.load(f)
    out = _core.ask("import_model", config=dict(config), quant=quant, name=name, source=source)
    model = _types.model(out["model"])
    if report:
        return model, {k: v for k, v in out.items() if k != "model"}
    return model


__all__ = ["REFERENCE_MODELS", "LLMModel", "import_model", "lookup_model", "resolve_measurement_key"]
