"""Keep committed notebooks clean: outputs and execution counts stay, volatile metadata goes.

    python tools/nbclean.py notebooks/*.ipynb          # rewrite in place
    python tools/nbclean.py --check notebooks/*.ipynb  # exit 1 and name the unclean ones

Clean means: notebook metadata is only the kernelspec and the language name (no
Python version, no saved widget state); cell metadata keeps only nbval/nbgrader
tags; no execution timestamps; a displayed widget keeps its text (text/plain) and loses
its view (the widget-view mime type names a random model id, and without the widget
state, which is not saved, JupyterLab would show "model not found" instead of the text;
nbval ignores it anyway); consecutive prints of one cell to the same stream are
one output (how the kernel happened to flush them does not show in a diff). Diffs then
show what a lesson says and prints.
"""
import argparse
import os
import sys

import nbformat

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
KEPT_CELL_METADATA = ("tags", "nbgrader")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def clean(nb):
    """Return the notebook node with volatile metadata removed (changes it in place)."""
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict(
            {k: v for k, v in cell.metadata.items() if k in KEPT_CELL_METADATA and v})
        if cell.cell_type == "code":
            for out in cell.outputs:
                out.get("metadata", {}).pop("execution", None)
                if "text/plain" in out.get("data", {}):
                    out["data"].pop(WIDGET_VIEW, None)
            cell.outputs = _merge_streams(cell.outputs)
    return nb


def _merge_streams(outputs):
    """Join consecutive stream outputs of one name (stdout, stderr) into one."""
    merged = []
    for out in outputs:
        if (out.get("output_type") == "stream" and merged
                and merged[-1].get("output_type") == "stream" and merged[-1]["name"] == out["name"]):
            merged[-1]["text"] = _text(merged[-1]["text"]) + _text(out["text"])
        else:
            merged.append(out)
    return merged


def _text(text):
    return "".join(text) if isinstance(text, list) else text


def cleaned_text(path):
    nb = nbformat.read(path, as_version=4)
    return nbformat.writes(clean(nb)) + "\n"


def main(argv=None):
    """Exit status: 0 clean (or cleaned), 1 with --check when a notebook is not clean,
    2 for a path that is not a file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only report notebooks that are not clean (exit 1), change nothing")
    parser.add_argument("paths", nargs="*", metavar="NOTEBOOK")
    args = parser.parse_args(argv)
    missing = [p for p in args.paths if not os.path.isfile(p)]
    if missing:
        print(f"nbclean.py: error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    unclean = []
    for path in args.paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        new = cleaned_text(path)
        if new != text:
            unclean.append(path)
            if not args.check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
    if args.check and unclean:
        print("not clean (run `python tools/nbclean.py FILE`, or `make notebooks`):", *unclean, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
