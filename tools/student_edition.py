"""Write the student edition of the lessons: solutions replaced by stubs, outputs cleared.

    python tools/student_edition.py                       # all lessons -> student/
    python tools/student_edition.py --out handout notebooks/03_*.ipynb

In every code cell, each block from a `### BEGIN SOLUTION` line to the next
`### END SOLUTION` line (markers included) becomes, at the indentation of the
BEGIN line, nbgrader's stub:

    # YOUR CODE HERE
    raise NotImplementedError()

Everything else stays: the text, the self-check cells, the cell ids and tags.
All outputs and execution counts are cleared. A BEGIN without its END (or an END
without a BEGIN) is an error, and then nothing is written. The student edition
is meant to be opened inside this repository (student/ is gitignored): the lessons
`import npcore` and `import selfcheck`, which the editable install provides.
"""
import argparse
import glob
import os
import re
import sys

import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN = re.compile(r"^(\s*)###\s*BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*###\s*END SOLUTION\s*$")
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")


class MarkerError(ValueError):
    """The solution markers of a cell do not pair up."""


def strip_solutions(source, where="cell"):
    """Return (source with every solution block replaced by the stub, number of blocks)."""
    lines, out, indent, blocks = source.split("\n"), [], None, 0
    for number, line in enumerate(lines, start=1):
        begin = BEGIN.match(line)
        if begin:
            if indent is not None:
                raise MarkerError(f"{where}, line {number}: `### BEGIN SOLUTION` inside another "
                                  f"solution block (the previous one has no `### END SOLUTION`)")
            indent, blocks = begin.group(1), blocks + 1
            out.extend(indent + stub for stub in STUB)
        elif END.match(line):
            if indent is None:
                raise MarkerError(f"{where}, line {number}: `### END SOLUTION` without a "
                                  f"`### BEGIN SOLUTION` before it")
            indent = None
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise MarkerError(f"{where}: `### BEGIN SOLUTION` without a matching `### END SOLUTION`")
    return "\n".join(out), blocks


def student_notebook(nb, name="notebook"):
    """The student edition of a notebook node (a new node; the input is not changed)."""
    nb = nbformat.from_dict(nb)                          # a deep copy
    exercises = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.source, blocks = strip_solutions(cell.source, f"{name}, cell {index} "
                                                           f"(id {cell.get('id', '?')})")
        exercises += blocks
        cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    return nb, exercises


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "student"),
                        help="directory for the student notebooks (default: student/ in the repository)")
    parser.add_argument("notebooks", nargs="*",
                        help="lessons to convert (default: notebooks/[0-9][0-9]_*.ipynb)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(glob.glob(os.path.join(ROOT, "notebooks", "[0-9][0-9]_*.ipynb")))
    if not paths:
        parser.error("no notebooks found")
    editions = []
    for path in paths:                                   # convert everything before writing anything
        name = os.path.basename(path)
        try:
            editions.append((name, *student_notebook(nbformat.read(path, as_version=4), name)))
        except MarkerError as exc:
            sys.exit(f"student_edition: {exc}; nothing written")
    os.makedirs(args.out, exist_ok=True)
    for name, nb, exercises in editions:
        target = os.path.join(args.out, name)
        nbformat.write(nb, target)
        shown = os.path.relpath(target)
        print(f"{target if shown.startswith('..') else shown}: {exercises} solution block(s) "
              f"replaced by stubs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
