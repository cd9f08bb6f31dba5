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



def twelve_images():
    """Twelve distinct images with labels 0..9, 0, 1; the network is wrong on WRONG."""
    images = np.zeros((12, 28, 28), np.uint8)
    for n in range(12):
        images[n, 2 + 2 * n: 4 + 2 * n, 4:24] = 255            # a bar at a different height
    y = np.arange(12) % 10
    predicted = y.copy()
    predicted[WRONG] = (y[WRONG] + 5) % 10
    probabilities = np.full((12, 10), 0.02)
    probabilities[np.arange(12), predicted] = 0.82
    return images, y, probabilities


WRONG = [2, 3, 7, 11]         # two in a row, one alone, and the last image


def test_mistakes_only_shows_each_mistake_once_in_order_and_nothing_else():
    browser = pb.PredictionBrowser(*twelve_images())
    browser.mistakes_only.value = True
    assert browser.slider.max == len(WRONG) - 1                 # the slider runs over the mistakes
    seen = []
    for position in range(len(WRONG)):
        browser.slider.value = position
        index, where, predicted, _, label, verdict = shown(browser)
        assert browser.index == index
        assert (where, verdict) == (f"mistake {position + 1} of {len(WRONG)}", "wrong")
        assert predicted != label
        seen.append(index)
    assert seen == WRONG                                       # position p shows the p-th mistake
    browser.mistakes_only.value = False
    assert (browser.slider.max, browser.index) == (11, 11)     # all images again, same image


def test_next_button_visits_every_image_then_every_mistake_in_order():
    browser = pb.PredictionBrowser(*twelve_images())
    visited = [shown(browser)]
    for _ in range(11):
        browser.next.click()
        visited.append(shown(browser))
    assert [v[0] for v in visited] == list(range(12))
    assert [v[5] for v in visited] == ["wrong" if i in WRONG else "right" for i in range(12)]
    browser.slider.value = 0
    browser.mistakes_only.value = True
    visited = [shown(browser)[0]]
    for _ in range(len(WRONG)):                                # one click more than needed: it stays
        browser.next.click()
        visited.append(shown(browser)[0])
    assert visited == WRONG + [WRONG[-1]]

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


def small_network():
    """X (5, 784) float32 in [0, 1], labels y (5,), the params of a random network."""
    rng = np.random.default_rng(0)
    X = rng.random((5, 784)).astype(np.float32)
    y = np.array([3, 1, 4, 1, 5])
    return X, y, npcore.init_params(784, 10, 10, rng=0)


def test_show_prediction_draws_and_returns_the_prediction():
    X, y, params = small_network()
    expected = npcore.make_predictions(X, params)
    # show_prediction predicts one row, make_predictions the batch: the matrix products may
    # round differently (float32, ~1e-7 relative), so compare the labels only where the best
    # class leads the second by far more than that -- 1e-4 -- which it does for these rows.
    A = npcore.forward_propagation(X, params)["A2"]                     # (5, 10)
    top_two = np.sort(A, axis=1)[:, -2:]
    assert np.all(top_two[:, 1] - top_two[:, 0] > 1e-4)
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


# --------------------------------------------------------------------------- nothing to show
def empty_state(browser):
    """What the widget shows when there is nothing to show: (caption text, controls disabled)."""
    assert browser.index is None
    assert bytes(browser.image.value) == b"" and bytes(browser.bars.value) == b""   # drew nothing
    disabled = {browser.slider.disabled, browser.play.disabled, browser.previous.disabled,
                browser.next.disabled}
    assert disabled == {True}
    return re.sub(r"<[^>]+>", "", browser.caption.value)


def test_mistakes_only_without_mistakes_says_so_and_switches_back():
    images, y, probabilities = small_set()
    perfect = pb.PredictionBrowser(images, y, npcore.one_hot(y))
    perfect.slider.value = 3
    perfect.mistakes_only.value = True              # possible from code, or via a stale front end
    assert empty_state(perfect) == ("no mistakes to show: the network classifies all 6 images "
                                    "correctly — switch off “mistakes only” to browse them")
    assert 'class="pb-empty"' in perfect.caption.value
    assert (perfect.slider.value, perfect.slider.max, perfect.play.max) == (0, 0, 0)
    assert not perfect.mistakes_only.disabled       # the way back stays open
    perfect.next.click()                            # nothing to step through, nothing breaks
    perfect.previous.click()
    perfect.play.value = 0
    assert perfect.index is None
    perfect.mistakes_only.value = False
    assert (perfect.index, perfect.slider.max, perfect.play.max) == (3, 5, 5)   # same image
    assert shown(perfect) == (3, "of 6", 3, 1.0, 3, "right")
    assert not (perfect.slider.disabled or perfect.play.disabled or perfect.next.disabled)
    assert perfect.mistakes_only.disabled           # off again, and nothing to offer
    assert bytes(perfect.image.value) == pb.digit_png(images[3])


def test_empty_state_prints_nothing(capsys):
    images, y, _ = small_set()
    perfect = pb.PredictionBrowser(images, y, npcore.one_hot(y))
    perfect.mistakes_only.value = True
    perfect.next.click()
    perfect.mistakes_only.value = False
    assert capsys.readouterr() == ("", "")


def test_no_images_draws_nothing():
    browser = pb.PredictionBrowser(np.zeros((0, 28, 28), np.uint8), np.zeros(0, int),
                                   np.zeros((0, 10)))
    assert empty_state(browser) == "no images to show"
    assert browser.mistakes_only.disabled and browser.mistakes_only.description == "mistakes only (0)"
    browser.next.click()
    assert browser.index is None
    assert repr(browser).startswith("PredictionBrowser(0 images;")
    assert len(browser.static_figure([]).axes) == 0


def test_static_figure_of_no_images_is_empty(browser):
    fig = browser.static_figure([])                 # e.g. the first four of no mistakes
    assert isinstance(fig, Figure) and fig.axes == []
    fig.savefig(io.BytesIO(), format="png")
    assert len(browser.static_figure(np.array([], int), columns=3).axes) == 0


@pytest.mark.parametrize("indices, columns, message", [
    ([0, 6], None, r"indices must lie in 0\.\.5, got 6"),
    ([-1], None, r"indices must lie in 0\.\.5, got -1"),
    ([0.5], None, r"indices must be integers"),
    ([0, 1], 0, r"columns must be a positive integer, got 0"),
    ([0, 1], 1.5, r"columns must be a positive integer, got 1\.5"),
])
def test_static_figure_refuses_bad_indices_and_columns(browser, indices, columns, message):
    with pytest.raises(ValueError, match=message):
        browser.static_figure(indices, columns=columns)


# --------------------------------------------------------------------------- bad input
BAD_LABELS = [
    ("label 10", lambda y: np.where(y == 5, 10, y), r"y holds the label 10, outside the 10 classes 0\.\.9"),
    ("label -1", lambda y: np.where(y == 1, -1, y), r"y holds the label -1, outside the 10 classes"),
    ("floats", lambda y: y.astype(float), r"y must hold integer labels, got dtype float64"),
    ("booleans", lambda y: y > 2, r"y must hold integer labels, got dtype bool"),
    ("too short", lambda y: y[:-1], r"y \(n,\) must hold one label per"),
    ("too long", lambda y: np.append(y, 0), r"y \(n,\) must hold one label per"),
    ("a column", lambda y: y[:, None], r"y \(n,\) must hold one label per"),
]


@pytest.mark.parametrize("spoil, message", [case[1:] for case in BAD_LABELS],
                         ids=[case[0] for case in BAD_LABELS])
def test_browser_refuses_bad_labels(spoil, message):
    images, y, probabilities = small_set()
    with pytest.raises(ValueError, match=message):
        pb.PredictionBrowser(images, spoil(y), probabilities)


@pytest.mark.parametrize("spoil, message", [case[1:] for case in BAD_LABELS],
                         ids=[case[0] for case in BAD_LABELS])
def test_show_prediction_refuses_bad_labels(spoil, message):
    X, y, params = small_network()
    with pytest.raises(ValueError, match=message):
        pb.show_prediction(0, X, spoil(y), params, ax=Figure().add_subplot())


@pytest.mark.parametrize("value, kind", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_browser_refuses_nonfinite_probabilities(value, kind):
    images, y, probabilities = small_set()
    probabilities[2, 7] = value
    with pytest.raises(ValueError, match=rf"^probabilities holds {kind} in row 2 — "):
        pb.PredictionBrowser(images, y, probabilities)


def test_browser_refuses_logits_for_probabilities():
    images, y, probabilities = small_set()
    with pytest.raises(ValueError, match=r"probabilities must lie in \[0, 1\], got values from "
                                         r"-2\.3 to 1\.41 — pass A2 = softmax\(Z2\)"):
        pb.PredictionBrowser(images, y, np.log(probabilities / 0.2))


@pytest.mark.parametrize("value, kind", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_show_prediction_refuses_nonfinite_X(value, kind):
    X, y, params = small_network()
    X[3, 100] = value
    with pytest.raises(ValueError, match=rf"^X holds {kind} in row 3 — "):
        pb.show_prediction(0, X, y, params, ax=Figure().add_subplot())   # even for another row


@pytest.mark.parametrize("key, position, where", [("W1", (5, 2), "in row 5"),
                                                  ("b2", (4,), "at \\[4\\]"),
                                                  ("W2", (0, 9), "in row 0")])
@pytest.mark.parametrize("value, kind", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_show_prediction_refuses_nonfinite_params(key, position, where, value, kind):
    X, y, params = small_network()
    params[key][position] = value
    with pytest.raises(ValueError, match=rf"^params\['{key}'\] holds {kind} {where} — training "
                                         rf"diverged"):
        pb.show_prediction(0, X, y, params, ax=Figure().add_subplot())


@pytest.mark.parametrize("index", [5, -1, 100])
def test_show_prediction_refuses_an_index_outside_X(index):
    X, y, params = small_network()
    with pytest.raises(ValueError, match=rf"index {index} is outside 0\.\.4 \(X has 5 rows\)"):
        pb.show_prediction(index, X, y, params, ax=Figure().add_subplot())


def test_show_prediction_refuses_unprocessed_images_and_non_params():
    X, y, params = small_network()
    ax = Figure().add_subplot()
    with pytest.raises(ValueError, match=r"X must be float images \(m, 784\).*uint8 \(5, 784\)"):
        pb.show_prediction(0, (X * 255).astype(np.uint8), y, params, ax=ax)
    with pytest.raises(ValueError, match=r"X must be float images \(m, 784\).*\(5, 28, 28\)"):
        pb.show_prediction(0, X.reshape(5, 28, 28), y, params, ax=ax)
    with pytest.raises(ValueError, match=r"index must be an integer, got float"):
        pb.show_prediction(1.0, X, y, params, ax=ax)
    with pytest.raises(ValueError, match=r"params must be the dict \{W1, b1, W2, b2\}"):
        pb.show_prediction(0, X, y, [params["W1"]], ax=ax)
    assert ax.get_images() == [] and ax.get_title() == ""          # nothing drawn


def test_drawing_helpers_refuse_what_they_cannot_draw():
    with pytest.raises(ValueError, match=r"image must be uint8 \(28, 28\)"):
        pb.digit_png(np.zeros((28, 28)))                 # floats in [0, 1] would all be black
    with pytest.raises(ValueError, match=r"label 10 is outside the 10 classes 0\.\.9"):
        pb.draw_probabilities(Figure().add_subplot(), np.full(10, 0.1), 10)
