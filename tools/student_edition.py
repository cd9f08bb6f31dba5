"""Write the student edition of the lessons: solutions replaced by stubs, outputs cleared.

    python tools/student_edition.py                       # all lessons -> student/
    python tools/student_edition.py --out handout notebooks/03_*.ipynb
    python tools/student_edition.py --force               # overwrite changed student files
    python tools/student_edition.py --keep                # write only files that are missing

The conversion is nbgrader's own (the preprocessors `nbgrader generate_assignment`
runs), so this edition and nbgrader's released version agree:

- ClearSolutions: in every code cell, each block from a `### BEGIN SOLUTION` line to
  the next `### END SOLUTION` line (markers included) becomes, at the indentation of
  the BEGIN line, the stub

      # YOUR CODE HERE
      raise NotImplementedError()

  and the whole text of a Markdown answer cell (nbgrader metadata `solution`, the
  exercises' `-explain` cells) becomes `YOUR ANSWER HERE`;
- ClearHiddenTests: every block from `### BEGIN HIDDEN TESTS` to `### END HIDDEN TESTS`
  in a check cell is removed (nbgrader's autograder puts it back);
- ClearOutput: all outputs and execution counts are cleared.

Everything else stays: the text, the self-check cells, the cell ids, tags and metadata.
The student edition is meant to be opened inside this repository (student/ is
gitignored): the lessons `import npcore` and `import selfcheck`, which the editable
install provides.

The tool never leaks a solution and never destroys work. It reads and checks every
notebook and every output path first, before nbgrader converts anything; on any
problem it prints ONE line on stderr (notebook, cell index, cell id and line number
when they apply), exits with status 2 and writes nothing. Refused:

- Unpaired markers: a BEGIN without its END, an END without a BEGIN, a BEGIN
  inside a block (solution blocks and hidden-test blocks alike).
- Near-miss markers. A marker is exactly `### BEGIN SOLUTION` or
  `### END SOLUTION` (capitals, three '#', one space) alone on its line; only
  spaces or tabs may stand before or after it. In a code or raw cell, a line
  that is not exactly a marker is refused when, taking its text from the first
  '#' on (its "comment"; the '#' may even be inside a string, which errs on the
  safe side):
    1. the comment, lowercased with everything but the letters a-z removed, is
       within edit distance 2 of "beginsolution" or "endsolution" or within 1
       of "solution" (`## BEGIN SOLUTION`, `#### END SOLUTION`,
       `### begin solution`, `###BEGINSOLUTION`, `### BEGIN SOLUTON`,
       `### BEGIN-SOLUTION.`, `# SOLUTION`); or
    2. the comment holds "begin" or "end" directly followed (after non-letters
       only) by "solution" (`x = 1  ### BEGIN SOLUTION`, `#BEGIN_SOLUTION here`);
       or
    3. a word of the comment within edit distance 1 of "solution" has, at most
       two words before or after it, a word within distance 1 of "begin", or
       "end" (or a word one edit away from it other than and/send/lend/bend/
       tend/mend/fend/vend), or "start"/"stop" (`### END SOLUTION here`,
       `### BEGIN YOUR SOLUTION`, `# end of solution`, `### START SOLUTION`).
  A code line without any '#' is refused under rule 1 only (`BEGIN SOLUTION`,
  `begin_solution()`). Edit distance counts insertions, deletions,
  substitutions and swaps of neighbouring letters. A plain comment that
  happens to match (`# end the solution early`) must be reworded: refusing a
  harmless comment costs a minute, copying a solution to students cannot be
  undone. The hidden-test markers are exactly `### BEGIN HIDDEN TESTS` and
  `### END HIDDEN TESTS`; a line whose letters are within edit distance 2 of
  theirs ("beginhiddentests", "endhiddentests") but that is not exactly one is
  refused too. (nbgrader itself takes any line that merely contains
  "BEGIN SOLUTION" for a marker: these rules are stricter.)
- Markers in Markdown or raw cells, exact or near, even quoted in backticks:
  nbgrader would take a quoted marker in prose for a real one. Lesson prose says
  "the solution markers" instead. Lines of a Markdown cell inside a fenced block
  (``` or ~~~) are checked as code lines; any other line is refused if it is
  within distance 2 of a marker by rule 1, or it starts with '#' (a heading) and
  matches rule 2 or 3.
- In a lesson that carries nbgrader metadata (cell.metadata.nbgrader), a solution
  block in a cell that is not a solution cell, or a hidden-test block in a cell that
  is not a graded cell: nbgrader would refuse the lesson (tools/exercise_cells.py
  writes the metadata). A notebook without any nbgrader metadata may keep solution
  blocks in any code cell.
- Writing over the input: an --out folder that is the folder of an input
  notebook, the lessons' folder notebooks/, or an output file that is an input
  notebook; two inputs with the same file name (their editions would collide).
- Overwriting a student's work: an output file that exists and differs from
  the edition about to be written is refused unless --force is given (a file
  that is already identical is left alone). With --keep every output file that
  exists is left as it is, whatever it holds, and only missing ones are written:
  a learner's own copy is created on first use and never overwritten.
- A missing input, a folder, a file whose name does not end in .ipynb, or a file
  that is not a valid Jupyter notebook.
"""
import argparse
import glob
import json
import os
import re
import sys

import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LESSONS_DIR = os.path.join(ROOT, "notebooks")
BEGIN_MARKER, END_MARKER = "### BEGIN SOLUTION", "### END SOLUTION"
MARKER = re.compile(r"^([ \t]*)### (BEGIN|END) SOLUTION[ \t\r]*$")
HIDDEN_MARKER = re.compile(r"^([ \t]*)### (BEGIN|END) HIDDEN TESTS[ \t\r]*$")
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = "YOUR ANSWER HERE"
JOINED = re.compile(r"(?<![a-z])(?:begin|end)[^a-z]*solution")       # rule 2
ORDINARY_NEAR_END = {"and", "send", "lend", "bend", "tend", "mend", "fend", "vend"}
FENCE = re.compile(r"^\s*(```|~~~)")


class EditionError(ValueError):
    """Bad input or a refused output: the tool writes nothing and exits with status 2."""


class MarkerError(EditionError):
    """Solution markers that do not pair up, are misspelt, or stand outside a code cell."""


# --------------------------------------------------------------------------- near-miss markers
def edit_distance(a, b):
    """Optimal string alignment distance: insert, delete, substitute, swap two neighbours = 1."""
    before, previous = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1,
                             previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[-1]


def _near(word, target, limit):
    return abs(len(word) - len(target)) <= limit and edit_distance(word, target) <= limit


def _letters(text):
    return re.sub(r"[^a-z]", "", text.lower())


def _squashed_marker(text, solution_alone=True):
    """Rule 1: the letters of text are (almost) those of a marker."""
    letters = _letters(text)
    return (_near(letters, "beginsolution", 2) or _near(letters, "endsolution", 2)
            or (solution_alone and _near(letters, "solution", 1)))


def _marker_words(text):
    """Rules 2 and 3: begin/end written next to solution, maybe misspelt, maybe with extra words."""
    lower = text.lower()
    if JOINED.search(lower):
        return True
    words = re.findall(r"[a-z]+", lower)
    solution = [i for i, w in enumerate(words) if _near(w, "solution", 1)]
    if not solution:
        return False
    edge = [i for i, w in enumerate(words)
            if _near(w, "begin", 1) or w in ("start", "stop")
            or (_near(w, "end", 1) and w not in ORDINARY_NEAR_END)]
    return any(0 < abs(i - j) <= 2 for i in solution for j in edge)


def _near_hidden(text):
    """The letters of text are (almost, not exactly) those of a hidden-test marker."""
    letters = _letters(text)
    return _near(letters, "beginhiddentests", 2) or _near(letters, "endhiddentests", 2)


def looks_like_marker(line, cell_type="code"):
    """True if line is, or nearly is, a solution or hidden-test marker (module docstring).

    For a code or raw cell line, and for a line inside a fenced block of a
    Markdown cell pass cell_type="code"; for other Markdown lines pass "markdown".
    The exact markers count too: callers decide where they are allowed.
    """
    if MARKER.match(line) or HIDDEN_MARKER.match(line) or _near_hidden(line):
        return True
    if any(text in line for text in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS")):
        return True                                      # nbgrader's own test: a substring
    if cell_type == "markdown":
        return (_squashed_marker(line, solution_alone=False)
                or (line.lstrip().startswith("#") and _marker_words(line)))
    if "#" not in line:
        return _squashed_marker(line, solution_alone=False)
    comment = line[line.index("#"):]
    return _squashed_marker(comment) or _marker_words(comment)


def _shown(line, width=60):
    text = line.strip()
    return text if len(text) <= width else text[:width - 1] + "…"


def _near_miss(where, number, line):
    hidden = _near_hidden(line)
    begin, end = (BEGIN_HIDDEN, END_HIDDEN) if hidden else (BEGIN_MARKER, END_MARKER)
    return MarkerError(f"{where}, line {number}: `{_shown(line)}` looks like a "
                       f"{'hidden-test' if hidden else 'solution'} marker but is not exactly "
                       f"`{begin}` or `{end}` alone on its line (capitals, three '#', one "
                       f"space); write the marker exactly or reword the line")


def check_text_cell(source, cell_type, where="cell"):
    """Refuse any marker, exact or near, quoted or not, in a Markdown or raw cell's source."""
    fenced = False
    for number, line in enumerate(source.split("\n"), start=1):
        if cell_type == "markdown" and FENCE.match(line):
            fenced = not fenced
            continue
        kind = "markdown" if cell_type == "markdown" and not fenced else "code"
        if looks_like_marker(line, kind):
            raise MarkerError(f"{where}, line {number}: `{_shown(line)}` is (or looks like) a "
                              f"solution or hidden-test marker in a {cell_type} cell; nbgrader "
                              f"would take it for a real one: write \"the solution markers\" "
                              f"in text, and keep blocks in code cells")


def check_code_cell(source, where="cell"):
    """Refuse unpaired or near-miss markers; return (solution blocks, hidden-test blocks)."""
    open_block, blocks = None, {"solution": 0, "hidden": 0}
    names = {"solution": (BEGIN_MARKER, END_MARKER), "hidden": (BEGIN_HIDDEN, END_HIDDEN)}
    for number, line in enumerate(source.split("\n"), start=1):
        marker = MARKER.match(line) or HIDDEN_MARKER.match(line)
        if not marker:
            if looks_like_marker(line):
                raise _near_miss(where, number, line)
            continue
        kind = "solution" if MARKER.match(line) else "hidden"
        begin, end = names[kind]
        if marker.group(2) == "BEGIN":
            if open_block is not None:
                raise MarkerError(f"{where}, line {number}: `{begin}` inside another block "
                                  f"(the previous `{names[open_block][0]}` has no "
                                  f"`{names[open_block][1]}`)")
            open_block, blocks[kind] = kind, blocks[kind] + 1
        else:
            if open_block != kind:
                raise MarkerError(f"{where}, line {number}: `{end}` without a `{begin}` "
                                  f"before it")
            open_block = None
    if open_block is not None:
        begin, end = names[open_block]
        raise MarkerError(f"{where}: `{begin}` without a matching `{end}`")
    return blocks["solution"], blocks["hidden"]


def strip_solutions(source, where="cell"):
    """Return (source with every solution block replaced by the stub, number of blocks).

    Checks the cell first (check_code_cell), then converts it with nbgrader's
    ClearSolutions, as a solution cell."""
    blocks, _ = check_code_cell(source, where)
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False,
                                 "grade_id": "cell", "schema_version": 3}
    nb = nbformat.v4.new_notebook(cells=[cell])
    return _nbgrader_convert(nb).cells[0].source, blocks


def _nbgrader_convert(nb):
    """nb through nbgrader's ClearSolutions, ClearHiddenTests and ClearOutput (in place)."""
    import warnings
    with warnings.catch_warnings():                      # nbgrader's imports are not ours to fix
        warnings.simplefilter("ignore")
        from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions
    resources = {}
    # Where a cell may hold a block is checked by student_notebook first (with a message
    # that names the cell); nbgrader's own check would also refuse a lesson without metadata.
    for preprocessor in (ClearSolutions(enforce_metadata=False),
                         ClearHiddenTests(enforce_metadata=False), ClearOutput()):
        nb, resources = preprocessor.preprocess(nb, resources)
    return nb


def student_notebook(nb, name="notebook"):
    """(The student edition of a notebook node, number of solution blocks); nb is unchanged.

    Every cell is checked first (MarkerError); then nbgrader converts a copy."""
    nb = nbformat.from_dict(nb)                          # a deep copy
    graded = any("nbgrader" in cell.metadata for cell in nb.cells)
    exercises = 0
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index} (id {cell.get('id', '?')})"
        if cell.cell_type != "code":
            check_text_cell(cell.source, cell.cell_type, where)
            continue
        blocks, hidden = check_code_cell(cell.source, where)
        meta = cell.metadata.get("nbgrader", {})
        if graded and blocks and not meta.get("solution"):
            raise MarkerError(f"{where}: a solution block in a cell that is not a solution cell "
                              f"(nbgrader metadata; see tools/exercise_cells.py)")
        if graded and hidden and not meta.get("grade"):
            raise MarkerError(f"{where}: a hidden-test block in a cell that is not a graded cell "
                              f"(nbgrader metadata; see tools/exercise_cells.py)")
        exercises += blocks
    nb = _nbgrader_convert(nb)
    nbformat.validate(nb)
    return nb, exercises


# --------------------------------------------------------------------------- files
def _first_line(exc):
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _display(path):
    shown = os.path.relpath(path)
    return path if shown.startswith("..") else shown


def read_notebook(path, shown=None):
    """The notebook at path as an nbformat v4 node; EditionError if it is missing or not one."""
    shown = shown or path
    if not os.path.exists(path):
        raise EditionError(f"{shown}: no such notebook")
    if os.path.isdir(path):
        raise EditionError(f"{shown}: is a folder, not a notebook")
    if not path.endswith(".ipynb"):
        raise EditionError(f"{shown}: not a Jupyter notebook (the name must end in .ipynb)")
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise EditionError(f"{shown}: cannot read it ({exc.strerror or exc})") from None
    try:
        raw = json.loads(data.decode("utf-8"))
    except ValueError:                                   # UnicodeDecodeError, JSONDecodeError
        raise EditionError(f"{shown}: not a Jupyter notebook (not JSON text)") from None
    if not (isinstance(raw, dict) and isinstance(raw.get("nbformat"), int)):
        raise EditionError(f"{shown}: not a Jupyter notebook (no nbformat version in it)")
    try:
        # nbformat raises ValueError, TypeError, AttributeError or jsonschema errors on
        # malformed JSON notebooks; all of them mean "not a readable notebook" here.
        nb = nbformat.reads(data.decode("utf-8"), as_version=4, capture_validation_error={})
        nbformat.validate(nb)
    except Exception as exc:                             # noqa: BLE001 - see the comment above
        raise EditionError(f"{shown}: not a valid Jupyter notebook ({_first_line(exc)})") from None
    return nb


def render(nb):
    """The exact text nbformat.write would store for nb."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:                                      # one of them does not exist
        return False


def plan(paths, out, force=False, keep=False):
    """Convert every notebook and check every target; [(target, text, exercises, status)].

    status is "write", "unchanged" (the file already holds this edition) or "kept" (with
    keep: the file exists and is left as it is). Raises EditionError before anything is
    written.
    """
    inputs, seen = [], set()
    for path in paths:
        real = os.path.realpath(path)
        if real not in seen:                             # the same lesson named twice
            seen.add(real)
            inputs.append(path)
    editions = []
    for path in inputs:
        shown = _display(path)
        nb, exercises = student_notebook(read_notebook(path, shown), shown)
        editions.append((path, render(nb), exercises))

    if os.path.exists(out) and not os.path.isdir(out):
        raise EditionError(f"--out {_display(out)} exists and is not a folder")
    for folder in [LESSONS_DIR] + [os.path.dirname(os.path.abspath(p)) for p in inputs]:
        if _same_file(out, folder):
            what = "the lessons' folder" if folder == LESSONS_DIR else "the folder of an input notebook"
            raise EditionError(f"--out {_display(out)} is {what}; the student edition would "
                               f"overwrite the solutions: choose another folder")
    targets, plans, conflicts = {}, [], []
    for path, text, exercises in editions:
        target = os.path.join(out, os.path.basename(path))
        if target in targets:
            raise EditionError(f"{_display(path)} and {_display(targets[target])} have the same "
                               f"name; their student editions would both be {_display(target)}")
        targets[target] = path
        if any(_same_file(target, p) for p in inputs):
            raise EditionError(f"{_display(target)} is an input notebook; the student edition "
                               f"would overwrite it: choose another --out folder")
        status = "write"
        if os.path.isdir(target):
            raise EditionError(f"{_display(target)} is a folder; cannot write the student "
                               f"edition of {_display(path)} there")
        if os.path.exists(target):
            with open(target, "rb") as file:
                status = "unchanged" if file.read() == text.encode("utf-8") else "write"
            if keep:
                status = "kept" if status == "write" else status
            elif status == "write" and not force:
                conflicts.append(target)
        plans.append((target, text, exercises, status))
    if conflicts:
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise EditionError(f"{_display(conflicts[0])}{more} already exists and differs from the "
                           f"new student edition (a student's work?); pass --force to overwrite")
    return plans


def write_atomic(path, text):
    """Write text to path through a temporary file beside it, so no half-written notebook remains."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "xb") as file:
            file.write(text.encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


class _Parser(argparse.ArgumentParser):
    def error(self, message):                            # one line, not usage + error
        raise EditionError(f"{message} (see --help)")


def main(argv=None):
    try:
        return _main(argv)
    except (EditionError, OSError, nbformat.ValidationError) as exc:
        message = _first_line(exc)
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        print(f"student_edition: {message}", file=sys.stderr)
        return 2


def _main(argv):
    parser = _Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "student"),
                        help="directory for the student notebooks (default: student/ in the repository)")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--force", action="store_true",
                          help="overwrite student notebooks that exist and differ from the new edition")
    existing.add_argument("--keep", action="store_true",
                          help="leave every student notebook that exists as it is; write only "
                               "the missing ones")
    parser.add_argument("notebooks", nargs="*",
                        help="lessons to convert (default: notebooks/[0-9][0-9]_*.ipynb)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(glob.glob(os.path.join(LESSONS_DIR, "[0-9][0-9]_*.ipynb")))
    if not paths:
        raise EditionError("no notebooks found")
    try:
        plans = plan(paths, args.out, args.force, args.keep)
    except EditionError as exc:
        raise EditionError(f"{exc}; nothing written") from None
    os.makedirs(args.out, exist_ok=True)
    for done, (target, text, exercises, status) in enumerate(plans):
        if status == "kept":
            print(f"{_display(target)}: exists, kept as it is (--keep)")
            continue
        if status == "write":
            try:
                write_atomic(target, text)
            except OSError as exc:
                raise EditionError(f"cannot write {_display(target)} ({exc.strerror or exc}); "
                                   f"{done} of {len(plans)} notebook(s) written before it") from None
        print(f"{_display(target)}: {exercises} solution block(s) replaced by stubs"
              + (" (file unchanged)" if status == "unchanged" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
