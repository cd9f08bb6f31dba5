"""Tests of the self-checks of lessons 02 and 03's exercises (issue 12): each passes a correct
answer with its one line, fails the typical mistakes with the hint they deserve, and says
"not done yet" for an exercise the learner has not written. The checks that lessons 02 and 03
share with the older exercises (check_relu, check_relu_derivative, check_softmax,
check_cross_entropy) are tested in test_selfcheck.py; here only the mistakes of the new
exercises that they must name."""
import numpy as np
import pytest

import npcore
import selfcheck
from check_helpers import (assert_prediction, fails, mistake_test, not_done_yet_test,
                           passing_test, registered_test)
from selfcheck import SelfCheckError


def _collapse(W1, b1, W2, b2):
    return W1 @ W2, b1 @ W2 + b2


def _squared_error_dZ2(A2, Y):
    G = A2 - Y
    return A2 * (G - np.sum(A2 * G, axis=1, keepdims=True)) / len(Y)


def _squared_error_dZ2_loop(A2, Y):
    """Row by row through the Jacobian, as the derivation reads: another correct answer."""
    rows = [(np.diag(a) - np.outer(a, a)) @ (a - y) for a, y in zip(A2, Y)]
    return np.array(rows) / len(Y)


REFERENCE = {
    "collapse": _collapse,
    "relu_derivative_gradient": npcore.relu_derivative,
    "squared_error_dZ2": _squared_error_dZ2,
}

MISTAKES = [
    ("collapse", lambda W1, b1, W2, b2: (W1 @ W2, b2), "b is b2 alone — the first layer's bias b1 "
                                                       "passes through W2"),
    ("collapse", lambda W1, b1, W2, b2: (W1 @ W2, b1 @ W2), "b is b1 @ W2 — the second layer adds "
                                                            "its own bias b2 too"),
    ("collapse", lambda W1, b1, W2, b2: (W1 @ W2, b1 + b2), "b is b1 + b2 (possible only because "
                                                            "h = k = 4)"),
    ("collapse", lambda W1, b1, W2, b2: (W2.T @ W1.T, b1 @ W2 + b2),
     "W has shape (4, 6) for W1 (6, 4), W2 (4, 4), expected (6, 4)"),
    ("collapse", lambda W1, b1, W2, b2: (W1 @ W2 * 2, b1 @ W2 + b2), "the weights of the one layer "
                                                                     "are a product of the two"),
    ("collapse", lambda W1, b1, W2, b2: (W1 @ W2, (b1 @ W2 + b2)[None, :]),
     "b has shape (1, 4) for W1 (6, 4), W2 (4, 4), expected (4,)"),
    ("collapse", lambda W1, b1, W2, b2: W1 @ W2, "collapse returned a ndarray — return the pair"),
    ("collapse", lambda W1, b1, W2, b2: (W1 @ W2, b1 @ W2 + b2, 0), "collapse returned a tuple"),
    ("relu_derivative_gradient", lambda Z: np.clip(Z, 0, 1),
     "between 0 and 1 it returns z itself: clipping Z to [0, 1] gives a ramp"),
    ("relu_derivative_gradient", np.sign, "for z < 0, relu(z) = 0 is flat: the slope there is 0"),
    ("relu_derivative_gradient", npcore.relu, "relu_derivative disagrees with the gradient check"),
    ("relu_derivative_gradient", lambda Z: (Z < 0).astype(Z.dtype), "the centred difference is 0"),
    ("relu_derivative_gradient", lambda Z: np.ones((2, 2)), "relu_derivative has shape (2, 2), "
                                                            "expected (40,)"),
    ("squared_error_dZ2", lambda A2, Y: (A2 - Y) / len(Y), "that is cross-entropy's gradient"),
    ("squared_error_dZ2", lambda A2, Y: A2 * (A2 - Y) / len(Y), "you kept only the diagonal of the "
                                                                "Jacobian"),
    ("squared_error_dZ2", lambda A2, Y: _squared_error_dZ2(A2, Y) * len(Y),
     "the gradient is 4× too large for a batch of 4"),
    ("squared_error_dZ2", lambda A2, Y: -_squared_error_dZ2(A2, Y), "the gradient has the wrong sign"),
    ("squared_error_dZ2", lambda A2, Y: A2 * ((A2 - Y) - np.sum(A2 * (A2 - Y), axis=0, keepdims=True)) / len(Y),
     "not over the batch"),
    ("squared_error_dZ2", lambda A2, Y: A2 * ((A2 - Y) - np.sum(A2 * (A2 - Y))) / len(Y),
     "not over the whole matrix"),
    ("squared_error_dZ2", lambda A2, Y: _squared_error_dZ2(A2, Y) / Y.shape[1],
     "the gradient is 10× too small with 10 classes"),
    ("squared_error_dZ2", lambda A2, Y: np.diag(A2[0]) - np.outer(A2[0], A2[0]),
     "returned shape (10, 10), a Jacobian"),
    ("squared_error_dZ2", lambda A2, Y: _squared_error_dZ2(A2, Y).T, "has shape (10, 4), expected (4, 10)"),
    ("squared_error_dZ2", lambda A2, Y: _squared_error_dZ2(A2, Y) + 0.01,
     "compare with the chain rule of section 7"),
]


test_correct_answer_passes_with_its_line = passing_test(REFERENCE)
test_other_correct_answers_pass = passing_test([
    ("relu_derivative_gradient", lambda Z: Z > 0),                       # booleans are fine
    ("relu_derivative_gradient", lambda Z: (Z >= 0).astype(Z.dtype)),    # no point on the kink
    ("relu_derivative_gradient", lambda Z: np.where(Z > 0, 1.0, 0.0)),
    ("squared_error_dZ2", _squared_error_dZ2_loop),
    ("collapse", lambda W1, b1, W2, b2: [np.dot(W1, W2), np.dot(b1, W2) + b2]),
])
test_mistake_gets_its_hint = mistake_test(MISTAKES)
test_unwritten_exercise_says_not_done_yet = not_done_yet_test(REFERENCE)
test_registered_with_a_nonfinite_hint = registered_test(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_nonfinite_result_gets_the_hint(name):
    def poisoned(*args):
        result = REFERENCE[name](*args)
        if name == "collapse":
            return np.full_like(result[0], np.nan), result[1]
        return np.full(np.shape(result), np.nan)
    fails(name, poisoned, selfcheck.NONFINITE_HINTS[name])


def test_changing_the_argument_in_place_is_named():
    def in_place(Z):
        Z[:] = Z > 0
        return Z
    fails("relu_derivative_gradient", in_place, "changed its argument Z in place")


def test_the_gradient_check_points_stay_away_from_the_kink_and_cover_0_to_1():
    """The clip bug shows only between 0 and 1, and the centred difference must not straddle 0."""
    z = np.round(selfcheck._rng(8).uniform(-3, 3, 40), 2)
    z[np.abs(z) < 0.05] = 0.25
    assert np.all(np.abs(z) >= 0.05) and np.sum((z > 0) & (z < 1)) >= 3 and np.sum(z < 0) >= 10


def test_squared_error_cases_agree_with_the_closed_form():
    for Z2, A2, Y, numeric in selfcheck._squared_error_cases():
        np.testing.assert_allclose(numeric, _squared_error_dZ2(A2, Y), rtol=1e-6, atol=1e-10)
        np.testing.assert_array_equal(A2, npcore.softmax(Z2))       # Z2 restored after the nudges


# --------------------------------------------------------------------------- the older checks
# The lessons' new exercises lean on these hints of check_relu_derivative, check_softmax and
# check_cross_entropy; the nbgrader mistakes of lessons 02 and 03 quote the first two.
@pytest.mark.parametrize("name, wrong, hint", [
    ("relu_derivative", lambda Z: (Z >= 0).astype(Z.dtype),
     "relu_derivative(0) is 1 — this course takes 0 at the kink Z = 0: use Z > 0, not Z >= 0"),
    ("relu", lambda Z: np.max(Z, 0), "np.max reduces an axis"),
    ("softmax", lambda Z: np.exp(Z - Z.max()) / np.exp(Z - Z.max()).sum(axis=1, keepdims=True),
     "subtract each row's OWN maximum (axis=1, keepdims=True), not the maximum of the whole matrix"),
    ("cross_entropy", lambda A2, Y: float(-np.mean(Y * np.log(np.maximum(A2, np.finfo(A2.dtype).tiny)))),
     "cross_entropy is 3× too small with 3 classes — divide by m only, not m·k"),
])
def test_older_checks_name_the_new_exercises_mistakes(name, wrong, hint):
    fails(name, wrong, hint)


@pytest.mark.parametrize("guess, ok", [((1, 0), True), ((1.0, 1e-300), True), ((0.5, 0.5), False),
                                       ((0, 1), False)])
def test_softmax_1000_prediction(guess, ok, capsys):
    """Lesson 03, Exercise 1: atol 1e-3 around the float64 answer (1.0, 0.0)."""
    assert_prediction(ok, capsys, "the softmax of the logits (1000, 0)", guess, (1.0, 0.0),
                      "only the difference counts", atol=1e-3)


@pytest.mark.parametrize("guess, ok", [(2.30, True), (2.303, True), (np.log(10), True), (2.0, False),
                                       (1.0, False), (0.1, False)])
def test_uniform_loss_prediction_asks_for_two_decimals(guess, ok, capsys):
    """Lesson 03, Exercise 3: rtol 0.01 around ln 10 = 2.3026."""
    assert_prediction(ok, capsys, "the loss of a uniform guess", guess, np.log(10), "ln 10", rtol=0.01)


def test_unwritten_prediction_says_not_done_yet():
    with pytest.raises(SelfCheckError, match="^not done yet: write your prediction"):
        selfcheck.check_prediction("the softmax of the logits (1000, 0)", ..., (1.0, 0.0), why="")
