"""Time lesson 09's CNN in npconv against the same CNN in Keras (JAX) and PyTorch.

    python benchmarks/cnn.py                          # every framework installed; Markdown table
    python benchmarks/cnn.py --repeats 5 --batches 300
    python benchmarks/cnn.py worker keras --batches 200   # one measurement, printed as JSON

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
single-threaded CPU runtime). Lesson 09 trains npconv with one BLAS thread: on a
shared machine, BLAS threads that spin-wait for a descheduled partner can make
multi-threaded runs many times slower, so trust "all" tables only from a quiet
machine (the load average is printed with the table).
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
BATCH, LEARNING_RATE, EPOCH_IMAGES = 64, 1e-3, 60000
FRAMEWORKS = ("npconv", "keras", "torch")


def load(n):
    """The first n MNIST training images as (n, 28, 28, 1) float32 in [0, 1], labels (n,) int64."""
    import npcore
    (x_train, y_train), _ = npcore.load_mnist()
    X = npcore.preprocess(x_train[:n]).reshape(n, 28, 28, 1)
    return X, y_train[:n].astype(np.int64)


def run_npconv(X, y, threads):
    from threadpoolctl import threadpool_limits
    import npconv
    params = npconv.init_cnn_params(rng=0)
    with threadpool_limits(limits=threads, user_api="blas"):   # None: OpenBLAS's default, all cores
        _, history = npconv.train_cnn(X, y, params, 2, BATCH, LEARNING_RATE, optimizer="adam",
                                      rng=1, schedule=None)
    return history["seconds"].tolist()


def run_keras(X, y, threads):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if threads == 1:                                          # XLA's CPU runtime on one thread
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()
    home = tempfile.TemporaryDirectory(prefix="keras-home-")   # Keras writes its config here,
    os.environ["KERAS_HOME"] = home.name                      # never into ~/.keras
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

    from bench_one import keras_epochs          # the same timed fit as the MLP benchmark
    seconds = keras_epochs(model, X, y, BATCH, 2)[0]
    home.cleanup()
    return seconds


def run_torch(X, y, threads):
    import torch

    from bench_one import torch_epochs          # the same PyTorch loop as the MLP benchmark
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
    return torch_epochs(model, optimizer, X_t, torch.from_numpy(y), BATCH, 2)[0]


def worker(framework, batches, threads=None):
    """One measurement in this process: JSON with the timed pass, scaled to an epoch.

    threads: None lets each library use its default (all cores); 1 pins the process
    to one core (Linux) and asks each library for one thread (NumPy's BLAS,
    PyTorch's intra-op pool, XLA's CPU runtime).
    """
    if threads == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})   # one core, whatever the library
    X, y = load(batches * BATCH)
    run = {"npconv": run_npconv, "keras": run_keras, "torch": run_torch}[framework]
    cpu = time.process_time()
    seconds = run(X, y, threads)
    scale = EPOCH_IMAGES / (batches * BATCH)
    return {"framework": framework, "net": "cnn", "batches": batches, "batch_size": BATCH,
            "threads": threads or "all", "cpu_seconds": time.process_time() - cpu,
            "warmup_seconds": seconds[0], "seconds": seconds[1],
            "seconds_per_epoch": seconds[1] * scale}


def installed(framework):
    module = {"npconv": "npconv", "keras": "keras", "torch": "torch"}[framework]
    if framework == "keras" and importlib.util.find_spec("jax") is None:
        return False
    return importlib.util.find_spec(module) is not None


def measure(frameworks, batches, repeats, threads="all", log=sys.stderr):
    """{framework: [seconds per epoch, one per repeat]}, alternating fresh processes."""
    results = {fw: [] for fw in frameworks}
    for repeat in range(repeats):
        for fw in frameworks:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "worker", fw,
                                  "--batches", str(batches), "--threads", str(threads)],
                                 capture_output=True, text=True, check=True, cwd=ROOT)
            record = json.loads(out.stdout.strip().splitlines()[-1])
            results[fw].append(record["seconds_per_epoch"])
            print(f"repeat {repeat + 1}/{repeats} {fw:7s} {record['seconds_per_epoch']:6.1f} s/epoch "
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
    lines = [f"CNN (lesson 09), batch {BATCH}, Adam, {where}; seconds per epoch of "
             f"{EPOCH_IMAGES:,} images, from {batches} timed batches; median of {repeats} "
             f"alternating runs",
             "",
             "| framework | median s/epoch | runs (s/epoch) | npconv / framework |",
             "|---|---:|---|---:|"]
    names = {"npconv": "npconv (NumPy)", "keras": "Keras 3 (JAX backend)", "torch": "PyTorch"}
    for fw, runs in results.items():
        median = statistics.median(runs)
        lines.append(f"| {names[fw]} | {median:.1f} | {', '.join(f'{r:.1f}' for r in runs)} | "
                     f"{npconv_median / median:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="table", choices=["table", "worker"])
    parser.add_argument("framework", nargs="?", choices=FRAMEWORKS, help="worker mode only")
    parser.add_argument("--batches", type=int, default=200, help="batches of 64 per pass")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per framework")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help="comma-separated subset of " + ",".join(FRAMEWORKS))
    parser.add_argument("--threads", default="all", choices=["all", "1"],
                        help="all: each library's default thread pools (all cores); 1: every "
                             "framework on one thread (lesson 09 trains npconv that way)")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    args = parser.parse_args(argv)
    if args.mode == "worker":
        if args.framework is None:
            parser.error("worker mode needs a framework")
        print(json.dumps(worker(args.framework, args.batches, None if args.threads == "all" else 1)))
        return 0
    frameworks = [fw for fw in args.frameworks.split(",") if fw]
    unknown = set(frameworks) - set(FRAMEWORKS)
    if unknown or "npconv" not in frameworks:
        parser.error(f"--frameworks must include npconv and only name {', '.join(FRAMEWORKS)}")
    skipped = [fw for fw in frameworks if not installed(fw)]
    frameworks = [fw for fw in frameworks if fw not in skipped]
    load_before = os.getloadavg()[0]
    results = measure(frameworks, args.batches, args.repeats, args.threads)
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
