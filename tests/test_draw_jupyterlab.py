"""The draw-a-digit widget in a real JupyterLab, drawn on with the mouse in headless Chromium.

JupyterLab (tests/browser_util.py) serves a temporary folder holding one small notebook that
shows ``draw_digit.DrawDigit(draw_digit.load_models())`` (the networks of models/). The
test runs it, draws a "1" with the mouse on the canvas (one stroke: button down, moves,
button up), and both networks' predictions on the page must read 1; Clear empties them;
a "0" must read 0; a second stroke over the 0 changes the reading, and Undo must bring the
page back exactly to what the 0 alone showed (the same probabilities, to the digit).

A reading is taken only once the page shows the one made from every point drawn: the
bars stamp ``data-points`` (the points the kernel read), the canvas ``data-sent`` (the
points it sent, all of them once the button is up); the canvas also sends every 50 ms
while drawing, so "nothing changed for a while" would not prove the last reading came.

Needs /usr/bin/chromium and the playwright package (not MNIST: the widget reads models/
only). Without them the test is skipped, except when CI=true: then it fails. Every wait is
bounded; the server is stopped on leaving.
"""
import sys
import time
from pathlib import Path

import nbformat
import pytest

from browser_util import (ARTIFACTS, chromium_page, error_outputs, jupyterlab_server,
                          open_notebook, require_browser_tools, run_all_cells,
                          wait_for_cells_done)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from screenshots import (ONE, ZERO, draw_strokes, expect_predictions,  # noqa: E402
                         points_sent, read_predictions, wait_for_reading)

pytestmark = pytest.mark.browser

WIDGET_READY_S = 120         # Run All until the widget is shown
NOTEBOOK = "draw.ipynb"
# A stroke across the 0, from its top left to its bottom right: the drawing is then no 0.
SLASH = [[(0.30 + 0.4 * t / 10, 0.18 + 0.64 * t / 10) for t in range(11)]]


def write_notebook(folder):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import draw_digit\n"
        "pad = draw_digit.DrawDigit(draw_digit.load_models())\n"
        "pad")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, folder / NOTEBOOK)


def test_draw_digit_with_the_mouse_in_jupyterlab(tmp_path):
    require_browser_tools(needs_mnist=False, what="draw-a-digit JupyterLab test")
    from playwright.sync_api import expect

    root = tmp_path / "root"
    root.mkdir()
    write_notebook(root)
    started = time.monotonic()
    with jupyterlab_server(root, tmp_path, log_name="draw-jupyterlab.log") as lab, \
            chromium_page() as page:
        open_notebook(page, lab, NOTEBOOK)
        run_all_cells(page)
        widget = page.locator(".draw-digit")
        errors = error_outputs(page)
        try:
            widget.or_(errors).first.wait_for(state="visible", timeout=WIDGET_READY_S * 1000)
        finally:
            page.screenshot(path=ARTIFACTS / "draw_jupyterlab_loaded.png")
        assert errors.count() == 0, "the cell failed:\n" + errors.first.inner_text()
        wait_for_cells_done(page, WIDGET_READY_S)
        ready = time.monotonic()

        canvas = widget.locator("canvas.draw-digit-canvas")
        clear = widget.get_by_role("button", name="Clear")
        undo = widget.get_by_role("button", name="Undo")
        assert read_predictions(widget) == {"MLP": "", "CNN": ""}
        expect(undo).to_be_disabled()

        draw_strokes(page, canvas, ONE)
        expect_predictions(widget, "1")
        page.screenshot(path=ARTIFACTS / "draw_jupyterlab_one.png")
        clear.click()
        expect_predictions(widget, "", points=0)
        expect(clear).to_be_disabled()

        draw_strokes(page, canvas, ZERO)
        zero_points = points_sent(widget)
        expect_predictions(widget, "0", points=zero_points)
        bars = widget.locator(".draw-digit-bars")
        zero_alone = bars.inner_html()                        # with the stamp
        zero_numbers = bars.inner_text()                      # the probabilities only
        page.screenshot(path=ARTIFACTS / "draw_jupyterlab_zero.png")

        draw_strokes(page, canvas, SLASH)
        both_points = wait_for_reading(widget)               # the 0 and the whole slash
        assert both_points > zero_points
        assert bars.inner_text() != zero_numbers, "the slash over the 0 changed no probability"
        undo.click()
        expect_predictions(widget, "0", points=zero_points)  # Undo: the kernel's, nothing sent
        assert bars.inner_html() == zero_alone, "Undo did not bring back the 0's probabilities"
    print(f"widget ready {ready - started:.1f} s, drawing {time.monotonic() - ready:.1f} s")
