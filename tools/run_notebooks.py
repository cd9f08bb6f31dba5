"""Execute lessons top to bottom in a fresh kernel each, store outputs, clean metadata.

    MNIST_NPZ=../shared/data/mnist.npz python tools/run_notebooks.py             # all lessons
    MNIST_NPZ=../shared/data/mnist.npz python tools/run_notebooks.py notebooks/03_*.ipynb

This is how the committed outputs are made; strict nbval then compares a new run
with them. The kernel starts in notebooks/, like JupyterLab opening the file.
Exit status: 0 when every lesson ran, 1 when MNIST_NPZ is not a file or a lesson
failed (its traceback is printed), 2 for a notebook path that does not exist.
"""
import argparse
import glob
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if HERE not in sys.path:                        # nbclean sits beside this file
    sys.path.insert(0, HERE)


def run(path):
    """Execute the notebook at `path` in a fresh kernel and write it back, cleaned."""
    import nbformat                             # imported here: seconds that --help
    from nbclient import NotebookClient         # and a mistyped path need not wait for
    from nbclean import clean

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:                      # a fresh start: no stale outputs survive an error
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", record_timing=False,
                   skip_cells_with_tag="nbval-skip",   # what nbval skips is not run here either
                   resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}}).execute()
    nbformat.write(clean(nb), path)
    print(f"{os.path.relpath(path)}: executed in {time.perf_counter() - start:.0f} s", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*",
                        help="notebooks to execute (default: every lesson, notebooks/[0-9]*.ipynb)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(glob.glob(os.path.join(ROOT, "notebooks", "[0-9]*.ipynb")))
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        print(f"run_notebooks.py: error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    mnist = os.environ.get("MNIST_NPZ")
    if not mnist or not os.path.isfile(mnist):
        print("run_notebooks.py: error: set MNIST_NPZ to a local mnist.npz first "
              f"(e.g. ../shared/data/mnist.npz){'; not a file: ' + mnist if mnist else ''}",
              file=sys.stderr)
        return 1
    from nbclient.exceptions import CellExecutionError
    for path in paths:
        try:
            run(path)
        except CellExecutionError as error:     # the cell, its traceback; the file is left as it was
            print(f"{path}: a cell failed, outputs not stored:\n{error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
