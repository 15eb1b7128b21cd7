"""What goes wrong with a labgrid lab, each on its side of the fault taxonomy."""

from __future__ import annotations

from devices.faults import StationFault
from harness.config import ConfigError


class LabgridConfigError(ConfigError):
    """The inventory or a place is set up wrong (no such place, a place lacking a resource
    the station needs, a tag that names no profile): the rig's configuration, not a bench."""


class LabHostDown(StationFault):
    """The coordinator, a lab host or its exporter cannot be reached, or a place's resources
    vanished: the lab's infrastructure, so the stations it serves are broken."""


class ReservationTimeout(LabHostDown):
    """The places asked for did not come free in the time the run allows
    (``POSRIG_LABGRID_WAIT_S``): the lab cannot serve the run now."""
