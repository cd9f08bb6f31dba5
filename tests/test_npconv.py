"""Unit tests for npconv (lessons 11 and 12): convolution and pooling against naive loops,
gradient checks of every layer and of the whole CNN in float64 (on both routes of
npcore.FAST), the fast paths against the lesson's plain code, shapes, dtypes, tie
handling in max-pooling, bad input, and train_cnn as a wrapper of npcore.train with
a short real training run. Fast: no MNIST, no timing.

Tolerances: results that go through BLAS (matrix products) or reductions are compared
with a tolerance, each with the reason for its size; only copies and elementwise
operations (im2col, max, ReLU, the routing of max-pooling) are compared bit for bit.
"""
import inspect

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
    params = cv.init_cnn_params(rng, channels=(2, 3), kernel=3, n_hidden=5, image_size=14, dtype=dtype)
    for key in params:
        params[key] += (0.1 * rng.standard_normal(params[key].shape)).astype(dtype)
    X = rng.random((m, 14, 14, 1)).astype(dtype)
    y = rng.integers(0, 10, m)
    return X, y, params


def quadrant_task(m, seed):
    """28x28 images, label = the quadrant (0..3) holding a bright 4x4 blob, on a faint noise background."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, m)
    X = 0.1 * rng.random((m, 28, 28, 1), dtype=np.float32)
    for i in range(m):
        r, s = 14 * (y[i] // 2) + rng.integers(2, 9), 14 * (y[i] % 2) + rng.integers(2, 9)
        X[i, r:r + 4, s:s + 4, 0] = 1.0
    return X, y


@pytest.fixture(params=[True, False], ids=["FAST", "plain"])
def fast(request, monkeypatch):
    """Run the test once with npcore.FAST on (the faster paths) and once off (the lesson's code)."""
    monkeypatch.setattr(nc, "FAST", request.param)
    return request.param


# --------------------------------------------------------------------------- convolution
@pytest.mark.parametrize("C", [1, 3, 6])                   # im2col has a fast path for C = 1
def test_conv_forward_matches_naive_loops(C, fast):
    """The matrix product sums the kh*kw*C = 6C products in another order than np.sum in
    the loops: in float64 on values ~1 that moves the result by ~1e-15, far below 1e-12."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 7, 6, C))                   # non-square
    K = rng.standard_normal((3, 2, C, 4))                   # non-square kernel
    b = rng.standard_normal(4)
    Z, _ = cv.conv_forward(X, K, b)
    assert Z.shape == (2, 5, 5, 4)
    np.testing.assert_allclose(Z, conv_naive(X, K, b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("C", [1, 2, 5])
def test_im2col_rows_are_windows_in_kernel_order(C, fast):
    X = np.arange(2 * 4 * 5 * C, dtype=float).reshape(2, 4, 5, C)
    cols = cv.im2col(X, 2, 3)
    assert cols.shape == (2 * 3 * 3, 2 * 3 * C)
    # row (i=1, r=2, s=1) is X[1, 2:4, 1:4, :] flattened in (kh, kw, C) order; a copy, so exact
    np.testing.assert_array_equal(cols[1 * 9 + 2 * 3 + 1], X[1, 2:4, 1:4, :].ravel())


@pytest.mark.parametrize("shape, k", [((64, 28, 28, 1), 5),  # the first layer of lesson 12
                                      ((3, 7, 6, 1), 3)])
def test_im2col_fast_path_equals_the_plain_one_bit_for_bit(shape, k, monkeypatch):
    """Both routes copy the same numbers into the same matrix, only stored differently:
    a copy rounds nothing, so the matrices must be equal to the last bit."""
    X = np.random.default_rng(9).random(shape, dtype=np.float32)
    monkeypatch.setattr(nc, "FAST", False)
    plain = cv.im2col(X, k, k)
    monkeypatch.setattr(nc, "FAST", True)
    faster = cv.im2col(X, k, k)
    assert plain.flags.c_contiguous and faster.T.flags.c_contiguous   # two different routes ran
    np.testing.assert_array_equal(faster, plain)


def test_col2im_is_the_adjoint_of_im2col():
    """<im2col(X), D> = <X, col2im(D)> for all X, D: col2im is im2col transposed.

    Both sides sum 2*4*3*27 = 648 products of values ~1 in different orders: in
    float64 they agree to ~1e-14 relative, and 1e-12 leaves room while a wrong
    index would change the sums by order 1."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2, 6, 5, 3))
    D = rng.standard_normal((2 * 4 * 3, 3 * 3 * 3))
    lhs = np.sum(cv.im2col(X, 3, 3) * D)
    rhs = np.sum(X * cv.col2im(D, X.shape, 3, 3))
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("C", [1, 2, 5])
def test_conv_gradients_match_finite_differences(C, fast):
    """dK, db and dX of L = sum(G * Z) for a random G, Z from the four loops (the definition).

    Below 1e-7 means agreement in float64. L is linear in each of K, b and X, so
    central differences have no truncation error: eps = 1e-3 only shrinks the
    rounding noise of the loops' sums (~1e-15 of L, divided by 2 eps)."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2, 6, 5, C))
    K = rng.standard_normal((3, 2, C, 3))
    b = rng.standard_normal(3)
    Z, cache = cv.conv_forward(X, K, b)
    G = rng.standard_normal(Z.shape)                        # dL/dZ
    dX, dK, db = cv.conv_backward(G, cache)
    assert dX.shape == X.shape and dK.shape == K.shape and db.shape == b.shape
    loss = lambda: np.sum(G * conv_naive(X, K, b))          # noqa: E731  the definition
    for name, analytic, P in (("dK", dK, K), ("db", db, b), ("dX", dX, X)):
        error = nc.relative_error(analytic, nc.numerical_gradient(loss, P, eps=1e-3))
        assert error < 1e-7, f"{name}: relative error {error:.2e}"
    assert cv.conv_backward(G, cache, need_dX=False)[0] is None


@pytest.mark.parametrize("dtype, m", [(np.float64, 2), (np.float32, 64)])
def test_conv_backward_fast_path_matches_the_plain_one(dtype, m, monkeypatch):
    """Lesson 12's second layer, 64 images in float32 (and a small float64 case).

    dK comes from the same line on the same arrays whatever FAST is, so it must be
    equal bit for bit. db is a sum of the m*Ho*Wo rows of dZ by einsum or by .sum:
    any order of summation rounds by at most ~sqrt(n) units of the last place of the
    sum of magnitudes (n = 4096: ~4e-6 in float32, ~1e-14 in float64), so 1e-5
    (1e-12) of that sum bounds it. dX is the same sums of the same products, but BLAS
    computes a batch of (m*Ho*Wo, F) x (F, C) products on the fast path and one
    (m*Ho*Wo, F) x (F, kh*kw*C) product on the plain one, and may block and round
    them differently; col2im then adds them in the same order. Each dX entry sums
    up to kh*kw*F = 800 products: their rounding, ~sqrt(800) units of the last
    place, is ~2e-6 of the entries' scale in float32 (~5e-15 in float64), so 1e-5
    (1e-12) of the largest entry bounds it with room.
    """
    rng = np.random.default_rng(10)
    X = rng.random((m, 12, 12, 16)).astype(dtype)
    K = (0.05 * rng.standard_normal((5, 5, 16, 32))).astype(dtype)
    Z, cache = cv.conv_forward(X, K, np.zeros(32, dtype))
    dZ = rng.standard_normal(Z.shape).astype(dtype)
    calls = []
    add_blocks = cv.add_blocks
    monkeypatch.setattr(cv, "add_blocks", lambda *a: calls.append(1) or add_blocks(*a))
    monkeypatch.setattr(nc, "FAST", False)
    dX_plain, dK_plain, db_plain = cv.conv_backward(dZ, cache)
    assert not calls                                        # the lesson's route: col2im
    monkeypatch.setattr(nc, "FAST", True)
    dX_fast, dK_fast, db_fast = cv.conv_backward(dZ, cache)
    assert calls                                            # the fast route: add_blocks
    np.testing.assert_array_equal(dK_fast, dK_plain)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    magnitude = np.abs(dZ).reshape(-1, 32).sum(axis=0).max()
    np.testing.assert_allclose(db_fast, db_plain, rtol=0, atol=tol * magnitude)
    assert dX_fast.dtype == dX_plain.dtype == db_fast.dtype == dtype
    np.testing.assert_allclose(dX_fast, dX_plain, rtol=tol, atol=tol * np.abs(dX_plain).max())


def test_conv_backward_plain_route_is_col2im_of_dcols(monkeypatch):
    """The lesson's dX: dcols = dZ2d @ K2d.T, then col2im. Same products in the same
    order on both sides (same code), so only float64 rounding noise could differ: 1e-12."""
    monkeypatch.setattr(nc, "FAST", False)
    rng = np.random.default_rng(11)
    X, K = rng.standard_normal((2, 6, 5, 3)), rng.standard_normal((3, 2, 3, 4))
    Z, cache = cv.conv_forward(X, K, np.zeros(4))
    G = rng.standard_normal(Z.shape)
    dcols = G.reshape(-1, 4) @ K.reshape(-1, 4).T
    np.testing.assert_allclose(cv.conv_backward(G, cache)[0], cv.col2im(dcols, X.shape, 3, 2),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("X_shape, K_shape, b_shape, message", [
    ((2, 6, 6), (3, 3, 1, 2), (2,), r"X \(m, H, W, C\)"),              # X without channel axis
    ((2, 6, 6, 2), (3, 3, 1, 2), (2,), r"K \(kh, kw, C, F\) with C = 2"),  # channels disagree
    ((2, 6, 6, 1), (3, 3, 2), (2,), r"K \(kh, kw, C, F\)"),             # K of rank 3
    ((2, 6, 6, 1), (3, 3, 1, 2), (3,), r"b \(F,\) = \(2,\)"),           # bias of the wrong size
    ((2, 6, 6, 1), (3, 3, 1, 2), (2, 1), r"b \(F,\)"),                  # bias of rank 2
    ((2, 3, 6, 1), (4, 3, 1, 2), (2,), "conv_forward expects a kernel of 1..H"),  # taller than X
])
def test_conv_forward_rejects_bad_shapes(X_shape, K_shape, b_shape, message):
    with pytest.raises(ValueError, match=message):
        cv.conv_forward(np.zeros(X_shape), np.zeros(K_shape), np.zeros(b_shape))


def test_im2col_col2im_and_conv_backward_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"im2col expects X of shape \(m, H, W, C\)"):
        cv.im2col(np.zeros((6, 6)), 3, 3)
    with pytest.raises(ValueError, match="kernel of 1..H"):
        cv.im2col(np.zeros((1, 6, 6, 1)), 7, 3)
    with pytest.raises(ValueError, match=r"col2im expects dcols \(m\*Ho\*Wo, kh\*kw\*C\) = \(32, 9\)"):
        cv.col2im(np.zeros((32, 8)), (2, 6, 6, 1), 3, 3)
    _, cache = cv.conv_forward(np.zeros((2, 6, 6, 1)), np.zeros((3, 3, 1, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="conv_backward expects dZ of the shape of Z"):
        cv.conv_backward(np.zeros((2, 4, 4, 3)), cache)


# --------------------------------------------------------------------------- max-pooling
def distinct_values(shape, seed):
    """Entries spaced 0.01 apart in random order: no ties, and every gap >> eps = 1e-6."""
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1.0


def test_maxpool_forward_matches_naive_loops():
    A = distinct_values((2, 6, 4, 3), 3)
    P, _ = cv.maxpool_forward(A)
    assert P.shape == (2, 3, 2, 3)
    np.testing.assert_array_equal(P, maxpool_naive(A))      # a maximum picks an entry: exact
    with pytest.raises(ValueError, match="even height and width"):
        cv.maxpool_forward(np.zeros((1, 5, 4, 1)))
    with pytest.raises(ValueError, match=r"A of shape \(m, H, W, C\)"):
        cv.maxpool_forward(np.zeros((4, 4)))


def test_maxpool_gradient_matches_finite_differences():
    """No ties by construction: max is then differentiable and the check is as tight as for conv."""
    A = distinct_values((2, 6, 4, 3), 4)
    P, cache = cv.maxpool_forward(A)
    G = np.random.default_rng(5).standard_normal(P.shape)
    dA = cv.maxpool_backward(G, cache)
    numeric = nc.numerical_gradient(lambda: np.sum(G * cv.maxpool_forward(A)[0]), A)
    assert nc.relative_error(dA, numeric) < 1e-7
    assert np.count_nonzero(dA) == P.size                   # one winner per window
    with pytest.raises(ValueError, match="dP of the shape of P"):
        cv.maxpool_backward(G[:1], cache)


def test_maxpool_ties_go_to_the_first_winner():
    A = np.array([[5.0, 5.0, 1.0, 2.0],
                  [5.0, 5.0, 2.0, 2.0]]).reshape(1, 2, 4, 1)
    P, cache = cv.maxpool_forward(A)
    dA = cv.maxpool_backward(np.array([3.0, 7.0]).reshape(1, 1, 2, 1), cache)
    # routing multiplies by 1 or 0 and subtracts a number from itself: exact
    np.testing.assert_array_equal(dA.reshape(2, 4), [[3.0, 0.0, 0.0, 7.0],
                                                     [0.0, 0.0, 0.0, 0.0]])


def test_pooling_and_relu_commute():
    Z = np.random.default_rng(6).standard_normal((3, 8, 6, 2))
    np.testing.assert_array_equal(nc.relu(cv.maxpool_forward(Z)[0]),   # max and ReLU pick
                                  cv.maxpool_forward(nc.relu(Z))[0])    # entries: exact


# --------------------------------------------------------------------------- the network
def test_init_cnn_params_shapes_and_sizes():
    params = cv.init_cnn_params(0)
    expected = {"K1": (5, 5, 1, 16), "b1": (16,), "K2": (5, 5, 16, 32), "b2": (32,),
                "W3": (512, 128), "b3": (128,), "W4": (128, 10), "b4": (10,)}
    assert {k: P.shape for k, P in params.items()} == expected
    assert all(P.dtype == np.float32 for P in params.values())
    small = cv.init_cnn_params(0, channels=(2, 3), kernel=3, n_hidden=7, image_size=14, n_output=4)
    assert small["W3"].shape == (2 * 2 * 3, 7) and small["W4"].shape == (7, 4)
    np.testing.assert_array_equal(cv.init_cnn_params(5)["K2"], cv.init_cnn_params(5)["K2"])  # seeded


@pytest.mark.parametrize("kwargs, message", [
    ({"channels": (0, 32)}, r"channels\[0\] must be an integer >= 1"),
    ({"channels": (16, -1)}, r"channels\[1\] must be an integer >= 1"),
    ({"channels": (16,)}, "channels must be a pair"),
    ({"kernel": 0}, "kernel must be an integer >= 1"),
    ({"n_hidden": 0}, "n_hidden must be an integer >= 1"),
    ({"n_hidden": -5}, "n_hidden must be an integer >= 1"),
    ({"image_size": 0}, "image_size must be an integer >= 1"),
    ({"in_channels": 0}, "in_channels must be an integer >= 1"),
    ({"n_output": 0}, "n_output must be an integer >= 1"),
    ({"n_hidden": 2.5}, "n_hidden must be an integer >= 1"),
    ({"kernel": 4}, "25x25 map after convolution 1, which 2x2 pooling cannot halve"),
    ({"image_size": 12}, "image_size 12 is too small for two 5x5 convolutions"),
    ({"image_size": 16, "kernel": 3}, "a 5x5 map after convolution 2, which 2x2 pooling cannot halve"),
    ({"rng": "seed"}, "rng must be None, an integer seed"),
    ({"dtype": np.int32}, "dtype must be a float dtype"),
])
def test_init_cnn_params_rejects_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cv.init_cnn_params(**{"rng": 0, **kwargs})


def test_renamed_api():
    """cnn_predict is now cnn_make_predictions (no alias); hidden is n_hidden; cnn_backward
    takes npcore.backward_propagation's arguments; cnn_loss_and_grads takes label_smoothing."""
    assert not hasattr(cv, "cnn_predict") and "cnn_predict" not in cv.__all__
    assert "cnn_make_predictions" in cv.__all__
    assert all(hasattr(cv, name) for name in cv.__all__)
    assert "n_hidden" in inspect.signature(cv.init_cnn_params).parameters
    with pytest.raises(TypeError):
        cv.init_cnn_params(0, hidden=8)
    assert (list(inspect.signature(cv.cnn_backward).parameters)
            == list(inspect.signature(nc.backward_propagation).parameters) == ["X", "Y", "params", "cache"])
    assert list(inspect.signature(cv.cnn_loss_and_grads).parameters) == ["X", "y", "params", "label_smoothing"]
    assert list(inspect.signature(cv.cnn_make_predictions).parameters) == ["X", "params"]


def test_cnn_shapes_and_float32_stays_float32():
    params = cv.init_cnn_params(0)
    X = np.random.default_rng(7).random((4, 784), dtype=np.float32)   # flat images work too
    cache = cv.cnn_forward(X, params)
    assert cache["A4"].shape == (4, 10) and cache["A4"].dtype == np.float32
    np.testing.assert_allclose(cache["A4"].sum(axis=1), 1, rtol=1e-6)   # float32 sum of 10 terms
    loss, grads, A4 = cv.cnn_loss_and_grads(X, np.arange(4), params)
    assert isinstance(loss, float) and A4.shape == (4, 10) and A4.dtype == np.float32
    # the same forward pass twice; the tolerance only because it goes through BLAS
    np.testing.assert_allclose(A4, cache["A4"], rtol=1e-6)
    assert set(grads) == {f"d{k}" for k in params}
    for key, P in params.items():
        assert grads[f"d{key}"].shape == P.shape and grads[f"d{key}"].dtype == np.float32, key
    labels = cv.cnn_make_predictions(X, params)
    assert labels.shape == (4,) and labels.dtype.kind == "i"
    np.testing.assert_array_equal(labels, np.argmax(cache["A4"], axis=1))
    # batches of 3 and 1 rather than all 4 at once: other matrix shapes, so BLAS may round
    # differently; float32 probabilities then agree to a few units of 1e-7
    np.testing.assert_allclose(cv.cnn_predict_proba(X, params, batch_size=3), cache["A4"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cv.cnn_predict_proba(X, params, batch_size=1), cache["A4"], rtol=1e-5, atol=1e-7)


def test_cnn_gradients_match_finite_differences(fast):
    """Every parameter of a tiny CNN in float64.

    eps = 1e-4 rather than 1e-6: the loss (about 2.3) is computed with rounding
    errors near 1e-15, which divided by 2 eps swamp the smallest gradient entries
    at eps = 1e-6 (relative errors up to ~1e-6); the truncation error of central
    differences grows like eps**2 and stays near 1e-9 at eps = 1e-4, and with
    random inputs no ReLU or pooling decision is within 1e-4 of switching.
    """
    X, y, params = tiny_cnn()
    _, grads, _ = cv.cnn_loss_and_grads(X, y, params)
    for key, P in params.items():
        numeric = nc.numerical_gradient(lambda: cv.cnn_loss_and_grads(X, y, params)[0], P, eps=1e-4)
        error = nc.relative_error(grads[f"d{key}"], numeric)
        assert error < 1e-7, f"d{key}: relative error {error:.2e}"


def test_cnn_backward_with_smoothed_targets():
    """dZ4 = (A4 - Y) / m needs only rows of Y summing to 1: label smoothing keeps it exact."""
    X, y, params = tiny_cnn(seed=1)
    Y = 0.9 * nc.one_hot(y, dtype=np.float64) + 0.1 / 10              # (m, 10), rows sum to 1
    grads = cv.cnn_backward(X, Y, params, cv.cnn_forward(X, params))
    loss = lambda: nc.cross_entropy(cv.cnn_forward(X, params)["A4"], Y)  # noqa: E731
    for key in ("K1", "W3", "b4"):
        numeric = nc.numerical_gradient(loss, params[key], eps=1e-4)
        assert nc.relative_error(grads[f"d{key}"], numeric) < 1e-7, key
    with pytest.raises(ValueError, match=r"cnn_backward expects Y of shape \(m, k\) = \(3, 10\)"):
        cv.cnn_backward(X, Y[:2], params, cv.cnn_forward(X, params))


def test_cnn_loss_and_grads_with_label_smoothing():
    """label_smoothing e trains against (1 - e) Y + e / k: the loss is measured against those
    targets and the gradients are its gradients (finite differences, as above)."""
    X, y, params = tiny_cnn(seed=2)
    e = 0.1
    loss, grads, A4 = cv.cnn_loss_and_grads(X, y, params, label_smoothing=e)
    Y = (1 - e) * nc.one_hot(y, dtype=np.float64) + e / 10
    # the same reduction of the same arrays: only float64 rounding noise, far below 1e-12
    assert loss == pytest.approx(nc.cross_entropy(A4, Y), rel=1e-12)
    # near-uniform predictions of a tiny net: smoothing moves the loss by ~6e-4 relative,
    # rounding by ~1e-15, so 1e-8 tells them apart
    assert loss != pytest.approx(cv.cnn_loss_and_grads(X, y, params)[0], rel=1e-8)
    for key in ("K1", "b2", "W4"):
        numeric = nc.numerical_gradient(
            lambda: cv.cnn_loss_and_grads(X, y, params, label_smoothing=e)[0], params[key], eps=1e-4)
        assert nc.relative_error(grads[f"d{key}"], numeric) < 1e-7, key
    for bad in (-0.1, 1.0, 1.5, "0.1", None):
        with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\)"):
            cv.cnn_loss_and_grads(X, y, params, label_smoothing=bad)


def test_fast_and_plain_give_the_same_training_step(monkeypatch):
    """One batch of 64 images through lesson 12's CNN in float32 with both routes.

    The forward pass is the same either way (im2col's two routes give the same matrix
    bit for bit), so loss and A4 agree to the last bits; in the backward pass dA1
    (by products that may round differently) and db1, db2 (another summation) are
    computed differently, and the gradients below dA1 (dK1, db1) inherit float32
    rounding noise of ~1e-6 of their scale: 1e-4 leaves room, while any real mistake
    would change them by order 1.
    """
    rng = np.random.default_rng(12)
    X, y = quadrant_task(64, 12)
    params = cv.init_cnn_params(rng)
    results = {}
    for flag in (False, True):
        monkeypatch.setattr(nc, "FAST", flag)
        results[flag] = cv.cnn_loss_and_grads(X, y, params, label_smoothing=0.1)
    (loss0, grads0, A0), (loss1, grads1, A1) = results[False], results[True]
    assert loss1 == pytest.approx(loss0, rel=1e-6)
    np.testing.assert_allclose(A1, A0, rtol=1e-6, atol=1e-7)
    for key, dP in grads0.items():
        np.testing.assert_allclose(grads1[key], dP, rtol=1e-4, atol=1e-4 * np.abs(dP).max(), err_msg=key)


# --------------------------------------------------------------------------- bad input to the CNN
def _calls(params, X, y):
    """Every entry point of the CNN, called with X (and y)."""
    return {"cnn_forward": lambda: cv.cnn_forward(X, params),
            "cnn_loss_and_grads": lambda: cv.cnn_loss_and_grads(X, y, params),
            "cnn_predict_proba": lambda: cv.cnn_predict_proba(X, params),
            "cnn_make_predictions": lambda: cv.cnn_make_predictions(X, params),
            "train_cnn": lambda: cv.train_cnn(X, y, params, 1)}


@pytest.mark.parametrize("entry", ["cnn_forward", "cnn_loss_and_grads", "cnn_predict_proba",
                                   "cnn_make_predictions", "train_cnn"])
@pytest.mark.parametrize("make_X, message", [
    (lambda X: (255 * X).astype(np.uint8), r"X must be a float array of images scaled to \[0, 1\].*got uint8"),
    (lambda X: 255 * X, r"X holds values from 0.* to 25\d.*, expected images scaled to \[0, 1\]"),
    (lambda X: X - 0.5, r"expected images scaled to \[0, 1\]"),
    (lambda X: np.where(X > 0.5, np.nan, X), "X holds NaN or infinite values"),
    (lambda X: np.where(X > 0.5, np.inf, X), "X holds NaN or infinite values"),
    (lambda X: X[:, :, :, 0], r"X must be images \(m, H, W, 1\) or flat \(m, H\*W\*1\)"),  # rank 3
    (lambda X: X.reshape(len(X), -1)[:, :-1], "flat rows must be square images"),    # (m, 783)
    (lambda X: np.repeat(X, 3, axis=3), r"X has 3 channels .* expects 1"),
    (lambda X: np.pad(X, ((0, 0), (2, 2), (2, 2), (0, 0))), "images 32x32 leave 5x5x32"),
    (lambda X: X[:, :27, :27], "cannot halve"),
    (lambda X: X[:0], r"X \(0, 28, 28, 1\) holds no samples"),                          # empty
    (lambda X: X.tolist(), "X must be a float array"),
])
def test_the_cnn_rejects_bad_images(entry, make_X, message):
    params = cv.init_cnn_params(0)
    X = np.random.default_rng(13).random((4, 28, 28, 1), dtype=np.float32)
    with pytest.raises(ValueError, match=message):
        _calls(params, make_X(X), np.arange(4))[entry]()


@pytest.mark.parametrize("entry", ["cnn_forward", "cnn_loss_and_grads", "cnn_predict_proba",
                                   "cnn_make_predictions", "train_cnn"])
@pytest.mark.parametrize("change, message", [
    (lambda p: p.pop("b4"), r"missing \['b4'\]"),
    (lambda p: p.pop("K1"), r"missing \['K1'\]"),
    (lambda p: p.update(W1=p["W3"]), r"unexpected \['W1'\]"),
    (lambda p: p.update(W3=p["W3"][:100]), "W3 .*expects 100"),
    (lambda p: p.update(K2=p["K2"][:, :, :8]), "params K2 has the wrong shape"),
    (lambda p: p.update(b3=p["b3"][:5]), "params b3 has the wrong shape"),
    (lambda p: p.update(K1=p["K1"][0]), "params K1 has the wrong shape"),
    (lambda p: p.update(W4=p["W4"].astype(np.int64)), r"params\['W4'\] must be a float array"),
])
def test_the_cnn_rejects_bad_params(entry, change, message):
    params = cv.init_cnn_params(0)
    change(params)
    X = np.random.default_rng(14).random((2, 28, 28, 1), dtype=np.float32)
    with pytest.raises(ValueError, match=message):
        _calls(params, X, np.arange(2))[entry]()


@pytest.mark.parametrize("entry", ["cnn_predict_proba", "cnn_make_predictions", "train_cnn"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_prediction_rejects_params_with_nan_or_inf(entry, bad):
    params = cv.init_cnn_params(0)
    params["W3"][3, 4] = bad
    X = np.random.default_rng(15).random((2, 28, 28, 1), dtype=np.float32)
    with pytest.raises(ValueError, match=r"params\['W3'\] holds NaN or infinite values"):
        _calls(params, X, np.arange(2))[entry]()


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, None, True])
def test_cnn_predict_proba_rejects_bad_batch_size(batch_size):
    X = np.random.default_rng(16).random((2, 28, 28, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        cv.cnn_predict_proba(X, cv.init_cnn_params(0), batch_size=batch_size)


def test_labels_and_images_of_different_lengths_are_rejected():
    """train_cnn leaves the labels to npcore.train, which checks them before its first step."""
    params = cv.init_cnn_params(0)
    X = np.random.default_rng(17).random((4, 28, 28, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="cnn_loss_and_grads: X has 4 rows but y has 3 labels"):
        cv.cnn_loss_and_grads(X, np.arange(3), params)
    with pytest.raises(ValueError, match=r"cnn_loss_and_grads: y holds labels from 0 to 10, expected 0..9"):
        cv.cnn_loss_and_grads(X, np.array([0, 1, 2, 10]), params)
    before = {key: P.copy() for key, P in params.items()}
    with pytest.raises(ValueError, match="X has 4 rows but y has 5 labels"):
        cv.train_cnn(X, np.arange(5), params, 1)
    with pytest.raises(ValueError, match=r"y must be integer labels of shape \(m,\)"):
        cv.train_cnn(X, np.arange(4).reshape(4, 1), params, 1)
    with pytest.raises(ValueError, match="X_val has 4 rows but y_val has 2 labels"):
        cv.train_cnn(X, np.arange(4), params, 1, X_val=X, y_val=np.arange(2))
    with pytest.raises(ValueError, match=r"train_cnn: X_val holds values from .*, expected images scaled"):
        cv.train_cnn(X, np.arange(4), params, 1, X_val=255 * X, y_val=np.arange(4))
    for key, P in params.items():                           # no step was taken: a copy, exact
        np.testing.assert_array_equal(P, before[key])


# --------------------------------------------------------------------------- train it
def test_train_cnn_is_npcore_train_with_the_cnns_functions(monkeypatch):
    """train_cnn adds no loop of its own: it hands everything to npcore.train."""
    calls = []
    monkeypatch.setattr(nc, "train", lambda *args, **kwargs: calls.append((args, kwargs)) or "result")
    params = cv.init_cnn_params(0)
    X = np.random.default_rng(18).random((8, 784), dtype=np.float32)    # flat: passed on as images
    y = np.arange(8)
    augment = nc.shift_images
    result = cv.train_cnn(X, y, params, 3, X_val=X[:4], y_val=y[:4], schedule=None, warmup_steps=2,
                          augment=augment, label_smoothing=0.1, progress=True, beta1=0.8)
    assert result == "result" and len(calls) == 1
    (X_in, y_in, params_in, epochs, batch_size, learning_rate), kwargs = calls[0]
    assert kwargs.pop("loss_and_grads") is cv.cnn_loss_and_grads
    assert kwargs.pop("predict_proba") is cv.cnn_predict_proba
    assert X_in.shape == (8, 28, 28, 1) and np.shares_memory(X_in, X)   # a view, no copy
    assert kwargs.pop("X_val").shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(y_in, y)
    np.testing.assert_array_equal(kwargs.pop("y_val"), y[:4])
    assert params_in is params and (epochs, batch_size, learning_rate) == (3, 64, 1e-3)
    assert kwargs == {"optimizer": "adam", "rng": None, "schedule": None, "warmup_steps": 2,
                      "augment": augment, "label_smoothing": 0.1, "progress": True, "beta1": 0.8}


def test_train_cnn_learns_a_small_task_through_npcore_train(monkeypatch):
    """256 synthetic 28x28 images (label = the quadrant of a bright blob) through the real
    npcore.train: four short epochs must halve the loss and classify 128 held-out images;
    label smoothing and augmentation must reach every batch."""
    X, y = quadrant_task(384, 8)
    smoothing_seen, augmented = [], []
    loss_and_grads = cv.cnn_loss_and_grads

    def spy_loss_and_grads(Xb, yb, params, label_smoothing=0.0):
        smoothing_seen.append(label_smoothing)
        return loss_and_grads(Xb, yb, params, label_smoothing=label_smoothing)

    def spy_augment(Xb, rng):
        augmented.append(Xb.shape)
        return nc.shift_images(Xb, rng)

    monkeypatch.setattr(cv, "cnn_loss_and_grads", spy_loss_and_grads)
    params = cv.init_cnn_params(0, channels=(4, 8), kernel=5, n_hidden=16)
    params, history = cv.train_cnn(X[:256], y[:256], params, epochs=4, batch_size=32,
                                   learning_rate=1e-2, rng=1, X_val=X[256:], y_val=y[256:],
                                   augment=spy_augment, label_smoothing=0.05)
    assert len(smoothing_seen) == len(augmented) == 4 * 8                # 4 epochs of 8 batches
    assert set(smoothing_seen) == {0.05} and set(augmented) == {(32, 28, 28, 1)}
    assert set(history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert all(len(v) == 4 for v in history.values())
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["val_accuracy"][-1] >= 0.95                          # on 128 held-out images
    assert np.all(history["seconds"] > 0)
    assert all(P.dtype == np.float32 for P in params.values())
    _, history = cv.train_cnn(X[:64], y[:64], params, 1, rng=0)
    assert np.all(np.isnan(history["val_accuracy"])) and np.isfinite(history["loss"][0])
