"""Fixtures the rig's own tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devices.host import AcquirerHost
from devices.host.testing import LAB_CLOCK, lab_config
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


@pytest.fixture
def host() -> Iterator[AcquirerHost]:
    """The acquirer host alone on an ephemeral port, its clock pinned to ``LAB_CLOCK``
    (a test module that needs another set-up defines its own ``host``)."""
    host = AcquirerHost(lab_config(clock=lambda: LAB_CLOCK))
    host.start_in_thread()
    yield host
    host.stop()
