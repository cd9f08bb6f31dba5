"""npcore and Keras (JAX backend) compute the same network (lesson 08).

The same architecture built in Keras, given npcore's initial weights, must give the
same probabilities, and the same SGD-with-momentum steps on the same batches must
give the same weights. Marked ``keras``: ``pytest -m "not keras"`` leaves them out.
"""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")       # no probing for GPUs, no log lines about it
import keras  # noqa: E402

import npcore as nc  # noqa: E402

pytestmark = pytest.mark.keras


def keras_model(params):
    """The npcore network as a keras.Sequential, holding copies of ``params``."""
    sizes = nc.layer_sizes(params)
    L = len(sizes) - 1
    model = keras.Sequential([keras.Input((sizes[0],))] + [
        keras.layers.Dense(n, activation="relu" if l < L else "softmax")
        for l, n in enumerate(sizes[1:], start=1)])
    for l, layer in enumerate(model.layers, start=1):
        # kernel (n_{l-1}, n_l), bias (n_l,). Copies: JAX on CPU may share a NumPy array's
        # memory, and npcore's in-place updates would then change Keras's weights too.
        layer.set_weights([params[f"W{l}"].copy(), params[f"b{l}"].copy()])
    return model


def weights(layer):
    """(W, b) of a Dense layer as NumPy arrays.

    Read through ``.value`` (a JAX array): ``layer.get_weights()`` goes through
    Keras's ``Variable.__array__``, which raises NumPy 2's copy-keyword
    DeprecationWarning, an error under this project's pytest.ini.
    """
    return np.asarray(layer.kernel.value), np.asarray(layer.bias.value)


def problem(hidden, m=256, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((m, 784), dtype=np.float32)                   # (m, 784) in [0, 1)
    y = rng.integers(0, 10, m)
    params = nc.init_params(784, hidden, 10, rng=rng, method="he")
    for l in range(1, len(params) // 2 + 1):                     # non-zero biases are compared too
        params[f"b{l}"] += 0.1 * rng.standard_normal(params[f"b{l}"].shape).astype(np.float32)
    return X, y, params


@pytest.mark.parametrize("hidden", [(10,), (128,), (512, 256)])
def test_same_weights_give_the_same_probabilities(hidden):
    X, _, params = problem(hidden)
    A_np = nc.forward_propagation(X, params)[f"A{len(params) // 2}"]          # (m, 10)
    A_keras = np.asarray(keras_model(params).predict(X, batch_size=len(X), verbose=0))
    assert A_keras.shape == A_np.shape == (len(X), 10)
    assert np.max(np.abs(A_keras - A_np)) <= 1e-5


@pytest.mark.parametrize("hidden", [(128,), (512, 256)])
def test_sgd_momentum_steps_give_the_same_weights(hidden):
    X, y, params = problem(hidden)
    model = keras_model(params)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  loss="categorical_crossentropy")
    velocity = nc.init_optimizer_state(params, "momentum")
    batches = [(X[i:i + 64], y[i:i + 64]) for i in range(0, len(X), 64)]     # 4 steps
    for step, (Xb, yb) in enumerate(batches):
        Yb = nc.one_hot(yb)                                                    # (64, 10)
        cache = nc.forward_propagation(Xb, params)
        loss_np = nc.cross_entropy(cache[f"A{len(params) // 2}"], Yb)
        grads = nc.backward_propagation(Xb, Yb, params, cache)
        nc.momentum_update(params, grads, velocity, 0.1, beta=0.9)
        loss_keras = float(model.train_on_batch(Xb, Yb))                       # loss before the step
        assert loss_keras == pytest.approx(loss_np, rel=1e-5), f"step {step}"
        if step == 0:   # one plain SGD step (the velocity starts at 0)
            for l, layer in enumerate(model.layers, start=1):
                W_keras, b_keras = weights(layer)
                np.testing.assert_allclose(W_keras, params[f"W{l}"], rtol=0, atol=1e-6)
                np.testing.assert_allclose(b_keras, params[f"b{l}"], rtol=0, atol=1e-6)
    for l, layer in enumerate(model.layers, start=1):                         # after 4 steps
        W_keras, b_keras = weights(layer)
        np.testing.assert_allclose(W_keras, params[f"W{l}"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(b_keras, params[f"b{l}"], rtol=0, atol=1e-5)


def test_cosine_schedule_matches_keras_cosine_decay():
    decay = keras.optimizers.schedules.CosineDecay(0.2, decay_steps=99)
    ours = [nc.cosine_schedule(step, 100, 0.2) for step in range(100)]
    theirs = [float(decay(step)) for step in range(100)]
    np.testing.assert_allclose(theirs, ours, rtol=1e-6, atol=1e-8)
