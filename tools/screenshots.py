"""The README's pictures of the demo page, made in headless Chromium: run it again after
changing draw_digit.py, prediction_browser.py or demo/demo.ipynb.

    MNIST_NPZ=/path/to/mnist.npz .venv/bin/python tools/screenshots.py

starts ``make demo`` on a free port (Voila serving demo/demo.ipynb; models from models/),
opens the page in headless Chromium (/usr/bin/chromium, through Playwright), draws a 7
with the mouse on the canvas, waits until both networks have read it (it stops with an
error if either reads anything but 7), and writes

* docs/screenshot_draw.png -- the draw-a-digit widget with the drawn 7;
* docs/screenshot_demo.png -- the whole page: the widget, then the prediction browser.

The Playwright helpers here (``demo_server``, ``draw_strokes``, ``wait_for_reading``,
``expect_predictions``, ``read_predictions``, ``wait_until_quiet``, the strokes ``ONE``,
``ZERO``, ``SEVEN``) are also what the browser tests tests/test_demo.py and
tests/test_draw_jupyterlab.py draw with. Nothing prints but the two paths written.
"""
import argparse
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"

# Drawings as strokes of points (x, y) in fractions of the canvas's side (x right, y down).
ONE = [[(0.50, 0.14 + 0.72 * t / 11) for t in range(12)]]                 # a vertical bar
ZERO = [[(0.5 + 0.22 * math.sin(2 * math.pi * t / 40),                   # a closed ellipse
          0.5 - 0.33 * math.cos(2 * math.pi * t / 40)) for t in range(41)]]
SEVEN = [[(0.26, 0.20), (0.42, 0.20), (0.58, 0.20), (0.74, 0.20),          # the top bar,
          (0.66, 0.36), (0.58, 0.52), (0.51, 0.68), (0.45, 0.84)]]         # then down-left

PAGE_READY_S = 180       # Voila runs the whole notebook (MNIST, 10,000 CNN predictions) first
SERVER_START_S = 120     # make demo listening (make may first install the venv)
READ_S = 30              # one reading of a drawing, kernel round trip included
QUIET_MS = 1000          # no change in the page for this long: its layout has settled


def free_port():
    """A TCP port on 127.0.0.1 that is free now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def demo_server(log_path, port=None, env=None):
    """Run ``make demo`` (no browser opened) on ``port`` (default a free one), its output in
    ``log_path``; yield the page's URL once the port accepts connections. On leaving, stop
    make and Voila by signal to their own process group (``_stop_group``).

    make runs the demo target's own recipe with the Voila of the Python running this
    (``BIN=``), and does not remake .venv/installed (``-o``): no install in the middle of
    a test, and it works in a conda environment too. Voila runs the notebook for each
    request of the page, so readiness is asked of the port, not of the page (a GET would
    start a kernel).
    """
    port = port or free_port()
    command = ["make", "--no-print-directory", "-C", str(ROOT), "-o", ".venv/installed", "demo",
               f"BIN={Path(sys.executable).parent}", f"DEMO_PORT={port}",
               "DEMO_ARGS=--no-browser"]
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            deadline = time.monotonic() + SERVER_START_S
            while not _listening(port):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"make demo did not listen on port {port} within "
                                       f"{SERVER_START_S} s; see {log_path}")
                time.sleep(0.3)
            yield f"http://localhost:{port}/"
        finally:
            _stop_group(server)


def _group_alive(pgid):
    """Whether a process of group ``pgid`` is still running (not a zombie), from /proc; on a
    system without /proc, whether the group's leader is."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _, pgrp = text[text.rindex(")") + 2:].split()[:3]
        if state != "Z" and int(pgrp) == pgid:
            return True
    return False


def _stop_group(server):
    """SIGTERM to the process group of ``server`` (make, and Voila under it, which shuts its
    kernels down on SIGTERM), SIGKILL if any of it still runs 20 s later; RuntimeError if
    something still runs 10 s after that. Our group only, never processes by name."""
    for sig, seconds in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if server.poll() is not None and not _group_alive(server.pid):
                return
            time.sleep(0.2)
    raise RuntimeError(f"make demo's process group {server.pid} is still running")


def draw_strokes(page, canvas, strokes, steps=2):
    """Draw ``strokes`` (lists of points (x, y), fractions of the canvas's side) with the
    mouse on ``canvas`` (a Playwright Locator): for each stroke, button down at its first
    point, moves through the others (``steps`` mouse events per segment), button up."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()

    def at(point):
        return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]

    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*at(point), steps=steps)
        page.mouse.up()


def wait_until_quiet(locator, quiet_ms=QUIET_MS, seconds=READ_S):
    """Wait until nothing inside ``locator``'s element has changed for ``quiet_ms`` (for the
    page's layout to settle; no proof that a reading has arrived: ``wait_for_reading`` is);
    AssertionError if it keeps changing for ``seconds``."""
    quiet = locator.evaluate(
        """(element, [quietMs, limitMs]) => new Promise((resolve) => {
            let timer = null;
            const done = (value) => { observer.disconnect(); clearTimeout(limit); resolve(value); };
            const observer = new MutationObserver(() => {
                clearTimeout(timer);
                timer = setTimeout(() => done(true), quietMs);
            });
            const limit = setTimeout(() => done(false), limitMs);
            observer.observe(element, {subtree: true, childList: true, characterData: true,
                                       attributes: true});
            timer = setTimeout(() => done(true), quietMs);
        })""", [quiet_ms, seconds * 1000])
    assert quiet, f"the widget kept changing for {seconds} s"


def read_predictions(widget):
    """{model name: the text of its prediction element} inside ``widget`` (a Locator of the
    DrawDigit layout): "7", or "" when nothing is drawn."""
    spans = widget.locator(".draw-digit-prediction")
    return {spans.nth(i).get_attribute("data-model"): spans.nth(i).inner_text().strip()
            for i in range(spans.count())}


def points_sent(widget):
    """The number of points the canvas inside ``widget`` last sent to the kernel (its
    ``data-sent``, set by each send; after the mouse button is up, every point drawn);
    0 when it has sent nothing."""
    sent = widget.locator("canvas.draw-digit-canvas").get_attribute("data-sent")
    return int(sent) if sent else 0


def wait_for_reading(widget, points=None, seconds=READ_S):
    """Wait until the page's latest reading (the ``data-points`` stamp of the bars) was made
    from ``points`` points -- by default ``points_sent(widget)``, what the canvas sent when
    the mouse button went up: the reading of the whole drawing, not one sent while drawing.
    After Clear pass 0; after Undo, the count of the drawing Undo goes back to (the kernel
    changes the drawing then, the canvas sends nothing). Return ``points``."""
    from playwright.sync_api import expect

    if points is None:
        points = points_sent(widget)
    expect(widget.locator(".draw-digit-bars .dd-models")).to_have_attribute(
        "data-points", str(points), timeout=seconds * 1000)
    return points


def expect_predictions(widget, digit, names=("MLP", "CNN"), points=None, seconds=READ_S):
    """Wait for the reading of ``points`` points (``wait_for_reading``: by default all the
    canvas sent), then check that every model in ``names`` shows ``digit`` (a str, "" for
    none); return ``read_predictions``."""
    wait_for_reading(widget, points, seconds)
    readings = read_predictions(widget)
    assert all(readings.get(name) == digit for name in names), \
        f"expected {digit!r} from {', '.join(names)}; the page shows {readings}"
    return readings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the two PNGs")
    args = parser.parse_args(argv)
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"screenshots: {CHROMIUM} not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    log = ROOT / "test-artifacts" / "screenshots-voila.log"
    with demo_server(log) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--disable-gpu", "--disable-quic"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(url)
            widget = page.locator(".draw-digit")
            widget.wait_for(state="visible", timeout=PAGE_READY_S * 1000)
            page.locator(".prediction-browser").wait_for(state="visible", timeout=READ_S * 1000)
            draw_strokes(page, widget.locator("canvas.draw-digit-canvas"), SEVEN)
            expect_predictions(widget, "7")
            wait_until_quiet(widget)       # the hidden layer's picture follows the bars
            widget.screenshot(path=args.out / "screenshot_draw.png")
            # Voila's page scrolls inside its own element: make the window as tall as it
            # (again once the widgets below have settled at that size).
            for _ in range(3):
                wait_until_quiet(page.locator("body"))
                height = min(4000, 20 + int(page.evaluate(
                    "Math.max(...[...document.querySelectorAll('body *')]"
                    ".map((e) => e.getBoundingClientRect().bottom + window.scrollY))")))
                if height <= page.viewport_size["height"]:
                    break
                page.set_viewport_size({"width": 1100, "height": height})
            page.screenshot(path=args.out / "screenshot_demo.png", full_page=True)
        finally:
            browser.close()
    for name in ("screenshot_draw.png", "screenshot_demo.png"):
        print(args.out / name)


if __name__ == "__main__":
    main()
