"""The files beside the Allure results that tell a reader where and on what a run ran.

``environment.properties`` (the lab, each station's terminal model, firmware and serial),
``executor.json`` (who ran it: a nightly CI job or a person) and ``categories.json``
(terminal defect / station fault / rig defect, from reports/). pytest and Robot write
into one results directory, so the environment is merged, never overwritten.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from devices.masking import scrub
from harness.paths import REPO

CATEGORIES = REPO / "reports" / "categories.json"


def _read_properties(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", " ").replace("=", "\\=").replace(":", "\\:")


def update_environment(results: Path, entries: Mapping[str, str]) -> Path:
    """Merge ``entries`` into ``results/environment.properties``."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / "environment.properties"
    merged = _read_properties(path)
    merged.update({k: scrub(str(v)) for k, v in entries.items()})
    body = "".join(f"{_escape(k)}={v}\n" for k, v in sorted(merged.items()))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, path)  # two runners may write in turn; never leave half a file
    return path


def rig_environment() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        rig = version("posrig")
    except PackageNotFoundError:
        rig = "source tree"
    return {"rig.version": rig, "rig.python": platform.python_version(),
            "rig.platform": platform.platform(terse=True), "rig.host": socket.gethostname()}


def write_executor(results: Path, *, name: str | None = None, build: str | None = None) -> Path:
    """Who ran this: CI's job (from its environment) or the person at the bench."""
    ci = os.environ.get("CI") == "true"
    data = {
        "name": name or ("posrig CI" if ci else f"posrig on {socket.gethostname()}"),
        "type": "ci" if ci else "local",
        "buildName": build or datetime.now(UTC).strftime("posrig run %Y-%m-%d %H:%M UTC"),
        "reportName": "posrig certification report",
    }
    results.mkdir(parents=True, exist_ok=True)
    path = results / "executor.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def install_categories(results: Path) -> Path:
    """A copy for report viewers that read categories from the results (Allure 2);
    Allure 3 reads them from reports/allurerc.mjs, which loads the same file."""
    results.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(CATEGORIES, results / "categories.json"))
