"""The ``posrig`` command: ``lab up``, ``host serve``, ``run``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
import threading
from pathlib import Path

from harness.config import ConfigError


def _lab_up(args: argparse.Namespace) -> int:
    from harness.inventory import load_inventory
    from harness.paths import DEFAULT_LAB
    from harness.virtual_lab import VirtualLab

    inventory = load_inventory(args.lab or DEFAULT_LAB).first(args.stations)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="posrig-lab-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        lab = VirtualLab(inventory, workdir, instant=not args.real_time)
        try:
            live = lab.start()
            # First line: the live inventory, for a second shell or `pytest --lab`.
            print(live.to_json(), flush=True)
            print(f"virtual lab up: {len(live.stations)} station(s), host on "
                  f"{live.host.host}:{live.host.port}; Ctrl-C stops it", file=sys.stderr, flush=True)
            stop.wait()
        finally:
            lab.stop()
            print("virtual lab stopped", file=sys.stderr, flush=True)
    return 0


def _host_serve(args: argparse.Namespace) -> int:
    """The acquirer host alone, in the foreground, logging each exchange decoded and masked."""
    import asyncio
    from dataclasses import replace

    from devices import events
    from devices.host import AcquirerHost
    from devices.host.workers import print_log_event
    from harness.inventory import load_inventory
    from harness.paths import DEFAULT_LAB
    from harness.virtual_lab import host_config

    inventory = load_inventory(args.lab or DEFAULT_LAB)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = host_config(inventory, workdir)
    host_name, port = args.listen.removeprefix("tcp://").rsplit(":", 1)
    config = replace(config, listen=(host_name, int(port)), workers=args.workers,
                     print_exchanges=True,
                     control_path=Path(args.control) if args.control else config.control_path)
    events.subscribe(print_log_event)
    print(f"acquirer host on {host_name}:{port} for terminals {sorted(config.terminals)}; "
          f"journal {config.journal_path}; control socket {config.control_path or 'none'}; "
          "Ctrl-C stops it", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(AcquirerHost(config).serve())
    return 0


def _run(args: argparse.Namespace) -> int:
    from harness.run import run_suite

    return run_suite(lab=args.lab, out=Path(args.out), pytest_args=args.pytest_args,
                     stations=args.stations)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="posrig", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    lab = sub.add_parser("lab", help="the virtual lab").add_subparsers(dest="lab_command",
                                                                        required=True)
    up = lab.add_parser("up", help="start the virtual lab's simulators until Ctrl-C")
    up.add_argument("--stations", type=int, default=1, help="how many stations (default 1)")
    up.add_argument("--lab", default=None, help="inventory to take the stations from")
    up.add_argument("--workdir", default=None, help="keep journal and terminal state here")
    up.add_argument("--real-time", action="store_true",
                    help="robot moves take the time their feed rate says")
    up.set_defaults(func=_lab_up)

    host = sub.add_parser("host", help="the acquirer host").add_subparsers(dest="host_command",
                                                                           required=True)
    serve = host.add_parser("serve", help="run the acquirer host standalone until Ctrl-C")
    serve.add_argument("--lab", default=None, help="inventory naming the terminals (default: virtual)")
    serve.add_argument("--listen", default="tcp://127.0.0.1:5000", help="address (loopback default)")
    serve.add_argument("--workdir", default=".", help="where the SQLite journal goes")
    serve.add_argument("--control", default=None,
                       help="control socket tests script the host through (default: in --workdir)")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes sharing the port, each owning a share of the terminals")
    serve.set_defaults(func=_host_serve)

    from harness.receipts.cli import add_parser as add_receipt_parser

    add_receipt_parser(sub)  # posrig receipt read IMAGE [--expect FIELD=VALUE ...]

    run = sub.add_parser("run", help="run the certification suite and build the report")
    run.add_argument("--lab", default=None, help="lab inventory (default: the virtual lab)")
    run.add_argument("--out", default="out", help="where results and the report go")
    run.add_argument("--stations", type=int, default=None,
                     help="run on N stations at once: a pytest-xdist worker and a pabot process "
                          "per station (default: $POSRIG_STATIONS, else 1)")
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    run.set_defaults(func=_run)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"posrig: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
