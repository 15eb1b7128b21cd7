"""Simulated relay board: answers the byte protocol and cuts the bench model's power."""

from __future__ import annotations

import threading

from devices.bench_model import BenchModel
from devices.channels import PtyPort
from devices.power import protocol


class SimulatedPowerRelay:
    def __init__(self, model: BenchModel, channel: int = 1):
        self.model, self.channel = model, channel
        self.pty = PtyPort()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{model.station}/sim-power",
                                        daemon=True)

    @property
    def url(self) -> str:
        return self.pty.path

    def start(self) -> SimulatedPowerRelay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.pty.close()

    def _run(self) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                buf += self.pty.read(64)
            except Exception:
                return
            while len(buf) >= 4:
                start = buf.find(bytes([protocol.HEAD]))
                if start < 0:
                    buf = b""
                    break
                frame, buf = buf[start:start + 4], buf[start + 4:]
                if len(frame) < 4:
                    buf = frame + buf
                    break
                try:
                    channel, op = protocol.decode(frame)
                except protocol.RelayProtocolError:
                    continue  # a real board ignores garbage
                if channel != self.channel:
                    continue
                if op in (protocol.ON, protocol.OFF):
                    self.model.set_power(op == protocol.ON)
                state = protocol.ON if self.model.powered else protocol.OFF
                self.pty.write(protocol.encode(channel, state))
