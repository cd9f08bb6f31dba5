"""Shared pytest setup: Keras on JAX, the markers `make check` selects with, and a guard
that every lesson runs under nbval.

Markers (declared in pytest.ini):
  notebook  a lesson cell run by nbval; given here to every item collected from an .ipynb
  browser   JupyterLab or the demo page in headless Chromium (test_browser_jupyterlab.py,
            test_draw_jupyterlab.py, test_demo.py, test_learner_copy.py mark themselves)
  keras     tests that run Keras (test_keras_equivalence.py, two tests of test_checks_10_12.py,
            one of test_training_progress.py mark themselves)
  slow      a unit test that takes seconds; given here, by node id, from SLOW below

`make check` runs `pytest tests -p no:nbval -m "not slow and not browser and not keras"`.
`make test` runs everything on two pytest-xdist workers: work_unit and LONG_FIRST below say
what runs whole on one worker and what starts first.
"""
import glob
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LESSONS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "[0-9][0-9]_*.ipynb")))

# Unit tests that take seconds each (they start processes or kernels, or train on MNIST),
# as node ids relative to tests/ without the parameters, matched as prefixes. Marked here
# rather than in their files so that the list of what `make check` leaves out stays in
# one place; `pytest tests -p no:nbval --durations=20` shows what belongs in it.
SLOW = (
    "test_npcore.py::test_main_trains_saves_and_reloads",                 # trains on MNIST
    "test_project.py::test_run_notebooks_stores_clean_outputs_",          # two kernels
    "test_student_edition.py::test_real_lesson_student_edition_stops_",   # a kernel, MNIST
    "test_student_edition.py::test_synthetic_student_edition_stops_",     # a kernel
    "test_student_edition.py::test_synthetic_solution_edition_passes_",   # a kernel
    "test_student_edition.py::test_command_line_",                        # the tool's process
    "test_student_edition.py::test_default_run_",                         # the tool on every lesson
    "test_student_edition.py::test_written_real_lesson_",                 # (the same run)
    "test_student_edition.py::test_near_miss_on_the_command_line_",       # a process per near miss
    "test_nbgrader.py::test_nbgrader_grades_",                            # nbgrader runs every lesson
    "test_nbgrader.py::test_release_holds_",                              # (the same runs)
    "test_learner_copy.py::test_learner_copy_is_made_once_",              # the tool, twice
    "test_learner_copy.py::test_make_",                                   # make's processes
    "test_checks_10_12.py::test_small_cnn_must_be_trained_",              # trains a small CNN
    "test_draw_digit.py::test_mnist_numbers_quoted_in_the_module_are_",   # every MNIST image
    "test_draw_digit.py::test_committed_models_score_what_",              # 10,000 test images
)

COLLECTED = pytest.StashKey[set]()   # paths of every item collected, deselected or not

# The nbval options pytest.ini's addopts always passes.
NBVAL_OPTIONS = {"--nbval": "store_true", "--nbval-current-env": "store_true",
                 "--nbval-sanitize-with": "store", "--nbval-cell-timeout": "store"}


def pytest_addoption(parser, pluginmanager):
    """With nbval switched off (`-p no:nbval`, as `make check` does: it saves the seconds
    nbval's imports take), accept and ignore the nbval options of pytest.ini's addopts."""
    if pluginmanager.is_blocked("nbval"):
        group = parser.getgroup("nbval (switched off by -p no:nbval: these are ignored)")
        for option, action in NBVAL_OPTIONS.items():
            group.addoption(option, action=action, dest=f"ignored_{option[2:].replace('-', '_')}")


def _node_id(item):
    """'tests/test_x.py::test_y[param]' -> 'test_x.py::test_y' (relative to tests/)."""
    path = os.path.relpath(str(item.path), os.path.dirname(os.path.abspath(__file__)))
    return f"{path}::{item.name.split('[')[0]}".replace(os.sep, "/")


@pytest.hookimpl(tryfirst=True)   # before -m deselects by these markers
def pytest_collection_modifyitems(config, items):
    config.stash[COLLECTED] = {os.path.abspath(str(item.path)) for item in items}
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
        elif _node_id(item).startswith(SLOW):
            item.add_marker(pytest.mark.slow)
    if os.environ.get("PYTEST_XDIST_WORKER"):     # a worker of `make test`: long units first
        rank = {unit: i for i, unit in enumerate(LONG_FIRST)}
        items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(LONG_FIRST)))   # stable


# `make test` runs two pytest-xdist workers. Each unit of work below runs whole, in order,
# on one worker: a lesson (its cells share one kernel) together with the lesson that reads
# a file it writes, or one test file (its module fixtures are built once).
READS_FROM = {"07": "06", "10": "09"}     # lesson 07 reads lesson 06's network, 10 lesson 09's
# The units that take minutes, longest first (measured in a clean-clone run): handed out
# first, they end while short units fill the other worker, so neither waits at the end.
LONG_FIRST = ("lessons 09+10", "tests/test_nbgrader.py", "lessons 12", "lessons 06+07",
              "tests/test_browser_jupyterlab.py", "tests/test_learner_copy.py", "lessons 08",
              "tests/test_draw_jupyterlab.py", "tests/test_demo.py", "tests/test_student_edition.py")


def work_unit(nodeid):
    """'notebooks/07_x.ipynb::Cell 3' -> 'lessons 06+07'; 'tests/test_x.py::test_y' -> the file."""
    path = nodeid.split("::", 1)[0]
    name = os.path.basename(path)
    if name.endswith(".ipynb") and name[:2].isdigit():
        first = READS_FROM.get(name[:2], name[:2])
        readers = [n for n, f in READS_FROM.items() if f == first]
        return "lessons " + "+".join([first, *readers])
    return path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's loadfile, but with the lessons paired as work_unit says (its own
    --dist loadgroup cannot mark nbval's cells with pytest 9)."""
    from xdist.scheduler import LoadScopeScheduling

    class LessonScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return work_unit(nodeid)

    config.option.loadscopereorder = False        # keep LONG_FIRST's order, not the largest units
    return LessonScheduling(config, log)


def pytest_collection_finish(session):
    """Fail the run if a lesson was meant to run but nbval collected no cell of it.

    Applies when nbval is on and the notebooks folder itself is among the paths pytest
    was given (as in `make test`), so no lesson can be skipped silently by a typo, a bad
    file name or a notebook nbval cannot parse. Lessons left out on purpose, with
    `-m "not notebook"` or `-k`, were collected and do not count as missing.
    """
    if not session.config.pluginmanager.has_plugin("nbval"):
        return
    if not session.config.getoption("nbval", default=False):
        return
    notebooks_dir = os.path.join(ROOT, "notebooks")
    asked = [os.path.abspath(str(a)).split("::")[0] for a in session.config.args]
    if notebooks_dir not in asked:
        return
    collected = session.config.stash.get(COLLECTED, set())   # before -m / -k deselected any
    missing = [os.path.relpath(p, ROOT) for p in LESSONS if p not in collected]
    if missing or not LESSONS:
        raise pytest.UsageError(f"nbval collected no cells from: {missing or 'notebooks/ (empty)'}")


# Lesson 06's network, as lesson 06 trains and saves it (lesson 07 reads it; without it,
# lesson 07 trains it itself). The browser test and the nbgrader test both run lesson 07,
# often before nbval has run lesson 06: one training serves both when they run in one
# process; under `make test`'s two xdist workers each worker that needs it trains its own
# (about 15 s; a file lesson 06 has written meanwhile is used instead).
LESSON_06_NETWORK = "mnist_784_10_10.npz"
LESSON_06_RECIPE = {"learning_rate": 0.5, "iterations": 500, "seed": 0, "init": "lecun"}


@pytest.fixture(scope="session")
def lesson06_network(tmp_path_factory):
    """Path of lesson 06's network file: notebooks/' own if it holds lesson 06's recipe
    (saved by this npcore), else trained here once, as lesson 07 would train it."""
    import npcore

    stored = os.path.join(ROOT, "notebooks", LESSON_06_NETWORK)
    try:
        params, metadata = npcore.load_params(stored, with_metadata=True)
        if metadata.get("layer_sizes") == [784, 10, 10] and \
                metadata.get("npcore_version") == npcore.__version__ and \
                all(metadata.get(k) == v for k, v in LESSON_06_RECIPE.items()):
            return stored
    except Exception:                              # missing, damaged, another npcore's: train
        pass
    recipe = LESSON_06_RECIPE
    (x_train, y_train), _ = npcore.load_mnist()
    params, _ = npcore.gradient_descent(npcore.preprocess(x_train), y_train, recipe["learning_rate"],
                                        recipe["iterations"], n_hidden=10, rng=recipe["seed"],
                                        init=recipe["init"], progress=False)
    path = tmp_path_factory.mktemp("lesson06") / LESSON_06_NETWORK
    npcore.save_params(str(path), params, **recipe)
    return str(path)
