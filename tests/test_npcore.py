"""Unit tests for npcore (lessons 00-07): data loading, shapes, hand-worked values,
gradient checks, bad input, file safety and the command line.

Run with warnings as errors (pytest.ini does): an overflow in softmax fails here.
No test touches the network: downloads go through a fake ``urllib.request.urlopen``.

Tolerances: results that go through BLAS (matrix products) or reductions (sums,
means) are compared with a tolerance, each with the reason for its size; copies,
random draws and elementwise operations are compared bit for bit.
"""
import hashlib
import inspect
import io
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import numpy as np
import pytest

import npcore as nc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------- helpers
def small_problem(n_hidden=(5,), m=7, d=6, k=10, seed=0, dtype=np.float64):
    """A tiny random network and batch (X in [0, 1)) in float64 for gradient checks."""
    rng = np.random.default_rng(seed)
    params = nc.init_params(d, n_hidden, k, rng=rng, dtype=dtype)
    for key in params:  # non-zero biases so their gradients are exercised too
        params[key] += (0.1 * rng.standard_normal(params[key].shape)).astype(dtype)
    X = rng.random((m, d)).astype(dtype)
    y = rng.integers(0, k, m)
    return X, y, nc.one_hot(y, k, dtype=dtype), params


def loss_of(X, Y, params):
    L = len(params) // 2
    return nc.cross_entropy(nc.forward_propagation(X, params)[f"A{L}"], Y)


def write_mnist(path, n_train=12, n_test=5, **overrides):
    rng = np.random.default_rng(1)
    data = {"x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "y_train": (np.arange(n_train) % 10).astype(np.uint8),
            "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "y_test": (np.arange(n_test) % 10).astype(np.uint8)}
    data.update(overrides)
    data = {k: v for k, v in data.items() if v is not None}
    np.savez(path, **data)
    return data


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No MNIST_NPZ, Keras's cache in tmp_path/keras, temp files in tmp_path/tmp, and a
    urlopen that records its calls and fails like a machine without network."""
    monkeypatch.delenv("MNIST_NPZ", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    calls = []

    def no_network(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return calls


def serve(monkeypatch, payload):
    """Make urlopen return ``payload`` (bytes) as the response; returns the list of calls."""
    calls = []

    def fake_urlopen(url, *args, **kwargs):
        calls.append(url)
        return io.BytesIO(payload)          # a context manager with .read(n), like a response
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return calls


# --------------------------------------------------------------------------- data
def test_load_mnist_reads_a_good_file(tmp_path, monkeypatch):
    path = tmp_path / "mnist.npz"
    data = write_mnist(path)
    monkeypatch.delenv("MNIST_NPZ", raising=False)
    (x_train, y_train), (x_test, y_test) = nc.load_mnist(path)
    np.testing.assert_array_equal(x_train, data["x_train"])
    np.testing.assert_array_equal(y_test, data["y_test"])
    assert x_train.dtype == np.uint8 and x_test.shape == (5, 28, 28)
    monkeypatch.setenv("MNIST_NPZ", str(path))            # the variable is the fallback
    np.testing.assert_array_equal(nc.load_mnist()[0][1], y_train)


def test_load_mnist_resolves_a_relative_MNIST_NPZ_against_the_current_directory(
        tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    data = write_mnist(tmp_path / "data" / "mnist.npz")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNIST_NPZ", os.path.join("data", "mnist.npz"))
    np.testing.assert_array_equal(nc.load_mnist()[0][0], data["x_train"])
    monkeypatch.setenv("MNIST_NPZ", "missing.npz")
    with pytest.raises(FileNotFoundError) as info:
        nc.load_mnist()
    assert str(tmp_path / "missing.npz") in str(info.value)   # the absolute path it looked at


@pytest.mark.parametrize("override, message", [
    ({"y_test": None}, "lacks the arrays"),
    ({"extra": np.zeros(3, np.uint8)}, "unexpected array 'extra'"),
    ({"x_train": np.zeros((12, 28, 27), np.uint8)}, r"x_train is uint8 \(12, 28, 27\)"),
    ({"x_train": np.zeros((12, 28, 28), np.float32)}, "x_train is float32"),
    ({"x_train": np.zeros((0, 28, 28), np.uint8), "y_train": np.zeros(0, np.uint8)}, "n >= 1"),
    ({"y_train": np.zeros((12, 1), np.uint8)}, r"y_train is uint8 \(12, 1\)"),
    ({"y_train": np.full(12, 10, np.uint8)}, "label 10"),
    ({"y_train": np.zeros(11, np.uint8)}, "12 train images but 11 labels"),
    ({"y_test": np.array([object()] * 5)}, "Python objects"),
])
def test_load_mnist_rejects_broken_files(tmp_path, override, message):
    path = tmp_path / "bad.npz"
    write_mnist(path, **override)
    with pytest.raises(ValueError, match=message) as info:
        nc.load_mnist(path)
    assert "bad.npz" in str(info.value) and "MNIST_NPZ" in str(info.value)


def test_load_mnist_missing_or_corrupt_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNIST_NPZ"):
        nc.load_mnist(tmp_path / "nowhere.npz")
    good = tmp_path / "good.npz"
    write_mnist(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(ValueError, match="truncated.npz"):
        nc.load_mnist(truncated)


def test_load_mnist_given_a_file_never_imports_keras_downloads_or_changes_the_environment(
        tmp_path, monkeypatch, offline):
    path = tmp_path / "mnist.npz"
    write_mnist(path)
    monkeypatch.setitem(sys.modules, "keras", None)          # importing keras would fail
    environment = dict(os.environ)
    nc.load_mnist(path)
    monkeypatch.setenv("MNIST_NPZ", str(path))
    nc.load_mnist()
    assert offline == []                                     # urlopen never called
    environment["MNIST_NPZ"] = str(path)
    assert dict(os.environ) == environment


def test_keras_cache_path_follows_keras(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert nc._keras_cache_path() == str(tmp_path / ".keras" / "datasets" / "mnist.npz")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "elsewhere"))
    assert nc._keras_cache_path() == str(tmp_path / "elsewhere" / "datasets" / "mnist.npz")


def test_load_mnist_uses_keras_cache_when_its_hash_is_kerass(tmp_path, monkeypatch, offline):
    cache = tmp_path / "keras" / "datasets" / "mnist.npz"
    cache.parent.mkdir(parents=True)
    data = write_mnist(cache)
    monkeypatch.setattr(nc, "MNIST_SHA256", hashlib.sha256(cache.read_bytes()).hexdigest())
    monkeypatch.setitem(sys.modules, "keras", None)
    environment = dict(os.environ)
    np.testing.assert_array_equal(nc.load_mnist()[1][0], data["x_test"])
    assert offline == [] and dict(os.environ) == environment


def test_load_mnist_offline_says_to_set_MNIST_NPZ(tmp_path, offline):
    with pytest.raises(OSError) as info:
        nc.load_mnist()
    message = str(info.value)
    assert message.startswith("could not download MNIST (")
    assert "name resolution" in message and "set MNIST_NPZ to a local mnist.npz" in message
    assert "\n" not in message and not isinstance(info.value, (ValueError, ConnectionError))
    assert info.value.__cause__ is None and info.value.__suppress_context__   # no chained traceback
    assert offline == [nc.MNIST_URL]
    assert not (tmp_path / "keras" / "datasets" / "mnist.npz").exists()
    assert os.listdir(tmp_path / "tmp") == []                # the temporary file is gone


def test_load_mnist_ignores_a_keras_cache_with_another_hash(tmp_path, offline):
    cache = tmp_path / "keras" / "datasets" / "mnist.npz"
    cache.parent.mkdir(parents=True)
    write_mnist(cache)                                       # readable, but not Keras's file
    with pytest.raises(OSError, match="could not download MNIST"):
        nc.load_mnist()
    assert offline == [nc.MNIST_URL]                         # it tried to fetch the real one


def test_load_mnist_refuses_and_does_not_keep_a_download_with_the_wrong_hash(
        tmp_path, monkeypatch, offline):
    good = tmp_path / "served.npz"
    write_mnist(good)
    calls = serve(monkeypatch, good.read_bytes())            # a valid npz, but not Keras's bytes
    with pytest.raises(OSError, match="SHA-256") as info:
        nc.load_mnist()
    assert "set MNIST_NPZ" in str(info.value) and calls == [nc.MNIST_URL]
    assert not (tmp_path / "keras" / "datasets" / "mnist.npz").exists()
    assert os.listdir(tmp_path / "tmp") == []


def test_load_mnist_downloads_checks_and_caches_where_keras_looks(tmp_path, monkeypatch, offline):
    served = tmp_path / "served.npz"
    data = write_mnist(served)
    payload = served.read_bytes()
    monkeypatch.setattr(nc, "MNIST_SHA256", hashlib.sha256(payload).hexdigest())
    calls = serve(monkeypatch, payload)
    (x_train, _), _ = nc.load_mnist()
    np.testing.assert_array_equal(x_train, data["x_train"])
    cache = tmp_path / "keras" / "datasets" / "mnist.npz"
    assert cache.read_bytes() == payload and calls == [nc.MNIST_URL]
    assert os.listdir(tmp_path / "tmp") == []
    np.testing.assert_array_equal(nc.load_mnist()[0][0], data["x_train"])
    assert calls == [nc.MNIST_URL]                           # the second call reads the cache


@pytest.mark.skipif(not os.environ.get("MNIST_NPZ"), reason="MNIST_NPZ not set")
def test_load_mnist_real_file():
    (x_train, y_train), (x_test, y_test) = nc.load_mnist()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    X = nc.preprocess(x_train)
    # float32 reductions over 47 million pixels: exact to ~1e-6; the known values have 4 digits
    assert abs(X.mean() - 0.1307) < 1e-4 and abs(X.std() - 0.3081) < 1e-4


def test_preprocess():
    x = np.array([[[0] * 28] * 27 + [[255] * 28]], dtype=np.uint8)   # (1, 28, 28)
    X = nc.preprocess(x)
    assert X.shape == (1, 784) and X.dtype == np.float32
    assert X[0, :-28].max() == 0 and np.all(X[0, -28:] == 1)
    for bad in (x.astype(np.float32), x[0], x.reshape(1, 784)):
        with pytest.raises(ValueError, match=r"uint8 images \(m, 28, 28\)"):
            nc.preprocess(bad)


# --------------------------------------------------------------------------- one-hot
def test_one_hot_by_hand():
    Y = nc.one_hot(np.array([2, 0, 9]))
    assert Y.shape == (3, 10) and Y.dtype == np.float32
    expected = np.zeros((3, 10))
    expected[0, 2] = expected[1, 0] = expected[2, 9] = 1
    np.testing.assert_array_equal(Y, expected)


def test_one_hot_round_trip_and_fixed_width():
    y = np.random.default_rng(0).integers(0, 10, 100)
    np.testing.assert_array_equal(nc.one_hot(y).argmax(axis=1), y)
    assert nc.one_hot(np.array([0, 1, 2])).shape == (3, 10)        # never sized from the data
    assert nc.one_hot(np.array([], dtype=int)).shape == (0, 10)


@pytest.mark.parametrize("labels, message", [
    (np.array([0, 10]), r"0\.\.9"), (np.array([-1, 3]), r"0\.\.9"),
    (np.array([0.0, 1.0]), "integer"), (np.array([[1, 2]]), r"shape \(m,\)"),
])
def test_one_hot_rejects_bad_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        nc.one_hot(labels)


# --------------------------------------------------------------------------- activations
def test_relu_and_derivative_by_hand():
    Z = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(nc.relu(Z), [[0.0, 0.0, 3.0]])
    np.testing.assert_array_equal(nc.relu_derivative(Z), [[0.0, 0.0, 1.0]])
    assert nc.relu_derivative(Z.astype(np.float32)).dtype == np.float32


def test_relu_derivative_matches_finite_differences_away_from_zero():
    Z = np.random.default_rng(0).standard_normal((4, 5))
    Z[np.abs(Z) < 1e-3] = 0.5
    h = 1e-6
    numeric = (nc.relu(Z + h) - nc.relu(Z - h)) / (2 * h)
    # exact slopes 0 or 1; the difference quotient rounds at ~1e-16 / 1e-6 = 1e-10
    np.testing.assert_allclose(nc.relu_derivative(Z), numeric, atol=1e-9)


def test_softmax_by_hand_and_rows_sum_to_one():
    A = nc.softmax(np.array([[0.0, np.log(3.0)], [1.0, 1.0]]))
    # float64 exp and one division: a few ulp, far inside the default rtol 1e-7
    np.testing.assert_allclose(A, [[0.25, 0.75], [0.5, 0.5]])
    Z = np.random.default_rng(0).standard_normal((6, 10))
    np.testing.assert_allclose(nc.softmax(Z).sum(axis=1), 1.0)


def test_softmax_is_invariant_to_a_constant_per_row():
    Z = np.random.default_rng(0).standard_normal((6, 10))
    c = np.arange(6.0)[:, None] * 100
    # Z + c rounds Z to the ulp of 500 (~1e-13): that is the size of the difference
    np.testing.assert_allclose(nc.softmax(Z + c), nc.softmax(Z), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_stable_at_extreme_logits(dtype):
    Z = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
    A = nc.softmax(Z)                       # warnings are errors in this suite
    assert np.all(np.isfinite(A))
    np.testing.assert_allclose(A, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)   # float32 ulp


def test_cross_entropy_by_hand_and_safe_at_zero():
    Y = np.array([[0.0, 1.0], [1.0, 0.0]])
    A = np.array([[0.5, 0.5], [0.25, 0.75]])
    assert nc.cross_entropy(A, Y) == pytest.approx(-(np.log(0.5) + np.log(0.25)) / 2)
    zero = nc.cross_entropy(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    assert np.isfinite(zero) and zero > 700          # -log(tiny float64) ~ 708
    with pytest.raises(ValueError, match="one shape"):
        nc.cross_entropy(A, Y[:1])


# --------------------------------------------------------------------------- network
def test_init_params_shapes_scale_and_reproducibility():
    p = nc.init_params(rng=0)
    assert {k: v.shape for k, v in p.items()} == {"W1": (784, 10), "b1": (10,),
                                                  "W2": (10, 10), "b2": (10,)}
    assert all(v.dtype == np.float32 for v in p.values())
    assert not p["b1"].any() and not p["b2"].any()
    q = nc.init_params(rng=np.random.default_rng(0))
    for key in p:
        assert p[key].tobytes() == q[key].tobytes()      # random draws: bit for bit from one seed
    big = nc.init_params(784, 1000, 10, rng=1)
    assert big["W1"].std() == pytest.approx(np.sqrt(1 / 784), rel=0.01)   # 784,000 draws: ~0.1 %
    he = nc.init_params(784, 1000, 10, rng=1, init="he")
    assert he["W1"].std() == pytest.approx(np.sqrt(2 / 784), rel=0.01)
    deep = nc.init_params(784, (512, 256), 10, rng=0)
    assert nc.layer_sizes(deep) == [784, 512, 256, 10]
    assert nc.layer_sizes(nc.init_params(6, (), 3, rng=0)) == [6, 3]       # no hidden layer


@pytest.mark.parametrize("kwargs, message", [
    ({"init": "uniform"}, r"init must be 'lecun' \(std sqrt\(1/n_in\)\) or 'he'"),
    ({"method": "he"}, "method"),                                          # the old name is gone
    ({"n_hidden": 0}, "n_hidden must be an integer >= 1"),
    ({"n_hidden": -3}, "n_hidden"),
    ({"n_hidden": (5, 0)}, "n_hidden"),
    ({"n_hidden": 2.5}, "n_hidden"),
    ({"n_hidden": True}, "n_hidden"),
    ({"n_input": 0}, "n_input must be an integer >= 1"),
    ({"n_output": 0}, "n_output"),
    ({"dtype": np.int32}, "float dtype"),
    ({"rng": "seed"}, "rng must be"),
    ({"rng": -1}, "rng must be"),
])
def test_init_params_rejects_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message) as info:
        nc.init_params(**kwargs)
    if "method" not in kwargs:
        assert info.type is ValueError


def test_forward_propagation_shapes_and_values():
    X, y, Y, params = small_problem(n_hidden=(5,), m=7, d=6)
    cache = nc.forward_propagation(X, params)
    assert {k: v.shape for k, v in cache.items()} == {"Z1": (7, 5), "A1": (7, 5),
                                                      "Z2": (7, 10), "A2": (7, 10)}
    Z1 = X @ params["W1"] + params["b1"]
    A2 = nc.softmax(np.maximum(Z1, 0) @ params["W2"] + params["b2"])
    # float64 products of 6 and 5 terms: rounding ~1e-16; rtol 1e-7 is generous and still
    # catches a missing bias or activation (changes of order 0.1)
    np.testing.assert_allclose(cache["A2"], A2, rtol=1e-7)
    with pytest.raises(ValueError, match=r"shape \(m, 6\)"):
        nc.forward_propagation(X[:, :5], params)
    with pytest.raises(ValueError, match="do not fit"):
        nc.forward_propagation(X, {**params, "b1": np.zeros(4)})
    with pytest.raises(ValueError, match="preprocess"):
        nc.forward_propagation((X * 255).astype(np.uint8), params)


@pytest.mark.parametrize("n_hidden", [(5,), (6, 4), ()])
def test_every_gradient_matches_finite_differences(n_hidden):
    X, y, Y, params = small_problem(n_hidden=n_hidden)
    grads = nc.backward_propagation(X, Y, params, nc.forward_propagation(X, params))
    assert set(grads) == {f"d{k}" for k in params}
    for key, P in params.items():
        assert grads[f"d{key}"].shape == P.shape
        numeric = nc.numerical_gradient(lambda: loss_of(X, Y, params), P, eps=1e-5)
        # The course's rule (lessons 02 and 05): float64, eps 1e-5 for a mean loss, every
        # entry within relative error 1e-7 -- or, for an entry too small to carry seven
        # digits, within absolute error 1e-10 (the loss's rounding, ~|L| 2e-16 / eps, is
        # ~5e-11). A wrong formula gives relative errors of order 1.
        np.testing.assert_allclose(grads[f"d{key}"], numeric, rtol=1e-7, atol=1e-10,
                                   err_msg=f"d{key}")


def test_batch_size_comes_from_X():
    """The gradient of a batch is the mean over that batch, whatever its size."""
    X, y, Y, params = small_problem(m=8)
    full = nc.backward_propagation(X, Y, params, nc.forward_propagation(X, params))
    halves = [nc.backward_propagation(X[s], Y[s], params, nc.forward_propagation(X[s], params))
              for s in (slice(0, 4), slice(4, 8))]
    for key in full:
        # float64 sums of 8 terms in a different order: ~1e-16; dividing by a global m
        # instead of the batch's would be off by a factor 2
        np.testing.assert_allclose(full[key], (halves[0][key] + halves[1][key]) / 2, atol=1e-12)


# --------------------------------------------------------------------------- gradient descent
def test_update_params_by_hand():
    params = {"W1": np.ones((2, 2)), "b1": np.zeros(2)}
    grads = {"dW1": np.full((2, 2), 2.0), "db1": np.array([1.0, -1.0])}
    new = nc.update_params(params, grads, 0.5)
    np.testing.assert_array_equal(new["W1"], np.zeros((2, 2)))    # elementwise: exact
    np.testing.assert_array_equal(new["b1"], [-0.5, 0.5])
    assert params["W1"][0, 0] == 1.0                    # the input is left alone
    same = nc.update_params(params, grads, 0.0)         # a step of 0 (lesson 06 plots from 0)
    np.testing.assert_array_equal(same["W1"], params["W1"])
    with pytest.raises(ValueError, match="do not match"):
        nc.update_params(params, {"dW1": grads["dW1"]}, 0.5)


@pytest.mark.parametrize("learning_rate", [-0.1, np.nan, np.inf, "0.1", None])
def test_update_params_rejects_bad_learning_rates(learning_rate):
    params = {"W1": np.ones((2, 2))}
    with pytest.raises(ValueError, match="learning_rate must be a finite number >= 0"):
        nc.update_params(params, {"dW1": np.ones((2, 2))}, learning_rate)


def test_update_params_keeps_float32_with_a_numpy_rate():
    params = {"W1": np.ones(3, np.float32)}
    new = nc.update_params(params, {"dW1": np.ones(3, np.float32)}, np.float64(0.5))
    assert new["W1"].dtype == np.float32


def test_predictions_and_accuracy():
    A2 = np.array([[0.1, 0.9], [0.8, 0.2], [0.4, 0.6]])
    np.testing.assert_array_equal(nc.get_predictions(A2), [1, 0, 1])
    assert nc.get_accuracy(np.array([1, 0, 1]), np.array([1, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match=r"\(m,\)"):
        nc.get_accuracy(np.array([1, 0]), np.array([1, 0, 1]))


def test_predict_proba_and_make_predictions():
    X, y, Y, params = small_problem(m=23)
    A = nc.predict_proba(X, params, batch_size=5)              # five batches
    assert A.shape == (23, 10)
    # the same rows in batches of 5 and in one product: float64, 6-term dot products,
    # rounding ~1e-16 at most
    np.testing.assert_allclose(A, nc.forward_propagation(X, params)["A2"], rtol=1e-12)
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=1e-12)
    labels = nc.make_predictions(X, params)
    assert labels.shape == (23,) and labels.dtype.kind == "i"
    top2 = np.sort(A, axis=1)[:, -2:]
    assert np.all(top2[:, 1] - top2[:, 0] > 1e-9)     # no near-ties, so argmax is well defined
    np.testing.assert_array_equal(labels, A.argmax(axis=1))


def _bad_X(change):
    X, y, Y, params = small_problem()
    return change(X.copy()), params


@pytest.mark.parametrize("make, message", [
    (lambda X, p: (np.where(np.arange(6) == 2, np.nan, X), p), "X holds NaN or infinite"),
    (lambda X, p: (np.where(np.arange(6) == 2, np.inf, X), p), "X holds NaN or infinite"),
    (lambda X, p: ((X * 255).astype(np.uint8), p), "preprocess"),
    (lambda X, p: (X * 255, p), r"values from .* to .*, expected images scaled to \[0, 1\]"),
    (lambda X, p: (X - 0.5, p), r"scaled to \[0, 1\]"),
    (lambda X, p: (X[:0], p), r"no samples \(m = 0\)"),
    (lambda X, p: (X.tolist(), p), "float array"),
    (lambda X, p: (X, {**p, "W2": np.full_like(p["W2"], np.nan)}), "W2 holds NaN or infinite"),
    (lambda X, p: (X, {**p, "b1": np.full_like(p["b1"], -np.inf)}), "b1 holds NaN or infinite"),
    (lambda X, p: (X, {**p, "W1": p["W1"].astype(np.int64)}), "W1 has dtype int64"),
    (lambda X, p: (X[:, :5], p), r"shape \(m, 6\)"),
])
@pytest.mark.parametrize("entry", ["predict_proba", "make_predictions", "evaluate"])
def test_prediction_and_evaluation_refuse_bad_input(entry, make, message):
    X, y, Y, params = small_problem()
    X, params = make(X, params)
    call = {"predict_proba": lambda: nc.predict_proba(X, params),
            "make_predictions": lambda: nc.make_predictions(X, params),
            "evaluate": lambda: nc.evaluate(X, y[:len(X)], params)}[entry]
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, None])
def test_predict_proba_rejects_bad_batch_sizes(batch_size):
    X, y, Y, params = small_problem()
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        nc.predict_proba(X, params, batch_size=batch_size)


def test_gradient_descent_learns_a_separable_problem(capsys):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 200)
    X = (0.8 * nc.one_hot(y) + 0.2 * rng.random((200, 10))).astype(np.float32)   # in [0, 1]
    params, history = nc.gradient_descent(X, y, 0.5, 200, n_hidden=16, rng=0, log_every=100)
    assert history["loss"].shape == (200,) and history["loss"][-1] < history["loss"][0] / 5
    assert history["accuracy"][-1] == 1.0
    assert params["W1"].dtype == np.float32 and params["W1"].shape == (10, 16)
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in printed] == ["0", "100", "199"]
    assert printed[0].startswith("iteration     0  loss ")
    again, _ = nc.gradient_descent(X, y, 0.5, 200, n_hidden=16, rng=0, progress=False)
    assert capsys.readouterr().out == ""
    # determinism: the same code on the same machine twice, so bit for bit
    assert all(again[k].tobytes() == params[k].tobytes() for k in params)
    he, _ = nc.gradient_descent(X, y, 0.5, 1, n_hidden=16, rng=0, init="he", progress=False)
    assert not np.array_equal(he["b2"], params["b2"])


@pytest.mark.parametrize("change, message", [
    ({"y": np.array([0, 1, 2])}, "4 rows but y has 3 labels"),
    ({"y": np.array([0, 1, 2, 12])}, r"0\.\.9"),
    ({"y": np.array([0.0, 1, 2, 3])}, "integer labels"),
    ({"X": np.full((4, 3), np.nan, np.float32)}, "NaN"),
    ({"X": np.full((4, 3), 255, np.uint8)}, "float array"),
    ({"X": np.full((4, 3), 3.0, np.float32)}, r"scaled to \[0, 1\]"),
    ({"X": np.zeros((0, 3), np.float32), "y": np.zeros(0, int)}, r"m = 0"),
    ({"learning_rate": 0}, "learning_rate must be a finite number > 0"),
    ({"learning_rate": -0.5}, "learning_rate"),
    ({"learning_rate": np.nan}, "learning_rate"),
    ({"learning_rate": np.inf}, "learning_rate"),
    ({"iterations": 0}, "iterations must be an integer >= 1"),
    ({"iterations": 2.0}, "iterations"),
    ({"log_every": 0}, "log_every"),
    ({"n_hidden": 0}, "n_hidden"),
    ({"init": "glorot"}, "init must be"),
    ({"params": {"W1": np.zeros((5, 2), np.float32), "b1": np.zeros(2, np.float32)}}, r"shape \(m, 5\)"),
    ({"params": {"W1": np.full((3, 10), np.nan, np.float32), "b1": np.zeros(10, np.float32)}}, "W1 holds NaN"),
])
def test_gradient_descent_rejects_bad_input(change, message):
    arguments = {"X": np.zeros((4, 3), np.float32), "y": np.array([0, 1, 2, 3]),
                 "learning_rate": 0.1, "iterations": 1, "progress": False, **change}
    with pytest.raises(ValueError, match=message):
        nc.gradient_descent(**arguments)


def test_gradient_descent_reports_divergence():
    X, y, Y, params = small_problem(dtype=np.float32)
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="lower the learning rate"):
        nc.gradient_descent(X, y, 1e30, 20, params=params, progress=False)


# --------------------------------------------------------------------------- saving
def cnn_like_params(seed=0):
    """A params dict with the CNN's names and shapes (not an MLP: no chain of W's)."""
    rng = np.random.default_rng(seed)
    shapes = {"K1": (5, 5, 1, 4), "b1": (4,), "K2": (5, 5, 4, 8), "b2": (8,),
              "W3": (128, 16), "b3": (16,), "W4": (16, 10), "b4": (10,)}
    return {key: rng.standard_normal(shape).astype(np.float32) for key, shape in shapes.items()}


def test_save_load_round_trip(tmp_path):
    params = nc.init_params(784, (12, 8), 10, rng=0)
    path = tmp_path / "model.npz"
    nc.save_params(path, params, test_accuracy=0.93)
    loaded, meta = nc.load_params(path, with_metadata=True)
    assert set(loaded) == set(params)
    for key in params:
        assert loaded[key].dtype == params[key].dtype
        assert loaded[key].tobytes() == params[key].tobytes()
    assert meta["layer_sizes"] == [784, 12, 8, 10] and meta["test_accuracy"] == 0.93
    assert meta["shapes"] == {"W1": [784, 12], "b1": [12], "W2": [12, 8], "b2": [8],
                              "W3": [8, 10], "b3": [10]}
    assert meta["npcore_version"] == nc.__version__ and "255" in meta["preprocessing"]
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]          # no temp file left behind
    assert nc.load_params(str(path)).keys() == params.keys()      # str paths too


def test_save_load_round_trip_of_cnn_params(tmp_path):
    params = cnn_like_params()
    path = tmp_path / "cnn.npz"
    nc.save_params(path, params, epochs=5)
    loaded, meta = nc.load_params(path, with_metadata=True)
    assert list(loaded) == list(params)
    for key in params:
        assert loaded[key].tobytes() == params[key].tobytes() and loaded[key].shape == params[key].shape
    assert "layer_sizes" not in meta and meta["shapes"]["K2"] == [5, 5, 4, 8] and meta["epochs"] == 5


@pytest.mark.parametrize("make, message", [
    (lambda p: {**p, "W2": np.where(p["W2"] == p["W2"][0, 0], np.nan, p["W2"])}, "W2 holds NaN"),
    (lambda p: {**p, "b1": np.full(10, np.inf, np.float32)}, "b1 holds NaN or infinite"),
    (lambda p: {**p, "W1": p["W1"].astype(np.int32)}, "expected a float array"),
    (lambda p: {**p, "b2": np.float32(0.0)}, "at least one axis"),
    (lambda p: {**p, "b2": np.array(0.0, np.float32)}, "at least one axis"),
    (lambda p: {**p, "b2": [0.0] * 10}, "expected a float array"),
    (lambda p: {**p, "__metadata__": np.zeros(1)}, "'__metadata__' is not allowed"),
    (lambda p: {**p, "W-1": np.zeros(1)}, "'W-1' is not allowed"),
    (lambda p: {**p, 3: np.zeros(1)}, "3 is not allowed"),
    (lambda p: {}, "non-empty dict"),
    (lambda p: list(p.values()), "non-empty dict"),
    (lambda p: {**p, "b1": np.zeros(4, np.float32)}, "do not fit"),     # an MLP whose shapes do not chain
])
def test_save_params_rejects_bad_params_and_writes_nothing(tmp_path, make, message):
    with pytest.raises(ValueError, match=message):
        nc.save_params(tmp_path / "model.npz", make(nc.init_params(rng=0)))
    assert os.listdir(tmp_path) == []


def test_save_params_rejects_bad_paths_and_metadata(tmp_path):
    params = nc.init_params(rng=0)
    with pytest.raises(ValueError, match=r"\.npz"):
        nc.save_params(tmp_path / "model.pkl", params)
    with pytest.raises(ValueError, match="does not exist"):
        nc.save_params(tmp_path / "no" / "model.npz", params)
    with pytest.raises(TypeError):                                # metadata must be JSON
        nc.save_params(tmp_path / "model.npz", params, when=object())
    with pytest.raises(ValueError, match="sha256, shapes cannot be given as metadata"):
        nc.save_params(tmp_path / "model.npz", params, shapes={}, sha256="0" * 64)
    assert os.listdir(tmp_path) == []


def test_save_params_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    nc.save_params(path, nc.init_params(rng=0))
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np.lib.format, "write_array", crash)     # fails in the middle of writing
    with pytest.raises(OSError, match="disk full"):
        nc.save_params(path, nc.init_params(rng=1))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.npz"]


def _saved(tmp_path, params=None):
    path = tmp_path / "model.npz"
    nc.save_params(path, nc.init_params(rng=0) if params is None else params)
    return path


def _arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def test_load_params_rejects_truncated_file(tmp_path):
    path = _saved(tmp_path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="corrupt or truncated") as info:
        nc.load_params(path)
    assert "model.npz" in str(info.value)


def test_load_params_rejects_flipped_bytes(tmp_path):
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    data[2000] ^= 0xFF                                       # inside W1's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model.npz"):
        nc.load_params(path)


@pytest.mark.parametrize("params", [None, cnn_like_params()], ids=["mlp", "cnn"])
def test_load_params_rejects_re_saved_values(tmp_path, params):
    path = _saved(tmp_path, params)
    arrays = _arrays(path)
    arrays["b1"] = arrays["b1"] + 1                          # a tampered, well-formed file
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="modified after saving"):
        nc.load_params(path)


def test_load_params_rejects_pickles_and_foreign_files(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, W1=np.array([{"a": 1}], dtype=object), b1=np.zeros(1))
    with pytest.raises(ValueError, match="evil.npz"):
        nc.load_params(path)
    no_meta = tmp_path / "plain.npz"
    np.savez(no_meta, **nc.init_params(rng=0))
    with pytest.raises(ValueError, match="__metadata__"):
        nc.load_params(no_meta)
    not_zip = tmp_path / "text.npz"
    not_zip.write_text("hello")
    with pytest.raises(ValueError, match="text.npz"):
        nc.load_params(not_zip)
    with pytest.raises(FileNotFoundError):
        nc.load_params(tmp_path / "missing.npz")


@pytest.mark.parametrize("metadata, message", [
    (np.array("not json"), "no valid __metadata__"),
    (np.array(json.dumps([1, 2])), "no valid __metadata__"),
    (np.array(json.dumps({"layer_sizes": [784, 10, 10]})), "no valid __metadata__"),
    (np.zeros(3), "no valid __metadata__"),
])
def test_load_params_rejects_bad_metadata(tmp_path, metadata, message):
    path = _saved(tmp_path)
    arrays = _arrays(path)
    arrays["__metadata__"] = metadata
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        nc.load_params(path)


def test_load_params_rejects_wrong_shapes_even_with_a_recomputed_digest(tmp_path):
    params = nc.init_params(rng=0)
    path = _saved(tmp_path, params)
    meta = json.loads(str(_arrays(path)["__metadata__"]))
    bad = {**params, "b2": np.zeros(3, np.float32)}
    meta["sha256"] = nc._digest(bad)                         # a forger who recomputes the digest
    meta["shapes"]["b2"] = [3]                               # ... and the shapes
    np.savez(path, **bad, __metadata__=np.array(json.dumps(meta)))
    with pytest.raises(ValueError, match="do not fit"):      # an MLP's layers must still chain
        nc.load_params(path)


def test_load_params_compares_the_shapes_with_the_metadata(tmp_path):
    params = cnn_like_params()
    path = _saved(tmp_path, params)
    meta = json.loads(str(_arrays(path)["__metadata__"]))
    bad = {**params, "K1": params["K1"].reshape(5, 5, 4, 1)}    # same bytes, another shape
    meta["sha256"] = nc._digest(bad)
    np.savez(path, **bad, __metadata__=np.array(json.dumps(meta)))
    with pytest.raises(ValueError, match="modified after saving"):
        nc.load_params(path)


def test_load_params_reads_files_saved_before_shapes_were_recorded(tmp_path):
    params = nc.init_params(784, 16, 10, rng=0)
    path = _saved(tmp_path, params)
    arrays = _arrays(path)
    meta = json.loads(str(arrays["__metadata__"]))
    del meta["shapes"]                                       # what npcore wrote before "shapes"
    arrays["__metadata__"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    assert nc.layer_sizes(nc.load_params(path)) == [784, 16, 10]


# --------------------------------------------------------------------------- checking tools
def test_numerical_gradient_of_known_functions():
    x = np.array([1.0, -2.0, 3.0])
    # centred differences of smooth functions, eps 1e-6: error ~eps^2 plus rounding ~1e-10
    np.testing.assert_allclose(nc.numerical_gradient(lambda: np.sum(x ** 3), x), 3 * x ** 2,
                               rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])      # restored
    M = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(nc.numerical_gradient(lambda: np.sum(np.sin(M)), M), np.cos(M),
                               atol=1e-9)


def test_relative_error():
    assert nc.relative_error([1.0, 2.0], [1.0, 2.0]) == 0
    assert nc.relative_error([1.0], [3.0]) == pytest.approx(0.5)
    assert nc.relative_error([0.0], [0.0]) == 0


# --------------------------------------------------------------------------- docstrings
def test_every_public_function_names_its_lesson_on_its_own_last_line():
    for name, fn in inspect.getmembers(nc, inspect.isfunction):
        if name.startswith("_") or fn.__module__ != "npcore" or name == "main":
            continue
        last = inspect.getdoc(fn).splitlines()[-1]
        assert last.startswith("Lesson ") and last.endswith(".") and len(last) == len("Lesson 00."), name


# --------------------------------------------------------------------------- command line
def tiny_mnist(path):
    rng = np.random.default_rng(0)
    y = np.arange(200) % 10
    x = np.zeros((200, 28, 28), np.uint8)
    x[np.arange(200), y, y] = 255                               # one bright pixel per class
    x = np.maximum(x, rng.integers(0, 30, x.shape, dtype=np.uint8))
    np.savez(path, x_train=x, y_train=y.astype(np.uint8), x_test=x[:50], y_test=y[:50].astype(np.uint8))


def test_main_trains_saves_and_reloads(tmp_path, capsys):
    path = tmp_path / "mnist.npz"
    tiny_mnist(path)
    out = tmp_path / "model.npz"
    assert nc.main(["--data", str(path), "--iterations", "300", "--learning-rate", "1",
                    "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy  1.0000" in printed
    assert nc.load_params(out, with_metadata=True)[1]["test_accuracy"] == 1.0


@pytest.mark.parametrize("argv, message", [
    (["--iterations", "0"], "--iterations must be >= 1, got 0"),
    (["--iterations", "-5"], "--iterations must be >= 1"),
    (["--learning-rate", "0"], "--learning-rate must be a finite number > 0, got 0.0"),
    (["--learning-rate", "-1"], "--learning-rate must be a finite number > 0"),
    (["--learning-rate", "nan"], "--learning-rate must be a finite number > 0, got nan"),
    (["--learning-rate", "inf"], "--learning-rate must be a finite number > 0, got inf"),
    (["--hidden", "0"], "--hidden must be >= 1, got 0"),
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--out", "model.pkl"], "--out must be a .npz file name"),
    (["--out", "no_such_folder/model.npz"], "does not exist or is not writable"),
    (["--data", "missing.npz"], "--data 'missing.npz' is not a file"),
    (["--iterations", "ten"], "invalid int value"),
])
def test_main_checks_its_arguments_before_loading_data(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)

    def must_not_load(*args, **kwargs):
        raise AssertionError("load_mnist was called before the arguments were checked")
    monkeypatch.setattr(nc, "load_mnist", must_not_load)
    with pytest.raises(SystemExit) as info:
        nc.main(argv)
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]      # usage, then one line of error
    assert message in last


def test_main_as_a_script_prints_one_line_of_error_and_exits_with_2(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "npcore.py"), "--iterations", "0"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120,
                            env={**os.environ, "MNIST_NPZ": str(tmp_path / "unused.npz")})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == "npcore.py: error: --iterations must be >= 1, got 0"
    assert "Traceback" not in result.stderr
