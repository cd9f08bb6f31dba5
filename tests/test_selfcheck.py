"""Tests of selfcheck: the reference passes every check with one line, and the bug
museum -- the known wrong answers, most of them from the original script -- gets
the specific hint it deserves.

Warnings are errors here (pytest.ini): a naive softmax fed to a check must not
leak its overflow warning, and a result holding NaN or inf, or a floating-point
error raised inside the learner's function, gets a hint naming the array -- never
an escaped RuntimeWarning or FloatingPointError.

The success lines come from selfcheck.PASSED, the one place they are written; a
test below checks that the lessons' stored outputs show exactly those lines.
"""
import json
import math
import pathlib
import re
import warnings

import numpy as np
import pytest

import npcore
import selfcheck
from selfcheck import PASSED, SelfCheckError

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


def per_class_accuracy(cm):
    return np.diag(cm) / cm.sum(axis=1)


REFERENCE = {
    "one_hot": npcore.one_hot, "relu": npcore.relu,
    "relu_derivative": npcore.relu_derivative, "softmax": npcore.softmax,
    "cross_entropy": npcore.cross_entropy,
    "forward_propagation": npcore.forward_propagation,
    "backward_propagation": npcore.backward_propagation, "update_params": npcore.update_params,
    "get_accuracy": npcore.get_accuracy, "gradient_descent": npcore.gradient_descent,
    "confusion_matrix": npcore.confusion_matrix, "per_class_accuracy": per_class_accuracy,
}


def check(name):
    return getattr(selfcheck, f"check_{name}")


# Checks of a predict exercise take the learner's number, not a function: they print their
# own line ("you predicted ..., it is ...") and have no PASSED line or NaN hint.
GUESS_CHECKS = {"prediction", "prediction_decades"}


def test_every_check_is_listed():
    """Every check of a function has its success line and NaN hint, and is exported; the
    checks of lessons 00-07's first exercises are tested here against REFERENCE, the others
    in tests/test_checks_*.py."""
    checks = sorted(n[len("check_"):] for n in dir(selfcheck) if n.startswith("check_"))
    of_functions = sorted(set(checks) - GUESS_CHECKS)
    assert of_functions == sorted(PASSED) == sorted(selfcheck.NONFINITE_HINTS)
    assert set(REFERENCE) <= set(of_functions)
    assert sorted(f"check_{n}" for n in checks) == sorted(n for n in selfcheck.__all__
                                                         if n.startswith("check_"))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_passes_with_one_deterministic_line(name, capsys):
    check(name)(REFERENCE[name])
    first = capsys.readouterr()
    check(name)(REFERENCE[name])
    second = capsys.readouterr()
    assert first.out == second.out == PASSED[name] + "\n"
    assert first.err == second.err == ""


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_unwritten_exercise_says_not_done_yet(name, capsys):
    def my_function(*args, **kwargs):
        # YOUR CODE HERE
        raise NotImplementedError()
    with pytest.raises(SelfCheckError, match=re.escape(
            "not done yet: write the body of my_function in place of `# YOUR CODE HERE` and "
            "`raise NotImplementedError()`, then run the cell that defines it and this cell again")) as info:
        check(name)(my_function)
    assert info.value.__cause__ is None and info.value.__suppress_context__   # a short traceback
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_other_exceptions_name_their_type_and_message(name):
    def broken(*args, **kwargs):
        return {}["W3"]
    with pytest.raises(SelfCheckError, match=r"^broken raised KeyError: 'W3'") as info:
        check(name)(broken)
    assert isinstance(info.value.__cause__, KeyError)      # the learner's own line stays visible


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_none_and_non_functions(name):
    with pytest.raises(SelfCheckError, match="returned None — did you forget the `return`?"):
        check(name)(lambda *args, **kwargs: None)
    with pytest.raises(SelfCheckError, match=r"pass the function itself"):
        check(name)(np.zeros(3))


def test_learner_prints_are_swallowed(capsys):
    def chatty_relu(Z):
        print("debugging", Z.shape)
        return np.maximum(Z, 0)
    selfcheck.check_relu(chatty_relu)
    assert capsys.readouterr().out == PASSED["relu"] + "\n"


def test_self_check_error_is_an_assertion_error():
    assert issubclass(SelfCheckError, AssertionError)


def test_success_lines_name_their_check():
    for name, line in PASSED.items():
        assert line.startswith(f"✔ {name}: ") and "\n" not in line


def _stored_checks():
    """(lesson, check name, stored text output) for every lesson cell that calls a check."""
    found = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            for name in re.findall(r"^selfcheck\.check_(\w+)\(", source, re.MULTILINE):
                text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", [])
                               if o.get("output_type") == "stream")
                found.append((path.name, name, text))
    return found


def test_lessons_store_exactly_the_passed_lines():
    """Strict nbval compares the lessons' outputs with these stored ones: a success line
    changed in PASSED without the lessons (or the reverse) fails here first."""
    stored = [found for found in _stored_checks() if found[1] not in GUESS_CHECKS]
    assert {name for _, name, _ in stored} == set(PASSED)          # every check is in a lesson
    for lesson, name, text in stored:
        assert PASSED[name] + "\n" in text, (lesson, name, text)


# --------------------------------------------------------------------------- the bug museum
def _softmax_no_max(Z):                      # overflows: exp(1000) = inf, inf / inf = nan
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def _softmax_global_max(Z):                  # a row far below the global maximum underflows
    E = np.exp(Z - Z.max())
    return E / E.sum(axis=1, keepdims=True)


def _softmax_axis0(Z):
    E = np.exp(Z - Z.max(axis=0))
    return E / E.sum(axis=0)


def _softmax_no_keepdims(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1)


def _softmax_whole_matrix(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum()


def _relu_in_place(Z):
    Z[Z < 0] = 0
    return Z


def _relu_derivative_in_place(Z):
    Z[:] = Z > 0
    return Z


def _one_hot_from_max(y, num_classes=10):    # the original script
    Y = np.zeros((y.size, y.max() + 1))
    Y[np.arange(y.size), y] = 1
    return Y


def _one_hot_columns(y, num_classes=10):
    Y = np.zeros((y.size, num_classes))
    Y[:, y] = 1
    return Y


def _safe_log(A2):
    return np.log(np.maximum(A2, np.finfo(A2.dtype).tiny))


def _backprop(m_of=lambda X: X.shape[0], factor=1.0, db_axis=0, relu_grad=True, dW2_from_Z1=False,
              dW1_scale=1.0):
    """backward_propagation with one bug switched on, for the bug museum."""
    def backward_propagation(X, Y, params, cache):
        m = m_of(X)
        dZ2 = factor * (cache["A2"] - Y) / m                                  # (m, k)
        dW2 = (cache["Z1"] if dW2_from_Z1 else cache["A1"]).T @ dZ2           # (h, k)
        dZ1 = dZ2 @ params["W2"].T                                            # (m, h)
        if relu_grad:
            dZ1 = dZ1 * npcore.relu_derivative(cache["Z1"])
        return {"dW2": dW2, "db2": dZ2.sum(axis=db_axis), "dW1": dW1_scale * (X.T @ dZ1),
                "db1": dZ1.sum(axis=db_axis)}
    return backward_propagation


def _update_in_place(params, grads, learning_rate):
    for key in params:
        params[key] -= learning_rate * grads[f"d{key}"]
    return params


def _gd_variant(iterations_shift=0, assign=True, history_as_list=False, params_only=False,
                init=lambda d, rng: npcore.init_params(d, 10, 10, rng)):
    def gradient_descent(X, y, learning_rate, iterations, rng):
        Y = npcore.one_hot(y)
        params = init(X.shape[1], rng)
        losses, accs = [], []
        for _ in range(iterations + iterations_shift):
            cache = npcore.forward_propagation(X, params)
            losses.append(npcore.cross_entropy(cache["A2"], Y))
            accs.append(npcore.get_accuracy(npcore.get_predictions(cache["A2"]), y))
            new = npcore.update_params(params, npcore.backward_propagation(X, Y, params, cache),
                                       learning_rate)
            if assign:
                params = new
        if params_only:
            return params
        return params, (losses if history_as_list else {"loss": losses, "accuracy": accs})
    return gradient_descent


def _confusion_fancy_increment(y_true, y_pred, num_classes=10):
    cm = np.zeros((num_classes, num_classes), dtype=int)
    cm[y_true, y_pred] += 1                   # a repeated (true, pred) pair is counted once
    return cm


def _forward(first=lambda X, p: X @ p["W1"] + p["b1"], act=npcore.relu, second_input="A1",
             second=lambda A, p: A @ p["W2"] + p["b2"], out=npcore.softmax, drop=None):
    def forward_propagation(X, params):
        Z1 = first(X, params)
        A1 = act(Z1)
        Z2 = second({"A1": A1, "Z1": Z1}[second_input], params)
        cache = {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": out(Z2)}
        cache.pop(drop, None)
        return cache
    return forward_propagation


MUSEUM = [
    # lesson 01
    ("one_hot", _one_hot_from_max,
     "one_hot returned shape (3, 3) for labels [0 1 2] — size it with num_classes, not y.max()+1"),
    ("one_hot", lambda y, num_classes=10: np.eye(10)[y],
     "one_hot(y, 4) for labels [1 0 1 2] has shape (4, 10), expected (4, 4)"),
    ("one_hot", _one_hot_columns, r"row 0 of one_hot for labels [0 1 2] is [1.0, 1.0, 1.0, 0.0, "),
    ("one_hot", lambda y, num_classes=10: np.eye(num_classes)[y].T,
     "one_hot returned shape (10, 3) for 3 labels — rows are samples"),
    ("one_hot", lambda y, num_classes=10: np.eye(num_classes)[y],
     "one_hot returned dtype float64 — the right 0s and 1s, but the course's arrays are float32"),
    # lesson 02
    ("relu", lambda Z: np.max(Z, 0), "relu returned shape (4,) for Z of shape (3, 4) — it works "
                                     "elementwise, so the result has Z's shape"),
    ("relu", _relu_in_place, " changed its argument Z in place"),
    ("relu", lambda Z: (Z > 0).astype(Z.dtype), "relu returns 0s and 1s — that is its derivative"),
    ("relu", np.abs, "relu returns |Z|"),
    ("relu", lambda Z: max(Z, 0), " raised ValueError: The truth value of an array"),
    ("relu_derivative", lambda Z: (Z >= 0).astype(Z.dtype),
     "relu_derivative(0) is 1 — this course takes 0 at the kink Z = 0: use Z > 0, not Z >= 0"),
    ("relu_derivative", lambda Z: (Z <= 0).astype(Z.dtype), "relu_derivative is 1 where Z <= 0"),
    ("relu_derivative", npcore.relu, "relu_derivative returns relu(Z)"),
    ("relu_derivative", _relu_derivative_in_place, " changed its argument Z in place"),
    # lesson 03
    ("softmax", _softmax_no_max, "softmax returns nan for logits [1000, 0, -1000] — exp(1000) "
                                 "overflows to inf: subtract each row's maximum before exp"),
    ("softmax", _softmax_global_max, "softmax returns nan for logits [1000, 0, -1000] — "
                                     "exp underflows to 0 and 0/0 is nan: subtract each row's OWN "
                                     "maximum"),
    ("softmax", _softmax_axis0, "softmax rows sum to 0.29, not 1 — did you normalise over axis=1?"),
    ("softmax", _softmax_whole_matrix, "softmax rows sum to 0.183, not 1 — did you normalise over "
                                       "axis=1?"),
    ("softmax", _softmax_no_keepdims, " raised ValueError: operands could not be broadcast "
                                      "together with shapes (4,3) (4,)  — check the shapes"),
    ("cross_entropy", lambda A2, Y: -np.sum(Y * _safe_log(A2)),
     "cross_entropy is 4× too large for a batch of 4 — divide by m"),
    ("cross_entropy", lambda A2, Y: np.sum(Y * _safe_log(A2)) / len(Y),
     "cross_entropy is negative — L = -(1/m) Σ Y log A2: did you forget the minus sign?"),
    ("cross_entropy", lambda A2, Y: -np.mean(Y * _safe_log(A2)),
     "cross_entropy is 3× too small with 3 classes — divide by m only, not m·k"),
    ("cross_entropy", lambda A2, Y: -np.sum(Y * np.log(A2)) / len(Y),
     "cross_entropy returns nan when some probabilities are exactly 0 — 0·log(0) is nan"),
    ("cross_entropy", lambda A2, Y: -np.mean(np.log(A2[Y == 1])),
     "cross_entropy returns inf for a confident wrong answer"),
    ("cross_entropy", lambda A2, Y: -np.sum(Y * _safe_log(A2), axis=1),
     "cross_entropy returned shape (4,) for a batch of 4 — average over the batch"),
    # lesson 04
    ("forward_propagation", _forward(first=lambda X, p: X @ p["W1"]), "Z1 lacks the bias"),
    ("forward_propagation", _forward(act=lambda Z: Z), "A1 equals Z1 — apply the activation"),
    ("forward_propagation", _forward(second_input="Z1"), "Z2 is computed from Z1"),
    ("forward_propagation", _forward(second=lambda A, p: A @ p["W2"]), "Z2 lacks the bias"),
    ("forward_propagation", _forward(out=npcore.relu), "A2 is relu(Z2) — the output layer uses softmax"),
    ("forward_propagation", _forward(drop="A1"), "the cache returned by forward_propagation lacks A1"),
    ("forward_propagation", _forward(first=lambda X, p: p["W1"] @ X + p["b1"]),   # columns are samples
     "raised ValueError: matmul: .* — check the shapes: rows are samples"),
    # lesson 05
    ("backward_propagation", _backprop(db_axis=None),        # the original script's bias gradient
     "db2 has shape () but b2 is (3,) — sum over the batch axis only (axis=0)"),
    ("backward_propagation", _backprop(db_axis=1),
     "db2 has shape (5,) but b2 is (3,) — sum over the batch axis only (axis=0)"),
    ("backward_propagation", _backprop(factor=2.0),           # the original script's 2*(A2 - Y)
     "dW2 is 2× the numeric gradient — the original script's 2*(A2 - Y) is the gradient of a "
     "squared error, not of cross-entropy"),
    ("backward_propagation", _backprop(m_of=lambda X: 8),     # a global batch size
     "gradients are wrong for a batch of 5 but right for a batch of 8 — take m from X.shape[0], "
     "not a global"),
    ("backward_propagation", _backprop(m_of=lambda X: 60000),
     "gradients are divided by 6e+04 whatever the batch size (tried 5 and 8) — take m from "
     "X.shape[0], not a global"),
    ("backward_propagation", _backprop(m_of=lambda X: 1),
     "every gradient is m× the numeric one (5× for a batch of 5) — divide by m = X.shape[0]"),
    ("backward_propagation", _backprop(relu_grad=False), "dW1 ignores the ReLU"),
    ("backward_propagation", _backprop(dW1_scale=0.5),
     r"gradient check failed for dW1\[\d, \d\] \(batch of 5\): analytic -?[\d.e+-]+, numeric "
     r"-?[\d.e+-]+ — is a factor 2 or a 1/m missing\?"),
    ("backward_propagation", _backprop(dW2_from_Z1=True),
     r"gradient check failed for dW2\[\d, \d\] \(batch of 5\): analytic .* — check dW2 = A1.T @ dZ2"),
    ("backward_propagation",
     lambda X, Y, p, c: {k: v.T for k, v in npcore.backward_propagation(X, Y, p, c).items()},
     "dW2 has shape (3, 4), expected (4, 3) — a gradient has its parameter's shape"),
    # lesson 06
    ("update_params", lambda p, g, lr: {k: P + lr * g[f"d{k}"] for k, P in p.items()},
     "W1 moved uphill — step against the gradient"),
    ("update_params", lambda p, g, lr: {k: P - g[f"d{k}"] for k, P in p.items()},
     "update_params ignores learning_rate"),
    ("update_params", lambda p, g, lr: {k: P - lr * g[f"d{k}"] if k.endswith("1") else P
                                        for k, P in p.items()}, "W2 was not updated"),
    ("update_params", _update_in_place, " changed its argument params in place"),
    ("get_accuracy", lambda p, y: 100 * np.mean(p == y), "get_accuracy returns 60 — a fraction in "
                                                         "[0, 1], not a percentage"),
    ("get_accuracy", lambda p, y: np.sum(p == y), "get_accuracy returns 3, the number of correct "
                                                  "predictions — divide by m"),
    ("get_accuracy", lambda p, y: np.sum(p == y) / 5,         # a global batch size
     "get_accuracy for 6 right out of 8 is 1.2, expected 0.75"),
    ("get_accuracy", lambda p, y: p == y, "get_accuracy returned shape (5,) — return one number"),
    ("gradient_descent", _gd_variant(assign=False), "gradient_descent returned the initial params"),
    ("gradient_descent", _gd_variant(iterations_shift=-1), "gradient_descent made 5 updates for "
                                                           "iterations=6"),
    ("gradient_descent", _gd_variant(params_only=True), "gradient_descent returned a dict — return "
                                                        "the pair (params, history)"),
    ("gradient_descent", _gd_variant(history_as_list=True),
     "gradient_descent's history should be a dict with keys loss, accuracy, not a list"),
    ("gradient_descent", _gd_variant(init=lambda d, rng: npcore.init_params(d, 10, 10, 1)),
     "after 6 iterations your params differ from npcore.gradient_descent's with the same rng"),
    # lesson 07
    ("confusion_matrix", _confusion_fancy_increment, "confusion_matrix holds 5 counts for 6 samples — "
                                                     "cm[y_true, y_pred] += 1 counts a repeated pair "
                                                     "only once"),
    ("confusion_matrix", lambda t, p, k=10: npcore.confusion_matrix(t, p, max(t.max(), p.max()) + 1),
     "confusion_matrix returned shape (3, 3) — size it with num_classes (4)"),
    ("confusion_matrix", lambda t, p, k=10: npcore.confusion_matrix(p, t, k),
     "confusion_matrix has predictions in its rows — rows are the true labels"),
    ("confusion_matrix", lambda t, p, k=10: npcore.confusion_matrix(t, p, k).astype(float),
     "confusion_matrix returned float64 — it counts samples"),
    ("per_class_accuracy", lambda cm: np.diag(cm) / cm.sum(axis=0),
     "per_class_accuracy divides by the column sums (samples PREDICTED as each class)"),
    ("per_class_accuracy", lambda cm: np.diag(cm) / cm.sum(), "per_class_accuracy divides by the total"),
    ("per_class_accuracy", lambda cm: np.diag(cm)[:, None] / cm.sum(axis=1, keepdims=True),
     "per_class_accuracy has shape (3, 1), expected (3,)"),
]

REGEX = {"raised ValueError: matmul: .* — check the shapes: rows are samples"}


@pytest.mark.parametrize("name, wrong, hint", MUSEUM,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(MUSEUM)])
def test_bug_museum_gets_its_hint(name, wrong, hint, capsys):
    pattern = hint if hint in REGEX or hint.startswith("gradient check") else re.escape(hint)
    with pytest.raises(SelfCheckError, match=pattern):
        check(name)(wrong)
    assert capsys.readouterr().out == ""          # nothing printed when a check fails


@pytest.mark.parametrize("name, right", [
    ("relu_derivative", lambda Z: Z > 0),                        # booleans are fine
    ("one_hot", lambda y, num_classes=10: np.eye(num_classes, dtype=np.float32)[y]),
    ("cross_entropy", lambda A2, Y: -np.mean(np.sum(Y * np.log(np.clip(A2, 1e-7, 1 - 1e-7)), axis=1))),
    ("softmax", lambda Z: npcore.softmax(Z.astype(np.float64))),
    ("gradient_descent", _gd_variant()),
    ("backward_propagation", _backprop()),
    ("forward_propagation", _forward()),
])
def test_other_correct_answers_pass(name, right, capsys):
    check(name)(right)
    assert capsys.readouterr().out == PASSED[name] + "\n"


# --------------------------------------------------------------------------- NaN, inf, float errors
# Where each check finds the poisoned number first: the dict key the poison goes into (None
# for an array or a number) and how the hint names the place. Row 0 / index 0: the poison
# replaces the first entry.
NONFINITE_PLACES = {
    "one_hot": (None, "one_hot returned {kind} in row 0"),
    "relu": (None, "relu returned {kind} in row 0"),
    "relu_derivative": (None, "relu_derivative returned {kind} in row 0"),
    "softmax": (None, "softmax returned {kind} in row 0"),
    "cross_entropy": (None, "cross_entropy returned {kind}"),
    "forward_propagation": ("Z1", "Z1 in the cache returned by forward_propagation holds {kind} "
                                  "in row 0"),
    "backward_propagation": ("dW2", "dW2 in the grads returned by backward_propagation holds "
                                    "{kind} in row 0"),
    "update_params": ("W1", "W1 in the params returned by update_params holds {kind} in row 0"),
    "get_accuracy": (None, "get_accuracy returned {kind}"),
    "gradient_descent": ("W1", "W1 in gradient_descent's params holds {kind} in row 0"),
    "confusion_matrix": (None, "confusion_matrix returned {kind} in row 0"),
    "per_class_accuracy": (None, "per_class_accuracy returned {kind} at index 0"),
}
KINDS = [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")]


def _poison(result, value, key):
    """A copy of a reference result with its first number (of result[key] for a dict, of the
    params for gradient_descent's pair) replaced by value."""
    if isinstance(result, tuple):                    # gradient_descent: (params, history)
        return (_poison(result[0], value, key), result[1])
    if isinstance(result, dict):
        return {k: _poison(v, value, None) if k == key else v for k, v in result.items()}
    a = np.array(result, dtype=np.result_type(result, np.float32))    # floats, even for counts
    a.flat[0] = value
    return a


def test_every_check_has_a_nonfinite_case():
    assert sorted(NONFINITE_PLACES) == sorted(REFERENCE)


@pytest.mark.parametrize("value, kind", KINDS, ids=[kind for _, kind in KINDS])
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_nonfinite_results_get_a_hint_naming_the_array(name, value, kind, capsys):
    key, place = NONFINITE_PLACES[name]

    def my_function(*args, **kwargs):
        return _poison(REFERENCE[name](*args, **kwargs), value, key)

    hint = f"{place.format(kind=kind)} — {selfcheck.NONFINITE_HINTS[name]}"
    with pytest.raises(SelfCheckError, match=f"^{re.escape(hint)}$"):
        check(name)(my_function)
    assert capsys.readouterr().out == ""


def test_nonfinite_history_is_named():
    def gradient_descent(X, y, learning_rate, iterations, rng):
        params, history = npcore.gradient_descent(X, y, learning_rate, iterations, rng=rng,
                                                  progress=False)
        return params, {**history, "loss": [np.inf, *history["loss"][1:]]}
    with pytest.raises(SelfCheckError, match=r"^loss in gradient_descent's history holds inf at "
                                             r"index 0 — npcore\.gradient_descent stays finite"):
        selfcheck.check_gradient_descent(gradient_descent)


def test_softmax_nan_hint_reads_as_the_lesson_promises():
    def my_softmax(Z):
        return np.full(Z.shape, np.nan)
    with pytest.raises(SelfCheckError, match=re.escape(
            "softmax returned NaN in row 0 — did you subtract the row maximum before exp?")):
        selfcheck.check_softmax(my_softmax)


def _fails_with(exception):
    """A learner's function that hits a floating-point error of type ``exception``."""
    def my_function(*args, **kwargs):
        huge = np.float64(1000)
        if exception is FloatingPointError:          # the learner asked NumPy to raise
            with np.errstate(over="raise"):
                np.exp(huge)
        elif exception is RuntimeWarning:            # ... or turned warnings into errors
            with np.errstate(over="warn"), warnings.catch_warnings():
                warnings.simplefilter("error")
                np.exp(huge)
        elif exception is OverflowError:             # plain Python floats
            math.exp(1000)
        else:
            return len(args) / (len(args) - len(args))   # ZeroDivisionError
        raise AssertionError("no floating-point error happened")
    return my_function


@pytest.mark.parametrize("exception", [FloatingPointError, RuntimeWarning, OverflowError,
                                       ZeroDivisionError], ids=lambda e: e.__name__)
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_floating_point_errors_get_the_checks_hint(name, exception, capsys):
    with pytest.raises(SelfCheckError, match=rf"^my_function raised {exception.__name__}: .+ — "
                                             rf"{re.escape(selfcheck.NONFINITE_HINTS[name])}$") as info:
        check(name)(_fails_with(exception))
    assert isinstance(info.value.__cause__, exception)   # the learner's own line stays visible
    assert capsys.readouterr().out == ""


def test_softmax_that_raises_on_overflow_gets_the_max_hint():
    def strict_softmax(Z):                           # right for small logits, no maximum
        with np.errstate(over="raise"):
            E = np.exp(Z)
        return E / E.sum(axis=1, keepdims=True)
    with pytest.raises(SelfCheckError, match=re.escape(
            "strict_softmax raised FloatingPointError: overflow encountered in exp — did you "
            "subtract the row maximum before exp?")):
        selfcheck.check_softmax(strict_softmax)


def test_extreme_but_finite_results_warn_nowhere():
    """selfcheck's own arithmetic (a standard deviation here) on a huge finite result must
    give the hint, not an overflow RuntimeWarning (an error in this suite)."""
    def init_params(sizes, rng):                                   # W ~ 1e28, finite in float32
        params = npcore.init_params(sizes[0], tuple(sizes[1:-1]), sizes[-1], rng, init="he")
        return {k: P * np.float32(1e30) if k[0] == "W" else P for k, P in params.items()}
    with pytest.raises(SelfCheckError, match=r"^W1 \(784 inputs, 256 outputs\) is scaled by "
                                             r"5\.05e\+28, expected sqrt\(2/784\) = 0\.0505"):
        selfcheck.check_he_init_params(init_params)
