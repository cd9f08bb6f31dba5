"""Progress for long cells: a progress bar and a live loss/accuracy curve (issue 13).

Two things, both ipywidgets that update their own state and never print:

- ``live(total, desc)``: a context manager for training. What it yields is the
  ``callback(epoch, history)`` of ``npcore.train`` (and ``npconv.train_cnn``, which
  passes it on): every call advances a tqdm bar by one epoch, puts the epoch's loss
  and validation accuracy beside it, and redraws a curve (training and validation
  loss and accuracy, one colour per run; epoch 0 starts a new run)::

      with training_progress.live(9 * 15, "9 runs") as progress:
          for seed in (0, 1, 2):
              npcore.train(X, y, params, 15, 128, 0.1, rng=seed, callback=progress)

  ``progress.keras_callback()`` is the same display for ``model.fit(...,
  verbose=0, callbacks=[...])``.
- ``bar(iterable, desc)``: tqdm's notebook bar over a loop written in a lesson
  (``for i in training_progress.bar(range(iterations), "gradient descent"):``).

The bar is ``tqdm.notebook.tqdm`` (a well-kept library); the curve is a matplotlib
``Figure`` (not pyplot: no figure leaks into the cell's outputs) drawn to a PNG in an
``ipywidgets.Image``. Redrawing costs tens of milliseconds, so the curve is redrawn
only when at least ``REDRAW_FACTOR`` times its last drawing time has passed since
(and never more often than every ``MIN_REDRAW_SECONDS``), and always when the
``with`` block ends: it costs the training a few per cent at most, and the final
picture holds every epoch.

Stored notebooks: each bar or live display is ONE display_data output whose
text/plain is fixed when it is shown (``"[progress] 9 runs: 135 epochs (bar and
loss curve)"``) and never updated afterwards (no update_display_data, no
clear_output), so strict nbval, which compares text/plain and ignores the
widget-view mime type, sees the same output on every run, and a reader of the
stored notebook on the web reads what the cell showed. Only inside a Jupyter
kernel is anything displayed; elsewhere (pytest, a script) the widgets are made
and hold their state, and nothing is printed.
"""
import io
import time

import numpy as np

__all__ = ["live", "bar", "LiveProgress"]

MIN_REDRAW_SECONDS = 0.5     # the curve is redrawn at most this often ...
REDRAW_FACTOR = 20           # ... and at most once per 20 drawing times (<= 5 % of the time)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def live(total, desc, curve=True, unit="epoch"):
    """A progress bar over ``total`` epochs with a live loss/accuracy curve.

    Use it as ``with live(total, desc) as progress:`` and pass ``progress`` as
    ``callback=`` to ``npcore.train`` / ``npconv.train_cnn`` (or
    ``progress.keras_callback()`` to Keras's ``fit``). ``total`` (int >= 1) is the
    number of epochs of all runs in the block, ``desc`` (str) names them;
    ``curve=False`` shows the bar alone. On leaving the block the curve is drawn a
    last time and the bar closed: green, or red if the block raised (the count
    shows how many epochs ran: fewer than ``total`` when a run stopped early).
    Returns a ``LiveProgress``.
    """
    return LiveProgress(total, desc, curve=curve, unit=unit)


def bar(iterable, desc, total=None, unit="it"):
    """``iterable`` wrapped in tqdm's notebook bar, shown with a fixed text/plain.

    ``desc`` (str) names the loop; ``total`` defaults to ``len(iterable)``. Iterate
    over the result as over ``iterable``; the bar closes when the loop ends.
    """
    _check_desc(desc, "bar")
    from tqdm.notebook import tqdm
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    progress = tqdm(iterable, desc=desc, total=total, unit=unit, display=False)
    _show(progress.container, f"[progress] {desc}" + (f": {_count(total, unit)}" if total else ""))
    return progress


class LiveProgress:
    """The display of ``live``: ``bar`` (tqdm), ``image`` (ipywidgets.Image, PNG) and
    ``widget`` (the VBox shown). Call it as ``progress(epoch, history)`` after each
    epoch; ``runs`` holds the histories seen, one dict of arrays per run."""

    def __init__(self, total, desc, curve=True, unit="epoch"):
        if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 1:
            raise ValueError(f"live: total must be an integer >= 1 (the number of epochs), got {total!r}")
        _check_desc(desc, "live")
        import ipywidgets
        from tqdm.notebook import tqdm
        self.total, self.desc = int(total), desc
        self.bar = tqdm(total=self.total, desc=desc, unit=unit, display=False)
        self.image = ipywidgets.Image(format="png") if curve else None
        children = [self.bar.container] + ([self.image] if curve else [])
        self.widget = ipywidgets.VBox(children)
        self.runs = []
        self.draw_seconds = []        # the time of each redraw (measured, for the report)
        self._next_draw = 0.0
        self._figure = None
        _show(self.widget, f"[progress] {desc}: {_count(self.total, unit)}"
                           + (" (bar and loss curve)" if curve else ""))

    # ------------------------------------------------------------------ the callback
    def __call__(self, epoch, history):
        """After epoch ``epoch`` (0-based) of a run; ``history`` holds arrays (epochs,)
        "loss", "accuracy" and, if measured, "val_loss", "val_accuracy", filled up
        to ``epoch``. Epoch 0 starts a new run."""
        if epoch == 0 or not self.runs:
            self.runs.append({})
        run = self.runs[-1]
        for key, values in history.items():
            run[key] = np.asarray(values, dtype=float)[:epoch + 1]
        self.bar.set_postfix_str(_postfix(run), refresh=False)
        self.bar.update(1)
        if self.image is not None and time.perf_counter() >= self._next_draw:
            self.redraw()

    def keras_callback(self):
        """A ``keras.callbacks.Callback`` that calls this display after every epoch
        with the history so far (Keras's logs: loss, accuracy, val_loss, val_accuracy)."""
        import keras

        progress = self

        class KerasProgress(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.history = {}

            def on_epoch_end(self, epoch, logs=None):
                epochs = self.params.get("epochs") or epoch + 1
                for key, value in (logs or {}).items():
                    if key not in self.history:
                        self.history[key] = np.full(max(epochs, epoch + 1), np.nan)
                    self.history[key][epoch] = float(value)
                progress(epoch, self.history)

        return KerasProgress()

    # ------------------------------------------------------------------ the curve
    def redraw(self):
        """Draw every run's curves into ``image`` now (lines are made once and then
        only given new data: cheaper than drawing the axes afresh)."""
        start = time.perf_counter()
        if self._figure is None:
            from matplotlib.figure import Figure
            self._figure = Figure(figsize=(7.5, 2.6), dpi=72)     # a fixed layout: cheap to redraw
            self._figure.subplots_adjust(left=0.08, right=0.98, bottom=0.18, top=0.9, wspace=0.25)
            self._axes = self._figure.subplots(1, 2)
            self._lines = []                                  # per run: {key: Line2D}
            for ax, title in zip(self._axes, ("loss (solid: training, dashed: validation)",
                                              "accuracy")):
                ax.set_xlabel(self.bar.unit)
                ax.set_title(title, fontsize=9)
            self._axes[0].set_yscale("log")                  # cross-entropy > 0
        ax_loss, ax_acc = self._axes
        for i, run in enumerate(self.runs):
            if i == len(self._lines):
                self._lines.append({})
            for key, ax, style in (("loss", ax_loss, "-"), ("val_loss", ax_loss, "--"),
                                   ("accuracy", ax_acc, "-"), ("val_accuracy", ax_acc, "--")):
                values = run.get(key)
                if values is None or not np.isfinite(values).any():
                    continue
                if key not in self._lines[i]:
                    self._lines[i][key], = ax.plot([], [], style, color=f"C{i % 10}", linewidth=1.2)
                self._lines[i][key].set_data(np.arange(1, len(values) + 1), values)
        for ax in self._axes:
            ax.relim()
            ax.autoscale_view()
        buffer = io.BytesIO()
        self._figure.savefig(buffer, format="png")
        self.image.value = buffer.getvalue()
        seconds = time.perf_counter() - start
        self.draw_seconds.append(seconds)
        self._next_draw = time.perf_counter() + max(MIN_REDRAW_SECONDS, REDRAW_FACTOR * seconds)

    # ------------------------------------------------------------------ the with block
    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if self.image is not None and self.runs:
            self.redraw()
        self.bar.close()              # tqdm: red when fewer than total epochs ran
        if kind is None:              # but a run that stopped early (a diverged rate that the
            self.bar.container.children[1].bar_style = "success"   # cell catches) is no error
        return False                  # an error inside the block is raised, not swallowed


# ---------------------------------------------------------------------- helpers
class _Shown:
    """What is displayed: the widget's view for JupyterLab, a fixed text/plain for
    everyone else (nbval, the stored notebook on the web)."""

    def __init__(self, widget, text):
        self.widget, self.text = widget, text

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/plain": self.text}
        view = self.widget._repr_mimebundle_().get(WIDGET_VIEW)
        if view is not None:
            bundle[WIDGET_VIEW] = view
        return bundle


def _show(widget, text):
    """Display ``widget`` once, with ``text`` as its text/plain, if a kernel runs us."""
    try:
        from IPython import get_ipython
    except ImportError:                                   # no IPython: nothing to show on
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return                                            # pytest, a script, a terminal IPython
    from IPython.display import display
    display(_Shown(widget, text))


def _postfix(run):
    """'loss 0.1234, val_accuracy 0.9700' for the last epoch of ``run``."""
    parts = []
    for key in ("loss", "val_loss", "val_accuracy"):
        values = run.get(key)
        if values is not None and len(values) and np.isfinite(values[-1]):
            parts.append(f"{key} {values[-1]:.4f}")
    return ", ".join(parts)


def _count(total, unit):
    """'15 epochs', '1 epoch', '500 iterations' (tqdm's unit "it")."""
    word = "iteration" if unit == "it" else unit
    return f"{total:,} {word}{'' if total == 1 else 's'}"


def _check_desc(desc, where):
    if not isinstance(desc, str) or not desc.strip():
        raise ValueError(f"{where}: desc must be a non-empty string naming the work, got {desc!r}")
