"""Make cnnzoo's embedded sample (src/cnnzoo/data/sample/) from the real Fashion-MNIST.

The sample is the first 500 training images of each class and the first 100 test images of each
class (5,000 + 1,000), kept in their original order, written as gzipped IDX files with the
canonical names so the same loader reads them. Deterministic: the gzip header carries no time
stamp, so rerunning gives the same bytes.

    .venv/bin/python scripts/make_sample.py [--source /usr/share/datasets/fashion-mnist]
"""
from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cnnzoo.data.idx import FILES, IMAGES_MAGIC, LABELS_MAGIC, read_pair  # noqa: E402

PER_CLASS = {"train": 500, "test": 100}


def stratified_first(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first `per_class` samples of each class, in their original order."""
    picks = [np.flatnonzero(labels == c)[:per_class] for c in range(10)]
    if any(len(p) < per_class for p in picks):
        raise SystemExit(f"fewer than {per_class} samples in some class")
    return np.sort(np.concatenate(picks))


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--out", type=Path, default=ROOT / "src/cnnzoo/data/sample")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for split, (images_stem, labels_stem) in FILES.items():
        images, labels = read_pair(args.source / f"{images_stem}.gz",
                                   args.source / f"{labels_stem}.gz")
        images, labels = images.squeeze(1).numpy(), labels.numpy()
        keep = stratified_first(labels, PER_CLASS[split])
        for stem, array, magic in ((images_stem, images[keep], IMAGES_MAGIC),
                                   (labels_stem, labels[keep].astype(np.uint8), LABELS_MAGIC)):
            path = args.out / f"{stem}.gz"
            path.write_bytes(gzip.compress(idx_bytes(array, magic), compresslevel=9, mtime=0))
            print(f"{path}: {array.shape[0]} {split} samples, {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
