"""Draw a digit with the mouse, a pen or a finger, and watch the course's networks read it.

* ``mnist_from_strokes(strokes, size=280)`` -- a drawing turned into an MNIST-like input
  (28, 28) the way MNIST itself was made: the ink rendered anti-aliased with round caps and
  joins at a pen width proportional to the drawing's extent, its bounding box fitted into
  20x20 pixels keeping the aspect ratio, and placed in 28x28 with its centre of mass on
  the pixel (14, 14);
* ``naive_from_strokes(strokes, size=280)`` -- what a learner would first try: the whole
  canvas shrunk to 28x28, no fitting, no centring (a digit drawn small in a corner stays
  small in the corner, where the networks never saw ink);
* ``DrawDigit(models, show_naive=False)`` -- an ipywidgets layout around a 280x280
  drawing canvas (an anywidget: its JavaScript is the string ``_ESM`` below, no build
  step) with Clear and Undo buttons, the 28x28 input beside it, the class probabilities
  of every model side by side and the hidden activations of the first MLP, all updated
  while the learner draws; ``DrawDigit.static_figure(drawings)`` shows the same for given
  drawings as one matplotlib figure, for readers of a rendered notebook;
* ``load_models(folder)`` -- the course's final MLP (lesson 09) and CNN (lesson 12) from
  ``models/mlp.npz`` and ``models/cnn.npz`` (made by ``tools/train_models.py``).

Shapes: a drawing ``strokes`` is a list of strokes, each a list of points ``[x, y]`` in
canvas pixels (x to the right, y down, 0..size); the networks' input is X (1, 784) float32
in [0, 1], a 28x28 image read row by row, ink 1 and background 0 (MNIST / 255).

How MNIST was made, and the numbers this module follows (measured on the 60,000 training
images, see ``MNIST_STROKE_WIDTH`` and ``CENTRE``): the NIST digits were size-normalised to
fit a 20x20 box keeping their aspect ratio, with anti-aliasing (grey levels), then moved
in the 28x28 field so that their centre of mass lies at its centre. In the data, the
longer side of the ink's bounding box is 20 pixels in 59,987 of 60,000 images; the centre
of mass (row, column) in pixel indices has mean (14.00, 14.01) and standard deviation 0.29
in both, the spread of a whole-pixel shift (uniform on +-0.5 has 0.289): the box was moved
by whole pixels so that the centre of mass falls within about half a pixel of (14, 14) (at
most 0.52 in the data). ``mnist_from_strokes`` moves it within half a pixel.

Nothing here prints. The widget's callbacks only set widget values (PNG bytes of ``Image``
widgets, the HTML of the bars), so they work the same with or without a front end. Bad
input is refused with a one-line ValueError naming what is wrong and what was expected.
"""
import html
import io
import math
import numbers
import os

import numpy as np
from matplotlib.figure import Figure

import npconv
import npcore
from prediction_browser import digit_png

CANVAS_SIZE = 280            # the canvas is 280x280 pixels, ten per MNIST pixel
PEN_WIDTH = 18 / 280         # the canvas's pen, as a fraction of its size (18 px on 280)
BOX = 20                     # the ink's bounding box is fitted into 20x20 pixels ...
FIELD = 28                   # ... and placed in the 28x28 field
CENTRE = (14, 14)            # ... with its centre of mass at pixel (row 14, column 14) (MNIST's)
STROKE_WIDTH = 2.4           # pen width of the rendering, in pixels of the 28x28 image (calibrated:
                             # test drawings then measure 1.94-2.10 by ``stroke_width``, MNIST 1.96)
SUPERSAMPLE = 8              # rendered at 8x the resolution, then averaged over 8x8 blocks
ZOOM = 5                     # the 28x28 result is shown as 140x140 pixels
SYNC_MS = 50                 # the canvas sends its strokes at most every 50 ms while drawing
# MNIST's stroke width by the statistic ``stroke_width`` (2 x ink / total variation, in
# pixels), over the 60,000 training images: median 1.96, 5th to 95th percentile 1.34-3.00.
MNIST_STROKE_WIDTH = {"median": 1.96, "p5": 1.34, "p95": 3.00}


# --------------------------------------------------------------------------- input checks
def _check_size(size):
    if isinstance(size, bool) or not isinstance(size, numbers.Real) or not math.isfinite(size) \
            or size <= 0:
        raise ValueError(f"size must be the canvas's side in pixels, a positive number; "
                         f"got {size!r}")
    return float(size)


def check_strokes(strokes):
    """``strokes`` as a list of float arrays (n_i, 2), one per stroke, or ValueError.

    strokes: a list (or tuple) of strokes, each a list of points [x, y] of finite numbers
    (canvas pixels). A stroke without points is allowed and draws nothing.
    """
    if isinstance(strokes, np.ndarray) or not isinstance(strokes, (list, tuple)):
        raise ValueError(f"strokes must be a list of strokes, each a list of [x, y] points; "
                         f"got {type(strokes).__name__}")
    out = []
    for i, stroke in enumerate(strokes):
        if not isinstance(stroke, (list, tuple, np.ndarray)):
            raise ValueError(f"stroke {i} must be a list of [x, y] points, got "
                             f"{type(stroke).__name__}")
        for j, point in enumerate(stroke):
            if isinstance(point, (str, bytes)) or not hasattr(point, "__len__") or len(point) != 2 \
                    or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                               for v in point):
                raise ValueError(f"stroke {i}, point {j} must be [x, y] (two numbers), got "
                                 f"{point!r} (strokes is a list of strokes: [[[x, y], ...], ...])")
            if not all(math.isfinite(v) for v in point):
                raise ValueError(f"stroke {i}, point {j} holds {list(point)!r}: x and y must be "
                                 f"finite numbers (canvas pixels)")
        out.append(np.asarray(stroke, dtype=np.float64).reshape(-1, 2))      # (n_i, 2)
    return out


# --------------------------------------------------------------------------- rendering
def _render(strokes, transform, shape, width):
    """Ink image (rows, cols) float32 in [0, 1]: the strokes drawn at SUPERSAMPLE x the
    resolution with pen ``width`` (output pixels), round caps and joins, then each
    SUPERSAMPLE x SUPERSAMPLE block averaged (anti-aliasing).

    strokes: arrays (n_i, 2) of canvas points; transform(points (n, 2)) -> output pixel
    coordinates (n, 2) as (x, y), where pixel (r, c) covers [c, c+1) x [r, r+1).
    """
    from PIL import Image, ImageDraw

    s = SUPERSAMPLE
    rows, cols = shape
    canvas = Image.new("L", (cols * s, rows * s), 0)
    draw = ImageDraw.Draw(canvas)
    pen = width * s                                        # pen width in supersampled pixels
    r = pen / 2
    for points in strokes:
        if len(points) == 0:
            continue
        xy = transform(points) * s                         # (n, 2) supersampled pixels
        if len(xy) > 1:
            draw.line([tuple(p) for p in xy], fill=255, width=max(int(round(pen)), 1))
        for x, y in xy:                                    # round caps and joins
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    big = np.asarray(canvas, dtype=np.float32) / 255       # (rows s, cols s)
    return big.reshape(rows, s, cols, s).mean(axis=(1, 3))  # (rows, cols)


def mnist_from_strokes(strokes, size=CANVAS_SIZE, pen=None):
    """The drawing as an MNIST-like image (28, 28) float32 in [0, 1], ink 1, background 0.

    strokes: list of strokes, each a list of [x, y] points in canvas pixels (0..size; the
    canvas size only matters for checking it). As MNIST was made: the pen width is set to
    STROKE_WIDTH pixels of the result (so, on the canvas, proportional to the drawing's
    extent L, the longer side of its points' bounding box: STROKE_WIDTH / scale); the ink
    (points plus pen) is scaled by scale = (20 - STROKE_WIDTH) / L so that its longer side
    is 20 pixels, the shorter keeping the aspect ratio, rendered anti-aliased (the shorter
    side centred in the 20x20 box), and the box moved by whole pixels so that its centre
    of mass falls within half a pixel of CENTRE = (14, 14). No ink -> zeros; a drawing
    with extent under one canvas pixel (a tap) -> a dot of the pen's width at the centre.

    pen: None (the default) for the rule above; a number draws with that fixed pen width
    in canvas pixels instead, and fits points plus pen into 20x20 (scale = 20 / (L + pen)):
    the comparison that shows why the pen must grow with the drawing (a small drawing
    with the canvas's pen comes out with strokes far thicker than MNIST's).
    """
    _check_size(size)
    strokes = [p for p in check_strokes(strokes) if len(p)]
    if not strokes:
        return np.zeros((FIELD, FIELD), np.float32)
    points = np.concatenate(strokes)                        # (n, 2) canvas pixels
    low, high = points.min(axis=0), points.max(axis=0)      # (2,) each: the points' box
    extent = float((high - low).max())                      # L
    if pen is not None:
        if isinstance(pen, bool) or not isinstance(pen, numbers.Real) or not 0 < pen < math.inf:
            raise ValueError(f"pen must be None or a pen width in canvas pixels (a positive "
                             f"number), got {pen!r}")
        scale = BOX / (extent + pen)                        # output pixels per canvas pixel
        width = pen * scale                                 # the pen in output pixels
    elif extent < 1:                                        # a tap: a dot, not a blob
        scale, width = 0.0, STROKE_WIDTH
    else:
        scale, width = (BOX - STROKE_WIDTH) / extent, STROKE_WIDTH
    # The ink's box in output pixels: (high - low) * scale + width; centre it in 20x20.
    offset = (BOX - (high - low) * scale) / 2               # (2,) where the points' box starts
    box = _render(strokes, lambda p: (p - low) * scale + offset, (BOX, BOX), width)
    com_row, com_col = centre_of_mass(box)                  # pixel indices in the 20x20 box
    top = int(np.floor(CENTRE[0] - com_row + 0.5))          # whole-pixel shift to the centre
    left = int(np.floor(CENTRE[1] - com_col + 0.5))
    field = np.zeros((FIELD + 2 * BOX, FIELD + 2 * BOX), np.float32)   # room for any shift
    field[BOX + top:2 * BOX + top, BOX + left:2 * BOX + left] = box
    return np.clip(field[BOX:BOX + FIELD, BOX:BOX + FIELD], 0, 1)      # (28, 28)


def naive_from_strokes(strokes, size=CANVAS_SIZE):
    """The whole canvas shrunk to (28, 28) float32 in [0, 1]: no fitting, no centring.

    strokes: as for ``mnist_from_strokes``, on a canvas of size x size pixels, drawn with
    the canvas's own pen (PEN_WIDTH x size wide) and averaged down (anti-aliased): what a
    learner would first try. A digit drawn small in a corner stays small in the corner.
    """
    size = _check_size(size)
    strokes = check_strokes(strokes)
    scale = FIELD / size
    return _render(strokes, lambda p: p * scale, (FIELD, FIELD), PEN_WIDTH * FIELD)


def stroke_width(image):
    """Stroke width of an ink image (r, c) in [0, 1], in pixels: 2 x ink / total variation.

    For a straight stroke of width w and length l, the ink is w l and the total variation
    (the sum of |differences| between neighbouring pixels, across rows and columns) is
    2 l, so the statistic is w; slanted and curved strokes read somewhat thinner (their
    edges cost more variation), the same way in MNIST as here. No ink -> 0.0.
    """
    image = np.asarray(image, dtype=np.float64)
    tv = np.abs(np.diff(image, axis=0)).sum() + np.abs(np.diff(image, axis=1)).sum()
    return float(2 * image.sum() / tv) if tv > 0 else 0.0


def centre_of_mass(image):
    """(row, column) of the ink's centre of mass in pixel indices of ``image`` (r, c)."""
    image = np.asarray(image, dtype=np.float64)
    ink = image.sum()
    if ink <= 0:
        raise ValueError("centre_of_mass: the image holds no ink")
    return (float(image.sum(axis=1) @ np.arange(image.shape[0]) / ink),
            float(image.sum(axis=0) @ np.arange(image.shape[1]) / ink))


# --------------------------------------------------------------------------- models
def model_kind(name, params):
    """"cnn" for npconv params (K1, b1, K2, b2, W3, b3, W4, b4), "mlp" for npcore params
    (W1, b1, ..., WL, bL), checked on one blank image; ValueError naming ``name`` otherwise."""
    if not isinstance(params, dict) or not params:
        raise ValueError(f"models[{name!r}] must be a params dict (npcore's W1, b1, ... or "
                         f"npconv's K1, b1, ...), got {type(params).__name__}")
    kind = "cnn" if "K1" in params else "mlp"
    blank = np.zeros((1, 784), np.float32)
    try:
        if kind == "cnn":
            p = npconv.cnn_predict_proba(blank, params)
        else:
            p = npcore.predict_proba(blank, params)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"models[{name!r}] is not a usable {kind.upper()} params dict: "
                         f"{first}") from None
    if p.shape != (1, 10):
        raise ValueError(f"models[{name!r}] must give 10 class probabilities, gives "
                         f"{p.shape[1]}")
    return kind


def load_models(folder=None):
    """{"MLP": params, "CNN": params} from <folder>/mlp.npz and <folder>/cnn.npz.

    folder: default the ``models/`` folder next to this file (made by
    tools/train_models.py). Read with npcore.load_params (no pickle, checked).
    """
    if folder is None:
        folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
    return {"MLP": npcore.load_params(os.path.join(folder, "mlp.npz")),
            "CNN": npcore.load_params(os.path.join(folder, "cnn.npz"))}


# --------------------------------------------------------------------------- pictures
def image_png(image, zoom=ZOOM):
    """PNG bytes of an image (28, 28) in [0, 1], ink dark on white, each pixel zoom x zoom
    (the prediction browser's ``digit_png`` of the image in MNIST's 0..255)."""
    return digit_png(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), zoom)


def _bars_html(name, p, naive=None):
    """HTML of one model's ten probabilities p (10,) as bars, the predicted class highlighted;
    ``naive``: the class it reads in the naive input, shown under the bars (None: not shown)."""
    rows = []
    prediction = None if p is None else int(np.argmax(p))
    for j in range(10):
        value = 0.0 if p is None else float(p[j])
        cls = "dd-bar dd-top" if j == prediction else "dd-bar"
        rows.append(f'<div class="dd-row"><span class="dd-class">{j}</span>'
                    f'<span class="{cls}" style="width:{value * 100:.1f}px"></span>'
                    f'<span class="dd-value">{value:.2f}</span></div>')
    shown = "" if prediction is None else str(prediction)
    quoted = html.escape(name, quote=True)
    below = "" if naive is None else (
        f'<div class="dd-naive">naive input read as '
        f'<span class="draw-digit-naive-prediction" data-model="{quoted}">{naive}</span></div>')
    return (f'<div class="dd-model"><div class="dd-title">{html.escape(name)}: '
            f'<span class="draw-digit-prediction" data-model="{quoted}">'
            f'{shown}</span></div>{"".join(rows)}{below}</div>')


_STYLE = """<style>
.dd-models {display: flex; gap: 18px; font-size: 12px; font-family: sans-serif}
.dd-title {font-weight: bold; margin-bottom: 4px}
.draw-digit-prediction {font-size: 20px; color: #d35400}
.dd-row {display: flex; align-items: center; height: 15px}
.dd-class {width: 12px; text-align: right; margin-right: 4px}
.dd-bar {display: inline-block; height: 10px; background: #1f77b4; min-width: 1px}
.dd-top {background: #ff7f0e}
.dd-value {margin-left: 4px; color: #555}
.dd-naive {margin-top: 4px; color: #555}
.dd-units {display: flex; align-items: flex-end; height: 60px; gap: 2px}
.dd-unit {width: 10px; background: #2ca02c}
</style>"""


def _hidden_png(a):
    """PNG of many hidden activations a (h,): a heat strip of rows of 32 units, each 6x6
    pixels, white 0 to dark green at the largest activation."""
    from PIL import Image

    per_row = 32
    rows = -(-len(a) // per_row)
    grid = np.zeros(rows * per_row, np.float64)
    top = float(a.max()) if len(a) else 0.0
    grid[:len(a)] = a / top if top > 0 else 0.0
    grid = grid.reshape(rows, per_row)
    rgb = np.stack([255 - grid * 211, 255 - grid * 95, 255 - grid * 211], axis=-1)  # to (44,160,44)
    big = np.kron(np.round(rgb).astype(np.uint8), np.ones((6, 6, 1), np.uint8))
    buffer = io.BytesIO()
    Image.fromarray(big, "RGB").save(buffer, format="png")
    return buffer.getvalue()


# --------------------------------------------------------------------------- the canvas
_ESM = """
function copy(strokes) { return strokes.map((s) => s.map((p) => [p[0], p[1]])); }

export default {
  render({ model, el }) {
    const size = model.get("size");
    const canvas = document.createElement("canvas");
    canvas.width = size;
    canvas.height = size;
    canvas.className = "draw-digit-canvas";
    canvas.setAttribute("aria-label", "drawing area: draw a digit");
    el.appendChild(canvas);
    const ctx = canvas.getContext("2d");
    let strokes = copy(model.get("strokes"));
    let drawing = false;
    let timer = null;

    function redraw() {
      ctx.fillStyle = "white";
      ctx.fillRect(0, 0, size, size);
      ctx.strokeStyle = "black";
      ctx.fillStyle = "black";
      ctx.lineWidth = model.get("pen_width");
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      for (const s of strokes) {
        if (s.length === 1) {
          ctx.beginPath();
          ctx.arc(s[0][0], s[0][1], ctx.lineWidth / 2, 0, 2 * Math.PI);
          ctx.fill();
        } else if (s.length > 1) {
          ctx.beginPath();
          ctx.moveTo(s[0][0], s[0][1]);
          for (const p of s.slice(1)) ctx.lineTo(p[0], p[1]);
          ctx.stroke();
        }
      }
    }
    function send() {
      timer = null;
      canvas.dataset.sent = String(strokes.reduce((n, s) => n + s.length, 0));   // points sent
      model.set("strokes", copy(strokes));
      model.save_changes();
    }
    function point(event) {
      const r = canvas.getBoundingClientRect();              // border box: skip the border
      const x = (event.clientX - r.left - canvas.clientLeft) * size / canvas.clientWidth;
      const y = (event.clientY - r.top - canvas.clientTop) * size / canvas.clientHeight;
      const clip = (v) => Math.round(Math.min(Math.max(v, 0), size) * 10) / 10;
      return [clip(x), clip(y)];
    }
    function down(event) {
      if (event.button !== undefined && event.button > 0) return;   // main button, pen or touch
      event.preventDefault();
      try { canvas.setPointerCapture(event.pointerId); } catch (e) { /* not an active pointer */ }
      drawing = true;
      strokes.push([point(event)]);
      redraw();
      if (timer === null) timer = setTimeout(send, model.get("sync_ms"));
    }
    function move(event) {
      if (!drawing) return;
      if (event.pointerType === "mouse" && event.buttons === 0) { up(event); return; }   // released
      event.preventDefault();
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      const stroke = strokes[strokes.length - 1];
      for (const e of (events.length ? events : [event])) stroke.push(point(e));
      redraw();
      if (timer === null) timer = setTimeout(send, model.get("sync_ms"));
    }
    function up(event) {
      if (!drawing) return;
      drawing = false;
      if (timer !== null) clearTimeout(timer);
      send();
    }
    function changed() {
      if (!drawing) { strokes = copy(model.get("strokes")); redraw(); }
    }
    canvas.addEventListener("pointerdown", down);
    canvas.addEventListener("pointermove", move);
    canvas.addEventListener("pointerup", up);
    canvas.addEventListener("pointercancel", up);
    canvas.addEventListener("lostpointercapture", up);      // released outside the canvas
    model.on("change:strokes", changed);
    redraw();
    return () => {
      if (timer !== null) clearTimeout(timer);
      model.off("change:strokes", changed);
    };
  },
};
"""

_CSS = """
.draw-digit-canvas {
  touch-action: none;
  border: 1px solid #888;
  border-radius: 4px;
  cursor: crosshair;
  background: white;
  display: block;
}
"""


def _canvas_class():
    """The anywidget canvas class (made on first use, so importing this module needs no
    anywidget)."""
    global _Canvas
    if _Canvas is None:
        import anywidget
        import traitlets

        class DrawCanvas(anywidget.AnyWidget):
            """A size x size drawing canvas; ``strokes``: list of strokes of [x, y] points."""
            _esm = _ESM
            _css = _CSS
            strokes = traitlets.List([]).tag(sync=True)
            size = traitlets.Int(CANVAS_SIZE).tag(sync=True)
            pen_width = traitlets.Float(PEN_WIDTH * CANVAS_SIZE).tag(sync=True)
            sync_ms = traitlets.Int(SYNC_MS).tag(sync=True)

        _Canvas = DrawCanvas
    return _Canvas


_Canvas = None


class DrawDigit:
    """Draw a digit and watch the networks read it, live (ipywidgets 8 + anywidget).

    models: dict name -> params (npcore MLP params W1, b1, ..., or npconv CNN params K1,
    b1, ...; the kind is told by the keys), e.g. ``load_models()``; at least one.
    show_naive: also show the naive 28x28 input (the whole canvas shrunk) beside the
    MNIST-like one.

    ``pad.widget`` is the layout to display (or display ``pad``). Parts: ``canvas`` (the
    anywidget, traitlet ``strokes``), ``clear_button``, ``undo_button``, ``result`` (Image
    of the 28x28 input), ``naive`` (Image, or None), ``bars`` (HTML: every model's
    probabilities), ``hidden_view`` (HTML bars or an Image heat strip of the first MLP's
    hidden layer), ``hidden_caption`` (HTML).

    Headless API: ``pad.strokes`` (get or set the drawing), ``pad.draw(strokes)`` (add
    strokes), ``pad.undo()``, ``pad.clear()``; after each change ``pad.image28`` (28, 28)
    float32, ``pad.naive28`` (28, 28) float32, ``pad.probabilities`` {name: (10,) array},
    ``pad.predictions`` {name: int} and ``pad.hidden`` (h,) activations A1 of the first MLP
    (None without an MLP), and with show_naive ``pad.naive_predictions`` {name: int} (what
    each model reads in the naive input; empty otherwise). With nothing drawn,
    probabilities and the predictions are empty dicts and hidden is None: an empty canvas
    is not a digit (the prediction elements then hold no text).

    Stable hooks for browser tests and CSS: the layout has class ``draw-digit``; the canvas
    is ``canvas.draw-digit-canvas``; each model's predicted digit is the text of
    ``span.draw-digit-prediction[data-model="<name>"]`` (and, with show_naive, its reading
    of the naive input of ``span.draw-digit-naive-prediction[data-model="<name>"]``), both
    inside the HTML widget ``.draw-digit-bars``, whose root ``.dd-models`` stamps the reading
    with ``data-points``, the number of points it was read from (the canvas, for its part,
    holds in ``data-sent`` the number of points it last sent); the buttons read "Clear" and
    "Undo" (classes ``draw-digit-clear``, ``draw-digit-undo``); the 28x28 pictures are
    ``img.draw-digit-result`` and ``img.draw-digit-naive``; the hidden layer is
    ``.draw-digit-hidden`` with its caption ``.draw-digit-hidden-caption``.
    """

    def __init__(self, models, show_naive=False):
        import ipywidgets as widgets

        if not isinstance(models, dict) or not models:
            got = "an empty dict" if isinstance(models, dict) else type(models).__name__
            raise ValueError(f"models must be a dict name -> params with at least one network "
                             f"(e.g. draw_digit.load_models()), got {got}")
        self.models = dict(models)
        self.kinds = {}
        for name, params in self.models.items():
            if not isinstance(name, str):
                raise ValueError(f"models' names must be strings, got {name!r}")
            self.kinds[name] = model_kind(name, params)
        self.mlp_name = next((n for n, k in self.kinds.items() if k == "mlp"), None)
        self.show_naive = bool(show_naive)

        self.canvas = _canvas_class()()
        self.clear_button = widgets.Button(description="Clear", tooltip="erase the whole drawing",
                                           icon="trash", layout=widgets.Layout(width="90px"))
        self.undo_button = widgets.Button(description="Undo", tooltip="remove the last stroke",
                                          icon="undo", layout=widgets.Layout(width="90px"))
        framed = dict(width=f"{FIELD * ZOOM + 2}px", height=f"{FIELD * ZOOM + 2}px",
                      border="1px solid #888")               # the 28x28 field's edge shows
        self.result = widgets.Image(format="png", layout=widgets.Layout(**framed))
        self.naive = (widgets.Image(format="png", layout=widgets.Layout(**framed))
                      if self.show_naive else None)
        self.bars = widgets.HTML()
        self.hidden_caption = widgets.HTML()
        h = len(self.models[self.mlp_name]["b1"]) if self.mlp_name else 0
        self._hidden_as_bars = 0 < h <= 32
        if self._hidden_as_bars or not h:
            self.hidden_view = widgets.HTML()
        else:                                   # 32 units a row, 6x6 pixels each, not stretched
            self.hidden_view = widgets.Image(format="png", layout=widgets.Layout(
                width=f"{32 * 6}px", height=f"{-(-h // 32) * 6}px"))
        parts = [(self.clear_button, "clear"), (self.undo_button, "undo"),
                 (self.result, "result"), (self.bars, "bars"), (self.hidden_view, "hidden"),
                 (self.hidden_caption, "hidden-caption")]
        if self.naive is not None:
            parts.append((self.naive, "naive"))
        for part, name in parts:
            part.add_class(f"draw-digit-{name}")      # stable hooks for browser tests and CSS

        self.clear_button.on_click(lambda _: self.clear())
        self.undo_button.on_click(lambda _: self.undo())
        self.canvas.observe(self._on_strokes, names="strokes")

        label = lambda text: widgets.HTML(f"<b>{html.escape(text)}</b>")   # noqa: E731
        inputs = [widgets.VBox([label("the network's input (28x28)"), self.result])]
        if self.naive is not None:
            inputs.append(widgets.VBox([label("naive: the canvas shrunk"), self.naive],
                                       layout=widgets.Layout(margin="0 0 0 16px")))
        left = widgets.VBox([self.canvas, widgets.HBox([self.clear_button, self.undo_button])])
        self.bars.layout.margin = "8px 0 0 0"
        right = widgets.VBox([widgets.HBox(inputs), self.bars],
                             layout=widgets.Layout(margin="0 0 0 16px"))
        rows = [widgets.HBox([left, right])]
        if self.mlp_name:
            rows.append(widgets.VBox([self.hidden_caption, self.hidden_view]))
        self.widget = widgets.VBox(rows)
        self.widget.add_class("draw-digit")
        self._update()

    # ----------------------------------------------------------------- the drawing
    @property
    def strokes(self):
        """The drawing: a list of strokes, each a list of [x, y] points (canvas pixels)."""
        return [[list(p) for p in s] for s in self.canvas.strokes]

    @strokes.setter
    def strokes(self, strokes):
        arrays = check_strokes(strokes)
        self.canvas.strokes = [[[float(x), float(y)] for x, y in s] for s in arrays]

    def draw(self, strokes):
        """Add strokes (a list of strokes, each a list of [x, y] points) to the drawing."""
        arrays = check_strokes(strokes)
        self.canvas.strokes = self.strokes + [[[float(x), float(y)] for x, y in s] for s in arrays]

    def undo(self):
        """Remove the last stroke (nothing happens when nothing is drawn)."""
        if self.canvas.strokes:
            self.canvas.strokes = self.strokes[:-1]

    def clear(self):
        """Remove every stroke."""
        self.canvas.strokes = []

    def _on_strokes(self, change):
        self._update()

    # ----------------------------------------------------------------- the readings
    def _update(self):
        strokes = self.canvas.strokes
        self.image28 = mnist_from_strokes(strokes)                      # (28, 28)
        self.naive28 = naive_from_strokes(strokes)                      # (28, 28)
        empty = not any(len(s) for s in strokes)
        X = self.image28.reshape(1, 784)                                # (1, 784)
        self.probabilities, self.predictions, self.hidden = {}, {}, None
        self.naive_predictions = {}
        if not empty:
            for name in self.models:
                p = self._proba(name, X)                                # (10,)
                self.probabilities[name] = p
                self.predictions[name] = int(np.argmax(p))
                if self.show_naive:
                    naive = self._proba(name, self.naive28.reshape(1, 784))
                    self.naive_predictions[name] = int(np.argmax(naive))
            if self.mlp_name:
                self.hidden = npcore.forward_propagation(X, self.models[self.mlp_name])["A1"][0]
        self.result.value = image_png(self.image28)
        if self.naive is not None:
            self.naive.value = image_png(self.naive28)
        points = sum(len(s) for s in strokes)           # the stamp: what this reading read
        self.bars.value = _STYLE + f'<div class="dd-models" data-points="{points}">' + "".join(
            _bars_html(name, self.probabilities.get(name),
                       self.naive_predictions.get(name, "") if self.show_naive else None)
            for name in self.models) + "</div>"
        self.undo_button.disabled = self.clear_button.disabled = empty
        if self.mlp_name:
            self._show_hidden()

    def _proba(self, name, X):
        """Model ``name``'s class probabilities (10,) for one image X (1, 784)."""
        if self.kinds[name] == "cnn":
            return npconv.cnn_predict_proba(X, self.models[name])[0]
        return npcore.predict_proba(X, self.models[name])[0]

    def _show_hidden(self):
        h = len(self.models[self.mlp_name]["b1"])
        a = np.zeros(h) if self.hidden is None else self.hidden          # (h,)
        active = int(np.sum(a > 0))
        self.hidden_caption.value = (
            f"<b>{html.escape(self.mlp_name)}'s first hidden layer</b>: {h} units, "
            f"{active} active (ReLU output above 0)"
            + ("" if self._hidden_as_bars else ", in rows of 32, darker = larger"))
        if self._hidden_as_bars:
            top = float(a.max()) if a.max() > 0 else 1.0
            self.hidden_view.value = _STYLE + '<div class="dd-units">' + "".join(
                f'<span class="dd-unit" title="unit {i}: {v:.2f}" '
                f'style="height:{max(v / top * 60, 1):.0f}px"></span>' for i, v in enumerate(a)
            ) + "</div>"
        else:
            self.hidden_view.value = _hidden_png(a)

    # ----------------------------------------------------------------- for the web
    def static_figure(self, drawings, size=CANVAS_SIZE):
        """A matplotlib Figure, one row per drawing: the drawing, its 28x28 input (and the
        naive one with show_naive), and each model's probability bars, the predicted class
        orange. For readers of a rendered notebook, where the widget cannot run.

        drawings: a list of drawings, each a list of strokes of [x, y] points.
        """
        if not isinstance(drawings, (list, tuple)):
            raise ValueError(f"drawings must be a list of drawings (each a list of strokes), "
                             f"got {type(drawings).__name__}")
        for d in drawings:
            check_strokes(d)
        columns = 2 + self.show_naive + len(self.models)
        fig = Figure(figsize=(1.9 * columns, 1.9 * max(len(drawings), 1)), layout="constrained")
        if not drawings:
            return fig
        axes = fig.subplots(len(drawings), columns, squeeze=False)
        for r, strokes in enumerate(drawings):
            image = mnist_from_strokes(strokes, size)
            X = image.reshape(1, 784)
            ax = axes[r, 0]
            ax.imshow(_render(check_strokes(strokes), lambda p: p * (FIELD * 4 / size),
                              (FIELD * 4, FIELD * 4), PEN_WIDTH * FIELD * 4),
                      cmap="gray_r", vmin=0, vmax=1)
            ax.set_title("drawing" if r == 0 else "", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            images = [("input 28x28", image)]
            if self.show_naive:
                images.append(("naive 28x28", naive_from_strokes(strokes, size)))
            for c, (title, im) in enumerate(images, start=1):
                ax = axes[r, c]
                ax.imshow(im, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
                ax.set_title(title if r == 0 else "", fontsize=8)
                ax.set_xticks([])                           # the frame: the 28x28 field's edge
                ax.set_yticks([])
            for c, name in enumerate(self.models, start=1 + len(images)):
                ax = axes[r, c]
                if image.any():
                    p = self._proba(name, X)                            # (10,)
                    top = int(np.argmax(p))
                    ax.bar(np.arange(10), p, color=["tab:orange" if j == top else "tab:blue"
                                                    for j in range(10)])
                    title = f"{name}: {top} ({p[top]:.2f})"
                    if self.show_naive:
                        naive = self._proba(name, images[1][1].reshape(1, 784))
                        title += f"\nnaive input: {int(np.argmax(naive))}"
                    ax.set_title(title, fontsize=8)
                else:
                    ax.set_title(f"{name}: nothing drawn", fontsize=8)
                ax.set_ylim(0, 1.05)
                ax.set_xticks(range(10))
                ax.set_yticks([0, 1])
                ax.tick_params(labelsize=6)
        return fig

    def __repr__(self):
        names = ", ".join(self.models)
        return (f"DrawDigit({len(self.models)} model{'s' if len(self.models) != 1 else ''}: "
                f"{names}; a {CANVAS_SIZE}x{CANVAS_SIZE} canvas with Clear and Undo"
                f"{', the naive input beside' if self.show_naive else ''})")

    def _repr_mimebundle_(self, **kwargs):
        """Display as the widget, with a text form that does not depend on the drawing."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)
        return bundle
