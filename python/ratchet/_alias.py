"""The reference package's module paths (``ratchet.tiers.registry``, ``ratchet.engine.kpi``,
…) as thin modules over this package's own. Each name is looked up when it is read, so a
name that ``ratchet.load`` rebinds — a tier constant, the catalog, a capability table — is
always the loaded engine's, never the one bound when the module was first imported."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List, Tuple


def forward(module: str, names: Dict[str, str]) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """A module's ``__getattr__`` and ``__dir__`` serving ``names`` (name → the module of
    this package that holds it)."""

    def __getattr__(name: str) -> Any:
        source = names.get(name)
        if source is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return getattr(importlib.import_module(source), name)

    def __dir__() -> List[str]:
        return sorted(names)

    return __getattr__, __dir__
