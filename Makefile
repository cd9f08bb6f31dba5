# The course's commands. `make lab` opens the course, `make test` runs every test,
# `make check` only the quick unit tests (under a minute). All of them create a
# virtual environment in .venv on first use (Python 3.11).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
export KERAS_BACKEND ?= jax

.PHONY: lab test check notebooks student clean-notebooks benchmark

lab: $(VENV)/installed
	$(BIN)/jupyter lab notebooks/00_meet_the_data.ipynb

test: $(VENV)/installed
	@# matplotlib builds its font cache on first import and says so on stderr, which
	@# strict nbval would compare: build it here, before any lesson runs.
	$(BIN)/python -c "import matplotlib.pyplot"
	$(BIN)/python -m pytest

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

$(VENV)/installed: requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt -c constraints.txt -e .
	touch $@
