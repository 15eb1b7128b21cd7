"""The load generator of ``bench/host_tps.py``: terminals as cheap as Python allows.

Each terminal signs in for real (:class:`LoopbackTerminal`) and gets its MAC'd, PIN'd sales
built by the terminal side's own code before any clock starts. During a timed phase the
generator only sends prebuilt frames and cuts answers out of the byte stream by their
length prefix, on one ``epoll`` loop without asyncio: every microsecond it spends is a
microsecond the host does not get on a 2-core machine.

Answers are checked in two ways that cost nothing while timing: each must have the length
of an approved answer (a decline lacks DE37/38/63 and is shorter), and every
``sample``-th one is kept and fully checked afterwards by
:meth:`TerminalSession.financial_response` (MAC, echoes, response code 00).
"""

from __future__ import annotations

import select
import socket
import time
from collections import deque
from dataclasses import dataclass, field

from devices.cards import Card
from devices.host.config import TerminalKeys
from devices.host.testing import LoopbackTerminal, card_read, terminal_config
from devices.payments.terminal_side import Outgoing


@dataclass
class Lane:
    """One terminal on one connection, with the sales it has yet to send."""

    term: LoopbackTerminal
    todo: deque[Outgoing] = field(default_factory=deque)
    sock: socket.socket | None = None
    buf: bytearray = field(default_factory=bytearray)
    out: Outgoing | None = None  # in flight
    due: float = 0.0  # when the request in flight was due (open loop)


@dataclass
class Tally:
    done: int = 0
    wrong_length: int = 0
    samples: list[tuple[Lane, Outgoing, bytes]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


def sign_in(port: int, terminals: dict[str, TerminalKeys]) -> list[Lane]:
    lanes = []
    for tid, keys in terminals.items():
        term = LoopbackTerminal(port, terminal_config(tid, keys))
        if not term.signin().approved:
            raise RuntimeError(f"terminal {tid} could not sign in")
        lanes.append(Lane(term))
    return lanes


def build(lanes: list[Lane], card: Card, per_lane: int) -> None:
    """``per_lane`` more sales for each terminal, with fresh traces, as it would send them."""
    read = card_read(card, "chip")
    for lane in lanes:
        terminal = lane.term
        lane.todo.extend(
            terminal.session.sale_request(stan=terminal.next_stan(), batch=terminal.batch, amount=1,
                                          read=read, pin=card.pin) for _ in range(per_lane))


def first_sale(lane: Lane, card: Card) -> int:
    """One sale on its own connection, fully checked: its answer's length is what every
    approved answer of the run must have."""
    terminal = lane.term
    out = terminal.session.sale_request(stan=terminal.next_stan(), batch=terminal.batch, amount=1,
                                        read=card_read(card, "chip"), pin=card.pin)
    reply = terminal.send(out)
    result = terminal.session.financial_response(out, reply)
    if result.rc != "00" or not result.mac_ok:
        raise RuntimeError(f"the host answered the first sale {result.rc}")
    return len(reply)


def connect(lanes: list[Lane], port: int) -> None:
    for lane in lanes:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        lane.sock = sock


def close(lanes: list[Lane]) -> None:
    for lane in lanes:
        if lane.sock is not None:
            lane.sock.close()
            lane.sock = None


def _answers(lane: Lane, data: bytes) -> list[bytes]:
    buf = lane.buf
    buf += data
    got = []
    while len(buf) >= 2 and len(buf) >= (size := (buf[0] << 8 | buf[1]) + 2):
        got.append(bytes(buf[:size]))
        del buf[:size]
    return got


def _receive(lane: Lane, tally: Tally, approved_len: int, sample: int) -> bool:
    """Read what is there; True when the request in flight was answered."""
    assert lane.sock is not None
    data = lane.sock.recv(65536)
    if not data:
        raise ConnectionError(f"host closed terminal {lane.term.session.cfg.tid}'s line")
    answers = _answers(lane, data)
    if not answers:
        return False
    if len(answers) > 1:
        raise RuntimeError("more answers than requests")
    reply = answers[0]
    tally.done += 1
    if len(reply) != approved_len:
        tally.wrong_length += 1
        tally.samples.append((lane, lane.out, reply))  # type: ignore[arg-type]
    elif tally.done % sample == 0:
        tally.samples.append((lane, lane.out, reply))  # type: ignore[arg-type]
    lane.out = None
    return True


def _send(lane: Lane) -> None:
    assert lane.sock is not None
    lane.out = lane.todo.popleft()
    lane.sock.send(lane.out.wire)  # ~130 bytes: the socket buffer always takes it whole


def closed_loop(lanes: list[Lane], seconds: float, approved_len: int,
                sample: int = 97) -> tuple[Tally, float]:
    """Every terminal sends its next sale as soon as the last is answered."""
    tally = Tally()
    ep = select.epoll()
    by_fd = {}
    for lane in lanes:
        assert lane.sock is not None
        by_fd[lane.sock.fileno()] = lane
        ep.register(lane.sock.fileno(), select.EPOLLIN)
    start = time.perf_counter()
    deadline = start + seconds
    for lane in lanes:
        _send(lane)
    busy = len(lanes)
    try:
        while busy:
            for fd, _ in ep.poll():
                lane = by_fd[fd]
                if not _receive(lane, tally, approved_len, sample):
                    continue
                if lane.todo and time.perf_counter() < deadline:
                    _send(lane)
                else:
                    busy -= 1
    finally:
        ep.close()
    return tally, time.perf_counter() - start


def open_loop(lanes: list[Lane], rate: float, seconds: float, approved_len: int,
              sample: int = 97) -> Tally:
    """Sales offered at ``rate`` a second in total, round robin over the terminals.

    Latency is counted from when a sale was due, not from when it went out, so a host
    that falls behind shows it (no coordinated omission)."""
    tally = Tally()
    ep = select.epoll()
    by_fd = {}
    for lane in lanes:
        assert lane.sock is not None
        by_fd[lane.sock.fileno()] = lane
        ep.register(lane.sock.fileno(), select.EPOLLIN)
    count = int(rate * seconds)
    waiting: list[deque[float]] = [deque() for _ in lanes]  # due times not yet sent
    start = time.perf_counter()
    sent = answered = 0
    try:
        while answered < count:
            now = time.perf_counter()
            while sent < count and start + sent / rate <= now:
                ix = sent % len(lanes)
                waiting[ix].append(start + sent / rate)
                sent += 1
                if lanes[ix].out is None:
                    _release(lanes[ix], waiting[ix])
            timeout = max(0.0, start + sent / rate - now) if sent < count else 1.0
            for fd, _ in ep.poll(timeout):
                lane = by_fd[fd]
                due = lane.due
                if _receive(lane, tally, approved_len, sample):
                    tally.latencies.append(time.perf_counter() - due)
                    answered += 1
                    ix = lanes.index(lane)
                    if waiting[ix]:
                        _release(lane, waiting[ix])
    finally:
        ep.close()
    return tally


def _release(lane: Lane, due: deque[float]) -> None:
    lane.due = due.popleft()
    _send(lane)


def per_exchange(lanes: list[Lane], port: int, seconds: float, approved_len: int) -> float:
    """CUP terminals' own habit, a new connection for every exchange; blocking sockets,
    one terminal after another, so this is a latency-bound figure, not a throughput one."""
    tally = Tally()
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        for lane in lanes:
            if not lane.todo:
                break
            out = lane.todo.popleft()
            reply = lane.term.send(out)
            tally.done += 1
            if len(reply) != approved_len:
                raise RuntimeError(f"unexpected answer to {out}")
    return tally.done / (time.perf_counter() - start)


def check(tally: Tally) -> int:
    """Fully check the kept answers; returns how many were checked. Raises on any that is
    not an approval with a good MAC and the right echoes."""
    for lane, out, reply in tally.samples:
        result = lane.term.session.financial_response(out, reply)
        if result.rc != "00" or not result.mac_ok:
            raise RuntimeError(f"host answered {out} with {result.rc}")
    if tally.wrong_length:
        raise RuntimeError(f"{tally.wrong_length} answers had an unexpected length")
    return len(tally.samples)
