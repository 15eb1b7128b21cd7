"""The screen, fourth witness: what the terminal showed its cardholder must be what it told
the ECR (issue 14, item 3).

``check_screen(station.screen, result)`` waits for the screen's outcome (the profile's
``approved`` or ``declined`` state) and compares it with the terminal's answer over the ECR
link: a screen that says DECLINED while the answer says approved (or the other way round),
or a decline's code on the screen other than the answer's response code, is a
``ScreenDisagrees`` (a terminal defect). A screen that shows neither in time is the
screen's ``ScreenNotShown`` (a terminal defect too: the cardholder was never told).

It takes anything with the answer's ``kind``, ``status``, ``rc`` and ``trace``
(``harness.flows.TransactionResult``), so the flows can call it without this package
knowing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from devices import events
from devices.faults import TerminalDefect
from harness.screen.reader import ScreenReading
from harness.screen.screen import Screen, jpeg_bytes
from harness.screen.watch import Seen

APPROVED, DECLINED = "approved", "declined"


class Answer(Protocol):
    kind: str
    status: str
    rc: str | None
    trace: int | None


class ScreenDisagrees(TerminalDefect):
    """The screen told the cardholder another outcome than the terminal told the ECR."""

    def __init__(self, message: str, reading: ScreenReading):
        super().__init__(message)
        self.reading = reading


def check_screen(screen: Screen, answer: Answer, *, timeout: float = 10.0,
                 approved: str = APPROVED, declined: str = DECLINED,
                 seen: Sequence[Seen] | None = None, require_outcome: bool = True) -> ScreenReading:
    """The screen's outcome agrees with ``answer`` (approved or declined; any other status
    shows neither and is not compared: returns the screen as it is). ``approved`` and
    ``declined`` name the profile's outcome states; the decline's captures a ``code``.

    ``seen``: what a ``ScreenWatch`` saw during the transaction (its ``history``, the screen
    before the transaction first). Every outcome the screen showed since is compared, so a
    screen that said DECLINED and moved on to "remove card" is still caught; only when it
    showed none does the check wait for the screen as it is now.

    ``require_outcome=False`` (the flows): a screen that showed no outcome during the
    transaction and shows none in the next frame is not compared (the step says so and the
    reading is returned) instead of ``ScreenNotShown``: an outcome shown for less than a frame
    cannot be told from a read that fell behind, and only a contradiction is a defect."""
    if answer.status not in (APPROVED, DECLINED):
        return screen.read()
    with events.step(screen.source, f"compare the screen with the terminal's {answer.kind}",
                     trace=answer.trace, answer=answer.status, rc=answer.rc) as step:
        shown = [(entry.reading, entry.frame_jpeg) for entry in (seen or ())[1:]
                 if entry.reading.shows(approved) or entry.reading.shows(declined)]
        if not shown and not require_outcome:
            now = screen.read()
            if not (now.shows(approved) or now.shows(declined)):
                step.attach("screen", now.text)
                step.result = f"not compared: the screen showed no outcome ({now.text})"
                return now
            shown = [(now, None)]
        if not shown:
            shown = [(screen.expect_any((approved, declined), timeout), None)]
        expected = approved if answer.status == APPROVED else declined
        bad = [(r, j, why) for r, j in shown
               if (why := _disagreement(r, expected, answer, approved, declined)) is not None]
        reading, jpeg = (bad[0][0], bad[0][1]) if bad else shown[-1]
        step.attach("screen", " | ".join(r.text for r, _ in shown))
        if bad:
            jpeg = jpeg or (jpeg_bytes(screen.last_frame) if screen.last_frame is not None else None)
            if jpeg is not None:
                step.attach("screen frame", jpeg, "image/jpeg")
            raise ScreenDisagrees(f"{screen.station}: the screen and the terminal's answer to "
                                  f"{answer.kind} trace {answer.trace} disagree: {bad[0][2]} "
                                  f"(screen: {reading.text!r})", reading)
        step.result = "agree"
    return reading


def _disagreement(reading: ScreenReading, expected: str, answer: Answer, approved: str,
                  declined: str) -> str | None:
    """What is wrong with one outcome the screen showed, or None when it agrees."""
    says = approved if reading.shows(approved) else declined
    if says != expected:
        return f"the screen says {says}, the answer {answer.status} (rc {answer.rc})"
    code = reading.groups.get(declined, {}).get("code")
    if says == declined and code is not None and answer.rc is not None and code != answer.rc:
        return f"the screen shows response code {code}, the answer {answer.rc}"
    return None
