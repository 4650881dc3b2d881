"""What may import what inside the toolkit (ARCHITECTURE.md), read from the source with `ast`.

The model knows no data format and no driver; readers share `data.records` but never the dispatcher;
only the front ends parse options, and nothing imports them. Function-local imports count too.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Top-level modules that import no other part of the toolkit but each other.
LEAVES = {"errors", "devices", "model_defaults", "toml_file", "background", "heap", "output_lock"}
FRONT_ENDS = {"cli", "demo"}
SUBPACKAGES = {"model", "data", "readers", "evaluation", "experiment", "cluster", "export"}

# Layer of a module: its sub-package, except where one package holds two layers.
RECORDS = {"data.images", "data.records"}  # below the readers; the rest of `data` above them


def layer(module: str) -> str:
    if module in RECORDS:
        return "records"
    if module in LEAVES:
        return "leaf"
    head = module.split(".")[0]
    return head if head in SUBPACKAGES else module


# What each layer (or single module) may import, as layers or module names; a module not listed may
# import anything but the front ends.
ALLOWED = {
    "leaf": {"leaf"},
    "model": {"leaf", "model"},
    "records": {"leaf", "records"},
    "readers": {"leaf", "records", "readers"},
    "data": {"leaf", "records", "readers", "data"},
    "data.batches": {"leaf", "records", "readers", "data", "model.patchcore"},
    "evaluation": {"leaf", "records", "evaluation"},
    "cluster.plan": {"leaf"},
    "experiment.plan": {"leaf", "model.features"},  # the backbone catalogue, function-local
    "experiment.status": {"experiment.plan"},
    "experiment.claims": {"leaf", "experiment.plan", "evaluation"},
    "experiment.report": {"leaf", "experiment.plan", "experiment.claims", "evaluation"},
}


def _allowed(module: str) -> set[str] | None:
    return ALLOWED.get(module, ALLOWED.get(layer(module)))


def _modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT / package).with_suffix("").parts
        if not any(p.endswith(".egg-info") for p in parts) and parts[-1] != "__init__":
            yield ".".join(parts), ast.parse(path.read_text(encoding="utf-8"))


PACKAGES = {
    str(p.parent.relative_to(ROOT / "seqcore_train")).replace("/", ".")
    for p in (ROOT / "seqcore_train").rglob("__init__.py")
}


def _imports(module: str, tree: ast.AST, package: str = "seqcore_train"):
    """(module of `package` or None, top-level name outside it) of every import, function-local too."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                anchor = [package, *module.split(".")[: -node.level]]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from seqcore_train.cluster import steps` names a module; `from x.y import z`, module x.y
            inner = base.removeprefix(package).lstrip(".") or "."
            is_package = base == package or inner in PACKAGES
            names = [f"{base}.{alias.name}" for alias in node.names] if is_package else [base]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == package and len(parts) > 1:
                yield ".".join(parts[1:]), None
            elif parts[0] != package:
                yield None, parts[0]


TOOLKIT = list(_modules("seqcore_train"))


def test_the_layers_see_the_packages():
    """Not vacuous: every sub-package has modules, and the table names only real layers."""
    modules = {m for m, _ in TOOLKIT}
    assert {m.split(".")[0] for m in modules if "." in m} == SUBPACKAGES
    assert LEAVES | FRONT_ENDS <= modules
    layers = {layer(m) for m in modules} | modules
    for key, allowed in ALLOWED.items():
        assert key in layers and allowed <= layers, key


@pytest.mark.parametrize("module, tree", TOOLKIT, ids=[m for m, _ in TOOLKIT])
def test_toolkit_imports_follow_the_layers(module, tree):
    allowed = _allowed(module)
    for inside, outside in _imports(module, tree):
        assert outside not in ("blender_addon", "bpy"), f"{module} imports {outside}"
        assert outside != "click" or module == "cli", f"{module} imports click"
        if inside is None or inside in PACKAGES:
            continue
        assert inside not in FRONT_ENDS, f"{module} imports the front end {inside}"
        if allowed is not None:
            assert layer(inside) in allowed or inside in allowed, f"{module} imports {inside}"


def test_the_model_imports_no_data_and_no_driver():
    """A concrete case the table must keep catching."""
    tree = ast.parse("from seqcore_train.data.records import Record\nfrom ..data import batches\n")
    found = [inside for inside, _ in _imports("model.features", tree)]
    assert found == ["data.records", "data.batches"]
    assert not any(layer(name) in _allowed("model.features") for name in found)


def test_shared_schemas_needs_only_the_standard_library():
    for module, tree in _modules("shared_schemas"):
        for _, outside in _imports(module, tree, "shared_schemas"):
            assert outside is None or outside in sys.stdlib_module_names, (module, outside)
