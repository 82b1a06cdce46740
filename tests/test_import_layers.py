"""Modules import only modules below them: no import circle anywhere in hwpower (issue 16, "one place
per idea"), counting imports inside functions too. Imports under ``if TYPE_CHECKING:`` are left out:
they are for type checkers and never run. The top-level package is left out as well: its lazy API
(``hwpower.Oracle`` and the rest) reaches every package by design, and nothing imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "hwpower"
PACKAGES = sorted({".".join(p.relative_to(ROOT.parent).parts[:-1]) for p in ROOT.rglob("__init__.py")} - {"hwpower"})


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node, except the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        pkg = m if path.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                tgt = ".".join(base + ([node.module] if node.module else []))
                targets = [tgt, *(f"{tgt}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hwpower."):
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("hwpower.")]
            edges[m] |= {t for t in targets if t in mods and t != m}
    return edges


def _circles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_anywhere():
    edges = _edges(_modules())
    edges = {m: ts - {"hwpower"} for m, ts in edges.items() if m != "hwpower"}
    assert _circles(edges) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle_inside(package):
    edges = _edges(_modules())
    inside = {m: {t for t in ts if t == package or t.startswith(package + ".")}
              for m, ts in edges.items() if m == package or m.startswith(package + ".")}
    assert _circles(inside) == []


def test_only_the_command_line_builds_tables():
    for path in ROOT.rglob("*.py"):
        if "cli" in path.relative_to(ROOT).parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert "rich.table" not in text, path
