"""Shared fixtures for the add-on tests: one tiny paired dataset rendered once per session."""

from pathlib import Path

import pytest

RENDER_PY = Path(__file__).resolve().parents[2] / "blender_addon" / "render.py"


@pytest.fixture(scope="session")
def bpy_module():
    bpy = pytest.importorskip("bpy")
    return bpy


@pytest.fixture
def fresh_bpy(bpy_module):
    """An empty Blender session (factory settings, no objects) for each test."""
    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    return bpy_module


@pytest.fixture(scope="session")
def paired_dataset(bpy_module, tmp_path_factory):
    """Two plates rendered clean and stained, 96 x 80 px, 8 samples, hex and ring light."""
    from blender_addon.core.sample_spec import DatasetSettings
    from blender_addon.scene.dataset_render import render_dataset

    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    out = tmp_path_factory.mktemp("paired")
    settings = DatasetSettings(
        count=2, seed=11, resolution=(96, 80), samples=8, variant="paired", lights=("hex", "ring")
    )
    progress = list(render_dataset(settings, out))
    assert [p.done for p in progress] == [1, 2, 3, 4]
    return out
