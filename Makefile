# SeqCore — two commands on a fresh machine:  `make demo` (render → fit → evaluate → report)  and  `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.seqcore-setup
# PyTorch is pinned to the build this workplace ships on disk; override on other machines:
#   make setup TORCH="torch torchvision"
TORCH  ?= torch==2.14.1 torchvision==0.29.1
BPY    ?= bpy==5.0.1

.PHONY: setup test test-fast lint format demo addon bench clean

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

bench: setup
	$(BIN)/python bench/render_bench.py --images 3
	$(BIN)/python bench/coreset.py all

clean:
	rm -rf build dist demo_out bench/out
