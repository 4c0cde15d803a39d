"""Cross-cutting conventions: errors, ETag / 304, rate limits, idempotency,
HTTP/1.1 keep-alive and Content-Length."""

import json
import time

import pytest

from simctl import Sim

GET_PATHS = ["/v1/me", "/v1/applications", "/v1/scans", "/v1/vulnerabilities",
             "/v1/vulnerabilities/vuln_00001", "/v1/teams", "/v1/tokens"]


@pytest.mark.parametrize("path", GET_PATHS)
def test_etag_and_304(sim, admin, path):
    st, headers, body = sim.request("GET", path, token=admin)
    assert st == 200
    tag = headers["etag"]
    assert tag.startswith('"') and tag.endswith('"') and not tag.startswith("W/")
    st2, headers2, body2 = sim.request("GET", path, token=admin)
    if path != "/v1/tokens":   # lastUsedAt moves with every call
        assert headers2["etag"] == tag and body2 == body
    st, h304, data = sim.request("GET", path, token=admin,
                                 headers={"If-None-Match": headers2["etag"]})
    assert st == 304 and data == "" and h304["content-length"] == "0"
    assert h304["etag"] == headers2["etag"] and "x-request-id" in h304
    st, _, _ = sim.request("GET", path, token=admin, headers={"If-None-Match": '"other"'})
    assert st == 200


def test_etag_changes_with_content(sim, admin):
    path = "/v1/vulnerabilities/vuln_00007"
    _, headers, _ = sim.request("GET", path, token=admin)
    sim.request("PATCH", path, token=admin, body={"status": "DISMISSED"})
    st, headers2, _ = sim.request("GET", path, token=admin,
                                  headers={"If-None-Match": headers["etag"]})
    assert st == 200 and headers2["etag"] != headers["etag"]


def test_error_shape_for_unknown_route_and_method(sim, admin):
    st, headers, err = sim.request("GET", "/v1/unknown", token=admin)
    assert st == 404 and set(err) == {"code", "message", "requestId"}
    assert err["code"] == "not_found" and err["requestId"] == headers["x-request-id"]
    st, headers, err = sim.request("PUT", "/v1/vulnerabilities", token=admin)
    assert st == 405 and err["code"] == "method_not_allowed" and headers["allow"] == "GET"
    st, _, err = sim.request("BREW", "/v1/me", token=admin)
    assert st == 405 and set(err) == {"code", "message", "requestId"}


def test_every_response_has_request_id_and_length(sim, admin):
    seen = set()
    for path in GET_PATHS + ["/nope"]:
        _, headers, _ = sim.request("GET", path, token=admin)
        assert "content-length" in headers
        seen.add(headers["x-request-id"])
    assert len(seen) == len(GET_PATHS) + 1


def test_keep_alive_many_requests_one_connection(sim, admin):
    conn = sim.connection()
    auth = {"Authorization": f"Bearer {admin}"}
    try:
        for path in GET_PATHS * 3 + ["/v1/nope"]:
            conn.request("GET", path, headers=auth)
            resp = conn.getresponse()
            body = resp.read()
            assert len(body) == int(resp.getheader("Content-Length"))
            assert not resp.will_close
        conn.request("DELETE", "/v1/tokens/tok_nope", headers=auth)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 404 and not resp.will_close
    finally:
        conn.close()


def test_chunked_request_body(sim, admin):
    conn = sim.connection()
    try:
        body = json.dumps({"applicationName": "chunked-app", "hostUrl": "https://c.example"})
        conn.request("POST", "/v1/applications", body=iter([body[:10].encode(),
                                                             body[10:].encode()]),
                     headers={"Authorization": f"Bearer {admin}",
                              "Content-Type": "application/json"},
                     encode_chunked=True)
        resp = conn.getresponse()
        assert resp.status == 201 and json.loads(resp.read())["applicationName"] == "chunked-app"
    finally:
        conn.close()


def test_idempotency_key_replays(sim, admin):
    body = {"applicationName": "idem-app", "hostUrl": "https://idem.example.com"}
    key = {"Idempotency-Key": "k-123"}
    first = sim.request("POST", "/v1/applications", token=admin, body=body, headers=key)
    again = sim.request("POST", "/v1/applications", token=admin, body=body, headers=key)
    assert first[0] == again[0] == 201 and first[2] == again[2]
    names = [a["applicationName"] for a in sim.request(
        "GET", "/v1/applications?limit=500", token=admin)[2]["items"]]
    assert names.count("idem-app") == 1
    # Without the key, or with another one, the duplicate name conflicts.
    assert sim.request("POST", "/v1/applications", token=admin, body=body)[0] == 409
    assert sim.request("POST", "/v1/applications", token=admin, body=body,
                       headers={"Idempotency-Key": "k-124"})[0] == 409


def test_idempotency_scans_and_errors(sim, admin):
    app = sim.request("GET", "/v1/applications?limit=1", token=admin)[2]["items"][0]
    path = f"/v1/applications/{app['applicationId']}/instances/" \
           f"{app['instances'][0]['instanceId']}/scans"
    key = {"Idempotency-Key": "scan-once"}
    a = sim.request("POST", path, token=admin, headers=key)
    b = sim.request("POST", path, token=admin, headers=key)
    assert a[0] == b[0] == 202 and a[2]["scanId"] == b[2]["scanId"]
    # The same key from another credential is another request.
    other = sim.mint_token(["scans:write"])
    c = sim.request("POST", path, token=other, headers=key)
    assert c[0] == 202 and c[2]["scanId"] != a[2]["scanId"]
    # A failed first attempt is replayed as it was, body included.
    bad = {"Idempotency-Key": "bad-once"}
    e1 = sim.request("POST", "/v1/tokens", token=admin, body={"scopes": []}, headers=bad)
    e2 = sim.request("POST", "/v1/tokens", token=admin, body={"name": "x", "scopes": []},
                     headers=bad)
    assert e1[0] == e2[0] == 400 and e1[2] == e2[2]
    for s in (a[2], c[2]):
        sim.request("POST", f"/v1/scans/{s['scanId']}/cancel", token=admin)
    stats = sim.stats()
    assert {"scan-once", "bad-once"} <= {r["idempotencyKey"] for r in stats["recent"]}


def test_rate_limit():
    with Sim(apps=2, vulns=10, rate_limit=5) as limited:
        tok = limited.creds["admin_token"]
        remaining = []
        for _ in range(5):
            st, headers, _ = limited.request("GET", "/v1/me", token=tok)
            assert st == 200 and headers["x-ratelimit-limit"] == "5"
            assert 0 < int(headers["x-ratelimit-reset"]) <= 60
            remaining.append(int(headers["x-ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        st, headers, err = limited.request("GET", "/v1/me", token=tok)
        assert st == 429 and err["code"] == "rate_limited"
        assert 1 <= int(headers["retry-after"]) <= 60
        assert headers["x-ratelimit-remaining"] == "0"
        # Another credential has its own window; /_sim is never limited.
        other = limited.creds["readonly_token"]
        assert limited.request("GET", "/v1/me", token=other)[0] == 200
        assert limited.stats()["status"]["429"] == 1


def test_rate_window_can_be_shortened():
    with Sim(apps=2, vulns=10, rate_limit=2, rate_window=1.5) as limited:
        tok = limited.creds["admin_token"]
        for _ in range(2):
            assert limited.request("GET", "/v1/me", token=tok)[0] == 200
        st, headers, _ = limited.request("GET", "/v1/me", token=tok)
        assert st == 429 and 1 <= int(headers["retry-after"]) <= 2
        time.sleep(1.6)
        assert limited.request("GET", "/v1/me", token=tok)[0] == 200


def test_no_rate_limit_headers_when_off(sim, admin):
    headers = sim.request("GET", "/v1/me", token=admin)[1]
    assert "x-ratelimit-limit" not in headers


def test_head_answered_without_body(sim, admin):
    conn = sim.connection()
    try:
        conn.request("HEAD", "/v1/me", headers={"Authorization": f"Bearer {admin}"})
        resp = conn.getresponse()
        assert resp.status == 405 and resp.read() == b""
        conn.request("GET", "/v1/me", headers={"Authorization": f"Bearer {admin}"})
        assert conn.getresponse().status == 200
    finally:
        conn.close()
