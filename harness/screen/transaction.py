"""The screen in the rig's card transactions (harness/flows/sale.py): prompts and the witness.

``watch_transaction(station, kind)`` watches a station's screen for the length of one card
transaction, when the station has a display camera and its profile screen states (else it
yields None and costs nothing). With ``prompts: screen`` in the profile, the prompts the
screen shows are the terminal's prompts: the driver is told to take them from there
(``prompts_from("screen")``: no console line, no inference) and each prompt the watch sees
is handed to it (``report_prompt``), so the flows' prompt loop runs unchanged.

``screen_witness(station, result, watch)`` is the fourth witness after the final answer:
``check_screen`` with every outcome the screen showed during the transaction. Only a
contradiction fails: a screen that showed no outcome while watched (and shows none in the
next frame) is not compared, and a WARNING step says so on the test.

The station is taken by what it has (``screen``, ``profile``, ``terminal``, ``name``): this
package does not import the station's module, which imports it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from devices import events
from harness.screen.screen import ScreenConfigError
from harness.screen.watch import ScreenWatch
from harness.screen.witness import APPROVED, DECLINED, check_screen

#: How long ``check_screen`` may wait for an outcome (the flows read only the next frame:
#: ``require_outcome=False``).
OUTCOME_TIMEOUT_S = 10.0


def watched(station: Any) -> bool:
    """Whether the station's transactions are watched: a display camera and screen states."""
    screen = getattr(station, "screen", None)
    return screen is not None and screen.profile is not None


@contextlib.contextmanager
def watch_transaction(station: Any, kind: str) -> Iterator[ScreenWatch | None]:
    """The screen watched while the block runs (None: the station has no screen to watch).
    On the way out the watch's evidence becomes a step; a camera failure during the watch
    is raised (a station fault) unless the block already raised."""
    if not watched(station):
        if station.profile.prompts == "screen":
            raise ScreenConfigError(f"{station.name}: {station.profile.source} says prompts: screen "
                                    "but the inventory names no display: camera for the station "
                                    "(docs/screen.md)")
        yield None
        return
    on_prompt = None
    if station.profile.prompts == "screen":
        terminal = station.terminal
        if not hasattr(terminal, "report_prompt"):
            raise ScreenConfigError(f"{station.name}: prompts: screen needs a terminal driver that "
                                    f"takes prompts from outside (Concert); {type(terminal).__name__} "
                                    "reports its own")
        terminal.prompts_from("screen")

        def on_prompt(prompt: str, _reading: Any) -> None:
            terminal.report_prompt(prompt)

    watch = ScreenWatch(station.screen, on_prompt=on_prompt, name=kind).start()
    failed = True
    try:
        yield watch
        failed = False
    finally:
        try:
            watch.stop(raise_failure=not failed)
        finally:
            watch.step(f"{station.name}/screen")


def screen_witness(station: Any, result: Any, watch: ScreenWatch | None) -> None:
    """The screen against the terminal's final answer (approved or declined; other
    outcomes are not compared), when the profile defines both outcome states."""
    if watch is None or result.status not in (APPROVED, DECLINED):
        return
    names = {s.name for s in station.screen.profile.states}
    if not {APPROVED, DECLINED} <= names:
        events.log(f"{station.name}/screen", "the screen is not compared with the answer: the "
                                             f"profile defines no {APPROVED} and {DECLINED} states")
        return
    reading = check_screen(station.screen, result, timeout=OUTCOME_TIMEOUT_S, seen=watch.seen(),
                           require_outcome=False)
    if not (reading.shows(APPROVED) or reading.shows(DECLINED)):
        # said on the test as the slip check says a weaker check: the screen was not compared
        states = " -> ".join(watch.states()) or "no frame read"
        with events.step(f"{station.name}/screen", f"WARNING: the screen of the {result.kind} was not "
                         "compared with the answer: it showed no outcome while watched",
                         seen=states, now=reading.text):
            pass


def expect_screen(station: Any, state: str, timeout: float = 10.0) -> Any:
    """``station.screen.expect(state, timeout)``, for a station that has a display camera
    (the Robot keyword `Screen Should Show`); without one, a ``ScreenConfigError``."""
    if getattr(station, "screen", None) is None:
        raise ScreenConfigError(f"{station.name}: the test looks at the terminal's screen but the "
                                "inventory names no display: camera for the station (docs/screen.md)")
    return station.screen.expect(state, timeout)
