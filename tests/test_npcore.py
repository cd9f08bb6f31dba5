"""Unit tests for npcore: shapes, hand-worked values, gradient checks, file safety.

Run with warnings as errors (pytest.ini does): an overflow in softmax fails here.
"""
import json
import os
import zipfile

import numpy as np
import pytest

import npcore as nc


# --------------------------------------------------------------------------- helpers
def small_problem(n_hidden=(5,), m=7, d=6, k=10, seed=0, dtype=np.float64):
    """A tiny random network and batch in float64 for gradient checks."""
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


@pytest.mark.parametrize("override, message", [
    ({"y_test": None}, "lacks the arrays"),
    ({"x_train": np.zeros((12, 28, 27), np.uint8)}, r"x_train is uint8 \(12, 28, 27\)"),
    ({"x_train": np.zeros((12, 28, 28), np.float32)}, "x_train is float32"),
    ({"y_train": np.full(12, 10, np.uint8)}, "label 10"),
    ({"y_train": np.zeros(11, np.uint8)}, "12 train images but 11 labels"),
    ({"y_test": np.array([object()] * 5)}, "cannot be read safely"),
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


def test_load_mnist_never_touches_the_network_when_given_a_file(tmp_path, monkeypatch):
    path = tmp_path / "mnist.npz"
    write_mnist(path)
    monkeypatch.setitem(__import__("sys").modules, "keras", None)  # importing keras would fail
    nc.load_mnist(path)


@pytest.mark.skipif(not os.environ.get("MNIST_NPZ"), reason="MNIST_NPZ not set")
def test_load_mnist_real_file():
    (x_train, y_train), (x_test, y_test) = nc.load_mnist()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    X = nc.preprocess(x_train)
    assert abs(X.mean() - 0.1307) < 1e-4 and abs(X.std() - 0.3081) < 1e-4


def test_preprocess():
    x = np.array([[[0] * 28] * 27 + [[255] * 28]], dtype=np.uint8)   # (1, 28, 28)
    X = nc.preprocess(x)
    assert X.shape == (1, 784) and X.dtype == np.float32
    assert X[0, :-28].max() == 0 and np.all(X[0, -28:] == 1)
    for bad in (x.astype(np.float32), x[0], x.reshape(1, 784)):
        with pytest.raises(ValueError, match=r"uint8 images \(n, 28, 28\)"):
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
    np.testing.assert_allclose(nc.relu_derivative(Z), numeric, atol=1e-9)


def test_softmax_by_hand_and_rows_sum_to_one():
    A = nc.softmax(np.array([[0.0, np.log(3.0)], [1.0, 1.0]]))
    np.testing.assert_allclose(A, [[0.25, 0.75], [0.5, 0.5]])
    Z = np.random.default_rng(0).standard_normal((6, 10))
    np.testing.assert_allclose(nc.softmax(Z).sum(axis=1), 1.0)


def test_softmax_is_invariant_to_a_constant_per_row():
    Z = np.random.default_rng(0).standard_normal((6, 10))
    c = np.arange(6.0)[:, None] * 100
    np.testing.assert_allclose(nc.softmax(Z + c), nc.softmax(Z), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_stable_at_extreme_logits(dtype):
    Z = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
    A = nc.softmax(Z)                       # warnings are errors in this suite
    assert np.all(np.isfinite(A))
    np.testing.assert_allclose(A, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


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
        assert p[key].tobytes() == q[key].tobytes()      # bit for bit from the same seed
    big = nc.init_params(784, 1000, 10, rng=1)
    assert big["W1"].std() == pytest.approx(np.sqrt(1 / 784), rel=0.01)
    he = nc.init_params(784, 1000, 10, rng=1, method="he")
    assert he["W1"].std() == pytest.approx(np.sqrt(2 / 784), rel=0.01)
    deep = nc.init_params(784, (512, 256), 10, rng=0)
    assert nc.layer_sizes(deep) == [784, 512, 256, 10]
    with pytest.raises(ValueError, match="xavier"):
        nc.init_params(method="uniform")


def test_forward_propagation_shapes_and_values():
    X, y, Y, params = small_problem(n_hidden=(5,), m=7, d=6)
    cache = nc.forward_propagation(X, params)
    assert {k: v.shape for k, v in cache.items()} == {"Z1": (7, 5), "A1": (7, 5),
                                                      "Z2": (7, 10), "A2": (7, 10)}
    Z1 = X @ params["W1"] + params["b1"]
    A2 = nc.softmax(np.maximum(Z1, 0) @ params["W2"] + params["b2"])
    np.testing.assert_allclose(cache["A2"], A2)
    with pytest.raises(ValueError, match=r"shape \(m, 6\)"):
        nc.forward_propagation(X[:, :5], params)
    with pytest.raises(ValueError, match="do not fit"):
        nc.forward_propagation(X, {**params, "b1": np.zeros(4)})


@pytest.mark.parametrize("n_hidden", [(5,), (6, 4), ()])
def test_every_gradient_matches_finite_differences(n_hidden):
    X, y, Y, params = small_problem(n_hidden=n_hidden)
    grads = nc.backward_propagation(X, Y, params, nc.forward_propagation(X, params))
    assert set(grads) == {f"d{k}" for k in params}
    for key, P in params.items():
        assert grads[f"d{key}"].shape == P.shape
        numeric = nc.numerical_gradient(lambda: loss_of(X, Y, params), P)
        error = nc.relative_error(grads[f"d{key}"], numeric)
        assert error < 1e-7, f"d{key}: relative error {error:.2e}"


def test_batch_size_comes_from_X():
    """The gradient of a batch is the mean over that batch, whatever its size."""
    X, y, Y, params = small_problem(m=8)
    full = nc.backward_propagation(X, Y, params, nc.forward_propagation(X, params))
    halves = [nc.backward_propagation(X[s], Y[s], params, nc.forward_propagation(X[s], params))
              for s in (slice(0, 4), slice(4, 8))]
    for key in full:
        np.testing.assert_allclose(full[key], (halves[0][key] + halves[1][key]) / 2, atol=1e-12)


def test_update_params_by_hand():
    params = {"W1": np.ones((2, 2)), "b1": np.zeros(2)}
    grads = {"dW1": np.full((2, 2), 2.0), "db1": np.array([1.0, -1.0])}
    new = nc.update_params(params, grads, 0.5)
    np.testing.assert_array_equal(new["W1"], np.zeros((2, 2)))
    np.testing.assert_array_equal(new["b1"], [-0.5, 0.5])
    assert params["W1"][0, 0] == 1.0                    # the input is left alone
    with pytest.raises(ValueError, match="do not match"):
        nc.update_params(params, {"dW1": grads["dW1"]}, 0.5)


def test_predictions_and_accuracy():
    A2 = np.array([[0.1, 0.9], [0.8, 0.2], [0.4, 0.6]])
    np.testing.assert_array_equal(nc.get_predictions(A2), [1, 0, 1])
    assert nc.get_accuracy(np.array([1, 0, 1]), np.array([1, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match=r"\(m,\)"):
        nc.get_accuracy(np.array([1, 0]), np.array([1, 0, 1]))
    X, y, Y, params = small_problem()
    np.testing.assert_array_equal(nc.make_predictions(X, params),
                                  nc.forward_propagation(X, params)["A2"].argmax(axis=1))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        nc.make_predictions(X, params)


def test_confusion_matrix_by_hand():
    y_true = np.array([0, 0, 1, 2, 2, 2], np.uint8)
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    expected = [[1, 1, 0],
                [0, 1, 0],
                [1, 0, 2]]                                    # rows: true label
    C = nc.confusion_matrix(y_true, y_pred, num_classes=3)
    np.testing.assert_array_equal(C, expected)
    assert C.dtype.kind == "i"
    assert nc.confusion_matrix(y_true, y_pred).shape == (10, 10)
    np.testing.assert_array_equal(nc.confusion_matrix(np.array([], int), np.array([], int), 2),
                                  np.zeros((2, 2)))
    big = np.full(3, 19, np.uint8)                            # 20 * 19 + 19 overflows uint8
    assert nc.confusion_matrix(big, big, num_classes=20)[19, 19] == 3
    with pytest.raises(ValueError, match=r"0\.\.2"):
        nc.confusion_matrix(y_true, y_pred + 1, num_classes=3)
    with pytest.raises(ValueError, match=r"\(m,\)"):
        nc.confusion_matrix(y_true, y_pred[:5])
    with pytest.raises(ValueError, match="integer"):
        nc.confusion_matrix(y_true, y_pred.astype(float))

def test_gradient_descent_learns_a_separable_problem(capsys):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 200)
    X = (nc.one_hot(y) + 0.1 * rng.standard_normal((200, 10))).astype(np.float32)
    params, history = nc.gradient_descent(X, y, 0.5, 200, n_hidden=16, rng=0, log_every=100)
    assert history["loss"].shape == (200,) and history["loss"][-1] < history["loss"][0] / 5
    assert history["accuracy"][-1] == 1.0
    assert params["W1"].dtype == np.float32
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in printed] == ["0", "100", "199"]
    again, _ = nc.gradient_descent(X, y, 0.5, 200, n_hidden=16, rng=0, progress=False)
    assert capsys.readouterr().out == ""
    assert all(again[k].tobytes() == params[k].tobytes() for k in params)


def test_gradient_descent_rejects_bad_input():
    X = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="4 rows but y has 3"):
        nc.gradient_descent(X, np.array([0, 1, 2]), 0.1, 1, progress=False)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        nc.gradient_descent(X, np.array([0, 1, 2, 12]), 0.1, 1, progress=False)
    X[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        nc.gradient_descent(X, np.array([0, 1, 2, 3]), 0.1, 1, progress=False)


def test_gradient_descent_reports_divergence():
    X, y, Y, params = small_problem(dtype=np.float32)
    params["W1"] *= 1e37                                     # logits overflow to inf
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="lower the learning rate"):
        nc.gradient_descent(X * 1e3, y, 1.0, 5, params=params, progress=False)


# --------------------------------------------------------------------------- saving
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
    assert meta["npcore_version"] == nc.__version__ and "255" in meta["preprocessing"]
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]          # no temp file left behind


def test_save_params_rejects_bad_input_and_writes_nothing(tmp_path):
    params = nc.init_params(rng=0)
    with pytest.raises(ValueError, match=r"\.npz"):
        nc.save_params(tmp_path / "model.pkl", params)
    bad = {**params, "W2": params["W2"].copy()}
    bad["W2"][0, 0] = np.nan
    with pytest.raises(ValueError, match="W2 holds NaN"):
        nc.save_params(tmp_path / "model.npz", bad)
    with pytest.raises(ValueError, match="W1, b1"):
        nc.save_params(tmp_path / "model.npz", {"W1": params["W1"]})
    with pytest.raises(TypeError):                                # metadata must be JSON
        nc.save_params(tmp_path / "model.npz", params, when=object())
    assert os.listdir(tmp_path) == []


def test_save_params_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    nc.save_params(path, nc.init_params(rng=0))
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(nc.np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        nc.save_params(path, nc.init_params(rng=1))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.npz"]


def _saved(tmp_path):
    path = tmp_path / "model.npz"
    nc.save_params(path, nc.init_params(rng=0))
    return path


def test_load_params_rejects_truncated_file(tmp_path):
    path = _saved(tmp_path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="not a valid params file"):
        nc.load_params(path)


def test_load_params_rejects_flipped_bytes(tmp_path):
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    data[2000] ^= 0xFF                                       # inside W1's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model.npz"):
        nc.load_params(path)


def test_load_params_rejects_re_saved_values(tmp_path):
    path = _saved(tmp_path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["W1"] = arrays["W1"] * 2                          # a tampered, well-formed file
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


def test_load_params_rejects_wrong_shapes_even_with_matching_digest(tmp_path):
    params = nc.init_params(rng=0)
    path = tmp_path / "model.npz"
    nc.save_params(path, params)
    with zipfile.ZipFile(path) as z:
        meta = json.loads(str(np.load(z.open("__metadata__.npy"))))
    bad = {**params, "b2": np.zeros(3, np.float32)}
    meta["sha256"] = nc._digest(bad)                         # a forger who recomputes the digest
    np.savez(path, **bad, __metadata__=np.array(json.dumps(meta)))
    with pytest.raises(ValueError, match="do not fit"):
        nc.load_params(path)


# --------------------------------------------------------------------------- checking tools
def test_numerical_gradient_of_known_functions():
    x = np.array([1.0, -2.0, 3.0])
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


def test_main_trains_saves_and_reloads(tmp_path, capsys):
    path = tmp_path / "mnist.npz"
    rng = np.random.default_rng(0)
    y = np.arange(200) % 10
    x = np.zeros((200, 28, 28), np.uint8)
    x[np.arange(200), y, y] = 255                               # one bright pixel per class
    x = np.maximum(x, rng.integers(0, 30, x.shape, dtype=np.uint8))
    np.savez(path, x_train=x, y_train=y.astype(np.uint8), x_test=x[:50], y_test=y[:50].astype(np.uint8))
    out = tmp_path / "model.npz"
    assert nc.main(["--data", str(path), "--iterations", "300", "--learning-rate", "1",
                    "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy  1.0000" in printed
    assert nc.load_params(out, with_metadata=True)[1]["test_accuracy"] == 1.0
