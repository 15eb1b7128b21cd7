"""The fault-injection matrix's cases, and how each is injected into the virtual lab.

Shared by the pytest lanes (test_fault_lanes.py), the Robot Framework keywords
(FaultLibrary.py) and the driver (bench/faults.py). A *case* is one fault on one device at
one phase of the flow it interrupts, with the verdict it should give the test it hits:

- ``failed/Terminal defect``: the terminal under test did wrong (a garbled frame, silence
  after the card, a wrong slip, no slip, no boot);
- ``broken/Station fault``: the bench could not run the test (robot, camera, relay, a
  port, the console, the lab's acquirer host, the bench's power) -- the station must be
  quarantined with that cause and its remaining tests skipped;
- ``broken/Rig defect``: posrig itself (a test's script the host cannot follow, an
  unknown card, a bad argument, a missing font, an interrupted run);
- ``passed``: a transient the rig must ride out (one bad LRC repeated by the link, a
  camera stream dropped once and reopened).

Faults are injected only through the simulators' own controls (the terminal's fault
table, the robot's ``inject``, the camera's ``drop_clients``/``stop``, a device's ``stop``)
or by wrapping one simulator method of one instance for the length of a test (``_Patch``):
a phase of a sale is reached by watching the simulated terminal's debug console lines, so a
fault lands exactly "after the card", "after the request" or "while printing" whatever the
timing. The lab's acquirer host is *broken*, never scripted: stopped (``host-down``), or
hung, hanging up, or spoiling its answers through devices/host/breakage.py -- a host's own
failure, not the test's stimulus (a test's script is what the host was asked to do, and the
rig files the outcome as the terminal's; see harness/host_blame.py).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

TD, SF, RD, PASSED = "failed/Terminal defect", "broken/Station fault", "broken/Rig defect", "passed"
SKIPPED = "skipped"

#: Debug-console lines of the simulated terminal that mark a sale's phases
#: (docs/posrig-ecr-1.md: every event is echoed on the console before it goes out).
PHASES: dict[str, str] = {
    "card": r"^PROMPT enter_pin",  # the card is read; the PIN prompt is about to go out
    "processing": r"^DISPLAY 处理中 PROCESSING",  # PIN typed, request built, not yet online
    "online": r"^ISO8583 -> 0200",  # the sale's request has gone to the host
    "answer": r"^ISO8583 <- 0210",  # the host's answer is in
    "printing": r"^PRINTING started",  # the slip is being printed
    "signin-request": r"^ISO8583 -> 0800",  # the sign-in's request has gone to the host
}
#: Phases armed before the flow starts (no console line to wait for).
AT_ONCE = ("start", "boot", "signin", "settle")
SALE_AMOUNT = 2_000
CARD = "cup-debit-chip"


@dataclass(frozen=True)
class Case:
    id: str  # "<fault>@<phase>"
    device: str  # terminal, ecr, console, robot, camera, relay, host, power, rig
    fault: str  # an injector of INJECTORS, or a rig case handled by the flow itself
    phase: str  # start, card, processing, online, answer, printing, boot, signin, settle
    flow: str  # sale, signin, settle, boot, cut_sale, rig_script, rig_card, rig_entry
    expected: str  # TD, SF, RD or PASSED
    why: str

    @property
    def quarantines(self) -> bool:
        return self.expected == SF

    @property
    def ends_lane(self) -> bool:
        """Run last in its lane: a fault that takes the station out of service, or one
        that leaves the terminal hung mid-sale (the bench's restore may then take the
        station out of service too), so that no other case of the lane is lost with it."""
        return self.quarantines or self.fault == "terminal-silent"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _c(fault: str, phase: str, device: str, flow: str, expected: str, why: str) -> Case:
    return Case(f"{fault}@{phase}", device, fault, phase, flow, expected, why)


_SALE_PHASES = ("start", "card", "answer")

CASES: tuple[Case, ...] = (
    # -- the ECR link and the terminal itself ---------------------------------------------
    *(_c("ecr-port-vanishes", p, "ecr", "sale", SF, "the ECR port (cable, USB) vanished mid-frame")
      for p in _SALE_PHASES),
    _c("ecr-port-vanishes", "signin", "ecr", "signin", SF, "the ECR port vanished mid-frame"),
    _c("ecr-unplugged", "start", "ecr", "sale", SF, "the ECR port is gone before the sale"),
    *(_c("garbled-frame", p, "terminal", "sale", TD, "the terminal sent a frame that is not its dialect")
      for p in _SALE_PHASES),
    _c("bad-lrc-once", "answer", "ecr", "sale", PASSED, "one bad LRC: the link repeats the frame"),
    *(_c("terminal-silent", p, "terminal", "sale", TD, "the terminal said nothing when it had to")
      for p in ("card", "online", "answer")),
    _c("wrong-amount-on-slip", "start", "terminal", "sale", TD, "the slip's amount is wrong"),
    _c("slip-never-printed", "printing", "terminal", "sale", TD,
       "the terminal said it printed and no slip came out"),
    _c("faded-print", "printing", "terminal", "sale", TD, "the printhead prints faded"),
    _c("dead-column", "printing", "terminal", "sale", TD, "a printhead element is dead"),
    _c("paper-out", "start", "terminal", "sale", SF,
       "the bench ran out of paper: the terminal said so, a technician must load a roll"),
    _c("never-boots", "boot", "terminal", "boot", TD, "the terminal never comes up after power on"),
    _c("stuck-in-self-test", "boot", "terminal", "boot", TD, "the terminal halts in its self-check"),
    _c("console-gone", "boot", "console", "boot", SF, "the debug console's port is gone"),
    # -- the card robot ---------------------------------------------------------------------
    *(_c("robot-jam", p, "robot", "sale", SF, "the card robot jammed") for p in _SALE_PHASES),
    _c("robot-missed-pick", "start", "robot", "sale", SF, "the gripper missed the card"),
    *(_c("robot-lost-home", p, "robot", "sale", SF, "the robot's controller restarted (brown-out)")
      for p in _SALE_PHASES),
    *(_c("robot-port-gone", p, "robot", "sale", SF, "the robot's serial port is gone")
      for p in _SALE_PHASES),
    # -- the camera -------------------------------------------------------------------------
    *(_c("camera-lost", p, "camera", "sale", SF, "the camera's stream is gone for good")
      for p in ("start", "printing")),
    *(_c("camera-stalled", p, "camera", "sale", SF, "the camera's stream stalls: no frames")
      for p in ("start", "printing")),
    *(_c("camera-frozen", p, "camera", "sale", SF,
         "the camera repeats its last frame, byte for byte (a hung capture device)")
      for p in ("start", "printing")),
    _c("camera-drop-once", "printing", "camera", "sale", PASSED, "the stream dropped once and reopened"),
    # -- the power relay ------------------------------------------------------------------
    _c("relay-port-gone", "boot", "relay", "boot", SF, "the relay's serial port is gone"),
    _c("relay-port-gone", "card", "relay", "cut_sale", SF,
       "the relay's port is gone when the test must cut the power"),
    # -- the acquirer host (the rig's own, a lab host) --------------------------------------
    *(_c(f"host-{f}", p, "host", flow, SF, why)
      for f, why in (("silent", "the lab's acquirer host hung on the request: never answered"),
                     ("hangs-up", "the lab's acquirer host dropped the line unanswered (crashed on it)"))
      for p, flow in (("signin", "signin"), ("start", "sale"), ("settle", "settle"))),
    _c("host-bad-mac", "start", "host", "sale", SF,
       "the lab's host answered with a bad MAC (its keys corrupted)"),
    _c("host-wrong-amount", "start", "host", "sale", SF,
       "the lab's host answered another amount (a host bug)"),
    _c("host-down", "signin", "host", "signin", SF, "the lab's acquirer host is down"),
    _c("host-down", "start", "host", "sale", SF, "the lab's acquirer host is down"),
    # -- the bench's power, cut by no one the rig asked ----------------------------------
    *(_c("power-cut", p, "power", "sale", SF, "the bench's power failed mid-sale")
      for p in ("processing", "online", "answer", "printing")),
    _c("power-cut", "signin-request", "power", "signin", SF, "the bench's power failed during sign-in"),
    # -- posrig itself ----------------------------------------------------------------------
    _c("rig-bad-host-script", "start", "rig", "rig_script", RD,
       "a test scripted a response code the host cannot send"),
    _c("rig-unknown-card", "start", "rig", "rig_card", RD, "a test named a card the lab does not have"),
    _c("rig-bad-entry", "start", "rig", "rig_entry", RD,
       "a test asked for an entry mode that does not exist"),
)
BY_ID = {c.id: c for c in CASES}
assert len(BY_ID) == len(CASES), "case ids must be unique"

#: One case per expected verdict, both runners: the quick subset (tests/test_fault_matrix.py).
QUICK = ("wrong-amount-on-slip@start", "rig-bad-host-script@start", "robot-jam@start",
         "ecr-port-vanishes@card")


# -- lanes: what one station runs in one run ---------------------------------------------------

CLEAN_START, RECONCILE, FOLLOWER = "clean-start", "reconcile", "follower"


def lanes(cases: list[Case], stations: int) -> list[list[str]]:
    """Spread ``cases`` over lanes, one lane a station's whole run: a clean start, the faults
    that leave the station in service, a settlement that must reconcile, then at most one
    fault that takes the station out of service (or hangs its terminal), and a follower
    that must be skipped after a station fault (and run after anything else).

    There are as many lanes as faults that end one (at least ``stations``); the other
    faults are dealt out over them."""
    quarantining = [c for c in cases if c.ends_lane]
    others = [c for c in cases if not c.ends_lane]
    count = max(len(quarantining), min(stations, max(1, len(others))))
    out: list[list[str]] = [[CLEAN_START] for _ in range(count)]
    for i, case in enumerate(others):
        out[i % count].append(case.id)
    for i, lane in enumerate(out):
        lane.append(RECONCILE)
        if i < len(quarantining):
            lane += [quarantining[i].id, FOLLOWER]
    return out


def runs(lane_list: list[list[str]], stations: int) -> list[list[list[str]]]:
    """Lanes in runs of at most ``stations`` (a run is one invocation on a lab of that many
    stations), as even as they go: 41 lanes on 8 stations are runs of 7, 7, 7, 7, 7 and 6."""
    count = -(-len(lane_list) // stations)
    return [lane_list[k::count] for k in range(count)] if lane_list else []


# -- injection ---------------------------------------------------------------------------------

#: The host's own failures (devices/host/breakage.py modes) the host cases put on it: the
#: terminal blames the host, and the host's journal shows no request, or its own fault.
HOST_BREAKAGES = {"host-silent": "hang", "host-hangs-up": "hang_up", "host-bad-mac": "bad_mac",
                  "host-wrong-amount": "wrong_amount"}

class _Patch:
    """One method of one simulator instance replaced for the length of a test."""

    def __init__(self, obj: Any, name: str, replacement: Callable[..., Any]):
        self.obj, self.name = obj, name
        self.had = name in vars(obj)
        self.before = vars(obj).get(name)
        setattr(obj, name, replacement)

    def undo(self) -> None:
        if self.had:
            setattr(self.obj, self.name, self.before)
        else:
            vars(self.obj).pop(self.name, None)


@dataclass
class Injection:
    """A fault armed on a station; ``clear()`` takes back what can be taken back."""

    case: Case
    undo: list[Callable[[], None]]
    fired: threading.Event

    def clear(self) -> None:
        while self.undo:
            with contextlib.suppress(Exception):  # a device the fault stopped may not take its undo
                self.undo.pop()()


def _at_phase(sim: Any, phase: str, action: Callable[[], None], fired: threading.Event,
              undo: list[Callable[[], None]]) -> None:
    """Run ``action`` once, now (``AT_ONCE`` phases) or in the simulated terminal's own
    thread just after it writes the phase's console line."""
    if phase not in PHASES:
        action()
        fired.set()
        return
    pattern = re.compile(PHASES[phase])
    terminal = sim.terminal
    original = terminal.console  # the bound method (or an earlier patch)

    def console(text: str) -> None:
        original(text)
        if not fired.is_set() and pattern.search(text):
            fired.set()
            action()

    undo.append(_Patch(terminal, "console", console).undo)


def arm(case: Case, station: Any, sim: Any, virtual_lab: Any) -> Injection:
    """Arm ``case`` on ``station`` (harness Station) through its simulators ``sim``
    (harness.virtual_lab.VirtualStation) and the lab's host (``virtual_lab.host``)."""
    from devices.host.breakage import break_host
    from devices.robot.sim import Fault

    undo: list[Callable[[], None]] = []
    fired = threading.Event()
    term = sim.terminal
    table = term.faults
    f = case.fault

    def table_fault(name: str, times: int | None = 1) -> Callable[[], None]:
        def action() -> None:
            table.set(name, times=times)
        undo.append(lambda: table.clear(name))
        return action

    action: Callable[[], None] | None
    if f == "ecr-port-vanishes":
        action = table_fault("port_vanishes_mid_frame")
    elif f == "ecr-unplugged":
        action = term.unplug
    elif f == "bad-lrc-once":
        action = table_fault("corrupt_lrc")
    elif f == "garbled-frame":
        frontend = term.frontend
        patches: list[_Patch] = []

        def garble() -> None:
            send = frontend.send_frame

            def garbled(payload: bytes) -> None:
                patches[0].undo()  # one frame only
                send(b'\xfe{"event": "display", "lines": [\xff')
            patches.append(_Patch(frontend, "send_frame", garbled))
        undo.append(lambda: [p.undo() for p in patches])
        action = garble
    elif f == "terminal-silent":
        frontend = term.frontend
        patches = []
        undo.append(lambda: [p.undo() for p in patches])
        action = lambda: patches.append(_Patch(frontend, "send_frame", lambda payload: None))  # noqa: E731
    elif f == "wrong-amount-on-slip":
        action = table_fault("wrong_amount_on_slip")
    elif f == "faded-print":
        action = table_fault("faded_print")
    elif f == "dead-column":
        action = table_fault("dead_column")
    elif f == "paper-out":
        action = table_fault("out_of_paper", times=None)
    elif f == "never-boots":
        action = table_fault("no_power", times=None)
    elif f == "stuck-in-self-test":
        action = table_fault("stuck_in_self_test", times=None)
    elif f == "slip-never-printed":
        model = sim.model
        patches = []
        undo.append(lambda: [p.undo() for p in patches])
        action = lambda: patches.append(_Patch(model, "print_slip", lambda slip: None))  # noqa: E731
    elif f == "console-gone":
        action = term.console_port.close
    elif f in ("robot-jam", "robot-missed-pick", "robot-lost-home"):
        fault = {"robot-jam": Fault.JAM, "robot-missed-pick": Fault.MISSED_PICK,
                 "robot-lost-home": Fault.LOST_HOME}[f]
        action = lambda: sim.robot.inject(fault)  # noqa: E731
    elif f == "robot-port-gone":
        action = sim.robot.stop
    elif f == "camera-lost":
        action = sim.camera.stop
    elif f == "camera-frozen":
        undo.append(sim.camera.thaw)
        action = sim.camera.freeze
    elif f == "camera-stalled":
        camera = sim.camera
        thaw = threading.Event()
        current = camera._current

        def frozen() -> Any:
            # the stream's loop asks for its next frame and waits: no frame goes out
            while not thaw.wait(0.05) and not camera._stopping.is_set():
                pass
            return current()
        patches = []

        def freeze() -> None:
            patches.append(_Patch(camera, "_current", frozen))
        undo.append(lambda: (thaw.set(), [p.undo() for p in patches]))
        action = freeze
    elif f == "camera-drop-once":
        action = sim.camera.drop_clients
    elif f == "relay-port-gone":
        action = sim.power.stop
    elif f in HOST_BREAKAGES:
        host = virtual_lab.host
        broken: list[Any] = []

        def break_the_host() -> None:
            broken.append(break_host(host, HOST_BREAKAGES[f], tid=station.tid))
        undo.append(lambda: [b.mend() for b in broken])
        action = break_the_host
    elif f == "host-down":
        action = virtual_lab.host.stop
    elif f == "power-cut":
        action = lambda: sim.model.set_power(False)  # noqa: E731
    elif f.startswith("rig-"):
        action = None  # the flow itself is the fault
    else:
        raise ValueError(f"no injector for fault {f!r}")
    if action is not None:
        _at_phase(sim, case.phase, action, fired, undo)
    else:
        fired.set()
    return Injection(case, undo, fired)


# -- the flows a fault interrupts (pytest; the Robot suites use PosrigLibrary's keywords) -----

def fresh(station: Any) -> None:
    """Power-cycled and signed in: where every step starts (the terminal keeps its flash)."""
    from harness import flows

    flows.power_cycle(station)
    signed = flows.sign_in(station)
    assert signed.ok, f"sign-in {signed.status}: {signed.reason}"


def sale_checked(station: Any) -> Any:
    from harness import flows

    result = flows.sale(station, SALE_AMOUNT, CARD)
    assert result.approved, f"sale {result.status}, rc={result.rc} ({result.reason})"
    flows.check_witnesses(station, result, CARD)
    flows.check_receipt(station, result)
    return result


def run_case(case: Case, station: Any, sim: Any, virtual_lab: Any) -> None:
    """Bring the station to where the fault belongs, arm it, run the flow it hits, and
    check what a certification test checks: an approved sale that the host's journal and
    the slip confirm, a sign-in, a balanced settlement, a terminal that boots."""
    from harness import flows

    if case.flow not in ("boot", "signin"):
        fresh(station)
    elif case.flow == "signin":
        flows.power_cycle(station)
    if case.flow == "settle":
        sale_checked(station)
    injection = arm(case, station, sim, virtual_lab)
    try:
        if case.flow == "sale":
            sale_checked(station)
        elif case.flow == "signin":
            signed = flows.sign_in(station)
            assert signed.ok, f"sign-in {signed.status}: {signed.reason}"
        elif case.flow == "settle":
            settled = flows.settle(station)
            assert settled.ok and settled.data.get("balanced"), f"settlement {settled.status}: {settled.data}"
            flows.check_settlement_slip(station, settled)
        elif case.flow == "boot":
            flows.power_cycle(station)
            assert flows.sign_in(station).ok
        elif case.flow == "cut_sale":
            flows.host_will(station, "sale", drop=True)
            cut = flows.sale_cut_by_power(station, SALE_AMOUNT, CARD)
            assert cut.status == "interrupted", cut
            flows.power_on(station)
        elif case.flow == "rig_script":
            flows.host_will(station, "sale", rc="XYZ")
            sale_checked(station)
        elif case.flow == "rig_card":
            flows.sale(station, SALE_AMOUNT, "no-such-card")
        elif case.flow == "rig_entry":
            flows.sale(station, SALE_AMOUNT, CARD, entry="teleport")
        else:
            raise ValueError(f"unknown flow {case.flow!r}")
    finally:
        injection.clear()


def clean_start(station: Any) -> None:
    """A station a new run starts on (mended, if the last run broke it) starts clean: it
    boots, signs in, has no reversal pending, and sells."""
    from harness import flows

    fresh(station)
    status = flows.status(station).data
    assert status.get("reversal_pending") is False, f"a clean station has no reversal pending: {status}"
    sale_checked(station)


def reconcile(station: Any) -> dict[str, Any]:
    """After the faults of the lane so far: settle, and the host's journal must agree with
    the terminal's totals (count and amount of the batch's approved sales)."""
    from harness import flows

    fresh(station)
    settled = flows.settle(station)
    assert settled.ok, f"settlement {settled.status}: {settled.data}"
    batch = int(settled.data["batch"])
    totals = settled.data.get("totals", {})
    count = sum(int(side.get("debit_count", 0)) for side in totals.values())
    amount = sum(int(side.get("debit_amount", 0)) for side in totals.values())
    booked = [e for e in flows.journal(station, "sale")
              if e.batch is not None and int(e.batch) == batch and e.state == "approved"]
    host = (len(booked), sum(e.amount or 0 for e in booked))
    assert settled.data.get("balanced") is True, f"the host found the batch unbalanced: {settled.data}"
    assert (count, amount) == host, (f"terminal totals {count} sale(s) {amount} fen, host journal "
                                     f"{host[0]} sale(s) {host[1]} fen in batch {batch}")
    assert flows.status(station).data.get("reversal_pending") is False
    return {"batch": batch, "count": count, "amount": amount}
