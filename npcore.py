"""npcore -- the reference NumPy implementation of every step of the course.

Each function is derived in a lesson; the last line of its docstring says which,
and the sections below follow the lessons: 00 data, 01 one-hot labels, 02 ReLU
and gradient checking, 03 softmax and cross-entropy, 04 initialisation and forward
pass, 05 backward pass, 06 gradient descent, predictions and saving, 07 confusion
matrix, 08 mini-batches, optimizers, schedule and the training loop, 09 regularisation
(dropout, weight decay, shifted images).
Conventions used throughout:

* rows are samples: ``X`` (m, d) float32 in [0, 1], ``y`` (m,) int labels,
  ``Y`` (m, k) one-hot; m samples, d = 784 inputs, h hidden units, k = 10 classes;
* layer l has ``W{l}`` (n_{l-1}, n_l) and ``b{l}`` (n_l,); ``Z{l} = A{l-1} @ W{l} + b{l}``
  with ``A0 = X``; hidden layers use ReLU, the last layer softmax;
* ``params`` holds ``W1, b1, ..., WL, bL``; ``grads`` holds ``dW1, db1, ..., dWL, dbL``
  (``dW1`` is dL/dW1 of the mean cross-entropy L);
* ``rng`` is a seed or a ``np.random.Generator`` (``np.random.default_rng(rng)``);
  ``n_hidden`` the hidden sizes, ``init`` the initialisation, ``optimizer`` the update rule.

One training loop, ``train``, serves every network: the MLP here and the CNN of
``npconv`` pass their own ``loss_and_grads`` and ``predict_proba``. Bad arguments
raise ``ValueError`` (``FileNotFoundError`` for missing files) naming the argument
and what was expected.

No plotting, no global random seeding. Only ``gradient_descent(progress=True)``,
``train(progress=True)`` and the command-line entry point print. ``FAST`` (True by
default) switches on faster code paths that compute the same numbers bit for bit.

Run ``python npcore.py`` to train the original 784->10->10 network and report its
test accuracy (set ``MNIST_NPZ`` to a local mnist.npz when offline).
"""
import functools
import hashlib
import http.client
import inspect
import json
import math
import os
import shutil
import sys
import tempfile
import time
import urllib.request

import numpy as np

import safe_npz

__version__ = "1.0.0"
NUM_CLASSES = 10
# True: the optimizers (and npconv's im2col / conv_backward) take their faster paths,
# which give the same numbers bit for bit; False: the plain code of the lessons only.
FAST = True

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"   # Keras's
_MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
_MNIST_HINT = "set MNIST_NPZ (or pass path=) to a local copy of Keras's mnist.npz"


# =========================================================================== Lesson 00: data
def load_mnist(path=None):
    """Load MNIST as ``keras.datasets.mnist.load_data()`` does, without Keras.

    Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images (n, 28, 28) in
    0..255 and uint8 labels (n,) in 0..9. Reads, in this order: ``path``; else the
    file named by the environment variable ``MNIST_NPZ`` (a relative path is taken
    from the current directory or, if no such file is there, from the course's folder,
    where ``make`` runs: the lessons run in notebooks/ or my-notebooks/); else Keras's cache ``~/.keras/datasets/mnist.npz``
    (``$KERAS_HOME/datasets`` if set) if its SHA-256 is Keras's; else downloads
    Keras's file, checks its SHA-256 and keeps it in that cache, where Keras finds
    it too. Never changes ``os.environ`` and never imports Keras. Every file is read
    without pickle and checked (the four arrays, dtypes, shapes, labels 0..9).

    Lesson 00.
    """
    if path is None and os.environ.get("MNIST_NPZ"):
        path = _mnist_npz_path(os.environ["MNIST_NPZ"])
    if path is not None:
        return _read_mnist(os.fspath(path))
    cached = _keras_cache_path()
    if os.path.isfile(cached) and _sha256(cached) == MNIST_SHA256:
        return _read_mnist(cached)
    return _download_mnist(cached)


def _mnist_npz_path(name):
    """MNIST_NPZ as an absolute path: a relative one from the current directory if the file
    is there, else from the course's folder (this file's) if it is there, else the first."""
    here = os.path.abspath(name)
    if os.path.isabs(name) or os.path.exists(here):
        return here
    course = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    return course if os.path.exists(course) else here


def _keras_cache_path():
    """Where keras.datasets.mnist.load_data() keeps mnist.npz."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "datasets", "mnist.npz")


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download_mnist(target):
    """Download Keras's mnist.npz to a temporary file, check its SHA-256, move it to
    ``target`` (Keras's cache) and load it. A file with another hash is never kept."""
    hint = "set MNIST_NPZ to a local mnist.npz"
    fd, tmp = tempfile.mkstemp(prefix="mnist-", suffix=".npz")
    try:
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(MNIST_URL, timeout=30) as response:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, http.client.HTTPException) as exc:      # offline, refused, cut off...
            reason = " ".join(str(getattr(exc, "reason", None) or exc or type(exc).__name__).split())
            raise OSError(f"could not download MNIST ({reason}): {hint}") from None
        if digest.hexdigest() != MNIST_SHA256:
            raise OSError(f"could not download MNIST (the file from {MNIST_URL} has SHA-256 "
                          f"{digest.hexdigest()}, expected {MNIST_SHA256}; it was not kept): {hint}")
        try:
            _move_into(tmp, target)
        except OSError:                                           # no writable cache: use it once
            return _read_mnist(tmp)
        return _read_mnist(target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _move_into(src, target):
    """Move the checked file ``src`` to ``target`` atomically (a copy if across file systems)."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        os.replace(src, target)
        return
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".mnist.npz.", suffix=".tmp", dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
            shutil.copyfileobj(f, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def _read_mnist(path):
    """The four MNIST arrays of ``path``, read with safe_npz and checked."""
    try:
        data = safe_npz.read_npz(path, what="MNIST file", required=_MNIST_KEYS, allowed=_MNIST_KEYS)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{exc}: {_MNIST_HINT}") from None
    except ValueError as exc:
        raise ValueError(f"{exc}: {_MNIST_HINT}") from None
    where = f"MNIST file {path!r}"
    for key, array in data.items():
        image = key.startswith("x")
        if array.dtype != np.uint8 or array.ndim != (3 if image else 1) or len(array) == 0 \
                or (image and array.shape[1:] != (28, 28)):
            expected = "(n, 28, 28) with n >= 1" if image else "(n,) with n >= 1"
            raise ValueError(f"{where}: {key} is {array.dtype} {array.shape}, "
                             f"expected uint8 {expected}: {_MNIST_HINT}")
    for split in ("train", "test"):
        x, y = data[f"x_{split}"], data[f"y_{split}"]
        if len(x) != len(y):
            raise ValueError(f"{where}: {len(x)} {split} images but {len(y)} labels: {_MNIST_HINT}")
        if y.max() >= NUM_CLASSES:
            raise ValueError(f"{where}: y_{split} holds label {y.max()}, expected 0..9: {_MNIST_HINT}")
    return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])


def preprocess(x):
    """Images (m, 28, 28) uint8 in 0..255 -> X (m, 784) float32 in [0, 1].

    Lesson 00.
    """
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"preprocess expects uint8 images (m, 28, 28), got {x.dtype} {x.shape}")
    return x.reshape(len(x), -1).astype(np.float32) / np.float32(255)


# =========================================================================== Lesson 01: one-hot labels
def one_hot(y, num_classes=NUM_CLASSES, dtype=np.float32):
    """Labels y (m,) ints in 0..k-1 -> Y (m, k) with Y[i, y[i]] = 1.

    k is ``num_classes``, never ``y.max() + 1``: a batch without any 9 still has ten columns.

    Lesson 01.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"one_hot expects labels of shape (m,), got shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"one_hot expects integer labels, got dtype {y.dtype} (use y.astype(int))")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"one_hot: labels must lie in 0..{num_classes - 1}, "
                         f"got values from {y.min()} to {y.max()}")
    Y = np.zeros((y.size, num_classes), dtype=dtype)          # (m, k)
    Y[np.arange(y.size), y] = 1
    return Y


# =========================================================================== Lesson 02: ReLU, gradient checking
def relu(Z):
    """ReLU(Z) = max(Z, 0), elementwise; same shape as Z.

    Lesson 02.
    """
    return np.maximum(Z, 0)


def relu_derivative(Z):
    """dReLU/dZ: 1 where Z > 0, else 0 (we take 0 at the kink Z = 0); same shape as Z.

    Lesson 02.
    """
    return (Z > 0).astype(np.result_type(Z, np.float32))


def numerical_gradient(f, x, eps=1e-6):
    """Centred finite differences of a scalar f() w.r.t. array x (any shape) -> same shape.

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps); error O(eps^2). ``f``
    takes no arguments and reads x, which is changed in place and restored.
    Use float64: in float32 the rounding error of f swamps the differences.

    Lesson 02.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        f_plus = f()
        x[i] = old - eps
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a, b):
    """max |a - b| / max(|a| + |b|, 1e-12), elementwise max.

    In float64 with centred differences (eps 1e-6; 1e-5 for a mean loss over a batch),
    below 1e-7 means agreement; an entry too small to carry seven digits agrees when its
    absolute error is below 1e-10 (lesson 05). A wrong formula gives 1e-2 or more.

    Lesson 02.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12)))


# =========================================================================== Lesson 03: softmax, cross-entropy
def softmax(Z):
    """Row-wise softmax of logits Z (m, k) -> probabilities A (m, k).

    Subtracting each row's maximum first changes nothing mathematically but keeps
    exp() from overflowing: the largest exponent is exp(0) = 1.

    Lesson 03.
    """
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))              # (m, k), entries in (0, 1]
    return E / E.sum(axis=-1, keepdims=True)                   # (m, k), rows sum to 1


def cross_entropy(A2, Y):
    """Mean cross-entropy L = -1/m sum_i sum_j Y_ij log A2_ij; A2, Y (m, k) -> scalar.

    Probabilities are clipped to the smallest positive normal float first, so log(0) never
    happens: a confident wrong answer costs a large but finite loss.

    Lesson 03.
    """
    A2, Y = np.asarray(A2), np.asarray(Y)
    if A2.shape != Y.shape or A2.ndim != 2:
        raise ValueError(f"cross_entropy expects A2 and one-hot Y of one shape (m, k), "
                         f"got {A2.shape} and {Y.shape}")
    tiny = np.finfo(np.result_type(A2, np.float32)).tiny
    return float(-np.sum(Y * np.log(np.maximum(A2, tiny))) / len(Y)) + 0.0  # never -0.0


# =========================================================================== Lesson 04: init, forward pass
def init_params(n_input=784, n_hidden=10, n_output=NUM_CLASSES, rng=None, init="lecun",
                dtype=np.float32):
    """Random weights, zero biases: {W1 (n_input, h), b1 (h,), ..., WL (h', n_output), bL}.

    ``n_hidden`` is an int (one hidden layer, as in the original) or a sequence of
    ints (one per hidden layer; empty: no hidden layer). ``W{l}`` (n_{l-1}, n_l) ~
    N(0, s^2) with s = sqrt(1/n_{l-1}) for ``init="lecun"`` (LeCun et al. 1998) or
    sqrt(2/n_{l-1}) for ``"he"`` (He et al. 2015); ``b{l}`` (n_l,) = 0. ``rng``: a seed or a ``np.random.Generator``.

    Lesson 04.
    """
    gain = {"lecun": 1.0, "he": 2.0}
    if init not in gain:
        raise ValueError(f"init_params: init must be 'lecun' (std sqrt(1/n_in)) or 'he' "
                         f"(std sqrt(2/n_in)), got {init!r}")
    hidden = [n_hidden] if np.ndim(n_hidden) == 0 else list(n_hidden)
    if not all(_is_int(n) and n >= 1 for n in hidden):
        raise ValueError(f"init_params: n_hidden must be an integer >= 1 or a sequence of them, "
                         f"got {n_hidden!r}")
    n_input = _check_int(n_input, "n_input", "init_params")
    n_output = _check_int(n_output, "n_output", "init_params")
    if np.dtype(dtype).kind != "f":
        raise ValueError(f"init_params: dtype must be a float dtype, got {np.dtype(dtype)}")
    rng = _rng(rng)
    sizes = [n_input, *(int(n) for n in hidden), n_output]
    params = {}
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        scale = np.sqrt(gain[init] / fan_in)
        params[f"W{l}"] = (rng.standard_normal((fan_in, fan_out)) * scale).astype(dtype)
        params[f"b{l}"] = np.zeros(fan_out, dtype=dtype)
    return params


def layer_sizes(params):
    """[n_0, n_1, ..., n_L] of an MLP's params dict, checking that the shapes chain.

    Lesson 04.
    """
    L = len(params) // 2
    if L < 1 or set(params) != {f"{p}{l}" for l in range(1, L + 1) for p in "Wb"}:
        raise ValueError(f"params must hold W1, b1, ..., WL, bL; got {sorted(map(str, params))}")
    first = np.shape(params["W1"])
    sizes = [first[0] if first else 0]                          # n_0, the number of inputs
    for l in range(1, L + 1):
        W, b = np.shape(params[f"W{l}"]), np.shape(params[f"b{l}"])
        if len(W) != 2 or W[0] != sizes[-1] or b != (W[1],):
            raise ValueError(f"params: W{l} {W} and b{l} {b} do not fit a layer with "
                             f"{sizes[-1]} inputs (expected ({sizes[-1]}, n) and (n,))")
        sizes.append(W[1])
    return sizes


def forward_propagation(X, params, dropout=0.0, rng=None):
    """Forward pass for X (m, d) -> cache dict with Z1, A1, ..., ZL, AL.

    Original net: Z1 = X @ W1 + b1 (m, h); A1 = relu(Z1) (m, h);
    Z2 = A1 @ W2 + b2 (m, k); A2 = softmax(Z2) (m, k), each row a distribution.

    ``dropout`` p in [0, 1) (for training only; derived in lesson 09): every hidden activation
    A{l} (m, n_l), l < L, is multiplied by a mask D{l} (m, n_l) whose entries are
    1/keep with probability keep = 1 - p and 0 otherwise ("inverted" dropout: the
    mean of A{l} is unchanged, so predictions need no rescaling). The masks are
    drawn from ``rng`` (a seed or a np.random.Generator) and kept in the cache as
    D1, ..., D{L-1}, for ``backward_propagation``; A{l} in the cache is the dropped
    activation. p = 0 (the default) draws nothing and gives the plain forward pass.

    Lesson 04.
    """
    sizes = layer_sizes(params)
    _check_X(X, sizes[0])
    dropout = _check_dropout(dropout, "forward_propagation")
    if dropout:
        keep, rng = 1.0 - dropout, _rng(rng)
    L, A, cache = len(sizes) - 1, X, {}
    for l in range(1, L + 1):
        Z = A @ params[f"W{l}"] + params[f"b{l}"]               # (m, n_l)
        A = relu(Z) if l < L else softmax(Z)                    # (m, n_l)
        if dropout and l < L:
            D = (rng.random(A.shape) < keep).astype(A.dtype) / A.dtype.type(keep)  # (m, n_l): 0 or 1/keep
            A = A * D                                           # (m, n_l)
            cache[f"D{l}"] = D
        cache[f"Z{l}"], cache[f"A{l}"] = Z, A
    return cache


# =========================================================================== Lesson 05: backward pass
def backward_propagation(X, Y, params, cache):
    """Gradients of the mean cross-entropy -> dict dW1, db1, ..., dWL, dbL.

    Original net, with m = X.shape[0] (the batch at hand, never a global):
    dZ2 = (A2 - Y) / m (m, k); dW2 = A1.T @ dZ2 (h, k); db2 = dZ2 summed over rows (k,);
    dZ1 = (dZ2 @ W2.T) * relu'(Z1) (m, h); dW1 = X.T @ dZ1 (d, h); db1 = sum over rows (h,).

    If the cache holds dropout masks D{l} (``forward_propagation(..., dropout=p)``),
    the gradient flows back through the same masks: dZ{l} = (dZ{l+1} @ W{l+1}.T) * D{l}
    * relu'(Z{l}) (m, n_l) (lesson 09).

    Lesson 05.
    """
    L = len(layer_sizes(params)) - 1
    if Y.shape != cache[f"A{L}"].shape:
        raise ValueError(f"Y must be one-hot of shape {cache[f'A{L}'].shape}, got {Y.shape}")
    m = X.shape[0]
    dZ = (cache[f"A{L}"] - Y) / m                               # (m, n_L)
    grads = {}
    for l in range(L, 0, -1):
        A_prev = cache[f"A{l - 1}"] if l > 1 else X             # (m, n_{l-1})
        grads[f"dW{l}"] = A_prev.T @ dZ                         # (n_{l-1}, n_l)
        grads[f"db{l}"] = dZ.sum(axis=0)                        # (n_l,) -- rows only
        if l > 1:
            dA = dZ @ params[f"W{l}"].T                         # (m, n_{l-1})
            if f"D{l - 1}" in cache:
                dA = dA * cache[f"D{l - 1}"]                    # (m, n_{l-1}): dropped units get 0
            dZ = dA * relu_derivative(cache[f"Z{l - 1}"])       # (m, n_{l-1})
    return grads


# =========================================================================== Lesson 06: gradient descent
def update_params(params, grads, learning_rate):
    """One gradient-descent step: P <- P - alpha * dP for every P; a new dict.

    ``learning_rate`` alpha: a finite number >= 0 (0 leaves params unchanged).

    Lesson 06.
    """
    learning_rate = _check_rate(learning_rate, "update_params", allow_zero=True)
    if set(grads) != {f"d{key}" for key in params}:
        raise ValueError(f"grads {sorted(grads)} do not match params {sorted(params)}")
    return {key: P - learning_rate * grads[f"d{key}"] for key, P in params.items()}


def get_predictions(A2):
    """Predicted labels (m,): the most probable class of each row of A2 (m, k).

    Lesson 06.
    """
    return np.argmax(A2, axis=1)


def get_accuracy(predictions, y):
    """Fraction of predictions (m,) equal to the labels y (m,).

    Lesson 06.
    """
    predictions, y = np.asarray(predictions), np.asarray(y)
    if predictions.shape != y.shape or y.ndim != 1:
        raise ValueError(f"get_accuracy expects two (m,) arrays, got {predictions.shape} and {y.shape}")
    return float(np.mean(predictions == y))


def predict_proba(X, params, batch_size=10000):
    """Class probabilities A (m, k) of the MLP for X (m, d), batch_size rows at a time.

    Refuses NaN or infinite values in params or X, and X outside [0, 1] (such as
    uint8 pixels 0..255 or unscaled floats: use ``preprocess``).

    Lesson 08.
    """
    sizes = _check_params(params, "predict_proba")
    _check_X(X, sizes[0])
    _check_data(X, "predict_proba")
    batch_size = _check_int(batch_size, "batch_size", "predict_proba")
    L = len(sizes) - 1
    return np.concatenate([forward_propagation(X[i:i + batch_size], params)[f"A{L}"]
                           for i in range(0, len(X), batch_size)])     # (m, k)


def make_predictions(X, params):
    """Labels (m,) predicted for X (m, d): probabilities, then argmax.

    Lesson 06.
    """
    return get_predictions(predict_proba(X, params))


def gradient_descent(X, y, learning_rate, iterations, n_hidden=10, rng=None, init="lecun",
                     params=None, progress=True, log_every=50):
    """Full-batch gradient descent on X (m, d) in [0, 1], labels y (m,).

    Starts from ``params`` or from ``init_params(d, n_hidden, 10, rng, init)`` in
    X's dtype. Returns ``(params, history)``; history holds "loss" and "accuracy" of
    the training set before each update, as arrays (iterations,).
    ``progress=True`` prints a line every ``log_every`` iterations; False is silent.

    Lesson 06.
    """
    where = "gradient_descent"
    learning_rate = _check_rate(learning_rate, where)
    iterations = _check_int(iterations, "iterations", where)
    log_every = _check_int(log_every, "log_every", where)
    _check_data(X, where)
    if params is None:
        _check_X(X, X.shape[1] if X.ndim == 2 else 784)
        params = init_params(X.shape[1], n_hidden, NUM_CLASSES, rng, init, X.dtype)
    sizes = _check_params(params, where)
    _check_X(X, sizes[0])
    y = _check_labels(y, len(X), sizes[-1], where)
    Y = one_hot(y, sizes[-1], dtype=X.dtype)                    # (m, k)
    L = len(sizes) - 1
    loss, accuracy = np.empty(iterations), np.empty(iterations)
    for i in range(iterations):
        cache = forward_propagation(X, params)
        loss[i] = cross_entropy(cache[f"A{L}"], Y)
        accuracy[i] = get_accuracy(get_predictions(cache[f"A{L}"]), y)
        if not np.isfinite(loss[i]):
            raise ValueError(f"loss became {loss[i]} at iteration {i}: lower the learning rate")
        if progress and (i % log_every == 0 or i == iterations - 1):
            print(f"iteration {i:5d}  loss {loss[i]:.4f}  train accuracy {accuracy[i]:.4f}")
        params = update_params(params, backward_propagation(X, Y, params, cache), learning_rate)
    return params, {"loss": loss, "accuracy": accuracy}


def save_params(path, params, **metadata):
    """Save params {name: float array} to a ``.npz`` file, atomically, with metadata.

    Works for any params dict (the MLP's W1, b1, ..., the CNN's K1, b1, ...): names
    are Python identifiers, values finite float arrays with at least one axis. The
    metadata (JSON-serialisable keyword arguments, plus "shapes", "layer_sizes" for
    an MLP, the preprocessing, the npcore version and a SHA-256 of the arrays) is
    stored as a JSON string, so loading needs no pickle. The file is written beside
    ``path`` under a temporary name and renamed: a crash never leaves half a file.

    Lesson 06.
    """
    path = os.fspath(path)
    if not str(path).endswith(".npz"):
        raise ValueError(f"save_params writes .npz files; {path!r} does not end in .npz")
    sizes = _check_param_arrays(params, "save_params")
    reserved = sorted(set(metadata) & {"npcore_version", "preprocessing", "shapes", "sha256",
                                       "layer_sizes"})
    if reserved:
        raise ValueError(f"save_params: {', '.join(reserved)} cannot be given as metadata, "
                         f"save_params records it itself")
    meta = {**metadata, "npcore_version": __version__,
            "preprocessing": "x.reshape(n, 784).astype(float32) / 255",
            "shapes": {key: list(P.shape) for key, P in params.items()},
            "sha256": _digest(params)}
    if sizes is not None:
        meta["layer_sizes"] = sizes
    arrays = {key: np.asarray(P) for key, P in params.items()}
    arrays["__metadata__"] = np.array(json.dumps(meta))
    safe_npz.write_npz_atomic(path, arrays)


def load_params(path, with_metadata=False):
    """Load params saved by ``save_params``; never unpickles.

    Checks the file (safe_npz), the array names, dtypes, finiteness, the shapes and
    the SHA-256 stored in the metadata; any problem raises ``ValueError`` naming the
    file (``FileNotFoundError`` if there is none). Returns the params dict, or
    ``(params, metadata)`` with ``with_metadata=True``.

    Lesson 06.
    """
    path = os.fspath(path)
    arrays = safe_npz.read_npz(path, what="params file", required=["__metadata__"])
    where = f"load_params: {path!r}"
    raw = arrays.pop("__metadata__")
    try:
        if raw.dtype.kind != "U" or raw.ndim != 0:
            raise ValueError(f"a {raw.dtype} array {raw.shape}, expected a JSON string")
        meta = json.loads(raw.item())
        if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str):
            raise ValueError("no sha256 entry")
    except ValueError as exc:
        raise ValueError(f"{where} has no valid __metadata__ ({exc})") from None
    sizes = _check_param_arrays(arrays, where)
    shapes = {key: list(P.shape) for key, P in arrays.items()}
    if ("shapes" in meta and meta["shapes"] != shapes) or \
            ("layer_sizes" in meta and meta["layer_sizes"] != sizes) or \
            ("shapes" not in meta and "layer_sizes" not in meta) or _digest(arrays) != meta["sha256"]:
        raise ValueError(f"{where} was modified after saving (the shapes or the SHA-256 of its "
                         f"arrays do not match its metadata)")
    return (arrays, meta) if with_metadata else arrays


def _digest(params):
    h = hashlib.sha256()
    for key in sorted(params):
        h.update(key.encode() + str(params[key].dtype).encode() + str(params[key].shape).encode())
        h.update(np.ascontiguousarray(params[key]).tobytes())
    return h.hexdigest()


# =========================================================================== Lesson 07: confusion matrix
def confusion_matrix(y_true, y_pred, num_classes=NUM_CLASSES):
    """Counts C (k, k): C[i, j] = samples of true class i predicted as j.

    y_true, y_pred: (m,) ints in 0..k-1. Rows are true labels, so C.sum(axis=1) counts
    each class and np.trace(C) / m is the accuracy.

    Lesson 07.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or y_true.dtype.kind not in "iu" \
            or y_pred.dtype.kind not in "iu":
        raise ValueError(f"confusion_matrix expects two integer (m,) arrays, got "
                         f"{y_true.dtype} {y_true.shape} and {y_pred.dtype} {y_pred.shape}")
    if y_true.size and (min(y_true.min(), y_pred.min()) < 0
                        or max(y_true.max(), y_pred.max()) >= num_classes):
        raise ValueError(f"confusion_matrix: labels must lie in 0..{num_classes - 1}")
    flat = num_classes * y_true.astype(np.int64) + y_pred              # (m,) cell of each sample
    return np.bincount(flat, minlength=num_classes ** 2).reshape(num_classes, num_classes)


# =========================================================================== Lesson 08: mini-batches
def iterate_minibatches(X, y, batch_size, rng=None):
    """Shuffled mini-batches: yields (X_batch (b, ...), y_batch (b,)), every sample once.

    One permutation of the m rows, cut into consecutive slices: b = batch_size except
    for the last batch, which holds the m % batch_size leftovers (if any). ``rng`` a
    seed or a np.random.Generator: a seed gives the same order on every call, a
    Generator a new order each call (one per epoch, as training wants).

    Lesson 08.
    """
    batch_size = _check_int(batch_size, "batch_size", "iterate_minibatches")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
    order = _rng(rng).permutation(len(X))                       # (m,)
    for start in range(0, len(X), batch_size):
        batch = order[start:start + batch_size]                # (b,)
        yield X[batch], y[batch]                               # (b, d), (b,)


# --------------------------------------------------------------------------- optimizers
def init_optimizer_state(params, optimizer="momentum"):
    """Zeroed optimizer state for ``params``.

    ``"sgd"``: {} (nothing to remember); ``"momentum"``: the velocity
    {W1: zeros like W1, ...}; ``"adam"``: {"t": 0, "m": {W1: ...}, "v": {W1: ...}}.

    Lesson 08.
    """
    zeros = lambda: {key: np.zeros_like(P) for key, P in params.items()}  # noqa: E731
    if optimizer == "sgd":
        return {}
    if optimizer == "momentum":
        return zeros()
    if optimizer == "adam":
        return {"t": 0, "m": zeros(), "v": zeros()}
    raise ValueError(f"optimizer must be 'sgd', 'momentum' or 'adam', got {optimizer!r}")


def sgd_update(params, grads, state, learning_rate):
    """Plain SGD, in place: P <- P - alpha dP for every P; ``state`` ({}) is unused.

    Unlike ``update_params`` (lesson 06), which builds a new dict, this changes the
    arrays of ``params`` and returns ``params``.

    Lesson 08.
    """
    if FAST:
        return _sgd_in_pieces(params, grads, learning_rate)
    for key, P in params.items():
        P -= learning_rate * grads[f"d{key}"]
    return params


def momentum_update(params, grads, velocity, learning_rate, beta=0.9):
    """SGD with momentum, in place: V <- beta V - alpha dP;  P <- P + V.

    Same shapes as ``params``; V is ``velocity[key]``. This is Keras's (and
    Sutskever et al.'s) form; PyTorch keeps V' = -V / alpha, the same steps for
    a constant alpha. Changes ``params`` and ``velocity`` in place (no new
    arrays of the parameters' size) and returns ``params``.

    Lesson 08.
    """
    if FAST:
        return _momentum_in_pieces(params, grads, velocity, learning_rate, beta)
    for key, P in params.items():
        V = velocity[key]
        V *= beta                                              # beta V
        V -= learning_rate * grads[f"d{key}"]                  # beta V - alpha dP
        P += V
    return params


def adam_update(params, grads, state, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam (Kingma & Ba 2015), in place; ``state`` from init_optimizer_state.

    t <- t + 1;  M <- beta1 M + (1 - beta1) dP;  S <- beta2 S + (1 - beta2) dP**2;
    P <- P - alpha * (M / (1 - beta1**t)) / (sqrt(S / (1 - beta2**t)) + eps).
    Dividing by 1 - beta**t (bias correction) undoes the pull towards the zeros M
    and S start from. M, S (``state["m"][key]``, ``state["v"][key]``) have P's shape.
    Returns ``params``.

    Lesson 08.
    """
    state["t"] += 1
    t = state["t"]
    if FAST:
        return _adam_in_pieces(params, grads, state, learning_rate, beta1, beta2, eps, t)
    for key, P in params.items():
        dP, M, S = grads[f"d{key}"], state["m"][key], state["v"][key]
        M *= beta1
        M += (1 - beta1) * dP                                  # running mean of dP
        S *= beta2
        S += (1 - beta2) * dP**2                               # running mean of dP**2
        P -= learning_rate * (M / (1 - beta1**t)) / (np.sqrt(S / (1 - beta2**t)) + eps)
    return params


OPTIMIZERS = {"sgd": sgd_update, "momentum": momentum_update, "adam": adam_update}
_OPTION_RANGES = {"beta": "in [0, 1)", "beta1": "in [0, 1)", "beta2": "in [0, 1)", "eps": "> 0"}


def get_optimizer(name, **options):
    """The update ``(params, grads, state, learning_rate) -> params`` of optimizer ``name``.

    ``name`` is a key of ``OPTIMIZERS``; ``options`` are that optimizer's keyword
    arguments (momentum: beta; adam: beta1, beta2, eps; sgd: none). An unknown name,
    an option the optimizer does not take or a value out of range (a beta outside
    [0, 1), eps <= 0) raises ValueError.

    Lesson 08.
    """
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}, got {name!r}")
    update = OPTIMIZERS[name]
    takes = list(inspect.signature(update).parameters)[4:]     # after params, grads, state, lr
    stray = sorted(set(options) - set(takes))
    if stray:
        raise ValueError(f"optimizer {name!r} takes no option {', '.join(stray)}; "
                         f"its options: {', '.join(takes) or 'none'}")
    for key, value in options.items():
        ok = _is_real(value) and math.isfinite(value)
        if key in ("beta", "beta1", "beta2"):
            ok = ok and 0 <= value < 1
        elif key == "eps":
            ok = ok and value > 0
        if not ok:
            expected = _OPTION_RANGES.get(key, "finite")
            raise ValueError(f"optimizer {name!r}: {key} must be a number {expected}, got {value!r}")
    # Python floats, as in the lesson: an np.float64 beta would compute float32 updates in float64
    options = {key: float(value) for key, value in options.items()}
    return functools.partial(update, **options) if options else update


# Speed only -- FAST computes the same numbers to the last bit (the tests check it). An
# update makes several passes over arrays of up to 400,000 numbers (W1 of a 784->512
# layer). Done on whole arrays, every pass streams megabytes through the memory
# hierarchy; _elementwise instead cuts the arrays into matching pieces of 2**16 numbers
# (256 KB in float32), so that a piece of P, dP and V stays in the core's cache for all
# the passes of the rule: about a quarter less time per update. Each rule below is the
# loop body of its optimizer above, applied to pieces. (Spreading the pieces over two
# threads did not help in our measurements: right after a matrix product, BLAS's worker
# thread keeps spinning on the other core for a while, waiting for more work.)
_PIECE = 1 << 16


def _elementwise(step, groups):
    """Call step(*arrays) on matching pieces of every group of same-shaped arrays."""
    for arrays in groups:
        if not all(a.flags.c_contiguous and a.shape == arrays[0].shape for a in arrays):
            step(*arrays)                                      # unusual layout: whole arrays
            continue
        flat = [a.reshape(-1) for a in arrays]                 # views, no copies
        for i in range(0, flat[0].size, _PIECE):
            step(*[f[i:i + _PIECE] for f in flat])


def _sgd_in_pieces(params, grads, learning_rate):
    def step(P, dP):
        P -= learning_rate * dP
    _elementwise(step, [(P, grads[f"d{key}"]) for key, P in params.items()])
    return params


def _momentum_in_pieces(params, grads, velocity, learning_rate, beta):
    def step(P, dP, V):
        V *= beta
        V -= learning_rate * dP
        P += V
    _elementwise(step, [(P, grads[f"d{key}"], velocity[key]) for key, P in params.items()])
    return params


def _adam_in_pieces(params, grads, state, learning_rate, beta1, beta2, eps, t):
    def step(P, dP, M, S):
        M *= beta1
        M += (1 - beta1) * dP
        S *= beta2
        S += (1 - beta2) * dP**2
        P -= learning_rate * (M / (1 - beta1**t)) / (np.sqrt(S / (1 - beta2**t)) + eps)
    _elementwise(step, [(P, grads[f"d{key}"], state["m"][key], state["v"][key])
                        for key, P in params.items()])
    return params


# --------------------------------------------------------------------------- schedule
def cosine_schedule(step, total_steps, base_lr, final_lr=0.0, warmup_steps=0):
    """Learning rate (a float) at ``step`` (0-based) of ``total_steps``.

    Rises linearly to ``base_lr`` over ``warmup_steps`` steps (none by default),
    then follows half a cosine from ``base_lr`` down to ``final_lr`` at the last step:
    lr = final + (base - final) (1 + cos(pi p)) / 2, p = progress in [0, 1].

    Lesson 08.
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    p = (step - warmup_steps) / max(total_steps - 1 - warmup_steps, 1)
    # a Python float: an np.float64 would turn float32 updates into float64
    return float(final_lr + (base_lr - final_lr) * 0.5 * (1 + np.cos(np.pi * min(p, 1.0))))


# --------------------------------------------------------------------------- augmentation
def shift_images(X, rng=None, max_shift=1):
    """Each image of X (b, 784) or (b, 28, 28, 1) moved by its own random (dy, dx).

    dy, dx are drawn from ``rng`` in -max_shift..max_shift (down/right positive);
    pixels moved out of the 28 x 28 frame are dropped, the uncovered border is 0.
    Returns a new array of X's shape. Data augmentation: a digit moved by a pixel is
    still the same digit, so every epoch shows the network slightly different images
    of the same digits. ``rng`` a seed or a np.random.Generator: a seed gives the same
    shifts on every call, a Generator new ones each call.

    Lesson 09.
    """
    if not isinstance(X, np.ndarray) or X.ndim < 2 or math.prod(X.shape[1:]) != 784:
        raise ValueError(f"shift_images expects images X (b, 784) or (b, 28, 28, 1), "
                         f"got {getattr(X, 'dtype', type(X).__name__)} {np.shape(X)}")
    if not _is_int(max_shift) or not 0 <= max_shift < 28:
        raise ValueError(f"shift_images: max_shift must be an integer in 0..27, got {max_shift!r}")
    rng = _rng(rng)
    images = X.reshape(-1, 28, 28)                             # (b, 28, 28)
    dy, dx = rng.integers(-max_shift, max_shift + 1, size=(2, len(images)))  # (b,) each
    to = lambda s: slice(max(s, 0), 28 + min(s, 0))            # noqa: E731  rows/cols written ...
    fro = lambda s: slice(max(-s, 0), 28 + min(-s, 0))         # noqa: E731  ... and read, for shift s
    out = np.zeros_like(images)
    for sy in range(-max_shift, max_shift + 1):                # one slice copy per shift
        for sx in range(-max_shift, max_shift + 1):
            i = np.flatnonzero((dy == sy) & (dx == sx))        # the images moved by (sy, sx)
            out[i, to(sy), to(sx)] = images[i, fro(sy), fro(sx)]
    return out.reshape(X.shape)


# --------------------------------------------------------------------------- loss, evaluation, training
def loss_and_grads(X, y, params, label_smoothing=0.0, weight_decay=0.0, dropout=0.0, rng=None):
    """(loss, grads, A) of the MLP on a batch X (b, d), labels y (b,).

    A (b, k) are the output probabilities, so a training loop can count correct
    answers without a second forward pass. ``label_smoothing`` e trains against
    the targets (1 - e) Y + e / k instead of the one-hot Y; rows still sum to 1, so
    dZL = (AL - Y) / b still holds, and the loss is the one against those targets.
    The same contract as ``npconv.cnn_loss_and_grads``: ``train`` takes either.

    Regularisation, derived in lesson 09, both off by default:

    * ``weight_decay`` lambda >= 0 (L2): the loss is the mean cross-entropy plus
      (lambda / 2) sum_l ||W{l}||^2 over the weights only (not the biases), so
      dW{l} (n_{l-1}, n_l) gains lambda W{l}; db{l} is unchanged. With plain SGD the
      step P - alpha (dP + lambda P) = (1 - alpha lambda) P - alpha dP shrinks every
      weight by a constant factor: L2 and decoupled weight decay are then the same
      (with momentum or Adam they are not; this is L2, added to the gradient).
    * ``dropout`` p in [0, 1): the forward pass drops hidden units with masks drawn
      from ``rng`` and the backward pass uses the same masks (``forward_propagation``).

    Lesson 08.
    """
    weight_decay = _check_weight_decay(weight_decay, "loss_and_grads")
    cache = forward_propagation(X, params, dropout, rng)
    L = len(params) // 2
    A = cache[f"A{L}"]                                         # (b, k)
    Y = one_hot(y, A.shape[1], A.dtype)                        # (b, k)
    if label_smoothing:
        Y = (1 - label_smoothing) * Y + label_smoothing / Y.shape[1]
    loss, grads = cross_entropy(A, Y), backward_propagation(X, Y, params, cache)
    if weight_decay:
        for l in range(1, L + 1):
            W = params[f"W{l}"]                                # (n_{l-1}, n_l)
            loss += 0.5 * weight_decay * float(np.vdot(W, W))    # sum of squares, no copy of W
            grads[f"dW{l}"] = grads[f"dW{l}"] + W.dtype.type(weight_decay) * W   # (n_{l-1}, n_l)
    return loss, grads, A


def evaluate(X, y, params, predict_proba=predict_proba, batch_size=10000):
    """(mean cross-entropy, accuracy) of params on X (m, ...) in [0, 1], labels y (m,).

    Works through X in chunks of ``batch_size`` rows, each handed to
    ``predict_proba(X_chunk, params) -> A (b, k)`` (the MLP's by default; pass
    ``npconv.cnn_predict_proba`` for the CNN). The loss is against one-hot labels.

    Lesson 08.
    """
    if not callable(predict_proba):
        raise ValueError(f"evaluate: predict_proba must be a function (X, params) -> A (m, k), "
                         f"got {predict_proba!r} (pass batch_size by keyword)")
    batch_size = _check_int(batch_size, "batch_size", "evaluate")
    _check_data(X, "evaluate")
    y = _check_labels(y, len(X), None, "evaluate")
    loss, correct = 0.0, 0
    for start in range(0, len(X), batch_size):
        A = predict_proba(X[start:start + batch_size], params)   # (b, k)
        if start == 0:
            _check_labels(y, len(X), A.shape[1], "evaluate")
        yb = y[start:start + batch_size]
        loss += cross_entropy(A, one_hot(yb, A.shape[1], A.dtype)) * len(yb)
        correct += int(np.sum(get_predictions(A) == yb))
    return loss / len(X), correct / len(X)


def train(X, y, params, epochs, batch_size, learning_rate, optimizer="momentum", rng=None,
          X_val=None, y_val=None, schedule="cosine", warmup_steps=0, augment=None,
          label_smoothing=0.0, weight_decay=0.0, dropout=0.0, progress=False, callback=None,
          loss_and_grads=loss_and_grads, predict_proba=predict_proba, **optimizer_options):
    """Mini-batch training of ``params`` on X (m, ...) in [0, 1], labels y (m,).

    Each epoch shuffles (``iterate_minibatches`` with ``rng``) and takes one step
    per batch: ``loss_and_grads(X_batch, y_batch, params, label_smoothing=...)
    -> (loss, grads, A)``, then ``optimizer`` ("sgd", "momentum" or "adam"; its
    options such as beta are keyword arguments, see ``get_optimizer``).
    ``schedule="cosine"`` decays the rate from ``learning_rate`` to 0 over all
    steps, None keeps it constant; either way the rate first rises linearly over
    ``warmup_steps`` steps. ``augment(X_batch, rng) -> X_batch`` (e.g.
    ``shift_images``), if given, changes every training batch, drawing from the
    same ``rng``. The MLP's ``loss_and_grads`` and ``predict_proba`` are the
    defaults; ``npconv`` passes the CNN's.

    ``weight_decay`` (lambda >= 0) and ``dropout`` (p in [0, 1)) regularise
    (lesson 09): when non-zero they are passed on to ``loss_and_grads`` (dropout
    with ``rng``, so a seed fixes the masks too); a ``loss_and_grads`` that does not
    take them is refused before the first step. The history's "loss" then includes
    the penalty (lambda / 2) sum ||W||^2 and, like "accuracy", is measured with the
    units dropped; validation never drops.

    Returns ``(params, history)``; ``params`` is updated in place. history holds
    arrays (epochs,): "loss" and "accuracy" (mean over the epoch's batches, as
    Keras reports them; the loss against the targets trained on), "val_loss" and
    "val_accuracy" (after the epoch, ``evaluate`` on X_val; NaN without X_val),
    "lr" (at the epoch's last step) and "seconds" (training time of the epoch,
    validation excluded). ``progress=True`` prints one line per epoch.
    ``callback(epoch, history)``, if given, is called after each epoch (0-based,
    after validation) with the history so far (entries after ``epoch`` are NaN);
    ``training_progress.live`` makes one that shows a bar and a live curve. It
    does not change the training: the results are the same with and without it.
    Every argument is checked before the first step.

    Lesson 08.
    """
    where = "train"
    epochs = _check_int(epochs, "epochs", where)
    batch_size = _check_int(batch_size, "batch_size", where)
    learning_rate = _check_rate(learning_rate, where)
    update = get_optimizer(optimizer, **optimizer_options)
    if schedule not in (None, "cosine"):
        raise ValueError(f"train: schedule must be None or 'cosine', got {schedule!r}")
    warmup_steps = _check_int(warmup_steps, "warmup_steps", where, low=0)
    if not (_is_real(label_smoothing) and 0 <= label_smoothing < 1):
        raise ValueError(f"train: label_smoothing must be a number in [0, 1), got {label_smoothing!r}")
    label_smoothing = float(label_smoothing)                   # float32 targets stay float32
    regularise = {}
    if _check_weight_decay(weight_decay, where):
        regularise["weight_decay"] = float(weight_decay)
    if _check_dropout(dropout, where):
        regularise["dropout"] = float(dropout)
    for name, fn in (("loss_and_grads", loss_and_grads), ("predict_proba", predict_proba)):
        if not callable(fn):
            raise ValueError(f"train: {name} must be a function, got {fn!r}")
    if callback is not None and not callable(callback):
        raise ValueError(f"train: callback must be None or a function (epoch, history), got {callback!r}")
    if augment is not None and not callable(augment):
        raise ValueError(f"train: augment must be None or a function (X_batch, rng) -> X_batch, "
                         f"got {augment!r}")
    _check_data(X, where)
    k = predict_proba(X[:1], params).shape[1]                  # checks params against X
    y = _check_labels(y, len(X), k, where)
    if (X_val is None) != (y_val is None):
        raise ValueError("train: give X_val and y_val together (or neither)")
    if X_val is not None:
        _check_data(X_val, where, "X_val")
        predict_proba(X_val[:1], params)
        y_val = _check_labels(y_val, len(X_val), k, where, "y_val", "X_val")
    if regularise:
        takes = inspect.signature(loss_and_grads).parameters
        wanted = [*regularise, "rng"] if "dropout" in regularise else list(regularise)
        missing = [name for name in wanted if name not in takes]
        if missing and not any(p.kind is p.VAR_KEYWORD for p in takes.values()):
            raise ValueError(f"train: {', '.join(regularise)} need a loss_and_grads that takes "
                             f"{', '.join(wanted)}; {getattr(loss_and_grads, '__name__', loss_and_grads)} "
                             f"does not take {', '.join(missing)}")
    rng = _rng(rng)
    if "dropout" in regularise:
        regularise["rng"] = rng                                # the masks come from train's rng
    state = init_optimizer_state(params, optimizer)
    total_steps = epochs * -(-len(X) // batch_size)
    history = {key: np.full(epochs, np.nan) for key in
               ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")}
    step = 0
    for epoch in range(epochs):
        start, loss_sum, correct = time.perf_counter(), 0.0, 0
        for Xb, yb in iterate_minibatches(X, y, batch_size, rng):
            if augment is not None:
                Xb = augment(Xb, rng)                          # same shape as Xb
            if schedule == "cosine":
                lr = cosine_schedule(step, total_steps, learning_rate, warmup_steps=warmup_steps)
            elif step < warmup_steps:                          # the warm-up of cosine_schedule
                lr = learning_rate * (step + 1) / warmup_steps
            else:
                lr = learning_rate
            loss, grads, A = loss_and_grads(Xb, yb, params, label_smoothing=label_smoothing,
                                            **regularise)
            if not np.isfinite(loss):
                raise ValueError(f"loss became {loss} in epoch {epoch + 1}, step {step + 1}: "
                                 f"lower the learning rate")
            loss_sum += loss * len(yb)
            correct += int(np.sum(get_predictions(A) == yb))
            update(params, grads, state, lr)
            step += 1
        history["seconds"][epoch] = time.perf_counter() - start   # training only
        history["loss"][epoch], history["accuracy"][epoch] = loss_sum / len(X), correct / len(X)
        history["lr"][epoch] = lr
        if X_val is not None:
            history["val_loss"][epoch], history["val_accuracy"][epoch] = \
                evaluate(X_val, y_val, params, predict_proba)
        if progress:
            print(_progress_line(history, epoch, epochs, X_val is not None), flush=True)
        if callback is not None:
            callback(epoch, history)
    return params, history


def _progress_line(history, epoch, epochs, with_val):
    """epoch   3/15  loss 0.1234  accuracy 0.9650  val_loss 0.1100  val_accuracy 0.9700  2.1 s"""
    line = f"epoch {epoch + 1:3d}/{epochs}  loss {history['loss'][epoch]:.4f}  " \
           f"accuracy {history['accuracy'][epoch]:.4f}"
    if with_val:
        line += f"  val_loss {history['val_loss'][epoch]:.4f}  " \
                f"val_accuracy {history['val_accuracy'][epoch]:.4f}"
    return line + f"  {history['seconds'][epoch]:.1f} s"


# =========================================================================== checking arguments
# No lesson derives these: they turn a wrong argument into a one-line ValueError that
# names it and says what was expected, instead of a deep NumPy error or silent garbage.
def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, (bool, np.bool_))


def _check_int(value, name, where, low=1):
    if not _is_int(value) or value < low:
        raise ValueError(f"{where}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_rate(value, where, allow_zero=False):
    """A learning rate: a finite number > 0 (>= 0 with allow_zero); returned as a float."""
    if not (_is_real(value) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)):
        raise ValueError(f"{where}: learning_rate must be a finite number "
                         f"{'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def _check_dropout(value, where):
    """A dropout rate p: a number in [0, 1); returned as a float."""
    if not (_is_real(value) and 0 <= value < 1):
        raise ValueError(f"{where}: dropout must be a number in [0, 1) (the fraction of hidden "
                         f"units dropped), got {value!r}")
    return float(value)


def _check_weight_decay(value, where):
    """A weight decay lambda: a finite number >= 0; returned as a float."""
    if not (_is_real(value) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{where}: weight_decay must be a finite number >= 0, got {value!r}")
    return float(value)


def _rng(rng):
    """np.random.default_rng(rng): None, a seed (int >= 0) or a Generator (used as is)."""
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError):
        raise ValueError(f"rng must be None, an integer seed >= 0 or a np.random.Generator, "
                         f"got {rng!r}") from None


def _check_X(X, n_input):
    """X is a float array (m, n_input): what the MLP's forward pass needs."""
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.shape[1] != n_input or X.dtype.kind != "f":
        hint = " (scale uint8 images with npcore.preprocess)" \
            if getattr(X, "dtype", None) is not None and X.dtype.kind in "iub" else ""
        raise ValueError(f"X must be a float array of shape (m, {n_input}), got "
                         f"{getattr(X, 'dtype', type(X).__name__)} {np.shape(X)}{hint}")


def _check_data(X, where, name="X"):
    """X is a float array with at least one row, all values in [0, 1] (one min and max)."""
    if not isinstance(X, np.ndarray) or X.dtype.kind != "f":
        raise ValueError(f"{where}: {name} must be a float array of images scaled to [0, 1] "
                         f"(npcore.preprocess), got {getattr(X, 'dtype', type(X).__name__)} "
                         f"{np.shape(X)}")
    if X.ndim == 0 or len(X) == 0:
        raise ValueError(f"{where}: {name} {X.shape} holds no samples (m = 0), expected at least one")
    lo, hi = X.min(), X.max()
    if not (lo >= 0 and hi <= 1):
        if np.isnan(lo) or np.isnan(hi) or np.isinf(lo) or np.isinf(hi):
            raise ValueError(f"{where}: {name} holds NaN or infinite values")
        raise ValueError(f"{where}: {name} holds values from {lo:g} to {hi:g}, expected images "
                         f"scaled to [0, 1] (uint8 pixels / 255, as npcore.preprocess does)")


def _check_labels(y, m, k, where, name="y", data="X"):
    """y: integer labels (m,) in 0..k-1 (k None: range not checked); returned as an array."""
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"{where}: {name} must be integer labels of shape (m,), got {y.dtype} {y.shape}")
    if len(y) != m:
        raise ValueError(f"{where}: {data} has {m} rows but {name} has {len(y)} labels")
    if k is not None and y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"{where}: {name} holds labels from {y.min()} to {y.max()}, "
                         f"expected 0..{k - 1}")
    return y


def _check_params(params, where):
    """An MLP's params: W1, b1, ... that chain, finite float arrays; returns layer_sizes."""
    if not isinstance(params, dict):
        raise ValueError(f"{where}: params must be a dict of arrays, got {type(params).__name__}")
    try:
        sizes = layer_sizes(params)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    _check_param_arrays(params, where)                          # float, finite, every array
    return sizes


def _check_param_arrays(params, where):
    """Any params dict (MLP or CNN): identifier names, finite float arrays with ndim >= 1.
    Returns layer_sizes for an MLP's keys (W1, b1, ..., WL, bL; their shapes must chain),
    None for other names."""
    if not isinstance(params, dict) or not params:
        raise ValueError(f"{where}: params must be a non-empty dict name -> array, got {params!r:.60}")
    for key, P in params.items():
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("__"):
            raise ValueError(f"{where}: array name {key!r} is not allowed, expected a Python "
                             f"identifier such as W1 or K1 (not starting with __)")
        if not isinstance(P, np.ndarray) or P.dtype.kind != "f" or P.ndim == 0:
            raise ValueError(f"{where}: {key} has dtype {getattr(P, 'dtype', type(P).__name__)} and "
                             f"shape {np.shape(P)}, expected a float array with at least one axis")
        if not np.all(np.isfinite(P)):
            raise ValueError(f"{where}: {key} holds NaN or infinite values")
    L = len(params) // 2
    if L >= 1 and set(params) == {f"{p}{l}" for l in range(1, L + 1) for p in "Wb"}:
        try:
            return layer_sizes(params)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return None


# =========================================================================== command line
def main(argv=None):
    """Train the original 784->10->10 net, report TEST accuracy, save and reload it."""
    import argparse
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--data", help="local mnist.npz (default: $MNIST_NPZ, else Keras's "
                                       "cache, else a download)")
    parser.add_argument("--iterations", type=int, default=500, help="full-batch steps, >= 1")
    parser.add_argument("--learning-rate", type=float, default=0.5, help="> 0")
    parser.add_argument("--hidden", type=int, default=10, help="hidden units, >= 1")
    parser.add_argument("--seed", type=int, default=0, help=">= 0")
    parser.add_argument("--out", default="mnist_784_10_10.npz", help="where to save the params (.npz)")
    args = parser.parse_args(argv)
    if args.iterations < 1:
        parser.error(f"--iterations must be >= 1, got {args.iterations}")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        parser.error(f"--learning-rate must be a finite number > 0, got {args.learning_rate}")
    if args.hidden < 1:
        parser.error(f"--hidden must be >= 1, got {args.hidden}")
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    folder = os.path.dirname(os.path.abspath(args.out))
    if not args.out.endswith(".npz") or os.path.isdir(args.out):
        parser.error(f"--out must be a .npz file name, got {args.out!r}")
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        parser.error(f"--out {args.out!r}: the folder {folder!r} does not exist or is not writable")
    if args.data is not None and not os.path.isfile(args.data):
        parser.error(f"--data {args.data!r} is not a file (expected Keras's mnist.npz)")
    (x_train, y_train), (x_test, y_test) = load_mnist(args.data)
    X_train, X_test = preprocess(x_train), preprocess(x_test)
    start = time.perf_counter()
    params, history = gradient_descent(X_train, y_train, args.learning_rate, args.iterations,
                                       n_hidden=args.hidden, rng=args.seed)
    seconds = time.perf_counter() - start
    train_acc = get_accuracy(make_predictions(X_train, params), y_train)
    test_acc = get_accuracy(make_predictions(X_test, params), y_test)
    print(f"trained {args.iterations} iterations in {seconds:.1f} s")
    print(f"train accuracy {train_acc:.4f}")
    print(f"test accuracy  {test_acc:.4f}")
    save_params(args.out, params, iterations=args.iterations, learning_rate=args.learning_rate,
                seed=args.seed, test_accuracy=test_acc)
    loaded = load_params(args.out)
    first = slice(0, 10)
    before, after = make_predictions(X_test[first], params), make_predictions(X_test[first], loaded)
    print(f"saved to {args.out}; reloaded predictions for test images 0-9: {after.tolist()}")
    print(f"true labels:                                     {y_test[first].tolist()}")
    if not np.array_equal(before, after):
        print("reloaded params predict differently!", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
