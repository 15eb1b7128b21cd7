"""Whose fault an error is: the one fault taxonomy every verdict comes from.

A certification rig sells its verdict. *Failed* must mean the terminal under test did
wrong; *broken* that the bench or the rig could not test it, and never counts against the
terminal. Every error a driver, a simulator's control or the harness raises derives from
one of three classes, and ``classify`` turns any exception into a ``Verdict``; the pytest
plugin, the Robot Framework library and listener and the step reporter all ask it, and the
report's categories (reports/categories.json) are generated from ``CATEGORIES``.

- ``TerminalDefect``: what the device under test said, sent, showed or printed is wrong, or
  it said nothing when it had to (an AssertionError, so every runner draws it *failed*).
- ``StationFault``: the bench failed -- the robot, the camera, the relay, a port, a link,
  the debug console, the lab host. *Broken*, and the station takes no more tests until it
  is mended (as a labgrid strategy goes broken).
- ``RigDefect``: posrig itself -- a bug, a missing package or font, a bad inventory or
  profile, a test script the host cannot follow. *Broken*; the station is fine.

An exception outside the taxonomy is a rig defect (a bug: some code let a raw error out),
except a bare ``AssertionError`` -- a test's own ``assert`` about the terminal -- which is a
terminal defect. An interrupted run (Ctrl-C) is broken with cause "interrupted".
"""

from __future__ import annotations

from dataclasses import dataclass

FAILED, BROKEN = "failed", "broken"


class TerminalDefect(AssertionError):
    """The terminal under test did wrong: a wrong or missing answer, frame, prompt or slip."""

    category = "Terminal defect"


class StationFault(Exception):
    """The bench could not run the test: robot, camera, relay, a port, a link, a lab host."""

    category = "Station fault"


class RigDefect(Exception):
    """posrig itself could not run the test: a bug, a missing package or font, bad data."""

    category = "Rig defect"


TERMINAL_DEFECT, STATION_FAULT, RIG_DEFECT = (TerminalDefect.category, StationFault.category,
                                              RigDefect.category)


@dataclass(frozen=True)
class Verdict:
    status: str  # "failed" or "broken"
    category: str  # one of CATEGORIES' names
    quarantine: bool  # the station takes no more tests (a station fault)
    cause: str  # one line: the exception's class and first line

    @property
    def failed(self) -> bool:
        return self.status == FAILED


@dataclass(frozen=True)
class Category:
    name: str
    status: str
    description: str

    @property
    def tag(self) -> str:
        """What starts every status message of this category, so that the report's
        categories can be matched on it (reports/categories.json is generated from this)."""
        return f"[{self.name}]"


CATEGORIES: tuple[Category, ...] = (
    Category(TERMINAL_DEFECT, FAILED,
             "The terminal did something other than the certification plan requires: a wrong "
             "answer or none, a garbled frame, a prompt or slip that is wrong or missing, a "
             "witness (host journal, receipt, screen) that disagrees."),
    Category(STATION_FAULT, BROKEN,
             "The bench could not run the test: robot jam, a port gone, the link or console lost, "
             "the camera lost or a slip it could not read, the lab host unreachable. The station "
             "took no more tests until mended. Not the terminal's fault."),
    Category(RIG_DEFECT, BROKEN,
             "posrig itself could not run the test: a bug in the rig, a missing package or font, "
             "a bad inventory or profile, an interrupted run. Not the terminal's fault: report it "
             "to the rig's maintainers or fix the configuration."),
)


def describe(exc: BaseException) -> str:
    """One line naming an exception: its class and the first line of its message."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300] if first else type(exc).__name__


def _taxonomy_class(exc: BaseException) -> type | None:
    # StationFault before TerminalDefect: an error that is both (none should be) keeps the
    # station out of service rather than blaming the terminal.
    for cls in (StationFault, RigDefect, TerminalDefect):
        if isinstance(exc, cls):
            return cls
    return None


def classify(exc: BaseException) -> Verdict:
    """The verdict an exception gives the test (or the step) it ended."""
    cause = describe(exc)
    if isinstance(exc, KeyboardInterrupt):
        return Verdict(BROKEN, RIG_DEFECT, False, "interrupted: the run was stopped (Ctrl-C / SIGINT)")
    cls = _taxonomy_class(exc)
    if cls is None and isinstance(exc.__cause__, BaseException):
        # ``raise SomeError(...) from fault``: the explicit cause says whose fault it was
        cls = _taxonomy_class(exc.__cause__)
    if cls is StationFault:
        return Verdict(BROKEN, STATION_FAULT, True, cause)
    if cls is RigDefect:
        return Verdict(BROKEN, RIG_DEFECT, False, cause)
    if cls is TerminalDefect or isinstance(exc, AssertionError):
        return Verdict(FAILED, TERMINAL_DEFECT, False, cause)
    return Verdict(BROKEN, RIG_DEFECT, False, cause)


def classify_type(cls: type[BaseException], cause: str) -> Verdict:
    """The verdict an exception of class ``cls`` would give, without one at hand (Robot keeps
    only the message of an error, which names its class)."""
    for root, status, quarantine in ((StationFault, BROKEN, True), (RigDefect, BROKEN, False),
                                     (TerminalDefect, FAILED, False)):
        if issubclass(cls, root):
            return Verdict(status, root.category, quarantine, cause[:300])
    if issubclass(cls, AssertionError):
        return Verdict(FAILED, TERMINAL_DEFECT, False, cause[:300])
    return Verdict(BROKEN, RIG_DEFECT, False, cause[:300])


def classify_name(type_names: tuple[str, ...] | list[str]) -> Verdict | None:
    """The verdict from an exception's class and base-class names (``type.__mro__`` names),
    as a step event that crossed a process boundary carries them; None when they name no
    class of the taxonomy and are not an AssertionError."""
    names = set(type_names)
    for cls, status, quarantine in ((StationFault, BROKEN, True), (RigDefect, BROKEN, False),
                                    (TerminalDefect, FAILED, False)):
        if cls.__name__ in names:
            return Verdict(status, cls.category, quarantine, next(iter(type_names), cls.__name__))
    if "AssertionError" in names:
        return Verdict(FAILED, TERMINAL_DEFECT, False, next(iter(type_names), "AssertionError"))
    return None
