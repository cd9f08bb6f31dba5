"""What the real-browser tests share: a JupyterLab (or any Jupyter) server, headless Chromium.

Used by tests/test_browser_jupyterlab.py and tests/test_learner_copy.py; meant for any test
that drives a page in Chromium through Playwright. A typical test::

    from browser_util import (chromium_page, jupyterlab_server, open_notebook,
                              require_browser_tools, run_all_cells)

    def test_something(tmp_path):
        require_browser_tools()                       # skip (fail with CI=true) without Chromium
        root = tmp_path / "root"; root.mkdir()
        (root / "a.ipynb").write_text(...)            # what the server may open: only this
        with jupyterlab_server(root, tmp_path) as lab, chromium_page() as page:
            open_notebook(page, lab, "a.ipynb")       # loaded, kernel connected and idle
            run_all_cells(page)                       # Run > Run All Cells
            wait_for_cells_done(page)                 # no "[*]" prompt left

Everything here is bounded in time (each wait has a limit in seconds, raised as a
Playwright TimeoutError or RuntimeError), and every server is stopped on leaving its
``with`` block, whatever happens: politely through the API, then by signal to the
server's own process group (never by name). Server logs go to test-artifacts/.

Nothing here prints. The JupyterLab it starts is isolated from the user's: its own
settings, config, data, runtime and IPython folders under the ``workdir`` given, no news
or update checks, no autosave, and ``--allow-root`` (containers and CI run as root).
"""
import contextlib
import importlib.util
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]          # the course's folder
ARTIFACTS = ROOT / "test-artifacts"                  # logs and screenshots (git-ignored)
sys.path.insert(0, str(ROOT / "tools"))
from screenshots import CHROMIUM, free_port  # noqa: E402  (the screenshot tool drives Chromium too)

CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic"]

SERVER_START_S = 90          # a server answering its status URL
KERNEL_READY_S = 120         # a notebook open, its kernel connected and idle
VIEWPORT = {"width": 1280, "height": 860}


# --------------------------------------------------------------------------- prerequisites
def require_browser_tools(needs_mnist=True, what="JupyterLab browser test"):
    """Skip the calling test when Chromium, playwright or (if ``needs_mnist``) MNIST_NPZ is
    missing; with CI=true fail instead, so CI cannot skip a browser test silently.

    ``what`` names the test in the message ("JupyterLab browser test cannot run: ...").
    """
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} not found (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package is not installed")
    if needs_mnist and not os.environ.get("MNIST_NPZ"):
        missing.append("MNIST_NPZ is not set (the notebook loads MNIST)")
    if missing:
        message = f"{what} cannot run: " + "; ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message + " -- CI=true, so this is a failure, not a skip", pytrace=False)
        pytest.skip(message)


# --------------------------------------------------------------------------- servers
def write_settings(settings):
    """Write JupyterLab user settings into the folder ``settings``: no news or update
    toasts (they cover the page), no autosave (a test saves when it means to)."""
    for plugin, values in [("apputils-extension/notification",
                            {"fetchNews": "false", "checkForUpdates": False}),
                           ("docmanager-extension/plugin", {"autosave": False})]:
        folder, name = plugin.split("/")
        path = Path(settings) / "@jupyterlab" / folder / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def jupyter_env(workdir, python_path=(ROOT,)):
    """The environment for a Jupyter server isolated in ``workdir`` (a folder; made if missing).

    Settings go to workdir/settings (written by ``write_settings``), config, data, runtime,
    workspaces and IPython to workdir/home/...; the caller's JUPYTER* and MPLBACKEND
    variables are dropped, everything else (MNIST_NPZ, KERAS_BACKEND) passes through.
    ``python_path`` folders come first on PYTHONPATH, so kernels import the course's modules.
    """
    workdir = Path(workdir)
    settings, home = workdir / "settings", workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    write_settings(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "MPLBACKEND"))}
    path = os.pathsep.join([*map(str, python_path), *filter(None, [env.get("PYTHONPATH")])])
    if path:
        env["PYTHONPATH"] = path
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
    )
    return env


def lab_arguments(port, token):
    """JupyterLab's command-line options for a test: 127.0.0.1:``port`` only (no retry on
    another port), ``token``, no browser, no news or update checks, root allowed."""
    return ["--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--ServerApp.allow_root=True"]


def api(base, token, path, method="GET", timeout=10):
    """The body (bytes) of ``method`` ``base + path`` with the token in the header."""
    request = urllib.request.Request(base + path, method=method,
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def wait_for_server(server, url, seconds=SERVER_START_S, log_name="server.log"):
    """Return once ``url`` answers 200; RuntimeError naming the log in test-artifacts/ if
    the process ``server`` (a Popen) ends first or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer {url.split('?')[0]} within {seconds} s;"
                               f" see {ARTIFACTS / log_name}")
        time.sleep(0.5)


def stop_server(server, base=None, token=None):
    """Stop ``server`` (a Popen started with start_new_session=True): POST /api/shutdown
    when ``base`` and ``token`` are given, then SIGTERM and SIGKILL to its own process group
    (the server, its kernels, and e.g. the `make` that started it). Returns once it ended;
    RuntimeError if it is somehow still running."""
    if base and token:
        with contextlib.suppress(OSError):
            api(base, token, "/api/shutdown", method="POST", timeout=5)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(server.pid, sig)          # our group only, never by name
            except ProcessLookupError:
                break
            try:
                server.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
    if server.poll() is None:
        raise RuntimeError(f"the server (pid {server.pid}) is still running")


@dataclass(frozen=True)
class Server:
    """A running server: ``base`` URL (http://127.0.0.1:PORT), ``token``, ``root`` folder."""
    base: str
    token: str
    root: Path

    def url(self, path):
        """``base + path`` with ``?token=`` (or ``&token=``) appended: for page.goto."""
        return f"{self.base}{path}{'&' if '?' in path else '?'}token={self.token}"


@contextlib.contextmanager
def jupyterlab_server(root, workdir, log_name="jupyterlab-server.log"):
    """Run JupyterLab on a free port with a random token, serving the folder ``root`` (only
    what is in it can be opened), isolated in ``workdir`` (see ``jupyter_env``); yield a
    ``Server``. Shut down through the API, then by signal, on leaving."""
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "jupyterlab", *lab_arguments(port, token),
               f"--ServerApp.root_dir={root}"]
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / log_name, "w") as log:
        server = subprocess.Popen(command, env=jupyter_env(workdir), cwd=root, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_server(server, f"{base}/api/status?token={token}", SERVER_START_S, log_name)
            yield Server(base, token, Path(root))
        finally:
            stop_server(server, base, token)


# --------------------------------------------------------------------------- Chromium
@contextlib.contextmanager
def chromium_page(viewport=None):
    """Yield a Playwright ``Page`` in headless Chromium (/usr/bin/chromium), ``viewport`` a
    dict {"width", "height"} (default 1280 x 860). Dialogs are dismissed; the browser is
    closed on leaving."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport or VIEWPORT)
            page.on("dialog", lambda dialog: dialog.dismiss())
            yield page
        finally:
            browser.close()


def wait_for_kernel_idle(page, seconds=KERNEL_READY_S):
    """Wait until the open notebook's kernel is connected and idle: the status bar says
    "| Idle" (the toolbar's indicator alone can read idle while the kernel is still
    connecting, and cells sent then are lost) and the execution indicator agrees."""
    from playwright.sync_api import expect

    expect(page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle"))
           ).to_have_count(1, timeout=seconds * 1000)
    # attached, not visible: in a narrow window (1024 px) the toolbar hides the indicator
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
        state="attached", timeout=seconds * 1000)


def open_notebook(page, server, name, seconds=KERNEL_READY_S):
    """Open notebook ``name`` (a path inside the server's root) in JupyterLab and wait until
    its panel is shown and its kernel is idle (``wait_for_kernel_idle``). AssertionError
    if a dialog (e.g. "kernel not found") is open then. ``server`` is a ``Server``."""
    page.goto(server.url(f"/lab/tree/{name}"), wait_until="domcontentloaded")
    page.locator(".jp-NotebookPanel").first.wait_for(state="visible", timeout=seconds * 1000)
    wait_for_kernel_idle(page, seconds)
    assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").inner_text()


def run_all_cells(page):
    """Run > Run All Cells from the menu (JupyterLab 4 has no default shortcut for it).
    Returns at once; wait with ``wait_for_cells_done`` or for what the cells show."""
    page.locator(".jp-NotebookPanel .jp-Cell").first.click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def error_outputs(page):
    """Locator of the cells' stderr and error outputs (tracebacks, warnings)."""
    return page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")


def wait_for_cells_done(page, seconds):
    """Wait until no cell's prompt reads "[*]" (running or queued), at most ``seconds``."""
    from playwright.sync_api import expect

    expect(page.locator(".jp-InputArea-prompt", has_text="[*]")).to_have_count(
        0, timeout=seconds * 1000)
