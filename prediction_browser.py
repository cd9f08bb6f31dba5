"""The prediction browser of lesson 07: look at what a trained network says, image by image.

* ``show_prediction(index, X, y, params, ax=None)`` -- one image with its predicted and
  true label (the original script's ``test_prediction``, without its prints);
* ``PredictionBrowser(images, y, probabilities)`` -- an ipywidgets slider over all images
  showing the image, its predicted and true label and the k class probabilities as bars,
  with a "mistakes only" toggle, a play button and previous/next buttons;
* ``PredictionBrowser.static_figure(indices)`` -- the same views as one matplotlib
  figure, for readers of a rendered notebook, where widgets do not run.

Shapes: ``images`` (n, 28, 28) uint8 in 0..255, ``y`` (n,) int labels, ``probabilities``
(n, k) rows summing to 1 (the network's A2). Nothing here prints. The widget callbacks
only set widget state (PNG bytes of ``Image`` widgets, the HTML of a caption), and draw
with ``matplotlib.figure.Figure``, never pyplot, so they work the same with or without a
front end and leave no output behind.
"""
import html
import io

import numpy as np
from matplotlib.figure import Figure

import npcore

ZOOM = 6                     # the 28x28 digit is shown as 168x168 pixels, each pixel a 6x6 block
PLAY_INTERVAL_MS = 600       # time per image when playing


def show_prediction(index, X, y, params, ax=None):
    """Draw image ``index`` of X (m, 784) with its predicted and true label.  Lesson 07

    y: (m,) labels; params: a trained {W1, b1, W2, b2}. Draws on ``ax`` (a new pyplot
    figure's axes when None) and returns the predicted label as an int. The title is
    green when the prediction is right, red when it is wrong.
    """
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
    big = np.kron(np.asarray(image, dtype=np.uint8), np.ones((zoom, zoom), np.uint8))  # (28z, 28z)
    height, width = big.shape
    dpi = 100
    return _png(lambda fig: fig.figimage(big, cmap="gray_r", vmin=0, vmax=255),
                figsize=(width / dpi, height / dpi), dpi=dpi)


def draw_probabilities(ax, p, label):
    """Bars of one probability row p (k,) on ``ax``: the predicted class orange, the true class
    outlined and marked "true"; returns the predicted class."""
    k = len(p)
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

    images (n, 28, 28) uint8, y (n,) int labels, probabilities (n, k) floats.
    ``browser.widget`` is the VBox to display (or just display ``browser``). Parts, for
    tests and for tinkering: ``slider`` (position in the images shown), ``mistakes_only``
    (ToggleButton: step through misclassified images only), ``play`` (Play, linked to the
    slider), ``previous``/``next`` (Buttons), ``image`` (Image of the digit), ``caption``
    (HTML), ``bars`` (Image of the k probabilities). ``index`` is the image shown now.
    """

    def __init__(self, images, y, probabilities):
        import ipywidgets as widgets

        images, y, probabilities = np.asarray(images), np.asarray(y), np.asarray(probabilities)
        n = len(images)
        if images.shape[1:] != (28, 28) or images.dtype != np.uint8 or n == 0:
            raise ValueError(f"images must be uint8 (n, 28, 28) with n > 0, got {images.dtype} {images.shape}")
        if y.shape != (n,) or probabilities.ndim != 2 or len(probabilities) != n:
            raise ValueError(f"need y (n,) and probabilities (n, k) for n = {n} images, "
                             f"got {y.shape} and {probabilities.shape}")
        self.images, self.y, self.probabilities = images, y, probabilities
        self.predictions = npcore.get_predictions(probabilities)                 # (n,)
        self.mistakes = np.flatnonzero(self.predictions != y)                    # (n_mistakes,)
        self._all = np.arange(n)                                                 # (n,)
        self._shown = self._all          # the indices the slider runs over, in order

        self.slider = widgets.IntSlider(value=0, min=0, max=n - 1, description="image",
                                        continuous_update=True,
                                        layout=widgets.Layout(width="420px"))
        self.play = widgets.Play(value=0, min=0, max=n - 1, interval=PLAY_INTERVAL_MS,
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
        """The index (into images) of the image shown now."""
        return int(self._shown[self.slider.value])

    def step(self, delta):
        """Move the slider by ``delta`` positions, stopping at its ends."""
        self.slider.value = int(np.clip(self.slider.value + delta, 0, self.slider.max))

    def _on_position(self, change):
        self._render()

    def _on_mode(self, change):
        current = self.index
        self._shown = self.mistakes if change["new"] else self._all
        # Stay near the current image: the first shown image at or after it (else the last).
        position = min(int(np.searchsorted(self._shown, current)), len(self._shown) - 1)
        self.slider.unobserve(self._on_position, names="value")
        try:                                   # grow max before raising value, lower value before max
            if len(self._shown) - 1 >= self.slider.max:
                self.slider.max = len(self._shown) - 1
                self.slider.value = position
            else:
                self.slider.value = position
                self.slider.max = len(self._shown) - 1
        finally:
            self.slider.observe(self._on_position, names="value")
        self.slider.description = "mistake" if change["new"] else "image"
        self._render()

    # ----------------------------------------------------------------- drawing
    def _render(self):
        i = self.index
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
        per row of images: for readers of a rendered notebook, where the widget cannot run."""
        indices = [int(i) for i in indices]
        columns = columns or len(indices)
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
