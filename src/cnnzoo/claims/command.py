"""`cnnzoo claims [--full] [--only ID[,ID]] [--out DIR] [--threads N] [--device cpu|cuda] [--list]`:
add_arguments + run, wired into cli.py by the CLI's owner."""
from __future__ import annotations

import argparse

from ..analysis import render
from ..errors import CnnzooError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--full", action="store_true",
                        help="the long experiments (estimated 70 minutes on a loaded 2-core CPU) instead "
                             "of the quick ones (40 minutes there)")
    parser.add_argument("--only", metavar="ID[,ID]", default=None,
                        help="run only these claims, by id or number (see --list)")
    parser.add_argument("--out", metavar="DIR", default="claims-report",
                        help="where to write claims.json, claims.md, claims.html and figures/ "
                             "(default: claims-report); a report of the same commit and mode already "
                             "there keeps the claims not run again; one of another commit or mode "
                             "is refused with --only")
    parser.add_argument("--threads", type=int, metavar="N", default=None,
                        help="CPU threads for PyTorch (recorded in the report: a report's numbers "
                             "are bit-identical only for the same commit and thread count)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where the experiments' models run (default cpu; cuda: a CUDA GPU, for "
                             "paper-like scale). The batches are drawn on the CPU either way")
    parser.add_argument("--list", action="store_true", help="list the claims and exit")


def run(args: argparse.Namespace) -> int:
    from .report import get_claim, list_claims, run_claims
    if args.list:
        rows = [[str(c.number), c.id, c.title] for c in list_claims()]
        print(render.table(("#", "Id", "Claim"), rows, "rll"))
        return 0
    ids = None
    if args.only:
        ids = [part for part in (p.strip() for p in args.only.split(",")) if part]
        for i in ids:
            get_claim(i)  # unknown ids fail here, in one line, before anything runs
    if args.threads is not None:
        if args.threads < 1:
            raise CnnzooError(f"--threads {args.threads}: give a whole number of threads, 1 or more")
        import torch  # here, not at start-up: `cnnzoo claims --help` must not import torch
        torch.set_num_threads(args.threads)
    from .common import use_device  # imports torch: not at start-up
    use_device(args.device)  # a missing CUDA is refused here, before anything runs
    run_claims(ids, mode="full" if args.full else "quick", out=args.out)
    return 0
