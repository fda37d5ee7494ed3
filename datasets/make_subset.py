#!/usr/bin/env python3
"""Cut the embedded Fashion-MNIST subset from the full dataset.

Takes the first 10,000 training images and labels and all 10,000 test images and labels from a
folder of the four gzip-compressed IDX files (default: where the Debian package
dataset-fashion-mnist installs them), checks their headers, and writes them gzip-compressed
(level 9, mtime 0, no original name, so the output is the same every time with the same zlib)
under the standard names next to this script, or into --out.

Usage: python3 datasets/make_subset.py [SOURCE_DIR] [--out DIR] [--train N]
"""

import argparse
import gzip
import hashlib
import os
import struct
import sys

IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
FILES = [
    # (name, magic, whether the file is cut to the training subset)
    ("train-images-idx3-ubyte", IMAGE_MAGIC, True),
    ("train-labels-idx1-ubyte", LABEL_MAGIC, True),
    ("t10k-images-idx3-ubyte", IMAGE_MAGIC, False),
    ("t10k-labels-idx1-ubyte", LABEL_MAGIC, False),
]


def read_idx(path, magic):
    """Returns (dims, payload) of an IDX file of unsigned bytes, checking its size exactly."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    found, = struct.unpack(">I", data[:4])
    if found != magic:
        sys.exit(f"{path}: wrong magic 0x{found:08X}, expected 0x{magic:08X}")
    ndims = magic & 0xFF
    dims = list(struct.unpack(f">{ndims}I", data[4:4 + 4 * ndims]))
    payload = data[4 + 4 * ndims:]
    expected = 1
    for d in dims:
        expected *= d
    if len(payload) != expected:
        sys.exit(f"{path}: header declares {expected} bytes of data but the file holds {len(payload)}")
    return dims, payload


def write_idx(path, magic, dims, payload):
    """Writes an IDX file gzip-compressed, reproducibly (mtime 0, empty name field)."""
    header = struct.pack(f">I{len(dims)}I", magic, *dims)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
            f.write(header + payload)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", default="/usr/share/datasets/fashion-mnist",
                        help="folder holding the four full .gz files")
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)),
                        help="output folder (default: the folder of this script)")
    parser.add_argument("--train", type=int, default=10000, help="training samples to keep")
    args = parser.parse_args()

    os.makedirs(args.out, exist_ok=True)
    for name, magic, cut in FILES:
        dims, payload = read_idx(os.path.join(args.source, name + ".gz"), magic)
        if cut:
            per_sample = len(payload) // dims[0]
            dims[0] = min(dims[0], args.train)
            payload = payload[:dims[0] * per_sample]
        out = os.path.join(args.out, name + ".gz")
        write_idx(out, magic, dims, payload)
        with open(out, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        print(f"{name}.gz  {dims}  {os.path.getsize(out)} bytes  sha256 {digest}")


if __name__ == "__main__":
    main()
