"""Keep committed notebooks clean: outputs and execution counts stay, volatile metadata goes.

    python tools/nbclean.py notebooks/*.ipynb          # rewrite in place
    python tools/nbclean.py --check notebooks/*.ipynb  # exit 1 and name the unclean ones

Clean means: notebook metadata is only the kernelspec and the language name (no
Python version, no saved widget state); cell metadata keeps only nbval/nbgrader
tags; no execution timestamps. Diffs then show what a lesson says and prints.
"""
import sys

import nbformat

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
KEPT_CELL_METADATA = ("tags", "nbgrader")


def clean(nb):
    """Return the notebook node with volatile metadata removed (changes it in place)."""
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict(
            {k: v for k, v in cell.metadata.items() if k in KEPT_CELL_METADATA and v})
        if cell.cell_type == "code":
            for out in cell.outputs:
                out.get("metadata", {}).pop("execution", None)
    return nb


def cleaned_text(path):
    nb = nbformat.read(path, as_version=4)
    return nbformat.writes(clean(nb)) + "\n"


def main(argv):
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    unclean = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        new = cleaned_text(path)
        if new != text:
            unclean.append(path)
            if not check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
    if check and unclean:
        print("not clean (run `python tools/nbclean.py FILE`, or `make notebooks`):", *unclean, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
