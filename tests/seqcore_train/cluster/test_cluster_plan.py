"""Cluster plans without Ray: parsing, bad plans as one line, the shard plan, the meld tree, and
the single-machine path that must never import Ray."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seqcore_train.cli import cli
from seqcore_train.cluster.plan import (
    Layout,
    data_shards,
    load_cluster_plan,
    meld_tree,
    root_model,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "plans" / "cluster_tiny.toml"

GOOD = """
[render.train]
args = ["--count", "3", "--resolution", "64", "64"]
shards = 3

[render.val]
args = ["--count", "2", "--split", "val", "--defects"]

[fit]
data = ["@train", "extra"]
coreset_size = 16

[meld]
k = 2

[calibrate]
data = ["@val"]
"""


def _plan(tmp_path: Path, text: str) -> Path:
    (tmp_path / "extra").mkdir(exist_ok=True)
    path = tmp_path / "plan.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_the_example_plan_is_valid():
    plan = load_cluster_plan(EXAMPLE)
    assert [r.name for r in plan.renders] == ["train", "val", "test"]
    assert plan.render_set("train").shards == 4
    assert plan.meld.k == 2 and plan.final_size == 64
    leaves = [Layout("o").fit_model(s.index) for s in data_shards(plan, Layout("o"))]
    assert [len(level) for level in meld_tree(leaves, 2, Layout("o"))] == [2, 1]


def test_rendered_sets_become_one_data_shard_per_render_shard(tmp_path):
    plan = load_cluster_plan(_plan(tmp_path, GOOD))
    layout = Layout(tmp_path / "out")
    shards = data_shards(plan, layout)
    assert [s.index for s in shards] == [0, 1, 2, 3]
    assert [s.source for s in shards] == [("train", 1, 3), ("train", 2, 3), ("train", 3, 3), None]
    assert shards[1].data == str(tmp_path / "out" / "shards" / "train-2-of-3")
    assert shards[3].data == str((tmp_path / "extra").resolve())  # relative to the plan file
    # "@name" in calibrate/evaluate reads the merged set, filters kept
    assert layout.data_argument("@val::variant=clean") == f"{layout.rendered('val')}::variant=clean"
    assert plan.calibrate.data == ("@val",)
    assert plan.render_set("val").shards == 1  # the default


@pytest.mark.parametrize("leaves, k", [(1, 2), (2, 2), (5, 2), (7, 3), (9, 3), (16, 4), (6, 5)])
def test_meld_tree_reduces_every_leaf_exactly_once_to_one_root(leaves, k):
    layout = Layout(Path("out"))
    paths = [layout.fit_model(i) for i in range(leaves)]
    levels = meld_tree(paths, k, layout)
    made = [node.out for level in levels for node in level]
    used = [child for level in levels for node in level for child in node.children]
    assert len(set(used)) == len(used)  # nothing melded twice
    assert set(used) | {paths[0] if not levels else made[-1]} == set(paths) | set(made)
    for depth, level in enumerate(levels, start=1):
        assert all(2 <= len(node.children) <= k and node.level == depth for node in level)
        # a node only uses models that exist by the end of the level below
        before = set(paths) | {n.out for lv in levels[: depth - 1] for n in lv}
        assert all(child in before for node in level for child in node.children)
    # ceil(log_k(leaves)) levels: a k-ary tree is as shallow as it can be
    depth = 0
    while k**depth < leaves:
        depth += 1
    assert len(levels) == depth


def test_meld_tree_groups_in_leaf_order():
    layout = Layout(Path("out"))
    paths = [layout.fit_model(i) for i in range(5)]
    levels = meld_tree(paths, 2, layout)
    assert [n.children for n in levels[0]] == [(paths[0], paths[1]), (paths[2], paths[3])]
    # the lone fifth leaf is carried up and melded with the level-2 node at level 3
    assert levels[2][0].children == (levels[1][0].out, paths[4])
    assert levels[2][0].out == layout.meld_model(3, 0)


def test_root_of_a_single_shard_is_its_fit_output(tmp_path):
    plan = load_cluster_plan(_plan(tmp_path, '[fit]\ndata = ["extra"]\n'))
    layout = Layout(tmp_path / "o")
    assert root_model(plan, layout) == layout.fit_model(0)


BAD = [
    ("[fit\n", "not valid TOML"),
    ("[meld]\nk = 2\n", "[fit]: missing"),
    ('[fit]\ndata = ["extra"]\ncoreset_sise = 3\n', "fit.coreset_sise: unknown key (did you mean 'coreset_size'?)"),
    ('[fit]\ndata = ["@train"]\n', "fit.data: '@train': no [render.train] in the plan"),
    ('[fit]\ndata = ["nowhere"]\n', "fit.data: 'nowhere': no such file or folder"),
    ('[fit]\ndata = []\n', "fit.data: expected a non-empty list of strings"),
    ('[fit]\ndata = ["extra"]\n[meld]\nk = 1\n', "meld.k: expected an integer >= 2, got 1"),
    ('[fit]\ndata = ["extra"]\nepochs = 0\n', "fit.epochs: expected an integer >= 1, got 0"),
    ('[fit]\ndata = ["extra"]\nimage_size = [64]\n', "fit.image_size: expected [width, height]"),
    ('[fit]\ndata = ["extra"]\nsampler = "random"\n', "fit.sampler: 'random' is not one of"),
    ('[fit]\ndata = ["extra"]\nbatch_size = "big"\n', "fit.batch_size: expected an integer >= 1 or \"auto\", got 'big'"),
    ('[render.a]\nargs = ["--shard", "1/2"]\n[fit]\ndata = ["@a"]\n',
     "render.a.args: --shard is set by `seqcore-train cluster`; remove it"),
    ('[render.a]\nshards = 0\n[fit]\ndata = ["@a"]\n', "render.a.shards: expected an integer >= 1"),
    ('[fit]\ndata = ["extra"]\n[evaluate]\ndata = ["extra"]\n', "[evaluate]: needs [calibrate]"),
    ('[cluster]\nnodes = 3\n[fit]\ndata = ["extra"]\n', "cluster.nodes: unknown key"),
    ('[fit]\ndata = ["extra"]\nbackbone = "vgg"\n', "fit.backbone: unknown backbone 'vgg'"),
]  # fmt: skip


@pytest.mark.parametrize("text, problem", BAD, ids=[b[1][:30] for b in BAD])
def test_a_bad_plan_is_one_line_and_runs_nothing(tmp_path, capsys, text, problem):
    path = _plan(tmp_path, text)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as done:
        cli.main(["cluster", "run", str(path), "--out", str(out), "--serial"], "seqcore-train")
    assert done.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith(f"seqcore-train: error: {path}: ") and problem in err, err
    assert not out.exists()  # validated before anything ran


def test_a_missing_plan_file_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["cluster", "fit", str(tmp_path / "no.toml"), "--out", str(tmp_path / "o")],
                 "seqcore-train")  # fmt: skip
    assert done.value.code == 1
    assert (
        capsys.readouterr().err.strip()
        == f"seqcore-train: error: {tmp_path / 'no.toml'}: no such plan file"
    )


def test_only_the_ray_module_imports_ray():
    for path in sorted((ROOT / "seqcore_train").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            a.name.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.Import)
            for a in n.names
        }
        names |= {n.module.split(".")[0] for n in ast.walk(tree)
                  if isinstance(n, ast.ImportFrom) and n.module and not n.level}  # fmt: skip
        assert ("ray" in names) == (path.name == "ray_tasks.py"), path.name


def test_single_machine_commands_and_the_serial_executor_never_load_ray():
    code = (
        "import sys\n"
        "from seqcore_train import cli, workflows\n"
        "from seqcore_train.cluster import plan, steps\n"
        "from seqcore_train.cli import cli as group\n"
        "try:\n"
        "    group.main(['fit', '--help'], 'seqcore-train')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('ray' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_without_ray_cluster_says_how_to_install_it(tmp_path):
    path = _plan(tmp_path, '[fit]\ndata = ["extra"]\n')
    code = (
        "import sys\n"
        "class NoRay:\n"  # as if Ray were not installed
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ray' or name.startswith('ray.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n"
        "sys.meta_path.insert(0, NoRay())\n"
        "from seqcore_train.cli import main\n"
        f"sys.argv = ['seqcore-train', 'cluster', 'fit', {str(path)!r}, '--out', {str(tmp_path / 'o')!r}]\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "seqcore-train: error: seqcore-train cluster needs Ray: pip install 'seqcore-train[ray]'"
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "command, problem",
    [
        ("fit", "data/train: not rendered (or not merged) yet; run `seqcore-train cluster render`"),
        ("meld", "fit/shard-0.safetensors: missing; run `seqcore-train cluster fit` first"),
    ],
)
def test_a_stage_before_its_inputs_exist_is_one_line_before_any_task(
    tmp_path, capsys, command, problem
):
    path = _plan(tmp_path, GOOD)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as done:
        cli.main(["cluster", command, str(path), "--out", str(out)], "seqcore-train")
    assert done.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and problem in err, err
    assert not out.exists()


def test_address_with_local_options_is_a_usage_error(tmp_path, capsys):
    path = _plan(tmp_path, GOOD)
    with pytest.raises(SystemExit) as done:
        cli.main(
            ["cluster", "run", str(path), "--out", str(tmp_path / "o"), "--address", "auto",
             "--workers", "2"], "seqcore-train",
        )  # fmt: skip
    assert done.value.code == 2
    assert "--address joins a running cluster" in capsys.readouterr().err
