"""``posrig run`` on a labgrid lab: reserve the places, wait, acquire, run, release.

For each station of the inventory that names a place or tags, one labgrid reservation
(filter: the place's name, or the tags, plus the profile and terminal id the inventory pins
down). While a reservation waits in labgrid's queue a progress line says for what, and who
holds the places that would do. Each place is acquired as soon as it is allocated and its
resources turned into a station spec (harness/labgrid/resolve.py); once every station has
its place, the rig's acquirer host is started at the inventory's fixed address (the lab's
terminals are set to call it) and the run gets a live inventory naming every device by URL,
as a local bench's -- pytest, xdist workers and pabot processes run on it unchanged.

Release: on leaving the ``with`` (the run ended, failed, or Ctrl-C / SIGTERM stopped it) each
place is released and every reservation cancelled; if the process dies before that, the
watcher in harness/labgrid/guard.py does it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from harness.config import ConfigError
from harness.inventory import LabInventory, StationSpec
from harness.labgrid.coordinator import Coordinator, PlaceBusy, PlaceView
from harness.labgrid.errors import ReservationTimeout
from harness.labgrid.guard import Guard
from harness.labgrid.inventory import describe_request, is_placed, reservation_filter
from harness.labgrid.resolve import ResolvedStation, resolve_station

COORDINATOR_ENV = "LG_COORDINATOR"
#: How long a run waits in labgrid's queue before giving up (seconds; unset: as long as it takes).
WAIT_ENV = "POSRIG_LABGRID_WAIT_S"
POLL_S = 1.0  # how often a waiting reservation is polled (labgrid-client's own interval)
REPEAT_S = 30.0  # a waiting line is repeated this often even when nothing changed
LIVE_NAME = "labgrid-lab.json"


def say(line: str) -> None:
    print(f"posrig: {line}", flush=True)


@dataclass
class HeldPlaces:
    """What a run holds, so everything is let go whatever ends the run."""

    coordinator: Coordinator
    guard: Guard
    tokens: dict[str, str]  # station -> reservation token
    places: dict[str, str]  # station -> acquired place

    def release(self, tell: Callable[[str], None] = say) -> None:
        """Release every place and cancel every reservation; whatever could not be (the
        coordinator restarting) is left to the watcher, which keeps trying for a minute."""
        failed = False
        for station, place in list(self.places.items()):
            try:
                if self.coordinator.release(place):
                    tell(f"labgrid: released place {place} ({station})")
            except Exception as exc:  # one failing release must not keep the others held
                failed = True
                tell(f"labgrid: could not release place {place} ({station}): {exc}; the watcher "
                     f"tries again (or `labgrid-client -p {place} release`)")
            del self.places[station]
        for token in list(self.tokens.values()):
            try:
                self.coordinator.cancel(token)
            except Exception:
                failed = True
        self.tokens.clear()
        self.guard.done(clean=not failed)


def wants_labgrid(inventory: LabInventory) -> bool:
    return any(is_placed(s) for s in inventory.stations)


@contextlib.contextmanager
def labgrid_lab(inventory: LabInventory, workdir: Path, *, results: Path | None = None,
                wait_timeout: float | None = None,
                tell: Callable[[str], None] = say) -> Iterator[Path | None]:
    """The live inventory's path while the run holds its places; None (and nothing done)
    when the inventory names no labgrid place."""
    if not wants_labgrid(inventory):
        yield None
        return
    check_inventory(inventory)
    address = inventory.coordinator or os.environ.get(COORDINATOR_ENV, "")
    if wait_timeout is None and os.environ.get(WAIT_ENV):
        try:
            wait_timeout = float(os.environ[WAIT_ENV])
        except ValueError:
            raise ConfigError(f"{WAIT_ENV}={os.environ[WAIT_ENV]!r}: expected a number of seconds") from None
    with contextlib.ExitStack() as stack:
        stack.enter_context(_sigterm_as_exit())
        coordinator = stack.enter_context(Coordinator(address))
        guard = Guard(coordinator.address, coordinator.identity, workdir / "labgrid-guard.log")
        held = HeldPlaces(coordinator, guard, {}, {})
        stack.callback(held.release, tell)
        try:
            resolved = take_places(held, [s for s in inventory.stations if is_placed(s)],
                                   wait_timeout=wait_timeout, tell=tell)
        except KeyboardInterrupt:
            tell("labgrid: interrupted while waiting for places; releasing what was taken")
            raise
        specs = tuple(resolved[s.name].spec if s.name in resolved else s for s in inventory.stations)
        from harness.virtual_lab import start_host

        host, host_spec = start_host(replace(inventory, stations=specs), workdir)
        stack.callback(host.stop)
        live = replace(inventory, host=host_spec, stations=specs, coordinator=None)
        path = workdir / LIVE_NAME
        path.write_text(live.to_json(), encoding="utf-8")
        if results is not None:
            from harness.report_files import update_environment

            update_environment(results, {f"{r.spec.name}.lab host": f"{r.labhost} (place {r.place})"
                                         for r in resolved.values()}
                               | {"lab.coordinator": coordinator.address})
        tell(f"labgrid: {len(resolved)} place(s) held: " + ", ".join(
            f"{r.spec.name}={r.place}@{r.labhost}" for r in resolved.values()))
        yield path


def check_inventory(inventory: LabInventory) -> None:
    if inventory.host.port == 0:
        raise ConfigError(f"{inventory.source}: host.listen: a labgrid lab's terminals call the "
                          "acquirer host at a fixed address: give it the port `posrig lab export "
                          "--acquirer` was given (port 0 means any free port)")
    if inventory.virtual:
        raise ConfigError(f"{inventory.source}: sim:// stations and labgrid places in one "
                          "inventory: export the simulators from a lab host (`posrig lab export`) "
                          "and name their places")


def take_places(held: HeldPlaces, specs: list[StationSpec], *, wait_timeout: float | None,
                tell: Callable[[str], None]) -> dict[str, ResolvedStation]:
    """Reserve a place for each of ``specs``, wait for all, acquire each as it comes free."""
    coordinator = held.coordinator
    wanted = {s.name: s for s in specs}
    for spec in specs:
        held.tokens[spec.name] = coordinator.reserve(reservation_filter(spec))
        held.guard.add_reservation(held.tokens[spec.name])
    resolved: dict[str, ResolvedStation] = {}
    deadline = None if wait_timeout is None else time.monotonic() + wait_timeout
    said, said_at = "", 0.0
    tick = threading.Event()
    while len(resolved) < len(specs):
        for name, spec in wanted.items():
            if name in resolved:
                continue
            state = coordinator.poll(held.tokens[name])
            if state.state in ("expired", "invalid"):  # e.g. its place was deleted: queue again
                held.tokens[name] = coordinator.reserve(reservation_filter(spec))
                held.guard.add_reservation(held.tokens[name])
                continue
            if state.state not in ("allocated", "acquired") or not state.places:
                continue
            place = state.places[0]
            if name not in held.places:
                try:
                    coordinator.acquire(place)
                except PlaceBusy:
                    continue  # taken between allocation and our acquire: the queue goes on
                held.places[name] = place
                held.guard.add_place(place)
            resources = coordinator.wait_ready(place)
            resolved[name] = resolve_station(spec, coordinator.place(place), resources)
            tell(f"labgrid: {name} acquired place {place} "
                 f"(lab host {resolved[name].labhost})")
        waiting = [wanted[n] for n in wanted if n not in resolved]
        if not waiting:
            break
        line = waiting_line(waiting, coordinator.places())
        now = time.monotonic()
        if line != said or now - said_at >= REPEAT_S:
            tell(line)
            said, said_at = line, now
        if deadline is not None and now > deadline:
            raise ReservationTimeout(f"gave up after {wait_timeout:g} s: {line}")
        tick.wait(POLL_S)  # labgrid's queue has no push for reservations: poll it
    return resolved


def waiting_line(waiting: list[StationSpec], places: dict[str, PlaceView]) -> str:
    """``waiting in labgrid's queue for station-2 (place X, held by host/user); ...``"""
    parts = []
    for spec in waiting:
        wanted = reservation_filter(spec)
        fits = [p for p in places.values()
                if all((p.name if k == "name" else p.tags.get(k)) == v for k, v in wanted.items())]
        if not fits:
            why = "no place matches (yet)"
        else:
            held = [f"{p.name} held by {p.acquired}" for p in fits if p.acquired]
            held += [f"{p.name} reserved" for p in fits if not p.acquired and p.reservation]
            why = ", ".join(held) or "being allocated"
        parts.append(f"{spec.name} ({describe_request(spec)}: {why})")
    return "waiting in labgrid's queue for " + "; ".join(parts)


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, `kill`) unwinds like Ctrl-C, so the places are released."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
