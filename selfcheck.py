"""selfcheck -- the exercises' self-checks.

In a lesson, after the learner has written a function::

    selfcheck.check_softmax(my_softmax)

Each ``check_*`` runs the learner's function on small fixed inputs (edge cases
included: extreme logits, a batch lacking some classes, Z = 0, batch sizes other
than one a global might have baked in, non-zero biases), compares the result with
``npcore``, and then either prints one line starting with ✔ or raises
``SelfCheckError`` whose message names the problem and how to fix it.

The learner's code runs with NumPy warnings silenced and its prints swallowed, so
a check's output is that one line or the error. A result holding NaN or inf gets a
hint naming the array and where (``softmax returned NaN in row 0 — ...``), and so
does a floating-point error raised inside the learner's function (FloatingPointError,
OverflowError, or a RuntimeWarning turned into an error), also when warnings are
errors, as in the test suite. Gradients are checked in float64 against finite
differences (``npcore.numerical_gradient``).

The success lines live in one place, ``PASSED`` (the lessons' stored outputs show
them, so they change only together with the lessons).
"""
import contextlib
import contextvars
import functools
import io
import warnings

import numpy as np

import npcore

__all__ = ["SelfCheckError", "PASSED", "NONFINITE_HINTS", "WHY", "check_one_hot",
           "check_relu", "check_relu_derivative", "check_softmax", "check_cross_entropy",
           "check_forward_propagation", "check_backward_propagation",
           "check_update_params", "check_get_accuracy", "check_gradient_descent",
           "check_confusion_matrix", "check_per_class_accuracy", "check_prediction"]

PARAM_KEYS = ("W1", "b1", "W2", "b2")
GRAD_KEYS = ("dW2", "db2", "dW1", "db1")           # the order backpropagation computes them
CACHE_KEYS = ("Z1", "A1", "Z2", "A2")

# The one line each check prints when the learner's function passes (check name -> line).
PASSED = {
    "one_hot": "✔ one_hot: (m,) labels -> (m, num_classes) float32, one 1 per row in column y, "
               "num_classes columns even when the batch lacks classes, matches npcore.one_hot",
    "relu": "✔ relu: max(Z, 0) elementwise for any shape, input left unchanged, matches npcore.relu",
    "relu_derivative": "✔ relu_derivative: 1 where Z > 0, 0 where Z <= 0 (0 at Z = 0), "
                       "matches npcore.relu_derivative",
    "softmax": "✔ softmax: rows sum to 1, stable at logits of ±1e4, matches npcore.softmax",
    "cross_entropy": "✔ cross_entropy: mean over the batch, finite when a probability is 0, "
                     "matches npcore.cross_entropy",
    "forward_propagation": "✔ forward_propagation: Z1, A1, Z2, A2 with the right shapes for "
                           "batches of 3 and 7, biases included, matches npcore.forward_propagation",
    "backward_propagation": "✔ backward_propagation: dW1, db1, dW2, db2 have their parameters' "
                            "shapes and match finite differences for batches of 5 and 8",
    "update_params": "✔ update_params: P - learning_rate * dP for W1, b1, W2, b2, inputs unchanged, "
                     "matches npcore.update_params",
    "get_accuracy": "✔ get_accuracy: fraction of correct predictions for batches of 5 and 8, "
                    "matches npcore.get_accuracy",
    "gradient_descent": "✔ gradient_descent: 6 iterations from init_params(d, 10, 10, rng) give "
                        "npcore.gradient_descent's params and history",
    "confusion_matrix": "✔ confusion_matrix: (k, k) integer counts, rows = true labels, repeated "
                        "pairs counted, num_classes wide, matches npcore.confusion_matrix",
    "per_class_accuracy": "✔ per_class_accuracy: diagonal / row sums (recall of each true class), "
                          "checked on two confusion matrices",
}

# What to look at when a learner's function returns NaN or inf, or raises a floating-point
# error, on the check's inputs -- which are all finite and moderate (check name -> hint).
NONFINITE_HINTS = {
    "one_hot": "start from zeros, np.zeros((m, num_classes), dtype=np.float32), and set Y[np.arange(m), y] = 1",
    "relu": "relu of a finite number is finite: np.maximum(Z, 0) needs no division or log",
    "relu_derivative": "the slope is 0 or 1 everywhere, also at Z = 0, where Z / |Z| is "
                       "0/0 = NaN: (Z > 0).astype(Z.dtype)",
    "softmax": "did you subtract the row maximum before exp? E = np.exp(Z - Z.max(axis=1, "
               "keepdims=True)), then A = E / E.sum(axis=1, keepdims=True)",
    "cross_entropy": "clip A2 before the log, np.maximum(A2, np.finfo(A2.dtype).tiny), then "
                     "-np.sum(Y * np.log(A2)) / m",
    "forward_propagation": "X and params are finite here, so look at the step that makes it: a "
                           "softmax that overflows (subtract each row's maximum before exp) or a "
                           "division by 0",
    "backward_propagation": "X, Y, params and cache are finite here: dZ2 = (A2 - Y) / m with "
                            "m = X.shape[0], then only products and sums",
    "update_params": "params, grads and learning_rate are finite here: P - learning_rate * dP "
                     "needs no division",
    "get_accuracy": "np.mean(predictions == y) is a finite fraction for a non-empty batch",
    "gradient_descent": "npcore.gradient_descent stays finite with the same data, rng and "
                        "learning_rate: each iteration forward, backward, update, with "
                        "Y = one_hot(y) and a softmax that subtracts each row's maximum",
    "confusion_matrix": "it counts samples: start from np.zeros((k, k), dtype=int) and add 1 "
                        "per sample",
    "per_class_accuracy": "every class has samples here, so no row sum is 0: "
                          "np.diag(cm) / cm.sum(axis=1)",
}

_CURRENT_CHECK = contextvars.ContextVar("selfcheck_current_check", default=None)


class SelfCheckError(AssertionError):
    """A self-check found a problem; the message says what it is and how to fix it."""


# --------------------------------------------------------------------------- shared helpers
def _fail(message):
    raise SelfCheckError(message)


def _passed(name):
    print(PASSED[name])


def _nonfinite_hint():
    """The hint of the check running now for NaN, inf and floating-point errors."""
    return NONFINITE_HINTS.get(_CURRENT_CHECK.get(), "look for a division by 0, an exp that "
                                                     "overflows or a log of 0")


def _at(shape, position):
    """' in row 3' for a table (rows are samples), ' at index 3' for a vector, ' at [i, j, l]'
    for more axes, '' for a single number."""
    if len(shape) == 0:
        return ""
    if len(shape) == 1:
        return f" at index {position[0]}"
    if len(shape) == 2:
        return f" in row {position[0]}"
    return f" at [{', '.join(map(str, position))}]"


def _refuse_nonfinite(a, what, returned=True):
    """Fail with a hint naming the array and the place of its first NaN or inf, if any."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return
    position = np.unravel_index(np.argmax(bad), a.shape)
    value = a[position]
    kind = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    _fail(f"{what} {'returned' if returned else 'holds'} {kind}{_at(a.shape, position)} — "
          f"{_nonfinite_hint()}")


def _num(x):
    """A number as a short, stable string: 0.12, 1e+04, nan."""
    return f"{float(x):.3g}"


def _snapshot(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    return value


def _unchanged(old, new):
    if isinstance(old, np.ndarray):
        return (isinstance(new, np.ndarray) and old.shape == new.shape
                and np.array_equal(old, new, equal_nan=True))
    if isinstance(old, dict):
        return (isinstance(new, dict) and old.keys() == new.keys()
                and all(_unchanged(old[k], new[k]) for k in old))
    return True


def _tip(exc):
    text = str(exc)
    if "broadcast" in text:
        return (" — check the shapes: an (m, k) array divided by a row total needs that "
                "total as (m, 1) (keepdims=True)")
    if "matmul" in text or "aligned" in text:
        return " — check the shapes: rows are samples, so X (m, d) @ W1 (d, h) gives (m, h)"
    return ""


def _run(fn, *args, names=(), **kwargs):
    """Call the learner's fn(*args, **kwargs) quietly and return its result.

    NumPy warnings and prints are swallowed; NotImplementedError means the exercise
    is not written yet; a floating-point error (FloatingPointError, OverflowError,
    ZeroDivisionError, or a RuntimeWarning raised as an error because the learner's
    code or the caller asked for that) fails with the check's hint for NaN and inf;
    any other exception, or an argument changed in place, fails the check with a hint.
    """
    if not callable(fn):
        _fail(f"pass the function itself, e.g. check(my_function), not a {type(fn).__name__}")
    name = getattr(fn, "__name__", "your function")
    given = [_snapshot(a) for a in args]               # copies: the originals stay intact
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings(), \
                contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            result = fn(*given, **kwargs)
    except NotImplementedError:
        raise SelfCheckError(f"not done yet: write the body of {name} in place of "
                             f"`# YOUR CODE HERE` and `raise NotImplementedError()`, then run "
                             f"the cell that defines it and this cell again") from None
    except (ArithmeticError, RuntimeWarning) as exc:
        raise SelfCheckError(f"{name} raised {type(exc).__name__}: {exc} — "
                             f"{_nonfinite_hint()}") from exc
    except Exception as exc:
        raise SelfCheckError(f"{name} raised {type(exc).__name__}: {exc}{_tip(exc)}") from exc
    if result is None:
        _fail(f"{name} returned None — did you forget the `return`?")
    for arg, old, new in zip(names, args, given):
        if not _unchanged(old, new):
            _fail(f"{name} changed its argument {arg} in place — leave the inputs as they were "
                  f"and return new arrays")
    return result


def _array(value, what, returned=True, finite=True):
    """The learner's result as a numeric ndarray, or a hint why it is not one.

    finite=True also fails on NaN or inf, naming where; a check that has a more precise
    hint for them (softmax at extreme logits, cross-entropy of a probability 0) passes
    finite=False and looks itself.
    """
    try:
        a = np.asarray(value)
    except Exception:                                  # ragged lists and the like
        a = np.asarray(None)
    if a.dtype.kind not in "biuf":
        _fail(f"{what} {'returned' if returned else 'is'} a {type(value).__name__} that is not "
              f"an array of numbers")
    if finite:
        _refuse_nonfinite(a, what, returned)
    return a


def _dict(value, what, keys):
    """The learner's dict result, with the keys and array values it must hold."""
    if not isinstance(value, dict):
        _fail(f"{what} should be a dict with keys {', '.join(keys)}, not a {type(value).__name__}")
    missing = [k for k in keys if k not in value]
    if missing:
        _fail(f"{what} lacks {', '.join(missing)} — it should be a dict with keys {', '.join(keys)}")
    return {k: _array(value[k], f"{k} in {what}", returned=False) for k in keys}


def _shape(a, shape, what, hint):
    if a.shape != tuple(shape):
        _fail(f"{what} has shape {a.shape}, expected {tuple(shape)} — {hint}")


def _compare(got, want, what, hint, wrongs=(), rtol=1e-4, atol=1e-6):
    """Fail unless got ~ want; a known wrong answer that matches got names the bug.

    wrongs: (wrong_value, hint) pairs, tried in order when got is not right.
    """
    _shape(got, want.shape, what, hint)
    if np.allclose(got, want, rtol=rtol, atol=atol):
        return
    for wrong, wrong_hint in wrongs:
        if np.shape(wrong) == got.shape and np.allclose(got, wrong, rtol=rtol, atol=atol):
            _fail(wrong_hint)
    with np.errstate(all="ignore"):
        err = np.abs(got.astype(np.float64) - want)
    idx = np.unravel_index(np.argmax(np.where(np.isnan(err), np.inf, err)), got.shape)
    at = f"[{', '.join(map(str, idx))}]" if idx else ""
    _fail(f"{what}{at} is {_num(got[idx])}, expected {_num(want[idx])} — {hint}")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _check(check):
    """Decorator of every check_*: a failure's traceback ends at the learner's cell.

    The helpers' frames are dropped (the learner's own frames stay visible through
    the error's cause when their function raised). The check's own arithmetic on the
    learner's results runs with NumPy's floating-point warnings off: an extreme result
    gets its hint, never a RuntimeWarning (an error where warnings are errors).
    """
    name = check.__name__[len("check_"):]

    @functools.wraps(check)
    def run_check(fn):
        __tracebackhide__ = True
        token = _CURRENT_CHECK.set(name)
        try:
            with np.errstate(all="ignore"):
                return check(fn)
        except SelfCheckError as error:
            raise error.with_traceback(None)
        finally:
            _CURRENT_CHECK.reset(token)
    return run_check


# --------------------------------------------------------------------------- lesson 01
@_check
def check_one_hot(fn):
    """fn(y, num_classes) -> Y (m, num_classes) with Y[i, y[i]] = 1 and zeros elsewhere."""
    for y, k in ((np.array([0, 1, 2]), 10), (np.array([3, 0, 9, 3, 7]), 10), (np.array([1, 0, 1, 2]), 4)):
        Y = _array(_run(fn, y, k, names=("y",)), "one_hot")
        if Y.shape == (len(y), y.max() + 1) and y.max() + 1 != k:
            _fail(f"one_hot returned shape {Y.shape} for labels {y} — size it with num_classes, "
                  f"not y.max()+1 (a batch without a 9 still needs {k} columns)")
        if Y.shape == (k, len(y)) != (len(y), k):
            _fail(f"one_hot returned shape {Y.shape} for {len(y)} labels — rows are samples: "
                  f"Y is (m, num_classes), one row per label")
        _shape(Y, (len(y), k), f"one_hot(y, {k}) for labels {y}",
               "one row per label and num_classes columns")
        ones = (Y == 1).sum(axis=1)
        if np.any(ones != 1) or np.any((Y != 0) & (Y != 1)):
            row = int(np.argmax((ones != 1) | np.any((Y != 0) & (Y != 1), axis=1)))
            _fail(f"row {row} of one_hot for labels {y} is {Y[row].tolist()} — each row holds "
                  f"a single 1 and zeros; set Y[np.arange(m), y] = 1 (not Y[:, y])")
        _compare(Y, npcore.one_hot(y, k), f"one_hot for labels {y}",
                 "the 1 of row i goes in column y[i]: Y[np.arange(m), y] = 1")
    if Y.dtype != np.float32:
        _fail(f"one_hot returned dtype {Y.dtype} — the right 0s and 1s, but the course's "
              f"arrays are float32 (half the memory of float64): "
              f"np.zeros((m, num_classes), dtype=np.float32)")
    _passed("one_hot")


# --------------------------------------------------------------------------- lesson 02
_Z_RELU = np.array([[-2.5, 0.0, 1.5, 3.0], [0.5, -0.1, 0.0, -7.0], [2.0, 1e-3, -1e-3, 0.0]])


def _check_elementwise(fn, what, reference, wrongs):
    """Shared by relu and its derivative: same shape as Z, values as reference(Z)."""
    for Z in (_Z_RELU, _Z_RELU[:2, :3].T.copy(), _Z_RELU.astype(np.float32)):
        got = _array(_run(fn, Z, names=("Z",)), what)
        if got.shape != Z.shape:
            _fail(f"{what} returned shape {got.shape} for Z of shape {Z.shape} — it works "
                  f"elementwise, so the result has Z's shape (np.max reduces an axis; "
                  f"np.maximum(Z, 0) compares elementwise)")
        _compare(got, reference(Z), what, f"check {what} entry by entry against its definition",
                 wrongs=[(wrong(Z), hint) for wrong, hint in wrongs])


@_check
def check_relu(fn):
    """fn(Z) -> max(Z, 0) elementwise, Z unchanged."""
    _check_elementwise(fn, "relu", npcore.relu, [
        (npcore.relu_derivative, "relu returns 0s and 1s — that is its derivative; relu keeps "
                                 "positive values: np.maximum(Z, 0)"),
        (np.abs, "relu returns |Z| — negative values become 0, not positive: np.maximum(Z, 0)"),
        (lambda Z: np.minimum(Z, 0), "relu keeps the negative values — it keeps the positive "
                                     "ones: np.maximum(Z, 0)")])
    _passed("relu")


@_check
def check_relu_derivative(fn):
    """fn(Z) -> 1 where Z > 0, else 0 (0 at the kink Z = 0), Z unchanged."""
    _check_elementwise(fn, "relu_derivative", npcore.relu_derivative, [
        (lambda Z: (Z >= 0).astype(float), "relu_derivative(0) is 1 — this course takes 0 at the "
                                           "kink Z = 0: use Z > 0, not Z >= 0"),
        (lambda Z: (Z <= 0).astype(float), "relu_derivative is 1 where Z <= 0 — it is 1 where Z > 0 "
                                           "and 0 elsewhere"),
        (lambda Z: (Z < 0).astype(float), "relu_derivative is 1 where Z < 0 — it is 1 where Z > 0 "
                                          "and 0 elsewhere"),
        (npcore.relu, "relu_derivative returns relu(Z) — the slope of ReLU is 1 for Z > 0, "
                      "not Z itself: (Z > 0).astype(Z.dtype)")])
    _passed("relu_derivative")


# --------------------------------------------------------------------------- lesson 03
@_check
def check_softmax(fn):
    """fn(Z) (m, k) -> rows of probabilities; stable at huge logits."""
    for Z in (_rng(3).normal(0, 2, (4, 3)), _rng(4).normal(0, 2, (2, 10)).astype(np.float32)):
        A = _array(_run(fn, Z, names=("Z",)), "softmax")
        _shape(A, Z.shape, "softmax", "one probability per logit: normalise each row, "
                                      "E / E.sum(axis=1, keepdims=True)")
        sums = A.sum(axis=1)
        if not np.allclose(sums, 1, rtol=1e-4):
            bad = sums[np.argmax(np.abs(sums - 1))]
            _fail(f"softmax rows sum to {_num(bad)}, not 1 — did you normalise over axis=1?")
        _compare(A, npcore.softmax(Z), "softmax", "A = exp(Z) / (row sum of exp(Z))")
    extreme = np.array([[1000.0, 0.0, -1000.0], [-1e4, 1e4, 0.0], [-1e4, -1e4, -1e4]])
    A = _array(_run(fn, extreme, names=("Z",)), "softmax", finite=False)   # hints below
    _shape(A, extreme.shape, "softmax", "one probability per logit")
    bad = [row for row in range(len(A)) if not np.all(np.isfinite(A[row]))]
    if bad:                     # row 1 holds the largest logit: if it is fine, others underflowed
        row = bad[0]
        hint = (f"exp({extreme[row].max():g}) overflows to inf: subtract each row's maximum before "
                f"exp" if 1 in bad else
                "exp underflows to 0 and 0/0 is nan: subtract each row's OWN maximum "
                "(axis=1, keepdims=True), not the maximum of the whole matrix")
        logits = ", ".join(f"{z:g}" for z in extreme[row])
        _fail(f"softmax returns {_num(A[row][~np.isfinite(A[row])][0])} for logits [{logits}] — {hint}")
    _compare(A, npcore.softmax(extreme), "softmax at extreme logits",
             "subtract each row's maximum before exp")
    _passed("softmax")


@_check
def check_cross_entropy(fn):
    """fn(A2, Y) -> mean cross-entropy, a finite float even when a probability is 0."""
    for m, seed in ((4, 5), (7, 6)):
        rng = _rng(seed)
        A2 = npcore.softmax(rng.normal(0, 2, (m, 3)))
        Y = npcore.one_hot(rng.integers(0, 3, m), 3, dtype=np.float64)
        got = _array(_run(fn, A2, Y, names=("A2", "Y")), "cross_entropy")
        if got.shape != ():
            _fail(f"cross_entropy returned shape {got.shape} for a batch of {m} — average over "
                  f"the batch to one number")
        want = npcore.cross_entropy(A2, Y)
        _compare(got, np.array(want), f"cross_entropy for a batch of {m}",
                 "L = -(1/m) * sum over samples and classes of Y * log(A2)",
                 wrongs=[(-want, "cross_entropy is negative — L = -(1/m) Σ Y log A2: "
                                 "did you forget the minus sign?"),
                         (want * m, f"cross_entropy is {m}× too large for a batch of {m} — "
                                    f"divide by m (the loss is the mean over samples)"),
                         (want / 3, "cross_entropy is 3× too small with 3 classes — divide by "
                                    "m only, not m·k (np.mean over the whole array also "
                                    "averages over the classes)")])
    A2 = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])          # softmax can underflow to 0
    Y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    got = _array(_run(fn, A2, Y, names=("A2", "Y")), "cross_entropy", finite=False)
    if not np.isfinite(got):
        _fail(f"cross_entropy returns {_num(got)} when some probabilities are exactly 0 — "
              f"0·log(0) is nan in NumPy: clip A2 first, np.maximum(A2, np.finfo(A2.dtype).tiny)")
    _compare(got, np.array(npcore.cross_entropy(A2, Y)), "cross_entropy with a probability of 0",
             "only the true class's probability counts: mean of -log(A2[i, y[i]])")
    A2 = np.array([[1.0, 0.0, 0.0]])                           # a confident wrong answer
    Y = np.array([[0.0, 1.0, 0.0]])
    got = _array(_run(fn, A2, Y, names=("A2", "Y")), "cross_entropy", finite=False)
    if not (np.isfinite(got) and got > 10):
        _fail(f"cross_entropy returns {_num(got)} for a confident wrong answer (probability 0 "
              f"for the true class) — it should be large but finite: clip A2 first, "
              f"np.maximum(A2, np.finfo(A2.dtype).tiny)")
    _passed("cross_entropy")


# --------------------------------------------------------------------------- lesson 04
def _net_case(m, d=6, h=4, k=3, seed=0):
    """A tiny float64 network with non-zero biases and a batch of m samples."""
    rng = _rng(seed)
    params = npcore.init_params(d, h, k, rng=rng, dtype=np.float64)
    for key in params:
        params[key] = params[key] + 0.3 * rng.standard_normal(params[key].shape)
    rng = _rng(100 + m)
    X = rng.random((m, d))
    Y = npcore.one_hot(rng.integers(0, k, m), k, dtype=np.float64)
    return X, Y, params


@_check
def check_forward_propagation(fn):
    """fn(X, params) -> cache {Z1, A1, Z2, A2} of the 2-layer net."""
    for m in (3, 7):
        X, _, p = _net_case(m)
        cache = _dict(_run(fn, X, p, names=("X", "params")),
                      "the cache returned by forward_propagation", CACHE_KEYS)
        want = npcore.forward_propagation(X, p)
        Z1, A1, Z2 = want["Z1"], want["A1"], want["Z2"]
        wrongs = {"Z1": [(X @ p["W1"], "Z1 lacks the bias: Z1 = X @ W1 + b1")],
                  "A1": [(Z1, "A1 equals Z1 — apply the activation: A1 = relu(Z1)")],
                  "Z2": [(Z1 @ p["W2"] + p["b2"], "Z2 is computed from Z1 — feed the activations "
                                                  "forward: Z2 = A1 @ W2 + b2"),
                         (A1 @ p["W2"], "Z2 lacks the bias: Z2 = A1 @ W2 + b2")],
                  "A2": [(npcore.relu(Z2), "A2 is relu(Z2) — the output layer uses softmax: "
                                           "A2 = softmax(Z2)"),
                         (Z2, "A2 equals Z2 — apply softmax: A2 = softmax(Z2)")]}
        formulas = {"Z1": "Z1 = X @ W1 + b1 (m, h)", "A1": "A1 = relu(Z1) (m, h)",
                    "Z2": "Z2 = A1 @ W2 + b2 (m, k)", "A2": "A2 = softmax(Z2) (m, k)"}
        for key in CACHE_KEYS:
            _compare(cache[key], want[key], f"{key} for a batch of {m}", formulas[key], wrongs[key])
    _passed("forward_propagation")


# --------------------------------------------------------------------------- lesson 05
_GRAD_FORMULAS = {"dW2": "dW2 = A1.T @ dZ2 with dZ2 = (A2 - Y) / m",
                  "db2": "db2 = dZ2 summed over the batch axis (axis=0)",
                  "dW1": "dW1 = X.T @ dZ1 with dZ1 = (dZ2 @ W2.T) * relu_derivative(Z1)",
                  "db1": "db1 = dZ1 summed over the batch axis (axis=0)"}


def _numeric_grads(X, Y, params):
    """Centred differences with the course's step for a mean loss, eps = 1e-5 (lesson 05)."""
    p = {key: P.copy() for key, P in params.items()}
    loss = lambda: npcore.cross_entropy(npcore.forward_propagation(X, p)["A2"], Y)  # noqa: E731
    return {f"d{key}": npcore.numerical_gradient(loss, p[key], eps=1e-5) for key in PARAM_KEYS}


def _agrees(got, numeric):
    """The course's rule (lessons 02 and 05): every entry within relative error 1e-7, or,
    for an entry too small to carry seven digits, within absolute error 1e-10."""
    diff = np.abs(got - numeric)
    return bool(np.all((diff / np.maximum(np.abs(got) + np.abs(numeric), 1e-12) < 1e-7) | (diff < 1e-10)))


def _factor(got, want):
    """c if got == c * want for every gradient (a constant factor), else None."""
    g = np.concatenate([got[k].ravel() for k in GRAD_KEYS])
    w = np.concatenate([want[k].ravel() for k in GRAD_KEYS])
    c = g @ w / (w @ w)
    # |c| > 1e-6 rather than c != 0 (c comes from dot products): the smallest factor worth
    # naming is a batch of 5 divided by a global m as large as MNIST's 60000, 8e-5; a |c|
    # below 1e-6 means gradients that are zero up to rounding, which the entry-by-entry
    # gradient check reports better.
    return c if abs(c) > 1e-6 and np.allclose(g, c * w, rtol=1e-5, atol=1e-9) else None


@_check
def check_backward_propagation(fn):
    """fn(X, Y, params, cache) -> grads {dW1, db1, dW2, db2}, checked by finite differences."""
    sizes, results = (5, 8), {}
    for m in sizes:
        X, Y, p = _net_case(m)
        cache = npcore.forward_propagation(X, p)
        grads = _dict(_run(fn, X, Y, p, cache, names=("X", "Y", "params", "cache")),
                      "the grads returned by backward_propagation", GRAD_KEYS)
        for key in GRAD_KEYS:
            P = p[key[1:]]
            if key[1] == "b" and grads[key].shape != P.shape:
                _fail(f"{key} has shape {grads[key].shape} but {key[1:]} is {P.shape} — "
                      f"sum over the batch axis only (axis=0)")
            _shape(grads[key], P.shape, key, f"a gradient has its parameter's shape: "
                                             f"{_GRAD_FORMULAS[key]}")
        results[m] = grads, _numeric_grads(X, Y, p), (X, Y, p, cache)
    ok = {m: all(_agrees(g[k], n[k]) for k in GRAD_KEYS)
          for m, (g, n, _) in results.items()}
    if all(ok.values()):
        _passed("backward_propagation")
        return
    factors = {m: _factor(g, n) for m, (g, n, _) in results.items()}
    if None not in factors.values():
        (m1, c1), (m2, c2) = factors.items()
        if np.isclose(c1, c2, rtol=1e-4):
            if np.isclose(c1, 2, rtol=1e-4):
                _fail("dW2 is 2× the numeric gradient — the original script's 2*(A2 - Y) is the "
                      "gradient of a squared error, not of cross-entropy: dZ2 = (A2 - Y) / m")
            _fail(f"every gradient is {_num(c1)}× the numeric one — a constant factor is wrong: "
                  f"dZ2 = (A2 - Y) / m")
        M1, M2 = m1 / c1, m2 / c2                       # the m the learner divided by
        if np.isclose(M1, M2, rtol=1e-4):
            if np.isclose(M1, 1):
                _fail(f"every gradient is m× the numeric one ({_num(c1)}× for a batch of {m1}) — "
                      f"divide by m = X.shape[0]: the loss is the mean over the batch")
            right = [m for m, good in ok.items() if good]
            if right:
                wrong = [m for m in sizes if m not in right][0]
                _fail(f"gradients are wrong for a batch of {wrong} but right for a batch of "
                      f"{right[0]} — take m from X.shape[0], not a global")
            _fail(f"gradients are divided by {_num(M1)} whatever the batch size (tried {m1} and "
                  f"{m2}) — take m from X.shape[0], not a global")
    m = [m for m in sizes if not ok[m]][0]
    grads, numeric, (X, Y, p, cache) = results[m]
    dZ1_no_relu = ((cache["A2"] - Y) / m) @ p["W2"].T            # the ReLU's derivative left out
    if np.allclose(grads["dW1"], X.T @ dZ1_no_relu, rtol=1e-5, atol=1e-9):
        _fail("dW1 ignores the ReLU — multiply by its derivative: "
              "dZ1 = (dZ2 @ W2.T) * relu_derivative(Z1)")
    for key in GRAD_KEYS:
        g, n = grads[key], numeric[key]
        if npcore.relative_error(g, n) >= 1e-6:
            err = np.abs(g - n) / np.maximum(np.abs(g) + np.abs(n), 1e-12)
            idx = np.unravel_index(np.argmax(np.where(np.isnan(err), np.inf, err)), g.shape)
            ratio = g[idx] / n[idx]    # inf or NaN for a numeric 0: then no factor matches
            guess = ("is a factor 2 or a 1/m missing?" if any(np.isclose(ratio, c, rtol=1e-3)
                     for c in (2, 0.5, m, 1 / m)) else f"check {_GRAD_FORMULAS[key]}")
            _fail(f"gradient check failed for {key}[{', '.join(map(str, idx))}] (batch of {m}): "
                  f"analytic {_num(g[idx])}, numeric {_num(n[idx])} — {guess}")
    _fail("gradient check failed")                    # unreachable: ok[m] is False for a reason


# --------------------------------------------------------------------------- lesson 06
@_check
def check_update_params(fn):
    """fn(params, grads, learning_rate) -> new params P - learning_rate * dP, inputs unchanged."""
    X, Y, p = _net_case(4)
    grads = npcore.backward_propagation(X, Y, p, npcore.forward_propagation(X, p))
    for lr in (0.5, 0.1):
        new = _dict(_run(fn, p, grads, lr, names=("params", "grads")),
                    "the params returned by update_params", PARAM_KEYS)
        for key in PARAM_KEYS:
            P, dP = p[key], grads[f"d{key}"]
            _compare(new[key], P - lr * dP, f"{key} after one step of {lr}",
                     f"{key} <- {key} - learning_rate * d{key}",
                     wrongs=[(P, f"{key} was not updated — every parameter takes a step"),
                             (P + lr * dP, f"{key} moved uphill — step against the gradient: "
                                           f"{key} - learning_rate * d{key}"),
                             (P - dP, "update_params ignores learning_rate — "
                                      "P - learning_rate * dP")])
    _passed("update_params")


@_check
def check_get_accuracy(fn):
    """fn(predictions, y) -> fraction correct, a float in [0, 1]."""
    for preds, y in (([1, 2, 3, 4, 0], [1, 2, 0, 4, 9]),
                     ([7, 7, 1, 0, 2, 2, 9, 5], [7, 1, 1, 0, 2, 2, 9, 3])):
        preds, y = np.array(preds), np.array(y)
        got = _array(_run(fn, preds, y, names=("predictions", "y")), "get_accuracy")
        if got.shape != ():
            _fail(f"get_accuracy returned shape {got.shape} — return one number, "
                  f"np.mean(predictions == y)")
        want = npcore.get_accuracy(preds, y)
        correct = int(np.sum(preds == y))
        _compare(got, np.array(want), f"get_accuracy for {correct} right out of {len(y)}",
                 "the fraction of predictions equal to the labels: np.mean(predictions == y)",
                 wrongs=[(want * 100, f"get_accuracy returns {_num(got)} — a fraction in [0, 1], "
                                      f"not a percentage"),
                         (correct, f"get_accuracy returns {correct}, the number of correct "
                                   f"predictions — divide by m (np.mean(predictions == y))")])
    _passed("get_accuracy")


@_check
def check_gradient_descent(fn):
    """fn(X, y, learning_rate, iterations, rng) -> (params, history) as npcore.gradient_descent."""
    rng = _rng(7)
    X, y = rng.random((24, 12), dtype=np.float32), rng.integers(0, 10, 24)
    lr, iterations = 0.5, 6                     # PASSED["gradient_descent"] says 6
    reference = lambda n: npcore.gradient_descent(X, y, lr, n, rng=_rng(0), progress=False)  # noqa: E731
    result = _run(fn, X, y, lr, iterations, rng=_rng(0), names=("X", "y"))
    if not (isinstance(result, tuple) and len(result) == 2):
        _fail(f"gradient_descent returned a {type(result).__name__} — return the pair (params, history)")
    params = _dict(result[0], "gradient_descent's params", PARAM_KEYS)
    history = _dict(result[1], "gradient_descent's history", ("loss", "accuracy"))
    want, want_history = reference(iterations)
    for key in PARAM_KEYS:
        _shape(params[key], want[key].shape, key, "start from init_params(X.shape[1], 10, 10, rng)")
    if all(np.allclose(params[k], want[k], rtol=1e-4, atol=1e-6) for k in PARAM_KEYS):
        for key in ("loss", "accuracy"):
            _compare(history[key], want_history[key], f"history[{key!r}]",
                     f"record the {key} of the training set before each update, one per iteration")
        _passed("gradient_descent")
        return
    start = npcore.init_params(12, 10, 10, rng=_rng(0))
    if all(np.allclose(params[k], start[k], rtol=1e-4, atol=1e-6) for k in PARAM_KEYS):
        _fail("gradient_descent returned the initial params — assign the result of each step: "
              "params = update_params(params, grads, learning_rate)")
    for n in (iterations - 1, iterations + 1):
        if all(np.allclose(params[k], reference(n)[0][k], rtol=1e-4, atol=1e-6) for k in PARAM_KEYS):
            _fail(f"gradient_descent made {n} updates for iterations={iterations} — "
                  f"run the loop exactly `iterations` times")
    _fail(f"after {iterations} iterations your params differ from npcore.gradient_descent's with "
          f"the same rng — start from init_params(X.shape[1], 10, 10, rng), then each iteration: "
          f"forward, backward, update (with Y = one_hot(y))")


# --------------------------------------------------------------------------- lesson 07
@_check
def check_confusion_matrix(fn):
    """fn(y_true, y_pred, num_classes) -> (k, k) integer counts, rows = true labels."""
    cases = ((np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 4),
             (np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]), np.array([3, 1, 4, 7, 5, 9, 2, 6, 3, 3, 5]), 10))
    for y_true, y_pred, k in cases:
        cm = _array(_run(fn, y_true, y_pred, k, names=("y_true", "y_pred")), "confusion_matrix")
        top = max(y_true.max(), y_pred.max()) + 1
        if cm.shape == (top, top) and top != k:
            _fail(f"confusion_matrix returned shape {cm.shape} — size it with num_classes ({k}), "
                  f"not from the labels' maximum")
        _shape(cm, (k, k), "confusion_matrix", "one row and one column per class")
        if cm.dtype.kind not in "iu":
            _fail(f"confusion_matrix returned {cm.dtype} — it counts samples: use an integer "
                  f"dtype (np.zeros((k, k), dtype=int))")
        if cm.sum() != len(y_true):
            _fail(f"confusion_matrix holds {cm.sum()} counts for {len(y_true)} samples — "
                  f"cm[y_true, y_pred] += 1 counts a repeated pair only once; use "
                  f"np.add.at(cm, (y_true, y_pred), 1) or a loop")
        want = npcore.confusion_matrix(y_true, y_pred, k)
        _compare(cm, want, "confusion_matrix", "cm[i, j] counts samples of true class i "
                                               "predicted as j",
                 wrongs=[(want.T, "confusion_matrix has predictions in its rows — rows are the "
                                  "true labels: cm[y_true[i], y_pred[i]] += 1")])
    _passed("confusion_matrix")


@_check
def check_per_class_accuracy(fn):
    """fn(cm) (k, k) -> (k,) recall per true class: diagonal / row sums."""
    for cm in (np.array([[5, 1, 0], [2, 6, 2], [0, 3, 1]]),
               npcore.confusion_matrix(_rng(8).integers(0, 10, 200), _rng(9).integers(0, 10, 200))):
        got = _array(_run(fn, cm, names=("cm",)), "per_class_accuracy")
        k = len(cm)
        _shape(got, (k,), "per_class_accuracy", "one number per true class: np.diag(cm) / cm.sum(axis=1)")
        diag = np.diag(cm).astype(np.float64)
        _compare(got, diag / cm.sum(axis=1), "per_class_accuracy",
                 "correct predictions of class i divided by the samples of true class i: "
                 "np.diag(cm) / cm.sum(axis=1)",
                 wrongs=[(diag / cm.sum(axis=0), "per_class_accuracy divides by the column sums "
                                                 "(samples PREDICTED as each class) — divide by the row "
                                                 "sums (samples of each TRUE class): cm.sum(axis=1)"),
                         (diag / cm.sum(), "per_class_accuracy divides by the total — divide each "
                                           "class by its own row sum: cm.sum(axis=1)")])
    _passed("per_class_accuracy")


# --------------------------------------------------------------------------- predictions
def check_prediction(name, guess, actual, why=None, rtol=0.1, atol=0.0):
    """A predict exercise: the learner's `guess` (a number, a tuple of numbers or a shape)
    against the `actual` value the reveal cell measured.

    Passes (one line, naming both) when every number of guess is within rtol (relative) or
    atol (absolute) of actual's; otherwise raises SelfCheckError with `why`, the one
    sentence that explains the actual value: WHY[name] unless given. (The sentences live in
    WHY, not in the lessons' check cells, so that reading ahead does not show the answer.)
    A guess left as None or Ellipsis (`...`) means "not done yet".
    """
    __tracebackhide__ = True
    g, a = _prediction_arrays(name, guess, actual, "a number (or a tuple of numbers)",
                              show_answer=True)
    if not np.all(np.isfinite(g)) or not np.allclose(g, a, rtol=rtol, atol=atol):
        raise SelfCheckError(f"you predicted {_show(guess)} for {name}; it is {_show(actual)} — "
                             f"{_why(name, why)}") from None
    print(f"✔ {name}: you predicted {_show(guess)}, it is {_show(actual)}")


def _why(name, why):
    return why or WHY.get(name, "the cell that measured it says why")


def _prediction_arrays(name, guess, actual, numbers, show_answer):
    """A predict exercise's guess and answer as float64 arrays of one shape, for
    check_prediction and check_prediction_decades.

    Raises SelfCheckError when the guess is not written yet (None or Ellipsis), is not
    numbers (the message says it should be `numbers`), or has another count of numbers than
    the answer (the message ends with the answer, as _show writes it, if `show_answer`).
    """
    __tracebackhide__ = True
    if guess is None or guess is Ellipsis:
        raise SelfCheckError(f"not done yet: write your prediction for {name} in place of `...` "
                             f"before you run the reveal cell") from None
    try:
        g = np.asarray(guess, dtype=np.float64)
    except (TypeError, ValueError):
        raise SelfCheckError(f"your prediction for {name} should be {numbers}, not "
                             f"{type(guess).__name__} {guess!r}") from None
    a = np.asarray(actual, dtype=np.float64)
    if g.shape != a.shape:
        answer = f": {_show(actual)}" if show_answer else ""
        raise SelfCheckError(f"your prediction for {name} has {g.size} number(s) {guess!r}, "
                             f"the answer has {a.size}{answer}") from None
    return g, a


def _show(value):
    """A prediction or its answer as short text: 2.3, (60000, 784), [0.5, 0.5]."""
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, (list, np.ndarray)):
        return "[" + ", ".join(_show(v) for v in np.asarray(value).ravel().tolist()) + "]"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    return f"{float(value):.4g}"


# Why each prediction's answer is what it is (check_prediction's `why`), by the name the
# lesson's check cell gives it.
WHY = {
    'the number of dead units at b1 = -1':
        'a unit is dead when even its largest score plus the bias is at most 0, so with b1 = -1 '
        'every unit whose largest score is below 1 dies: 0.90, 0.99, 0.84, 0.75',
    'dK of X4 for dZ = 1':
        'dK[u, v] = sum over r, s of X[r+u, s+v] dZ[r, s]: with dZ all ones, the sum of the 3x3 '
        'block of X4 whose top-left corner is (u, v)',
    'the megabytes of x_train (uint8) and X_train (float32)':
        'each of the 60,000 × 784 = 47,040,000 pixels takes 1 byte as uint8 and 4 bytes (32 '
        'bits) as float32: 47 MB and 188 MB',
    'the share of zero pixels and the mean pixel value':
        '81% of the pixels are background, exactly 0, and the other 19% average 0.68 (most ink '
        'is near full: 253 is the most common value above 0), so the mean is 0.19 × 0.68 = 0.13',
    'Y_train.sum() and its megabytes':
        'each of the 60,000 rows holds a single 1, so the entries sum to m = 60,000, and 60,000'
        ' × 10 entries of 4 bytes are 2.4 MB',
    'the centred difference of relu at 0':
        '(relu(eps) - relu(-eps)) / (2 eps) = (eps - 0) / (2 eps) = 1/2 for every eps: the '
        'average of the slopes 0 and 1 on either side',
    'the relative error at the kink':
        '|0.5 - 0| / (|0.5| + |0|) = 1, the largest relative error there is: one side is 0 and '
        'the other is not',
    'the softmax of the logits (1000, 0)':
        'only the difference 1000 - 0 counts: a_1 = e^0 / (e^1000 + e^0) = e^-1000 / (1 + '
        'e^-1000), about 5e-435, far below the smallest float64 (5e-324), so it rounds to 0 and'
        ' a_0 to 1',
    "the number of nan in softmax_naive's output":
        'e^1000 overflows to inf, so a_0 = inf / (inf + 1) = inf / inf = nan, while a_1 = 1 / '
        'inf is an ordinary 0',
    'the loss of a uniform guess over 10 classes':
        'every sample pays -log(1/10) = ln 10 for its true class, whatever the label, and the '
        'mean of 1,000 equal numbers is that number',
    'the loss of the untrained network':
        'its logits are small (std 0.25), so softmax gives every class about 1/10, and each '
        'image costs about -log(1/10) = ln 10 = 2.30; section 7 explains the rest',
    'the largest relative errors (float64, float32)':
        'float64 rounds the loss (about 2.4) by about 5e-16, a shift of about 5e-11 in a '
        'difference over 2e-5, tiny next to gradient entries of 1e-2: about 1e-8 is left; '
        'float32 rounds it by about 2e-7, a shift of about 1e-2, as large as the entries: some '
        'differences come out 0 and the relative error reaches 1',
    'the accuracy of the untrained network':
        'random weights pick a class that has nothing to do with the label, so the network is '
        'right about as often as a blind guess among ten digits, 1 time in 10, however unevenly'
        ' it spreads its answers',
    'the hidden units alive after 100 steps at alpha = 2':
        'the first steps help, but the loss soon bends more sharply and the steps overshoot; an'
        " overshoot can push a unit's Z1 below 0 on every image, and then relu'(Z1) = 0 there, "
        'its weights get no gradient and it never comes back: one after another, all ten die',
    'the most confused pair of digits':
        'a 4 and a 9 differ mainly in whether the loop at the top is closed, a handful of '
        'pixels, and the network confuses them in both directions; 3 and 5 come next (the pair '
        'is written smaller digit first)',
    'the updates per epoch with batches of 64':
        '55,000 / 64 = 859.4: 859 full batches and one more for the rest, one update each',
    'the size of the last batch':
        '859 full batches hold 859 x 64 = 54,976 images; the last batch holds the 24 left over',
    'the loss the broken network levels off at':
        'with the labels shuffled apart from the images nothing in an image tells its label, so'
        " the best any network can do is to predict the batch's digit frequencies q for every "
        'image, which costs the entropy of the labels, -sum q log q (the dotted line), close to'
        ' log 10 = 2.30 for ten nearly equal frequencies',
    'the validation loss of the untrained network':
        'untrained, the ten probabilities of an image are all near 1/10, so the loss is near '
        '-ln(1/10) = ln 10 = 2.30; the He-initialised logits spread a little (standard '
        'deviation 0.48), which adds 0.10',
    "the shape of the second layer's Z":
        'a 5x5 window fits at 12 - 5 + 1 = 8 positions along each axis, and each of the 32 '
        'filters gives one output channel',
    "the second layer's number of parameters":
        'each of the 32 filters spans all 16 input channels: 5*5*16 = 400 weights per filter, '
        '12,800 in all, plus 32 biases',
    'the side of the square one unit of A2 sees':
        'in pixels of the image: a 5 x 5 convolution sees 5; pooling two neighbours 1 pixel '
        'apart adds 1 (6); the second convolution spans 5 units of A1, which lie 2 pixels '
        'apart, adding 4 * 2 (14); pooling two neighbours of Z2, 2 pixels apart, adds 2 (16)',
}


# Each lesson's own checks (issue 12's exercises) go in its section below; a section adds
# its success lines with PASSED.update({...}) and its names to __all__.
# --------------------------------------------------------------------------- lesson 00 (exercises)
PASSED.update({
    "class_counts": "✔ class_counts: (num_classes,) integer counts, 0 for a class the labels "
                    "lack, counts above 255 from uint8 labels, matches np.bincount",
    "to_uint8_images": "✔ to_uint8_images: rows (m, 784) in [0, 1] -> uint8 images (m, 28, 28), "
                       "rounded, exact also for values a hair below a whole number",
    "to_columns": "✔ to_columns: (784, m) floats in [0, 1], column i is image i, for batches "
                  "of 5, 300 and 1",
})
NONFINITE_HINTS.update({
    "class_counts": "it counts labels, no division needed: entry j is how many labels equal j, "
                    "np.sum(y == j)",
    "to_uint8_images": "X is finite here, in [0, 1]: multiply by 255, round with np.rint, then "
                       "astype(np.uint8) and reshape",
    "to_columns": "the images are finite uint8 here: divide by the constant 255, not by a value "
                  "computed from the data, which may be 0",
})
__all__ += ["check_class_counts", "check_to_uint8_images", "check_to_columns"]


@_check
def check_class_counts(fn):
    """fn(y, num_classes) -> (num_classes,) integer counts: entry j = how many labels equal j."""
    cases = ((np.array([7, 2, 1, 0, 4], dtype=np.uint8), 10), (np.array([1, 0, 1, 2]), 4),
             (_rng(0).integers(0, 10, 200).astype(np.uint8), 10),
             (np.repeat(np.array([3, 1], dtype=np.uint8), [300, 2]), 10))
    for y, k in cases:
        got = _array(_run(fn, y, k, names=("y",)), "class_counts")
        shown = y.tolist() if len(y) <= 10 else f"({len(y)} labels)"
        present = len(np.unique(y))
        if got.shape == (present,) and present != k:
            _fail(f"class_counts returned {present} numbers for labels {shown} — one per class "
                  f"present (np.unique lists only those); a class the labels lack still needs its "
                  f"count 0: return num_classes = {k} numbers")
        if got.shape == (int(y.max()) + 1,) and y.max() + 1 != k:
            _fail(f"class_counts returned {got.shape[0]} numbers for labels {shown} — np.bincount "
                  f"stops at the largest label present ({y.max()}): pass minlength=num_classes "
                  f"to get all {k}")
        if got.shape == (10,) != (k,):
            _fail(f"class_counts(y, {k}) returned 10 counts for labels {shown} — count "
                  f"num_classes = {k} classes: use the argument, not a fixed 10")
        _shape(got, (k,), f"class_counts(y, {k}) for labels {shown}",
               "one count per class 0..num_classes-1")
        want = np.bincount(y, minlength=k)
        _compare(got, want, f"class_counts({shown})",
                 "entry j counts the labels equal to j", rtol=0, atol=0,
                 wrongs=[(want / len(y), f"class_counts returned fractions (counts / m) for labels "
                                         f"{shown} — return the counts themselves, whole numbers"),
                         (want % 256, f"class_counts counted 300 threes as {300 % 256} — the "
                                      f"counts wrapped around at 256: uint8 holds only 0..255 "
                                      f"(200 + 100 gives 44), so count in a wider integer type, "
                                      f"np.zeros(num_classes, dtype=int), not the labels' dtype")])
        if got.dtype.kind not in "iu":
            _fail(f"class_counts returned dtype {got.dtype} — the right counts, but counts are "
                  f"whole numbers: return integers (np.zeros(num_classes, dtype=int) or np.bincount)")
    _passed("class_counts")


def _images_with_every_value(m):
    """(m, 28, 28) uint8 images holding every value 0..255, then random ones."""
    x = _rng(3).integers(0, 256, (m, 28 * 28)).astype(np.uint8)
    x.flat[:256] = np.arange(256)
    return x.reshape(m, 28, 28)


@_check
def check_to_uint8_images(fn):
    """fn(X) (m, 784) float32 in [0, 1] -> (m, 28, 28) uint8, the images preprocess came from."""
    x = _images_with_every_value(6)
    X = npcore.preprocess(x)                                       # (6, 784) float32
    nudged = np.nextafter(X, np.float32(0))                        # a hair below: 252.99998 * 255
    for rows, what in ((X, "preprocess(x)"), (X[:1], "one row"), (nudged, "values a hair below")):
        got = _array(_run(fn, rows, names=("X",)), "to_uint8_images")
        m = len(rows)
        if got.shape == (m, 784):
            _fail(f"to_uint8_images returned shape {got.shape} — images are (m, 28, 28): "
                  f"reshape(len(X), 28, 28)")
        _shape(got, (m, 28, 28), f"to_uint8_images of {what}", "reshape(len(X), 28, 28)")
        want = x[:m]
        if np.array_equal(got, (want > 0).astype(got.dtype)) or got.max() <= 1:
            _fail(f"to_uint8_images of {what} gives values 0..{got.max()} — X is in [0, 1]: "
                  f"multiply by 255 to get 0..255 back")
        if rows is nudged and np.array_equal(got, (nudged * 255).astype(np.uint8).reshape(m, 28, 28)) \
                and not np.array_equal(got, want):
            _fail("to_uint8_images turns 253/255 a hair below (252.99998 after * 255) into 252 — "
                  "astype(np.uint8) cuts off the fraction: round first, np.rint(X * 255)")
        _compare(got, want, f"to_uint8_images of {what}",
                 "image i is row i times 255, rounded, as uint8, reshaped to (28, 28)", rtol=0, atol=0)
        if got.dtype != np.uint8:
            _fail(f"to_uint8_images returned dtype {got.dtype} — the right values, but images are "
                  f"uint8 (one byte per pixel): .astype(np.uint8)")
    _passed("to_uint8_images")


@_check
def check_to_columns(fn):
    """fn(x) (m, 28, 28) uint8 -> the original's layout (784, m): column i is image i / 255."""
    for m in (5, 300, 1):
        x = _images_with_every_value(m)                            # (m, 28, 28) uint8
        got = _array(_run(fn, x, names=("x",)), "to_columns")
        want = npcore.preprocess(x).T.astype(np.float64)           # (784, m)
        if got.shape == (m, 784) and m != 784:
            _fail(f"to_columns returned shape {got.shape} for {m} images — the original's layout "
                  f"has columns as samples, (784, m): transpose the (m, 784) rows")
        flat = x.reshape(m, 784).astype(np.float64)
        _compare(got, want, f"to_columns(x) for {m} images, entry",
                 "column i holds image i's 784 pixels in the order p = 28 r + c, divided by 255",
                 rtol=1e-6, atol=1e-7,
                 wrongs=[(x.reshape(784, m) / 255,
                          f"to_columns for {m} images still reshapes straight to (784, m) — "
                          f"reshape keeps the numbers in memory order (image 0's 784 pixels, then "
                          f"image 1's, …) and cuts that stream into rows of m, so column 0 gets "
                          f"numbers 0, m, 2m, … of it, pixels of many images; reshape to (m, 784), "
                          f"one row per image, then transpose"),
                         (flat.T, "to_columns keeps the values 0..255 — the original divides by "
                                  "255 so that every input lies in [0, 1]"),
                         (flat.T // 255, "to_columns divides with // (integer division): every "
                                         "pixel below 255 becomes 0 — divide with /"),
                         (x.transpose(0, 2, 1).reshape(m, 784).T / 255,
                          "to_columns sends pixel (r, c) to position 28 c + r: it transposes each "
                          "image, not the matrix — reshape to (m, 784) first, then transpose that")])
        if got.dtype.kind != "f":
            _fail(f"to_columns returned dtype {got.dtype} — inputs in [0, 1] need floats")
    _passed("to_columns")


# --------------------------------------------------------------------------- lesson 01 (exercises)
PASSED.update({
    "loss_from_labels": "✔ loss_from_labels: -mean of log A2[i, y[i]], no one-hot matrix, for "
                        "batches of 2 and 7, matches npcore.cross_entropy(A2, one_hot(y))",
    "one_hot_fixed": "✔ one_hot_fixed: rows are samples, (m, num_classes) for batches of 10, 32 "
                     "and 3, the 1 of row i in column y[i], matches npcore.one_hot",
})
NONFINITE_HINTS.update({
    "loss_from_labels": "every true-class probability is above 0 here, so log(A2[i, y[i]]) is "
                        "finite: pick those m entries with A2[np.arange(m), y]",
    "one_hot_fixed": "start from zeros, np.zeros((m, num_classes)), and set one 1 per row",
})
__all__ += ["check_loss_from_labels", "check_one_hot_fixed"]


@_check
def check_loss_from_labels(fn):
    """fn(A2, y) -> the mean cross-entropy -1/m sum_i log A2[i, y[i]], without building Y."""
    rng = _rng(4)
    A2_big = rng.dirichlet(np.ones(10), size=7)                    # (7, 10) rows sum to 1
    cases = ((np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]]), np.array([2, 0])),
             (A2_big, rng.integers(0, 10, 7)))
    for A2, y in cases:
        m = len(y)
        got = _array(_run(fn, A2, y, names=("A2", "y")), "loss_from_labels")
        picked = A2[np.arange(m), y]                               # (m,) true-class probabilities
        if got.shape == (m,):
            _fail(f"loss_from_labels returned {m} numbers, one loss per sample — L is their mean, "
                  f"one number")
        if got.shape != ():
            _fail(f"loss_from_labels returned shape {got.shape} — return one number, the mean "
                  f"loss over the batch")
        want = npcore.cross_entropy(A2, npcore.one_hot(y, A2.shape[1]))   # through a one-hot Y
        _compare(got, np.array(want), f"loss_from_labels for a batch of {m}",
                 "of each row of Y * log A2 only the entry of the true class y[i] survives: "
                 "L = -mean(log A2[np.arange(m), y])",
                 wrongs=[(np.array(-want), "loss_from_labels has the wrong sign — log of a "
                                           "probability is negative, and L = -mean(log ...) is "
                                           "positive"),
                         (np.array(want * m), "loss_from_labels sums over the batch — L is the mean: "
                                              "divide by m (or use np.mean)"),
                         (np.array(-np.mean(np.log(A2.max(axis=1)))),
                          "loss_from_labels takes the most probable class of each row — Y picks "
                          "the TRUE class y[i], whatever the network prefers"),
                         (np.array(-np.sum(np.log(A2)) / m),
                          "loss_from_labels adds the logs of every class — Y is 0 outside the "
                          "true class, so only log A2[i, y[i]] remains of each row"),
                         (np.array(-np.mean(np.log10(picked))),
                          "loss_from_labels uses log10 — the course's log is the natural log, "
                          "np.log"),
                         (np.array(-np.mean(np.log(A2[:, y]))),
                          "loss_from_labels indexes A2[:, y], whole columns: an (m, m) block, every "
                          "sample with every label — pair row i with its own label, "
                          "A2[np.arange(m), y]")])
    _passed("loss_from_labels")


@_check
def check_one_hot_fixed(fn):
    """fn(y, num_classes) -> Y (m, num_classes), row i the one-hot vector of y[i]; tried first on
    a batch of exactly 10 labels, where the transpose (k, m) has the right shape too."""
    cases = ((np.array([7, 2, 1, 0, 4, 1, 4, 9, 5, 9], dtype=np.uint8), 10),
             (_rng(5).integers(0, 10, 32), 10), (np.array([2, 0, 2]), 3))
    for y, k in cases:
        m = len(y)
        got = _array(_run(fn, y, k, names=("y",)), "one_hot_fixed")
        want = npcore.one_hot(y, k)
        if got.shape == (k, m) != (m, k):
            _fail(f"one_hot_fixed returned shape {got.shape} for {m} labels — rows are samples: "
                  f"Y is (m, num_classes), one row per label")
        _compare(got, want, f"one_hot_fixed for labels {y.tolist() if m <= 10 else f'({m} labels)'}",
                 "row i is all 0 except a 1 in column y[i]: Y[np.arange(m), y] = 1 on "
                 "np.zeros((m, num_classes))", rtol=0, atol=0,
                 wrongs=[(want.T, f"one_hot_fixed for {m} labels and {k} classes still returns the "
                                  f"transpose: column i holds the 1 of label i, and with m = k = {k} "
                                  f"the shape ({k}, {k}) cannot tell — in our layout row i holds "
                                  f"it: zeros((m, num_classes)) and Y[np.arange(m), y] = 1")])
    _passed("one_hot_fixed")


# --------------------------------------------------------------------------- lesson 02 (exercises)
PASSED.update({
    "collapse": "✔ collapse: W = W1 @ W2 (d, k) and b = b1 @ W2 + b2 (k,) reproduce the two "
                "linear layers for two shapes, to float64 rounding",
    "relu_derivative_gradient": "✔ relu_derivative_gradient: agrees with the centred differences "
                                "of relu at 40 points away from the kink (relative error below 1e-7)",
})
NONFINITE_HINTS.update({
    "collapse": "W1, b1, W2, b2 are finite here: the one layer needs only matrix products and "
                "sums of them, no division",
    "relu_derivative_gradient": "the slope of relu is 0 or 1 at every point, so the result holds "
                                "only 0s and 1s: no division or log is needed",
})
__all__ += ["check_collapse", "check_relu_derivative_gradient"]


@_check
def check_collapse(fn):
    """fn(W1, b1, W2, b2) -> (W, b) of the one linear layer that computes the same Z2."""
    rng = _rng(12)
    for d, h, k in ((6, 4, 4), (5, 3, 2)):
        W1, b1 = rng.standard_normal((d, h)), rng.standard_normal(h)
        W2, b2 = rng.standard_normal((h, k)), rng.standard_normal(k)
        result = _run(fn, W1, b1, W2, b2, names=("W1", "b1", "W2", "b2"))
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            _fail(f"collapse returned a {type(result).__name__} — return the pair of the one "
                  f"layer's weights and bias: return W, b")
        W = _array(result[0], "W in the result of collapse", returned=False)
        b = _array(result[1], "b in the result of collapse", returned=False)
        shapes = f"for W1 {W1.shape}, W2 {W2.shape}"
        if W.shape != (d, k):
            _fail(f"W has shape {W.shape} {shapes}, expected {(d, k)} — the one layer maps the "
                  f"d = {d} inputs to the k = {k} outputs, as X (m, d) @ W (d, k); which product "
                  f"of W1 (d, h) and W2 (h, k) has that shape?")
        if b.shape != (k,):
            _fail(f"b has shape {b.shape} {shapes}, expected {(k,)} — one bias per output, like "
                  f"b2 (k,)")
        _compare(W, W1 @ W2, f"W {shapes}", "X W1 W2 = X (W1 W2): the weights of the one layer "
                 "are a product of the two layers' weights", rtol=1e-10, atol=1e-10)
        wrongs = [(b2, "b is b2 alone — the first layer's bias b1 passes through W2 like every "
                       "hidden value: multiply out (X W1 + b1) W2 + b2"),
                  (b1 @ W2, "b is b1 @ W2 — the second layer adds its own bias b2 too")]
        if h == k:
            wrongs.append((b1 + b2, f"b is b1 + b2 (possible only because h = k = {k}) — b1 is "
                                    f"multiplied by W2 on its way to the output: multiply out "
                                    f"(X W1 + b1) W2 + b2"))
        _compare(b, b1 @ W2 + b2, f"b {shapes}", "multiply out (X W1 + b1) W2 + b2 and collect "
                 "what does not depend on X", wrongs=wrongs, rtol=1e-10, atol=1e-10)
    _passed("collapse")


@_check
def check_relu_derivative_gradient(fn):
    """fn(Z) -> relu'(Z), gradient-checked: centred differences of sum(relu(z)) at 40 points
    away from the kink, where they are exact up to rounding."""
    z = np.round(_rng(8).uniform(-3, 3, 40), 2)                 # two decimals, readable hints
    z[np.abs(z) < 0.05] = 0.25                                  # keep away from the kink
    got = _array(_run(fn, z, names=("Z",)), "relu_derivative")
    _shape(got, z.shape, "relu_derivative", "one slope per entry of Z, same shape as Z")
    x = z.copy()
    numeric = npcore.numerical_gradient(lambda: float(np.sum(np.maximum(x, 0))), x)   # (40,)
    with np.errstate(all="ignore"):
        errors = np.abs(got - numeric) / np.maximum(np.abs(got) + np.abs(numeric), 1e-12)
    worst = int(np.argmax(np.where(np.isnan(errors), np.inf, errors)))
    if errors[worst] < 1e-7:
        _passed("relu_derivative_gradient")
        return
    bad = np.sum(errors >= 1e-7)
    where = (f"relu_derivative disagrees with the gradient check at {bad} of 40 points; at "
             f"z = {z[worst]:g} it returns {_num(got[worst])}, the centred difference is "
             f"{numeric[worst]:.0f} (relative error {_num(errors[worst])})")
    if z[worst] > 0:
        hint = "for z > 0, relu(z) = z rises with slope 1 everywhere, not only above 1"
        if 0 < z[worst] < 1 and np.isclose(got[worst], z[worst]):
            hint = ("between 0 and 1 it returns z itself: clipping Z to [0, 1] gives a ramp, "
                    "but relu's slope jumps straight from 0 to 1 at the kink")
    else:
        hint = "for z < 0, relu(z) = 0 is flat: the slope there is 0, whatever z is"
    _fail(f"{where} — {hint}")


# --------------------------------------------------------------------------- lesson 03 (exercises)
PASSED.update({
    "squared_error_dZ2": "✔ squared_error_dZ2: (m, k), agrees with the centred differences of "
                         "the mean squared error of softmax for batches of 4 and 3 (float64)",
})
NONFINITE_HINTS.update({
    "squared_error_dZ2": "A2 and Y are finite here and the chain rule through softmax's "
                         "Jacobian needs only products and sums: no division, no log",
})
__all__ += ["check_squared_error_dZ2"]


def _squared_error_cases():
    """(Z2, A2, Y, finite-difference dL/dZ2) for L = 1/(2m) sum (softmax(Z2) - Y)^2, float64."""
    cases = []
    for m, k, seed in ((4, 10, 21), (3, 3, 22)):
        rng = _rng(seed)
        Z2 = rng.normal(0, 1.5, (m, k))
        Y = npcore.one_hot(rng.integers(0, k, m), k, dtype=np.float64)
        loss = lambda: 0.5 * float(np.sum((npcore.softmax(Z2) - Y) ** 2)) / m
        numeric = npcore.numerical_gradient(loss, Z2, eps=1e-5)   # restores Z2
        cases.append((Z2, npcore.softmax(Z2), Y, numeric))
    return cases


@_check
def check_squared_error_dZ2(fn):
    """fn(A2, Y) -> dL/dZ2 (m, k) of L = 1/(2m) sum (A2 - Y)^2 with A2 = softmax(Z2)."""
    for Z2, A2, Y, numeric in _squared_error_cases():
        m, k = Y.shape
        got = _array(_run(fn, A2, Y, names=("A2", "Y")), "squared_error_dZ2")
        if got.shape == (k, k) != (m, k):
            _fail(f"squared_error_dZ2 returned shape {got.shape}, a Jacobian — the gradient has "
                  f"Z2's shape ({m}, {k}): one row per sample, J (a - Y_i) / m for each")
        _shape(got, (m, k), f"squared_error_dZ2 for a batch of {m}",
               "the gradient has the shape of Z2: one row per sample, one entry per class")
        G = A2 - Y                                                # (m, k)
        inner = np.sum(A2 * G, axis=1, keepdims=True)             # (m, 1): a . (a - Y_i)
        right = A2 * (G - inner) / m
        wrongs = [
            (G / m, "that is cross-entropy's gradient (A2 - Y)/m — with squared error the "
                    "softmax Jacobian J = diag(a) - a aᵀ stays: each row is J (a - Y_i) / m"),
            (A2 * G / m, "you kept only the diagonal of the Jacobian, a ⊙ (a - Y_i) — each logit "
                         "also moves every other probability (the - a aᵀ part of J), which "
                         "subtracts a times the number a · (a - Y_i) from each row"),
            (right * m, f"the gradient is {m}× too large for a batch of {m} — the loss is the "
                        f"mean over the samples: divide by m"),
            (-right, "the gradient has the wrong sign — ∂L/∂Z2 points uphill, towards a larger "
                     "loss: J (a - Y_i), not J (Y_i - a)"),
            (A2 * (G - np.sum(A2 * G, axis=0, keepdims=True)) / m,
             "the sum a · (a - Y_i) is one number per sample: sum over the classes "
             "(axis=1, keepdims=True), not over the batch"),
            (A2 * (G - np.sum(A2 * G)) / m,
             "the sum a · (a - Y_i) is one number per sample: sum over the classes of each row "
             "(axis=1, keepdims=True), not over the whole matrix"),
            (right / k, f"the gradient is {k}× too small with {k} classes — the loss divides by "
                        f"m only, not by m·k"),
        ]
        _compare(got, numeric, f"squared_error_dZ2 for a batch of {m}",
                 "compare with the chain rule of section 7: ∂ℓ_i/∂z_l = Σ_j (∂ℓ_i/∂a_j)(∂a_j/∂z_l),"
                 " now with ∂ℓ_i/∂a_j = a_j - Y_ij", wrongs=wrongs, rtol=1e-5, atol=1e-9)
    _passed("squared_error_dZ2")


# --------------------------------------------------------------------------- lesson 04 (exercises)
PASSED.update({
    "backward_variance": "✔ backward_variance: Var(dA) = n_out · Var(w) · E[dZ²] for three layers "
                         "with n_in ≠ n_out, and a measurement on random arrays agrees",
    "he_init_params": "✔ he_init_params: W_l (n_{l-1}, n_l) ~ N(0, 2/n_{l-1}) (He, the "
                      "fan-in), zero biases, float32, for [784, 256, 64, 16, 10] and [6, 4, 3], "
                      "reproducible from rng",
    "forward_propagation_any": "✔ forward_propagation_any: Z1, A1, ..., ZL, AL for 1, 2, 3 and 4 layers "
                               "(relu inside, softmax last), matches npcore.forward_propagation",
})
NONFINITE_HINTS.update({
    "backward_variance": "the formula is a product of the layer's sizes and variances: no division "
                         "or log is needed",
    "he_init_params": "draw finite weights, rng.standard_normal((n_in, n_out)) * np.sqrt(2 / n_in), "
                      "and zero biases",
    "forward_propagation_any": "X and params are finite here, so look at the step that makes it: a "
                               "softmax that overflows (subtract each row's maximum before exp)",
})
__all__ += ["check_backward_variance", "check_he_init_params", "check_forward_propagation_any"]


@_check
def check_backward_variance(fn):
    """fn(n_in, n_out, var_w, mean_sq_dZ) -> Var of one entry of dA = dZ @ W.T (lesson 04)."""
    for n_in, n_out, var_w, msq in ((300, 64, 0.01, 0.25), (50, 400, 0.04, 2.0),
                                    (784, 10, 1 / 784, 0.003)):
        got = _array(_run(fn, n_in, n_out, var_w, msq), "predicted_var_dA")
        if got.shape != ():
            _fail(f"predicted_var_dA returned shape {got.shape} — return one number, the variance "
                  f"of one entry of dA")
        want = n_out * var_w * msq
        case = f"predicted_var_dA({n_in}, {n_out}, {var_w:.3g}, {msq:.3g})"
        _compare(got, np.array(want), case,
                 f"(dA)_iu = sum over j of (dZ)_ij W_uj: n_out = {n_out} independent terms, each "
                 f"of variance Var(w) E[dZ²], expected {_num(want)}",
                 wrongs=[(n_in * var_w * msq, f"{case} is n_in · Var(w) · E[dZ²] — dA = dZ @ W.T "
                                              f"sums over j, the n_out columns of W (the units of "
                                              f"the layer above), not over its n_in rows"),
                         (0.5 * n_out * var_w * msq, f"{case} has a factor 1/2 — no ReLU stands "
                                                     f"between dZ_l and dA_(l-1): its mask comes "
                                                     f"after, dZ_(l-1) = dA ⊙ relu'(Z_(l-1))"),
                         (n_out * var_w, f"{case} lacks the factor E[dZ²]: each term (dZ)_ij W_uj "
                                         f"has variance Var(w) · E[dZ²]"),
                         (n_out * np.sqrt(var_w) * msq, f"{case} uses the std of w — the variance "
                                                        f"of a product w·g is Var(w) · E[g²]"),
                         (var_w * msq, f"{case} is the variance of one term — a sum of n_out "
                                       f"independent terms has n_out times its variance"),
                         (0.5 * (n_in + n_out) * var_w * msq, f"{case} averages n_in and n_out — "
                                                              f"that is Glorot's compromise for "
                                                              f"Var(w), not the variance of dA")],
                 rtol=1e-6, atol=0)
    rng = _rng(3)                                      # a measurement: the formula is no accident
    n_in, n_out, var_w, msq = 120, 80, 0.02, 0.5
    dZ = rng.standard_normal((2000, n_out)) * np.sqrt(msq)              # (m, n_out)
    W = rng.standard_normal((n_in, n_out)) * np.sqrt(var_w)             # (n_in, n_out)
    measured = (dZ @ W.T).var()                                         # (m, n_in) entries
    predicted = float(_array(_run(fn, n_in, n_out, var_w, msq), "predicted_var_dA"))
    if not np.isclose(measured, predicted, rtol=0.1):
        _fail(f"on random arrays Var(dA) is {_num(measured)}, your formula gives {_num(predicted)}")
    _passed("backward_variance")


@_check
def check_he_init_params(fn):
    """fn(sizes, rng) -> {W1, b1, ..., WL, bL}, He's N(0, 2/n_in) weights, zero biases."""
    for sizes in ([784, 256, 64, 16, 10], [6, 4, 3]):
        L = len(sizes) - 1
        keys = [f"{P}{l}" for l in range(1, L + 1) for P in "Wb"]
        params = _dict(_run(fn, list(sizes), _rng(0), names=("sizes",)),
                       f"the result of init_params({sizes}, rng)", keys)
        want = npcore.init_params(sizes[0], sizes[1:-1], sizes[-1], rng=_rng(0), init="he")
        for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            W, b = params[f"W{l}"], params[f"b{l}"]
            if W.shape == (n_out, n_in) != (n_in, n_out):
                _fail(f"W{l} has shape {W.shape} instead of {(n_in, n_out)} — rows are samples, "
                      f"so W{l} is (inputs, outputs) and Z{l} = A{l - 1} @ W{l} + b{l}")
            _shape(W, (n_in, n_out), f"W{l}", "W_l is (n_(l-1), n_l): (inputs, outputs)")
            _shape(b, (n_out,), f"b{l}", "biases are vectors (n_l,) that broadcast over the rows")
            if np.any(b != 0):
                _fail(f"b{l} is not zero — start the biases at 0 (np.zeros)")
            if W.dtype != np.float32:
                _fail(f"W{l} has dtype {W.dtype}, expected float32 — .astype(np.float32)")
            he, Wn = np.sqrt(2 / n_in), want[f"W{l}"].astype(np.float64)   # npcore's He draws
            W64 = W.astype(np.float64)
            c = float(W64.ravel() @ Wn.ravel() / (Wn.ravel() @ Wn.ravel()))
            what = f"W{l} ({n_in} inputs, {n_out} outputs) is scaled by {_num(c * he)}"
            if np.allclose(W64, Wn, rtol=1e-5, atol=0):
                continue
            if np.allclose(W64, c * Wn, rtol=1e-4, atol=0):     # the right draws, a wrong scale
                if n_in != n_out and np.isclose(c, np.sqrt(n_in / n_out), rtol=1e-3):
                    _fail(f"{what} = sqrt(2/{n_out}): by the number of outputs — He's variance "
                          f"is 2/n_in, with n_in = {n_in} the rows of W{l} (the inputs that each "
                          f"unit's weighted sum adds up)")
                if np.isclose(c, np.sqrt(0.5), rtol=1e-3):
                    _fail(f"{what} = sqrt(1/{n_in}), LeCun's scale — this asks for He's, "
                          f"sqrt(2/n_in) = {_num(he)}")
                if np.isclose(c, he, rtol=1e-3):
                    _fail(f"{what} = 2/{n_in}: that is the variance — the standard deviation is "
                          f"its square root, np.sqrt(2 / n_in) = {_num(he)}")
                _fail(f"{what}, expected sqrt(2/{n_in}) = {_num(he)} — scale N(0, 1) draws by "
                      f"np.sqrt(2 / n_in)")
            std = W64.std()
            if W.size >= 1000 and not 0.9 * he < std < 1.1 * he:
                _fail(f"W{l} ({n_in} inputs, {n_out} outputs) has standard deviation {_num(std)}, "
                      f"expected about sqrt(2/{n_in}) = {_num(he)} — scale N(0, 1) draws by "
                      f"np.sqrt(2 / n_in)")
        if not all(np.allclose(params[k], want[k], rtol=1e-6, atol=0) for k in keys):
            again = _dict(_run(fn, list(sizes), _rng(0)), "the result of init_params", keys)
            if not np.array_equal(again["W1"], params["W1"]):
                _fail("init_params gave different weights for two calls with "
                      "np.random.default_rng(0) — draw from the rng you are given "
                      "(rng.standard_normal), not from np.random")
            _fail("the weights have the right scale but not npcore's draws — draw W1 first, then "
                  "W2, ..., each as rng.standard_normal((n_in, n_out)) * np.sqrt(2 / n_in), from "
                  "rng = np.random.default_rng(rng)")
    other = _dict(_run(fn, [6, 4, 3], _rng(5)), "the result of init_params", ("W1",))
    if np.array_equal(other["W1"], params["W1"]):
        _fail("init_params gave the same weights for np.random.default_rng(0) and "
              "np.random.default_rng(5) — draw from the rng you are given, not from a fixed seed")
    _passed("he_init_params")


def _deep_case(m, sizes, seed=0):
    """A float64 MLP with the given layer sizes, non-zero biases, and a batch of m samples."""
    rng = _rng(seed)
    params = npcore.init_params(sizes[0], list(sizes[1:-1]), sizes[-1], rng=rng, dtype=np.float64)
    for key in params:
        params[key] = params[key] + 0.3 * rng.standard_normal(params[key].shape)
    rng = _rng(100 + m)
    X = rng.random((m, sizes[0]))
    Y = npcore.one_hot(rng.integers(0, sizes[-1], m), sizes[-1], dtype=np.float64)
    return X, Y, params


@_check
def check_forward_propagation_any(fn):
    """fn(X, params) -> cache {Z1, A1, ..., ZL, AL} for any number L of layers."""
    for sizes, m in (((6, 4, 3), 3), ((6, 5, 4, 3), 7), ((6, 3), 4), ((6, 5, 4, 4, 3), 5)):
        X, _, p = _deep_case(m, sizes)
        L = len(sizes) - 1
        keys = [f"{Q}{l}" for l in range(1, L + 1) for Q in "ZA"]
        got = _run(fn, X, p, names=("X", "params"))
        what = f"the cache of a {L}-layer network ({' → '.join(map(str, sizes))})"
        if isinstance(got, dict) and f"Z{L}" not in got and ("Z2" in got or L == 1):
            _fail(f"{what} lacks Z{L} — loop over all L = len(params) // 2 layers, not a fixed "
                  f"number")
        cache = _dict(got, what, keys)
        want = npcore.forward_propagation(X, p)
        for l in range(1, L + 1):
            A_prev = X if l == 1 else want[f"A{l - 1}"]
            W, b, Z = p[f"W{l}"], p[f"b{l}"], want[f"Z{l}"]
            z_wrongs = [(A_prev @ W, f"Z{l} lacks the bias: Z{l} = A{l - 1} @ W{l} + b{l}")]
            if l > 1:
                z_wrongs.append((want[f"Z{l - 1}"] @ W + b, f"Z{l} is computed from Z{l - 1} — "
                                 f"feed the activations forward: Z{l} = A{l - 1} @ W{l} + b{l}"))
            _compare(cache[f"Z{l}"], Z, f"Z{l} of {what}",
                     f"Z{l} = A{l - 1} @ W{l} + b{l} with A0 = X", z_wrongs)
            if l < L:
                a_wrongs = [(Z, f"A{l} equals Z{l} — apply the activation: A{l} = relu(Z{l})"),
                            (npcore.softmax(Z), f"A{l} is softmax(Z{l}) — hidden layers use relu; "
                                                f"softmax only at the last layer, A{L}")]
                formula = f"A{l} = relu(Z{l}) (a hidden layer)"
            else:
                a_wrongs = [(npcore.relu(Z), f"A{L} is relu(Z{L}) — the last layer uses softmax: "
                                             f"A{L} = softmax(Z{L}) (test l < L, not l < 2)"),
                            (Z, f"A{L} equals Z{L} — apply softmax: A{L} = softmax(Z{L})")]
                formula = f"A{L} = softmax(Z{L}) (the last layer)"
            _compare(cache[f"A{l}"], want[f"A{l}"], f"A{l} of {what}", formula, a_wrongs)
    _passed("forward_propagation_any")


# --------------------------------------------------------------------------- lesson 05 (exercises)
PASSED.update({
    "bias_gradient": "✔ bias_gradient: dZ (m, n) -> (n,), the sum over the rows (samples), matches "
                     "finite differences of db2 for batches of 5 and 8",
    "backward_propagation_any": "✔ backward_propagation_any: dW1, db1, ..., dWL, dbL match finite "
                                "differences for 1, 3 and 4 layers and batches of 3 and 6",
})
NONFINITE_HINTS.update({
    "bias_gradient": "dZ is finite here: the bias gradient is only a sum, dZ.sum(axis=0)",
    "backward_propagation_any": "X, Y, params and cache are finite here: dZ = (A_L - Y) / m "
                                "with m = X.shape[0], then only products and sums",
})
__all__ += ["check_bias_gradient", "check_backward_propagation_any", "check_prediction_decades"]


@_check
def check_bias_gradient(fn):
    """fn(dZ) (m, n) -> (n,): the gradient of the bias of the layer whose dZ is given."""
    for m in (5, 8):
        X, Y, p = _net_case(m)
        cache = npcore.forward_propagation(X, p)
        dZ2 = (cache["A2"] - Y) / m                                     # (m, k)
        k = dZ2.shape[1]
        got = _array(_run(fn, dZ2, names=("dZ",)), f"bias_gradient of dZ2 ({m}, {k})")
        if got.shape == ():
            _fail(f"bias_gradient returned one number for dZ2 ({m}, {k}) — np.sum without axis adds "
                  f"the {k} classes' gradients together (exhibit 1 of the museum); b2 has one entry "
                  f"per class: sum over the rows (samples) only, axis=0")
        if got.shape == (m,):
            _fail(f"bias_gradient returned shape ({m},), one number per sample — b2 has one entry "
                  f"per class, ({k},): sum over the rows (samples), axis=0, not axis=1")
        if got.shape == (1, k):
            _fail(f"bias_gradient returned shape (1, {k}) — b2 is ({k},): sum with axis=0 and "
                  f"without keepdims")
        numeric = _numeric_grads(X, Y, p)["db2"]
        _compare(got, numeric, f"bias_gradient(dZ2) for a batch of {m}",
                 "(db2)_j = sum over the samples i of (dZ2)_ij: dZ.sum(axis=0)",
                 wrongs=[(numeric / m, f"bias_gradient is 1/{m} of the gradient: it averages over "
                                       f"the samples — dZ2 already holds the 1/m of the mean loss, "
                                       f"so sum the rows: dZ.sum(axis=0)"),
                         (numeric * m, f"bias_gradient is {m}× the gradient — sum the rows of dZ "
                                       f"as they are: the 1/m is already inside dZ2"),
                         (dZ2[0], "bias_gradient returned the first row only — every sample uses "
                                  "the bias, so add all rows: dZ.sum(axis=0)")],
                 rtol=1e-6, atol=1e-10)
    _passed("bias_gradient")


def _numeric_grads_any(X, Y, params):
    """Centred differences (eps = 1e-5) of every parameter of an MLP of any depth."""
    p = {key: P.copy() for key, P in params.items()}
    L = len(p) // 2
    loss = lambda: npcore.cross_entropy(npcore.forward_propagation(X, p)[f"A{L}"], Y)  # noqa: E731
    return {f"d{key}": npcore.numerical_gradient(loss, p[key], eps=1e-5) for key in p}


@_check
def check_backward_propagation_any(fn):
    """fn(X, Y, params, cache) -> {dW1, db1, ..., dWL, dbL} for any depth, by finite differences."""
    for sizes, m in (((6, 5, 4, 3), 3), ((6, 3), 6), ((6, 5, 4, 4, 3), 6)):
        X, Y, p = _deep_case(m, sizes)
        L = len(sizes) - 1
        keys = [f"d{P}{l}" for l in range(L, 0, -1) for P in "Wb"]
        cache = npcore.forward_propagation(X, p)
        what = f"the grads of a {L}-layer network ({' → '.join(map(str, sizes))})"
        try:
            got = _run(fn, X, Y, p, cache, names=("X", "Y", "params", "cache"))
        except SelfCheckError as error:
            if "broadcast" in str(error) and L != 2:
                _fail(f"{str(error).split(' — ')[0]} — on a {L}-layer network ({' → '.join(map(str, sizes))}): "
                      f"does your function assume 2 layers? Take N = len(params) // 2 and start from "
                      f"dZ = (cache[f'A{{N}}'] - Y) / m")
            raise
        if isinstance(got, dict) and keys[0] not in got:
            _fail(f"{what} lack {keys[0]} — start at the last layer, L = len(params) // 2, with "
                  f"dZ = (cache[f'A{{L}}'] - Y) / m, and loop l = L, L-1, ..., 1")
        if isinstance(got, dict) and "dW1" not in got:
            _fail(f"{what} lack dW1 — the loop must run down to l = 1 (range(L, 0, -1)), where "
                  f"A_0 is X")
        grads = _dict(got, what, keys)
        numeric = _numeric_grads_any(X, Y, p)
        for key in keys:
            P = p[key[1:]]
            if key[1] == "b" and grads[key].shape != P.shape:
                _fail(f"{key} has shape {grads[key].shape} but {key[1:]} is {P.shape} — "
                      f"sum over the batch axis only (axis=0)")
            _shape(grads[key], P.shape, key, "a gradient has its parameter's shape: "
                                             "dW_l = A_(l-1).T @ dZ_l, db_l = dZ_l.sum(axis=0)")
        for key in keys:                                    # from the top down: the first one
            g, n = grads[key], numeric[key]                 # wrong names where the bug starts
            if _agrees(g, n):
                continue
            l = int(key[2:])
            if l < L:
                dA = ((cache[f"A{L}"] - Y) / m)
                for j in range(L, l, -1):                   # the right dZ down to layer l + 1
                    dZ_up = dA
                    dA = dZ_up @ p[f"W{j}"].T
                    if j - 1 > l:
                        dA = dA * npcore.relu_derivative(cache[f"Z{j - 1}"])
                A_prev = X if l == 1 else cache[f"A{l - 1}"]
                if np.allclose(grads[f"dW{l}"], A_prev.T @ dA, rtol=1e-5, atol=1e-9):
                    _fail(f"dW{l} ignores the ReLU of layer {l} — dZ_{l} = (dZ_{l + 1} @ "
                          f"W{l + 1}.T) * relu_derivative(Z{l})")
            ratio = g.ravel() @ n.ravel() / max(n.ravel() @ n.ravel(), 1e-300)
            factor = (f" (it is {_num(ratio)}× the numeric gradient: a constant factor — a stray "
                      f"2, or an m other than X.shape[0], the batch at hand?)"
                      if np.allclose(g, ratio * n, rtol=1e-5, atol=1e-10) else "")
            _fail(f"gradient check failed for {key} of {what}, batch of {m}{factor} — "
                  f"dZ_L = (A_L - Y) / m; dW_l = A_(l-1).T @ dZ_l; db_l = dZ_l.sum(axis=0); "
                  f"dZ_(l-1) = (dZ_l @ W_l.T) * relu_derivative(Z_(l-1))")
    _passed("backward_propagation_any")


def check_prediction_decades(name, guess, actual, why=None, decades=1.5):
    """A predict exercise whose answer is an order of magnitude (a relative error, a step):
    passes when every number of guess is within `decades` powers of 10 of actual's."""
    __tracebackhide__ = True
    g, a = _prediction_arrays(name, guess, actual, "numbers", show_answer=False)
    if not np.all(np.isfinite(g) & (g > 0)):
        raise SelfCheckError(f"your prediction for {name} should be positive numbers such as "
                             f"1e-8 (not the exponent -8): {guess!r}") from None
    show = lambda v: "(" + ", ".join(f"{x:.0e}" for x in np.ravel(v)) + ")"  # noqa: E731
    if not np.all(np.abs(np.log10(g) - np.log10(a)) <= decades):
        raise SelfCheckError(f"you predicted {show(g)} for {name}; it is {show(a)} — "
                             f"{_why(name, why)}") from None
    print(f"✔ {name}: you predicted {show(g)}, it is {show(a)} (within {decades:g} powers of 10)")


# --------------------------------------------------------------------------- lesson 06 (exercises)
PASSED.update({
    "largest_stable_rate": "✔ largest_stable_rate: 2 / curvature for curvatures 0.5, 4 and 10 "
                           "(below it every step shrinks theta, above it every step grows it)",
})
NONFINITE_HINTS.update({
    "largest_stable_rate": "the curvature is a positive, finite number here: one step multiplies "
                           "theta by r = 1 - alpha * c, so find the largest alpha with |r| < 1",
})
__all__ += ["check_largest_stable_rate"]


@_check
def check_largest_stable_rate(fn):
    """fn(curvature c > 0) -> the largest learning rate for which gradient descent on the bowl
    L(theta) = c * theta**2 / 2 shrinks theta towards 0 from any start: 2 / c."""
    for c in (4.0, 0.5, 10.0):                   # at 0.5, 2c and 1/(2c) coincide: 4 first
        got = _array(_run(fn, c), "largest_stable_rate")
        if got.shape != ():
            _fail(f"largest_stable_rate({_num(c)}) returned shape {got.shape} — return one number, "
                  f"the rate as a function of the curvature")
        _compare(got, np.array(2 / c), f"largest_stable_rate({_num(c)})",
                 "one step gives theta_new = (1 - alpha * c) * theta; theta shrinks from any start "
                 "exactly when |1 - alpha * c| < 1",
                 wrongs=[(1 / c, f"largest_stable_rate({_num(c)}) is {_num(got)} = 1 / c, the rate "
                                 f"that lands on the minimum in one step (1 - alpha * c = 0), the best "
                                 f"rate but not the largest: between 1/c and 2/c every step overshoots "
                                 f"to the other side, yet |1 - alpha * c| < 1 still shrinks theta"),
                         (2 * c, f"largest_stable_rate({_num(c)}) is {_num(got)} = 2 * c — a more "
                                 f"curved bowl needs SMALLER steps: the rate goes as 1 / c"),
                         (c / 2, f"largest_stable_rate({_num(c)}) is {_num(got)} = c / 2 — a more "
                                 f"curved bowl needs SMALLER steps: the rate goes as 1 / c"),
                         (1 / (2 * c), f"largest_stable_rate({_num(c)}) is {_num(got)} = 1 / (2c) — "
                                       f"solve |1 - alpha * c| < 1 for alpha again: "
                                       f"-1 < 1 - alpha * c gives alpha < 2 / c")])
    _passed("largest_stable_rate")


# --------------------------------------------------------------------------- lesson 07 (exercises)
PASSED.update({
    "precision": "✔ precision: diagonal / column sums (how often each predicted class is right), "
                 "checked on three confusion matrices, nan or 0 for a class never predicted",
    "surest_mistakes": "✔ surest_mistakes: indices of misclassified samples, surest first, "
                       "n of them, checked on two sets of 40 and 60 samples",
})
NONFINITE_HINTS.update({
    "precision": "every class but the last of the third matrix is predicted here, so only that "
                 "column sum is 0: np.diag(cm) / cm.sum(axis=0)",
    "surest_mistakes": "it returns indices (integers), no division needed: the positions where "
                       "the predicted class differs from y_true, ordered by -confidence",
})
__all__ += ["check_precision", "check_surest_mistakes"]


@_check
def check_precision(fn):
    """fn(cm) (k, k), rows = true labels -> (k,) precision of each predicted class:
    diagonal / column sums; a class never predicted (column sum 0) may be nan or 0."""
    never = npcore.confusion_matrix(_rng(10).integers(0, 5, 60), _rng(11).integers(0, 4, 60), 5)
    for cm in (np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]]),
               npcore.confusion_matrix(_rng(8).integers(0, 10, 200), _rng(9).integers(0, 10, 200)),
               never):
        got = _array(_run(fn, cm, names=("cm",)), "precision", finite=False)
        k = len(cm)
        _shape(got, (k,), "precision", "one number per predicted class: np.diag(cm) / cm.sum(axis=0)")
        diag, columns = np.diag(cm).astype(np.float64), cm.sum(axis=0)
        said = columns > 0                               # classes the network predicted at least once
        if not said.all():
            empty = int(np.flatnonzero(~said)[0])
            if not (np.isnan(got[empty]) or got[empty] == 0):
                _fail(f"precision[{empty}] is {_num(got[empty])} for a class that is never "
                      f"predicted (column {empty} sums to 0) — its precision is 0/0: leave it nan, "
                      f"as np.diag(cm) / cm.sum(axis=0) does (or make it 0)")
        _refuse_nonfinite(got[said], "precision")
        _compare(got[said], diag[said] / columns[said], "precision",
                 "of the samples PREDICTED as class l (column l), the share that truly is l: "
                 "np.diag(cm) / cm.sum(axis=0)",
                 wrongs=[((diag / cm.sum(axis=1))[said], "precision divides by the row sums, which "
                                                         "gives the recall (per-class accuracy) — "
                                                         "divide by the column sums, the samples "
                                                         "PREDICTED as each class: cm.sum(axis=0)"),
                         ((diag / cm.sum())[said], "precision divides by the total — divide each "
                                                   "class by its own column sum: cm.sum(axis=0)")])
    _passed("precision")


def _surest_case(m, seed):
    """Probabilities (m, 4) and labels (m,) with mistakes scattered (none in the first rows)
    and no two confidences tied."""
    rng = _rng(seed)
    A = npcore.softmax(rng.normal(0, 2, (m, 4)))
    y = A.argmax(axis=1)
    wrong = rng.choice(np.arange(6, m), m // 3, replace=False)
    y[wrong] = (y[wrong] + rng.integers(1, 4, len(wrong))) % 4
    return A, y


@_check
def check_surest_mistakes(fn):
    """fn(probabilities (m, k), y_true (m,), n) -> (n,) indices into the m samples of the n
    misclassified samples with the largest probability of their predicted class, surest first."""
    for m, n, seed in ((40, 5, 12), (60, 3, 13)):
        A, y = _surest_case(m, seed)
        predicted, confidence = A.argmax(axis=1), A.max(axis=1)
        mistakes = np.flatnonzero(predicted != y)
        order = np.argsort(-confidence[mistakes], kind="stable")
        want = mistakes[order[:n]]
        got = _array(_run(fn, A, y, n, names=("probabilities", "y_true")), "surest_mistakes")
        _shape(got, (n,), f"surest_mistakes(probabilities, y_true, {n})", f"return n = {n} indices")
        if got.dtype.kind not in "iu":
            _fail(f"surest_mistakes returned {got.dtype} — return integer indices of samples")
        if np.array_equal(got, want):
            continue
        if np.array_equal(got, order[:n]):
            _fail(f"surest_mistakes returned {got.tolist()}, positions in the list of mistakes, "
                  f"not indices of samples: sample {int(got[0])} is "
                  f"{'predicted right' if predicted[got[0]] == y[got[0]] else 'another mistake'} "
                  f"— argsort numbers the entries of the array it sorts, confidence[mistakes]; "
                  f"turn them back into sample indices with mistakes[order]")
        if np.array_equal(got, mistakes[np.argsort(confidence[mistakes], kind="stable")[:n]]):
            _fail("surest_mistakes returned the LEAST sure mistakes — sort by -confidence, "
                  "so the largest probability comes first")
        bad = [int(i) for i in got if not 0 <= i < m]
        if bad:
            _fail(f"surest_mistakes returned index {bad[0]}, but there are only {m} samples")
        right = [int(i) for i in got if predicted[i] == y[i]]
        if right:
            i = right[0]
            _fail(f"surest_mistakes returned {got.tolist()}, and sample {i} is no mistake: predicted "
                  f"{int(predicted[i])}, label {int(y[i])} — keep only the samples whose predicted "
                  f"class (argmax over axis=1) differs from y_true")
        if set(got.tolist()) == set(want.tolist()):
            _fail(f"surest_mistakes returned the right samples in the wrong order, {got.tolist()} "
                  f"instead of {want.tolist()} — surest first: the largest probability first")
        _fail(f"surest_mistakes returned {got.tolist()}, mistakes but not the surest ones: "
              f"{want.tolist()} — the confidence of a sample is the largest of its probabilities, "
              f"probabilities.max(axis=1)")
    _passed("surest_mistakes")


# --------------------------------------------------------------------------- lesson 08 (exercises)
PASSED.update({
    "iterate_minibatches": "✔ iterate_minibatches: batches of 4, 4, 3; every sample once, rows and labels "
                           "paired; a new order every epoch, the same batches as npcore's with the same seed",
    "sgd_epochs": "✔ sgd_epochs: 3 epochs of 21 batches give npcore.train's losses and weights, with plain "
                  "SGD and with an update rule and its state passed in",
    "momentum_update": "✔ momentum_update: two steps by hand and five random ones as npcore's, in place",
    "ema_factor": "✔ ema_factor: M_t / g of a running mean started at 0, for beta 0.9 and 0.999 and "
                  "t from 1 to 1000",
    "adam_update": "✔ adam_update: first steps of size lr whatever the gradient's scale, five steps "
                   "as npcore's, in place",
})
NONFINITE_HINTS.update({
    "iterate_minibatches": "it only reorders and slices the rows: no arithmetic at all",
    "sgd_epochs": "npcore.train stays finite on the same data and rate: look at the step "
                  "(P -= learning_rate * dP) and the loss average (loss * b summed, divided by m)",
    "momentum_update": "the inputs are finite: V <- beta V - learning_rate dP and P <- P + V need no division",
    "ema_factor": "a finite expression in beta and t (0 < beta < 1, t >= 1) suffices: no division by 1 - beta**0",
    "adam_update": "add 1 to state['t'] BEFORE the bias correction: 1 - beta**0 = 0 divides by zero",
})
__all__ += ["check_iterate_minibatches", "check_sgd_epochs", "check_momentum_update", "check_ema_factor",
            "check_adam_update"]


def _quiet(fn, call):
    """call() with the learner's fn inside, as _run runs it: 'not done yet' for a stub; the
    arguments are not copied, so in-place changes stay visible to the check."""
    call.__name__ = getattr(fn, "__name__", "your function")
    return _run(call)


@_check
def check_iterate_minibatches(fn):
    """fn(X, y, batch_size, rng) -> yields (X_batch, y_batch): one permutation, consecutive slices."""
    X, y = np.arange(22, dtype=np.float32).reshape(11, 2), np.arange(11)   # row i = [2i, 2i+1], label i
    rng = _rng(7)

    def epoch():
        batches = fn(X.copy(), y.copy(), 4, rng)
        if batches is None:
            _fail("iterate_minibatches returned None — yield (X_batch, y_batch) for every batch")
        return list(batches)
    epochs = [_quiet(fn, epoch) for _ in range(2)]
    for batches in epochs:
        if not all(isinstance(b, tuple) and len(b) == 2 for b in batches):
            _fail("yield pairs (X_batch, y_batch), one pair per batch")
        sizes = [len(np.asarray(yb)) for _, yb in batches]
        if sizes == [4, 4]:
            _fail("batch sizes [4, 4] for 11 samples: the last batch, with the 3 left over, is missing "
                  "— let the slices run to the end (range(0, m, batch_size))")
        if sizes != [4, 4, 3]:
            _fail(f"batch sizes {sizes} for 11 samples and batch_size 4: expected [4, 4, 3] (the last "
                  f"batch holds the 3 left over)")
        labels = np.concatenate([np.asarray(yb) for _, yb in batches])
        if sorted(labels.tolist()) != list(range(11)):
            _fail("some samples appear twice and others not at all in one epoch: slice ONE permutation "
                  "(rng.permutation(m)) into consecutive pieces, instead of drawing each batch anew")
        for Xb, yb in batches:
            if not np.array_equal(np.asarray(Xb)[:, 0], 2 * np.asarray(yb)):
                _fail("X_batch and y_batch are not paired: index both with the same rows, X[batch], y[batch]")
    first, second = (np.concatenate([np.asarray(yb) for _, yb in b]) for b in epochs)
    if np.array_equal(first, np.arange(11)):
        _fail("the batches come in the original order: shuffle first, order = rng.permutation(m)")
    if np.array_equal(first, second):
        _fail("both epochs used the same order: draw the permutation from the rng you are given, on "
              "every call (not from a fixed seed)")
    reference = [yb.tolist() for _, yb in npcore.iterate_minibatches(X, y, 4, _rng(7))]
    if [np.asarray(yb).tolist() for _, yb in epochs[0]] != reference:
        _fail("same seed, different batches than npcore's: draw rng.permutation(len(X)) once, then "
              "take consecutive slices of batch_size indices")
    _passed("iterate_minibatches")


def _sgd_case():
    rng = _rng(8)
    X = rng.random((2050, 40), dtype=np.float32)              # 20 batches of 100 and one of 50
    y = rng.integers(0, 10, 2050)
    return X, y, npcore.init_params(40, 16, 10, rng=0, init="he")


@_check
def check_sgd_epochs(fn):
    """fn(X, y, params, epochs, batch_size, learning_rate, rng, update=..., state=...) -> (epochs,) losses."""
    X, y, start = _sgd_case()
    mine, reference = ({key: P.copy() for key, P in start.items()} for _ in range(2))
    got = _quiet(fn, lambda: fn(X, y, mine, 3, 100, 0.1, _rng(5)))
    _, history = npcore.train(X, y, reference, 3, 100, 0.1, optimizer="sgd", rng=5, schedule=None)
    expected = history["loss"]                                # (3,)
    losses = _array(got, "sgd_epochs").astype(np.float64)
    _shape(losses, (3,), "the losses of sgd_epochs", "return one mean training loss per epoch, "
                                                     "an array of shape (epochs,)")
    if np.array_equal(mine["W1"], start["W1"]):
        _fail("params did not change: step every parameter in place through update(params, grads, "
              "state, learning_rate), which changes the arrays of params")
    if not np.isclose(losses[0], expected[0], rtol=1e-5, atol=0):
        probe, batch_losses = {key: P.copy() for key, P in start.items()}, []
        for Xb, yb in npcore.iterate_minibatches(X, y, 100, _rng(5)):
            loss, grads, _ = npcore.loss_and_grads(Xb, yb, probe)
            npcore.sgd_update(probe, grads, {}, 0.1)
            batch_losses.append(loss)
        if np.isclose(losses[0], np.mean(batch_losses), rtol=1e-5, atol=0):
            _fail(f"epoch 1: your loss {losses[0]:.6f} is the plain mean of the 21 batch losses; the last "
                  f"batch holds 50 images, not 100: add loss * b for every batch and divide by m "
                  f"(expected {expected[0]:.6f})")
        _fail(f"epoch 1: mean training loss {losses[0]:.6f}, expected {expected[0]:.6f} (npcore.train from "
              f"the same params and seed): batches from your iterate_minibatches(X, y, batch_size, rng), "
              f"each batch's loss taken before its step")
    if not np.allclose(losses, expected, rtol=1e-5, atol=0):
        _fail(f"epoch 1 is right, but the losses of epochs 2 and 3 are {losses[1]:.6f}, {losses[2]:.6f}, "
              f"expected {expected[1]:.6f}, {expected[2]:.6f}: pass the same Generator rng to "
              f"iterate_minibatches every epoch (a new seed per epoch, or no new order, gives other batches)")
    for key in start:
        if not np.allclose(mine[key], reference[key], rtol=1e-5, atol=1e-7):
            _fail(f"after 3 epochs {key} differs from npcore.train's: one step per batch, "
                  f"update(params, grads, state, learning_rate)")
    mine, reference = ({key: P.copy() for key, P in start.items()} for _ in range(2))
    velocity = npcore.init_optimizer_state(mine, "momentum")
    try:
        got = _quiet(fn, lambda: fn(X, y, mine, 3, 100, 0.01, _rng(6), update=npcore.momentum_update,
                                    state=velocity))
    except SelfCheckError as error:
        if "unexpected keyword" in str(error):
            _fail("sgd_epochs takes update and state as keyword arguments: keep the signature "
                  "sgd_epochs(X, y, params, epochs, batch_size, learning_rate, rng, update=..., state=None)")
        if "KeyError" in str(error):
            _fail(f"with update=npcore.momentum_update and state=velocity, {error} — pass the state you "
                  f"are given on to update (use a new {{}} only when state is None)")
        raise
    _, history = npcore.train(X, y, reference, 3, 100, 0.01, optimizer="momentum", rng=6, schedule=None)
    losses = _array(got, "sgd_epochs").astype(np.float64)
    if not np.any(velocity["W1"]):
        _fail("with update=npcore.momentum_update and state=velocity, the velocity stayed 0: step with "
              "update(params, grads, state, learning_rate), passing the state you are given, instead of "
              "a plain SGD step of your own")
    if not (np.allclose(losses, history["loss"], rtol=1e-5, atol=0)
            and all(np.allclose(mine[k], reference[k], rtol=1e-5, atol=1e-7) for k in start)):
        _fail("with update=npcore.momentum_update your losses or weights differ from npcore.train's "
              "optimizer='momentum': step with update(params, grads, state, learning_rate), not with "
              "a plain SGD step of your own")
    _passed("sgd_epochs")


def _optimizer_case(seed=0):
    rng = _rng(seed)
    return {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(2)}, rng


@_check
def check_momentum_update(fn):
    """fn(params, grads, velocity, learning_rate, beta=0.9) -> params, in place."""
    params = {"W1": np.array([[1.0, -2.0]]), "b1": np.array([0.5, 0.0])}
    W1 = params["W1"]
    velocity = {"W1": np.zeros((1, 2)), "b1": np.zeros(2)}
    grads = {"dW1": np.array([[0.5, -1.0]]), "db1": np.array([2.0, 0.0])}
    out = _quiet(fn, lambda: fn(params, grads, velocity, 0.1, beta=0.9))
    if not isinstance(out, dict):
        _fail(f"momentum_update returned a {type(out).__name__} — return params")
    if params["W1"] is not W1 or np.array_equal(W1, [[1.0, -2.0]]):
        _fail("update params in place (P += V changes the array itself; P = P + V or params[key] = ... "
              "makes a new one, and the training loop keeps the arrays it gave you)")
    _compare(velocity["W1"], np.array([[-0.05, 0.1]]), "velocity['W1'] after one step",
             "V <- beta V - learning_rate dP, starting from V = 0, stored in velocity[key] in place",
             wrongs=[(np.zeros((1, 2)), "velocity['W1'] is still 0 after one step: change the velocity "
                                        "array in place (V *= beta, then V -= learning_rate * dP)"),
                     (np.array([[0.05, -0.1]]), "the velocity points uphill: V <- beta V - learning_rate dP")],
             rtol=1e-9, atol=1e-12)
    _compare(params["W1"], np.array([[0.95, -1.9]]), "W1 after one step", "P <- P + V with the new V",
             rtol=1e-9, atol=1e-12)
    _quiet(fn, lambda: fn(params, grads, velocity, 0.1, beta=0.9))
    _compare(velocity["W1"], np.array([[-0.095, 0.19]]), "velocity['W1'] after two steps",
             "V <- beta V - learning_rate dP: the old velocity, times beta, stays in",
             wrongs=[(np.array([[-0.1, 0.2]]), "after two steps velocity['W1'] is [[-0.1, 0.2]], the plain "
                                               "sum of both steps: multiply the old V by beta first")],
             rtol=1e-9, atol=1e-12)
    _compare(params["W1"], np.array([[0.855, -1.71]]), "W1 after two steps", "P <- P + V with the new V",
             rtol=1e-9, atol=1e-12)
    mine, rng = _optimizer_case(1)
    reference = {key: P.copy() for key, P in mine.items()}
    v_mine, v_ref = ({key: np.zeros_like(P) for key, P in mine.items()} for _ in range(2))
    for _ in range(5):
        g = {"dW1": rng.standard_normal((3, 2)), "db1": rng.standard_normal(2)}
        _quiet(fn, lambda: fn(mine, g, v_mine, 0.05, beta=0.8))
        npcore.momentum_update(reference, g, v_ref, 0.05, beta=0.8)
    for key in mine:
        _compare(mine[key], reference[key], f"{key} after five steps with beta = 0.8",
                 "use the beta you are given, for every key of params")
    _passed("momentum_update")


@_check
def check_ema_factor(fn):
    """fn(beta, t) -> c_t with M_t = c_t g for the running mean of a constant g from M_0 = 0."""
    for beta in (0.9, 0.999, 0.5):
        for t in (1, 2, 3, 10, 1000):
            M = 0.0
            for _ in range(t):
                M = beta * M + (1 - beta) * 1.0               # g = 1
            got = _array(_run(fn, beta, t), "ema_factor")
            if got.shape != ():
                _fail(f"ema_factor returned shape {got.shape}: one number, the factor c_t")
            if np.isclose(got, M, rtol=1e-9):
                continue
            where = f"for beta = {beta}, t = {t} ema_factor gives {_num(got)}, but M_t / g = {M:.6g}"
            if np.isclose(got, 1 / M, rtol=1e-9):
                _fail(f"{where}: that is 1 / c_t, the correction Adam multiplies M_t by; the factor "
                      f"asked for is c_t itself, how much too small M_t is: M_t = c_t g")
            if np.isclose(got, beta ** t, rtol=1e-9):
                _fail(f"{where}: beta**t is the weight the starting value M_0 = 0 still has after t "
                      f"steps; M_t is made of the other weights")
            _fail(f"{where} — unroll M_t = (1 - beta) (g + beta g + beta^2 g + ...) over t terms and sum "
                  f"the geometric series")
    _passed("ema_factor")


@_check
def check_adam_update(fn):
    """fn(params, grads, state, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8) -> params, in place."""
    mine, rng = _optimizer_case(0)
    reference = {key: P.copy() for key, P in mine.items()}
    W1 = mine["W1"]
    state, reference_state = npcore.init_optimizer_state(mine, "adam"), npcore.init_optimizer_state(reference, "adam")
    first = {"dW1": np.full((3, 2), 0.2), "db1": np.array([-4.0, 1e-3])}
    out = _quiet(fn, lambda: fn(mine, first, state, 0.01))
    if not isinstance(out, dict):
        _fail(f"adam_update returned a {type(out).__name__} — return params")
    if state["t"] != 1:
        _fail(f"state['t'] is {state['t']} after one step: add 1 to it on every call")
    if mine["W1"] is not W1 or np.array_equal(W1, reference["W1"]):
        _fail("update params in place (P -= ...): the training loop keeps the arrays it gave you")
    step = np.concatenate([(mine[k] - reference[k]).ravel() for k in mine])
    sign = -np.sign(np.concatenate([first[f"d{k}"].ravel() for k in mine]))
    for factor, hint in ((0.1 / np.sqrt(0.001), "the first step is 3.16 x lr: neither M nor S is bias-corrected; "
                                                "divide M by (1 - beta1**t) and S by (1 - beta2**t)"),
                         (1 / np.sqrt(0.001), "the first step is 31.6 x lr: M is bias-corrected but S is not; "
                                              "divide S by (1 - beta2**t) as well"),
                         (0.1, "the first step is 0.1 x lr: S is bias-corrected but M is not; divide M by "
                               "(1 - beta1**t) as well")):
        if np.allclose(step, 0.01 * factor * sign, rtol=1e-3):
            _fail(hint)
    if not np.allclose(step, 0.01 * sign, rtol=1e-5):
        _fail(f"the first steps are {', '.join(_num(s) for s in step[:3])}, ..., expected -lr * sign(dP) "
              f"= {', '.join(_num(s) for s in 0.01 * sign[:3])}, ...: with bias correction, M_hat = dP and "
              f"S_hat = dP**2 at t = 1, whatever the gradient's scale")
    npcore.adam_update(reference, first, reference_state, 0.01)
    for _ in range(4):                                        # four more steps with random gradients
        g = {"dW1": rng.standard_normal((3, 2)), "db1": rng.standard_normal(2)}
        _quiet(fn, lambda: fn(mine, g, state, 0.01))
        npcore.adam_update(reference, g, reference_state, 0.01)
    if state["t"] != 5:
        _fail(f"state['t'] is {state['t']} after five steps")
    for key in mine:
        _compare(np.asarray(state["m"][key]), reference_state["m"][key], f"state['m']['{key}'] after five steps",
                 "M <- beta1 M + (1 - beta1) dP, in place in state['m'][key]", rtol=1e-9, atol=1e-12)
        _compare(np.asarray(state["v"][key]), reference_state["v"][key], f"state['v']['{key}'] after five steps",
                 "S <- beta2 S + (1 - beta2) dP**2, in place in state['v'][key]", rtol=1e-9, atol=1e-12)
        _compare(mine[key], reference[key], f"{key} after five steps",
                 "P <- P - lr * M_hat / (sqrt(S_hat) + eps)", rtol=1e-7, atol=1e-12)
    _passed("adam_update")


# --------------------------------------------------------------------------- lesson 09 (exercises)
PASSED.update({
    "l2_penalty": "✔ l2_penalty: (lam/2) sum ||W||^2 over the weights only, extra gradient lam * W "
                  "for every weight matrix and 0 for every bias, for 2 and 3 layers",
    "dropout_forward": "✔ dropout_forward: a mask of 0 (with probability p) and 1/(1-p), the mean "
                       "of A kept, A's dtype, npcore's mask for the same generator",
    "dropout_backward": "✔ dropout_backward: dA_dropped * D, the same mask as the forward pass; "
                        "agrees with finite differences in every entry",
    "fade_augment": "✔ fade_augment: every image stays in its row (next to its label), about half "
                    "of them faded by factors in [0.6, 1], the batch left unchanged",
    "sample_log_uniform": "✔ sample_log_uniform: n samples in [low, high], about a quarter in "
                          "each decade of [1e-4, 1], one call of rng.uniform on the log10 scale",
})
NONFINITE_HINTS.update({
    "l2_penalty": "the weights are finite here: (lam / 2) * np.sum(W * W) and lam * W need no "
                  "division",
    "dropout_forward": "divide the kept units by 1 - p, which is 0.7 here, never by p or by U",
    "dropout_backward": "the mask D is finite: dA_dropped * D needs no division",
    "fade_augment": "multiplying images by factors in [0.6, 1] needs no division",
    "sample_log_uniform": "draw the exponent: 10 ** rng.uniform(np.log10(low), np.log10(high), "
                          "size=n)",
})
__all__ += ["check_l2_penalty", "check_dropout_forward", "check_dropout_backward",
            "check_fade_augment", "check_sample_log_uniform"]


def _l2_case(hidden, seed):
    """float64 params with non-zero biases (the penalty must leave them alone)."""
    rng = _rng(seed)
    p = npcore.init_params(6, hidden, 3, rng=rng, init="he", dtype=np.float64)
    return {key: P + 0.1 * rng.standard_normal(P.shape) for key, P in p.items()}


@_check
def check_l2_penalty(fn):
    """fn(params, lam) -> (penalty, {dW1, db1, ...}): (lam/2) sum ||W||^2 and its gradient."""
    for hidden, seed, lam in (((5, 4), 3, 0.07), (5, 4, 0.3)):
        p = _l2_case(hidden, seed)
        result = _run(fn, p, lam, names=("params",))
        if not (isinstance(result, tuple) and len(result) == 2):
            _fail(f"l2_penalty returned a {type(result).__name__} — return the pair "
                  f"(penalty, extra_grads)")
        weights = [key for key in p if key.startswith("W")]
        squares = sum(float(np.sum(p[key] ** 2)) for key in weights)
        with_biases = sum(float(np.sum(P ** 2)) for P in p.values())
        penalty = _array(result[0], "the penalty of l2_penalty")
        if penalty.shape != ():
            _fail(f"the penalty has shape {penalty.shape} — it is one number, the sum over "
                  f"every weight matrix of (lam / 2) * np.sum(W * W)")
        _compare(penalty, np.array(0.5 * lam * squares),
                 f"the penalty for {len(weights)} weight matrices and lam = {lam}",
                 "(lam / 2) times the sum of the squares of every entry of every weight matrix",
                 wrongs=[(lam * squares, f"the penalty is twice (lam / 2) sum ||W||^2 — "
                                         f"keep the half: (lam / 2) * np.sum(W * W)"),
                         (0.5 * lam * with_biases, "the penalty includes the biases — sum over "
                                                   "the weights W1, W2, ... only"),
                         (0.5 * squares, "the penalty ignores lam — (lam / 2) * np.sum(W * W)"),
                         (0.5 * lam * sum(np.sqrt(np.sum(p[k] ** 2)) for k in weights),
                          "the penalty uses ||W||, not its square — sum the squares of the "
                          "entries: np.sum(W * W)")],
                 rtol=1e-9, atol=1e-12)
        keys = [f"d{key}" for key in p]
        extra = _dict(result[1], "the extra gradients of l2_penalty", keys)
        for key, P in p.items():
            g = extra[f"d{key}"]
            _shape(g, P.shape, f"d{key}", "every extra gradient has its parameter's shape")
            if key.startswith("b"):
                _compare(g, np.zeros_like(P), f"d{key}",
                         "biases are not decayed: their extra gradient is 0",
                         wrongs=[(lam * P, f"d{key} is lam * {key} — biases are not in the "
                                           f"penalty, so their extra gradient is 0 "
                                           f"(np.zeros_like({key}))")], atol=1e-12)
                continue
            if np.allclose(g, lam * P, rtol=1e-9, atol=1e-12):
                continue
            q = {k: v.copy() for k, v in p.items()}                  # finite differences of
            numeric = npcore.numerical_gradient(                     # the learner's own penalty
                lambda: float(_run(fn, q, lam)[0]), q[key], eps=1e-5)
            i, j = np.unravel_index(np.argmax(np.abs(g - lam * P)), P.shape)
            _compare(g, lam * P, f"d{key}",
                     f"the derivative of (lam / 2) w^2 is lam * w: d{key} = lam * {key} "
                     f"(finite differences of your penalty give {_num(numeric[i, j])} at "
                     f"[{i}, {j}])",
                     wrongs=[(0.5 * lam * P, f"d{key} is (lam / 2) * {key}, half the gradient — "
                                             f"the 2 of the square cancels the half: "
                                             f"d/dw (lam / 2) w^2 = lam * w"),
                             (2 * lam * P, f"d{key} is 2 * lam * {key}, twice the gradient — "
                                           f"d/dw (lam / 2) w^2 = lam * w"),
                             (P, f"d{key} is {key} — multiply by lam: lam * {key}"),
                             (lam * np.ones_like(P), f"d{key} is lam everywhere — the "
                                                     f"derivative of (lam / 2) w^2 is lam * w, "
                                                     f"which grows with the weight")],
                     rtol=1e-9, atol=1e-12)
    _passed("l2_penalty")


def _dropout_case(dtype=np.float64, shape=(400, 300)):
    return (_rng(0).random(shape) + 0.5).astype(dtype)


@_check
def check_dropout_forward(fn):
    """fn(A, p, rng) -> (A * D, D) with D 0 (probability p) or 1/(1-p), drawn as npcore does."""
    p, keep = 0.3, 0.7
    for dtype in (np.float64, np.float32):
        A = _dropout_case(dtype)
        result = _run(fn, A, p, _rng(1), names=("A",))
        if not (isinstance(result, tuple) and len(result) == 2):
            _fail(f"dropout_forward returned a {type(result).__name__} — return the pair "
                  f"(A_dropped, D)")
        A_dropped = _array(result[0], "A_dropped of dropout_forward")
        D = _array(result[1], "the mask D of dropout_forward")
        _shape(A_dropped, A.shape, "A_dropped", "one entry per entry of A: A * D")
        _shape(D, A.shape, "D", "one mask entry per entry of A: draw rng.random(A.shape)")
        dropped = float(np.mean(D == 0))
        if abs(dropped - keep) < 0.02:
            _fail(f"{dropped:.3f} of the units are dropped for p = {p} — p is the probability "
                  f"to DROP a unit: keep it where U < 1 - p")
        if abs(dropped - p) >= 0.02:
            _fail(f"{dropped:.3f} of the units are dropped, expected about p = {p} — the mask "
                  f"is 0 where U >= 1 - p and non-zero elsewhere")
        kept = np.unique(D[D != 0])
        if kept.size and np.allclose(kept, 1.0):
            _fail(f"the kept units are 1, so the mean of A_dropped is {keep} times the mean of "
                  f"A — divide the kept units by 1 - p: then E[D] = (1 - p) / (1 - p) = 1")
        if kept.size and np.allclose(kept, 1 / p):
            _fail(f"the kept units are 1/p = {1 / p:.4g}, expected 1/(1 - p) = {1 / keep:.4g} "
                  f"— a unit is kept with probability 1 - p, so E[D] = (1 - p) * c = 1 needs "
                  f"c = 1/(1 - p)")
        if not (kept.size == 1 and np.isclose(kept[0], 1 / keep, rtol=1e-6)):
            _fail(f"the kept units of D are {', '.join(_num(v) for v in kept[:3])}"
                  f"{', ...' if kept.size > 3 else ''} — every kept unit is 1/(1 - p) = "
                  f"{1 / keep:.4g}, every dropped one 0")
        if D.dtype != A.dtype:
            _fail(f"D is {D.dtype} for A in {A.dtype} — make the mask in A's dtype: "
                  f"(U < 1 - p).astype(A.dtype) / A.dtype.type(1 - p)")
        _compare(A_dropped, A * D, "A_dropped", "return A * D, the activations times the mask")
        ratio = float(A_dropped.mean() / A.mean())
        if abs(ratio - 1) >= 0.01:
            _fail(f"mean of A_dropped / mean of A = {ratio:.3f}, expected 1 — divide the kept "
                  f"units by 1 - p")
        U = _rng(1).random(A.shape)
        want = ((U < keep).astype(dtype) / dtype(keep))
        if not np.array_equal(D, want):
            _fail("your mask has the right statistics but is not npcore's for the same "
                  "generator — draw U = rng.random(A.shape) once, then keep the units where "
                  "U < 1 - p")
    A_dropped, D = _run(fn, _dropout_case(), 0.0, _rng(1), names=("A",))
    if not np.array_equal(np.asarray(D), np.ones((400, 300))):
        _fail("for p = 0 the mask should be all ones: nothing dropped, 1/(1 - 0) = 1")
    _passed("dropout_forward")


@_check
def check_dropout_backward(fn):
    """fn(dA_dropped, D) -> dL/dA = dA_dropped * D, gradient-checked with the mask held fixed."""
    A = _dropout_case()
    keep = 0.7
    D = (_rng(1).random(A.shape) < keep) / keep                      # (400, 300) 0 or 1/keep
    W = _rng(2).standard_normal((300, 4))                            # a next layer
    loss = lambda: float(np.sum(np.sin((A * D) @ W)))                # noqa: E731, D held fixed
    dA_dropped = np.cos((A * D) @ W) @ W.T                           # (400, 300) dL/dA_dropped
    got = _array(_run(fn, dA_dropped, D, names=("dA_dropped", "D")), "dropout_backward")
    _shape(got, A.shape, "dropout_backward's gradient", "dL/dA has A's shape, (m, n)")
    numeric = npcore.numerical_gradient(loss, A[:3], eps=1e-5)       # a view: rows 0-2 of A
    absolute = np.abs(got[:3] - numeric)
    relative = absolute / np.maximum(np.abs(got[:3]) + np.abs(numeric), 1e-12)
    if np.all((relative < 1e-7) | (absolute < 1e-10)):
        _passed("dropout_backward")
        return
    for wrong, hint in ((dA_dropped, "the gradient ignores the mask — A_dropped = A * D, so "
                                     "dL/dA = dA_dropped * D: dropped units get 0"),
                        (dA_dropped * (D > 0), "the gradient uses a mask of 0 and 1 — the "
                                               "kept units were scaled by 1/(1 - p) on the way "
                                               "forward, so multiply by D itself"),
                        (dA_dropped / np.where(D == 0, np.inf, D),
                         "the gradient divides by the mask — A_dropped = A * D, so its "
                         "derivative multiplies: dA_dropped * D")):
        if np.allclose(got, wrong, rtol=1e-9, atol=1e-12):
            _fail(hint)
    i, j = np.unravel_index(np.argmax(relative), relative.shape)
    _fail(f"gradient check failed: dL/dA[{i}, {j}] is {_num(got[i, j])}, finite differences "
          f"give {_num(numeric[i, j])} — dL/dA = dA_dropped * D")


@_check
def check_fade_augment(fn):
    """fn(X, rng) -> X' (b, d): about half the rows faded by factors in [0.6, 1], all in place."""
    X = _rng(4).random((400, 784)).astype(np.float32)              # (400, 784) distinct rows
    out = _array(_run(fn, X, _rng(0), names=("X",)), "your augmentation")
    _shape(out, X.shape, "the augmented batch", "one image per row, as many as came in")
    norms = np.sum(X.astype(np.float64) ** 2, axis=1)                 # (400,)
    c = (out.astype(np.float64) @ X.astype(np.float64).T) / norms    # (400, 400) c[i, j]: row i ~ c X[j]
    own = np.diag(c)                                                 # (400,) factor of row i on image i
    fits_own = np.array([np.allclose(out[i], own[i] * X[i], rtol=1e-4, atol=1e-5)
                         for i in range(len(X))])
    if not fits_own.all():
        i = int(np.argmax(~fits_own))
        err = np.abs(out[i][None, :] - c[i][:, None] * X).max(axis=1)   # (400,) row i vs each image
        j = int(np.argmin(err))
        if err[j] < 1e-4 and j != i:
            moved = int(np.sum(~fits_own))
            _fail(f"row {i} of your batch is image {j} (times {c[i, j]:.2f}), not image {i}: "
                  f"{moved} of {len(X)} images left their rows — npcore.train pairs row i with "
                  f"label y[i], so an image that moves gets another image's label. Change the "
                  f"faded images where they are, in a copy (X_new[faded] = ...), instead of "
                  f"putting them first")
        _fail(f"row {i} of your batch is not image {i} times a factor — fade each image by "
              f"multiplying it by one number, and keep every image in its row")
    faded = ~np.isclose(own, 1.0, rtol=0, atol=1e-6)
    share = float(np.mean(faded))
    if share == 0:
        _fail("no image was faded — multiply about half of them by factors in [0.6, 1]")
    if not 0.4 <= share <= 0.6:
        _fail(f"{share:.2f} of the images were faded, expected about half: "
              f"faded = rng.random(len(X)) < 0.5")
    if own.min() < 0.6 - 1e-6 or own.max() > 1 + 1e-6:
        _fail(f"fading factors from {own.min():.3f} to {own.max():.3f}, expected within "
              f"[0.6, 1]: rng.uniform(0.6, 1.0, ...)")
    if np.ptp(own[faded]) < 1e-6:
        _fail("every faded image got the same factor — draw one factor per faded image")
    again = np.asarray(_run(fn, X, _rng(1), names=("X",)))
    if np.array_equal(again, out):
        _fail("another generator faded the same images by the same factors — draw from rng")
    _passed("fade_augment")


@_check
def check_sample_log_uniform(fn):
    """fn(rng, low, high, n) -> (n,) floats whose log10 is uniform on [log10 low, log10 high]."""
    s = _array(_run(fn, _rng(0), 1e-4, 1.0, 20000), "sample_log_uniform").astype(np.float64)
    _shape(s, (20000,), "sample_log_uniform(rng, 1e-4, 1.0, 20000)", "n numbers, size=n")
    if s.min() < 1e-4 * (1 - 1e-9) or s.max() > 1.0 * (1 + 1e-9):
        hint = ("these look like the exponents themselves — return 10 ** exponent"
                if s.min() < 0 else "draw the exponent between log10(low) and log10(high), "
                                    "then 10 ** exponent")
        _fail(f"values from {s.min():.3g} to {s.max():.3g}, expected within [1e-4, 1] — {hint}")
    decades = np.histogram(np.log10(s), bins=4, range=(-4, 0))[0] / len(s)
    if np.any(np.abs(decades - 0.25) >= 0.02):
        top = (" — uniform in the value itself puts 90% in the top decade: draw the exponent "
               "uniformly, 10 ** rng.uniform(np.log10(low), np.log10(high), size=n)"
               if decades[-1] > 0.5 else "")
        _fail(f"fractions of the samples per decade [1e-4, 1e-3), ..., [0.1, 1]: "
              f"{', '.join(f'{d:.3f}' for d in decades)}, expected about 0.25 each (uniform in "
              f"log10){top}")
    mine = _array(_run(fn, _rng(5), 1e-3, 1e-1, 3), "sample_log_uniform").astype(np.float64)
    want = 10.0 ** _rng(5).uniform(-3, -1, size=3)
    _shape(mine, (3,), "sample_log_uniform(rng, 1e-3, 1e-1, 3)", "n numbers, size=n")
    if not np.allclose(mine, want, rtol=1e-9):
        _fail(f"sample_log_uniform(default_rng(5), 1e-3, 1e-1, 3) gave "
              f"{', '.join(f'{v:.6g}' for v in mine)}, expected {', '.join(f'{v:.6g}' for v in want)}"
              f" — right distribution, other draws: call rng.uniform(np.log10(low), "
              f"np.log10(high), size=n) once")
    _passed("sample_log_uniform")


# --------------------------------------------------------------------------- lesson 10 (exercises)
PASSED.update({
    "keras_l2": "✔ keras_l2: L2(keras_l2(lambda)) adds lambda / 2 * sum(W**2) to the loss, as npcore's "
                "weight decay does, so its gradient is the same lambda * W",
    "count_parameters": "✔ count_parameters: n_(l-1) * n_l weights and n_l biases per layer, right for "
                        "5 networks from 784 -> 10 to 784 -> 512 -> 256 -> 10",
    "fixed_keras_loss": "✔ fixed_keras_loss: a linear last layer and from_logits=True give npcore's "
                        "unclipped cross-entropy, also where a probability is below 1e-7",
})
NONFINITE_HINTS.update({
    "keras_l2": "the factor is a plain multiple of lambda: no division by lambda (it can be 0)",
    "count_parameters": "it counts: products and sums of the layer sizes, no division",
    "fixed_keras_loss": "a log of a negative number or of 0 gives NaN or -inf: logits are not "
                        "probabilities, so a linear last layer needs from_logits=True",
})
__all__ += ["check_keras_l2", "check_count_parameters", "check_fixed_keras_loss"]


def _import_keras():
    """Keras, imported on first use (with the JAX backend unless one is set): lesson 10 only."""
    import os
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import keras
    return keras


def _scalar_result(value, what):
    """A learner's scalar result as a float, or a hint why it is not one."""
    try:
        x = float(np.asarray(value).reshape(()))
    except (TypeError, ValueError):
        _fail(f"{what} returned {type(value).__name__} {value!r}, not a number")
    _refuse_nonfinite(np.asarray(x), what)
    return x


@_check
def check_keras_l2(fn):
    """fn(weight_decay) -> l2 such that Keras's L2(l2) penalty is npcore's lambda / 2 * sum W**2."""
    keras = _import_keras()
    W = _rng(3).standard_normal((4, 3)).astype(np.float32)             # (4, 3) a kernel
    squares = float(np.sum(W.astype(np.float64) ** 2))
    for lam in (0.0, 0.1, 5e-4):
        l2 = _scalar_result(_run(fn, lam), f"keras_l2({lam})")
        if lam == 0:
            if l2 != 0:
                _fail(f"keras_l2(0.0) is {l2:.3g}: no weight decay must give no penalty, l2 = 0")
            continue
        if l2 < 0:
            _fail(f"keras_l2({lam}) is {l2:.3g}: a penalty on large weights needs l2 >= 0")
        added = float(keras.regularizers.L2(l2)(W))                      # l2 * sum(W**2)
        want = lam / 2 * squares
        if abs(added / want - 1) < 1e-4:
            continue
        ratio = added / want
        why = {2: "twice npcore's: Keras puts no 1/2 in front of l2 * sum(w**2), so its gradient is "
                  "2 * l2 * w, and npcore's lambda / 2 * sum(w**2) has gradient lambda * w",
               4: "four times npcore's: you doubled lambda where it needs halving (the gradient of "
                  "l2 * sum(w**2) is 2 * l2 * w)",
               0.5: "half npcore's: the 1/2 is in front of npcore's sum, Keras's l2 multiplies the "
                    "sum alone"}.get(round(ratio, 6), "the gradients match when 2 * l2 = lambda "
                                                     "(the gradient of l2 * sum(w**2) is 2 * l2 * w)")
        _fail(f"with keras_l2({lam}) = {l2:.4g}, Keras's L2 adds {added:.4g} to the loss of a kernel "
              f"whose squares sum to {squares:.4g}, npcore's weight decay adds lambda / 2 * sum = "
              f"{want:.4g} — {why}")
    _passed("keras_l2")


@_check
def check_count_parameters(fn):
    """fn(sizes) -> the number of weights and biases of an MLP with those layer sizes."""
    for sizes in ([784, 10], [784, 10, 10], [784, 128, 10], [784, 512, 256, 10], [5, 4, 3, 2, 1]):
        got = _scalar_result(_run(fn, list(sizes), names=("sizes",)), f"count_parameters({sizes})")
        pairs = list(zip(sizes[:-1], sizes[1:]))
        weights = sum(a * b for a, b in pairs)
        want = weights + sum(sizes[1:])
        if got == want:
            continue
        hint = {weights: "that counts only the weights: each layer l also has n_l biases, one per unit",
                weights + sum(sizes): "the input layer has no biases: only the n_1 + ... + n_L units "
                                      "that compute something have one",
                weights + sum(sizes[:-1]): "a bias belongs to the unit it feeds: layer l has n_l "
                                           "biases, not n_(l-1)",
                }.get(got, "each layer l has an (n_(l-1), n_l) weight matrix and n_l biases")
        _fail(f"count_parameters({sizes}) is {got:,.0f}, expected {want:,} — {hint}")
    _passed("count_parameters")


def _keras_case(sizes, seed, scale):
    """A small MLP with large weights, data and one-hot labels: some true-class probability < 1e-7."""
    rng = _rng(seed)
    params = npcore.init_params(sizes[0], sizes[1:-1], sizes[-1], rng=rng)
    for key in params:
        params[key] = params[key] * scale + (0.1 * rng.standard_normal(params[key].shape)).astype(np.float32)
    X = rng.random((24, sizes[0]), dtype=np.float32)                     # (24, d)
    Z = npcore.forward_propagation(X, params)[f"Z{len(sizes) - 1}"]     # (24, k)
    y = np.argmax(Z, axis=1)
    y[:8] = np.argmin(Z[:8], axis=1)                                     # 8 confidently wrong answers
    return params, X, npcore.one_hot(y, sizes[-1])


@_check
def check_fixed_keras_loss(fn):
    """fn(params, X, Y) -> Keras's unclipped mean cross-entropy of the MLP params on X, Y."""
    _import_keras()
    for sizes, seed, scale in (([6, 5, 4], 10, 6.0), ([7, 6, 5, 3], 11, 4.0)):
        params, X, Y = _keras_case(sizes, seed, scale)
        A = npcore.predict_proba(X, params).astype(np.float64)           # (24, k)
        want = npcore.cross_entropy(A, Y)
        got = _scalar_result(_run(fn, params, X, Y, names=("params", "X", "Y")),
                      f"fixed_keras_loss for a {' -> '.join(map(str, sizes))} network")
        if abs(got / want - 1) < 1e-3:
            continue
        E = np.exp(A - A.max(axis=1, keepdims=True))
        twice = float(-np.mean(np.sum(Y * np.log(E / E.sum(axis=1, keepdims=True)), axis=1)))
        clipped = float(-np.mean(np.log(np.clip(np.sum(A * Y, axis=1), 1e-7, 1 - 1e-7))))
        lowest = float(np.min(np.sum(A * Y, axis=1)))
        if abs(got / twice - 1) < 1e-3:
            _fail(f"fixed_keras_loss gives {got:.4f}, npcore.cross_entropy {want:.4f}: still softmax "
                  f"applied twice — the model ends in a softmax and the loss, told from_logits=True, "
                  f"applies another; give the last Dense layer no activation, so that it outputs Z_L")
        if abs(got / clipped - 1) < 1e-3:
            _fail(f"fixed_keras_loss gives {got:.4f}, npcore.cross_entropy {want:.4f}: that is the loss "
                  f"of probabilities clipped to [1e-7, 1 - 1e-7] (here a true class gets {lowest:.1e}), "
                  f"what from_logits=False does — keep from_logits=True and hand it logits: a last "
                  f"Dense layer with no activation")
        _fail(f"fixed_keras_loss gives {got:.4f} for a {' -> '.join(map(str, sizes))} network, "
              f"npcore.cross_entropy {want:.4f} — load W1, b1, ... in order into Dense layers with "
              f"ReLU, a last layer with no activation, and "
              f"keras.losses.CategoricalCrossentropy(from_logits=True)(Y, Z)")
    _passed("fixed_keras_loss")


# --------------------------------------------------------------------------- lesson 11 (exercises)
PASSED.update({
    "conv_naive": "✔ conv_naive: the definition, one output number at a time; the hand-worked 4x4 case "
                  "and non-square kernels over 2 and 3 channels match npconv.conv_forward",
    "conv_backward_naive": "✔ conv_backward_naive: dX, dK, db have the shapes of X, K, b, match finite "
                           "differences and npconv.conv_backward",
    "maxpool_forward": "✔ maxpool_forward: the maximum of each 2x2 block, (m, H/2, W/2, C), "
                       "matches npconv.maxpool_forward",
    "maxpool_backward": "✔ maxpool_backward: each block's dP to its winner, ties to the first in "
                        "reading order; matches finite differences and npconv.maxpool_backward",
    "maxpool_backward_argmax": "✔ maxpool_backward_argmax: each block's gradient at its winner, ties "
                               "to the first, as maxpool_backward",
})
NONFINITE_HINTS.update({
    "conv_naive": "X, K and b are finite here: a convolution only multiplies and adds",
    "conv_backward_naive": "dZ, X and K are finite here: each gradient only multiplies and adds",
    "maxpool_forward": "A is finite here: the maximum of four finite numbers is finite",
    "maxpool_backward": "dP and A are finite here: the gradient is dP copied to one entry per block",
    "maxpool_backward_argmax": "dP and A are finite here: the gradient is dP copied to one entry "
                               "per block",
})
__all__ += ["check_conv_naive", "check_conv_backward_naive", "check_maxpool_forward",
            "check_maxpool_backward", "check_maxpool_backward_argmax"]


def _conv_cases():
    """(X, K, b) cases: the 4x4 image 0..15 with two 2x2 filters, and random non-square ones."""
    X4 = np.arange(16.0).reshape(1, 4, 4, 1)
    K2 = np.zeros((2, 2, 1, 2))
    K2[:, :, 0, 0] = [[1, 1], [1, 1]]
    K2[:, :, 0, 1] = [[1, 0], [0, -1]]
    rng = _rng(11)
    return [(X4, K2, np.zeros(2)),
            (rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 2, 3, 4)), rng.standard_normal(4)),
            (rng.standard_normal((3, 5, 8, 2)), rng.standard_normal((2, 4, 2, 3)), rng.standard_normal(3))]


@_check
def check_conv_naive(fn):
    """fn(X, K, b) -> Z (m, H-kh+1, W-kw+1, F), the valid convolution (cross-correlation)."""
    import npconv
    for X, K, b in _conv_cases():
        kh, kw, C, F = K.shape
        Z = _array(_run(fn, X, K, b, names=("X", "K", "b")), "conv_naive")
        want = npconv.conv_forward(X, K, b)[0]
        if Z.shape != want.shape:
            m, H, W, _ = X.shape
            off = (" — a window must fit inside the image: r runs over H - kh + 1 positions "
                   "(range(H - kh + 1)), not H - kh" if Z.shape[1:3] == (H - kh, W - kw) else
                   " — Z is (m, H - kh + 1, W - kw + 1, F)")
            _fail(f"conv_naive returned shape {Z.shape} for X {X.shape} and K {K.shape}, "
                  f"expected {want.shape}{off}")
        flipped = npconv.conv_forward(X, np.ascontiguousarray(K[::-1, ::-1]), b)[0]
        first_channel = npconv.conv_forward(X[..., :1], np.ascontiguousarray(K[:, :, :1]), b)[0]
        _compare(Z, want, f"conv_naive for X {X.shape}, K {K.shape}",
                 "Z[i, r, s, f] = b[f] + sum over u, v, c of X[i, r+u, s+v, c] * K[u, v, c, f]",
                 wrongs=[(want - b, "conv_naive leaves out the bias: add b[f] to every output of filter f"),
                         (flipped, "conv_naive flips the kernel (a mathematician's convolution): the "
                                   "course, like every deep-learning library, multiplies X[i, r+u, s+v, c] "
                                   "by K[u, v, c, f] unflipped"),
                         (first_channel, "conv_naive uses only channel 0: the window spans all C "
                                         "channels, X[i, r:r+kh, s:s+kw, :] * K[:, :, :, f]")],
                 rtol=1e-9, atol=1e-9)
    _passed("conv_naive")


@_check
def check_conv_backward_naive(fn):
    """fn(dZ, X, K) -> (dX, dK, db): gradients of L = sum(dZ * conv(X, K, b))."""
    import npconv
    for X, K, b in _conv_cases()[1:]:
        Z, cache = npconv.conv_forward(X, K, b)
        G = _rng(X.size).standard_normal(Z.shape)
        result = _run(fn, G, X, K, names=("dZ", "X", "K"))
        if not (isinstance(result, tuple) and len(result) == 3):
            _fail(f"conv_backward_naive returned a {type(result).__name__} — return the three "
                  f"gradients (dX, dK, db)")
        names = ("dX", "dK", "db")
        got = [_array(g, f"{name} of conv_backward_naive", returned=False)
               for g, name in zip(result, names)]
        loss = lambda: np.sum(G * npconv.conv_forward(Xp, Kp, bp)[0])       # noqa: E731
        Xp, Kp, bp = X.copy(), K.copy(), b.copy()
        numeric = [npcore.numerical_gradient(loss, P, 1e-4) for P in (Xp, Kp, bp)]
        formulas = {"dX": "dX[i, r:r+kh, s:s+kw, :] += dZ[i, r, s, f] * K[:, :, :, f] for every output "
                          "number: a pixel in several windows adds up their gradients",
                    "dK": "dK[:, :, :, f] += dZ[i, r, s, f] * X[i, r:r+kh, s:s+kw, :]: the filter is "
                          "used at every position of every sample, so its gradient sums over all of them",
                    "db": "db[f] is dZ[..., f] summed over samples and positions"}
        for g, n, name, P in zip(got, numeric, names, (X, K, b)):
            if g.shape != P.shape:
                _fail(f"{name} has shape {g.shape}, expected {P.shape} (the shape of "
                      f"{name[1:]}) — {formulas[name]}")
            if name == "dK":
                last = npconv.conv_backward(G[-1:], npconv.conv_forward(X[-1:], K, b)[1])[1]
                if np.allclose(g, last, rtol=1e-6, atol=1e-9):
                    _fail("dK holds only the last sample's contribution: add (+=) over all samples")
            if name == "dX" and not _agrees(g, n):
                ones = _run(fn, np.ones((1, 3, 3, 1)), np.zeros((1, 4, 4, 1)), np.ones((2, 2, 1, 1)),
                            names=("dZ", "X", "K"))
                probe = np.asarray(ones[0], dtype=float) if isinstance(ones, tuple) else None
                if probe is not None and probe.shape == (1, 4, 4, 1) and np.allclose(probe, 1):
                    _fail("dX is 1 everywhere for a 2x2 kernel of ones and dZ of ones on a 4x4 image, "
                          "but the inner pixels lie in 2 or 4 windows: add the gradients of all the "
                          "windows a pixel lies in (+=), do not overwrite (=)")
            if not _agrees(g, n):
                _fail(f"gradient check failed for {name} (X {X.shape}, K {K.shape}): relative error "
                      f"{npcore.relative_error(g, n):.1e} against finite differences — {formulas[name]}")
        want = npconv.conv_backward(G, cache)
        for g, w, name in zip(got, want, names):
            _compare(g, w, f"{name} against npconv.conv_backward", formulas[name], rtol=1e-9, atol=1e-9)
    _passed("conv_backward_naive")


_A_TIE = np.array([[5.0, 5.0, 1.0, 2.0], [5.0, 5.0, 2.0, 2.0]]).reshape(1, 2, 4, 1)


def _pool_cases():
    rng = _rng(12)
    distinct = rng.permutation(2 * 6 * 4 * 3).reshape(2, 6, 4, 3) * 0.01 - 1.0   # no ties
    return distinct, rng.standard_normal((2, 3, 2, 3))


@_check
def check_maxpool_forward(fn):
    """fn(A) (m, H, W, C) -> P (m, H/2, W/2, C), the maximum of each 2x2 block."""
    import npconv
    A, _ = _pool_cases()
    for A in (A, _rng(13).standard_normal((3, 8, 6, 2))):
        P = _array(_run(fn, A, names=("A",)), "maxpool_forward")
        want = npconv.maxpool_forward(A)[0]
        m, H, W, C = A.shape
        _shape(P, want.shape, f"maxpool_forward of A {A.shape}",
               "2x2 blocks halve height and width: A.reshape(m, H // 2, 2, W // 2, 2, C), then the "
               "maximum over axes 2 and 4")
        _compare(P, want, f"maxpool_forward of A {A.shape}",
                 "P[i, r, s, c] is the maximum of A[i, 2r:2r+2, 2s:2s+2, c]",
                 wrongs=[(A.reshape(m, H // 2, 2, W // 2, 2, C).mean(axis=(2, 4)),
                          "maxpool_forward takes the mean of each block: that is average pooling; "
                          "take the maximum"),
                         (A.reshape(m, 2, H // 2, 2, W // 2, C).max(axis=(1, 3)),
                          "the blocks are not 2x2 neighbours: reshape to (m, H // 2, 2, W // 2, 2, C) "
                          "(the 2 after each halved axis) and take the max over axes 2 and 4")],
                 rtol=0, atol=0)
    _passed("maxpool_forward")


def _maxpool_backward_checks(fn, name):
    import npconv
    A, G = _pool_cases()
    dA = _array(_run(fn, G, A, names=("dP", "A")), name)
    _shape(dA, A.shape, f"{name}'s dA", "dA has the shape of A: each block's dP goes back to "
                                         "one of its four entries")
    Ap = A.copy()
    numeric = npcore.numerical_gradient(lambda: np.sum(G * npconv.maxpool_forward(Ap)[0]), Ap, 1e-4)
    m, H, W, C = A.shape
    spread = np.repeat(np.repeat(G, 2, axis=1), 2, axis=2)
    if np.allclose(dA, spread / 4):
        _fail(f"{name} gives every entry a quarter of dP: that is average pooling's gradient; "
              f"max-pooling routes all of dP to the block's winner")
    if np.allclose(dA, spread):
        _fail(f"{name} gives dP to all four entries of a block: only the winner (the maximum) "
              f"gets it, the other three get 0")
    if not _agrees(dA, numeric):
        _fail(f"gradient check failed for {name} (no ties): relative error "
              f"{npcore.relative_error(dA, numeric):.1e} — dA is dP at the entry of each block that "
              f"holds the maximum, 0 at the other three")
    dP = np.array([3.0, 7.0]).reshape(1, 1, 2, 1)
    got = _array(_run(fn, dP, _A_TIE, names=("dP", "A")), name)
    want = npconv.maxpool_backward(dP, npconv.maxpool_forward(_A_TIE)[1])
    _shape(got, want.shape, f"{name}'s dA on tied blocks", "dA has the shape of A")
    if got.sum() > 10.5:
        _fail(f"on the blocks [[5, 5], [5, 5]] and [[1, 2], [2, 2]] with dP = (3, 7), {name} hands "
              f"out {_num(got.sum())} in total instead of 10: every tied maximum got dP; give it "
              f"only to the first in reading order (top-left, top-right, bottom-left, bottom-right)")
    _compare(got, want, f"{name}'s dA on the tied blocks [[5, 5], [5, 5]] and [[1, 2], [2, 2]], dP = (3, 7)",
             "when several entries tie for the maximum, all of dP goes to the first of them in "
             "reading order (top-left, top-right, bottom-left, bottom-right)", rtol=0, atol=0)


@_check
def check_maxpool_backward(fn):
    """fn(dP, A) -> dA (m, H, W, C): each block's dP to its first maximum."""
    _maxpool_backward_checks(fn, "maxpool_backward")
    _passed("maxpool_backward")


@_check
def check_maxpool_backward_argmax(fn):
    """The debug exercise: fn(dP, A) -> dA, the argmax route, as maxpool_backward."""
    for row, col in ((0, 0), (0, 1), (1, 0), (1, 1)):
        A_one = np.zeros((1, 2, 2, 1))                       # one block ...
        A_one[0, row, col, 0] = 1.0                          # ... whose maximum is at (row, col)
        dA = _array(_run(fn, np.ones((1, 1, 1, 1)), A_one, names=("dP", "A")), "maxpool_backward_argmax")
        _shape(dA, A_one.shape, "dA", "dA has the shape of A")
        at = [tuple(int(i) for i in ix) for ix in zip(*np.nonzero(dA[0, :, :, 0]))]
        if at != [(row, col)] or dA.sum() != 1:
            _fail(f"with the maximum of a single 2x2 block at (row {row}, column {col}) and dP = 1, "
                  f"the 1 should land there, but dA is nonzero at {at}: which (row, column) does "
                  f"argmax's index 0..3 stand for after the reshape to 4?")
    _maxpool_backward_checks(fn, "maxpool_backward_argmax")
    _passed("maxpool_backward_argmax")


# --------------------------------------------------------------------------- lesson 12 (exercises)
PASSED.update({
    "cnn_param_counts": "✔ cnn_param_counts: right for 4 versions of the network (channels, kernel, "
                        "n_hidden, image_size); W3 holds the most",
    "fixed_cnn_backward": "✔ fixed_cnn_backward: all 8 gradients agree with finite differences on a tiny "
                    "CNN (relative error < 1e-7), also for a batch of another size",
    "smoothing_floor": "✔ smoothing_floor: the entropy of a smoothed target row, right for 4 pairs "
                       "(eps, k)",
    "small_cnn": "✔ small_cnn: at most 20,000 parameters, runs on 28 x 28 images, at least 96 % "
                 "validation accuracy after one epoch",
})
NONFINITE_HINTS.update({
    "cnn_param_counts": "it counts: products of the sizes, and the side of the maps halves by "
                        "integer division (//)",
    "fixed_cnn_backward": "the tiny network and its inputs are finite: only products, sums, masks and "
                    "reshapes, no division but by m",
    "smoothing_floor": "both entries of the row are positive for 0 < eps < 1, so their logs are finite",
    "small_cnn": "npconv.train_cnn keeps a CNN finite at rate 0.002: start again from "
                 "npconv.init_cnn_params(rng=0, channels=..., n_hidden=...)",
})
__all__ += ["check_cnn_param_counts", "check_fixed_cnn_backward", "check_smoothing_floor", "check_small_cnn"]

_CNN_KEYS = ("K1", "b1", "K2", "b2", "W3", "b3", "W4", "b4")


@_check
def check_cnn_param_counts(fn):
    """fn(channels, kernel, n_hidden, image_size, k) -> {key: number of entries} of npconv's CNN."""
    import npconv
    configs = ({}, {"channels": (2, 3), "kernel": 3, "n_hidden": 5, "image_size": 14},
               {"channels": (8, 12), "n_hidden": 32}, {"channels": (4, 8), "n_hidden": 20, "image_size": 20})
    for config in configs:
        want = {key: P.size for key, P in npconv.init_cnn_params(rng=0, **config).items()}
        got = _dict(_run(fn, **config), "cnn_param_counts", _CNN_KEYS)
        F1, F2 = config.get("channels", (16, 32))
        kernel, side = config.get("kernel", 5), int(np.sqrt(want["W3"] // want["b3"] // F2))
        hints = {"K1": f"a first-layer kernel is kernel x kernel x 1 channel, one per filter: "
                       f"{kernel} * {kernel} * 1 * F1",
                 "K2": f"a second-layer kernel reads all F1 = {F1} channels of A1: kernel * kernel * F1 * F2",
                 "W3": f"W3 has one row per entry of A2 flattened, side * side * F2 with side = "
                       f"((image_size - kernel + 1) // 2 - kernel + 1) // 2 = {side} here, and "
                       f"n_hidden columns",
                 "W4": "W4 is (n_hidden, k)"}
        for key in _CNN_KEYS:
            if got[key] != want[key]:
                _fail(f"with {config or 'the defaults'}: {key} should hold {want[key]:,} numbers, "
                      f"got {float(got[key]):,.0f} — {hints.get(key, 'one bias per filter or unit')}")
    _passed("cnn_param_counts")


def _tiny_cnn(m, seed=3):
    """The lesson's tiny float64 CNN (14 x 14 images, 3 x 3 kernels, 2 and 3 filters, 5 hidden
    units, non-zero biases), m images and one-hot labels."""
    import npconv
    rng = _rng(seed)
    params = npconv.init_cnn_params(rng, channels=(2, 3), kernel=3, n_hidden=5, image_size=14,
                                    dtype=np.float64)
    for key in params:
        params[key] += 0.1 * rng.standard_normal(params[key].shape)
    X, y = rng.random((m, 14, 14, 1)), rng.integers(0, 10, m)
    return params, X, npcore.one_hot(y, 10, np.float64)


# Where to look when the first gradient in backward order that disagrees is this one.
_CNN_STEPS = {
    "dW4": "at the top: dZ4 = (A4 - Y) / m, dW4 = A3.T @ dZ4, db4 = dZ4 summed over the batch",
    "dW3": "between dZ4 and dZ3: dZ4 @ W4.T, then ReLU's mask Z3 > 0",
    "dK2": "between dZ3 and dZ2: dA2 = dZ3 @ W3.T unflattened in the order cnn_forward flattened "
           "A2 (row, column, channel: .reshape(cache['A2'].shape)), ReLU's mask A2 > 0, then "
           "pooling's routing of dP2 to the winners",
    "dK1": "between dZ2 and dZ1: conv_backward's dA1, ReLU's mask A1 > 0, then pooling's routing "
           "of dP1 to the winners",
}


@_check
def check_fixed_cnn_backward(fn):
    """fn(X, Y, params, cache) -> grads dK1, ..., db4 of the mean cross-entropy, like npconv.cnn_backward."""
    import npconv
    for m in (3, 4):
        params, X, Y = _tiny_cnn(m, seed=3 + m)
        cache = npconv.cnn_forward(X, params)
        grads = _dict(_run(fn, X, Y, params, cache, names=("X", "Y", "params", "cache")),
                      "fixed_cnn_backward", ["d" + key for key in _CNN_KEYS])
        loss = lambda: npcore.cross_entropy(npconv.cnn_forward(X, params)["A4"], Y)
        wrong = []
        for key in ("W4", "b4", "W3", "b3", "K2", "b2", "K1", "b1"):     # backward order
            numeric = npcore.numerical_gradient(loss, params[key], 1e-4)
            _shape(grads["d" + key], numeric.shape, f"d{key}", "each gradient has its parameter's shape")
            if npcore.relative_error(grads["d" + key], numeric) > 1e-7:
                wrong.append("d" + key)
        if not wrong:
            continue
        first = {"db4": "dW4", "db3": "dW3", "db2": "dK2", "db1": "dK1"}.get(wrong[0], wrong[0])
        right = [g for g in ("dW4", "db4", "dW3", "db3", "dK2", "db2", "dK1", "db1") if g not in wrong]
        _fail(f"for a batch of {m} tiny images {', '.join(wrong)} disagree with finite differences"
              + (f" while {', '.join(right)} agree" if right else "")
              + f" — the first step backward that goes wrong is {_CNN_STEPS[first]}")
    _passed("fixed_cnn_backward")


@_check
def check_smoothing_floor(fn):
    """fn(eps, k) -> the entropy of the smoothed target row (1 - eps) one_hot + eps / k."""
    for eps, k in ((0.1, 10), (0.2, 10), (0.05, 3), (0.3, 100)):
        got = _scalar_result(_run(fn, eps, k), f"smoothing_floor({eps}, {k})")
        p, q = 1 - eps + eps / k, eps / k                                # once, and k - 1 times
        want = -(p * np.log(p) + (k - 1) * q * np.log(q))
        if abs(got - want) <= 1e-9 * want:
            continue
        wrongs = ((-((1 - eps) * np.log(1 - eps) + (k - 1) * q * np.log(q)),
                   f"the true class holds 1 - eps + eps / k = {p:.4f}, not 1 - eps: the eps / k goes "
                   f"to every class, the true one too"),
                  (-(p * np.log(p) + q * np.log(q)),
                   f"the other entry, eps / k = {q:.4f}, appears k - 1 = {k - 1} times in the row"),
                  (-(p * np.log(p) + k * q * np.log(q)),
                   f"eps / k appears k - 1 = {k - 1} times, not k: the true class holds the other entry"),
                  (-want, "the entropy -sum p log p is positive: mind the minus sign"),
                  (want / np.log(2), "use the natural log (np.log), as the cross-entropy does, not log2"),
                  (want / np.log(10), "use the natural log (np.log), as the cross-entropy does, not log10"))
        for value, hint in wrongs:
            if abs(got - value) <= 1e-6 * abs(value):
                _fail(f"smoothing_floor({eps}, {k}) is {got:.6f}, expected {want:.6f} — {hint}")
        _fail(f"smoothing_floor({eps}, {k}) is {got:.6f}, expected {want:.6f} — the row holds "
              f"1 - eps + eps/k = {p:.4f} once and eps/k = {q:.4f} {k - 1} times; H = -sum p log p")
    _passed("smoothing_floor")


def check_small_cnn(params, val_accuracy):
    """A CNN on a budget: npconv's network with at most 20,000 parameters (params a dict
    K1, ..., b4 that npconv.cnn_forward takes) and `val_accuracy` its last validation
    accuracy, at least 0.96 after one epoch. None means "not done yet"."""
    budget = 20_000
    __tracebackhide__ = True
    import npconv
    if params is None or val_accuracy is None:
        raise SelfCheckError("not done yet: keep your network in small_params and its last validation "
                             "accuracy in small_val_acc (history['val_accuracy'][-1])") from None
    if not isinstance(params, dict) or sorted(params) != sorted(_CNN_KEYS):
        raise SelfCheckError(f"small_params should be the dict npconv.init_cnn_params returns, with "
                             f"keys {', '.join(_CNN_KEYS)}") from None
    n = sum(int(np.size(P)) for P in params.values())
    if n > budget:
        raise SelfCheckError(f"small_params holds {n:,} numbers, the budget is {budget:,}: W3, "
                             f"(side * side * F2, n_hidden), holds most of them — fewer second-layer "
                             f"filters or hidden units shrink it") from None
    try:
        A4 = npconv.cnn_forward(np.zeros((2, 28, 28, 1), np.float32), params)["A4"]
    except Exception as exc:
        raise SelfCheckError(f"npconv.cnn_forward cannot run small_params on 28 x 28 images: {exc}") from None
    if A4.shape != (2, 10):
        raise SelfCheckError(f"small_params gives outputs of shape {A4.shape[1:]}, expected 10 "
                             f"probabilities per image") from None
    acc = float(val_accuracy)
    if not np.isfinite(acc) or not all(np.all(np.isfinite(P)) for P in params.values()):
        raise SelfCheckError(f"small_params or small_val_acc holds NaN or inf — "
                             f"{NONFINITE_HINTS['small_cnn']}") from None
    if not 0.96 <= acc <= 1:
        raise SelfCheckError(f"validation accuracy {acc:.4f}, expected at least 0.96 after one epoch on "
                             f"all 55,000 images, batch 64, Adam at 0.002: did it train on all of "
                             f"X_tr, with X_val and y_val passed for the accuracy?") from None
    # The number is the learner's; the network must back it: a trained one reads the first
    # 2,000 training images (most of them in X_tr) almost all right, an untrained one 1 in 10.
    (x_train, y_train), _ = npcore.load_mnist()
    X = (x_train[:2000].astype(np.float32) / 255)[..., None]             # (2000, 28, 28, 1)
    right = float(np.mean(npconv.cnn_make_predictions(X, params) == y_train[:2000]))
    if right < 0.95:
        raise SelfCheckError(f"small_params reads only {right:.1%} of the first 2,000 training images "
                             f"right, yet small_val_acc says {acc:.4f}: keep in small_params the "
                             f"network train_cnn returned, the one that reached that accuracy") from None
    print(PASSED["small_cnn"])


