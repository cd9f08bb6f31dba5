"""Shared pytest setup: Keras on JAX, and a guard that every lesson runs under nbval."""
import glob
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LESSONS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "[0-9][0-9]_*.ipynb")))


def pytest_collection_finish(session):
    """Fail the run if a lesson was meant to run but nbval collected no cell of it.

    Applies when the notebooks folder itself is among the paths pytest was given
    (as in `make test`), so no lesson can be skipped silently by a typo, a bad
    file name or a notebook nbval cannot parse.
    """
    if not session.config.getoption("nbval", default=False):
        return
    notebooks_dir = os.path.join(ROOT, "notebooks")
    asked = [os.path.abspath(str(a)).split("::")[0] for a in session.config.args]
    if notebooks_dir not in asked:
        return
    collected = {os.path.abspath(str(item.path)) for item in session.items}
    missing = [os.path.relpath(p, ROOT) for p in LESSONS if p not in collected]
    if missing or not LESSONS:
        raise pytest.UsageError(f"nbval collected no cells from: {missing or 'notebooks/ (empty)'}")
