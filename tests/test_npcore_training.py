"""Unit tests for npcore's mini-batches, optimizers, schedule and train() (lesson 08).

Updates are checked against values worked out by hand, Adam's bias correction
included, on both code paths (``npcore.FAST`` True and False); no test here is timed.

Tolerances: results that go through BLAS (matrix products) or reductions are compared
with a tolerance, each with the reason for its size. The optimizers are elementwise,
so their two code paths are compared bit for bit; so are two runs of the same training
on the same machine (determinism).
"""
import re
import time

import numpy as np
import pytest

import npcore as nc


def tiny_problem(m=40, d=6, hidden=(5,), seed=0, dtype=np.float64):
    """X (m, d) in [0, 1), learnable labels y (m,) = argmax of a fixed linear map, He params."""
    rng = np.random.default_rng(seed)
    X = rng.random((m, d)).astype(dtype)
    y = np.argmax((X - 0.5) @ rng.standard_normal((d, 10)), axis=1)
    params = nc.init_params(d, hidden, 10, rng=rng, init="he", dtype=dtype)
    return X, y, params


def copy(params):
    return {key: P.copy() for key, P in params.items()}


@pytest.fixture(params=[True, False], ids=["FAST", "plain"])
def fast(request, monkeypatch):
    """Run the test on both code paths of the optimizers."""
    monkeypatch.setattr(nc, "FAST", request.param)
    return request.param


# --------------------------------------------------------------------------- mini-batches
def test_minibatches_cover_every_sample_once_with_a_partial_last_batch():
    X = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10)
    batches = list(nc.iterate_minibatches(X, y, 4, np.random.default_rng(0)))
    assert [len(yb) for _, yb in batches] == [4, 4, 2]
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(10))
    for Xb, yb in batches:                      # rows and labels stay paired
        assert Xb.shape == (len(yb), 1)
        np.testing.assert_array_equal(Xb[:, 0], yb)


def order(X, y, rng, batch_size=8):
    return np.concatenate([yb for _, yb in nc.iterate_minibatches(X, y, batch_size, rng)])


def test_minibatches_a_generator_shuffles_afresh_a_seed_repeats():
    X, y = np.zeros((50, 2), np.float32), np.arange(50)
    rng = np.random.default_rng(3)
    first, second = order(X, y, rng), order(X, y, rng)
    assert not np.array_equal(first, second)          # a Generator: a new order each call
    assert not np.array_equal(first, np.arange(50))   # actually shuffled
    np.testing.assert_array_equal(first, order(X, y, np.random.default_rng(3)))   # same seed, same order
    np.testing.assert_array_equal(order(X, y, 3), order(X, y, 3))   # a seed: the same order every call
    np.testing.assert_array_equal(order(X, y, 3), first)            # ... the one its Generator draws first


@pytest.mark.parametrize("batch_size", [0, -4, 2.5, None])
def test_minibatches_reject_bad_batch_sizes(batch_size):
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        list(nc.iterate_minibatches(np.zeros((3, 2)), np.zeros(3, int), batch_size, 0))


def test_minibatches_reject_mismatched_lengths_and_bad_rngs():
    with pytest.raises(ValueError, match="3 rows but y has 2"):
        list(nc.iterate_minibatches(np.zeros((3, 2)), np.zeros(2, int), 2, 0))
    with pytest.raises(ValueError, match="rng must be"):
        list(nc.iterate_minibatches(np.zeros((3, 2)), np.zeros(3, int), 2, "seed"))


# --------------------------------------------------------------------------- optimizer state and registry
def test_init_optimizer_state_shapes_and_names():
    params = {"W1": np.ones((3, 2), np.float32), "b1": np.ones(2, np.float32)}
    assert nc.init_optimizer_state(params, "sgd") == {}
    velocity = nc.init_optimizer_state(params, optimizer="momentum")
    assert set(velocity) == {"W1", "b1"}
    assert velocity["W1"].shape == (3, 2) and velocity["W1"].dtype == np.float32
    assert not velocity["W1"].any()
    adam = nc.init_optimizer_state(params, "adam")
    assert adam["t"] == 0 and set(adam["m"]) == set(adam["v"]) == {"W1", "b1"}
    assert adam["m"]["W1"] is not adam["v"]["W1"]
    with pytest.raises(ValueError, match="'sgd', 'momentum' or 'adam'"):
        nc.init_optimizer_state(params, "rmsprop")


def test_optimizer_registry():
    assert nc.OPTIMIZERS == {"sgd": nc.sgd_update, "momentum": nc.momentum_update,
                             "adam": nc.adam_update}
    assert nc.get_optimizer("adam") is nc.adam_update
    params = {"W1": np.ones(4)}
    grads = {"dW1": np.full(4, 2.0)}
    mine = nc.get_optimizer("momentum", beta=0.5)
    state = nc.init_optimizer_state(params, "momentum")
    assert mine(params, grads, state, 0.1) is params
    mine(params, grads, state, 0.1)
    # V = -0.2, then 0.5 * -0.2 - 0.2 = -0.3; P = 1 - 0.2 - 0.3 (elementwise, float64)
    np.testing.assert_allclose(params["W1"], 0.5, rtol=1e-15)
    np.testing.assert_allclose(state["W1"], -0.3, rtol=1e-15)


@pytest.mark.parametrize("name, options, message", [
    ("rmsprop", {}, "optimizer must be one of 'sgd', 'momentum', 'adam', got 'rmsprop'"),
    (None, {}, "optimizer must be one of"),
    ("sgd", {"beta": 0.9}, "optimizer 'sgd' takes no option beta; its options: none"),
    ("momentum", {"beta1": 0.9}, "takes no option beta1; its options: beta"),
    ("adam", {"beta": 0.9}, "its options: beta1, beta2, eps"),
    ("momentum", {"beta": 1.0}, r"beta must be a number in \[0, 1\), got 1.0"),
    ("momentum", {"beta": -0.1}, "beta must be a number"),
    ("momentum", {"beta": np.nan}, "beta must be a number"),
    ("momentum", {"beta": "0.9"}, "beta must be a number"),
    ("adam", {"beta2": 1}, "beta2 must be a number"),
    ("adam", {"eps": 0.0}, "eps must be a number > 0"),
    ("adam", {"eps": -1e-8}, "eps must be a number > 0"),
])
def test_get_optimizer_rejects_unknown_names_stray_options_and_bad_values(name, options, message):
    with pytest.raises(ValueError, match=message):
        nc.get_optimizer(name, **options)


# --------------------------------------------------------------------------- SGD
def test_sgd_update_by_hand_in_place(fast):
    params = {"W1": np.array([[1.0, -2.0]]), "b1": np.array([0.5, 0.0])}
    W1 = params["W1"]
    grads = {"dW1": np.array([[0.5, -1.0]]), "db1": np.array([2.0, 0.0])}
    assert nc.sgd_update(params, grads, {}, 0.1) is params and params["W1"] is W1
    np.testing.assert_array_equal(params["W1"], [[1.0 - 0.1 * 0.5, -2.0 + 0.1]])   # the same
    np.testing.assert_array_equal(params["b1"], [0.5 - 0.1 * 2.0, 0.0])           # operations


# --------------------------------------------------------------------------- momentum
def test_momentum_two_steps_by_hand(fast):
    params = {"W1": np.array([[1.0, -2.0]]), "b1": np.array([0.5, 0.0])}
    W1, b1 = params["W1"], params["b1"]
    velocity = nc.init_optimizer_state(params, "momentum")
    grads = {"dW1": np.array([[0.5, -1.0]]), "db1": np.array([2.0, 0.0])}
    out = nc.momentum_update(params, grads, velocity, learning_rate=0.1, beta=0.9)
    assert out is params and params["W1"] is W1 and params["b1"] is b1     # in place
    # hand values in decimal vs binary arithmetic: a few ulp, so the default rtol 1e-7
    # step 1: V = 0.9*0 - 0.1*g = -0.1 g;  P = P + V
    np.testing.assert_allclose(velocity["W1"], [[-0.05, 0.1]])
    np.testing.assert_allclose(params["W1"], [[0.95, -1.9]])
    np.testing.assert_allclose(params["b1"], [0.3, 0.0])
    # step 2, same gradient: V = 0.9*(-0.05) - 0.05 = -0.095, P = 0.95 - 0.095 = 0.855
    nc.momentum_update(params, grads, velocity, learning_rate=0.1, beta=0.9)
    np.testing.assert_allclose(velocity["W1"], [[-0.095, 0.19]])
    np.testing.assert_allclose(params["W1"], [[0.855, -1.71]])
    np.testing.assert_allclose(params["b1"], [0.5 - 0.2 - 0.38, 0.0])


def test_momentum_with_beta_zero_is_plain_gradient_descent(fast):
    X, y, params = tiny_problem()
    Y = nc.one_hot(y, dtype=X.dtype)
    grads = nc.backward_propagation(X, Y, params, nc.forward_propagation(X, params))
    expected = nc.update_params(params, grads, 0.3)
    nc.momentum_update(params, grads, nc.init_optimizer_state(params, "momentum"), 0.3, beta=0.0)
    for key in params:
        # P + (0*V - a dP) vs P - a dP: at most one rounding apart in float64
        np.testing.assert_allclose(params[key], expected[key], rtol=1e-12)


def test_momentum_keeps_float32(fast):
    params = {"W1": np.ones((2, 2), np.float32), "b1": np.ones(2, np.float32)}
    grads = {"dW1": np.ones((2, 2), np.float32), "db1": np.ones(2, np.float32)}
    velocity = nc.init_optimizer_state(params, "momentum")
    nc.momentum_update(params, grads, velocity, 0.1)
    assert params["W1"].dtype == velocity["W1"].dtype == np.float32


# --------------------------------------------------------------------------- Adam
def test_adam_first_steps_by_hand_with_bias_correction(fast):
    params = {"W1": np.array([[1.0]]), "b1": np.array([0.0])}
    state = nc.init_optimizer_state(params, "adam")
    g1 = {"dW1": np.array([[0.2]]), "db1": np.array([-4.0])}
    nc.adam_update(params, g1, state, learning_rate=0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    assert state["t"] == 1
    # hand values in decimal vs a handful of float64 operations: a few ulp (rtol 1e-15
    # where the expression is the same, the default 1e-7 where it is a decimal constant)
    # m = 0.1*0.2 = 0.02, v = 0.001*0.04 = 4e-5 (raw moments, biased towards 0)
    np.testing.assert_allclose(state["m"]["W1"], [[0.02]])
    np.testing.assert_allclose(state["v"]["W1"], [[4e-5]])
    # bias-corrected: m_hat = 0.02/0.1 = 0.2, v_hat = 4e-5/0.001 = 0.04 -> step = lr * 0.2/0.2
    np.testing.assert_allclose(params["W1"], [[1.0 - 0.01 * 0.2 / (0.2 + 1e-8)]], rtol=1e-15)
    np.testing.assert_allclose(params["b1"], [0.0 + 0.01 * 4.0 / (4.0 + 1e-8)], rtol=1e-12)
    # step 2 with gradient 0.4:
    # m = 0.9*0.02 + 0.1*0.4 = 0.058;      m_hat = 0.058 / (1 - 0.81)     = 0.30526315...
    # v = 0.999*4e-5 + 0.001*0.16 = 1.9996e-4; v_hat = 1.9996e-4 / (1 - 0.998001) = 0.10003001...
    nc.adam_update(params, {"dW1": np.array([[0.4]]), "db1": np.array([0.0])}, state, 0.01)
    assert state["t"] == 2
    np.testing.assert_allclose(state["m"]["W1"], [[0.058]])
    np.testing.assert_allclose(state["v"]["W1"], [[1.9996e-4]])
    m_hat, v_hat = 0.058 / 0.19, 1.9996e-4 / 0.001999
    np.testing.assert_allclose([m_hat, v_hat], [0.30526315789, 0.10003001501], rtol=1e-10)
    after_step1 = 1.0 - 0.01 * 0.2 / (0.2 + 1e-8)
    expected = after_step1 - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(params["W1"], [[expected]], rtol=1e-15)


def test_adam_first_step_moves_every_weight_by_about_the_learning_rate(fast):
    # Bias correction makes the very first step lr * g/|g|, whatever the gradient's size.
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((4, 3)), "b1": np.zeros(3)}
    grads = {"dW1": rng.standard_normal((4, 3)) * 1e-3, "db1": np.array([5.0, -0.5, 2.0])}
    before = copy(params)
    nc.adam_update(params, grads, nc.init_optimizer_state(params, "adam"), 0.01)
    for key in params:
        # the step is lr * |g| / (|g| + eps): off by eps / |g| <= 1e-8 / 1e-5 relative
        np.testing.assert_allclose(params[key] - before[key], -0.01 * np.sign(grads[f"d{key}"]),
                                   rtol=1e-4)


def test_adam_keeps_float32_and_updates_in_place(fast):
    params = {"W1": np.ones((2, 2), np.float32), "b1": np.ones(2, np.float32)}
    W1 = params["W1"]
    grads = {"dW1": np.full((2, 2), 0.5, np.float32), "db1": np.ones(2, np.float32)}
    state = nc.init_optimizer_state(params, "adam")
    assert nc.adam_update(params, grads, state, 0.1) is params and params["W1"] is W1
    assert params["W1"].dtype == state["m"]["W1"].dtype == state["v"]["W1"].dtype == np.float32


# --------------------------------------------------------------------------- the FAST path
def big_problem(seed=0):
    """Parameters larger than one piece of _elementwise, one of them not C-contiguous."""
    rng = np.random.default_rng(seed)
    params = {"W1": rng.standard_normal((300, 700)).astype(np.float32),      # 210,000 > 65,536
              "b1": rng.standard_normal(700).astype(np.float32),
              "W2": np.asfortranarray(rng.standard_normal((700, 10)).astype(np.float32))}  # not C-contiguous
    assert params["W1"].size > nc._PIECE
    grads = {f"d{key}": rng.standard_normal(P.shape).astype(np.float32) for key, P in params.items()}
    return params, grads


def test_momentum_on_big_arrays_is_bit_for_bit_the_plain_formula(fast):
    params, grads = big_problem()
    expected = copy(params)
    V_expected = {key: np.zeros_like(P) for key, P in params.items()}
    velocity = nc.init_optimizer_state(params, "momentum")
    W1, W2 = params["W1"], params["W2"]
    for _ in range(3):
        nc.momentum_update(params, grads, velocity, 0.05, beta=0.9)
        for key in expected:                                  # the rule on whole arrays
            V_expected[key] = 0.9 * V_expected[key] - 0.05 * grads[f"d{key}"]
            expected[key] = expected[key] + V_expected[key]
    assert params["W1"] is W1 and params["W2"] is W2
    for key in params:                                        # elementwise: exact
        np.testing.assert_array_equal(params[key], expected[key])
        np.testing.assert_array_equal(velocity[key], V_expected[key])


def test_adam_on_big_arrays_is_bit_for_bit_the_plain_formula(fast):
    params, grads = big_problem(1)
    expected = copy(params)
    state = nc.init_optimizer_state(params, "adam")
    M = {key: np.zeros_like(P) for key, P in params.items()}
    S = {key: np.zeros_like(P) for key, P in params.items()}
    for t in (1, 2):
        nc.adam_update(params, grads, state, 0.01)
        for key in expected:
            dP = grads[f"d{key}"]
            M[key] = 0.9 * M[key] + (1 - 0.9) * dP
            S[key] = 0.999 * S[key] + (1 - 0.999) * np.square(dP)
            expected[key] = expected[key] - 0.01 * (M[key] / (1 - 0.9**t)) / (
                np.sqrt(S[key] / (1 - 0.999**t)) + 1e-8)
    for key in params:                                        # elementwise: exact
        np.testing.assert_array_equal(params[key], expected[key])
        np.testing.assert_array_equal(state["m"][key], M[key])


@pytest.mark.parametrize("optimizer, options", [("sgd", {}), ("momentum", {"beta": 0.8}),
                                                ("adam", {"beta1": 0.85, "eps": 1e-7})])
def test_fast_and_plain_optimizers_give_bit_identical_params(monkeypatch, optimizer, options):
    """Every optimizer is elementwise: cutting the arrays into pieces changes no number,
    so after several steps the two paths agree bit for bit (array_equal is right here)."""
    results = {}
    for fast in (True, False):
        monkeypatch.setattr(nc, "FAST", fast)
        params, _ = big_problem(2)
        state = nc.init_optimizer_state(params, optimizer)
        update = nc.get_optimizer(optimizer, **options)
        rng = np.random.default_rng(5)
        for step in range(4):
            grads = {f"d{key}": rng.standard_normal(P.shape).astype(np.float32)
                     for key, P in params.items()}
            update(params, grads, state, 0.01 * (step + 1))
        results[fast] = params, state
    (fast_params, fast_state), (plain_params, plain_state) = results[True], results[False]
    for key in fast_params:
        assert fast_params[key].dtype == np.float32
        np.testing.assert_array_equal(fast_params[key], plain_params[key])
    if optimizer == "momentum":
        for key in fast_state:
            np.testing.assert_array_equal(fast_state[key], plain_state[key])
    if optimizer == "adam":
        assert fast_state["t"] == plain_state["t"] == 4
        for key in fast_params:
            np.testing.assert_array_equal(fast_state["v"][key], plain_state["v"][key])


# --------------------------------------------------------------------------- augmentation
def test_shift_images_moves_each_image_by_its_own_offset():
    rng = np.random.default_rng(0)
    images = np.zeros((50, 28, 28), np.float32)
    images[:, 2:26, 2:26] = rng.random((50, 24, 24))           # empty border: a shift loses nothing
    X = images.reshape(50, 784)
    out = nc.shift_images(X, np.random.default_rng(3), max_shift=2)
    assert out.shape == (50, 784) and out.dtype == np.float32
    dy, dx = np.random.default_rng(3).integers(-2, 3, size=(2, 50))   # the offsets it drew
    assert len(set(zip(dy.tolist(), dx.tolist()))) > 10
    for i in range(50):
        expected = np.roll(images[i], (dy[i], dx[i]), axis=(0, 1))  # down/right positive
        np.testing.assert_array_equal(out[i].reshape(28, 28), expected)
    np.testing.assert_array_equal(nc.shift_images(X, rng, max_shift=0), X)
    as_images = nc.shift_images(X.reshape(50, 28, 28, 1), np.random.default_rng(3), max_shift=2)
    assert as_images.shape == (50, 28, 28, 1)                   # the CNN's layout, same shifts
    np.testing.assert_array_equal(as_images.reshape(50, 784), out)


def test_shift_images_a_seed_repeats_a_generator_does_not():
    X = np.random.default_rng(0).random((20, 784)).astype(np.float32)
    np.testing.assert_array_equal(nc.shift_images(X, 7), nc.shift_images(X, 7))
    rng = np.random.default_rng(7)
    first, second = nc.shift_images(X, rng), nc.shift_images(X, rng)
    np.testing.assert_array_equal(first, nc.shift_images(X, 7))
    assert not np.array_equal(first, second)


def test_shift_images_drops_what_leaves_the_frame():
    X = np.zeros((1, 784), np.float32)
    X[0, 0] = 1.0                                               # top-left pixel
    rng = np.random.default_rng(0)
    outs = [nc.shift_images(X, rng).reshape(28, 28) for _ in range(40)]
    sums = {float(o.sum()) for o in outs}
    assert sums == {0.0, 1.0}                                   # moved up/left: gone; else kept
    assert all(o[:2, :2].sum() == o.sum() for o in outs)        # never further than 1 pixel


@pytest.mark.parametrize("X, max_shift, message", [
    (np.zeros((2, 783), np.float32), 1, r"\(b, 784\) or \(b, 28, 28, 1\)"),
    (np.zeros(784, np.float32), 1, r"\(b, 784\)"),
    ([[0.0] * 784], 1, r"\(b, 784\)"),
    (np.zeros((2, 784), np.float32), -1, "max_shift must be an integer in 0..27"),
    (np.zeros((2, 784), np.float32), 1.5, "max_shift"),
    (np.zeros((2, 784), np.float32), 28, "max_shift"),
])
def test_shift_images_rejects_bad_input(X, max_shift, message):
    with pytest.raises(ValueError, match=message):
        nc.shift_images(X, 0, max_shift)


# --------------------------------------------------------------------------- schedule
def test_cosine_schedule_values():
    assert nc.cosine_schedule(0, 11, 0.2) == pytest.approx(0.2)
    assert nc.cosine_schedule(5, 11, 0.2) == pytest.approx(0.1)        # half way: the mean
    assert nc.cosine_schedule(10, 11, 0.2) == pytest.approx(0.0)       # last step: final_lr
    assert nc.cosine_schedule(10, 11, 0.2, final_lr=0.02) == pytest.approx(0.02)
    # a quarter of the way: (1 + cos(pi/4)) / 2 of the base
    assert nc.cosine_schedule(1, 5, 1.0) == pytest.approx((1 + np.sqrt(0.5)) / 2)
    lrs = [nc.cosine_schedule(s, 100, 0.1) for s in range(100)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))                   # never rises
    assert all(type(lr) is float for lr in lrs)     # an np.float64 would upcast float32 updates


def test_cosine_schedule_warmup():
    lrs = [nc.cosine_schedule(s, 14, 0.4, warmup_steps=4) for s in range(14)]
    np.testing.assert_allclose(lrs[:4], [0.1, 0.2, 0.3, 0.4])
    assert lrs[4] == pytest.approx(0.4) and lrs[-1] == pytest.approx(0.0)


# --------------------------------------------------------------------------- loss_and_grads
def test_loss_and_grads_is_forward_loss_and_backward():
    X, y, params = tiny_problem(m=9)
    loss, grads, A = nc.loss_and_grads(X, y, params)
    cache = nc.forward_propagation(X, params)
    Y = nc.one_hot(y, dtype=X.dtype)
    # the same operations on the same arrays; rtol 1e-12 leaves room for nothing but rounding
    np.testing.assert_allclose(A, cache["A2"], rtol=1e-12)
    assert loss == pytest.approx(nc.cross_entropy(cache["A2"], Y), rel=1e-12)
    expected = nc.backward_propagation(X, Y, params, cache)
    for key in expected:
        np.testing.assert_allclose(grads[key], expected[key], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("smoothing", [0.1, 0.5])
def test_loss_and_grads_with_label_smoothing_matches_finite_differences(smoothing):
    X, y, params = tiny_problem(m=7, hidden=(4,))
    params = {k: v + 0.05 for k, v in params.items()}          # non-zero biases
    Y = (1 - smoothing) * nc.one_hot(y, dtype=X.dtype) + smoothing / 10
    loss, grads, A = nc.loss_and_grads(X, y, params, label_smoothing=smoothing)
    # the same float64 operations on the same arrays: only rounding could differ
    assert loss == pytest.approx(nc.cross_entropy(A, Y), rel=1e-12)   # against the smoothed targets
    plain_loss, plain_grads, _ = nc.loss_and_grads(X, y, params)
    assert abs(loss - plain_loss) > 0.01
    for key, P in params.items():
        numeric = nc.numerical_gradient(lambda: nc.cross_entropy(
            nc.forward_propagation(X, params)["A2"], Y), P)
        # centred differences, eps 1e-6, of a loss ~2 in float64: noise ~1e-16 * 2 / 1e-6
        # ~ 1e-10 per entry, so 1e-8 absolute; the smoothing moves some entries by > 1e-3
        assert np.max(np.abs(grads[f"d{key}"] - numeric)) < 1e-8, key
        assert np.max(np.abs(plain_grads[f"d{key}"] - numeric)) > 1e-4, key


# --------------------------------------------------------------------------- evaluate
def test_evaluate_matches_a_single_forward_pass():
    X, y, params = tiny_problem(m=25)
    loss, acc = nc.evaluate(X, y, params, batch_size=7)        # several chunks
    A = nc.forward_propagation(X, params)["A2"]
    # float64: chunks of 7 vs one product of 25 rows, then a sum in another order: ~1e-16
    assert loss == pytest.approx(nc.cross_entropy(A, nc.one_hot(y, dtype=X.dtype)), rel=1e-12)
    top2 = np.sort(A, axis=1)[:, -2:]
    assert np.all(top2[:, 1] - top2[:, 0] > 1e-9)     # no near-ties: rounding cannot move an argmax
    assert acc == nc.get_accuracy(nc.get_predictions(A), y)


@pytest.mark.parametrize("change, message", [
    ({"y": np.arange(24) % 10}, "X has 25 rows but y has 24 labels"),
    ({"y": np.full(25, 10)}, r"labels from 10 to 10, expected 0\.\.9"),
    ({"y": np.zeros(25)}, "integer labels"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"predict_proba": 1000}, "predict_proba must be a function"),    # evaluate(X, y, params, 1000)
])
def test_evaluate_rejects_bad_labels_and_batch_sizes(change, message):
    X, y, params = tiny_problem(m=25)
    arguments = {"X": X, "y": y, "params": params, **change}
    with pytest.raises(ValueError, match=message):
        nc.evaluate(**arguments)


def test_evaluate_takes_another_predict_proba():
    X, y, params = tiny_problem(m=25)
    calls = []

    def proba(Xb, p):
        calls.append(len(Xb))
        return nc.predict_proba(Xb, p)
    # the same chunks through the same predict_proba: only rounding could differ (float64)
    assert nc.evaluate(X, y, params, proba, batch_size=10) == \
        pytest.approx(nc.evaluate(X, y, params, batch_size=10), rel=1e-12)
    assert calls == [10, 10, 5]


# --------------------------------------------------------------------------- train
def hand_loop(X, y, params, epochs, batch_size, lr, rng, optimizer="momentum", schedule="cosine",
              warmup_steps=0, augment=None, label_smoothing=0.0, **options):
    """What train() does, written out: returns the params and the per-epoch loss/accuracy."""
    rng, state = np.random.default_rng(rng), nc.init_optimizer_state(params, optimizer)
    update = nc.get_optimizer(optimizer, **options)
    steps_per_epoch = -(-len(X) // batch_size)
    step, losses, accuracies = 0, [], []
    for _ in range(epochs):
        loss_sum, correct = 0.0, 0
        for Xb, yb in nc.iterate_minibatches(X, y, batch_size, rng):
            if augment is not None:
                Xb = augment(Xb, rng)
            rate = nc.cosine_schedule(step, epochs * steps_per_epoch, lr, warmup_steps=warmup_steps) \
                if schedule == "cosine" else lr
            loss, grads, A = nc.loss_and_grads(Xb, yb, params, label_smoothing)
            loss_sum += loss * len(yb)
            correct += int(np.sum(A.argmax(axis=1) == yb))
            update(params, grads, state, rate)
            step += 1
        losses.append(loss_sum / len(X))
        accuracies.append(correct / len(X))
    return params, np.array(losses), np.array(accuracies)


# Hand loop and train() run the same float64 operations in the same order; rtol 1e-12
# still allows for the rounding of a BLAS that might choose another kernel, and is far
# below any real difference (a wrong batch, rate or target changes the 3rd digit).
TIGHT = 1e-12


def test_train_applies_augment_to_every_batch_with_its_rng():
    X, y, params = tiny_problem(m=30, d=784, hidden=(4,))
    reference = copy(params)
    nc.train(X, y, params, epochs=2, batch_size=8, learning_rate=0.1, rng=np.random.default_rng(4),
             augment=nc.shift_images)
    hand_loop(X, y, reference, 2, 8, 0.1, np.random.default_rng(4), augment=nc.shift_images)
    for key in params:
        np.testing.assert_allclose(params[key], reference[key], rtol=TIGHT)


def test_train_one_full_batch_sgd_epoch_is_one_gradient_descent_step():
    X, y, params = tiny_problem()
    expected, _ = nc.gradient_descent(X, y, 0.5, 1, params=copy(params), progress=False)
    trained, history = nc.train(X, y, params, epochs=1, batch_size=len(X), learning_rate=0.5,
                                optimizer="sgd", rng=0, schedule=None)
    for key in params:
        np.testing.assert_allclose(trained[key], expected[key], rtol=TIGHT)
    assert history["lr"][0] == 0.5


@pytest.mark.parametrize("optimizer, options", [("momentum", {}), ("momentum", {"beta": 0.5}),
                                                ("adam", {"beta2": 0.99}), ("sgd", {})])
def test_train_matches_a_hand_written_loop(optimizer, options):
    X, y, params = tiny_problem(m=30, hidden=(6, 4))
    reference = copy(params)
    _, history = nc.train(X, y, params, epochs=2, batch_size=8, learning_rate=0.03,
                          optimizer=optimizer, rng=np.random.default_rng(5), **options)
    _, losses, accuracies = hand_loop(X, y, reference, 2, 8, 0.03, np.random.default_rng(5),
                                      optimizer, **options)
    for key in params:
        np.testing.assert_allclose(params[key], reference[key], rtol=TIGHT)
    np.testing.assert_allclose(history["loss"], losses, rtol=TIGHT)     # mean over the epoch's batches
    # accuracies count argmaxes of the same float64 probabilities: the same counts
    np.testing.assert_array_equal(history["accuracy"], accuracies)


def test_train_with_label_smoothing_warmup_and_augment_matches_the_hand_loop():
    X, y, params = tiny_problem(m=30, d=784, hidden=(8,))
    reference = copy(params)
    kwargs = dict(schedule="cosine", warmup_steps=3, augment=nc.shift_images, label_smoothing=0.1)
    _, history = nc.train(X, y, params, 3, 8, 0.05, rng=11, **kwargs)
    _, losses, _ = hand_loop(X, y, reference, 3, 8, 0.05, 11, **kwargs)
    for key in params:
        np.testing.assert_allclose(params[key], reference[key], rtol=TIGHT)
    np.testing.assert_allclose(history["loss"], losses, rtol=TIGHT)     # against the smoothed targets


def record_rates(monkeypatch):
    """Replace the "sgd" entry of the registry by one that records each step's rate."""
    rates = []

    def recording_sgd(params, grads, state, learning_rate):
        rates.append(learning_rate)
        return params
    monkeypatch.setitem(nc.OPTIMIZERS, "sgd", recording_sgd)
    return rates


def test_train_warmup_with_and_without_cosine(monkeypatch):
    X, y, params = tiny_problem(m=40)
    rates = record_rates(monkeypatch)
    _, history = nc.train(X, y, params, 2, 10, 0.4, optimizer="sgd", rng=0, schedule=None,
                          warmup_steps=3)
    assert len(rates) == 8 and all(type(r) is float for r in rates)
    np.testing.assert_allclose(rates, [0.4 / 3, 0.8 / 3, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4], rtol=1e-15)
    rates.clear()
    _, history = nc.train(X, y, params, 2, 10, 0.4, optimizer="sgd", rng=0, warmup_steps=3)
    assert rates == [nc.cosine_schedule(s, 8, 0.4, warmup_steps=3) for s in range(8)]   # the same calls
    assert rates[2] == pytest.approx(0.4, rel=1e-15) and rates[-1] == 0.0
    np.testing.assert_array_equal(history["lr"], [rates[3], rates[7]])          # each epoch's last step


@pytest.mark.parametrize("optimizer, lr", [("sgd", 1.0), ("momentum", 0.1), ("adam", 0.03)])
def test_train_lowers_the_loss_and_fills_the_history(optimizer, lr):
    X, y, params = tiny_problem(m=60, hidden=(16,), dtype=np.float32)
    X_val, y_val = X[:20], y[:20]
    before, _ = nc.evaluate(X, y, params)
    params, history = nc.train(X, y, params, epochs=40, batch_size=16, learning_rate=lr,
                               optimizer=optimizer, rng=0, X_val=X_val, y_val=y_val)
    after, acc = nc.evaluate(X, y, params)
    assert after < 0.25 * before and acc > 0.85
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert all(h.shape == (40,) for h in history.values())
    assert np.all(np.isfinite(history["val_loss"])) and np.all(history["seconds"] > 0)
    assert history["loss"][-1] < history["loss"][0]
    assert history["lr"][-1] == 0.0                                    # cosine reaches 0 exactly
    assert params["W1"].dtype == np.float32
    # val_* are evaluate() on the params after each epoch: the last one is the final params'
    # the same evaluate() call on the same params: only rounding could differ (float32 sums)
    assert (history["val_loss"][-1], history["val_accuracy"][-1]) == \
        pytest.approx(nc.evaluate(X_val, y_val, params), rel=1e-6)


def test_train_seconds_count_training_only():
    X, y, params = tiny_problem(m=20)
    pause = 0.4

    def slow_validation(Xv, p, batch_size=10000):
        if len(Xv) > 1:                        # train's own shape check passes one row
            time.sleep(pause)
        return nc.predict_proba(Xv, p)
    start = time.perf_counter()
    _, history = nc.train(X, y, params, 3, 10, 0.1, rng=0, X_val=X[:5], y_val=y[:5],
                          predict_proba=slow_validation)
    wall = time.perf_counter() - start
    assert wall > 3 * pause                                # the validation did run each epoch
    assert np.all(history["seconds"] > 0) and np.all(history["seconds"] < pause)
    assert history["seconds"].sum() < wall - 3 * pause + 1e-3


def test_train_progress_lines(capsys):
    X, y, params = tiny_problem()
    _, history = nc.train(X, y, params, 2, 16, 0.1, rng=0, progress=True)
    assert np.all(np.isnan(history["val_loss"])) and np.all(np.isnan(history["val_accuracy"]))
    lines = capsys.readouterr().out.splitlines()
    number = r"\d\.\d{4}"
    assert len(lines) == 2
    for epoch, line in enumerate(lines, start=1):
        assert re.fullmatch(
            rf"epoch   {epoch}/2  loss {number}  accuracy {number}  \d+\.\d s", line), line
    nc.train(X, y, params, 12, 16, 0.1, rng=0, X_val=X[:10], y_val=y[:10], progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 12
    assert re.fullmatch(rf"epoch  12/12  loss {number}  accuracy {number}  "
                        rf"val_loss {number}  val_accuracy {number}  \d+\.\d s", lines[-1]), lines[-1]
    nc.train(X, y, params, 1, 16, 0.1, rng=0)
    assert capsys.readouterr().out == ""                   # silent by default


def test_train_is_bit_identical_for_a_fixed_seed():
    """Two runs of the same code on the same machine: every number the same, bit for bit."""
    X, y, start = tiny_problem(m=50, d=784, hidden=(16, 8), dtype=np.float32)
    runs = []
    for _ in range(2):
        params = copy(start)
        _, history = nc.train(X, y, params, 3, 16, 0.01, optimizer="adam", rng=3, X_val=X[:10],
                              y_val=y[:10], warmup_steps=2, augment=nc.shift_images,
                              label_smoothing=0.1)
        runs.append((params, history))
    (p1, h1), (p2, h2) = runs
    for key in p1:
        np.testing.assert_array_equal(p1[key], p2[key])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        np.testing.assert_array_equal(h1[key], h2[key])
    assert not np.array_equal(p1["W1"], start["W1"])       # it did train


def test_train_takes_another_network_through_loss_and_grads_and_predict_proba():
    """train() only talks to the network through the two functions: a network on images
    (m, 28, 28, 1) that flattens them gives the MLP's results on (m, 784)."""
    X, y, params = tiny_problem(m=30, d=784, hidden=(8,))
    reference = copy(params)
    images = X.reshape(30, 28, 28, 1)
    calls = []

    def image_loss_and_grads(Xb, yb, p, label_smoothing=0.0):
        calls.append(Xb.shape)
        return nc.loss_and_grads(Xb.reshape(len(Xb), 784), yb, p, label_smoothing)

    def image_predict_proba(Xb, p, batch_size=1000):
        return nc.predict_proba(Xb.reshape(len(Xb), 784), p)
    _, h_images = nc.train(images, y, params, 2, 8, 0.05, rng=1, X_val=images[:9], y_val=y[:9],
                           augment=nc.shift_images, label_smoothing=0.1,
                           loss_and_grads=image_loss_and_grads, predict_proba=image_predict_proba)
    _, h_flat = nc.train(X, y, reference, 2, 8, 0.05, rng=1, X_val=X[:9], y_val=y[:9],
                         augment=nc.shift_images, label_smoothing=0.1)
    assert calls[0] == (8, 28, 28, 1) and len(calls) == 8
    for key in params:
        np.testing.assert_allclose(params[key], reference[key], rtol=TIGHT)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(h_images[key], h_flat[key], rtol=TIGHT)


def bad_train_call(**change):
    X, y, params = tiny_problem(m=20)
    return {**dict(X=X, y=y, params=params, epochs=2, batch_size=8, learning_rate=0.1), **change}


@pytest.mark.parametrize("change, message", [
    ({"epochs": 0}, "train: epochs must be an integer >= 1, got 0"),
    ({"epochs": 1.5}, "epochs must be an integer"),
    ({"epochs": True}, "epochs must be an integer"),
    ({"batch_size": 0}, "train: batch_size must be an integer >= 1, got 0"),
    ({"batch_size": -8}, "batch_size"),
    ({"learning_rate": 0}, "train: learning_rate must be a finite number > 0, got 0"),
    ({"learning_rate": -0.1}, "learning_rate"),
    ({"learning_rate": float("nan")}, "learning_rate"),
    ({"learning_rate": float("inf")}, "learning_rate"),
    ({"learning_rate": "0.1"}, "learning_rate"),
    ({"optimizer": "rmsprop"}, "optimizer must be one of"),
    ({"optimizer": "sgd", "beta": 0.9}, "optimizer 'sgd' takes no option beta"),
    ({"optimizer": "momentum", "beta": 1.5}, "beta must be a number in"),
    ({"optimizer": "adam", "eps": 0}, "eps must be a number > 0"),
    ({"momentum": 0.9}, "takes no option momentum"),
    ({"schedule": "linear"}, "schedule must be None or 'cosine'"),
    ({"warmup_steps": -1}, "warmup_steps must be an integer >= 0"),
    ({"warmup_steps": 2.5}, "warmup_steps"),
    ({"label_smoothing": 1.0}, r"label_smoothing must be a number in \[0, 1\)"),
    ({"label_smoothing": -0.1}, "label_smoothing"),
    ({"label_smoothing": float("nan")}, "label_smoothing"),
    ({"augment": "shift"}, "augment must be None or a function"),
    ({"loss_and_grads": None}, "loss_and_grads must be a function"),
    ({"predict_proba": 3}, "predict_proba must be a function"),
    ({"rng": "seed"}, "rng must be"),
    ({"X": np.zeros((0, 6))}, r"train: X \(0, 6\) holds no samples \(m = 0\)"),
    ({"X": np.full((20, 6), 255, np.uint8)}, "train: X must be a float array"),
    ({"X": np.full((20, 6), 255.0)}, r"train: X holds values from 255 to 255, expected .* \[0, 1\]"),
    ({"X": np.full((20, 6), np.nan)}, "train: X holds NaN or infinite values"),
    ({"X": np.zeros((20, 5))}, r"shape \(m, 6\)"),                 # does not fit params
    ({"y": np.arange(19) % 10}, "train: X has 20 rows but y has 19 labels"),
    ({"y": np.zeros(20)}, "train: y must be integer labels"),
    ({"y": np.full(20, 10)}, r"train: y holds labels from 10 to 10, expected 0\.\.9"),
    ({"y": -np.ones(20, int)}, r"expected 0\.\.9"),
    ({"X_val": np.zeros((5, 6))}, "give X_val and y_val together"),
    ({"y_val": np.zeros(5, int)}, "give X_val and y_val together"),
    ({"X_val": np.zeros((5, 6)), "y_val": np.zeros(4, int)}, "X_val has 5 rows but y_val has 4"),
    ({"X_val": np.zeros((5, 6)), "y_val": np.full(5, 11)}, "y_val holds labels from 11"),
    ({"X_val": np.full((5, 6), 2.0), "y_val": np.zeros(5, int)}, r"X_val holds values .* \[0, 1\]"),
    ({"X_val": np.zeros((5, 7)), "y_val": np.zeros(5, int)}, r"shape \(m, 6\)"),
    ({"X_val": np.zeros((0, 6)), "y_val": np.zeros(0, int)}, "X_val .* holds no samples"),
])
def test_train_checks_every_argument_before_the_first_step(change, message):
    arguments = bad_train_call(**change)
    before = copy(arguments["params"])
    calls = []

    def spy(*args, **kwargs):
        calls.append(1)
        return nc.loss_and_grads(*args, **kwargs)
    arguments.setdefault("loss_and_grads", spy)
    with pytest.raises(ValueError, match=message):
        nc.train(**arguments)
    assert calls == []                                     # refused before any step
    for key in before:
        np.testing.assert_array_equal(arguments["params"][key], before[key])


@pytest.mark.parametrize("change, message", [
    ({"W1": np.zeros((6, 4))}, "do not fit"),
    ({"W2": None}, r"params must hold W1, b1, \.\.\., WL, bL"),
    ({"b1": np.full(5, np.nan)}, "b1 holds NaN or infinite"),
    ({"W1": np.zeros((6, 5), np.int64)}, "W1 has dtype int64"),
])
def test_train_checks_the_params_before_the_first_step(change, message):
    arguments = bad_train_call()
    params = {**arguments["params"], **change}
    arguments["params"] = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        nc.train(**arguments)


def test_train_stops_when_the_loss_is_not_finite():
    X, y, params = tiny_problem()
    calls = []

    def diverging(Xb, yb, p, label_smoothing=0.0):          # as a run that blew up would report
        calls.append(1)
        loss, grads, A = nc.loss_and_grads(Xb, yb, p, label_smoothing)
        return (np.nan if len(calls) == 7 else loss), grads, A
    with pytest.raises(ValueError, match="loss became nan in epoch 2, step 7") as info:
        nc.train(X, y, params, 3, 8, 0.1, rng=0, loss_and_grads=diverging)
    assert "lower the learning rate" in str(info.value) and len(calls) == 7


def test_train_stops_a_real_divergence():
    X, y, params = tiny_problem(dtype=np.float32)
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="loss became (nan|inf)"):
        nc.train(X, y, params, 20, 40, 1e30, optimizer="momentum", rng=0, schedule=None)


def test_numpy_scalars_as_rates_and_options_train_like_python_floats():
    """np.float64 hyperparameters would compute float32 updates in float64; train() and
    get_optimizer() take them as Python floats, as the lessons write them."""
    X, y, start = tiny_problem(m=20, dtype=np.float32)
    numpy_scalars, python_floats = copy(start), copy(start)
    nc.train(X, y, numpy_scalars, 2, 8, np.float64(0.1), rng=0, beta=np.float64(0.8),
             label_smoothing=np.float64(0.1))
    nc.train(X, y, python_floats, 2, 8, 0.1, rng=0, beta=0.8, label_smoothing=0.1)
    for key in start:
        assert numpy_scalars[key].dtype == np.float32
        # the same code on the same numbers once the scalars are converted: bit for bit
        np.testing.assert_array_equal(numpy_scalars[key], python_floats[key])
