"""``posrig lab export``: run on a lab host, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path


def add_export_parser(lab: argparse._SubParsersAction) -> None:
    export = lab.add_parser(
        "export", help="on a lab host: start its stations' simulators and a labgrid exporter "
                       "serving them to a coordinator, until Ctrl-C",
        description="Export a lab host's stations over labgrid: each sim:// device of the "
                    "inventory as its simulator, each /dev/ serial port as itself, every serial "
                    "channel as a RawSerialPort (ser2net on acquire), each camera as an "
                    "HTTPVideoStream; one place per station, tagged with station, family, model, "
                    "firmware, dialect, profile, tid, magazine and labhost.")
    export.add_argument("--coordinator", required=True, metavar="HOST:PORT",
                        help="the labgrid coordinator (labgrid-coordinator -l HOST:PORT)")
    export.add_argument("--acquirer", required=True, metavar="tcp://HOST:PORT",
                        help="where the rig's acquirer host listens; the simulated terminals call it "
                             "(the rig's inventory host.listen)")
    export.add_argument("--hostname", default=None,
                        help="the address the rig reaches this lab host at (default: the host name)")
    export.add_argument("--name", default=None,
                        help="this exporter's name on the coordinator (default: the host name); "
                             "places are named NAME-STATION")
    export.add_argument("--lab", default=None, help="inventory to take the stations from "
                                                    "(default: the virtual lab)")
    export.add_argument("--stations", type=int, default=None,
                        help="export the first N stations of the inventory (default: all)")
    export.add_argument("--no-places", action="store_true",
                        help="export the resources only; the lab admin makes the places")
    export.add_argument("--workdir", default=None, help="terminal flash, exporter config and logs")
    export.add_argument("--real-time", action="store_true",
                        help="robot moves take the time their feed rate says")
    export.add_argument("--boot-s", type=float, default=0.0, metavar="SECONDS",
                        help="how long each simulated terminal takes to boot (real ones: 20-30 s)")
    export.set_defaults(func=export_command)


def export_command(args: argparse.Namespace) -> int:
    from harness.config import ConfigError
    from harness.inventory import load_inventory
    from harness.labgrid.export import ExportOptions, LabExport
    from harness.paths import DEFAULT_LAB

    acquirer = args.acquirer.removeprefix("tcp://")
    host, _, port = acquirer.rpartition(":")
    if not host or not port.isdigit() or int(port) == 0:
        raise ConfigError(f"--acquirer {args.acquirer!r}: expected tcp://HOST:PORT with a fixed port, "
                          "the address the rig's acquirer host listens at")
    inventory = load_inventory(args.lab or DEFAULT_LAB)
    if args.stations is not None:
        inventory = inventory.first(args.stations)
    name = args.name or socket.gethostname()
    options = ExportOptions(coordinator=args.coordinator, name=name,
                            hostname=args.hostname or socket.gethostname(),
                            acquirer=(host, int(port)), create_places=not args.no_places,
                            real_time=args.real_time, boot_s=args.boot_s)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="posrig-export-") as tmp:
        export = LabExport(inventory, Path(args.workdir) if args.workdir else Path(tmp), options)
        try:
            export.start()
            print(export.summary(), flush=True)  # first line: what is exported, for scripts
            print(f"lab host {name} exporting {len(export.exported)} station(s) to "
                  f"{args.coordinator} as {options.hostname}; Ctrl-C stops it",
                  file=sys.stderr, flush=True)
            while not stop.wait(1.0):
                if export.exporter is None or not export.exporter.running:
                    print(f"the labgrid exporter ended; its log:\n"
                          f"{export.exporter.tail() if export.exporter else ''}", file=sys.stderr)
                    return 1
        finally:
            export.stop()
            print(f"lab host {name} stopped", file=sys.stderr, flush=True)
    return 0
