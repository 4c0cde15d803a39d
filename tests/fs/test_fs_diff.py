"""test_fs_diff.py - what changed between scans, and reports for CI:
scans/ID/previous, scans/ID/diff/{new,persisting,fixed}/, apps/NAME/latest,
scans/ID/report.junit.xml (-o junit_fail) and ci-scan.sh --new-only, each
checked against the same arithmetic done over the simulator's API."""

import concurrent.futures
import math
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from fsutil import TOP, Mount, Sim, api_items

CI_SCAN = os.path.join(TOP, "contrib", "ci-scan.sh")
SETS = ("new", "persisting", "fixed")
RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def admin(sim):
    return sim.creds["admin_token"]


# ---- the truth, from the API ------------------------------------------------

def api_scans(sim):
    return api_items(sim, "/v1/scans", admin(sim))


def order(scan):
    return scan["completedAt"], scan["scanId"]


def previous_of(scans, scan):
    """The instance's Completed scan that completed just before scan."""
    if scan["status"] != "Completed":
        return None
    before = [s for s in scans if s["status"] == "Completed"
              and s["instanceId"] == scan["instanceId"]
              and order(s) < order(scan)]
    return max(before, key=order)["scanId"] if before else None


def latest_of(sim, app):
    """The newest Completed scan of the app's primary instance."""
    inst = app["instances"][0]["instanceId"]
    done = [s for s in api_items(sim, "/v1/scans?applicationId=" +
                                 app["applicationId"], admin(sim))
            if s["status"] == "Completed" and s["instanceId"] == inst]
    return max(done, key=order)["scanId"] if done else None


def findings(sim, scan_id):
    return api_items(sim, "/v1/vulnerabilities?scanId=" + scan_id, admin(sim))


def diff_sets(sim, scan_id, prev_id):
    """{set: {vulnerabilityId}} by fingerprint-set arithmetic."""
    cur, prev = findings(sim, scan_id), findings(sim, prev_id)
    cur_fps = {v["fingerprint"] for v in cur}
    prev_fps = {v["fingerprint"] for v in prev}
    return {
        "new": {v["vulnerabilityId"] for v in cur
                if v["fingerprint"] not in prev_fps},
        "persisting": {v["vulnerabilityId"] for v in cur
                       if v["fingerprint"] in prev_fps},
        "fixed": {v["vulnerabilityId"] for v in prev
                  if v["fingerprint"] not in cur_fps},
    }


def app_by_name(sim, name):
    for a in api_items(sim, "/v1/applications", admin(sim)):
        if a["applicationName"] == name:
            return a
    raise AssertionError("no application " + name)


# ---- what the mount shows -----------------------------------------------------

def mount_diff(m, scan_id):
    """{set: {vulnerabilityId}} from scans/ID/diff/, every link resolving
    to the finding it names."""
    out = {}
    for s in SETS:
        d = m.path("scans", scan_id, "diff", s)
        ids = set()
        for name in os.listdir(d):
            link = os.path.join(d, name)
            assert os.readlink(link) == "../../../../vulns/" + name
            assert name.endswith(".json")
            with open(link) as f:  # resolves: vulns/ID.json
                assert ('"vulnerabilityId": "%s"' % name[:-5]) in f.read()
            ids.add(name[:-5])
        out[s] = ids
    return out


def start_scan(m, app):
    with open(m.path("scans", "new"), "r+") as f:
        f.write(app + "\n")
        f.flush()
        return f.read().strip()


def check_scan(sim, m, scans, scan):
    """scans/ID/ shows previous and diff/ exactly when the API says."""
    sid = scan["scanId"]
    prev = previous_of(scans, scan)
    names = os.listdir(m.path("scans", sid))
    link = m.path("scans", sid, "previous")
    if prev is None:
        assert "previous" not in names and "diff" not in names, (sid, names)
        assert not os.path.lexists(link)
        assert not os.path.exists(m.path("scans", sid, "diff"))
        return False
    assert "previous" in names and "diff" in names, (sid, names)
    assert os.readlink(link) == "../" + prev
    assert os.path.realpath(link) == os.path.realpath(m.path("scans", prev))
    assert sorted(os.listdir(m.path("scans", sid, "diff"))) == sorted(SETS)
    assert mount_diff(m, sid) == diff_sets(sim, sid, prev), sid
    return True


# ---- previous and diff/ ---------------------------------------------------------

def test_diff_sets_are_the_fingerprint_arithmetic(sim, mnt):
    scans = api_scans(sim)
    assert len(scans) > 10
    with_prev = 0
    for scan in scans:
        with_prev += check_scan(sim, mnt, scans, scan)
    # The seeded data has rescans: most Completed scans have a previous.
    assert with_prev >= len(scans) // 3, with_prev
    # Something to compare in all three sets, somewhere.
    seen = {s: 0 for s in SETS}
    for scan in scans:
        if os.path.isdir(mnt.path("scans", scan["scanId"], "diff")):
            for s in SETS:
                seen[s] += len(os.listdir(mnt.path("scans", scan["scanId"],
                                                   "diff", s)))
    assert all(seen.values()), seen


def test_latest_is_the_newest_completed_scan(sim, mnt):
    for app in api_items(sim, "/v1/applications", admin(sim)):
        name = next(n for n in os.listdir(mnt.path("apps"))
                    if os.path.isfile(mnt.path("apps", n, "app.json")) and
                    app["applicationId"] in open(mnt.path("apps", n,
                                                          "app.json")).read())
        want = latest_of(sim, app)
        link = mnt.path("apps", name, "latest")
        if want is None:
            assert not os.path.lexists(link), name
            assert "latest" not in os.listdir(mnt.path("apps", name))
        else:
            assert os.readlink(link) == "../../scans/" + want, name
            assert "latest" in os.listdir(mnt.path("apps", name))
            with open(os.path.join(link, "status")) as f:
                assert f.read() == "Completed\n"


def test_history_costs_no_request_of_its_own(sim):
    """previous, latest and every diff come from the lists scans/ and
    vulns/ walk anyway (their pages, and the index by scan the scans' vulns/
    use): from a cold mount, the whole history costs those pages, and no
    filtered query per scan or application."""
    scans = api_scans(sim)
    n_vulns = len(api_items(sim, "/v1/vulnerabilities", admin(sim)))
    with Mount(sim.url, token=admin(sim), options=["cache_ttl=300"]) as m:
        sim.reset_stats()
        for app in os.listdir(m.path("apps")):
            if app != "new":
                os.listdir(m.path("apps", app))
        diffs = 0
        for scan in scans:
            sid = scan["scanId"]
            if os.path.isdir(m.path("scans", sid, "diff")):
                diffs += 1
                for s in SETS:
                    os.listdir(m.path("scans", sid, "diff", s))
        assert diffs > 10
        st = sim.stats()
        routes = st["routes"]
        assert routes.get("GET /v1/vulnerabilities", 0) <= \
            math.ceil(n_vulns / 500) + 5, routes
        assert routes.get("GET /v1/scans", 0) <= math.ceil(len(scans) / 500), \
            routes
        assert not any("scanId=" in r["query"] or "applicationId=" in r["query"]
                       for r in st["recent"]), st["recent"]
        m.umount()


def test_previous_latest_and_diff_move_when_a_scan_completes(sim):
    """A wait that sees the scan end shows it at once: with a 300 s TTL,
    no remount, no sleep."""
    app = app_by_name(sim, "payments-api")
    with Mount(sim.url, token=admin(sim), options=["cache_ttl=300"]) as m:
        base = m.path("apps", "payments-api")
        old = latest_of(sim, app)
        assert old and os.readlink(os.path.join(base, "latest")) == \
            "../../scans/" + old
        assert "latest" in os.listdir(base)
        old_sets = {s: os.listdir(m.path("scans", old, "diff", s))
                    for s in SETS} if os.path.isdir(
                        m.path("scans", old, "diff")) else None
        for _ in range(2):
            sid = start_scan(m, "payments-api")
            # Listed while it runs: no previous, no diff, no report.
            names = os.listdir(m.path("scans", sid))
            assert "previous" not in names and "diff" not in names
            with open(m.path("scans", sid, "wait")) as f:
                assert f.read() == "Completed\n"
            assert os.readlink(os.path.join(base, "latest")) == \
                "../../scans/" + sid
            assert os.readlink(m.path("scans", sid, "previous")) == "../" + old
            names = os.listdir(m.path("scans", sid))
            assert {"previous", "diff", "report.junit.xml"} <= set(names)
            assert "latest" in os.listdir(base)
            got = mount_diff(m, sid)
            assert got == diff_sets(sim, sid, old)
            # A rescan re-finds most of the previous scan, plus 1-3 new.
            assert 1 <= len(got["new"]) <= 3 and got["persisting"]
            # The older scan's history does not move.
            if old_sets is not None:
                assert {s: os.listdir(m.path("scans", old, "diff", s))
                        for s in SETS} == old_sets
            assert latest_of(sim, app) == sid
            old, old_sets = sid, {s: os.listdir(m.path("scans", sid, "diff",
                                                       s)) for s in SETS}
        m.umount()


def test_a_scan_without_history_has_no_previous(sim):
    """A new application: no latest until its first scan completes, and
    that scan has no previous and no diff/."""
    status, _, app = sim.request("POST", "/v1/applications", token=admin(sim),
                                 body={"applicationName": "fresh-api",
                                       "hostUrl": "https://fresh.example"})
    assert status == 201, app
    with Mount(sim.url, token=admin(sim), options=["cache_ttl=300"]) as m:
        base = m.path("apps", "fresh-api")
        assert not os.path.lexists(os.path.join(base, "latest"))
        assert "latest" not in os.listdir(base)
        sid = start_scan(m, "fresh-api")
        with open(m.path("scans", sid, "wait")) as f:
            assert f.read() == "Completed\n"
        assert os.readlink(os.path.join(base, "latest")) == "../../scans/" + sid
        assert "latest" in os.listdir(base)
        names = os.listdir(m.path("scans", sid))
        assert "previous" not in names and "diff" not in names, names
        assert "report.junit.xml" in names
        m.umount()


def test_without_vulns_read_diff_is_closed(sim):
    with Mount(sim.url, token=sim.creds["no_vulns_token"]) as m:
        scans = api_scans(sim)
        scan = next(s for s in reversed(scans) if previous_of(scans, s))
        sid = scan["scanId"]
        assert os.readlink(m.path("scans", sid, "previous")) == \
            "../" + previous_of(scans, scan)
        assert os.stat(m.path("scans", sid, "diff")).st_mode & 0o777 == 0
        assert os.stat(m.path("scans", sid, "report.junit.xml")).st_mode \
            & 0o777 == 0
        m.umount()


# ---- JUnit ------------------------------------------------------------------

def check_junit(sim, m, scan_id, fail_at="high"):
    path = m.path("scans", scan_id, "report.junit.xml")
    with open(path, "rb") as f:
        data = f.read()
    assert os.stat(path).st_size == len(data)
    root = ET.fromstring(data)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    vulns = findings(sim, scan_id)
    failing = {v["vulnerabilityId"] for v in vulns
               if v["status"] == "ACTIVE" and
               RANK[v["severity"]] >= RANK[fail_at]}
    assert suite.get("name") == "apisec " + scan_id
    assert suite.get("tests") == str(len(vulns))
    assert suite.get("failures") == str(len(failing))
    cases = suite.findall("testcase")
    assert len(cases) == len(vulns)
    by_id = {v["vulnerabilityId"]: v for v in vulns}
    failed = set()
    for case in cases:
        vid = re.fullmatch(r".* \[(.+)\]", case.get("name")).group(1)
        v = by_id[vid]
        assert case.get("classname") == v["category"]
        assert case.get("name") == "%s %s [%s]" % (
            v["endpoint"]["method"], v["endpoint"]["path"], vid)
        fail = case.findall("failure")
        if fail:
            failed.add(vid)
            assert fail[0].get("type") == v["severity"]
            assert fail[0].get("message") == v["title"]
            assert v["description"] in fail[0].text
            assert v["remediation"] in fail[0].text
    assert failed == failing
    return len(vulns), len(failing), root


def test_junit_counts_are_the_apis(sim):
    scans = [s for s in api_scans(sim) if s["status"] == "Completed"]
    totals = [0, 0]
    with Mount(sim.url, token=sim.creds["ci_token"]) as m:
        for scan in scans:
            n, f, _ = check_junit(sim, m, scan["scanId"])
            totals[0] += n
            totals[1] += f
        # Not Completed: no report.
        for scan in api_scans(sim):
            if scan["status"] != "Completed":
                assert not os.path.exists(m.path("scans", scan["scanId"],
                                                 "report.junit.xml"))
        m.umount()
    assert totals[0] > totals[1] > 0, totals


@pytest.mark.parametrize("level", ["critical", "medium", "info"])
def test_junit_fail_option_moves_the_threshold(sim, level):
    scans = [s for s in api_scans(sim) if s["status"] == "Completed"]
    with Mount(sim.url, token=admin(sim),
               options=["junit_fail=" + level]) as m:
        totals = {}
        for scan in scans:
            totals[scan["scanId"]] = check_junit(sim, m, scan["scanId"],
                                                 level)[1]
        m.umount()
    assert sum(totals.values()) > 0


def test_junit_fail_rejects_what_is_not_a_severity(sim):
    from fsutil import run_apisecfs
    r = run_apisecfs(["-o", "junit_fail=severe", sim.url, "/nonexistent"])
    assert r.returncode == 1 and "junit_fail must be" in r.stderr, r.stderr


def test_hostile_titles_stay_valid_xml():
    with Sim(apps=3, vulns=60, scan_seconds=1) as sim:
        vulns = api_items(sim, "/v1/vulnerabilities", admin(sim))
        scan_id = vulns[0]["scanId"]
        mine = [v for v in vulns if v["scanId"] == scan_id]
        # Markup, quotes, controls (ESC, DEL), U+FFFE, invalid UTF-8
        # (lone surrogates go out as raw bytes), and text that is fine.
        hostile = ('<x a="1"> & \'q\' ]]> \x01\x1b\x7f \ufffe '
                   '\udcff\udcc3( \u2713 \U0001f512\r\n\tend')
        expected = ('<x a="1"> & \'q\' ]]> \ufffd\ufffd\x7f \ufffd '
                    '\ufffd\ufffd( \u2713 \U0001f512\r\n\tend')
        for v in mine:
            st, _, res = sim.request(
                "POST", "/_sim/vuln-text",
                body={"vulnerabilityId": v["vulnerabilityId"],
                      "title": hostile, "description": hostile,
                      # A JSON string's NUL ends it (cJSON keeps C
                      # strings): what follows is not shown.
                      "remediation": "</failure>" + hostile + "\x00cut",
                      "category": hostile})
            assert st == 200, res
            st, _, res = sim.request("PATCH", "/v1/vulnerabilities/" +
                                     v["vulnerabilityId"], token=admin(sim),
                                     body={"status": "ACTIVE"})
        with Mount(sim.url, token=admin(sim), options=["junit_fail=info"]) as m:
            path = m.path("scans", scan_id, "report.junit.xml")
            with open(path, "rb") as f:
                data = f.read()
            assert os.stat(path).st_size == len(data)
            data.decode("utf-8")  # strict: valid UTF-8
            root = ET.fromstring(data)
            cases = root.find("testsuite").findall("testcase")
            assert len(cases) == len(mine)
            for case in cases:
                assert case.get("classname") == expected
                fail = case.find("failure")
                assert fail.get("message") == expected
                # Text: the parser folds CR LF to LF (XML 1.0 2.11) unless
                # written as a reference, which it is.
                assert fail.text.startswith(expected)
                assert fail.text.endswith("Remediation: </failure>" +
                                          expected)
            m.umount()


# ---- ci-scan.sh --new-only ----------------------------------------------------

def ci_scan(mnt, app, new_only, env=None):
    args = [CI_SCAN] + (["--new-only"] if new_only else []) + [mnt, app]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **(env or {})))
    m = re.search(r"scan (\S+) started", r.stdout)
    return r.returncode, (m.group(1) if m else None), r.stdout + r.stderr


def gate(vulns, severities):
    return 1 if any(v["severity"] in severities for v in vulns) else 0


def test_ci_scan_new_only_gates_on_what_is_new():
    severities = ("critical", "high")
    env = {"FAIL_ON": " ".join(severities)}
    with Sim(apps=8, vulns=400, scan_seconds=1) as sim:
        apps = sorted(a["applicationName"]
                      for a in api_items(sim, "/v1/applications", admin(sim)))
        with Mount(sim.url, token=sim.creds["ci_token"]) as m:
            apps = [a for a in os.listdir(m.path("apps")) if a != "new"]
            outcomes = set()
            for _ in range(6):
                with concurrent.futures.ThreadPoolExecutor(4) as pool:
                    runs = list(pool.map(
                        lambda a: (a, ci_scan(m.mnt, a, True, env)),
                        sorted(apps)[:4]))
                scans = api_scans(sim)
                for app, (rc, sid, out) in runs:
                    assert sid, out
                    scan = next(s for s in scans if s["scanId"] == sid)
                    prev = previous_of(scans, scan)
                    every = findings(sim, sid)
                    if prev is None:
                        new = every
                        assert "every finding is new" in out, out
                    else:
                        ids = diff_sets(sim, sid, prev)["new"]
                        new = [v for v in every if v["vulnerabilityId"] in ids]
                        assert "compared with the previous scan " + prev in out
                    want = gate(new, severities)
                    assert rc == want, "%s: exit %d, want %d:\n%s" % (
                        app, rc, want, out)
                    # Old findings at the threshold alone pass.
                    outcomes.add((rc, gate(every, severities)))
                    if rc:
                        assert re.search(r"vuln_\w+\.json (critical|high): ",
                                         out), out
                if {(0, 1), (1, 1)} <= outcomes:
                    break
            assert {(0, 1), (1, 1)} <= outcomes, outcomes
            # The same gate on every finding fails where --new-only passed.
            rc, sid, out = ci_scan(m.mnt, "payments-api", False, env)
            assert rc == gate(findings(sim, sid), severities), out
            rc, sid, out = ci_scan(m.mnt, "payments-api", True,
                                   {"FAIL_ON": "nonsense"})
            assert rc == 2 and sid is None, out
            m.umount()
