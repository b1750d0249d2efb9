"""`cnnzoo atlas --out DIR`: a static, self-contained site of the lineage.

index.html: the lineage table of `cnnzoo compare`, then every registered network with its small
drawing, year and paper. models/NAME.html: the network drawn in each style that can draw it,
its options, the paper's own figures beside cnnzoo's with the differences explained
(analysis/paper.py), and the summary with its output-size arithmetic. With `--claims DIR`, every
page links to that claims report. No script, no external font or style sheet, nothing fetched:
the pages open from the disk. Every file goes through cnnzoo.io, into a folder that is empty or
an earlier atlas (its marker).
"""
from __future__ import annotations

import json
import os
import time
from html import escape
from pathlib import Path
from typing import Any

from ... import io as zoo_io
from ...analysis.compare import compare
from ...analysis.paper import format_paper, papers_with_tables
from ...errors import CnnzooError
from ...registry import builder_options, list_models, model_info, option_specs
from . import draw_network, network_of, styles_for
from .canvas import figure_bytes, rendered

CSS = """body{font-family:'DejaVu Sans',Verdana,sans-serif;margin:1.5em auto;max-width:1100px;
color:#222;line-height:1.4;padding:0 1em}h1,h2,h3{font-weight:600}a{color:#1f4f8f}
table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}td,th{border-bottom:1px solid #ddd;
padding:2px 8px;vertical-align:top}th{background:#f2f4f8}figure{margin:1em 0}
figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:0.85em;color:#555}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px}
.card{border:1px solid #ddd;padding:8px;border-radius:4px}.card img{width:100%;height:140px;
object-fit:contain;background:#fff}.note{color:#555;font-size:0.9em}.wide{overflow-x:auto}
code{background:#f4f4f4;padding:0 3px}"""


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
            f'</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n')


def _claims_link(claims: Path | None, here: Path) -> str:
    if claims is None:
        return ""
    target = os.path.relpath(claims / "claims.html", here)
    return (f'<p>Experiments that test the papers\' claims: <a href="{escape(target)}">the claims '
            'report</a>.</p>')


def _check_claims(claims: str | Path | None) -> Path | None:
    if claims is None:
        return None
    path = Path(claims)
    if not (path / "claims.html").is_file():
        raise CnnzooError(f"--claims {claims}: no claims.html there; give the folder a "
                          "`cnnzoo claims --out DIR` wrote")
    return path.resolve()


def _drawings(name: str, models: Path) -> tuple[Any, str, list[tuple[str, str]]]:
    """Draw a network in every style that can draw it; returns (Network, default style,
    [(style, file name)])."""
    net, default = network_of(name)
    files = []
    for style in sorted(styles_for(net), key=lambda s: s != default):
        file = f"{name}-{style}.svg"
        zoo_io.write_bytes(models / file, figure_bytes(rendered(draw_network(net, style)), "svg"))
        files.append((style, file))
    return net, default, files


def _options_html(name: str) -> str:
    specs = option_specs(name)
    if not specs:
        return "<p>No options.</p>"
    defaults = builder_options(name)
    rows = "".join(f"<tr><td><code>{escape(k)}</code></td><td>{escape(str(defaults.get(k)))}</td>"
                   f"<td>{escape(spec.describe())}</td><td><code>cnnzoo draw {escape(name)} "
                   f"--option {escape(k)}=...</code></td></tr>" for k, spec in specs.items())
    return ("<table><thead><tr><th>option</th><th>default</th><th>allowed</th><th>draw it</th>"
            f"</tr></thead><tbody>{rows}</tbody></table><p class=note>Options that change the "
            "architecture change the drawing (e.g. <code>shortcut=A</code>, "
            "<code>inception=naive</code>); init and dropout rates do not.</p>")


def _paper_html(summary: Any) -> str:
    if summary.model not in papers_with_tables():
        return ("<p>The paper prints no table of this variant; its description above says how it "
                "differs from the paper's network.</p>")
    doc = json.loads(format_paper(summary, "json"))
    keys = list(doc["columns"])
    head = "".join(f"<th>paper {escape(doc['columns'][k])}</th><th>cnnzoo</th>" for k in keys)
    body = []
    for r in doc["rows"]:
        cells = "".join(f"<td>{escape(_num(r['paper'].get(k, '')))}</td>"
                        f"<td>{escape(_num(r['ours'].get(k, '')) if k in r['paper'] else '')}</td>"
                        for k in keys)
        mark = "" if r["agrees"] else " &#x2260;"
        body.append(f"<tr><td>{escape(r['layer'])}{mark}</td><td>{escape(r['cnnzoo'])}</td>{cells}"
                    f"<td>{escape(r['note'])}</td></tr>")
    notes = "".join(f"<p class=note>{escape(n)}</p>" for n in doc["notes"])
    return (f"<p>{escape(doc['source'])}, beside cnnzoo's rows at input "
            f"{'x'.join(map(str, doc['input_size']))} (&#x2260;: a figure differs; the note says "
            f"why).</p><div class=wide><table><thead><tr><th>paper layer</th><th>cnnzoo rows</th>"
            f"{head}<th>note</th></tr></thead><tbody>{''.join(body)}</tbody></table></div>{notes}")


def _num(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


def _model_page(name: str, net: Any, files: list[tuple[str, str]], claims: Path | None,
                models: Path) -> str:
    info = model_info(name)
    s = net.summary
    figures = "".join(f'<figure><a href="{escape(f)}"><img src="{escape(f)}" alt="{escape(name)} '
                      f'drawn in the {style} style"></a><figcaption>{style} style (click for its '
                      f'natural size): <code>cnnzoo draw {escape(name)} --style {style}</code>'
                      '</figcaption></figure>' for style, f in files)
    heads = "".join(f"<li>{escape(h.name)}: {h.params:,} parameters, reads {escape(h.after)}; "
                    "runs in training only</li>" for h in net.heads)
    body = (f'<p><a href="../index.html">&#x2190; the lineage</a></p><h1>{escape(name)}</h1>'
            f"<p>{escape(info.description)}</p><p>{escape(info.paper)} ({info.year}): "
            f'<a href="{escape(info.url)}">{escape(info.url)}</a>. Input '
            f"{'x'.join(map(str, info.input_size))}, {s.total_params:,} parameters, "
            f"{s.total_macs:,} multiply-accumulates.</p>{_claims_link(claims, models)}"
            f"<h2>Drawn from the recorded graph</h2>{figures}"
            + (f"<p>Training-only parts:</p><ul>{heads}</ul>" if heads else "")
            + f"<h2>Options</h2>{_options_html(name)}"
            f"<h2>The paper's figures beside cnnzoo's</h2>{_paper_html(s)}"
            f"<h2>Summary, with the output-size arithmetic</h2><div class=wide>"
            f"{s._repr_html_()}</div>")
    return _page(f"{name}: cnnzoo atlas", body)


def _index(cards: list[str], claims: Path | None, out: Path) -> str:
    table = compare()._repr_html_()  # the notebook view of `cnnzoo compare`
    body = ("<h1>The lineage, drawn: cnnzoo's atlas</h1><p>Every network of cnnzoo, drawn as its "
            "paper draws it from the graph cnnzoo records in one forward pass: every size, kernel, "
            "stride and parameter count on the drawings is read from that graph, the same one "
            "<code>cnnzoo summary</code> prints.</p>" + _claims_link(claims, out)
            + f"<h2>LeNet-5 to ResNet-152 (<code>cnnzoo compare</code>)</h2><div class=wide>{table}"
            f"</div><h2>Every network</h2><div class=cards>{''.join(cards)}</div>")
    return _page("cnnzoo atlas", body)


def _card(name: str, net: Any, default_file: str) -> str:
    info = model_info(name)
    return (f'<div class=card><a href="models/{escape(name)}.html"><img src="models/'
            f'{escape(default_file)}" alt="{escape(name)}"></a><br><a href="models/{escape(name)}'
            f'.html"><b>{escape(name)}</b></a> ({info.year})<br><span class=note>{escape(info.paper)}'
            f"; {net.summary.total_params:,} parameters</span></div>")


def build_atlas(out: str | Path, *, claims: str | Path | None = None,
                names: list[str] | None = None) -> tuple[Path, int, float]:
    """Write the atlas into `out` (an empty folder or an earlier atlas); returns (index.html,
    the number of networks, seconds taken). names: only these networks (default: all)."""
    start = time.perf_counter()
    claims_dir = _check_claims(claims)
    folder = zoo_io.output_folder(out, "atlas")
    models = folder / "models"
    zoo_io.make_folder(models, "--out")
    cards = []
    chosen = names or list_models()
    for name in chosen:
        net, _, files = _drawings(name, models)
        zoo_io.write_text(models / f"{name}.html", _model_page(name, net, files, claims_dir, models))
        cards.append(_card(name, net, files[0][1]))
    index = zoo_io.write_text(folder / "index.html", _index(cards, claims_dir, folder))
    return Path(index), len(chosen), time.perf_counter() - start
