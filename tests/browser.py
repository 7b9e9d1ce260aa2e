"""Debian's headless chromium for the JavaScript tests: the DOM of a page after its scripts ran, and the JSON that
the page's probe wrote into a `data-result` attribute."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> None:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")


def dump_dom(url: str, profile: Path, budget_ms: int | None = None, timeout: int = 120) -> str:
    """The page's DOM; `budget_ms` of virtual time lets its timers and requests run first."""
    budget = [f"--virtual-time-budget={budget_ms}"] if budget_ms else []
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}", *budget,
                           "--dump-dom", url], capture_output=True, text=True, timeout=timeout).stdout


def page_result(dom: str):
    """The probe's JSON from the DOM, or None when the page did not write one."""
    found = re.search(r'data-result="([^"]*)"', dom)
    return json.loads(html.unescape(found.group(1))) if found else None
