"""conftest.py - fixtures for the filesystem tests: one simulator for the
module, and mounts built on it."""

import pytest

from fsutil import Mount, Sim


@pytest.fixture(scope="module")
def sim():
    with Sim(apps=10, vulns=300, scan_seconds=1) as s:
        yield s


@pytest.fixture(scope="module")
def mnt(sim):
    """An admin mount shared by a module's read-only tests."""
    m = Mount(sim.url, token=sim.creds["admin_token"],
              options=["cache_ttl=30"])
    yield m
    m.umount()
