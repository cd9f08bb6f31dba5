"""Checks of the project's own files: environment recipes agree, pyproject.toml installs
every module and takes the version from npcore, notebooks are clean, the tools' command
lines behave."""
import ast
import contextlib
import glob
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tomllib

import nbformat
import pytest
import yaml  # PyYAML comes with JupyterLab (jupyter-events)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import exercise_cells  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))


def load_tool(name):
    """tools/<name>.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nbclean = load_tool("nbclean")


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def _name(requirement):
    """'jax[cpu]==0.10.2' -> 'jax'; names compared case- and dash-insensitively."""
    return re.split(r"[\[=<>~! ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def requirements_txt():
    lines = read("requirements.txt").splitlines()
    return {_name(l): l.strip() for l in lines if l.strip() and not l.startswith("#")}


def environment_yml():
    """Conda packages and pip packages of environment.yml, name -> spec."""
    env = yaml.safe_load(read("environment.yml"))
    conda = {_name(d): d for d in env["dependencies"] if isinstance(d, str)}
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)][0]
    conda.pop("python"), conda.pop("pip")
    return conda, {_name(p): p for p in pip if not p.startswith("-e")}


def test_environment_yml_and_requirements_name_the_same_packages():
    conda, pip = environment_yml()
    req = requirements_txt()
    assert set(conda) | set(pip) == set(req), (
        f"only in environment.yml: {sorted(set(conda) | set(pip) - set(req))}; "
        f"only in requirements.txt: {sorted(set(req) - set(conda) - set(pip))}")
    for name, spec in {**conda, **pip}.items():       # and pin the same versions
        version = re.split(r"==?", spec)[-1]
        assert req[name].endswith("==" + version), f"{name}: {spec} vs {req[name]}"


def test_environment_yml_parses_as_expected():
    conda, pip = environment_yml()
    assert "numpy" in conda and "keras" in pip and "jax" in pip


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_is_committed_clean(path):
    # In this process (a subprocess per notebook cost seconds each); the command line
    # itself is tested once below.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = nbclean.main(["--check", path])
    assert code == 0, out.getvalue()


def test_nbclean_check_fails_on_volatile_metadata_and_cleaning_removes_it(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("1 + 1", metadata={"collapsed": True, "tags": ["x"]}))
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    dirty = tmp_path / "dirty.ipynb"
    nbformat.write(nb, dirty)
    before = dirty.read_text(encoding="utf-8")
    # The command line once (each process spends seconds importing nbformat).
    check = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "nbclean.py"), "--check", str(dirty)],
                           capture_output=True, text=True)
    assert check.returncode == 1 and "dirty.ipynb" in check.stdout, check.stdout + check.stderr
    assert dirty.read_text(encoding="utf-8") == before             # --check never writes
    assert nbclean.main([str(dirty)]) == 0                          # rewrites in place
    assert nbclean.main(["--check", str(dirty)]) == 0
    cleaned = nbformat.read(dirty, as_version=4)
    assert cleaned.metadata["language_info"] == {"name": "python"}
    assert dict(cleaned.cells[0].metadata) == {"tags": ["x"]}


def test_nbclean_joins_consecutive_prints_to_one_stream():
    """How the kernel flushed two prints must not show in the stored notebook."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1); print(2)")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n"),
                           nbformat.v4.new_output("stream", name="stdout", text=["2\n"]),
                           nbformat.v4.new_output("stream", name="stderr", text="w\n"),
                           nbformat.v4.new_output("stream", name="stdout", text="3\n")]
    outputs = nbclean.clean(nb).cells[0].outputs
    assert [(o["name"], o["text"]) for o in outputs] == [("stdout", "1\n2\n"), ("stderr", "w\n"),
                                                          ("stdout", "3\n")]


def test_nbclean_keeps_a_widget_text_and_drops_its_view():
    view = {"model_id": "36439b2a4a8747eab28e66f48189ae42", "version_major": 2, "version_minor": 0}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("w", outputs=[
        nbformat.v4.new_output("display_data", data={nbclean.WIDGET_VIEW: view, "text/plain": "W(3 things)"}),
        nbformat.v4.new_output("display_data", data={nbclean.WIDGET_VIEW: view})])])   # no text: kept
    outputs = nbclean.clean(nb).cells[0].outputs
    assert [dict(out["data"]) for out in outputs] == [{"text/plain": "W(3 things)"}, {nbclean.WIDGET_VIEW: view}]


def test_nbclean_names_a_missing_notebook_in_one_line_and_exits_2(tmp_path, capsys):
    assert nbclean.main(["--check", str(tmp_path / "nope.ipynb")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "nope.ipynb" in captured.err


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_was_executed_top_to_bottom(path):
    nb = json.loads(read(path))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    counts = [c["execution_count"] for c in nb["cells"]
              if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert counts == list(range(1, len(counts) + 1)), "re-run it with tools/run_notebooks.py"
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            assert out.get("name") != "stderr", f"stderr output (a warning?): {out.get('text')}"
            assert out["output_type"] != "error" or "raises-exception" in cell["metadata"].get("tags", [])


def pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_every_module_is_installed_by_pyproject():
    modules = pyproject()["tool"]["setuptools"]["py-modules"]
    top_level = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "*.py")))
    assert sorted(modules) == top_level, (
        f"[tool.setuptools] py-modules must list exactly the top-level modules: missing "
        f"{sorted(set(top_level) - set(modules))}, not a module {sorted(set(modules) - set(top_level))}")


# Where a version string elsewhere is someone else's: a pin such as `httpcore==1.0.9`.
PIN = re.compile(r"(==|>=|<=|~=|!=|<|>)\s*$")
NOT_SOURCE = {".git", ".venv", "venv", "build", "dist", "student", "test-artifacts",
              "__pycache__", ".ipynb_checkpoints", ".pytest_cache", "node_modules"}


def npcore_version():
    """The version as setuptools reads it: the string literal assigned in npcore.py,
    found without importing npcore (a build environment has no NumPy to import it with)."""
    source = read("npcore.py")
    assigned = [node.value.value for node in ast.parse(source).body
                if isinstance(node, ast.Assign)
                and [getattr(t, "id", None) for t in node.targets] == ["__version__"]
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)]
    assert len(assigned) == 1, "npcore.py must assign __version__ one string literal, once"
    return assigned[0]


def test_the_version_is_taken_from_npcore():
    project = pyproject()
    assert "version" not in project["project"], "pyproject.toml must not write the version itself"
    assert "version" in project["project"].get("dynamic", [])
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "npcore.__version__"}
    import npcore
    assert npcore.__version__ == npcore_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", npcore.__version__), npcore.__version__


def project_text_files():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in NOT_SOURCE and not d.endswith(".egg-info")]
        for name in files:
            path = os.path.join(folder, name)
            try:
                with open(path, encoding="utf-8") as f:
                    yield os.path.relpath(path, ROOT), f.read()
            except UnicodeDecodeError:          # images and other binary files
                continue


def version_mentions(text, version):
    """Where `version` appears as a version of its own (not inside 11.2.3 or 1.2.3.4, not in a
    pin of another package such as `httpcore==1.2.3`): a few characters around each."""
    found = []
    for match in re.finditer(r"(?<![\d.])" + re.escape(version) + r"(?![\w]|\.\d)", text):
        if not PIN.search(text[max(0, match.start() - 3):match.start()]):
            found.append(text[max(0, match.start() - 30):match.end() + 10].replace("\n", " "))
    return found


def test_no_file_but_npcore_writes_the_version():
    version = npcore_version()
    offenders = {}
    for relpath, text in project_text_files():
        if relpath == "npcore.py":
            assert len(version_mentions(text, version)) == 1, (
                f"npcore.py names its version once, in `__version__ = ...`: {version_mentions(text, version)}")
        elif version_mentions(text, version):
            offenders[relpath] = version_mentions(text, version)
    assert not offenders, (f"version {version} written outside npcore.__version__ "
                           f"(use npcore.__version__ instead): {offenders}")


def test_version_mentions_finds_the_version_but_not_pins_or_longer_numbers():
    assert version_mentions('version = "1.2.3"', "1.2.3")
    assert version_mentions("npcore 1.2.3.", "1.2.3")               # end of a sentence
    assert len(version_mentions("npcore-1.2.3-py3-none-any.whl and v1.2.3", "1.2.3")) == 2
    assert not version_mentions("httpcore==1.2.3", "1.2.3")
    assert not version_mentions("numpy>=1.2.3", "1.2.3")
    assert not version_mentions("11.2.3 and 1.2.34 and 1.2.3.4", "1.2.3")


RUN_NOTEBOOKS = os.path.join(ROOT, "tools", "run_notebooks.py")


def test_run_notebooks_names_a_missing_notebook_in_one_line_and_exits_2(tmp_path):
    result = subprocess.run([sys.executable, RUN_NOTEBOOKS, str(tmp_path / "nope.ipynb")],
                            capture_output=True, text=True, env={**os.environ, "MNIST_NPZ": ""})
    assert result.returncode == 2
    assert result.stdout == "" and result.stderr.count("\n") == 1 and "nope.ipynb" in result.stderr


def test_run_notebooks_asks_for_mnist_npz_before_running_anything(tmp_path, monkeypatch, capsys):
    run_notebooks = load_tool("run_notebooks")
    lesson = tmp_path / "lesson.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), lesson)
    before = lesson.read_text(encoding="utf-8")
    for value in ("", str(tmp_path / "missing.npz")):
        monkeypatch.setenv("MNIST_NPZ", value)
        assert run_notebooks.main([str(lesson)]) == 1
        assert "MNIST_NPZ" in capsys.readouterr().err
    assert lesson.read_text(encoding="utf-8") == before


def test_run_notebooks_stores_clean_outputs_and_stops_at_a_failing_cell(tmp_path, monkeypatch, capsys):
    """Two fresh kernels (seconds): marked slow in tests/conftest.py."""
    run_notebooks = load_tool("run_notebooks")
    monkeypatch.setenv("MNIST_NPZ", __file__)             # any existing file: these cells do not read it
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    cell = nbformat.v4.new_code_cell("import os\nprint(6 * 7, os.path.basename(os.getcwd()))",
                                     metadata={"collapsed": True, "tags": ["keep"]})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="stale\n")]
    nb = nbformat.v4.new_notebook(cells=[cell], metadata={"language_info": {"name": "python", "version": "3.0"}})
    nbformat.write(nb, good)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")]), bad)
    bad_before = bad.read_text(encoding="utf-8")

    assert run_notebooks.main([str(good), str(bad)]) == 1
    assert "ZeroDivisionError" in capsys.readouterr().err
    assert bad.read_text(encoding="utf-8") == bad_before           # a failed lesson is not written
    stored = nbformat.read(good, as_version=4)
    [out] = stored.cells[0].outputs
    assert out.text == f"42 {tmp_path.name}\n"                       # run in the notebook's folder
    assert stored.cells[0].execution_count == 1
    assert dict(stored.cells[0].metadata) == {"tags": ["keep"]}      # cleaned by nbclean
    assert nbclean.main(["--check", str(good)]) == 0


# The benchmarks are scripts, never timed tests; these check their wiring on a stand-in
# npcore (no MNIST, no training), in fresh processes as the benchmarks run them.
BENCHMARKS = os.path.join(ROOT, "benchmarks")
STAND_IN_NPCORE = '''
import numpy as np
__version__ = "0.0.1"
def load_mnist(path=None):
    x, y = np.zeros((8, 28, 28), np.uint8), np.arange(8) % 10
    return (x, y), (x, y)
def preprocess(x):
    return x.reshape(len(x), -1).astype(np.float32) / 255
def init_params(n_input, n_hidden, n_output, rng=None, method="xavier"):   # the old keyword
    assert (n_input, n_hidden, n_output, method) == (784, (3,), 10, "he")
    return {}
def train(X, y, params, epochs, batch_size, learning_rate, optimizer, rng, schedule, beta):
    assert X.shape == (8, 784) and optimizer == "momentum" and schedule is None
    return params, {"seconds": np.arange(1.0, epochs + 1), "loss": np.zeros(epochs)}
'''


def benchmark(script, *args):
    return subprocess.run([sys.executable, os.path.join(BENCHMARKS, script), *args],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "MNIST_NPZ": os.devnull})   # the stand-in reads nothing


def test_bench_one_times_the_npcore_of_another_checkout_with_npcore_from(tmp_path):
    (tmp_path / "npcore.py").write_text(STAND_IN_NPCORE, encoding="utf-8")
    result = benchmark("bench_one.py", "npcore", "3", "--epochs", "3", "--npcore-from", str(tmp_path))
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.splitlines()[-1])
    assert record["framework"] == "npcore@before"
    assert record["npcore"] == f"npcore 0.0.1 from {os.path.realpath(tmp_path)}"
    assert record["warmup_seconds"] == 1.0 and record["seconds"] == [2.0, 3.0]   # exact: no arithmetic


def test_the_plain_variant_says_clearly_when_npcore_has_no_fast_switch(tmp_path):
    (tmp_path / "npcore.py").write_text(STAND_IN_NPCORE, encoding="utf-8")
    result = benchmark("bench_one.py", "npcore-plain", "3", "--npcore-from", str(tmp_path))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "npcore.FAST" in result.stderr and "0.0.1" in result.stderr


@pytest.mark.parametrize("script, args, message", [
    ("bench_one.py", ["keras", "--npcore-from", "."], "applies to npcore"),
    ("bench_one.py", ["npcore", "--npcore-from", "tests"], "no npcore.py"),
    ("bench_one.py", ["npcore", "0"], "positive integers"),
    ("bench_one.py", ["npcore", "--epochs", "1"], "at least 2"),
    ("run.py", ["--frameworks", "npcore,tensorflow"], "tensorflow"),
    ("run.py", ["--npcore-from", "tests"], "no npcore.py"),
    ("cnn.py", ["--frameworks", "keras"], "must include npconv"),
])
def test_benchmarks_refuse_bad_arguments_before_running_anything(script, args, message):
    result = benchmark(script, *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr


# --------------------------------------------------------------------------- the lessons as a course
LESSON_NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
MAX_CELLS = 46          # "none over ~45 cells": a lesson longer than this is two lessons
#                         (its exercises' cells, which carry nbgrader metadata, not counted)


def test_lessons_are_numbered_from_00_without_gaps_and_the_cnn_comes_last():
    names = [os.path.basename(p) for p in NOTEBOOKS]
    assert all(LESSON_NAME.match(n) for n in names), names
    assert [int(n[:2]) for n in names] == list(range(len(names))), names
    assert "cnn" in names[-1], f"the CNN lesson comes last, not {names[-1]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_lesson_has_the_course_shape_and_is_not_too_long(path):
    nb = nbformat.read(path, as_version=4)
    taught = [c for c in nb.cells if "nbgrader" not in c.metadata]
    assert len(taught) <= MAX_CELLS, f"{len(taught)} cells outside the exercises: split the lesson"
    intro = nb.cells[0].source
    assert nb.cells[0].cell_type == "markdown" and intro.startswith("# "), "a title first"
    for part in ("What you'll do", "What you'll learn", "What you'll need"):
        assert part in intro, f"the first cell says {part!r}"
    headings = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert any(re.search(r"^#+ Summary", s, re.M) for s in headings), "a Summary section"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_lesson_refers_only_to_lessons_that_exist(path):
    last = len(NOTEBOOKS) - 1
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                     if c.cell_type == "markdown")
    mentioned = {int(n) for m in re.finditer(r"[Ll]essons? ((?:\d\d(?!\d)(?:, | and | to |–|-| or )?)+)", text)
                 for n in re.findall(r"\d\d", m.group(1))}
    assert mentioned <= set(range(last + 1)), f"no lesson {sorted(mentioned - set(range(last + 1)))}"


def test_readme_lists_every_lesson_in_order_with_a_working_link():
    linked = re.findall(r"^\| (\d\d) \| \[[^\]]+\]\((notebooks/[^)]+\.ipynb)\)", read("README.md"), re.M)
    assert linked == [(os.path.basename(p)[:2], f"notebooks/{os.path.basename(p)}") for p in NOTEBOOKS]


def test_lesson_00s_map_of_the_original_names_the_lesson_each_docstring_names():
    """Lesson 00 maps the original script's functions to the course's; each course function's
    docstring names the lesson that derives it, and it is the lesson the map gives."""
    import npcore
    import prediction_browser
    modules = {"npcore": npcore, "prediction_browser": prediction_browser}
    intro = "\n".join(c.source for c in nbformat.read(NOTEBOOKS[0], as_version=4).cells)
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (\d\d) [^|]+ \| `(\w+)\.(\w+)` \|$", intro, re.M)
    assert len(rows) == 13, rows
    for original, lesson, module, function in rows:
        doc = getattr(modules[module], function).__doc__
        assert doc.count("Lesson ") == 1 and f"Lesson {lesson}" in doc, (original, function, doc)


def test_teachers_guide_plans_each_lesson_by_its_stated_rule():
    """docs/teachers.md: 'about 80 words of lesson text per minute ... and about 10 minutes per
    exercise, rounded to a quarter of an hour'; the table's last column must follow that rule."""
    guide = read("docs", "teachers.md")
    assert "80 words of lesson text per minute" in guide and "10 minutes per exercise" in guide
    rows = dict(re.findall(r"^\| (\d\d) \|.*\| ((?:\d h)?(?: ?\d+ min)?) \|$", guide, re.M))
    assert sorted(rows) == [os.path.basename(p)[:2] for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        words = sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
        exercises = len(exercise_cells.exercises(nb))
        quarters = max(1, round((words / 80 + 10 * exercises) / 15))
        hours, minutes = divmod(15 * quarters, 60)
        want = " ".join(part for part in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if part)
        assert rows[os.path.basename(path)[:2]].strip() == want, os.path.basename(path)


def test_readme_and_lesson_00_give_each_lesson_its_own_title():
    titles = {os.path.basename(p)[:2]: nbformat.read(p, as_version=4).cells[0].source.split("\n")[0][2:]
              for p in NOTEBOOKS}
    readme = dict(re.findall(r"^\| (\d\d) \| \[([^\]]+)\]\(notebooks/", read("README.md"), re.M))
    assert readme == titles
    course = nbformat.read(NOTEBOOKS[0], as_version=4).cells[1].source
    listed = " ".join(course[course.index("The whole course:"):].split("\n\n")[0].split())
    for number, title in titles.items():
        assert f"{number} {title}" in listed, (number, title)


def test_make_tests_work_units_pair_the_lessons_that_read_each_others_files():
    """tests/conftest.py: the unit of work an xdist worker runs whole, and the long units
    it starts first, which must all exist (a renamed file would silently lose its place)."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import conftest
    unit = conftest.work_unit
    assert unit("notebooks/06_gradient_descent.ipynb::Cell 3") == "lessons 06+07"
    assert unit("notebooks/07_evaluation_and_prediction_browser.ipynb::Cell 0") == "lessons 06+07"
    assert unit("notebooks/10_keras.ipynb::Cell 12") == unit("notebooks/09_generalization.ipynb::Cell 1")
    assert unit("notebooks/11_convolutions.ipynb::Cell 2") == "lessons 11"
    assert unit("tests/test_npcore.py::test_relu[x]") == "tests/test_npcore.py"
    lessons = sorted(glob.glob(os.path.join(ROOT, "notebooks", "[0-9][0-9]_*.ipynb")))
    units = {unit(os.path.relpath(p, ROOT) + "::Cell 0") for p in lessons}
    for long_unit in conftest.LONG_FIRST:
        assert long_unit in units or os.path.isfile(os.path.join(ROOT, long_unit)), long_unit
