"""No import cycles between the repository's modules, function-local imports included.

Imports are read from the source with `ast`, so a cycle hidden inside a function (which Python
tolerates until the day someone moves the import to the top) fails here as well. Relative imports
are resolved; modules that are not files of the three packages (standard library, third party, the
add-on's build-time `_vendor` copy) are ignored. An import of `a.b` is an edge to `a.b` only:
parent packages being initialised first is not counted.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("seqcore_train", "blender_addon", "shared_schemas")

Edges = dict[str, dict[str, str]]  # importer -> {imported: "file:line" of the first such import}


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file inside a package (each folder has __init__)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            folders = path.relative_to(root).parent.parts
            inside = all((root.joinpath(*folders[: i + 1]) / "__init__.py").is_file()
                         for i in range(len(folders)))  # fmt: skip
            if not inside:
                continue
            parts = list(folders) + ([] if path.stem == "__init__" else [path.stem])
            modules[".".join(parts)] = path
    return modules


def _imported(node: ast.AST, module: str, is_package: bool, modules) -> list[str]:
    """The repository modules one import statement loads (the names themselves, not parents)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in modules]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join(anchor + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    targets = []
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        if submodule in modules:
            targets.append(submodule)
        elif base in modules:  # a name defined in the module (or package __init__) `base`
            targets.append(base)
    return targets


def import_graph(modules: dict[str, Path], root: Path) -> Edges:
    edges: Edges = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found = edges.setdefault(module, {})
        for node in ast.walk(tree):  # every statement, inside functions and classes too
            for target in _imported(node, module, path.name == "__init__.py", modules):
                if target != module:
                    found.setdefault(target, f"{path.relative_to(root)}:{node.lineno}")
    return edges


def _components(edges: Edges) -> list[list[str]]:
    """Strongly connected components (Tarjan), iteratively: no recursion limit on deep chains."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, {}))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(edges.get(succ, {})))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def _shortest_cycle(start: str, members: set[str], edges: Edges) -> list[str]:
    """start -> ... -> start, the shortest way round inside one component."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for succ in sorted(edges.get(node, {})):
            if succ not in members:
                continue
            if succ == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return path[::-1] + [start]
            if succ not in previous:
                previous[succ] = node
                queue.append(succ)
    raise AssertionError(f"{start} is in a component but on no cycle")


def import_cycles(edges: Edges) -> list[str]:
    """One line per cycle: the modules round it, each edge with the file and line of its import."""
    lines = []
    for component in _components(edges):
        if len(component) < 2:
            continue
        cycle = _shortest_cycle(component[0], set(component), edges)
        steps = [f"{a} ({edges[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False)]
        extra = (
            f" [component of {len(component)} modules]" if len(component) > len(cycle) - 1 else ""
        )
        lines.append(" -> ".join(steps + [cycle[-1]]) + extra)
    return lines


def test_no_import_cycles():
    modules = module_files(ROOT, PACKAGES)
    edges = import_graph(modules, ROOT)
    # Not vacuous: the walker sees the packages and the dispatcher's imports of its readers.
    assert {"seqcore_train.data.datasets", "blender_addon.core", "shared_schemas.manifest"} <= set(
        edges
    )
    assert "seqcore_train.readers" in edges["seqcore_train.data.datasets"]
    assert "seqcore_train.readers.mvtec" in edges["seqcore_train.readers"]
    cycles = import_cycles(edges)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_cycle_through_function_local_and_relative_imports_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from .. import a\n")
    (package / "c.py").write_text("import json\nimport pkg.a\n")  # no cycle: c is only an importer
    edges = import_graph(module_files(tmp_path, ("pkg",)), tmp_path)
    assert edges["pkg.c"] == {"pkg.a": "pkg/c.py:2"}
    assert import_cycles(edges) == ["pkg.a (pkg/a.py:1) -> pkg.sub.b (pkg/sub/b.py:2) -> pkg.a"]
