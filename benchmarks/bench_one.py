"""Train one MLP with one framework for a few epochs and print the epoch times as JSON.

    python benchmarks/bench_one.py npcore 512,256 --epochs 4
    python benchmarks/bench_one.py keras 128 --epochs 4
    python benchmarks/bench_one.py torch 128 --epochs 4
    python benchmarks/bench_one.py peak                  # this machine's sgemm GFLOP/s

benchmarks/run.py calls this once per (framework, net), each in a fresh process:
idle threads of one library in the same process distort the timings of another.
Every framework does the same work: MNIST's 60,000 training images in float32,
a new shuffle each epoch, batches of 128, SGD with momentum 0.9 at a constant
learning rate, loss and accuracy tracked per batch (as npcore.train and Keras's
fit report them). The first epoch is a warm-up (Keras compiles then) and is not timed.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
BATCH, LEARNING_RATE, MOMENTUM = 128, 0.05, 0.9


def load():
    import npcore as nc
    (x_train, y_train), _ = nc.load_mnist()
    return nc.preprocess(x_train), y_train.astype(np.int64)


def run_npcore(X, y, hidden, epochs):
    import npcore as nc
    params = nc.init_params(784, hidden, 10, rng=0, method="he")
    _, history = nc.train(X, y, params, epochs, BATCH, LEARNING_RATE, optimizer="momentum",
                          rng=1, schedule=None, beta=MOMENTUM)
    return history["seconds"].tolist(), history["loss"].tolist()


def run_keras(X, y, hidden, epochs):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,))]
                             + [keras.layers.Dense(n, activation="relu") for n in hidden]
                             + [keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    return keras_epochs(model, X, y, BATCH, epochs)


def keras_epochs(model, X, y, batch_size, epochs):
    """model.fit, timed per epoch (also used by cnn.py): ([seconds per epoch], [loss per epoch])."""
    import keras

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    seconds = []
    history = model.fit(X, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
                        callbacks=[Timer()])
    return seconds, history.history["loss"]


def run_torch(X, y, hidden, epochs):
    import torch
    torch.manual_seed(0)
    sizes = [784, *hidden]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-1], 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    return torch_epochs(model, optimizer, torch.from_numpy(X), torch.from_numpy(y), BATCH, epochs)


def torch_epochs(model, optimizer, X_t, y_t, batch_size, epochs):
    """The usual PyTorch loop (also used by cnn.py): ([seconds per epoch], [mean loss per epoch])."""
    import torch
    loss_fn = torch.nn.CrossEntropyLoss()        # softmax + cross-entropy on the logits
    seconds, losses = [], []
    for _ in range(epochs):
        start, loss_sum, correct = time.perf_counter(), 0.0, 0
        order = torch.randperm(len(X_t))
        for i in range(0, len(X_t), batch_size):
            batch = order[i:i + batch_size]
            Xb, yb = X_t[batch], y_t[batch]
            logits = model(Xb)
            loss = loss_fn(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(yb)
            correct += int((logits.argmax(1) == yb).sum())
        seconds.append(time.perf_counter() - start)
        losses.append(loss_sum / len(X_t))
    return seconds, losses


def sgemm_peak(n=2048, repeats=7):
    """Best GFLOP/s of a float32 n x n matrix product with NumPy's BLAS (all cores)."""
    rng = np.random.default_rng(0)
    A, B = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    A @ B
    best = min(_timed(lambda: A @ B) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("framework", choices=["npcore", "keras", "torch", "peak"])
    parser.add_argument("hidden", nargs="?", default="128", help="hidden sizes, e.g. 512,256")
    parser.add_argument("--epochs", type=int, default=4, help="including one warm-up epoch")
    args = parser.parse_args(argv)
    if args.framework == "peak":
        print(json.dumps({"gflops": sgemm_peak()}))
        return
    hidden = tuple(int(n) for n in args.hidden.split(","))
    X, y = load()
    runner = {"npcore": run_npcore, "keras": run_keras, "torch": run_torch}[args.framework]
    seconds, losses = runner(X, y, hidden, args.epochs)
    print(json.dumps({"framework": args.framework, "hidden": hidden,
                      "seconds": seconds[1:], "warmup_seconds": seconds[0], "loss": losses}))


if __name__ == "__main__":
    main()
