"""Weaknesses across scans: fingerprints, rescans that re-find most of the
previous scan, scans' updatedAt and updatedSince, and the Date header."""

import concurrent.futures
import datetime
import email.utils
import re
import time

import pytest

from simctl import Sim

FP = re.compile(r"fp_[0-9a-f]{16}")


def walk(sim, token, path):
    """Every item of a list call, page by page (500 a page)."""
    items, nt = [], None
    sep = "&" if "?" in path else "?"
    while True:
        url = path + sep + "limit=500" + (f"&nextToken={nt}" if nt else "")
        st, _, data = sim.request("GET", url, token=token)
        assert st == 200, data
        items += data["items"]
        nt = data["nextToken"]
        if nt is None:
            return items


def weakness(v):
    return v["instanceId"], v["category"], v["endpoint"]["method"], v["endpoint"]["path"]


def date_of(headers):
    """A response's Date as an RFC 3339 timestamp, comparable to updatedAt."""
    when = email.utils.parsedate_to_datetime(headers["date"])
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def plus_one_second(stamp):
    t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ") + datetime.timedelta(seconds=1)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def scans_path(app, inst=0):
    return f"/v1/applications/{app['applicationId']}/instances/" \
           f"{app['instances'][inst]['instanceId']}/scans"


def fingerprints(sim, token, scan_id):
    """A scan's weaknesses, each with its first finding (the one a rescan
    copies severity and score from)."""
    out = {}
    for v in walk(sim, token, f"/v1/vulnerabilities?scanId={scan_id}"):
        out.setdefault(v["fingerprint"], v)
    return out


def completed_by_instance(scans):
    """Completed scans per instance, in the order they completed."""
    out = {}
    for s in sorted(scans, key=lambda s: (s["completedAt"], s["scanId"])):
        if s["status"] == "Completed":
            out.setdefault(s["instanceId"], []).append(s)
    return out


# -- fingerprints on seeded data --------------------------------------------------

def test_seeded_fingerprints_name_weaknesses(sim, admin):
    vulns = walk(sim, admin, "/v1/vulnerabilities")
    by_weakness, by_fp, scans = {}, {}, {}
    for v in vulns:
        assert FP.fullmatch(v["fingerprint"]), v
        by_weakness.setdefault(weakness(v), set()).add(v["fingerprint"])
        by_fp.setdefault(v["fingerprint"], set()).add(weakness(v))
        scans.setdefault(v["fingerprint"], set()).add(v["scanId"])
    # One fingerprint per weakness and one weakness per fingerprint.
    assert all(len(fps) == 1 for fps in by_weakness.values())
    assert all(len(ws) == 1 for ws in by_fp.values())
    # Most weaknesses are reported by more than one scan.
    assert sum(len(s) > 1 for s in scans.values()) > len(scans) / 2


def test_seeded_scans_share_weaknesses():
    # A client can diff seeded scans: consecutive Completed scans of an
    # instance overlap by about the rescan share, and differ too.
    with Sim(apps=6, vulns=1500, scan_seconds=1) as s:
        tok = s.creds["admin_token"]
        fps = {}
        for v in walk(s, tok, "/v1/vulnerabilities"):
            fps.setdefault(v["scanId"], set()).add(v["fingerprint"])
        chains = completed_by_instance(walk(s, tok, "/v1/scans"))
        apps = walk(s, tok, "/v1/applications")
    pairs = [(fps[a["scanId"]], fps[b["scanId"]])
             for chain in chains.values() for a, b in zip(chain, chain[1:])]
    assert len(pairs) >= len(chains)
    for prev, cur in pairs:
        assert prev & cur and cur - prev and prev - cur
    again = sum(len(prev & cur) for prev, cur in pairs)
    assert 0.6 <= again / sum(len(prev) for prev, _ in pairs) <= 0.8
    # latestScanId is the scan that completed last.
    for app in apps:
        for inst in app["instances"]:
            assert inst["latestScanId"] == chains[inst["instanceId"]][-1]["scanId"]


# -- rescans ------------------------------------------------------------------------

def rescan(sim, token, app, prev_id):
    """Start a scan of app's first instance and check what it found against
    the previous Completed scan prev_id; returns the new scan."""
    known = {v["vulnerabilityId"] for v in walk(sim, token, "/v1/vulnerabilities")}
    before = fingerprints(sim, token, prev_id)
    st, _, scan = sim.request("POST", scans_path(app), token=token)
    assert st == 202
    scan = sim.wait_scan(scan["scanId"], token)
    assert scan["status"] == "Completed"
    found = walk(sim, token, f"/v1/vulnerabilities?scanId={scan['scanId']}")
    assert len(found) == scan["vulnerabilityStats"]["total"]
    now = {v["fingerprint"]: v for v in found}
    assert len(now) == len(found)                 # each weakness once
    for v in found:
        assert FP.fullmatch(v["fingerprint"]) and v["vulnerabilityId"] not in known
        assert v["scanId"] == scan["scanId"] and v["status"] == "ACTIVE"
        assert v["detectedAt"] == v["updatedAt"] == scan["completedAt"]
    again = now.keys() & before.keys()
    assert 0.5 <= len(again) / len(before) <= 0.9, (len(again), len(before))
    assert 1 <= len(now.keys() - before.keys()) <= 3
    for fp in again:
        old, new = before[fp], now[fp]
        assert weakness(old) == weakness(new)
        assert (old["severity"], old["cvssScore"]) == (new["severity"], new["cvssScore"])
    inst = sim.request("GET", f"/v1/applications/{app['applicationId']}",
                       token=token)[2]["instances"][0]
    assert inst["latestScanId"] == scan["scanId"]
    assert inst["latestScanStats"] == scan["vulnerabilityStats"]
    return scan, [(v["fingerprint"], v["severity"]) for v in found]


def rescans(sim):
    """Two rescans of payments-api, a cancelled one between them."""
    tok = sim.creds["admin_token"]
    app = walk(sim, tok, "/v1/applications")[0]
    first, seen1 = rescan(sim, tok, app, app["instances"][0]["latestScanId"])
    # A cancelled scan finds nothing and is nobody's previous scan.
    st, _, gone = sim.request("POST", scans_path(app), token=tok)
    assert st == 202
    assert sim.request("POST", f"/v1/scans/{gone['scanId']}/cancel", token=tok)[0] == 202
    assert walk(sim, tok, f"/v1/vulnerabilities?scanId={gone['scanId']}") == []
    second, seen2 = rescan(sim, tok, app, first["scanId"])
    return seen1, seen2


def test_rescan_refinds_most_of_the_previous_scan():
    with Sim(apps=3, vulns=1200, scan_seconds=1) as a, \
            Sim(apps=3, vulns=1200, scan_seconds=1) as b:
        # The same seed and the same calls give the same findings.
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            seen_a, seen_b = pool.map(rescans, (a, b))
        assert seen_a == seen_b


def test_first_scan_of_a_new_app(sim, admin):
    st, _, app = sim.request("POST", "/v1/applications", token=admin,
                             body={"applicationName": "fresh-api",
                                   "hostUrl": "https://fresh.example.com"})
    assert st == 201
    st, _, scan = sim.request("POST", scans_path(app), token=admin)
    scan = sim.wait_scan(scan["scanId"], admin)
    found = walk(sim, admin, f"/v1/vulnerabilities?scanId={scan['scanId']}")
    assert 2 <= len(found) <= 4 and len({v["fingerprint"] for v in found}) == len(found)
    assert all(FP.fullmatch(v["fingerprint"]) for v in found)


# -- updatedAt and updatedSince on scans --------------------------------------------

def poll_until(sim, token, scan_id, statuses, history):
    """Poll the scan until its status is in statuses; history gets each
    (scan, Date of the answer that showed it)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        st, headers, scan = sim.request("GET", f"/v1/scans/{scan_id}", token=token)
        assert st == 200
        history.append((scan, date_of(headers)))
        if scan["status"] in statuses:
            return scan
        time.sleep(0.02)
    raise AssertionError(f"scan {scan_id} never reached {statuses}")


def check_moves(history):
    """updatedAt is the time of the last status change, never goes back,
    and a change an answer did not show is stamped at or after its Date."""
    when = {"Queued": "createdAt", "Running": "startedAt", "Completed": "completedAt",
            "Failed": "completedAt", "Cancelled": "completedAt"}
    for (old, date), (new, _) in zip(history, history[1:]):
        assert new["updatedAt"] >= old["updatedAt"]
        if new["status"] != old["status"]:
            assert new["updatedAt"] >= date, (old, date, new)
    for scan, _ in history:
        assert scan["updatedAt"] == scan[when[scan["status"]]], scan


def start(sim, token, path, history):
    st, headers, scan = sim.request("POST", path, token=token)
    assert st == 202 and scan["status"] == "Queued"
    history.append((scan, date_of(headers)))
    return scan


def test_updated_at_moves_at_every_status_change():
    # Timestamps have whole seconds: each change below comes at least a
    # second after the one before, so that updatedAt visibly moves.
    with Sim(apps=2, vulns=50, scan_seconds=10) as slow:
        tok = slow.creds["admin_token"]
        app = walk(slow, tok, "/v1/applications")[0]
        history = []
        queued = start(slow, tok, scans_path(app), history)      # Queued for 1 s
        running = poll_until(slow, tok, queued["scanId"], ("Running",), history)
        assert running["updatedAt"] > queued["updatedAt"]
        time.sleep(1.1)
        st, headers, cancelled = slow.request(
            "POST", f"/v1/scans/{queued['scanId']}/cancel", token=tok)
        assert st == 202 and cancelled["status"] == "Cancelled"
        history.append((cancelled, date_of(headers)))
        check_moves(history)
        assert cancelled["updatedAt"] > running["updatedAt"]
        assert [h[0]["status"] for h in history] == sorted(
            (h[0]["status"] for h in history),
            key=["Queued", "Running", "Cancelled"].index)

    with Sim(apps=2, vulns=50, scan_seconds=1.5) as fast:
        tok = fast.creds["admin_token"]
        app = walk(fast, tok, "/v1/applications")[0]
        history = []
        queued = start(fast, tok, scans_path(app), history)
        done = poll_until(fast, tok, queued["scanId"], ("Completed",), history)
        check_moves(history)
        assert done["updatedAt"] > queued["updatedAt"]
        st, _, flaky = fast.request("POST", "/v1/applications", token=tok,
                                    body={"applicationName": "flaky",
                                          "hostUrl": "https://fail.example.com"})
        assert st == 201
        history = []
        queued = start(fast, tok, scans_path(flaky), history)
        poll_until(fast, tok, queued["scanId"], ("Failed",), history)
        check_moves(history)

        # Seeded scans changed long ago: updatedAt is when they completed.
        for seeded in walk(fast, tok, "/v1/scans?status=Completed")[:5]:
            assert seeded["updatedAt"] == seeded["completedAt"] < "2026-01-01T00:00:00Z"


def test_updated_since_lists_exactly_the_changed_scans():
    with Sim(apps=3, vulns=100, scan_seconds=1) as s:
        tok = s.creds["admin_token"]
        apps = walk(s, tok, "/v1/applications")
        st, headers, _ = s.request("GET", "/v1/me", token=tok)
        before = date_of(headers)
        assert walk(s, tok, f"/v1/scans?updatedSince={before}") == []
        started = [s.request("POST", scans_path(a), token=tok)[2] for a in apps[:2]]
        started.append(s.request("POST", scans_path(apps[0], 1), token=tok)[2])
        ids = [x["scanId"] for x in started]
        listed = walk(s, tok, f"/v1/scans?updatedSince={before}")
        assert [x["scanId"] for x in listed] == ids

        # With the other filters, and page by page (one scan a page).
        app0 = apps[0]["applicationId"]
        got = walk(s, tok, f"/v1/scans?updatedSince={before}&applicationId={app0}")
        assert [x["scanId"] for x in got] == [ids[0], ids[2]]
        st, _, page = s.request("GET", f"/v1/scans?updatedSince={before}&limit=1", token=tok)
        seen, nt = [x["scanId"] for x in page["items"]], page["nextToken"]
        while nt:
            page = s.request("GET", f"/v1/scans?updatedSince={before}&limit=1&nextToken={nt}",
                             token=tok)[2]
            seen += [x["scanId"] for x in page["items"]]
            nt = page["nextToken"]
        assert seen == ids
        st, _, page = s.request("GET", f"/v1/scans?updatedSince={before}&limit=1", token=tok)
        later = plus_one_second(before)
        st, _, err = s.request("GET", f"/v1/scans?updatedSince={later}&limit=1"
                               f"&nextToken={page['nextToken']}", token=tok)
        assert st == 400 and err["code"] == "bad_request"

        # Once all are Completed, a time after their last change lists none,
        # and one at their last change lists them all.
        done = [s.wait_scan(i, tok) for i in ids]
        assert all(x["status"] == "Completed" for x in done)
        last = max(x["updatedAt"] for x in done)
        assert walk(s, tok, f"/v1/scans?updatedSince={plus_one_second(last)}") == []
        assert [x["scanId"] for x in walk(s, tok, f"/v1/scans?status=Completed"
                                         f"&updatedSince={before}")] == ids
        exact = walk(s, tok, f"/v1/scans?updatedSince={last}")
        assert {x["scanId"] for x in exact} == {x["scanId"] for x in done
                                                if x["updatedAt"] == last}

        # Findings: the new ones carry updatedAt = detection, and a PATCH
        # moves one; updatedSince lists exactly those.
        found = walk(s, tok, f"/v1/vulnerabilities?updatedSince={before}")
        assert {v["scanId"] for v in found} == set(ids)
        assert all(v["updatedAt"] == v["detectedAt"] >= before for v in found)
        seeded = walk(s, tok, "/v1/vulnerabilities")[0]
        st, headers, _ = s.request("GET", "/v1/me", token=tok)
        mark = date_of(headers)
        st, _, patched = s.request("PATCH", f"/v1/vulnerabilities/{seeded['vulnerabilityId']}",
                                   token=tok, body={"status": "DISMISSED"})
        assert st == 200 and patched["updatedAt"] >= mark
        got = walk(s, tok, f"/v1/vulnerabilities?updatedSince={mark}")
        want = [v["vulnerabilityId"] for v in walk(s, tok, "/v1/vulnerabilities")
                if v["updatedAt"] >= mark]
        assert [v["vulnerabilityId"] for v in got] == want
        assert seeded["vulnerabilityId"] in want


@pytest.mark.parametrize("query", ["updatedSince=yesterday", "updatedSince=",
                                   "updatedSince=2026-13-01T00:00:00Z"])
def test_bad_updated_since(sim, admin, query):
    st, _, err = sim.request("GET", "/v1/scans?" + query, token=admin)
    assert st == 400 and err["code"] == "bad_request"


# -- the Date header ---------------------------------------------------------------

def test_every_answer_has_a_date(sim, admin):
    local = datetime.datetime.now(datetime.timezone.utc)
    answers = [sim.request("GET", "/v1/me", token=admin),
               sim.request("GET", "/v1/scans/scan_nope", token=admin),
               sim.request("GET", "/v1/me"),
               sim.request("GET", "/_sim/faults")]
    st, headers, _ = sim.request("GET", "/v1/teams", token=admin)
    answers.append(sim.request("GET", "/v1/teams", token=admin,
                               headers={"If-None-Match": headers["etag"]}))
    assert [a[0] for a in answers] == [200, 404, 401, 200, 304]
    for _, headers, _ in answers:
        when = email.utils.parsedate_to_datetime(headers["date"])
        # The same machine's clock: a skew estimate from it is near zero.
        assert abs((when - local).total_seconds()) < 60
