"""One fault taxonomy: every error the rig raises is a terminal defect, a station fault or a
rig defect, and both runners give a test the verdict ``devices.faults.classify`` gives it."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import devices
import harness
from devices.faults import (
    BROKEN,
    FAILED,
    RIG_DEFECT,
    STATION_FAULT,
    TERMINAL_DEFECT,
    RigDefect,
    StationFault,
    TerminalDefect,
    classify,
    classify_name,
)
from harness.paths import REPO
from harness.verdict import CATEGORIES_FILE, categories_json

#: Exceptions that never leave their module: control flow inside a simulator or a parser,
#: turned into an answer or into one of the taxonomy's errors where they are caught.
INTERNAL = {
    "devices.terminal.sim.base.PowerLost", "devices.terminal.sim.base.Refusal",
    "devices.robot.physics.Blocked", "devices.host.core.Decline",
    "harness.receipts.paper.PaperNotFound",
    # the status carrier of a step that ended broken (harness/evidence.py): built from a
    # step event's verdict, never raised
    "harness.evidence.StepBroken",
}


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in (devices, harness):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            try:
                module = importlib.import_module(info.name)
            except Exception as exc:  # a module that cannot import is a finding of its own
                pytest.fail(f"{info.name} does not import: {exc}")
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == info.name:
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(found.values())


def test_every_error_the_rig_defines_is_one_of_the_three():
    classes = _exception_classes()
    assert len(classes) > 30
    outside = sorted(f"{c.__module__}.{c.__qualname__}" for c in classes
                     if not issubclass(c, (TerminalDefect, StationFault, RigDefect))
                     and f"{c.__module__}.{c.__qualname__}" not in INTERNAL)
    assert outside == [], "errors outside the fault taxonomy (devices/faults.py)"


@pytest.mark.parametrize(("exc", "status", "category", "quarantine"), [
    (TerminalDefect("wrong amount"), FAILED, TERMINAL_DEFECT, False),
    (AssertionError("a test's own assert"), FAILED, TERMINAL_DEFECT, False),
    (StationFault("robot jammed"), BROKEN, STATION_FAULT, True),
    (RigDefect("font missing"), BROKEN, RIG_DEFECT, False),
    (KeyError("a bug"), BROKEN, RIG_DEFECT, False),
    (KeyboardInterrupt(), BROKEN, RIG_DEFECT, False),
])
def test_classify(exc, status, category, quarantine):
    verdict = classify(exc)
    assert (verdict.status, verdict.category, verdict.quarantine) == (status, category, quarantine)


def test_the_drivers_errors_land_where_the_lab_expects():
    from devices.camera.driver import CameraError, NothingPrinted
    from devices.camera.render import FontMissingError
    from devices.terminal.console import ConsoleError, ConsoleTimeout
    from devices.terminal.dialect import DialectError
    from devices.terminal.driver import TerminalError
    from devices.terminal.link import LinkError, NoAck
    from harness.config import ConfigError
    from harness.receipts.reader import ReceiptMismatch, ReceiptUnreadable

    expected = {
        TerminalError: TERMINAL_DEFECT, DialectError: TERMINAL_DEFECT, ConsoleTimeout: TERMINAL_DEFECT,
        NothingPrinted: TERMINAL_DEFECT, ReceiptMismatch: TERMINAL_DEFECT,
        LinkError: STATION_FAULT, NoAck: STATION_FAULT, ConsoleError: STATION_FAULT,
        CameraError: STATION_FAULT, ReceiptUnreadable: STATION_FAULT,
        FontMissingError: RIG_DEFECT, ConfigError: RIG_DEFECT,
    }
    got = {cls: classify(cls("x")).category for cls in expected}
    assert got == expected


def test_an_error_raised_from_a_fault_keeps_its_cause_s_verdict():
    try:
        try:
            raise StationFault("port gone")
        except StationFault as fault:
            raise RuntimeError("while reading the slip") from fault
    except RuntimeError as exc:
        assert classify(exc).category == STATION_FAULT


def test_a_step_event_that_crossed_a_process_is_classified_by_its_class_names():
    assert classify_name(["FlowError", "TerminalDefect", "AssertionError"]).status == FAILED
    assert classify_name(["CameraError", "StationFault", "Exception"]).quarantine
    assert classify_name(["KeyError", "LookupError"]) is None


def test_the_report_categories_are_generated_from_the_taxonomy():
    committed = json.loads(CATEGORIES_FILE.read_text(encoding="utf-8"))
    assert committed == categories_json(), "run `python -m harness.verdict` to regenerate it"
    assert [c["name"] for c in committed] == [TERMINAL_DEFECT, STATION_FAULT, RIG_DEFECT]


def _results(directory: Path) -> dict[str, tuple[str, str]]:
    out = {}
    for path in directory.glob("*-result.json"):
        result = json.loads(path.read_text(encoding="utf-8"))
        out[result["name"]] = (result["status"], (result.get("statusDetails") or {}).get("message", ""))
    return out


@pytest.mark.heavy  # CPU-heavy (a browser; two whole runs): the heavy set .ci/run runs
def test_a_rig_without_its_font_is_broken_in_both_runners_never_failed(tmp_path: Path):
    """The acceptance's missing-font case, on one module and one Robot suite: every result
    broken under "Rig defect", none failed, in pytest and in Robot alike."""
    env = {**os.environ, "POSRIG_CJK_FONT": str(tmp_path / "nonexistent.ttf")}
    pytest_results, robot_results = tmp_path / "pytest-results", tmp_path / "robot-results"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    str(REPO / "scenarios" / "test_login.py"), f"--alluredir={pytest_results}",
                    f"--basetemp={tmp_path / 'basetemp'}"],
                   cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    subprocess.run([sys.executable, "-m", "robot", "--outputdir", str(tmp_path / "robot"),
                    "--report", "NONE", "--log", "NONE", "--console", "none",
                    "--listener", f"allure_robotframework:{robot_results}",
                    "--variable", f"POSRIG_WORKDIR:{tmp_path / 'robot-work'}",
                    str(REPO / "scenarios" / "robot" / "login.robot")],
                   cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    for runner, directory in (("pytest", pytest_results), ("robot", robot_results)):
        results = _results(directory)
        assert len(results) >= 3, f"{runner} left no results"
        wrong = {name: got for name, got in results.items()
                 if got[0] != BROKEN or not got[1].startswith("[Rig defect]")}
        assert wrong == {}, f"{runner}: a missing font must be broken under Rig defect"


@pytest.mark.parametrize(("message", "status", "category"), [
    ("TerminalError: station-1: waited in vain for the response to sale", FAILED, TERMINAL_DEFECT),
    ("RobotError: station-1: robot ALARM:1 (jammed)", BROKEN, STATION_FAULT),
    ("Parent suite setup failed:\nStationBroken: station-1 is broken", BROKEN, STATION_FAULT),
    ("FontMissingError: POSRIG_CJK_FONT='/x.ttf' is not a font file", BROKEN, RIG_DEFECT),
    ("No keyword with name 'Sael' found.", BROKEN, RIG_DEFECT),
    ("declined != approved", FAILED, TERMINAL_DEFECT),  # a BuiltIn Should Be Equal
    ("[Station fault] the host dropped the line", BROKEN, STATION_FAULT),
])
def test_a_robot_failure_is_judged_from_its_message(message, status, category):
    import harness.robot  # noqa: F401  (every driver's error class is known once the library is)
    from harness.verdict import verdict_of_message

    verdict = verdict_of_message(message)
    assert (verdict.status, verdict.category) == (status, category)
