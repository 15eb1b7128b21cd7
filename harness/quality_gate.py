"""A quality gate a nightly job can fail on: thresholds over a run's results, checked by
Allure 3's own ``allure quality-gate`` (npm ``allure``, reports/package.json).

Rules, as Allure names them:

- ``maxFailures``: at most this many tests failed or broken;
- ``minTestsCount``: at least this many tests have results (a night where a suite did not
  run at all fails here, not silently);
- ``successRate``: passed / (passed + failed + broken) at least this fraction (``0.95``).

Two ways to use it:

- ``POSRIG_QUALITY_GATE="maxFailures=0 minTestsCount=58"`` in ``posrig run``'s environment:
  after the report is built the gate decides the exit status -- 0 when every rule holds,
  even if a test failed within ``maxFailures``; 1 (and one line per broken rule) otherwise;
  without the variable the exit status stays "0 only when every scenario passed";
- ``python -m harness.quality_gate out --max-failures 0 --min-tests-count 58`` on the results
  of a run already made (``out`` or ``out/allure-results``): exit status 0 or 1 the same way,
  2 for a mistake in the command.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from harness.config import ConfigError
from harness.paths import REPO

#: The variable a nightly job sets to gate ``posrig run`` (see the module's note).
GATE_ENV = "POSRIG_QUALITY_GATE"
ALLURE = REPO / "reports" / "node_modules" / ".bin" / "allure"
CONFIG = REPO / "reports" / "allurerc.mjs"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FAILED_RULE = re.compile(r"^\s*⨯\s+(?P<message>.*?)\s{2,}(?P<rule>\w+)\s*$")


class QualityGateError(ConfigError):
    """The gate could not be checked: bad rules, or the report builder is missing or failed."""


@dataclass(frozen=True)
class GateRules:
    """Allure's rules, by Allure's own names (as the variable spells them); a rule left None
    is not checked."""

    maxFailures: int | None = None
    minTestsCount: int | None = None
    successRate: float | None = None

    @classmethod
    def parse(cls, text: str, source: str = GATE_ENV) -> GateRules:
        """``"maxFailures=0 minTestsCount=58 successRate=0.95"`` (spaces or commas between)."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, float | int] = {}
        for item in re.split(r"[,\s]+", text.strip()):
            if not item:
                continue
            name, sep, raw = item.partition("=")
            if not sep or name not in known:
                raise QualityGateError(f"{source}: {item!r} is not a rule; write name=value with "
                                       f"a name of {', '.join(known)} (e.g. maxFailures=0)")
            values[name] = _number(name, raw, source)
        if not values:
            raise QualityGateError(f"{source} is set but names no rule; e.g. maxFailures=0 minTestsCount=58")
        return cls(**values)  # type: ignore[arg-type]

    def arguments(self) -> list[str]:
        """The rules as ``allure quality-gate`` options."""
        out: list[str] = []
        for option, value in (("--max-failures", self.maxFailures),
                              ("--min-tests-count", self.minTestsCount),
                              ("--success-rate", self.successRate)):
            if value is not None:
                out += [option, str(value)]
        return out

    def __str__(self) -> str:
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                        if getattr(self, f.name) is not None)


def _number(name: str, raw: str, source: str) -> float | int:
    try:
        value: float | int = float(raw) if name == "successRate" else int(raw)
    except ValueError:
        what = "a fraction such as 0.95" if name == "successRate" else "a whole number"
        raise QualityGateError(f"{source}: {name}={raw!r} must be {what}") from None
    if value < 0 or (name == "successRate" and value > 1):
        raise QualityGateError(f"{source}: {name}={raw} is out of range"
                               + ("; the success rate is a fraction: 0.95 for 95 %" if name == "successRate"
                                  else ""))
    return value


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    #: each broken rule in Allure's words, with the rule's name: "The number of failed ..."
    broken_rules: tuple[str, ...] = ()


def results_dir(path: Path) -> Path:
    """``out`` (what ``posrig run --out`` names) or the results directory itself."""
    inner = path / "allure-results"
    return inner if inner.is_dir() else path


def check(results: Path, rules: GateRules, *, timeout_s: float = 600.0) -> GateVerdict:
    """Run ``allure quality-gate`` over ``results`` with ``rules``."""
    if not ALLURE.exists():
        raise QualityGateError("the report builder is not installed; run `npm ci --prefix reports`")
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise QualityGateError(f"{results}: no Allure results here; give posrig run's --out directory")
    command = [str(ALLURE), "quality-gate", str(results), "--config", str(CONFIG), *rules.arguments()]
    done = subprocess.run(command, cwd=results, capture_output=True, text=True, timeout=timeout_s)
    text = _ANSI.sub("", done.stdout + done.stderr)
    broken = tuple(f"{m['message']} ({m['rule']})" for line in text.splitlines()
                   if (m := _FAILED_RULE.match(line)))
    if done.returncode == 0:
        return GateVerdict(True)
    if done.returncode == 1 and broken:
        return GateVerdict(False, broken)
    raise QualityGateError(f"allure quality-gate ended with status {done.returncode}: {text.strip()[-1500:]}")


def gate_from_env(environ: Mapping[str, str]) -> GateRules | None:
    """The rules ``POSRIG_QUALITY_GATE`` sets, None when unset; QualityGateError (one line
    naming what to write) when they cannot be read -- posrig run asks before it starts."""
    text = environ.get(GATE_ENV)
    return GateRules.parse(text) if text is not None and text.strip() else None


def run_status(results: Path, say: Callable[[str], None], *, passed: bool, completed: bool,
               environ: Mapping[str, str] | None = None) -> int:
    """``posrig run``'s exit status once its report is built. ``passed``: every scenario
    passed (the status without a gate); ``completed``: the run did its work (report built,
    no runner crashed) -- a gate never makes an incomplete run pass."""
    import os

    rules = gate_from_env(os.environ if environ is None else environ)
    if rules is None:
        return 0 if passed else 1
    verdict = check(results, rules)
    if verdict.passed:
        say(f"quality gate passed ({rules})")
    for rule in verdict.broken_rules:
        say(f"quality gate failed: {rule}")
    return 0 if verdict.passed and completed else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.quality_gate",
        description="Check a posrig run's results against thresholds (Allure's quality gate). "
                    "Exit status: 0 when every rule holds, 1 when one does not, 2 for a mistake "
                    "in the command.")
    parser.add_argument("out", type=Path, help="posrig run's --out directory (or its allure-results)")
    parser.add_argument("--max-failures", type=int, help="at most this many failed or broken tests")
    parser.add_argument("--min-tests-count", type=int, help="at least this many tests with results")
    parser.add_argument("--success-rate", type=float,
                        help="passed / (passed + failed + broken) at least this fraction, e.g. 0.95")
    args = parser.parse_args(argv)
    given = {"maxFailures": args.max_failures, "minTestsCount": args.min_tests_count,
             "successRate": args.success_rate}
    text = " ".join(f"{k}={v}" for k, v in given.items() if v is not None)
    try:
        rules = GateRules.parse(text, "options")
        verdict = check(results_dir(args.out), rules)
    except QualityGateError as exc:
        print(f"posrig: {exc}", file=sys.stderr)
        return 2
    if verdict.passed:
        print(f"posrig: quality gate passed ({rules})")
    for rule in verdict.broken_rules:
        print(f"posrig: quality gate failed: {rule}")
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
