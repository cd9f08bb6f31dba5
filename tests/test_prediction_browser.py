"""Headless tests of prediction_browser: the widgets run without a front end.

Setting a widget's value from Python fires the same observers as moving it in
JupyterLab, so these tests drive the browser as a reader would and check what it shows.
The pure functions behind the filters (select, order, compare_mistakes, unit_votes) are
tested on small hand-made arrays whose answers are written out, and on MNIST with lesson
06's network (needs MNIST_NPZ) against direct definitions. The real-browser test is
tests/test_browser_jupyterlab.py.
"""
import base64
import io
import os
import re

import numpy as np
import pytest
from matplotlib.figure import Figure

import npcore
import prediction_browser as pb

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def small_set():
    """Six distinct images; the network is wrong on images 1 (says 7) and 4 (says 8)."""
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


CAPTION = re.compile(r"image (\d+) \((\d+) of (\d+) (.*?)\): predicted (\d) with probability "
                     r"([\d.]+), true label (\d), (right|wrong)")


def shown(browser):
    """(index, position, count, what, predicted, probability, true label, verdict) as the
    caption states them."""
    match = CAPTION.fullmatch(browser.caption_text())
    assert match, browser.caption_text()
    index, position, count, what, predicted, probability, label, verdict = match.groups()
    return (int(index), int(position), int(count), what, int(predicted), float(probability),
            int(label), verdict)


def pictures(browser):
    """The digit and bars PNGs inside the view, and the indices their tags name."""
    view = browser.view.value
    digit = re.search(r'<img class="pb-digit" data-index="(\d+)" alt="image (\d+)".*?'
                      r'src="data:image/png;base64,([^"]+)"', view)
    bars = re.search(r'<img class="pb-bars" data-index="(\d+)".*?src="data:image/png;base64,'
                     r'([^"]+)"', view)
    caption = re.search(r'<div class="pb-caption" data-index="(\d+)">', view)
    assert digit and bars and caption, view[:300]
    assert digit[1] == digit[2] == bars[1] == caption[1]        # one index for all three
    return int(digit[1]), base64.b64decode(digit[3]), base64.b64decode(bars[2])


# --------------------------------------------------------------------------- pure functions
# Ten samples, worked by hand:   index  0  1  2  3  4  5  6  7  8  9
Y = np.array([4, 4, 9, 4, 7, 1, 4, 9, 7, 4])         # true
PA = np.array([9, 4, 9, 9, 7, 7, 4, 4, 7, 9])        # model A: wrong on 0, 3, 5, 7, 9
PB = np.array([4, 4, 9, 9, 1, 1, 4, 4, 7, 4])        # model B: wrong on 3, 4, 7


def test_select_all_mistakes_and_a_cell():
    np.testing.assert_array_equal(pb.select(Y, PA, "all"), np.arange(10))
    np.testing.assert_array_equal(pb.select(Y, PA, "mistakes"), [0, 3, 5, 7, 9])
    np.testing.assert_array_equal(pb.select(Y, PA, "cell", true=4, predicted=9), [0, 3, 9])
    np.testing.assert_array_equal(pb.select(Y, PA, "cell", true=4, predicted=4), [1, 6])
    np.testing.assert_array_equal(pb.select(Y, PA, "cell", true=1, predicted=7), [5])
    assert pb.select(Y, PA, "cell", true=3, predicted=8).size == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="cells"), r"mode must be one of 'all', 'mistakes', 'cell', got 'cells'"),
    (dict(mode="cell"), r"mode 'cell' needs true= and predicted="),
    (dict(mode="cell", true=4, predicted=10), r"predicted must be a class 0\.\.9, got 10"),
    (dict(mode="cell", true=4.0, predicted=9), r"true must be a class 0\.\.9, got 4\.0"),
])
def test_select_refuses_bad_modes_and_cells(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pb.select(Y, PA, **kwargs)
    with pytest.raises(ValueError, match=r"predictions must be \(n,\) integer labels"):
        pb.select(Y, PA[:-1])


def test_order_by_confidence_and_by_index():
    P = np.array([[0.6, 0.4], [0.9, 0.1], [0.3, 0.7], [0.2, 0.8], [0.5, 0.5], [0.1, 0.9]])
    #                  0.6         0.9         0.7         0.8         0.5         0.9   confidence
    np.testing.assert_array_equal(pb.order(P, [0, 2, 3, 4]), [3, 2, 0, 4])
    np.testing.assert_array_equal(pb.order(P, [0, 2, 3, 4], descending=False), [4, 0, 2, 3])
    np.testing.assert_array_equal(pb.order(P, np.arange(6)), [1, 5, 3, 2, 0, 4])  # tie: 1 first
    np.testing.assert_array_equal(pb.order(P, np.arange(6), descending=False), [4, 0, 2, 3, 1, 5])
    np.testing.assert_array_equal(pb.order(P, [4, 0, 3], by="index", descending=False), [0, 3, 4])
    np.testing.assert_array_equal(pb.order(P, [4, 0, 3], by="index"), [4, 3, 0])
    assert pb.order(P, np.array([], int)).size == 0
    with pytest.raises(ValueError, match=r"by must be 'confidence' or 'index', got 'size'"):
        pb.order(P, [0], by="size")
    with pytest.raises(ValueError, match=r"indices must lie in 0\.\.5"):
        pb.order(P, [6])


def test_compare_mistakes_by_hand():
    c = pb.compare_mistakes(Y, PA, PB)
    assert sorted(c) == ["added", "both wrong", "fixed"]
    np.testing.assert_array_equal(c["fixed"], [0, 5, 9])        # A wrong, B right
    np.testing.assert_array_equal(c["added"], [4])              # A right, B wrong
    np.testing.assert_array_equal(c["both wrong"], [3, 7])
    # B's mistakes = A's - fixed + added: 5 - 3 + 1 = 3
    assert (PB != Y).sum() == (PA != Y).sum() - len(c["fixed"]) + len(c["added"]) == 3
    with pytest.raises(ValueError, match=r"predictions_b must be \(n,\) integer labels"):
        pb.compare_mistakes(Y, PA, PB.astype(float))


def test_unit_votes_sum_to_the_scores():
    rng = np.random.default_rng(1)
    params = npcore.init_params(784, 16, 10, rng=rng)
    x = rng.random(784).astype(np.float32)
    a, votes, bias = pb.unit_votes(params, x)
    assert a.shape == (16,) and votes.shape == (16, 10) and bias.shape == (10,)
    np.testing.assert_allclose(a, np.maximum(x @ params["W1"] + params["b1"], 0), rtol=1e-6)
    np.testing.assert_allclose(votes[:, 3], a * params["W2"][:, 3], rtol=1e-6)
    Z2 = npcore.forward_propagation(x[None], params)["Z2"][0]
    np.testing.assert_allclose(votes.sum(axis=0) + bias, Z2, rtol=1e-5, atol=1e-6)
    deep = npcore.init_params(784, 8, 10, rng=rng)
    deep = {"W1": deep["W1"], "b1": deep["b1"], "W2": rng.normal(size=(8, 5)).astype(np.float32),
            "b2": np.zeros(5, np.float32), "W3": rng.normal(size=(5, 10)).astype(np.float32),
            "b3": np.zeros(10, np.float32)}
    a, votes, _ = pb.unit_votes(deep, x)                        # the last hidden layer: A2 (5,)
    np.testing.assert_allclose(a, npcore.forward_propagation(x[None], deep)["A2"][0], rtol=1e-6)
    with pytest.raises(ValueError, match=r"params must have a hidden layer"):
        pb.unit_votes({"W1": np.zeros((784, 10)), "b1": np.zeros(10)}, x)


# --------------------------------------------------------------------------- the widget
def test_starts_on_the_first_image(browser):
    assert browser.index == 0 and browser.slider.value == 1        # 1-based, as the caption
    assert (browser.slider.min, browser.slider.max, browser.play.max) == (1, 6, 6)
    assert shown(browser) == (0, 1, 6, "images", 0, 0.82, 0, "right")
    index, digit, bars = pictures(browser)
    assert index == 0 and digit == pb.digit_png(small_set()[0][0])
    assert bars.startswith(PNG_SIGNATURE)
    assert [label for label, _ in browser.mode.options] == ["all images (6)", "mistakes (2)",
                                                            "one confusion cell"]
    np.testing.assert_array_equal(browser.mistakes, [1, 4])


def test_slider_readout_equals_the_captions_number(browser):
    browser.mode.value = "mistakes"
    for position in (1, 2):
        browser.slider.value = position
        assert shown(browser)[1:4] == (position, 2, "mistakes")
    assert browser.slider.description == "mistake"


def test_slider_changes_caption_and_pictures_together(browser):
    first = pictures(browser)
    browser.slider.value = 2
    assert browser.index == 1
    assert shown(browser) == (1, 2, 6, "images", 7, 0.82, 1, "wrong")
    index, digit, bars = pictures(browser)
    assert index == 1 and digit == pb.digit_png(small_set()[0][1]) and bars != first[2]
    browser.slider.value = 1
    assert pictures(browser) == first


def test_mistakes_mode_stays_near_the_image_shown(browser):
    browser.slider.value = 3                                      # image 2
    browser.mode.value = "mistakes"
    assert (browser.index, browser.slider.value, browser.slider.max) == (4, 2, 2)
    assert shown(browser)[:4] == (4, 2, 2, "mistakes")
    browser.slider.value = 1
    assert browser.play.max == 2 and browser.play.value == 1      # play follows the slider
    browser.mode.value = "all"                                    # back: the same image
    assert (browser.index, browser.slider.max) == (1, 6) and browser.slider.description == "image"


def test_buttons_step_and_stop_at_the_ends(browser):
    browser.previous.click()
    assert browser.index == 0
    browser.next.click()
    browser.next.click()
    assert browser.index == 2
    browser.slider.value = 6
    browser.next.click()
    assert browser.index == 5
    browser.mode.value = "mistakes"
    browser.previous.click()
    assert browser.index == 1


def test_play_moves_the_slider(browser):
    browser.play.value = 4                   # what the Play widget does on each tick
    assert browser.slider.value == 4 and shown(browser)[0] == 3


def test_controls_have_tooltips(browser):
    for control in (browser.play, browser.previous, browser.next, browser.slider):
        assert control.tooltip
    assert len(browser.mode.tooltips) == len(browser.mode.options)
    assert len(browser.sort.tooltips) == len(browser.sort.options)


def hand_browser(**kwargs):
    """The ten hand-worked samples (Y, PA above) as a browser; confidences chosen per image."""
    images = np.zeros((10, 28, 28), np.uint8)
    for n in range(10):
        images[n, 2 + 2 * n: 4 + 2 * n, 4:24] = 255
    confidence = np.array([0.5, 0.9, 0.6, 0.95, 0.7, 0.8, 0.55, 0.65, 0.75, 0.85])
    P = np.tile(((1 - confidence) / 9)[:, None], (1, 10))
    P[np.arange(10), PA] = confidence
    return images, pb.PredictionBrowser(images, Y, P, **kwargs)


def walk(browser):
    """The indices the slider visits, by clicking next from the first position."""
    browser.slider.value = 1
    seen = [browser.index]
    for _ in range(len(browser.shown) - 1):
        browser.next.click()
        seen.append(browser.index)
    return seen


def test_clicking_a_confusion_cell_filters_to_that_pair():
    _, browser = hand_browser()
    assert browser.cells[4][9].description == "3" and browser.cells[4][4].description == "2"
    assert "pb-diagonal" in browser.cells[4][4]._dom_classes
    grid = browser.matrix.children[1]                           # a header row, then row t: label, cells
    assert len(grid.children) == 11 * 11
    assert all(grid.children[11 * (t + 1) + p + 1] is browser.cells[t][p]
               for t in range(10) for p in range(10))
    assert browser.cell == (4, 9)                               # starts on the commonest confusion
    browser.cells[1][7].click()
    assert (browser.mode.value, browser.cell) == ("cell", (1, 7))
    assert walk(browser) == [5]
    browser.cells[4][9].click()
    assert walk(browser) == [0, 3, 9]
    assert shown(browser)[1:4] == (3, 3, "with true label 4, predicted 9")
    assert browser.cells[4][9].style.button_color == "#ffd54f"  # the selected cell stands out
    assert browser.cells[1][7].style.button_color != "#ffd54f"


def test_choosing_the_pair_with_the_dropdowns():
    _, browser = hand_browser()
    browser.true.value = 9                                      # switches to the cell (9, 9)
    assert (browser.mode.value, browser.cell) == ("cell", (9, 9))
    assert walk(browser) == [2]
    browser.true.value, browser.predicted.value = 4, 4
    assert walk(browser) == [1, 6]


def test_sort_mistakes_most_confident_first():
    _, browser = hand_browser()
    browser.mode.value = "mistakes"
    assert walk(browser) == [0, 3, 5, 7, 9]
    browser.sort.value = "most confident"                       # 0.95, 0.85, 0.8, 0.65, 0.5
    assert walk(browser) == [3, 9, 5, 7, 0]
    assert shown(browser)[3] == "mistakes, most confident first"
    browser.sort.value = "least confident"
    assert walk(browser) == [0, 7, 5, 9, 3]
    browser.cells[4][9].click()                                 # the sort applies to a cell too
    browser.sort.value = "most confident"
    assert walk(browser) == [3, 9, 0]


def test_a_sort_keeps_the_image_shown():
    _, browser = hand_browser()
    browser.mode.value = "mistakes"
    browser.slider.value = 3                                    # image 5
    browser.sort.value = "most confident"
    assert browser.index == 5 and browser.slider.value == 3     # 5 is third by confidence too


def test_compare_two_models():
    PBprob = np.full((10, 10), 0.01)
    PBprob[np.arange(10), PB] = 0.91
    images, browser = hand_browser(other=PBprob, names=("MLP", "CNN"))
    labels = [label for label, _ in browser.mode.options]
    assert labels[3:] == ["fixed by CNN (3)", "added by CNN (1)", "both wrong (2)"]
    browser.mode.value = "fixed"
    assert walk(browser) == [0, 5, 9]
    text = browser.caption_text()
    assert text == ("image 9 (3 of 3 fixed by CNN): MLP predicted 9 with probability 0.850 "
                    "(wrong), CNN predicted 4 with probability 0.910 (right), true label 4")
    browser.mode.value = "added"
    assert walk(browser) == [4]
    browser.mode.value = "both wrong"
    browser.sort.value = "most confident"
    assert walk(browser) == [3, 7]                              # MLP's confidence 0.95, 0.65
    assert repr(browser) == (
        "PredictionBrowser(10 images; MLP 5 mistakes, CNN 3; show all / mistakes / one confusion "
        "cell; fixed by CNN (3) / added by CNN (1) / both wrong (2); a clickable 10x10 confusion "
        "matrix; sort by index or confidence; a slider with play and step buttons)")
    fig = browser.static_figure([0, 4])
    assert [ax.get_title() for ax in fig.axes[::2]] == ["#0: true 4\nMLP 9, CNN 4",
                                                        "#4: true 7\nMLP 7, CNN 1"]


def test_compare_refuses_mismatched_other():
    images, y, probabilities = small_set()
    with pytest.raises(ValueError, match=r"other \(n, k\) must hold one row"):
        pb.PredictionBrowser(images, y, probabilities, other=probabilities[:5])
    with pytest.raises(ValueError, match=r"names must be two non-empty strings"):
        pb.PredictionBrowser(images, y, probabilities, other=probabilities, names=("MLP",))
    with pytest.raises(ValueError, match=r"mode 'fixed' compares two models: pass other="):
        pb.PredictionBrowser(images, y, probabilities).indices("fixed")


def test_params_add_hidden_units_and_votes():
    rng = np.random.default_rng(0)
    params = npcore.init_params(784, 10, 10, rng=rng)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    P = npcore.predict_proba(npcore.preprocess(images), params)
    y = np.array([0, 1, 2, 3, 4])
    with_units = pb.PredictionBrowser(images, y, P, params=params)
    plain = pb.PredictionBrowser(images, y, P)
    assert repr(with_units).endswith("; hidden units and their votes; a slider with play and "
                                     "step buttons)")
    from matplotlib.image import imread
    tall = imread(io.BytesIO(with_units.bars_png(2)))
    short = imread(io.BytesIO(plain.bars_png(2)))
    assert tall.shape[0] == 2 * short.shape[0]                  # a second row of panels
    with pytest.raises(ValueError, match=r"params do not give these probabilities"):
        pb.PredictionBrowser(images, y, np.roll(P, 1, axis=0), params=params)
    with pytest.raises(ValueError, match=r"params must be an MLP 784 -> \.\.\. -> 10"):
        pb.PredictionBrowser(images, y, P, params={"W1": params["W1"] @ params["W2"],
                                                   "b1": params["b2"]})


def test_callbacks_print_nothing(browser, capsys):
    browser.slider.value = 3
    browser.mode.value = "mistakes"
    browser.next.click()
    browser.sort.value = "least confident"
    browser.cells[1][7].click()
    browser.mode.value = "all"
    assert capsys.readouterr() == ("", "")


def test_display_gives_the_widget_with_a_stable_text(browser):
    bundle = browser._repr_mimebundle_()
    assert bundle["text/plain"] == repr(browser) == (
        "PredictionBrowser(6 images, 2 mistakes; show all / mistakes / one confusion cell; a "
        "clickable 10x10 confusion matrix; sort by index or confidence; a slider with play and "
        "step buttons)")
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == browser.widget.model_id


def test_pngs_are_deterministic_and_unstamped(browser):
    image = small_set()[0][2]
    assert pb.digit_png(image) == pb.digit_png(image)
    assert b"Software" not in pb.digit_png(image)              # no matplotlib version inside
    assert b"matplotlib" not in pb.digit_png(image)
    assert browser.bars_png(3) == browser.bars_png(3)


def test_static_figure_is_a_plain_figure(browser):
    fig = browser.static_figure([0, 1, 4], columns=2)
    assert isinstance(fig, Figure) and fig.canvas.manager is None   # not managed by pyplot
    assert len(fig.axes) == 6                                        # image + bars per index
    titles = [ax.get_title() for ax in fig.axes[::2]]
    assert titles == ["#0: predicted 0, true 0", "#1: predicted 7, true 1", "#4: predicted 8, true 4"]
    fig.savefig(io.BytesIO(), format="png")


# --------------------------------------------------------------------------- on MNIST
@pytest.fixture(scope="module")
def mnist_network():
    """MNIST's test set and the probabilities of a 784-10-10 network trained briefly here."""
    if not os.environ.get("MNIST_NPZ"):
        pytest.skip("needs MNIST_NPZ")
    (x_train, y_train), (x_test, y_test) = npcore.load_mnist()
    params, _ = npcore.gradient_descent(npcore.preprocess(x_train[:5000]), y_train[:5000], 0.5,
                                        60, rng=0, progress=False)
    P = npcore.predict_proba(npcore.preprocess(x_test[:2000]), params)
    return x_test[:2000], y_test[:2000], P, params


def test_on_mnist_every_cell_holds_exactly_its_pair(mnist_network):
    images, y, P, params = mnist_network
    predictions = P.argmax(axis=1)
    browser = pb.PredictionBrowser(images, y, P, params=params)
    C = npcore.confusion_matrix(y, predictions)
    total = 0
    for t in range(10):
        for p in range(10):
            assert browser.cells[t][p].description == str(C[t, p])
            chosen = pb.select(y, predictions, "cell", true=t, predicted=p)
            assert len(chosen) == C[t, p]
            assert np.all(y[chosen] == t) and np.all(predictions[chosen] == p)
            total += len(chosen)
    assert total == len(y)                                      # the cells partition the images
    t, p = browser.cell                                         # the commonest confusion
    off = C - np.diag(np.diag(C))
    assert C[t, p] == off.max() and t != p
    browser.cells[t][p].click()
    browser.sort.value = "most confident"
    seen = list(browser.shown)                                  # what the slider runs over
    assert sorted(seen) == sorted(np.flatnonzero((y == t) & (predictions == p)))
    confidence = P[seen].max(axis=1)
    assert np.all(np.diff(confidence) <= 0)                     # most confident first
    assert first_positions(browser, 3) == seen[:3]              # and the slider shows them


def first_positions(browser, count):
    """The images the slider's first ``count`` positions show, as the view tags them."""
    seen = []
    for position in range(1, count + 1):
        browser.slider.value = position
        index = pictures(browser)[0]
        assert shown(browser)[:2] == (index, position)
        seen.append(index)
    return seen


def test_on_mnist_compare_partitions_the_mistakes(mnist_network):
    images, y, P, params = mnist_network
    rng = np.random.default_rng(0)
    other = P.copy()
    flip = rng.choice(len(y), 300, replace=False)               # a second "model": some rows changed
    other[flip] = np.roll(other[flip], 1, axis=1)
    a, b = P.argmax(axis=1), other.argmax(axis=1)
    c = pb.compare_mistakes(y, a, b)
    assert set(c["fixed"]) == set(np.flatnonzero((a != y) & (b == y)))
    assert set(c["added"]) == set(np.flatnonzero((a == y) & (b != y)))
    union = np.concatenate([c["fixed"], c["both wrong"]])
    np.testing.assert_array_equal(np.sort(union), np.flatnonzero(a != y))   # A's mistakes, split
    assert len(c["added"]) > 0 and len(c["fixed"]) > 0
    browser = pb.PredictionBrowser(images, y, P, other=other, names=("MLP", "CNN"))
    browser.mode.value = "added"
    browser.sort.value = "most confident"
    seen = list(browser.shown)
    assert sorted(seen) == list(c["added"])
    assert np.all(np.diff(other[seen].max(axis=1)) <= 0)        # the CNN's confidence, descending
    browser.slider.value = 2
    assert re.fullmatch(rf"image {seen[1]} \(2 of {len(seen)} added by CNN, most confident "
                        rf"first\): MLP predicted \d .*\(right\), CNN predicted \d .*\(wrong\), "
                        rf"true label {y[seen[1]]}", browser.caption_text())


# --------------------------------------------------------------------------- nothing to show
def empty_state(browser):
    """What the widget shows when there is nothing to show: the caption's text; it checks
    that nothing is drawn and the controls that cannot move are disabled."""
    assert browser.index is None
    assert "<img" not in browser.view.value                          # drew nothing
    disabled = {browser.slider.disabled, browser.play.disabled, browser.previous.disabled,
                browser.next.disabled}
    assert disabled == {True}
    return browser.caption_text()


def test_mistakes_without_mistakes_says_so_and_switches_back():
    images, y, probabilities = small_set()
    perfect = pb.PredictionBrowser(images, y, npcore.one_hot(y))
    perfect.slider.value = 4
    perfect.mode.value = "mistakes"
    assert empty_state(perfect) == ("no mistakes to show: the network classifies all 6 images "
                                    "correctly — choose “all images” to browse them")
    assert 'class="pb-empty"' in perfect.view.value
    assert (perfect.slider.value, perfect.slider.max, perfect.play.max) == (1, 1, 1)
    perfect.next.click()                            # nothing to step through, nothing breaks
    perfect.previous.click()
    perfect.play.value = 1
    assert perfect.index is None
    perfect.mode.value = "all"
    assert (perfect.index, perfect.slider.max, perfect.play.max) == (3, 6, 6)   # same image
    assert shown(perfect) == (3, 4, 6, "images", 3, 1.0, 3, "right")
    assert not (perfect.slider.disabled or perfect.play.disabled or perfect.next.disabled)
    assert pictures(perfect)[1] == pb.digit_png(images[3])


def test_an_empty_cell_says_so(browser):
    browser.cells[2][3].click()
    assert empty_state(browser) == ("no images with true label 2, predicted 3: click another "
                                    "cell of the matrix")


def test_empty_state_prints_nothing(capsys):
    images, y, _ = small_set()
    perfect = pb.PredictionBrowser(images, y, npcore.one_hot(y))
    perfect.mode.value = "mistakes"
    perfect.next.click()
    perfect.mode.value = "all"
    assert capsys.readouterr() == ("", "")


def test_no_images_draws_nothing():
    browser = pb.PredictionBrowser(np.zeros((0, 28, 28), np.uint8), np.zeros(0, int),
                                   np.zeros((0, 10)))
    assert empty_state(browser) == "no images to show"
    browser.next.click()
    browser.mode.value = "mistakes"
    assert browser.index is None
    assert repr(browser).startswith("PredictionBrowser(0 images, 0 mistakes;")
    assert len(browser.static_figure([]).axes) == 0


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


def test_params_that_are_not_a_dict_are_refused_in_one_line():
    images = np.zeros((3, 28, 28), np.uint8)
    probabilities = np.full((3, 10), 0.1)
    with pytest.raises(ValueError, match=r"^params must be the dict \{W1, b1, W2, b2\} of a trained "
                                         r"network, got str$"):
        pb.PredictionBrowser(images, np.array([0, 1, 2]), probabilities, params="weights")
