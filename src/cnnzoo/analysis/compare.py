"""Registered models side by side: parameters, MACs, depth in weighted layers, activation memory,
year and the ImageNet top-5 error their papers report, with ratios to a reference model.

With no names it shows the lineage LeNet-5 -> AlexNet -> ZFNet -> VGG-16 -> GoogLeNet -> ResNet-152,
so claims such as "GoogLeNet has 12x fewer parameters than AlexNet" (Szegedy et al. 2014) can be
read against the actual counts. Parameters are those of the network that runs at inference (the
summary's rows); parameters of training-only parts (GoogLeNet's auxiliary heads) are stated apart.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import CnnzooError
from ..registry import list_models, model_info
from . import render
from .summary import FORMATS, parse_input, summary

# One network per family, in lineage order: each family declares its own (ModelInfo.lineage).
LINEAGE = tuple(name for name in list_models() if model_info(name).lineage)


@dataclass
class Entry:
    name: str
    year: int
    input_size: tuple[int, int, int]
    params: int  # parameters of the layers that run at inference
    params_training_only: int  # parameters in layers the inference pass does not run (aux heads)
    macs: int  # conv + linear multiply-accumulates, batch 1
    weighted_depth: int
    activation_memory: int  # bytes, batch 1
    top5_error: float | None
    top5_error_note: str
    paper: str


@dataclass
class Comparison:
    reference: str
    entries: list[Entry]
    reference_entry: Entry
    missing: list[str] = field(default_factory=list)  # lineage names not registered

    def ratio(self, entry: Entry, key: str) -> float:
        ref = getattr(self.reference_entry, key)
        return getattr(entry, key) / ref if ref else float("nan")

    _HEADERS = ("Model", "Year", "Input", "Params", "vs {ref}", "MACs", "vs {ref}",
                "Weighted layers", "Act. memory", "vs {ref}", "Top-5 err. %")

    def _headers(self) -> list[str]:
        return [h.format(ref=self.reference) for h in self._HEADERS]

    def _cells(self, e: Entry) -> list[str]:
        return [e.name, str(e.year), "x".join(map(str, e.input_size)), f"{e.params:,}",
                _ratio(self.ratio(e, "params")), render.human(e.macs), _ratio(self.ratio(e, "macs")),
                str(e.weighted_depth), render.human_bytes(e.activation_memory),
                _ratio(self.ratio(e, "activation_memory")),
                "-" if e.top5_error is None else f"{e.top5_error:g}"]

    def notes(self) -> list[str]:
        lines = [f"Ratios are to {self.reference} (1/8.7 = 8.7 times fewer). Params: the layers that "
                 "run at inference; MACs: conv + linear multiply-accumulates at the input shown, "
                 "batch 1 (FLOPs = 2 x MACs); activation memory: sum of layer outputs, batch 1, float32; "
                 "weighted layers: conv/linear layers on the longest path."]
        for e in self.entries:
            if e.params_training_only:
                lines.append(f"{e.name}: + {e.params_training_only:,} parameters in layers used only "
                             f"in training ({e.params + e.params_training_only:,} in all).")
        for e in self.entries:
            if e.top5_error_note:
                lines.append(f"{e.name} top-5: {e.top5_error_note}")
        if any(e.top5_error is not None for e in self.entries):
            lines.append("Top-5 error: ImageNet, as each paper reports it for one network (ModelInfo.top5_error).")
        if self.missing:
            lines.append(f"Not registered: {', '.join(self.missing)}.")
        return lines

    def to_table(self, fancy: bool | None = None) -> str:
        return render.table(self._headers(), [self._cells(e) for e in self.entries],
                            "lllrrrrrrrr", self.notes(), fancy)

    def to_markdown(self) -> str:
        return render.markdown(self._headers(), [self._cells(e) for e in self.entries],
                               "lllrrrrrrrr", self.notes())

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for e in self.entries:
            d = asdict(e)
            d["input_size"] = list(e.input_size)
            d.update({f"{k}_ratio": self.ratio(e, k) for k in ("params", "macs", "activation_memory")})
            rows.append(d)
        return {"reference": self.reference, "models": rows, "missing": self.missing,
                "conventions": {"macs": "conv + linear multiply-accumulates, batch 1",
                                "flops": "2 x macs",
                                "params": "parameters of the layers that run at inference"}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_csv(self) -> str:
        d = self.to_dict()["models"]
        keys = list(d[0]) if d else ["name"]
        return render.to_csv(keys, [["x".join(map(str, v)) if isinstance(v, list) else
                                     ("" if v is None else v) for v in row.values()] for row in d])

    def render(self, fmt: str = "table", fancy: bool | None = None) -> str:
        if fmt not in FORMATS:
            raise CnnzooError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
        return {"table": lambda: self.to_table(fancy), "markdown": self.to_markdown,
                "json": self.to_json, "csv": self.to_csv}[fmt]()

    def __str__(self) -> str:
        return self.to_table()

    def __repr__(self) -> str:
        return (f"<Comparison of {len(self.entries)} models ({', '.join(e.name for e in self.entries)}), "
                f"ratios to {self.reference}>")

    def _repr_html_(self) -> str:
        """The table in a notebook."""
        return render.html(self._headers(), [self._cells(e) for e in self.entries],
                           "lllrrrrrrrr", self.notes())

    def to_pandas(self) -> Any:
        """One row per model (to_dict()'s fields) as a pandas DataFrame; needs pandas."""
        return render.data_frame(self.to_dict()["models"])


def _ratio(r: float) -> str:
    if r != r:  # nan
        return "-"
    if r >= 1 or r == 0:
        return f"{r:.3g}x"
    inv = 1 / r
    return f"1/{inv:,.0f}" if inv >= 100 else f"1/{inv:.3g}"


def _entry(name: str, input_size: Sequence[int] | None,
           options: Mapping[str, Any] | None = None) -> Entry:
    info = model_info(name)
    s = summary(name, input_size, options=dict(options or {}))
    return Entry(name=name, year=info.year, input_size=s.input_size,
                 params=s.total_params - s.not_run_params, params_training_only=s.not_run_params,
                 macs=s.total_macs, weighted_depth=s.weighted_depth,
                 activation_memory=s.activation_memory, top5_error=info.top5_error,
                 top5_error_note=info.top5_error_note, paper=info.paper)


def format_compare(names: Sequence[str], input_text: str | None, reference: str, fmt: str,
                   options: Mapping[str, Any] | None = None) -> str:
    """The body of `cnnzoo compare`."""
    return compare(names, parse_input(input_text), reference=reference, options=options).render(fmt)


def compare(names: Sequence[str] | None = None, input_size: Sequence[int] | None = None, *,
            reference: str = "alexnet", options: Mapping[str, Any] | None = None) -> Comparison:
    """Compare registered models (default: the LINEAGE, those registered) side by side, with
    ratios to `reference`. input_size: one (C, H, W) for all, else each model's own. options:
    model options given to every compared model (`cnnzoo compare --option KEY=VALUE`)."""
    missing: list[str] = []
    if not names:
        known = set(list_models())
        names = [n for n in LINEAGE if n in known]
        missing = [n for n in LINEAGE if n not in known]
        if not names:
            raise CnnzooError("none of the lineage models is registered: run `cnnzoo list`")
    entries = [_entry(n, input_size, options) for n in names]
    by_name = {e.name: e for e in entries}
    ref = by_name.get(reference) or _entry(reference, None)
    return Comparison(reference, entries, ref, missing)
