"""Layering: no module of the package is in an import cycle, and library code never imports a CLI.

Every ``import`` statement counts, including those inside functions (an import deferred into a
function still ties the two modules together). ``from pkg import name`` is an edge to ``pkg.name``
when that is a module, else to ``pkg``; importing ``a.b.c`` also runs the ``__init__`` of ``a.b``, so
that is an edge too. Only the root package ``vsrzoo`` (whose lazy attributes re-export the API) is
left out, as every submodule's parent.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vsrzoo

SRC = Path(vsrzoo.__file__).parent
ROOT = "vsrzoo"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of the package that ``name`` imports anywhere in its source."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_pkg else 0)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    found |= {parent for m in found for parent in parents(m)}
    return {m for m in found if m in modules and m != ROOT and m != name and not name.startswith(m + ".")}


def parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of module names, or None (iterative DFS, three colours)."""
    state: dict[str, int] = {}
    for start in sorted(edges):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(edges[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return path[path.index(child) :] + [child]
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(edges.get(child, ())))))
                path.append(child)
    return None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycles():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_library_never_imports_a_cli_module():
    edges = graph()
    offenders = {
        (src, dst)
        for src, deps in edges.items()
        if not src.startswith("vsrzoo.cli")
        for dst in deps
        if dst.startswith("vsrzoo.cli")
    }
    assert not offenders, sorted(offenders)
