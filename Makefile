# `make lab` and `make test` are the README's two commands; the other targets are for maintainers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Which PyTorch build to install: auto (CPU build on Linux x86-64 without an NVIDIA GPU), cpu or default (PyPI's).
TORCH ?= auto
# A pip constraints file for every install, e.g. CONSTRAINTS=.ci/oldest.txt (the oldest versions the course declares).
CONSTRAINTS ?=
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
# JupyterLab settings for the course (no news question over the notebooks), copied into .venv by `make lab`.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/feature-maps-course.json
NOTEBOOK00 := notebooks/00_start_here.ipynb
NBVAL := --nbval --nbval-sanitize-with tests/support/nbval_sanitize.cfg --nbval-cell-timeout 600
# `make test` forks each notebook's kernel from one that has imported torch (tests/support/forked_kernel.py);
# `make portable` and `make smoke` start every kernel afresh, as Jupyter does.
FORKED := --nbval-kernel-name course-forked
FRESH := --nbval-current-env

.PHONY: install lab test portable smoke lint notebooks sync data checkpoint bench clean

# Creates .venv when missing and installs into it; runs again only when requirements.txt or pyproject.toml change.
$(INSTALLED): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.10 or newer is needed: make PYTHON=python3.12 ..." if sys.version_info < (3, 10) else 0)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python tools/torch_index.py $(TORCH) $(PIP_C)
	$(BIN)/python -m pip install $(PIP_C) -r requirements.txt -e ".[test,lint]"
	touch $@

install: $(INSTALLED)

$(LAB_OVERRIDES): .jupyter/lab/settings/overrides.json | $(INSTALLED)
	mkdir -p $(dir $@) && cp $< $@

# The default URL (printed, and opened when a browser can be) is notebook 00 itself, not the bare /lab.
lab: $(INSTALLED) $(LAB_OVERRIDES)
	$(BIN)/jupyter lab $(ALLOW_ROOT) --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/$(NOTEBOOK00)

# The code linters (ruff, mypy), then the workflow, issue-form and citation checks (check-jsonschema, zizmor).
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml \
		&& $(BIN)/zizmor --offline .github/workflows \
		&& $(BIN)/check-jsonschema --builtin-schema vendor.github-issue-forms .github/ISSUE_TEMPLATE/*.yml \
		&& $(BIN)/check-jsonschema --builtin-schema vendor.citation-file-format CITATION.cff

# The code linters, then pytest of tests/ (the workflow, issue-form and citation checks of `make lint` are among
# them, in tests/repo/test_launch.py), the doctests of utils/ and strict nbval over every notebook (solutions included),
# offline, on every core: one pytest worker per core (JOBS=1 for one), each file (a notebook's cells run in order
# in one kernel) kept on one worker, the slowest files first (conftest.py). OpenMP threads wait passively, so two
# workers sharing the cores do not spin.
JOBS ?= auto
PARALLEL := -n $(JOBS) --dist loadfile
RUN := COURSE_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest
test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy
	$(RUN) $(PARALLEL) tests notebooks --doctest-modules utils $(NBVAL) $(FORKED)

# Every notebook and the retraining tests again with the plain (non-SIMD) CPU kernels: another processor's
# rounding, replayed on this one, so that an output that only reproduces on one kind of CPU cannot land (.ci/run).
portable: $(INSTALLED)
	ATEN_CPU_CAPABILITY=default $(RUN) $(PARALLEL) tests/test_train.py notebooks $(NBVAL) $(FRESH)

# A quick check of a laptop (8-10 s once installed): notebook 00 loads the data and the model, plots, checks.
smoke: $(INSTALLED)
	$(RUN) -q -p no:xdist notebooks/00_start_here.ipynb $(NBVAL) $(FRESH)

# Re-run every notebook and store its outputs (after changing one); then `make test`.
notebooks: $(INSTALLED)
	$(BIN)/python tools/sync_notebooks.py
	COURSE_OFFLINE=1 $(BIN)/python tools/run_notebooks.py $(NB)

sync: $(INSTALLED)
	$(BIN)/python tools/sync_notebooks.py

# Download full MNIST into data/MNIST (online); the bundled subset stays as it is.
data: $(INSTALLED)
	$(BIN)/python -c "from utils.data import main; main()"

# Retrain the shipped checkpoint data/simplecnn.pt with the course's recipe.
checkpoint: $(INSTALLED)
	$(BIN)/python -c "from utils.train import main; main()"

bench: $(INSTALLED)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts reports
