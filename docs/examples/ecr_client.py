"""An ECR client for posrig-ecr/1 and its card robot, written from the pages alone.

It was written from docs/posrig-ecr-1.md, docs/robot.md, the terminal profile and the README
(not from posrig's code), and drives one station of a running lab through a whole day:
status, login, sign-in, a chip sale with its PIN, a swiped sale, a void and a refund with the
supervisor's password, a reprint and the settlement, then three requests the terminal must
answer as errors. It needs pyserial only.

    posrig lab up > live.json &
    python docs/examples/ecr_client.py live.json [STATION]

It prints one line per answer and exits 0 when every answer was the one expected.
tests/test_ecr_client_example.py runs it against a virtual lab.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import serial

STX, ETX, ACK, NAK = 0x02, 0x03, 0x06, 0x15

# The profile's ecr: section (fixtures/terminals/posrig-sim.yaml).
ACK_TIMEOUT_S, REPEATS, ANSWER_TIMEOUT_S = 1.0, 3, 60.0


def lrc(payload: bytes) -> int:
    """XOR of every payload byte and ETX."""
    value = ETX
    for byte in payload:
        value ^= byte
    return value


class EcrLink:
    """The ECR's end of the link. A reader thread ACKs every good frame at once (the terminal
    repeats a frame not ACKed within a second, even while the robot is busy) and queues it."""

    def __init__(self, url: str) -> None:
        self.port = serial.serial_for_url(url, baudrate=115200, timeout=0.05)
        self.frames: queue.Queue[dict[str, Any]] = queue.Queue()
        self.acks: queue.Queue[int] = queue.Queue()
        self.next_id = 1
        self._running = True
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        frame: bytearray | None = None  # None: between frames
        lrc_due = False
        while self._running:
            for byte in self.port.read(4096):
                if lrc_due:
                    lrc_due = False
                    payload = bytes(frame or b"")
                    frame = None
                    self.port.write(bytes([ACK if lrc(payload) == byte else NAK]))
                    if lrc(payload) == byte:
                        self.frames.put(json.loads(payload.decode("utf-8")))
                elif byte == STX:  # a new STX inside a frame starts it again
                    frame = bytearray()
                elif frame is None:
                    if byte in (ACK, NAK):
                        self.acks.put(byte)
                    # anything else between frames is line noise
                elif byte == ETX:
                    lrc_due = True
                else:
                    frame.append(byte)

    def send(self, message: dict[str, Any]) -> None:
        payload = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        frame = bytes([STX]) + payload + bytes([ETX, lrc(payload)])
        heard = []
        for _ in range(1 + REPEATS):
            self.port.write(frame)
            try:
                answer = self.acks.get(timeout=ACK_TIMEOUT_S)
            except queue.Empty:
                heard.append("silence")
                continue
            if answer == ACK:
                return
            heard.append("NAK")
        raise ConnectionError(f"the link is broken: no ACK after {1 + REPEATS} sends ({', '.join(heard)})")

    def request(self, cmd: str, args: dict[str, Any] | None = None, *,
                on_event: Callable[[dict[str, Any]], None] | None = None,
                request_id: int | None = None) -> dict[str, Any]:
        """Send one request and return its response; events go to ``on_event`` meanwhile."""
        request_id = self.next_id if request_id is None else request_id
        self.next_id = request_id + 1
        message: dict[str, Any] = {"type": "request", "id": request_id, "cmd": cmd}
        if args:
            message["args"] = args
        self.send(message)
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{cmd}: no answer within {ANSWER_TIMEOUT_S:g} s")
            try:
                frame = self.frames.get(timeout=left)
            except queue.Empty:
                continue
            if frame["type"] == "event":
                if on_event is not None:
                    on_event(frame)
            elif frame["type"] == "response" and frame["id"] == request_id:
                return frame
            # a late answer to an earlier id: the first answer counted, ignore it

    def close(self) -> None:
        self._running = False
        self._reader.join(2)
        self.port.close()


# The profile's robot: section (fixtures/terminals/posrig-sim.yaml), in mm.
FEED, PLUNGE, SAFE_Z = 6000, 3000, 0
FIRST_SLOT, SLOT_PITCH, PICK_Z = (20, 20), (0, 25), -40
CHIP_READER = (160, 30, -35)
MAG_READER = {"y": 120, "x_from": 120, "x_to": 220, "z": -20}
PRESS_Z = -25
KEYS = {"1": (140, 160), "2": (155, 160), "3": (170, 160), "4": (140, 175), "5": (155, 175),
        "6": (170, 175), "7": (140, 190), "8": (155, 190), "9": (170, 190), "0": (155, 205),
        "cancel": (140, 205), "enter": (170, 205), "clear": (185, 190), "menu": (185, 160)}


class Robot:
    """The card robot as docs/robot.md tells it: a GRBL-style controller, one G-code block a
    line; each action ends with a block answered only at rest (G4 P0)."""

    def __init__(self, url: str) -> None:
        self.port = serial.serial_for_url(url, baudrate=115200, timeout=0.1)

    def _line(self, timeout: float) -> str:
        deadline, text = time.monotonic() + timeout, b""
        while time.monotonic() < deadline:
            char = self.port.read(1)
            if char == b"\n":
                if text.strip():
                    return text.decode(errors="replace").strip()
                text = b""
            else:
                text += char
        raise TimeoutError(f"the robot did not answer within {timeout:g} s")

    def block(self, line: str, timeout: float = 30.0) -> None:
        self.port.write(line.encode() + b"\n")
        while True:
            answer = self._line(timeout)
            if answer == "ok":
                return
            if answer.startswith(("error:", "ALARM:")):
                raise RuntimeError(f"robot: {line!r} answered {answer}")

    def status(self) -> str:
        self.port.write(b"?")  # a real-time byte: no newline, answered by the status line only
        while not (answer := self._line(5)).startswith("<"):
            pass
        return answer

    def home(self) -> None:
        self.port.reset_input_buffer()
        self.port.write(b"\x18")  # soft reset: answered by the banner
        while not self._line(5).startswith("Grbl"):
            pass
        self.block("G28")
        self.block("G21 G90")

    def _over(self, x: float, y: float) -> None:
        self.block(f"G1 Z{SAFE_Z} F{PLUNGE}")
        self.block(f"G1 X{x} Y{y} F{FEED}")

    def _down(self, z: float) -> None:
        self.block(f"G1 Z{z} F{PLUNGE}")

    def _at_rest(self) -> None:
        self.block("G4 P0")

    def _slot(self, slot: int) -> tuple[float, float]:
        return (FIRST_SLOT[0] + (slot - 1) * SLOT_PITCH[0], FIRST_SLOT[1] + (slot - 1) * SLOT_PITCH[1])

    def _grip(self, where: str) -> None:
        self.block("M3")
        if "Pn:P" not in self.status():  # the card sensor: the jaws hold a card
            raise RuntimeError(f"robot: no card in the jaws at {where}")

    def pick(self, slot: int) -> None:
        self._over(*self._slot(slot))
        self.block("M5")
        self._down(PICK_Z)
        self._grip(f"slot {slot}")
        self._down(SAFE_Z)
        self._at_rest()

    def insert(self) -> None:
        self._over(*CHIP_READER[:2])
        self._down(CHIP_READER[2])
        self.block("M5")  # let go: the finger is free for the PIN
        self._down(SAFE_Z)
        self._at_rest()

    def remove(self) -> None:
        self._over(*CHIP_READER[:2])
        self.block("M5")
        self._down(CHIP_READER[2])
        self._grip("the chip reader")
        self._down(SAFE_Z)
        self._at_rest()

    def swipe(self, speed_mm_s: float = 300) -> None:
        self._over(MAG_READER["x_from"], MAG_READER["y"])
        self._down(MAG_READER["z"])
        self.block(f"G1 X{MAG_READER['x_to']} F{speed_mm_s * 60:g}")
        self._down(SAFE_Z)
        self._at_rest()

    def return_card(self, slot: int) -> None:
        self._over(*self._slot(slot))
        self._down(PICK_Z)
        self.block("M5")
        self._down(SAFE_Z)
        self._at_rest()

    def press_keys(self, keys: list[str]) -> None:
        for key in keys:
            self._over(*KEYS[key])
            self._down(PRESS_Z)
            self._down(SAFE_Z)
        self._at_rest()


class Cardholder:
    """Answers a command's prompts with the robot: presents the card (inserted or swiped),
    types the PIN or the supervisor's password and ENTER, takes the card back."""

    def __init__(self, robot: Robot, slot: int, *, swipe: bool = False, pin: str | None = None,
                 supervisor_password: str | None = None) -> None:
        self.robot, self.slot, self.swipe = robot, slot, swipe
        self.pin, self.supervisor_password = pin, supervisor_password
        self.presented = False

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] != "prompt":
            return
        prompt = event["data"]["prompt"]
        if prompt == "insert_card" and not self.presented:
            self.presented = True
            self.robot.pick(self.slot)
            if self.swipe:
                self.robot.swipe()
                self.robot.return_card(self.slot)
            else:
                self.robot.insert()
        elif prompt == "enter_pin":
            self.robot.press_keys([*self.pin, "enter"])  # ENTER ends the entry
        elif prompt == "supervisor_password":
            self.robot.press_keys([*self.supervisor_password, "enter"])
        elif prompt == "remove_card":
            self.robot.remove()
            self.robot.return_card(self.slot)


def main(argv: list[str]) -> int:
    live = json.loads(Path(argv[1]).read_text(encoding="utf-8").splitlines()[0])
    station = next(s for s in live["stations"] if len(argv) < 3 or s["name"] == argv[2])
    slot = {card: int(number) for number, card in station["magazine"].items()}
    link, robot = EcrLink(station["terminal"]["ecr"]), Robot(station["robot"])
    wrong: list[str] = []

    def check(answer: dict[str, Any], status: str) -> dict[str, Any]:
        data = {k: (f"[{len(v)} lines]" if k.endswith("receipt") else v) for k, v in answer["data"].items()}
        print(f"{answer['cmd']} {answer['status']} {json.dumps(data, ensure_ascii=False)}")
        if answer["status"] != status:
            wrong.append(f"{answer['cmd']}: {answer['status']}, expected {status}")
        return answer["data"]

    try:
        robot.home()
        first = link.request("status")
        if first["data"].get("reason") == "duplicate_id":  # the client before ended on id 1
            first = link.request("status")
        check(first, "ok")
        check(link.request("login", {"operator": "01", "password": "0000"}), "ok")
        check(link.request("signin"), "ok")
        chip = check(link.request("sale", {"amount": 12345},
                                  on_event=Cardholder(robot, slot["cup-debit-chip"], pin="123456")),
                     "approved")
        swiped = check(link.request("sale", {"amount": 1000},
                                    on_event=Cardholder(robot, slot["cup-magstripe"], swipe=True,
                                                        pin="111111")), "approved")
        check(link.request("void", {"trace": chip["trace"]},
                           on_event=Cardholder(robot, slot["cup-debit-chip"], supervisor_password="123456")),
              "approved")
        check(link.request("refund", {"amount": 500, "orig_trace": swiped["trace"]},
                           on_event=Cardholder(robot, slot["cup-magstripe"], swipe=True,
                                               supervisor_password="123456")), "approved")
        check(link.request("reprint"), "ok")
        check(link.request("settle"), "ok")
        # what the terminal must answer as errors, without doing anything
        check(link.request("refuel"), "refused")
        check(link.request("status", request_id=link.next_id - 1), "error")
        check(link.request("sale", {"amount": "1.23"}), "error")
    finally:
        link.close()
        robot.port.close()
    print("every answer as expected" if not wrong else "\n".join(["unexpected answers:", *wrong]))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
