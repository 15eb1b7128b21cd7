"""What the Robot library's components share: the running lab and the station under test.

One per Robot run (the library is GLOBAL): the lab is started at the first keyword that
needs it (the virtual lab unless ``LAB`` names an inventory) and stopped when Robot closes
the library. Everything here is plumbing; what a keyword *does* is in harness.flows.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from robot.api.exceptions import SkipExecution

from harness import flows
from harness.evidence import AllureSteps
from harness.lab import Lab
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
                workdir = Path(self.workdir)
                workdir.mkdir(parents=True, exist_ok=True)
            else:
                self._tmp = tempfile.TemporaryDirectory(prefix="posrig-robot-")
                workdir = Path(self._tmp.name)
            lab = Lab.from_path(self.lab_path or None, workdir)
            lab.start()
            self.lab = lab
        return self.lab

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
