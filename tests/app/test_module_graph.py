"""The import graph of ``ipgeo``: no cycles, and a core that runs without Flask.

Built from the source with :mod:`ast`, so it sees every import: at module level, inside
functions and under ``if TYPE_CHECKING:``. An import hidden in a function still ties two
modules together, and hiding one is how the old circle (db -> prepared -> checkdb -> db)
went unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ipgeo
import pytest

PACKAGE = Path(ipgeo.__file__).parent
ROOT = "ipgeo"
# The HTTP layer and the gunicorn glue (which preloads Flask in the master on purpose).
WEB = (
    "ipgeo.web",
    "ipgeo.wsgi",
    "ipgeo.asgi",
    "ipgeo.gunicorn_hooks",
    "ipgeo.workers",
    "ipgeo.asgi_worker",
)
FLASK = ("flask", "werkzeug")
LEAVES = ("ipgeo.errors", "ipgeo.types", "ipgeo.consts")

Graph = dict[str, set[str]]


def _module_name(path: Path, package: Path, root: str) -> str:
    parts = [root, *path.relative_to(package).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (``from .x import y`` in ``a.b`` -> a.x)."""
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    # A package's own name is its __init__'s package; a module's package is its parent.
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph(package: Path, root: str = ROOT) -> tuple[Graph, Graph]:
    """(edges between the package's modules, other top-level packages each module imports)."""
    files = {_module_name(p, package, root): p for p in sorted(package.rglob("*.py"))}
    # C extensions (ipgeo._speedups) are modules too, that import nothing of the package.
    extensions = {
        _module_name(p.with_name(p.name.split(".")[0] + ".py"), package, root)
        for pattern in ("*.c", "*.so", "*.pyd")
        for p in package.rglob(pattern)
    }
    internal: Graph = {name: set() for name in [*files, *extensions]}
    external: Graph = {name: set() for name in internal}

    def add(source: str, target: str) -> None:
        if target == root or target.startswith(root + "."):
            # "from . import x" names a module x when there is one, else a name in the package.
            while target not in internal and "." in target:
                target = target.rsplit(".", 1)[0]
            if target != source:
                internal[source].add(target)
        else:
            external[source].add(target.split(".")[0])

    for name, path in files.items():  # extensions have no edges
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(name, alias.name)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    add(name, candidate if candidate in internal else base)
    return internal, external


def find_cycle(graph: Graph) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def _reachable(graph: Graph, start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _is_web(name: str) -> bool:
    return any(name == w or name.startswith(w + ".") for w in WEB)


GRAPH, EXTERNAL = import_graph(PACKAGE)
CORE = sorted(n for n in GRAPH if n != ROOT and not _is_web(n))


def test_the_graph_sees_the_package():
    # A sanity check on the parser: modules and edges that are known to exist.
    assert {"ipgeo.db", "ipgeo.sources", "ipgeo.sources.mmdb", "ipgeo.web.app"} <= set(GRAPH)
    assert "ipgeo.sources" in GRAPH["ipgeo.checkdb"]
    assert "ipgeo.web.app" in GRAPH[ROOT]  # the lazy create_app, inside a function
    assert "flask" in EXTERNAL["ipgeo.web.app"]
    assert "ipgeo._speedups" in GRAPH["ipgeo.prepared"]  # a C extension, inside try


def test_no_import_cycles():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


@pytest.mark.parametrize("module", CORE)
def test_core_runs_without_flask(module):
    # Everything the module pulls in, transitively, must be Flask-free too.
    pulled = {(dep, ext) for dep in _reachable(GRAPH, module) for ext in EXTERNAL[dep]}
    flask = sorted(f"{dep} imports {ext}" for dep, ext in pulled if ext in FLASK)
    assert not flask, f"{module} needs Flask: {'; '.join(flask)}"


@pytest.mark.parametrize("module", CORE)
def test_core_never_imports_the_web_layer(module):
    web = sorted(dep for dep in _reachable(GRAPH, module) if _is_web(dep))
    assert not web, f"{module} reaches the web layer: {', '.join(web)}"


@pytest.mark.parametrize("module", LEAVES)
def test_leaves_import_nothing_of_ipgeo(module):
    assert GRAPH[module] == set()


def test_a_cycle_is_found(tmp_path):
    # The detector itself, on a package with a circle hidden in a function.
    pkg = tmp_path / "demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("from .c import thing\n")
    (pkg / "c.py").write_text("def thing():\n    from .a import x\n    return x\n")
    graph, _ = import_graph(pkg, "demo")
    assert find_cycle(graph) == ["demo.a", "demo.b", "demo.c", "demo.a"]
    (pkg / "c.py").write_text("def thing():\n    return 1\n")
    graph, _ = import_graph(pkg, "demo")
    assert find_cycle(graph) is None
