"""conftest.py - fixtures for the filesystem tests: one simulator for the
module, and mounts built on it.

A module sizes its simulator and sets its shared mount's options with
module-level names, read here through request.module:

    SIM = dict(apps=6, vulns=150)      # Sim() arguments over DEFAULT_SIM
    MNT_OPTIONS = ["poll=1"]           # -o options of the `mnt` fixture
"""

import pytest

from fsutil import Mount, Sim

DEFAULT_SIM = dict(apps=10, vulns=300, scan_seconds=1)
DEFAULT_MNT_OPTIONS = ["cache_ttl=30"]


@pytest.fixture(scope="module")
def sim(request):
    with Sim(**dict(DEFAULT_SIM, **getattr(request.module, "SIM", {}))) as s:
        yield s


@pytest.fixture(scope="module")
def mnt(sim, request):
    """An admin mount shared by a module's read-only tests."""
    m = Mount(sim.url, token=sim.creds["admin_token"],
              options=getattr(request.module, "MNT_OPTIONS",
                              DEFAULT_MNT_OPTIONS))
    yield m
    m.umount()


@pytest.fixture
def clean(sim):
    """The module's simulator without faults, before and after the test."""
    sim.clear_faults()
    yield sim
    sim.clear_faults()
