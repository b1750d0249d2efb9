"""`cnnzoo visualize SUBCOMMAND`: the declaration (from the CLI's vocabulary) and the bodies.

Sub-commands: deconv, top9, filters, featuremaps, occlusion, evolution. Each writes one PNG
(--out) and prints what it wrote (--format table); --format json prints the numbers instead.
Bare `cnnzoo visualize` prints this command's help. Titles name a picture by its file name.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import CnnzooError, UnknownNameError, close_matches
from ..flags import add_deprecated, add_flag, device_of
from ..io import checkpoint_folder_of

_SUBCOMMANDS = {
    "deconv": "project activations back to pixel space with ZFNet's DeconvNet",
    "top9": "the 9 strongest activations of feature maps over a data set, with their projections",
    "filters": "a conv layer's filters (default: the first layer) as an image grid",
    "featuremaps": "a layer's feature maps for one image",
    "occlusion": "slide a grey square over an image: class probability and feature-map response",
    "evolution": "a layer's filters at every saved epoch of a training run",
}


def add_visualize_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the sub-commands, every flag from the CLI's vocabulary (imports nothing heavy)."""
    sub = p.add_subparsers(dest="visualize_command", metavar="SUBCOMMAND", parser_class=type(p))
    p.set_defaults(print_help=p.print_help)  # bare `cnnzoo visualize`: its help, exit 0

    def common(name: str, source: bool = True, image: bool = False) -> argparse.ArgumentParser:
        q = sub.add_parser(name, help=_SUBCOMMANDS[name], description=_SUBCOMMANDS[name])
        if source:
            q.add_argument("checkpoint", nargs="?", metavar="CHECKPOINT",
                           help="run folder, checkpoint folder or model.safetensors")
            add_flag(q, "--model", help="a registered model with random weights (shows the "
                     "mechanism only), instead of a CHECKPOINT")
        if image:
            add_flag(q, "--image", required=True)
            add_deprecated(q, "--fit")
        add_flag(q, "--out", metavar="FILE.png", default=f"{name}.png", help="the PNG to write")
        add_flag(q, "--format", choices=("table", "json"), default="table",
                 help="what to print: the file written (table) or the numbers (json); "
                 "'text' is the deprecated spelling of table")
        add_deprecated(q, "--json")
        if source:
            add_flag(q, "--device")
            add_flag(q, "--threads")
        return q

    q = common("deconv", image=True)
    add_flag(q, "--layer", required=True)
    g = q.add_mutually_exclusive_group()
    add_flag(g, "--channel", help="project this channel's strongest unit")
    add_flag(g, "--top", help="the K strongest channels, one panel each")
    add_flag(q, "--whole-map")

    q = common("top9")
    add_flag(q, "--dataset", help="data set (default: the one the model was trained on)")
    add_flag(q, "--split")
    add_flag(q, "--data-dir")
    add_flag(q, "--layer", required=True)
    add_flag(q, "--channels", help="feature maps to show (default: the --top strongest)")
    add_flag(q, "--top", default=6, help="how many of the strongest feature maps to show")
    add_deprecated(q, "--num-channels")
    add_flag(q, "--limit", default=1000, help="look at the first N images ('all': every image; "
             "AlexNet-size networks take about 0.1 s an image on a CPU)")
    add_flag(q, "--batch-size", default=100)

    q = common("filters")
    add_flag(q, "--layer", help="a conv layer (default: the first)")

    q = common("featuremaps", image=True)
    add_flag(q, "--layer", required=True)
    add_flag(q, "--top", default=64, help="show the K strongest feature maps")
    add_deprecated(q, "--limit (featuremaps)")

    q = common("occlusion", image=True)
    add_flag(q, "--size", help="the grey square's side in input pixels (default: a sixth of the input)")
    add_flag(q, "--stride", help="its step in input pixels (default: half the side)")
    add_flag(q, "--target")
    add_flag(q, "--layer", help="layer of the feature map to follow (default: the deepest map)")
    add_flag(q, "--channel", help="feature map to follow (default: the strongest)")

    q = common("evolution", source=False)
    q.add_argument("run", metavar="RUN_DIR", help="a training run folder with per-epoch checkpoints")
    add_flag(q, "--layer", help="a conv layer (default: the first)")
    add_flag(q, "--top", default=16, help="how many filters to show: the first K by index "
             "(the same filters at every epoch, not ranked)")
    add_deprecated(q, "--count")


def _source(args: argparse.Namespace):
    # the sub-commands' bodies import torch (and matplotlib) when they run: `cnnzoo visualize
    # --help` imports this module to declare the arguments and must not
    from ..inference.run import load_run

    src = load_run(args.checkpoint, args.model, device=device_of(args))
    if src.random:
        print(f"cnnzoo: warning: {src.name} has random weights: the pictures show the mechanism, "
              "not learned features (give a CHECKPOINT for those)", file=sys.stderr)
    return src


def _image(args: argparse.Namespace, src):
    # The run's own pipeline: the one decoder and fit (cnnzoo.data.images), as in training.
    import dataclasses

    image = src.load_image(args.image)
    for warning in image.warnings:
        print(f"cnnzoo: warning: {args.image}: {warning}", file=sys.stderr)
    return dataclasses.replace(image, tensor=image.tensor.to(device_of(args)))


def _done(args: argparse.Namespace, path, info: dict[str, Any]) -> int:
    if args.format == "json":
        print(json.dumps({"out": str(path), **info}, indent=2))
    else:
        print(f"wrote {path}")
    return 0


def run_visualize(args: argparse.Namespace) -> int:
    if args.visualize_command is None:
        args.print_help()
        return 0
    if getattr(args, "out", None):  # refused before minutes of computing, not after
        guard = checkpoint_folder_of(Path(args.out))
        if guard is not None:
            raise CnnzooError(f"cannot write --out {args.out}: it is inside {guard}, which holds "
                              "a run's checkpoints (an output never replaces an input); give a "
                              "path outside it")
    return _RUN[args.visualize_command](args)


def _name(path: Any) -> str:
    """A file as a title names it: its basename, not the path it was given by."""
    return Path(str(path)).name or str(path)


def run_deconv(args: argparse.Namespace) -> int:
    # torch and matplotlib: kept out of `cnnzoo visualize --help` (as in each run_* below)
    from . import plots
    from .deconvnet import deconv

    src = _source(args)
    img = _image(args, src)
    projections = deconv(src.model, img.tensor, args.layer, args.channel, args.top,
                                args.whole_map)
    title = f"{src.label}, {_name(args.image)}"
    plots.plot_deconv(projections, img.pixels, title, path=args.out)
    return _done(args, args.out, dict(layer=args.layer, projections=[
        dict(channel=p.channel, unit=p.unit, activation=p.value, receptive_field=p.box)
        for p in projections]))


def run_top9(args: argparse.Namespace) -> int:
    # torch and matplotlib: kept out of `cnnzoo visualize --help`
    from . import plots
    from .tools import top_activations

    src = _source(args)
    data, src = src.load_data(args.dataset, args.split, args.data_dir)  # default: the run's
    pipeline = src.pipeline
    batches = src.batches(data, args.limit, args.batch_size, progress="top9")
    tops = top_activations(src.model, batches, args.layer, args.channels, 9, args.top)
    title = f"{src.label}, {data.name} {args.split}"
    plots.plot_top9(tops, pipeline.mean, pipeline.std, title, list(data.classes), path=args.out)
    return _done(args, args.out, dict(layer=args.layer, channels=[
        dict(channel=t.channel, top=[dict(index=e.index, activation=e.value, unit=e.unit,
                                          label=e.label) for e in t.entries]) for t in tops]))


def run_filters(args: argparse.Namespace) -> int:
    # torch and matplotlib: kept out of `cnnzoo visualize --help`
    from . import plots
    from .tools import layer_filters

    src = _source(args)
    layer, w = layer_filters(src.model, args.layer)
    plots.plot_filters(layer, w, src.label, path=args.out)
    return _done(args, args.out, dict(layer=layer, shape=list(w.shape)))


def run_featuremaps(args: argparse.Namespace) -> int:
    # torch and matplotlib: kept out of `cnnzoo visualize --help`
    from . import plots
    from .tools import feature_maps

    src = _source(args)
    img = _image(args, src)
    maps = feature_maps(src.model, img.tensor, args.layer)
    plots.plot_feature_maps(args.layer, maps, img.pixels, f"{src.label}, {_name(args.image)}", args.top,
                            path=args.out)
    flat = maps.reshape(maps.shape[0], -1)
    return _done(args, args.out, dict(layer=args.layer, shape=list(maps.shape),
                                  max=[float(v) for v in flat.max(1)]))


def _target(text: str | None, src) -> int | None:
    if text is None:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    if src.classes and text in src.classes:
        return list(src.classes).index(text)
    names = src.classes or []
    raise UnknownNameError(f"unknown class {text!r}.{close_matches(text, names)} "
                           f"Give a class index{' or one of: ' + ', '.join(names) if names else ''}.")


def run_occlusion(args: argparse.Namespace) -> int:
    # torch and matplotlib: kept out of `cnnzoo visualize --help`
    from . import plots
    from .tools import occlusion

    src = _source(args)
    img = _image(args, src)
    grey = [(0.5 - m) / s for m, s in zip(_per_channel(src.mean, src.channels),
                                         _per_channel(src.std, src.channels))]
    occ = occlusion(src.model, img.tensor, _target(args.target, src), args.size, args.stride,
                    grey, args.layer, args.channel)
    prediction = _prediction(src.model, img.tensor)
    plots.plot_occlusion(occ, img.pixels, src.class_name, f"{src.label}, {_name(args.image)}", prediction,
                         path=args.out)
    return _done(args, args.out, dict(
        predicted=prediction[0], predicted_prob=prediction[1],
        target=occ.target, base_prob=occ.base_prob, size=occ.size, stride=occ.stride,
        layer=occ.layer, channel=occ.channel, min_prob=float(occ.prob.min()),
        max_prob=float(occ.prob.max())))


def _prediction(model, x) -> tuple[int, float]:
    """The model's own prediction for the unoccluded input: (class, probability)."""
    import torch  # kept out of `cnnzoo visualize --help`, which imports this module

    with torch.no_grad():
        out = model(x)
    out = out[0] if isinstance(out, (tuple, list)) else out
    probs = torch.softmax(out.float(), dim=1)[0]
    k = int(probs.argmax())
    return k, float(probs[k])


def _run_title(run) -> str:
    """'lenet5 trained on sample (runs/l5)': the model and data of a run's checkpoints."""
    from ..inference.checkpoint import epoch_checkpoints, read_meta  # imports torch: kept out of --help

    found = epoch_checkpoints(run)
    meta = read_meta(found[-1][1]) if found else {}
    model, dataset = meta.get("model"), meta.get("dataset")
    what = f"{model} trained on {dataset}" if model and dataset else str(model or "")
    return f"{what} ({_name(run)})" if what else _name(run)


def _per_channel(values, channels: int) -> list[float]:
    values = list(values)
    return values * channels if len(values) == 1 else values


def run_evolution(args: argparse.Namespace) -> int:
    # torch and matplotlib: kept out of `cnnzoo visualize --help`
    from . import plots
    from .tools import filter_evolution

    layer, epochs, stack = filter_evolution(args.run, args.layer, args.top)
    plots.plot_evolution(layer, epochs, stack, _run_title(args.run), path=args.out)
    return _done(args, args.out, dict(layer=layer, epochs=epochs, shape=list(stack.shape)))


_RUN = dict(deconv=run_deconv, top9=run_top9, filters=run_filters, featuremaps=run_featuremaps,
            occlusion=run_occlusion, evolution=run_evolution)
