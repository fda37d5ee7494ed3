#!/usr/bin/env python3
"""Side-by-side benchmark: ResNet-20 training and evaluation in Shears and in PyTorch.

Each round runs, one after the other so that a busy machine slows both alike:
  * `shears bench --suite resnet20 --json --repetitions 1` (release build): training samples/s
    (one epoch over the first 20 batches of 64, Adam lr 1e-3) and the evaluation time of the
    first 1,000 test images;
  * PyTorch on the same work: the equivalent nn.Module (Tests/Interop/resnet.py, torchvision's
    names and option-B shortcuts), Adam lr 1e-3, batch 64, the data in memory as float tensors,
    one epoch over the same 1,280 samples in a shuffled order after a warm-up epoch, timed; then
    model.eval() and torch.no_grad() over the same 1,000 test images in batches of 64.
Both use the same number of threads (all cores, torch.set_num_threads). The figures printed are
medians over the rounds, and the ratios are of the medians.

Usage: python3 Benchmarks/resnet20.py [--shears .build/release/shears] [--data DIR] [--rounds 5]
"""
import os
import statistics
import sys
import time

from compare import alternating_rounds, image_tensors, parse_arguments, reexec_without_openblas_overrides

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Interop"))

BATCH = 64
BATCHES = 20
EVAL_SAMPLES = 1000


class TorchResNet20:
    """A PyTorch ResNet-20 with its optimizer and data in memory, timed one round at a time."""

    def __init__(self, data_dir, threads):
        import torch
        from resnet import resnet20
        self.torch = torch
        torch.set_num_threads(threads)
        self.x_train, self.y_train, self.x_test, _ = image_tensors(data_dir, BATCH * BATCHES, EVAL_SAMPLES)
        torch.manual_seed(1)
        self.model = resnet20(channels=1, classes=10)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss = torch.nn.CrossEntropyLoss()
        self.train_epoch()  # warm-up
        self.evaluate()

    def train_epoch(self):
        torch = self.torch
        self.model.train()
        order = torch.randperm(self.x_train.shape[0])
        for i in range(BATCHES):
            index = order[i * BATCH:(i + 1) * BATCH]
            self.optimizer.zero_grad(set_to_none=True)
            self.loss(self.model(self.x_train[index]), self.y_train[index]).backward()
            self.optimizer.step()

    def evaluate(self):
        self.model.eval()
        with self.torch.no_grad():
            for first in range(0, self.x_test.shape[0], BATCH):
                self.model(self.x_test[first:first + BATCH])

    def round(self):
        start = time.perf_counter()
        self.train_epoch()
        train_rate = BATCH * BATCHES / (time.perf_counter() - start)
        start = time.perf_counter()
        self.evaluate()
        return train_rate, (time.perf_counter() - start) * 1000


def main():
    reexec_without_openblas_overrides()
    args = parse_arguments(__doc__.split("\n")[0], {"rounds": 5})
    rounds, reference, torch_train, torch_eval, loads = alternating_rounds(args, "resnet20", TorchResNet20)
    print(f"load average during the run: {min(loads):.2f} to {max(loads):.2f}")

    figures = [r["resnet20"] for r in rounds]
    train = [f["train_samples_per_second"] for f in figures]
    evaluation = [f["eval_milliseconds"] for f in figures]
    shears_train, shears_eval = statistics.median(train), statistics.median(evaluation)
    print(f"training ResNet-20 ({figures[0]['parameters']:,} parameters), batch 64, Adam, "
          f"{BATCH * BATCHES} samples per round, median of {len(train)} rounds:")
    print(f"  Shears  {shears_train:9,.0f} samples/s   (rounds: {', '.join(f'{v:,.0f}' for v in train)})")
    if reference:
        torch_rate = statistics.median(torch_train)
        print(f"  PyTorch {torch_rate:9,.0f} samples/s   (rounds: {', '.join(f'{v:,.0f}' for v in torch_train)})"
              f"   torch {reference.torch.__version__}")
        print(f"  Shears / PyTorch: {shears_train / torch_rate:.2f}x")
    print(f"evaluation of {EVAL_SAMPLES} test images, median of {len(evaluation)} rounds:")
    print(f"  Shears  {shears_eval:8.1f} ms   (rounds: {', '.join(f'{v:.1f}' for v in evaluation)})")
    if reference:
        torch_ms = statistics.median(torch_eval)
        print(f"  PyTorch {torch_ms:8.1f} ms   (rounds: {', '.join(f'{v:.1f}' for v in torch_eval)}),"
              " batches of 64, no_grad")
        print(f"  PyTorch / Shears: {torch_ms / shears_eval:.2f}x")


if __name__ == "__main__":
    main()
