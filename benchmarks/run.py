"""npcore vs Keras (JAX backend) vs PyTorch (when installed): seconds per training epoch.

    make benchmark                       # or: python benchmarks/run.py [--rounds 5] [--markdown]

Two MLPs, 784->128->10 and 784->512->256->10, on MNIST's 60,000 training images:
float32, batches of 128, SGD with momentum 0.9, a fresh shuffle each epoch (the exact
work is in benchmarks/bench_one.py). Each (framework, net) runs in its own process, and
the frameworks take turns round after round, so a slow minute on a shared machine hits
all of them. Reported per net and framework: the median seconds per epoch over all
timed epochs, the ratio npcore / that framework (below 1 means npcore is faster), and
the fraction of this machine's matrix-multiply peak (float32 GEMM GFLOP/s, measured
here with NumPy) that the framework's epoch reaches. Needs MNIST_NPZ (or internet).
This is a script, not a test: timings say nothing about correctness.
"""
import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NETS = {"784-128-10": (128,), "784-512-256-10": (512, 256)}
M = 60000                                  # training images per epoch


def gemm_flops_per_epoch(hidden, m=M):
    """Multiply-add FLOPs of one epoch's matrix products: forward, dW, and dA for layers >= 2."""
    sizes = [784, *hidden, 10]
    per_layer = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * m * (3 * sum(per_layer) - per_layer[0])    # no dX for the input layer


def available_frameworks():
    """npcore and Keras always (both are course requirements); PyTorch when it is installed."""
    frameworks = ["npcore", "keras"]
    if importlib.util.find_spec("torch") is not None:
        frameworks.append("torch")
    return frameworks


def worker(*args):
    out = subprocess.run([sys.executable, os.path.join(HERE, "bench_one.py"), *args],
                         check=True, capture_output=True, text=True,
                         env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
                              "TF_CPP_MIN_LOG_LEVEL": "2"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import numpy as np
    blas = "?"
    try:
        from threadpoolctl import threadpool_info
        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            blas = f"{info[0]['internal_api']} {info[0]['version']} ({info[0]['num_threads']} threads)"
    except ImportError:
        pass
    versions = [f"numpy {np.__version__}", f"BLAS {blas}", f"Python {platform.python_version()}"]
    for name in ("keras", "jax", "torch"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return f"{cpu}, {os.cpu_count()} cores; " + ", ".join(versions)


def load_average():
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each framework per net")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run, the first untimed")
    parser.add_argument("--frameworks", default=",".join(available_frameworks()))
    parser.add_argument("--nets", default=",".join(NETS))
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    frameworks, nets = args.frameworks.split(","), args.nets.split(",")
    print(f"machine: {machine()}")
    print(f"date: {datetime.date.today().isoformat()}; load average (1/5/15 min) before: {load_average()}")
    print(f"{args.rounds} rounds x {args.epochs} epochs (first untimed) per framework and net; "
          f"frameworks: {', '.join(frameworks)}", flush=True)

    seconds = {(net, fw): [] for net in nets for fw in frameworks}
    peaks = []
    for r in range(args.rounds):
        peaks.append(worker("peak")["gflops"])
        for net in nets:
            order = frameworks[r % len(frameworks):] + frameworks[:r % len(frameworks)]  # rotate who goes first
            for fw in order:
                result = worker(fw, ",".join(map(str, NETS[net])), "--epochs", str(args.epochs))
                seconds[net, fw] += result["seconds"]
        print(f"round {r + 1}/{args.rounds} done (load average {load_average()})", flush=True)
    peak = max(peaks)

    print(f"\nmatrix-multiply peak (float32 GEMM 2048x2048, NumPy, best of all rounds): {peak:.0f} GFLOP/s "
          f"(median of rounds {statistics.median(peaks):.0f})")
    print(f"load average (1/5/15 min) after: {load_average()}\n")
    sep = " | " if args.markdown else "  "
    header = ["net", "framework", "s/epoch (median)", "min-max", "npcore / it", "GFLOP/s", "% of peak"]
    rows = []
    for net in nets:
        flops = gemm_flops_per_epoch(NETS[net])
        npcore_median = statistics.median(seconds[net, "npcore"]) if "npcore" in frameworks else None
        for fw in frameworks:
            s = seconds[net, fw]
            med = statistics.median(s)
            ratio = f"{npcore_median / med:.2f}" if npcore_median else "-"
            rows.append([net, fw, f"{med:.3f}", f"{min(s):.2f}-{max(s):.2f}", ratio,
                         f"{flops / med / 1e9:.0f}", f"{100 * flops / med / 1e9 / peak:.0f} %"])
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda cells: sep.join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    if args.markdown:
        print("| " + fmt(header) + " |")
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in rows:
            print("| " + fmt(row) + " |")
    else:
        print(fmt(header))
        for row in rows:
            print(fmt(row))
    for net in nets:
        print(f"{net}: {gemm_flops_per_epoch(NETS[net]) / 1e9:.1f} GFLOP of matrix products per epoch, "
              f"{gemm_flops_per_epoch(NETS[net]) / 1e9 / peak:.2f} s at the peak")
    others = [fw for fw in frameworks if fw != "npcore"]
    if "npcore" in frameworks and others:
        for net in nets:
            best = min(others, key=lambda fw: statistics.median(seconds[net, fw]))
            ratio = statistics.median(seconds[net, "npcore"]) / statistics.median(seconds[net, best])
            print(f"{net}: npcore / fastest other ({best}) = {ratio:.2f}"
                  f"  -> {'goal reached' if ratio <= 1.0 else 'goal (<= 1.0) not reached'}")


if __name__ == "__main__":
    main()
