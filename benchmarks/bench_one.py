"""Train one MLP with one framework for a few epochs and print the epoch times as JSON.

    python benchmarks/bench_one.py npcore 512,256 --epochs 4
    python benchmarks/bench_one.py npcore-plain 512,256    # npcore.FAST = False: the lesson's updates
    python benchmarks/bench_one.py npcore 512,256 --npcore-from /tmp/npcore-before   # an older npcore
    python benchmarks/bench_one.py keras 128 --epochs 4
    python benchmarks/bench_one.py torch 128 --epochs 4
    python benchmarks/bench_one.py peak                  # this machine's sgemm GFLOP/s

benchmarks/run.py calls this once per (framework, net), each in a fresh process:
idle threads of one library in the same process distort the timings of another.
Every framework does the same work: MNIST's 60,000 training images in float32,
a new shuffle each epoch, batches of 128, SGD with momentum 0.9 at a constant
learning rate, loss and accuracy tracked per batch (as npcore.train and Keras's
fit report them; no validation, and npcore.train's "seconds" would leave it out
anyway). The first epoch is a warm-up (Keras compiles then) and is not timed.
"""
import argparse
import json
import sys

import common

BATCH, LEARNING_RATE, MOMENTUM = 128, 0.05, 0.9
FRAMEWORKS = ("npcore", "npcore-plain", "keras", "torch", "peak")


def run_npcore(X, y, hidden, epochs, plain=False, npcore_from=None):
    """npcore.train, He initialization; plain: with npcore.FAST = False."""
    nc = common.npcore_module(npcore_from)
    if plain:
        common.plain_code_path(nc)
    init = common.keyword(nc.init_params, "init", "method")       # `method` before issue 10
    params = nc.init_params(784, hidden, 10, rng=0, **{init: "he"})
    _, history = nc.train(X, y, params, epochs, BATCH, LEARNING_RATE, optimizer="momentum",
                          rng=1, schedule=None, beta=MOMENTUM)
    return history["seconds"].tolist(), history["loss"].tolist()


def run_keras(X, y, hidden, epochs):
    home = common.keras_env()
    import keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,))]
                             + [keras.layers.Dense(n, activation="relu") for n in hidden]
                             + [keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    result = common.keras_epochs(model, X, y, BATCH, epochs)
    home.cleanup()
    return result


def run_torch(X, y, hidden, epochs):
    import torch
    torch.manual_seed(0)
    sizes = [784, *hidden]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-1], 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    return common.torch_epochs(model, optimizer, torch.from_numpy(X), torch.from_numpy(y),
                               BATCH, epochs)


def parse_hidden(text):
    try:
        hidden = tuple(int(n) for n in text.split(","))
    except ValueError:
        hidden = ()
    if not hidden or min(hidden) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive integers such as 512,256, "
                                         f"got {text!r}")
    return hidden


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("framework", choices=FRAMEWORKS)
    parser.add_argument("hidden", nargs="?", default=(128,), type=parse_hidden,
                        help="hidden sizes, e.g. 512,256 (default 128)")
    parser.add_argument("--epochs", type=int, default=4, help="including one warm-up epoch (at least 2)")
    parser.add_argument("--npcore-from", metavar="DIR",
                        help="time the npcore of this checkout (e.g. an older commit's) instead "
                             "of the installed one; labelled npcore@before")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is an untimed warm-up)")
    if args.npcore_from and not args.framework.startswith("npcore"):
        parser.error("--npcore-from applies to npcore and npcore-plain only")
    try:
        if args.npcore_from:
            common.use_npcore_from(args.npcore_from)
        if args.framework == "peak":
            print(json.dumps({"gflops": common.sgemm_peak()}))
            return 0
        X, y = common.load_mnist_train()
        label, record = args.framework, {}
        if args.framework.startswith("npcore"):
            seconds, losses = run_npcore(X, y, args.hidden, args.epochs,
                                         plain=args.framework == "npcore-plain",
                                         npcore_from=args.npcore_from)
            label += common.BEFORE if args.npcore_from else ""
            record["npcore"] = common.npcore_description(common.npcore_module())
        else:
            runner = {"keras": run_keras, "torch": run_torch}[args.framework]
            seconds, losses = runner(X, y, args.hidden, args.epochs)
    except common.BenchmarkError as error:
        print(f"bench_one.py: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"framework": label, "hidden": args.hidden, **record,
                      "seconds": seconds[1:], "warmup_seconds": seconds[0], "loss": losses}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
