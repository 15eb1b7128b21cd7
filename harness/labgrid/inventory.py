"""Stations an inventory names by a labgrid place or by tags, instead of device URLs.

In a lab inventory a station may say where its devices are by labgrid place::

    coordinator: 10.77.0.1:20408          # or LG_COORDINATOR
    host: { listen: tcp://10.77.0.1:5000 } # fixed: the lab's terminals are set to call it
    stations:
      - name: nightly-1
        place: labhost-a-station-1        # this place...
      - name: nightly-2
        tags: { family: posrig, dialect: posrig-ecr/1 }   # ...or any place with these tags
        terminal: { profile: terminals/posrig-sim.yaml }  # optional: also a tag to match

What a place's tags say about its bench (``tags_for``): station, family (the terminal's
vendor), model, firmware, dialect, profile (its fixture's stem), tid, magazine (slot:card
pairs) and labhost (the exporter). The inventory may leave ``terminal`` and ``magazine``
out: the place's tags fill them in when the place is acquired (harness/labgrid/resolve.py);
where both say something they must agree.

No labgrid import here: inventories load without grpc.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.config import ConfigError, Node
from harness.inventory import RobotSpec, StationSpec, TerminalSpec
from harness.paths import resolve

#: labgrid's rule for a tag key (labgrid.remote.common.TAG_KEY, matched in full here).
TAG_KEY = re.compile(r"[a-z][a-z0-9_]+")
#: The URL scheme a station's devices have until its place is acquired and resolved.
PLACEHOLDER = "labgrid://"
MAGAZINE_TAG = re.compile(r"(\d+):([\w\-]+)")


def is_placed(spec: StationSpec) -> bool:
    """The station's devices come from a labgrid place (not yet resolved to URLs)."""
    return bool(getattr(spec, "place", None) or getattr(spec, "tags", None))


def place_station(st: Node, here: Path) -> StationSpec:
    """The ``place:`` / ``tags:`` form of an inventory station (the hook harness/inventory.py
    calls). Device URLs are placeholders until the place is acquired."""
    name = st.str("name", pattern=r"[\w\-]+", expected="a station name (letters, digits, -)")
    place = st.str("place", None, pattern=r"[\w.\-]+", expected="a labgrid place name")
    tags: dict[str, str] | None = None
    if st.has("tags"):
        tags_node = st.node("tags")  # tag -> value: its keys are data
        tags = {}
        for key in tags_node.data:
            if not TAG_KEY.fullmatch(str(key)):
                raise tags_node.error(key, "a labgrid tag name (lowercase letters, digits, _; "
                                           "starting with a letter)")
            tags[str(key)] = tags_node.str(key, expected="a tag value")
        if not tags:
            raise st.error("tags", "at least one tag to reserve a place by")
    if place and tags:
        raise st.error("place", "either place: or tags:, not both (a place is reserved by name "
                                "or by tags)")
    for device in ("robot", "power", "camera", "display"):
        if st.has(device):
            raise st.error(device, f"no {device}: the labgrid place provides its devices")
    profile, tid = Path(), ""
    if st.has("terminal"):
        term = st.node("terminal")
        for key in ("ecr", "console"):
            if term.has(key):
                raise term.error(key, f"no {key}: the labgrid place provides its devices")
        if term.has("profile"):
            profile = resolve(term.str("profile"), here)
            if not profile.exists():
                raise term.error("profile", "a terminal profile file that exists", str(profile))
        tid = term.str("tid", None, pattern=r"\d{8}", expected="an 8-digit terminal id") or ""
    magazine: dict[int, str] = {}
    if st.has("magazine"):
        magazine_node = st.node("magazine")
        for slot in magazine_node.data:
            if not (isinstance(slot, int) or (isinstance(slot, str) and slot.isdigit())):
                raise magazine_node.error(slot, "a slot number as the key")
            magazine[int(slot)] = magazine_node.str(slot, expected="a card id from cards.yaml")
    where = f"place/{place}" if place else "tags/" + ",".join(f"{k}={v}" for k, v in sorted(tags.items()))
    url = PLACEHOLDER + where
    return StationSpec(name=name, terminal=TerminalSpec(profile=profile, tid=tid, ecr=url),
                       robot=RobotSpec(url), magazine=magazine, place=place, tags=tags)


def reservation_filter(spec: StationSpec) -> dict[str, str]:
    """The tags a place must have to serve ``spec``: its name (labgrid's ``name`` filter) or
    its tags, plus what the inventory pins down (the profile's stem, the terminal id)."""
    wanted = {"name": spec.place} if spec.place else dict(spec.tags or {})
    if spec.terminal.profile.name:
        wanted.setdefault("profile", spec.terminal.profile.stem)
    if spec.terminal.tid:
        wanted.setdefault("tid", spec.terminal.tid)
    return wanted


def describe_request(spec: StationSpec) -> str:
    wanted = reservation_filter(spec)
    if spec.place:
        return f"place {spec.place}"
    return "a place with " + " ".join(f"{k}={v}" for k, v in sorted(wanted.items()))


def tags_for(spec: StationSpec, profile, *, labhost: str) -> dict[str, str]:
    """The tags a lab host's place gets for the bench ``spec`` with terminal ``profile``."""
    return {"station": spec.name, "family": profile.vendor, "model": profile.model,
            "firmware": profile.firmware, "dialect": profile.dialect,
            "profile": Path(profile.source).stem, "tid": spec.terminal.tid,
            "magazine": ",".join(f"{slot}:{card}" for slot, card in sorted(spec.magazine.items())),
            "labhost": labhost}


def parse_magazine(value: str, place: str) -> dict[int, str]:
    """The ``magazine`` tag (``1:cup-debit-chip,2:cup-credit-chip``) as slot -> card id."""
    out: dict[int, str] = {}
    for item in filter(None, (v.strip() for v in value.split(","))):
        match = MAGAZINE_TAG.fullmatch(item)
        if not match:
            raise ConfigError(f"labgrid place {place}: tag magazine={value!r}: expected "
                              "SLOT:CARD pairs separated by commas (1:cup-debit-chip,2:...)")
        out[int(match.group(1))] = match.group(2)
    return out
