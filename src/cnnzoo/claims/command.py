"""`cnnzoo claims [--full] [--only ID[,ID]] [--out DIR] [--threads N] [--device cpu|cuda] [--list]`:
its declaration (from the CLI's vocabulary) and body; `--threads` is applied by the CLI."""
from __future__ import annotations

import argparse

from ..analysis import render
from ..flags import add_flag


def add_claims_arguments(parser: argparse.ArgumentParser) -> None:
    add_flag(parser, "--full", help="the long experiments (50 minutes measured on a loaded 2-core "
             "CPU, one thread) instead of the quick ones (34 minutes there)")
    add_flag(parser, "--only", help="run only these claims, by id or number (see --list)")
    add_flag(parser, "--out", metavar="DIR", default="claims-report",
             help="where to write claims.json, claims.md, claims.html and figures/ "
                  "(default: claims-report); a report of the same commit and mode already "
                  "there keeps the claims not run again; one of another commit or mode "
                  "is refused with --only")
    add_flag(parser, "--threads", help="CPU threads for PyTorch (recorded in the report: a "
             "report's numbers are bit-identical only for the same commit and thread count)")
    add_flag(parser, "--device", choices=("cpu", "cuda"), default="cpu", metavar=None,
             help="where the experiments' models run (default cpu; cuda: a CUDA GPU, for "
                  "paper-like scale). The batches are drawn on the CPU either way")
    add_flag(parser, "--list", help="list the claims and exit")


def run_claims(args: argparse.Namespace) -> int:
    from . import report  # imports torch: the experiments
    from .common import use_device  # as above

    if args.list:
        rows = [[str(c.number), c.id, c.title] for c in report.list_claims()]
        print(render.table(("#", "Id", "Claim"), rows, "rll"))
        return 0
    ids = None
    if args.only:
        ids = [part for part in (p.strip() for p in args.only.split(",")) if part]
        for i in ids:
            report.get_claim(i)  # unknown ids fail here, in one line, before anything runs
    use_device(args.device)  # a missing CUDA is refused here, before anything runs
    report.run_claims(ids, mode="full" if args.full else "quick", out=args.out)
    return 0
