"""Time lesson 12's CNN in npconv against the same CNN in Keras (JAX) and PyTorch.

    python benchmarks/cnn.py                          # every framework installed; Markdown table
    python benchmarks/cnn.py --repeats 5 --batches 300
    python benchmarks/cnn.py worker keras --batches 200   # one measurement, printed as JSON
    python benchmarks/cnn.py --frameworks npconv,npconv-plain     # what npcore.FAST buys the CNN
    python benchmarks/cnn.py --npcore-from /tmp/npcore-before      # also an older npconv: npconv@before

The same network and work everywhere: conv 5x5 (16 filters) -> max-pool 2x2 -> ReLU ->
conv 5x5 (32) -> max-pool 2x2 -> ReLU -> dense 128 -> ReLU -> dense 10 -> softmax
(80,202 parameters), float32, MNIST training images in shuffled batches of 64, Adam at
a constant 1e-3, loss and accuracy tracked per batch (as npconv.train_cnn and Keras's
fit report them). A measurement is one fresh process that trains two passes over the
first N batches' images: the first pass is a warm-up (Keras compiles its training
step then) and only the second is timed. Measurements alternate between the
frameworks (npconv, keras, torch, npconv, keras, ...), so that a change in the load of
the machine touches all of them; the table reports, per framework, the median over the
repeats scaled to one epoch of 60,000 images, and the ratio npconv / framework
(above 1: npconv is slower). A framework that is not installed is left out.

--threads all (the default) lets every library use its own thread pools over all
cores; --threads 1 pins each worker process to one core and asks each library for one
thread (NumPy's BLAS via threadpoolctl, PyTorch's set_num_threads, XLA's
single-threaded CPU runtime). Lesson 12 trains npconv with one BLAS thread: on a
shared machine, BLAS threads that spin-wait for a descheduled partner can make
multi-threaded runs many times slower, so trust "all" tables only from a quiet
machine (the load average is printed with the table).

Optional rows: "npconv-plain" trains with npcore.FAST = False (lesson 12's plain im2col
and conv_backward, the lesson's optimizer updates), and --npcore-from DIR adds
"npconv@before", the npconv and npcore of another checkout DIR (e.g. the commit before a
change). npconv.train_cnn's "seconds" is training time only, in every version timed.
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import common

BATCH, LEARNING_RATE, EPOCH_IMAGES = 64, 1e-3, 60000
FRAMEWORKS = ("npconv", "keras", "torch")                 # the default rows
VARIANTS = ("npconv-plain",)                              # rows on request
BEFORE = "npconv" + common.BEFORE                         # the row of --npcore-from
NAMES = {"npconv": "npconv (NumPy)", "npconv-plain": "npconv, npcore.FAST = False",
         BEFORE: "npconv before (--npcore-from)", "keras": "Keras 3 (JAX backend)",
         "torch": "PyTorch"}


def load(n):
    """The first n MNIST training images as (n, 28, 28, 1) float32 in [0, 1], labels (n,) int64."""
    X, y = common.load_mnist_train(n)
    return X.reshape(n, 28, 28, 1), y


def run_npconv(X, y, threads, plain=False):
    """npconv.train_cnn with Adam; plain: with npcore.FAST = False."""
    from threadpoolctl import threadpool_limits
    import npconv
    if plain:
        common.plain_code_path(common.npcore_module())
    n_hidden = common.keyword(npconv.init_cnn_params, "n_hidden", "hidden")   # `hidden` before issue 10
    params = npconv.init_cnn_params(rng=0, channels=(16, 32), kernel=5, **{n_hidden: 128})
    with threadpool_limits(limits=threads, user_api="blas"):   # None: OpenBLAS's default, all cores
        _, history = npconv.train_cnn(X, y, params, 2, BATCH, LEARNING_RATE, optimizer="adam",
                                      rng=1, schedule=None)
    return history["seconds"].tolist()


def run_keras(X, y, threads):
    home = common.keras_env()
    if threads == 1:                                          # XLA's CPU runtime on one thread
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()
    import keras
    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(16, 5), L.MaxPooling2D(2), L.ReLU(),
        L.Conv2D(32, 5), L.MaxPooling2D(2), L.ReLU(),
        L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])
    assert model.count_params() == 80202, model.count_params()
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    seconds = common.keras_epochs(model, X, y, BATCH, 2)[0]   # the same timed fit as the MLP's
    home.cleanup()
    return seconds


def run_torch(X, y, threads):
    import torch
    torch.manual_seed(0)
    if threads is not None:
        torch.set_num_threads(threads)
    nn = torch.nn
    model = nn.Sequential(                       # NCHW: PyTorch's layout
        nn.Conv2d(1, 16, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(16, 32, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, 10))
    assert sum(p.numel() for p in model.parameters()) == 80202
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    X_t = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))   # (n, 1, 28, 28)
    return common.torch_epochs(model, optimizer, X_t, torch.from_numpy(y), BATCH, 2)[0]   # the MLP's loop


def worker(framework, batches, threads=None, npcore_from=None):
    """One measurement in this process: JSON with the timed pass, scaled to an epoch.

    threads: None lets each library use its default (all cores); 1 pins the process
    to one core (Linux) and asks each library for one thread (NumPy's BLAS,
    PyTorch's intra-op pool, XLA's CPU runtime). npcore_from: a checkout whose npconv
    and npcore are timed instead of the installed ones (the row npconv@before).
    """
    if npcore_from:
        common.use_npcore_from(npcore_from)
    if threads == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})   # one core, whatever the library
    X, y = load(batches * BATCH)
    run = {"npconv": run_npconv, "npconv-plain": lambda X, y, t: run_npconv(X, y, t, plain=True),
           "keras": run_keras, "torch": run_torch}[framework]
    cpu = time.process_time()
    seconds = run(X, y, threads)
    scale = EPOCH_IMAGES / (batches * BATCH)
    record = {"framework": framework + (common.BEFORE if npcore_from else ""), "net": "cnn",
              "batches": batches, "batch_size": BATCH,
              "threads": threads or "all", "cpu_seconds": time.process_time() - cpu,
              "warmup_seconds": seconds[0], "seconds": seconds[1],
              "seconds_per_epoch": seconds[1] * scale}
    if framework.startswith("npconv"):
        record["npcore"] = common.npcore_description(common.npcore_module(npcore_from))
    return record


def installed(framework):
    module = {"keras": "keras", "torch": "torch"}.get(framework, "npconv")
    if framework == "keras" and importlib.util.find_spec("jax") is None:
        return False
    return importlib.util.find_spec(module) is not None


def measure(frameworks, batches, repeats, threads="all", log=sys.stderr, npcore_from=None):
    """{framework: [seconds per epoch, one per repeat]}, alternating fresh processes."""
    results = {fw: [] for fw in frameworks}
    for repeat in range(repeats):
        for fw in frameworks:
            before = ["--npcore-from", npcore_from] if fw == BEFORE else []
            record = common.run_worker("cnn.py", "worker", "npconv" if fw == BEFORE else fw,
                                       "--batches", batches, "--threads", threads, *before)
            results[fw].append(record["seconds_per_epoch"])
            if repeat == 0 and "npcore" in record:
                print(f"{fw}: {record['npcore']}", file=log, flush=True)
            print(f"repeat {repeat + 1}/{repeats} {fw:13s} {record['seconds_per_epoch']:6.1f} s/epoch "
                  f"(warm-up pass {record['warmup_seconds']:.1f} s, CPU {record['cpu_seconds']:.1f} s "
                  f"for both passes)", file=log, flush=True)
    return results


def versions(frameworks):
    import numpy
    text = [f"numpy {numpy.__version__}"]
    for fw, module in (("keras", "keras"), ("keras", "jax"), ("torch", "torch")):
        if fw in frameworks:
            with tempfile.TemporaryDirectory(prefix="keras-home-") as home:
                out = subprocess.run([sys.executable, "-c", f"import {module}; print({module}.__version__)"],
                                     capture_output=True, text=True,
                                     env={**os.environ, "KERAS_BACKEND": "jax", "KERAS_HOME": home})
            text.append(f"{module} {out.stdout.strip() or '?'}")
    return ", ".join(text)


def table(results, batches, repeats, threads="all"):
    npconv_median = statistics.median(results["npconv"])
    where = "all cores (each library's default)" if threads == "all" else "one thread each"
    lines = [f"CNN (lesson 12), batch {BATCH}, Adam, {where}; seconds per epoch of "
             f"{EPOCH_IMAGES:,} images, from {batches} timed batches; median of {repeats} "
             f"alternating runs",
             "",
             "| framework | median s/epoch | runs (s/epoch) | npconv / framework |",
             "|---|---:|---|---:|"]
    for fw, runs in results.items():
        median = statistics.median(runs)
        lines.append(f"| {NAMES[fw]} | {median:.1f} | {', '.join(f'{r:.1f}' for r in runs)} | "
                     f"{npconv_median / median:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="table", choices=["table", "worker"])
    parser.add_argument("framework", nargs="?", choices=FRAMEWORKS + VARIANTS, help="worker mode only")
    parser.add_argument("--batches", type=int, default=200, help="batches of 64 per pass")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per framework")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help="comma-separated, of " + ",".join(FRAMEWORKS + VARIANTS))
    parser.add_argument("--npcore-from", metavar="DIR",
                        help="also time the npconv and npcore of this checkout (e.g. the commit "
                             f"before a change), as the row {BEFORE}")
    parser.add_argument("--threads", default="all", choices=["all", "1"],
                        help="all: each library's default thread pools (all cores); 1: every "
                             "framework on one thread (lesson 12 trains npconv that way)")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    args = parser.parse_args(argv)
    if args.batches < 1 or args.repeats < 1:
        parser.error("--batches and --repeats must be at least 1")
    if args.npcore_from:
        args.npcore_from = os.path.abspath(args.npcore_from)
        if not os.path.isfile(os.path.join(args.npcore_from, "npconv.py")):
            parser.error(f"--npcore-from: no npconv.py in {args.npcore_from}")
    try:
        return run(parser, args)
    except common.BenchmarkError as error:
        print(f"cnn.py: error: {error}", file=sys.stderr)
        return 2


def run(parser, args):
    """The worker's JSON line, or the measurements and their table."""
    if args.mode == "worker":
        if args.framework is None:
            parser.error("worker mode needs a framework")
        if args.npcore_from and not args.framework.startswith("npconv"):
            parser.error("--npcore-from applies to npconv and npconv-plain only")
        print(json.dumps(worker(args.framework, args.batches, None if args.threads == "all" else 1,
                                args.npcore_from)))
        return 0
    frameworks = [fw for fw in args.frameworks.split(",") if fw]
    unknown = set(frameworks) - set(FRAMEWORKS + VARIANTS)
    if unknown or "npconv" not in frameworks or len(set(frameworks)) < len(frameworks):
        parser.error(f"--frameworks must include npconv and only name "
                     f"{', '.join(FRAMEWORKS + VARIANTS)}, each once")
    skipped = [fw for fw in frameworks if not installed(fw)]
    frameworks = [fw for fw in frameworks if fw not in skipped]
    if args.npcore_from:
        frameworks.insert(frameworks.index("npconv") + 1, BEFORE)
        print(f"{BEFORE}: the npconv of {common.checkout_description(args.npcore_from)}",
              file=sys.stderr, flush=True)
    load_before = os.getloadavg()[0]
    results = measure(frameworks, args.batches, args.repeats, args.threads,
                      npcore_from=args.npcore_from)
    if args.json:
        print(json.dumps({"batches": args.batches, "repeats": args.repeats,
                          "threads": args.threads, "results": results}))
        return 0
    print(table(results, args.batches, args.repeats, args.threads))
    print()
    print(f"{os.cpu_count()} cores; load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after; {versions(frameworks)}"
          + (f"; not installed: {', '.join(skipped)}" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
