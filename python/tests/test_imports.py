"""The package's modules import one way: higher modules import lower ones, never the reverse.

Read from the source with `ast` (no built extension needed): every import of the package's own
modules, at module level and inside functions, makes an edge of the module graph, and the
graph has no cycle. `_core` imports only the extension, and no submodule imports the package
`ratchet` itself (its `__init__` imports them all: that edge is the normal direction, so a
submodule importing it back closes a cycle)."""

from __future__ import annotations

import ast
import pathlib
from typing import Dict, List, Optional, Tuple

PKG = "ratchet"
PKG_DIR = pathlib.Path(__file__).resolve().parents[1] / PKG
# modules that are no `.py` file: the extension maturin builds from python/src
EXTENSIONS = {"ratchet._native"}

# module -> (source, whether it is a package's `__init__`)
Sources = Dict[str, Tuple[str, bool]]
# module -> {imported module -> line of the first import}
Graph = Dict[str, Dict[str, int]]


def package_sources(root: pathlib.Path = PKG_DIR, top: str = PKG) -> Sources:
    """Every `.py` file under ``root`` by module name: ``catalog/__init__.py`` as
    ``ratchet.catalog``, ``catalog/reference.py`` as ``ratchet.catalog.reference``."""
    out: Sources = {}
    for path in sorted(root.rglob("*.py")):
        parts = [top, *path.relative_to(root).with_suffix("").parts]
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts.pop()
        out[".".join(parts)] = (path.read_text(encoding="utf-8"), is_pkg)
    return out


def _in_package(name: str, top: str) -> bool:
    return name == top or name.startswith(top + ".")


def _known(name: str, known: set) -> str:
    """The module ``name`` imports: itself, or its longest prefix that is a module."""
    while name not in known and "." in name:
        name = name.rpartition(".")[0]
    return name


def _from_base(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    """The absolute name of the module a ``from ... import`` reads from."""
    if node.level == 0:
        return node.module or ""
    pkg = mod if is_pkg else mod.rpartition(".")[0]
    for _ in range(node.level - 1):
        pkg = pkg.rpartition(".")[0]
    return f"{pkg}.{node.module}" if node.module else pkg


def _dynamic(node: ast.Call) -> Optional[str]:
    """The module of ``importlib.import_module("...")`` or ``__import__("...")`` with a
    constant name."""
    f = node.func
    callee = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
    if callee not in ("import_module", "__import__") or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and not arg.value.startswith("."):
        return arg.value
    return None


def imports_of(mod: str, source: str, is_pkg: bool, known: set, top: str = PKG) -> Dict[str, int]:
    """The package's modules ``mod`` imports anywhere in its source, with the line of the first
    import of each. ``from P import x`` imports ``P.x`` when that is a module, else ``P``
    (a name defined by ``P``); ``import P.x`` imports ``P.x``."""
    out: Dict[str, int] = {}

    def edge(target: str, line: int) -> None:
        if _in_package(target, top):
            target = _known(target, known)
            if target != mod:
                out.setdefault(target, line)

    for node in ast.walk(ast.parse(source, filename=mod)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                edge(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(mod, is_pkg, node)
            if not _in_package(base, top):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                edge(sub if sub in known else base, node.lineno)
        elif isinstance(node, ast.Call):
            name = _dynamic(node)
            if name is not None:
                edge(name, node.lineno)
    return out


def import_graph(sources: Sources, top: str = PKG, extensions=EXTENSIONS) -> Graph:
    known = set(sources) | set(extensions)
    graph: Graph = {m: imports_of(m, src, is_pkg, known, top) for m, (src, is_pkg) in sources.items()}
    for ext in extensions:
        graph.setdefault(ext, {})
    return graph


def _components(graph: Graph) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    on_stack: set = set()
    stack: List[str] = []
    found: List[List[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, {}))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, {})))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def _cycle_through(graph: Graph, comp: List[str]) -> List[str]:
    """A shortest cycle through the first module of ``comp`` (breadth first inside it)."""
    start = comp[0]
    members = set(comp)
    prev: Dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return [*reversed(path), start]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def cycles(graph: Graph) -> List[str]:
    """Each import cycle as ``a (line n) -> b (line m) -> ... -> a``, one per strongly
    connected component."""
    out = []
    for comp in _components(graph):
        path = _cycle_through(graph, comp)
        steps = [f"{a} (line {graph[a][b]})" for a, b in zip(path, path[1:])]
        out.append(" -> ".join([*steps, path[-1]]) + f"   [component: {', '.join(comp)}]")
    return out


def package_importers(graph: Graph, top: str = PKG) -> Dict[str, int]:
    """The submodules importing the package ``top`` itself (module: line)."""
    return {m: e[top] for m, e in graph.items() if top in e}


def test_the_package_modules_import_without_a_cycle():
    graph = import_graph(package_sources())
    # the reader sees the edges the package has (a check of the check)
    assert "ratchet._core" in graph["ratchet.tiers"]
    assert "ratchet._types" in graph["ratchet.catalog"]
    assert "ratchet.catalog" in graph["ratchet.catalog.reference"]
    assert {"ratchet.tiers", "ratchet.catalog", "ratchet._tables"} <= set(graph["ratchet"])
    found = cycles(graph)
    assert not found, "import cycles among the package's modules:\n  " + "\n  ".join(found)


def test_core_imports_only_the_extension():
    graph = import_graph(package_sources())
    assert set(graph["ratchet._core"]) <= EXTENSIONS, graph["ratchet._core"]


def test_no_submodule_imports_the_package_itself():
    graph = import_graph(package_sources())
    back = package_importers(graph)
    assert not back, f"modules importing the package `{PKG}` (module: line): {back}"


def test_a_cycle_is_found_wherever_the_import_is():
    base = {
        "ratchet": ("from . import _core, tiers\nfrom .catalog import REFERENCE_MODELS\n", True),
        "ratchet._core": ("from . import _native\n", False),
        "ratchet.tiers": ("from . import _core\nfrom ._core import engine\n", False),
        "ratchet.catalog": ("from .. import _core\nREFERENCE_MODELS = {}\n", True),
        "ratchet.catalog.reference": ("from . import REFERENCE_MODELS\n", False),
    }
    assert cycles(import_graph(base)) == []
    back_edges = [
        # a lazy import inside a function of a lower module
        ("ratchet._core", "def load():\n    from . import tiers\n"),
        # the package itself, by each spelling
        ("ratchet.tiers", "def _refresh():\n    import ratchet\n"),
        ("ratchet.catalog", "from ratchet import TIERS\n"),
        ("ratchet.catalog", "from .. import TIERS\n"),
        # a parent package importing the submodule that imports it
        ("ratchet.catalog", "from .reference import X\n"),
        # `import ratchet.x` and a dynamic import
        ("ratchet._core", "def f():\n    import ratchet.tiers\n"),
        ("ratchet._core", "import importlib\ndef f():\n    importlib.import_module('ratchet.tiers')\n"),
    ]
    for mod, code in back_edges:
        sources = dict(base)
        src, is_pkg = sources[mod]
        sources[mod] = (src + code, is_pkg)
        found = cycles(import_graph(sources))
        assert len(found) == 1 and mod in found[0], (mod, code, found)
    # a module nothing imports back importing the package: no cycle, still not allowed
    sources = dict(base)
    src, is_pkg = sources["ratchet.catalog.reference"]
    sources["ratchet.catalog.reference"] = (src + "from .. import TIERS\n", is_pkg)
    graph = import_graph(sources)
    assert cycles(graph) == [] and package_importers(graph) == {"ratchet.catalog.reference": 2}
    assert package_importers(import_graph(base)) == {}
