"""Retrain the course's two final networks and save them for the draw-a-digit widget.

    MNIST_NPZ=../shared/data/mnist.npz python tools/train_models.py            # both, into models/
    MNIST_NPZ=../shared/data/mnist.npz python tools/train_models.py --only mlp --out /tmp/m

* ``models/mlp.npz`` -- lesson 09's final network: 784->512->256->10, He initialisation
  (seed 0), 15 epochs of mini-batch SGD with momentum (batches of 128, rate 0.1, cosine
  schedule, batch order seed 100), every batch shifted by up to 1 pixel, no dropout, no
  weight decay, trained on the first 55,000 training images (lesson 09's split; the last
  5,000 are its validation set). This is lesson 09's seed-0 "shifts" run, the network the
  lesson chose and tested.
* ``models/cnn.npz`` -- lesson 12's final CNN: conv 5x5 (16) -> pool -> conv 5x5 (32) ->
  pool -> dense 128 -> 10 (``npconv.init_cnn_params(rng=0)``), 5 epochs of Adam (batches
  of 64, rate 0.002, batch order seed 1), shifts of up to 1 pixel and label smoothing 0.1,
  on 55,000 training images chosen by ``default_rng(0).permutation`` (lesson 12's split),
  with one BLAS thread as in the lesson.

Each file is written by ``npcore.save_params`` with the recipe, the test accuracy (on the
10,000 test images) and the training seconds as metadata; the accuracies are printed.
Float32 training depends on the BLAS kernel (CONTRIBUTING.md, "Which CPU the outputs come
from"): the lessons' stored accuracies (0.9903 and 0.9947) were made with OpenBLAS's
SkylakeX kernel; another kernel may give a network a few test images apart. The committed
files were made on an AMD EPYC with ``OPENBLAS_CORETYPE=SkylakeX`` and reproduce both
numbers exactly (MLP 0.9903, CNN 0.9947; 511 s and 188 s of training on a machine shared
with other jobs).
"""
import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:                        # npcore and npconv sit in the course's folder
    sys.path.insert(0, ROOT)

import npconv  # noqa: E402
import npcore  # noqa: E402

MLP_RECIPE = dict(hidden=[512, 256], epochs=15, batch_size=128, optimizer="momentum",
                  learning_rate=0.1, schedule="cosine", max_shift=1, weight_decay=0.0,
                  dropout=0.0, init="he", init_seed=0, train_seed=100, label_smoothing=0.0,
                  train_images="first 55000 of the training set", lesson="09")
CNN_RECIPE = dict(channels=[16, 32], kernel=5, n_hidden=128, epochs=5, batch_size=64,
                  optimizer="adam", learning_rate=0.002, max_shift=1, label_smoothing=0.1,
                  init_seed=0, train_seed=1, split_seed=0, blas_threads=1,
                  train_images="55000 chosen by default_rng(0).permutation", lesson="12")


def train_mlp(x_train, y_train, x_test, y_test):
    """Lesson 09's final network; returns (params, test accuracy, training seconds)."""
    r = MLP_RECIPE
    X_all = npcore.preprocess(x_train)                        # (60000, 784) float32
    y_all = y_train.astype(np.int64)                          # (60000,)
    X_train, y_tr = X_all[:55000], y_all[:55000]              # lesson 09's split
    X_val, y_val = X_all[55000:], y_all[55000:]
    params = npcore.init_params(784, r["hidden"], 10, rng=r["init_seed"], init=r["init"])
    _, history = npcore.train(X_train, y_tr, params, r["epochs"], r["batch_size"],
                              r["learning_rate"], optimizer=r["optimizer"], rng=r["train_seed"],
                              X_val=X_val, y_val=y_val, schedule=r["schedule"],
                              augment=npcore.shift_images, dropout=r["dropout"])
    X_test = npcore.preprocess(x_test)                        # (10000, 784)
    accuracy = npcore.get_accuracy(npcore.make_predictions(X_test, params), y_test)
    return params, float(accuracy), float(history["seconds"].sum())


def train_cnn(x_train, y_train, x_test, y_test):
    """Lesson 12's final CNN; returns (params, test accuracy, training seconds)."""
    from threadpoolctl import threadpool_limits

    r = CNN_RECIPE
    X_all = npconv.to_images(npcore.preprocess(x_train))      # (60000, 28, 28, 1)
    order = np.random.default_rng(r["split_seed"]).permutation(len(X_all))   # (60000,)
    train_idx, val_idx = order[:55000], order[55000:]
    X_tr, y_tr = X_all[train_idx], y_train[train_idx]
    X_val, y_val = X_all[val_idx], y_train[val_idx]
    with threadpool_limits(limits=r["blas_threads"], user_api="blas"):
        params = npconv.init_cnn_params(rng=r["init_seed"], channels=tuple(r["channels"]),
                                        kernel=r["kernel"], n_hidden=r["n_hidden"])
        params, history = npconv.train_cnn(X_tr, y_tr, params, r["epochs"], r["batch_size"],
                                           r["learning_rate"], optimizer=r["optimizer"],
                                           rng=r["train_seed"], X_val=X_val, y_val=y_val,
                                           augment=npcore.shift_images,
                                           label_smoothing=r["label_smoothing"])
        X_test = npconv.to_images(npcore.preprocess(x_test))  # (10000, 28, 28, 1)
        accuracy = npcore.get_accuracy(npconv.cnn_make_predictions(X_test, params), y_test)
    return params, float(accuracy), float(history["seconds"].sum())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["mlp", "cnn"], help="train one network only")
    parser.add_argument("--out", default=os.path.join(ROOT, "models"),
                        help="folder for mlp.npz and cnn.npz (default: models/)")
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test) = npcore.load_mnist()
    os.makedirs(args.out, exist_ok=True)
    jobs = {"mlp": (train_mlp, MLP_RECIPE, 0.9903), "cnn": (train_cnn, CNN_RECIPE, 0.9947)}
    for name, (train, recipe, stored) in jobs.items():
        if args.only and name != args.only:
            continue
        start = time.perf_counter()
        params, accuracy, seconds = train(x_train, y_train, x_test, y_test)
        path = os.path.join(args.out, f"{name}.npz")
        npcore.save_params(path, params, recipe=recipe, test_accuracy=round(accuracy, 4),
                           training_seconds=round(seconds))
        print(f"{name.upper()}: test accuracy {accuracy:.4f} (lesson {recipe['lesson']} stored "
              f"{stored:.4f}), {seconds:.0f} s of training, {time.perf_counter() - start:.0f} s "
              f"in all; saved {os.path.relpath(path)} ({os.path.getsize(path):,} bytes)",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
