"""Unit tests for npcore's regularisation (lesson 09): weight decay (L2) and dropout.

Gradients are checked against centred finite differences in float64 with the course's
rule (eps 1e-5 for a mean loss over a batch; relative error below 1e-7, or absolute
error below 1e-10 for entries too small to carry seven digits). Dropout is checked with
its mask held fixed: the loss is then a smooth function of the parameters again.
"""
import numpy as np
import pytest

import npcore as nc


def tiny_problem(m=12, d=7, hidden=(6, 5), seed=0, dtype=np.float64):
    """X (m, d) in [0, 1), labels y (m,) in 0..9, He weights of a net d -> hidden -> 10."""
    rng = np.random.default_rng(seed)
    X = rng.random((m, d)).astype(dtype)
    y = rng.integers(0, 10, size=m)
    params = nc.init_params(d, hidden, 10, rng=rng, init="he", dtype=dtype)
    for key in params:                # non-zero biases: a row whose units are all dropped
        if key.startswith("b"):       # would otherwise sit exactly on ReLU's kink, Z = b = 0
            params[key] = (0.1 * rng.standard_normal(params[key].shape)).astype(dtype)
    return X, y, params


def copy(params):
    return {key: P.copy() for key, P in params.items()}


def assert_gradients_agree(loss, params, grads, eps=1e-5):
    """The course's rule: relative error < 1e-7, or absolute error < 1e-10, per entry."""
    for key, P in params.items():
        numeric = nc.numerical_gradient(loss, P, eps=eps)
        analytic = grads[f"d{key}"]
        absolute = np.abs(numeric - analytic)
        relative = absolute / np.maximum(np.abs(numeric) + np.abs(analytic), 1e-12)
        bad = (relative >= 1e-7) & (absolute >= 1e-10)
        assert not bad.any(), (f"d{key}: relative error {nc.relative_error(numeric, analytic):.1e}, "
                               f"largest absolute error {absolute.max():.1e}")


# --------------------------------------------------------------------------- weight decay
def test_weight_decay_gradient_matches_finite_differences():
    X, y, params = tiny_problem()
    lam = 0.03
    loss, grads, _ = nc.loss_and_grads(X, y, params, weight_decay=lam)
    assert_gradients_agree(lambda: nc.loss_and_grads(X, y, params, weight_decay=lam)[0], params, grads)


def test_weight_decay_adds_half_lambda_squared_weights_and_lambda_w_to_weights_only():
    X, y, params = tiny_problem()
    lam = 0.1
    plain_loss, plain_grads, plain_A = nc.loss_and_grads(X, y, params)
    loss, grads, A = nc.loss_and_grads(X, y, params, weight_decay=lam)
    penalty = 0.5 * lam * sum(np.sum(params[f"W{l}"] ** 2) for l in (1, 2, 3))
    # the same float64 sums in another order: a few ulp of a number near 2
    assert loss == pytest.approx(plain_loss + penalty, rel=1e-14)
    np.testing.assert_array_equal(A, plain_A)
    for l in (1, 2, 3):
        np.testing.assert_allclose(grads[f"dW{l}"], plain_grads[f"dW{l}"] + lam * params[f"W{l}"],
                                   rtol=1e-15, atol=1e-17)                # one addition
        np.testing.assert_array_equal(grads[f"db{l}"], plain_grads[f"db{l}"])   # biases: no decay


def test_weight_decay_with_sgd_shrinks_every_weight_by_one_minus_alpha_lambda():
    """P - a (dP + l P) = (1 - a l) P - a dP: L2 is decoupled weight decay for plain SGD."""
    X, y, params = tiny_problem()
    alpha, lam = 0.2, 0.05
    _, plain_grads, _ = nc.loss_and_grads(X, y, params)
    _, grads, _ = nc.loss_and_grads(X, y, params, weight_decay=lam)
    stepped = nc.sgd_update(copy(params), grads, {}, alpha)
    for l in (1, 2, 3):
        W = params[f"W{l}"]
        np.testing.assert_allclose(stepped[f"W{l}"], (1 - alpha * lam) * W - alpha * plain_grads[f"dW{l}"],
                                   rtol=1e-13, atol=1e-15)               # float64, a few roundings


def test_weight_decay_keeps_float32():
    X, y, params = tiny_problem(dtype=np.float32)
    loss, grads, _ = nc.loss_and_grads(X, y, params, weight_decay=1e-3)
    assert isinstance(loss, float)
    assert all(g.dtype == np.float32 for g in grads.values())


# --------------------------------------------------------------------------- dropout
def test_dropout_masks_are_zero_or_one_over_keep_and_reach_only_hidden_layers():
    X, y, params = tiny_problem(m=200)
    cache = nc.forward_propagation(X, params, dropout=0.25, rng=0)
    assert set(cache) == {"Z1", "A1", "Z2", "A2", "Z3", "A3", "D1", "D2"}
    for l in (1, 2):
        D = cache[f"D{l}"]
        assert D.shape == cache[f"A{l}"].shape and D.dtype == X.dtype
        assert set(np.unique(D).tolist()) <= {0.0, 1 / 0.75}
        np.testing.assert_array_equal(cache[f"A{l}"], nc.relu(cache[f"Z{l}"]) * D)
    np.testing.assert_allclose(cache["A3"].sum(axis=1), 1.0, rtol=1e-12)   # the output is never dropped


def test_dropout_keeps_the_mean_activation():
    """Inverted dropout: E[A * D] = A. Over 400 x 500 entries of keep 0.5 the mean of D is
    1 within a few standard errors (one entry: std 1; the mean of 200,000: 0.0022)."""
    rng = np.random.default_rng(1)
    X = rng.random((400, 20))
    params = nc.init_params(20, 500, 10, rng=2, init="he", dtype=np.float64)
    plain = nc.forward_propagation(X, params)["A1"]
    dropped = nc.forward_propagation(X, params, dropout=0.5, rng=3)
    D = dropped["D1"]
    assert abs(D.mean() - 1) < 0.01                       # 4.5 standard errors
    assert abs((D == 0).mean() - 0.5) < 0.005             # the fraction dropped is p
    assert abs(dropped["A1"].mean() / plain.mean() - 1) < 0.02


def test_dropout_gradient_with_a_fixed_mask_matches_finite_differences():
    X, y, params = tiny_problem()
    Y = nc.one_hot(y, dtype=X.dtype)
    cache = nc.forward_propagation(X, params, dropout=0.4, rng=5)
    masks = {key: D for key, D in cache.items() if key.startswith("D")}
    assert len(masks) == 2 and any((D == 0).any() for D in masks.values())
    grads = nc.backward_propagation(X, Y, params, cache)

    def loss_with_the_same_masks():
        A = X
        for l in (1, 2, 3):
            Z = A @ params[f"W{l}"] + params[f"b{l}"]
            A = nc.relu(Z) * masks[f"D{l}"] if l < 3 else nc.softmax(Z)
        return nc.cross_entropy(A, Y)
    assert loss_with_the_same_masks() == pytest.approx(nc.cross_entropy(cache["A3"], Y), rel=1e-14)
    assert_gradients_agree(loss_with_the_same_masks, params, grads)


def test_dropout_and_weight_decay_together_through_loss_and_grads():
    """A seed fixes the masks, so the loss is a smooth function of the params again."""
    X, y, params = tiny_problem()
    kw = dict(weight_decay=0.02, dropout=0.3, rng=11)
    _, grads, _ = nc.loss_and_grads(X, y, params, **kw)
    assert_gradients_agree(lambda: nc.loss_and_grads(X, y, params, **kw)[0], params, grads)


def test_same_seed_same_masks_other_seed_other_masks():
    X, _, params = tiny_problem(m=50)
    a = nc.forward_propagation(X, params, dropout=0.5, rng=7)
    b = nc.forward_propagation(X, params, dropout=0.5, rng=7)
    c = nc.forward_propagation(X, params, dropout=0.5, rng=8)
    for l in (1, 2):
        np.testing.assert_array_equal(a[f"D{l}"], b[f"D{l}"])
    assert not np.array_equal(a["D1"], c["D1"])
    rng = np.random.default_rng(7)                        # a Generator: new masks each call
    first, second = (nc.forward_propagation(X, params, dropout=0.5, rng=rng)["D1"] for _ in range(2))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, a["D1"])


def test_predictions_never_drop():
    X, _, params = tiny_problem(m=30, dtype=np.float32)
    X = X.astype(np.float32)
    np.testing.assert_array_equal(nc.predict_proba(X, params), nc.forward_propagation(X, params)["A3"])


# --------------------------------------------------------------------------- defaults: bit for bit
def test_defaults_change_nothing_bit_for_bit():
    X, y, params = tiny_problem(m=40, dtype=np.float32)
    explicit = nc.loss_and_grads(X, y, params, label_smoothing=0.0, weight_decay=0.0, dropout=0.0, rng=3)
    default = nc.loss_and_grads(X, y, params)
    assert explicit[0] == default[0]
    np.testing.assert_array_equal(explicit[2], default[2])
    for key in default[1]:
        np.testing.assert_array_equal(explicit[1][key], default[1][key])
    cache = nc.forward_propagation(X, params, dropout=0.0, rng=3)
    assert not any(key.startswith("D") for key in cache)
    # train: zeros are not passed on, so the same run as before, and a loss_and_grads
    # that knows nothing of regularisation still works
    runs = []
    for extra in ({}, {"weight_decay": 0.0, "dropout": 0.0}):
        p = copy(params)
        _, history = nc.train(X, y, p, 2, 16, 0.05, rng=1, X_val=X[:8], y_val=y[:8], **extra)
        runs.append((p, history))
    for key in params:
        np.testing.assert_array_equal(runs[0][0][key], runs[1][0][key])
    np.testing.assert_array_equal(runs[0][1]["loss"], runs[1][1]["loss"])

    def old_style(Xb, yb, p, label_smoothing=0.0):
        return nc.loss_and_grads(Xb, yb, p, label_smoothing)
    p = copy(params)
    nc.train(X, y, p, 2, 16, 0.05, rng=1, weight_decay=0.0, dropout=0.0, loss_and_grads=old_style)
    for key in params:
        np.testing.assert_array_equal(p[key], runs[0][0][key])


# --------------------------------------------------------------------------- bad values
@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, float("nan"), "0.5", None, True])
def test_bad_dropout_is_refused(value):
    X, y, params = tiny_problem()
    message = r"dropout must be a number in \[0, 1\)"
    with pytest.raises(ValueError, match="forward_propagation: " + message):
        nc.forward_propagation(X, params, dropout=value)
    with pytest.raises(ValueError, match=message):
        nc.loss_and_grads(X, y, params, dropout=value)
    with pytest.raises(ValueError, match="train: " + message):
        nc.train(X, y, params, 1, 4, 0.1, dropout=value)


@pytest.mark.parametrize("value", [-1e-4, float("nan"), float("inf"), "0.1", None, False])
def test_bad_weight_decay_is_refused(value):
    X, y, params = tiny_problem()
    message = "weight_decay must be a finite number >= 0"
    with pytest.raises(ValueError, match="loss_and_grads: " + message):
        nc.loss_and_grads(X, y, params, weight_decay=value)
    with pytest.raises(ValueError, match="train: " + message):
        nc.train(X, y, params, 1, 4, 0.1, weight_decay=value)


def test_train_refuses_a_loss_and_grads_that_cannot_regularise_before_the_first_step():
    X, y, params = tiny_problem()
    before = copy(params)
    calls = []

    def old_style(Xb, yb, p, label_smoothing=0.0):
        calls.append(1)
        return nc.loss_and_grads(Xb, yb, p, label_smoothing)
    with pytest.raises(ValueError, match="train: dropout need a loss_and_grads that takes dropout, rng; "
                                         "old_style does not take dropout, rng"):
        nc.train(X, y, params, 1, 4, 0.1, dropout=0.5, loss_and_grads=old_style)
    with pytest.raises(ValueError, match="takes weight_decay; old_style does not take weight_decay"):
        nc.train(X, y, params, 1, 4, 0.1, weight_decay=0.1, loss_and_grads=old_style)
    assert calls == []
    for key in before:
        np.testing.assert_array_equal(params[key], before[key])


# --------------------------------------------------------------------------- train
def test_train_passes_regularisation_and_its_rng_only_when_non_zero():
    X, y, params = tiny_problem(m=16)
    seen = []

    def spy(Xb, yb, p, **kwargs):
        seen.append(kwargs)
        return nc.loss_and_grads(Xb, yb, p, **kwargs)
    nc.train(X, y, copy(params), 1, 8, 0.1, rng=0, loss_and_grads=spy)
    nc.train(X, y, copy(params), 1, 8, 0.1, rng=0, weight_decay=0.01, loss_and_grads=spy)
    nc.train(X, y, copy(params), 1, 8, 0.1, rng=0, dropout=0.2, loss_and_grads=spy)
    assert seen[0] == seen[1] == {"label_smoothing": 0.0}
    assert seen[2] == seen[3] == {"label_smoothing": 0.0, "weight_decay": 0.01}
    assert set(seen[4]) == {"label_smoothing", "dropout", "rng"} and seen[4]["dropout"] == 0.2
    assert isinstance(seen[4]["rng"], np.random.Generator) and seen[4]["rng"] is seen[5]["rng"]


def test_train_with_dropout_and_weight_decay_learns_and_repeats_for_a_seed():
    X, y, start = tiny_problem(m=60, d=20, hidden=(32,), dtype=np.float32)
    y = np.argmax((X - 0.5) @ np.random.default_rng(1).standard_normal((20, 10)), axis=1)  # learnable
    runs = []
    for _ in range(2):
        params = copy(start)
        _, history = nc.train(X, y, params, 30, 16, 0.05, rng=4, X_val=X, y_val=y,
                              weight_decay=1e-3, dropout=0.2)
        runs.append((params, history))
    (p1, h1), (p2, h2) = runs
    for key in p1:
        np.testing.assert_array_equal(p1[key], p2[key])   # same seed: same batches, same masks
    np.testing.assert_array_equal(h1["loss"], h2["loss"])
    assert h1["val_loss"][-1] < 0.5 * h1["val_loss"][0]
    assert h1["val_accuracy"][-1] > 0.8
    # the recorded loss holds the penalty: above the penalty alone at the end
    penalty = 0.5 * 1e-3 * sum(float(np.sum(p1[f"W{l}"].astype(np.float64) ** 2)) for l in (1, 2))
    assert h1["loss"][-1] > penalty


def test_the_cnn_still_trains_through_train():
    npconv = pytest.importorskip("npconv")
    rng = np.random.default_rng(0)
    X = rng.random((12, 28, 28, 1)).astype(np.float32)
    y = np.arange(12) % 10
    params = npconv.init_cnn_params(rng=0, channels=(2, 3), kernel=5, n_hidden=8)
    before = copy(params)
    _, history = nc.train(X, y, params, 1, 6, 1e-3, optimizer="adam", rng=0,
                          loss_and_grads=npconv.cnn_loss_and_grads,
                          predict_proba=npconv.cnn_predict_proba)
    assert np.isfinite(history["loss"]).all()
    assert any(not np.array_equal(params[k], before[k]) for k in params)
    with pytest.raises(ValueError, match="cnn_loss_and_grads does not take dropout, rng"):
        nc.train(X, y, params, 1, 6, 1e-3, dropout=0.5, loss_and_grads=npconv.cnn_loss_and_grads,
                 predict_proba=npconv.cnn_predict_proba)
