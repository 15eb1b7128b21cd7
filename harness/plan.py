"""The certification plan: case ids, and the Allure labels each case's tests carry.

A plan is a YAML file (``scenarios/plan.yaml``): its name is the report's *epic*, each case
names its flow (*feature*), what it checks (*story*) and its *severity*, and the report
links every test to its case id. pytest scenarios name their case with
``@pytest.mark.case("ID")``, Robot tests with the tag ``case:ID``; both are labelled by
:meth:`CertificationPlan.label`, so a vendor sees one plan whichever runner ran the test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import allure

from harness.config import ConfigError, Node, load_yaml

SEVERITIES = ("blocker", "critical", "normal", "minor", "trivial")
#: Where a case id links to; ``{case}`` is the id. A lab with a test-management system
#: points this at it; by default the link opens the plan file itself.
PLAN_URL_ENV = "POSRIG_PLAN_URL"


@dataclass(frozen=True)
class Case:
    id: str
    feature: str
    story: str
    severity: str


@dataclass(frozen=True)
class CertificationPlan:
    name: str
    source: Path
    url: str
    cases: dict[str, Case]

    @classmethod
    def load(cls, path: Path) -> CertificationPlan:
        root = Node(load_yaml(path, "certification plan"), path)
        cases: dict[str, Case] = {}
        for node in root.nodes("cases"):
            case = Case(id=node.str("id", pattern=r"[A-Z0-9][A-Z0-9\-]+", expected="an id like CUP-SALE-001"),
                        feature=node.str("feature"), story=node.str("story"),
                        severity=node.str("severity", "normal", pattern="|".join(SEVERITIES),
                                          expected=" / ".join(SEVERITIES)))
            if case.id in cases:
                raise ConfigError(f"{path}: {node.where}: case id {case.id} appears twice")
            cases[case.id] = case
        url = os.environ.get(PLAN_URL_ENV) or root.str("url", f"{path.resolve().as_uri()}#{{case}}")
        return cls(name=root.str("name"), source=path, url=url, cases=cases)

    def case(self, case_id: str) -> Case:
        try:
            return self.cases[case_id]
        except KeyError:
            raise ConfigError(f"{self.source}: no case {case_id!r} in the plan; add it there "
                              f"(the plan is what the report is organised by)") from None

    def label(self, case_id: str) -> Case:
        """Label the running test (pytest or Robot) as the plan says."""
        case = self.case(case_id)
        allure.dynamic.epic(self.name)
        allure.dynamic.feature(case.feature)
        allure.dynamic.story(case.story)
        allure.dynamic.severity(allure.severity_level(case.severity))
        allure.dynamic.link(self.url.format(case=case.id), link_type="tms", name=case.id)
        allure.dynamic.label("case_id", case.id)
        return case
