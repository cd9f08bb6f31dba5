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

__all__ = ["SelfCheckError", "PASSED", "NONFINITE_HINTS", "check_one_hot",
           "check_relu", "check_relu_derivative", "check_softmax", "check_cross_entropy",
           "check_init_params", "check_forward_propagation", "check_backward_propagation",
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
    "init_params": "✔ init_params: W1 (784, 10), b1 (10,), W2 (10, 10), b2 (10,); zero biases, "
                   "weights ~ N(0, 1/n_input), reproducible from rng",
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
    "init_params": "draw finite weights, rng.standard_normal((n_in, n_out)) * np.sqrt(1 / n_in), "
                   "and zero biases",
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
@_check
def check_init_params(fn):
    """fn(n_input, n_hidden, n_output, rng) -> params: random W of shape (in, out), zero b."""
    for sizes in ((784, 10, 10), (6, 4, 3)):
        n_in, h, k = sizes
        params = _dict(_run(fn, *sizes, _rng(0)), "the result of init_params", PARAM_KEYS)
        for key, shape in zip(PARAM_KEYS, ((n_in, h), (h,), (h, k), (k,))):
            if key[0] == "W" and params[key].shape == shape[::-1] != shape:
                _fail(f"{key} has shape {params[key].shape} instead of {shape} — rows are samples, "
                      f"so W{key[1]} is (inputs, outputs) and Z{key[1]} = A @ W{key[1]} + b{key[1]}")
            _shape(params[key], shape, key, "biases are vectors (n,) that broadcast over the rows "
                                            "of Z" if key[0] == "b" else "W is (inputs, outputs)")
            if key[0] == "b" and np.any(params[key] != 0):
                _fail(f"{key} is not zero — start the biases at 0 (np.zeros)")
    once, again = (_dict(_run(fn, 6, 4, 3, _rng(0)), "the result of init_params", PARAM_KEYS)
                   for _ in range(2))
    if not np.array_equal(once["W1"], again["W1"]):
        _fail("init_params gave different weights for two calls with np.random.default_rng(0) — "
              "draw from the rng you are given (rng.standard_normal), not from np.random")
    params = _dict(_run(fn, 784, 100, 50, _rng(1)), "the result of init_params", PARAM_KEYS)
    for key, n_in in (("W1", 784), ("W2", 100)):
        W = params[key].astype(np.float64)
        std, lecun = W.std(), np.sqrt(1 / n_in)
        if np.all(W == W.flat[0]):
            _fail(f"all entries of {key} are equal — identical hidden units stay identical; "
                  f"draw random weights (rng.standard_normal)")
        if abs(W.mean()) > 0.2 * std:
            _fail(f"{key} has mean {_num(W.mean())} — centre the weights at 0 "
                  f"(rng.standard_normal, not rng.random)")
        if np.isclose(std, np.sqrt(2) * lecun, rtol=0.1):
            _fail(f"{key} ({n_in} inputs) has standard deviation {_num(std)}, about sqrt(2/{n_in}) "
                  f"= {_num(np.sqrt(2) * lecun)}, He's scale — this exercise asks for LeCun's, "
                  f"sqrt(1/n_input) = {_num(lecun)}")
        if not 0.9 * lecun < std < 1.1 * lecun:
            _fail(f"{key} ({n_in} inputs) has standard deviation {_num(std)}, expected about "
                  f"{_num(lecun)} = sqrt(1/{n_in}) — scale N(0, 1) draws by sqrt(1/n_input)")
        kurtosis = np.mean((W - W.mean()) ** 4) / std ** 4     # 3 for a normal, 1.8 for a uniform
        if not 2.7 < kurtosis < 3.3:
            _fail(f"the entries of {key} do not look normally distributed (kurtosis "
                  f"{_num(kurtosis)}, a normal gives 3, a uniform 1.8) — draw with "
                  f"rng.standard_normal")
    other = _dict(_run(fn, 784, 100, 50, _rng(2)), "the result of init_params", PARAM_KEYS)
    if np.array_equal(other["W1"], params["W1"]):
        _fail("init_params gave the same weights for np.random.default_rng(1) and "
              "np.random.default_rng(2) — draw from the rng you are given, not from a fixed seed")
    for key in PARAM_KEYS:
        if params[key].dtype != np.float32:
            _fail(f"{key} has dtype {params[key].dtype}, expected float32 — "
                  f".astype(np.float32) (half the memory, twice the speed: lesson 08)")
    _passed("init_params")


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
                 wrongs=[(diag / cm.sum(axis=0), "per_class_accuracy divides by the column sums, "
                                                 "which gives the precision — divide by the row "
                                                 "sums (samples of each TRUE class): cm.sum(axis=1)"),
                         (diag / cm.sum(), "per_class_accuracy divides by the total — divide each "
                                           "class by its own row sum: cm.sum(axis=1)")])
    _passed("per_class_accuracy")


# --------------------------------------------------------------------------- predictions
def check_prediction(name, guess, actual, why, rtol=0.1, atol=0.0):
    """A predict exercise: the learner's `guess` (a number, a tuple of numbers or a shape)
    against the `actual` value the reveal cell measured.

    Passes (one line, naming both) when every number of guess is within rtol (relative) or
    atol (absolute) of actual's; otherwise raises SelfCheckError with `why`, the one
    sentence that explains the actual value. A guess left as None or Ellipsis (`...`)
    means "not done yet".
    """
    __tracebackhide__ = True
    if guess is None or guess is Ellipsis:
        raise SelfCheckError(f"not done yet: write your prediction for {name} in place of `...` "
                             f"before you run the reveal cell") from None
    try:
        g = np.asarray(guess, dtype=np.float64)
    except (TypeError, ValueError):
        raise SelfCheckError(f"your prediction for {name} should be a number (or a tuple of "
                             f"numbers), not {type(guess).__name__} {guess!r}") from None
    a = np.asarray(actual, dtype=np.float64)
    if g.shape != a.shape:
        raise SelfCheckError(f"your prediction for {name} has {g.size} number(s) {guess!r}, "
                             f"the answer has {a.size}: {_show(actual)}") from None
    if not np.all(np.isfinite(g)) or not np.allclose(g, a, rtol=rtol, atol=atol):
        raise SelfCheckError(f"you predicted {_show(guess)} for {name}; it is {_show(actual)} — "
                             f"{why}") from None
    print(f"✔ {name}: you predicted {_show(guess)}, it is {_show(actual)}")


def _show(value):
    """A prediction or its answer as short text: 2.3, (60000, 784), [0.5, 0.5]."""
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, (list, np.ndarray)):
        return "[" + ", ".join(_show(v) for v in np.asarray(value).ravel().tolist()) + "]"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    return f"{float(value):.4g}"


# Each lesson's own checks (issue 12's exercises) go in its section below; a section adds
# its success lines with PASSED.update({...}) and its names to __all__.
# --------------------------------------------------------------------------- lesson 00 (exercises)
# --------------------------------------------------------------------------- lesson 01 (exercises)
# --------------------------------------------------------------------------- lesson 02 (exercises)
# --------------------------------------------------------------------------- lesson 03 (exercises)
# --------------------------------------------------------------------------- lesson 04 (exercises)
# --------------------------------------------------------------------------- lesson 05 (exercises)
# --------------------------------------------------------------------------- lesson 06 (exercises)
# --------------------------------------------------------------------------- lesson 07 (exercises)
# --------------------------------------------------------------------------- lesson 08 (exercises)
# --------------------------------------------------------------------------- lesson 09 (exercises)
# --------------------------------------------------------------------------- lesson 10 (exercises)
# --------------------------------------------------------------------------- lesson 11 (exercises)
# --------------------------------------------------------------------------- lesson 12 (exercises)
