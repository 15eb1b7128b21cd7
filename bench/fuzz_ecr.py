"""Fuzz the ECR link both ways: the simulated terminal facing a hostile ECR, and the rig's
driver (``EcrTerminal``) facing a hostile terminal. Everything goes through the real link
over a real pty, as in the lab.

    python bench/fuzz_ecr.py [--frames 100000] [--driver-frames 100000] [--seed 1] [--quick]

1. *At the simulated terminal*: frames in batches of ``--batch`` -- random bytes, valid
   requests mutated (bytes flipped, cut, repeated), structural attacks (nesting bombs,
   Infinity/NaN/1e400/5,000-digit numbers, long strings, wrong types, unknown commands,
   bad arguments, reused ids, responses and events sent to a terminal), bad LRCs and line
   noise between frames. Every whole frame must be answered by one response; after every
   batch a valid ``status`` must be answered ``ok``.
2. *At the driver*: a fake terminal answers each ``status`` with a burst of hostile frames
   (the same families, as responses and events, with right and wrong ids, floods of events)
   and then the real answer. The driver must raise only terminal defects (``DialectError``
   and kin) and go on; after every batch its link must still work.

Prints, per side: frames, batches, dead threads, batches without a valid status answer,
hangs (a batch or round that did not finish in time), crashes (an exception outside the
fault taxonomy, or a thread that died), frames unanswered, late frames (answers still
coming after a batch was counted: the terminal repeated a frame because line noise put a NAK
on the wire), the simulated terminal's internal-error log lines, log lines that carried raw
control characters, RSS growth after the warm-up, and the valid ``status`` round trip
before and after (the baseline measured in the same run, and their ratio). Ends with ONE
JSON line. ``--quick`` runs a few thousand frames each way (tests/test_ecr_hostile.py runs it).
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devices import events
from devices.bench_model import BenchModel
from devices.channels import PtyPort, open_serial
from devices.faults import RigDefect, StationFault, TerminalDefect
from devices.terminal import dialect
from devices.terminal.dialect import Event, Request, Response
from devices.terminal.driver import EcrTerminal
from devices.terminal.link import ETX, STX, EcrLink, LinkError, encode_frame
from devices.terminal.sim import SimTerminalConfig, SimulatedTerminal

RAW_CONTROL = re.compile("[\x00-\x1f\x7f\u2028\u2029]")

# -- frames ------------------------------------------------------------------------------------

VALID_REQUESTS = [
    Request(7, "status"), Request(8, "login", {"operator": "01", "password": "0000"}),
    Request(9, "signin"), Request(10, "sale", {"amount": 12345}),
    Request(11, "void", {"trace": 12, "supervisor_password": "123456"}),
    Request(12, "refund", {"amount": 500, "orig_rrn": "123456789012", "orig_date": "0412"}),
    Request(13, "settle"), Request(14, "reprint", {"trace": 3}),
]
VALID_ANSWERS = [
    Response(1, "status", "ok", {"tid": "10000001", "batch": 1, "trace": 12, "booted": True}),
    Response(1, "sale", "approved", {"rc": "00", "trace": 13, "amount": 12345,
                                     "receipt": ["银联 POS", "MERCHANT COPY", "AMOUNT: RMB 123.45"]}),
    Event("display", {"lines": ["消费 SALE", "金额 AMOUNT RMB 123.45"]}),
    Event("prompt", {"prompt": "insert_card", "amount": 12345}),
    Event("printing", {"state": "started"}),
]
BAD_NUMBERS = [b"Infinity", b"-Infinity", b"NaN", b"1e400", b"-1e400", b"9" * 5000, b"1" * 40,
               b"0.1e99999", b"-0", b"1.5", b"2147483648", b"-1", b"true", b"null", b'"7"', b"[]"]


def clean(payload: bytes) -> bytes:
    """A payload the link can carry (no raw STX/ETX), at most the link's size."""
    return payload.replace(bytes([STX]), b"").replace(bytes([ETX]), b"")[:60_000]


def structural(rng: random.Random, rid: int) -> bytes:
    kind = rng.randrange(14)
    if kind == 0:
        return b"[" * rng.choice([9, 100, 1000, 40_000])
    if kind == 1:
        n = rng.choice([9, 50, 5000])
        return b'{"a":' * n + b"1" + b"}" * n
    if kind == 2:
        return b'{"type":"request","id":' + rng.choice(BAD_NUMBERS) + b',"cmd":"status"}'
    if kind == 3:
        return (b'{"type":"request","id":%d,"cmd":"reprint","args":{"trace":' % rid
                + rng.choice(BAD_NUMBERS) + b"}}")
    if kind == 4:
        return b'{"type":"request","id":%d,"cmd":"sale","args":{"amount":' % rid + rng.choice(
            [b'"1.23"', b"1.23", b"-5", b"1e12", b'"12345"', b"null", b"{}", b"true", *BAD_NUMBERS]) + b"}}"
    if kind == 5:
        return json.dumps({"type": "request", "id": rid, "cmd": "x" * rng.choice([5, 33, 2000])}).encode()
    if kind == 6:
        return json.dumps({"type": "request", "id": rid, "cmd": rng.choice(dialect.COMMANDS),
                           "args": {"s" * rng.randrange(1, 40): "v" * rng.choice([1, 1025, 15000])}}).encode()
    if kind == 7:
        return json.dumps({"type": "request", "id": rid, "cmd": "login",
                           "args": {"operator": "99\r\n[    0.100] READY", "password": "\x1b[2J"}}).encode()
    if kind == 8:
        return dialect.encode(rng.choice(VALID_ANSWERS))  # what a terminal sends, sent to one
    if kind == 9:
        return json.dumps({"type": rng.choice(["request", "response", "event", None, 5, "x"]),
                           "id": rng.choice([rid, None, "7", 7.5, [], True])}).encode()
    if kind == 10:
        return b"[" + b"0," * rng.choice([10, 3000, 20_000]) + b"0]"
    if kind == 11:
        return json.dumps({"type": "request", "id": rid, "cmd": "status", "args": rng.choice(
            [[], "x", 5, None, {"unknown": 1}])}).encode()
    if kind == 12:
        return rng.choice([b"", b"null", b"12", b'"str"', b"{", b"}", b'{"type":"request"'])
    return "\u2028\u0085 не JSON 非 JSON \x00\x01".encode() * rng.randrange(1, 50)


def mutated(rng: random.Random, payload: bytes) -> bytes:
    data = bytearray(payload)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(5)
        if not data:
            data += bytes(rng.randrange(256) for _ in range(8))
        i = rng.randrange(len(data))
        if op == 0:
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            del data[i:i + rng.randrange(1, 10)]
        elif op == 2:
            data[i:i] = data[i:i + rng.randrange(1, 40)] * rng.randrange(1, 50)
        elif op == 3:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 10)))
        else:
            data[i:i] = rng.choice([b"[", b"{", b'"', b"\\", b"9" * 30, b"\xff", b"\r\n"])
    return bytes(data)


def hostile(rng: random.Random, rid: int, pool: list[bytes]) -> bytes:
    roll = rng.random()
    if roll < 0.2:
        return bytes(rng.randrange(256) for _ in range(rng.choice([1, 8, 64, 600])))
    if roll < 0.6:
        return mutated(rng, rng.choice(pool))
    return structural(rng, rid)


# -- helpers -----------------------------------------------------------------------------------

def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class LogWatch:
    """Counts log lines (every source) that carry raw control characters."""

    def __init__(self) -> None:
        self.lines = 0
        self.raw_control = 0
        self.internal_errors = 0  # the simulated terminal's own failures (bugs), by log line
        self.examples: list[str] = []
        self._unsubscribe = events.subscribe(self)

    def __call__(self, event: Any) -> None:
        text = getattr(event, "text", None)
        if text is None:
            return
        self.lines += 1
        if "internal error" in text:
            self.internal_errors += 1
        if RAW_CONTROL.search(text):
            self.raw_control += 1
            if len(self.examples) < 3:
                self.examples.append(repr(text[:120]))

    def close(self) -> None:
        self._unsubscribe()


# -- 1. the simulated terminal -----------------------------------------------------------------

def start_terminal(workdir: Path) -> SimulatedTerminal:
    model = BenchModel("fuzz", {})
    # no host (port 9 on loopback is closed): nothing the fuzz reaches can go online; an
    # operator password no frame carries: nothing logs in, so every command ends at once
    config = SimTerminalConfig(tid="10000001", mid="898100012340001", tmk=bytes(16),
                               host=("127.0.0.1", 9), state_dir=workdir, operator_password="8642",
                               host_timeout=0.5, card_timeout=1.0, pin_timeout=1.0)
    return SimulatedTerminal(model, config).start()


def status_round(link: EcrLink, timeout: float = 10.0, why: list[str] | None = None) -> float | None:
    """A valid status answered ``ok`` (id 1 begins a new link session; 2 if 1 was the last
    id); its round trip in seconds, or None (and what went wrong appended to ``why``)."""
    why = [] if why is None else why
    started = time.monotonic()
    for rid in (1, 2):
        try:
            link.send(dialect.encode(Request(rid, "status")))
        except LinkError as exc:
            why.append(f"send: {exc}"[:300])
            return None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = dialect.decode(link.receive(deadline - time.monotonic()))
            except (LinkError, dialect.DialectError) as exc:
                why.append(f"receive: {type(exc).__name__}: {exc}"[:300])
                return None
            if isinstance(message, Response) and message.id == rid and message.cmd == "status":
                if message.ok:
                    return time.monotonic() - started
                if message.data.get("reason") != "duplicate_id":
                    why.append(f"answer: {message}"[:300])
                    return None
                break
    why.append("no answer")
    return None


def baseline_rtt(link: EcrLink, n: int) -> float:
    times = [status_round(link) for _ in range(n)]
    good = sorted(t for t in times if t is not None)
    return good[len(good) // 2] * 1000 if good else float("nan")


def fuzz_terminal(frames: int, batch: int, seed: int, workdir: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    sim = start_terminal(workdir)
    client = EcrLink(open_serial(sim.url, timeout=0.05), name="fuzz ECR", ack_timeout=1.0, repeats=3)
    pool = [dialect.encode(r) for r in VALID_REQUESTS]
    figures: dict[str, Any] = {"frames": 0, "batches": 0, "unanswered": 0, "hangs": 0,
                               "status_failures": 0, "send_failures": 0, "noise_bytes": 0,
                               "bad_lrc_frames": 0, "bad_lrc_not_naked": 0, "late_frames": 0,
                               "reasons": {}}
    try:
        deadline = time.monotonic() + 30
        while status_round(client, 2) is None:  # boot
            if time.monotonic() > deadline:
                raise SystemExit("the simulated terminal did not answer status within 30 s")
        before = baseline_rtt(client, 50)
        rss0 = rss_mb()
        rid = 100
        while figures["frames"] < frames:
            sent = 0
            for _ in range(min(batch, frames - figures["frames"])):
                rid += 1 if rng.random() < 0.95 else rng.choice([0, -3])  # some ids reused
                payload = clean(hostile(rng, max(rid, 2), pool))
                if rng.random() < 0.03:  # line noise and a frame with a bad LRC, raw on the wire
                    noise = bytes(b for b in rng.randbytes(rng.randrange(1, 64)) if b not in (STX,))
                    client.port.write(noise)
                    figures["noise_bytes"] += len(noise)
                    frame = encode_frame(payload)
                    client.port.write(frame[:-1] + bytes([frame[-1] ^ 0x5A]))
                    figures["bad_lrc_frames"] += 1
                    # take the terminal's NAK for it here, or the next send would take it
                    # for its own and repeat a frame the terminal already has
                    try:
                        client._acks.get(timeout=2)
                    except queue.Empty:
                        figures["bad_lrc_not_naked"] += 1
                try:
                    client.send(payload)
                except LinkError:
                    figures["send_failures"] += 1
                    continue
                sent += 1
                figures["frames"] += 1
            answers = 0
            batch_deadline = time.monotonic() + 30
            while answers < sent and time.monotonic() < batch_deadline:
                try:
                    message = dialect.decode(client.receive(max(0.01, batch_deadline - time.monotonic())))
                except LinkError:
                    break
                if isinstance(message, Response):
                    answers += 1
                    reason = str(message.data.get("reason", message.status))
                    figures["reasons"][reason] = figures["reasons"].get(reason, 0) + 1
            if answers < sent:
                figures["hangs"] += 1
                figures["unanswered"] += sent - answers
            figures["batches"] += 1
            while True:  # what is still coming (a frame the terminal repeated): not the check's
                try:
                    client.receive(0.3)
                    figures["late_frames"] += 1
                except LinkError:
                    break
            why: list[str] = []
            if status_round(client, why=why) is None:
                figures["status_failures"] += 1
                figures.setdefault("status_failure_examples", []).append("; ".join(why))
        figures["rss_growth_mb"] = round(rss_mb() - rss0, 1)
        after = baseline_rtt(client, 50)
        figures.update(status_rtt_ms_before=round(before, 2), status_rtt_ms_after=round(after, 2),
                       rtt_ratio=round(after / before, 2) if before else None)
        dead = [name for name, alive in (("sim-terminal", sim._thread.is_alive()),
                                         ("sim link reader", sim.frontend.link._thread.is_alive()),
                                         ("fuzz client reader", client._thread.is_alive()))
                if not alive]
        figures["dead_threads"] = len(dead)
        figures["dead"] = dead
        figures["console_lines_dropped"] = sim.console_port.dropped
    finally:
        client.close()
        sim.stop()
    return figures


# -- 2. the driver -----------------------------------------------------------------------------

class HostileTerminal:
    """Answers every request with ``burst`` hostile frames, then (usually) the real answer."""

    def __init__(self, rng: random.Random, burst: int) -> None:
        self.rng, self.burst = rng, burst
        self.pty = PtyPort()
        self.link = EcrLink(self.pty, name="hostile terminal", ack_timeout=1.0)
        self.pool = [dialect.encode(a) for a in VALID_ANSWERS]
        self.sent = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hostile terminal", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                message = dialect.decode(self.link.receive(0.2))
            except (LinkError, dialect.DialectError):
                continue
            try:
                self._answer(message.id)
            except LinkError as exc:
                self.errors.append(str(exc)[:200])

    def _answer(self, rid: int) -> None:
        rng = self.rng
        for _ in range(self.burst):
            roll = rng.random()
            if roll < 0.15:  # a flood of valid events nobody waits for
                payload = dialect.encode(Event("display", {"lines": ["x" * 100] * 3}))
            elif roll < 0.25:  # answers to requests never sent
                payload = dialect.encode(Response(rng.randrange(10**6, 10**9), "status", "ok", {}))
            else:
                payload = clean(hostile(rng, rid, self.pool)).replace(b'"request"', b'"response"')
            self.link.send(payload)
            self.sent += 1
        if self.burst == 0 or rng.random() < 0.995:  # now and then no real answer: the driver times out
            self.link.send(dialect.encode(Response(rid, "status", "ok", {"booted": True})))
            self.sent += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.link.close()
        self.pty.close()


def fuzz_driver(frames: int, burst: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed + 1)
    fake = HostileTerminal(rng, burst)
    driver = EcrTerminal(fake.pty.path, station="fuzz", ack_timeout=1.0, response_timeout=5)
    figures: dict[str, Any] = {"frames": 0, "rounds": 0, "terminal_defects": 0, "station_faults": 0,
                               "crashes": 0, "crash_examples": [], "hangs": 0, "timeouts": 0,
                               "status_failures": 0, "defect_kinds": {}}
    try:
        burst_before, fake.burst = fake.burst, 0
        calm = []
        for _ in range(50):
            started = time.monotonic()
            driver.call("status")
            calm.append(time.monotonic() - started)
        before = sorted(calm)[25] * 1000
        fake.burst = burst_before
        rss0 = rss_mb()
        while fake.sent < frames:
            figures["rounds"] += 1
            started = time.monotonic()
            try:
                pending = driver.send("status")
            except LinkError:
                figures["station_faults"] += 1
                continue
            while True:
                try:
                    pending.result(timeout=1)
                    break
                except TerminalDefect as exc:  # DialectError, a request from a terminal, a timeout
                    name = type(exc).__name__
                    figures["defect_kinds"][name] = figures["defect_kinds"].get(name, 0) + 1
                    if "waited in vain" in str(exc):
                        figures["timeouts"] += 1
                        break
                    figures["terminal_defects"] += 1
                except StationFault:
                    figures["station_faults"] += 1
                except (RigDefect, Exception) as exc:
                    figures["crashes"] += 1
                    if len(figures["crash_examples"]) < 3:
                        figures["crash_examples"].append(f"{type(exc).__name__}: {str(exc)[:150]}")
                if time.monotonic() - started > 60:
                    figures["hangs"] += 1
                    break
            if figures["rounds"] % 20 == 0:  # a batch: a calm status must get through
                fake.burst = 0
                try:
                    for _ in range(3):  # what the last burst left in the inbox comes first
                        try:
                            if driver.call("status", timeout=5).ok:
                                break
                        except TerminalDefect:
                            continue
                    else:
                        figures["status_failures"] += 1
                except StationFault:
                    figures["status_failures"] += 1
                fake.burst = burst_before
        figures["frames"] = fake.sent
        figures["rss_growth_mb"] = round(rss_mb() - rss0, 1)
        fake.burst = 0
        calm = []
        for _ in range(50):
            started = time.monotonic()
            try:
                driver.call("status")
            except TerminalDefect:
                continue
            calm.append(time.monotonic() - started)
        after = sorted(calm)[len(calm) // 2] * 1000 if calm else float("nan")
        figures.update(status_rtt_ms_before=round(before, 2), status_rtt_ms_after=round(after, 2),
                       rtt_ratio=round(after / before, 2) if before else None,
                       events_held=len(driver._events), events_dropped=driver.dropped_events,
                       responses_held=len(driver._responses))
        dead = [name for name, alive in (("driver link reader", driver.link._thread.is_alive()),
                                         ("hostile terminal", fake._thread.is_alive()))
                if not alive]
        figures["dead_threads"] = len(dead)
        figures["dead"] = dead
        figures["fake_terminal_errors"] = len(fake.errors)
    finally:
        driver.close()
        fake.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000, help="frames at the simulated terminal")
    parser.add_argument("--driver-frames", type=int, default=100_000, help="frames at the driver")
    parser.add_argument("--batch", type=int, default=200, help="frames between status checks")
    parser.add_argument("--burst", type=int, default=20, help="hostile frames per driver request")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="2,000 frames each way")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.driver_frames = 2_000, 2_000
    watch = LogWatch()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        terminal = fuzz_terminal(args.frames, args.batch, args.seed, Path(tmp))
    terminal_s = time.monotonic() - started
    print(f"simulated terminal: {terminal['frames']} frames in {terminal['batches']} batches, "
          f"{terminal['dead_threads']} dead threads {terminal['dead']}, {terminal['hangs']} hangs, "
          f"{terminal['unanswered']} unanswered, {terminal['status_failures']} batches without a valid "
          f"status {terminal.get('status_failure_examples', '')}, RSS +{terminal['rss_growth_mb']} MB, "
          f"status round trip "
          f"{terminal['status_rtt_ms_before']} ms before / {terminal['status_rtt_ms_after']} ms after "
          f"(ratio {terminal['rtt_ratio']}); answers by reason {terminal['reasons']}", flush=True)
    driver = fuzz_driver(args.driver_frames, args.burst, args.seed)
    driver_s = time.monotonic() - started - terminal_s
    print(f"driver: {driver['frames']} frames in {driver['rounds']} rounds, {driver['dead_threads']} "
          f"dead threads {driver['dead']}, {driver['crashes']} crashes {driver['crash_examples']}, "
          f"{driver['hangs']} hangs, {driver['status_failures']} batches without a valid status, "
          f"{driver['terminal_defects']} terminal defects raised {driver['defect_kinds']}, "
          f"{driver['timeouts']} timeouts (real answer withheld), RSS +{driver['rss_growth_mb']} MB, "
          f"events held {driver['events_held']} (dropped {driver['events_dropped']}), status round trip "
          f"{driver['status_rtt_ms_before']} ms before / {driver['status_rtt_ms_after']} ms after "
          f"(ratio {driver['rtt_ratio']})", flush=True)
    print(f"log lines: {watch.lines}, with raw control characters: {watch.raw_control} {watch.examples}, "
          f"internal-error lines: {watch.internal_errors}")
    watch.close()
    summary = {
        "terminal_frames": terminal["frames"], "terminal_batches": terminal["batches"],
        "terminal_dead_threads": terminal["dead_threads"], "terminal_hangs": terminal["hangs"],
        "terminal_unanswered": terminal["unanswered"], "terminal_late_frames": terminal["late_frames"],
        "terminal_bad_lrc_frames": terminal["bad_lrc_frames"],
        "terminal_bad_lrc_not_naked": terminal["bad_lrc_not_naked"],
        "terminal_status_failures": terminal["status_failures"],
        "terminal_rss_growth_mb": terminal["rss_growth_mb"],
        "terminal_status_rtt_ms_before": terminal["status_rtt_ms_before"],
        "terminal_status_rtt_ms_after": terminal["status_rtt_ms_after"],
        "terminal_rtt_ratio": terminal["rtt_ratio"],
        "driver_frames": driver["frames"], "driver_rounds": driver["rounds"],
        "driver_dead_threads": driver["dead_threads"], "driver_crashes": driver["crashes"],
        "driver_hangs": driver["hangs"], "driver_status_failures": driver["status_failures"],
        "driver_terminal_defects": driver["terminal_defects"],
        "driver_rss_growth_mb": driver["rss_growth_mb"],
        "driver_events_held": driver["events_held"],
        "driver_status_rtt_ms_before": driver["status_rtt_ms_before"],
        "driver_status_rtt_ms_after": driver["status_rtt_ms_after"],
        "driver_rtt_ratio": driver["rtt_ratio"],
        "log_lines": watch.lines, "log_lines_raw_control": watch.raw_control,
        "internal_error_lines": watch.internal_errors,
        "terminal_seconds": round(terminal_s, 1), "driver_seconds": round(driver_s, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
