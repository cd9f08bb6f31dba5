"""The lessons' exercises follow CONTRIBUTING.md ("Exercises and self-checks"): fast, nothing
is executed.

Every lesson passes `tools/exercise_cells.py --check` and has at least four exercises, each of
one of the four kinds; across the course every kind appears at least five times; solution
markers stand only in answer cells (never in Markdown or raw cells, never in a given, reveal
or check cell, not even quoted); graded cells have whole points >= 1; and every lesson has
its known mistake for tests/test_nbgrader.py, tests/nbgrader_mistakes/NN.json, naming an
answer cell whose text holds "old" once and a check cell of the same lesson.
"""
import glob
import json
import os
import sys
from collections import Counter

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import exercise_cells  # noqa: E402

LESSONS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "[0-9][0-9]_*.ipynb")))
MISTAKES = os.path.join(ROOT, "tests", "nbgrader_mistakes")
MARKER_TEXT = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def read(path):
    return nbformat.read(path, as_version=4)


def grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def role(cell):
    return exercise_cells.parse(grade_id(cell))[2] if grade_id(cell) else None


lessons = pytest.mark.parametrize("path", LESSONS, ids=lambda p: os.path.basename(p)[:2])


@lessons
def test_exercise_cells_check_passes(path):
    assert exercise_cells.problems(read(path)) == []


@lessons
def test_at_least_four_exercises_each_of_a_known_kind(path):
    found = exercise_cells.exercises(read(path))
    assert len(found) >= 4, [exercise for exercise, *_ in found]
    assert all(kind in exercise_cells.KINDS for _, kind, _, _ in found)


def test_every_kind_appears_at_least_five_times_in_the_course():
    kinds = Counter(kind for path in LESSONS for _, kind, _, _ in exercise_cells.exercises(read(path)))
    assert all(kinds[kind] >= 5 for kind in exercise_cells.KINDS), dict(kinds)


@lessons
def test_solution_markers_only_in_answer_cells(path):
    for index, cell in enumerate(read(path).cells):
        where = f"cell {index} ({grade_id(cell) or cell.cell_type})"
        solution = [t for t in MARKER_TEXT[:2] if t in cell.source]
        hidden = [t for t in MARKER_TEXT[2:] if t in cell.source]
        if cell.cell_type != "code":
            assert not solution + hidden, f"{where}: prose never quotes the markers: {solution + hidden}"
        else:
            assert not solution or role(cell) == "answer", f"{where}: solution markers outside an answer cell"
            assert not hidden or role(cell) == "check", f"{where}: hidden tests outside a check cell"


@lessons
def test_graded_cells_have_whole_points(path):
    for cell in read(path).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            points = meta.get("points")
            assert isinstance(points, int) and not isinstance(points, bool) and points >= 1, \
                (grade_id(cell), points)


@lessons
def test_the_known_mistake_names_cells_of_the_lesson(path):
    mistake_path = os.path.join(MISTAKES, os.path.basename(path)[:2] + ".json")
    assert os.path.exists(mistake_path), f"no {os.path.relpath(mistake_path, ROOT)}"
    with open(mistake_path, encoding="utf-8") as file:
        mistake = json.load(file)
    assert {"grade_id", "old", "new", "check", "hint"} <= set(mistake) <= {
        "grade_id", "old", "new", "check", "hint", "also_fails"}, sorted(mistake)
    cells = {grade_id(c): c for c in read(path).cells if grade_id(c)}
    for other in mistake.get("also_fails", ()):
        assert other in cells and role(cells[other]) == "check", other
    assert mistake["grade_id"] in cells and role(cells[mistake["grade_id"]]) == "answer", mistake["grade_id"]
    assert mistake["check"] in cells and role(cells[mistake["check"]]) == "check", mistake["check"]
    assert cells[mistake["grade_id"]].source.count(mistake["old"]) == 1, "'old' must occur once"
    assert mistake["old"] != mistake["new"] and mistake["hint"].strip()


def test_teachers_guide_points_table_is_what_exercise_cells_lists(capsys):
    """docs/teachers.md's points per lesson: the same as `tools/exercise_cells.py --list`."""
    with open(os.path.join(ROOT, "docs", "teachers.md"), encoding="utf-8") as file:
        guide = file.read()
    table = guide[guide.index("| lesson | exercises | autograded points |"):].split("\n\n")[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    exercise_cells.main(["--list", *LESSONS])
    listed = {}
    for line in capsys.readouterr().out.splitlines():       # "<path>: Exercise N <id> (kind), P point(s)"
        path, rest = line.split(": Exercise ", 1)
        listed.setdefault(os.path.basename(path)[:2], []).append(int(rest.rsplit(", ", 1)[1].split()[0]))
    want, totals = [], [0, 0, 0, 0]
    for path in LESSONS:
        cells = [c for _, _, _, cs in exercise_cells.exercises(read(path)) for c in cs]
        auto = sum(points or 1 for _, role_, points in cells if role_ == "check")
        hand = sum(points or 1 for _, role_, points in cells if role_ == "explain")
        number = os.path.basename(path)[:2]
        assert auto + hand == sum(listed.get(number, [])), number
        row = [len(listed.get(number, [])), auto, hand, auto + hand]
        want.append([number] + [str(n) for n in row])
        totals = [t + n for t, n in zip(totals, row)]
    want.append(["all"] + [str(n) for n in totals])
    assert rows == want


def test_exercise_cells_tool_says_what_is_wrong_in_one_line(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Exercise 1 (build) — x"),
                nbformat.v4.new_code_cell("x = 1")]
    nb.cells[0].metadata["nbgrader"] = {"grade_id": "bild-x"}            # not a kind
    nb.cells[1].metadata["nbgrader"] = {"grade_id": "build-x-check", "points": 0}
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, path)
    before = path.read_bytes()
    assert exercise_cells.main(["--check", str(path)]) == 1
    assert exercise_cells.main(["--list", str(path)]) == 0               # no traceback
    assert exercise_cells.main([str(path)]) == 2                         # refused, not written
    assert path.read_bytes() == before
    err = capsys.readouterr().err
    assert "'bild-x' is not <kind>-<slug>" in err and "points must be a whole number" in err
    assert exercise_cells.main(["--check", str(tmp_path / "missing.ipynb")]) == 2
    assert "cannot read it as a notebook" in capsys.readouterr().err


@lessons
def test_predictions_explain_themselves_from_selfcheck(path):
    """A predict exercise's check cell does not carry its explanation (read ahead, it would
    give the answer away): the sentence is selfcheck.WHY[name], and a wrong guess shows it."""
    import ast

    import selfcheck

    for cell in read(path).cells:
        if not grade_id(cell) or role(cell) != "check" or "check_prediction" not in cell.source:
            continue
        calls = [n for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Call)
                 and getattr(n.func, "attr", "") in ("check_prediction", "check_prediction_decades")]
        assert calls, grade_id(cell)
        for call in calls:
            # any why= here, a constant or built from the lesson's numbers, shows the answer
            # to a learner reading ahead: the explanation lives in selfcheck.WHY
            assert not any(kw.arg == "why" for kw in call.keywords), \
                f"{grade_id(cell)}: move the explanation into selfcheck.WHY"
            name = call.args[0].value
            assert name in selfcheck.WHY, f"{grade_id(cell)}: no selfcheck.WHY[{name!r}]"
    with pytest.raises(selfcheck.SelfCheckError, match="the last batch holds the 24 left over"):
        selfcheck.check_prediction("the size of the last batch", 3, 24, rtol=0)
