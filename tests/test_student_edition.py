"""Tests of tools/student_edition.py on a small synthetic lesson and on the real ones.

The student edition must hold no solution code, be a valid notebook, and, when run,
stop at the first exercise's self-check with "not done yet"; the solution edition
(the original) passes every self-check. Only the synthetic lesson and at most one
fast real lesson are executed, to keep the suite quick.
"""
import glob
import os
import re
import subprocess
import sys

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
    result = subprocess.run([sys.executable, TOOL, "--out", str(out), str(good), str(bad)],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "01_broken.ipynb, cell 0" in result.stderr and "nothing written" in result.stderr
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


# --------------------------------------------------------------------------- the real lessons
def test_default_run_converts_every_lesson(tmp_path):
    if not LESSONS:
        pytest.skip("no lessons yet")
    result = subprocess.run([sys.executable, TOOL, "--out", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(p) for p in LESSONS]
    assert len(result.stdout.splitlines()) == len(LESSONS)


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
