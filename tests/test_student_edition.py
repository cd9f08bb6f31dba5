"""Tests of tools/student_edition.py on a small synthetic lesson and on the real ones.

The student edition must hold no solution code, be a valid notebook, and, when run,
stop at the first exercise's self-check with "not done yet"; the solution edition
(the original) passes every self-check. Only the synthetic lesson and at most one
fast real lesson are executed, to keep the suite quick.

The conversion is nbgrader's (ClearSolutions, ClearHiddenTests, ClearOutput): Markdown
answer cells (-explain) become "YOUR ANSWER HERE", hidden-test blocks disappear.

Bad input is refused, never copied through: near-miss markers (solution and hidden-test),
markers in Markdown or raw cells (quoted in backticks too), unpaired markers, blocks in
cells whose nbgrader metadata does not allow them, an output over an input notebook or
over a student's changed file (without --force), a missing or non-notebook input. A
refusal is one line on stderr, exit status 2, no traceback, and nothing written. With
--keep, existing files are left as they are, changed or not.
"""
import glob
import os
import re
import subprocess
import sys
from collections import Counter

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import student_edition  # noqa: E402

TOOL = os.path.join(ROOT, "tools", "student_edition.py")
LESSONS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "[0-9][0-9]_*.ipynb")))
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB_LINES = ("# YOUR CODE HERE", "raise NotImplementedError()")
EXECUTED_LESSON = os.path.join(ROOT, "notebooks", "02_relu.ipynb")   # fast, has exercises


def read(path):
    return nbformat.read(path, as_version=4)


def has_exercises(path):
    return any(BEGIN in c.source for c in read(path).cells if c.cell_type == "code")


def solution_lines(nb):
    """Lines inside solution blocks that appear nowhere else in the notebook's code."""
    inside, outside = set(), set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        within = False
        for line in cell.source.split("\n"):
            text = line.strip()
            if text in (BEGIN, END):
                within = text == BEGIN
            elif text:
                (inside if within else outside).add(text)
    return inside - outside


def synthetic_lesson():
    """Two exercises (one nested deeper), self-checks, a later cell, fake stored outputs."""
    cells = [
        nbformat.v4.new_markdown_cell("# Practise ReLU\n\nThe solution uses `np.maximum`."),
        nbformat.v4.new_code_cell("import numpy as np\n\nimport selfcheck"),
        nbformat.v4.new_code_cell("def my_relu(Z):\n"
                                  "    \"ReLU elementwise.\"\n"
                                  f"    {BEGIN}\n"
                                  "    return np.maximum(Z, 0)\n"
                                  f"    {END}"),
        nbformat.v4.new_code_cell("selfcheck.check_relu(my_relu)"),
        nbformat.v4.new_code_cell("class Layer:\n"
                                  "    @staticmethod\n"
                                  "    def slope(Z):\n"
                                  "        Z = np.asarray(Z)\n"
                                  f"        {BEGIN}\n"
                                  "        positive = Z > 0\n"
                                  "        return positive.astype(Z.dtype)\n"
                                  f"        {END}\n"
                                  "\n"
                                  "my_relu_derivative = Layer.slope"),
        nbformat.v4.new_code_cell("selfcheck.check_relu_derivative(my_relu_derivative)"),
        nbformat.v4.new_code_cell("print('end of lesson')"),
    ]
    for number, cell in enumerate(cells):
        cell.id = f"cell-{number}"
    cells[3].metadata["tags"] = ["exercise-check"]
    for count, cell in enumerate(c for c in cells if c.cell_type == "code"):
        cell.execution_count = count + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="stored output\n")]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                 "name": "python3"}
    return nb


def run_tool(*args, cwd=ROOT):
    """Run the tool as students and teachers do: a separate Python process."""
    return subprocess.run([sys.executable, TOOL, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def call_main(capsys, *args):
    """The tool's main() in this process (faster than run_tool; warnings are errors here)."""
    capsys.readouterr()
    status = student_edition.main([str(a) for a in args])
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, status, captured.out, captured.err)


def assert_refused(result, *fragments):
    """The command-line contract for bad input: status 2, one line on stderr, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("student_edition: ")
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def one_cell_notebook(cell):
    cell.id = "c1"
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A lesson", id="c0"), cell])


def execute(nb, cwd):
    """Run nb top to bottom in a fresh kernel started in cwd; return (nb, error or None)."""
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        return nb, exc
    return nb, None


def error_cells(nb):
    return [(i, out) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for out in c.outputs if out.output_type == "error"]


def assert_is_student_edition(original, student):
    nbformat.validate(student)
    assert [c.cell_type for c in student.cells] == [c.cell_type for c in original.cells]
    assert [c.get("id") for c in student.cells] == [c.get("id") for c in original.cells]
    assert [c.metadata for c in student.cells] == [c.metadata for c in original.cells]
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    assert "BEGIN SOLUTION" not in code and "END SOLUTION" not in code
    code_lines = {line.strip() for line in code.split("\n")}
    leaked = sorted(solution_lines(original) & code_lines)
    assert not leaked, f"solution lines left in the student edition: {leaked}"
    for o, s in zip(original.cells, student.cells):
        if o.cell_type == "code":
            assert s.outputs == [] and s.execution_count is None
            blocks = o.source.count(BEGIN)
            assert s.source.count("# YOUR CODE HERE") == blocks
            assert s.source.count("raise NotImplementedError()") >= blocks
            assert "HIDDEN TESTS" not in s.source
        elif o.metadata.get("nbgrader", {}).get("solution"):
            assert s.source == "YOUR ANSWER HERE"            # a Markdown answer cell
        else:
            assert s.source == o.source                      # text is never touched


# --------------------------------------------------------------------------- synthetic lesson
def test_synthetic_student_edition_replaces_each_block_at_its_indentation():
    original = synthetic_lesson()
    student, exercises = student_edition.student_notebook(original, "synthetic")
    assert exercises == 2
    assert_is_student_edition(original, student)
    assert student.cells[2].source == ("def my_relu(Z):\n"
                                       "    \"ReLU elementwise.\"\n"
                                       "    # YOUR CODE HERE\n"
                                       "    raise NotImplementedError()")
    assert student.cells[4].source == ("class Layer:\n"
                                       "    @staticmethod\n"
                                       "    def slope(Z):\n"
                                       "        Z = np.asarray(Z)\n"
                                       "        # YOUR CODE HERE\n"
                                       "        raise NotImplementedError()\n"
                                       "\n"
                                       "my_relu_derivative = Layer.slope")
    assert original.cells[2].outputs, "the input notebook must not be changed"


@pytest.mark.parametrize("source, message", [
    (f"def f():\n    {BEGIN}\n    return 1\n", "cell 0 (id c0): `### BEGIN SOLUTION` without a matching"),
    (f"def f():\n    return 1\n    {END}\n", "cell 0 (id c0), line 3: `### END SOLUTION` without a"),
    (f"{BEGIN}\nx = 1\n{BEGIN}\nx = 2\n{END}\n", "cell 0 (id c0), line 3: `### BEGIN SOLUTION` inside"),
])
def test_unpaired_markers_are_refused(tmp_path, source, message):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source, id="c0")])
    with pytest.raises(student_edition.MarkerError, match=re.escape(message)):
        student_edition.student_notebook(nb, "broken.ipynb")
    good, bad = tmp_path / "00_good.ipynb", tmp_path / "01_broken.ipynb"
    nbformat.write(synthetic_lesson(), good)
    nbformat.write(nb, bad)
    out = tmp_path / "student"
    assert_refused(run_tool("--out", out, good, bad), "01_broken.ipynb, cell 0", message,
                   "nothing written")
    assert not out.exists()                              # not even the good notebook


def test_command_line_writes_the_student_notebooks(tmp_path):
    source = tmp_path / "05_synthetic.ipynb"
    nbformat.write(synthetic_lesson(), source)
    out = tmp_path / "handout"
    result = subprocess.run([sys.executable, TOOL, "--out", str(out), str(source)],
                            capture_output=True, text=True, check=True)
    assert result.stdout == f"{out / '05_synthetic.ipynb'}: 2 solution block(s) replaced by stubs\n"
    assert_is_student_edition(read(source), read(out / "05_synthetic.ipynb"))


def test_synthetic_student_edition_stops_at_the_first_self_check(tmp_path):
    student, _ = student_edition.student_notebook(synthetic_lesson())
    student, error = execute(student, tmp_path)
    assert error is not None and error.ename == "SelfCheckError"
    [(index, out)] = error_cells(student)
    assert index == 3, "the exercise cell itself runs; its self-check stops the notebook"
    assert out.evalue == ("not done yet: write the body of my_relu in place of `# YOUR CODE HERE` "
                          "and `raise NotImplementedError()`, then run the cell that defines it "
                          "and this cell again")
    assert all(not c.outputs for c in student.cells[4:])  # nothing after the first check ran


def test_synthetic_solution_edition_passes_every_self_check(tmp_path):
    original = synthetic_lesson()
    for cell in original.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    original, error = execute(original, tmp_path)
    assert error is None
    text = ["".join(o.get("text", "") for o in c.outputs) for c in original.cells if c.cell_type == "code"]
    assert text == ["", "", "✔ relu: max(Z, 0) elementwise for any shape, input left unchanged, "
                            "matches npcore.relu\n", "",
                    "✔ relu_derivative: 1 where Z > 0, 0 where Z <= 0 (0 at Z = 0), "
                    "matches npcore.relu_derivative\n", "end of lesson\n"]


# --------------------------------------------------------------------------- refused input
NEAR_MISSES = [
    "### begin solution",                 # other case
    "    ## BEGIN SOLUTION",              # other number of '#'
    "    #### END SOLUTION",
    "    ### BEGIN SOLUTON",              # typos
    "    ### EDN SOLUTION",
    "    ###BEGINSOLUTION",               # no spaces
    "    ###BEGIN SOLUTION",
    "    ### BEGIN_SOLUTION",
    "    ### BEGIN SOLUTION here",        # extra words
    "    ### BEGIN YOUR SOLUTION",
    "    ### END SOLUTION (exercise 1)",
    "    ### START SOLUTION",
    "    x = 1  ### BEGIN SOLUTION",      # a marker after code
    "    # SOLUTION",
    "    BEGIN SOLUTION",                 # no '#' at all
    "\u00a0   ### BEGIN SOLUTION",        # a no-break space before it
]


@pytest.mark.parametrize("line", NEAR_MISSES)
def test_near_miss_markers_are_refused(line):
    source = f"def f(Z):\n    Z = Z + 1\n{line}\n    return Z * 2\n    {END}\n"
    if "END" in line:
        source = f"def f(Z):\n    Z = Z + 1\n    {BEGIN}\n    return Z * 2\n{line}\n"
    nb = one_cell_notebook(nbformat.v4.new_code_cell(source))
    with pytest.raises(student_edition.MarkerError) as caught:
        student_edition.student_notebook(nb, "07_lesson.ipynb")
    message = str(caught.value)
    number = 5 if "END" in line else 3
    assert message.startswith(f"07_lesson.ipynb, cell 1 (id c1), line {number}: ")
    assert "looks like a solution marker" in message and "\n" not in message


def test_near_miss_on_the_command_line_is_refused_and_nothing_is_written(tmp_path):
    cases = {"00_case.ipynb": "def f():\n    ### begin solution\n    return 42\n    ### end solution\n",
             "01_hashes.ipynb": (f"def f():\n    {BEGIN}\n    return 42\n"
                                 f"    #### END SOLUTION\n    {END}\n"),
             "02_typo.ipynb": "def f():\n    ### BEGIN SOLUTON\n    return 42\n    ### END SOLUTON\n"}
    for name, source in cases.items():
        path = tmp_path / name
        nbformat.write(one_cell_notebook(nbformat.v4.new_code_cell(source)), path)
        out = tmp_path / "student"
        line = 4 if name == "01_hashes.ipynb" else 2
        assert_refused(run_tool("--out", out, path), f"{name}, cell 1 (id c1), line {line}: ",
                       "looks like a solution marker", "nothing written")
        assert not out.exists()


@pytest.mark.parametrize("comment", ["# the end of the solution comes next", "# resolution 300 dpi",
                                     "# append the solution to the list", "# my solution",
                                     "end_solution = begin + 1"])
def test_ordinary_comments_about_solutions_are_kept(comment):
    source = f"begin = 1\n{comment}\nx = 2"
    student, exercises = student_edition.student_notebook(
        one_cell_notebook(nbformat.v4.new_code_cell(source)))
    assert exercises == 0 and student.cells[1].source == source


@pytest.mark.parametrize("cell", [
    nbformat.v4.new_markdown_cell(f"Solution:\n\n{BEGIN}\nx = 1\n{END}"),
    nbformat.v4.new_markdown_cell(f"```python\ndef f():\n    {BEGIN}\n    return 42\n    {END}\n```"),
    nbformat.v4.new_markdown_cell("## Begin solution\n\nreturn 42"),
    nbformat.v4.new_markdown_cell("Solution:\n\n    x = 1\n    #### END SOLUTION"),
    nbformat.v4.new_raw_cell(f"def f():\n    {BEGIN}\n    return 42\n    {END}"),
    nbformat.v4.new_raw_cell("def f():\n    ### begin solution\n    return 42"),
], ids=["markdown-exact", "markdown-fenced", "markdown-heading", "markdown-near-miss",
        "raw-exact", "raw-near-miss"])
def test_markers_in_markdown_and_raw_cells_are_refused(tmp_path, capsys, cell):
    nb = one_cell_notebook(cell)
    with pytest.raises(student_edition.MarkerError, match=re.escape(
            f"text.ipynb, cell 1 (id c1), line ") + r"\d+: .* in a " + cell.cell_type + " cell"):
        student_edition.student_notebook(nb, "text.ipynb")
    path, out = tmp_path / "04_text.ipynb", tmp_path / "student"
    nbformat.write(nb, path)
    assert_refused(call_main(capsys, "--out", out, path), "04_text.ipynb, cell 1 (id c1), line ",
                   f"in a {cell.cell_type} cell", "nothing written")
    assert not out.exists()


@pytest.mark.parametrize("text", [f"Write the function between `{BEGIN}` and `{END}`.",
                                  f"Checks that would give it away go below `{HIDDEN_BEGIN}`.",
                                  "Write it between ``### BEGIN SOLUTION`` and the end marker."])
def test_markers_quoted_in_markdown_are_refused(text):
    """nbgrader takes any line that contains a marker for one: prose never quotes them."""
    nb = one_cell_notebook(nbformat.v4.new_markdown_cell(text))
    with pytest.raises(student_edition.MarkerError, match="in a markdown cell; nbgrader would"):
        student_edition.student_notebook(nb, "text.ipynb")


def test_prose_about_the_markers_is_kept():
    text = ("Write the function between the solution markers, then run the self-check.\n\n"
            "## Solutions are checked by `selfcheck`; hidden tests run when it is graded")
    nb = one_cell_notebook(nbformat.v4.new_markdown_cell(text))
    student, _ = student_edition.student_notebook(nb)
    assert student.cells[1].source == text


# --------------------------------------------------------------------------- nbgrader cells
def graded_lesson():
    """A lesson with nbgrader metadata: a build and a derive exercise, a hidden test."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import exercise_cells
    cells = [
        ("md", "# Practise", None),
        ("code", "import numpy as np\n\nimport selfcheck", None),
        ("md", "## Exercise 1 (build) — ReLU\n\nWrite `my_relu`.", "build-relu"),
        ("code", f"def my_relu(Z):\n    {BEGIN}\n    return np.maximum(Z, 0)\n    {END}",
         "build-relu-answer"),
        ("code", "selfcheck.check_relu(my_relu)", "build-relu-check"),
        ("md", "## Exercise 2 (derive) — slope\n\nDerive the slope of 3x.", "derive-slope"),
        ("md", "d/dx 3x = 3, at every x.", "derive-slope-explain"),
        ("code", f"{BEGIN}\nslope = 3.0\n{END}", "derive-slope-answer"),
        ("code", f"assert np.isfinite(slope), 'a number, please'\n{HIDDEN_BEGIN}\n"
                 f"assert slope == 3.0, 'the slope of 3x is 3'\n{HIDDEN_END}", "derive-slope-check"),
    ]
    nb = nbformat.v4.new_notebook()
    for number, (kind, source, grade_id) in enumerate(cells):
        cell = (nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell)(source)
        cell.id = f"cell-{number}"
        if grade_id:
            cell.metadata["nbgrader"] = {"grade_id": grade_id}
        nb.cells.append(cell)
    return exercise_cells.fill(nb)


def test_explain_cells_become_your_answer_here_and_hidden_tests_disappear():
    original = graded_lesson()
    student, exercises = student_edition.student_notebook(original, "graded")
    assert exercises == 2
    assert_is_student_edition(original, student)
    assert student.cells[6].source == "YOUR ANSWER HERE"
    assert student.cells[7].source == "# YOUR CODE HERE\nraise NotImplementedError()"
    assert student.cells[8].source == "assert np.isfinite(slope), 'a number, please'"
    assert student.cells[4].source == original.cells[4].source


@pytest.mark.parametrize("index, role", [(4, "check"), (1, "none")])
def test_a_solution_block_outside_a_solution_cell_is_refused(index, role):
    nb = graded_lesson()
    nb.cells[index].source += f"\n{BEGIN}\nx = 1\n{END}"
    with pytest.raises(student_edition.MarkerError, match=re.escape(
            f"graded, cell {index} (id cell-{index}): a solution block in a cell that is not a "
            f"solution cell")):
        student_edition.student_notebook(nb, "graded")


def test_a_hidden_test_block_outside_a_graded_cell_is_refused():
    nb = graded_lesson()
    nb.cells[3].source += f"\n{HIDDEN_BEGIN}\nassert True\n{HIDDEN_END}"
    with pytest.raises(student_edition.MarkerError, match="a hidden-test block in a cell that is not a graded"):
        student_edition.student_notebook(nb, "graded")


@pytest.mark.parametrize("lines, message", [
    ([HIDDEN_BEGIN, "assert x"], "`### BEGIN HIDDEN TESTS` without a matching `### END HIDDEN TESTS`"),
    (["assert x", HIDDEN_END], "line 3: `### END HIDDEN TESTS` without a `### BEGIN HIDDEN TESTS`"),
    ([HIDDEN_BEGIN, BEGIN, "x", END, HIDDEN_END], "line 3: `### BEGIN SOLUTION` inside another block"),
    (["### begin hidden tests", "assert x", HIDDEN_END], "line 2: `### begin hidden tests` looks like a "
                                                         "hidden-test marker"),
    ([HIDDEN_BEGIN, "assert x", "## END HIDDEN TESTS"], "line 4: `## END HIDDEN TESTS` looks like a "
                                                        "hidden-test marker"),
    (["x = 1  # APPEND SOLUTION"], "line 2: `x = 1  # APPEND SOLUTION` looks like a solution marker"),
])
def test_bad_hidden_test_markers_are_refused(lines, message):
    nb = graded_lesson()
    nb.cells[8].source = "\n".join(["assert True"] + lines)
    with pytest.raises(student_edition.MarkerError, match=re.escape(message)):
        student_edition.student_notebook(nb, "graded")


def test_keep_leaves_every_existing_file_and_writes_the_missing_ones(tmp_path, capsys):
    lessons = [tmp_path / "05_synthetic.ipynb", tmp_path / "06_graded.ipynb"]
    nbformat.write(synthetic_lesson(), lessons[0])
    nbformat.write(graded_lesson(), lessons[1])
    out = tmp_path / "student"
    first = call_main(capsys, "--out", out, "--keep", *lessons)           # first use: both written
    assert first.returncode == 0 and first.stderr == "", first.stderr
    assert sorted(os.listdir(out)) == ["05_synthetic.ipynb", "06_graded.ipynb"]
    fresh = (out / "06_graded.ipynb").read_bytes()
    work = read(out / "05_synthetic.ipynb")                               # the learner's work
    work.cells[2].source = work.cells[2].source.replace("# YOUR CODE HERE", "return abs(Z)")
    nbformat.write(work, out / "05_synthetic.ipynb")
    worked = (out / "05_synthetic.ipynb").read_bytes()
    os.remove(out / "06_graded.ipynb")
    changed = synthetic_lesson()                                          # a new lesson version
    changed.cells[0].source += "\n\nA new paragraph."
    nbformat.write(changed, lessons[0])
    again = call_main(capsys, "--out", out, "--keep", *lessons)
    assert again.returncode == 0 and again.stderr == ""
    assert again.stdout.splitlines() == [
        f"{student_edition._display(str(out / '05_synthetic.ipynb'))}: exists, kept as it is (--keep)",
        f"{student_edition._display(str(out / '06_graded.ipynb'))}: 2 solution block(s) replaced by stubs"]
    assert (out / "05_synthetic.ipynb").read_bytes() == worked
    assert (out / "06_graded.ipynb").read_bytes() == fresh
    assert sorted(os.listdir(out)) == ["05_synthetic.ipynb", "06_graded.ipynb"]


def test_keep_still_refuses_a_lesson_that_would_leak(tmp_path, capsys):
    lesson, out = tmp_path / "05_synthetic.ipynb", tmp_path / "student"
    nb = synthetic_lesson()
    nb.cells[2].source = nb.cells[2].source.replace(END, "## END SOLUTION")
    nbformat.write(nb, lesson)
    assert_refused(call_main(capsys, "--out", out, "--keep", lesson), "looks like a solution marker",
                   "nothing written")
    assert not out.exists()


def test_keep_and_force_together_are_refused(tmp_path, capsys):
    assert_refused(call_main(capsys, "--keep", "--force", "--out", tmp_path / "student"),
                   "not allowed with")


@pytest.mark.parametrize("how", ["same-folder", "dotdot", "symlink"])
def test_out_folder_of_an_input_notebook_is_refused(tmp_path, capsys, how):
    lesson = tmp_path / "lessons" / "05_synthetic.ipynb"
    lesson.parent.mkdir()
    nbformat.write(synthetic_lesson(), lesson)
    before = lesson.read_bytes()
    out = {"same-folder": lesson.parent, "dotdot": lesson.parent / "sub" / "..",
           "symlink": tmp_path / "link"}[how]
    if how == "symlink":
        out.symlink_to(lesson.parent, target_is_directory=True)
    assert_refused(run_tool("--out", out, lesson) if how == "same-folder" else
                   call_main(capsys, "--out", out, lesson), "is the folder of an input notebook",
                   "nothing written")
    assert_refused(call_main(capsys, "--out", out, lesson, "--force"),  # --force does not help
                   "is the folder of an input notebook", "nothing written")
    assert lesson.read_bytes() == before


def test_output_file_that_is_an_input_notebook_is_refused(tmp_path, capsys):
    out, elsewhere = tmp_path / "student", tmp_path / "lessons"
    out.mkdir()
    elsewhere.mkdir()
    real = out / "05_synthetic.ipynb"                    # the input lives in --out, reached
    nbformat.write(synthetic_lesson(), real)             # through a link from another folder
    (elsewhere / "05_synthetic.ipynb").symlink_to(real)
    before = real.read_bytes()
    assert_refused(call_main(capsys, "--out", out, elsewhere / "05_synthetic.ipynb", "--force"),
                   "05_synthetic.ipynb is an input notebook", "nothing written")
    assert real.read_bytes() == before


def test_out_in_the_lessons_folder_is_refused(tmp_path, capsys):
    name = "99_student_edition_test_must_not_exist.ipynb"
    lesson = tmp_path / name
    nbformat.write(synthetic_lesson(), lesson)
    target = os.path.join(ROOT, "notebooks", name)
    assert not os.path.exists(target)
    try:
        assert_refused(call_main(capsys, "--out", os.path.join(ROOT, "notebooks"), lesson, "--force"),
                       "is the lessons' folder", "nothing written")
        assert not os.path.exists(target)
    finally:                                             # never leave a stray lesson behind
        if os.path.exists(target):
            os.remove(target)


def test_two_inputs_with_the_same_name_are_refused(tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        nbformat.write(synthetic_lesson(), tmp_path / folder / "05_synthetic.ipynb")
    out = tmp_path / "student"
    assert_refused(call_main(capsys, "--out", out, tmp_path / "a" / "05_synthetic.ipynb",
                             tmp_path / "b" / "05_synthetic.ipynb"), "have the same name")
    assert not out.exists()


def test_a_students_changed_notebook_is_not_overwritten_without_force(tmp_path, capsys):
    lesson, out = tmp_path / "05_synthetic.ipynb", tmp_path / "student"
    nbformat.write(synthetic_lesson(), lesson)
    assert call_main(capsys, "--out", out, lesson).returncode == 0
    fresh = (out / lesson.name).read_bytes()
    # Running again over an untouched edition is fine and leaves the file alone.
    again = call_main(capsys, "--out", out, lesson)
    assert again.returncode == 0 and again.stderr == "" and "(file unchanged)" in again.stdout
    assert (out / lesson.name).read_bytes() == fresh
    # The student writes an answer; a new run must not wipe it out...
    work = read(out / lesson.name)
    work.cells[2].source = work.cells[2].source.replace("# YOUR CODE HERE", "return np.maximum(Z, 0)")
    nbformat.write(work, out / lesson.name)
    worked = (out / lesson.name).read_bytes()
    assert_refused(run_tool("--out", out, lesson), "05_synthetic.ipynb already exists and differs",
                   "--force", "nothing written")
    assert (out / lesson.name).read_bytes() == worked
    # ...unless the teacher asks for it.
    forced = call_main(capsys, "--out", out, lesson, "--force")
    assert forced.returncode == 0 and forced.stderr == ""
    assert (out / lesson.name).read_bytes() == fresh
    assert sorted(os.listdir(out)) == [lesson.name]      # no temporary file left behind


@pytest.mark.parametrize("kind", ["missing", "folder", "text", "not-ipynb-name", "json-list",
                                  "bad-cells", "no-version", "binary"])
def test_missing_or_non_notebook_input_is_refused(tmp_path, capsys, kind):
    path = tmp_path / ("05_lesson.txt" if kind == "not-ipynb-name" else "05_lesson.ipynb")
    content = {"text": "print('hello')\n", "not-ipynb-name": nbformat.writes(synthetic_lesson()),
               "json-list": "[]", "no-version": '{"cells": []}',
               "bad-cells": '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": 5}'}
    if kind == "folder":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(bytes(range(256)))
    elif kind != "missing":
        path.write_text(content[kind])
    expected = {"missing": "no such notebook", "folder": "is a folder",
                "not-ipynb-name": "must end in .ipynb", "text": "not JSON", "binary": "not JSON",
                "json-list": "no nbformat version", "no-version": "no nbformat version",
                "bad-cells": "not a valid Jupyter notebook"}[kind]
    out = tmp_path / "student"
    result = (run_tool("--out", out, path) if kind in ("missing", "text") else
              call_main(capsys, "--out", out, path))
    assert_refused(result, str(path), expected, "nothing written")
    assert not out.exists()


def test_a_bad_option_is_one_line_too():
    assert_refused(run_tool("--no-such-option"), "unrecognized arguments: --no-such-option")


# --------------------------------------------------------------------------- the real lessons
@pytest.fixture(scope="module")
def real_edition(tmp_path_factory):
    """The default command (every lesson) run once into a fresh folder: (folder, result)."""
    if not LESSONS:
        pytest.skip("no lessons yet")
    out = tmp_path_factory.mktemp("student")
    return out, run_tool("--out", out)


def test_default_run_converts_every_lesson(real_edition):
    out, result = real_edition
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert sorted(os.listdir(out)) == [os.path.basename(p) for p in LESSONS]
    assert len(result.stdout.splitlines()) == len(LESSONS)


def solution_blocks(nb):
    """[(cell index, [lines of the block])] for every solution block of the source notebook."""
    blocks = []
    for index, cell in enumerate(nb.cells):
        block = None
        for line in cell.source.split("\n"):
            if line.strip() == BEGIN:
                block = []
                blocks.append((index, block))
            elif line.strip() == END:
                block = None
            elif block is not None:
                block.append(line)
    return blocks


@pytest.mark.parametrize("path", LESSONS or [pytest.param(None, marks=pytest.mark.skip("no lessons"))],
                         ids=lambda p: os.path.basename(p) if p else "none")
def test_written_real_lesson_holds_no_line_of_any_solution_block(real_edition, path):
    out, result = real_edition
    assert result.returncode == 0, result.stderr
    original, student = read(path), read(out / os.path.basename(path))
    blocks = solution_blocks(original)
    assert len(student.cells) == len(original.cells)
    # Cell by cell: the student's cell holds exactly the cell's lines outside its blocks
    # plus one stub per block (as multisets: no block line can hide among the others).
    for index in sorted({i for i, _ in blocks}):
        source = original.cells[index].source.split("\n")
        outside_blocks, within = [], False
        for line in source:
            if line.strip() in (BEGIN, END):
                within = line.strip() == BEGIN
            elif not within:
                outside_blocks.append(line.strip())
        count = sum(1 for i, _ in blocks if i == index)
        expected = Counter(outside_blocks) + Counter({stub: count for stub in STUB_LINES})
        assert Counter(line.strip() for line in student.cells[index].source.split("\n")) == expected
    # Notebook-wide: a solution line found nowhere else in the lesson appears nowhere in the file.
    inside = {line.strip() for _, lines in blocks for line in lines if line.strip()}
    outside = set()
    for index, cell in enumerate(original.cells):
        within = False
        for line in cell.source.split("\n"):
            if line.strip() in (BEGIN, END):
                within = line.strip() == BEGIN
            elif not within:
                outside.add(line.strip())
    unique = inside - outside
    assert unique or not blocks, "the check would be empty"
    written = {line.strip() for cell in student.cells for line in cell.source.split("\n")}
    assert not sorted(unique & written), sorted(unique & written)
    assert all(not c.get("outputs") for c in student.cells)


def test_real_lessons_contain_no_near_miss_markers():
    if not LESSONS:
        pytest.skip("no lessons yet")
    for path in LESSONS:
        name = os.path.basename(path)
        for index, cell in enumerate(read(path).cells):
            for number, line in enumerate(cell.source.split("\n"), start=1):
                where = f"{name}, cell {index}, line {number}: {line!r}"
                if cell.cell_type == "code":
                    # the tool's rule, and an independent crude one: in code, "solution"
                    # (any case) appears only in the two exact markers
                    if line.strip() in (HIDDEN_BEGIN, HIDDEN_END):
                        assert re.fullmatch(r"[ ]*### (BEGIN|END) HIDDEN TESTS", line), where
                    elif line.strip() not in (BEGIN, END):
                        assert not student_edition.looks_like_marker(line), where
                        assert "solution" not in line.lower(), where
                    else:
                        assert re.fullmatch(r"[ ]*### (BEGIN|END) SOLUTION", line), where
            if cell.cell_type != "code":
                student_edition.check_text_cell(cell.source, cell.cell_type, f"{name}, cell {index}")


def test_a_near_miss_in_a_real_lesson_would_be_caught():
    """The check above can fail: one mistyped END marker in a real lesson is refused."""
    path = next((p for p in LESSONS if has_exercises(p)), None)
    if path is None:
        pytest.skip("no lesson has exercises yet")
    nb = read(path)
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and END in c.source)
    lines = nb.cells[index].source.split("\n")
    number = next(n for n, line in enumerate(lines, start=1) if line.strip() == END)
    lines[number - 1] = lines[number - 1].replace(END, "#" + END)
    nb.cells[index].source = "\n".join(lines)
    with pytest.raises(student_edition.MarkerError,
                       match=re.escape(f"lesson, cell {index} (id {nb.cells[index].id}), "
                                       f"line {number}: ")):
        student_edition.student_notebook(nb, "lesson")


@pytest.mark.parametrize("path", [p for p in LESSONS if has_exercises(p)] or
                         [pytest.param(None, marks=pytest.mark.skip("no lesson has exercises yet"))],
                         ids=lambda p: os.path.basename(p) if p else "none")
def test_real_lesson_student_edition_holds_no_solution(path):
    original = read(path)
    student, exercises = student_edition.student_notebook(original, os.path.basename(path))
    assert exercises >= 2, "CONTRIBUTING.md asks for 2-4 exercises per lesson"
    assert_is_student_edition(original, student)


def test_real_lesson_student_edition_stops_at_the_first_self_check(tmp_path):
    if not (os.path.exists(EXECUTED_LESSON) and has_exercises(EXECUTED_LESSON)):
        pytest.skip(f"{os.path.basename(EXECUTED_LESSON)} does not exist or has no exercises yet")
    if not os.environ.get("MNIST_NPZ"):
        pytest.skip("set MNIST_NPZ to run a lesson")
    student, _ = student_edition.student_notebook(read(EXECUTED_LESSON))
    student, error = execute(student, tmp_path)
    assert error is not None and error.ename == "SelfCheckError", error
    [(index, out)] = error_cells(student)
    assert out.evalue.startswith("not done yet: write the body of ")
    assert "selfcheck.check_" in student.cells[index].source
    first_stub = min(i for i, c in enumerate(student.cells) if "# YOUR CODE HERE" in c.source)
    first_check = min(i for i, c in enumerate(student.cells)
                      if i > first_stub and "selfcheck.check_" in c.source)
    assert index == first_check, "the notebook must stop at the first exercise's self-check"
