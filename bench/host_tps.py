"""Acquirer host throughput: 64 concurrent terminals sending MAC'd, PIN'd chip sales.

    python bench/host_tps.py [--seconds 5] [--terminals 64] [--rate 2000] [--workers N]

The host runs as ``posrig host serve`` would, in its own process(es) with a file journal;
this process is the load (``bench/host_load.py``): the terminals sign in for real, their
sales are built by the terminal side's own code before any clock starts, and while timing
the load only sends frames and counts answers (a sample is fully checked afterwards).

Prints: round trips per second (closed loop, one connection per terminal), where the CPU
went, p50/p99 latency at a fixed offered rate (open loop), one connection per exchange,
then the bare pyiso8583 rate on one core of what the host must do per round trip at least
(decode the request, encode its answer; same messages), and the ratio of the first figure
to that. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import host_load as load
import iso8583

from devices.host import AcquirerHost, HostConfig, TerminalKeys
from devices.host.testing import lab_card
from devices.payments.spec import CUP_SPEC, decode_message

CARD = lab_card("cup-debit-chip")
BENCH_CARD = type(CARD)(card_id="bench", pan=CARD.pan, expiry=CARD.expiry,
                        service_code=CARD.service_code, pin=CARD.pin, balance=10**11)


def host_config(n: int, journal: Path | None, workers: int = 1) -> HostConfig:
    # Fixed test keys derived from the TID: a bench, not a lab; never a live key.
    terminals = {f"7{i:07d}": TerminalKeys(bytes.fromhex(f"7{i:07d}" * 4)) for i in range(n)}
    return HostConfig(terminals=terminals, cards=[BENCH_CARD], log_exchanges=False,
                      clock=datetime.now, journal_path=journal, workers=workers)


def run_host(config: HostConfig, queue: mp.Queue) -> None:
    host = AcquirerHost(config)

    async def main() -> None:
        queue.put(await host.start())
        # terminate() at the end: stop the workers too, not only this process.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, host.stop)
        await host.serve()

    asyncio.run(main())


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system (kernel) CPU time of a process and its children (Linux /proc)."""
    user = system = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        user, system = int(fields[11]) / tick, int(fields[12]) / tick
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                u, s = cpu_seconds(int(child))
                user, system = user + u, system + s
    except (OSError, IndexError, ValueError):
        pass
    return user, system


def codec_rate(samples: list[tuple[bytes, bytes]], seconds: float) -> float:
    """Bare pyiso8583 on one core: decode each request, encode the answer the host gave."""
    work = [(req[13:], decode_message(reply[13:])) for req, reply in samples]
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for body, answer in work:
            iso8583.decode(body, CUP_SPEC)
            iso8583.encode(dict(answer), CUP_SPEC)
        n += len(work)
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--terminals", type=int, default=64)
    ap.add_argument("--rate", type=float, default=2000.0, help="offered rate for latency")
    ap.add_argument("--workers", type=int, default=1, help="host worker processes")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="posrig-bench-")
    config = host_config(args.terminals, Path(tmp.name) / "journal.sqlite", args.workers)
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=run_host, args=(config, queue))  # not daemonic: it has workers
    proc.start()
    try:
        port = queue.get(timeout=60)
        print(f"host pid {proc.pid} on port {port}, {args.workers} worker(s); "
              f"{os.cpu_count()} cores; {args.terminals} terminals sign in ...", flush=True)
        lanes = load.sign_in(port, config.terminals)
        approved_len = load.first_sale(lanes[0], BENCH_CARD)
        load.build(lanes, BENCH_CARD, math.ceil(20_000 / len(lanes)))
        load.connect(lanes, port)
        warm, elapsed = load.closed_loop(lanes, 1.0, approved_len)
        load.check(warm)
        guess = warm.done / elapsed
        per_lane = math.ceil((1.5 * guess * args.seconds + args.rate * 3.5) / len(lanes))
        print(f"warm-up {guess:,.0f} /s; building {per_lane * len(lanes)} more sales ...",
              flush=True)
        load.build(lanes, BENCH_CARD, per_lane)

        host0, own0 = cpu_seconds(proc.pid), os.times()
        tally, elapsed = load.closed_loop(lanes, args.seconds, approved_len)
        host1, own1 = cpu_seconds(proc.pid), os.times()
        rps = tally.done / elapsed
        us = 1e6 / tally.done
        host_user, host_sys = host1[0] - host0[0], host1[1] - host0[1]
        own_user, own_sys = own1.user - own0.user, own1.system - own0.system
        print(f"closed loop: {tally.done} round trips in {elapsed:.2f} s = {rps:,.0f} /s")
        print(f"CPU per round trip: host {us * (host_user + host_sys):.0f} us (user "
              f"{us * host_user:.0f}, kernel {us * host_sys:.0f}; "
              f"{100 * (host_user + host_sys) / elapsed:.0f} % of a core), load "
              f"{us * (own_user + own_sys):.0f} us (user {us * own_user:.0f}, kernel "
              f"{us * own_sys:.0f}; {100 * (own_user + own_sys) / elapsed:.0f} %)")
        # The rate these costs allow on an otherwise idle machine: the cores shared by host
        # and load, and no more than one core per host worker process.
        host_rt, all_rt = (host_user + host_sys) / tally.done, (
            host_user + host_sys + own_user + own_sys) / tally.done
        ceiling = min((os.cpu_count() or 1) / all_rt, args.workers / host_rt)
        print(f"what these CPU costs allow on an idle machine: {ceiling:,.0f} /s")
        opened = load.open_loop(lanes, args.rate, 3.0, approved_len)
        latencies = sorted(opened.latencies)
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[math.ceil(len(latencies) * 0.99) - 1] * 1000
        print(f"open loop at {args.rate:,.0f}/s: {len(latencies)} sales, p50 {p50:.2f} ms, "
              f"p99 {p99:.2f} ms")
        load.close(lanes)
        pc = load.per_exchange(lanes, port, 1.0, approved_len)
        print(f"one connection per exchange, one terminal at a time: {pc:,.0f} round trips /s")
    finally:
        proc.terminate()
        proc.join(15)
        tmp.cleanup()
    checked = sum(load.check(t) for t in (tally, opened))
    print(f"{tally.done + opened.done} answers framed and counted, {checked} fully checked "
          f"(MAC, echoes, 00)")
    samples = [(out.wire, reply) for _, out, reply in tally.samples]
    codec = codec_rate(samples, 3.0)
    ratio = rps / codec
    print(f"bare pyiso8583 decode+encode, one core: {codec:,.0f} /s; ratio {ratio:.2f}")
    print(json.dumps({"round_trips_per_s": round(rps), "p50_ms": round(p50, 3),
                      "p99_ms": round(p99, 3), "codec_round_trips_per_s": round(codec),
                      "ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
