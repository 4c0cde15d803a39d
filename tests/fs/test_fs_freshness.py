"""test_fs_freshness.py - freshness in O(changes): after the TTL, an
unchanged listing costs a round of updatedSince, not a request per page; a
change made elsewhere shows after the TTL in a few requests; new findings
and deleted applications are noticed; .refresh still asks every page."""

import json
import os
import subprocess
import time

import pytest

from fsutil import Mount, Sim

TTL = 2
SIM = dict(apps=20, vulns=6000)
MNT_OPTIONS = ["cache_ttl=%d" % TTL]


def requests(sim):
    return sum(sim.stats()["routes"].values())


def pages(sim):
    """The list pages of vulns/ (it lists the five severities)."""
    n = 0
    for sev in ("critical", "high", "medium", "low", "info"):
        _, _, body = sim.request("GET", "/v1/vulnerabilities?limit=500&"
                                 "severity=" + sev, token=sim.creds["admin_token"])
        count = len(body["items"])
        while body.get("nextToken"):
            _, _, body = sim.request(
                "GET", "/v1/vulnerabilities?limit=500&severity=%s&nextToken=%s"
                % (sev, body["nextToken"]), token=sim.creds["admin_token"])
            count += len(body["items"])
        n += max(1, -(-count // 500))
    return n


def past_ttl():
    time.sleep(TTL + 0.5)


def test_unchanged_listing_after_the_ttl_costs_a_round(sim, mnt):
    names = os.listdir(mnt.path("vulns"))
    assert len([n for n in names if n.endswith(".json")]) == 6000
    json.load(open(mnt.path("vulns", "vuln_00010.json")))
    past_ttl()
    sim.reset_stats()
    assert len(os.listdir(mnt.path("vulns"))) == len(names)
    json.load(open(mnt.path("vulns", "vuln_00011.json")))
    routes = sim.stats()["routes"]
    # Page by page that would be a request a page (14 here); a round is
    # one updatedSince request and the application list.
    assert requests(sim) <= 3, routes
    assert pages(sim) > 10


def flip_status(sim, m, vid):
    """Change vid's status through the API (as seen through mount m);
    returns the new status."""
    with open(m.path("vulns", vid + ".json")) as f:
        before = json.load(f)
    status = "DISMISSED" if before["status"] != "DISMISSED" else "ACTIVE"
    st, _, _ = sim.request("PATCH", "/v1/vulnerabilities/" + vid,
                           token=sim.creds["admin_token"],
                           body={"status": status})
    assert st == 200
    return status


def test_a_change_elsewhere_shows_in_a_few_requests(sim, mnt):
    vid = "vuln_00042"
    status = flip_status(sim, mnt, vid)
    past_ttl()
    sim.reset_stats()
    assert json.load(open(mnt.path("vulns", vid + ".json")))["status"] == status
    assert requests(sim) <= 8, sim.stats()["routes"]
    # The pages it did not touch still stand: the next file costs nothing.
    sim.reset_stats()
    json.load(open(mnt.path("vulns", "vuln_05000.json")))
    assert requests(sim) == 0, sim.stats()["routes"]


def test_new_findings_elsewhere_appear(sim, mnt):
    before = set(os.listdir(mnt.path("vulns")))
    aid = json.load(open(mnt.path("apps", "payments-api", "app.json")))
    app, inst = aid["applicationId"], aid["instances"][0]["instanceId"]
    st, _, body = sim.request(
        "POST", "/v1/applications/%s/instances/%s/scans" % (app, inst),
        token=sim.creds["admin_token"], body={})
    assert st == 202
    sim.wait_scan(body["scanId"], sim.creds["admin_token"])
    _, _, found = sim.request(
        "GET", "/v1/vulnerabilities?limit=500&scanId=" + body["scanId"],
        token=sim.creds["admin_token"])
    new = {v["vulnerabilityId"] + ".json" for v in found["items"]}
    assert new
    past_ttl()
    sim.reset_stats()
    after = set(os.listdir(mnt.path("vulns")))
    assert after - before == new
    assert requests(sim) <= 12, sim.stats()["routes"]


def test_refresh_asks_every_page(sim, mnt):
    want = pages(sim)
    os.listdir(mnt.path("vulns"))
    sim.reset_stats()
    with open(mnt.path(".refresh"), "w") as f:
        f.write("\n")
    os.listdir(mnt.path("vulns"))
    got = sim.stats()["routes"].get("GET /v1/vulnerabilities", 0)
    assert got >= want, sim.stats()["routes"]


def test_a_deleted_application_takes_its_findings():
    with Sim(apps=5, vulns=600, scan_seconds=1) as sim:
        with Mount(sim.url, token=sim.creds["admin_token"],
                   options=["cache_ttl=%d" % TTL]) as m:
            os.listdir(m.path("vulns"))
            apps = os.listdir(m.path("apps"))
            victim = [a for a in apps if a not in ("new", "payments-api")][0]
            obj = json.load(open(m.path("apps", victim, "app.json")))
            _, _, gone = sim.request(
                "GET", "/v1/vulnerabilities?limit=500&applicationId=" +
                obj["applicationId"], token=sim.creds["admin_token"])
            gone = {v["vulnerabilityId"] + ".json" for v in gone["items"]}
            assert gone
            st, _, _ = sim.request("DELETE", "/v1/applications/" +
                                   obj["applicationId"],
                                   token=sim.creds["admin_token"])
            assert st == 204
            past_ttl()
            # Within two TTLs: the round sees the application list change.
            deadline = time.monotonic() + 3 * TTL + 5
            while time.monotonic() < deadline:
                left = set(os.listdir(m.path("vulns"))) & gone
                if not left:
                    break
                time.sleep(0.5)
            assert not left
            m.umount()


def fuse_ops(m):
    """The daemon's own count of FUSE requests, by operation."""
    ops = {}
    with open(m.path(".stats")) as f:
        for line in f:
            if line.startswith('apisecfs_fuse_requests_total{op="'):
                op = line.split('"')[1]
                ops[op] = int(line.rsplit(" ", 1)[1])
    return ops


def test_files_read_in_a_row_are_stored_ahead_and_still_change(sim):
    """grep -r reads vulns/ in listing order: after the first file the
    daemon hands the kernel the next files' pages itself (store-ahead),
    so most files cost no READ; a file stored that way still shows a
    change made elsewhere once the TTL has passed."""
    with Mount(sim.url, token=sim.creds["admin_token"],
               options=["cache_ttl=%d" % TTL]) as m:
        names = sorted(n for n in os.listdir(m.path("vulns"))
                       if n.endswith(".json"))
        # The first read hands the kernel the next files: once the batch
        # is through (it runs on another thread: give it a moment), they
        # are read without a READ.
        with open(m.path("vulns", names[0]), "rb") as f:
            f.read()
        time.sleep(1)
        before = fuse_ops(m)
        stats_reads = fuse_ops(m)["read"] - before["read"]  # .stats's own
        before = fuse_ops(m)
        for n in names[1:33]:
            with open(m.path("vulns", n), "rb") as f:
                assert f.read().startswith(b"{")
        assert fuse_ops(m)["read"] - before["read"] == stats_reads
        # grep -r over the rest: the batches race a fast reader, so only
        # a bound (one READ per file without them).
        before = fuse_ops(m)
        done = subprocess.run(["grep", "-rlF", "--exclude=all.jsonl",
                               "no such text anywhere", m.path("vulns")],
                              capture_output=True)
        assert done.returncode == 1, done  # read them all, found none
        reads = fuse_ops(m).get("read", 0) - before.get("read", 0)
        assert reads <= len(names) * 9 // 10, (reads, len(names))
        # A file stored ahead (not read through a READ) changes elsewhere.
        vid = names[len(names) * 3 // 4][:-len(".json")]
        status = flip_status(sim, m, vid)
        past_ttl()
        os.listdir(m.path("vulns"))
        with open(m.path("vulns", vid + ".json")) as f:
            assert json.load(f)["status"] == status
        # And the kernel's copy of its neighbours is the platform's.
        nb = names[len(names) * 3 // 4 + 1]
        _, _, want = sim.request("GET", "/v1/vulnerabilities/" +
                                 nb[:-len(".json")],
                                 token=sim.creds["admin_token"])
        with open(m.path("vulns", nb)) as f:
            assert json.load(f)["status"] == want["status"]


def stat_value(m, name):
    with open(m.path(".stats")) as f:
        for line in f:
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(name + " not in .stats")


@pytest.mark.parametrize("disk_cache", [0, 64])
def test_evicted_pages_come_back_from_the_disk_cache(sim, disk_cache):
    """A cache too small for the list: after one change, relisting
    downloads every evicted page again, unless -o disk_cache keeps them
    (then the touched page and the round of changes are all it costs)."""
    opts = ["cache_ttl=%d" % TTL, "cache_size=1"]
    if disk_cache:
        opts.append("disk_cache=%d" % disk_cache)
    with Mount(sim.url, token=sim.creds["admin_token"], options=opts) as m:
        names = [n for n in os.listdir(m.path("vulns"))
                 if n.endswith(".json")]
        assert len(names) >= 6000
        assert stat_value(m, "apisecfs_cache_evictions_total") > 0
        status = flip_status(sim, m, "vuln_03000")
        past_ttl()
        sim.reset_stats()
        after = [n for n in os.listdir(m.path("vulns"))
                 if n.endswith(".json")]
        assert sorted(after) == sorted(names)
        with open(m.path("vulns", "vuln_03000.json")) as f:
            assert json.load(f)["status"] == status
        routes = sim.stats()["routes"]
        if disk_cache:
            assert requests(sim) <= 8, "\n".join(
                str(sorted(e.items())) for e in sim.stats()["recent"])
            assert stat_value(m, "apisecfs_cache_disk_reads_total") > 0
        else:
            # Every evicted page again: the cost the option removes.
            assert requests(sim) > pages(sim) // 2, routes


def test_a_disk_cache_that_cannot_be_made_is_refused(sim, tmp_path):
    from fsutil import run_apisecfs
    token = tmp_path / "token"
    token.write_text(sim.creds["admin_token"])
    token.chmod(0o600)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_apisecfs(["-f", "-o", "disk_cache=8,token_file=%s" % token,
                      sim.url, str(mnt)],
                     env={"TMPDIR": str(tmp_path / "no-such-dir")})
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "disk_cache" in r.stderr and "$TMPDIR" in r.stderr, r.stderr
    assert str(tmp_path) not in r.stderr  # the message names no path
    assert not os.path.ismount(mnt)
