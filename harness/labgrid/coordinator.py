"""A session with a labgrid coordinator, driven from ordinary (synchronous) code.

labgrid's ``ClientSession`` is asyncio and keeps a gRPC stream open: places and resources
arrive as updates on it, and the channel answers keepalive pings. A rig run spends minutes
in pytest between calls, so the session lives on its own event-loop thread for as long as
the run holds places, and each call here hands a coroutine to that loop and waits for it.

Only what posrig needs is wrapped: places (create, match, tag), reservations (create,
poll, cancel), acquire and release, and the resources of an acquired place.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Coroutine, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from harness.labgrid.errors import LabgridConfigError, LabHostDown

# gRPC's fork handlers crash (SIGSEGV) a child that runs Python between fork and exec -- the
# runners `posrig run` starts with a preexec_fn -- while this session's threads are inside
# gRPC. The rig forks only to exec another program, so it needs none of them. Read by gRPC
# when it is first imported, which this package does lazily, after this line.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

DEFAULT_PORT = 20408


class PlaceBusy(LabHostDown):
    """A place is acquired by someone else (or not reserved for us) at the moment."""


@dataclass(frozen=True)
class PlaceView:
    name: str
    tags: dict[str, str]
    matches: tuple[str, ...]
    acquired: str | None
    reservation: str | None
    resources: tuple[tuple[str, str, str, str], ...] = ()  # (exporter, group, cls, name) acquired


@dataclass(frozen=True)
class ResourceView:
    exporter: str
    group: str
    name: str  # the resource's name in its group (``ecr``, ``robot``...), or the place's rename
    cls: str  # as clients see it: NetworkSerialPort for an exported RawSerialPort
    params: dict[str, Any] = field(default_factory=dict)
    avail: bool = False

    @property
    def ready(self) -> bool:
        """Usable now: available, and a serial port has its ser2net port (set on acquire)."""
        if not self.avail:
            return False
        return self.cls != "NetworkSerialPort" or bool(self.params.get("port"))


@dataclass(frozen=True)
class ReservationView:
    token: str
    state: str  # waiting, allocated, acquired, expired, invalid
    places: tuple[str, ...]  # allocated to it


class Coordinator:
    """``Coordinator("10.0.0.1:20408").connect()``; ``close()`` when done (or ``with``)."""

    def __init__(self, address: str, *, timeout: float = 15.0):
        if not address:
            raise LabgridConfigError("no labgrid coordinator named: give the inventory a "
                                     "`coordinator: HOST:PORT` key or set LG_COORDINATOR")
        self.address = address if ":" in address else f"{address}:{DEFAULT_PORT}"
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"labgrid-session {self.address}")
        self._session: Any = None

    # -- lifecycle --------------------------------------------------------------------------
    def connect(self) -> Coordinator:
        self._thread.start()
        try:
            self._session = self._run(self._start())
        except BaseException:
            self.close()
            raise
        return self

    async def _start(self) -> Any:
        from labgrid.remote.client import ClientSession, ServerError

        session = ClientSession(self.address, asyncio.get_running_loop())
        await _own_connection(session)
        try:
            await session.start()
        except ServerError as exc:
            raise LabHostDown(f"cannot reach the labgrid coordinator at {self.address} ({exc}); "
                              "is `labgrid-coordinator` running there, and the address right?") from None
        return session

    def close(self) -> None:
        if self._session is not None and self._thread.is_alive():
            session, self._session = self._session, None
            with contextlib.suppress(LabHostDown, OSError):  # the coordinator went first
                self._run(self._stop(session), timeout=5)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()

    @staticmethod
    async def _stop(session: Any) -> None:
        await session.stop()
        await session.close()

    def __enter__(self) -> Coordinator:
        return self.connect()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def identity(self) -> str:
        """``host/user`` as the coordinator knows this client (LG_HOSTNAME, LG_USERNAME)."""
        assert self._session is not None, "connect() first"
        return f"{self._session.gethostname()}/{self._session.getuser()}"

    # -- plumbing ---------------------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self.timeout if timeout is None else timeout)
        except FutureTimeout:
            future.cancel()
            raise LabHostDown(f"the labgrid coordinator at {self.address} did not answer within "
                              f"{self.timeout if timeout is None else timeout:g} s") from None

    async def _rpc(self, method: str, request: Any) -> Any:
        import grpc

        session = self._session
        if session is None or session.stopping.is_set():
            raise LabHostDown(f"lost the labgrid coordinator at {self.address}")
        try:
            response = await getattr(session.stub, method)(request)
        except grpc.aio.AioRpcError as exc:
            code, details = exc.code(), exc.details()
            if code == grpc.StatusCode.UNAVAILABLE:
                raise LabHostDown(f"labgrid coordinator {self.address}: {details}") from None
            if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED):
                raise PlaceBusy(f"labgrid: {details}") from None
            raise LabgridConfigError(f"labgrid coordinator {self.address}: {method}: {details}") from None
        if not await session.sync_with_coordinator():
            raise LabHostDown(f"lost the labgrid coordinator at {self.address}")
        return response

    def _pb(self) -> Any:
        from labgrid.remote.generated import labgrid_coordinator_pb2

        return labgrid_coordinator_pb2

    # -- places -----------------------------------------------------------------------------
    def places(self) -> dict[str, PlaceView]:
        async def snapshot() -> dict[str, PlaceView]:
            await self._session.sync_with_coordinator()
            return {name: _place_view(p) for name, p in self._session.places.items()}

        return self._run(snapshot())

    def place(self, name: str) -> PlaceView:
        places = self.places()
        if name not in places:
            raise LabgridConfigError(f"labgrid coordinator {self.address} has no place {name!r}; "
                                     f"it has {sorted(places) or 'none'} (`posrig lab export` "
                                     "creates them, or `labgrid-client -p NAME create`)")
        return places[name]

    def ensure_place(self, name: str, matches: list[str], tags: Mapping[str, str]) -> PlaceView:
        """Create the place if it is missing, add the matches it lacks, set the tags."""
        pb = self._pb()
        existing = self.places().get(name)
        if existing is None:
            self._run(self._rpc("AddPlace", pb.AddPlaceRequest(name=name)))
            existing = self.place(name)
        for pattern in matches:
            if pattern not in existing.matches:
                self._run(self._rpc("AddPlaceMatch", pb.AddPlaceMatchRequest(placename=name,
                                                                              pattern=pattern)))
        self._run(self._rpc("SetPlaceTags", pb.SetPlaceTagsRequest(placename=name, tags=dict(tags))))
        return self.place(name)

    def acquire(self, name: str) -> None:
        pb = self._pb()
        self._run(self._rpc("AcquirePlace", pb.AcquirePlaceRequest(placename=name)))

    def release(self, name: str) -> bool:
        """Release ``name`` if this client holds it; False when it was not ours (any more)."""
        pb = self._pb()
        place = self.places().get(name)
        if place is None or place.acquired != self.identity:
            return False
        self._run(self._rpc("ReleasePlace", pb.ReleasePlaceRequest(placename=name,
                                                                   fromuser=self.identity)))
        return True

    def resources(self, name: str) -> list[ResourceView]:
        """The resources the place ``name`` acquired, as the exporters last described them; a
        resource whose exporter has gone is there with ``avail`` False."""
        async def snapshot() -> list[ResourceView]:
            await self._session.sync_with_coordinator()
            place = self._session.places.get(name)
            if place is None:
                return []
            out = []
            for exporter, group, cls, res_name in place.acquired_resources:
                match = place.getmatch((exporter, group, cls, res_name))
                entry = self._session.resources.get(exporter, {}).get(group, {}).get(res_name)
                data = entry.data if entry is not None else {}
                params = {k: v for k, v in data.get("params", {}).items() if k != "extra"}
                out.append(ResourceView(exporter, group, (match.rename if match and match.rename
                                                          else res_name),
                                        data.get("cls", cls), params, bool(data.get("avail"))))
            return out

        return self._run(snapshot())

    def wait_ready(self, name: str, timeout: float = 20.0) -> list[ResourceView]:
        """The place's resources once every one is usable (ser2net started for each serial
        port); LabHostDown naming the ones that are not when ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while True:
            resources = self.resources(name)
            if resources and all(r.ready for r in resources):
                return resources
            if time.monotonic() > deadline:
                missing = [f"{r.exporter}/{r.group}/{r.name}" for r in resources if not r.ready]
                raise LabHostDown(f"place {name}: resources not available after {timeout:g} s: "
                                  f"{missing or 'the place matched no resource'}; is its lab "
                                  "host's exporter running?")
            self._run(self._session.sync_with_coordinator())  # the next update, not a blind sleep

    def exporters(self) -> set[str]:
        """Exporters that have resources on the coordinator now."""
        async def snapshot() -> set[str]:
            await self._session.sync_with_coordinator()
            return {exp for exp, groups in self._session.resources.items()
                    if any(entry.data.get("cls") for g in groups.values() for entry in g.values())}

        return self._run(snapshot())

    # -- reservations -----------------------------------------------------------------------
    def reserve(self, tags: Mapping[str, str], prio: float = 0.0) -> str:
        pb = self._pb()
        request = pb.CreateReservationRequest(
            filters={"main": pb.Reservation.Filter(filter=dict(tags))}, prio=prio)
        return self._run(self._rpc("CreateReservation", request)).reservation.token

    def poll(self, token: str) -> ReservationView:
        """The reservation's state; polling also keeps a waiting reservation from expiring."""
        pb = self._pb()
        response = self._run(self._rpc("PollReservation", pb.PollReservationRequest(token=token)))
        res = response.reservation
        places = tuple(res.allocations.values())  # filter group -> place name
        return ReservationView(res.token, _state_name(res.state), places)

    def reservations(self) -> list[ReservationView]:
        """Every reservation the coordinator keeps (anyone's)."""
        pb = self._pb()
        response = self._run(self._rpc("GetReservations", pb.GetReservationsRequest()))
        return [ReservationView(r.token, _state_name(r.state), tuple(r.allocations.values()))
                for r in response.reservations]

    def cancel(self, token: str) -> None:
        pb = self._pb()
        with contextlib.suppress(PlaceBusy):  # already gone (expired and removed)
            self._run(self._rpc("CancelReservation", pb.CancelReservationRequest(token=token)))


async def _own_connection(session: Any) -> None:
    """Give the session a TCP connection of its own. gRPC shares one connection between
    channels of a process with the same target and options, and the coordinator tells its
    clients apart by that connection's address: a second session in the process (a test
    beside the rig, a status check during a run) would be taken for the first."""
    import grpc
    from labgrid.remote.generated import labgrid_coordinator_pb2_grpc

    await session.channel.close()  # nothing was sent on it yet
    session.channel = grpc.aio.insecure_channel(target=session.address, options=[
        ("grpc.keepalive_time_ms", 7500), ("grpc.keepalive_timeout_ms", 10000),
        ("grpc.http2.ping_timeout_ms", 10000), ("grpc.http2.max_pings_without_data", 0),
        ("grpc.use_local_subchannel_pool", 1)])
    session.stub = labgrid_coordinator_pb2_grpc.CoordinatorStub(session.channel)


def _place_view(place: Any) -> PlaceView:
    return PlaceView(place.name, dict(place.tags), tuple(str(match) for match in place.matches),
                     place.acquired or None, place.reservation or None,
                     tuple(tuple(r) for r in place.acquired_resources))


def _state_name(state: int) -> str:
    from labgrid.remote.common import ReservationState

    return ReservationState(state).name
