"""The prediction browser of lesson 07: look at what a trained network says, image by image.

* ``show_prediction(index, X, y, params, ax=None)`` -- one image with its predicted and
  true label (the original script's ``show_prediction(index, X, Y, W1, b1, W2, b2)``, without its prints);
* ``PredictionBrowser(images, y, probabilities, params=None, other=None, names=("A", "B"))``
  -- an ipywidgets browser over the images: the image, its predicted and true label and the
  k class probabilities as bars; modes all / mistakes / one confusion cell (a clickable
  k x k confusion matrix, or true/predicted dropdowns), sorted by index or by confidence;
  with ``params`` the last hidden layer's activations and each unit's vote for the
  predicted class; with ``other`` (a second model's probabilities) the modes "fixed by B",
  "added by B", "both wrong" and both models' bars. A play button, previous/next buttons
  and a 1-based slider whose readout is the caption's number;
* ``PredictionBrowser.static_figure(indices)`` -- the same views as one matplotlib
  figure, for readers of a rendered notebook, where widgets do not run;
* the pure functions behind the browser: ``select(y, predictions, mode, true, predicted)``
  (which images a mode shows), ``order(probabilities, indices, by, descending)`` (index or
  confidence order), ``compare_mistakes(y, predictions_a, predictions_b)`` (fixed, added,
  both wrong), ``unit_votes(params, x)`` (hidden activations and votes).

Shapes: ``images`` (n, 28, 28) uint8 in 0..255, ``y`` (n,) int labels in 0..k-1,
``probabilities`` (n, k) rows summing to 1 (the network's A2). Nothing here prints. The
widget callbacks only set widget state (the HTML of the view, the controls' values,
colours), and draw with ``matplotlib.figure.Figure``, never pyplot, so they work the same
with or without a front end and leave no output behind.

Bad input is refused when it is given, with a ValueError naming the argument: labels that
are not integers, not one per image or outside the k classes; NaN or inf in X, params or
probabilities. Nothing to show (no images, "mistakes" when the network makes no mistake,
an empty confusion cell) is a state like any other: the caption says so, the pictures are
empty and the controls that cannot move are disabled, until there is something to show again.

The caption, the digit and the bars are one HTML widget's value (the PNGs inline), so they
change in one update and a page never shows one image's digit under another's caption.
"""
import base64
import html
import io
import operator
import re

import numpy as np
from matplotlib.figure import Figure

import npcore

ZOOM = 6                     # the 28x28 digit is shown as 168x168 pixels, each pixel a 6x6 block
PLAY_INTERVAL_MS = 600       # time per image when playing


# --------------------------------------------------------------------------- input checks
def _where(shape, position):
    """'in row 3' for a table (rows are samples), 'at [2]' or 'at [1, 2, 3]' otherwise."""
    if len(shape) == 2:
        return f"in row {position[0]}"
    return f"at [{', '.join(map(str, position))}]" if position else ""


def _refuse_nonfinite(name, a, hint):
    """ValueError naming ``name`` and its first NaN or inf entry, if a (numbers) holds one."""
    a = np.asarray(a)
    if a.dtype.kind not in "fc":          # integers and booleans are always finite
        return
    bad = ~np.isfinite(a)
    if bad.any():
        position = np.unravel_index(np.argmax(bad), a.shape)
        value = a[position]
        kind = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
        where = _where(a.shape, position)
        raise ValueError(f"{name} holds {kind}{' ' + where if where else ''} — {hint}")


def _check_labels(y, n, k, rows):
    """y as an (n,) integer array of labels in 0..k-1; ``rows`` says what the n rows are."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y (n,) must hold one label per {rows}: n = {n}, got shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"y must hold integer labels, got dtype {y.dtype} (use y.astype(int) "
                         f"if its values are whole numbers)")
    if n and (y.min() < 0 or y.max() >= k):
        bad = y[(y < 0) | (y >= k)][0]
        raise ValueError(f"y holds the label {bad}, outside the {k} classes 0..{k - 1}")
    return y


def _check_params(params):
    """The number of classes k of a params dict {W1, b1, ..., WL, bL} of finite numbers."""
    if not isinstance(params, dict) or not params:
        raise ValueError(f"params must be the dict {{W1, b1, W2, b2}} of a trained network, "
                         f"got {type(params).__name__}")
    for key, P in params.items():
        P = np.asarray(P)
        if P.dtype.kind not in "fiu":
            raise ValueError(f"params[{key!r}] must be an array of numbers, got dtype {P.dtype}")
        _refuse_nonfinite(f"params[{key!r}]", P, "training diverged: train again with a lower "
                                                  "learning rate, or load saved params")
    last = params.get(f"W{len(params) // 2}")
    if last is None or np.ndim(last) != 2:
        raise ValueError(f"params must hold W1, b1, ..., WL, bL with matrices W; got "
                         f"{sorted(params)}")
    return np.shape(last)[1]


def show_prediction(index, X, y, params, ax=None):
    """Draw image ``index`` of X (m, 784) with its predicted and true label.  Lesson 07

    y: (m,) labels; params: a trained {W1, b1, W2, b2}. Draws on ``ax`` (a new pyplot
    figure's axes when None) and returns the predicted label as an int. The title is
    green when the prediction is right, red when it is wrong. ValueError, naming the
    argument, for X not (m, 784) floats, NaN or inf in X or params, y not m integer
    labels of the network's classes, or index outside 0..m-1.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 784 or X.dtype.kind != "f":
        raise ValueError(f"X must be float images (m, 784), as npcore.preprocess gives them; "
                         f"got {X.dtype} {X.shape}")
    _refuse_nonfinite("X", X, "images are pixel values in [0, 1] (npcore.preprocess)")
    k = _check_params(params)
    y = _check_labels(y, len(X), k, "row of X")
    try:
        index = operator.index(index)
    except TypeError:
        raise ValueError(f"index must be an integer, got {type(index).__name__}") from None
    if not 0 <= index < len(X):
        raise ValueError(f"index {index} is outside 0..{len(X) - 1} (X has {len(X)} rows)")
    prediction = int(npcore.make_predictions(X[index:index + 1], params)[0])  # (1, 784) -> (1,)
    label = int(y[index])
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(2.5, 2.8))
    ax.imshow(X[index].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(f"#{index}: predicted {prediction}\ntrue label {label}",
                 color="tab:green" if prediction == label else "tab:red", fontsize=9)
    ax.set_axis_off()
    return prediction


def _png(draw, figsize, dpi=80, layout=None):
    """PNG bytes of a fresh matplotlib Figure drawn by ``draw(fig)`` (no pyplot, no version stamp)."""
    fig = Figure(figsize=figsize, dpi=dpi, layout=layout)
    draw(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def digit_png(image, zoom=ZOOM):
    """PNG bytes of one image (28, 28) uint8, enlarged to (28 zoom, 28 zoom) with sharp pixels."""
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (28, 28) in 0..255, got {image.dtype} {image.shape}")
    from PIL import Image

    big = np.kron(255 - image, np.ones((zoom, zoom), np.uint8))                # (28z, 28z), ink dark
    buffer = io.BytesIO()
    Image.fromarray(big, "L").save(buffer, format="png")       # Pillow: fast enough to redraw live
    return buffer.getvalue()


def draw_probabilities(ax, p, label):
    """Bars of one probability row p (k,) on ``ax``: the predicted class orange, the true class
    outlined and marked "true"; returns the predicted class."""
    p = np.asarray(p)
    k = len(p) if p.ndim == 1 else 0
    if k == 0:
        raise ValueError(f"p must be one row (k,) of probabilities with k >= 1, got shape {p.shape}")
    if not 0 <= operator.index(label) < k:
        raise ValueError(f"label {label} is outside the {k} classes 0..{k - 1}")
    prediction = int(np.argmax(p))
    colors = ["tab:orange" if j == prediction else "tab:blue" for j in range(k)]
    bars = ax.bar(np.arange(k), p, color=colors)
    bars[label].set_edgecolor("black")
    bars[label].set_linewidth(2)
    ax.annotate("true", (label, p[label]), xytext=(0, 2), textcoords="offset points",
                ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(k))
    ax.set_ylim(0, 1.12)
    ax.set_yticks([0, 0.5, 1])
    ax.set_xlabel("class", fontsize=8)
    ax.set_ylabel("probability", fontsize=8)
    ax.tick_params(labelsize=8)
    return prediction


# --------------------------------------------------------------------------- what to show
MODES = ("all", "mistakes", "cell")                   # select's modes
COMPARE_MODES = ("fixed", "added", "both wrong")      # compare_mistakes' keys
SORTS = {"index": ("index", False),                   # the browser's sort choices:
         "most confident": ("confidence", True),      # name -> order(by=..., descending=...)
         "least confident": ("confidence", False)}


def _check_predictions(predictions, n, name):
    predictions = np.asarray(predictions)
    if predictions.ndim != 1 or len(predictions) != n or predictions.dtype.kind not in "iu":
        raise ValueError(f"{name} must be (n,) integer labels, one per label of y: n = {n}, got "
                         f"{predictions.dtype} {predictions.shape}")
    return predictions


def _check_class(value, name, k):
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a class 0..{k - 1}, got {value!r}") from None
    if not 0 <= value < k:
        raise ValueError(f"{name} must be a class 0..{k - 1}, got {value}")
    return value


def select(y, predictions, mode="all", true=None, predicted=None, k=10):
    """Indices (ascending, int64) of the images a mode shows.  Lesson 07

    y (n,) true labels, predictions (n,) predicted labels, both ints in 0..k-1.
    mode "all": every image (n,); "mistakes": predictions != y; "cell": the images of one
    confusion-matrix cell, y == ``true`` and predictions == ``predicted`` (both required,
    classes 0..k-1; true == predicted is a diagonal cell, the right answers of that class).
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"y must be (n,) integer labels, got {y.dtype} {y.shape}")
    predictions = _check_predictions(predictions, len(y), "predictions")
    if mode == "all":
        return np.arange(len(y))
    if mode == "mistakes":
        return np.flatnonzero(predictions != y)
    if mode == "cell":
        if true is None or predicted is None:
            raise ValueError("mode 'cell' needs true= and predicted=, the confusion-matrix cell")
        true, predicted = _check_class(true, "true", k), _check_class(predicted, "predicted", k)
        return np.flatnonzero((y == true) & (predictions == predicted))
    raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")


def order(probabilities, indices, by="confidence", descending=True):
    """The ``indices`` (m,) reordered: by="confidence" sorts by the probability of the predicted
    class, max over row i of probabilities (n, k) -- most confident first when ``descending``,
    least confident first otherwise; by="index" sorts by the index itself. Ties keep index
    order (a stable sort), so the result is deterministic. Returns a new int64 array (m,).

    For mistakes, ``descending=True`` puts the most confident mistakes first: the ones the
    network is surest of and still gets wrong.
    """
    probabilities = np.asarray(probabilities)
    indices = np.asarray(indices)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be (n, k), got shape {probabilities.shape}")
    if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
        raise ValueError(f"indices must be (m,) integers, got {indices.dtype} {indices.shape}")
    indices = indices.astype(np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= len(probabilities)):
        raise ValueError(f"indices must lie in 0..{len(probabilities) - 1}")
    if by == "index":
        keys = indices
    elif by == "confidence":
        keys = probabilities[indices].max(axis=1) if indices.size else indices   # (m,)
    else:
        raise ValueError(f"by must be 'confidence' or 'index', got {by!r}")
    if descending:
        # Largest key first, ties by increasing index: sort by (-key, index).
        return indices[np.lexsort((indices, -keys.astype(np.float64)))]
    return indices[np.lexsort((indices, keys))]


def compare_mistakes(y, predictions_a, predictions_b):
    """Which mistakes model B fixes and which it adds, against model A.  Lesson 12

    y, predictions_a, predictions_b: (n,) integer labels. Returns a dict of ascending
    int64 index arrays: "fixed" (A wrong, B right), "added" (A right, B wrong), "both
    wrong" (A and B wrong, whether or not they say the same class). So B's mistakes number
    A's, minus len(fixed), plus len(added).
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"y must be (n,) integer labels, got {y.dtype} {y.shape}")
    a = _check_predictions(predictions_a, len(y), "predictions_a")
    b = _check_predictions(predictions_b, len(y), "predictions_b")
    wrong_a, wrong_b = a != y, b != y
    return {"fixed": np.flatnonzero(wrong_a & ~wrong_b),
            "added": np.flatnonzero(~wrong_a & wrong_b),
            "both wrong": np.flatnonzero(wrong_a & wrong_b)}


def unit_votes(params, x):
    """The last hidden layer's activations and each unit's vote, for one image.  Lesson 07

    params: an MLP {W1, b1, ..., WL, bL} with L >= 2 (at least one hidden layer);
    x: (784,) or (1, 784) floats in [0, 1] (npcore.preprocess). Returns
    (a, votes, bias): a (h,) = A{L-1}, the activations of the last hidden layer (h units);
    votes (h, k) = a[:, None] * W{L}, unit u's contribution to class j's score; bias (k,)
    = b{L}. So Z{L} = votes.sum(axis=0) + bias, the scores softmax turns into probabilities.
    """
    sizes = npcore.layer_sizes(params)
    if len(sizes) < 3:
        raise ValueError(f"params must have a hidden layer (W1, b1, W2, b2 at least) for unit "
                         f"votes, got layer sizes {sizes}")
    x = np.asarray(x).reshape(1, -1)                                           # (1, d)
    L = len(sizes) - 1
    cache = npcore.forward_propagation(x, params)
    a = cache[f"A{L - 1}"][0]                                                  # (h,)
    W = np.asarray(params[f"W{L}"])                                            # (h, k)
    return a, a[:, None] * W, np.asarray(params[f"b{L}"])


def draw_votes(ax_units, ax_votes, a, votes, j, layer, top=5):
    """Bars of the hidden activations a (h,) on ``ax_units``, and on ``ax_votes`` the ``top``
    largest positive and negative votes votes[:, j] (h, k) for class j, one bar per unit."""
    h, L = len(a), layer + 1
    ax_units.bar(np.arange(h), a, color="tab:gray", width=0.8 if h <= 64 else 1.0)
    ax_units.set_title(f"hidden layer {layer}: A{layer}[u], u = 0..{h - 1}", fontsize=8)
    ax_units.set_xlabel("unit u", fontsize=8)
    ax_units.tick_params(labelsize=7)
    v = votes[:, j]                                                            # (h,)
    positive = [u for u in np.argsort(-v, kind="stable")[:top] if v[u] > 0]
    negative = [u for u in np.argsort(v, kind="stable")[:top] if v[u] < 0][::-1]
    units = positive + negative                                                # largest first
    rows = np.arange(len(units))[::-1]
    ax_votes.barh(rows, v[units], color=["tab:green" if v[u] > 0 else "tab:red" for u in units])
    ax_votes.set_yticks(rows, [f"unit {u}" for u in units])
    ax_votes.axvline(0, color="black", linewidth=0.6)
    ax_votes.set_title(f"votes for {j}: A{layer}[u]·W{L}[u, {j}]", fontsize=8)
    ax_votes.tick_params(labelsize=7)


class PredictionBrowser:
    """Browse images with a network's predictions in Jupyter (ipywidgets 8).  Lesson 07

    images (n, 28, 28) uint8; y (n,) int labels in 0..k-1; probabilities (n, k) in [0, 1],
    rows summing to 1 (the network's A2). Optional:

    * params: the MLP {W1, b1, ..., WL, bL} that gave ``probabilities`` (checked: its own
      probabilities on the images must agree within 1e-3). Each image then also shows the
      last hidden layer's activations and the largest votes a[u] W[u, j] for the predicted
      class j, positive and negative;
    * other: (n, k) probabilities of a second model on the same images, and ``names``
      (two short strings, default ("A", "B")): modes "fixed by B" (A wrong, B right),
      "added by B" (A right, B wrong) and "both wrong" appear, and both models' bars are shown.

    ``browser.widget`` is the VBox to display (or display ``browser``). Its parts, for tests
    and tinkering: ``mode`` (ToggleButtons: "all", "mistakes", "cell", and with ``other``
    "fixed", "added", "both wrong"), ``sort`` (ToggleButtons: "index", "most confident",
    "least confident"), ``true`` and ``predicted`` (Dropdowns: the confusion cell),
    ``cells`` (k x k Buttons of the clickable confusion matrix of the first model, in
    ``matrix``), ``slider`` (1-based position among the images shown, the number the
    caption gives), ``play`` (Play, linked to the slider), ``previous``/``next``,
    ``view`` (one HTML widget: caption, digit and bars, so all three change in one update).
    ``shown`` is the array of indices the slider runs over, in order; ``index`` the image
    shown now (None when nothing is). Nothing prints; callbacks only set widget state.
    """

    def __init__(self, images, y, probabilities, params=None, other=None, names=("A", "B")):
        import ipywidgets as widgets

        images = np.asarray(images)
        if images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (n, 28, 28), got {images.dtype} {images.shape}")
        n = len(images)
        probabilities = _check_probabilities("probabilities", probabilities, n)
        k = probabilities.shape[1]
        y = _check_labels(y, n, k, "image")
        self.images, self.y, self.probabilities = images, y, probabilities
        self.k = k
        self.predictions = npcore.get_predictions(probabilities)                 # (n,)
        self.mistakes = np.flatnonzero(self.predictions != y)                    # (n_mistakes,)
        self.other = None
        self.names = ("A", "B")
        if other is not None:
            other = _check_probabilities("other", other, n)
            if other.shape != probabilities.shape:
                raise ValueError(f"other must have the shape of probabilities {probabilities.shape}, "
                                 f"got {other.shape}")
            if (not isinstance(names, (tuple, list)) or len(names) != 2
                    or not all(isinstance(s, str) and s.strip() for s in names)):
                raise ValueError(f"names must be two non-empty strings (first model, other), "
                                 f"got {names!r}")
            self.other, self.names = other, tuple(names)
            self.other_predictions = npcore.get_predictions(other)               # (n,)
            self.comparison = compare_mistakes(y, self.predictions, self.other_predictions)
        self.params = params
        if params is not None:
            self._check_params_match(params)
        self.confusion = npcore.confusion_matrix(y, self.predictions, k) if n else \
            np.zeros((k, k), np.int64)                                           # (k, k)
        self._build(widgets)
        self._refilter(anchor=0)

    def _check_params_match(self, params):
        _check_params(params)                       # first: it names a non-dict in one line
        sizes = npcore.layer_sizes(params)
        if len(sizes) < 3 or sizes[0] != 784 or sizes[-1] != self.k:
            raise ValueError(f"params must be an MLP 784 -> ... -> {self.k} with a hidden layer, "
                             f"got layer sizes {sizes}")
        if len(self.images):
            mine = npcore.predict_proba(npcore.preprocess(self.images), params)  # (n, k)
            gap = float(np.abs(mine - self.probabilities).max())
            if gap > 1e-3:
                raise ValueError(f"params do not give these probabilities (they differ by up to "
                                 f"{gap:.3g}): pass the params of the network that made them")

    # ----------------------------------------------------------------- widgets
    def _build(self, widgets):
        n, k, B = len(self.images), self.k, self.names[1]
        mode_options = [(f"all images ({n})", "all"), (f"mistakes ({len(self.mistakes)})", "mistakes"),
                        ("one confusion cell", "cell")]
        mode_tips = ["every image", "the images the network gets wrong",
                     "the images of one cell of the confusion matrix: click it, or choose "
                     "the true and predicted class"]
        if self.other is not None:
            mode_options += [(f"fixed by {B} ({len(self.comparison['fixed'])})", "fixed"),
                             (f"added by {B} ({len(self.comparison['added'])})", "added"),
                             (f"both wrong ({len(self.comparison['both wrong'])})", "both wrong")]
            mode_tips += [f"{self.names[0]} wrong, {B} right", f"{self.names[0]} right, {B} wrong",
                          f"{self.names[0]} and {B} both wrong"]
        auto = widgets.Layout(width="auto")
        self.mode = widgets.ToggleButtons(options=mode_options, value="all", tooltips=mode_tips,
                                          style={"button_width": "auto"}, layout=auto)
        self.sort = widgets.ToggleButtons(
            options=[("index order", "index"), ("most confident first", "most confident"),
                     ("least confident first", "least confident")], value="index",
            tooltips=["in the order of the data set",
                      "by the probability of the predicted class, highest first",
                      "by the probability of the predicted class, lowest first"],
            style={"button_width": "auto"}, layout=auto)
        # The initial cell: the largest off-diagonal count (the commonest confusion).
        off = self.confusion - np.diag(np.diag(self.confusion))
        t0, p0 = divmod(int(np.argmax(off)), k) if off.any() else (0, 0)
        narrow = widgets.Layout(width="auto")
        self.true = widgets.Dropdown(options=list(range(k)), value=t0, description="true",
                                     style={"description_width": "initial"}, layout=narrow,
                                     tooltip="the true class of the confusion cell")
        self.predicted = widgets.Dropdown(options=list(range(k)), value=p0,
                                          description="predicted",
                                          style={"description_width": "initial"}, layout=narrow,
                                          tooltip="the predicted class of the confusion cell")
        self.slider = widgets.IntSlider(value=1, min=1, max=max(n, 1), description="image",
                                        continuous_update=True, layout=widgets.Layout(width="380px"),
                                        style={"description_width": "initial"},
                                        tooltip="position among the images shown (1-based)")
        self.play = widgets.Play(value=1, min=1, max=max(n, 1), interval=PLAY_INTERVAL_MS,
                                 tooltip=f"play: the next image every {PLAY_INTERVAL_MS / 1000:g} s "
                                         f"(pause, stop, repeat)")
        # Not linked: the kernel renders first and then moves the other control, so that
        # while playing the caption never trails the slider's readout.
        self.previous = widgets.Button(description="◀", tooltip="previous image",
                                       layout=widgets.Layout(width="40px"))
        self.next = widgets.Button(description="▶", tooltip="next image",
                                   layout=widgets.Layout(width="40px"))
        self.view = widgets.HTML()
        # The confusion matrix: a header row of predicted classes, then one row per true class.
        cell_layout = widgets.Layout(width="44px", height="24px", padding="0px", margin="1px")
        head = widgets.Layout(width="44px", height="24px", margin="1px")
        self.cells = [[widgets.Button(description=str(self.confusion[t, p]),
                                      tooltip=f"true {t}, predicted {p}: {self.confusion[t, p]} "
                                              f"images", layout=cell_layout)
                       for p in range(k)] for t in range(k)]
        items = [widgets.HTML("<b>true\\pred</b>", layout=widgets.Layout(width="auto"))]
        items += [widgets.HTML(f'<b style="display:block;text-align:center">{p}</b>', layout=head)
                  for p in range(k)]
        for t in range(k):
            items.append(widgets.HTML(f"<b>{t}</b>", layout=widgets.Layout(width="auto")))
            for p in range(k):
                cell = self.cells[t][p]
                cell.add_class(f"pb-cell-{t}-{p}")
                cell.add_class("pb-cell")
                if t == p:
                    cell.add_class("pb-diagonal")
                cell.on_click(lambda _, t=t, p=p: self.choose_cell(t, p))
                self._paint(t, p, selected=False)
                items.append(cell)
        grid = widgets.GridBox(items, layout=widgets.Layout(
            grid_template_columns=f"max-content repeat({k}, 46px)", grid_gap="0px",
            width="max-content"))
        title = widgets.HTML(f"<b>confusion matrix{' of ' + self.names[0] if self.other is not None else ''}"
                             f"</b>: rows true, columns predicted; click a cell")
        self.matrix = widgets.VBox([title, grid])
        for part, name in [(self.slider, "slider"), (self.play, "play"), (self.view, "view"),
                           (self.mode, "mode"), (self.sort, "sort"), (self.true, "true"),
                           (self.predicted, "predicted"), (self.previous, "previous"),
                           (self.next, "next"), (self.matrix, "matrix")]:
            part.add_class(f"pb-{name}")           # stable hooks for the browser test and CSS

        self.slider.observe(self._on_position, names="value")
        self.play.observe(self._on_position, names="value")
        self.mode.observe(self._on_filter, names="value")
        self.sort.observe(self._on_filter, names="value")
        self.true.observe(self._on_pair, names="value")
        self.predicted.observe(self._on_pair, names="value")
        self.previous.on_click(lambda _: self.step(-1))
        self.next.on_click(lambda _: self.step(+1))
        wrap = widgets.Layout(flex_flow="row wrap", align_items="center")
        self.widget = widgets.VBox([
            widgets.HBox([self.mode], layout=wrap),
            widgets.HBox([self.sort, self.true, self.predicted], layout=wrap),
            widgets.HBox([self.play, self.previous, self.slider, self.next], layout=wrap),
            widgets.HBox([self.view, self.matrix],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start",
                                               grid_gap="16px")),
        ])
        self.widget.add_class("prediction-browser")

    def _paint(self, t, p, selected):
        """The colour of cell (t, p): yellow when selected, green on the diagonal, red by count."""
        count, cell = self.confusion[t, p], self.cells[t][p]
        if selected:
            color = "#ffd54f"
        elif t == p:
            color = "#c8e6c9"
        elif count:
            share = min(1.0, count / max(1, self.confusion.sum() / self.k ** 2 * 4))
            color = f"#{255:02x}{int(235 - 100 * share):02x}{int(235 - 100 * share):02x}"
        else:
            color = "#f5f5f5"
        cell.style.button_color = color
        cell.style.font_weight = "bold" if selected or t == p else "normal"

    # ----------------------------------------------------------------- state
    @property
    def index(self):
        """The index (into images) of the image shown now; None when nothing is shown."""
        if len(self.shown) == 0:
            return None
        return int(self.shown[self._position - 1])

    @property
    def cell(self):
        """The chosen confusion cell (true, predicted), as the dropdowns show it."""
        return int(self.true.value), int(self.predicted.value)

    def indices(self, mode=None, sort=None):
        """The indices (m,) a mode and sort show (default: the current ones), in order."""
        mode = self.mode.value if mode is None else mode
        sort = self.sort.value if sort is None else sort
        if mode in COMPARE_MODES:
            if self.other is None:
                raise ValueError(f"mode {mode!r} compares two models: pass other=")
            chosen = self.comparison[mode]
        else:
            chosen = select(self.y, self.predictions, mode, *self.cell, k=self.k) \
                if mode == "cell" else select(self.y, self.predictions, mode)
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(map(repr, SORTS))}, got {sort!r}")
        by, descending = SORTS[sort]
        # In a comparison, confidence is that of the model that errs ("added": the other).
        probabilities = self.other if mode == "added" else self.probabilities
        return order(probabilities, chosen, by=by, descending=descending)

    def choose_cell(self, true, predicted):
        """Show the images of confusion cell (true, predicted): what clicking the cell does."""
        true, predicted = _check_class(true, "true", self.k), _check_class(predicted, "predicted", self.k)
        self._quiet = True
        try:
            self.true.value, self.predicted.value = true, predicted
        finally:
            self._quiet = False
        if self.mode.value == "cell":
            self._refilter()
        else:
            self.mode.value = "cell"               # its observer refilters

    def step(self, delta):
        """Move the slider by ``delta`` positions, stopping at its ends."""
        self.slider.value = int(np.clip(self.slider.value + delta, 1, self.slider.max))

    _quiet = False           # True while choose_cell sets both dropdowns
    _anchor = 0              # the image shown last: a mode or sort change stays near it

    _position = 1            # the position shown (1-based), what slider and play are set to

    def _on_position(self, change):
        """The slider or the play button moved: render, then move the other one there."""
        self._position = min(max(int(change["new"]), 1), max(len(self.shown), 1))
        self._render()
        self._set_controls(self._position)

    def _set_controls(self, position, last=None):
        """Set slider and play to ``position`` (and their max to ``last``) without rendering."""
        for control in (self.slider, self.play):
            control.unobserve(self._on_position, names="value")
        try:
            for control in (self.slider, self.play):
                with control.hold_sync():      # grow max before raising value, lower value before max
                    if last is not None and last >= control.max:
                        control.max = last
                        control.value = position
                    else:
                        control.value = position
                        if last is not None:
                            control.max = last
        finally:
            for control in (self.slider, self.play):
                control.observe(self._on_position, names="value")

    def _on_filter(self, change):
        self._refilter()

    def _on_pair(self, change):
        if self._quiet:
            return
        if self.mode.value == "cell":
            self._refilter()
        else:
            self.mode.value = "cell"

    def _refilter(self, anchor=None):
        """Recompute ``shown`` for the mode and sort, keep the image shown if it is still
        among them (else, in index order, the first one after it; else the first), render."""
        if anchor is None:                     # the image shown last (also while none is shown)
            anchor = self._anchor
        self.shown = self.indices()
        for t in range(self.k):
            for p in range(self.k):
                self._paint(t, p, selected=self.mode.value == "cell" and (t, p) == self.cell)
        last = max(len(self.shown), 1)
        hits = np.flatnonzero(self.shown == anchor) if anchor is not None else []
        if len(hits):
            position = int(hits[0]) + 1
        elif anchor is not None and self.sort.value == "index":
            position = min(int(np.searchsorted(self.shown, anchor)), last - 1) + 1
        else:
            position = 1
        self._position = position
        self._render()                         # the caption first, then the controls
        self._set_controls(position, last)
        self.slider.description = "mistake" if self.mode.value == "mistakes" else "image"

    # ----------------------------------------------------------------- drawing
    def _what(self):
        """What the slider runs over, in words: 'mistakes', 'with true label 4, predicted 9'."""
        mode, (t, p) = self.mode.value, self.cell
        if mode == "all":
            return "images"
        if mode == "mistakes":
            return "mistakes"
        if mode == "cell":
            return f"with true label {t}, predicted {p}"
        if mode == "both wrong":
            return f"wrong for {self.names[0]} and {self.names[1]}"
        return f"{mode} by {self.names[1]}"

    def _empty_message(self):
        mode = self.mode.value
        if len(self.images) == 0:
            return "no images to show"
        if mode == "mistakes":
            return (f"no mistakes to show: the network classifies all {len(self.images)} images "
                    f"correctly — choose “all images” to browse them")
        if mode == "cell":
            return f"no images {self._what()}: click another cell of the matrix"
        return f"no images {self._what()}: choose another mode"

    def caption_text(self):
        """The caption as plain text (what the reader sees above the pictures)."""
        return html.unescape(re.sub(r"<[^>]+>", "", self._caption_html()))

    def _caption_html(self):
        if len(self.shown) == 0:
            return f'<span class="pb-empty">{html.escape(self._empty_message())}</span>'
        i, position = self.index, self._position
        label = int(self.y[i])
        order_words = {"index": "", "most confident": ", most confident first",
                       "least confident": ", least confident first"}[self.sort.value]
        where = f"{position} of {len(self.shown)} {self._what()}{order_words}"

        def verdict(prediction):
            return ('<span style="color:#2a7d2a">right</span>' if prediction == label
                    else '<span style="color:#c0392b">wrong</span>')

        said = []
        models = [(self.names[0], self.probabilities, self.predictions)]
        if self.other is not None:
            models.append((self.names[1], self.other, self.other_predictions))
        for name, P, predictions in models:
            c = int(predictions[i])
            who = f"{html.escape(name)} " if self.other is not None else ""
            said.append(f'{who}predicted <b class="pb-predicted">{c}</b> with probability '
                        f'{P[i, c]:.3f}')
        if self.other is None:
            tail = f', true label <b class="pb-label">{label}</b>, {verdict(int(self.predictions[i]))}'
            return f'<span class="pb-index">image {i}</span> ({html.escape(where)}): {said[0]}{tail}'
        return (f'<span class="pb-index">image {i}</span> ({html.escape(where)}): '
                f'{said[0]} ({verdict(int(self.predictions[i]))}), '
                f'{said[1]} ({verdict(int(self.other_predictions[i]))}), '
                f'true label <b class="pb-label">{label}</b>')

    def bars_png(self, i):
        """PNG bytes of image i's panels: the class probabilities (both models' with other=),
        and with params= the hidden activations and the largest votes for the predicted class."""
        label = int(self.y[i])
        models = [(self.names[0], self.probabilities)]
        if self.other is not None:
            models.append((self.names[1], self.other))
        rows = 2 if self.params is not None else 1
        columns = max(len(models), rows)

        def draw(fig):               # fixed margins: a layout engine would double the time
            width, height = fig.get_size_inches()
            grid = fig.add_gridspec(rows, columns, left=0.55 / width, right=1 - 0.1 / width,
                                    bottom=0.4 / height, top=1 - 0.25 / height, wspace=0.4,
                                    hspace=0.55)
            for c, (name, P) in enumerate(models):
                ax = fig.add_subplot(grid[0, c])
                draw_probabilities(ax, P[i], label)
                if self.other is not None:
                    ax.set_title(name, fontsize=8)
            if self.params is not None:
                a, votes, _ = unit_votes(self.params, npcore.preprocess(self.images[i:i + 1]))
                layer = len(self.params) // 2 - 1
                draw_votes(fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1]), a, votes,
                           int(self.predictions[i]), layer)
        return _png(draw, figsize=(3.0 * columns, 2.2 * rows), dpi=80)

    def _render(self):
        empty = len(self.shown) == 0
        for control in (self.slider, self.play, self.previous, self.next):
            control.disabled = empty
        if empty:                              # draw nothing, say why
            self.play.playing = False
            self.view.value = f'<div class="pb-caption">{self._caption_html()}</div>'
            return
        i = self._anchor = self.index
        digit = base64.b64encode(digit_png(self.images[i])).decode("ascii")
        bars = base64.b64encode(self.bars_png(i)).decode("ascii")
        size = 28 * ZOOM
        # One value, one message: the caption, the digit and the bars change together.
        self.view.value = (
            f'<div class="pb-caption" data-index="{i}">{self._caption_html()}</div>'
            f'<div class="pb-pictures" style="display:flex;flex-wrap:wrap;align-items:flex-start;'
            f'gap:8px"><img class="pb-digit" data-index="{i}" alt="image {i}" width="{size}" '
            f'height="{size}" src="data:image/png;base64,{digit}">'
            f'<img class="pb-bars" data-index="{i}" alt="the probabilities of image {i}" '
            f'style="max-width:100%" src="data:image/png;base64,{bars}"></div>')

    def static_figure(self, indices, columns=None):
        """A matplotlib Figure of the images ``indices`` with their probability bars, two rows
        per row of images: for readers of a rendered notebook, where the widget cannot run.
        With ``other``, each image's bars show both models (the first solid, the other
        outlined) and the title both predictions.

        indices: integers in 0..n-1; columns: images per row, a positive int (default: all
        in one row). No indices give an empty figure (no axes): nothing to draw.
        """
        try:
            indices = [operator.index(i) for i in indices]
        except TypeError:
            raise ValueError(f"indices must be integers in 0..{len(self.images) - 1}, "
                             f"got {indices!r}") from None
        outside = [i for i in indices if not 0 <= i < len(self.images)]
        if outside:
            raise ValueError(f"indices must lie in 0..{len(self.images) - 1}, got {outside[0]}")
        if columns is None:
            columns = max(len(indices), 1)
        elif isinstance(columns, bool) or not isinstance(columns, (int, np.integer)) or columns < 1:
            raise ValueError(f"columns must be a positive integer, got {columns!r}")
        if not indices:
            return Figure(figsize=(2.1, 0.5))
        rows = -(-len(indices) // columns)
        fig = Figure(figsize=(2.1 * columns, 3.6 * rows), layout="constrained")
        grid = fig.add_gridspec(2 * rows, columns, height_ratios=[1.3, 1] * rows)
        for n, i in enumerate(indices):
            r, c = divmod(n, columns)
            ax = fig.add_subplot(grid[2 * r, c])
            ax.imshow(self.images[i], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
            right = self.predictions[i] == self.y[i]
            if self.other is None:
                ax.set_title(f"#{i}: predicted {self.predictions[i]}, true {self.y[i]}",
                             fontsize=8, color="tab:green" if right else "tab:red")
            else:
                ax.set_title(f"#{i}: true {self.y[i]}\n{self.names[0]} {self.predictions[i]}, "
                             f"{self.names[1]} {self.other_predictions[i]}", fontsize=8)
            ax.set_axis_off()
            bar_ax = fig.add_subplot(grid[2 * r + 1, c])
            draw_probabilities(bar_ax, self.probabilities[i], int(self.y[i]))
            if self.other is not None:
                bar_ax.bar(np.arange(self.k), self.other[i], fill=False, edgecolor="tab:purple",
                           linewidth=1.2, label=self.names[1])
                bar_ax.legend(fontsize=6, loc="upper left", frameon=False)
            if c:
                bar_ax.set_ylabel("")
        return fig

    def __repr__(self):
        n, k = len(self.images), self.k
        parts = [f"{n} images, {len(self.mistakes)} mistakes",
                 "show all / mistakes / one confusion cell"]
        if self.other is not None:
            B = self.names[1]
            c = self.comparison
            wrong_b = int((self.other_predictions != self.y).sum())
            parts[0] = f"{n} images; {self.names[0]} {len(self.mistakes)} mistakes, {B} {wrong_b}"
            parts.append(f"fixed by {B} ({len(c['fixed'])}) / added by {B} ({len(c['added'])}) / "
                         f"both wrong ({len(c['both wrong'])})")
        parts += [f"a clickable {k}x{k} confusion matrix", "sort by index or confidence"]
        if self.params is not None:
            parts.append("hidden units and their votes")
        parts.append("a slider with play and step buttons")
        return f"PredictionBrowser({'; '.join(parts)})"

    def _repr_mimebundle_(self, **kwargs):
        """Display as the widget, with a fixed text form (its counts and options, no timing)."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)
        return bundle


def _check_probabilities(name, probabilities, n):
    """probabilities (n, k) as an array: finite numbers in [0, 1], one row per image."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2 or len(probabilities) != n or probabilities.shape[1] == 0:
        raise ValueError(f"{name} (n, k) must hold one row of k >= 1 class "
                         f"probabilities per image: n = {n}, got shape {probabilities.shape}")
    if probabilities.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be numbers, got dtype {probabilities.dtype}")
    _refuse_nonfinite(name, probabilities,
                      "A2 of a network whose training diverged? train again with a lower "
                      "learning rate")
    if n and (probabilities.min() < 0 or probabilities.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1], got values from "
                         f"{probabilities.min():.3g} to {probabilities.max():.3g} — pass "
                         f"A2 = softmax(Z2), not the logits Z2")
    return probabilities
