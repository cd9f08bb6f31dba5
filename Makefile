# The course's commands. `make lab` opens the course, `make test` runs every test,
# `make check` only the quick unit tests (under a minute), `make demo` serves the demo page
# for class (draw a digit, browse predictions; no code shown) at http://localhost:8866/.
# All of them create a virtual environment in .venv on first use, with the first of python3,
# python3.13, python3.12, python3.11 that is Python 3.11 or newer (or
# `make PYTHON=/path/to/python3.x`).
PY_AT_LEAST_3_11 = $(shell $(1) -c 'import sys; print(int(sys.version_info >= (3, 11)))' 2>/dev/null)
PYTHON ?= $(firstword $(foreach p,python3 python3.13 python3.12 python3.11,$(if $(filter 1,$(call PY_AT_LEAST_3_11,$(p))),$(p))))
VENV   := .venv
BIN    := $(VENV)/bin
export KERAS_BACKEND ?= jax
# A relative MNIST_NPZ means: from here; npcore.load_mnist looks for it from the course's
# folder too, since the lessons run in notebooks/ or my-notebooks/.

# The learner's own copy of the lessons (git-ignored): made on first use, never overwritten.
MY       ?= my-notebooks
LAB_ARGS ?=
TEST_WORKERS ?= 2
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab solutions test check notebooks student clean-notebooks benchmark demo

# Opens JupyterLab on your own copy, my-notebooks/: the lessons with blank exercises.
# Lessons already there are kept as they are (your work); notebooks/ is never opened.
lab: $(VENV)/installed
	$(BIN)/python tools/student_edition.py --keep --out $(MY) notebooks/*.ipynb
	$(BIN)/jupyter lab --ServerApp.root_dir=$(MY) $(ALLOW_ROOT) \
	    --LabApp.default_url=/lab/tree/00_meet_the_data.ipynb $(LAB_ARGS)

# The solved lessons, with their outputs, into my-notebooks/solved/ (files there are kept).
solutions:
	mkdir -p $(MY)/solved
	for f in notebooks/*.ipynb; do test -e $(MY)/solved/$${f##*/} || cp $$f $(MY)/solved/; done

test: $(VENV)/installed
	@# matplotlib builds its font cache on first import and says so on stderr, which
	@# strict nbval would compare: build it here, before any lesson runs.
	$(BIN)/python -c "import matplotlib.pyplot"
	@# Running everything must leave the checkout as it was (git status before = after).
	@git status --porcelain --untracked-files=all > $(VENV)/git-status-before 2>/dev/null || true
	@# Two workers (pytest-xdist), one BLAS thread each: two lessons at a time keep both cores
	@# busy, where one lesson's small matrix products and kernel start-ups left one idle.
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=25
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	    git status --porcelain --untracked-files=all > $(VENV)/git-status-after; \
	    diff $(VENV)/git-status-before $(VENV)/git-status-after \
	        || { echo "make test changed the files above (git status)"; exit 1; }; fi

# The unit tests without the lessons (nbval off), the browser, Keras and the slow ones
# (markers: pytest.ini; `slow` is given in tests/conftest.py). Make's own command line
# can pass more, e.g. `make check PYTEST_ARGS="-x -k npcore"`.
CHECK_MARKERS := not slow and not browser and not keras
check: $(VENV)/installed
	@# --ignore: importing Keras alone takes seconds, and -m leaves out every test of that file.
	$(BIN)/python -m pytest tests -p no:nbval -m "$(CHECK_MARKERS)" \
	    --ignore=tests/test_keras_equivalence.py -q $(PYTEST_ARGS)

# Re-execute the lessons and store their outputs (needs MNIST_NPZ or internet).
notebooks: $(VENV)/installed
	$(BIN)/python tools/run_notebooks.py

clean-notebooks: $(VENV)/installed
	$(BIN)/python tools/nbclean.py notebooks/*.ipynb

# `make student STUDENT_ARGS=--force` replaces student notebooks that differ from the new edition.
student: $(VENV)/installed
	$(BIN)/python tools/student_edition.py $(STUDENT_ARGS)

benchmark: $(VENV)/installed
	$(BIN)/python benchmarks/run.py

# The demo page for class: demo/demo.ipynb served by Voila as a page without code, the
# draw-a-digit widget and the prediction browser with the networks of models/. Voila prints
# the URL; Ctrl+C stops it. Its options are in demo/voila.json (read from demo/, where it
# runs): the template demo/jupyter/voila/templates/course-demo asks nothing from the internet.
# A browser is opened only where there is a display (or on macOS); DEMO_ARGS replaces that
# choice, e.g. `make demo DEMO_PORT=9000 DEMO_ARGS=--no-browser`.
DEMO_PORT ?= 8866
DEMO_ARGS ?= $(if $(DISPLAY)$(WAYLAND_DISPLAY)$(filter Darwin,$(shell uname -s)),,--no-browser)
demo: $(VENV)/installed
	cd demo && JUPYTER_PATH="$(CURDIR)/demo/jupyter$${JUPYTER_PATH:+:$$JUPYTER_PATH}" \
	    "$(if $(filter /%,$(BIN)),,$(CURDIR)/)$(BIN)/voila" demo.ipynb --port=$(DEMO_PORT) $(DEMO_ARGS)

$(VENV)/installed: requirements.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || test "$(call PY_AT_LEAST_3_11,$(PYTHON))" = 1 || { \
	    echo "The course needs Python 3.11 or newer (tested: 3.11, 3.12, 3.13):" \
	        "$(if $(PYTHON),$(PYTHON) is $$($(PYTHON) --version 2>&1),none of python3, python3.13, python3.12, python3.11 is one)."; \
	    echo "Install one, or name it: make PYTHON=/path/to/python3.12"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt -c constraints.txt -e .
	touch $@
