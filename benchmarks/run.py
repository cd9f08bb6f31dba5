"""npcore vs Keras (JAX backend) vs PyTorch (when installed): seconds per training epoch.

    make benchmark                       # or: python benchmarks/run.py [--rounds 5] [--markdown]
    python benchmarks/run.py --frameworks npcore,npcore-plain,keras,torch   # what npcore.FAST buys
    python benchmarks/run.py --npcore-from /tmp/npcore-before    # also an older npcore: npcore@before

Two MLPs, 784->128->10 and 784->512->256->10, on MNIST's 60,000 training images:
float32, batches of 128, SGD with momentum 0.9, a fresh shuffle each epoch (the exact
work is in benchmarks/bench_one.py). Each (framework, net) runs in its own process, and
the frameworks take turns round after round, so a slow minute on a shared machine hits
all of them. Reported per net and framework: the median seconds per epoch over all
timed epochs, the ratio npcore / that framework (below 1 means npcore is faster), and
the fraction of this machine's matrix-multiply peak (float32 GEMM GFLOP/s, measured
here with NumPy) that the framework's epoch reaches. Needs MNIST_NPZ (or internet).
This is a script, not a test: timings say nothing about correctness.

Rows besides the frameworks: "npcore-plain" is npcore with npcore.FAST = False (the
lesson's plain optimizer updates instead of the cache-sized pieces), and
"npcore@before" (with --npcore-from DIR) the npcore of another checkout, DIR, e.g. the
commit before a change: both in their own processes, in the same rounds.
"""
import argparse
import datetime
import importlib.metadata
import importlib.util
import os
import platform
import statistics
import sys

import common

NETS = {"784-128-10": (128,), "784-512-256-10": (512, 256)}
M = 60000                                  # training images per epoch
FRAMEWORKS = ("npcore", "npcore-plain", "keras", "torch")
BEFORE = "npcore" + common.BEFORE           # the row of --npcore-from


def gemm_flops_per_epoch(hidden, m=M):
    """Multiply-add FLOPs of one epoch's matrix products: forward, dW, and dA for layers >= 2."""
    sizes = [784, *hidden, 10]
    per_layer = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * m * (3 * sum(per_layer) - per_layer[0])    # no dX for the input layer


def installed(framework):
    """Whether the framework's library is installed (npcore's variants: always)."""
    needs = {"keras": ("keras", "jax"), "torch": ("torch",)}.get(framework, ())
    return all(importlib.util.find_spec(module) is not None for module in needs)


def available_frameworks():
    """npcore and Keras always (both are course requirements); PyTorch when it is installed."""
    return [fw for fw in ("npcore", "keras", "torch") if installed(fw)]


def worker_args(framework, hidden, epochs, npcore_from=None):
    """bench_one.py's arguments for one row of the table."""
    if framework == BEFORE:
        return ["npcore", hidden, "--epochs", epochs, "--npcore-from", npcore_from]
    return [framework, hidden, "--epochs", epochs]


def worker(*args):
    return common.run_worker("bench_one.py", *args)


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
    parser.add_argument("--frameworks", default=",".join(available_frameworks()),
                        help=f"comma-separated, of {', '.join(FRAMEWORKS)} (default: "
                             f"{','.join(available_frameworks())})")
    parser.add_argument("--npcore-from", metavar="DIR",
                        help="also time the npcore of this checkout (e.g. the commit before a "
                             f"change), as the row {BEFORE}")
    parser.add_argument("--nets", default=",".join(NETS), help=f"comma-separated, of {', '.join(NETS)}")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    frameworks, nets = [f for f in args.frameworks.split(",") if f], args.nets.split(",")
    unknown = [f for f in frameworks if f not in FRAMEWORKS] + [n for n in nets if n not in NETS]
    if unknown or not frameworks or len(set(frameworks)) < len(frameworks):
        parser.error(f"unknown or repeated in --frameworks/--nets: {', '.join(unknown) or args.frameworks}")
    if args.rounds < 1 or args.epochs < 2:
        parser.error("--rounds must be at least 1 and --epochs at least 2 (the first is untimed)")
    skipped = [fw for fw in frameworks if not installed(fw)]
    frameworks = [fw for fw in frameworks if fw not in skipped]
    if skipped:
        print(f"not installed, left out: {', '.join(skipped)}", flush=True)
    if not frameworks:
        parser.error("none of the frameworks asked for is installed")
    if args.npcore_from:
        args.npcore_from = os.path.abspath(args.npcore_from)
        if not os.path.isfile(os.path.join(args.npcore_from, "npcore.py")):
            parser.error(f"--npcore-from: no npcore.py in {args.npcore_from}")
        at = frameworks.index("npcore") + 1 if "npcore" in frameworks else 0
        frameworks.insert(at, BEFORE)
    try:
        return report(args, frameworks, nets)
    except common.BenchmarkError as error:
        print(f"run.py: error: {error}", file=sys.stderr)
        return 2


def report(args, frameworks, nets):
    """Run the rounds and print the table."""
    print(f"machine: {machine()}")
    print(f"date: {datetime.date.today().isoformat()}; load average (1/5/15 min) before: {load_average()}")
    print(f"{args.rounds} rounds x {args.epochs} epochs (first untimed) per framework and net; "
          f"frameworks: {', '.join(frameworks)}", flush=True)
    if args.npcore_from:
        print(f"{BEFORE}: the npcore of {common.checkout_description(args.npcore_from)}", flush=True)

    seconds = {(net, fw): [] for net in nets for fw in frameworks}
    npcores = {}                           # row -> which npcore the worker timed
    peaks = []
    for r in range(args.rounds):
        peaks.append(worker("peak")["gflops"])
        for net in nets:
            order = frameworks[r % len(frameworks):] + frameworks[:r % len(frameworks)]  # rotate who goes first
            for fw in order:
                result = worker(*worker_args(fw, ",".join(map(str, NETS[net])), args.epochs,
                                             args.npcore_from))
                seconds[net, fw] += result["seconds"]
                if "npcore" in result:
                    npcores[fw] = result["npcore"]
        print(f"round {r + 1}/{args.rounds} done (load average {load_average()})", flush=True)
    peak = max(peaks)

    print(f"\nmatrix-multiply peak (float32 GEMM 2048x2048, NumPy, best of all rounds): {peak:.0f} GFLOP/s "
          f"(median of rounds {statistics.median(peaks):.0f})")
    print(f"load average (1/5/15 min) after: {load_average()}")
    for fw, description in npcores.items():
        print(f"{fw}: {description}")
    print()
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
    for variant, meaning in (("npcore-plain", "what npcore.FAST buys"), (BEFORE, "before / now")):
        if "npcore" in frameworks and variant in frameworks:
            for net in nets:
                ratio = statistics.median(seconds[net, variant]) / statistics.median(seconds[net, "npcore"])
                print(f"{net}: {variant} / npcore = {ratio:.2f} ({meaning})")
    others = [fw for fw in frameworks if not fw.startswith("npcore")]
    if "npcore" in frameworks and others:
        for net in nets:
            best = min(others, key=lambda fw: statistics.median(seconds[net, fw]))
            ratio = statistics.median(seconds[net, "npcore"]) / statistics.median(seconds[net, best])
            print(f"{net}: npcore / fastest other ({best}) = {ratio:.2f}"
                  f"  -> {'goal reached' if ratio <= 1.0 else 'goal (<= 1.0) not reached'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
