"""Hostile input against the acquirer host: does anything crash it, stall it, grow it?

    python bench/fuzz_host.py [--frames 1000000] [--quick] [--workers N] [--seed S]

The host runs as ``posrig host serve`` runs it (its own process, a file journal, every
exchange logged to a subscriber; with ``--workers N`` the exchanges are logged in the
workers' processes, which this subscriber does not see). This process is the fuzzer:
lanes on one ``epoll`` loop, each a connection that pipelines batches of one kind and
reconnects whenever the host closes it:

- ``random``: random bytes under a random length prefix; ``prefix``: a valid frame under a
  wrong length; ``truncated``: a frame cut short, then end of file;
- ``mutated``: valid sign-ins, echoes and sales with 1-4 bytes changed (body mostly,
  TPDU/header sometimes); ``oversize``: fields longer than the profile allows, up to the
  spec's 999; ``inject``: sign-ins whose DE63 carries newlines, ANSI escapes, NUL;
- ``maced``: MAC'd sales of a signed-in terminal, repeated (duplicate trace), with a
  bit flipped in the MAC or in the amount, with an unknown processing code;
- ``hog``: valid echoes pipelined without waiting (3 lanes);
- ``slowloris``: a frame one byte at a time; ``flood``: connect, one garbage frame, close.

A frame counts once the host handled it: answered, or the line closed because of it.
Then, each with the host to itself: sign-in latency from another process alone (the
baseline: on a shared machine it is not 2 ms) and while 3 hogs pipeline echoes (p50/p99);
10 % more idle connections than the per-peer limit, then a sign-in; connections the host
rejects, and what the host wrote per rejection. Throughout,
the host's RSS and its journal's WAL are sampled. At the end: a valid sign-in must still
be approved, the host must stop cleanly (no -wal/-shm left), no log line may carry a raw
control character, and the journal must hold no internal error. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import random
import re
import select
import signal
import socket
import sqlite3
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import iso8583

from devices import events
from devices.host import AcquirerHost, HostConfig
from devices.host.testing import MERCHANT, LoopbackTerminal, lab_card, lab_config, terminal_config
from devices.payments import framing
from devices.payments.spec import CUP_SPEC

TPDU = bytes.fromhex("6000030000")
HEADER = framing.make_header()
#: A raw control character in a log line (what escape_controls writes instead is "\\n").
RAW_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
FUZZ_TID, PROBE_TID, HOG_TID, MUTANT_TID = "10000001", "10000002", "10000003", "10000004"


# -- the host, in its own process --------------------------------------------------------
def run_host(config: HostConfig, ready: Any, stats: Any) -> None:
    """``posrig host serve`` without the printing: a subscriber that counts log lines and
    those carrying a raw control character (what a terminal printing them would obey)."""
    counts = {"log_lines": 0, "raw_control_lines": 0, "raw_sample": ""}

    def count(event: events.StepEvent | events.LogEvent) -> None:
        if isinstance(event, events.LogEvent):
            counts["log_lines"] += 1
            if RAW_CONTROL.search(event.text):
                counts["raw_control_lines"] += 1
                counts["raw_sample"] = event.text[:200]

    events.subscribe(count)
    host = AcquirerHost(config)

    async def main() -> None:
        ready.put(await host.start())
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, host.stop)
        await host.serve()

    asyncio.run(main())
    stats.put({**counts, "wal_max_seen_by_host": getattr(host.journal, "wal_max", None)})


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (Linux /proc)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (OSError, IndexError, ValueError):
        pass
    return total


def proc_status(pid: int) -> dict[str, int]:
    """RSS (kB, the process and its children) and characters written (wchar)."""
    out = {"rss_kb": 0, "wchar": 0}
    pids = [pid] + [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                    for child in (task / "children").read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out["rss_kb"] += int(line.split()[1])
            for line in Path(f"/proc/{p}/io").read_text().splitlines():
                if line.startswith("wchar:"):
                    out["wchar"] += int(line.split()[1])
        except OSError:
            pass
    return out


class Monitor(threading.Thread):
    """Samples the host's RSS and the WAL's size every 50 ms."""

    def __init__(self, pid: int, wal: Path):
        super().__init__(daemon=True, name="monitor")
        self.pid, self.wal = pid, wal
        self.rss_kb = self.rss_max_kb = self.wal_max = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.rss_kb = proc_status(self.pid)["rss_kb"]
            self.rss_max_kb = max(self.rss_max_kb, self.rss_kb)
            with contextlib.suppress(OSError):
                self.wal_max = max(self.wal_max, self.wal.stat().st_size)


# -- frames ---------------------------------------------------------------------------------
def frame(body: bytes, tpdu: bytes = TPDU, header: bytes = HEADER) -> bytes:
    return struct.pack(">H", len(tpdu) + len(header) + len(body)) + tpdu + header + body


@dataclass
class Material:
    """What the generators vary: valid requests built by the terminal side's own code."""

    signin: bytes  # body of MUTANT_TID's sign-in
    echo: bytes
    sales: list[bytes]  # whole wires, MAC'd by FUZZ_TID's working keys
    hog_echo: bytes  # whole wire
    loose_spec: dict[str, Any] = field(default_factory=dict)


def material(port: int, n_sales: int) -> Material:
    keys = lab_config().terminals
    fuzz = LoopbackTerminal(port, terminal_config(FUZZ_TID, keys[FUZZ_TID]))
    if not fuzz.signin().approved:
        raise RuntimeError("the fuzz terminal could not sign in")
    card = lab_card("cup-debit-chip")
    sales = [fuzz.sale_request(card, 1 + i % 50).wire for i in range(n_sales)]
    mutant = LoopbackTerminal(port, terminal_config(MUTANT_TID, keys[MUTANT_TID]))
    signin = mutant.session.signin_request(stan=1, batch=1, operator="01").wire
    echo = mutant.session.echo_request(batch=1).wire
    hog = LoopbackTerminal(port, terminal_config(HOG_TID, keys[HOG_TID]))
    # Receive limits lifted to what the length prefix can say: oversize fields go out.
    loose = {k: dict(v) for k, v in CUP_SPEC.items()}
    for spec in loose.values():
        if spec.get("len_type") == 1:
            spec["max_len"] = 99
        elif spec.get("len_type") == 2:
            spec["max_len"] = 999
    return Material(signin[15:], echo[15:], sales, hog.session.echo_request(batch=1).wire,
                    loose)


Batch = tuple[bytes, int, str]  # bytes, frames in it, then: keep | eof | close


class Generators:
    def __init__(self, material: Material, rng: random.Random):
        self.material, self.rng = material, rng
        self.stan = 0

    def random(self) -> Batch:
        rng = self.rng
        size = rng.choice((rng.randrange(0, 21), rng.randrange(21, 200), rng.randrange(0, 65536)))
        return struct.pack(">H", size) + rng.randbytes(min(size, rng.randrange(0, 300))), 1, "eof"

    def prefix(self) -> Batch:
        body = self.rng.choice((self.material.signin, self.material.echo))
        wire = frame(body)
        size = len(wire) - 2 + self.rng.choice((-7, -3, -1, 1, 2, 9, 400, 5000))
        return struct.pack(">H", max(0, size)) + wire[2:], 1, "eof"

    def truncated(self) -> Batch:
        wire = frame(self.rng.choice((self.material.signin, self.material.echo)))
        return wire[:self.rng.randrange(1, len(wire))], 1, "eof"

    def _mutate(self, data: bytes, n: int) -> bytes:
        buf = bytearray(data)
        rng = self.rng
        for _ in range(n):
            op = rng.randrange(4)
            i = rng.randrange(len(buf))
            if op == 0:
                buf[i] = rng.randrange(256)
            elif op == 1:
                buf[i] ^= 1 << rng.randrange(8)
            elif op == 2 and len(buf) > 4:
                del buf[i:i + rng.randrange(1, 4)]
            else:
                buf[i:i] = rng.randbytes(rng.randrange(1, 8))
        return bytes(buf)

    def mutated(self, n: int = 16) -> Batch:
        rng, material = self.rng, self.material
        out = []
        for _ in range(n):
            base = rng.choice((material.signin, material.echo, rng.choice(material.sales)[15:]))
            if rng.random() < 0.005:  # TPDU or header damaged: the line is closed
                out.append(frame(base, self._mutate(TPDU, 1), self._mutate(HEADER, 1)))
            else:
                out.append(frame(self._mutate(base, rng.randrange(1, 5))))
        return b"".join(out), n, "keep"

    def oversize(self, n: int = 16) -> Batch:
        rng = self.rng
        out = []
        for _ in range(n):
            self.stan = self.stan % 999_999 + 1
            doc = {"t": "0800", "11": f"{self.stan:06d}", "41": MUTANT_TID, "42": MERCHANT,
                   "60": "00000001003"}
            f = rng.choice(("48", "55", "62", "63", "60", "2", "35"))
            spec = self.material.loose_spec[f]
            length = rng.randrange(CUP_SPEC[f]["max_len"] + 1, spec["max_len"] + 1) \
                if spec["max_len"] > CUP_SPEC[f]["max_len"] else spec["max_len"]
            if spec["data_enc"] != "b":
                doc[f] = "".join(rng.choices("ABCDEFGH 0123", k=length))
            elif spec["len_count"] == "nibbles":
                doc[f] = "".join(rng.choices("0123456789", k=length))
            else:
                doc[f] = rng.randbytes(length).hex().upper()
            try:
                body, _ = iso8583.encode(doc, self.material.loose_spec)
            except iso8583.EncodeError:
                continue
            out.append(frame(bytes(body)))
        return b"".join(out), len(out), "keep"

    def inject(self, n: int = 16) -> Batch:
        texts = ("01 \n<forged> READY", "99\r\n[    0.100] READY", "01\x1b[2J\x1b[H",
                 "\x00\x07\x08\x7f", "01\u2028x\u202e")
        out = []
        for i in range(n):
            self.stan = self.stan % 999_999 + 1
            doc = {"t": "0800", "11": f"{self.stan:06d}", "41": MUTANT_TID, "42": MERCHANT,
                   "60": "00000001003", "63": texts[i % len(texts)]}
            body, _ = iso8583.encode(doc, self.material.loose_spec | {"63": {**CUP_SPEC["63"],
                                                                      "data_enc": "utf-8"}})
            out.append(frame(bytes(body)))
        return b"".join(out), n, "keep"

    def maced(self, n: int = 16) -> Batch:
        rng, sales = self.rng, self.material.sales
        out = []
        for _ in range(n):
            wire = bytearray(rng.choice(sales))
            how = rng.randrange(4)
            if how == 1:
                wire[-1 - rng.randrange(8)] ^= 1 << rng.randrange(8)  # the MAC
            elif how == 2:
                wire[rng.randrange(15, len(wire) - 8)] ^= 1 << rng.randrange(8)  # the body
            elif how == 3:
                wire[25:28] = b"\x99\x99\x99"  # a processing code nobody defined, mostly
            out.append(bytes(wire))  # how == 0: a repeat: duplicate trace
        return b"".join(out), n, "keep"

    def hog(self, n: int = 256) -> Batch:
        return self.material.hog_echo * n, n, "keep"

    def flood(self) -> Batch:
        return self.rng.randbytes(self.rng.randrange(2, 40)), 1, "close"


# -- the lanes ------------------------------------------------------------------------------
@dataclass
class Lane:
    kind: str
    next_batch: Callable[[], Batch]
    sock: socket.socket | None = None
    out: memoryview = field(default_factory=lambda: memoryview(b""))
    then: str = "keep"
    frames_in_flight: int = 0
    inbuf: bytearray = field(default_factory=bytearray)
    answers: int = 0
    closes: int = 0
    sent: int = 0
    drip_at: float = 0.0


class Fuzzer:
    """Lanes on one epoll loop: write when writable, read and count whatever comes back."""

    def __init__(self, port: int):
        self.port = port
        self.ep = select.epoll()
        self.by_fd: dict[int, Lane] = {}
        self.lanes: list[Lane] = []

    def add(self, lane: Lane) -> None:
        self.lanes.append(lane)
        self._connect(lane)

    def _connect(self, lane: Lane) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.setblocking(False)
        lane.sock = sock
        lane.inbuf.clear()
        lane.out, lane.then, lane.frames_in_flight = memoryview(b""), "keep", 0
        self.by_fd[sock.fileno()] = lane
        self.ep.register(sock.fileno(), select.EPOLLIN | select.EPOLLOUT)

    def _drop(self, lane: Lane, by_host: bool) -> None:
        assert lane.sock is not None
        fd = lane.sock.fileno()
        self.ep.unregister(fd)
        del self.by_fd[fd]
        lane.sock.close()
        lane.sock = None
        if by_host:
            lane.closes += 1
        self._connect(lane)

    def handled(self) -> int:
        return sum(lane.answers + lane.closes for lane in self.lanes)

    def run(self, until: Callable[[], bool], slow: float = 0.0) -> None:
        while not until():
            now = time.monotonic()
            for fd, ev in self.ep.poll(0.05):
                lane = self.by_fd.get(fd)
                if lane is None or lane.sock is None:
                    continue
                if ev & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP) \
                        and not self._read(lane):
                    continue
                if ev & select.EPOLLOUT and lane.sock is not None:
                    self._write(lane, now)
            if slow:
                for lane in self.lanes:
                    if lane.kind == "slowloris" and lane.sock is not None and now >= lane.drip_at:
                        self._write(lane, now)

    def _read(self, lane: Lane) -> bool:
        assert lane.sock is not None
        try:
            data = lane.sock.recv(262144)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            self._drop(lane, by_host=True)
            return False
        buf = lane.inbuf
        buf += data
        n = 0
        while len(buf) >= 2:
            size = buf[0] << 8 | buf[1]
            if len(buf) < size + 2:
                break
            del buf[:size + 2]
            n += 1
        lane.answers += n
        return True

    def _write(self, lane: Lane, now: float) -> None:
        sock = lane.sock
        assert sock is not None
        if not lane.out:
            if lane.then == "eof" and lane.frames_in_flight:
                return  # waiting for the host to close
            data, n, then = lane.next_batch()
            lane.out, lane.then, lane.frames_in_flight = memoryview(data), then, n
            lane.sent += n
        if lane.kind == "slowloris":
            if now < lane.drip_at:
                return
            lane.drip_at = now + 0.2
            chunk = lane.out[:1]
        else:
            chunk = lane.out
        try:
            k = sock.send(chunk)
        except BlockingIOError:
            return
        except OSError:
            self._drop(lane, by_host=True)
            return
        lane.out = lane.out[k:]
        if not lane.out:
            if lane.then == "eof":
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                self.ep.modify(sock.fileno(), select.EPOLLIN)
            elif lane.then == "close":
                lane.closes += 1  # ours: the frame went out, the line is done with
                self._drop(lane, by_host=False)

    def close(self) -> None:
        for lane in self.lanes:
            if lane.sock is not None:
                lane.sock.close()
        self.ep.close()


# -- phases ---------------------------------------------------------------------------------
def probe(port: int, n: int, pause: float, out: Any) -> None:
    """Another terminal signing in ``n`` times, one connection each: its latencies."""
    keys = lab_config().terminals[PROBE_TID]
    terminal = LoopbackTerminal(port, terminal_config(PROBE_TID, keys))
    lat, failed = [], 0
    for _ in range(n):
        start = time.perf_counter()
        try:
            ok = terminal.signin().approved
        except Exception:  # a failed sign-in is a figure here, not a crash
            ok = False
        lat.append(time.perf_counter() - start)
        failed += not ok
        time.sleep(pause)
    out.put((lat, failed))


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(0, math.ceil(len(s) * q) - 1)] if s else float("nan")


def signin_under_hogs(port: int, mat: Material, rng: random.Random, n: int,
                      ctx: Any) -> tuple[list[float], int, int]:
    fz = Fuzzer(port)
    gens = Generators(mat, rng)
    for _ in range(3):
        fz.add(Lane("hog", gens.hog))
    q = ctx.Queue()
    p = ctx.Process(target=probe, args=(port, n, 0.02, q))
    p.start()
    result: list[Any] = []

    def done() -> bool:
        if not result and not q.empty():
            result.append(q.get())
        return bool(result)

    fz.run(done)
    p.join()
    hogged = sum(lane.answers for lane in fz.lanes)
    fz.close()
    lat, failed = result[0]
    return lat, failed, hogged


def one_signin_ms(port: int) -> tuple[bool, float]:
    terminal = LoopbackTerminal(port, terminal_config(PROBE_TID, lab_config().terminals[PROBE_TID]))
    start = time.perf_counter()
    ok = terminal.signin().approved
    return ok, (time.perf_counter() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=1_000_000, help="frames the host must handle")
    ap.add_argument("--quick", action="store_true", help="a few seconds: what a test runs")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--rejects", type=int, default=10_000, help="rejected connections phase")
    args = ap.parse_args()
    if args.quick:
        args.frames, args.rejects = min(args.frames, 20_000), min(args.rejects, 500)
    probes = 60 if args.quick else 400
    rng = random.Random(args.seed)

    tmp = tempfile.TemporaryDirectory(prefix="posrig-fuzz-")
    journal = Path(tmp.name) / "host-journal.sqlite"
    config = lab_config(journal_path=journal, workers=args.workers,
                        control_path=Path(tmp.name) / "host-control.sock")
    ctx = mp.get_context("spawn")
    ready, stats = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=run_host, args=(config, ready, stats))
    proc.start()
    port = ready.get(timeout=60)
    monitor = Monitor(proc.pid, Path(f"{journal}-wal"))
    monitor.start()
    figures: dict[str, Any] = {}
    try:
        mat = material(port, 64 if args.quick else 400)
        gens = Generators(mat, rng)
        fz = Fuzzer(port)
        kinds = {"random": (2, gens.random), "prefix": (1, gens.prefix),
                 "truncated": (1, gens.truncated), "mutated": (6, gens.mutated),
                 "oversize": (2, gens.oversize), "inject": (1, gens.inject),
                 "maced": (3, gens.maced), "flood": (2, gens.flood)}
        for kind, (lanes, gen) in kinds.items():
            for _ in range(lanes):
                fz.add(Lane(kind, gen))
        for _ in range(3):
            fz.add(Lane("hog", gens.hog))
        for _ in range(2):
            fz.add(Lane("slowloris", gens.truncated))
        started = time.monotonic()
        host_cpu0, own_cpu0 = cpu_seconds(proc.pid), time.process_time()
        warm = max(2_000, args.frames // 20)
        fz.run(lambda: fz.handled() >= warm, slow=0.2)
        time.sleep(0.3)
        rss_warm = monitor.rss_kb
        monitor.rss_max_kb = rss_warm
        last = [time.monotonic()]

        def progress() -> bool:
            n = fz.handled()
            if not args.quick and time.monotonic() - last[0] > 10:
                last[0] = time.monotonic()
                print(f"  {n:,} frames handled, {n / (last[0] - started):,.0f} /s, host RSS "
                      f"{monitor.rss_kb / 1024:.0f} MB, WAL max {monitor.wal_max / 2**20:.1f} MB",
                      flush=True)
            return n >= args.frames

        fz.run(progress, slow=0.2)
        elapsed = time.monotonic() - started
        host_cpu, own_cpu = cpu_seconds(proc.pid) - host_cpu0, time.process_time() - own_cpu0
        per_kind: dict[str, int] = {}
        for lane in fz.lanes:
            per_kind[lane.kind] = per_kind.get(lane.kind, 0) + lane.answers + lane.closes
        handled = fz.handled()
        fz.close()
        print(f"mix: {handled:,} frames handled in {elapsed:.1f} s ({handled / elapsed:,.0f} /s): "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(per_kind.items())), flush=True)
        print(f"CPU per frame: host {host_cpu / handled * 1e6:.0f} us, fuzzer "
              f"{own_cpu / handled * 1e6:.0f} us; load average {os.getloadavg()[0]:.1f}",
              flush=True)
        time.sleep(0.5)
        rss_after_mix = monitor.rss_kb

        q = ctx.Queue()  # the baseline: the same sign-ins with the host to themselves
        idle_probe = ctx.Process(target=probe, args=(port, probes, 0.02, q))
        idle_probe.start()
        idle_lat, _ = q.get(timeout=600)
        idle_probe.join()
        i50, i99 = statistics.median(idle_lat) * 1000, percentile(idle_lat, 0.99) * 1000
        print(f"sign-in, host otherwise idle (baseline): p50 {i50:.1f} ms, p99 {i99:.1f} ms",
              flush=True)
        lat, failed, hogged = signin_under_hogs(port, mat, rng, probes, ctx)
        p50, p99 = statistics.median(lat) * 1000, percentile(lat, 0.99) * 1000
        print(f"sign-in under 3 pipelining hogs: {len(lat)} sign-ins, p50 {p50:.1f} ms, "
              f"p99 {p99:.1f} ms, max {max(lat) * 1000:.1f} ms, {failed} failed; hogs had "
              f"{hogged:,} echoes answered meanwhile", flush=True)

        per_peer = getattr(config, "max_connections_per_peer", 256)  # (a host before it: 256)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(int(per_peer * 1.1))]
        ok_idle, idle_ms = one_signin_ms(port)
        for sock in idle:
            sock.close()
        print(f"{len(idle)} idle connections from this peer (limit "
              f"{per_peer}): a sign-in {'approved' if ok_idle else 'FAILED'} "
              f"in {idle_ms:.1f} ms", flush=True)

        before = proc_status(proc.pid)["wchar"]
        rj = Fuzzer(port)
        for _ in range(8):
            rj.add(Lane("random", lambda: (b"\xff\xff", 1, "eof")))
        rj.run(lambda: sum(lane.closes for lane in rj.lanes) >= args.rejects)
        rejected = sum(lane.closes for lane in rj.lanes)
        rj.close()
        time.sleep(0.5)
        written = proc_status(proc.pid)["wchar"] - before
        print(f"{rejected:,} rejected connections: the host wrote {written / 2**20:.2f} MB "
              f"({written / rejected:,.0f} bytes each)", flush=True)

        ok_end, _ = one_signin_ms(port)
        alive = proc.is_alive()
        time.sleep(0.3)
        rss_end = monitor.rss_kb
        figures.update(
            frames=handled, frames_per_s=round(handled / elapsed), seconds=round(elapsed, 1),
            host_cpu_us_per_frame=round(host_cpu / handled * 1e6),
            load_average=round(os.getloadavg()[0], 1),
            crashes=0, host_alive=alive, signin_after=ok_end,
            rss_warm_mb=round(rss_warm / 1024, 1), rss_growth_mb=round(
                (max(monitor.rss_max_kb, rss_after_mix, rss_end) - rss_warm) / 1024, 1),
            signin_p50_ms=round(p50, 2), signin_p99_ms=round(p99, 2),
            signin_idle_p50_ms=round(i50, 2), signin_idle_p99_ms=round(i99, 2),
            signin_failed=failed, idle_flood_signin_ms=round(idle_ms, 1),
            idle_flood_signin_ok=ok_idle, rejected=rejected,
            bytes_written_per_rejected=round(written / max(1, rejected)))
    finally:
        monitor.stop.set()
        proc.terminate()
        proc.join(30)
    host_stats = stats.get(timeout=10) if not stats.empty() or proc.exitcode == 0 else {}
    leftovers = sorted(p.name for p in Path(tmp.name).iterdir() if p.name != journal.name)
    db = sqlite3.connect(journal)  # closed at once: removes the -wal it may create
    internal = db.execute("SELECT COUNT(*) FROM journal WHERE note LIKE '%internal error%'"
                          ).fetchone()[0]
    db.close()
    tmp.cleanup()
    crashes = internal + (0 if figures.get("host_alive") and proc.exitcode == 0 else 1)
    figures.update(crashes=crashes, wal_max_mb=round(monitor.wal_max / 2**20, 2),
                   files_left_after_stop=leftovers, log_lines=host_stats.get("log_lines"),
                   raw_control_lines=host_stats.get("raw_control_lines"))
    print(f"host exit code {proc.exitcode}; internal errors journaled {internal}; WAL max "
          f"{monitor.wal_max / 2**20:.2f} MB; left beside the journal after stop: {leftovers}; "
          f"{host_stats.get('log_lines')} log lines, {host_stats.get('raw_control_lines')} with "
          f"a raw control character {host_stats.get('raw_sample', '')!r}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
