"""Scans: lifecycle in real time, failures, cancel, listing, and reports."""

import time

import pytest

SCAN_KEYS = {"scanId", "applicationId", "instanceId", "status", "progress", "createdAt",
             "startedAt", "completedAt", "updatedAt", "endpointsScanned", "vulnerabilityStats",
             "failureReason"}


@pytest.fixture(scope="module")
def payments(sim, admin):
    return sim.request("GET", "/v1/applications?limit=1", token=admin)[2]["items"][0]


def scans_path(app, inst=0):
    return f"/v1/applications/{app['applicationId']}/instances/" \
           f"{app['instances'][inst]['instanceId']}/scans"


def new_app(sim, admin, name, host):
    st, _, app = sim.request("POST", "/v1/applications", token=admin,
                             body={"applicationName": name, "hostUrl": host})
    assert st == 201
    return app


def test_scan_lifecycle_completes_with_findings(sim, admin, payments):
    st, _, scan = sim.request("POST", scans_path(payments), token=admin)
    assert st == 202 and scan["status"] == "Queued" and set(scan) == SCAN_KEYS
    assert scan["progress"] == 0 and scan["startedAt"] is None
    seen = {scan["status"]}
    progress = []
    deadline = time.monotonic() + 10
    while scan["status"] in ("Queued", "Running") and time.monotonic() < deadline:
        time.sleep(0.05)
        scan = sim.request("GET", f"/v1/scans/{scan['scanId']}", token=admin)[2]
        seen.add(scan["status"])
        if scan["status"] == "Running":
            progress.append(scan["progress"])
    assert seen >= {"Queued", "Running", "Completed"}
    assert progress == sorted(progress) and 0 <= progress[0] < 100
    assert scan["progress"] == 100 and scan["completedAt"] >= scan["startedAt"]
    assert scan["endpointsScanned"] == len(sim.request(
        "GET", scans_path(payments).replace("/scans", "/endpoints?limit=500"),
        token=admin)[2]["items"])

    vulns = sim.request("GET", f"/v1/vulnerabilities?scanId={scan['scanId']}",
                        token=admin)[2]["items"]
    # A rescan: most of the previous scan's weaknesses again, and 1-3 new
    # (test_sim_rescan.py checks which).
    assert len(vulns) >= 2 and scan["vulnerabilityStats"]["total"] == len(vulns)
    assert all(v["status"] == "ACTIVE" and v["detectedAt"] == scan["completedAt"]
               for v in vulns)
    app = sim.request("GET", f"/v1/applications/{payments['applicationId']}", token=admin)[2]
    inst = app["instances"][0]
    assert inst["latestScanId"] == scan["scanId"]
    assert inst["latestScanStats"] == scan["vulnerabilityStats"]
    assert app["updatedAt"] == scan["completedAt"]


def test_scan_selected_endpoints(sim, admin, payments):
    eps = sim.request("GET", scans_path(payments).replace("/scans", "/endpoints"),
                      token=admin)[2]["items"]
    chosen = [eps[0]["endpointId"], eps[1]["endpointId"]]
    st, _, scan = sim.request("POST", scans_path(payments), token=admin,
                              body={"endpointIds": chosen})
    assert st == 202
    scan = sim.wait_scan(scan["scanId"], admin)
    assert scan["status"] == "Completed" and scan["endpointsScanned"] == 2
    vulns = sim.request("GET", f"/v1/vulnerabilities?scanId={scan['scanId']}",
                        token=admin)[2]["items"]
    assert {(v["endpoint"]["method"], v["endpoint"]["path"]) for v in vulns} <= \
        {(e["method"], e["path"]) for e in eps[:2]}
    for bad in ({"endpointIds": ["bm9wZQ"]}, {"endpointIds": []}, {"endpointIds": "x"}):
        st, _, err = sim.request("POST", scans_path(payments), token=admin, body=bad)
        assert st == 400 and err["code"] == "bad_request"
    assert sim.request("POST", "/v1/applications/app_nope/instances/x/scans",
                       token=admin)[0] == 404


def test_failing_host_gives_failed_scan(sim, admin):
    app = new_app(sim, admin, "flaky", "https://fail.example.com")
    st, _, scan = sim.request("POST", scans_path(app), token=admin)
    assert st == 202
    scan = sim.wait_scan(scan["scanId"], admin)
    assert scan["status"] == "Failed" and "fail.example.com" in scan["failureReason"]
    assert scan["completedAt"] and scan["progress"] < 100
    assert scan["updatedAt"] == scan["completedAt"]
    assert sim.request("GET", f"/v1/vulnerabilities?scanId={scan['scanId']}",
                       token=admin)[2]["items"] == []
    again = sim.request("GET", f"/v1/applications/{app['applicationId']}", token=admin)[2]
    assert again["instances"][0]["latestScanId"] is None
    st, _, err = sim.request("GET", f"/v1/scans/{scan['scanId']}/report", token=admin)
    assert st == 409 and err["code"] == "conflict"


def test_cancel(sim, admin, payments):
    scan = sim.request("POST", scans_path(payments, 1), token=admin)[2]
    st, _, cancelled = sim.request("POST", f"/v1/scans/{scan['scanId']}/cancel", token=admin)
    assert st == 202 and cancelled["status"] == "Cancelled" and cancelled["completedAt"]
    st, _, err = sim.request("POST", f"/v1/scans/{scan['scanId']}/cancel", token=admin)
    assert st == 409 and err["code"] == "conflict"
    time.sleep(1.1)
    assert sim.request("GET", f"/v1/scans/{scan['scanId']}", token=admin)[2]["status"] == \
        "Cancelled"
    seeded = sim.request("GET", "/v1/scans?status=Completed&limit=1", token=admin)[2]
    st, _, err = sim.request("POST", f"/v1/scans/{seeded['items'][0]['scanId']}/cancel",
                             token=admin)
    assert st == 409 and err["code"] == "conflict"
    assert sim.request("POST", "/v1/scans/scan_nope/cancel", token=admin)[0] == 404


def test_report_conflict_while_running(sim, admin, payments):
    scan = sim.request("POST", scans_path(payments), token=admin)[2]
    for fmt in ("json", "sarif"):
        st, _, err = sim.request("GET", f"/v1/scans/{scan['scanId']}/report?format={fmt}",
                                 token=admin)
        assert st == 409 and err["code"] == "conflict"
    sim.request("POST", f"/v1/scans/{scan['scanId']}/cancel", token=admin)


def test_list_scans_filters(sim, admin, payments):
    app_id = payments["applicationId"]
    scans = sim.request("GET", f"/v1/scans?applicationId={app_id}&limit=500",
                        token=admin)[2]["items"]
    assert scans and all(s["applicationId"] == app_id for s in scans)
    assert [s["scanId"] for s in scans] == sorted(s["scanId"] for s in scans)
    done = sim.request("GET", "/v1/scans?status=Completed&limit=500", token=admin)[2]["items"]
    assert done and all(s["status"] == "Completed" and s["progress"] == 100 for s in done)
    assert sim.request("GET", "/v1/scans?applicationId=app_nope", token=admin)[2] == \
        {"items": [], "nextToken": None}
    st, _, err = sim.request("GET", "/v1/scans?status=Done", token=admin)
    assert st == 400 and err["code"] == "bad_request"
    one = sim.request("GET", f"/v1/scans/{scans[0]['scanId']}", token=admin)[2]
    assert one == scans[0]


def completed_scan(sim, admin):
    app = sim.request("GET", "/v1/applications?limit=1", token=admin)[2]["items"][0]
    return sim.request("GET", f"/v1/scans/{app['instances'][0]['latestScanId']}",
                       token=admin)[2]


def test_json_report(sim, admin):
    scan = completed_scan(sim, admin)
    st, _, rep = sim.request("GET", f"/v1/scans/{scan['scanId']}/report", token=admin)
    assert st == 200
    assert rep["scan"]["scanId"] == scan["scanId"]
    assert rep["application"]["applicationName"] == "payments-api"
    assert len(rep["vulnerabilities"]) == scan["vulnerabilityStats"]["total"]
    assert all(v["scanId"] == scan["scanId"] for v in rep["vulnerabilities"])
    assert sim.request("GET", f"/v1/scans/{scan['scanId']}/report?format=json",
                       token=admin)[2] == rep
    st, _, err = sim.request("GET", f"/v1/scans/{scan['scanId']}/report?format=pdf",
                             token=admin)
    assert st == 400 and err["code"] == "bad_request"
    assert sim.request("GET", "/v1/scans/scan_nope/report", token=admin)[0] == 404


def test_sarif_report(sim, admin):
    scan = completed_scan(sim, admin)
    st, headers, sarif = sim.request("GET", f"/v1/scans/{scan['scanId']}/report?format=sarif",
                                     token=admin)
    assert st == 200 and headers["content-type"].startswith("application/sarif+json")
    assert sarif["version"] == "2.1.0" and "sarif-2.1.0" in sarif["$schema"]
    assert len(sarif["runs"]) == 1
    run = sarif["runs"][0]
    driver = run["tool"]["driver"]
    rule_ids = {r["id"] for r in driver["rules"]}
    assert driver["name"] and rule_ids
    assert len(run["results"]) == scan["vulnerabilityStats"]["total"]
    for res in run["results"]:
        assert res["ruleId"] in rule_ids
        assert res["level"] in ("error", "warning", "note")
        assert res["message"]["text"]
        assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] \
            .startswith("https://pay.example.com/")


def test_next_scan_id_knob(sim, admin, payments):
    # Ids are opaque: /_sim/next-scan-id gives the next scan any id, so a
    # client's name mapping can be tested with one like "new".
    assert sim.next_scan_id("new") == {"scanId": "new"}
    st, _, scan = sim.request("POST", scans_path(payments), token=admin)
    assert st == 202 and scan["scanId"] == "new"
    assert sim.request("GET", "/v1/scans/new", token=admin)[2]["scanId"] == "new"
    # Used once: the scan after it gets an ordinary id.
    st, _, other = sim.request("POST", scans_path(payments), token=admin)
    assert st == 202 and other["scanId"].startswith("scan_")
    for bad, status in (("", 400), ("a/b", 400), (7, 400), ("new", 409)):
        st, _, err = sim.request("POST", "/_sim/next-scan-id", body={"scanId": bad})
        assert st == status, (bad, err)
