"""Render options are declared once (core/render_options.OPTIONS): render.py's parser is built from
the table, and the sidebar has a property for every option the table gives it."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from blender_addon.core import render_options as ro
from blender_addon.core.render_options import OPTIONS, RenderOptions, to_settings

PROPERTIES = Path(ro.__file__).resolve().parents[1] / "properties.py"
# stain_rim_roughness: an extension of the paper's Algorithm 1; scene and stain_materials: the
# sidebar's "Render This Scene" takes the saved file and the materials' Water Stains checkboxes
COMMAND_LINE_ONLY = {"stain_rim_roughness", "scene", "stain_materials"}


def _sidebar_properties() -> set[str]:
    """The annotated properties of the sidebar's PropertyGroup, read without bpy."""
    tree = ast.parse(PROPERTIES.read_text(encoding="utf-8"))
    group = next(
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SEQCORE_PG_settings"
    )
    return {n.target.id for n in group.body if isinstance(n, ast.AnnAssign)}


def test_every_field_is_one_row():
    fields = [f.name for f in dataclasses.fields(RenderOptions)]
    assert sorted(row.name for row in OPTIONS) == sorted(fields)


def test_the_parser_is_the_table():
    actions = {a.dest: a for a in ro._parser()._actions}
    for row in OPTIONS:
        flag_dest = row.flag.lstrip("-").replace("-", "_")
        assert flag_dest in actions, row.flag
        if row.cli is None:  # shares another row's flag
            assert any(o.flag == row.flag and o.cli is not None for o in OPTIONS), row.name
            continue
        action = actions[flag_dest]
        assert action.choices == row.cli.get("choices"), row.flag
        if row.name != "preset":  # the preset's help lists both families, built from the presets
            assert action.help == row.help, row.flag


def test_command_line_defaults_are_the_records_defaults():
    args = ro._parser().parse_args(["--out", "x"])
    args.content_preset, args.resolution_preset = "", ""
    assert ro._options(args) == RenderOptions()


def test_the_sidebar_has_every_option_but_the_command_line_only_ones():
    properties = _sidebar_properties()
    for row in OPTIONS:
        if row.name in COMMAND_LINE_ONLY:
            assert not row.sidebar, row.name
            continue
        assert row.sidebar, f"{row.name} has no sidebar property"
        missing = set(row.sidebar) - properties
        assert not missing, (row.name, missing)
    for wanted in ("domain", "light_mode", "bit_depth", "resolution_preset"):
        assert wanted in properties


@pytest.mark.blender
def test_sidebar_defaults_render_what_the_command_line_defaults_render(fresh_bpy):
    import blender_addon
    from blender_addon.properties import dataset_settings, render_options

    blender_addon.register()
    try:
        s = fresh_bpy.context.scene.seqcore
        assert dataset_settings(s) == to_settings(RenderOptions())
        for name in ("light_mode", "domain", "bit_depth", "resolution_preset", "grid"):
            assert s.bl_rna.properties[name].description == ro.option(name).help, name
        s.light_mode, s.domain, s.bit_depth = "each", "target", "16"
        s.resolution_preset, s.grid = "cpu", (2, 1)
        chosen = render_options(s)
        assert (chosen.light_mode, chosen.domain, chosen.bit_depth) == ("each", "target", 16)
        assert chosen.resolution is None and chosen.view_width_mm is None
        settings = dataset_settings(s)
        assert settings.resolution == (612, 512) and settings.view_width_mm == 20.0
        assert settings.grid == (2, 1) and settings.domain == "target"
    finally:
        blender_addon.unregister()
