# resnet-lab: `make lab` opens the course, `make test` runs every check.
# Both set up a local virtual environment first (once; again only when
# pyproject.toml changes), so they are safe to run repeatedly.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# TensorFlow comes from an extra: tensorflow-cpu on Linux machines without an
# NVIDIA GPU (a quarter of the download), the full tensorflow elsewhere; the package's
# device detection decides, with the standard library alone.
TF_EXTRA ?= $(shell $(PYTHON) -m resnet_lab.env tensorflow-extra 2>/dev/null)
STAMP := $(VENV)/.installed-$(TF_EXTRA)
# The smoke profile keeps the notebooks' heavy cells to seconds under test.
TEST_PROFILE ?= smoke
# make test runs the tests in this many processes (pytest-xdist); each loads TensorFlow
# and can use up to about 2.5 GB of memory. TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 2
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help setup lab kernel book test-book lint-workflows test test-jax test-lowest test-grading test-online unit lint notebooks exercises course clean

help:
	@echo "make setup   create $(VENV) with the course, TensorFlow and the test tools (once)"
	@echo "make lab     set up (once) and open the course in JupyterLab"
	@echo "make test    set up (once), lint, and run the unit tests and every notebook (nbval)"
	@echo "make test-jax  lessons 05, 07, 08 and 09, the data and model-family tests under KERAS_BACKEND=jax, TensorFlow hidden; the GPU script with JAX and the listed wheels alone"
	@echo "make test-lowest  the unit tests and lesson 04 with the oldest declared versions ($(LOWEST))"
	@echo "make test-grading  nbgrader's whole loop, lesson 5 included (slow)"
	@echo "make test-online  lesson 7 online, with ImageNet weights and Imagenette served locally (slow)"
	@echo "make kernel  register this environment as the Jupyter kernel 'resnet-lab' for your user"
	@echo "make exercises  rewrite notebooks/exercises/ from the solution notebooks"
	@echo "make course  run every notebook headless and write HTML to build/course/index.html"
	@echo "make book    the course as a website, from the stored notebooks: build/book/index.html"
	@echo "make test-book  build the website and check it in headless Chromium (needs chromium)"
	@echo "make lint-workflows  check .github/workflows against GitHub's schema (needs npm)"
	@echo "make bench   measure ResNet-50 throughput, ours next to keras.applications"
	@echo "make clean   remove $(VENV), $(LOWEST) and build/"

define NEW_VENV
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
		"resnet-lab needs Python 3.11 or newer; $(PYTHON) is " + sys.version.split()[0] + \
		". Run: make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || echo "==> Creating the virtual environment $(VENV) with $$($(PYTHON) --version)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
endef

$(STAMP): pyproject.toml
	$(NEW_VENV)
	@echo "==> Installing resnet-lab with the extras [$(TF_EXTRA),dev] (first time: a few minutes: TensorFlow is a large download)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[$(TF_EXTRA),dev]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)
	@echo "==> Environment ready in $(VENV)"

setup: $(STAMP)

# make lab installs what a learner needs (the package, TensorFlow, JupyterLab), not the
# test and grading tools of make setup (pytest, JAX, nbgrader, ruff); after make setup
# there is nothing to add.
LAB_STAMP := $(VENV)/.installed-$(TF_EXTRA)-lab

$(LAB_STAMP): pyproject.toml
	$(NEW_VENV)
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ]; then :; else \
		echo "==> Installing resnet-lab with the extras [$(TF_EXTRA),lab] (first time: a few minutes: TensorFlow is a large download)"; \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[$(TF_EXTRA),lab]" || exit 1; fi
	@touch $(LAB_STAMP)

BOOK_STAMP := $(VENV)/.installed-$(TF_EXTRA)-book

$(BOOK_STAMP): $(STAMP)
	@echo "==> Installing the website's tools (Sphinx, MyST-NB, the book theme, Playwright)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[$(TF_EXTRA),dev,book,book-test]"
	@touch $(BOOK_STAMP)

book: $(BOOK_STAMP)
	$(BIN)/python book/build.py build/book
	@echo "==> open build/book/index.html"

# Builds the site, serves it from 127.0.0.1 and drives Debian's Chromium over it
# (apt-get install chromium); writes build/book-screenshot.png for a person to look at.
test-book: $(BOOK_STAMP) lint-workflows
	$(BIN)/python -m pytest -p no:cacheprovider tests/test_book.py -v

# The GitHub Actions workflows checked against GitHub's schema (they cannot run here).
lint-workflows:
	@for workflow in .github/workflows/*.yml; do \
		npx --yes @action-validator/cli@0.6.0 "$$workflow" || exit 1; \
		echo "$$workflow: valid"; done

# JupyterLab refuses to run as root (containers, cloud VMs) unless told; with no display
# to open a browser on (SSH, containers), it only prints the address to open.
LAB_FLAGS := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root) \
             $(shell [ "$$(uname -s)" = Linux ] && [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ] && \
                     echo --no-browser)

lab: $(LAB_STAMP)
	@echo "==> Opening JupyterLab on notebooks/ (Ctrl-C to stop)"
	@case "$(LAB_FLAGS)" in *--no-browser*) echo "==> No display here: open the \
	http://127.0.0.1:8888/lab?token=... address that JupyterLab prints below \
	(through an SSH tunnel from another machine: ssh -L 8888:localhost:8888 HOST)";; esac
	$(BIN)/jupyter lab notebooks/ $(LAB_FLAGS)

# The notebooks use the standard "python3" kernel: in JupyterLab started from this
# environment (make lab), from a conda environment, or on Colab, that is the Python
# with resnet_lab. A Jupyter installed elsewhere (a grading environment, an editor)
# needs this environment registered as a named kernel.
kernel: setup
	$(BIN)/python -m ipykernel install --user --name resnet-lab \
		--display-name "Python (resnet-lab)"

exercises: setup
	$(BIN)/python -m resnet_lab course sync

lint: setup
	@echo "==> ruff: the package, the tests and the notebooks"
	$(BIN)/ruff check resnet_lab tests notebooks book

unit: setup
	$(BIN)/python -m pytest tests

notebooks: setup
	RESNET_LAB_PROFILE=$(TEST_PROFILE) $(BIN)/python -m pytest --nbval-lax --nbval-current-env \
		$(wildcard notebooks/*.ipynb)

# Each module (and notebook) runs whole in one process, the longest handed out first
# (tests/conftest.py orders them; --no-loadscope-reorder keeps that order instead of
# pytest-xdist's, by number of tests).
test: setup lint
	@echo "==> pytest: unit tests, then every notebook under nbval (profile $(TEST_PROFILE))"
	RESNET_LAB_PROFILE=$(TEST_PROFILE) $(BIN)/python -m pytest --durations=10 \
		-n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder tests \
		$(wildcard notebooks/*.ipynb) --nbval-lax --nbval-current-env

# nbgrader's whole loop on lessons 1, 3 and 5 (lesson 5 trains ResNet-50, about 3 minutes
# on 2 cores more than the grading tests make test runs).
test-grading: setup
	RESNET_LAB_SLOW_TESTS=1 $(BIN)/python -m pytest tests/test_grading.py tests/test_grade.py

# Lesson 7's online path (ImageNet weights, Imagenette, the photo) with stand-in files
# served on 127.0.0.1 through the course's own download code: about 75 s on 2 cores.
test-online: setup
	RESNET_LAB_SLOW_TESTS=1 $(BIN)/python -m pytest tests/test_transfer.py -k online

# The oldest versions pyproject.toml declares (Keras, TensorFlow, NumPy, ...), installed
# exactly (tests/lowest_versions.py writes the pins) in an environment of their own.
LOWEST ?= .venv-lowest
$(LOWEST)/.installed: pyproject.toml tests/lowest_versions.py
	@test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	@$(PYTHON) tests/lowest_versions.py > $(LOWEST)/lowest.txt
	@echo "==> Installing the oldest declared versions into $(LOWEST):" $$(cat $(LOWEST)/lowest.txt)
	@$(LOWEST)/bin/python -m pip install --quiet --disable-pip-version-check \
		-c $(LOWEST)/lowest.txt -e ".[$(TF_EXTRA),dev]"
	@touch $@

test-lowest: $(LOWEST)/.installed
	@$(LOWEST)/bin/python -c 'import keras, numpy, tensorflow; print("==> keras", \
		keras.__version__, "| tensorflow", tensorflow.__version__, "| numpy", numpy.__version__)'
	RESNET_LAB_PROFILE=$(TEST_PROFILE) $(LOWEST)/bin/python -m pytest tests \
		notebooks/04_resnet50.ipynb --nbval-lax --nbval-current-env

# The JAX path as a GPU machine without TensorFlow runs it: tests/without_tensorflow
# makes every import of tensorflow fail. Lessons 05, 07, 08 and 09 (smoke profile) under nbval,
# the config, data, augmentation and model-family tests; then the GPU measurement script's
# tiny run in a new environment with JAX and the wheels benchmarks/README.md lists, and
# nothing else (needs PyPI; about 2 minutes).
test-jax: setup
	@echo "==> KERAS_BACKEND=jax, TensorFlow hidden: lessons 05, 07, 08 and 09, data and family tests, the GPU script"
	KERAS_BACKEND=jax PYTHONPATH=tests/without_tensorflow RESNET_LAB_PROFILE=$(TEST_PROFILE) \
		$(BIN)/python -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env \
		notebooks/05_train_resnet50.ipynb notebooks/07_transfer_learning.ipynb \
		notebooks/08_resnet_family.ipynb notebooks/09_what_resnets_learn.ipynb \
		tests/test_config.py tests/test_data.py \
		tests/test_augment.py tests/test_family.py tests/test_twins.py
	RESNET_LAB_SLOW_TESTS=1 $(BIN)/python -m pytest -p no:cacheprovider tests/test_bench.py \
		-k readmes_wheels

course: setup
	$(BIN)/python -m resnet_lab course build --out build/course

# make bench: ResNet-50 throughput on this machine, ours next to keras.applications
# (benchmarks/README.md; benchmarks/gpu_measure.py measures a GPU in one call).
BENCH_ARGS ?= --image-size 64 --batch-size 8 --steps 20 --warmup 2 --repeats 3
.PHONY: bench
bench: setup
	$(BIN)/python -m resnet_lab bench $(BENCH_ARGS) --json build/bench.json

clean:
	rm -rf $(VENV) $(LOWEST) build
