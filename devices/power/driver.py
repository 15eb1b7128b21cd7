"""Power relay driver: on, off, cycle, query over a serial relay board."""

from __future__ import annotations

import termios
import time

import serial

from devices import events
from devices.channels import open_serial
from devices.faults import StationFault
from devices.power import protocol


class PowerError(StationFault):
    pass


class SerialPowerRelay:
    def __init__(self, url: str, *, channel: int = 1, station: str = "station", timeout: float = 2.0):
        self.url, self.channel, self.station = url, channel, station
        self.source = f"{station}/power"
        self.port = open_serial(url, baudrate=9600, timeout=timeout, device=f"{station} power relay")

    def _command(self, op: int) -> bool:
        try:
            self.port.reset_input_buffer()
            self.port.write(protocol.encode(self.channel, op))
            reply = self.port.read(4)
        # the port (or its lab host) went away; termios.error, from flushing a vanished tty,
        # is no OSError
        except (serial.SerialException, OSError, termios.error) as exc:
            raise PowerError(f"{self.station}: lost the power relay's port {self.url}: {exc}") from exc
        if len(reply) != 4:
            raise PowerError(f"{self.station}: the power relay on {self.url} did not answer "
                             f"(got {len(reply)} of 4 bytes); check its cable and supply")
        try:
            channel, state = protocol.decode(reply)
        except protocol.RelayProtocolError as exc:
            raise PowerError(f"{self.station}: power relay on {self.url}: {exc}") from exc
        if channel != self.channel:
            raise PowerError(f"{self.station}: relay answered for channel {channel}, "
                             f"asked {self.channel}")
        events.log(self.source, f"op {op} -> {'on' if state else 'off'}")
        return state == protocol.ON

    def on(self) -> None:
        with events.step(self.source, "power on"):
            if not self._command(protocol.ON):
                raise PowerError(f"{self.station}: relay did not switch on")

    def off(self) -> None:
        with events.step(self.source, "power off"):
            if self._command(protocol.OFF):
                raise PowerError(f"{self.station}: relay did not switch off")

    def is_on(self) -> bool:
        return self._command(protocol.QUERY)

    def cycle(self, hold_s: float = 1.0) -> None:
        """Off, hold (the supply's capacitors must drain on a real bench), on."""
        with events.step(self.source, "power cycle", hold_s=hold_s):
            self.off()
            time.sleep(hold_s)  # a physical hold time, not a race: the supply must drain
            self.on()

    def close(self) -> None:
        self.port.close()
