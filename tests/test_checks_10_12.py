"""Tests of the self-checks of lessons 10 and 12's exercises (selfcheck.py, sections
"lesson 10 (exercises)" and "lesson 12 (exercises)"): a correct solution passes with its
one line, the typical mistakes get their hint, and an unwritten exercise (a function that
raises NotImplementedError, as in the student edition) gets "not done yet". The checks of
lesson 10 that build Keras models are marked keras."""
import os

import numpy as np
import pytest

import npconv
import npcore
import selfcheck
from check_helpers import fails, my_function, passes
from selfcheck import PASSED, SelfCheckError


# --------------------------------------------------------------------------- lesson 10
@pytest.mark.keras
def test_keras_l2_passes_half_of_lambda_and_names_the_factor_of_two(capsys):
    passes("keras_l2", lambda lam: lam / 2, capsys)
    fails("keras_l2", lambda lam: lam, "twice npcore's: Keras puts no 1/2")
    fails("keras_l2", lambda lam: 2 * lam, "four times npcore's")
    fails("keras_l2", lambda lam: lam / 4, "half npcore's")
    fails("keras_l2", lambda lam: lam / 2 + 1e-3, "keras_l2(0.0) is 0.001")
    fails("keras_l2", lambda lam: None, "did you forget the `return`?")
    fails("keras_l2", my_function, "not done yet")


def count_parameters(sizes):
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def test_count_parameters_passes_weights_and_biases_and_names_what_is_missing(capsys):
    passes("count_parameters", count_parameters, capsys)
    fails("count_parameters", lambda s: sum(a * b for a, b in zip(s[:-1], s[1:])),
          "that counts only the weights")
    fails("count_parameters", lambda s: count_parameters(s) + s[0], "the input layer has no biases")
    fails("count_parameters",
          lambda s: sum(a * b + a for a, b in zip(s[:-1], s[1:])), "layer l has n_l biases, not n_(l-1)")
    fails("count_parameters", lambda s: 535_818, "count_parameters([784, 10]) is 535,818, expected 7,850")
    fails("count_parameters", my_function, "not done yet")


def keras_net(params, last_activation):
    import keras
    sizes = npcore.layer_sizes(params)
    L = len(sizes) - 1
    model = keras.Sequential([keras.Input((sizes[0],))] +
                             [keras.layers.Dense(n, activation="relu" if l < L else last_activation)
                              for l, n in enumerate(sizes[1:], start=1)])
    for l, layer in enumerate(model.layers, start=1):
        layer.set_weights([params[f"W{l}"].copy(), params[f"b{l}"].copy()])
    return model


def keras_loss(last_activation, from_logits):
    def fn(params, X, Y):
        import keras
        out = np.asarray(keras_net(params, last_activation).predict(X, verbose=0))
        return float(keras.losses.CategoricalCrossentropy(from_logits=from_logits)(Y, out))
    return fn


@pytest.mark.keras
def test_fixed_keras_loss_passes_logits_and_names_softmax_twice_and_clipping(capsys):
    passes("fixed_keras_loss", keras_loss(None, True), capsys)
    fails("fixed_keras_loss", keras_loss("softmax", True), "still softmax applied twice")
    fails("fixed_keras_loss", keras_loss("softmax", False), "clipped to [1e-7, 1 - 1e-7]")
    fails("fixed_keras_loss", keras_loss(None, False),
          "a last layer with no activation, and keras.losses.CategoricalCrossentropy(from_logits=True)")
    fails("fixed_keras_loss", my_function, "not done yet")


# --------------------------------------------------------------------------- lesson 12
def cnn_param_counts(channels=(16, 32), kernel=5, n_hidden=128, image_size=28, k=10):
    F1, F2 = channels
    side = ((image_size - kernel + 1) // 2 - kernel + 1) // 2
    return {"K1": kernel * kernel * F1, "b1": F1, "K2": kernel * kernel * F1 * F2, "b2": F2,
            "W3": side * side * F2 * n_hidden, "b3": n_hidden, "W4": n_hidden * k, "b4": k}


def test_cnn_param_counts_passes_and_names_the_array_that_is_wrong(capsys):
    passes("cnn_param_counts", cnn_param_counts, capsys)

    def no_pooling(**config):
        counts = cnn_param_counts(**config)
        size, kernel = config.get("image_size", 28), config.get("kernel", 5)
        counts["W3"] = (size - 2 * kernel + 2) ** 2 * config.get("channels", (16, 32))[1] * config.get("n_hidden", 128)
        return counts

    def k2_one_channel(**config):
        return {**cnn_param_counts(**config), "K2": config.get("kernel", 5) ** 2 * config.get("channels", (16, 32))[1]}

    fails("cnn_param_counts", no_pooling, "W3 should hold 65,536 numbers, got 1,638,400")
    fails("cnn_param_counts", k2_one_channel, "reads all F1 = 16 channels")
    fails("cnn_param_counts", lambda **c: {k: v for k, v in cnn_param_counts(**c).items() if k != "b4"},
          "lacks b4")
    fails("cnn_param_counts", my_function, "not done yet")


def unflatten_channels_first(X, Y, params, cache):
    """npconv.cnn_backward with the lesson's planted bug: dA2 unflattened as (m, C2, 4, 4)."""
    m = X.shape[0]
    dZ4 = (cache["A4"] - Y) / m
    dZ3 = (dZ4 @ params["W4"].T) * (cache["Z3"] > 0)
    _, H, W, C = cache["A2"].shape
    dA2 = (dZ3 @ params["W3"].T).reshape(m, C, H, W).transpose(0, 2, 3, 1)
    dP2 = dA2 * (cache["A2"] > 0)
    dZ2 = npconv.maxpool_backward(dP2, cache["pool2"])
    dA1, dK2, db2 = npconv.conv_backward(dZ2, cache["conv2"])
    dP1 = dA1 * (cache["A1"] > 0)
    dZ1 = npconv.maxpool_backward(dP1, cache["pool1"])
    _, dK1, db1 = npconv.conv_backward(dZ1, cache["conv1"], need_dX=False)
    return {"dK1": dK1, "db1": db1, "dK2": dK2, "db2": db2, "dW3": cache["A2_flat"].T @ dZ3,
            "db3": dZ3.sum(axis=0), "dW4": cache["A3"].T @ dZ4, "db4": dZ4.sum(axis=0)}


def test_cnn_backward_passes_npconv_and_locates_the_first_wrong_step(capsys):
    passes("fixed_cnn_backward", npconv.cnn_backward, capsys)
    fails("fixed_cnn_backward", unflatten_channels_first,
          "dK2, db2, dK1, db1 disagree with finite differences while dW4, db4, dW3, db3 agree — the first "
          "step backward that goes wrong is between dZ3 and dZ2")

    def no_first_relu_mask(X, Y, params, cache):
        real = cache["A1"]
        grads = npconv.cnn_backward(X, Y, params, {**cache, "A1": np.abs(real) + 1})   # every mask 1
        return grads

    fails("fixed_cnn_backward", no_first_relu_mask, "dK1, db1 disagree")
    fails("fixed_cnn_backward", no_first_relu_mask, "between dZ2 and dZ1")
    fails("fixed_cnn_backward", lambda X, Y, p, c: {k: 2 * g for k, g in npconv.cnn_backward(X, Y, p, c).items()},
          "is at the top: dZ4 = (A4 - Y) / m")
    fails("fixed_cnn_backward", my_function, "not done yet")


def smoothing_floor(eps, k):
    p, q = 1 - eps + eps / k, eps / k
    return float(-(p * np.log(p) + (k - 1) * q * np.log(q)))


def test_smoothing_floor_passes_the_entropy_and_names_the_usual_slips(capsys):
    passes("smoothing_floor", smoothing_floor, capsys)
    fails("smoothing_floor",
          lambda e, k: -((1 - e) * np.log(1 - e) + (k - 1) * e / k * np.log(e / k)), "not 1 - eps")
    fails("smoothing_floor",
          lambda e, k: -((1 - e + e / k) * np.log(1 - e + e / k) + e / k * np.log(e / k)), "appears k - 1 = 9 times")
    fails("smoothing_floor", lambda e, k: -smoothing_floor(e, k), "mind the minus sign")
    fails("smoothing_floor", lambda e, k: smoothing_floor(e, k) / np.log(2), "not log2")
    fails("smoothing_floor", my_function, "not done yet")


@pytest.mark.skipif(not os.environ.get("MNIST_NPZ"), reason="needs MNIST_NPZ")
def test_small_cnn_must_be_trained_to_pass(capsys):
    """An untrained network with a typed-in accuracy fails; a briefly trained one passes."""
    small = npconv.init_cnn_params(rng=0, channels=(6, 16), n_hidden=64)
    with pytest.raises(SelfCheckError, match="reads only .* of the first 2,000 training images"):
        selfcheck.check_small_cnn(small, 0.9778)
    (x_train, y_train), _ = npcore.load_mnist()
    X = (x_train[:6000].astype(np.float32) / 255)[..., None]
    trained, _ = npconv.train_cnn(X, y_train[:6000], small, 3, 64, 0.002, optimizer="adam", rng=1)
    selfcheck.check_small_cnn(trained, 0.9778)
    assert capsys.readouterr().out == PASSED["small_cnn"] + "\n"


def test_small_cnn_counts_the_budget_and_says_not_done_yet(capsys):
    small = npconv.init_cnn_params(rng=0, channels=(6, 16), n_hidden=64)
    broken = {**small, "W4": small["W4"] * np.nan}
    for params, acc, hint in ((None, None, "not done yet"), (npconv.init_cnn_params(rng=0), 0.99, "holds 80,202 numbers"),
                              (small, 0.5, "validation accuracy 0.5000"), ({"W1": 1}, 0.99, "with keys K1"),
                              (broken, float("nan"), "NaN or inf"),
                              (npconv.init_cnn_params(rng=0, channels=(6, 16), n_hidden=64, image_size=20), 0.99,
                               "cannot run small_params on 28 x 28 images")):
        with pytest.raises(SelfCheckError) as error:
            selfcheck.check_small_cnn(params, acc)
        assert hint in str(error.value), str(error.value)
