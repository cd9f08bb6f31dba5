"""Tests of the self-checks of lessons 06 and 07's exercises (issue 12): each passes a correct
answer with its one line, fails the typical mistakes with the hint they deserve, and says
"not done yet" for an exercise the learner has not written."""
import numpy as np
import pytest

import selfcheck
from check_helpers import (assert_prediction, mistake_test, not_done_yet_test, passes, passing_test,
                           registered_test)
from selfcheck import SelfCheckError


def _precision(cm):
    return np.diag(cm) / cm.sum(axis=0)


def _surest(probabilities, y_true, n, *, positions=False, ascending=False, every_sample=False,
            confidence_of=None):
    y_pred = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1) if confidence_of is None else confidence_of(probabilities)
    mistakes = np.arange(len(y_true)) if every_sample else np.flatnonzero(y_pred != y_true)
    order = np.argsort(confidence[mistakes] if ascending else -confidence[mistakes], kind="stable")
    return order[:n] if positions else mistakes[order[:n]]


REFERENCE = {
    "largest_stable_rate": lambda c: 2 / c,
    "precision": _precision,
    "surest_mistakes": _surest,
}

MISTAKES = [
    ("largest_stable_rate", lambda c: 1 / c, "= 1 / c, the rate that lands on the minimum in one "
                                             "step (1 - alpha * c = 0), the best rate but not the largest"),
    ("largest_stable_rate", lambda c: 2 * c, "= 2 * c — a more curved bowl needs SMALLER steps"),
    ("largest_stable_rate", lambda c: c / 2, "= c / 2 — a more curved bowl needs SMALLER steps"),
    ("largest_stable_rate", lambda c: 1 / (2 * c), "= 1 / (2c) — solve |1 - alpha * c| < 1"),
    ("largest_stable_rate", lambda c: 2 / 4.0, "largest_stable_rate(0.5) is 0.5, expected 4 — one step "
                                               "gives theta_new = (1 - alpha * c) * theta"),
    ("largest_stable_rate", lambda c: np.array([2 / c]), "returned shape (1,) — return one number"),
    ("largest_stable_rate", lambda c: float("nan"), "largest_stable_rate returned NaN — the curvature "
                                                    "is a positive, finite number here"),
    ("precision", lambda cm: np.diag(cm) / cm.sum(axis=1), "precision divides by the row sums, which "
                                                           "gives the recall"),
    ("precision", lambda cm: np.diag(cm) / cm.sum(), "precision divides by the total"),
    ("precision", lambda cm: np.diag(cm)[None, :] / cm.sum(axis=0, keepdims=True),
     "precision has shape (1, 3), expected (3,)"),
    ("precision", lambda cm: np.diag(cm) / np.maximum(cm.sum(axis=0), 1) + (cm.sum(axis=0) == 0),
     "precision[4] is 1 for a class that is never predicted (column 4 sums to 0) — its precision "
     "is 0/0: leave it nan"),
    ("precision", lambda cm: np.diag(cm) / (cm.sum(axis=0) + 1e-9) * (cm.sum(axis=0) > 0) +
     np.where(cm.sum(axis=0) > 0, 0, np.inf), "precision[4] is inf for a class that is never predicted"),
    ("surest_mistakes", lambda A, y, n: _surest(A, y, n, positions=True),
     "positions in the list of mistakes, not indices of samples"),
    ("surest_mistakes", lambda A, y, n: _surest(A, y, n, ascending=True),
     "surest_mistakes returned the LEAST sure mistakes — sort by -confidence"),
    ("surest_mistakes", lambda A, y, n: _surest(A, y, n, every_sample=True),
     "is no mistake: predicted"),
    ("surest_mistakes", lambda A, y, n: _surest(A, y, n)[::-1],
     "surest_mistakes returned the right samples in the wrong order"),
    ("surest_mistakes", lambda A, y, n: _surest(A, y, n, confidence_of=lambda A: A.min(axis=1)),
     "mistakes but not the surest ones"),
    ("surest_mistakes", lambda A, y, n: _surest(A, y, n + 1), "has shape (6,), expected (5,)"),
    ("surest_mistakes", lambda A, y, n: _surest(A, y, n).astype(float), "returned float64 — return "
                                                                        "integer indices"),
    ("surest_mistakes", lambda A, y, n: _surest(A, y, n) + 1000, "returned index 10"),
]


test_correct_answer_passes_with_its_line = passing_test(REFERENCE)
test_mistake_gets_its_hint = mistake_test(MISTAKES)
test_unwritten_exercise_says_not_done_yet = not_done_yet_test(REFERENCE)
test_registered_with_a_nonfinite_hint = registered_test(REFERENCE)


def test_precision_accepts_zero_for_a_class_never_predicted(capsys):
    def zero_for_empty(cm):
        columns = cm.sum(axis=0)
        return np.diag(cm) / np.maximum(columns, 1)
    passes("precision", zero_for_empty, capsys)


def test_surest_mistakes_accepts_a_loop_and_lists(capsys):
    def with_a_loop(probabilities, y_true, n):
        found = [(-probabilities[i].max(), i) for i in range(len(y_true))
                 if probabilities[i].argmax() != y_true[i]]
        return [i for _, i in sorted(found)[:n]]
    passes("surest_mistakes", with_a_loop, capsys)


def test_surest_mistakes_cases_have_scattered_mistakes_and_no_ties():
    for m, seed in ((40, 12), (60, 13)):
        A, y = selfcheck._surest_case(m, seed)
        wrong = A.argmax(axis=1) != y
        assert not wrong[:6].any() and wrong.sum() >= 10
        assert len(np.unique(A.max(axis=1))) == m


@pytest.mark.parametrize("guess, ok", [(0.1, True), (0.09, True), (0.14, True), (0.5, False),
                                       (1 / 784, False)])
def test_untrained_accuracy_prediction_tolerance(guess, ok, capsys):
    """Lesson 06, Exercise 4: atol 0.05 around the measured 0.09 (0.0936 rounded) accepts 'one in ten'."""
    assert_prediction(ok, capsys, "the accuracy of the untrained network", guess, 0.09,
                      "like a blind guess", atol=0.05)


@pytest.mark.parametrize("guess, ok", [((4, 9), True), ((9, 4), False), ((3, 5), False)])
def test_confused_pair_prediction_is_exact(guess, ok, capsys):
    """Lesson 07, Exercise 2: the pair must be exact (rtol=0), written smaller digit first."""
    assert_prediction(ok, capsys, "the most confused pair of digits", guess, (4, 9), "4 and 9",
                      hint="it is (4, 9) — 4 and 9", rtol=0)


def test_dead_units_prediction_needs_the_exact_count():
    with pytest.raises(SelfCheckError, match="you predicted 1 for"):
        selfcheck.check_prediction("the hidden units alive", 1, 0, atol=0.5, why="all die")
    selfcheck.check_prediction("the hidden units alive", 0, 0, atol=0.5, why="all die")
