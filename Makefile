# SeqCore — two commands on a fresh machine:  `make demo` (render → fit → evaluate → report)  and  `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.seqcore-setup
# PyTorch is pinned to a tested build; to take whatever pip resolves instead:
#   make setup TORCH="torch torchvision"
TORCH  ?= torch==2.14.1 torchvision==0.29.1
BPY    ?= bpy==5.0.1

.PHONY: setup test test-fast test-blender-lts lint format demo addon addon-wheel bench bench-accuracy bench-env clean

setup: $(STAMP)

$(STAMP): shared_schemas/pyproject.toml blender_addon/pyproject.toml seqcore_train/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH) $(BPY)
	$(BIN)/python -m pip install -q -e ./shared_schemas -e ./blender_addon -e './seqcore_train[dev]'
	@touch $@

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not blender"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: setup
	$(BIN)/python -m seqcore_train.demo --out demo_out

addon:
	$(PYTHON) blender_addon/build_zip.py --out dist

# Rewrite blender_addon/wheels/ (shared_schemas as a wheel) after changing shared_schemas, before
# `blender -c extension build` (a test fails while the committed wheel is stale).
addon-wheel:
	$(PYTHON) blender_addon/build_zip.py --wheel-only

# Blender 4.2 LTS: the bpy-marked add-on tests against the newest 4.2 bpy wheel, in their own
# environment (.venv-lts, ignored by git). numpy<2 as Blender 4.2 bundles it; the tests read with scipy, imageio.
LTS_VENV  ?= .venv-lts
LTS_BPY   ?= bpy==4.2.23
LTS_STAMP := $(LTS_VENV)/.seqcore-lts-setup

$(LTS_STAMP): shared_schemas/pyproject.toml blender_addon/pyproject.toml
	@test -x $(LTS_VENV)/bin/python || $(PYTHON) -m venv $(LTS_VENV)
	$(LTS_VENV)/bin/python -m pip install -q $(LTS_BPY) 'numpy<2' scipy==1.17.1 'imageio>=2.31' pytest
	$(LTS_VENV)/bin/python -m pip install -q -e ./shared_schemas -e ./blender_addon
	@touch $@

test-blender-lts: $(LTS_STAMP)
	$(LTS_VENV)/bin/python -m pytest -m blender tests/blender_addon

bench: setup
	$(BIN)/python bench/render_bench.py --images 3
	$(BIN)/python bench/coreset.py all

# Accuracy benchmark (bench/accuracy.py): anomalib lives only in its own environment under bench/out
# (ignored by git, removed by `make clean`); it sees .venv's torch and seqcore_train through a .pth
# file. Smoke run: make bench-accuracy ACCURACY_ARGS=--quick
BENCH_VENV  := bench/out/venv
BENCH_STAMP := $(BENCH_VENV)/.accuracy-setup
ACCURACY_ARGS ?=

bench-env: $(BENCH_STAMP)

$(BENCH_STAMP): $(STAMP) bench/requirements-accuracy.txt
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -c 'import sys, sysconfig; open(sysconfig.get_paths()["purelib"] + "/seqcore-product-venv.pth", "w").write("import site; site.addsitedir(%r)\n" % sys.argv[1])' "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
	$(BENCH_VENV)/bin/python -m pip install -q -r bench/requirements-accuracy.txt
	$(BENCH_VENV)/bin/python -I -c 'import anomalib, skimage, seqcore_train; print("bench env: anomalib", anomalib.__version__)'
	@touch $@

bench-accuracy: setup bench-env
	$(BENCH_VENV)/bin/python bench/accuracy.py $(ACCURACY_ARGS)

clean:
	rm -rf build dist demo_out bench/out $(LTS_VENV)
