"""Write (or check) the nbgrader metadata of the lessons' exercise cells from their grade ids.

    python tools/exercise_cells.py notebooks/05_*.ipynb          # fill in the metadata in place
    python tools/exercise_cells.py --check notebooks/*.ipynb     # exit 1 and say what is wrong
    python tools/exercise_cells.py --list notebooks/*.ipynb      # the exercises, kinds, points

An author gives each cell of an exercise only its grade id,
``cell.metadata["nbgrader"] = {"grade_id": "build-softmax-check"}`` (and ``"points"`` where
a graded cell is worth more than 1). The id is ``<kind>-<slug>`` plus a suffix that says
what the cell is (CONTRIBUTING.md, "Exercises and self-checks"):

=============================  =========  ============================================
grade id                       cell type  nbgrader metadata written
=============================  =========  ============================================
``<kind>-<slug>``              Markdown   read-only (locked): the task, with the heading
                                          ``## Exercise N (kind) — title``
``…-given``, ``…-given2``,     code or    read-only (locked): given code, a reveal
``…-reveal``                   Markdown
``…-answer``, ``…-answer2``    code       solution (the block between the solution
                                          markers is the answer)
``…-explain``, ``…-explain2``  Markdown   solution + graded by hand (points, default 1)
``…-check``, ``…-check2``      code       graded by the autograder (points, default 1),
                                          locked
=============================  =========  ============================================

``kind`` is one of predict, derive, build, debug. ``--check`` also refuses: an exercise
heading without its task id (or the other way round), a kind in the heading that differs
from the id's, a cell of an exercise before its task cell or after the next exercise, ids
used twice, an exercise without a graded cell, solution markers outside answer cells, and
metadata that differs from what this tool writes.

Exit status: 0 fine, 1 problems found (one line each on stderr), 2 a file that cannot be
read as a notebook or metadata that cannot be written (one line; nothing written). A lesson
is written through a temporary file, never half-way.
"""
import argparse
import os
import re
import sys
import tempfile

import nbformat

KINDS = ("predict", "derive", "build", "debug")
GRADE_ID = re.compile(r"^(?P<exercise>(?P<kind>[a-z]+)-[a-z0-9]+(?:-[a-z0-9]+)*?)"
                      r"(?:-(?P<role>given|reveal|answer|explain|check)(?P<n>[0-9]*))?$")
HEADING = re.compile(r"^##+ Exercise (?P<number>[0-9]+) \((?P<kind>[a-z]+)\) — \S", re.M)
MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*$", re.M)


def parse(grade_id):
    """(exercise, kind, role) of a grade id; role 'task' for the exercise's own id."""
    match = GRADE_ID.match(grade_id or "")
    if not match or match["kind"] not in KINDS:
        raise ValueError(f"grade id {grade_id!r} is not <kind>-<slug>[-given|-reveal|-answer|"
                         f"-explain|-check][N] with kind one of {', '.join(KINDS)}")
    return match["exercise"], match["kind"], match["role"] or "task"


def metadata_for(cell, grade_id, points=None):
    """The full nbgrader metadata of a cell with this grade id (ValueError if it cannot be)."""
    _, _, role = parse(grade_id)
    if points is not None and (isinstance(points, bool) or not isinstance(points, int) or points < 1):
        raise ValueError(f"{grade_id}: points must be a whole number >= 1, not {points!r}")
    base = {"grade_id": grade_id, "schema_version": 3, "task": False}
    if role in ("task", "given", "reveal"):
        if role == "task" and cell.cell_type != "markdown":
            raise ValueError(f"{grade_id}: the task cell must be Markdown")
        return {**base, "grade": False, "locked": True, "solution": False}
    if role == "answer":
        if cell.cell_type != "code":
            raise ValueError(f"{grade_id}: an answer cell is code (prose answers are -explain)")
        return {**base, "grade": False, "locked": False, "solution": True}
    if role == "explain":
        if cell.cell_type != "markdown":
            raise ValueError(f"{grade_id}: an explain cell is Markdown")
        return {**base, "grade": True, "locked": False, "points": points or 1, "solution": True}
    if cell.cell_type != "code":
        raise ValueError(f"{grade_id}: a check cell is code")
    return {**base, "grade": True, "locked": True, "points": points or 1, "solution": False}


def exercises(nb):
    """[(exercise id, kind, heading number, [(cell index, role, points)])] in lesson order."""
    found = []
    for i, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        try:
            exercise, kind, role = parse(grade_id)
        except ValueError:                                # no id, or a bad one (problems() names it)
            continue
        if role == "task":
            heading = HEADING.search(cell.source)
            found.append((exercise, kind, int(heading["number"]) if heading else None, []))
        points = cell.metadata["nbgrader"].get("points")
        if found and found[-1][0] == exercise:
            found[-1][3].append((i, role, points))
        else:
            found.append((exercise, kind, None, [(i, role, points)]))
    return found


def problems(nb):
    """Every problem of the notebook's exercise cells, as readable lines (empty: fine)."""
    out, seen = [], set()
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        heading = HEADING.search(cell.source) if cell.cell_type == "markdown" else None
        if meta is None:
            if heading:
                out.append(f"cell {i}: exercise heading without nbgrader metadata")
            if MARKER.search(cell.source):
                out.append(f"cell {i}: solution markers in a cell that is not an answer cell")
            continue
        grade_id = meta.get("grade_id")
        try:
            exercise, kind, role = parse(grade_id)
            want = metadata_for(cell, grade_id, meta.get("points"))
        except ValueError as error:
            out.append(f"cell {i}: {error}")
            continue
        if grade_id in seen:
            out.append(f"cell {i}: grade id {grade_id} used twice")
        seen.add(grade_id)
        if dict(meta) != want:
            out.append(f"cell {i} ({grade_id}): metadata {dict(meta)} differs from {want} "
                       f"(run tools/exercise_cells.py on the lesson)")
        if role == "task":
            if not heading:
                out.append(f"cell {i} ({grade_id}): the task cell has no heading "
                           f"'## Exercise N ({kind}) — title'")
            elif heading["kind"] != kind:
                out.append(f"cell {i} ({grade_id}): the heading says {heading['kind']}, "
                           f"the id {kind}")
        elif heading:
            out.append(f"cell {i} ({grade_id}): an exercise heading in a cell that is not a task")
        if MARKER.search(cell.source) and role != "answer":
            out.append(f"cell {i} ({grade_id}): solution markers outside an answer cell")
        if role == "answer" and cell.cell_type == "code" and not MARKER.search(cell.source):
            out.append(f"cell {i} ({grade_id}): an answer cell without solution markers")
    numbers = []
    for exercise, kind, number, cells in exercises(nb):
        if cells[0][1] != "task":
            out.append(f"{exercise}: its cells stand apart from its task cell (cell "
                       f"{cells[0][0]}); every cell of an exercise follows its task")
        if not any(role in ("check", "explain") for _, role, _ in cells):
            out.append(f"{exercise}: no graded cell (-check or -explain)")
        if number is not None:
            numbers.append(number)
    if numbers != list(range(1, len(numbers) + 1)):
        out.append(f"exercises are numbered {numbers}, expected 1 to {len(numbers)} in order")
    return out


def fill(nb):
    """Write the metadata of every cell that has a grade id (in place); return nb."""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta and meta.get("grade_id"):
            cell.metadata["nbgrader"] = metadata_for(cell, meta["grade_id"], meta.get("points"))
    return nb


def write_atomic(nb, path):
    """Write nb to path through a temporary file in the same folder: never half a lesson."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".exercise_cells-", suffix=".ipynb")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            nbformat.write(nb, out)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="say what is wrong; change nothing")
    mode.add_argument("--list", action="store_true", help="print the exercises of each lesson")
    parser.add_argument("notebooks", nargs="+")
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as error:                       # missing, a folder, not a notebook
            print(f"{path}: cannot read it as a notebook: {error}".splitlines()[0], file=sys.stderr)
            return 2
        if args.list:
            for exercise, kind, number, cells in exercises(nb):
                points = sum(p or 1 for _, role, p in cells if role in ("check", "explain"))
                print(f"{path}: Exercise {number} {exercise} ({kind}), {points} point(s)")
            continue
        if not args.check:
            try:
                fill(nb)
            except ValueError as error:
                print(f"{path}: {error}", file=sys.stderr)
                return 2
            write_atomic(nb, path)
        for line in problems(nb):
            print(f"{path}: {line}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
