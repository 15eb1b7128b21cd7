"""Fixtures the rig's own tests share."""

from __future__ import annotations

import pytest

from devices.terminal.testing import open_bench


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "bench(signed_in=False, **options): how the `bench` fixture opens its bench "
                   "(options go to devices.terminal.testing.open_bench, e.g. dialect='concert')")


@pytest.fixture
def bench(request: pytest.FixtureRequest, tmp_path):
    """A simulated terminal, host, robot and relay reached only through their drivers.

    A module says how it wants the bench with ``pytestmark = pytest.mark.bench(...)``.
    """
    marker = request.node.get_closest_marker("bench")
    options = dict(marker.kwargs) if marker else {}
    signed_in = options.pop("signed_in", False)
    opened = open_bench(tmp_path, **options)
    try:
        if signed_in:
            opened.sign_in()
        yield opened
    finally:
        opened.close()
