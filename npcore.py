"""npcore -- the reference NumPy implementation of every step of the course.

Each function is derived in a lesson (the ``Lesson`` line of its docstring says
which). Conventions used throughout:

* rows are samples: ``X`` (m, d) float32 in [0, 1], ``y`` (m,) int labels,
  ``Y`` (m, k) one-hot; m samples, d = 784 inputs, h hidden units, k = 10 classes;
* layer l has ``W{l}`` (n_{l-1}, n_l) and ``b{l}`` (n_l,); ``Z{l} = A{l-1} @ W{l} + b{l}``
  with ``A0 = X``; hidden layers use ReLU, the last layer softmax;
* ``params`` holds ``W1, b1, ..., WL, bL``; ``grads`` holds ``dW1, db1, ..., dWL, dbL``
  (``dW1`` is dL/dW1 of the mean cross-entropy L).

No plotting, no global state, no global random seeding: randomness comes from a
``np.random.Generator`` (or a seed) passed in. Only ``gradient_descent(progress=True)``,
``train(progress=True)`` and the command-line entry point print.

Run ``python npcore.py`` to train the original 784->10->10 network and report its
test accuracy (set ``MNIST_NPZ`` to a local mnist.npz when offline).
"""
import hashlib
import json
import os
import sys
import tempfile
import time
import zipfile

import numpy as np

__version__ = "1.0.0"
NUM_CLASSES = 10
_MNIST_SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,),
                 "x_test": (10000, 28, 28), "y_test": (10000,)}


# --------------------------------------------------------------------------- data
def load_mnist(path=None):
    """Load MNIST as ``keras.datasets.mnist.load_data()`` does.            Lesson 00

    Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images (n, 28, 28) in
    0..255 and uint8 labels (n,) in 0..9. Looks at ``path``, then the environment
    variable ``MNIST_NPZ``; without either it downloads through Keras (JAX backend
    unless ``KERAS_BACKEND`` says otherwise), which keeps its own cache.
    """
    path = path or os.environ.get("MNIST_NPZ")
    if not path:
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras  # only needed online
        return keras.datasets.mnist.load_data()
    path = os.fspath(path)
    hint = "set MNIST_NPZ (or pass path=) to a local copy of Keras's mnist.npz"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MNIST file {path!r} does not exist: {hint}")
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            missing = set(_MNIST_SHAPES) - set(f.files)
            if missing:
                raise ValueError(f"MNIST file {path!r} lacks the arrays {sorted(missing)}: {hint}")
            data = {key: f[key] for key in _MNIST_SHAPES}
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"MNIST file {path!r} is not a readable .npz ({exc}): {hint}") from exc
    except ValueError as exc:  # e.g. object arrays, which would need pickle
        raise ValueError(f"MNIST file {path!r} cannot be read safely ({exc}): {hint}") from exc
    for key, array in data.items():
        rows = array.shape[:1]
        if array.dtype != np.uint8 or array.shape[1:] != _MNIST_SHAPES[key][1:] or rows == (0,):
            expected = "(n, 28, 28)" if key.startswith("x") else "(n,)"
            raise ValueError(f"MNIST file {path!r}: {key} is {array.dtype} {array.shape}, "
                             f"expected uint8 {expected}: {hint}")
    for split in ("train", "test"):
        x, y = data[f"x_{split}"], data[f"y_{split}"]
        if len(x) != len(y):
            raise ValueError(f"MNIST file {path!r}: {len(x)} {split} images but {len(y)} labels: {hint}")
        if y.max() >= NUM_CLASSES:
            raise ValueError(f"MNIST file {path!r}: y_{split} holds label {y.max()}, expected 0..9: {hint}")
    return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])


def preprocess(x):
    """Images (n, 28, 28) uint8 in 0..255 -> X (n, 784) float32 in [0, 1].   Lesson 00"""
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"preprocess expects uint8 images (n, 28, 28), got {x.dtype} {x.shape}")
    return x.reshape(len(x), -1).astype(np.float32) / np.float32(255)


def one_hot(y, num_classes=NUM_CLASSES, dtype=np.float32):
    """Labels y (m,) ints in 0..k-1 -> Y (m, k) with Y[i, y[i]] = 1.       Lesson 01

    k is ``num_classes``, never ``y.max() + 1``: a batch without any 9 still has ten columns.
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


# --------------------------------------------------------------------------- activations
def relu(Z):
    """ReLU(Z) = max(Z, 0), elementwise; same shape as Z.                    Lesson 02"""
    return np.maximum(Z, 0)


def relu_derivative(Z):
    """dReLU/dZ: 1 where Z > 0, else 0 (we take 0 at the kink Z = 0).          Lesson 02"""
    return (Z > 0).astype(np.result_type(Z, np.float32))


def softmax(Z):
    """Row-wise softmax of logits Z (m, k) -> probabilities A (m, k).          Lesson 03

    Subtracting each row's maximum first changes nothing mathematically but keeps
    exp() from overflowing: the largest exponent is exp(0) = 1.
    """
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))              # (m, k), entries in (0, 1]
    return E / E.sum(axis=-1, keepdims=True)                   # (m, k), rows sum to 1


def cross_entropy(A2, Y):
    """Mean cross-entropy L = -1/m sum_i sum_j Y_ij log A2_ij; A2, Y (m, k) -> scalar.  Lesson 03

    Probabilities are clipped to the smallest positive float first, so log(0) never
    happens: a confident wrong answer costs a large but finite loss.
    """
    A2, Y = np.asarray(A2), np.asarray(Y)
    if A2.shape != Y.shape or A2.ndim != 2:
        raise ValueError(f"cross_entropy expects A2 and one-hot Y of one shape (m, k), "
                         f"got {A2.shape} and {Y.shape}")
    tiny = np.finfo(np.result_type(A2, np.float32)).tiny
    return float(-np.sum(Y * np.log(np.maximum(A2, tiny))) / len(Y)) + 0.0  # never -0.0


# --------------------------------------------------------------------------- the network
def init_params(n_input=784, n_hidden=10, n_output=NUM_CLASSES, rng=None,
                method="xavier", dtype=np.float32):
    """Random weights, zero biases.                                           Lesson 04

    ``n_hidden`` is an int (one hidden layer, as in the original) or a sequence of
    ints (one per hidden layer). ``W{l}`` (n_{l-1}, n_l) ~ N(0, s^2) with
    s = sqrt(1/n_{l-1}) for ``method="xavier"`` or sqrt(2/n_{l-1}) for ``"he"``;
    ``b{l}`` (n_l,) = 0. ``rng``: a seed or a ``np.random.Generator``.
    """
    gain = {"xavier": 1.0, "he": 2.0}
    if method not in gain:
        raise ValueError(f"init_params: method must be 'xavier' or 'he', got {method!r}")
    rng = np.random.default_rng(rng)
    hidden = [n_hidden] if np.ndim(n_hidden) == 0 else list(n_hidden)
    sizes = [n_input, *hidden, n_output]
    params = {}
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        scale = np.sqrt(gain[method] / fan_in)
        params[f"W{l}"] = (rng.standard_normal((fan_in, fan_out)) * scale).astype(dtype)
        params[f"b{l}"] = np.zeros(fan_out, dtype=dtype)
    return params


def layer_sizes(params):
    """[n_0, n_1, ..., n_L] of a params dict, checking that the shapes chain."""
    L = len(params) // 2
    if L < 1 or set(params) != {f"{p}{l}" for l in range(1, L + 1) for p in "Wb"}:
        raise ValueError(f"params must hold W1, b1, ..., WL, bL; got {sorted(params)}")
    sizes = [params["W1"].shape[0]]
    for l in range(1, L + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        if W.ndim != 2 or W.shape[0] != sizes[-1] or b.shape != (W.shape[1],):
            raise ValueError(f"params: W{l} {W.shape} and b{l} {b.shape} do not fit a layer "
                             f"with {sizes[-1]} inputs (expected ({sizes[-1]}, n) and (n,))")
        sizes.append(W.shape[1])
    return sizes


def _check_X(X, n_input):
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.shape[1] != n_input or X.dtype.kind != "f":
        raise ValueError(f"X must be a float array of shape (m, {n_input}), got "
                         f"{getattr(X, 'dtype', type(X).__name__)} {np.shape(X)}")


def forward_propagation(X, params):
    """Forward pass for X (m, d) -> cache dict with Z1, A1, ..., ZL, AL.      Lesson 04

    Original net: Z1 = X @ W1 + b1 (m, h); A1 = relu(Z1) (m, h);
    Z2 = A1 @ W2 + b2 (m, k); A2 = softmax(Z2) (m, k), each row a distribution.
    """
    sizes = layer_sizes(params)
    _check_X(X, sizes[0])
    L, A, cache = len(sizes) - 1, X, {}
    for l in range(1, L + 1):
        Z = A @ params[f"W{l}"] + params[f"b{l}"]               # (m, n_l)
        A = relu(Z) if l < L else softmax(Z)                    # (m, n_l)
        cache[f"Z{l}"], cache[f"A{l}"] = Z, A
    return cache


def backward_propagation(X, Y, params, cache):
    """Gradients of the mean cross-entropy -> dict dW1, db1, ..., dWL, dbL.    Lesson 05

    Original net, with m = X.shape[0] (the batch at hand, never a global):
    dZ2 = (A2 - Y) / m (m, k); dW2 = A1.T @ dZ2 (h, k); db2 = dZ2 summed over rows (k,);
    dZ1 = (dZ2 @ W2.T) * relu'(Z1) (m, h); dW1 = X.T @ dZ1 (d, h); db1 = sum over rows (h,).
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
            dZ = (dZ @ params[f"W{l}"].T) * relu_derivative(cache[f"Z{l - 1}"])  # (m, n_{l-1})
    return grads


def update_params(params, grads, learning_rate):
    """One gradient-descent step: P <- P - alpha * dP for every P; new dict.   Lesson 06"""
    if set(grads) != {f"d{key}" for key in params}:
        raise ValueError(f"grads {sorted(grads)} do not match params {sorted(params)}")
    return {key: P - learning_rate * grads[f"d{key}"] for key, P in params.items()}


def get_predictions(A2):
    """Predicted labels (m,): the most probable class of each row of A2 (m, k).  Lesson 06"""
    return np.argmax(A2, axis=1)


def get_accuracy(predictions, y):
    """Fraction of predictions (m,) equal to the labels y (m,).                Lesson 06"""
    predictions, y = np.asarray(predictions), np.asarray(y)
    if predictions.shape != y.shape or y.ndim != 1:
        raise ValueError(f"get_accuracy expects two (m,) arrays, got {predictions.shape} and {y.shape}")
    return float(np.mean(predictions == y))


def make_predictions(X, params):
    """Labels (m,) predicted for X (m, d): forward pass, then argmax.           Lesson 06"""
    _check_finite(X=X)
    L = len(params) // 2
    return get_predictions(forward_propagation(X, params)[f"A{L}"])


def _check_finite(**arrays):
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} holds NaN or infinite values")


def gradient_descent(X, y, learning_rate, iterations, n_hidden=10, rng=None,
                     method="xavier", params=None, progress=True, log_every=50):
    """Full-batch gradient descent on X (m, d), labels y (m,).                  Lesson 06

    Starts from ``params`` or from ``init_params(d, n_hidden, 10, rng, method)``
    in X's dtype. Returns ``(params, history)``; history holds "loss" and
    "accuracy" of the training set before each update, as arrays (iterations,).
    ``progress=True`` prints a line every ``log_every`` iterations; False is silent.
    """
    _check_X(X, X.shape[1] if np.ndim(X) == 2 else 784)
    _check_finite(X=X)
    Y = one_hot(y, dtype=X.dtype)                               # (m, k)
    if len(Y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(Y)} labels")
    if params is None:
        params = init_params(X.shape[1], n_hidden, NUM_CLASSES, rng, method, X.dtype)
    L = len(layer_sizes(params)) - 1
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


def confusion_matrix(y_true, y_pred, num_classes=NUM_CLASSES):
    """Counts C (k, k): C[i, j] = samples of true class i predicted as j.       Lesson 07

    y_true, y_pred: (m,) ints in 0..k-1. Rows are true labels, so C.sum(axis=1) counts
    each class and np.trace(C) / m is the accuracy.
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


# --------------------------------------------------------------------------- mini-batches and optimizers
def iterate_minibatches(X, y, batch_size, rng):
    """Yield (X_batch (b, d), y_batch (b,)) over a fresh random permutation.  Lesson 08

    Every call draws a new order from ``rng`` (a seed or a ``np.random.Generator``),
    so each epoch sees the samples shuffled differently; b = ``batch_size`` except
    for the last batch, which holds the m % batch_size leftovers (if any).
    """
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
    order = np.random.default_rng(rng).permutation(len(X))     # (m,)
    for start in range(0, len(X), batch_size):
        batch = order[start:start + batch_size]                # (b,)
        yield X[batch], y[batch]                               # (b, d), (b,)


def init_optimizer_state(params, method="momentum"):
    """Zeroed optimizer state for ``params``.                                  Lesson 08

    ``"sgd"``: {} (nothing to remember); ``"momentum"``: the velocity
    {W1: zeros like W1, ...}; ``"adam"``: {"t": 0, "m": {W1: ...}, "v": {W1: ...}}.
    """
    zeros = lambda: {key: np.zeros_like(P) for key, P in params.items()}  # noqa: E731
    if method == "sgd":
        return {}
    if method == "momentum":
        return zeros()
    if method == "adam":
        return {"t": 0, "m": zeros(), "v": zeros()}
    raise ValueError(f"optimizer must be 'sgd', 'momentum' or 'adam', got {method!r}")


def momentum_update(params, grads, velocity, learning_rate, beta=0.9):
    """SGD with momentum, in place: V <- beta V - alpha dP;  P <- P + V.      Lesson 08

    Same shapes as ``params``; V is ``velocity[key]``. This is Keras's (and
    Sutskever et al.'s) form; PyTorch keeps V' = -V / alpha, the same steps for
    a constant alpha. Changes ``params`` and ``velocity`` in place (no new
    arrays of the parameters' size) and returns ``params``.
    """
    def step(P, dP, V):                                        # the rule, on matching pieces
        V *= beta                                              # beta V
        V -= learning_rate * dP                                # beta V - alpha dP
        P += V
    _elementwise(step, [(P, grads[f"d{key}"], velocity[key]) for key, P in params.items()])
    return params


def adam_update(params, grads, state, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam (Kingma & Ba 2015), in place; ``state`` from init_optimizer_state.  Lesson 08

    t <- t + 1;  M <- beta1 M + (1 - beta1) dP;  S <- beta2 S + (1 - beta2) dP**2;
    P <- P - alpha * (M / (1 - beta1**t)) / (sqrt(S / (1 - beta2**t)) + eps).
    Dividing by 1 - beta**t (bias correction) undoes the pull towards the zeros M
    and S start from. M, S (``state["m"][key]``, ``state["v"][key]``) have P's shape.
    Returns ``params``.
    """
    state["t"] += 1
    t = state["t"]

    def step(P, dP, M, S):                                     # the rule, on matching pieces
        M *= beta1
        M += (1 - beta1) * dP                                  # running mean of dP
        S *= beta2
        S += (1 - beta2) * np.square(dP)                       # running mean of dP**2
        M_hat, S_hat = M / (1 - beta1**t), S / (1 - beta2**t)  # bias-corrected
        P -= learning_rate * M_hat / (np.sqrt(S_hat) + eps)
    _elementwise(step, [(P, grads[f"d{key}"], state["m"][key], state["v"][key])
                        for key, P in params.items()])
    return params


# Speed only -- the results are the same to the last bit. An update makes several passes
# over arrays of up to 400,000 numbers (W1 of a 784->512 layer). Done on whole arrays,
# every pass streams megabytes through the memory hierarchy; _elementwise instead cuts
# the arrays into matching pieces of 2**16 numbers (256 KB in float32), so that a piece
# of P, dP and V stays in the core's cache for all the passes of the rule: about a quarter
# less time per update. (Spreading the pieces over two threads did not help in our
# measurements: right after a matrix product, BLAS's worker thread keeps spinning on the
# other core for a while, waiting for more work.)
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


def shift_images(X, rng, max_shift=1):
    """Each image of X (b, 784) moved by its own random (dy, dx); (b, 784).     Lesson 08

    dy, dx are drawn from ``rng`` in -max_shift..max_shift (down/right positive);
    pixels moved out of the 28 x 28 frame are dropped, the uncovered border is 0.
    Data augmentation: a digit moved by a pixel is still the same digit, so every
    epoch shows the network slightly different images of the same digits.
    """
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


def cosine_schedule(step, total_steps, base_lr, final_lr=0.0, warmup_steps=0):
    """Learning rate at ``step`` (0-based) of ``total_steps``.                 Lesson 08

    Rises linearly to ``base_lr`` over ``warmup_steps`` steps (none by default),
    then follows half a cosine from ``base_lr`` down to ``final_lr`` at the last step:
    lr = final + (base - final) (1 + cos(pi p)) / 2, p = progress in [0, 1].
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    p = (step - warmup_steps) / max(total_steps - 1 - warmup_steps, 1)
    # a Python float: an np.float64 would turn float32 updates into float64
    return float(final_lr + (base_lr - final_lr) * 0.5 * (1 + np.cos(np.pi * min(p, 1.0))))


def evaluate(X, y, params, batch_size=10000):
    """(mean cross-entropy, accuracy) of params on X (m, d), y (m,).           Lesson 08"""
    L, loss, correct = len(params) // 2, 0.0, 0
    for start in range(0, len(X), batch_size):
        Xb, yb = X[start:start + batch_size], y[start:start + batch_size]
        A = forward_propagation(Xb, params)[f"A{L}"]           # (b, k)
        loss += cross_entropy(A, one_hot(yb, A.shape[1], A.dtype)) * len(Xb)
        correct += int(np.sum(get_predictions(A) == yb))
    return loss / len(X), correct / len(X)


def train(X, y, params, epochs, batch_size, learning_rate, optimizer="momentum", rng=None,
          X_val=None, y_val=None, schedule="cosine", progress=False, warmup_steps=0,
          augment=None, **optimizer_kwargs):
    """Mini-batch training of ``params`` on X (m, d), y (m,).                  Lesson 08

    Each epoch shuffles (``iterate_minibatches`` with ``rng``) and takes one step
    per batch with ``optimizer`` ("sgd", "momentum" or "adam"; extra keyword
    arguments such as beta go to it). ``schedule="cosine"`` decays the rate from
    ``learning_rate`` to 0 over all steps (after ``warmup_steps``); None keeps it
    constant. ``augment(X_batch, rng) -> X_batch`` (e.g. ``shift_images``), if
    given, changes every training batch, drawing from the same ``rng``.
    Returns ``(params, history)``: history holds arrays (epochs,) of
    "loss" and "accuracy" (mean over the epoch's batches, as Keras reports them),
    "val_loss" and "val_accuracy" (after the epoch; NaN without X_val), "lr"
    (at the epoch's last step) and "seconds" (wall time of the epoch, validation
    included). ``params`` is updated in place.
    """
    _check_X(X, layer_sizes(params)[0])
    rng = np.random.default_rng(rng)
    state = init_optimizer_state(params, optimizer)
    L, steps_per_epoch = len(params) // 2, -(-len(X) // batch_size)
    total_steps = epochs * steps_per_epoch
    history = {key: np.full(epochs, np.nan) for key in
               ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")}
    step = 0
    for epoch in range(epochs):
        start, loss_sum, correct = time.perf_counter(), 0.0, 0
        for Xb, yb in iterate_minibatches(X, y, batch_size, rng):
            if augment is not None:
                Xb = augment(Xb, rng)                          # (b, d)
            lr = learning_rate if schedule is None else \
                cosine_schedule(step, total_steps, learning_rate, warmup_steps=warmup_steps)
            Yb = one_hot(yb, dtype=X.dtype)                    # (b, k)
            cache = forward_propagation(Xb, params)
            loss_sum += cross_entropy(cache[f"A{L}"], Yb) * len(Xb)
            correct += int(np.sum(get_predictions(cache[f"A{L}"]) == yb))
            grads = backward_propagation(Xb, Yb, params, cache)
            if optimizer == "momentum":
                momentum_update(params, grads, state, lr, **optimizer_kwargs)
            elif optimizer == "adam":
                adam_update(params, grads, state, lr, **optimizer_kwargs)
            else:
                params.update(update_params(params, grads, lr))
            step += 1
        history["loss"][epoch], history["accuracy"][epoch] = loss_sum / len(X), correct / len(X)
        if not np.isfinite(history["loss"][epoch]):
            raise ValueError(f"loss became {history['loss'][epoch]} in epoch {epoch}: "
                             f"lower the learning rate")
        if X_val is not None:
            history["val_loss"][epoch], history["val_accuracy"][epoch] = evaluate(X_val, y_val, params)
        history["lr"][epoch], history["seconds"][epoch] = lr, time.perf_counter() - start
        if progress:
            print(f"epoch {epoch + 1:3d}  loss {history['loss'][epoch]:.4f}  "
                  f"accuracy {history['accuracy'][epoch]:.4f}  val_loss {history['val_loss'][epoch]:.4f}  "
                  f"val_accuracy {history['val_accuracy'][epoch]:.4f}  {history['seconds'][epoch]:.1f} s")
    return params, history


# --------------------------------------------------------------------------- saving
def _digest(params):
    h = hashlib.sha256()
    for key in sorted(params):
        h.update(key.encode() + str(params[key].dtype).encode() + str(params[key].shape).encode())
        h.update(np.ascontiguousarray(params[key]).tobytes())
    return h.hexdigest()


def _check_params(params, where):
    try:
        sizes = layer_sizes(params)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    for key, P in params.items():
        if P.dtype.kind != "f":
            raise ValueError(f"{where}: {key} has dtype {P.dtype}, expected a float dtype")
        if not np.all(np.isfinite(P)):
            raise ValueError(f"{where}: {key} holds NaN or infinite values")
    return sizes


def save_params(path, params, **metadata):
    """Save params to a ``.npz`` file, atomically, with metadata.               Lesson 06

    Writes a temporary file beside ``path`` and renames it, so a crash never leaves
    half a file. The metadata (JSON-serialisable keyword arguments, plus the layer
    sizes, the preprocessing, the npcore version and a SHA-256 of the arrays) is
    stored as a JSON string, so loading needs no pickle.
    """
    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise ValueError(f"save_params writes .npz files; {path!r} does not end in .npz")
    sizes = _check_params(params, "save_params")
    meta = {**metadata, "layer_sizes": sizes, "npcore_version": __version__,
            "preprocessing": "x.reshape(n, 784).astype(float32) / 255",
            "sha256": _digest(params)}
    arrays = {key: np.asarray(P) for key, P in params.items()}
    arrays["__metadata__"] = np.array(json.dumps(meta))
    fd, tmp = tempfile.mkstemp(suffix=".npz.tmp", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_params(path, with_metadata=False):
    """Load params saved by ``save_params``; never unpickles.                   Lesson 06

    Checks the array names, shapes, dtypes, finiteness and the SHA-256 stored in
    the metadata; any problem raises ``ValueError`` naming the file. Returns the
    params dict, or ``(params, metadata)`` with ``with_metadata=True``.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except FileNotFoundError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"load_params: {path!r} is not a valid params file ({exc})") from exc
    try:
        meta = json.loads(str(arrays.pop("__metadata__")))
        expected = meta["sha256"]
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"load_params: {path!r} has no valid __metadata__ ({exc})") from None
    sizes = _check_params(arrays, f"load_params({path!r})")
    if sizes != meta.get("layer_sizes") or _digest(arrays) != expected:
        raise ValueError(f"load_params: {path!r} was modified after saving (layer sizes or "
                         f"SHA-256 of the arrays do not match its metadata)")
    return (arrays, meta) if with_metadata else arrays


# --------------------------------------------------------------------------- checking
def numerical_gradient(f, x, eps=1e-6):
    """Centred finite differences of a scalar f() w.r.t. array x (any shape).   Lesson 03

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps); error O(eps^2). ``f``
    takes no arguments and reads x, which is changed in place and restored.
    Use float64: in float32 the rounding error of f swamps the differences.
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
    """max |a - b| / max(|a| + |b|, 1e-12), elementwise max: ~1e-7 or less means agreement."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12)))


# --------------------------------------------------------------------------- main job
def main(argv=None):
    """Train the original 784->10->10 net, report TEST accuracy, save and reload it."""
    import argparse
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--data", help="local mnist.npz (default: $MNIST_NPZ, else Keras download)")
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--learning-rate", type=float, default=0.5)
    parser.add_argument("--hidden", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="mnist_784_10_10.npz", help="where to save the params")
    args = parser.parse_args(argv)
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
