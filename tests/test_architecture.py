"""Layering rules, checked statically: the runtime import graph of the package, read from source with ``ast``.

Edges come only from explicit import statements (also inside functions); imports under ``if TYPE_CHECKING:`` are
type-only and left out, and so is the implicit import of a parent package's ``__init__``.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
Graph = dict[str, set[str]]


def package_dirs(root: Path) -> dict[str, str]:
    """The ``[tool.setuptools] package-dir`` mapping of pyproject.toml: package name -> folder."""
    return tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]


def modules(root: Path, mapping: dict[str, str]) -> dict[str, Path]:
    """Every module: dotted name -> file; a folder mapped to a package of its own is left to that mapping."""
    roots = {(root / folder).resolve(): pkg for pkg, folder in mapping.items()}
    found: dict[str, Path] = {}
    for path in sorted(p.resolve() for folder in roots for p in folder.rglob("*.py")):
        base = max((r for r in roots if path.is_relative_to(r)), key=lambda r: len(r.parts))
        parts = [roots[base], *path.relative_to(base).with_suffix("").parts]
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run at runtime: everything but the body of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.orelse:
                yield from _runtime_imports(ast.Module(body=[stmt], type_ignores=[]))
        else:
            yield from _runtime_imports(child)


def import_graph(root: Path, mapping: dict[str, str]) -> Graph:
    """Runtime import edges between the package's own modules: importer -> imported."""
    mods = modules(root, mapping)

    def known(name: str) -> str | None:  # the longest prefix of ``name`` that is one of our modules
        parts = name.split(".")
        return next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in mods), None)

    graph: Graph = {name: set() for name in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [known(alias.name) for alias in node.names]
            else:
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                base = ".".join(p for p in (base, node.module or "") if p)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else known(base) for a in node.names]
            graph[name].update(t for t in targets if t)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def describe(component: list[str], graph: Graph) -> str:
    """One cycle through a component, as ``a -> b -> a``."""
    path, members = [component[0]], set(component)
    while True:
        step = sorted(graph[path[-1]] & members)
        nxt = next((w for w in step if w not in path), step[0])
        path.append(nxt)
        if nxt in path[:-1]:
            return " -> ".join(path[path.index(nxt) :])


GRAPH = import_graph(REPO, package_dirs(REPO))


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_import_cycles() -> None:
    """A cycle makes import order matter and the layers meaningless: each module must be importable on its own terms."""
    assert "screenalytics.pipeline" in GRAPH and "screenalytics.plugins.arcface" in GRAPH
    found = cycles(GRAPH)
    assert not found, "import cycles:\n" + "\n".join(describe(c, GRAPH) for c in found)


def test_core_imports_no_plugin_module() -> None:
    """Built-in plugins are registered through entry points, like third-party ones; the core must not reach for them."""
    bad = [f"{a} -> {b}" for a, bs in GRAPH.items() if not _under(a, "screenalytics.plugins") for b in bs]
    bad = [e for e in bad if _under(e.split(" -> ")[1], "screenalytics.plugins")]
    assert not bad, "core modules importing plugins:\n" + "\n".join(sorted(bad))


def test_hookspecs_import_only_the_data_layer() -> None:
    """Plugins import the hookspecs; were they to pull in the pipeline, every plugin would drag the whole core along."""
    assert "screenalytics.hookspecs" in GRAPH
    bad = sorted(m for m in GRAPH["screenalytics.hookspecs"] if not _under(m, "screenalytics.model"))
    assert not bad, f"screenalytics.hookspecs imports beyond the data layer: {bad}"


def test_the_data_layer_stands_alone() -> None:
    """The model is what every layer shares; it may depend on nothing but itself and the error types."""
    layer = [m for m in GRAPH if _under(m, "screenalytics.model")]
    assert len(layer) > 1
    allowed = {"screenalytics.errors"}
    bad = sorted(f"{a} -> {b}" for a in layer for b in GRAPH[a] if not _under(b, "screenalytics.model") and b not in allowed)
    assert not bad, "the data layer imports upward:\n" + "\n".join(bad)


FRONT_DOORS = ("screenalytics.cli", "screenalytics.mcp_servers", "screenalytics.agents", "screenalytics.playbook")


def test_the_service_layer_knows_no_front_door() -> None:
    """The CLI, MCP servers, agents and playbooks are thin calls into the service; the service never calls back up."""
    inner = [m for m in GRAPH if not any(_under(m, d) for d in FRONT_DOORS) and m != "screenalytics.__main__"]
    assert "screenalytics.service.operations" in inner and "screenalytics.mcp_servers.tools" in GRAPH
    bad = sorted(f"{a} -> {b}" for a in inner for b in GRAPH[a] if any(_under(b, d) for d in FRONT_DOORS))
    assert not bad, "the service layer imports a front door:\n" + "\n".join(bad)


def test_the_checker_sees_a_cycle(tmp_path: Path) -> None:
    """The checks above pass vacuously if the analysis is blind; on a package with a known cycle it must find it."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "sub" / "__init__.py").write_text("")
    (src / "a.py").write_text("from typing import TYPE_CHECKING\nfrom pkg.sub import b\nif TYPE_CHECKING:\n    from . import c\n")
    (src / "sub" / "b.py").write_text("def f():\n    from ..a import thing\n")
    (src / "c.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    import pkg.a\nelse:\n    import pkg.sub\n")
    graph = import_graph(tmp_path, {"pkg": "src"})
    assert graph == {"pkg": set(), "pkg.sub": set(), "pkg.a": {"pkg.sub.b"}, "pkg.sub.b": {"pkg.a"}, "pkg.c": {"pkg.sub"}}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]
    assert describe(cycles(graph)[0], graph) == "pkg.a -> pkg.sub.b -> pkg.a"
