"""npconv -- convolution layers, max-pooling and a small CNN in NumPy.       Lesson 09

A sibling of ``npcore`` (which stays about dense networks). Conventions:

* images are **NHWC**: ``X`` (m, H, W, C) -- rows are still samples, then height,
  width and channels, as in Keras's default. An MNIST batch X (m, 784) becomes
  (m, 28, 28, 1) with ``to_images``;
* a convolution layer has a kernel ``K`` (kh, kw, C, F) -- F filters, each
  kh x kw x C -- and a bias ``b`` (F,); "valid" convolution, stride 1, so the
  output is (m, Ho, Wo, F) with Ho = H - kh + 1, Wo = W - kw + 1. (As in every deep
  learning library, "convolution" means cross-correlation: the kernel is not flipped.)
* max-pooling is 2 x 2 with stride 2: (m, H, W, C) -> (m, H/2, W/2, C);
* the CNN is conv 5x5 -> pool -> ReLU -> conv 5x5 -> pool -> ReLU -> dense -> ReLU
  -> dense -> softmax (28 -> 24 -> 12 -> 8 -> 4 pixels a side);
* the CNN's ``params`` are ``K1, b1, K2, b2`` (convolutions) and ``W3, b3, W4, b4``
  (dense layers); ``grads`` are ``dK1, db1, ..., dW4, db4``, so npcore's optimizers
  (keys ``"d" + key``) update them unchanged.

Every layer is a pair ``*_forward`` (returns its output and a cache) and
``*_backward`` (takes dL/d(output) and the cache, returns dL/d(inputs)).
Train in float32; check gradients in float64.
"""
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import npcore

__all__ = ["to_images", "im2col", "col2im", "add_blocks", "conv_forward", "conv_backward",
           "maxpool_forward", "maxpool_backward", "init_cnn_params", "cnn_forward",
           "cnn_backward", "cnn_loss_and_grads", "cnn_predict_proba", "cnn_predict",
           "train_cnn"]


def to_images(X, size=28):
    """Flat images X (m, size*size) -> (m, size, size, 1), a view (no copy)."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != size * size:
        raise ValueError(f"to_images expects X of shape (m, {size * size}), got {X.shape}")
    return X.reshape(len(X), size, size, 1)


# --------------------------------------------------------------------------- convolution
def im2col(X, kh, kw):
    """All kh x kw windows of X (m, H, W, C) as rows: cols (m*Ho*Wo, kh*kw*C).

    Row (i, r, s) -- sample i, output pixel (r, s) -- holds the window
    X[i, r:r+kh, s:s+kw, :] flattened in (kh, kw, C) order, the order of
    ``K.reshape(kh*kw*C, F)``. The windows are a strided *view* of X
    (``sliding_window_view``, no Python loop); the copy into cols is the only one.
    """
    m, H, W, C = X.shape
    Ho, Wo = H - kh + 1, W - kw + 1
    windows = sliding_window_view(X, (kh, kw), axis=(1, 2))   # (m, Ho, Wo, C, kh, kw) view
    if C >= 4:
        windows = windows.transpose(0, 1, 2, 4, 5, 3)          # (m, Ho, Wo, kh, kw, C) view
        return windows.reshape(m * Ho * Wo, kh * kw * C)       # (m*Ho*Wo, kh*kw*C) copy
    # Few channels (the first layer): the copy above would move runs of only C numbers.
    # Copying offset by offset moves runs of Wo pixels instead, about 3 times faster;
    # the result is the same matrix, stored column by column (cols.T is C-contiguous).
    colsT = np.empty((kh, kw, C, m, Ho, Wo), dtype=X.dtype)    # (kh, kw, C, m, Ho, Wo)
    colsT[...] = windows.transpose(4, 5, 3, 0, 1, 2)           # the copy
    return colsT.reshape(kh * kw * C, m * Ho * Wo).T           # (m*Ho*Wo, kh*kw*C) view


def col2im(dcols, X_shape, kh, kw):
    """The adjoint of im2col: scatter-add rows (m*Ho*Wo, kh*kw*C) back to (m, H, W, C).

    Pixel X[i, p, q, c] sits in every window that covers it, so its gradient is the
    sum of the matching entries of dcols. Grouping those entries by kernel offset
    (u, v): offset (u, v) of window (r, s) is pixel (r+u, s+v), hence
        dX[:, u:u+Ho, v:v+Wo, :] += dcols[:, :, :, u, v, :]   for every (u, v),
    kh*kw slice-adds of whole (m, Ho, Wo, C) blocks instead of a loop over windows.
    """
    C = X_shape[3]
    blocks = dcols.reshape(-1, kh * kw, C).transpose(1, 0, 2)  # (kh*kw, m*Ho*Wo, C) view
    return add_blocks(blocks, X_shape, kh, kw)


def add_blocks(blocks, X_shape, kh, kw):
    """dX (m, H, W, C) = sum over offsets (u, v) of block u*kw+v placed at [:, u:u+Ho, v:v+Wo, :].

    ``blocks`` (kh*kw, m*Ho*Wo, C) holds, for each kernel offset, the gradient of
    the pixels that offset touched: col2im's core, kh*kw slice-adds.
    """
    m, H, W, C = X_shape
    Ho, Wo = H - kh + 1, W - kw + 1
    dX = np.zeros(X_shape, dtype=blocks.dtype)                 # (m, H, W, C)
    for u in range(kh):
        for v in range(kw):
            dX[:, u:u + Ho, v:v + Wo, :] += blocks[u * kw + v].reshape(m, Ho, Wo, C)
    return dX


def conv_forward(X, K, b):
    """Valid convolution, stride 1: X (m, H, W, C), K (kh, kw, C, F), b (F,).

    Z[i, r, s, f] = sum_{u,v,c} X[i, r+u, s+v, c] K[u, v, c, f] + b[f], i.e. one
    matrix product  Z = im2col(X) @ K.reshape(kh*kw*C, F) + b.
    Returns Z (m, Ho, Wo, F) and a cache for ``conv_backward``.
    """
    if X.ndim != 4 or K.ndim != 4 or X.shape[3] != K.shape[2] or b.shape != (K.shape[3],):
        raise ValueError(f"conv_forward expects X (m, H, W, C), K (kh, kw, C, F), b (F,); "
                         f"got {X.shape}, {K.shape}, {b.shape}")
    m, H, W, C = X.shape
    kh, kw, _, F = K.shape
    Ho, Wo = H - kh + 1, W - kw + 1
    cols = im2col(X, kh, kw)                                   # (m*Ho*Wo, kh*kw*C)
    Z = cols @ K.reshape(kh * kw * C, F)                       # (m*Ho*Wo, F)
    Z += b                                                     # (m*Ho*Wo, F)
    return Z.reshape(m, Ho, Wo, F), (cols, X.shape, K)         # (m, Ho, Wo, F)


def conv_backward(dZ, cache, need_dX=True):
    """Gradients of a convolution from dZ = dL/dZ (m, Ho, Wo, F).

    With Z2d = cols @ K2d + b (cols (m*Ho*Wo, kh*kw*C), K2d (kh*kw*C, F)) this is a
    dense layer whose rows are windows, so
        dK2d = cols.T @ dZ2d (kh*kw*C, F),   db = dZ2d summed over rows (F,),
        dcols = dZ2d @ K2d.T (m*Ho*Wo, kh*kw*C),   dX = col2im(dcols) (m, H, W, C).
    Returns (dX, dK, db); dX is None when ``need_dX`` is False (the first layer,
    whose input is the data).
    """
    cols, X_shape, K = cache
    kh, kw, C, F = K.shape
    dZ2d = dZ.reshape(-1, F)                                   # (m*Ho*Wo, F)
    dK = (cols.T @ dZ2d).reshape(K.shape)                      # (kh, kw, C, F)
    db = np.einsum("nf->f", dZ2d)                              # (F,) = dZ2d.sum(axis=0), faster
    if not need_dX:
        return None, dK, db
    # dcols = dZ2d @ K2d.T, computed offset by offset: the columns of dcols that belong
    # to offset (u, v) are dZ2d @ K[u, v].T (m*Ho*Wo, C). One batched product gives
    # all kh*kw blocks, each contiguous, so col2im's slice-adds read runs of Wo*C
    # numbers instead of C (same result as col2im(dZ2d @ K2d.T, ...), faster).
    blocks = dZ2d @ K.reshape(kh * kw, C, F).transpose(0, 2, 1)   # (kh*kw, m*Ho*Wo, C)
    return add_blocks(blocks, X_shape, kh, kw), dK, db         # (m, H, W, C)


# --------------------------------------------------------------------------- max-pooling
def maxpool_forward(A):
    """2 x 2 max-pooling, stride 2: A (m, H, W, C) -> P (m, H/2, W/2, C).

    The reshape (m, H/2, 2, W/2, 2, C) is a view whose axes 2 and 4 index the
    position inside each window; P is the maximum over them. Returns P and a cache.
    """
    m, H, W, C = A.shape
    if H % 2 or W % 2:
        raise ValueError(f"maxpool_forward expects even height and width, got {A.shape}")
    win = A.reshape(m, H // 2, 2, W // 2, 2, C)                # (m, H/2, 2, W/2, 2, C) view
    P = np.maximum(np.maximum(win[:, :, 0, :, 0], win[:, :, 0, :, 1]),
                   np.maximum(win[:, :, 1, :, 0], win[:, :, 1, :, 1]))   # (m, H/2, W/2, C)
    return P, (A, P)


def maxpool_backward(dP, cache):
    """dL/dA (m, H, W, C) from dP = dL/dP (m, H/2, W/2, C).

    The maximum passes its gradient to the entry that won and nothing to the other
    three. When several entries tie, the first in reading order (top-left,
    top-right, bottom-left, bottom-right) takes it all, so dA stays deterministic
    and each window's gradients sum to dP, as the gradient of max does.
    """
    A, P = cache
    m, H, W, C = A.shape
    win = A.reshape(m, H // 2, 2, W // 2, 2, C)                # (m, H/2, 2, W/2, 2, C) view
    dA = np.empty_like(A)                                      # (m, H, W, C), all written below
    dwin = dA.reshape(m, H // 2, 2, W // 2, 2, C)              # view into dA
    rest = dP.copy()                                           # (m, H/2, W/2, C) not yet routed
    for u, v in ((0, 0), (0, 1), (1, 0)):
        np.multiply(rest, win[:, :, u, :, v] == P, out=dwin[:, :, u, :, v])  # to the winners
        rest -= dwin[:, :, u, :, v]                            # a window is routed once
    dwin[:, :, 1, :, 1] = rest                                 # if no other won, this one did
    return dA


# --------------------------------------------------------------------------- the CNN
def init_cnn_params(rng=None, channels=(16, 32), kernel=5, hidden=128, image_size=28,
                    in_channels=1, n_output=npcore.NUM_CLASSES, dtype=np.float32):
    """Random params of conv(kernel, channels[0]) -> pool -> ReLU -> conv(kernel,
    channels[1]) -> pool -> ReLU -> dense(hidden) -> ReLU -> dense(n_output) -> softmax.

    He initialisation (std sqrt(2 / fan_in)) for the layers followed by ReLU, Xavier
    (sqrt(1 / fan_in)) for the last; zero biases. Shapes for the defaults:
    K1 (5, 5, 1, 16), b1 (16,), K2 (5, 5, 16, 32), b2 (32,), W3 (512, 128),
    b3 (128,), W4 (128, 10), b4 (10,). ``rng``: a seed or a np.random.Generator.
    """
    rng = np.random.default_rng(rng)
    C1, C2 = channels
    side = ((image_size - kernel + 1) // 2 - kernel + 1) // 2  # 28 -> 24 -> 12 -> 8 -> 4
    if side < 1:
        raise ValueError(f"images of size {image_size} are too small for two {kernel}x{kernel} "
                         f"convolutions and two poolings")
    shapes = {"K1": (kernel, kernel, in_channels, C1), "K2": (kernel, kernel, C1, C2),
              "W3": (side * side * C2, hidden), "W4": (hidden, n_output)}
    gains = {"K1": 2.0, "K2": 2.0, "W3": 2.0, "W4": 1.0}
    params = {}
    for l, key in enumerate(shapes, start=1):
        shape = shapes[key]
        fan_in = int(np.prod(shape[:-1]))
        params[key] = (rng.standard_normal(shape) * np.sqrt(gains[key] / fan_in)).astype(dtype)
        params[f"b{l}"] = np.zeros(shape[-1], dtype=dtype)
    return params


def _as_images(X):
    return to_images(X) if np.ndim(X) == 2 else X


def cnn_forward(X, params):
    """Forward pass of the CNN: X (m, 28, 28, 1) or (m, 784) -> cache with A4 (m, 10).

    Z1 = conv(X, K1) + b1 (m, 24, 24, C1);  P1 = pool(Z1) (m, 12, 12, C1);  A1 = relu(P1)
    Z2 = conv(A1, K2) + b2 (m, 8, 8, C2);   P2 = pool(Z2) (m, 4, 4, C2);    A2 = relu(P2)
    F = A2 flattened (m, 16 C2);  Z3 = F @ W3 + b3 (m, n3);  A3 = relu(Z3) (m, n3)
    Z4 = A3 @ W4 + b4 (m, 10);  A4 = softmax(Z4), each row a distribution.
    Pooling before ReLU gives the same A1, A2 as after (max and ReLU commute, since
    ReLU never changes which entry is largest) with 4 times fewer ReLUs.
    """
    X = _as_images(X)
    m = X.shape[0]
    Z1, conv1 = conv_forward(X, params["K1"], params["b1"])    # (m, 24, 24, C1)
    P1, pool1 = maxpool_forward(Z1)                            # (m, 12, 12, C1)
    A1 = npcore.relu(P1)                                       # (m, 12, 12, C1)
    Z2, conv2 = conv_forward(A1, params["K2"], params["b2"])   # (m, 8, 8, C2)
    P2, pool2 = maxpool_forward(Z2)                            # (m, 4, 4, C2)
    A2 = npcore.relu(P2)                                       # (m, 4, 4, C2)
    F = A2.reshape(m, -1)                                      # (m, 16 C2)
    Z3 = F @ params["W3"] + params["b3"]                       # (m, n3)
    A3 = npcore.relu(Z3)                                       # (m, n3)
    Z4 = A3 @ params["W4"] + params["b4"]                      # (m, 10)
    A4 = npcore.softmax(Z4)                                    # (m, 10)
    return {"conv1": conv1, "pool1": pool1, "A1": A1, "conv2": conv2, "pool2": pool2,
            "A2": A2, "F": F, "Z3": Z3, "A3": A3, "Z4": Z4, "A4": A4}


def cnn_backward(Y, params, cache):
    """Gradients of the mean cross-entropy of A4 against one-hot Y (m, 10).

    Returns grads dK1, db1, dK2, db2, dW3, db3, dW4, db4 (each the shape of its
    parameter): the dense part is lesson 05's backward pass; then back through
    ReLU (where its input was > 0), pooling (to the winners) and the convolutions.
    """
    m = Y.shape[0]
    dZ4 = (cache["A4"] - Y) / m                                # (m, 10)
    dW4 = cache["A3"].T @ dZ4                                  # (n3, 10)
    db4 = dZ4.sum(axis=0)                                      # (10,)
    dZ3 = (dZ4 @ params["W4"].T) * (cache["Z3"] > 0)           # (m, n3)
    dW3 = cache["F"].T @ dZ3                                   # (16 C2, n3)
    db3 = dZ3.sum(axis=0)                                      # (n3,)
    dA2 = (dZ3 @ params["W3"].T).reshape(cache["A2"].shape)    # (m, 4, 4, C2)
    dP2 = dA2 * (cache["A2"] > 0)                              # (m, 4, 4, C2); A2 > 0 iff P2 > 0
    dZ2 = maxpool_backward(dP2, cache["pool2"])                # (m, 8, 8, C2)
    dA1, dK2, db2 = conv_backward(dZ2, cache["conv2"])         # (m, 12, 12, C1)
    dP1 = dA1 * (cache["A1"] > 0)                              # (m, 12, 12, C1)
    dZ1 = maxpool_backward(dP1, cache["pool1"])                # (m, 24, 24, C1)
    _, dK1, db1 = conv_backward(dZ1, cache["conv1"], need_dX=False)
    return {"dK1": dK1, "db1": db1, "dK2": dK2, "db2": db2,
            "dW3": dW3, "db3": db3, "dW4": dW4, "db4": db4}


def cnn_loss_and_grads(X, y, params):
    """(mean cross-entropy, grads) of the CNN on images X and labels y (m,)."""
    cache = cnn_forward(X, params)
    Y = npcore.one_hot(y, cache["A4"].shape[1], cache["A4"].dtype)    # (m, 10)
    return npcore.cross_entropy(cache["A4"], Y), cnn_backward(Y, params, cache)


def cnn_predict_proba(X, params, batch_size=1000):
    """Class probabilities A4 (m, 10) for X (m, 28, 28, 1) or (m, 784), in batches."""
    X = _as_images(X)
    return np.concatenate([cnn_forward(X[i:i + batch_size], params)["A4"]
                           for i in range(0, len(X), batch_size)])


def cnn_predict(X, params, batch_size=1000):
    """Predicted labels (m,) for X (m, 28, 28, 1) or (m, 784)."""
    return npcore.get_predictions(cnn_predict_proba(X, params, batch_size))


def train_cnn(X, y, params, epochs, batch_size=64, learning_rate=1e-3, optimizer="adam",
              rng=None, X_val=None, y_val=None, schedule="cosine", augment=None,
              label_smoothing=0.0, progress=False, **optimizer_kwargs):
    """Mini-batch training of the CNN on X (m, 28, 28, 1) or (m, 784), y (m,).

    The loop of ``npcore.train`` (lesson 08) with the CNN's forward and backward
    passes: each epoch shuffles (``npcore.iterate_minibatches`` with ``rng``) and
    takes one ``optimizer`` step per batch ("adam", "momentum" or "sgd"); with
    ``schedule="cosine"`` the rate decays from ``learning_rate`` to 0 over all steps.
    Two regularisers, both off by default: ``augment(X_batch, rng) -> X_batch`` (as
    in ``npcore.train``, e.g. ``npcore.shift_images``, which works on (b, 28, 28, 1)
    too) changes every training batch, drawing from the same ``rng``; and
    ``label_smoothing`` = e trains against the targets (1 - e) Y + e / k instead of
    the one-hot Y (rows still sum to 1, so dZ4 = (A4 - Y) / m still holds).
    Returns ``(params, history)`` with arrays (epochs,) "loss" (against the targets
    trained on), "accuracy" (mean over the epoch's batches), "val_loss",
    "val_accuracy" (NaN without X_val), "lr" and "seconds" (training time of the
    epoch, validation excluded). ``params`` is updated in place.
    """
    X = _as_images(X)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} images but y has {len(y)} labels")
    rng = np.random.default_rng(rng)
    state = npcore.init_optimizer_state(params, optimizer)
    total_steps = epochs * -(-len(X) // batch_size)
    history = {key: np.full(epochs, np.nan) for key in
               ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")}
    step = 0
    for epoch in range(epochs):
        start, loss_sum, correct = time.perf_counter(), 0.0, 0
        for Xb, yb in npcore.iterate_minibatches(X, y, batch_size, rng):
            lr = learning_rate if schedule is None else \
                npcore.cosine_schedule(step, total_steps, learning_rate)
            if augment is not None:
                Xb = augment(Xb, rng)                                    # (b, 28, 28, 1)
            Yb = npcore.one_hot(yb, dtype=X.dtype)                       # (b, 10)
            if label_smoothing:
                Yb = (1 - label_smoothing) * Yb + label_smoothing / Yb.shape[1]   # (b, 10)
            cache = cnn_forward(Xb, params)
            loss_sum += npcore.cross_entropy(cache["A4"], Yb) * len(Xb)
            correct += int(np.sum(npcore.get_predictions(cache["A4"]) == yb))
            grads = cnn_backward(Yb, params, cache)
            if optimizer == "adam":
                npcore.adam_update(params, grads, state, lr, **optimizer_kwargs)
            elif optimizer == "momentum":
                npcore.momentum_update(params, grads, state, lr, **optimizer_kwargs)
            else:
                params.update(npcore.update_params(params, grads, lr))
            step += 1
        history["seconds"][epoch] = time.perf_counter() - start
        history["loss"][epoch], history["accuracy"][epoch] = loss_sum / len(X), correct / len(X)
        if not np.isfinite(history["loss"][epoch]):
            raise ValueError(f"loss became {history['loss'][epoch]} in epoch {epoch}: "
                             f"lower the learning rate")
        if X_val is not None:
            A = cnn_predict_proba(X_val, params)                         # (m_val, 10)
            history["val_loss"][epoch] = npcore.cross_entropy(A, npcore.one_hot(y_val, dtype=A.dtype))
            history["val_accuracy"][epoch] = npcore.get_accuracy(npcore.get_predictions(A), y_val)
        history["lr"][epoch] = lr
        if progress:
            print(f"epoch {epoch + 1:3d}  loss {history['loss'][epoch]:.4f}  "
                  f"accuracy {history['accuracy'][epoch]:.4f}  val_accuracy "
                  f"{history['val_accuracy'][epoch]:.4f}  {history['seconds'][epoch]:.1f} s")
    return params, history
