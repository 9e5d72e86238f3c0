# The course's commands. `make lab` runs the course; `make test` runs every test.
# Both build the tested environment in .venv/ first (once; later runs reuse it).
# `make lab` serves the learner's working copy my-notebooks/ (git-ignored, seeded from chapters/),
# so running and editing chapters never makes `git pull` conflict.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONSTRAINTS := requirements/constraints.txt
# Jupyter, IPython and matplotlib write into the home directory unless told otherwise; the test
# run keeps all of that inside the repository (git-ignored .cache/).
CACHE := $(CURDIR)/.cache
TEST_ENV := JUPYTER_CONFIG_DIR=$(CACHE)/jupyter/config JUPYTER_DATA_DIR=$(CACHE)/jupyter/data \
	JUPYTER_RUNTIME_DIR=$(CACHE)/jupyter/runtime IPYTHONDIR=$(CACHE)/ipython \
	MPLCONFIGDIR=$(CACHE)/matplotlib JUPYTER_PLATFORM_DIRS=1 \
	PYDEVD_DISABLE_FILE_VALIDATION=1 PYTHONHASHSEED=0
# Stored notebook outputs are made with this many CPU threads (results are bit-identical only at
# the same thread count).
NOTEBOOK_THREADS ?= 2
LAB_PORT ?= 8888
# The learner's working copies (git-ignored): of chapters/, and of the student edition.
WORK := my-notebooks
STUDENT_WORK := my-student-notebooks
RUN_LOG := $(CACHE)/run-log.jsonl
# An offline classroom: `make wheelhouse` fills wheelhouse/ with every pinned package;
# `make env WHEELHOUSE=path` (or `make lab WHEELHOUSE=path`) then installs from that folder alone.
WHEELHOUSE ?=
PIP_SOURCE := $(if $(WHEELHOUSE),--no-index --find-links $(WHEELHOUSE))
TORCH_INDEX ?=

.PHONY: help env lab lab-student lab-refresh test lint format unit notebooks-test student-test \
	large-preset-test browser-test student notebooks syllabus badges doctor bench lock wheelhouse clean site

help:
	@echo "make lab          set up .venv/ (first time), copy new chapters into $(WORK)/, open JupyterLab there"
	@echo "make lab-student  the same with the student edition (no solutions) in $(STUDENT_WORK)/"
	@echo "make lab-refresh  put the course's new version of each chapter you changed beside yours"
	@echo "make test         set up .venv/ (first time) and run lint, unit tests and every notebook"
	@echo "make student      write the student edition (no solutions) to student/"
	@echo "make site         the course website in build/site/html/ (offline; from the stored outputs)"
	@echo "make solutions    instructors: each chapter's exercises with their solutions, in solutions/"
	@echo "make teaching     maintainers: regenerate docs/teaching.md (plans, preparation, mistakes)"
	@echo "make notebooks    maintainers: re-execute every chapter in place from a clean kernel"
	@echo "make syllabus     maintainers: measured run times from the last run into the syllabus"
	@echo "make doctor       report versions, device, threads and the bundled data"
	@echo "make large-preset-test  maintainers: chapters 03-05 with a GPU's budget, on this machine"
	@echo "make bench        every speed claim as ratios against its reference (BENCH_ARGS=--quick)"
	@echo "make wheelhouse   every pinned package in wheelhouse/ (then: make env WHEELHOUSE=wheelhouse, offline)"
	@echo "make slides       instructors: one reveal.js deck per chapter in slides/, works offline from disk"

env: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) scripts/require_python.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, alone: the pinned CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --disable-pip-version-check -q $(PIP_SOURCE) -c $(CONSTRAINTS) torch pip hatchling editables
	$(BIN)/python -m pip install --disable-pip-version-check -q $(PIP_SOURCE) -c $(CONSTRAINTS) --no-build-isolation -e ".[lab,test,browser]"
	# rfc3987-syntax (pulled in through jupyter-events' jsonschema extra) adds 3-8 s to every
	# pytest, kernel and nbconvert start and nothing the course needs.
	$(BIN)/python -m pip uninstall --disable-pip-version-check -q -y rfc3987-syntax lark
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/python -m coursekit lab chapters $(WORK) --port $(LAB_PORT)

lab-student: $(STAMP)
	$(BIN)/python -m coursekit student chapters student
	$(BIN)/python -m coursekit lab student $(STUDENT_WORK) --port $(LAB_PORT)

lab-refresh: $(STAMP)
	$(BIN)/python -m coursekit workspace chapters $(WORK) --refresh
	@if [ -d $(STUDENT_WORK) ]; then \
		$(BIN)/python -m coursekit student chapters student && \
		$(BIN)/python -m coursekit workspace student $(STUDENT_WORK) --refresh; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Unit, parity and property tests: two workers, one torch thread each (no oversubscription).
unit: $(STAMP)
	$(TEST_ENV) OMP_NUM_THREADS=1 COURSEKIT_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -m "not browser" tests coursekit

# Every chapter executed top to bottom by nbval, one notebook at a time with all cores.
# Lax mode: a cell fails on any exception; the chapters' key claims are asserts. Reference
# solutions must pass their checkers (COURSEKIT_STRICT_EXERCISES).
notebooks-test: $(STAMP)
	mkdir -p $(CACHE) && rm -f $(RUN_LOG)
	$(TEST_ENV) COURSEKIT_NUM_THREADS=$(NOTEBOOK_THREADS) COURSEKIT_STRICT_EXERCISES=1 \
		COURSEKIT_RUN_LOG=$(RUN_LOG) \
		$(BIN)/python -m pytest --nbval-lax --nbval-cell-timeout=600 \
		--nbval-current-env chapters

# Maintainers, after changing chapters 03-05: run them with the large preset (a GPU's budget) on
# this machine, about 11 minutes on a 2-core CPU; not part of `make test`.
PRESET_CHAPTERS := chapters/03_rnn.ipynb chapters/04_lstm.ipynb chapters/05_gru.ipynb
large-preset-test: $(STAMP)
	$(TEST_ENV) COURSEKIT_PRESET=large COURSEKIT_NUM_THREADS=$(NOTEBOOK_THREADS) COURSEKIT_STRICT_EXERCISES=1 \
		$(BIN)/python -m pytest --nbval-lax --nbval-cell-timeout=900 --nbval-current-env $(PRESET_CHAPTERS)

# The student edition (solutions removed) must run top to bottom too: each exercise's checker
# then reports "not attempted yet" instead of stopping the notebook. The chapters the browser
# test runs (coursekit.notebooks.BROWSER_CHAPTERS) run there in their student edition, in
# JupyterLab; nbval runs the student edition of the others, so no edition runs twice.
student-test: $(STAMP)
	rm -rf $(CACHE)/student $(CACHE)/student-run-log.jsonl
	$(BIN)/python -m coursekit student chapters $(CACHE)/student
	$(TEST_ENV) COURSEKIT_NUM_THREADS=$(NOTEBOOK_THREADS) COURSEKIT_RUN_LOG=$(CACHE)/student-run-log.jsonl \
		$(BIN)/python -m pytest --nbval-lax --nbval-cell-timeout=600 --nbval-current-env \
		$$($(BIN)/python -c 'from coursekit.notebooks import student_nbval_targets as t; print(*t("chapters", "$(CACHE)/student"))')

# JupyterLab in headless Chromium: the student edition of each chapter in BROWSER_CHAPTERS opened
# and run from the UI, as a learner does.
# Needs Debian's chromium (`sudo bash scripts/install_browser.sh`); skipped with the reason when
# it is missing, except under CI=true, where it fails.
browser-test: $(SITE_STAMP) slides-assets
	$(TEST_ENV) $(BIN)/python -m pytest -m browser tests/browser -v

test: lint unit notebooks-test student-test site browser-test

# The course website, from the chapters' stored outputs (nothing is executed), into
# build/site/html/ (git-ignored): open index.html, or `python -m http.server -d build/site/html`.
# tests/browser/test_site.py checks it in Chromium (and rebuilds it when it is stale).
# Its build packages (the `site` extra: Sphinx, MyST-NB, ...) are installed on first use, not by
# `make env`: learners never need them.
SITE_STAMP := $(VENV)/.site-stamp
$(SITE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --disable-pip-version-check -q $(PIP_SOURCE) -c $(CONSTRAINTS) --no-build-isolation -e ".[site]"
	$(BIN)/python -m pip uninstall --disable-pip-version-check -q -y rfc3987-syntax lark
	touch $(SITE_STAMP)

site: $(SITE_STAMP)
	$(TEST_ENV) $(BIN)/python scripts/build_site.py

student: $(STAMP)
	$(BIN)/python -m coursekit student chapters student

# For instructors: per chapter, each exercise's statement, reference solution and its checker's
# verdict, as Markdown in solutions/ (git-ignored: do not publish it beside the student edition).
.PHONY: solutions teaching
solutions: $(STAMP)
	$(BIN)/python -m coursekit solutions chapters solutions

# docs/teaching.md from the syllabus, the measured run times and the checkers (tests/test_teaching.py
# fails when the committed file is stale).
teaching: $(STAMP)
	$(BIN)/python -m coursekit teaching --out docs/teaching.md

notebooks: $(STAMP)
	mkdir -p $(CACHE) && rm -f $(RUN_LOG)
	$(TEST_ENV) COURSEKIT_NUM_THREADS=$(NOTEBOOK_THREADS) $(BIN)/python -m coursekit execute \
		--run-log $(RUN_LOG) chapters

# After `make notebooks` (or `make notebooks-test`): each chapter's measured run time and peak
# memory from the run log into coursekit/syllabus_measured.json, then the chapters' header lines,
# the README's table, chapter 00 (which shows the table), the results chapter 11 quotes from 07 and
# 09 (coursekit/chapter_outputs.json) and docs/teaching.md regenerated.
syllabus: $(STAMP)
	$(BIN)/python -m coursekit syllabus --from-log $(RUN_LOG)
	$(BIN)/python -m coursekit headers --fix chapters
	$(BIN)/python scripts/update_readme.py
	$(TEST_ENV) COURSEKIT_NUM_THREADS=$(NOTEBOOK_THREADS) $(BIN)/python -m coursekit execute \
		--run-log '' chapters/00_setup.ipynb
	$(BIN)/python -m coursekit.evidence
	$(BIN)/python -m coursekit teaching --out docs/teaching.md

badges: $(STAMP)
	$(BIN)/python -m coursekit badges --fix chapters

doctor: $(STAMP)
	$(BIN)/python -m coursekit doctor

# Every layer and training step against its reference, at 1 and 2 threads, with the targets;
# prints ratios, asserts nothing. `make bench BENCH_ARGS=--quick` for a first look.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

# Maintainers: refresh the pins after changing pyproject.toml's dependencies.
lock: $(SITE_STAMP)
	$(BIN)/python scripts/lock.py > $(CONSTRAINTS)

# Every package `make env` installs, pinned, as files in wheelhouse/ (git-ignored): copy it with the
# repository to a USB stick. Needs the internet, not .venv/. TORCH_INDEX=url takes torch from
# another index (e.g. https://download.pytorch.org/whl/cpu: PyPI's Linux torch is the CUDA build).
wheelhouse:
	@$(PYTHON) scripts/require_python.py
	$(PYTHON) scripts/wheelhouse.py wheelhouse $(if $(TORCH_INDEX),--torch-index-url $(TORCH_INDEX))

# Slides for the classroom: each chapter's stored outputs as a reveal.js deck in slides/ (git-ignored),
# reveal.js and MathJax copied to slides/_assets/: copy the folder, open a deck from disk, offline.
# Slide types are derived from the chapter's headings (coursekit/slides.py). The libraries are
# fetched once from npm, pinned and checksummed (scripts/slides_assets.json), into
# .cache/slides-assets/ by `make slides-assets`; the browser test (tests/browser/test_slides.py)
# builds decks from that cache, so browser-test depends on it too.
.PHONY: slides slides-assets
slides: $(STAMP) slides-assets
	$(TEST_ENV) $(BIN)/python -m coursekit.slides chapters --out slides

slides-assets:
	$(PYTHON) scripts/slides_assets.py --dest $(CACHE)/slides-assets

clean:
	rm -rf $(VENV) $(CACHE) student slides build dist .pytest_cache .ruff_cache
