#!/usr/bin/env python3
"""Cut the embedded text corpus (Jane Austen's six novels) from Debian's r-cran-janeaustenr.

The Debian package r-cran-janeaustenr 1.0.0-1 ships the six novels as R character vectors (one
element per line of the Project Gutenberg plain text, Gutenberg's header and footer already
removed by the package's author) in an R lazy-load database, data/Rdata.rdx and data/Rdata.rdb.
This script reads them with the standard library alone, from either the .deb file itself
(`apt-get download r-cran-janeaustenr`) or the installed package folder
(/usr/lib/R/site-library/janeaustenr after `apt-get install r-cran-janeaustenr`). It checks the
sha256 of what it reads, drops the one passage that is not Austen's (the modern "A NOTE ON THE
TEXT" at the end of Northanger Abbey), and writes the novels in order of publication as one
UTF-8 text with '\\n' line ends to corpus.txt next to this script, or to --out. The output
depends only on the input bytes, so it is the same on every run.

It also prints the split that Shears uses: the validation split starts at the first '\\n' at or
after byte len*9//10 (the byte after that '\\n'); everything before it is training. And the
byte-level unigram entropy of the training split.

Usage: python3 datasets/make_corpus.py SOURCE [--out FILE]
  SOURCE: r-cran-janeaustenr_1.0.0-1_all.deb, or the folder .../site-library/janeaustenr
"""

import argparse
import gzip
import hashlib
import io
import lzma
import math
import os
import struct
import sys
import tarfile
import zlib

# sha256 of the .deb as listed in Debian's Packages index, and of the two files read from it.
DEB_SHA256 = "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95"
RDX_SHA256 = "cab8cbe4ce965d3b42b35c03383bafccc0eb78151f70e4748ead45270470c22f"
RDB_SHA256 = "8fb5198960d0da724b1562f96e4221e5c1b41ff455000280b02c55980c3d8f21"
DATA_DIR = "usr/lib/R/site-library/janeaustenr/data/"

# (R object name, title, Project Gutenberg ebook number), in order of publication.
NOVELS = [
    ("sensesensibility", "Sense and Sensibility (1811)", 161),
    ("prideprejudice", "Pride and Prejudice (1813)", 1342),
    ("mansfieldpark", "Mansfield Park (1814)", 141),
    ("emma", "Emma (1815)", 158),
    ("northangerabbey", "Northanger Abbey (1817)", 121),
    ("persuasion", "Persuasion (1817)", 105),
]
# Lines from this one on are dropped (a later editor's note, not Austen's text).
CUT_FROM = {"northangerabbey": "A NOTE ON THE TEXT"}
NOVEL_SEPARATOR = "\n\n\n\n"  # three empty lines between two novels


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def check(name, data, expected):
    found = sha256(data)
    if found != expected:
        sys.exit(f"{name}: sha256 {found}, expected {expected} (not r-cran-janeaustenr 1.0.0-1?)")
    print(f"{name}: {len(data)} bytes, sha256 {found} (as expected)")


def read_deb(path):
    """Returns {path inside data.tar: bytes} for the two lazy-load files of a .deb (ar archive)."""
    with open(path, "rb") as f:
        deb = f.read()
    check(os.path.basename(path), deb, DEB_SHA256)
    if deb[:8] != b"!<arch>\n":
        sys.exit(f"{path}: not an ar archive")
    pos, data_tar = 8, None
    while pos + 60 <= len(deb):
        header = deb[pos:pos + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii"))
        body = deb[pos + 60:pos + 60 + size]
        if name == "data.tar.xz":
            data_tar = lzma.decompress(body)
        elif name == "data.tar.gz":
            data_tar = gzip.decompress(body)
        pos += 60 + size + (size & 1)
    if data_tar is None:
        sys.exit(f"{path}: no data.tar.xz or data.tar.gz member")
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data_tar)) as tar:
        for member in tar.getmembers():
            name = member.name.lstrip("./")
            if name in (DATA_DIR + "Rdata.rdx", DATA_DIR + "Rdata.rdb"):
                files[name[len(DATA_DIR):]] = tar.extractfile(member).read()
    return files


def read_folder(path):
    files = {}
    for name in ("Rdata.rdx", "Rdata.rdb"):
        with open(os.path.join(path, "data", name), "rb") as f:
            files[name] = f.read()
    return files


class RUnserializer:
    """Enough of R's XDR serialization format (versions 2 and 3) for vectors, lists and strings."""

    def __init__(self, data):
        self.data, self.pos, self.refs = data, 0, []
        if self.take(2) != b"X\n":
            sys.exit("R object: not in XDR format")
        version = self.int()
        self.int()  # R version that wrote it
        self.int()  # minimal R version to read it
        self.native = "utf-8"
        if version == 3:
            self.native = self.take(self.int()).decode("ascii")
        elif version != 2:
            sys.exit(f"R object: serialization version {version}")

    def take(self, n):
        out = self.data[self.pos:self.pos + n]
        if len(out) != n:
            sys.exit("R object: truncated")
        self.pos += n
        return out

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def read(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind == 254:  # NULL
            return None
        if kind == 255:  # reference to an earlier symbol
            index = flags >> 8 or self.int()
            return self.refs[index - 1]
        if kind == 1:  # symbol
            symbol = ("symbol", self.read())
            self.refs.append(symbol)
            return symbol
        if kind == 9:  # string (CHARSXP); its level bits give the encoding
            n = self.int()
            if n == -1:
                return None  # NA_character_
            raw = self.take(n)
            level = flags >> 12
            if level & 4:
                return raw.decode("latin-1")
            if level & 2:
                sys.exit("R object: a string of raw bytes")
            return raw.decode("utf-8" if level & (8 | 64) else self.native)
        if kind == 2:  # pairlist, read iteratively: [(tag, value), ...]
            items = []
            while True:
                if has_attr:
                    self.read()
                tag = self.read() if has_tag else None
                items.append((tag, self.read()))
                flags = self.int()
                kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
                if kind == 254:
                    return items
                if kind != 2:
                    sys.exit(f"R object: pairlist ends in type {kind}")
        n = self.int()
        if kind in (16, 19):  # character vector, list
            value = [self.read() for _ in range(n)]
        elif kind in (10, 13):  # logical, integer
            value = list(struct.unpack(f">{n}i", self.take(4 * n)))
        elif kind == 14:  # double
            value = list(struct.unpack(f">{n}d", self.take(8 * n)))
        else:
            sys.exit(f"R object: unsupported type {kind}")
        if has_attr:
            attributes = {tag[1]: v for tag, v in self.read()}
            if "names" in attributes:
                value = dict(zip(attributes["names"], value))
        return value


def unserialize(data):
    return RUnserializer(data).read()


def load_novels(files):
    """Returns {R object name: list of lines} from the lazy-load index and database."""
    index = unserialize(gzip.decompress(files["Rdata.rdx"]))
    if index["compressed"] != [1]:
        sys.exit(f"Rdata.rdx: compression type {index['compressed']}, expected zlib")
    database = files["Rdata.rdb"]
    novels = {}
    for name, (offset, length) in index["variables"].items():
        blob = database[offset:offset + length]
        size, = struct.unpack(">I", blob[:4])
        data = zlib.decompress(blob[4:])
        if len(data) != size:
            sys.exit(f"Rdata.rdb: {name} decompresses to {len(data)} bytes, expected {size}")
        novels[name] = unserialize(data)
    return novels


def cut(name, lines):
    if any(line is None for line in lines):
        sys.exit(f"{name}: holds NA lines")
    marker = CUT_FROM.get(name)
    dropped = 0
    if marker is not None:
        at = lines.index(marker)
        dropped = len(lines) - at
        lines = lines[:at]
    text = "\n".join(line.rstrip() for line in lines).replace("\r\n", "\n").replace("\r", "\n")
    return text.strip("\n"), dropped


def split_offset(data):
    """Byte index where the validation split starts: just after the first '\\n' at or after 90%."""
    newline = data.find(b"\n", len(data) * 9 // 10)
    return len(data) if newline < 0 else newline + 1


def entropy(data):
    """Unigram entropy of the bytes of data, in bits and in nats per byte."""
    counts = [0] * 256
    for b in data:
        counts[b] += 1
    nats = -sum(c / len(data) * math.log(c / len(data)) for c in counts if c)
    return nats / math.log(2), nats


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="r-cran-janeaustenr_1.0.0-1_all.deb or the installed "
                        "package folder (/usr/lib/R/site-library/janeaustenr)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                       "corpus.txt"),
                        help="output file (default: corpus.txt next to this script)")
    args = parser.parse_args()

    files = read_folder(args.source) if os.path.isdir(args.source) else read_deb(args.source)
    check("data/Rdata.rdx", files["Rdata.rdx"], RDX_SHA256)
    check("data/Rdata.rdb", files["Rdata.rdb"], RDB_SHA256)
    novels = load_novels(files)

    texts = []
    for name, title, ebook in NOVELS:
        text, dropped = cut(name, novels[name])
        texts.append(text)
        note = f", dropped its last {dropped} lines (from '{CUT_FROM[name]}')" if dropped else ""
        print(f"{title}: Gutenberg ebook #{ebook}, R object '{name}', "
              f"{len(novels[name])} lines{note}, {len(text.encode('utf-8'))} bytes")
    text = NOVEL_SEPARATOR.join(texts) + "\n"
    if "gutenberg" in text.lower():
        sys.exit("the text still mentions Project Gutenberg")
    data = text.encode("utf-8")

    with open(args.out, "wb") as f:
        f.write(data)
    split = split_offset(data)
    bits, nats = entropy(data[:split])
    print(f"wrote {args.out}: {len(data)} bytes, {len(text)} characters, "
          f"{text.count(chr(10))} lines, sha256 {sha256(data)}")
    print(f"split: training bytes [0, {split}), validation bytes [{split}, {len(data)}) "
          f"({len(data) - split} bytes)")
    print(f"training unigram entropy: {bits:.4f} bits/byte = {nats:.4f} nats/byte")


if __name__ == "__main__":
    main()
