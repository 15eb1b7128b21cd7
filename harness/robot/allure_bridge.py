"""Allure parameters and readable keyword steps for Robot tests.

allure-robotframework 2.16.2 implements labels and links from ``allure.dynamic`` but not
parameters, so ``allure.dynamic.parameter`` is silently dropped in Robot. This hook adds
them to the running test, and keeps the history id apart per station (only non-excluded
parameters count), as allure-pytest does: the same test on two stations is two histories.

It also names each keyword step as a person reads it: allure-robotframework writes the
keyword's full name (``harness.robot.PosrigLibrary.Sale``) and its arguments as ``arg1``,
``arg2``; as each result and container is written, a step becomes ``Sale`` with
``amount_fen = 4300``, ``card = cup-debit-chip``, ``entry = insert``, by the keyword's own
signature as Robot resolved it. Values are as the test wrote them (``${sale}`` stays so).
"""

from __future__ import annotations

import re
from typing import Any

import allure_commons
from allure_commons.model2 import Parameter
from allure_commons.utils import md5, represent

from harness import report_results

_registered: list[Any] = []
_SIGNATURES_KEPT = 1024
_POSITIONAL = re.compile(r"arg\d+")
_NAMED = re.compile(r"([^\\=]+)=(.*)", re.DOTALL)  # "name=value", "=" not escaped as "\="


class _ParameterHook:
    @allure_commons.hookimpl
    def add_parameter(self, name: str, value: Any, excluded: bool | None, mode: Any) -> None:
        from allure_robotframework.allure_listener import AllureListener

        for plugin in allure_commons.plugin_manager.get_plugins():
            if isinstance(plugin, AllureListener):
                with plugin.lifecycle.update_test_case() as case:
                    if case is None:
                        return
                    # represent() as allure-pytest does, so one station reads the same
                    # in both runners' results ('station-1', quoted)
                    case.parameters.append(Parameter(name=name, value=represent(value),
                                                     excluded=excluded,
                                                     mode=mode.value if mode else None))
                    counted = [f"{p.name}={p.value}" for p in case.parameters if not p.excluded]
                    case.historyId = md5(case.fullName, *counted)
                return


class _ReadableSteps:
    """Rewrites keyword steps just before allure-robotframework writes them (tryfirst: before
    its file logger); by then the suite that ran them is still Robot's current context."""

    def __init__(self) -> None:
        self._signatures: dict[str, tuple[str, Any] | None] = {}

    @allure_commons.hookimpl(tryfirst=True)
    def report_result(self, result: Any) -> None:
        for step in result.steps:
            self._readable(step)

    @allure_commons.hookimpl(tryfirst=True)
    def report_container(self, container: Any) -> None:
        for fixture in (*container.befores, *container.afters):  # setups and teardowns
            self._readable(fixture)

    def _readable(self, step: Any) -> None:
        signature = self._signature(step.name)
        if signature is not None:
            short, spec = signature
            step.name = short
            given = [p.value for p in step.parameters or ()]
            if all(_POSITIONAL.fullmatch(p.name or "") for p in step.parameters or ()):
                step.parameters = [Parameter(name=n, value=v) for n, v in named_arguments(spec, given)]
        for child in getattr(step, "steps", None) or ():
            self._readable(child)

    def _signature(self, full_name: str) -> tuple[str, Any] | None:
        """(the keyword's own name, its ArgumentSpec) for a step named by a keyword's full
        name; None for anything else (a flow step, IF, FOR, a log message)."""
        owner, dot, _ = full_name.rpartition(".")
        if not dot or not owner or any(c.isspace() for c in owner):
            return None  # a log message or a flow step: no library or resource is named so
        if full_name not in self._signatures:
            if len(self._signatures) >= _SIGNATURES_KEPT:
                self._signatures.clear()  # a night's run names few keywords; this stays small
            self._signatures[full_name] = _look_up(full_name)
        return self._signatures[full_name]


def _look_up(full_name: str) -> tuple[str, Any] | None:
    from robot.running.context import EXECUTION_CONTEXTS

    context = EXECUTION_CONTEXTS.current
    if context is None or "." not in full_name:
        return None
    try:
        keyword = context.namespace.get_runner(full_name, recommend_on_failure=False).keyword
    except Exception:  # a step whose name no keyword has: left as it is
        return None
    if getattr(keyword, "error", None) or getattr(keyword, "full_name", None) != full_name:
        return None
    return keyword.name, keyword.args


def named_arguments(spec: Any, given: list[str]) -> list[tuple[str, str]]:
    """Robot's arguments as written (``["4300", "cup-debit-chip", "entry=insert"]``) paired
    with the names of ``spec`` (a Robot ArgumentSpec) by Robot's own rules: the trailing
    ``name=value`` arguments are named when the keyword has that argument (or takes
    ``**kwargs``); the ones before fill the positional arguments in order, then ``*varargs``
    as ``varargs[1]``, ``varargs[2]``."""
    positional = [*spec.positional_only, *spec.positional_or_named]
    nameable = {*spec.positional_or_named, *spec.named_only}
    named: list[tuple[str, str]] = []
    split = len(given)
    while split > 0:  # Robot reads named arguments from the end, up to the first that is not
        match = _NAMED.fullmatch(given[split - 1])
        if match is None or not (match.group(1) in nameable or spec.var_named):
            break
        named.insert(0, (match.group(1), match.group(2)))
        split -= 1
    out: list[tuple[str, str]] = []
    for index, value in enumerate(given[:split]):
        if index < len(positional):
            out.append((positional[index], value))
        elif spec.var_positional:
            out.append((f"{spec.var_positional}[{index - len(positional) + 1}]", value))
        else:
            out.append((f"arg{index + 1}", value))  # more than the keyword takes: as written
    return out + named


def register() -> None:
    """Once per process, however many library instances Robot creates."""
    report_results.register()  # titles and the terminal's labels, as in pytest
    if not _registered:
        for hook in (_ParameterHook(), _ReadableSteps()):
            allure_commons.plugin_manager.register(hook)
            _registered.append(hook)


def _listener() -> Any:
    from allure_robotframework.allure_listener import AllureListener

    for plugin in allure_commons.plugin_manager.get_plugins():
        if isinstance(plugin, AllureListener):
            return plugin
    return None


def _last_test() -> tuple[Any, str] | None:
    """The Robot test that just ended, as allure-robotframework holds it.

    By the time a library listener's ``end_test`` runs, allure-robotframework has scheduled
    a blank result of its own after the real one (it writes results at suite end), so the
    running test is not the one to change. The real one is the last result with a name.
    """
    from allure_commons.model2 import TestResult

    listener = _listener()
    if listener is None:
        return None
    lifecycle = listener.lifecycle
    named = [(item, uuid) for uuid, item in lifecycle._items.items()
             if isinstance(item, TestResult) and item.name]
    return named[-1] if named else None


def attach_to_test(name: str, text: str) -> bool:
    """Attach ``text`` to the Robot test that just ended (see ``_last_test``)."""
    from allure_commons.types import AttachmentType
    from allure_commons.utils import uuid4

    last = _last_test()
    if last is None:
        return False
    _listener().lifecycle.attach_data(uuid4(), text, name=name, attachment_type=AttachmentType.TEXT,
                                      parent_uuid=last[1])
    return True


def mark_test(verdict: Any, message: str | None) -> bool:
    """Give the Robot test that just ended the verdict of the fault taxonomy: Robot knows
    only FAIL, which allure-robotframework draws *failed*; a station fault or a rig defect
    must read *broken*, under its category, as in pytest."""
    from harness.verdict import mark_result

    last = _last_test()
    if last is None:
        return False
    mark_result(last[0], verdict, message)
    return True
