#!/usr/bin/env python3
"""Side-by-side benchmark: LeNet-5 training and evaluation in Shears and in PyTorch.

Each round runs, one after the other so that a busy machine slows both alike:
  * `shears bench --suite lenet5 --json --repetitions 1` (release build): training samples/s
    (one epoch over the first 100 batches of 64, Adam lr 1e-3), evaluation time of the test set,
    the GEMM and convolution kernels of a training step, per-layer forward times;
  * PyTorch on the same work: the same nn.Sequential LeNet-5, Adam lr 1e-3, batch 64, the data
    already in memory as float tensors, one epoch over the same 6,400 samples in a shuffled
    order after a warm-up epoch, timed; then model.eval() and torch.no_grad() over the test set,
    timed, in batches of whichever of 64, 256 and 1,000 samples was fastest in the warm-up.
Both use the same number of threads (all cores, torch.set_num_threads). The figures printed are
medians over the rounds, and the ratios are of the medians.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE slow a current OpenBLAS on this machine; this script
re-runs itself without them (as compare.py does).

Usage: python3 Benchmarks/lenet5.py [--shears .build/release/shears] [--data DIR] [--rounds 5]
"""
import statistics
import time

from compare import alternating_rounds, image_tensors, parse_arguments, reexec_without_openblas_overrides

BATCH = 64
BATCHES = 100
EVAL_BATCHES = (64, 256, 1000)


def lenet5(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))


class TorchLeNet5:
    """A PyTorch LeNet-5 with its optimizer and data in memory, timed one round at a time."""

    def __init__(self, data_dir, threads):
        import torch
        self.torch = torch
        torch.set_num_threads(threads)
        self.x_train, self.y_train, self.x_test, self.y_test = image_tensors(data_dir, BATCH * BATCHES)
        torch.manual_seed(1)
        self.model = lenet5(torch)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss = torch.nn.CrossEntropyLoss()
        self.train_epoch()  # warm-up
        self.eval_batch = min(EVAL_BATCHES, key=self.evaluation_seconds)

    def evaluation_seconds(self, batch):
        self.evaluate(batch)  # warm-up
        start = time.perf_counter()
        self.evaluate(batch)
        return time.perf_counter() - start

    def train_epoch(self):
        torch = self.torch
        self.model.train()
        order = torch.randperm(self.x_train.shape[0])
        for i in range(BATCHES):
            index = order[i * BATCH:(i + 1) * BATCH]
            self.optimizer.zero_grad(set_to_none=True)
            self.loss(self.model(self.x_train[index]), self.y_train[index]).backward()
            self.optimizer.step()

    def evaluate(self, batch):
        torch = self.torch
        self.model.eval()
        correct, loss = 0, 0.0
        with torch.no_grad():
            for first in range(0, self.x_test.shape[0], batch):
                logits = self.model(self.x_test[first:first + batch])
                labels = self.y_test[first:first + batch]
                loss += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
                correct += int((logits.argmax(1) == labels).sum())
        return correct / self.x_test.shape[0]

    def round(self):
        start = time.perf_counter()
        self.train_epoch()
        train_rate = BATCH * BATCHES / (time.perf_counter() - start)
        start = time.perf_counter()
        self.evaluate(self.eval_batch)
        return train_rate, (time.perf_counter() - start) * 1000


def main():
    reexec_without_openblas_overrides()
    args = parse_arguments(__doc__.split("\n")[0], {"rounds": 5})
    rounds, reference, torch_train, torch_eval, loads = alternating_rounds(args, "lenet5", TorchLeNet5)

    figures = [r["lenet5"] for r in rounds]
    train = [f["train_samples_per_second"] for f in figures]
    evaluation = [f["eval_milliseconds"] for f in figures]
    print(f"load average during the run: {min(loads):.2f} to {max(loads):.2f}\n")

    print(f"{'LeNet-5 product, batch 64':34}{'m':>6}{'n':>6}{'k':>6}  form  GEMM GFLOP/s  conv kernel GFLOP/s")
    for index, product in enumerate(figures[0]["gemm"]):
        gemm = statistics.median(f["gemm"][index]["gflops_all_threads"] for f in figures)
        kernels = [f["gemm"][index].get("kernel_gflops_all_threads") for f in figures]
        kernel = f"{statistics.median(kernels):12.1f}" if kernels[0] is not None else ""
        print(f"{product['name']:34}{product['m']:6}{product['n']:6}{product['k']:6}  {product['form']:5}"
              f"{gemm:10.1f}   {kernel}")

    print(f"\n{'layer (1 thread, batch 64)':28}{'dense us':>10}{'sparse us':>11}{'shrunk us':>11}   (median of rounds)")
    for index, layer in enumerate(figures[0]["layers"]):
        def column(key):
            values = [f["layers"][index].get(key) for f in figures]
            return f"{statistics.median(values):11.1f}" if values[0] is not None else f"{'-':>11}"
        shape = "x".join(map(str, layer["shape"]))
        print(f"{layer['name'] + ' ' + shape:28}{column('dense_microseconds'):>10}{column('sparse_microseconds')}"
              f"{column('shrunk_microseconds')}")
    print(f"(sparse: {figures[0]['sparsity'] * 100:.0f}% magnitude-pruned per layer)\n")

    shears_train = statistics.median(train)
    shears_eval = statistics.median(evaluation)
    print(f"training LeNet-5, batch 64, Adam, {BATCH * BATCHES} samples per round, median of {len(train)} rounds:")
    print(f"  Shears  {shears_train:9,.0f} samples/s   (rounds: {', '.join(f'{v:,.0f}' for v in train)})")
    if reference:
        torch_rate = statistics.median(torch_train)
        print(f"  PyTorch {torch_rate:9,.0f} samples/s   (rounds: {', '.join(f'{v:,.0f}' for v in torch_train)})"
              f"   torch {reference.torch.__version__}")
        print(f"  Shears / PyTorch: {shears_train / torch_rate:.2f}x")
    samples = figures[0]["eval_samples"]
    print(f"evaluation of {samples} test images, median of {len(evaluation)} rounds:")
    print(f"  Shears  {shears_eval:8.1f} ms   (rounds: {', '.join(f'{v:.1f}' for v in evaluation)})")
    if reference:
        torch_ms = statistics.median(torch_eval)
        print(f"  PyTorch {torch_ms:8.1f} ms   (rounds: {', '.join(f'{v:.1f}' for v in torch_eval)}),"
              f" batches of {reference.eval_batch}, no_grad")
        print(f"  PyTorch / Shears: {torch_ms / shears_eval:.2f}x")


if __name__ == "__main__":
    main()
