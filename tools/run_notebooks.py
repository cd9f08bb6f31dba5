"""Execute lessons top to bottom in a fresh kernel each, store outputs, clean metadata.

    MNIST_NPZ=../shared/data/mnist.npz python tools/run_notebooks.py             # all lessons
    MNIST_NPZ=../shared/data/mnist.npz python tools/run_notebooks.py notebooks/03_*.ipynb

This is how the committed outputs are made; strict nbval then compares a new run
with them. The kernel starts in notebooks/, like JupyterLab opening the file.
"""
import glob
import os
import sys
import time

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, os.path.dirname(__file__))
from nbclean import clean  # noqa: E402


def run(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:                      # a fresh start: no stale outputs survive an error
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", record_timing=False,
                   skip_cells_with_tag="nbval-skip",   # what nbval skips is not run here either
                   resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}}).execute()
    nbformat.write(clean(nb), path)
    print(f"{path}: executed in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    if not os.environ.get("MNIST_NPZ"):
        sys.exit("set MNIST_NPZ to a local mnist.npz first (e.g. ../shared/data/mnist.npz)")
    for path in sys.argv[1:] or sorted(glob.glob("notebooks/[0-9]*.ipynb")):
        run(path)
