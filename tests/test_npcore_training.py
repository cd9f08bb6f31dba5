"""Unit tests for npcore's mini-batches, optimizers, schedule and train() (lesson 08).

Updates are checked against values worked out by hand, Adam's bias correction
included; no test here is timed.
"""
import numpy as np
import pytest

import npcore as nc


def tiny_problem(m=40, d=6, hidden=(5,), seed=0, dtype=np.float64):
    """X (m, d), learnable labels y (m,) = argmax of a fixed linear map, fresh He params."""
    rng = np.random.default_rng(seed)
    X = rng.random((m, d)).astype(dtype)
    y = np.argmax((X - 0.5) @ rng.standard_normal((d, 10)), axis=1)
    params = nc.init_params(d, hidden, 10, rng=rng, method="he", dtype=dtype)
    return X, y, params


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


def test_minibatches_shuffle_afresh_on_each_call_and_follow_the_seed():
    X, y = np.zeros((50, 2), np.float32), np.arange(50)
    rng = np.random.default_rng(3)
    first = np.concatenate([yb for _, yb in nc.iterate_minibatches(X, y, 8, rng)])
    second = np.concatenate([yb for _, yb in nc.iterate_minibatches(X, y, 8, rng)])
    assert not np.array_equal(first, second)          # a new order each epoch
    assert not np.array_equal(first, np.arange(50))   # actually shuffled
    again = np.concatenate([yb for _, yb in nc.iterate_minibatches(X, y, 8, np.random.default_rng(3))])
    np.testing.assert_array_equal(first, again)       # same seed, same order


def test_minibatches_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="3 rows but y has 2"):
        list(nc.iterate_minibatches(np.zeros((3, 2)), np.zeros(2, int), 2, 0))


# --------------------------------------------------------------------------- optimizer state
def test_init_optimizer_state_shapes_and_methods():
    params = {"W1": np.ones((3, 2), np.float32), "b1": np.ones(2, np.float32)}
    assert nc.init_optimizer_state(params, "sgd") == {}
    velocity = nc.init_optimizer_state(params, "momentum")
    assert set(velocity) == {"W1", "b1"}
    assert velocity["W1"].shape == (3, 2) and velocity["W1"].dtype == np.float32
    assert not velocity["W1"].any()
    adam = nc.init_optimizer_state(params, "adam")
    assert adam["t"] == 0 and set(adam["m"]) == set(adam["v"]) == {"W1", "b1"}
    assert adam["m"]["W1"] is not adam["v"]["W1"]
    with pytest.raises(ValueError, match="'sgd', 'momentum' or 'adam'"):
        nc.init_optimizer_state(params, "rmsprop")


# --------------------------------------------------------------------------- momentum
def test_momentum_two_steps_by_hand():
    params = {"W1": np.array([[1.0, -2.0]]), "b1": np.array([0.5, 0.0])}
    W1, b1 = params["W1"], params["b1"]
    velocity = nc.init_optimizer_state(params, "momentum")
    grads = {"dW1": np.array([[0.5, -1.0]]), "db1": np.array([2.0, 0.0])}
    out = nc.momentum_update(params, grads, velocity, learning_rate=0.1, beta=0.9)
    assert out is params and params["W1"] is W1 and params["b1"] is b1     # in place
    # step 1: V = 0.9*0 - 0.1*g = -0.1 g;  P = P + V
    np.testing.assert_allclose(velocity["W1"], [[-0.05, 0.1]])
    np.testing.assert_allclose(params["W1"], [[0.95, -1.9]])
    np.testing.assert_allclose(params["b1"], [0.3, 0.0])
    # step 2, same gradient: V = 0.9*(-0.05) - 0.05 = -0.095, P = 0.95 - 0.095 = 0.855
    nc.momentum_update(params, grads, velocity, learning_rate=0.1, beta=0.9)
    np.testing.assert_allclose(velocity["W1"], [[-0.095, 0.19]])
    np.testing.assert_allclose(params["W1"], [[0.855, -1.71]])
    np.testing.assert_allclose(params["b1"], [0.5 - 0.2 - 0.38, 0.0])


def test_momentum_with_beta_zero_is_plain_gradient_descent():
    X, y, params = tiny_problem()
    Y = nc.one_hot(y, dtype=X.dtype)
    grads = nc.backward_propagation(X, Y, params, nc.forward_propagation(X, params))
    expected = nc.update_params(params, grads, 0.3)
    nc.momentum_update(params, grads, nc.init_optimizer_state(params, "momentum"), 0.3, beta=0.0)
    for key in params:
        np.testing.assert_allclose(params[key], expected[key], rtol=1e-12)


def test_momentum_keeps_float32():
    params = {"W1": np.ones((2, 2), np.float32), "b1": np.ones(2, np.float32)}
    grads = {"dW1": np.ones((2, 2), np.float32), "db1": np.ones(2, np.float32)}
    velocity = nc.init_optimizer_state(params, "momentum")
    nc.momentum_update(params, grads, velocity, 0.1)
    assert params["W1"].dtype == velocity["W1"].dtype == np.float32


# --------------------------------------------------------------------------- Adam
def test_adam_first_steps_by_hand_with_bias_correction():
    params = {"W1": np.array([[1.0]]), "b1": np.array([0.0])}
    state = nc.init_optimizer_state(params, "adam")
    g1 = {"dW1": np.array([[0.2]]), "db1": np.array([-4.0])}
    nc.adam_update(params, g1, state, learning_rate=0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    assert state["t"] == 1
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


def test_adam_first_step_moves_every_weight_by_about_the_learning_rate():
    # Bias correction makes the very first step lr * g/|g|, whatever the gradient's size.
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((4, 3)), "b1": np.zeros(3)}
    grads = {"dW1": rng.standard_normal((4, 3)) * 1e-3, "db1": np.array([5.0, -0.5, 2.0])}
    before = {key: P.copy() for key, P in params.items()}
    nc.adam_update(params, grads, nc.init_optimizer_state(params, "adam"), 0.01)
    for key in params:
        np.testing.assert_allclose(params[key] - before[key], -0.01 * np.sign(grads[f"d{key}"]),
                                   rtol=1e-4)


def test_adam_keeps_float32_and_updates_in_place():
    params = {"W1": np.ones((2, 2), np.float32), "b1": np.ones(2, np.float32)}
    W1 = params["W1"]
    grads = {"dW1": np.full((2, 2), 0.5, np.float32), "db1": np.ones(2, np.float32)}
    state = nc.init_optimizer_state(params, "adam")
    assert nc.adam_update(params, grads, state, 0.1) is params and params["W1"] is W1
    assert params["W1"].dtype == state["m"]["W1"].dtype == state["v"]["W1"].dtype == np.float32


def big_problem(seed=0):
    """Parameters large enough to be cut into pieces and spread over threads."""
    rng = np.random.default_rng(seed)
    params = {"W1": rng.standard_normal((300, 700)).astype(np.float32),      # 210,000 numbers
              "b1": rng.standard_normal(700).astype(np.float32),
              "W2": np.asfortranarray(rng.standard_normal((700, 10)).astype(np.float32))}  # not C-contiguous
    grads = {f"d{key}": rng.standard_normal(P.shape).astype(np.float32) for key, P in params.items()}
    return params, grads


def test_momentum_on_big_arrays_is_bit_for_bit_the_plain_formula():
    params, grads = big_problem()
    expected = {key: P.copy() for key, P in params.items()}
    V_expected = {key: np.zeros_like(P) for key, P in params.items()}
    velocity = nc.init_optimizer_state(params, "momentum")
    W1, W2 = params["W1"], params["W2"]
    for _ in range(3):
        nc.momentum_update(params, grads, velocity, 0.05, beta=0.9)
        for key in expected:                                  # the rule on whole arrays
            V_expected[key] = 0.9 * V_expected[key] - 0.05 * grads[f"d{key}"]
            expected[key] = expected[key] + V_expected[key]
    assert params["W1"] is W1 and params["W2"] is W2
    for key in params:
        np.testing.assert_array_equal(params[key], expected[key])
        np.testing.assert_array_equal(velocity[key], V_expected[key])


def test_adam_on_big_arrays_is_bit_for_bit_the_plain_formula():
    params, grads = big_problem(1)
    expected = {key: P.copy() for key, P in params.items()}
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
    for key in params:
        np.testing.assert_array_equal(params[key], expected[key])
        np.testing.assert_array_equal(state["m"][key], M[key])


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


def test_shift_images_drops_what_leaves_the_frame():
    X = np.zeros((1, 784), np.float32)
    X[0, 0] = 1.0                                               # top-left pixel
    rng = np.random.default_rng(0)
    outs = [nc.shift_images(X, rng).reshape(28, 28) for _ in range(40)]
    sums = {float(o.sum()) for o in outs}
    assert sums == {0.0, 1.0}                                   # moved up/left: gone; else kept
    assert all(o[:2, :2].sum() == o.sum() for o in outs)        # never further than 1 pixel


def test_train_applies_augment_to_every_batch_with_its_rng():
    X, y, params = tiny_problem(m=30, d=784, hidden=(4,))
    reference = {k: v.copy() for k, v in params.items()}
    nc.train(X, y, params, epochs=2, batch_size=8, learning_rate=0.1, rng=np.random.default_rng(4),
             augment=nc.shift_images)
    rng, velocity, step = np.random.default_rng(4), nc.init_optimizer_state(reference), 0
    for _ in range(2):
        for Xb, yb in nc.iterate_minibatches(X, y, 8, rng):
            Xb = nc.shift_images(Xb, rng)
            cache = nc.forward_propagation(Xb, reference)
            grads = nc.backward_propagation(Xb, nc.one_hot(yb, dtype=X.dtype), reference, cache)
            nc.momentum_update(reference, grads, velocity, nc.cosine_schedule(step, 8, 0.1))
            step += 1
    for key in params:
        np.testing.assert_allclose(params[key], reference[key], rtol=1e-12)


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


# --------------------------------------------------------------------------- evaluate and train
def test_evaluate_matches_a_single_forward_pass():
    X, y, params = tiny_problem(m=25)
    loss, acc = nc.evaluate(X, y, params, batch_size=7)        # several chunks
    A = nc.forward_propagation(X, params)["A2"]
    assert loss == pytest.approx(nc.cross_entropy(A, nc.one_hot(y, dtype=X.dtype)), rel=1e-12)
    assert acc == nc.get_accuracy(nc.get_predictions(A), y)


def test_train_one_full_batch_sgd_epoch_is_one_gradient_descent_step():
    X, y, params = tiny_problem()
    expected, _ = nc.gradient_descent(X, y, 0.5, 1, params={k: v.copy() for k, v in params.items()},
                                      progress=False)
    trained, history = nc.train(X, y, params, epochs=1, batch_size=len(X), learning_rate=0.5,
                                optimizer="sgd", rng=0, schedule=None)
    for key in params:
        np.testing.assert_allclose(trained[key], expected[key], rtol=1e-12)
    assert history["lr"][0] == 0.5


def test_train_matches_a_hand_written_momentum_loop():
    X, y, params = tiny_problem(m=30, hidden=(6, 4))
    reference = {k: v.copy() for k, v in params.items()}
    nc.train(X, y, params, epochs=2, batch_size=8, learning_rate=0.3, optimizer="momentum",
             rng=np.random.default_rng(5), schedule="cosine")
    rng, velocity, step = np.random.default_rng(5), nc.init_optimizer_state(reference), 0
    for _ in range(2):
        for Xb, yb in nc.iterate_minibatches(X, y, 8, rng):
            cache = nc.forward_propagation(Xb, reference)
            grads = nc.backward_propagation(Xb, nc.one_hot(yb, dtype=X.dtype), reference, cache)
            lr = nc.cosine_schedule(step, 2 * 4, 0.3)
            nc.momentum_update(reference, grads, velocity, lr)
            step += 1
    for key in params:
        np.testing.assert_allclose(params[key], reference[key], rtol=1e-12)


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
    assert history["lr"][-1] == pytest.approx(0.0, abs=1e-12)          # cosine reaches 0
    assert params["W1"].dtype == np.float32


def test_train_without_validation_leaves_nan_and_prints_when_asked(capsys):
    X, y, params = tiny_problem()
    _, history = nc.train(X, y, params, 2, 16, 0.1, rng=0, progress=True)
    assert np.all(np.isnan(history["val_loss"]))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch   1  loss ")


def test_train_stops_when_the_loss_is_not_finite():
    X, y, params = tiny_problem()
    params["W1"][0, 0] = np.nan                      # as a diverged run would leave it
    with pytest.raises(ValueError, match="loss became nan in epoch 0"):
        nc.train(X, y, params, 3, 8, 0.1, optimizer="sgd", rng=0, schedule=None)
