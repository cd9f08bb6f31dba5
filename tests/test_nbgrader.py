"""nbgrader grades every lesson: generate_assignment, autograde, generate_feedback.

A course directory is made in a temporary folder by tools/nbgrader_course.py (the tool
teachers use), and nbgrader runs from the course environment as teachers run it: its
command line, ONE call per step for all lessons at once (`"*"`), because each call costs
about 4 s of start-up. Three students hand in every lesson:

  solved     the lesson from notebooks/ as it is (solutions, hidden tests and all);
  untouched  nbgrader's released student version, not changed at all;
  mistake    the solved lesson with one known mistake, tests/nbgrader_mistakes/NN.json:
             {"grade_id": answer cell, "old": exact text in it, "new": the mistaken text,
              "check": grade id of the check cell that must fail, "hint": part of its message,
              optional "also_fails": the checks of later exercises that use the broken function}.

From the gradebook: solved gets every autograded point; untouched gets 0 (and autograde
does not crash); mistake gets more than 0 and less than all, with exactly the named check
(and the "also_fails" ones) at 0; its feedback HTML shows the hint. Derive/predict explanations (Markdown -explain
cells) are graded by hand, so only autograded (code) points are compared.

What is graded in full and what is reduced (the 15-minute budget of `make test`):

- Lessons in FULL (00-05, 07, 11: a few seconds each) are graded as they are, every cell
  of every submission executed.
- The slow lessons (06, 08, 09, 10, 12: 30 s to 4 min each when run in full) are graded
  on a REDUCED version (below): 06 and 09 for all three students; 08 (MISTAKE_ONLY) for the
  student with the mistake only -- with it, every check but the named one must pass,
  which shows the solved cells earn their points; "untouched scores 0" is not run for it.
  10 and 12 (NOT_AUTOGRADED) go through generate_assignment (full and reduced, same
  points, nothing of a solution or hidden test in the release) but are not autograded:
  their exercises read a network the lesson trains (10: lesson 09's recipe in npcore and
  Keras; 12: the five-epoch CNN, which the small-CNN exercise's printout compares with),
  so even reduced one submission costs a training run (measured with seven other jobs
  on the two cores: 446 s for 10). NBGRADER_TEST_ALL=1 grades their mistake submission
  too.
- The REDUCED version is every exercise cell (every cell with nbgrader metadata) and,
  going backwards, each code cell that defines a name a kept cell reads or changes
  (Python names, found with `ast`; a cell that writes into a name's object,
  `params["W1"] = ...`, counts as defining it; names local to a function do not count),
  nothing else; Markdown is kept. The training runs and experiments the exercises do not
  use are left out. The full slow lesson still goes through generate_assignment (as
  assignment `<lesson>_full`, no execution), and its points must equal the reduced
  one's. Each mistake is applied before reducing.
- Lesson 07 gets lesson 06's network file, from notebooks/ when it is there (as teachers'
  course directories do, tools/nbgrader_course.py), else trained once (conftest's
  lesson06_network, which the browser test shares; in a fresh clone the lessons run after
  the tests), so the three students' lesson 07 do not train it three times.

The run's times per notebook (from nbgrader's log) are written to
test-artifacts/nbgrader_times.txt.
"""
import ast
import glob
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import exercise_cells  # noqa: E402
import nbgrader_course  # noqa: E402

LESSONS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "[0-9][0-9]_*.ipynb")))
MISTAKES = os.path.join(ROOT, "tests", "nbgrader_mistakes")
FULL = {"00", "01", "02", "03", "04", "05", "07", "11"}     # graded as they are
MISTAKE_ONLY = {"08"}              # reduced, and only the submission with the mistake
NOT_AUTOGRADED = {"10", "12"}      # generate_assignment only, unless NBGRADER_TEST_ALL=1
STUDENTS = ("solved", "untouched", "mistake")
GRADE_ALL = os.environ.get("NBGRADER_TEST_ALL") == "1"
# The first test pays for grading the whole course (the fixture): minutes on a quiet 2-core
# machine, but over 20 on a loaded one, which pytest.ini's 1200 s would cut short.
pytestmark = pytest.mark.timeout(3600)


def students(path):
    if number(path) in NOT_AUTOGRADED:
        return ("mistake",) if GRADE_ALL else ()
    return ("mistake",) if number(path) in MISTAKE_ONLY else STUDENTS
NBGRADER = os.path.join(os.path.dirname(sys.executable), "nbgrader")
LOG_FORMAT = "%(asctime)s [%(name)s | %(levelname)s] %(message)s"

def number(path):
    return os.path.basename(path)[:2]


def name(path):
    return os.path.splitext(os.path.basename(path))[0]


def has_exercises(nb):
    return bool(exercise_cells.exercises(nb))


# --------------------------------------------------------------------------- the mistake
def load_mistake(lesson_number):
    path = os.path.join(MISTAKES, f"{lesson_number}.json")
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def with_mistake(nb, mistake):
    """A copy of nb with mistake["old"] replaced by mistake["new"] in its answer cell."""
    nb = nbformat.from_dict(nb)
    [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == mistake["grade_id"]]
    assert cell.source.count(mistake["old"]) == 1, f"{mistake['grade_id']}: 'old' must occur once"
    cell.source = cell.source.replace(mistake["old"], mistake["new"])
    return nb


# --------------------------------------------------------------------------- the reduced lesson
def _python(source):
    """Cell source as plain Python (magics and shell lines turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(source)


def defined_and_read(source, modules=()):
    """(names a cell defines or changes, names it reads, names it surely replaces).

    The first two are over-approximated; the third holds only names bound by a statement
    of the cell's top level (an assignment, def, class or import), which hide any earlier
    definition."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return set(), set(), set()
    defined, read, replaced = set(), set(), set()
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            replaced.add(statement.name)
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            replaced.update((a.asname or a.name).split(".")[0] for a in statement.names)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                parts = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
                replaced.update(p.id for p in parts if isinstance(p, ast.Name))

    def root(node):
        while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    def local_names(node):
        """Parameters and names bound inside a function, lambda or comprehension."""
        names = set()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            arguments = node.args
            names |= {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
            names |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a}
        for part in ast.walk(node):
            if isinstance(part, ast.Name) and isinstance(part.ctx, ast.Store):
                names.add(part.id)
            elif isinstance(part, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and part is not node:
                names.add(part.name)
            elif isinstance(part, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in part.names}
        return names

    bound = []                                               # the local names of enclosing scopes

    def visit(node, top):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
                             ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            if top and not isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                                             ast.GeneratorExp)):
                defined.add(node.name)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for part in node.decorator_list + node.args.defaults + \
                        [d for d in node.args.kw_defaults if d]:
                    visit(part, top)
            bound.append(local_names(node) if not isinstance(node, ast.ClassDef) else set())
            for child in ast.iter_child_nodes(node):
                visit(child, False)
            bound.pop()
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)) and top:
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                if not any(node.id in names for names in bound):
                    read.add(node.id)
            elif top:
                defined.add(node.id)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)) and top:
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, (ast.Attribute, ast.Subscript)) and root(part):
                        defined.add(root(part))              # writes into an object
                if isinstance(node, ast.AugAssign) and root(target):
                    read.add(root(target))
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and top \
                and isinstance(node.value.func, ast.Attribute) and root(node.value.func):
            if root(node.value.func) not in modules:
                defined.add(root(node.value.func))           # params.update(...), rng.shuffle(...)
        for child in ast.iter_child_nodes(node):
            visit(child, top)

    for statement in tree.body:
        visit(statement, True)
    return defined, read, replaced - read


def reduced(nb):
    """nb with only the exercise cells and the code cells they need (module docstring)."""
    nb = nbformat.from_dict(nb)
    keep, needed = set(), set()
    modules = set()                     # np.random.seed(0) is not a change of a lesson's name np
    for cell in nb.cells:
        if cell.cell_type == "code":
            try:
                tree = ast.parse(_python(cell.source))
            except SyntaxError:
                continue
            modules |= {(a.asname or a.name).split(".")[0] for n in tree.body
                        if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    for index in range(len(nb.cells) - 1, -1, -1):
        cell = nb.cells[index]
        if cell.cell_type != "code":
            keep.add(index)
            continue
        defined, read, replaced = defined_and_read(cell.source, modules)
        if "nbgrader" in cell.metadata or defined & needed:
            keep.add(index)
            needed = (needed - replaced) | read
    nb.cells = [cell for index, cell in enumerate(nb.cells) if index in keep]
    return nb


# --------------------------------------------------------------------------- the graded course
def nbgrader(course, *args):
    started = time.monotonic()
    result = subprocess.run([NBGRADER, *args, f"--Application.log_format={LOG_FORMAT}",
                             "--Application.log_datefmt=%H:%M:%S"],
                            cwd=course, capture_output=True, text=True, timeout=1800)
    return result, time.monotonic() - started


def notebook_times(log):
    """{notebook path: seconds} from nbgrader's 'Autograding <path>' log lines."""
    stamps = [(time.strptime(t, "%H:%M:%S"), p) for t, p in
              re.findall(r"^(\d\d:\d\d:\d\d) \[AutogradeApp \| INFO\] Autograding (\S+)", log, re.M)]
    ends = re.findall(r"^(\d\d:\d\d:\d\d) ", log, re.M)
    seconds = lambda t: t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec  # noqa: E731
    out = {}
    for i, (start, path) in enumerate(stamps):
        end = stamps[i + 1][0] if i + 1 < len(stamps) else time.strptime(ends[-1], "%H:%M:%S")
        out[path] = seconds(end) - seconds(start)
    return out


@pytest.fixture(scope="module")
def course(request, tmp_path_factory):
    """The selected lessons (-k) that have exercises, graded for three students:
    (course dir, graded lessons, nbgrader's logs)."""
    import npcore
    try:                                  # MNIST_NPZ, Keras's cache or a download, as the lessons
        npcore.load_mnist()
    except (OSError, ValueError) as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the lessons cannot read MNIST ({error}) -- CI=true, so this fails")
        pytest.skip(f"the lessons cannot read MNIST: {error}")
    lesson06_network = request.getfixturevalue("lesson06_network")
    directory = tmp_path_factory.mktemp("course")
    selected = {item.callspec.params["path"] for item in request.session.items
                if getattr(item, "module", None) is sys.modules[__name__] and hasattr(item, "callspec")
                and "path" in item.callspec.params}
    ready = [p for p in LESSONS if p in selected and has_exercises(nbformat.read(p, as_version=4))]
    if not ready:
        pytest.fail("no lesson carries nbgrader metadata yet")
    nbgrader_course.make_course(str(directory), ready)
    for path in ready:     # lesson 07 without lesson 06's file: conftest's, trained once
        if number(path) == "07" and not nbgrader_course.lesson_files(path):
            shutil.copyfile(lesson06_network, directory / "source" / name(path) / "mnist_784_10_10.npz")
    for path in ready:
        lesson = nbformat.read(path, as_version=4)
        if number(path) not in FULL:
            full = directory / "source" / f"{name(path)}_full"
            full.mkdir()
            shutil.copyfile(path, full / f"{name(path)}.ipynb")
            nbformat.write(reduced(lesson), directory / "source" / name(path) / f"{name(path)}.ipynb")
    log = []
    result, seconds = nbgrader(directory, "generate_assignment", "*", "--force")
    log.append(f"generate_assignment (all lessons): {seconds:.1f} s")
    generated = result.stdout + result.stderr
    for path in ready:
        lesson = nbformat.read(directory / "source" / name(path) / f"{name(path)}.ipynb", as_version=4)
        try:
            mistake = load_mistake(number(path))
            mistaken = with_mistake(lesson, mistake)
        except (OSError, ValueError, AssertionError):
            mistaken = None
        release = directory / "release" / name(path) / f"{name(path)}.ipynb"
        for student, nb in (("solved", lesson), ("mistake", mistaken)):
            if nb is not None and student in students(path):
                (directory / "submitted" / student / name(path)).mkdir(parents=True)
                nbformat.write(nb, directory / "submitted" / student / name(path) / f"{name(path)}.ipynb")
        if release.exists() and "untouched" in students(path):
            (directory / "submitted" / "untouched" / name(path)).mkdir(parents=True)
            shutil.copyfile(release, directory / "submitted" / "untouched" / name(path) / release.name)
    result, seconds = nbgrader(directory, "autograde", "*", "--force")
    graded = result.stdout + result.stderr
    log.append(f"autograde (all lessons, 3 students): {seconds:.1f} s")
    times = notebook_times(graded)
    for path, spent in sorted(times.items()):
        log.append(f"  {os.path.relpath(path, directory)}: {spent} s")
    result, seconds = nbgrader(directory, "generate_feedback", "*", "--student", "mistake", "--force")
    feedback = result.stdout + result.stderr
    log.append(f"generate_feedback (all lessons, 1 student): {seconds:.1f} s")
    os.makedirs(os.path.join(ROOT, "test-artifacts"), exist_ok=True)
    with open(os.path.join(ROOT, "test-artifacts", "nbgrader_times.txt"), "w", encoding="utf-8") as file:
        file.write("\n".join(log) + "\n")
    return directory, ready, {"generate": generated, "autograde": graded, "feedback": feedback}


def gradebook(directory):
    """{(lesson, student): (code score, max code score, {grade id: auto score})} of the course."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nbgrader.api import Gradebook, MissingEntry
        out = {}
        with Gradebook(f"sqlite:///{directory / 'gradebook.db'}") as gb:
            for assignment in gb.assignments:
                for notebook in assignment.notebooks:
                    max_code = sum(c.max_score for c in notebook.grade_cells if c.cell_type == "code")
                    out[(assignment.name, None)] = (None, max_code, {})
                    for student in STUDENTS:
                        try:
                            sub = gb.find_submission_notebook(notebook.name, assignment.name, student)
                        except MissingEntry:
                            continue
                        scores = {g.name: g.auto_score for g in sub.grades if g.cell_type == "code"}
                        out[(assignment.name, student)] = (sub.code_score, max_code, scores)
        return out


@pytest.fixture(scope="module")
def scores(course):
    return gradebook(course[0])


def lesson_params():
    return [pytest.param(p, id=name(p)) for p in LESSONS]


@pytest.mark.parametrize("path", lesson_params())
def test_nbgrader_grades_the_lesson(course, scores, path):
    directory, ready, logs = course
    lesson = name(path)
    assert path in ready, f"{lesson} has no exercises with nbgrader metadata yet"
    assert (lesson, None) in scores, f"generate_assignment failed for {lesson}:\n{logs['generate'][-3000:]}"
    _, max_code, _ = scores[(lesson, None)]
    assert max_code >= 1
    if number(path) not in FULL:                  # the full lesson releases with the same points
        assert scores[(f"{lesson}_full", None)][1] == max_code
    if not students(path):
        # 10 and 12: generated and released only, which the lines above and
        # test_release_holds_no_solution_and_no_hidden_test check (the module docstring says why;
        # NBGRADER_TEST_ALL=1 autogrades their mistake submission too).
        return
    if "solved" in students(path):
        # (a) the solved lesson: every autograded point
        assert (lesson, "solved") in scores, f"autograde failed:\n{logs['autograde'][-3000:]}"
        score, _, grades = scores[(lesson, "solved")]
        assert score == max_code, f"solved {lesson}: {score} of {max_code}; checks below full: " \
            f"{ {k: v for k, v in grades.items() if not v} }"
    if "untouched" in students(path):
        # (b) the released student version, untouched: 0 points, graded (no crash)
        assert (lesson, "untouched") in scores, f"autograde failed:\n{logs['autograde'][-3000:]}"
        score, _, grades = scores[(lesson, "untouched")]
        assert score == 0, f"untouched {lesson} scored {score}: {grades}"
    # (c) one known mistake: only the named check fails, its hint is in the feedback
    mistake = load_mistake(number(path))
    assert (lesson, "mistake") in scores, f"no submission with the mistake of {lesson}"
    score, _, grades = scores[(lesson, "mistake")]
    assert 0 < score < max_code, (score, max_code)
    assert {k for k, v in grades.items() if not v} == {mistake["check"],
                                                        *mistake.get("also_fails", ())}, grades
    assert len(grades) == len([c for c in nbformat.read(path, as_version=4).cells
                               if c.metadata.get("nbgrader", {}).get("grade")
                               and c.cell_type == "code"]), "a check cell was not graded"
    feedback = directory / "feedback" / "mistake" / lesson / f"{lesson}.html"
    assert feedback.exists(), logs["feedback"][-3000:]
    text = feedback.read_text(encoding="utf-8")
    assert html.escape(mistake["hint"], quote=False) in text or html.escape(mistake["hint"]) in text, \
        f"the hint {mistake['hint']!r} is not in {feedback.name}"


@pytest.mark.parametrize("path", lesson_params())
def test_release_holds_no_solution_and_no_hidden_test(course, path):
    directory, ready, _ = course
    lesson = name(path)
    assert path in ready, f"{lesson} has no exercises with nbgrader metadata yet"
    for folder in [lesson] + ([f"{lesson}_full"] if number(path) not in FULL else []):
        release = nbformat.read(directory / "release" / folder / f"{lesson}.ipynb", as_version=4)
        text = "\n".join(c.source for c in release.cells)
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, (folder, marker)
        assert all(not c.get("outputs") for c in release.cells if c.cell_type == "code")


# --------------------------------------------------------------------------- the reduction itself
def test_reduction_keeps_the_exercises_and_what_they_read():
    cells = [nbformat.v4.new_code_cell(s) for s in (
        "import numpy as np\nimport selfcheck",                 # 0 kept: np, selfcheck
        "X = np.ones((3, 4))\nunused = 1",                      # 1 kept: X
        "params = {'W': np.ones(4)}",                           # 2 dropped: replaced by 3
        "params = {'W': np.zeros(4)}",                          # 3 kept: params
        "params['W'][0] = 2.0",                                 # 4 kept: changes params
        "slow = sum(range(10 ** 8))",                           # 5 dropped
        "%timeit X.sum()",                                      # 6 dropped (a magic)
        "def f(Z):\n    return Z @ params['W']",                # 7 the exercise's answer
        "assert f(X).shape == (3,)",                            # 8 its check
        "print(slow)",                                          # 9 dropped: after every exercise
    )]
    cells[7].metadata["nbgrader"] = {"grade_id": "build-f-answer"}
    cells[8].metadata["nbgrader"] = {"grade_id": "build-f-check"}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# x")] + cells)
    kept = [c.source for c in reduced(nb).cells]
    assert kept == ["# x"] + [cells[i].source for i in (0, 1, 3, 4, 7, 8)]


# --------------------------------------------------------------------------- the course tool
def test_course_tool_writes_config_kernel_and_sources(tmp_path, capsys):
    lesson = tmp_path / "lessons" / "07_some_lesson.ipynb"
    lesson.parent.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), lesson)
    (lesson.parent / "mnist_784_10_10.npz").write_bytes(b"06's network")
    course = tmp_path / "course"
    assert nbgrader_course.main([str(course), str(lesson), "--threads", "1", "--mnist", "m.npz",
                                 "--timeout", "120"]) == 0
    assert "(with mnist_784_10_10.npz)" in capsys.readouterr().out
    assert (course / "source" / "07_some_lesson" / "07_some_lesson.ipynb").read_bytes() == lesson.read_bytes()
    assert (course / "source" / "07_some_lesson" / "mnist_784_10_10.npz").read_bytes() == b"06's network"
    kernel = json.loads((course / "kernels" / "python3" / "kernel.json").read_text())
    assert kernel["argv"][:3] == ["python", "-m", "ipykernel_launcher"]
    assert kernel["env"]["OPENBLAS_NUM_THREADS"] == "1"
    config = (course / "nbgrader_config.py").read_text()
    namespace = {"get_config": lambda: __import__("traitlets.config", fromlist=["Config"]).Config(),
                 "__file__": str(course / "nbgrader_config.py")}
    saved = {key: os.environ.get(key) for key in ("JUPYTER_PATH", "PATH", "MNIST_NPZ")}
    try:
        os.environ.pop("MNIST_NPZ", None)
        exec(compile(config, "nbgrader_config.py", "exec"), namespace)   # noqa: S102
        c = namespace["c"]
        assert c.CourseDirectory.course_id == "mnist-numpy" and c.Execute.timeout == 120
        assert os.environ["JUPYTER_PATH"].split(os.pathsep)[0] == str(course)
        assert os.environ["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
        assert os.environ["MNIST_NPZ"] == os.path.abspath("m.npz")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_course_tool_refuses_bad_arguments_in_one_line(tmp_path, capsys):
    assert nbgrader_course.main([str(tmp_path / "c"), str(tmp_path / "missing.ipynb")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such notebook; nothing written" in err
    assert not (tmp_path / "c").exists()
    assert nbgrader_course.main([os.path.join(ROOT, "notebooks")]) == 2
    assert "lessons' folder" in capsys.readouterr().err
