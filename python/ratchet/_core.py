"""The engine behind the package: one loaded ``ratchet._native.Engine`` and the request
helper every module uses. Requests are the batch protocol of ``docs/api.md``; answers come
back as JSON and errors as the reference's exception types."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple, Union

from . import _native

_ENGINE: Optional[_native.Engine] = None
# bumped by every load: what an object was sent as under another engine is sent anew
_GENERATION = 0

# What the package's higher modules hand down, so that this module imports none of them
# (imports go one way: they import `_core`, never the reverse):
# - the callbacks `load` runs after making the new engine, as (order, n, fn), run in order;
_LOAD_HOOKS: List[Tuple[float, int, Callable[[], None]]] = []
# - the result classes `project_llm` answers with (`_types` sets them when imported);
_RESULT_CLASSES: Optional[Tuple[type, type, type]] = None
# - the checks for a registry tier or catalog model object, sent by its name (`wire`).
_CANONICAL: List[Callable[[str, Any], bool]] = []

PathLike = Union[str, "os.PathLike[str]"]


def load(
    registry: Optional[PathLike] = None,
    rules: Union[None, str, PathLike, Sequence[Union[str, PathLike]]] = None,
    packs: Union[None, str, Sequence[str]] = None,
    anchors: Optional[PathLike] = None,
) -> "_native.Engine":
    """Loads (or reloads) the engine every function of the package answers with.

    ``registry``: a directory replacing the embedded registry. ``rules``: rule-set
    directories to layer and/or the name of the rule set to use (``"ratchet-0.3.2"`` for the
    reference bit for bit; ``"default"`` when absent). ``packs``: pack directories or shipped
    pack names. ``anchors``: a private anchor file (TOML). Raises ``ValueError`` with every
    diagnostic when the data is invalid. Tier constants and ``TIERS`` are re-read from the new
    engine.
    """
    global _ENGINE, _GENERATION
    _GENERATION += 1
    if rules is None:
        rules_list = None
    elif isinstance(rules, (str, os.PathLike)):
        rules_list = [os.fspath(rules)]
    else:
        rules_list = [os.fspath(r) for r in rules]
    if isinstance(packs, str):
        packs = [packs]
    _ENGINE = _registered(
        _native.Engine(
            registry=os.fspath(registry) if registry is not None else None,
            rules=rules_list,
            packs=list(packs) if packs is not None else None,
            anchors=os.fspath(anchors) if anchors is not None else None,
        )
    )
    # the constants follow the engine: tiers, catalog, tables, then the package's names
    for _order, _n, fn in sorted(_LOAD_HOOKS):
        fn()
    return _ENGINE


def on_load(fn: Callable[[], None], order: float) -> Callable[[], None]:
    """Has ``load`` call ``fn()`` after making its new engine; the callbacks run by ascending
    ``order`` (in registration order when equal). Returns ``fn``."""
    _LOAD_HOOKS.append((order, len(_LOAD_HOOKS), fn))
    return fn


def set_result_classes(projected: type, wont_fit: type, dtype_mismatch: type) -> None:
    """The classes ``project_llm``'s results are made as, on every engine (the one already
    made included)."""
    global _RESULT_CLASSES
    _RESULT_CLASSES = (projected, wont_fit, dtype_mismatch)
    if _ENGINE is not None:
        _ENGINE.register_results(*_RESULT_CLASSES)


def register_canonical(fn: Callable[[str, Any], bool]) -> Callable[[str, Any], bool]:
    """Has ``wire`` send an object as its name when ``fn(name, obj)`` is true: a registry
    tier or catalog model object of this engine. Returns ``fn``."""
    _CANONICAL.append(fn)
    return fn


def engine() -> "_native.Engine":
    """The loaded engine (the embedded data and rules unless ``load`` said otherwise)."""
    global _ENGINE
    if _ENGINE is None:
        env_rules = os.environ.get("RATCHET_RULES")
        _ENGINE = _registered(
            _native.Engine(rules=[env_rules] if env_rules else None, anchors=os.environ.get("RATCHET_ANCHORS"))
        )
    return _ENGINE


def _registered(eng: "_native.Engine") -> "_native.Engine":
    """``eng`` answering ``project_llm`` with the package's result objects."""
    if _RESULT_CLASSES is not None:
        eng.register_results(*_RESULT_CLASSES)
    return eng


def to_json(v: Any) -> Any:
    """A value as the engine's JSON: dataclasses by field (with their extension fields)."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        out = {}
        for f in dataclasses.fields(v):
            if f.name == "extensions":
                continue
            out[f.name] = to_json(getattr(v, f.name))
        out.update(getattr(v, "extensions", None) or {})
        return out
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    if isinstance(v, enum.Enum):
        return v.value
    return v


def wire(v: Any) -> str:
    """What a model or tier argument is sent as: a name as itself; a registry tier or catalog
    model object (unchanged, of this engine) as its name; any other object as its JSON, worked
    out once per object (they are frozen) and per engine."""
    if isinstance(v, str):
        return v
    cached = getattr(v, "_ratchet_wire", None)
    if cached is not None and cached[0] == _GENERATION:
        return cached[1]
    name = getattr(v, "name", None) if hasattr(v, "mem_bandwidth_gbs") else getattr(v, "key", None)
    if name is not None and any(is_canonical(name, v) for is_canonical in _CANONICAL):
        text = name
    else:
        text = json.dumps(to_json(v))
    try:
        object.__setattr__(v, "_ratchet_wire", (_GENERATION, text))
    except (AttributeError, TypeError):  # pragma: no cover - objects without a __dict__
        pass
    return text


def _raise(err: dict) -> None:
    kind = err.get("kind", "")
    msg = err.get("message", "")
    if kind == "unknown_key":
        raise KeyError(msg)
    if kind == "division_by_zero":
        raise ZeroDivisionError(msg)
    if kind == "type_error":
        raise TypeError(msg)
    raise ValueError(msg)


def ask(op: str, **kw: Any) -> Any:
    """One request: ``op`` with keyword inputs (``None`` inputs are left out)."""
    req = {"op": op}
    for k, v in kw.items():
        if v is not None:
            req[k] = to_json(v)
    out = json.loads(engine().ask(json.dumps(req)))
    if isinstance(out, dict) and set(out) == {"error"}:
        _raise(out["error"])
    return out


def ask_many(requests: Iterable[dict]) -> list:
    """Many requests in one call into the engine; each answer, or an ``{"error": ...}``."""
    lines = [json.dumps(to_json(r)) for r in requests]
    return [json.loads(x) for x in engine().ask_many(lines)]


def result(out: Any) -> Any:
    """The ``result`` of a scalar answer."""
    if isinstance(out, dict) and "result" in out and len(out) == 1:
        return out["result"]
    return out
