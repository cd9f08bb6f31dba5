"""The prediction browser in a real JupyterLab, driven by headless Chromium (Playwright).

Two tests, each with a JupyterLab on 127.0.0.1 (random token) whose temporary root holds
only what it opens (tests/browser_util.py starts it and Chromium):

* test_prediction_browser_in_jupyterlab: a copy of lesson 07 (outputs cleared) and lesson
  06's network (conftest's lesson06_network); runs all cells from the Run menu, moves the
  slider with the keyboard (the 1-based readout and the caption agree), switches to
  "mistakes", and checks that the index, the caption and the pictures change;
* test_filter_by_a_confusion_cell_in_jupyterlab: a three-cell notebook showing the browser
  of lesson 06's network with params=, at 1024 x 768: no control's label is cut, the play
  and step buttons have tooltips, clicking cell (true 4, predicted 9) of the matrix shows
  exactly that cell's images, each with its own digit, and while playing every read of
  the page has caption, tags and digit of one image.

Screenshots go to test-artifacts/ (the README's screenshot, docs/prediction_browser.png,
is a copy of prediction_browser_cell.png, which the second test makes).

Needs /usr/bin/chromium, the playwright package and MNIST_NPZ. Without them the tests are
skipped, except when CI=true: then they fail, so CI cannot skip them silently. Every wait
is bounded, and the server is shut down whatever happens.
"""
import hashlib
import re
import shutil
import time

import nbformat
import numpy as np
import pytest

from browser_util import (ARTIFACTS, ROOT, chromium_page, error_outputs, jupyterlab_server,
                          open_notebook, require_browser_tools, run_all_cells,
                          wait_for_cells_done)

pytestmark = pytest.mark.browser

LESSON = ROOT / "notebooks" / "07_evaluation_and_prediction_browser.ipynb"

WIDGET_READY_S = 480         # Run All until the browser widget is shown (training is ~1-2 min)
ALL_CELLS_DONE_S = 180       # the cells after the widget
UPDATE_S = 30                # one widget update, kernel round trip included
PLAY_S = 60                  # Play until it reaches a few images on (0.6 s each when idle)

# The digit and the bars of image ``index`` are in the page, loaded and have a size.
PICTURES_LOADED = """([root, index]) => {
    const pictures = Array.from(root.querySelectorAll('img.pb-digit, img.pb-bars'));
    return pictures.length === 2 && pictures.every(img => img.dataset.index === String(index)
        && img.complete && img.naturalWidth > 0);
}"""
# Decode both pictures, then let two animation frames pass: they are painted.
PICTURES_PAINTED = """root => Promise.all(Array.from(
        root.querySelectorAll('img.pb-digit, img.pb-bars')).map(img => img.decode()))
    .then(() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done))))"""


def wait_for_pictures(page, widget, index):
    """Wait (at most UPDATE_S) until the widget's digit and bars are those of image ``index``,
    loaded, decoded and painted: a screenshot taken next shows them."""
    page.wait_for_function(PICTURES_LOADED, arg=[widget.element_handle(), index],
                           timeout=UPDATE_S * 1000)
    widget.evaluate(PICTURES_PAINTED)


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


CAPTION = re.compile(r"image (\d+) \((\d+) of (\d+) (.*?)\): predicted (\d) with probability "
                     r"[\d.]+, true label (\d), (right|wrong)")


def caption_fields(text):
    """index, position, count, what, predicted, true label, verdict from the caption's text."""
    match = CAPTION.search(text)
    assert match, f"unexpected caption: {text!r}"
    index, position, count, what, predicted, label, verdict = match.groups()
    return int(index), int(position), int(count), what, int(predicted), int(label), verdict


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
        static = page.locator(".jp-CodeCell", has_text="browser.static_figure(").locator(
            ".jp-OutputArea-output img")
        expect(static).to_have_count(1)              # the static figure beside the widget

        caption = widget.locator(".pb-caption")
        readout = widget.locator(".pb-slider .widget-readout")
        digit = widget.locator("img.pb-digit")
        bars = widget.locator("img.pb-bars")
        expect(readout).to_have_text("1")                   # 1-based, as the caption
        expect(caption).to_contain_text("image 0 (1 of 10000 images)", timeout=UPDATE_S * 1000)
        index, position, count, what, predicted, label, verdict = caption_fields(caption.text_content())
        assert (index, label) == (0, y_test[0])
        widget.evaluate("element => element.scrollIntoView({block: 'center'})")
        before = {"src": digit.get_attribute("src"), "digit": digit.screenshot(),
                  "bars": bars.screenshot()}

        # Move the slider with the keyboard: three steps right.
        widget.locator(".pb-slider .noUi-handle").focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        expect(readout).to_have_text("4", timeout=UPDATE_S * 1000)
        expect(caption).to_contain_text("image 3 (4 of 10000 images)", timeout=UPDATE_S * 1000)
        index, position, count, what, predicted, label, verdict = caption_fields(caption.text_content())
        assert (index, label) == (3, y_test[3])
        assert verdict == ("right" if predicted == label else "wrong")
        expect(digit).not_to_have_attribute("src", before["src"], timeout=UPDATE_S * 1000)
        wait_for_pictures(page, widget, 3)               # the new PNGs decoded and painted
        assert digit.screenshot() != before["digit"], "the digit image did not change"
        assert bars.screenshot() != before["bars"], "the probability bars did not change"
        page.screenshot(path=ARTIFACTS / "prediction_browser_jupyterlab.png")

        # Mistakes: the slider now runs over misclassified images.
        widget.locator(".pb-mode button", has_text="mistakes (").click()
        expect(caption).to_contain_text(re.compile(r"\(1 of \d+ mistakes\)"),
                                        timeout=UPDATE_S * 1000)
        expect(readout).to_have_text("1")
        index, position, count, what, predicted, label, verdict = caption_fields(caption.text_content())
        assert index >= 3 and verdict == "wrong" and predicted != label == y_test[index]
        widget.locator(".pb-next").click()
        expect(caption).to_contain_text(re.compile(r"\(2 of \d+ mistakes\)"),
                                        timeout=UPDATE_S * 1000)
        expect(readout).to_have_text("2")
        index_2 = caption_fields(caption.text_content())[0]
        assert index_2 > index
        wait_for_pictures(page, widget, index_2)
        page.screenshot(path=ARTIFACTS / "prediction_browser_jupyterlab_mistakes.png")
    print(f"browser part took {time.monotonic() - started:.0f} s")
    assert hashlib.sha256(LESSON.read_bytes()).hexdigest() == lesson_digest, \
        "the lesson in the repository was modified"


# --------------------------------------------------------------------------- the confusion cell
BROWSER_CELLS = [
    "import npcore\n"
    "from prediction_browser import PredictionBrowser",
    "(_, _), (x_test, y_test) = npcore.load_mnist()\n"
    "params = npcore.load_params('mnist_784_10_10.npz')           # lesson 06's network\n"
    "A2 = npcore.predict_proba(npcore.preprocess(x_test), params)",
    "browser = PredictionBrowser(x_test, y_test, A2, params=params)\n"
    "browser",
]
CELL = (4, 9)                # the pair the issue names: true 4, predicted 9

# One synchronous read of the page: what the caption says and what the pictures are tagged
# with and show, at the same instant.
READ_VIEW = """root => {
    const caption = root.querySelector('.pb-caption');
    const digit = root.querySelector('img.pb-digit');
    const bars = root.querySelector('img.pb-bars');
    return {caption: caption ? caption.textContent : null,
            captionIndex: caption ? caption.dataset.index : null,
            digitIndex: digit ? digit.dataset.index : null,
            barsIndex: bars ? bars.dataset.index : null,
            src: digit ? digit.getAttribute('src') : null,
            readout: root.querySelector('.pb-slider .widget-readout').innerText};
}"""

# Controls whose label does not fit: scrollWidth > clientWidth (the text overflows its box).
CUT_LABELS = """root => Array.from(root.querySelectorAll(
        'button, .widget-label, .widget-readout, .widget-toggle-button'))
    .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth)
    .map(e => `${e.className}: ${e.textContent.trim()} (${e.scrollWidth} > ${e.clientWidth})`)"""


def check_sample(sample, x_test, y_test, predictions, playing=False):
    """One read of the view: caption, tags and the digit's PNG all belong to one image, of
    confusion cell CELL; the readout is the caption's position (while playing, the kernel
    moves the slider just after sending the view, so it may still show the position
    before). Returns (index, position, count)."""
    import base64

    import prediction_browser as pb

    index, position, count, what, predicted, label, verdict = caption_fields(sample["caption"])
    assert str(index) == sample["captionIndex"] == sample["digitIndex"] == sample["barsIndex"], \
        f"a mismatched frame: {sample['caption']!r} beside tags {sample}"
    allowed = {str(position), str(position - 1)} if playing else {str(position)}
    assert sample["readout"] in allowed, (sample["readout"], sample["caption"])
    assert what == f"with true label {CELL[0]}, predicted {CELL[1]}"
    assert (label, predicted) == CELL == (y_test[index], predictions[index])
    png = base64.b64decode(sample["src"].split(",", 1)[1])
    assert png == pb.digit_png(x_test[index]), f"the digit shown is not image {index}"
    return index, position, count


@pytest.fixture
def browser_notebook(tmp_path, request):
    """A ``browser_util.Server`` whose root holds a three-cell notebook showing the browser of
    lesson 06's network on MNIST's test set (with params=), and that network."""
    require_browser_tools()
    network = request.getfixturevalue("lesson06_network")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copyfile(network, root / "mnist_784_10_10.npz")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in BROWSER_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, root / "browser.ipynb")
    with jupyterlab_server(root, tmp_path) as server:
        yield server, network


def test_filter_by_a_confusion_cell_in_jupyterlab(browser_notebook):
    """At 1024 x 768: no control's label is cut, the play and step buttons have tooltips;
    clicking cell (4, 9) of the matrix shows exactly the images of that cell, each with its
    own digit, and while playing every read of the page has caption, tags and digit of one
    image. The screenshot docs/prediction_browser.png is made from this run (copied from
    test-artifacts/prediction_browser_cell.png)."""
    from playwright.sync_api import expect

    import npcore

    server, network = browser_notebook
    x_test, y_test = npcore.load_mnist()[1]
    params = npcore.load_params(network)
    predictions = npcore.make_predictions(npcore.preprocess(x_test), params)     # (10000,)
    C = npcore.confusion_matrix(y_test, predictions)
    expected = np.flatnonzero((y_test == CELL[0]) & (predictions == CELL[1]))
    assert len(expected) >= 5, f"cell {CELL} holds {len(expected)} images: too few to test"
    started = time.monotonic()
    with chromium_page(viewport={"width": 1024, "height": 768}) as page:
        open_notebook(page, server, "browser.ipynb")
        run_all_cells(page)
        widget = page.locator(".prediction-browser")
        errors = error_outputs(page)
        widget.or_(errors).first.wait_for(state="visible", timeout=WIDGET_READY_S * 1000)
        assert errors.count() == 0, "a cell failed:\n" + errors.first.inner_text()
        wait_for_cells_done(page, ALL_CELLS_DONE_S)
        caption = widget.locator(".pb-caption")
        readout = widget.locator(".pb-slider .widget-readout")
        expect(caption).to_contain_text("image 0 (1 of 10000 images)", timeout=UPDATE_S * 1000)
        widget.evaluate("element => element.scrollIntoView({block: 'start'})")

        assert widget.evaluate(CUT_LABELS) == [], "labels cut at 1024 x 768"
        for hook in (".pb-play", ".pb-previous", ".pb-next"):
            assert widget.locator(hook).get_attribute("title"), f"{hook} has no tooltip"
        counts = widget.locator(".pb-cell")
        expect(counts).to_have_count(100)
        assert widget.locator(f".pb-cell-{CELL[0]}-{CELL[1]}").inner_text() == str(C[CELL])
        assert widget.locator(".pb-cell-7-7").inner_text() == str(C[7, 7])

        # Click the cell: the slider runs over its images, in index order, one by one.
        widget.locator(f".pb-cell-{CELL[0]}-{CELL[1]}").click()
        expect(caption).to_contain_text(f"(1 of {len(expected)} with true label {CELL[0]}, "
                                        f"predicted {CELL[1]})", timeout=UPDATE_S * 1000)
        seen = []
        for position in range(1, len(expected) + 1):
            expect(caption).to_contain_text(f"({position} of {len(expected)} ",
                                            timeout=UPDATE_S * 1000)
            expect(readout).to_have_text(str(position), timeout=UPDATE_S * 1000)
            index, shown_position, count = check_sample(widget.evaluate(READ_VIEW), x_test,
                                                        y_test, predictions)
            assert (shown_position, count) == (position, len(expected))
            seen.append(index)
            if position < len(expected):
                widget.locator(".pb-next").click()
        assert seen == list(expected), "the cell's images, each once, in index order"
        page.set_viewport_size({"width": 1280, "height": 1300})   # the whole widget in view
        widget.evaluate("element => element.scrollIntoView({block: 'start'})")
        wait_for_pictures(page, widget, seen[-1])                 # painted at the new size
        widget.screenshot(path=ARTIFACTS / "prediction_browser_cell.png")

        # Play from the first image of the cell; read the page every 50 ms until the caption
        # reaches position k (at most PLAY_S: a busy machine plays slower than 0.6 s a step).
        widget.locator(".pb-slider .noUi-handle").focus()
        page.keyboard.press("Home")
        expect(caption).to_contain_text(f"(1 of {len(expected)} ", timeout=UPDATE_S * 1000)
        k = min(len(expected), 5)
        widget.locator(".pb-play button").first.click()
        samples, deadline = [], time.monotonic() + PLAY_S
        while True:
            samples.append(widget.evaluate(READ_VIEW))
            if caption_fields(samples[-1]["caption"])[1] >= k or time.monotonic() > deadline:
                break
            page.wait_for_timeout(50)
        widget.locator(".pb-play button").nth(1).click()          # pause
        played = [check_sample(s, x_test, y_test, predictions, playing=True) for s in samples]
        shown_while_playing = [index for index, position, count in played]
        lagging = sum(s["readout"] != str(caption_fields(s["caption"])[1]) for s in samples)
        assert played[-1][1] >= k, \
            f"play reached position {played[-1][1]}, not {k}, in {PLAY_S} s"
        assert shown_while_playing == sorted(shown_while_playing)   # forward, never back
    print(f"browser part took {time.monotonic() - started:.0f} s; {len(samples)} reads while "
          f"playing, positions {played[0][1]} to {played[-1][1]}, "
          f"{len(set(shown_while_playing))} images, readout one behind in {lagging}")
