# CLRIC companion. The two everyday commands: `make tutorial` and `make test`.
# Everything runs from the project's own virtual environment (.venv), created on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# VAE used by the tutorial notebooks: house (ships with the package), sd, sd-in, sdxl, taesd, …
VAE ?= house
PIP_FLAGS ?= --no-input --disable-pip-version-check
PYTEST_ARGS ?=

export PIP_NO_INPUT := 1
# Playwright (dev extras, site test) drives the system's chromium: it never downloads a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: venv tutorial solutions site site-instructor test lint figures visual-figures clean

venv: $(VENV)/.installed

# Re-installs when pyproject.toml changes; delete .venv to start from scratch.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) -e '.[dev]'
	touch $@

# Runs every notebook in notebooks/ (in name order) with papermill, from inside notebooks/
# (as JupyterLab does), without progress bars or widgets: executed copies go to build/, their
# figures to $(TUTORIAL_FIGURES) (build/figures: git status stays clean; TUTORIAL_FIGURES=figures
# refreshes the committed copies).
# LAB=1 (any non-empty value) is the lab mode for a class: each chapter with the smaller
# settings of clric_utils/tutorial/lab.py (≤ 4 minutes each here), printing what it leaves out;
# its executed copies replace the full run's in build/. Each chapter's wall time is appended to
# build/tutorial_times.csv (chapter,mode,seconds).
TUTORIAL_FIGURES ?= build/figures
LAB ?=
RUN_NOTEBOOK = $(BIN)/papermill --no-progress-bar -k python3 -p vae $(VAE) -p progress False
tutorial: venv
	@mkdir -p build $(TUTORIAL_FIGURES)
	@[ -s build/tutorial_times.csv ] || echo "chapter,mode,seconds" > build/tutorial_times.csv
	@set -e; ran=0; mode=$(if $(LAB),lab,full); for nb in notebooks/*.ipynb; do \
		[ -e "$$nb" ] || continue; \
		chapter=$$(basename "$$nb" .ipynb); lab=""; \
		[ "$$mode" = full ] || lab=$$($(BIN)/python -m clric_utils.tutorial.lab "$$chapter"); \
		echo "== $$nb (VAE=$(VAE), $$mode run)"; started=$$(date +%s); \
		$(RUN_NOTEBOOK) --cwd notebooks -p interactive False $${lab:+-y "$$lab"} \
			-p out_dir "$$(realpath -m --relative-to=notebooks $(TUTORIAL_FIGURES))" \
			"$(CURDIR)/$$nb" "$(CURDIR)/build/$$chapter.ipynb"; \
		echo "$$chapter,$$mode,$$(( $$(date +%s) - started ))" >> build/tutorial_times.csv; \
		ran=$$((ran + 1)); \
	done; echo "tutorial: $$ran notebook(s) executed into build/ ($$mode run)"

# Static site of the executed tutorial (needs `make tutorial` first): one page per notebook of
# build/ with its outputs and figures, an index with the course's front matter, a glossary,
# equations by a bundled MathJax; nothing is fetched, neither at build time nor when reading,
# and no link leaves the site (docs/site.md). `make site` is the student build (no solutions:
# the chapters' links to them become a note); `make site-instructor` (after `make solutions`)
# adds the executed solutions, linked from the chapters, in build/site-instructor/. Open with
#   xdg-open build/site/index.html        or   python3 -m http.server -d build/site
site: venv
	@ls build/*.ipynb >/dev/null 2>&1 || { \
		echo "site: no executed notebooks in build/: run 'make tutorial' first" >&2; exit 2; }
	$(BIN)/python tools/site/build.py --notebooks build --out build/site

site-instructor: venv
	@ls build/*.ipynb >/dev/null 2>&1 || { \
		echo "site-instructor: no executed notebooks in build/: run 'make tutorial' first" >&2; \
		exit 2; }
	@ls build/solutions/*.ipynb >/dev/null 2>&1 || { \
		echo "site-instructor: no executed solutions in build/solutions/: run 'make solutions' first" >&2; \
		exit 2; }
	$(BIN)/python tools/site/build.py --notebooks build --out build/site-instructor \
		--solutions build/solutions

# The exercises' solutions (notebooks/solutions/), executed into build/solutions/ like the
# chapters; `make site-instructor` then adds them as a second section (students get `make site`,
# without them). One torch thread: their hand-written loops run small tensors, where more
# threads cost more than they give (02's took 2.5 min with one, > 15 min with two here).
solutions: venv
	@mkdir -p build/solutions $(TUTORIAL_FIGURES)
	@set -e; for nb in notebooks/solutions/*.ipynb; do \
		echo "== $$nb (VAE=$(VAE))"; \
		$(RUN_NOTEBOOK) --cwd notebooks/solutions -p threads 1 \
			-p out_dir "$$(realpath -m --relative-to=notebooks/solutions $(TUTORIAL_FIGURES))" \
			"$(CURDIR)/$$nb" "$(CURDIR)/build/solutions/$$(basename "$$nb")"; \
	done

lint: venv
	$(BIN)/ruff check .

test: venv
	$(BIN)/ruff check .
	$(BIN)/pytest -q $(PYTEST_ARGS)

# RD figures of every results CSV (published curves on complete Kodak / CLIC 2020 results); it
# names the data sets that have no complete results yet.
figures: venv
	$(BIN)/clric plot --results results --out figures

# Matched-rate visual comparisons (Kodak 13, 19, 22; the paper's CLIC images when CLRIC_CLIC_DIR
# holds them): one CLRIC encode per image and rate, minutes each on a CPU.
visual-figures: venv
	$(BIN)/python benchmarks/visual_comparisons.py --vae $(VAE) --figures figures

clean:
	rm -rf build .pytest_cache .ruff_cache
