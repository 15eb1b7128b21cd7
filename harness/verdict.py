"""Failed or broken: whose fault an exception is, decided in one place.

A vendor reads *failed* as "the terminal did something wrong" and *broken* as "the bench
could not run this test". allure-pytest already reports an AssertionError as failed and
anything else as broken; the rig keeps to that by raising terminal defects as
``FlowError`` (an AssertionError) and leaving infrastructure errors as what they are. This
module names the infrastructure errors, so that the pytest plugin and the Robot library
can take a station out of service after one (as a labgrid strategy goes *broken*), and the
report's categories (reports/categories.json) can tell a station fault from a rig defect.
"""

from __future__ import annotations

from devices.camera import CameraError
from devices.channels import ChannelError
from devices.host import HostError, JournalError
from devices.host.control import ControlError
from devices.robot import RobotError
from devices.terminal.link import LinkError
from harness.station import StationBroken

#: Errors that mean the station cannot run tests: a robot jam, a port gone, a lost link,
#: an unreachable host, a camera lost. Their class names are matched by reports/categories.json.
STATION_FAULTS: tuple[type[BaseException], ...] = (
    StationBroken, RobotError, ChannelError, LinkError, HostError, ControlError, JournalError,
    CameraError,
)

FAILED, BROKEN = "failed", "broken"


def is_station_fault(exc: BaseException) -> bool:
    return isinstance(exc, STATION_FAULTS)


def is_terminal_defect(exc: BaseException) -> bool:
    return isinstance(exc, AssertionError)


def status_of(exc: BaseException) -> str:
    """The report status an exception gives a test or a step."""
    return FAILED if is_terminal_defect(exc) else BROKEN


def status_of_name(type_name: str) -> str:
    """The same decision from an exception's class name, as step events carry it."""
    return FAILED if type_name in ("AssertionError", "FlowError") else BROKEN


def describe_fault(exc: BaseException) -> str:
    """One line for ``Station.mark_broken``: what broke, as the exception said it."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]
