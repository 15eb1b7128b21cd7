"""The acquirer host's asyncio TCP server: reads frames, asks :class:`HostCore`, answers.

Each connection is its own task, so one terminal's slow or hostile input never holds up
another: frames are read against an idle deadline and a per-frame deadline (slow loris),
the length prefix is checked before the body is read (a 100 MB prefix costs nothing), and
connections beyond ``max_connections`` are closed at once. Anything the host cannot frame
closes that connection and is journaled; the server itself never stops on bad input.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

from devices import events
from devices.host import flows, flows_settle, flows_undo  # noqa: F401 - register handlers
from devices.host.config import HostConfig
from devices.host.control import start_control
from devices.host.core import HostCore
from devices.host.journal import Journal
from devices.masking import scrub
from devices.payments import framing


class HostError(Exception):
    pass


class AcquirerHost:
    """``port = host.start_in_thread()`` ... ``host.stop()``; or ``await host.serve()``."""

    def __init__(self, config: HostConfig):
        self.config = config
        self.journal = Journal(config.journal_path)
        self.core = HostCore(config, self.journal)
        self.script = self.core.script
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._control: asyncio.AbstractServer | None = None

    def __repr__(self) -> str:
        return f"AcquirerHost({self.config.listen[0]}:{self.port}, " \
               f"{len(self.config.terminals)} terminals)"

    # -- running ----------------------------------------------------------------------------
    async def start(self) -> int:
        """Listen in the running loop; returns the bound port."""
        host, port = self.config.listen
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._connection, host, port,
                                                  limit=self.config.max_frame + 2)
        self.port = self._server.sockets[0].getsockname()[1]
        if self.config.control_path is not None:
            self._control = await start_control(self, self.config.control_path)
        events.log("host", f"acquirer host listening on {host}:{self.port}"
                   + (f", control at {self.config.control_path}" if self._control else ""))
        return self.port

    async def serve(self) -> None:
        """Run until :meth:`stop` (or cancellation), as ``posrig host serve`` does."""
        if self._server is None:
            await self.start()
        assert self._stopping is not None
        try:
            await self._stopping.wait()
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
            with contextlib.suppress(OSError):
                Path(str(self.config.control_path)).unlink()
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def start_in_thread(self) -> int:
        """Serve from a thread with its own event loop; returns once the port is bound."""
        if self._thread is not None:
            raise HostError("this host is already running")
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            try:
                await self.start()
            except BaseException as exc:
                failure.append(exc)
                raise
            finally:
                ready.set()
            await self.serve()

        def run() -> None:
            with contextlib.suppress(BaseException):
                asyncio.run(main())

        self._thread = threading.Thread(target=run, name="acquirer-host", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise HostError(f"host could not listen on {self.config.listen}: {failure[0]}")
        assert self.port is not None
        return self.port

    def stop(self) -> None:
        """Stop serving (from any thread) and wait for the host's thread to end."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already gone
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
            self._thread = None

    # -- one connection ---------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= self.config.max_connections:
            self.core.reject_frame(f"more than {self.config.max_connections} connections")
            writer.close()
            return
        self._connections.add(task)
        try:
            await self._serve_connection(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_connection(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        cfg = self.config
        while True:
            try:
                wire = await framing.read_frame_async(
                    reader, cfg.max_frame, idle_timeout=cfg.idle_timeout,
                    frame_timeout=cfg.frame_timeout)
                frame = framing.decode_frame(wire[2:])
            except EOFError:
                return
            except (framing.FramingError, TimeoutError) as exc:
                self.core.reject_frame(f"{exc}; connection closed")
                return
            try:
                outcome = self.core.handle(frame)
            except Exception as exc:  # a host bug must cost one connection, not the server
                self.core.reject_frame(
                    f"internal error {type(exc).__name__}: {scrub(str(exc))}; connection closed")
                return
            if outcome.delay_s:
                await asyncio.sleep(outcome.delay_s)
            if outcome.wire is not None:
                writer.write(outcome.wire)
                await writer.drain()
            if outcome.close:
                return
