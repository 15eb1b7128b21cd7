"""An acquired place -> the station spec a local bench has, so drivers run unchanged.

Serial resources (``NetworkSerialPort``: ser2net on the lab host) become
``rfc2217://HOST:PORT?ign_set_control`` -- ser2net on a pty does not answer RFC 2217's
SET_CONTROL, and pyserial would otherwise time out waiting for it (labgrid's SerialDriver
builds its URL the same way). A camera (``HTTPVideoStream``, or a ``NetworkService`` whose
address is a stream URL) becomes its URL: the resource named ``camera`` the tray camera, the
one named ``display`` the display camera (docs/screen.md). The place's tags fill in what the inventory left
out: the terminal profile, the terminal id, the magazine.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from harness.inventory import RobotSpec, StationSpec, TerminalSpec
from harness.labgrid.coordinator import PlaceView, ResourceView
from harness.labgrid.errors import LabgridConfigError
from harness.labgrid.inventory import parse_magazine
from harness.paths import FIXTURES

SERIAL_CLASSES = ("NetworkSerialPort",)
CAMERA_CLASSES = ("HTTPVideoStream", "NetworkService")
REQUIRED = ("ecr", "robot")


@dataclass(frozen=True)
class ResolvedStation:
    spec: StationSpec  # device URLs reachable from the rig
    place: str
    labhost: str  # the exporter serving it


def serial_url(resource: ResourceView) -> str:
    return f"rfc2217://{resource.params['host']}:{resource.params['port']}?ign_set_control"


def resolve_station(spec: StationSpec, place: PlaceView,
                    resources: list[ResourceView]) -> ResolvedStation:
    """``spec`` (an inventory station naming a place or tags) on the acquired ``place``."""
    channels: dict[str, str] = {}
    for res in resources:
        if res.cls in SERIAL_CLASSES:
            channels[res.name] = serial_url(res)
        elif res.cls in CAMERA_CLASSES:
            url = res.params.get("url") or res.params.get("address", "")
            channels[res.name] = url
    missing = [name for name in REQUIRED if name not in channels]
    if missing:
        raise LabgridConfigError(
            f"labgrid place {place.name} (for station {spec.name}) has no {' or '.join(missing)} "
            f"resource; it has {sorted(channels) or 'none'}. Its matches must take a lab host's "
            "group with serial resources named ecr and robot (console, power: optional), and "
            "streams named camera and display (optional)")
    tags = place.tags
    profile = spec.terminal.profile
    if not profile.name:
        if "profile" not in tags:
            raise LabgridConfigError(f"labgrid place {place.name}: no profile tag, and the inventory "
                                     f"names no terminal profile for {spec.name}; add one of them")
        profile = FIXTURES / "terminals" / f"{tags['profile']}.yaml"
        if not profile.exists():
            raise LabgridConfigError(f"labgrid place {place.name}: tag profile={tags['profile']}: no "
                                     f"such profile {profile}; add it to fixtures/terminals/")
    tid = spec.terminal.tid or tags.get("tid", "")
    if not tid:
        raise LabgridConfigError(f"labgrid place {place.name}: no tid tag, and the inventory names "
                                 f"no terminal id for {spec.name}; add one of them")
    if tags.get("tid") and tags["tid"] != tid:
        raise LabgridConfigError(f"labgrid place {place.name} holds terminal {tags['tid']}, the "
                                 f"inventory's {spec.name} says {tid}")
    magazine = spec.magazine or parse_magazine(tags.get("magazine", ""), place.name)
    if not magazine:
        raise LabgridConfigError(f"labgrid place {place.name}: no magazine tag, and the inventory "
                                 f"names no magazine for {spec.name}; add one of them")
    live = replace(spec,
                   terminal=TerminalSpec(profile=Path(profile), tid=tid, ecr=channels["ecr"],
                                         console=channels.get("console")),
                   robot=RobotSpec(channels["robot"]), power=channels.get("power"),
                   camera=channels.get("camera"), display=channels.get("display"),
                   magazine=magazine, place=None, tags=None)
    labhost = tags.get("labhost") or (resources[0].exporter if resources else "")
    return ResolvedStation(live, place.name, labhost)
