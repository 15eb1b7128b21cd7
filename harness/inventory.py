"""The lab inventory: which stations exist and how to reach each of their devices.

``fixtures/labs/virtual.yaml`` is the default. A URL of the form ``sim://…`` means "a
simulator posrig starts"; the virtual-lab launcher replaces it with the live channel (a
pty path, a loopback port) and can write the result back out as an inventory that
names every channel for real, so a second process can use the same lab.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.config import ConfigError, Node, load_yaml, nearest
from harness.paths import resolve
from harness.profiles import load_cards, load_profile

URL_PATTERN = r"(sim://\w+|/dev/\S+|(rfc2217|socket|loop|spy|alt|hwgrep|tcp|usb)://\S*)"
URL_EXPECTED = ("a device URL: sim://NAME (simulator), /dev/ttyUSB0, rfc2217://host:port, "
                "socket://host:port or usb://VID:PID")


@dataclass(frozen=True)
class TerminalSpec:
    profile: Path
    tid: str
    ecr: str
    console: str | None = None
    #: ``console: none``: the terminal has no debug console (a production terminal); the
    #: virtual lab then wires none to its simulated one
    no_console: bool = False


@dataclass(frozen=True)
class RobotSpec:
    url: str


@dataclass(frozen=True)
class StationSpec:
    name: str
    terminal: TerminalSpec
    robot: RobotSpec
    magazine: dict[int, str]  # slot -> card id from fixtures/cards.yaml
    power: str | None = None
    camera: str | None = None
    place: str | None = None  # a labgrid place holds its devices (harness/labgrid)
    tags: dict[str, str] | None = None  # or any labgrid place with these tags
    display: str | None = None  # the display camera: any OpenCV source, or sim://display
    phone: str | None = None  # the simulated phone's control socket (a live inventory; docs/qr.md)

    def slot_of(self, card_id: str) -> int:
        for slot, cid in self.magazine.items():
            if cid == card_id:
                return slot
        raise LookupError(f"{self.name}: no magazine slot holds card {card_id!r}; "
                          f"loaded: {sorted(self.magazine.values())}")

    @property
    def virtual(self) -> bool:
        return self.terminal.ecr.startswith("sim://")


@dataclass(frozen=True)
class HostSpec:
    host: str
    port: int
    journal: Path | None = None
    managed: bool = True  # True: the rig starts the host; False: one is already running
    control: Path | None = None  # its control socket, to script it from another process


@dataclass(frozen=True)
class LabInventory:
    name: str
    source: Path
    host: HostSpec
    stations: tuple[StationSpec, ...]
    cards: Path = field(default_factory=lambda: resolve("cards.yaml"))
    keys: Path = field(default_factory=lambda: resolve("keys/terminals.yaml"))
    coordinator: str | None = None  # HOST:PORT of the labgrid coordinator of place: stations

    @property
    def virtual(self) -> bool:
        return any(s.virtual for s in self.stations)

    def station(self, name: str) -> StationSpec:
        for s in self.stations:
            if s.name == name:
                return s
        raise LookupError(f"lab {self.name!r} has no station {name!r}; "
                          f"it has {[s.name for s in self.stations]}")

    def first(self, count: int) -> LabInventory:
        if not 1 <= count <= len(self.stations):
            raise ConfigError(f"{self.source}: asked for {count} stations, the inventory "
                              f"lists {len(self.stations)}; add stations to it")
        return replace(self, stations=self.stations[:count])

    def to_json(self) -> str:
        def plain(obj: Any) -> Any:
            if isinstance(obj, Path):
                return str(obj)
            if isinstance(obj, dict):
                return {str(k): plain(v) for k, v in obj.items() if v is not None}
            if isinstance(obj, list | tuple):
                return [plain(v) for v in obj]
            return obj

        data = plain(asdict(self))
        data["host"]["listen"] = f"tcp://{self.host.host}:{self.host.port}"
        for key in ("host", "port"):
            data["host"].pop(key)
        for st in data["stations"]:
            st["robot"] = st["robot"]["url"]
            if st["terminal"].pop("no_console", False):
                st["terminal"]["console"] = "none"
        return json.dumps(data, ensure_ascii=False)


def _parse_listen(node: Node, key: str) -> tuple[str, int]:
    value = node.str(key, pattern=r"tcp://[\w.\-]+:\d{1,5}", expected="tcp://HOST:PORT")
    host, port = value.removeprefix("tcp://").rsplit(":", 1)
    return host, int(port)


# The keys each mapping of an inventory may have: anything else is a typo (a ``camra:`` that
# would quietly leave a station without its camera) and is refused with the nearest key.
INVENTORY_KEYS = ("name", "host", "stations", "cards", "keys", "coordinator",
                  "source")  # source: the inventory a live one (`posrig lab up`) was made from
HOST_KEYS = ("listen", "journal", "managed", "control")
STATION_KEYS = ("name", "terminal", "robot", "magazine", "power", "camera", "place", "tags", "display",
                "phone")
TERMINAL_KEYS = ("profile", "tid", "ecr", "console")
ROBOT_KEYS = ("url",)


def load_inventory(path: str | Path) -> LabInventory:
    """The inventory at ``path`` (YAML, or the JSON ``posrig lab up`` prints), every key
    checked, and every terminal profile it names loaded (a bad profile is a bad lab)."""
    path = Path(path)
    root = Node(load_yaml(path, "lab inventory"), path, keys=INVENTORY_KEYS)
    here = path.parent
    host_node = root.node("host", keys=HOST_KEYS)
    host, port = _parse_listen(host_node, "listen")
    journal, control = host_node.str("journal", None), host_node.str("control", None)
    host_spec = HostSpec(host, port, Path(journal) if journal else None,
                         host_node.bool("managed", True), Path(control) if control else None)
    root.str("source", None)  # where a live inventory came from: informative only
    stations = [_station(st, here) for st in root.nodes("stations", keys=STATION_KEYS)]
    names = [s.name for s in stations]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: stations: names must be unique, got {names}")
    inv = LabInventory(name=root.str("name", path.stem), source=path, host=host_spec,
                       stations=tuple(stations))
    if root.has("cards"):
        inv = replace(inv, cards=resolve(root.str("cards"), here))
    if root.has("coordinator"):
        inv = replace(inv, coordinator=root.str("coordinator", pattern=r"[\w.\-]+(:\d{1,5})?",
                                                 expected="the labgrid coordinator as HOST:PORT"))
    if root.has("keys"):
        inv = replace(inv, keys=resolve(root.str("keys"), here))
    profiles = {profile: load_profile(profile)  # ConfigError naming the profile's file and key
                for profile in dict.fromkeys(s.terminal.profile for s in stations if s.terminal.profile.name)}
    for index, st in enumerate(stations):
        profile = profiles.get(st.terminal.profile)
        if profile is not None and profile.prompts == "screen" and not st.display and not st.place \
                and not st.tags:  # a place's display camera is the place's: known once acquired
            raise ConfigError(f"{path}: stations[{index}].display: missing: {st.terminal.profile} "
                              "takes the terminal's prompts from its screen (prompts: screen); name "
                              "the station's display camera (docs/screen.md)")
    _check_magazines(inv)
    return inv


def _check_magazines(inv: LabInventory) -> None:
    """Every card a magazine names is in the lab's card list: a misspelt card id is named
    here, with the nearest one, not when the robot first reaches for it."""
    known = load_cards(inv.cards)
    for index, st in enumerate(inv.stations):
        for slot, card in st.magazine.items():
            if card not in known:
                guess = nearest(card, known)
                hint = f"did you mean {guess}?" if guess else f"it has {', '.join(sorted(known))}"
                raise ConfigError(f"{inv.source}: stations[{index}].magazine.{slot}: no card "
                                  f"{card!r} in {inv.cards}; {hint}")


def _station(st: Node, here: Path) -> StationSpec:
    if st.has("place") or st.has("tags"):  # devices from a labgrid place, not URLs
        from harness.labgrid.inventory import place_station

        return place_station(st, here)
    term = st.node("terminal", keys=TERMINAL_KEYS)
    profile = resolve(term.str("profile"), here)
    if not profile.exists():
        raise term.error("profile", "a terminal profile file that exists", str(profile))
    magazine_node = st.node("magazine")  # slot number -> card id: its keys are data
    magazine: dict[int, str] = {}
    for slot in magazine_node.data:
        if not (isinstance(slot, int) or (isinstance(slot, str) and slot.isdigit())):
            raise magazine_node.error(slot, "a slot number as the key")
        magazine[int(slot)] = magazine_node.str(slot, expected="a card id from cards.yaml")
    # robot: a URL, or {url: URL}
    console = term.str("console", None, pattern=f"none|{URL_PATTERN}",
                       expected=f"none (no debug console) or {URL_EXPECTED}")
    robot = (st.node("robot", keys=ROBOT_KEYS) if isinstance(st.raw("robot"), dict)
             else Node({"url": st.raw("robot")}, st.file, f"{st.where}.robot", keys=ROBOT_KEYS))
    return StationSpec(
        name=st.str("name", pattern=r"[\w\-]+", expected="a station name (letters, digits, -)"),
        terminal=TerminalSpec(profile=profile,
                              tid=term.str("tid", pattern=r"\d{8}", expected="an 8-digit terminal id"),
                              ecr=term.str("ecr", pattern=URL_PATTERN, expected=URL_EXPECTED),
                              console=None if console == "none" else console,
                              no_console=console == "none"),
        robot=RobotSpec(robot.str("url", pattern=URL_PATTERN, expected=URL_EXPECTED)),
        magazine=magazine,
        power=st.str("power", None, pattern=URL_PATTERN, expected=URL_EXPECTED),
        camera=st.str("camera", None),
        display=st.str("display", None),
        phone=st.str("phone", None),
    )


def is_sim(url: str | None) -> bool:
    return bool(url) and bool(re.match(r"sim://", url or ""))
