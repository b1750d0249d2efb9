"""`cnnzoo list`, `summary` and `compare`: the models' facts, and the catalog `list` reads.

`cnnzoo list` (with `--options`) and `train --help`'s models-by-recipe read the torch-free catalog
(catalog.json, written from the registry by `write_catalog()` and tested equal to it).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import CnnzooError, OptionError
from ..flags import add_flag, add_format_flags
from ..options import parse_options

CATALOG = Path(__file__).parent.parent / "catalog.json"

LIST_FIELDS = ("name", "family", "paper", "url", "year", "input_size", "num_classes",
               "description", "params", "macs")


# --- the catalog ----------------------------------------------------------------------------
def catalog_from_registry() -> list[dict[str, Any]]:
    """What `cnnzoo list` (and `list --options`, `train --help`) shows, from the live registry
    (imports torch and every model family): the model's facts, its default training recipe and
    its --option names with defaults and allowed values."""
    from ..registry import list_models, model_info  # imports torch: only to rebuild the catalog

    rows = []
    for name in list_models():
        info = model_info(name)
        row = {k: getattr(info, k) for k in LIST_FIELDS}
        row["input_size"] = list(row["input_size"])
        row["recipe"] = info.recipe
        row["recipe_by_option"] = [list(entry) for entry in info.recipe_by_option]
        row["options"] = _live_option_rows(name)
        rows.append(row)
    return rows


def write_catalog(path: str | Path = CATALOG) -> Path:
    """Regenerate catalog.json after changing a registration (a test checks it is current)."""
    from ..io import write_text  # the one write path; only this maintainer's command writes

    return write_text(path, json.dumps(catalog_from_registry(), indent=1) + "\n")


def read_catalog() -> list[dict[str, Any]]:
    """The registry's facts without importing torch (from catalog.json; live if it is missing)."""
    try:
        return json.loads(CATALOG.read_text())
    except FileNotFoundError:
        return catalog_from_registry()


def _live_option_rows(name: str) -> list[dict[str, Any]]:
    """A model's --option names with their defaults and allowed values (imports the models)."""
    from ..registry import builder_options, option_specs  # imports torch: catalog rebuild only

    defaults = builder_options(name)
    rows = []
    for key, spec in option_specs(name).items():
        default = defaults.get(key)
        rows.append(dict(option=key, allowed=spec.describe(),
                         default=str(default).lower() if isinstance(default, bool) or default is None
                         else default))
    return rows


def model_option_rows(names: Sequence[str]) -> list[dict[str, Any]]:
    """Each model's --option names with their defaults and allowed values, from the catalog
    (no torch)."""
    catalog = {row["name"]: row for row in read_catalog()}
    return [dict(model=name, **option) for name in names for option in catalog[name]["options"]]


def model_options(name: str, pairs: Sequence[str] | None) -> dict[str, Any]:
    """--option KEY=VALUE pairs, parsed and checked against the model's options (one line if bad)."""
    from ..registry import model_options as checked  # imports torch: the command runs a model

    return checked(name, pairs)


# --- list -----------------------------------------------------------------------------------
def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f}{unit}" if unit == "G" else f"{n / scale:.1f}{unit}"
    return str(int(n))


def add_list_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'resnet*'")
    add_format_flags(p, ("table", "json"), "table")
    add_flag(p, "--options")


def _print_options(infos: list[dict[str, Any]], as_json: bool) -> None:
    options = model_option_rows([i["name"] for i in infos])
    if as_json:
        print(json.dumps(options, indent=2, default=str))
        return
    for name in [i["name"] for i in infos]:
        mine = [r for r in options if r["model"] == name]
        print(f"{name}: " + ("; ".join(f"{r['option']}={r['default']} ({r['allowed']})"
                                      for r in mine) or "no options"))


def run_list(args: argparse.Namespace) -> int:
    infos = [i for i in read_catalog() if fnmatch.fnmatchcase(i["name"], args.pattern)]
    if not infos:
        raise CnnzooError(f"no model matches {args.pattern!r}: run `cnnzoo list` to see them all")
    if args.options:
        _print_options(infos, args.format == "json")
        return 0
    if args.format == "json":
        records = [dict(name=i["name"], family=i["family"], year=i["year"], paper=i["paper"],
                        url=i["url"], input="x".join(map(str, i["input_size"])),
                        num_classes=i["num_classes"], params=i["params"], macs=i["macs"],
                        description=i["description"]) for i in infos]
        print(json.dumps(records, indent=2))
        return 0
    header = ("model", "paper", "year", "input", "params", "MACs", "description")
    # the authors, as the paper's title in ModelInfo ends with them in parentheses
    rows = [(i["name"], i["paper"].rsplit("(", 1)[-1].rstrip(")"), str(i["year"]),
             "x".join(map(str, i["input_size"])), f"{i['params']:,}" if i["params"] else "-",
             _human(i["macs"]) if i["macs"] else "-", i["description"]) for i in infos]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header) - 1)]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) if k != 4 else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths)))
              + "  " + r[-1])
    print(f"\n{len(infos)} models; MACs = conv+linear multiply-accumulates at the input shown (batch 1).")
    return 0


# --- summary / compare ----------------------------------------------------------------------
def add_summary_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a registered model (see `cnnzoo list`)")
    add_flag(p, "--input", help="input size as C,H,W (or H,W, or one side; default: the model's own)")
    add_flag(p, "--depth")
    add_format_flags(p, ("table", "markdown", "json", "csv"), "table")
    add_flag(p, "--train")
    add_flag(p, "--option")
    add_flag(p, "--paper")


def run_summary(args: argparse.Namespace) -> int:
    from ..analysis.summary import format_summary  # imports torch: the command traces a model

    if args.paper:
        from ..analysis.paper import format_paper  # imports torch, as above

        # the paper's table is at the paper's own input size, all rows, eval mode: a flag it
        # cannot honour is refused rather than silently ignored
        ignored = [f for f, v in (("--input", args.input), ("--depth", args.depth),
                                  ("--train", args.train)) if v]
        if ignored:
            raise OptionError(f"--paper compares with the paper's table at its own input size, "
                              f"every row, eval mode: drop {', '.join(ignored)} (or drop --paper)")
        print(format_paper(args.name, args.format, **model_options(args.name, args.option)))
        return 0
    print(format_summary(args.name, args.input, args.depth, args.format, args.train, args.option or ()))
    return 0


def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME", help="registered models (default: the lineage)")
    add_flag(p, "--input", help="one input size for all, C,H,W (default: each model's own)")
    add_flag(p, "--reference")
    add_format_flags(p, ("table", "markdown", "json", "csv"), "table")
    add_flag(p, "--option", help="a model option for every compared model, e.g. variant=v1.5 "
             "(repeatable)")


def run_compare(args: argparse.Namespace) -> int:
    from ..analysis.compare import format_compare  # imports torch: the command traces models

    print(format_compare(args.names, args.input, args.reference, args.format,
                         parse_options(args.option)))
    return 0
