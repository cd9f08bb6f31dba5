"""Tests of the self-checks of lessons 04 and 05's exercises (issue 12): each passes a correct
answer with its one line, fails the typical mistakes with the hint they deserve, and says
"not done yet" for an exercise the learner has not written. The older checks these lessons still
use (check_backward_propagation for Exercises 2, 4 and 5 of lesson 05) are tested in
test_selfcheck.py; check_prediction is tested with lesson 00's."""
import re

import numpy as np
import pytest

import npcore
import selfcheck
from check_helpers import (fails, mistake_test, not_done_yet_test, passing_test,
                           registered_test)
from selfcheck import SelfCheckError


def _he(sizes, rng, fan="in", gain=2.0, variance=False, seed=None):
    """He's start for any layer sizes, with the mistakes switchable."""
    rng = np.random.default_rng(seed if seed is not None else rng)
    params = {}
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        var = gain / (n_in if fan == "in" else n_out)
        scale = var if variance else np.sqrt(var)
        params[f"W{l}"] = (rng.standard_normal((n_in, n_out)) * scale).astype(np.float32)
        params[f"b{l}"] = np.zeros(n_out, dtype=np.float32)
    return params


def _forward(X, params, last="softmax", hidden="relu", layers=None, bias=True):
    L = layers or len(params) // 2
    A, cache = X, {}
    for l in range(1, L + 1):
        Z = A @ params[f"W{l}"] + (params[f"b{l}"] if bias else 0)
        act = hidden if l < L else last
        A = {"relu": npcore.relu, "softmax": npcore.softmax, "none": lambda z: z}[act](Z)
        cache[f"Z{l}"], cache[f"A{l}"] = Z, A
    return cache


def _backward(X, Y, params, cache, relu=True, factor=1.0, layers=None, m_of=lambda X: X.shape[0],
              stop=0):
    L = layers or len(params) // 2
    dZ = factor * (cache[f"A{L}"] - Y) / m_of(X)
    grads = {}
    for l in range(L, stop, -1):
        A_prev = cache[f"A{l - 1}"] if l > 1 else X
        grads[f"dW{l}"], grads[f"db{l}"] = A_prev.T @ dZ, dZ.sum(axis=0)
        if l > 1:
            dZ = dZ @ params[f"W{l}"].T
            if relu:
                dZ = dZ * npcore.relu_derivative(cache[f"Z{l - 1}"])
    return grads


REFERENCE = {
    "backward_variance": lambda n_in, n_out, var_w, msq: n_out * var_w * msq,
    "he_init_params": _he,
    "forward_propagation_any": npcore.forward_propagation,
    "bias_gradient": lambda dZ: dZ.sum(axis=0),
    "backward_propagation_any": npcore.backward_propagation,
}

MISTAKES = [
    ("backward_variance", lambda n_in, n_out, v, s: n_in * v * s, "not over its n_in rows"),
    ("backward_variance", lambda n_in, n_out, v, s: 0.5 * n_out * v * s, "no ReLU stands between"),
    ("backward_variance", lambda n_in, n_out, v, s: n_out * v, "lacks the factor E[dZ²]"),
    ("backward_variance", lambda n_in, n_out, v, s: n_out * np.sqrt(v) * s, "uses the std of w"),
    ("backward_variance", lambda n_in, n_out, v, s: v * s, "n_out times its variance"),
    ("backward_variance", lambda n_in, n_out, v, s: (n_in + n_out) / 2 * v * s,
     "that is Glorot's compromise"),
    ("backward_variance", lambda n_in, n_out, v, s: np.array([n_out * v * s]),
     "return one number"),
    ("backward_variance", lambda n_in, n_out, v, s: 1.0, "expected 0.16"),
    ("he_init_params", lambda s, r: _he(s, r, fan="out"), "W1 (784 inputs, 256 outputs) is scaled "
                                                          "by 0.0884 = sqrt(2/256): by the number "
                                                          "of outputs"),
    ("he_init_params", lambda s, r: _he(s, r, gain=1.0), "LeCun's scale — this asks for He's"),
    ("he_init_params", lambda s, r: _he(s, r, variance=True), "that is the variance"),
    ("he_init_params", lambda s, r: _he(s, r, seed=0), "not from a fixed seed"),
    ("he_init_params", lambda s, r: {k: (v.T if k[0] == "W" else v) for k, v in _he(s, r).items()},
     "W1 has shape (256, 784) instead of (784, 256)"),
    ("he_init_params", lambda s, r: {k: (v + 0.1 if k[0] == "b" else v) for k, v in _he(s, r).items()},
     "b1 is not zero"),
    ("he_init_params", lambda s, r: {k: v.astype(np.float64) for k, v in _he(s, r).items()},
     "W1 has dtype float64, expected float32"),
    ("he_init_params", lambda s, r: {k: v for k, v in _he(s, r).items() if k != "W2"},
     "lacks W2"),
    ("he_init_params", lambda s, r: _he(list(s), np.random.default_rng(r.integers(100))),
     "the weights have the right scale but not npcore's draws"),
    ("forward_propagation_any", lambda X, p: _forward(X, p, last="relu"),
     "the last layer uses softmax"),
    ("forward_propagation_any", lambda X, p: _forward(X, p, layers=2),
     "lacks Z3 — loop over all L = len(params) // 2 layers"),
    ("forward_propagation_any", lambda X, p: _forward(X, p, hidden="softmax"),
     "hidden layers use relu"),
    ("forward_propagation_any", lambda X, p: _forward(X, p, hidden="none"),
     "apply the activation"),
    ("forward_propagation_any", lambda X, p: _forward(X, p, bias=False), "Z1 lacks the bias"),
    ("forward_propagation_any", lambda X, p: _forward(X, p, last="none"), "apply softmax"),
    ("bias_gradient", lambda dZ: dZ.sum(), "np.sum without axis adds the 3 classes' gradients"),
    ("bias_gradient", lambda dZ: dZ.sum(axis=1), "one number per sample"),
    ("bias_gradient", lambda dZ: dZ.sum(axis=0, keepdims=True), "without keepdims"),
    ("bias_gradient", lambda dZ: dZ.mean(axis=0), "it averages over the samples"),
    ("bias_gradient", lambda dZ: dZ.sum(axis=0) * len(dZ), "the 1/m is already inside dZ2"),
    ("bias_gradient", lambda dZ: dZ[0], "returned the first row only"),
    ("backward_propagation_any", lambda X, Y, p, c: _backward(X, Y, p, c, relu=False),
     "dW2 ignores the ReLU of layer 2"),
    ("backward_propagation_any", lambda X, Y, p, c: _backward(X, Y, p, c, factor=2.0),
     "(it is 2× the numeric gradient"),
    ("backward_propagation_any", lambda X, Y, p, c: _backward(X, Y, p, c, layers=2),
     "on a 3-layer network (6 → 5 → 4 → 3): does your function assume 2 layers?"),
    ("backward_propagation_any",
     lambda X, Y, p, c: {k: v for k, v in _backward(X, Y, p, c).items() if k[2:] != str(len(p) // 2)},
     "lack dW3 — start at the last layer"),
    ("backward_propagation_any", lambda X, Y, p, c: _backward(X, Y, p, c, stop=1),
     "lack dW1 — the loop must run down to l = 1"),
    ("backward_propagation_any", lambda X, Y, p, c: _backward(X, Y, p, c, m_of=lambda X: 6),
     "batch of 3 (it is 0.5× the numeric gradient: a constant factor — a stray 2, or an m "
     "other than X.shape[0]"),
    ("backward_propagation_any",
     lambda X, Y, p, c: {k: (v.sum() if k[1] == "b" else v) for k, v in _backward(X, Y, p, c).items()},
     "sum over the batch axis only"),
]


test_correct_answer_passes_with_its_line = passing_test(REFERENCE)
test_other_correct_answers_pass = passing_test([
    ("he_init_params", lambda sizes, rng: npcore.init_params(sizes[0], sizes[1:-1], sizes[-1], rng,
                                                             init="he")),
    ("forward_propagation_any", _forward),
    ("bias_gradient", lambda dZ: np.ones(len(dZ)) @ dZ),
    ("bias_gradient", lambda dZ: np.einsum("ij->j", dZ)),
    ("backward_propagation_any", _backward),
])
test_mistake_gets_its_hint = mistake_test(MISTAKES)
test_unwritten_exercise_says_not_done_yet = not_done_yet_test(REFERENCE)
test_registered_with_a_nonfinite_hint = registered_test(REFERENCE)


@pytest.mark.parametrize("name", ["backward_variance", "bias_gradient", "forward_propagation_any",
                                  "backward_propagation_any"])
def test_nonfinite_result_gets_the_hint(name):
    def poisoned(*args):
        result = REFERENCE[name](*args)
        if isinstance(result, dict):
            return {k: np.full_like(v, np.nan) for k, v in result.items()}
        return np.full(np.shape(result), np.nan)
    fails(name, poisoned, selfcheck.NONFINITE_HINTS[name])


def test_changing_the_argument_in_place_is_named():
    def in_place(dZ):
        dZ /= 2
        return dZ.sum(axis=0) * 2
    fails("bias_gradient", in_place, "changed its argument dZ in place")


# --------------------------------------------------------------------------- predictions in decades
def test_prediction_in_decades_passes_within_the_tolerance(capsys):
    selfcheck.check_prediction_decades("the errors", (1e-8, 0.1), (6e-9, 1.0), why="because")
    assert capsys.readouterr().out == ("✔ the errors: you predicted (1e-08, 1e-01), it is "
                                       "(6e-09, 1e+00) (within 1.5 powers of 10)\n")


@pytest.mark.parametrize("guess, hint", [
    (..., "not done yet: write your prediction for the errors"),
    (None, "not done yet"),
    ((1e-8, 1e-3), "you predicted (1e-08, 1e-03) for the errors; it is (6e-09, 1e+00) — because"),
    ((-8, 0), "not the exponent -8"),
    ((1e-8,), "has 1 number(s)"),
    ("small", "should be numbers"),
])
def test_prediction_in_decades_fails_with_a_hint(guess, hint):
    with pytest.raises(SelfCheckError, match=re.escape(hint)):
        selfcheck.check_prediction_decades("the errors", guess, (6e-9, 1.0), why="because")
