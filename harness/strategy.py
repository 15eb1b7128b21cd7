"""The station as a strategy, as labgrid's strategies are: states, transitions, a broken latch.

Flows ask for a state (``transition``); they never write one. The strategy learns where the
bench is by looking, not by bookkeeping: the relay says whether the terminal has power, the
terminal's ``status`` says whether it booted, who is logged in and whether it signed in,
the terminal driver says whether a request is still unanswered. So a scenario that powers
the terminal off or signs it in by hand leaves nothing stale behind.

After a station fault (devices/faults.py: robot, camera, relay, a port, a link, the lab host)
the strategy latches *broken* with its cause: every later test of the station is skipped
with that cause, in pytest and in Robot alike, until the bench is mended (a new run).
``restore()`` runs before the next test: a transaction left pending is cancelled on the
keypad, the card goes back to its slot, the robot homes, no host behaviour stays scripted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING

from devices import events
from devices.faults import StationFault, TerminalDefect, classify, describe

if TYPE_CHECKING:
    from harness.station import Station


class StationState(StrEnum):
    OFF = "off"  # the relay cut the terminal's power
    BOOTING = "booting"  # powered, not answering yet
    IDLE = "idle"  # up, nobody logged in
    LOGGED_IN = "logged_in"
    SIGNED_IN = "signed_in"  # working keys loaded: may take cards
    IN_TRANSACTION = "in_transaction"  # a request is still unanswered
    BROKEN = "broken"


#: How far each state is along the way to taking a card: a transition climbs it.
_LADDER = (StationState.OFF, StationState.BOOTING, StationState.IDLE, StationState.LOGGED_IN,
           StationState.SIGNED_IN)


#: How long a terminal may take to answer a transaction CANCEL ended, before it is restarted.
CANCEL_ANSWER_S = 10.0


class StationBroken(StationFault):
    """The station cannot run tests: an infrastructure failure, not a terminal defect."""


class StationStrategy:
    def __init__(self, station: Station):
        self.station = station
        self.broken_reason: str | None = None
        self._powered: bool | None = None  # None: not cut by the rig since it opened the bench

    # -- the broken latch -------------------------------------------------------------------
    def mark_broken(self, reason: str) -> None:
        """Latch *broken*; the first cause is kept (later errors are its consequences)."""
        if self.broken_reason is None:
            self.broken_reason = reason
            events.log(f"{self.station.name}/station", f"out of service: {reason}")

    def check_usable(self) -> None:
        if self.broken_reason is not None:
            raise StationBroken(f"{self.station.name} is broken ({self.broken_reason}); "
                                "it takes no more tests until the bench is fixed")

    # -- where the bench is -----------------------------------------------------------------
    @property
    def state(self) -> StationState:
        """The state as far as it is known without asking the terminal."""
        if self.broken_reason is not None:
            return StationState.BROKEN
        if self._powered is False:
            return StationState.OFF
        if self.station.terminal.outstanding():
            return StationState.IN_TRANSACTION
        return StationState.IDLE

    def observe(self) -> StationState:
        """Ask the terminal where it is (``status``). A terminal whose dialect does not report
        login or sign-in (Concert) reads as IDLE: climbing from there is always safe."""
        self.check_usable()
        if self._powered is False:
            return StationState.OFF
        if self.station.terminal.outstanding():
            return StationState.IN_TRANSACTION
        from harness.flows.session import status

        data = status(self.station).data
        if data.get("signed_in"):
            return StationState.SIGNED_IN
        if data.get("logged_in"):
            return StationState.LOGGED_IN
        return StationState.IDLE

    def powered(self, on: bool) -> None:
        """What the relay was last told (called by the power flows, which own the relay).
        Either way the terminal's RAM is gone, and with it any transaction it was running."""
        self._powered = on
        self.station.terminal.abandon_outstanding()

    # -- transitions --------------------------------------------------------------------------
    def transition(self, target: StationState | str) -> None:
        """Bring the station to ``target`` from whatever state it is in. A station fault on
        the way latches *broken*; a terminal that refuses (login, sign-in) is a terminal
        defect, raised as the flow raises it."""
        from harness import flows

        target = StationState(target)
        self.check_usable()
        if target in (StationState.BROKEN, StationState.IN_TRANSACTION, StationState.BOOTING):
            raise ValueError(f"{target} is reached by what happens at the bench, not asked for")
        with events.step(f"{self.station.name}/station", f"bring the station to {target}"), self.guard():
            if target is StationState.OFF:
                flows.power_off(self.station)
                return
            now = self.observe()
            if now is StationState.OFF:
                flows.power_on(self.station)
                now = self.observe()
            if now is StationState.IN_TRANSACTION:
                self.restore()
                now = self.observe()
            if _LADDER.index(target) < _LADDER.index(now):
                flows.power_cycle(self.station)  # down the ladder: only a restart forgets
                now = StationState.IDLE
            if target in (StationState.LOGGED_IN, StationState.SIGNED_IN) and now is StationState.IDLE:
                response = flows.login(self.station)
                if not response.ok:
                    raise flows.FlowError(f"{self.station.name}: operator login refused: {response.data}")
            if target is StationState.SIGNED_IN and now is not StationState.SIGNED_IN:
                result = flows.sign_in(self.station, log_in=False)
                if not result.ok:
                    raise flows.FlowError(f"{self.station.name}: sign-in failed: {result}")

    def restore(self) -> None:
        """Between tests: no transaction pending, card home, robot homed, host unscripted.
        A failure here is the station's: it latches *broken* and the error travels up."""
        st = self.station
        with events.step(f"{st.name}/station", "restore the bench"), self.guard(always_quarantine=True):
            st.host.clear_script(st.tid)  # an unused rule must not hit the next test
            robot = st.robot
            if st.terminal.outstanding() and self._powered is not False:
                # a sale left waiting for a card or a PIN: CANCEL on the keypad ends it
                if not robot.homed:
                    robot.home()
                if robot.holding is not None:
                    robot.return_card()
                robot.press_keys(["cancel"])
                try:
                    st.terminal.settle_outstanding(timeout=min(st.profile.response_timeout,
                                                               CANCEL_ANSWER_S))
                except TerminalDefect:
                    if st.power is None:
                        raise
                    # a terminal that will not end it (gone silent mid-sale: the test that left it
                    # failed it already) is restarted, as an operator would; only a terminal
                    # that does not come back takes the station out of service
                    from harness import flows

                    flows.power_cycle(st)
            if not robot.homed:
                robot.home()
            if robot.holding is not None:
                robot.return_card()
            robot.home()

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        """Around a flow: a terminal gone silent whose relay reports it off, though the rig
        never cut it, lost its power at the bench -- a station fault, not the terminal's."""
        try:
            yield
        except TerminalDefect as exc:
            relay = self.station.power
            if relay is None or self._powered is False:
                raise
            if not relay.is_on():  # a relay whose port is gone raises its own station fault
                self._powered = False
                self.station.terminal.abandon_outstanding()
                raise StationBroken(
                    f"{self.station.name}: the terminal lost its power mid-flow: the relay reports "
                    f"it off and the rig did not cut it ({describe(exc)}); check the supply and "
                    "the relay") from exc
            raise

    def guard(self, *, always_quarantine: bool = False) -> _Guard:
        return _Guard(self, always_quarantine)


class _Guard:
    """Latch *broken* when a station fault (or, during restore, anything) leaves the block."""

    def __init__(self, strategy: StationStrategy, always_quarantine: bool):
        self.strategy, self.always = strategy, always_quarantine

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or isinstance(exc, StationBroken) or not isinstance(exc, Exception):
            return False
        verdict = classify(exc)
        if verdict.quarantine:
            self.strategy.mark_broken(verdict.cause)
        elif self.always:
            self.strategy.mark_broken(f"teardown could not restore the bench: {verdict.cause}")
        return False
