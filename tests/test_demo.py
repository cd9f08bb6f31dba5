"""The demo page for class: `make demo` (Voila serving demo/demo.ipynb) in headless Chromium.

Starts `make demo` on a free port (no browser opened), loads the page in Chromium through
Playwright and checks that it shows no code and no error, that the drawing widget reads a
"1" and a "0" drawn with the mouse on its canvas as 1 and 0 (both networks, MLP and CNN),
that Clear empties it, that the prediction browser below it shows the test images and moves
to the next one, and that the page asked nothing from the internet (every request goes to
the Voila server, or is a blob: or data: URL the page made itself).

Needs make, /usr/bin/chromium, the playwright package, MNIST_NPZ and models/ (committed).
Without the first four the test is skipped, except when CI=true: then it fails. Every wait
is bounded, and make and Voila are stopped by signal to their process group on leaving.
"""
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from browser_util import ARTIFACTS, chromium_page, require_browser_tools

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from screenshots import (ONE, PAGE_READY_S, READ_S, ZERO, demo_server,  # noqa: E402
                         draw_strokes, expect_predictions, read_predictions)

pytestmark = pytest.mark.browser


def test_demo_page_draws_and_browses():
    require_browser_tools(what="Voila demo page test")
    if shutil.which("make") is None:
        message = "Voila demo page test cannot run: make is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " -- CI=true, so this is a failure, not a skip", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import expect

    started = time.monotonic()
    with demo_server(ARTIFACTS / "demo-voila.log") as url, chromium_page() as page:
        origin = url.rstrip("/")
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        requested = time.monotonic()
        page.goto(url)
        widget = page.locator(".draw-digit")
        failed = page.locator("[data-mime-type='application/vnd.jupyter.stderr']").or_(
            page.get_by_text(re.compile("There was an error when executing cell")))
        try:
            widget.or_(failed).first.wait_for(state="visible", timeout=PAGE_READY_S * 1000)
        finally:
            page.screenshot(path=ARTIFACTS / "demo_loaded.png", full_page=True)
        assert failed.count() == 0, \
            "a cell of demo/demo.ipynb failed:\n" + failed.first.inner_text()
        loaded = time.monotonic()

        # No code: Voila strips the code cells' inputs (the Markdown stays); no line of the
        # notebook's code is anywhere on the page.
        assert page.locator(".jp-CodeCell .jp-InputArea, .jp-InputPrompt").count() == 0
        html = page.content()
        assert "import draw_digit" not in html and "load_models" not in html
        # The networks of models/ (lessons 09 and 12: over 98 % of the test images right).
        printed = "\n".join(page.locator(".jp-OutputArea-output[data-mime-type='text/plain']")
                            .all_inner_texts())
        for name in ("MLP", "CNN"):
            line = re.search(rf"^{name}: ([\d,]+) of 10,000 test images read right$", printed, re.M)
            assert line, f"no accuracy line for the {name} in {printed!r}"
            assert int(line.group(1).replace(",", "")) > 9800, line.group(0)

        # Nothing drawn: no prediction, Clear and Undo disabled.
        assert read_predictions(widget) == {"MLP": "", "CNN": ""}
        clear = widget.get_by_role("button", name="Clear")
        undo = widget.get_by_role("button", name="Undo")
        expect(clear).to_be_disabled()
        expect(undo).to_be_disabled()
        canvas = widget.locator("canvas.draw-digit-canvas")
        expect(canvas).to_have_count(1)

        draw_strokes(page, canvas, ONE)
        expect_predictions(widget, "1")
        expect(clear).to_be_enabled()
        clear.click()
        expect_predictions(widget, "", points=0)
        expect(clear).to_be_disabled()
        draw_strokes(page, canvas, ZERO)
        expect_predictions(widget, "0")
        page.screenshot(path=ARTIFACTS / "demo_drawn_zero.png", full_page=True)
        drawn = time.monotonic()

        # The prediction browser: image 0 of the test set shown; "next" shows image 1.
        browser = page.locator(".prediction-browser")
        expect(browser).to_be_visible()
        browser.scroll_into_view_if_needed()
        caption = browser.locator(".pb-view .pb-caption")
        expect(caption).to_have_attribute("data-index", "0")
        expect(caption).to_contain_text("image 0")
        expect(browser.locator(".pb-view img.pb-digit")).to_have_count(1)
        browser.locator(".pb-next").click()
        expect(caption).to_have_attribute("data-index", "1", timeout=READ_S * 1000)
        expect(caption).to_contain_text("image 1")
        page.screenshot(path=ARTIFACTS / "demo_browser.png", full_page=True)

        outside = [u for u in requests
                   if not (u.startswith(origin + "/") or u.startswith(("blob:", "data:")))]
        assert outside == [], f"the page asked the internet for {outside}"
    print(f"make demo listening after {requested - started:.1f} s, page ready "
          f"{loaded - requested:.1f} s after the request, drawing {drawn - loaded:.1f} s, "
          f"all {time.monotonic() - started:.1f} s")
