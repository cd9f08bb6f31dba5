"""Tests of the self-checks of lessons 08 and 11's exercises (selfcheck.py, sections
"lesson 08 (exercises)" and "lesson 11 (exercises)"): a correct solution passes with its
one line, the typical mistakes get their hint, and an unwritten exercise (a function that
raises NotImplementedError, as in the student edition) gets "not done yet"."""
import numpy as np

import npconv
import npcore
from check_helpers import fails, my_function, passes


# --------------------------------------------------------------------------- lesson 11
def conv_naive(X, K, b):
    return npconv.conv_forward(X, K, b)[0]


def conv_backward_naive(dZ, X, K):
    b = np.zeros(K.shape[3])
    return npconv.conv_backward(dZ, npconv.conv_forward(X, K, b)[1])


def maxpool_forward(A):
    return npconv.maxpool_forward(A)[0]


def maxpool_backward(dP, A):
    return npconv.maxpool_backward(dP, npconv.maxpool_forward(A)[1])


def conv_loops(X, K, b, flip=False, bias=True, overwrite=False, range_off=0):
    m, H, W, C = X.shape
    kh, kw, _, F = K.shape
    if flip:
        K = K[::-1, ::-1]
    Z = np.zeros((m, H - kh + 1 - range_off, W - kw + 1 - range_off, F))
    for r in range(Z.shape[1]):
        for s in range(Z.shape[2]):
            Z[:, r, s, :] = np.tensordot(X[:, r:r + kh, s:s + kw, :], K, axes=3) + (b if bias else 0)
    return Z


def conv_backward_loops(dZ, X, K, overwrite=False, last_only=False):
    m, Ho, Wo, F = dZ.shape
    kh, kw = K.shape[:2]
    dX, dK, db = np.zeros(X.shape), np.zeros(K.shape), np.zeros(F)
    for i in range(m):
        if last_only:
            dK[:] = 0
        for r in range(Ho):
            for s in range(Wo):
                for f in range(F):
                    g = dZ[i, r, s, f]
                    if overwrite:
                        dX[i, r:r + kh, s:s + kw, :] = g * K[:, :, :, f]
                    else:
                        dX[i, r:r + kh, s:s + kw, :] += g * K[:, :, :, f]
                    dK[:, :, :, f] += g * X[i, r:r + kh, s:s + kw, :]
                    db[f] += g
    return dX, dK, db


def test_conv_naive(capsys):
    passes("conv_naive", conv_naive, capsys)
    passes("conv_naive", conv_loops, capsys)
    fails("conv_naive", my_function, "not done yet")
    fails("conv_naive", lambda X, K, b: conv_loops(X, K, b, flip=True), "flips the kernel")
    fails("conv_naive", lambda X, K, b: conv_loops(X, K, b, bias=False), "leaves out the bias")
    fails("conv_naive", lambda X, K, b: conv_loops(X, K, b, range_off=1), "range(H - kh + 1)")
    fails("conv_naive", lambda X, K, b: conv_loops(X[..., :1], K[:, :, :1], b), "only channel 0")


def test_conv_backward_naive(capsys):
    passes("conv_backward_naive", conv_backward_naive, capsys)
    passes("conv_backward_naive", conv_backward_loops, capsys)
    fails("conv_backward_naive", my_function, "not done yet")
    fails("conv_backward_naive", lambda dZ, X, K: conv_backward_loops(dZ, X, K, overwrite=True),
          "do not overwrite (=)")
    fails("conv_backward_naive", lambda dZ, X, K: conv_backward_loops(dZ, X, K, last_only=True),
          "only the last sample")
    fails("conv_backward_naive", lambda dZ, X, K: conv_backward_loops(dZ, X, K)[:2],
          "return the three gradients")
    fails("conv_backward_naive",
          lambda dZ, X, K: (*conv_backward_loops(dZ, X, K)[:2], dZ.sum(axis=(1, 2))), "db has shape")


def test_maxpool(capsys):
    passes("maxpool_forward", maxpool_forward, capsys)
    passes("maxpool_backward", maxpool_backward, capsys)
    passes("maxpool_backward_argmax", maxpool_backward, capsys)
    for name in ("maxpool_forward", "maxpool_backward", "maxpool_backward_argmax"):
        fails(name, my_function, "not done yet")

    def mean_pool(A):
        m, H, W, C = A.shape
        return A.reshape(m, H // 2, 2, W // 2, 2, C).mean(axis=(2, 4))
    fails("maxpool_forward", mean_pool, "average pooling")

    def every_tie(dP, A):                                     # dP to every entry equal to the maximum
        m, H, W, C = A.shape
        P = np.repeat(np.repeat(maxpool_forward(A), 2, axis=1), 2, axis=2)
        return np.repeat(np.repeat(dP, 2, axis=1), 2, axis=2) * (A == P)
    fails("maxpool_backward", every_tie, "every tied maximum got dP")
    fails("maxpool_backward", lambda dP, A: np.repeat(np.repeat(dP, 2, axis=1), 2, axis=2) / 4,
          "a quarter of dP")

    def argmax_route(dP, A, index):
        m, H, W, C = A.shape
        blocks = A.reshape(m, H // 2, 2, W // 2, 2, C).transpose(0, 1, 3, 2, 4, 5)
        winner = blocks.reshape(m, H // 2, W // 2, 4, C).argmax(axis=3)
        dA = np.zeros_like(A)
        dblocks = dA.reshape(m, H // 2, 2, W // 2, 2, C)
        for u in range(2):
            for v in range(2):
                dblocks[:, :, u, :, v] = dP * (winner == index(u, v))
        return dA
    passes("maxpool_backward_argmax", lambda dP, A: argmax_route(dP, A, lambda u, v: 2 * u + v), capsys)
    fails("maxpool_backward_argmax", lambda dP, A: argmax_route(dP, A, lambda u, v: u + 2 * v),
          "with the maximum of a single 2x2 block at (row 0, column 1)")


# --------------------------------------------------------------------------- lesson 08
def iterate(X, y, batch_size, rng, drop_last=False, shuffle=True, fixed_seed=False):
    order = (np.random.default_rng(0) if fixed_seed else rng).permutation(len(X)) if shuffle else np.arange(len(X))
    stop = len(X) - batch_size + 1 if drop_last else len(X)
    for start in range(0, stop, batch_size):
        batch = order[start:start + batch_size]
        yield X[batch], y[batch]


def test_iterate_minibatches(capsys):
    passes("iterate_minibatches", npcore.iterate_minibatches, capsys)
    passes("iterate_minibatches", iterate, capsys)
    fails("iterate_minibatches", my_function, "not done yet")

    def generator_stub(X, y, batch_size, rng):
        raise NotImplementedError()
        yield
    fails("iterate_minibatches", generator_stub, "not done yet")
    fails("iterate_minibatches", lambda X, y, b, rng: iterate(X, y, b, rng, drop_last=True),
          "the last batch, with the 3 left over, is missing")
    fails("iterate_minibatches", lambda X, y, b, rng: iterate(X, y, b, rng, shuffle=False),
          "shuffle first")
    fails("iterate_minibatches", lambda X, y, b, rng: iterate(X, y, b, rng, fixed_seed=True),
          "both epochs used the same order")

    def unpaired(X, y, batch_size, rng):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            yield X[order[start:start + batch_size]], y[start:start + batch_size]
    fails("iterate_minibatches", unpaired, "not paired")

    def resampled(X, y, batch_size, rng):
        for start in range(0, len(X), batch_size):
            batch = rng.integers(0, len(X), min(batch_size, len(X) - start))
            yield X[batch], y[batch]
    fails("iterate_minibatches", resampled, "ONE permutation")


def sgd_epochs(X, y, params, epochs, batch_size, learning_rate, rng, update=npcore.sgd_update, state=None,
               plain_mean=False, own_step=False, new_state=False):
    state = {} if state is None or new_state else state
    losses = np.zeros(epochs)
    for epoch in range(epochs):
        total, batch_losses = 0.0, []
        for Xb, yb in npcore.iterate_minibatches(X, y, batch_size, rng):
            loss, grads, _ = npcore.loss_and_grads(Xb, yb, params)
            if own_step:
                for key, P in params.items():
                    P -= learning_rate * grads[f"d{key}"]
            else:
                update(params, grads, state, learning_rate)
            total += loss * len(yb)
            batch_losses.append(loss)
        losses[epoch] = np.mean(batch_losses) if plain_mean else total / len(X)
    return losses


def test_sgd_epochs(capsys):
    passes("sgd_epochs", sgd_epochs, capsys)
    fails("sgd_epochs", my_function, "not done yet")
    fails("sgd_epochs", lambda *a, **k: sgd_epochs(*a, **k, plain_mean=True), "plain mean")
    fails("sgd_epochs", lambda *a, **k: sgd_epochs(*a, **k, own_step=True), "the velocity stayed 0")
    fails("sgd_epochs", lambda *a, **k: sgd_epochs(*a, **k, new_state=True), "pass the state you are given")
    fails("sgd_epochs",
          lambda X, y, params, epochs, b, lr, rng: sgd_epochs(X, y, params, epochs, b, lr, rng), "keyword arguments")

    def new_seed_per_epoch(X, y, params, epochs, b, lr, rng, update=npcore.sgd_update, state=None):
        return np.concatenate([sgd_epochs(X, y, params, 1, b, lr, np.random.default_rng(5), update, state)
                               for _ in range(epochs)])
    fails("sgd_epochs", new_seed_per_epoch, "epochs 2 and 3")
    fails("sgd_epochs", lambda *a, **k: None, "returned None")


def momentum(params, grads, velocity, learning_rate, beta=0.9, copy=False, no_beta=False, fixed_beta=False):
    for key, P in params.items():
        V = velocity[key]
        V *= 1.0 if no_beta else (0.9 if fixed_beta else beta)
        V -= learning_rate * grads[f"d{key}"]
        if copy:
            params[key] = P + V
        else:
            P += V
    return params


def test_momentum_update(capsys):
    passes("momentum_update", npcore.momentum_update, capsys)
    passes("momentum_update", momentum, capsys)
    fails("momentum_update", my_function, "not done yet")
    fails("momentum_update", lambda *a, **k: momentum(*a, **k, copy=True), "in place")
    fails("momentum_update", lambda *a, **k: momentum(*a, **k, no_beta=True), "multiply the old V by beta")
    fails("momentum_update", lambda *a, **k: momentum(*a, **k, fixed_beta=True), "the beta you are given")
    fails("momentum_update", lambda *a, **k: (momentum(*a, **k), None)[1], "returned None")


def test_ema_factor(capsys):
    passes("ema_factor", lambda beta, t: 1 - beta**t, capsys)
    fails("ema_factor", my_function, "not done yet")
    fails("ema_factor", lambda beta, t: 1 / (1 - beta**t), "that is 1 / c_t")
    fails("ema_factor", lambda beta, t: beta**t, "the weight the starting value")
    fails("ema_factor", lambda beta, t: 1 - beta, "geometric series")


def adam(params, grads, state, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8, correct_m=True, correct_s=True,
         no_t=False):
    if not no_t:
        state["t"] += 1
    t = max(state["t"], 1)
    for key, P in params.items():
        dP, M, S = grads[f"d{key}"], state["m"][key], state["v"][key]
        M *= beta1
        M += (1 - beta1) * dP
        S *= beta2
        S += (1 - beta2) * dP**2
        m_hat = M / (1 - beta1**t) if correct_m else M
        s_hat = S / (1 - beta2**t) if correct_s else S
        P -= learning_rate * m_hat / (np.sqrt(s_hat) + eps)
    return params


def test_adam_update(capsys):
    passes("adam_update", npcore.adam_update, capsys)
    passes("adam_update", adam, capsys)
    fails("adam_update", my_function, "not done yet")
    fails("adam_update", lambda *a, **k: adam(*a, **k, correct_s=False), "31.6 x lr")
    fails("adam_update", lambda *a, **k: adam(*a, **k, correct_m=False), "0.1 x lr")
    fails("adam_update", lambda *a, **k: adam(*a, **k, correct_m=False, correct_s=False), "3.16 x lr")
    fails("adam_update", lambda *a, **k: adam(*a, **k, no_t=True), "add 1 to it on every call")


def test_adam_division_by_zero_gets_the_hint():
    def early(params, grads, state, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
        t = state["t"]
        for key, P in params.items():
            P -= learning_rate * grads[f"d{key}"] / (1 - beta1**t)
        state["t"] += 1
        return params
    fails("adam_update", early, "first steps")
