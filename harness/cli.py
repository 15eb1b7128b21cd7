"""The ``posrig`` command: ``run``, ``lab``, ``host``, ``receipt`` (``posrig --help``).

A mistake of the person at the keyboard (a missing file, a bad inventory, a run already
using ``--out``) ends in one line saying what was wrong and what to do, exit status 2; a
traceback means a bug in posrig.
"""

from __future__ import annotations

import argparse
import contextlib
import os
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
    from devices.host import AcquirerHost, HostBusyError
    from devices.host.control import ControlError
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
    try:
        host = AcquirerHost(config)  # refuses a journal another host holds
        events.subscribe(print_log_event)
        print(f"acquirer host on {host_name}:{port} for terminals {sorted(config.terminals)}; "
              f"journal {config.journal_path}; control socket {config.control_path or 'none'}; "
              "Ctrl-C stops it", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(host.serve())
    except (HostBusyError, ControlError) as exc:  # another host runs on this work directory
        print(f"posrig host serve: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace) -> int:
    from harness.flows.receipt import STRICT_ENV
    from harness.run import run_suite

    if args.strict:  # inherited by every pytest and Robot process the run starts
        os.environ[STRICT_ENV] = "1"
    return run_suite(lab=args.lab, out=Path(args.out), pytest_args=args.pytest_args,
                     stations=args.stations, pytest=args.only != "robot", robot=args.only != "pytest")


DESCRIPTION = "posrig: a hardware-in-the-loop rig for payment card terminals."
EPILOG = """examples:
  posrig run                          the suite on the virtual lab; the report in out/report
  posrig run --stations 2 -- -k sale  on two stations at once, only the sale scenarios
  posrig lab up --stations 2          the virtual lab until Ctrl-C; prints its inventory
  posrig receipt read slip.jpg        read and grade a slip from a photo

'posrig COMMAND --help' tells more about each."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("posrig")
    except PackageNotFoundError:  # a source tree nobody installed
        return "unknown (not installed: run ./setup.sh)"


def _user_errors() -> tuple[type[BaseException], ...]:
    """What a person gets wrong, told in one line: bad data files and settings (the
    taxonomy's configuration errors), another run on the same --out, a path that is not there."""
    from devices.host.config import HostConfigError
    from harness.labgrid.errors import LabHostDown  # a labgrid coordinator or lab host not there
    from harness.processes import RunBusy

    return (ConfigError, HostConfigError, RunBusy, LabHostDown, FileNotFoundError,
            NotADirectoryError, IsADirectoryError, PermissionError)


def _address(text: str) -> str:
    """``[tcp://]HOST:PORT``, checked before anything starts."""
    host, _, port = text.removeprefix("tcp://").rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not an address: give HOST:PORT, "
                                         "e.g. tcp://127.0.0.1:5000")
    return text


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before a command took Ctrl-C over (posrig run does)
        print("posrig: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="posrig", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"posrig {_version()}")
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

    from harness.labgrid.cli import add_export_parser

    add_export_parser(lab)  # posrig lab export: a lab host's stations served over labgrid

    host = sub.add_parser("host", help="the acquirer host").add_subparsers(dest="host_command",
                                                                           required=True)
    serve = host.add_parser("serve", help="run the acquirer host standalone until Ctrl-C")
    serve.add_argument("--lab", default=None, help="inventory naming the terminals (default: virtual)")
    serve.add_argument("--listen", default="tcp://127.0.0.1:5000", type=_address,
                       help="address (loopback default)")
    serve.add_argument("--workdir", default=".", help="where the SQLite journal goes")
    serve.add_argument("--control", default=None,
                       help="control socket tests script the host through (default: in --workdir)")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes sharing the port, each owning a share of the terminals")
    serve.set_defaults(func=_host_serve)

    from harness.receipts.cli import add_parser as add_receipt_parser

    add_receipt_parser(sub)  # posrig receipt read IMAGE [--expect FIELD=VALUE ...]

    run = sub.add_parser(
        "run", help="run the certification suite and build the report",
        description="Run the pytest scenarios, then the Robot Framework suites, on a lab, and "
                    "build one single-file report. Exit status: 0 when every scenario passed, 1 "
                    "when one did not, 2 for a mistake in the command or the lab, 130 when "
                    "interrupted (Ctrl-C ends the running test as broken and builds the partial "
                    "report; a second Ctrl-C stops at once).")
    run.add_argument("--lab", default=None, help="lab inventory (default: the virtual lab)")
    run.add_argument("--out", default="out", help="where results and the report go (default: out)")
    run.add_argument("--stations", type=int, default=None,
                     help="run on N stations at once: a pytest-xdist worker and a pabot process "
                          "per station (default: $POSRIG_STATIONS, else 1)")
    run.add_argument("--strict", action="store_true",
                     help="no slip checked from the lines the terminal reports: a station "
                          "without a camera over the tray is a station fault")
    run.add_argument("--only", choices=("pytest", "robot"), default=None,
                     help="run only the pytest scenarios or only the Robot Framework suites")
    run.add_argument("pytest_args", nargs="*",
                     help="extra pytest arguments, after --: posrig run -- -k sale")
    run.set_defaults(func=_run)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except _user_errors() as exc:
        print(f"posrig: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
