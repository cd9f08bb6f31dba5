"""The prediction browser of lesson 07: look at what a trained network says, image by image.

* ``show_prediction(index, X, y, params, ax=None)`` -- one image with its predicted and
  true label (the original script's ``show_prediction(index, X, Y, W1, b1, W2, b2)``, without its prints);
* ``PredictionBrowser(images, y, probabilities)`` -- an ipywidgets slider over all images
  showing the image, its predicted and true label and the k class probabilities as bars,
  with a "mistakes only" toggle, a play button and previous/next buttons;
* ``PredictionBrowser.static_figure(indices)`` -- the same views as one matplotlib
  figure, for readers of a rendered notebook, where widgets do not run.

Shapes: ``images`` (n, 28, 28) uint8 in 0..255, ``y`` (n,) int labels in 0..k-1,
``probabilities`` (n, k) rows summing to 1 (the network's A2). Nothing here prints. The
widget callbacks only set widget state (PNG bytes of ``Image`` widgets, the HTML of a
caption), and draw with ``matplotlib.figure.Figure``, never pyplot, so they work the same
with or without a front end and leave no output behind.

Bad input is refused when it is given, with a ValueError naming the argument: labels that
are not integers, not one per image or outside the k classes; NaN or inf in X, params or
probabilities. Nothing to show (no images, or "mistakes only" when the network makes no
mistake) is a state like any other: the caption says so, the pictures are empty and the
controls that cannot move are disabled, until there is something to show again.
"""
import html
import io
import operator

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
    big = np.kron(image, np.ones((zoom, zoom), np.uint8))                      # (28z, 28z)
    height, width = big.shape
    dpi = 100
    return _png(lambda fig: fig.figimage(big, cmap="gray_r", vmin=0, vmax=255),
                figsize=(width / dpi, height / dpi), dpi=dpi)


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


class PredictionBrowser:
    """Browse images with the network's predictions in Jupyter (ipywidgets 8).  Lesson 07

    images (n, 28, 28) uint8, y (n,) int labels in 0..k-1, probabilities (n, k) floats in
    [0, 1]. ``browser.widget`` is the VBox to display (or just display ``browser``). Parts,
    for tests and for tinkering: ``slider`` (position in the images shown), ``mistakes_only``
    (ToggleButton: step through misclassified images only), ``play`` (Play, linked to the
    slider), ``previous``/``next`` (Buttons), ``image`` (Image of the digit), ``caption``
    (HTML), ``bars`` (Image of the k probabilities). ``index`` is the image shown now, None
    when there is nothing to show (n = 0, or "mistakes only" without mistakes): then the
    caption says why, both pictures are empty and the slider, play and step buttons are
    disabled; the toggle stays usable while it is on, so it can always be switched back.
    """

    def __init__(self, images, y, probabilities):
        import ipywidgets as widgets

        images, probabilities = np.asarray(images), np.asarray(probabilities)
        if images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (n, 28, 28), got {images.dtype} {images.shape}")
        n = len(images)
        if probabilities.ndim != 2 or len(probabilities) != n or probabilities.shape[1] == 0:
            raise ValueError(f"probabilities (n, k) must hold one row of k >= 1 class "
                             f"probabilities per image: n = {n}, got shape {probabilities.shape}")
        if probabilities.dtype.kind not in "fiu":
            raise ValueError(f"probabilities must be numbers, got dtype {probabilities.dtype}")
        _refuse_nonfinite("probabilities", probabilities,
                          "A2 of a network whose training diverged? train again with a lower "
                          "learning rate")
        if n and (probabilities.min() < 0 or probabilities.max() > 1):
            raise ValueError(f"probabilities must lie in [0, 1], got values from "
                             f"{probabilities.min():.3g} to {probabilities.max():.3g} — pass "
                             f"A2 = softmax(Z2), not the logits Z2")
        y = _check_labels(y, n, probabilities.shape[1], "image")
        self.images, self.y, self.probabilities = images, y, probabilities
        self.predictions = npcore.get_predictions(probabilities)                 # (n,)
        self.mistakes = np.flatnonzero(self.predictions != y)                    # (n_mistakes,)
        self._all = np.arange(n)                                                 # (n,)
        self._shown = self._all          # the indices the slider runs over, in order
        self._anchor = 0                 # the image shown last: a mode switch stays near it

        last = max(n - 1, 0)             # a slider needs max >= min even with nothing to show
        self.slider = widgets.IntSlider(value=0, min=0, max=last, description="image",
                                        continuous_update=True,
                                        layout=widgets.Layout(width="420px"))
        self.play = widgets.Play(value=0, min=0, max=last, interval=PLAY_INTERVAL_MS,
                                 description="play")
        widgets.link((self.play, "value"), (self.slider, "value"))
        widgets.link((self.play, "max"), (self.slider, "max"))
        self.previous = widgets.Button(description="◀", tooltip="previous image",
                                       layout=widgets.Layout(width="40px"))
        self.next = widgets.Button(description="▶", tooltip="next image",
                                   layout=widgets.Layout(width="40px"))
        self.mistakes_only = widgets.ToggleButton(
            value=False, description=f"mistakes only ({len(self.mistakes)})",
            tooltip="step through the misclassified images only",
            disabled=len(self.mistakes) == 0, layout=widgets.Layout(width="170px"))
        self.image = widgets.Image(format="png", width=28 * ZOOM, height=28 * ZOOM)
        self.bars = widgets.Image(format="png")
        self.caption = widgets.HTML()
        for part, name in [(self.slider, "slider"), (self.play, "play"), (self.image, "digit"),
                           (self.bars, "bars"), (self.caption, "caption"),
                           (self.mistakes_only, "mistakes"), (self.previous, "previous"),
                           (self.next, "next")]:
            part.add_class(f"pb-{name}")           # stable hooks for the browser test and CSS

        self.slider.observe(self._on_position, names="value")
        self.mistakes_only.observe(self._on_mode, names="value")
        self.previous.on_click(lambda _: self.step(-1))
        self.next.on_click(lambda _: self.step(+1))
        self.widget = widgets.VBox([
            widgets.HBox([self.play, self.previous, self.slider, self.next, self.mistakes_only]),
            self.caption,
            widgets.HBox([self.image, self.bars]),
        ])
        self.widget.add_class("prediction-browser")
        self._render()

    # ----------------------------------------------------------------- state
    @property
    def index(self):
        """The index (into images) of the image shown now; None when nothing is shown."""
        if len(self._shown) == 0:
            return None
        return int(self._shown[self.slider.value])

    def step(self, delta):
        """Move the slider by ``delta`` positions, stopping at its ends."""
        self.slider.value = int(np.clip(self.slider.value + delta, 0, self.slider.max))

    def _on_position(self, change):
        self._render()

    def _on_mode(self, change):
        self._shown = self.mistakes if change["new"] else self._all
        last = max(len(self._shown) - 1, 0)
        # Stay near the image shown last: the first shown image at or after it (else the last).
        position = min(int(np.searchsorted(self._shown, self._anchor)), last)
        self.slider.unobserve(self._on_position, names="value")
        try:                                   # grow max before raising value, lower value before max
            if last >= self.slider.max:
                self.slider.max = last
                self.slider.value = position
            else:
                self.slider.value = position
                self.slider.max = last
        finally:
            self.slider.observe(self._on_position, names="value")
        self.slider.description = "mistake" if change["new"] else "image"
        self._render()

    # ----------------------------------------------------------------- drawing
    def _empty_message(self):
        if len(self.images) == 0:
            return "no images to show"
        return (f"no mistakes to show: the network classifies all {len(self.images)} images "
                f"correctly — switch off “mistakes only” to browse them")

    def _render(self):
        empty = len(self._shown) == 0
        for control in (self.slider, self.play, self.previous, self.next):
            control.disabled = empty
        # Without mistakes the toggle has nothing to offer, but while it is on it must stay
        # usable: switching it off is the way back to the images.
        self.mistakes_only.disabled = len(self.mistakes) == 0 and not self.mistakes_only.value
        if empty:                              # draw nothing, say why
            self.play.playing = False
            self.image.value = b""
            self.bars.value = b""
            self.caption.value = f'<span class="pb-empty">{html.escape(self._empty_message())}</span>'
            return
        i = self._anchor = self.index
        p, label, prediction = self.probabilities[i], int(self.y[i]), int(self.predictions[i])
        self.image.value = digit_png(self.images[i])
        self.bars.value = _png(lambda fig: draw_probabilities(fig.add_subplot(), p, label),
                               figsize=(3.6, 2.1), dpi=80, layout="constrained")
        verdict = ('<span style="color:#2a7d2a">right</span>' if prediction == label
                   else '<span style="color:#c0392b">wrong</span>')
        where = (f"mistake {self.slider.value + 1} of {len(self.mistakes)}"
                 if self.mistakes_only.value else f"of {len(self.images)}")
        self.caption.value = (
            f'<span class="pb-index">image {i}</span> ({html.escape(where)}): '
            f'predicted <b class="pb-predicted">{prediction}</b> '
            f'with probability {p[prediction]:.3f}, true label '
            f'<b class="pb-label">{label}</b>, {verdict}')

    def static_figure(self, indices, columns=None):
        """A matplotlib Figure of the images ``indices`` with their probability bars, two rows
        per row of images: for readers of a rendered notebook, where the widget cannot run.

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
            ax.set_title(f"#{i}: predicted {self.predictions[i]}, true {self.y[i]}",
                         fontsize=8, color="tab:green" if right else "tab:red")
            ax.set_axis_off()
            bar_ax = fig.add_subplot(grid[2 * r + 1, c])
            draw_probabilities(bar_ax, self.probabilities[i], int(self.y[i]))
            if c:
                bar_ax.set_ylabel("")
        return fig

    def __repr__(self):
        return (f"PredictionBrowser({len(self.images)} images; a slider, a mistakes-only toggle, "
                f"play and step buttons)")

    def _repr_mimebundle_(self, **kwargs):
        """Display as the widget, with a text form that does not depend on the network."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)
        return bundle
