"""conftest.py - fixtures for the simulator's own tests.

``sim`` is one simulator for the whole session (10 apps, 1,234 vulns, scans
that take 1 s); tests that need other options or that break it on purpose
start their own through simctl.Sim.
"""

import pytest

from simctl import Sim

SESSION_VULNS = 1234


@pytest.fixture(scope="session")
def sim():
    with Sim(apps=10, vulns=SESSION_VULNS, scan_seconds=1) as s:
        yield s


@pytest.fixture(scope="session")
def session_vulns():
    """How many vulnerabilities the session simulator was seeded with."""
    return SESSION_VULNS


@pytest.fixture(scope="session")
def admin(sim):
    """The all-scopes API token."""
    return sim.creds["admin_token"]
