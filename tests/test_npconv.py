"""Unit tests for npconv (lesson 09): convolution and pooling against naive loops,
gradient checks of every layer and of the whole CNN in float64, shapes, dtypes,
tie handling in max-pooling, and a tiny training run. Fast: no MNIST, no timing.
"""
import numpy as np
import pytest

import npcore as nc
import npconv as cv


# --------------------------------------------------------------------------- references
def conv_naive(X, K, b):
    """Valid convolution by four nested loops: Z[i, r, s, f] = sum X[i, r+u, s+v, :] K[u, v, :, f] + b[f]."""
    m, H, W, C = X.shape
    kh, kw, _, F = K.shape
    Z = np.zeros((m, H - kh + 1, W - kw + 1, F))
    for i in range(m):
        for r in range(H - kh + 1):
            for s in range(W - kw + 1):
                for f in range(F):
                    Z[i, r, s, f] = np.sum(X[i, r:r + kh, s:s + kw, :] * K[:, :, :, f]) + b[f]
    return Z


def maxpool_naive(A):
    m, H, W, C = A.shape
    P = np.zeros((m, H // 2, W // 2, C))
    for r in range(H // 2):
        for s in range(W // 2):
            P[:, r, s, :] = A[:, 2 * r:2 * r + 2, 2 * s:2 * s + 2, :].max(axis=(1, 2))
    return P


def tiny_cnn(seed=0, m=3, dtype=np.float64):
    """A 14x14 CNN with 3x3 kernels, 2 and 3 channels, 5 hidden units, non-zero biases."""
    rng = np.random.default_rng(seed)
    params = cv.init_cnn_params(rng, channels=(2, 3), kernel=3, hidden=5, image_size=14, dtype=dtype)
    for key in params:
        params[key] += (0.1 * rng.standard_normal(params[key].shape)).astype(dtype)
    X = rng.random((m, 14, 14, 1)).astype(dtype)
    y = rng.integers(0, 10, m)
    return X, y, params


# --------------------------------------------------------------------------- convolution
@pytest.mark.parametrize("C", [1, 3, 6])                   # im2col copies differently for C < 4
def test_conv_forward_matches_naive_loops(C):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 7, 6, C))                   # non-square
    K = rng.standard_normal((3, 2, C, 4))                   # non-square kernel
    b = rng.standard_normal(4)
    Z, _ = cv.conv_forward(X, K, b)
    assert Z.shape == (2, 5, 5, 4)
    np.testing.assert_allclose(Z, conv_naive(X, K, b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("C", [2, 5])
def test_im2col_rows_are_windows_in_kernel_order(C):
    X = np.arange(2 * 4 * 5 * C, dtype=float).reshape(2, 4, 5, C)
    cols = cv.im2col(X, 2, 3)
    assert cols.shape == (2 * 3 * 3, 2 * 3 * C)
    # row (i=1, r=2, s=1) is X[1, 2:4, 1:4, :] flattened in (kh, kw, C) order
    np.testing.assert_array_equal(cols[1 * 9 + 2 * 3 + 1], X[1, 2:4, 1:4, :].ravel())


def test_col2im_is_the_adjoint_of_im2col():
    """<im2col(X), D> = <X, col2im(D)> for all X, D: col2im is im2col transposed."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2, 6, 5, 3))
    D = rng.standard_normal((2 * 4 * 3, 3 * 3 * 3))
    lhs = np.sum(cv.im2col(X, 3, 3) * D)
    rhs = np.sum(X * cv.col2im(D, X.shape, 3, 3))
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("C", [2, 5])
def test_conv_gradients_match_finite_differences(C):
    """dK, db and dX of L = sum(G * Z) for a random G; below 1e-7 means agreement in float64."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2, 6, 5, C))
    K = rng.standard_normal((3, 2, C, 3))
    b = rng.standard_normal(3)
    Z, cache = cv.conv_forward(X, K, b)
    G = rng.standard_normal(Z.shape)                        # dL/dZ
    dX, dK, db = cv.conv_backward(G, cache)
    assert dX.shape == X.shape and dK.shape == K.shape and db.shape == b.shape
    loss = lambda: np.sum(G * cv.conv_forward(X, K, b)[0])  # noqa: E731
    for name, analytic, P in (("dK", dK, K), ("db", db, b), ("dX", dX, X)):
        error = nc.relative_error(analytic, nc.numerical_gradient(loss, P))
        assert error < 1e-7, f"{name}: relative error {error:.2e}"
    assert cv.conv_backward(G, cache, need_dX=False)[0] is None
    dcols = G.reshape(-1, 3) @ K.reshape(-1, 3).T            # the textbook route: col2im(dcols)
    np.testing.assert_allclose(cv.col2im(dcols, X.shape, 3, 2), dX, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("X_shape, K_shape, b_shape", [
    ((2, 6, 6), (3, 3, 1, 2), (2,)),                        # X without channel axis
    ((2, 6, 6, 2), (3, 3, 1, 2), (2,)),                     # channels disagree
    ((2, 6, 6, 1), (3, 3, 1, 2), (3,)),                     # bias of the wrong size
])
def test_conv_forward_rejects_bad_shapes(X_shape, K_shape, b_shape):
    with pytest.raises(ValueError, match="conv_forward expects"):
        cv.conv_forward(np.zeros(X_shape), np.zeros(K_shape), np.zeros(b_shape))


# --------------------------------------------------------------------------- max-pooling
def distinct_values(shape, seed):
    """Entries spaced 0.01 apart in random order: no ties, and every gap >> eps = 1e-6."""
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1.0


def test_maxpool_forward_matches_naive_loops():
    A = distinct_values((2, 6, 4, 3), 3)
    P, _ = cv.maxpool_forward(A)
    assert P.shape == (2, 3, 2, 3)
    np.testing.assert_array_equal(P, maxpool_naive(A))
    with pytest.raises(ValueError, match="even height and width"):
        cv.maxpool_forward(np.zeros((1, 5, 4, 1)))


def test_maxpool_gradient_matches_finite_differences():
    """No ties by construction: max is then differentiable and the check is as tight as for conv."""
    A = distinct_values((2, 6, 4, 3), 4)
    P, cache = cv.maxpool_forward(A)
    G = np.random.default_rng(5).standard_normal(P.shape)
    dA = cv.maxpool_backward(G, cache)
    numeric = nc.numerical_gradient(lambda: np.sum(G * cv.maxpool_forward(A)[0]), A)
    assert nc.relative_error(dA, numeric) < 1e-7
    assert np.count_nonzero(dA) == P.size                   # one winner per window


def test_maxpool_ties_go_to_the_first_winner():
    A = np.array([[5.0, 5.0, 1.0, 2.0],
                  [5.0, 5.0, 2.0, 2.0]]).reshape(1, 2, 4, 1)
    P, cache = cv.maxpool_forward(A)
    dA = cv.maxpool_backward(np.array([3.0, 7.0]).reshape(1, 1, 2, 1), cache)
    np.testing.assert_array_equal(dA.reshape(2, 4), [[3.0, 0.0, 0.0, 7.0],
                                                     [0.0, 0.0, 0.0, 0.0]])


def test_pooling_and_relu_commute():
    Z = np.random.default_rng(6).standard_normal((3, 8, 6, 2))
    np.testing.assert_array_equal(nc.relu(cv.maxpool_forward(Z)[0]),
                                  cv.maxpool_forward(nc.relu(Z))[0])


# --------------------------------------------------------------------------- the CNN
def test_cnn_shapes_and_float32_stays_float32():
    params = cv.init_cnn_params(0)
    expected = {"K1": (5, 5, 1, 16), "b1": (16,), "K2": (5, 5, 16, 32), "b2": (32,),
                "W3": (512, 128), "b3": (128,), "W4": (128, 10), "b4": (10,)}
    assert {k: P.shape for k, P in params.items()} == expected
    X = np.random.default_rng(7).random((4, 784), dtype=np.float32)   # flat images work too
    cache = cv.cnn_forward(X, params)
    assert cache["A4"].shape == (4, 10) and cache["A4"].dtype == np.float32
    np.testing.assert_allclose(cache["A4"].sum(axis=1), 1, rtol=1e-6)
    loss, grads = cv.cnn_loss_and_grads(X, np.arange(4), params)
    assert set(grads) == {f"d{k}" for k in params}
    for key, P in params.items():
        assert grads[f"d{key}"].shape == P.shape and grads[f"d{key}"].dtype == np.float32, key
    assert cv.cnn_predict(X, params, batch_size=3).shape == (4,)


def test_cnn_gradients_match_finite_differences():
    """Every parameter of a tiny CNN in float64.

    eps = 1e-4 rather than 1e-6: the loss (about 2.3) is computed with rounding
    errors near 1e-15, which divided by 2 eps swamp the smallest gradient entries
    at eps = 1e-6 (relative errors up to ~1e-6); the truncation error of central
    differences grows like eps**2 and stays near 1e-9 at eps = 1e-4, and with
    random inputs no ReLU or pooling decision is within 1e-4 of switching.
    """
    X, y, params = tiny_cnn()
    _, grads = cv.cnn_loss_and_grads(X, y, params)
    for key, P in params.items():
        numeric = nc.numerical_gradient(lambda: cv.cnn_loss_and_grads(X, y, params)[0], P, eps=1e-4)
        error = nc.relative_error(grads[f"d{key}"], numeric)
        assert error < 1e-7, f"d{key}: relative error {error:.2e}"


def test_cnn_backward_with_smoothed_targets():
    """dZ4 = (A4 - Y) / m needs only rows of Y summing to 1: label smoothing keeps it exact."""
    X, y, params = tiny_cnn(seed=1)
    Y = 0.9 * nc.one_hot(y, dtype=np.float64) + 0.1 / 10              # (m, 10), rows sum to 1
    grads = cv.cnn_backward(Y, params, cv.cnn_forward(X, params))
    loss = lambda: nc.cross_entropy(cv.cnn_forward(X, params)["A4"], Y)  # noqa: E731
    for key in ("K1", "W3", "b4"):
        numeric = nc.numerical_gradient(loss, params[key], eps=1e-4)
        assert nc.relative_error(grads[f"d{key}"], numeric) < 1e-7, key


def test_train_cnn_learns_a_tiny_task():
    """Label = the quadrant holding a bright 3x3 blob; ten short epochs must learn it."""
    rng = np.random.default_rng(8)
    m = 384
    y = rng.integers(0, 4, m)
    X = 0.1 * rng.random((m, 14, 14, 1), dtype=np.float32)
    for i in range(m):
        r, s = 7 * (y[i] // 2) + rng.integers(0, 5), 7 * (y[i] % 2) + rng.integers(0, 5)
        X[i, r:r + 3, s:s + 3, 0] = 1.0
    params = cv.init_cnn_params(rng, channels=(4, 8), kernel=3, hidden=16, image_size=14)
    params, history = cv.train_cnn(X[:256], y[:256], params, epochs=10, batch_size=32,
                                   learning_rate=1e-2, rng=rng, X_val=X[256:], y_val=y[256:])
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["val_accuracy"][-1] >= 0.95                  # on 128 held-out images
    assert all(P.dtype == np.float32 for P in params.values())
    assert np.all(np.isnan(cv.train_cnn(X[:64], y[:64], params, 1, rng=0)[1]["val_accuracy"]))
    _, history = cv.train_cnn(X[:64], y[:64], params, 1, rng=0, augment=nc.shift_images,
                              label_smoothing=0.1)
    assert np.isfinite(history["loss"][0]) and all(P.dtype == np.float32 for P in params.values())
