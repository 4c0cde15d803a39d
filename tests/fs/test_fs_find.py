"""test_fs_find.py - a whole-tree walk does not ask once per directory:
the per-application and per-scan views come from one walk of the lists
the mount already has."""

import math
import os
import subprocess

from fsutil import Mount, Sim


def test_find_over_the_tree_costs_the_lists_not_the_directories():
    n, apps = 2000, 100
    with Sim(apps=apps, vulns=n, scan_seconds=1) as sim:
        with Mount(sim.url, token=sim.creds["admin_token"],
                   options=["cache_ttl=600"]) as m:
            sim.reset_stats()
            r = subprocess.run(["find", ".", "-type", "f"], cwd=m.mnt,
                               capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, r.stderr
            files = r.stdout.split()
            assert sum(f.startswith("./vulns/vuln_") for f in files) == n
            routes = sim.stats()["routes"]
            specs = routes.get(
                "GET /v1/applications/{id}/instances/{id}/spec", 0)
            assert specs <= apps
            # The bound: ceil(N/500)+5 finding pages, a page each
            # for scans, apps, teams and tokens, a request per spec, 10.
            bound = math.ceil(n / 500) + 5 + 4 + apps + 10
            total = sum(routes.values())
            assert total <= bound, routes
            # Each view is the filtered list the platform gives.
            app = sorted(os.listdir(m.path("apps")))[1]
            aid = __import__("json").load(
                open(m.path("apps", app, "app.json")))["applicationId"]
            _, _, body = sim.request(
                "GET", "/v1/vulnerabilities?limit=500&applicationId=" + aid,
                token=sim.creds["admin_token"])
            want = {v["vulnerabilityId"] + ".json" for v in body["items"]}
            assert set(os.listdir(m.path("apps", app, "vulns"))) == want
            _, _, body = sim.request(
                "GET", "/v1/scans?limit=500&applicationId=" + aid,
                token=sim.creds["admin_token"])
            want = {s["scanId"] for s in body["items"]}
            assert set(os.listdir(m.path("apps", app, "scans"))) == want
            sid = sorted(want)[0] if want else None
            if sid:
                _, _, body = sim.request(
                    "GET", "/v1/vulnerabilities?limit=500&scanId=" + sid,
                    token=sim.creds["admin_token"])
                want = {v["vulnerabilityId"] + ".json"
                        for v in body["items"]}
                assert set(os.listdir(m.path("scans", sid, "vulns"))) == want
            m.umount()
