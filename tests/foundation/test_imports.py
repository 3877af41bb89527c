"""Layering: every import points down the layer order (:data:`FLOORS`), no module of the package is
in an import cycle, and library code never imports a CLI.

Every ``import`` statement counts, including those inside functions (an import deferred into a
function still ties the two modules together). ``from pkg import name`` is an edge to ``pkg.name``
when that is a module, else to ``pkg``; importing ``a.b.c`` also runs the ``__init__`` of ``a.b``, so
that is an edge too. Only the root package ``vsrzoo`` (whose lazy attributes re-export the API) is
left out, as every submodule's parent.

The floors are the order README.md ("Development") states; a module imports only from its own
floor or below. A module that no prefix of :data:`FLOORS` covers fails too, so a new top-level
module is placed on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vsrzoo

SRC = Path(vsrzoo.__file__).parent
ROOT = "vsrzoo"

# Module prefix -> floor; the longest matching prefix decides. Imports go to the same floor or down.
FLOORS = {
    # 0: errors, the registry and the process-level helpers every floor may use
    "vsrzoo.errors": 0,
    "vsrzoo.quiet": 0,
    "vsrzoo.tables": 0,
    "vsrzoo.registry": 0,
    "vsrzoo.recipes": 0,
    "vsrzoo.runtime": 0,
    "vsrzoo.hub": 0,
    "vsrzoo.weight_files": 0,
    # 1: the parts methods are made of: networks, diffusion maths, data (incl. the training-pair flows)
    "vsrzoo.blocks": 1,
    "vsrzoo.backbones": 1,
    "vsrzoo.diffusion": 1,
    "vsrzoo.data": 1,
    # 2: the inference engine the methods stream through (segments over time, tiles over space)
    "vsrzoo.inference": 2,
    # 3: the methods (LightningModules)
    "vsrzoo.methods": 3,
    # 4: building and loading a method by name
    "vsrzoo.factory": 4,
    # 5: metrics (above the methods: a method never imports a metric)
    "vsrzoo.metrics": 5,
    # 6: front ends: training runner, training plans, file-level upscale, benchmark harness
    "vsrzoo.training": 6,
    "vsrzoo.schedule": 6,
    "vsrzoo.strategies": 6,
    "vsrzoo.planning": 6,
    "vsrzoo.upscaling": 6,
    "vsrzoo.bench": 6,
    # 7: the command line
    "vsrzoo.cli": 7,
}


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


def floor_of(module: str, floors: dict[str, int]) -> int | None:
    """The floor of the longest prefix of ``module`` (whole name parts) in ``floors``, or None."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in floors:
            return floors[prefix]
    return None


def layer_violations(edges: dict[str, set[str]], floors: dict[str, int]) -> list[str]:
    """One line per import that points up (``a -> b (floor 4 above floor 3)``) or per module without a floor."""
    out = [f"{m} has no floor" for m in sorted(edges) if m != ROOT and floor_of(m, floors) is None]
    for src in sorted(edges):
        here = floor_of(src, floors)
        for dst in sorted(edges[src]):
            there = floor_of(dst, floors)
            if here is not None and there is not None and there > here:
                out.append(f"{src} -> {dst} (floor {there} above floor {here})")
    return out


def test_layer_checker_finds_upward_edges_and_unplaced_modules():
    edges = {
        "vsrzoo.methods.train": {"vsrzoo.factory", "vsrzoo.data.io", "vsrzoo.methods.base"},
        "vsrzoo.methods.base": {"vsrzoo.inference.streaming", "vsrzoo.errors"},
        "vsrzoo.factory": {"vsrzoo.methods"},
        "vsrzoo.newthing": {"vsrzoo.errors"},
    }
    assert layer_violations(edges, FLOORS) == [
        "vsrzoo.newthing has no floor",
        "vsrzoo.methods.train -> vsrzoo.factory (floor 4 above floor 3)",
    ]
    assert floor_of("vsrzoo.inference.streaming", FLOORS) == 2
    assert floor_of("vsrzoo.inferencex", FLOORS) is None  # prefixes match whole name parts


def test_imports_follow_the_layer_order():
    violations = layer_violations(graph(), FLOORS)
    assert not violations, "imports against the layer order (README.md, Development):\n" + "\n".join(
        violations
    )


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
