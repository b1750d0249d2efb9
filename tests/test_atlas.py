"""cnnzoo atlas: a static site that opens from the disk, checked in a real browser (issue #20).

Headless Chromium (Debian's, through playwright) opens every page: no console error, no request
beyond file: and data:, every local link resolves, every image renders with a size, and in every
drawing no two texts overlap (their boxes as the browser lays them out). Skipped on a machine
without chromium, failed under CI (test_claims' rule) so that the check cannot vanish there.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from browser import browser_page
from cnnzoo.cli import main
from cnnzoo.errors import CnnzooError
from cnnzoo.visualize.draw.atlas import build_atlas

OVERLAP_JS = """() => {
  const boxes = [...document.querySelectorAll('text')].map(t => {
    const r = t.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom, t.textContent];
  }).filter(b => b[2] > b[0] && b[3] > b[1]);
  const out = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a[0] < b[2] - 0.5 && b[0] < a[2] - 0.5 && a[1] < b[3] - 0.5 && b[1] < a[3] - 0.5)
      out.push(a[4] + ' | ' + b[4]);
  }
  return [boxes.length, out];
}"""


def _visit(page, path: Path, errors: list[str]) -> None:
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert all(w > 0 for w in widths), (path.name, widths)
    for href in page.eval_on_selector_all("a", "as => as.map(a => a.href)"):
        url = urlparse(href)
        if url.scheme == "file":
            assert Path(unquote(url.path)).is_file(), (path.name, href)
        else:
            assert url.scheme in ("http", "https"), (path.name, href)  # papers: never fetched
    assert errors == [], (path.name, errors)


def check_site(folder: Path) -> int:
    """Open every page and drawing of an atlas; returns the number of drawings checked."""
    with browser_page() as (page, errors):
        for html in [folder / "index.html", *sorted(folder.glob("models/*.html"))]:
            _visit(page, html, errors)
        drawings = sorted(folder.glob("models/*.svg"))
        for svg in drawings:
            page.goto(svg.resolve().as_uri())
            count, overlaps = page.evaluate(OVERLAP_JS)
            assert count > 5 and overlaps == [], (svg.name, overlaps[:5])
    return len(drawings)


@pytest.mark.slow
def test_a_small_atlas_in_the_browser(tmp_path):
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "claims.html").write_text("<!DOCTYPE html><title>claims</title>")
    index, count, _ = build_atlas(tmp_path / "atlas", claims=tmp_path / "claims",
                                  names=["lenet5", "alexnet", "googlenet", "resnet20"])
    assert count == 4 and index.name == "index.html"
    text = index.read_text()
    assert "claims.html" in text and "resnet152" in text  # the compare table's lineage
    page = (tmp_path / "atlas" / "models" / "googlenet.html").read_text()
    assert "Szegedy et al. 2015, Table 1" in page and "aux1" in page
    assert not re.search(r"<script|https?://[^\"']*\.(css|js|woff2?)", text + page)
    assert check_site(tmp_path / "atlas") == 3 + 3 + 1 + 1  # chains in 3 styles, branches in 1


def test_the_folder_must_be_empty_or_an_atlas(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["atlas", "--out", str(tmp_path)]) == 1
    assert "holds files" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    with pytest.raises(CnnzooError, match="no claims.html"):
        build_atlas(tmp_path / "a", claims=tmp_path, names=["lenet5"])
    build_atlas(tmp_path / "b", names=["lenet5"])
    build_atlas(tmp_path / "b", names=["lenet5"])  # an earlier atlas is rewritten


@pytest.mark.slow
def test_the_whole_atlas_in_the_browser(tmp_path):
    """`cnnzoo atlas --out DIR`: all 36 networks, each page opened, every drawing checked."""
    from cnnzoo import list_models

    start = time.perf_counter()
    assert main(["atlas", "--out", str(tmp_path)]) == 0
    built = time.perf_counter() - start
    pages = sorted(tmp_path.glob("models/*.html"))
    assert [p.stem for p in pages] == sorted(list_models())
    assert built < 120, built  # the issue asks under a minute on 2 idle cores; shared CI gets 2x
    assert check_site(tmp_path) >= len(pages)
