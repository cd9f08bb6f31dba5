"""npconv -- convolution layers, max-pooling and a small CNN in NumPy.

A sibling of ``npcore`` (which stays about dense networks). Conventions:

* images are **NHWC**: ``X`` (m, H, W, C) -- rows are still samples, then height,
  width and channels, as in Keras's default -- float, scaled to [0, 1]. An MNIST
  batch X (m, 784) becomes (m, 28, 28, 1) with ``to_images``;
* a convolution layer has a kernel ``K`` (kh, kw, C, F) -- F filters, each
  kh x kw x C -- and a bias ``b`` (F,); "valid" convolution, stride 1, so the
  output is (m, Ho, Wo, F) with Ho = H - kh + 1, Wo = W - kw + 1. (As in every deep
  learning library, "convolution" means cross-correlation: the kernel is not flipped.)
* max-pooling is 2 x 2 with stride 2: (m, H, W, C) -> (m, H/2, W/2, C);
* the CNN is conv 5x5 -> pool -> ReLU -> conv 5x5 -> pool -> ReLU -> dense -> ReLU
  -> dense -> softmax (28 -> 24 -> 12 -> 8 -> 4 pixels a side);
* the CNN's ``params`` are ``K1, b1, K2, b2`` (convolutions) and ``W3, b3, W4, b4``
  (dense layers); ``grads`` are ``dK1, db1, ..., dW4, db4``, so npcore's optimizers
  (keys ``"d" + key``) update them unchanged, and ``train_cnn`` is ``npcore.train``
  (lesson 08's one training loop) with the CNN's ``cnn_loss_and_grads`` and
  ``cnn_predict_proba``.

Every layer is a pair ``*_forward`` (returns its output and a cache) and
``*_backward`` (takes dL/d(output) and the cache, returns dL/d(inputs)).
Train in float32; check gradients in float64.

``im2col``, ``col2im`` and ``conv_backward`` are the code the learner writes in
lesson 11. Faster routes to the same numbers sit beside them and are taken while
``npcore.FAST`` is True (the default; set it to False to run exactly the lesson's
code): a one-channel ``im2col`` that copies offset by offset, and in
``conv_backward`` dX computed block by block (``add_blocks``) and db by ``einsum``.
Each says what it buys; together, one forward and backward pass of 64
MNIST images through lesson 12's CNN takes 13.5 ms instead of 15.3 ms (one BLAS
thread, as in the lesson). ``tests/test_npconv.py`` checks them against the plain code.

Lessons 11 (the layers) and 12 (the network).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import npcore

__all__ = ["to_images", "im2col", "col2im", "add_blocks", "conv_forward", "conv_backward",
           "maxpool_forward", "maxpool_backward", "init_cnn_params", "cnn_forward",
           "cnn_backward", "cnn_loss_and_grads", "cnn_predict_proba", "cnn_make_predictions",
           "train_cnn"]

_PARAM_KEYS = ("K1", "b1", "K2", "b2", "W3", "b3", "W4", "b4")


# --------------------------------------------------------------------------- images as 4-D arrays
def to_images(X, size=28):
    """Flat images X (m, size*size) -> (m, size, size, 1), a view (no copy).

    Lesson 11.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != size * size:
        raise ValueError(f"to_images expects X of shape (m, {size * size}), got {X.shape}")
    return X.reshape(len(X), size, size, 1)


# --------------------------------------------------------------------------- convolution as one matrix product
def im2col(X, kh, kw):
    """All kh x kw windows of X (m, H, W, C) as rows: cols (m*Ho*Wo, kh*kw*C), order (u, v, c).

    Row (i, r, s) -- sample i, output pixel (r, s) -- holds the window
    X[i, r:r+kh, s:s+kw, :] flattened in (kh, kw, C) order, the order of
    ``K.reshape(kh*kw*C, F)``. The windows are a strided *view* of X
    (``sliding_window_view``, no Python loop); the reshape makes the only copy.

    Lesson 11.
    """
    _check_windows(X, kh, kw, "im2col")
    if npcore.FAST and X.shape[3] == 1:
        return _im2col_one_channel(X, kh, kw)                  # same matrix, about 3.5x faster
    m, H, W, C = X.shape
    Ho, Wo = H - kh + 1, W - kw + 1
    windows = sliding_window_view(X, (kh, kw), axis=(1, 2))   # (m, Ho, Wo, C, kh, kw) view
    windows = windows.transpose(0, 1, 2, 4, 5, 3)              # (m, Ho, Wo, kh, kw, C) view
    return windows.reshape(m * Ho * Wo, kh * kw * C)           # (m*Ho*Wo, kh*kw*C) copy


def _im2col_one_channel(X, kh, kw):
    """im2col for X (m, H, W, 1), the first layer on grey images (npcore.FAST).

    With one channel, the copy in ``im2col`` moves runs of a single number (a window
    row is kw separate pixels of the output row). Copying offset by offset moves runs
    of Wo pixels instead; the result is the same matrix (m*Ho*Wo, kh*kw), stored
    column by column (cols.T is C-contiguous), so equal bit for bit. Measured on one
    batch of 64 MNIST images with 5x5 kernels (median of 41 runs, quiet machine):
    0.22 ms instead of 0.77 ms, 3.5x faster. With C = 2 the winner depends on the
    image size, and from C = 3 on the plain copy is faster, hence only C = 1.

    Lesson 11.
    """
    m, H, W, C = X.shape
    Ho, Wo = H - kh + 1, W - kw + 1
    windows = sliding_window_view(X, (kh, kw), axis=(1, 2))   # (m, Ho, Wo, C, kh, kw) view
    colsT = np.empty((kh, kw, C, m, Ho, Wo), dtype=X.dtype)    # (kh, kw, C, m, Ho, Wo)
    colsT[...] = windows.transpose(4, 5, 3, 0, 1, 2)           # the copy
    return colsT.reshape(kh * kw * C, m * Ho * Wo).T           # (m*Ho*Wo, kh*kw*C) view


def conv_forward(X, K, b):
    """Valid convolution, stride 1: X (m, H, W, C), K (kh, kw, C, F), b (F,) -> Z (m, Ho, Wo, F).

    Z[i, r, s, f] = sum_{u,v,c} X[i, r+u, s+v, c] K[u, v, c, f] + b[f], i.e. one
    matrix product  Z = im2col(X) @ K.reshape(kh*kw*C, F) + b.
    Returns Z (m, Ho, Wo, F) and a cache (cols, X.shape, K) for ``conv_backward``.

    Lesson 11.
    """
    if np.ndim(X) != 4:
        raise ValueError(f"conv_forward expects X (m, H, W, C), got shape {np.shape(X)}")
    if np.ndim(K) != 4 or K.shape[2] != X.shape[3]:
        raise ValueError(f"conv_forward expects K (kh, kw, C, F) with C = {X.shape[3]} (X's channels), "
                         f"got shape {np.shape(K)}")
    if np.shape(b) != (K.shape[3],):
        raise ValueError(f"conv_forward expects b (F,) = ({K.shape[3]},), got shape {np.shape(b)}")
    _check_windows(X, K.shape[0], K.shape[1], "conv_forward")
    m, H, W, C = X.shape
    kh, kw, _, F = K.shape
    Ho, Wo = H - kh + 1, W - kw + 1
    cols = im2col(X, kh, kw)                                   # (m*Ho*Wo, kh*kw*C)
    Z = cols @ K.reshape(kh * kw * C, F)                       # (m*Ho*Wo, F)
    Z += b                  # in place: `+ b` would allocate and fill a second array this size
    return Z.reshape(m, Ho, Wo, F), (cols, X.shape, K)         # (m, Ho, Wo, F)


# --------------------------------------------------------------------------- the backward pass of a convolution
def col2im(dcols, X_shape, kh, kw):
    """Backward of im2col: rows dcols (m*Ho*Wo, kh*kw*C) scatter-added into dX (m, H, W, C).

    Pixel X[i, p, q, c] sits in every window that covers it, so its gradient is the
    sum of the matching entries of dcols. Grouping those entries by kernel offset
    (u, v): offset (u, v) of window (r, s) is pixel (r+u, s+v), hence
        dX[:, u:u+Ho, v:v+Wo, :] += dcols[(i, r, s), (u, v, :)]   for every (u, v),
    kh*kw slice-adds of whole (m, Ho, Wo, C) blocks instead of a loop over windows.

    Lesson 11.
    """
    m, H, W, C = X_shape
    Ho, Wo = H - kh + 1, W - kw + 1
    if np.shape(dcols) != (m * Ho * Wo, kh * kw * C):
        raise ValueError(f"col2im expects dcols (m*Ho*Wo, kh*kw*C) = ({m * Ho * Wo}, {kh * kw * C}) "
                         f"for X {tuple(X_shape)} and a {kh}x{kw} kernel, got {np.shape(dcols)}")
    dwin = dcols.reshape(m, Ho, Wo, kh, kw, C)                 # (m, Ho, Wo, kh, kw, C) view
    dX = np.zeros(X_shape, dtype=dcols.dtype)                  # (m, H, W, C)
    for u in range(kh):
        for v in range(kw):
            dX[:, u:u + Ho, v:v + Wo, :] += dwin[:, :, :, u, v, :]   # (m, Ho, Wo, C)
    return dX


def conv_backward(dZ, cache, need_dX=True):
    """Gradients of a convolution from dZ = dL/dZ (m, Ho, Wo, F) and conv_forward's cache.

    With Z2d = cols @ K2d + b (cols (m*Ho*Wo, kh*kw*C), K2d (kh*kw*C, F)) this is a
    dense layer whose rows are windows, so (lesson 05)
        dK2d = cols.T @ dZ2d (kh*kw*C, F),   db = dZ2d summed over rows (F,),
        dcols = dZ2d @ K2d.T (m*Ho*Wo, kh*kw*C),   dX = col2im(dcols) (m, H, W, C).
    Returns (dX (m, H, W, C), dK (kh, kw, C, F), db (F,)); dX is None when
    ``need_dX`` is False (the first layer, whose input is the data).

    With ``npcore.FAST``, two faster routes to the same numbers: dX offset by offset
    (``_conv_dX_by_offset``), and db by ``np.einsum("nf->f", dZ2d)``, the same row by
    row sum as ``dZ2d.sum(axis=0)`` (equal to the last bit in our measurements), which
    for few columns spends its time in NumPy's per-row loop overhead: for the first
    layer's dZ2d (64*24*24, 16) 0.12 ms instead of 0.58 ms, 5x faster.

    Lesson 11.
    """
    cols, X_shape, K = cache
    kh, kw, C, F = K.shape
    if np.shape(dZ)[-1:] != (F,) or np.size(dZ) != cols.shape[0] * F:
        raise ValueError(f"conv_backward expects dZ of the shape of Z, (m, Ho, Wo, {F}) with "
                         f"m*Ho*Wo = {cols.shape[0]}, got {np.shape(dZ)}")
    dZ2d = dZ.reshape(-1, F)                                   # (m*Ho*Wo, F)
    dK = (cols.T @ dZ2d).reshape(K.shape)                      # (kh*kw*C, F) -> (kh, kw, C, F)
    db = np.einsum("nf->f", dZ2d) if npcore.FAST else dZ2d.sum(axis=0)   # (F,), see below
    if not need_dX:
        return None, dK, db
    if npcore.FAST:
        return _conv_dX_by_offset(dZ2d, X_shape, K), dK, db   # same sums, about 1.5x faster
    dcols = dZ2d @ K.reshape(kh * kw * C, F).T                 # (m*Ho*Wo, kh*kw*C)
    return col2im(dcols, X_shape, kh, kw), dK, db              # dX (m, H, W, C)


def _conv_dX_by_offset(dZ2d, X_shape, K):
    """dX (m, H, W, C) = col2im(dZ2d @ K2d.T), computed offset by offset (npcore.FAST).

    The columns of dcols that belong to kernel offset (u, v) are dZ2d @ K[u, v].T
    (m*Ho*Wo, C). One batched product gives all kh*kw blocks (kh*kw, m*Ho*Wo, C),
    each contiguous, so the slice-adds of ``add_blocks`` read runs of Wo*C numbers
    instead of C. The same sums of the same products, but BLAS computes a batch of
    small products, not one big one, so the last bits may differ. Measured for the
    second layer of lesson 12's CNN (64 images, dZ (64, 8, 8, 32), K (5, 5, 16, 32), one
    BLAS thread, median of 61 runs, quiet machine): 1.7 ms instead of 2.5 ms, 1.5x
    faster; the layer's whole conv_backward 3.2 ms instead of 3.9 ms. (For one
    channel it is no faster, but no layer with C = 1 needs dX.)

    Lesson 11.
    """
    kh, kw, C, F = K.shape
    blocks = dZ2d @ K.reshape(kh * kw, C, F).transpose(0, 2, 1)   # (kh*kw, m*Ho*Wo, C)
    return add_blocks(blocks, X_shape, kh, kw)                 # (m, H, W, C)


def add_blocks(blocks, X_shape, kh, kw):
    """dX (m, H, W, C) = sum over offsets (u, v) of block u*kw+v placed at [:, u:u+Ho, v:v+Wo, :].

    ``blocks`` (kh*kw, m*Ho*Wo, C) holds, for each kernel offset, the gradient of
    the pixels that offset touched: col2im's loop on contiguous blocks.

    Lesson 11.
    """
    m, H, W, C = X_shape
    Ho, Wo = H - kh + 1, W - kw + 1
    if np.shape(blocks) != (kh * kw, m * Ho * Wo, C):
        raise ValueError(f"add_blocks expects blocks (kh*kw, m*Ho*Wo, C) = ({kh * kw}, {m * Ho * Wo}, "
                         f"{C}), got {np.shape(blocks)}")
    dX = np.zeros(X_shape, dtype=blocks.dtype)                 # (m, H, W, C)
    for u in range(kh):
        for v in range(kw):
            dX[:, u:u + Ho, v:v + Wo, :] += blocks[u * kw + v].reshape(m, Ho, Wo, C)
    return dX


# --------------------------------------------------------------------------- max-pooling
def maxpool_forward(A):
    """2 x 2 max-pooling, stride 2: A (m, H, W, C) -> P (m, H/2, W/2, C).

    The reshape (m, H/2, 2, W/2, 2, C) is a view whose axes 2 and 4 index the
    position inside each window; P is the maximum over them (three ``np.maximum``
    of strided slices, faster than ``.max(axis=(2, 4))``, same values).
    Returns P and a cache (A, P) for ``maxpool_backward``.

    Lesson 11.
    """
    if np.ndim(A) != 4:
        raise ValueError(f"maxpool_forward expects A of shape (m, H, W, C), got shape {np.shape(A)}")
    m, H, W, C = A.shape
    if H % 2 or W % 2:
        raise ValueError(f"maxpool_forward expects even height and width, got {A.shape}")
    win = A.reshape(m, H // 2, 2, W // 2, 2, C)                # (m, H/2, 2, W/2, 2, C) view
    P = np.maximum(np.maximum(win[:, :, 0, :, 0], win[:, :, 0, :, 1]),
                   np.maximum(win[:, :, 1, :, 0], win[:, :, 1, :, 1]))   # (m, H/2, W/2, C)
    return P, (A, P)


def maxpool_backward(dP, cache):
    """dL/dA (m, H, W, C) from dP = dL/dP (m, H/2, W/2, C) and maxpool_forward's cache.

    The maximum passes its gradient to the entry that won and nothing to the other
    three. When several entries tie, the first in reading order (top-left,
    top-right, bottom-left, bottom-right) takes it all, so dA stays deterministic
    and each window's gradients sum to dP, as the gradient of max does.

    Lesson 11.
    """
    A, P = cache
    if np.shape(dP) != P.shape:
        raise ValueError(f"maxpool_backward expects dP of the shape of P, {P.shape}, got {np.shape(dP)}")
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


# --------------------------------------------------------------------------- the network
def init_cnn_params(rng=None, channels=(16, 32), kernel=5, n_hidden=128, image_size=28,
                    in_channels=1, n_output=npcore.NUM_CLASSES, dtype=np.float32):
    """Random params of conv(kernel, channels[0]) -> pool -> ReLU -> conv(kernel,
    channels[1]) -> pool -> ReLU -> dense(n_hidden) -> ReLU -> dense(n_output) -> softmax.

    He initialisation (std sqrt(2 / fan_in)) for the layers followed by ReLU, LeCun's
    (sqrt(1 / fan_in)) for the last; zero biases. Shapes for the defaults:
    K1 (5, 5, 1, 16), b1 (16,), K2 (5, 5, 16, 32), b2 (32,), W3 (512, 128),
    b3 (128,), W4 (128, 10), b4 (10,). ``rng``: a seed or a np.random.Generator.
    Sizes below 1, or images whose maps 2x2 pooling cannot halve -> ValueError.

    Lesson 12.
    """
    where = "init_cnn_params"
    if np.ndim(channels) != 1 or len(channels) != 2:
        raise ValueError(f"{where}: channels must be a pair (C1, C2), got {channels!r}")
    for value, name in ((channels[0], "channels[0]"), (channels[1], "channels[1]"), (kernel, "kernel"),
                        (n_hidden, "n_hidden"), (image_size, "image_size"),
                        (in_channels, "in_channels"), (n_output, "n_output")):
        npcore._check_int(value, name, where)
    if np.dtype(dtype).kind != "f":
        raise ValueError(f"{where}: dtype must be a float dtype, got {np.dtype(dtype)}")
    side = image_size
    for layer in (1, 2):
        side = side - kernel + 1                               # 28 -> 24, then 12 -> 8
        if side < 2:
            raise ValueError(f"{where}: image_size {image_size} is too small for two {kernel}x{kernel} "
                             f"convolutions, each followed by 2x2 pooling")
        if side % 2:
            raise ValueError(f"{where}: image_size {image_size} with {kernel}x{kernel} kernels gives a "
                             f"{side}x{side} map after convolution {layer}, which 2x2 pooling "
                             f"cannot halve")
        side //= 2                                             # 24 -> 12, then 8 -> 4
    rng = npcore._rng(rng)
    C1, C2 = channels
    shapes = {"K1": (kernel, kernel, in_channels, C1), "K2": (kernel, kernel, C1, C2),
              "W3": (side * side * C2, n_hidden), "W4": (n_hidden, n_output)}
    gains = {"K1": 2.0, "K2": 2.0, "W3": 2.0, "W4": 1.0}
    params = {}
    for l, key in enumerate(shapes, start=1):
        shape = shapes[key]
        fan_in = int(np.prod(shape[:-1]))
        params[key] = (rng.standard_normal(shape) * np.sqrt(gains[key] / fan_in)).astype(dtype)
        params[f"b{l}"] = np.zeros(shape[-1], dtype=dtype)
    return params


def cnn_forward(X, params):
    """Forward pass of the CNN: X (m, 28, 28, 1) or (m, 784) -> cache with A4 (m, 10).

    Z1 = conv(X, K1) + b1 (m, 24, 24, C1);  P1 = pool(Z1) (m, 12, 12, C1);  A1 = relu(P1)
    Z2 = conv(A1, K2) + b2 (m, 8, 8, C2);   P2 = pool(Z2) (m, 4, 4, C2);    A2 = relu(P2)
    A2_flat = A2 flattened (m, 16 C2);  Z3 = A2_flat @ W3 + b3 (m, n3);  A3 = relu(Z3) (m, n3)
    Z4 = A3 @ W4 + b4 (m, 10);  A4 = softmax(Z4), each row a distribution.
    Pooling before ReLU gives the same A1, A2 as after (max and ReLU commute, since
    ReLU never changes which entry is largest) with 4 times fewer ReLUs.
    X must be float images in [0, 1] of the size the params were made for.

    Lesson 12.
    """
    _check_cnn_params(params, "cnn_forward")
    return _forward(_images(X, params, "cnn_forward"), params)


def _forward(X, params):
    """cnn_forward without the checks: X (m, H, W, C) known to fit params."""
    m = X.shape[0]
    Z1, conv1 = conv_forward(X, params["K1"], params["b1"])    # (m, 24, 24, C1)
    P1, pool1 = maxpool_forward(Z1)                            # (m, 12, 12, C1)
    A1 = npcore.relu(P1)                                       # (m, 12, 12, C1)
    Z2, conv2 = conv_forward(A1, params["K2"], params["b2"])   # (m, 8, 8, C2)
    P2, pool2 = maxpool_forward(Z2)                            # (m, 4, 4, C2)
    A2 = npcore.relu(P2)                                       # (m, 4, 4, C2)
    A2_flat = A2.reshape(m, -1)                                # (m, 16 C2)
    Z3 = A2_flat @ params["W3"] + params["b3"]                 # (m, n3)
    A3 = npcore.relu(Z3)                                       # (m, n3)
    Z4 = A3 @ params["W4"] + params["b4"]                      # (m, 10)
    A4 = npcore.softmax(Z4)                                    # (m, 10)
    return {"conv1": conv1, "pool1": pool1, "A1": A1, "conv2": conv2, "pool2": pool2,
            "A2": A2, "A2_flat": A2_flat, "Z3": Z3, "A3": A3, "Z4": Z4, "A4": A4}


def cnn_backward(X, Y, params, cache):
    """Gradients of the mean cross-entropy of A4 against targets Y (m, 10), rows summing to 1.

    The arguments of ``npcore.backward_propagation``: X (m, 28, 28, 1) or (m, 784)
    the batch (only its m is used: the images are not learned), Y one-hot or
    smoothed, ``cache`` from ``cnn_forward(X, params)``. Returns grads dK1, db1,
    dK2, db2, dW3, db3, dW4, db4, each the shape of its parameter: the dense part
    is lesson 05's backward pass, dZ4 = (A4 - Y) / m (m, 10); then back through
    ReLU (where its input was > 0), pooling (to the winners) and the convolutions.

    Lesson 12.
    """
    m = X.shape[0]
    if np.shape(Y) != cache["A4"].shape or m != len(Y):
        raise ValueError(f"cnn_backward expects Y of shape (m, k) = {cache['A4'].shape} for "
                         f"X of {m} images, got {np.shape(Y)}")
    dZ4 = (cache["A4"] - Y) / m                                # (m, 10)
    dW4 = cache["A3"].T @ dZ4                                  # (n3, 10)
    db4 = dZ4.sum(axis=0)                                      # (10,)
    dZ3 = (dZ4 @ params["W4"].T) * (cache["Z3"] > 0)           # (m, n3)
    dW3 = cache["A2_flat"].T @ dZ3                             # (16 C2, n3)
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


def cnn_loss_and_grads(X, y, params, label_smoothing=0.0):
    """(mean cross-entropy, grads, A4) of the CNN on images X and labels y (m,).

    X (m, 28, 28, 1) or (m, 784); y ints in 0..9; A4 (m, 10) the probabilities of
    the forward pass (so a training loop counts correct answers without a second
    one). With ``label_smoothing`` e in [0, 1), the targets are (1 - e) Y + e / k
    instead of the one-hot Y, and the loss is measured against them. The
    ``loss_and_grads`` of ``npcore.train``.

    Lesson 12.
    """
    where = "cnn_loss_and_grads"
    if not (npcore._is_real(label_smoothing) and 0 <= label_smoothing < 1):
        raise ValueError(f"{where}: label_smoothing must be a number in [0, 1), got {label_smoothing!r}")
    _check_cnn_params(params, where)
    X = _images(X, params, where)                              # (m, H, W, C)
    y = npcore._check_labels(y, len(X), params["W4"].shape[1], where)   # (m,)
    cache = _forward(X, params)
    A4 = cache["A4"]                                           # (m, 10)
    Y = npcore.one_hot(y, A4.shape[1], A4.dtype)               # (m, 10)
    if label_smoothing:
        Y = (1 - label_smoothing) * Y + label_smoothing / Y.shape[1]  # (m, 10), rows sum to 1
    return npcore.cross_entropy(A4, Y), cnn_backward(X, Y, params, cache), A4


def cnn_predict_proba(X, params, batch_size=1000):
    """Class probabilities A4 (m, 10) for X (m, 28, 28, 1) or (m, 784), ``batch_size`` images at a time.

    X and params must be finite (NaN or infinities -> ValueError, never NaN output).

    Lesson 12.
    """
    where = "cnn_predict_proba"
    batch_size = npcore._check_int(batch_size, "batch_size", where)
    _check_cnn_params(params, where, finite=True)
    X = _images(X, params, where)                              # (m, H, W, C)
    return np.concatenate([_forward(X[i:i + batch_size], params)["A4"]
                           for i in range(0, len(X), batch_size)])   # (m, 10)


def cnn_make_predictions(X, params):
    """Predicted labels (m,) for X (m, 28, 28, 1) or (m, 784): probabilities, then argmax.

    Lesson 12.
    """
    return npcore.get_predictions(cnn_predict_proba(X, params))


# --------------------------------------------------------------------------- train it
def train_cnn(X, y, params, epochs, batch_size=64, learning_rate=1e-3, optimizer="adam",
              rng=None, **kwargs):
    """Mini-batch training of the CNN on X (m, 28, 28, 1) or (m, 784), y (m,).

    ``npcore.train`` (lesson 08's one loop) with ``loss_and_grads=cnn_loss_and_grads``
    and ``predict_proba=cnn_predict_proba``; only the defaults differ (batch 64, Adam
    at 1e-3). Every other keyword goes to it unchanged: ``X_val``, ``y_val``,
    ``schedule``, ``warmup_steps``, ``augment`` (e.g. ``npcore.shift_images``, which
    works on (b, 28, 28, 1)), ``label_smoothing``, ``progress`` and the optimizer's
    options. X (and X_val) are checked here, once: float images in [0, 1] that fit
    ``params`` (flat rows become (m, H, W, C) views); ``npcore.train`` checks the
    labels and every other argument before its first step. Returns
    ``(params, history)`` as ``npcore.train`` does: arrays (epochs,) loss, accuracy,
    val_loss, val_accuracy, lr and seconds (training time of the epoch, validation
    excluded). ``params`` is updated in place.

    Lesson 12.
    """
    _check_cnn_params(params, "train_cnn", finite=True)
    X = _images(X, params, "train_cnn")                        # (m, H, W, C)
    if kwargs.get("X_val") is not None:
        kwargs["X_val"] = _images(kwargs["X_val"], params, "train_cnn", "X_val")
    return npcore.train(X, y, params, epochs, batch_size, learning_rate, optimizer=optimizer,
                        rng=rng, loss_and_grads=cnn_loss_and_grads,
                        predict_proba=cnn_predict_proba, **kwargs)


# --------------------------------------------------------------------------- checking arguments
# No lesson derives these: they turn a wrong argument into a one-line ValueError that
# names it and says what was expected, instead of a deep NumPy error or silent garbage.
def _check_windows(X, kh, kw, where):
    if np.ndim(X) != 4:
        raise ValueError(f"{where} expects X of shape (m, H, W, C), got shape {np.shape(X)}")
    if not (1 <= kh <= X.shape[1] and 1 <= kw <= X.shape[2]):
        raise ValueError(f"{where} expects a kernel of 1..H x 1..W = 1..{X.shape[1]} x 1..{X.shape[2]} "
                         f"pixels for X {X.shape}, got {kh} x {kw}")


def _check_cnn_params(params, where, finite=False):
    """Raise ValueError unless ``params`` holds K1, b1, ..., W4, b4 of shapes that chain.

    With ``finite``, also unless every entry is finite (before predicting).
    """
    if not isinstance(params, dict):
        raise ValueError(f"{where}: params must be a dict of arrays (init_cnn_params), "
                         f"got {type(params).__name__}")
    missing = [key for key in _PARAM_KEYS if key not in params]
    extra = sorted(set(params) - set(_PARAM_KEYS))
    if missing or extra:
        raise ValueError(f"{where}: params must hold exactly {', '.join(_PARAM_KEYS)} "
                         f"(init_cnn_params); missing {missing}, unexpected {extra}")
    for key in _PARAM_KEYS:
        P = params[key]
        if not isinstance(P, np.ndarray) or P.dtype.kind != "f":
            kind = P.dtype if isinstance(P, np.ndarray) else type(P).__name__
            raise ValueError(f"{where}: params['{key}'] must be a float array, got {kind}")
    K1, K2, W3, W4 = params["K1"], params["K2"], params["W3"], params["W4"]
    expected = {"K1": K1.ndim == 4,
                "b1": K1.ndim == 4 and params["b1"].shape == K1.shape[3:],
                "K2": K2.ndim == 4 and K1.ndim == 4 and K2.shape[2] == K1.shape[3],
                "b2": K2.ndim == 4 and params["b2"].shape == K2.shape[3:],
                "W3": W3.ndim == 2,
                "b3": W3.ndim == 2 and params["b3"].shape == W3.shape[1:],
                "W4": W4.ndim == 2 and W3.ndim == 2 and W4.shape[0] == W3.shape[1],
                "b4": W4.ndim == 2 and params["b4"].shape == W4.shape[1:]}
    wrong = [key for key, ok in expected.items() if not ok]
    if wrong:
        shapes = ", ".join(f"{key} {params[key].shape}" for key in _PARAM_KEYS)
        raise ValueError(f"{where}: params {wrong[0]} has the wrong shape; expected K1 (kh, kw, C, F1), "
                         f"b1 (F1,), K2 (kh, kw, F1, F2), b2 (F2,), W3 (n, n3), b3 (n3,), W4 (n3, k), "
                         f"b4 (k,); got {shapes}")
    if finite:
        for key in _PARAM_KEYS:
            if not np.all(np.isfinite(params[key])):
                raise ValueError(f"{where}: params['{key}'] holds NaN or infinite values")


def _images(X, params, where, name="X"):
    """X (m, H, W, C) as it is, or flat square images (m, H*H*C) as a view (m, H, H, C).

    Checks, with one min and one max over X, that it holds float images in [0, 1]
    (no uint8 pixels, no unscaled values, no NaN) -- ``npcore._check_data``, as for
    the MLP -- and that they fit ``params``: C is K1's channels, and the two
    convolutions and poolings leave a map of the size W3 expects.
    """
    npcore._check_data(X, where, name)
    C = params["K1"].shape[2]
    if X.ndim == 2:
        side = int(round(np.sqrt(X.shape[1] / C)))
        if side * side * C != X.shape[1]:
            raise ValueError(f"{where}: {name} of shape {X.shape}: flat rows must be square images of "
                             f"{C} channel(s), (m, H*H*{C}); or pass (m, H, W, {C})")
        X = X.reshape(len(X), side, side, C)                   # (m, H, W, C) view
    if X.ndim != 4:
        raise ValueError(f"{where}: {name} must be images (m, H, W, {C}) or flat (m, H*W*{C}), "
                         f"got shape {X.shape}")
    m, H, W, C_X = X.shape
    if C_X != C:
        raise ValueError(f"{where}: {name} has {C_X} channels (shape {X.shape}) but K1 "
                         f"{params['K1'].shape} expects {C}")
    h, w = H, W
    for key in ("K1", "K2"):
        h, w = h - params[key].shape[0] + 1, w - params[key].shape[1] + 1   # convolution
        if h < 2 or w < 2 or h % 2 or w % 2:
            raise ValueError(f"{where}: {name}: images {H}x{W} give a {h}x{w} map after the {key} "
                             f"convolution, which 2x2 pooling cannot halve: expected the image "
                             f"size the params were made for (init_cnn_params(image_size=...))")
        h, w = h // 2, w // 2                                  # pooling
    n = h * w * params["K2"].shape[3]
    if n != params["W3"].shape[0]:
        raise ValueError(f"{where}: {name}: images {H}x{W} leave {h}x{w}x{params['K2'].shape[3]} = {n} "
                         f"features for the dense layer, but W3 {params['W3'].shape} expects "
                         f"{params['W3'].shape[0]}: the params were made for another image size")
    return X
