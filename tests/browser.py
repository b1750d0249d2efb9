"""The headless browser the report and atlas tests open pages in (Debian's chromium through
playwright), set up once: a page that records console errors, page errors and every request that
leaves the disk, so a test can assert that a static page needs nothing but its own files."""
from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def missing(why: str) -> None:
    """Skip on a developer's machine; fail under CI (the variable CI set), which installs
    playwright and chromium, so that the browser check cannot silently vanish there."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but the headless browser check {why}")
    pytest.skip(why)


@contextlib.contextmanager
def browser_page() -> Iterator[tuple[Any, list[str]]]:
    """(page, errors): errors collects console errors, page errors and non-file requests."""
    try:
        from playwright import sync_api
    except ImportError:
        missing("needs playwright (pip install playwright)")
    if not os.path.exists(CHROMIUM):
        missing("needs Debian's chromium (apt-get install chromium)")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda req: errors.append(f"request {req.url}")
                if not req.url.startswith(("file:", "data:")) else None)
        try:
            yield page, errors
        finally:
            browser.close()
