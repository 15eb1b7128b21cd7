"""labgrid's own programs (coordinator, exporter) as child processes posrig starts and stops.

Each runs in its own process group (the exporter's ser2net children join it), its output
goes to a log file, and ``start`` returns once the program says it is ready — the line
labgrid's own tests wait for — or raises with the log's tail. ``stop`` ends the whole group,
so no ser2net outlives the exporter that started it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from harness.labgrid.errors import LabHostDown

COORDINATOR_READY = "Coordinator ready"
EXPORTER_READY = "Exporter ready"


class LabgridProcess:
    """One labgrid program: ``start()`` waits for its ready line, ``stop()`` ends its group."""

    def __init__(self, what: str, command: Sequence[str], ready: str, log: Path, *,
                 cwd: Path | None = None, env: dict[str, str] | None = None):
        self.what, self.command, self.ready_line = what, list(command), ready
        self.log, self.cwd, self.env = log, cwd, env
        self.proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> LabgridProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})}
        # setpriv: the child gets SIGTERM if this process dies without stopping it
        prefix = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
        self.proc = subprocess.Popen([*prefix, *self.command], cwd=self.cwd, env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._reader = threading.Thread(target=self._pump, name=f"{self.what} log", daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout) or self.proc.poll() is not None:
            tail = self.tail()
            self.stop()
            raise LabHostDown(f"{self.what} did not start within {timeout:g} s "
                              f"(`{' '.join(self.command)}`); its log {self.log} ends:\n{tail}")
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with self.log.open("ab") as out:
            for line in self.proc.stdout:
                out.write(line)
                out.flush()
                if self.ready_line.encode() in line:
                    self._ready.set()
        self._ready.set()  # it ended: start() looks at poll() and says so

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        proc = self.proc
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)  # its group: the exporter and the ser2net it started
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a ser2net left behind by its exporter
        if self._reader is not None:
            self._reader.join(5)
        self.proc = None


def coordinator(listen: str, workdir: Path) -> LabgridProcess:
    """``labgrid-coordinator -l LISTEN``, its places.yaml and resources.yaml in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    return LabgridProcess("labgrid coordinator", [sys.executable, "-m", "labgrid.remote.coordinator",
                                                  "-l", listen],
                          COORDINATOR_READY, workdir / "coordinator.log", cwd=workdir)


def exporter(coordinator: str, name: str, hostname: str, config: Path, log: Path) -> LabgridProcess:
    """``labgrid-exporter -c COORDINATOR -n NAME --hostname HOSTNAME CONFIG``."""
    return LabgridProcess(f"labgrid exporter {name}",
                          [sys.executable, "-m", "labgrid.remote.exporter", "-c", coordinator,
                           "-n", name, "--hostname", hostname, str(config)],
                          EXPORTER_READY, log, cwd=config.parent)
