"""The learner's own copy: `make lab` never changes a tracked file.

`make lab` writes the student edition of every lesson into my-notebooks/ (git-ignored),
keeping lessons already there, and opens JupyterLab with that folder as its root, so
notebooks/ cannot even be opened from it. The browser test starts JupyterLab through
`make lab` itself, edits and saves a lesson from the page (a real JupyterLab save), and
checks that `git status` is what it was, that the save reached the learner's copy, and
that making the copy again keeps the learner's work.

Also here: a relative MNIST_NPZ works from any folder, and the Makefile refuses a Python
older than 3.11 with a message that says what to do.
"""
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import nbformat
import pytest

import npcore

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LESSON = next(p for p in LESSONS if p.name.startswith("01_"))   # runs in seconds
STUDENT_EDITION = [sys.executable, str(ROOT / "tools" / "student_edition.py")]


def git_status():
    result = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip("not a git checkout")
    return result.stdout


# --------------------------------------------------------------------------- MNIST_NPZ
def test_relative_mnist_npz_is_found_from_another_folder(tmp_path, monkeypatch):
    """make exports MNIST_NPZ from the course's folder; a kernel runs in notebooks/ or
    my-notebooks/: the same relative name must still find the file."""
    monkeypatch.chdir(tmp_path)
    assert npcore._mnist_npz_path("pyproject.toml") == str(ROOT / "pyproject.toml")
    (tmp_path / "pyproject.toml").write_text("here")      # a file where we are comes first
    assert npcore._mnist_npz_path("pyproject.toml") == str(tmp_path / "pyproject.toml")
    missing = npcore._mnist_npz_path("no/such/mnist.npz")   # the error names the first place
    assert missing == str(tmp_path / "no" / "such" / "mnist.npz")


@pytest.mark.skipif(not os.environ.get("MNIST_NPZ"), reason="needs MNIST_NPZ")
def test_load_mnist_with_a_relative_mnist_npz_from_a_lesson_folder(tmp_path, monkeypatch):
    relative = os.path.relpath(os.path.abspath(os.environ["MNIST_NPZ"]), ROOT)
    monkeypatch.setenv("MNIST_NPZ", relative)
    monkeypatch.chdir(tmp_path)                           # not the course's folder
    (x_train, _), (x_test, _) = npcore.load_mnist()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)


# --------------------------------------------------------------------------- Python version
def test_make_refuses_a_python_older_than_3_11(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "requirements.txt", "constraints.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    old = tmp_path / "python3.10"                         # answers like a Python 3.10 would
    old.write_text("#!/bin/sh\n"
                   'case "$1" in --version) echo "Python 3.10.13";; '
                   "-c) echo 0;; *) echo 'must not be used' >&2; exit 3;; esac\n")
    old.chmod(0o755)
    result = subprocess.run(["make", "-C", str(tmp_path), ".venv/installed", f"PYTHON={old}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "needs Python 3.11 or newer" in result.stdout, result.stdout + result.stderr
    assert "Python 3.10.13" in result.stdout and "make PYTHON=" in result.stdout
    assert not (tmp_path / ".venv").exists()


def test_make_takes_this_python(tmp_path):
    """The Python running the tests (3.11 or newer) is one make accepts: a dry run of the
    venv rule names it and no refusal."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(["make", "-C", str(ROOT), "-n", "-B", ".venv/installed",
                             f"PYTHON={sys.executable}"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'test "1" = 1' in result.stdout, result.stdout      # make found it to be >= 3.11
    assert f"{sys.executable} -m venv .venv" in result.stdout


# --------------------------------------------------------------------------- the learner's copy
def test_learner_copy_is_made_once_and_never_overwritten(tmp_path):
    mine = tmp_path / "my-notebooks"
    make = [*STUDENT_EDITION, "--keep", "--out", str(mine), *map(str, LESSONS)]
    subprocess.run(make, check=True, capture_output=True, text=True, timeout=120)
    assert sorted(p.name for p in mine.glob("*.ipynb")) == [p.name for p in LESSONS]
    copy = mine / LESSON.name
    nb = nbformat.read(copy, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert any("raise NotImplementedError()" in c.source for c in nb.cells), "blank exercises"
    nb.cells[0].source += "\n\nMy own note."
    nbformat.write(nb, copy)
    mine.joinpath(LESSONS[0].name).unlink()                # one lesson deleted: made again
    result = subprocess.run(make, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "My own note." in copy.read_text(), "the learner's work was overwritten"
    assert (mine / LESSONS[0].name).exists()


def test_learner_copy_is_git_ignored():
    result = subprocess.run(["git", "check-ignore", "-q", "my-notebooks/00_x.ipynb"], cwd=ROOT)
    if result.returncode == 128:
        pytest.skip("not a git checkout")
    assert result.returncode == 0, "my-notebooks/ must be in .gitignore"


@pytest.mark.browser
def test_make_lab_then_a_real_jupyterlab_save_leaves_git_status_clean(tmp_path):
    from browser_util import ARTIFACTS, api, free_port, jupyter_env, lab_arguments, \
        require_browser_tools

    require_browser_tools()
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    before = git_status()
    mine = ROOT / "my-notebooks" / f".test-{secrets.token_hex(4)}"   # inside the ignored folder
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    env = jupyter_env(tmp_path, python_path=())      # make lab sets its own paths
    # make lab adds --allow-root itself where needed; the rest as every browser test has it.
    lab_args = " ".join(a for a in lab_arguments(port, token) if "allow_root" not in a)
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "make-lab.log", "w")
    server = subprocess.Popen(["make", "-C", str(ROOT), "lab", f"MY={mine.relative_to(ROOT)}",
                               f"LAB_ARGS={lab_args}"], env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_server(server, base, token)
        copy = mine / LESSON.name
        assert copy.exists(), "make lab did not make the learner's copy"
        assert json.loads(api(base, token, "/api/contents")).get("type") == "directory"
        with pytest.raises(urllib.error.HTTPError) as missing:   # the tracked lessons are out of reach
            api(base, token, f"/api/contents/notebooks/{LESSON.name}")
        assert missing.value.code == 404
        saved_before = copy.stat().st_mtime_ns
        edit_run_and_save(base, token, LESSON.name)
        deadline = time.monotonic() + 30
        while copy.stat().st_mtime_ns == saved_before and time.monotonic() < deadline:
            time.sleep(0.2)
        text = copy.read_text()
        assert "print('my own work')" in text, "the save did not reach the learner's copy"
        assert git_status() == before, "make lab or the save changed what git sees"
        # `make lab` again: the lesson with the learner's work is kept as it is.
        subprocess.run([*STUDENT_EDITION, "--keep", "--out", str(mine), *map(str, LESSONS)],
                       check=True, capture_output=True, timeout=120)
        assert copy.read_text() == text
        assert git_status() == before
    finally:
        stop_make_lab(server, base, token)
        log.close()
        shutil.rmtree(mine, ignore_errors=True)


def wait_for_server(server, base, token, seconds=240):
    """Until JupyterLab answers (make may first install; in CI .venv is already there)."""
    from browser_util import wait_for_server as wait

    wait(server, f"{base}/api/status?token={token}", seconds, "make-lab.log")


def edit_run_and_save(base, token, name):
    """Open the lesson, run its first code cell, add a cell of our own, save with Ctrl+S."""
    import re

    from playwright.sync_api import expect

    from browser_util import Server, chromium_page, open_notebook

    with chromium_page() as page:
        open_notebook(page, Server(base, token, ROOT), name)
        code = page.locator(".jp-NotebookPanel .jp-CodeCell")
        code.first.click()
        page.keyboard.press("Shift+Enter")                   # run the imports cell
        expect(code.first.locator(".jp-InputArea-prompt")).to_have_text(
            re.compile(r"\[1\]"), timeout=120_000)
        page.keyboard.press("Escape")
        page.keyboard.press("b")                              # a new cell below
        page.keyboard.press("Enter")
        page.keyboard.type("print('my own work')")
        page.keyboard.press("Shift+Enter")
        expect(page.get_by_text("my own work", exact=True)).to_have_count(1, timeout=60_000)
        page.keyboard.press("Control+s")
        expect(page.locator(".jp-mod-dirty")).to_have_count(0, timeout=30_000)


def stop_make_lab(server, base, token):
    """Shut JupyterLab down through its API, then make's whole process group by signal."""
    from browser_util import stop_server

    stop_server(server, base, token)
