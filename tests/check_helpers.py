"""What the tests of the exercises' self-checks (tests/test_checks_*.py) share.

Every exercise's check is tested the same way: a correct answer passes with its one line
(selfcheck.PASSED[name]), each typical mistake fails with the hint that names it, an
unwritten exercise (the student edition's `raise NotImplementedError()`) says "not done
yet", and the check is exported with its line and a hint for results that are NaN or inf.
The helpers below say each of these once. An exercise goes by its name in selfcheck:
"conv_naive" is checked by selfcheck.check_conv_naive.

The `*_test` factories return a parametrized test function, which a test module collects by
giving it a name:

    test_mistake_gets_its_hint = mistake_test(MISTAKES)

(pytest collects a module's test functions by the names the module gives them.)
"""
import pytest

import selfcheck
from selfcheck import PASSED, SelfCheckError

NOT_DONE_YET = "not done yet: write the body of my_function"


def check(name):
    """The self-check of exercise `name`: selfcheck.check_<name>."""
    return getattr(selfcheck, f"check_{name}")


def my_function(*args, **kwargs):
    """An exercise the learner has not written, as the student edition leaves it."""
    # YOUR CODE HERE
    raise NotImplementedError()


def passes(name, fn, capsys):
    """check_<name>(fn) passes: it prints PASSED[name] and one newline, and nothing to stderr."""
    check(name)(fn)
    captured = capsys.readouterr()
    assert captured.out == PASSED[name] + "\n"
    assert captured.err == ""


def fails(name, fn, hint):
    """check_<name>(fn) raises SelfCheckError, and its message contains the text `hint`."""
    with pytest.raises(SelfCheckError) as error:
        check(name)(fn)
    assert hint in str(error.value), str(error.value)


def assert_registered(name):
    """check_<name> is in selfcheck.__all__, its line PASSED[name] is one line that names it,
    and NONFINITE_HINTS has its hint for a NaN or inf result."""
    assert f"check_{name}" in selfcheck.__all__
    assert PASSED[name].startswith(f"✔ {name}: ") and "\n" not in PASSED[name]
    assert name in selfcheck.NONFINITE_HINTS


def passing_test(cases):
    """A test that each correct answer passes its check with its line, twice in a row (a check
    keeps nothing from one run to the next).

    cases: {name: fn} (the test ids are the names) or a list of (name, fn) pairs.
    """
    ids = None
    if isinstance(cases, dict):
        cases, ids = sorted(cases.items()), sorted(cases)

    @pytest.mark.parametrize("name, fn", cases, ids=ids)
    def test(name, fn, capsys):
        passes(name, fn, capsys)
        passes(name, fn, capsys)
    return test


def mistake_test(mistakes):
    """A test that each mistake gets its hint and prints nothing.

    mistakes: a list of (name, wrong, hint) triples: check_<name>(wrong) must raise
    SelfCheckError with `hint` in its message. The test ids are `name-index`.
    """
    @pytest.mark.parametrize("name, wrong, hint", mistakes,
                             ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(mistakes)])
    def test(name, wrong, hint, capsys):
        fails(name, wrong, hint)
        assert capsys.readouterr().out == ""
    return test


def not_done_yet_test(names):
    """A test that each check of `names` says "not done yet" (at the start of its message)
    for an unwritten function, and prints nothing."""
    @pytest.mark.parametrize("name", sorted(names))
    def test(name, capsys):
        with pytest.raises(SelfCheckError) as error:
            check(name)(my_function)
        assert str(error.value).startswith(NOT_DONE_YET), str(error.value)
        assert capsys.readouterr().out == ""
    return test


def registered_test(names):
    """A test that each check of `names` is exported with its line and its NaN hint."""
    @pytest.mark.parametrize("name", sorted(names))
    def test(name):
        assert_registered(name)
    return test


def assert_prediction(ok, capsys, name, guess, actual, why, hint=None, **tolerances):
    """selfcheck.check_prediction(name, guess, actual, why=why, **tolerances) accepts the
    guess with its one line naming `name` if `ok`; otherwise it refuses it with a message that
    contains `hint` (by default `why`, the sentence that explains the answer)."""
    call = lambda: selfcheck.check_prediction(name, guess, actual, why=why, **tolerances)  # noqa: E731
    if ok:
        call()
        assert capsys.readouterr().out.startswith(f"✔ {name}: you predicted ")
    else:
        with pytest.raises(SelfCheckError) as error:
            call()
        assert (why if hint is None else hint) in str(error.value), str(error.value)
