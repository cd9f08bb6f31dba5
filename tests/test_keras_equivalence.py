"""npcore and Keras (JAX backend) compute the same network (lesson 10).

The same architecture built in Keras, given npcore's initial weights, must give the
same probabilities, and the same SGD-with-momentum steps on the same batches must
give the same weights. Marked ``keras``: ``pytest -m "not keras"`` leaves them out.

Tolerances: Keras (XLA) and NumPy (OpenBLAS) sum the float32 products of a layer in
different orders, so the same numbers differ by a few float32 ulp (~1e-7 relative)
per layer; each comparison below allows a small multiple of that, with the reason.
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
    params = nc.init_params(784, hidden, 10, rng=rng, init="he")
    for l in range(1, len(params) // 2 + 1):                     # non-zero biases are compared too
        params[f"b{l}"] += 0.1 * rng.standard_normal(params[f"b{l}"].shape).astype(np.float32)
    return X, y, params


@pytest.mark.parametrize("hidden", [(10,), (128,), (512, 256)])
def test_same_weights_give_the_same_probabilities(hidden):
    X, _, params = problem(hidden)
    A_np = nc.forward_propagation(X, params)[f"A{len(params) // 2}"]          # (m, 10)
    A_keras = np.asarray(keras_model(params).predict(X, batch_size=len(X), verbose=0))
    assert A_keras.shape == A_np.shape == (len(X), 10)
    # probabilities <= 1 after up to 3 layers of 784- or 512-term float32 sums in another
    # order: differences of ~1e-6 at most; a wrong weight or bias would show at 1e-2
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
        # a mean of 64 float32 logs (~2.3 each), summed in another order: ~1e-6 relative
        assert loss_keras == pytest.approx(loss_np, rel=1e-5), f"step {step}"
        if step == 0:   # one plain SGD step (the velocity starts at 0): weights ~0.1 moved by
            # lr * a gradient computed in another order, float32: ~1e-8 apart, 1e-6 allowed
            for l, layer in enumerate(model.layers, start=1):
                W_keras, b_keras = weights(layer)
                np.testing.assert_allclose(W_keras, params[f"W{l}"], rtol=0, atol=1e-6)
                np.testing.assert_allclose(b_keras, params[f"b{l}"], rtol=0, atol=1e-6)
    for l, layer in enumerate(model.layers, start=1):   # after 4 steps the rounding adds up: 1e-5
        W_keras, b_keras = weights(layer)
        np.testing.assert_allclose(W_keras, params[f"W{l}"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(b_keras, params[f"b{l}"], rtol=0, atol=1e-5)


def test_cosine_schedule_matches_keras_cosine_decay():
    decay = keras.optimizers.schedules.CosineDecay(0.2, decay_steps=99)
    ours = [nc.cosine_schedule(step, 100, 0.2) for step in range(100)]
    theirs = [float(decay(step)) for step in range(100)]
    # Keras computes the schedule in float32 (ulp ~1e-8 at 0.2); ours is float64
    np.testing.assert_allclose(theirs, ours, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_label_smoothing_gives_kerass_loss_and_step(smoothing):
    X, y, params = problem((64,), m=128, seed=1)
    model = keras_model(params)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=smoothing))
    loss_np, grads, _ = nc.loss_and_grads(X, y, params, label_smoothing=smoothing)
    unsmoothed = nc.loss_and_grads(X, y, params)[0]
    nc.sgd_update(params, grads, {}, 0.5)
    loss_keras = float(model.train_on_batch(X, nc.one_hot(y)))                 # Keras smooths itself
    # a mean of 128 float32 cross-entropies summed in another order: ~1e-6 relative;
    # without smoothing the loss differs by over 100 times that tolerance
    assert loss_keras == pytest.approx(loss_np, rel=1e-5)
    assert abs(loss_np - unsmoothed) > 100 * 1e-5 * loss_np
    for l, layer in enumerate(model.layers, start=1):
        W_keras, b_keras = weights(layer)
        # one step of 0.5 * a float32 gradient summed in another order: ~1e-8 apart
        np.testing.assert_allclose(W_keras, params[f"W{l}"], rtol=0, atol=1e-6)
        np.testing.assert_allclose(b_keras, params[f"b{l}"], rtol=0, atol=1e-6)
