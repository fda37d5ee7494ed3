#!/usr/bin/env python3
"""Side-by-side benchmark: Shears against numpy (OpenBLAS) and PyTorch on the same work.

Runs `shears bench --json` (release build) and, in the same run, times
  * numpy `@` on the GEMM shapes of one LeNet-300-100 training step at batch 64,
  * PyTorch training of LeNet-300-100 (Adam, batch 64, 2 threads) in samples/s,
  * PyTorch evaluation of the 10,000-image test set,
then prints the figures and the ratios. numpy and torch are optional: what is missing is skipped.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE slow a current OpenBLAS on this machine; this script
re-runs itself without them (only for itself, never for tests).

Usage: python3 Benchmarks/compare.py [--shears .build/release/shears] [--data DIR] [--repeats 5]
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time

OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def reexec_without_openblas_overrides():
    if any(name in os.environ for name in OPENBLAS_VARIABLES):
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARIABLES}
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return data[4 + 4 * dims:], shape


def find(directory, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    raise SystemExit(f"{directory}: no {name}[.gz]")


def image_tensors(data_dir, train_count, test_count=None):
    """The first training and test images of an IDX folder as float tensors [N, 1, H, W] scaled
    to [0, 1], with their labels as int64 tensors (all test images when `test_count` is None)."""
    import numpy as np
    import torch
    splits = []
    for prefix, count in (("train", train_count), ("t10k", test_count)):
        pixels, shape = read_idx(find(data_dir, f"{prefix}-images-idx3-ubyte"))
        labels, _ = read_idx(find(data_dir, f"{prefix}-labels-idx1-ubyte"))
        count = shape[0] if count is None else count
        images = np.frombuffer(pixels, np.uint8).reshape(-1, 1, shape[1], shape[2])[:count]
        splits.append(torch.from_numpy(images.astype(np.float32) / 255))
        splits.append(torch.from_numpy(np.frombuffer(labels, np.uint8)[:count].astype(np.int64)))
    return tuple(splits)


def alternating_rounds(args, suite, make_reference):
    """Runs `shears bench --suite SUITE --json --repetitions 1` and, when torch is installed, a
    round of `make_reference(data_dir, threads)` after each, `args.rounds` times, so that a busy
    machine slows both alike. Returns the bench results, the reference (None without torch),
    its training samples/s and evaluation milliseconds per round, and the load averages seen."""
    def bench():
        run = subprocess.run(
            [args.shears, "bench", "--suite", suite, "--json", "--repetitions", "1", "--data", args.data],
            check=True, capture_output=True, text=True)
        return json.loads(run.stdout)

    def load_average():
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])

    rounds = [bench()]
    threads = rounds[0]["threads"]
    print(f"machine: {rounds[0]['machine']}; data: {rounds[0]['data']}; {threads} threads each")
    try:
        reference = make_reference(args.data, threads)
    except ImportError:
        reference = None
    loads, torch_train, torch_eval = [load_average()], [], []
    for index in range(args.rounds):
        if index > 0:
            rounds.append(bench())
        if reference:
            rate, milliseconds = reference.round()
            torch_train.append(rate)
            torch_eval.append(milliseconds)
        loads.append(load_average())
    return rounds, reference, torch_train, torch_eval, loads


def median_time(work, repeats):
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def numpy_gemm(shapes, repeats):
    import numpy as np
    try:
        from threadpoolctl import threadpool_info
        blas = [f"{i.get('internal_api')} {i.get('architecture')} {i.get('num_threads')} threads" for i in threadpool_info()]
    except ImportError:
        blas = ["threadpoolctl not installed"]
    rng = np.random.default_rng(7)
    results = []
    for shape in shapes:
        m, n, k, form = shape["m"], shape["n"], shape["k"], shape["form"]
        if form == "A·B":
            a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
            work = lambda: a @ b
        elif form == "Aᵀ·B":
            a, b = rng.random((k, m), dtype=np.float32), rng.random((k, n), dtype=np.float32)
            work = lambda: a.T @ b
        else:
            a, b = rng.random((m, k), dtype=np.float32), rng.random((n, k), dtype=np.float32)
            work = lambda: a @ b.T
        flops = 2 * m * n * k
        calls = max(1, int(2e9 / flops))
        seconds = median_time(lambda: [work() for _ in range(calls)], repeats) / calls
        results.append(flops / seconds / 1e9)
    return results, blas


def torch_figures(data_dir, repeats, threads):
    import numpy as np
    import torch
    torch.set_num_threads(threads)
    train_pixels, train_shape = read_idx(find(data_dir, "train-images-idx3-ubyte"))
    train_labels, _ = read_idx(find(data_dir, "train-labels-idx1-ubyte"))
    test_pixels, test_shape = read_idx(find(data_dir, "t10k-images-idx3-ubyte"))
    test_labels, _ = read_idx(find(data_dir, "t10k-labels-idx1-ubyte"))
    features = train_shape[1] * train_shape[2]
    x_train = torch.from_numpy(np.frombuffer(train_pixels, np.uint8).reshape(-1, features).astype(np.float32) / 255)
    y_train = torch.from_numpy(np.frombuffer(train_labels, np.uint8).astype(np.int64))
    x_test = torch.from_numpy(np.frombuffer(test_pixels, np.uint8).reshape(-1, features).astype(np.float32) / 255)

    def lenet():
        return torch.nn.Sequential(
            torch.nn.Linear(features, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100), torch.nn.ReLU(),
            torch.nn.Linear(100, 10))

    torch.manual_seed(1)
    model = lenet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    batch, batches = 64, 200

    def train_slice():
        order = torch.randperm(batch * batches)
        for i in range(batches):
            idx = order[i * batch:(i + 1) * batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()

    train_slice()  # warm-up
    train_rate = batch * batches / median_time(train_slice, repeats)
    model.eval()

    def evaluate():
        with torch.no_grad():
            model(x_test).argmax(1)

    evaluate()
    eval_seconds = median_time(evaluate, max(repeats, 10))
    return {"torch": torch.__version__, "train_samples_per_second": train_rate, "eval_milliseconds": eval_seconds * 1000,
            "eval_samples": x_test.shape[0], "threads": threads}


def parse_arguments(description, counts):
    """--shears (the release binary, which must exist) and --data, plus one integer option per
    entry of `counts` (name: default)."""
    parser = argparse.ArgumentParser(description=description)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--shears", default=os.path.join(here, "..", ".build", "release", "shears"))
    parser.add_argument("--data", default=os.environ.get("SHEARS_DATA", "/usr/share/datasets/fashion-mnist"))
    for name, default in counts.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args()
    if not os.path.exists(args.shears):
        raise SystemExit(f"{args.shears}: not built; run `swift build -c release` first")
    return args


def main():
    reexec_without_openblas_overrides()
    args = parse_arguments(__doc__.split("\n")[0], {"repeats": 5})
    shears = json.loads(subprocess.run(
        [args.shears, "bench", "--json", "--data", args.data, "--repetitions", str(args.repeats)],
        check=True, capture_output=True, text=True).stdout)
    threads = shears["threads"]
    print(f"machine: {shears['machine']}; data: {shears['data']}")
    print(f"Shears micro-kernel, 1 thread: {shears['micro_kernel_gflops']:.1f} GFLOP/s\n")

    try:
        numpy_rates, blas = numpy_gemm(shears["gemm"], args.repeats)
        print("numpy BLAS: " + "; ".join(blas))
    except ImportError:
        numpy_rates = None
    print(f"{'GEMM shape':34}{'m':>6}{'n':>6}{'k':>6}  form  Shears {threads}T  numpy  ratio")
    for index, shape in enumerate(shears["gemm"]):
        ours = shape["gflops_all_threads"]
        line = f"{shape['name']:34}{shape['m']:6}{shape['n']:6}{shape['k']:6}  {shape['form']:5}{ours:9.1f}"
        if numpy_rates:
            line += f"{numpy_rates[index]:7.1f}{ours / numpy_rates[index]:7.2f}x"
        print(line)

    print()
    try:
        reference = torch_figures(args.data, args.repeats, threads)
    except ImportError:
        reference = None
    print(f"training LeNet-300-100, batch 64: Shears {shears['train_samples_per_second']:,.0f} samples/s", end="")
    if reference:
        ratio = shears["train_samples_per_second"] / reference["train_samples_per_second"]
        print(f", PyTorch {reference['torch']} ({threads} threads) {reference['train_samples_per_second']:,.0f}"
              f" samples/s: {ratio:.2f}x", end="")
    print()
    print(f"evaluation of {shears['eval_samples']} test images: Shears {shears['eval_milliseconds']:.1f} ms", end="")
    if reference:
        ratio = reference["eval_milliseconds"] / shears["eval_milliseconds"]
        print(f", PyTorch {reference['eval_milliseconds']:.1f} ms: {ratio:.2f}x faster", end="")
    print()


if __name__ == "__main__":
    main()
