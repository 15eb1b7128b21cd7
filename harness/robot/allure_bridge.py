"""Allure parameters for Robot tests.

allure-robotframework 2.16.2 implements labels and links from ``allure.dynamic`` but not
parameters, so ``allure.dynamic.parameter`` is silently dropped in Robot. This hook adds
them to the running test, and keeps the history id apart per station (only non-excluded
parameters count), as allure-pytest does: the same test on two stations is two histories.
"""

from __future__ import annotations

from typing import Any

import allure_commons
from allure_commons.model2 import Parameter
from allure_commons.utils import md5, represent

_registered: list[Any] = []


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


def register() -> None:
    """Once per process, however many library instances Robot creates."""
    if not _registered:
        hook = _ParameterHook()
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
