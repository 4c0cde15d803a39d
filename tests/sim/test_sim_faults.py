"""Fault injection, latency and request statistics under /_sim."""

import http.client
import json
import socket
import threading
import time

import pytest

from simctl import Sim


@pytest.fixture(scope="module")
def fsim():
    """A simulator of this module's own, since faults break it on purpose."""
    with Sim(apps=3, vulns=50) as s:
        yield s


@pytest.fixture
def tok(fsim):
    fsim.clear_faults()
    yield fsim.creds["admin_token"]
    fsim.clear_faults()


def timed(fn, *args, **kw):
    t0 = time.monotonic()
    out = fn(*args, **kw)
    return out, time.monotonic() - t0


def test_latency_fault(fsim, tok):
    assert fsim.set_faults(latency_ms=300) == {"latency_ms": 300}
    (st, _, _), took = timed(fsim.request, "GET", "/v1/me", token=tok)
    assert st == 200 and took >= 0.3
    _, took = timed(fsim.stats)
    assert took < 0.2
    assert fsim.admin("GET", "/_sim/faults") == {"latency_ms": 300}


def test_latency_at_start():
    with Sim(apps=1, vulns=0, latency_ms=200) as slow:
        (st, _, _), took = timed(slow.request, "GET", "/v1/me", token=slow.creds["admin_token"])
        assert st == 200 and took >= 0.2
        slow.clear_faults()   # the start-up latency is not a fault: it stays
        _, took = timed(slow.request, "GET", "/v1/me", token=slow.creds["admin_token"])
        assert took >= 0.2


@pytest.mark.parametrize("status,code", [(500, "internal"), (503, "unavailable")])
def test_error_rate_all(fsim, tok, status, code):
    fsim.set_faults(error_rate=1, error_status=status)
    for _ in range(3):
        st, headers, err = fsim.request("GET", "/v1/applications", token=tok)
        assert st == status and err["code"] == code
        assert err["requestId"] == headers["x-request-id"]


def test_error_rate_partial(fsim, tok):
    fsim.set_faults(error_rate=0.5)
    codes = [fsim.request("GET", "/v1/me", token=tok)[0] for _ in range(40)]
    assert set(codes) == {200, 500}


def test_burst_429(fsim, tok):
    fsim.set_faults(burst_429=3, retry_after=2)
    for _ in range(3):
        st, headers, err = fsim.request("GET", "/v1/me", token=tok)
        assert st == 429 and headers["retry-after"] == "2" and err["code"] == "rate_limited"
    assert fsim.request("GET", "/v1/me", token=tok)[0] == 200
    fsim.set_faults(burst_429=1)
    assert fsim.request("GET", "/v1/me", token=tok)[1]["retry-after"] == "1"


def test_hang_until_cleared(fsim, tok):
    fsim.set_faults(hang=True)
    with pytest.raises((socket.timeout, TimeoutError)):
        fsim.request("GET", "/v1/me", token=tok, timeout=0.5)
    assert fsim.stats()["total"] >= 1   # /_sim still answers
    result = {}
    waiter = threading.Thread(target=lambda: result.update(
        r=fsim.request("GET", "/v1/me", token=tok, timeout=10)))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()
    fsim.clear_faults()
    waiter.join(5)
    assert result["r"][0] == 200


def test_down(fsim, tok):
    fsim.set_faults(down=True)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        fsim.request("GET", "/v1/me", token=tok)
    assert fsim.admin("GET", "/_sim/faults") == {"down": True}
    fsim.clear_faults()
    assert fsim.request("GET", "/v1/me", token=tok)[0] == 200


def test_truncate(fsim, tok):
    fsim.set_faults(truncate=True)
    conn = fsim.connection()
    try:
        conn.request("GET", "/v1/vulnerabilities", headers={"Authorization": f"Bearer {tok}"})
        resp = conn.getresponse()
        assert resp.status == 200
        with pytest.raises(http.client.IncompleteRead):
            resp.read()
    finally:
        conn.close()


def test_truncate_rate_cuts_some_answers(fsim, tok):
    fsim.set_faults(truncate_rate=0.5, path_prefix="/v1/me")
    cut = 0
    for _ in range(40):
        conn = fsim.connection()
        try:
            conn.request("GET", "/v1/me", headers={"Authorization": f"Bearer {tok}"})
            try:
                conn.getresponse().read()
            except http.client.IncompleteRead:
                cut += 1
        finally:
            conn.close()
    assert 5 < cut < 35


def test_pad_bytes_keeps_json_valid(fsim, tok):
    fsim.set_faults(pad_bytes=3 << 20, path_prefix="/v1/teams")
    st, _, body = fsim.request("GET", "/v1/teams", token=tok)
    assert st == 200 and "items" in body
    conn = fsim.connection()
    try:
        conn.request("GET", "/v1/teams", headers={"Authorization": f"Bearer {tok}"})
        raw = conn.getresponse().read()
    finally:
        conn.close()
    assert len(raw) > 3 << 20 and json.loads(raw)["items"]
    assert len(fsim.request("GET", "/v1/me", token=tok)[2]["scopes"]) > 0


def test_path_prefix(fsim, tok):
    fsim.set_faults(error_rate=1, error_status=503, path_prefix="/v1/vulnerabilities")
    assert fsim.request("GET", "/v1/me", token=tok)[0] == 200
    assert fsim.request("GET", "/v1/vulnerabilities/vuln_00001", token=tok)[0] == 503
    fsim.set_faults(down=True, path_prefix="/v1/scans")
    assert fsim.request("GET", "/v1/applications", token=tok)[0] == 200


def test_bad_fault_requests(fsim, tok):
    for body in ({"error_rate": 2}, {"error_status": 404}, {"hang": "yes"}, {"nope": 1},
                 {"latency_ms": -1}, {"burst_429": 1.5}):
        st, _, err = fsim.request("POST", "/_sim/faults", body=body)
        assert st == 400 and err["code"] == "bad_request", body
    assert fsim.request("GET", "/_sim/nothing")[0] == 404
    assert fsim.request("PUT", "/_sim/faults")[0] == 405


def test_stats(fsim, tok):
    fsim.reset_stats()
    assert fsim.stats() == {"total": 0, "routes": {}, "status": {}, "recent": []}
    app = fsim.request("GET", "/v1/applications", token=tok)[2]["items"][0]
    inst = app["instances"][0]["instanceId"]
    fsim.request("GET", "/v1/vulnerabilities?limit=5", token=tok)
    _, h, _ = fsim.request("GET", "/v1/vulnerabilities/vuln_00001", token=tok)
    fsim.request("GET", "/v1/vulnerabilities/vuln_00002", token=tok,
                 headers={"If-None-Match": h["etag"]})
    fsim.request("GET", "/v1/vulnerabilities/vuln_00001", token=tok,
                 headers={"If-None-Match": h["etag"]})
    scan = fsim.request("POST", f"/v1/applications/{app['applicationId']}/instances/{inst}"
                        "/scans", token=tok, headers={"Idempotency-Key": "abc"})[2]
    fsim.request("POST", f"/v1/scans/{scan['scanId']}/cancel", token=tok)
    fsim.request("GET", "/v1/nope", token=tok)
    stats = fsim.stats()
    assert stats["total"] == 8
    assert stats["routes"] == {
        "GET /v1/applications": 1, "GET /v1/vulnerabilities": 1,
        "GET /v1/vulnerabilities/{id}": 3,
        "POST /v1/applications/{id}/instances/{id}/scans": 1,
        "POST /v1/scans/{id}/cancel": 1, "GET /v1/nope": 1}
    assert stats["status"] == {"200": 4, "304": 1, "202": 2, "404": 1}
    recent = stats["recent"]
    assert [r["method"] for r in recent] == ["GET"] * 5 + ["POST", "POST", "GET"]
    assert recent[1] == {"method": "GET", "path": "/v1/vulnerabilities", "query": "limit=5",
                         "status": 200, "ifNoneMatch": False, "idempotencyKey": None}
    assert recent[4]["ifNoneMatch"] and recent[4]["status"] == 304
    assert recent[5]["idempotencyKey"] == "abc"
    assert fsim.route_count("GET /v1/vulnerabilities/{id}") == 3
    fsim.reset_stats()
    assert fsim.stats()["total"] == 0


def test_recent_keeps_last_200(fsim, tok):
    fsim.reset_stats()
    for _ in range(205):
        fsim.request("GET", "/v1/me", token=tok)
    stats = fsim.stats()
    assert stats["total"] == 205 and len(stats["recent"]) == 200


def test_hung_request_does_not_block_shutdown():
    sim = Sim(apps=1, vulns=0).start()
    try:
        sim.set_faults(hang=True)
        hung = threading.Thread(target=lambda: pytest.raises(
            Exception, sim.request, "GET", "/v1/me", token=sim.creds["admin_token"],
            timeout=10), daemon=True)
        hung.start()
        time.sleep(0.2)
    finally:
        _, took = timed(sim.stop)
    assert sim.proc.returncode == 0 and took < 3
