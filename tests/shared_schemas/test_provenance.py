"""The renderer's identity in a manifest: the add-on's source digest and the one-line description."""

import re

from shared_schemas import renderer_of, source_digest


def test_source_digest_follows_the_python_sources_only(tmp_path):
    package = tmp_path / "addon"
    (package / "core").mkdir(parents=True)
    (package / "wheels").mkdir()
    (package / "render.py").write_text("A = 1\n")
    (package / "core" / "x.py").write_text("B = 2\n")
    first = source_digest(package)
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    (package / "wheels" / "w.py").write_text("ignored")  # bundled, not a source
    (package / "notes.txt").write_text("ignored")
    assert source_digest(package) == first
    (package / "core" / "x.py").write_text("B = 3\n")
    assert source_digest(package) != first
    (package / "core" / "x.py").write_text("B = 2\n")
    assert source_digest(package) == first
    (package / "core" / "x.py").rename(package / "core" / "y.py")  # same bytes, other file
    assert source_digest(package) != first


def test_renderer_of_names_version_source_and_blender():
    made = {"version": "0.1.0", "source": "0123456789abcdef", "blender": "5.0.1", "settings": {}}
    assert renderer_of(made) == "0.1.0 (source 0123456789abcdef), Blender 5.0.1"
    older = {k: v for k, v in made.items() if k != "source"}  # before sources were recorded
    assert "source unrecorded" in renderer_of(older)
    assert renderer_of({**made, "blender": "4.2.23"}) != renderer_of(made)
    # settings and shard say what was rendered, not what rendered it
    assert renderer_of({**made, "settings": {"seed": 3}, "shard": [1, 2]}) == renderer_of(made)
