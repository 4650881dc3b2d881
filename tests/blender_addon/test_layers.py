"""What may import what inside the add-on (ARCHITECTURE.md): read from the source with `ast`.

core/ is plain Python (no bpy) and imports only core/ and the manifest contract; nodes/ builds node
trees from core/ data; scene/ assembles scenes and renders from both; the sidebar modules and the
render command sit on top. render.py's command imports bpy only once it renders, and imports its
package normally (no importlib), so static tools can follow it.
"""

import ast
from pathlib import Path

import pytest

ADDON = Path(__file__).resolve().parents[2] / "blender_addon"
ALLOWED = {  # layer -> the add-on layers its modules may import
    "core": {"core", "_schemas"},
    "nodes": {"core", "nodes"},
    "scene": {"core", "nodes", "scene", "_schemas"},
}
WITHOUT_BPY_AT_IMPORT = ("render", "render_command", "build_zip", "background_render")


def _modules():
    for path in sorted(ADDON.rglob("*.py")):
        parts = path.relative_to(ADDON).with_suffix("").parts
        if "_vendor" not in parts and not any(p.endswith(".egg-info") for p in parts):
            yield parts, ast.parse(path.read_text(encoding="utf-8"))


def _imports(parts, tree, top_level_only=False):
    """(add-on module parts or None, external top name) of each import."""
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:  # render.py's script/module branches
            yield from _imports(parts, ast.Module(body=node.body + node.orelse), True)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield None, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                name = node.module or ""
                inside = name.split(".")[0] == "blender_addon"
                yield (tuple(name.split(".")[1:]), None) if inside else (None, name.split(".")[0])
            else:
                package = list(parts[:-1])[: len(parts) - node.level]
                target = package + (node.module.split(".") if node.module else [])
                yield tuple(target) or tuple(a.name for a in node.names), None


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layers_import_only_downwards(layer):
    for parts, tree in _modules():
        if parts[0] != layer or len(parts) == 1:
            continue
        for inside, _ in _imports(parts, tree):
            if inside:
                assert inside[0] in ALLOWED[layer], f"{'/'.join(parts)} imports {'.'.join(inside)}"


def test_core_never_imports_bpy():
    for parts, tree in _modules():
        if parts[0] == "core":
            assert "bpy" not in {ext for _, ext in _imports(parts, tree)}, "/".join(parts)


@pytest.mark.parametrize("name", WITHOUT_BPY_AT_IMPORT)
def test_the_render_command_needs_bpy_only_to_render(name):
    tree = ast.parse((ADDON / f"{name}.py").read_text(encoding="utf-8"))
    for inside, ext in _imports((name,), tree, top_level_only=True):
        assert ext not in ("bpy", "importlib"), (name, ext)  # importlib: imports tools can't follow
        assert inside is None or inside[0] in ("core", "render_command"), (name, inside)
