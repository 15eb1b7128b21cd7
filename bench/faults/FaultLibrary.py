"""Robot Framework keywords that inject the fault matrix's faults (bench/faults.py).

PosrigLibrary has keywords for the host's scripted faults only; this library arms any case
of faultcases.py on the station PosrigLibrary runs, through the same simulator controls
the pytest lanes use, so both runners meet the very same fault at the very same phase.

    Library    /path/to/bench/faults/FaultLibrary.py
    Arm Fault    robot-jam@card
    ...
    [Teardown]    Run Keywords    Clear Fault    AND    Restore Bench
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import faultcases as fc
from robot.libraries.BuiltIn import BuiltIn


class FaultLibrary:
    ROBOT_LIBRARY_SCOPE = "GLOBAL"

    def __init__(self) -> None:
        self._injection: fc.Injection | None = None

    def _session(self) -> Any:
        return BuiltIn().get_library_instance("harness.robot.PosrigLibrary").session

    def arm_fault(self, case_id: str) -> None:
        """Arm the fault case ``case_id`` (faultcases.CASES) on this suite's station: at
        once, or when the terminal reaches the case's phase."""
        session = self._session()
        station = session.station()  # a station out of service skips the test here
        lab = session.running_lab()
        if lab.virtual is None or station.name not in lab.virtual.stations:
            raise RuntimeError(f"{station.name} is not a virtual station: its faults are made by hand")
        self._injection = fc.arm(fc.BY_ID[case_id], station, lab.virtual.stations[station.name],
                                 lab.virtual)

    def clear_fault(self) -> None:
        """Take back what the armed fault changed (a teardown; never fails)."""
        injection, self._injection = self._injection, None
        if injection is not None:
            injection.clear()

    def settlement_should_reconcile_with_the_host_journal(self) -> dict:
        """Power-cycle, sign in, settle: balanced, and the terminal's totals equal the
        host journal's approved sales of the batch."""
        return fc.reconcile(self._session().station())
