"""``PosrigLibrary``: the rig as a Robot Framework library, built from components.

    *** Settings ***
    Library    harness.robot.PosrigLibrary    plan=${CURDIR}/../plan.yaml
    Test Teardown    Restore Bench

A test names its plan case with the tag ``case:ID``. ``--variable LAB:inventory.yaml``
runs on a named lab, ``--variable STATION:name`` on one of its stations (pabot passes one
per process). With allure-robotframework as a listener, flow steps become Allure steps
with their evidence, the device logs are attached to each test, and the station, terminal
model, firmware and serial are parameters, as in the pytest scenarios.
"""

from __future__ import annotations

from typing import Any

import allure
from robot.api.exceptions import SkipExecution
from robot.libraries.BuiltIn import BuiltIn
from robotlibcore import DynamicCore

from devices.faults import Verdict
from harness import flows
from harness.report_files import rig_environment, update_environment
from harness.robot import allure_bridge
from harness.robot.keywords import (
    CardKeywords,
    HostKeywords,
    ReceiptKeywords,
    ScreenKeywords,
    StationKeywords,
)
from harness.robot.qr_keywords import QrKeywords
from harness.robot.session import LabSession
from harness.verdict import verdict_of, verdict_of_message

CASE_TAG = "case:"


class PosrigLibrary(DynamicCore):
    """Drive a payment terminal's bench in lab words: `Sign In`, `Sale`, `Settle`, ..."""

    ROBOT_LIBRARY_SCOPE = "GLOBAL"
    ROBOT_LISTENER_API_VERSION = 3

    def __init__(self, lab: str | None = None, station: str | None = None,
                 plan: str | None = None, workdir: str | None = None):
        variables = BuiltIn().get_variables() if _robot_running() else {}
        self.session = LabSession(
            lab_path=lab or variables.get("${LAB}") or None,
            station_name=station or variables.get("${STATION}") or None,
            plan_path=plan, workdir=workdir or variables.get("${POSRIG_WORKDIR}") or None)
        self.ROBOT_LIBRARY_LISTENER = self
        self._log_mark: dict | None = None
        self._usable_at_start = True
        self._verdict: tuple[Verdict, str] | None = None  # the test's first keyword error
        allure_bridge.register()
        super().__init__([StationKeywords(self.session), CardKeywords(self.session),
                          HostKeywords(self.session), ReceiptKeywords(self.session),
                          ScreenKeywords(self.session), QrKeywords(self.session)])

    def run_keyword(self, name: str, args: Any, kwargs: Any = None) -> Any:
        if name == "restore_bench" and not self._usable_at_start:
            return None  # the station was out of service before this test: nothing to restore
        try:
            return super().run_keyword(name, args, kwargs)
        except SkipExecution:
            raise
        except Exception as exc:
            # As the pytest plugin does: the fault taxonomy's verdict is the test's (the first
            # failing keyword decides it), and a station fault takes the station out of
            # service, so its remaining tests are skipped, not failed one after another.
            verdict = verdict_of(exc)
            if self._verdict is None:
                self._verdict = (verdict, f"{type(exc).__name__}: {exc}")
            lab = self.session.lab
            if verdict.quarantine and lab is not None and lab.live is not None:
                st = lab.station(self.session.station_name or None)
                if not st.broken_reason:
                    st.mark_broken(f"{BuiltIn().get_variable_value('${TEST NAME}')}: {verdict.cause}")
            raise

    # -- listener: called by Robot around each test of a suite that imports the library ----
    def _start_test(self, data: Any, result: Any) -> None:
        session = self.session
        plan = session.plan
        for tag in data.tags:
            if tag.startswith(CASE_TAG) and plan is not None:
                plan.label(tag[len(CASE_TAG):])
        # "the last sale" is this test's, never a previous test's
        session.last_sale, session.last_settlement = None, None
        self._verdict = None
        lab = session.running_lab()
        st = lab.station(session.station_name or None)
        self._usable_at_start = not st.broken_reason
        allure.dynamic.parameter("station", st.name)
        self._log_mark = lab.logs.mark()
        if self._usable_at_start:
            session.station()  # subscribes the station's Allure steps for this test
            identity = session.identity(st)
            for name, value in (("terminal model", identity.model), ("firmware", identity.firmware),
                                ("serial", identity.serial)):
                allure.dynamic.parameter(name, value, excluded=True)
            allure.dynamic.parameter("slip checked by", flows.slip_check_method(st), excluded=True)

    def _end_test(self, data: Any, result: Any) -> None:
        if not result.passed and not result.skipped:
            # the first error of the rig's own keywords decides; else Robot's message does
            verdict = self._verdict or (verdict_of_message(result.message), result.message)
            allure_bridge.mark_test(*verdict)
        self._verdict = None
        lab = self.session.lab
        if lab is not None and self._log_mark is not None:
            for source, text in sorted(lab.logs.since(self._log_mark).items()):
                allure_bridge.attach_to_test(f"{source}.log", text)
        self._log_mark = None

    def _close(self) -> None:
        lab = self.session.lab
        output = BuiltIn().get_variable_value("${ALLURE_RESULTS}") if _robot_running() else None
        if lab is not None and lab.live is not None and output:
            update_environment(_path(output), {**rig_environment(), "lab": lab.live.name})
        self.session.close()

    # Robot looks these up by their listener names; the underscored versions keep them out
    # of the keyword list that DynamicCore builds from public methods.
    start_test = _start_test
    end_test = _end_test
    close = _close


def _robot_running() -> bool:
    try:
        BuiltIn().get_variables()
        return True
    except Exception:  # RobotNotRunningError: imported by libdoc or a plain Python caller
        return False


def _path(text: str):
    from pathlib import Path

    return Path(text)
