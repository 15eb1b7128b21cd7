"""A watcher that releases a run's labgrid places if the run dies without doing it.

labgrid keeps a place acquired until someone releases it: a client that crashes (killed,
out of memory, the CI runner's job cancelled with SIGKILL) would hold its benches forever.
``posrig run`` starts this watcher in its own session (Ctrl-C at the terminal does not
reach it) and tells it, one line each on its stdin, every reservation it makes and every
place it acquires. A clean run releases its places itself and sends ``done``; if the
watcher's stdin ends without ``done``, the run died, and the watcher releases the places
-- only those still held by the run's own labgrid identity -- and cancels the reservations.

    python -m harness.labgrid.guard COORDINATOR IDENTITY   (stdin: acquire P | reserve T | done)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import IO

RETRY_FOR_S = 60.0  # a coordinator restarting is given this long to come back


class Guard:
    """The run's side: ``add_place``, ``add_reservation``, then ``done()`` (or die)."""

    def __init__(self, coordinator: str, identity: str, log: Path):
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "harness.labgrid.guard", coordinator,
                                      identity], stdin=subprocess.PIPE, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def _say(self, line: str) -> None:
        stdin = self.proc.stdin
        if stdin is not None and not stdin.closed:
            stdin.write(f"{line}\n".encode())
            stdin.flush()

    def add_place(self, place: str) -> None:
        self._say(f"acquire {place}")

    def add_reservation(self, token: str) -> None:
        self._say(f"reserve {token}")

    def done(self, *, clean: bool = True) -> None:
        """``clean``: the run released everything itself, and the watcher exits without
        acting. Otherwise its stdin just ends, and it releases what is left on its own."""
        try:
            if clean:
                self._say("done")
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            if clean:
                self.proc.wait(10)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            self._log.close()


def watch(coordinator: str, identity: str, lines: IO[str]) -> int:
    places: list[str] = []
    tokens: list[str] = []
    for line in lines:
        verb, _, arg = line.strip().partition(" ")
        if verb == "done":
            return 0
        if verb == "acquire" and arg:
            places.append(arg)
        elif verb == "reserve" and arg:
            tokens.append(arg)
    print(f"posrig guard: the run ended without releasing; releasing {places or 'nothing'}, "
          f"cancelling {len(tokens)} reservation(s)", flush=True)
    return release(coordinator, identity, places, tokens)


def release(coordinator: str, identity: str, places: list[str], tokens: list[str]) -> int:
    import grpc
    from labgrid.remote.generated import labgrid_coordinator_pb2 as pb
    from labgrid.remote.generated import labgrid_coordinator_pb2_grpc as pb_grpc

    deadline = time.monotonic() + RETRY_FOR_S
    todo = [("place", name) for name in places] + [("reservation", token) for token in tokens]
    with grpc.insecure_channel(coordinator) as channel:
        stub = pb_grpc.CoordinatorStub(channel)
        while todo:
            kind, name = todo[0]
            try:
                if kind == "place":
                    # fromuser: released only while the run's identity still holds it
                    stub.ReleasePlace(pb.ReleasePlaceRequest(placename=name, fromuser=identity),
                                      timeout=10)
                else:
                    stub.CancelReservation(pb.CancelReservationRequest(token=name), timeout=10)
                print(f"posrig guard: {kind} {name} released", flush=True)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() < deadline:
                    time.sleep(1.0)  # the coordinator is restarting: try again
                    continue
                print(f"posrig guard: {kind} {name}: {exc.code().name} {exc.details()}", flush=True)
            todo.pop(0)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    return watch(args[0], args[1], sys.stdin)


if __name__ == "__main__":
    sys.exit(main())
