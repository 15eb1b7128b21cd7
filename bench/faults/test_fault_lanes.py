"""The fault matrix's pytest side: one lane of steps per station (bench/faults.py runs it).

Not part of the rig's test run (bench/ is not in pytest's testpaths): bench/faults.py
writes a plan (``POSRIG_FAULT_PLAN``, JSON: ``{"lanes": [[step, ...], ...]}``) and runs this
module under pytest-xdist, one worker per station (``--dist loadscope``: a lane's steps go,
in order, to one worker, which claims one station of the lab). A step is a fault case of
faultcases.py, or ``clean-start`` / ``reconcile`` / ``follower``. Every result is tagged
``fault:<step>`` and ``lane:<n>`` so the driver finds it in the Allure results.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import allure
import faultcases as fc
import pytest

from harness import flows


def _lanes() -> list[tuple[int, list[str]]]:
    plan_path = os.environ.get("POSRIG_FAULT_PLAN")
    if not plan_path:
        return []
    lanes = json.loads(Path(plan_path).read_text(encoding="utf-8"))["lanes"]
    first = int(os.environ.get("POSRIG_FAULT_FIRST_LANE", "0"))  # lanes are numbered across runs
    return list(enumerate(lanes, start=first))


def run_step(lane: int, step: str, station, lab) -> None:
    allure.dynamic.tag(f"fault:{step}")
    allure.dynamic.tag(f"lane:{lane}")
    if step == fc.CLEAN_START:
        fc.clean_start(station)
    elif step == fc.RECONCILE:
        fc.reconcile(station)
    elif step == fc.FOLLOWER:
        flows.status(station)  # a station quarantined by the step before skips this
    else:
        fc.run_case(fc.BY_ID[step], station, lab.virtual.stations[station.name], lab.virtual)


def _lane_class(lane: int, steps: list[str]) -> type:
    """A class per lane: ``--dist loadscope`` sends a class's tests, in order, to one worker
    (xdist_group marks on parameters are not honoured by this pytest/xdist pair)."""

    @pytest.mark.parametrize(("index", "step"), [pytest.param(i, s, id=f"L{lane:02d}-{i:02d}-{s}")
                                                 for i, s in enumerate(steps)])
    def test_step(self, index: int, step: str, station, lab) -> None:
        run_step(lane, step, station, lab)

    return type(f"TestLane{lane:02d}", (), {"test_step": test_step})


for _lane, _steps in _lanes():
    globals()[f"TestLane{_lane:02d}"] = _lane_class(_lane, _steps)
