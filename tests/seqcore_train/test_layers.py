"""What may import what inside the toolkit (ARCHITECTURE.md), read from the source with `ast`.

The model knows no data format and no driver; readers share `records` but never the dispatcher;
only the front ends parse options, and nothing imports them. Function-local imports count too.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEAVES = {"errors", "distances", "geometry", "threshold", "augment", "devices", "images",
          "efficientnet_lite", "model_defaults", "patch_cache", "tiling",
          "cluster_plan", "toml_file", "map_images", "background", "heap", "exact_kernels", "inference_form",
          "output_lock"}  # fmt: skip
MODEL = {"features", "coreset", "coreset_baselines", "scoring", "modelfile", "model"}
REPORTING = {"metrics", "report", "figures"}
FRONT_ENDS = {"cli", "demo"}
READERS = "readers"


def _allowed(module: str) -> set[str] | None:
    """The toolkit modules `module` may import (readers as the one name "readers"); None: any."""
    if module in LEAVES or module == "records":
        return LEAVES
    if module.startswith(READERS):
        return LEAVES | {"records", READERS}
    if module in ("datasets", "batches"):
        return (
            LEAVES
            | {"records", READERS, "datasets"}
            | ({"model"} if module == "batches" else set())
        )
    if module in MODEL:
        return LEAVES | MODEL
    if module in REPORTING:
        return LEAVES | REPORTING | {"records"}
    return None


def _modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT / package).with_suffix("").parts
        if not any(p.endswith(".egg-info") for p in parts) and parts[-1] != "__init__":
            yield ".".join(parts), ast.parse(path.read_text(encoding="utf-8"))


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
            # `from seqcore_train import workflows` names a module; `from x.y import z`, module x.y
            names = [f"{base}.{alias.name}" for alias in node.names] if base == package else [base]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == package and len(parts) > 1:
                yield (READERS if parts[1] == READERS else parts[1]), None
            elif parts[0] != package:
                yield None, parts[0]


TOOLKIT = list(_modules("seqcore_train"))


@pytest.mark.parametrize("module, tree", TOOLKIT, ids=[m for m, _ in TOOLKIT])
def test_toolkit_imports_follow_the_layers(module, tree):
    allowed = _allowed(module)
    for inside, outside in _imports(module, tree):
        assert outside not in ("blender_addon", "bpy"), f"{module} imports {outside}"
        assert outside != "click" or module == "cli", f"{module} imports click"
        if inside is None:
            continue
        assert inside not in FRONT_ENDS, f"{module} imports the front end {inside}"
        if allowed is not None:
            assert inside in allowed, f"{module} imports {inside}"


def test_shared_schemas_needs_only_the_standard_library():
    for module, tree in _modules("shared_schemas"):
        for _, outside in _imports(module, tree, "shared_schemas"):
            assert outside is None or outside in sys.stdlib_module_names, (module, outside)
