"""Tests of lesson 09's self-checks (selfcheck.py, section "lesson 09 (exercises)"):
a correct answer passes with its one line, an unwritten one says "not done yet", and
the typical mistakes get the hint that names them.

Warnings are errors here (pytest.ini), as in tests/test_selfcheck.py.
"""
import numpy as np
import pytest

import npcore
import selfcheck
from check_helpers import assert_registered, fails, not_done_yet_test, passing_test
from selfcheck import SelfCheckError


# --------------------------------------------------------------------------- correct answers
def l2_penalty(params, lam):
    penalty, extra = 0.0, {}
    for key, P in params.items():
        if key.startswith("W"):
            penalty += 0.5 * lam * float(np.sum(P * P))
            extra[f"d{key}"] = lam * P
        else:
            extra[f"d{key}"] = np.zeros_like(P)
    return penalty, extra


def dropout_forward(A, p, rng):
    keep = 1 - p
    D = (rng.random(A.shape) < keep).astype(A.dtype) / A.dtype.type(keep)
    return A * D, D


def dropout_backward(dA_dropped, D):
    return dA_dropped * D


def fade_augment(X, rng):
    faded = rng.random(len(X)) < 0.5
    factors = rng.uniform(0.6, 1.0, size=(int(faded.sum()), 1)).astype(X.dtype)
    X_new = X.copy()
    X_new[faded] = X[faded] * factors
    return X_new


def fade_augment_where(X, rng):                # another correct way: other draws, same rule
    factors = np.where(rng.random((len(X), 1)) < 0.5, rng.uniform(0.6, 1.0, (len(X), 1)), 1.0)
    return (X * factors).astype(X.dtype)


def sample_log_uniform(rng, low, high, n):
    return 10.0 ** rng.uniform(np.log10(low), np.log10(high), size=n)


def sample_log_uniform_ln(rng, low, high, n):   # base e: the same numbers up to rounding
    return np.exp(rng.uniform(np.log(low), np.log(high), size=n))


CORRECT = {
    "l2_penalty": [l2_penalty],
    "dropout_forward": [dropout_forward],
    "dropout_backward": [dropout_backward],
    "fade_augment": [fade_augment, fade_augment_where],
    "sample_log_uniform": [sample_log_uniform, sample_log_uniform_ln],
}


def test_the_checks_are_listed():
    for name in CORRECT:
        assert_registered(name)


test_correct_answers_pass_with_one_line = passing_test([(n, f) for n, fns in CORRECT.items() for f in fns])
test_unwritten_exercise_says_not_done_yet = not_done_yet_test(CORRECT)


# --------------------------------------------------------------------------- L2
def _l2(penalty_of, grad_of):
    def l2_penalty(params, lam):
        weights = [P for key, P in params.items() if key.startswith("W")]
        return penalty_of(params, weights, lam), {f"d{key}": grad_of(key, P, lam)
                                                  for key, P in params.items()}
    return l2_penalty


def right_grad(key, P, lam):
    return lam * P if key.startswith("W") else np.zeros_like(P)


def right_penalty(params, weights, lam):
    return 0.5 * lam * sum(float(np.sum(W * W)) for W in weights)


@pytest.mark.parametrize("penalty, hint", [
    (lambda p, ws, lam: lam * sum(float(np.sum(W * W)) for W in ws), "the penalty is twice"),
    (lambda p, ws, lam: 0.5 * lam * sum(float(np.sum(P * P)) for P in p.values()),
     "the penalty includes the biases"),
    (lambda p, ws, lam: 0.5 * sum(float(np.sum(W * W)) for W in ws), "the penalty ignores lam"),
    (lambda p, ws, lam: 0.5 * lam * sum(float(np.linalg.norm(W)) for W in ws),
     "uses ||W||, not its square"),
    (lambda p, ws, lam: 0.5 * lam * (float(np.sum(p["W1"] ** 2)) + float(np.sum(p["W2"] ** 2))),
     "the penalty for 3 weight matrices"),                         # W1, W2 hard-coded
])
def test_l2_penalty_mistakes(penalty, hint):
    fails("l2_penalty", _l2(penalty, right_grad), hint)


@pytest.mark.parametrize("grad, hint", [
    (lambda key, P, lam: 0.5 * lam * P if key[0] == "W" else 0 * P, "half the gradient"),
    (lambda key, P, lam: 2 * lam * P if key[0] == "W" else 0 * P, "twice the gradient"),
    (lambda key, P, lam: lam * P, "db1 is lam * b1 — biases are not in the penalty"),
    (lambda key, P, lam: P if key[0] == "W" else 0 * P, "dW1 is W1 — multiply by lam"),
    (lambda key, P, lam: lam + 0 * P if key[0] == "W" else 0 * P, "dW1 is lam everywhere"),
    (lambda key, P, lam: lam * P.T if key[0] == "W" else 0 * P, "dW1 has shape (5, 6), expected (6, 5)"),
    (lambda key, P, lam: lam * P ** 2 if key[0] == "W" else 0 * P,
     "finite differences of your penalty give"),
])
def test_l2_gradient_mistakes(grad, hint):
    fails("l2_penalty", _l2(right_penalty, grad), hint)


def test_l2_penalty_without_bias_keys():
    def weights_only(params, lam):
        return l2_penalty(params, lam)[0], {f"d{k}": lam * P for k, P in params.items() if k[0] == "W"}
    fails("l2_penalty", weights_only, "lacks db1")


def test_l2_penalty_returns_a_pair():
    fails("l2_penalty", lambda params, lam: l2_penalty(params, lam)[0], "return the pair (penalty, extra_grads)")


# --------------------------------------------------------------------------- dropout
def _forward(mask):
    def dropout_forward(A, p, rng):
        D = mask(rng.random(A.shape), p).astype(A.dtype)
        return A * D, D
    return dropout_forward


@pytest.mark.parametrize("mask, hint", [
    (lambda U, p: (U < p) / (1 - p), "p is the probability to DROP a unit"),
    (lambda U, p: (U < 1 - p) * 1.0, "the kept units are 1, so the mean of A_dropped is 0.7 times"),
    (lambda U, p: (U < 1 - p) / p if p else (U < 1) * 1.0, "the kept units are 1/p"),
    (lambda U, p: (U >= p) / (1 - p), "not npcore's for the same generator"),
    (lambda U, p: (U < 1 - p) * U / (1 - p), "every kept unit is 1/(1 - p)"),
])
def test_dropout_forward_mistakes(mask, hint):
    fails("dropout_forward", _forward(mask), hint)


def test_dropout_forward_dtype_and_product():
    def float64_mask(A, p, rng):
        D = (rng.random(A.shape) < 1 - p) / (1 - p)
        return A * D, D
    fails("dropout_forward", float64_mask, "D is float64 for A in float32")

    def returns_A(A, p, rng):
        return A, dropout_forward(A, p, rng)[1]
    fails("dropout_forward", returns_A, "return A * D")


def test_dropout_forward_fixed_rate():
    def half(A, p, rng):
        return dropout_forward(A, 0.3, rng)
    fails("dropout_forward", half, "for p = 0 the mask should be all ones")


@pytest.mark.parametrize("backward, hint", [
    (lambda dA, D: dA, "the gradient ignores the mask"),
    (lambda dA, D: dA * (D > 0), "uses a mask of 0 and 1"),
    (lambda dA, D: dA / np.where(D == 0, np.inf, D), "divides by the mask"),
    (lambda dA, D: dA * D ** 2, "gradient check failed: dL/dA["),
    (lambda dA, D: (dA * D)[:, :10], "has shape (400, 10), expected (400, 300)"),
])
def test_dropout_backward_mistakes(backward, hint):
    fails("dropout_backward", backward, hint)


def test_dropout_backward_in_place_is_refused():
    def in_place(dA, D):
        dA *= D
        return dA
    fails("dropout_backward", in_place, "changed its argument dA_dropped in place")


# --------------------------------------------------------------------------- the fading augmentation
def buggy_augment(X, rng):                    # the lesson's planted bug: faded images first
    faded = rng.random(len(X)) < 0.5
    factors = rng.uniform(0.6, 1.0, size=(int(faded.sum()), 1)).astype(X.dtype)
    return np.concatenate([X[faded] * factors, X[~faded]])


def test_the_planted_bug_is_named():
    with pytest.raises(SelfCheckError, match=r"row 0 of your batch is image \d+ .*images left their "
                                             r"rows — npcore.train pairs row i with label y\[i\]"):
        selfcheck.check_fade_augment(buggy_augment)


@pytest.mark.parametrize("fn, hint", [
    (lambda X, rng: X.copy(), "no image was faded"),
    (lambda X, rng: X * np.where(rng.random((len(X), 1)) < 0.9, 0.8, 1.0).astype(X.dtype),
     "of the images were faded, expected about half"),
    (lambda X, rng: X * np.where(rng.random((len(X), 1)) < 0.5, rng.uniform(0.2, 1.0, (len(X), 1)),
                                 1.0).astype(X.dtype), "fading factors from 0.2"),
    (lambda X, rng: X * np.where(rng.random((len(X), 1)) < 0.5, 0.8, 1.0).astype(X.dtype),
     "every faded image got the same factor"),
    (lambda X, rng: fade_augment(X, np.random.default_rng(0)), "another generator faded the same images"),
    (lambda X, rng: fade_augment(X, rng)[::-1], "row 0 of your batch is image 399"),
    (lambda X, rng: np.clip(fade_augment(X, rng) + 0.05, 0, 1), "row 0 of your batch is not image 0 times a factor"),
    (lambda X, rng: fade_augment(X, rng)[:200], "has shape (200, 784), expected (400, 784)"),
])
def test_fade_augment_mistakes(fn, hint):
    fails("fade_augment", fn, hint)


def test_fade_augment_in_place_is_refused():
    def in_place(X, rng):
        faded = rng.random(len(X)) < 0.5
        X[faded] *= rng.uniform(0.6, 1.0, size=(int(faded.sum()), 1)).astype(X.dtype)
        return X
    fails("fade_augment", in_place, "changed its argument X in place")


# --------------------------------------------------------------------------- log-uniform samples
@pytest.mark.parametrize("fn, hint", [
    (lambda rng, low, high, n: rng.uniform(low, high, size=n), "90% in the top decade"),
    (lambda rng, low, high, n: rng.uniform(np.log10(low), np.log10(high), size=n),
     "these look like the exponents themselves"),
    (lambda rng, low, high, n: 10.0 ** rng.uniform(np.log10(low), np.log10(high), size=(n, 1)),
     "has shape (20000, 1), expected (20000,)"),
    (lambda rng, low, high, n: 10.0 ** np.array([rng.uniform(np.log10(low), np.log10(high))
                                                 for _ in range(n)])[::-1],
     "right distribution, other draws"),
    (lambda rng, low, high, n: 10.0 ** rng.uniform(np.log10(low), np.log10(high) + 1, size=n),
     "expected within [1e-4, 1]"),
])
def test_sample_log_uniform_mistakes(fn, hint):
    fails("sample_log_uniform", fn, hint)


def test_the_lessons_solutions_pass():
    """The same functions as the lesson's, fed to the lesson's later uses, agree with npcore."""
    X, y = np.random.default_rng(0).random((8, 6)), np.array([0, 1, 2, 0, 1, 2, 0, 1])
    p = npcore.init_params(6, (5, 4), 3, rng=0, init="he", dtype=np.float64)
    loss0, g0, _ = npcore.loss_and_grads(X, y, p)
    loss1, g1, _ = npcore.loss_and_grads(X, y, p, weight_decay=0.1)
    penalty, extra = l2_penalty(p, 0.1)
    assert np.isclose(loss0 + penalty, loss1)
    for key in g0:
        np.testing.assert_allclose(g0[key] + extra[key], g1[key], atol=1e-12)
