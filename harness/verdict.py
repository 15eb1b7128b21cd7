"""The verdict, as the reports show it: devices/faults.py decides, this module writes it down.

``devices.faults.classify`` is the one place that says whether an exception makes a test
*failed* (a terminal defect) or *broken* (a station fault or a rig defect). The pytest
plugin, the Robot Framework library and the step reporter all hand their exception to
``verdict_of`` and write the answer into the Allure result with ``mark_result``: the status,
and a status message that starts with the category's tag (``[Station fault] ...``), which
is what the report's categories match. ``reports/categories.json`` is generated from the
taxonomy by ``python -m harness.verdict`` (a test checks the committed file is current).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from devices.faults import (
    BROKEN,
    CATEGORIES,
    FAILED,
    STATION_FAULT,
    RigDefect,
    StationFault,
    TerminalDefect,
    Verdict,
    classify,
    classify_type,
    describe,
)

__all__ = ["BROKEN", "FAILED", "Verdict", "categories_json", "describe", "mark_result", "tagged",
           "verdict_of"]

CATEGORIES_FILE = Path(__file__).resolve().parent.parent / "reports" / "categories.json"


def verdict_of(exc: BaseException) -> Verdict:
    return classify(exc)


def tagged(verdict: Verdict, message: str | None) -> str:
    """The status message with its category's tag in front (once)."""
    tag = f"[{verdict.category}]"
    text = (message or verdict.cause).strip()
    return text if text.startswith(tag) else f"{tag} {text}"


def mark_result(result: Any, verdict: Verdict, message: str | None = None,
                trace: str | None = None) -> None:
    """Write ``verdict`` into an Allure ``TestResult`` (or step, or fixture result)."""
    from allure_commons.model2 import StatusDetails

    details = result.statusDetails or StatusDetails()
    details.message = tagged(verdict, message if message is not None else details.message)
    if trace is not None:
        details.trace = trace
    result.status = verdict.status
    result.statusDetails = details


#: Robot Framework's own errors: the suite or the rig's keywords are wrong, not the terminal.
_ROBOT_ERRORS = re.compile(r"No keyword with name|Variable '.*' not found|Keyword '.*' expected "
                           r"|Resource file .* does not exist|Importing library .* failed")
_PREFIXES = re.compile(r"^(?:(?:Parent suite )?(?:setup|teardown) failed:\s*)+", re.IGNORECASE)


def verdict_of_message(message: str) -> Verdict:
    """The verdict of a Robot test that failed outside the rig's own keywords (a BuiltIn
    ``Should Be Equal``, a suite setup): Robot keeps only the message, which names a
    non-generic exception's class (``TerminalError: ...``). A class of the taxonomy decides;
    Robot's own errors (an unknown keyword or variable) are rig defects; anything else is an
    assertion the test made about the terminal."""
    text = _PREFIXES.sub("", message.strip())
    for category in CATEGORIES:
        if text.startswith(f"[{category.name}]"):
            return Verdict(category.status, category.name, category.name == STATION_FAULT, text[:300])
    name = text.split(":", 1)[0].strip()
    cls = _taxonomy_classes().get(name)
    if cls is not None:
        return classify_type(cls, text)
    return classify_type(RigDefect if _ROBOT_ERRORS.search(text) else AssertionError, text)


def _taxonomy_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    pending: list[type[BaseException]] = [TerminalDefect, StationFault, RigDefect]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.__name__, cls)
        pending.extend(cls.__subclasses__())
    return found


def categories_json() -> list[dict[str, Any]]:
    """The report's categories, one per category of the taxonomy, matched by the tag."""
    return [{"name": c.name, "description": c.description, "matchedStatuses": [c.status],
             "messageRegex": rf"^\[{c.name}\][\s\S]*"} for c in CATEGORIES]


def write_categories(path: Path = CATEGORIES_FILE) -> Path:
    path.write_text(json.dumps(categories_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m harness.verdict: regenerate reports/categories.json
    print(write_categories(Path(sys.argv[1]) if len(sys.argv) > 1 else CATEGORIES_FILE))
