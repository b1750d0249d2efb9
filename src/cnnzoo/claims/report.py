"""Running claims and writing their report: claims.json, claims.md, one self-contained claims.html
(figures embedded as base64 PNG, no external resources, no scripts) and the figures as PNG files."""
from __future__ import annotations

import base64
import html
import json
import os
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import io as safe_io
from ..analysis import render
from ..errors import CnnzooError, UnknownNameError, close_matches
from .base import (
    CLAIMS,
    CORRECTED,
    FAILS,
    HOLDS,
    NOT_OBSERVED,
    NOT_RESOLVED,
    NOT_RUN,
    UNCHECKABLE,
    Claim,
    Measured,
    Table,
    Verdict,
    check_mode,
)
from .common import data_record, reset_data_record
from .rules import RULES
from .runinfo import check_mergeable, environment


@dataclass
class ClaimResult:
    claim: Claim
    measured: Measured
    verdict: Verdict
    seconds: float
    mode: str
    figures: dict[str, bytes] = field(default_factory=dict)  # name -> PNG bytes
    date: str = field(default_factory=lambda: _now())  # when it was measured
    data: dict[str, Any] | None = None  # the data the experiment used (common.data_record)

    @property
    def command(self) -> str:
        return f"cnnzoo claims --only {self.claim.id}" + (" --full" if self.mode == "full" else "")

    def figure_files(self) -> dict[str, str]:
        return {name: f"figures/{self.claim.id}-{name}.png" for name in self.figures}

    def to_dict(self) -> dict[str, Any]:
        """The claim's entry in claims.json: strict JSON, so a measurement that is not finite is
        null, listed in `not_finite` with what it was (the experiment may give the reason)."""
        m = self.measured
        rule = RULES[self.claim.id]
        entry, not_finite = safe_io.finite({
            "id": self.claim.id, "number": self.claim.number, "title": self.claim.title,
            "statement": self.claim.statement, "source": self.claim.source, "kind": rule.kind,
            "verdict": self.verdict.verdict, "reason": self.verdict.reason,
            "correction": self.verdict.correction,
            "verdicts": [{"part": p.part, "verdict": p.verdict, "reason": p.reason,
                          "correction": p.correction, "deciding": p.deciding} for p in self.verdict.parts],
            "rule": rule.to_dict(self.mode), "paper": rule.paper,
            "previous_rules": previous_verdicts(self),
            "data": self.data,
            "measured": {k: {"value": v, "unit": m.units.get(k, "")} for k, v in m.values.items()},
            "references": m.references, "seeds": m.seeds, "method": m.method,
            "tables": [{"title": t.title, "headers": t.headers, "rows": t.rows} for t in m.tables],
            "figures": list(self.figure_files().values()),
            "command": self.command, "mode": self.mode, "seconds": round(self.seconds, 2),
            "date": self.date,
        })
        if not_finite:
            entry["not_finite"] = not_finite
        return entry


def list_claims() -> list[Claim]:
    """Every registered claim, in the lineage's order."""
    _load()
    return sorted(CLAIMS.values(), key=lambda c: c.number)


def get_claim(key: str | int) -> Claim:
    """A claim by id ("lenet-c3") or number (2 or "2"); UnknownNameError with close matches."""
    _load()
    text = str(key).strip()
    for c in CLAIMS.values():
        if text == c.id or text == str(c.number):
            return c
    raise UnknownNameError(f"unknown claim {text!r}.{close_matches(text, CLAIMS)} "
                           "Run `cnnzoo claims --list` to see every claim.")


def _load() -> None:
    from . import deep, early, early_training, later  # noqa: F401 - they register their claims on import


def previous_verdicts(r: ClaimResult) -> list[dict[str, str]]:
    """The verdict under each replaced rule that the claim's rule keeps (docs/claims/RULES.md)."""
    from . import deep, early_training  # loaded on first use, with _load(): they register claims
    out = []
    for date, judge_name in RULES[r.claim.id].previous:
        judge = getattr(early_training, judge_name, None) or getattr(deep, judge_name)
        try:
            v = judge(r.measured.values)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue  # values of another version: the old rule cannot read them
        out.append({"rule_of": date, "verdict": v.verdict, "reason": v.reason})
    return out


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt  # loaded by the claim that drew fig: none for a report without figures
    data = safe_io.figure_bytes(fig, "png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return data


def run_claim(claim: Claim, mode: str = "quick") -> ClaimResult:
    """Run one claim's experiment and judge it, recording the data it drew."""
    check_mode(mode)
    reset_data_record()
    start = time.perf_counter()
    measured = claim.run(mode)
    seconds = time.perf_counter() - start
    verdict = claim.judge(measured.values)
    figures = {name: _png(fig) for name, fig in measured.figures.items()}
    measured.figures = {}
    return ClaimResult(claim, measured, verdict, seconds, mode, figures, data=data_record())


def run_claims(ids: Sequence[str | int] | None = None, mode: str = "quick",
               out: str | Path | None = "claims-report",
               echo: Callable[[str], None] | None = print) -> list[ClaimResult]:
    """Run the claims (all, or those named by id or number), print a verdict table, and write
    out/claims.json, out/claims.md, out/claims.html and out/figures/*.png (out=None: no files)."""
    check_mode(mode)
    claims = list_claims() if not ids else [get_claim(i) for i in ids]
    if out is not None:
        _prepare_folder(Path(out))  # a bad --out is refused before minutes of experiments
        if len(claims) < len(CLAIMS):
            check_mergeable(Path(out), mode)  # as is adding to a report of another commit or mode
    started = time.perf_counter()
    results = []
    for c in claims:
        if echo:
            echo(f"[{c.number:2d}/{len(CLAIMS)}] {c.id}: {c.title} ...")
        r = run_claim(c, mode)
        if echo:
            echo(f"       {r.verdict.verdict} ({r.seconds:.1f} s)")
        results.append(r)
    if echo:
        echo(verdict_table(results))
        echo(verdict_notes(results))
    if out is not None:
        write_report(results, out, wall_seconds=time.perf_counter() - started)
        if echo:
            echo(f"Report: {Path(out) / 'claims.html'} (also claims.md, claims.json, figures/)")
    return results


# --- writers ---------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def verdict_table(results: Sequence[ClaimResult]) -> str:
    rows = [[str(r.claim.number), r.claim.id, r.verdict.verdict, f"{r.seconds:.1f}"] for r in results]
    total = sum(r.seconds for r in results)
    return render.table(("#", "Claim", "Verdict", "Seconds"), rows, "rllr",
                        [f"{len(results)} claims in {total:.0f} s."])


def verdict_notes(results: Sequence[ClaimResult]) -> str:
    """Under the table, per claim and part: the verdict, then its correction (or what is missing)
    where it has one, else its reason with the numbers."""
    notes = []
    for r in results:
        notes.append(f"{r.claim.number:2d} {r.claim.id} ({r.verdict.verdict})")
        for p in r.verdict.parts or (r.verdict,):
            text = p.correction if p.verdict in (CORRECTED, UNCHECKABLE) else p.reason
            notes.append(textwrap.fill(f"- {p.part or 'verdict'}: {p.verdict}. {text}", width=100,
                                       initial_indent="   ", subsequent_indent="     "))
    return "\n".join(notes)


def write_report(results: Sequence[ClaimResult], out: str | Path, keep: bool = True,
                 wall_seconds: float | None = None) -> Path:
    """Write the report of `results` to out/. keep: a report of the same commit and mode already
    in `out` keeps its other claims (a claim measured again replaces its old result), so claims
    run one at a time (`--only`) add up to one report of one commit; a report of another commit
    or mode is replaced. Every claim appears: one not measured says "not run" and why."""
    out = Path(out)
    mode = results[0].mode if results else ""
    env = environment(wall_seconds)
    earlier_seconds = 0.0
    if keep and results:
        fresh = {r.claim.id for r in results}
        try:
            check_mergeable(out, mode)
            earlier = [r for r in read_results(out, missing_ok=True) if r.mode == mode and r.claim.id not in fresh]
        except CnnzooError:
            earlier = []  # another commit or mode: this run starts a new report
        if earlier:
            results = sorted([*earlier, *results], key=lambda r: r.claim.number)
            earlier_seconds = sum(r.seconds for r in earlier)
    results = sorted(results, key=lambda r: r.claim.number)
    if env["total_seconds"] is not None:
        env["total_seconds"] = round(env["total_seconds"] + earlier_seconds, 1)
    _prepare_folder(out)
    entries = sorted([r.to_dict() for r in results] + not_run(results, mode), key=lambda c: c["number"])
    doc = {"environment": env, "mode": mode,
           "seconds": round(sum(r.seconds for r in results), 1), "claims": entries}
    fix = "free space or give another --out"
    for r in results:
        for name, path in r.figure_files().items():
            safe_io.write_bytes(out / path, r.figures[name], fix=fix)
    safe_io.write_json(out / "claims.json", doc, fix=fix)  # strict: no NaN
    safe_io.write_text(out / "claims.md", to_markdown(results, env, entries), fix=fix)
    safe_io.write_text(out / "claims.html", to_html(results, env, entries), fix=fix)
    return out


def not_run(results: Sequence[ClaimResult], mode: str) -> list[dict[str, Any]]:
    """An entry for every claim this report did not measure, saying so and why."""
    done = {r.claim.id for r in results}
    return [{"id": c.id, "number": c.number, "title": c.title, "statement": c.statement,
             "source": c.source, "kind": RULES[c.id].kind, "verdict": NOT_RUN,
             "reason": f"not run in this report: it was not among the claims asked for (--only); run "
                       f"`cnnzoo claims --only {c.id}{' --full' if mode == 'full' else ''}` with "
                       f"the same commit and --out to add it",
             "correction": "", "verdicts": [], "rule": RULES[c.id].to_dict(mode), "paper": RULES[c.id].paper,
             "data": None, "measured": {}, "seeds": [], "command": f"cnnzoo claims --only {c.id}"}
            for c in list_claims() if c.id not in done]


def _prepare_folder(out: Path) -> None:
    """OUT (new, empty or cnnzoo's own claims report: safe_io.output_folder) and OUT/figures,
    created (or found) and writable, or one CnnzooError line."""
    safe_io.make_folder(safe_io.output_folder(out, "claims") / "figures", "the report folder")
    if not os.access(out / "figures", os.W_OK):
        raise CnnzooError(f"--out {out} cannot be written: give a folder that can be written")


def read_results(out: str | Path, missing_ok: bool = False) -> list[ClaimResult]:
    """The results of a report written by write_report (claims.json and figures/), to rewrite or
    merge it. A claim this version does not know, or an entry it cannot read, is left out; a
    folder without a readable claims.json gives [] with missing_ok, else one CnnzooError line."""
    path = Path(out) / "claims.json"
    try:
        doc = json.loads(path.read_text())
        entries = doc["claims"]
        if not isinstance(entries, list):
            raise TypeError("'claims' is not a list")
    except (OSError, ValueError, KeyError, TypeError) as e:
        if missing_ok:
            return []
        raise CnnzooError(f"{path} is not a claims report ({e}): run `cnnzoo claims --out {out}`") from None
    results = []
    for entry in entries:
        try:
            claim = get_claim(entry["id"])
            measured = Measured(
                values={k: v["value"] for k, v in entry["measured"].items()},
                units={k: v["unit"] for k, v in entry["measured"].items() if v.get("unit")},
                method=entry.get("method", ""), seeds=list(entry.get("seeds", [])),
                references=dict(entry.get("references", {})),
                tables=[Table(t["title"], t["headers"], t["rows"]) for t in entry.get("tables", [])])
            verdict = Verdict(entry["verdict"], entry["reason"], entry.get("correction", ""), parts=tuple(
                Verdict(p["verdict"], p["reason"], p.get("correction", ""), part=p["part"],
                        deciding=dict(p.get("deciding", {}))) for p in entry.get("verdicts", [])))
            prefix = f"figures/{claim.id}-"
            figures = {f[len(prefix):-len(".png")]: (Path(out) / f).read_bytes()
                       for f in entry.get("figures", []) if f.startswith(prefix) and (Path(out) / f).is_file()}
            results.append(ClaimResult(claim, measured, verdict, float(entry["seconds"]), entry["mode"],
                                       figures, entry.get("date", doc.get("environment", {}).get("date", "")),
                                       entry.get("data")))
        except (CnnzooError, KeyError, TypeError, ValueError, AttributeError, AssertionError, OSError):
            continue  # an entry of another version, or edited by hand: measured again when asked
    return results


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, list):
        return ", ".join(_value(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_value(x)}" for k, x in v.items())
    if v is None:
        return "not reached"
    return str(v)


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = lambda row: "| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |"  # noqa: E731
    return "\n".join([cells(headers), "|" + "---|" * len(headers), *map(cells, rows)])


SUMMARY_HEADERS = ("#", "Claim", "Part", "Paper", "Ours", "Rule", "Verdict", "Reason")
SECTIONS = (("Experiments", ("experiment", "estimate")), ("Implementation checks", ("implementation check",)))


def _ours(deciding: dict[str, Any], seeds: Sequence[int]) -> str:
    text = ", ".join(f"{k.replace('_', ' ')} {_value(v)}" for k, v in deciding.items())
    return text + (f" (n = {len(seeds)} seeds)" if len(seeds) > 1 else "")


def summary_rows(entries: Sequence[dict[str, Any]], kinds: Sequence[str]) -> list[list[str]]:
    """One row per part of every claim of these kinds: the paper's figure, ours (the deciding
    numbers), the rule, the verdict and its reason; one row for a claim not run."""
    rows = []
    for e in entries:
        if e["kind"] not in kinds:
            continue
        if not e["verdicts"]:
            rows.append([str(e["number"]), e["title"], "", e["paper"], "", "", e["verdict"], e["reason"]])
        for p in e["verdicts"]:
            comparison = next((q["comparison"] for q in e["rule"]["parts"] if q["part"] == p["part"]), "")
            rows.append([str(e["number"]), e["title"], p["part"], e["paper"], _ours(p["deciding"], e["seeds"]),
                         comparison, p["verdict"], p["reason"] + (f" Correction: {p['correction']}"
                                                                 if p["correction"] else "")])
    return rows


def _run_line(env: dict[str, Any], mode: str) -> str:
    return (f"Mode {mode}; {env['date']}; commit {env['commit']}; CPU {env['cpu']}; {env['threads']} "
            f"thread(s); device {env['device']}; torch {env['torch']}; total "
            f"{env['total_seconds'] if env['total_seconds'] is not None else '?'} s.")


def to_markdown(results: Sequence[ClaimResult], env: dict[str, Any], entries: Sequence[dict[str, Any]]) -> str:
    mode = results[0].mode if results else ""
    lines = ["# The lineage's claims, measured", "", _run_line(env, mode) + " Each claim reruns with its command.", ""]
    for title, kinds in SECTIONS:
        lines += [f"## {title}", "", _md_table(SUMMARY_HEADERS, summary_rows(entries, kinds)), ""]
    for r in results:
        m = r.measured
        lines += [f"## {r.claim.number}. {r.claim.title}", f'<a id="{r.claim.id}"></a>', "",
                  f"**Claim.** {r.claim.statement} ({r.claim.source})", "",
                  f"**Method.** {m.method}", "",
                  _md_table(["Measured", "Value", "Unit"],
                            [[k, _value(v), m.units.get(k, "")] for k, v in m.values.items()]), ""]
        for t in m.tables:
            lines += [f"*{t.title}*", "", _md_table(t.headers, t.rows), ""]
        for name, path in r.figure_files().items():
            lines += [f"![{r.claim.id} {name}]({path})", ""]
        if m.references:
            lines += ["**The papers' numbers.** " + "; ".join(f"{k}: {v}" for k, v in m.references.items()), ""]
        lines += [f"**Verdict: {r.verdict.verdict}.**", ""]
        for p, rule in _parts_with_rules(r):
            lines += [f"- *{p.part}*: **{p.verdict}**. {p.reason}. Deciding: {_ours(p.deciding, m.seeds)}. "
                      f"Rule: \"{rule['quote']}\" judged by {rule['metric']}: {rule['comparison']}."
                      + (f" {'Correction' if p.verdict == CORRECTED else 'Why'}: {p.correction}"
                         if p.correction else "")]
        lines += ["", f"**Data.** {_data_text(r.data)}", ""]
        for old in previous_verdicts(r):
            lines += [f"Under the replaced rule of {old['rule_of']} (docs/claims/RULES.md): {old['verdict']} "
                      f"({old['reason']}).", ""]
        lines += ["", f"Seeds: {m.seeds or 'none (deterministic)'}. Command: `{r.command}` "
                      f"({r.seconds:.1f} s, {r.date}).", ""]
    return "\n".join(lines)


_BADGE = {HOLDS: "#1b7f3b", CORRECTED: "#b26a00", FAILS: "#b3261e", UNCHECKABLE: "#5f6368",
          NOT_RESOLVED: "#6b4fa0", NOT_OBSERVED: "#5f6368", NOT_RUN: "#9aa0a6"}

_CSS = """
body{font-family:Georgia,'DejaVu Serif',serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1d1d1f;line-height:1.5}
h1{font-size:1.9rem;margin-bottom:.2rem} h2{margin-top:2.5rem;border-bottom:1px solid #ddd;
padding-bottom:.3rem} h3{font-size:1rem;margin:1.2rem 0 .3rem;text-transform:uppercase;
letter-spacing:.05em;color:#555}
.meta{color:#555;font-size:.9rem} .badge{display:inline-block;color:#fff;border-radius:1rem;
padding:.1rem .7rem;font-family:sans-serif;font-size:.85rem;white-space:nowrap}
table{border-collapse:collapse;margin:.5rem 0;font-family:sans-serif;font-size:.85rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f6} td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1rem 0;text-align:center} figure img{max-width:100%;height:auto}
figcaption{font-size:.85rem;color:#555} .claim{font-style:italic;font-size:1.05rem}
.verdict{border-left:4px solid;padding:.4rem .9rem;background:#fafafa}
code{background:#f4f4f6;padding:0 .25rem;border-radius:3px}
"""


def _h(text: Any) -> str:
    return html.escape(str(text))


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(c: Any) -> str:
        s = str(c)
        num = s.replace(",", "").replace(".", "").replace("-", "").replace("%", "").strip().isdigit()
        return f'<td class="num">{_h(s)}</td>' if num else f"<td>{_h(s)}</td>"
    head = "".join(f"<th>{_h(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _parts_with_rules(r: ClaimResult) -> list[tuple[Verdict, dict[str, Any]]]:
    rule = RULES[r.claim.id].to_dict(r.mode)["parts"]
    return [(p, next((q for q in rule if q["part"] == p.part), {"quote": "", "metric": "", "comparison": ""}))
            for p in r.verdict.parts]


def _data_text(data: dict[str, Any] | None) -> str:
    if not data:
        return "none (no images: counts, shapes or random inputs)."
    short = f" Not available: {'; '.join(data['not_available'])}." if data.get("not_available") else ""
    files = ", ".join(f"{Path(k).name} {v[:12]}" for k, v in data["files"].items())
    return (f"{data['name']}: {data['train_images']:,} training and {data['test_images']:,} test images "
            f"used (SHA-256 of the files: {files}).{short}")


def _badge(verdict: str) -> str:
    return f'<span class="badge" style="background:{_BADGE[verdict]}">{_h(verdict)}</span>'


def to_html(results: Sequence[ClaimResult], env: dict[str, Any], entries: Sequence[dict[str, Any]]) -> str:
    mode = results[0].mode if results else ""
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>The lineage's claims, measured</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>The lineage's claims, measured</h1>",
        '<p class="meta">From LeNet-5 to ResNet, the claims these networks are taught with, each '
        "tested by an experiment on cnnzoo's own models, judged by a rule fixed before the run "
        f"(docs/claims/RULES.md). {_h(_run_line(env, mode))}</p>",
    ]
    for title, kinds in SECTIONS:
        parts += [f"<h2>{_h(title)}</h2>", _summary_table(summary_rows(entries, kinds))]
    for r in results:
        parts.append(_html_claim(r))
    parts.append('<p class="meta">Written by <code>cnnzoo claims</code>. Every number above was '
                 "measured in this run; the papers' numbers are quoted as references.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _summary_table(rows: Sequence[Sequence[str]]) -> str:
    def row(cells: Sequence[str]) -> str:
        number, title, part, paper, ours, rule, verdict, reason = cells
        return (f'<tr><td class="num">{_h(number)}</td><td>{_h(title)}</td><td>{_h(part)}</td>'
                f"<td>{_h(paper)}</td><td>{_h(ours)}</td><td>{_h(rule)}</td><td>{_badge(verdict)}</td>"
                f'<td class="reason">{_h(reason)}</td></tr>')
    head = "".join(f"<th>{_h(h)}</th>" for h in SUMMARY_HEADERS)
    return f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(map(row, rows))}</tbody></table>'


def _html_claim(r: ClaimResult) -> str:
    m = r.measured
    colour = _BADGE[r.verdict.verdict]
    out = [f'<section id="{_h(r.claim.id)}"><h2>{r.claim.number}. {_h(r.claim.title)}</h2>',
           "<h3>Question</h3>",
           f'<p class="claim">{_h(r.claim.statement)}</p><p class="meta">{_h(r.claim.source)}</p>',
           "<h3>Method</h3>", f"<p>{_h(m.method)}</p>",
           "<h3>Result</h3>",
           _html_table(["Measured", "Value", "Unit"],
                       [[k, _value(v), m.units.get(k, "")] for k, v in m.values.items()])]
    for t in m.tables:
        out.append(f"<p><b>{_h(t.title)}</b></p>" + _html_table(t.headers, t.rows))
    for name, png in r.figures.items():
        data = base64.b64encode(png).decode("ascii")
        out.append(f'<figure><img alt="{_h(r.claim.id)}: {_h(name)}" '
                   f'src="data:image/png;base64,{data}"><figcaption>Figure: {_h(r.claim.title)} '
                   f"({_h(name.replace('_', ' '))}).</figcaption></figure>")
    if m.references:
        out.append("<p><b>The papers' numbers.</b></p><ul>"
                   + "".join(f"<li>{_h(k)}: {_h(v)}</li>" for k, v in m.references.items()) + "</ul>")
    out.append(f'<h3>Verdict</h3><div class="verdict" style="border-color:{colour}">'
               f"<p>{_badge(r.verdict.verdict)}</p><ul>")
    for p, rule in _parts_with_rules(r):
        label = "Correction" if p.verdict == CORRECTED else "Why"
        out.append(f"<li><b>{_h(p.part)}</b>: {_badge(p.verdict)} {_h(p.reason)}. <br>Deciding: "
                   f"{_h(_ours(p.deciding, m.seeds))}. Rule: &ldquo;{_h(rule['quote'])}&rdquo; judged by "
                   f"{_h(rule['metric'])}: {_h(rule['comparison'])}."
                   + (f" <b>{label}:</b> {_h(p.correction)}" if p.correction else "") + "</li>")
    out.append("</ul></div>")
    out.append(f"<p><b>Data.</b> {_h(_data_text(r.data))}</p>")
    for old in previous_verdicts(r):
        out.append(f"<p class=\"meta\">Under the replaced rule of {_h(old['rule_of'])} "
                   f"(docs/claims/RULES.md): {_badge(old['verdict'])} {_h(old['reason'])}.</p>")
    out.append(f'<p class="meta">Seeds: {_h(m.seeds or "none (deterministic)")}. Rerun: '
               f"<code>{_h(r.command)}</code> ({r.seconds:.1f} s, {_h(r.date)}).</p></section>")
    return "\n".join(out)
