"""What the Robot library's components share: the running lab and the station under test.

One per Robot run (the library is GLOBAL): the lab is started at the first keyword that
needs it (the virtual lab unless ``LAB`` names an inventory) and stopped when Robot closes
the library. A run that was given a station (``STATION``, or `Use Station` after pabot's
`Acquire Value Set`) starts only that station's simulators, as a pytest-xdist worker does,
so parallel processes on one virtual inventory never share a bench. Everything here is
plumbing; what a keyword *does* is in harness.flows.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from robot.api.exceptions import SkipExecution

from harness import flows
from harness.evidence import AllureSteps
from harness.inventory import load_inventory
from harness.lab import Lab
from harness.paths import DEFAULT_LAB
from harness.plan import CertificationPlan
from harness.station import Station


@dataclass
class LabSession:
    lab_path: str | None = None
    station_name: str | None = None
    plan_path: str | None = None
    workdir: str | None = None
    lab: Lab | None = None
    identities: dict[str, flows.TerminalIdentity] = field(default_factory=dict)
    last_sale: flows.TransactionResult | None = None
    last_settlement: flows.Settlement | None = None
    steps: AllureSteps | None = None
    _tmp: tempfile.TemporaryDirectory | None = None
    _plan: CertificationPlan | None = None

    @property
    def plan(self) -> CertificationPlan | None:
        if self._plan is None and self.plan_path:
            self._plan = CertificationPlan.load(Path(self.plan_path))
        return self._plan

    def running_lab(self) -> Lab:
        if self.lab is None:
            if self.workdir:
                # Its own folder under the run's: pabot runs each suite in a process of its
                # own, and each starts a lab -- journal and terminal flash must not be shared.
                Path(self.workdir).mkdir(parents=True, exist_ok=True)
                workdir = Path(tempfile.mkdtemp(prefix=f"{self.station_name or 'lab'}-",
                                                dir=self.workdir))
            else:
                self._tmp = tempfile.TemporaryDirectory(prefix="posrig-robot-")
                workdir = Path(self._tmp.name)
            lab = self._lab(workdir)
            lab.start()
            self.lab = lab
        return self.lab

    def _lab(self, workdir: Path) -> Lab:
        inventory = load_inventory(self.lab_path or DEFAULT_LAB)
        if self.station_name and inventory.virtual:
            return Lab(replace(inventory, stations=(inventory.station(self.station_name),)), workdir)
        return Lab.from_path(self.lab_path or None, workdir)

    def use_station(self, name: str) -> None:
        """Run on station ``name`` from now on; before the lab starts (a suite setup)."""
        if self.lab is not None and name != self.station_name:
            raise RuntimeError(f"the lab already runs for station {self.station_name or 'the first'}; "
                               f"`Use Station    {name}` belongs in the suite setup, before any test")
        self.station_name = name

    def station(self) -> Station:
        """The station under test; a station out of service skips the test (not fails it)."""
        st = self.running_lab().station(self.station_name or None)
        if st.broken_reason:
            raise SkipExecution(f"{st.name} is out of service: {st.broken_reason}")
        if self.steps is None or self.steps.station != st.name:
            if self.steps is not None:
                self.steps.close()
            self.steps = AllureSteps(st.name, st.tid)
        return st

    def identity(self, st: Station) -> flows.TerminalIdentity:
        if st.name not in self.identities:
            self.identities[st.name] = flows.identify(st)
        return self.identities[st.name]

    def close(self) -> None:
        if self.steps is not None:
            self.steps.close()
        if self.lab is not None:
            self.lab.stop()
            self.lab = None
        if self._tmp is not None:
            self._tmp.cleanup()
