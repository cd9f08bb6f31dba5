"""Lesson 07's prediction browser in a real JupyterLab, driven by headless Chromium.

Starts JupyterLab on 127.0.0.1 with a random token in a temporary root that holds only a
copy of lesson 07 (outputs cleared) and lesson 06's network (conftest's lesson06_network),
opens it in Chromium via Playwright, runs all cells from the Run menu, moves the slider with the keyboard and switches on "mistakes only",
and checks that the shown index, the caption and the image change. Screenshots go to
test-artifacts/ (the README's screenshot, docs/prediction_browser.png, is one of them).

Needs /usr/bin/chromium, the playwright package and MNIST_NPZ. Without them the test is
skipped, except when CI=true: then it fails, so CI cannot skip it silently. Every wait is
bounded, and the server is shut down in a `finally`, whatever happens.
"""
import hashlib
import re
import shutil
import time

import nbformat
import pytest

from browser_util import (ARTIFACTS, ROOT, chromium_page, error_outputs, jupyterlab_server,
                          open_notebook, require_browser_tools, run_all_cells,
                          wait_for_cells_done)

pytestmark = pytest.mark.browser

LESSON = ROOT / "notebooks" / "07_evaluation_and_prediction_browser.ipynb"

WIDGET_READY_S = 480         # Run All until the browser widget is shown (training is ~1-2 min)
ALL_CELLS_DONE_S = 180       # the cells after the widget
UPDATE_S = 30                # one widget update, kernel round trip included


@pytest.fixture
def jupyterlab(tmp_path, request):
    """A ``browser_util.Server``: JupyterLab whose root holds only a fresh copy of lesson 07
    (outputs cleared: everything seen is from this run) and lesson 06's network (which
    lesson 07 otherwise trains itself); shut down afterwards."""
    require_browser_tools()
    network = request.getfixturevalue("lesson06_network")      # needs MNIST: after the check
    root = tmp_path / "root"
    root.mkdir()
    shutil.copyfile(network, root / "mnist_784_10_10.npz")
    nb = nbformat.read(LESSON, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, root / LESSON.name)
    with jupyterlab_server(root, tmp_path) as server:
        yield server


def caption_fields(text):
    """index, where, predicted, true label, verdict from the caption's text."""
    match = re.search(r"image (\d+) \((.*?)\): predicted (\d) with probability [\d.]+, "
                      r"true label (\d), (right|wrong)", text)
    assert match, f"unexpected caption: {text!r}"
    index, where, predicted, label, verdict = match.groups()
    return int(index), where, int(predicted), int(label), verdict


def test_prediction_browser_in_jupyterlab(jupyterlab):
    from playwright.sync_api import expect

    import npcore

    y_test = npcore.load_mnist()[1][1]
    lesson_digest = hashlib.sha256(LESSON.read_bytes()).hexdigest()
    started = time.monotonic()
    with chromium_page() as page:
        open_notebook(page, jupyterlab, LESSON.name)
        run_all_cells(page)

        widget = page.locator(".prediction-browser")
        errors = error_outputs(page)
        try:                                             # the widget, or an error, whichever first
            widget.or_(errors).first.wait_for(state="visible", timeout=WIDGET_READY_S * 1000)
        finally:
            page.screenshot(path=ARTIFACTS / "jupyterlab_after_run_all.png")
        assert errors.count() == 0, "a cell failed:\n" + errors.first.inner_text()
        wait_for_cells_done(page, ALL_CELLS_DONE_S)      # every cell has run
        assert errors.count() == 0, "a cell failed:\n" + errors.first.inner_text()
        static = page.locator(".jp-CodeCell").last.locator(".jp-OutputArea-output img")
        expect(static).to_have_count(1)              # the static figure beside the widget

        caption = widget.locator(".pb-caption")
        readout = widget.locator(".pb-slider .widget-readout")
        digit = widget.locator("img.pb-digit")
        bars = widget.locator("img.pb-bars")
        expect(readout).to_have_text("0")
        expect(caption).to_contain_text("image 0 (of 10000)", timeout=UPDATE_S * 1000)
        index, where, predicted, label, verdict = caption_fields(caption.inner_text())
        assert (index, label) == (0, y_test[0])
        widget.evaluate("element => element.scrollIntoView({block: 'center'})")
        before = {"src": digit.get_attribute("src"), "digit": digit.screenshot(),
                  "bars": bars.screenshot()}

        # Move the slider with the keyboard: three steps right.
        widget.locator(".pb-slider .noUi-handle").focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        expect(readout).to_have_text("3", timeout=UPDATE_S * 1000)
        expect(caption).to_contain_text("image 3 (of 10000)", timeout=UPDATE_S * 1000)
        index, where, predicted, label, verdict = caption_fields(caption.inner_text())
        assert (index, label) == (3, y_test[3])
        assert verdict == ("right" if predicted == label else "wrong")
        expect(digit).not_to_have_attribute("src", before["src"], timeout=UPDATE_S * 1000)
        page.wait_for_timeout(300)                       # let the new PNGs decode and paint
        assert digit.screenshot() != before["digit"], "the digit image did not change"
        assert bars.screenshot() != before["bars"], "the probability bars did not change"
        page.screenshot(path=ARTIFACTS / "prediction_browser_jupyterlab.png")

        # Mistakes only: the slider now runs over misclassified images.
        widget.locator(".pb-mistakes").click()
        expect(caption).to_contain_text("mistake 1 of", timeout=UPDATE_S * 1000)
        expect(readout).to_have_text("0")
        index, where, predicted, label, verdict = caption_fields(caption.inner_text())
        assert index >= 3 and verdict == "wrong" and predicted != label == y_test[index]
        widget.locator(".pb-next").click()
        expect(caption).to_contain_text("mistake 2 of", timeout=UPDATE_S * 1000)
        assert caption_fields(caption.inner_text())[0] > index
        page.wait_for_timeout(300)
        page.screenshot(path=ARTIFACTS / "prediction_browser_jupyterlab_mistakes.png")
    print(f"browser part took {time.monotonic() - started:.0f} s")
    assert hashlib.sha256(LESSON.read_bytes()).hexdigest() == lesson_digest, \
        "the lesson in the repository was modified"
