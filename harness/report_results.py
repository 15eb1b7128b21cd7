"""How each Allure result reads, in both runners, beyond what allure-pytest and
allure-robotframework write.

Both are applied as each result is written (an ``allure_commons`` hook that runs before
the runner's file logger), so nothing a test or fixture does can undo them, and a test
skipped before its fixtures ran reads the same.

Titles a vendor reads: a pytest test is named by its function, which the report would
show as ``test_signed_in_chip_sale_is_approved_and_witnesses_agree``; it shows
``CUP-SALE-001: Signed in chip sale is approved and witnesses agree`` instead -- the plan's
case id when the test has one, the function's name as a sentence, and the parameter set's
id in brackets (``[001]``). (``allure.dynamic.title`` from a fixture would not do: allure-pytest
names the result again when set-up ends.) Robot tests keep their own names, with the case
id put first the same way, so both runners' tests read alike side by side.

A trend per terminal: the parameters ``terminal model`` and ``firmware`` are excluded from
the history id (the same test continues its trend on a new firmware), so each result also
gets them as the labels ``terminal_model`` and ``firmware``, as it is written. The report's
configuration (reports/allurerc.mjs) makes one Allure environment per model and firmware
from them: the report's environment picker shows each one's results and trend charts.
"""

from __future__ import annotations

import ast
from typing import Any

import allure_commons
from allure_commons.model2 import Label

#: Words a function name spells in lower case that a reader expects as written in the field.
WORDS = {"pin": "PIN", "pins": "PINs", "mac": "MAC", "ecr": "ECR", "cup": "CUP", "iso": "ISO",
         "ic": "IC", "rrn": "RRN", "tid": "TID", "mid": "MID", "qr": "QR", "ocr": "OCR",
         "usb": "USB", "json": "JSON", "html": "HTML", "cli": "CLI", "gcode": "G-code"}


def sentence(function_name: str) -> str:
    """``test_wrong_pin_is_declined_55`` -> ``Wrong PIN is declined 55``."""
    words = [w for w in function_name.removeprefix("test_").split("_") if w]
    if not words:
        return function_name
    words = [WORDS.get(w.lower(), w) for w in words]
    first = words[0]
    words[0] = first if first.isupper() or any(c.isdigit() for c in first) else first[:1].upper() + first[1:]
    return " ".join(words)


def with_case(title: str, case_id: str | None) -> str:
    return f"{case_id}: {title}" if case_id and not title.startswith(case_id) else title


def readable_title(function_name: str, case_id: str | None = None, params_id: str | None = None) -> str:
    title = sentence(function_name) + (f" [{params_id}]" if params_id else "")
    return with_case(title, case_id)


def title_result(result: Any) -> None:
    """The readable title of a result as a runner wrote it: a pytest test's function name
    (``test_x[params]``) becomes a sentence; a Robot test keeps its name. Both get the case
    id first. A title the test set itself (``@allure.title``) is left as it is."""
    labels = {label.name: label.value for label in result.labels}
    case_id = labels.get("case_id")
    name = result.name or ""
    if labels.get("framework") == "pytest":
        function = (result.fullName or "").rpartition("#")[2]
        if not function or not (name == function or name.startswith(f"{function}[")):
            return
        params_id = name[len(function) + 1:-1] if name.endswith("]") and len(name) > len(function) else None
        result.name = readable_title(function, case_id, params_id)
    elif name:
        result.name = with_case(name, case_id)


#: Parameter -> label, for the trend per terminal.
TERMINAL_LABELS = {"terminal model": "terminal_model", "firmware": "firmware"}


def _plain(value: str) -> str:
    """A parameter's value as the runners write it (``'1.0.0'``, Python's repr) as text."""
    try:
        plain = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    return plain if isinstance(plain, str) else value


def label_terminal(result: Any) -> None:
    """``terminal_model`` and ``firmware`` labels from the result's parameters."""
    have = {label.name for label in result.labels}
    for parameter in result.parameters or ():
        name = TERMINAL_LABELS.get(parameter.name)
        if name and name not in have:
            result.labels.append(Label(name=name, value=_plain(parameter.value)))
            have.add(name)


class _ReadableResults:
    @allure_commons.hookimpl(tryfirst=True)  # before the runner's file logger writes it
    def report_result(self, result: Any) -> None:
        title_result(result)
        label_terminal(result)


_registered: list[_ReadableResults] = []


def register() -> None:
    """Once per process: the pytest plugin's configure (each xdist worker's too), the Robot
    library's first instance."""
    if not _registered:
        hook = _ReadableResults()
        allure_commons.plugin_manager.register(hook)
        _registered.append(hook)
