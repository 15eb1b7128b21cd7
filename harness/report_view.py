"""Open the single-file report the way a vendor does (a browser, from disk) and read it.

Headless Chromium loads ``file://…/index.html``, runs the report's scripts and dumps the
DOM; the counters the overview shows (total, passed, failed, broken, skipped) are read
from it. A report that needs a server, or whose data did not load, shows no counters.

    python -m harness.report_view out/report/index.html --expect 24
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from devices.faults import RigDefect

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
_COUNTER = re.compile(
    r'data-testid="metadata-item-(?P<name>[a-z]+)".*?data-testid="metadata-value"[^>]*>(?P<value>.*?)</span>',
    re.S)


class ReportViewError(RigDefect):
    pass


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def render(index: Path, *, timeout_s: float = 120.0) -> str:
    """The report's DOM after its scripts ran, as headless Chromium sees it from disk."""
    chromium = find_chromium()
    if chromium is None:
        raise ReportViewError("no Chromium found (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="posrig-chromium-") as profile:
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                   "--disable-background-networking", "--disable-component-update",
                   "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                   f"--user-data-dir={profile}",
                   # virtual time runs the page's timers to completion, so the dump is taken
                   # after the report rendered, however slow the machine, without a sleep (a
                   # budget the page does not need costs nothing: idle virtual time is instant)
                   "--virtual-time-budget=60000", "--dump-dom", index.resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0 or "<html" not in done.stdout:
        raise ReportViewError(f"Chromium could not render {index} (status {done.returncode}): "
                              f"{done.stderr[-1500:]}")
    return done.stdout


def counters(dom: str) -> dict[str, int]:
    """The overview's counters: ``{"total": 24, "passed": 22, "failed": 1, ...}``."""
    found: dict[str, int] = {}
    for match in _COUNTER.finditer(dom):
        text = html.unescape(re.sub(r"<[^>]+>", " ", match["value"])).strip()
        number = re.search(r"\d+", text)
        if number and match["name"] not in found:
            found[match["name"]] = int(number.group())
    return found


def embedded(index: Path, name: str) -> Any:
    """One of the data files the single-file report carries inside it (``widgets/…json``)."""
    text = index.read_text(encoding="utf-8")
    match = re.search(r'd\("' + re.escape(name) + r'","([A-Za-z0-9+/=]+)"\)', text)
    if match is None:
        raise ReportViewError(f"{index} carries no {name}")
    return json.loads(base64.b64decode(match.group(1)))


def categories(index: Path) -> dict[str, list[str]]:
    """Each category the report shows, with the names of the tests filed under it."""
    tree = embedded(index, "widgets/categories.json")
    nodes = tree["nodes"]

    def tests(node_id: str) -> list[str]:
        node = nodes[node_id]
        # a test's node: "tr", or with environments (one per terminal model and firmware,
        # reports/allurerc.mjs) "history", whose children are its results per environment
        if node["type"] in ("tr", "history"):
            return [node["name"]]
        return [name for child in node.get("childrenIds", []) for name in tests(child)]

    return {nodes[root]["name"]: tests(root) for root in tree["roots"]}


def visible_text(dom: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report_view", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", type=Path, help="the report's index.html")
    parser.add_argument("--expect", type=int, default=None, help="the number of tests it must show")
    args = parser.parse_args(argv)
    try:
        shown = counters(render(args.index))
    except (ReportViewError, subprocess.TimeoutExpired) as exc:
        print(f"report_view: {exc}", file=sys.stderr)
        return 2
    print(f"report_view: {args.index} shows {shown}")
    if "total" not in shown:
        print("report_view: the page shows no test counters: its data did not load", file=sys.stderr)
        return 1
    if args.expect is not None and shown["total"] != args.expect:
        print(f"report_view: expected {args.expect} tests, the page shows {shown['total']}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
