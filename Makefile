# `make lab` and `make test` are the README's two commands; the other targets are for maintainers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Which PyTorch build to install: auto (CPU build on Linux x86-64 without an NVIDIA GPU), cpu or default (PyPI's).
TORCH ?= auto
# A pip constraints file for every install, e.g. CONSTRAINTS=.ci/oldest.txt (the oldest versions the course declares).
CONSTRAINTS ?=
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
# Install from a folder of wheels alone, without a network (made online by `make wheelhouse`): WHEELHOUSE=wheelhouse.
WHEELHOUSE ?=
PIP_FROM := $(if $(WHEELHOUSE),--no-index --find-links $(WHEELHOUSE),)
# One stamp per set, so each installs once: `make lab` the course (requirements.txt and the package), `make test`
# adds the test tools ([test]), `make lint` the lint tools ([lint], where they install: Python 3.11 or newer).
LAB_INSTALLED := $(VENV)/.installed-lab
TEST_INSTALLED := $(VENV)/.installed-test
LINT_INSTALLED := $(VENV)/.installed-lint
# JupyterLab settings for the course (no news question over the notebooks), copied into .venv by `make lab`.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/feature-maps-course.json
NOTEBOOK00 := notebooks/00_start_here.ipynb
NBVAL := --nbval --nbval-sanitize-with tests/support/nbval_sanitize.cfg --nbval-cell-timeout 600
# `make test` forks each notebook's kernel from one that has imported torch (tests/support/forked_kernel.py);
# `make portable` and `make smoke` start every kernel afresh, as Jupyter does.
FORKED := --nbval-kernel-name course-forked
FRESH := --nbval-current-env

.PHONY: install install-lab install-test install-lint lab test portable smoke paths lint floors wheelhouse \
	colab-check colab-run notebooks sync data checkpoint bench clean site site-test

# Creates .venv when missing and installs what a learner needs into it: PyTorch (TORCH=...), requirements.txt and
# the course's package; runs again only when requirements.txt or pyproject.toml change. With WHEELHOUSE, from there.
$(LAB_INSTALLED): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.10 or newer is needed: make PYTHON=python3.12 ..." if sys.version_info < (3, 10) else 0)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(WHEELHOUSE),,$(BIN)/python -m pip install --quiet --upgrade pip)
	$(if $(WHEELHOUSE),,$(BIN)/python tools/torch_index.py $(TORCH) $(PIP_C))
	$(BIN)/python -m pip install $(PIP_FROM) $(PIP_C) -r requirements.txt -e .
	touch $@

$(TEST_INSTALLED): $(LAB_INSTALLED)
	$(BIN)/python -m pip install $(PIP_FROM) $(PIP_C) -r requirements.txt -e ".[test]"
	touch $@

$(LINT_INSTALLED): $(TEST_INSTALLED)
	$(BIN)/python -m pip install $(PIP_FROM) $(PIP_C) -r requirements.txt -e ".[test,lint]"
	touch $@

install-lab: $(LAB_INSTALLED)
install-test: $(TEST_INSTALLED)
install-lint: $(LINT_INSTALLED)
install: install-lint

# Whether the oldest declared versions (.ci/oldest.txt) install together on this Python, lint extra included: pip's
# resolver, online, installing nothing (about 1 min). CI runs it on Python 3.10 before installing them.
floors:
	$(PYTHON) -m pip install --dry-run --quiet --ignore-installed --only-binary :all: -c .ci/oldest.txt \
		-r requirements.txt ".[test,lint]"

# Everything `make lab` and `make test` install, downloaded online into WHEELS (default wheelhouse/) for this
# operating system and Python, the build backend included; then, without a network: `make test WHEELHOUSE=wheelhouse`.
# PyTorch as TORCH= chooses (auto: the CPU build on Linux x86-64 without an NVIDIA GPU, when its index answers).
WHEELS ?= wheelhouse
wheelhouse:
	$(PYTHON) tools/torch_index.py $(TORCH) $(PIP_C) --download $(WHEELS)
	$(PYTHON) -m pip download $(PIP_C) -c $(WHEELS)/torch.txt --find-links $(WHEELS) -d $(WHEELS) \
		-r requirements.txt ".[test]" "setuptools>=77"

$(LAB_OVERRIDES): .jupyter/lab/settings/overrides.json | $(LAB_INSTALLED)
	mkdir -p $(dir $@) && cp $< $@

# The default URL (printed, and opened when a browser can be) is notebook 00 itself, not the bare /lab.
lab: $(LAB_INSTALLED) $(LAB_OVERRIDES)
	$(BIN)/jupyter lab $(ALLOW_ROOT) --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/$(NOTEBOOK00)

# The code linters (ruff, mypy), then the workflow, issue-form, citation and Dependabot checks (check-jsonschema,
# zizmor; they need Python 3.11 or newer, and on 3.10 one line says they are skipped).
lint: $(LINT_INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy
	if $(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then \
		$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml \
		&& $(BIN)/zizmor --offline .github/workflows \
		&& $(BIN)/check-jsonschema --builtin-schema vendor.github-issue-forms .github/ISSUE_TEMPLATE/*.yml \
		&& $(BIN)/check-jsonschema --builtin-schema vendor.citation-file-format CITATION.cff \
		&& $(BIN)/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml; \
	else echo "make lint: check-jsonschema and zizmor need Python 3.11 or newer; their checks are skipped here."; fi

# The code linters, then pytest of tests/ (tests/repo/test_launch.py runs the workflow, issue-form and citation checks of
# `make lint` too where its tools are installed, after `make lint` or `make install`), the doctests of utils/ and strict nbval over every notebook (solutions included),
# offline, on every core: one pytest worker per core (JOBS=1 for one), each file (a notebook's cells run in order
# in one kernel) kept on one worker, the slowest files first (conftest.py). OpenMP threads wait passively, so two
# workers sharing the cores do not spin.
JOBS ?= auto
PARALLEL := -n $(JOBS) --dist loadfile
# What the caller's shell must not change in a test run: the matplotlib backend (MPLBACKEND=Agg would draw no
# figure in the notebooks), the device (COURSE_DEVICE) and the download mirror. COURSE_OFFLINE=1: no test touches
# the network (`make paths` tests the online path, against a local server).
CLEAN_ENV := env -u MPLBACKEND -u COURSE_DEVICE -u COURSE_MNIST_MIRROR COURSE_OFFLINE=1
RUN := $(CLEAN_ENV) OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest
test: $(TEST_INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy
	$(RUN) $(PARALLEL) tests notebooks --doctest-modules utils $(NBVAL) $(FORKED)

# Every notebook and the retraining tests again with the plain (non-SIMD) CPU kernels: another processor's
# rounding, replayed on this one, so that an output that only reproduces on one kind of CPU cannot land (.ci/run).
portable: $(TEST_INSTALLED)
	ATEN_CPU_CAPABILITY=default $(RUN) $(PARALLEL) tests/test_train.py notebooks $(NBVAL) $(FRESH)

# Every test and notebook (strict nbval) with Colab's versions (.ci/colab.txt: IPython 7.34, ipywidgets 7.7.1, torch
# 2.11 ...) in their own .venv-colab, made with PYTHON (Colab's is 3.13). Colab has its own front end, not JupyterLab,
# so the JupyterLab browser tests skip; every widget is still built by the tests and notebooks that make one.
COLAB_VENV := .venv-colab
colab-check:
	test -x $(COLAB_VENV)/bin/python || $(PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python tools/torch_index.py $(TORCH) -c .ci/colab.txt
	$(COLAB_VENV)/bin/python -m pip install -c .ci/colab.txt -e ".[test]" ipython ipykernel jupyter_client
	$(MAKE) --no-print-directory colab-run BIN=$(COLAB_VENV)/bin

colab-run:
	$(RUN) $(PARALLEL) tests notebooks --doctest-modules utils $(NBVAL) $(FRESH)

# A quick check of a laptop (8-10 s once installed): notebook 00 loads the data and the model, plots, checks.
smoke: $(TEST_INSTALLED)
	$(RUN) -q -p no:xdist notebooks/00_start_here.ipynb $(NBVAL) $(FRESH)

# Every notebook once more, under all the conditions a learner's machine may add at once (.ci/run): online (a
# local server on 127.0.0.1 as the MNIST mirror, serving the bundled digits in another order), torch seeing CUDA
# and MPS (simulated), MPLBACKEND=Agg, COURSE_OFFLINE unset. The stored outputs must still match, and no
# notebook may download anything (tests/support/every_path.py).
paths: $(TEST_INSTALLED)
	$(BIN)/python -m tests.support.every_path $(PARALLEL) notebooks $(NBVAL) $(FRESH)

# Re-run every notebook and store its outputs (after changing one); then `make test`.
notebooks: $(LAB_INSTALLED)
	$(BIN)/python tools/sync_notebooks.py
	$(CLEAN_ENV) OMP_WAIT_POLICY=PASSIVE $(BIN)/python tools/run_notebooks.py $(NB)

sync: $(LAB_INSTALLED)
	$(BIN)/python tools/sync_notebooks.py

# Download full MNIST into data/MNIST (online), for load_mnist(full=True); the bundled subset stays as it is.
data: $(LAB_INSTALLED)
	$(BIN)/python -c "from utils.data import main; main()"

# Retrain the shipped checkpoint data/simplecnn.pt with the course's recipe.
checkpoint: $(LAB_INSTALLED)
	$(BIN)/python -c "from utils.train import main; main()"

bench: $(LAB_INSTALLED)
	$(BIN)/python benchmarks/run_all.py

# The course as a website in build/site/ (open build/site/index.html from disk; .github/workflows/site.yml
# publishes it): the committed notebooks as they are, never executed. Its tools (pyproject's `site` extra) get their
# own stamp on top of the course's install; a learner's install does not hold them. A warning fails the build.
SITE := build/site
SITE_INSTALLED := $(VENV)/.installed-site
$(SITE_INSTALLED): $(LAB_INSTALLED) pyproject.toml
	$(BIN)/python -m pip install $(PIP_C) -e ".[site]"
	touch $@

site: $(SITE_INSTALLED)
	$(BIN)/python -m sphinx -b html -W --keep-going -q -d build/site-doctrees -c site notebooks $(SITE)

# The site built, then opened from disk in headless Chromium: every page, figure, launch button, previous/next
# link, and a search (tests/repo/test_site.py; .ci/run).
site-test: site $(TEST_INSTALLED)
	COURSE_SITE=$(SITE) $(BIN)/python -m pytest -q -p no:xdist tests/repo/test_site.py

clean:
	rm -rf $(VENV) $(COLAB_VENV) .pytest_cache .ruff_cache .mypy_cache test-artifacts reports build/site build/site-doctrees \
		build/jupyter_execute
