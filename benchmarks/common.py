"""What the MLP benchmark (bench_one.py, run.py) and the CNN benchmark (cnn.py) share.

Loading MNIST, timing, the one timed Keras fit and the one PyTorch loop, running a
worker process, and choosing which npcore a worker times:

- ``use_npcore_from(directory)`` puts an older checkout of the course first on
  ``sys.path`` (before anything imports npcore), so that its npcore and npconv are
  the ones timed: ``--npcore-from DIR`` of the scripts, rows labelled "npcore@before";
- ``plain_code_path()`` sets ``npcore.FAST = False``: the lesson code of the
  optimizer updates (and npconv's im2col / conv_backward) instead of the faster
  cache-sized-pieces path, rows labelled "npcore-plain" / "npconv-plain".

The scripts import this module as ``common``: Python puts a script's own folder first
on ``sys.path``, so ``python benchmarks/run.py`` finds it beside them; npcore itself
comes from the editable install (``pip install -e .``, as ``make`` does).
"""
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BEFORE = "@before"                  # the label suffix of rows timed with --npcore-from
PLAIN = "-plain"                    # the label suffix of rows timed with npcore.FAST = False


class BenchmarkError(Exception):
    """A benchmark cannot run as asked; its message is the one line the scripts print."""


# ---------------------------------------------------------------------------- which npcore
def use_npcore_from(directory):
    """Make ``import npcore`` (and npconv) load them from ``directory``, a checkout of the
    course (e.g. ``git archive`` of an older commit). Call before anything imports npcore."""
    if "npcore" in sys.modules:
        raise BenchmarkError("use_npcore_from: npcore is already imported in this process")
    directory = os.path.abspath(directory)
    if not os.path.isfile(os.path.join(directory, "npcore.py")):
        raise BenchmarkError(f"--npcore-from: no npcore.py in {directory}")
    sys.path.insert(0, directory)          # before site-packages' editable-install finder


def npcore_module(expected_dir=None):
    """``import npcore``, checking that it comes from ``expected_dir`` when one was given."""
    import npcore
    where = os.path.dirname(os.path.realpath(npcore.__file__))
    if expected_dir is not None and where != os.path.realpath(expected_dir):
        raise BenchmarkError(f"--npcore-from {expected_dir}: npcore was imported from {where}")
    return npcore


def plain_code_path(npcore):
    """Switch npcore (and npconv, which follows it) to the lesson's plain code path."""
    if not hasattr(npcore, "FAST"):
        raise BenchmarkError(f"the plain variant needs npcore.FAST, which the npcore in "
                             f"{os.path.dirname(npcore.__file__)} (version "
                             f"{getattr(npcore, '__version__', '?')}) does not have")
    npcore.FAST = False


def npcore_description(npcore):
    """'npcore 1.1.0 from /path, FAST=True': which code a worker timed."""
    fast = getattr(npcore, "FAST", None)
    return (f"npcore {getattr(npcore, '__version__', '?')} from "
            f"{os.path.dirname(os.path.abspath(npcore.__file__))}"
            + ("" if fast is None else f", FAST={fast}"))


def keyword(func, current, before):
    """The name ``func`` gives an argument: ``current`` in this checkout, ``before`` in an
    older one timed with --npcore-from (e.g. init_params's ``init``, once ``method``)."""
    return current if current in inspect.signature(func).parameters else before


def checkout_description(directory):
    """'DIR (git abc1234)' when DIR is the top of a git work tree, else 'DIR'."""
    directory = os.path.abspath(directory)
    try:
        out = subprocess.run(["git", "-C", directory, "rev-parse", "--show-toplevel", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        lines = out.stdout.split() if out.returncode == 0 else []
    except (OSError, subprocess.SubprocessError):
        lines = []
    top_level = len(lines) == 2 and os.path.realpath(lines[0]) == os.path.realpath(directory)
    return directory + (f" (git {lines[1]})" if top_level else "")


# ---------------------------------------------------------------------------- data and timing
def load_mnist_train(n=None):
    """The first n (all by default) MNIST training images as (n, 784) float32 in [0, 1]
    and their labels (n,) int64, read by npcore.load_mnist (MNIST_NPZ, or Keras's copy)."""
    npcore = npcore_module()
    (x_train, y_train), _ = npcore.load_mnist()
    n = len(x_train) if n is None else n
    return npcore.preprocess(x_train[:n]), y_train[:n].astype(np.int64)


def timed(f):
    """Seconds that f() takes (wall clock)."""
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def sgemm_peak(n=2048, repeats=7):
    """Best GFLOP/s of a float32 n x n matrix product with NumPy's BLAS (all cores)."""
    rng = np.random.default_rng(0)
    A, B = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    A @ B
    best = min(timed(lambda: A @ B) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


# ---------------------------------------------------------------------------- frameworks
def keras_env():
    """Environment for Keras on JAX's CPU backend, before ``import keras``; returns the
    temporary KERAS_HOME (Keras writes its config there, never into ~/.keras): call its
    cleanup() at the end."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    home = tempfile.TemporaryDirectory(prefix="keras-home-")
    os.environ["KERAS_HOME"] = home.name
    return home


def keras_epochs(model, X, y, batch_size, epochs):
    """model.fit, timed per epoch: ([seconds per epoch], [loss per epoch])."""
    import keras

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    seconds = []
    history = model.fit(X, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
                        callbacks=[Timer()])
    return seconds, history.history["loss"]


def torch_epochs(model, optimizer, X_t, y_t, batch_size, epochs):
    """The usual PyTorch loop: ([seconds per epoch], [mean loss per epoch])."""
    import torch
    loss_fn = torch.nn.CrossEntropyLoss()        # softmax + cross-entropy on the logits
    seconds, losses = [], []
    for _ in range(epochs):
        start, loss_sum, correct = time.perf_counter(), 0.0, 0
        order = torch.randperm(len(X_t))
        for i in range(0, len(X_t), batch_size):
            batch = order[i:i + batch_size]
            Xb, yb = X_t[batch], y_t[batch]
            logits = model(Xb)
            loss = loss_fn(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(yb)
            correct += int((logits.argmax(1) == yb).sum())
        seconds.append(time.perf_counter() - start)
        losses.append(loss_sum / len(X_t))
    return seconds, losses


# ---------------------------------------------------------------------------- worker processes
def run_worker(script, *args):
    """Run ``python benchmarks/<script> *args`` in a fresh process; its last stdout line
    is JSON, returned as a dict. A failing worker raises BenchmarkError with its stderr."""
    command = [sys.executable, os.path.join(HERE, script), *map(str, args)]
    out = subprocess.run(command, capture_output=True, text=True,
                         env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
                              "TF_CPP_MIN_LOG_LEVEL": "2"})
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        raise BenchmarkError(f"{' '.join(command[1:])} failed (exit {out.returncode}):\n"
                             f"{out.stderr.strip()}")
    return json.loads(lines[-1])
