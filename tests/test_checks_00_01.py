"""Tests of the self-checks of lessons 00 and 01's exercises (selfcheck.py, sections
"lesson 00 (exercises)" and "lesson 01 (exercises)"): a correct answer passes with its one
line, each typical mistake gets its own hint, and an unwritten exercise says "not done yet"."""
import re

import numpy as np
import pytest

import npcore
import selfcheck
from check_helpers import (assert_registered, fails, mistake_test, not_done_yet_test,
                           passing_test)
from selfcheck import SelfCheckError


def class_counts(y, num_classes=10):
    return np.bincount(y, minlength=num_classes)


def class_counts_loop(y, num_classes=10):
    return np.array([np.sum(y == j) for j in range(num_classes)])


def class_counts_in_label_dtype(y, num_classes=10):
    counts = np.zeros(num_classes, dtype=y.dtype)
    for label in y:
        counts[label] += 1
    return counts


def to_uint8_images(X):
    return np.rint(X * 255).astype(np.uint8).reshape(len(X), 28, 28)


def to_columns(x):
    return x.reshape(len(x), 784).T / 255


def loss_from_labels(A2, y):
    return -np.mean(np.log(A2[np.arange(len(y)), y]))


def one_hot_fixed(y, num_classes=10):
    Y = np.zeros((y.size, num_classes), dtype=np.float32)
    Y[np.arange(y.size), y] = 1
    return Y


def one_hot_ported(y, num_classes=10):                       # the given, buggy function
    Y = np.zeros((num_classes, y.size), dtype=np.float32)
    Y[y, np.arange(y.size)] = 1
    return Y


RIGHT = [
    ("class_counts", class_counts), ("class_counts", class_counts_loop),
    ("to_uint8_images", to_uint8_images),
    ("to_uint8_images", lambda X: np.round(X.reshape(-1, 28, 28) * 255).astype(np.uint8)),
    ("to_columns", to_columns), ("to_columns", lambda x: npcore.preprocess(x).T),
    ("to_columns", lambda x: np.moveaxis(x, 0, -1).reshape(784, -1) / 255.0),
    ("loss_from_labels", loss_from_labels),
    ("loss_from_labels", lambda A2, y: npcore.cross_entropy(A2, npcore.one_hot(y, A2.shape[1],
                                                                               dtype=A2.dtype))),
    ("one_hot_fixed", one_hot_fixed), ("one_hot_fixed", lambda y, num_classes=10: one_hot_ported(y, num_classes).T),
    ("one_hot_fixed", lambda y, num_classes=10: np.eye(num_classes)[y]),
]

WRONG = [
    ("class_counts", lambda y, num_classes=10: np.bincount(y), "np.bincount stops at the largest label"),
    ("class_counts", lambda y, num_classes=10: np.unique(y, return_counts=True)[1],
     "np.unique lists only those"),
    ("class_counts", lambda y, num_classes=10: class_counts(y, num_classes) / len(y), "returned fractions"),
    ("class_counts", class_counts_in_label_dtype, "counted 300 threes as 44"),
    ("class_counts", lambda y, num_classes=10: class_counts(y, num_classes).astype(np.float32),
     "counts are whole numbers"),
    ("class_counts", lambda y, num_classes=10: class_counts(y, 10), "use the argument, not a fixed 10"),
    ("to_uint8_images", lambda X: (X * 255).astype(np.uint8).reshape(len(X), 28, 28),
     "astype(np.uint8) cuts off the fraction"),
    ("to_uint8_images", lambda X: np.rint(X * 255).astype(np.uint8), "images are (m, 28, 28)"),
    ("to_uint8_images", lambda X: np.rint(X).astype(np.uint8).reshape(len(X), 28, 28), "multiply by 255"),
    ("to_uint8_images", lambda X: np.rint(X * 255).reshape(len(X), 28, 28), "images are uint8"),
    ("to_columns", lambda x: x.reshape(784, len(x)) / 255, "reshapes straight to (784, m)"),
    ("to_columns", lambda x: x.reshape(len(x), 784) / 255, "columns as samples, (784, m)"),
    ("to_columns", lambda x: x.reshape(len(x), 784).T, "divides by 255"),
    ("to_columns", lambda x: x.reshape(len(x), 784).T // 255, "integer division"),
    ("to_columns", lambda x: x.transpose(0, 2, 1).reshape(len(x), 784).T / 255, "28 c + r"),
    ("loss_from_labels", lambda A2, y: -np.sum(np.log(A2[np.arange(len(y)), y])), "divide by m"),
    ("loss_from_labels", lambda A2, y: np.mean(np.log(A2[np.arange(len(y)), y])), "wrong sign"),
    ("loss_from_labels", lambda A2, y: -np.mean(np.log(A2.max(axis=1))), "TRUE class"),
    ("loss_from_labels", lambda A2, y: -np.sum(np.log(A2)) / len(y), "logs of every class"),
    ("loss_from_labels", lambda A2, y: -np.mean(np.log10(A2[np.arange(len(y)), y])), "natural log"),
    ("loss_from_labels", lambda A2, y: -np.log(A2[np.arange(len(y)), y]), "one loss per sample"),
    ("loss_from_labels", lambda A2, y: -np.mean(np.log(A2[:, y])), "A2[:, y], whole columns"),
    ("one_hot_fixed", one_hot_ported, "still returns the transpose"),
    ("one_hot_fixed", lambda y, num_classes=10: one_hot_ported(y, num_classes)[:, :],
     "m = k = 10"),
]


test_right_answers_pass_with_their_line = passing_test(RIGHT)
test_typical_mistakes_get_their_hint = mistake_test(WRONG)
test_unwritten_exercise_says_not_done_yet = not_done_yet_test({name for name, _ in RIGHT})


def test_the_transposed_one_hot_fails_on_a_batch_of_32_with_the_rows_hint():
    def transposed_unless_square(y, num_classes=10):
        Y = one_hot_fixed(y, num_classes)
        return Y if len(y) == num_classes else Y.T
    fails("one_hot_fixed", transposed_unless_square, "returned shape (10, 32) for 32 labels — rows are samples")


@pytest.mark.parametrize("name", sorted({name for name, _ in RIGHT}))
def test_nonfinite_results_are_named(name):
    right = dict(RIGHT)[name]

    def poisoned(*args, **kwargs):
        result = np.array(right(*args, **kwargs), dtype=np.float64)
        result.flat[0] = np.nan
        return result
    fails(name, poisoned, selfcheck.NONFINITE_HINTS[name])


def test_the_checks_are_exported_and_their_lines_name_them():
    for name in {name for name, _ in RIGHT}:
        assert_registered(name)


@pytest.mark.parametrize("guess, hint", [
    ((47, 47), "4 bytes (32 bits) as float32"),
    (..., "not done yet"),
])
def test_the_memory_prediction_explains_itself(guess, hint):
    with pytest.raises(SelfCheckError, match=re.escape(hint)):
        selfcheck.check_prediction("the megabytes of x_train (uint8) and X_train (float32)", guess,
                                   (47.04, 188.16),
                                   why="each of the 60,000 × 784 = 47,040,000 pixels takes 1 byte "
                                       "as uint8 and 4 bytes (32 bits) as float32: 47 MB and 188 MB")
