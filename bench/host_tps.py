"""Acquirer host throughput: 64 concurrent terminals sending MAC'd, PIN'd chip sales.

    python bench/host_tps.py [--seconds 5] [--terminals 64] [--rate 2000]

The host runs in its own process (one core, as in production); this process is the load:
64 terminals sign in for real, then each sends sales on its own connection (the host also
serves several exchanges per connection; the per-exchange-connection rate is printed as
well). Requests are built and MAC'd before the clock starts so the figure is the host's,
not the load generator's; every answer is decoded and must be 00.

Prints: round trips per second (closed loop), p50/p99 latency at a fixed offered rate
(open loop), the bare pyiso8583 decode + encode rate of the same messages on one core,
and the ratio of the first to the last. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import iso8583

from devices.host import AcquirerHost, HostConfig, TerminalKeys
from devices.host.testing import LoopbackTerminal, card_read, lab_card, terminal_config
from devices.payments import framing
from devices.payments.spec import CUP_SPEC, decode_message

CARD = lab_card("cup-debit-chip")
BENCH_CARD = type(CARD)(card_id="bench", pan=CARD.pan, expiry=CARD.expiry,
                        service_code=CARD.service_code, pin=CARD.pin, balance=10**11)


def tids(n: int) -> list[str]:
    return [f"7{i:07d}" for i in range(n)]


def host_config(n: int) -> HostConfig:
    # Fixed test keys derived from the TID: a bench, not a lab; never a live key.
    terminals = {tid: TerminalKeys(bytes.fromhex(tid * 4)) for tid in tids(n)}
    return HostConfig(terminals=terminals, cards=[BENCH_CARD], log_exchanges=False,
                      clock=datetime.now)


def run_host(n: int, queue: mp.Queue) -> None:
    host = AcquirerHost(host_config(n))

    async def main() -> None:
        queue.put(await host.start())
        await host.serve()

    asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to show who the bottleneck is."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def prepare(port: int, n: int, per_terminal: int) -> list[list[bytes]]:
    """Sign each terminal in, then build its sales (MAC'd, PIN'd) ahead of time."""
    cfg = host_config(n)
    out = []
    for tid in tids(n):
        t = LoopbackTerminal(port, terminal_config(tid, cfg.terminals[tid]))
        assert t.signin().approved, f"{tid} could not sign in"
        read = card_read(BENCH_CARD, "chip")
        out.append([t.session.sale_request(stan=t.next_stan(), batch=t.batch, amount=1,
                                           read=read, pin=BENCH_CARD.pin).wire
                    for _ in range(per_terminal)])
    return out


async def _round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      wire: bytes) -> None:
    writer.write(wire)
    reply = await framing.read_frame_async(reader)
    rc = decode_message(reply[13:])["39"]
    if rc != "00":
        raise RuntimeError(f"host answered {rc}")


async def closed_loop(port: int, work: list[list[bytes]], seconds: float) -> tuple[int, float]:
    """Each terminal sends as fast as answers come back; counts round trips in ``seconds``.
    Sent requests are removed from ``work``."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def terminal(wires: list[bytes]) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while wires and time.perf_counter() < deadline:
                await _round_trip(reader, writer, wires.pop())
                done += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(terminal(w) for w in work))
    return done, time.perf_counter() - start


async def open_loop(port: int, work: list[list[bytes]], rate: float,
                    seconds: float) -> list[float]:
    """Offer ``rate`` sales a second in total, spread over the terminals; latency each."""
    latencies: list[float] = []
    per_terminal = rate / len(work)
    count = int(seconds * per_terminal)

    async def terminal(k: int, wires: list[bytes]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        start = time.perf_counter() + k / rate  # stagger the terminals
        try:
            for i in range(min(count, len(wires))):
                due = start + i / per_terminal
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                t0 = time.perf_counter()
                await _round_trip(reader, writer, wires.pop())
                latencies.append(time.perf_counter() - t0)
        finally:
            writer.close()

    await asyncio.gather(*(terminal(k, w) for k, w in enumerate(work)))
    return latencies


async def per_connection(port: int, work: list[list[bytes]], seconds: float) -> float:
    """CUP terminals' own habit: a new TCP connection for every exchange."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def terminal(wires: list[bytes]) -> None:
        nonlocal done
        while wires and time.perf_counter() < deadline:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await _round_trip(reader, writer, wires.pop())
            writer.close()
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(terminal(w) for w in work))
    return done / (time.perf_counter() - start)


def codec_rate(wires: list[bytes], seconds: float) -> float:
    """Bare pyiso8583 on one core: decode each request, encode its response."""
    bodies = [w[13:] for w in wires]
    response = decode_message(bodies[0])
    response.update({"t": "0210", "12": "101010", "13": "0101", "37": "101010000001",
                     "38": "123456", "39": "00", "63": "CUP"})
    for k in ("22", "23", "26", "35", "52", "53", "55"):
        response.pop(k, None)
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for body in bodies[:1000]:
            iso8583.decode(body, CUP_SPEC)
            iso8583.encode(dict(response), CUP_SPEC)
        n += min(1000, len(bodies))
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--terminals", type=int, default=64)
    ap.add_argument("--rate", type=float, default=2000.0, help="offered rate for latency")
    args = ap.parse_args()

    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=run_host, args=(args.terminals, queue), daemon=True)
    proc.start()
    try:
        port = queue.get(timeout=30)
        per = int(30_000 * args.seconds / args.terminals) + 200
        print(f"host pid {proc.pid} on port {port}; {os.cpu_count()} cores; preparing "
              f"{per * args.terminals} sales for {args.terminals} terminals ...", flush=True)
        work = prepare(port, args.terminals, per)
        host_cpu, own_cpu = cpu_seconds(proc.pid), time.process_time()
        done, elapsed = asyncio.run(closed_loop(port, work, args.seconds))
        rps = done / elapsed
        host_cpu, own_cpu = cpu_seconds(proc.pid) - host_cpu, time.process_time() - own_cpu
        print(f"closed loop: {done} round trips in {elapsed:.2f} s = {rps:,.0f} /s "
              f"(host process {100 * host_cpu / elapsed:.0f} % of a core, load generator "
              f"{100 * own_cpu / elapsed:.0f} %)")
        codec_sample = [w for ws in work for w in ws[:20]]
        latencies = sorted(asyncio.run(open_loop(port, work, args.rate, 3.0)))
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(f"open loop at {args.rate:,.0f}/s: {len(latencies)} sales, p50 {p50:.2f} ms, "
              f"p99 {p99:.2f} ms")
        pc = asyncio.run(per_connection(port, work, 2.0))
        print(f"one connection per exchange: {pc:,.0f} round trips /s")
    finally:
        proc.terminate()
        proc.join(5)
    codec = codec_rate(codec_sample, 3.0)
    ratio = rps / codec
    print(f"bare pyiso8583 decode+encode, one core: {codec:,.0f} /s; ratio {ratio:.2f}")
    print(json.dumps({"round_trips_per_s": round(rps), "p50_ms": round(p50, 3),
                      "p99_ms": round(p99, 3), "codec_round_trips_per_s": round(codec),
                      "ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
