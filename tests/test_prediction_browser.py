"""Headless tests of prediction_browser: the widgets run without a front end.

Setting a widget's value from Python fires the same observers as moving it in
JupyterLab, so these tests drive the browser as a reader would and check what it shows.
The real-browser test is tests/test_browser_jupyterlab.py.
"""
import io
import re

import numpy as np
import pytest
from matplotlib.figure import Figure

import npcore
import prediction_browser as pb

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def small_set():
    """Six distinct images; the network is wrong on images 1 and 4."""
    images = np.zeros((6, 28, 28), np.uint8)
    for n in range(6):
        images[n, 4 + 3 * n: 7 + 3 * n, 5:23] = 255            # a bar at a different height
    y = np.array([0, 1, 2, 3, 4, 5])
    probabilities = np.full((6, 10), 0.02)
    probabilities[np.arange(6), y] = 0.82                      # right: its own label is likeliest
    probabilities[1] = np.roll(probabilities[1], 6)            # image 1 predicted as 7
    probabilities[4] = np.roll(probabilities[4], 4)            # image 4 predicted as 8
    return images, y, probabilities


@pytest.fixture
def browser():
    return pb.PredictionBrowser(*small_set())


def shown(browser):
    """(index, predicted, true label, right or wrong) as the caption states them."""
    text = re.sub(r"<[^>]+>", "", browser.caption.value)
    match = re.fullmatch(r"image (\d+) \((.*)\): predicted (\d) with probability ([\d.]+), "
                         r"true label (\d), (right|wrong)", text)
    assert match, text
    index, where, predicted, probability, label, verdict = match.groups()
    return int(index), where, int(predicted), float(probability), int(label), verdict


def test_starts_on_the_first_image(browser):
    assert browser.index == 0 and browser.slider.value == 0
    assert browser.slider.max == 5 and browser.play.max == 5
    assert shown(browser) == (0, "of 6", 0, 0.82, 0, "right")
    assert bytes(browser.image.value).startswith(PNG_SIGNATURE)    # Image.value is a memoryview
    assert bytes(browser.bars.value).startswith(PNG_SIGNATURE)
    assert browser.mistakes_only.description == "mistakes only (2)"
    np.testing.assert_array_equal(browser.mistakes, [1, 4])


def test_slider_changes_caption_label_and_images(browser):
    first_image, first_bars = bytes(browser.image.value), bytes(browser.bars.value)
    browser.slider.value = 1
    assert browser.index == 1
    assert shown(browser) == (1, "of 6", 7, 0.82, 1, "wrong")
    assert bytes(browser.image.value) != first_image and bytes(browser.bars.value) != first_bars
    assert bytes(browser.image.value) == pb.digit_png(small_set()[0][1])   # the image of index 1
    browser.slider.value = 0
    assert bytes(browser.image.value) == first_image and bytes(browser.bars.value) == first_bars


def test_mistakes_only_steps_over_the_mistakes(browser):
    browser.slider.value = 2
    browser.mistakes_only.value = True
    # The first mistake at or after the current image, so the view stays nearby.
    assert (browser.index, browser.slider.value, browser.slider.max) == (4, 1, 1)
    assert shown(browser) == (4, "mistake 2 of 2", 8, 0.82, 4, "wrong")
    assert browser.slider.description == "mistake"
    browser.slider.value = 0
    assert shown(browser)[:2] == (1, "mistake 1 of 2")
    assert browser.play.max == 1 and browser.play.value == 0         # play follows the slider
    browser.mistakes_only.value = False                                # back to all images,
    assert (browser.index, browser.slider.max, browser.play.max) == (1, 5, 5)   # same image
    assert shown(browser)[:2] == (1, "of 6") and browser.slider.description == "image"


def test_mistakes_only_after_the_last_mistake_goes_to_the_last_one(browser):
    browser.slider.value = 5
    browser.mistakes_only.value = True
    assert browser.index == 4 and shown(browser)[1] == "mistake 2 of 2"


def test_buttons_step_and_stop_at_the_ends(browser):
    browser.previous.click()
    assert browser.index == 0
    browser.next.click()
    browser.next.click()
    assert browser.index == 2 and shown(browser)[0] == 2
    browser.slider.value = 5
    browser.next.click()
    assert browser.index == 5
    browser.mistakes_only.value = True
    browser.previous.click()
    assert browser.index == 1


def test_play_moves_the_slider(browser):
    browser.play.value = 3                   # what the Play widget does on each tick
    assert browser.slider.value == 3 and shown(browser)[0] == 3


def test_no_mistakes_disables_the_toggle():
    images, y, probabilities = small_set()
    perfect = pb.PredictionBrowser(images, y, npcore.one_hot(y))
    assert perfect.mistakes.size == 0 and perfect.mistakes_only.disabled


def test_callbacks_print_nothing(browser, capsys):
    browser.slider.value = 3
    browser.mistakes_only.value = True
    browser.next.click()
    browser.mistakes_only.value = False
    assert capsys.readouterr() == ("", "")


def test_display_gives_the_widget_with_a_stable_text(browser):
    bundle = browser._repr_mimebundle_()
    assert bundle["text/plain"] == repr(browser) == (
        "PredictionBrowser(6 images; a slider, a mistakes-only toggle, play and step buttons)")
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == browser.widget.model_id


def test_pngs_are_deterministic_and_unstamped():
    image = small_set()[0][2]
    assert pb.digit_png(image) == pb.digit_png(image)
    assert b"Software" not in pb.digit_png(image)              # no matplotlib version inside
    assert b"matplotlib" not in pb.digit_png(image)


def test_static_figure_is_a_plain_figure(browser):
    fig = browser.static_figure([0, 1, 4], columns=2)
    assert isinstance(fig, Figure) and fig.canvas.manager is None   # not managed by pyplot
    assert len(fig.axes) == 6                                        # image + bars per index
    titles = [ax.get_title() for ax in fig.axes[::2]]
    assert titles == ["#0: predicted 0, true 0", "#1: predicted 7, true 1", "#4: predicted 8, true 4"]
    fig.savefig(io.BytesIO(), format="png")


def test_show_prediction_draws_and_returns_the_prediction():
    rng = np.random.default_rng(0)
    X = rng.random((5, 784)).astype(np.float32)
    y = np.array([3, 1, 4, 1, 5])
    params = npcore.init_params(784, 10, 10, rng=0)
    expected = npcore.make_predictions(X, params)
    fig = Figure()
    for index in range(5):
        ax = fig.add_subplot(1, 5, index + 1)
        assert pb.show_prediction(index, X, y, params, ax=ax) == expected[index]
        assert ax.get_title() == f"#{index}: predicted {expected[index]}\ntrue label {y[index]}"
        assert ax.get_images()[0].get_array().shape == (28, 28)


def test_rejects_inconsistent_input():
    images, y, probabilities = small_set()
    with pytest.raises(ValueError, match="uint8"):
        pb.PredictionBrowser(images.astype(float), y, probabilities)
    with pytest.raises(ValueError, match=r"y \(n,\)"):
        pb.PredictionBrowser(images, y[:5], probabilities)
    with pytest.raises(ValueError, match=r"probabilities \(n, k\)"):
        pb.PredictionBrowser(images, y, probabilities[:, :, None])
