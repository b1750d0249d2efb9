"""`cnnzoo predict --fast` against plain `cnnzoo predict` on 100 real images, end to end.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/predict_fast.py [--run DIR] [--model resnet20]

Without --run, trains MODEL for one epoch on the embedded Fashion-MNIST sample (the weights do not
matter for speed). Writes the first 100 Fashion-MNIST test images of the sample as PNG files, then
times, in interleaved rounds in one process: predict(run, files) and predict(run, files,
runtime="auto") (the fast path, its preparation included: read from cnnzoo's cache after the
first run, which is timed on its own), and the model step alone on the same 100 images one at a
time (the bound on what --fast can gain end to end).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnzoo.data import load_dataset
from cnnzoo.export import optimize
from cnnzoo.inference.predict import predict
from cnnzoo.inference.run import load_run
from cnnzoo.train.loop import train
from machine import describe_line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained run folder (default: train MODEL one epoch on the sample)")
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="cnnzoo-predict-fast-"))
    run_dir = args.run or train(args.model, dataset="sample", epochs=1, out=str(tmp / "run"),
                                progress=False, quiet=True)["run_dir"]
    data = load_dataset("sample", "test")
    files = []
    for i in range(min(args.images, len(data))):
        path = tmp / f"{i:03d}.png"
        Image.fromarray(data.images[i, 0].numpy().astype(np.uint8)).save(path)
        files.append(str(path))
    run = load_run(run_dir)
    inputs = [run.load_image(f).tensor for f in files]
    times: dict[str, list[float]] = {"predict": [], "predict --fast": [], "model step": [],
                                     "fast model step": []}
    # a fresh, empty cache: the first --fast run pays for preparing the runtimes (exporting, and
    # timing each to pick one); later runs read the prepared network and the choice from the cache
    os.environ["CNNZOO_CACHE"] = str(tmp / "cache")
    start = time.perf_counter()
    predict(run, files, runtime="auto")
    cold = time.perf_counter() - start
    fast = optimize(run.model, "auto", input_size=(run.channels, *run.size), batch=1)
    for _ in range(args.rounds):
        for name in times:
            start = time.perf_counter()
            if name == "predict":
                plain = predict(run, files)
            elif name == "predict --fast":
                quick = predict(run, files, runtime="auto")
            else:
                model = run.model if name == "model step" else fast
                with torch.inference_mode():
                    for x in inputs:
                        model(x)
            times[name].append(time.perf_counter() - start)
    same = sum(a["top"][0]["index"] == b["top"][0]["index"] for a, b in zip(plain, quick))
    print(describe_line())
    print(f"{run.name} ({run_dir}), {len(files)} PNG files of the Fashion-MNIST sample, one at a time; "
          f"{args.rounds} interleaved rounds, median; fast path runtime chosen: {fast.runtime}\n")
    print("| what | seconds | vs plain |")
    print("|---|---|---|")
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    print(f"| predict --fast, first run (empty cache) | {cold:.3f} | {med['predict'] / cold:.2f}x |")
    for name, base in (("predict", "predict"), ("predict --fast", "predict"), ("model step", "model step"),
                       ("fast model step", "model step")):
        print(f"| {name} | {med[name]:.3f} | {med[base] / med[name]:.2f}x |")
    print(f"\ntop-1 identical for {same}/{len(files)} images")


if __name__ == "__main__":
    main()
