"""Vulnerabilities: seeded content, pagination, filters and PATCH."""

import base64
import json
import re

import pytest

CVSS = {"critical": (9.0, 10.0), "high": (7.0, 8.9), "medium": (4.0, 6.9),
        "low": (0.1, 3.9), "info": (0.0, 0.0)}
STATUSES = {"ACTIVE", "DISMISSED", "RISK_ACCEPTED", "RESOLVED"}
VULN_KEYS = {"vulnerabilityId", "applicationId", "instanceId", "scanId", "fingerprint",
             "title", "category", "severity", "cvssScore", "status", "endpoint",
             "description", "remediation", "evidence", "detectedAt", "updatedAt"}


def walk(sim, token, query="", limit=None):
    """Every item of /v1/vulnerabilities?query, and the number of pages."""
    items, nt, pages = [], None, 0
    while True:
        params = [p for p in (query, limit and f"limit={limit}", nt and f"nextToken={nt}") if p]
        st, _, data = sim.request("GET", "/v1/vulnerabilities?" + "&".join(params), token=token)
        assert st == 200, data
        items += data["items"]
        pages += 1
        nt = data["nextToken"]
        if nt is None:
            return items, pages


@pytest.fixture(scope="module")
def seeded(sim, admin, session_vulns):
    """The seeded vulnerabilities, read before this module changes any."""
    items, _ = walk(sim, admin, limit=500)
    return items[:session_vulns]


@pytest.mark.parametrize("limit,pages", [(500, 3), (None, 25), (1000, 3)])
def test_pagination_totals(sim, admin, session_vulns, limit, pages):
    items, n_pages = walk(sim, admin, limit=limit)
    ids = [v["vulnerabilityId"] for v in items]
    assert len(ids) == len(set(ids)) >= session_vulns
    assert ids == sorted(ids)
    assert ids[:session_vulns] == [f"vuln_{i:05d}" for i in range(1, session_vulns + 1)]
    assert n_pages == -(-len(ids) // min(limit or 50, 500)) and n_pages >= pages


def test_page_shape(sim, admin):
    st, _, page = sim.request("GET", "/v1/vulnerabilities", token=admin)
    assert st == 200 and set(page) == {"items", "nextToken"} and len(page["items"]) == 50
    st, _, page = sim.request("GET", "/v1/vulnerabilities?limit=1000", token=admin)
    assert len(page["items"]) == 500


@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "limit=-5", "limit=1.5",
                                   "nextToken=garbage!!", "nextToken=eyJvIjoxfQ"])
def test_bad_paging_parameters(sim, admin, query):
    st, _, err = sim.request("GET", "/v1/vulnerabilities?" + query, token=admin)
    assert st == 400 and err["code"] == "bad_request"


def test_next_token_bound_to_query(sim, admin):
    nt = sim.request("GET", "/v1/vulnerabilities?severity=high&limit=5", token=admin)[2][
        "nextToken"]
    assert sim.request("GET", f"/v1/vulnerabilities?severity=high&limit=5&nextToken={nt}",
                       token=admin)[0] == 200
    for other in (f"/v1/vulnerabilities?severity=low&nextToken={nt}",
                  f"/v1/scans?nextToken={nt}"):
        st, _, err = sim.request("GET", other, token=admin)
        assert st == 400 and err["code"] == "bad_request"
    raw = json.loads(base64.urlsafe_b64decode(nt + "=" * (-len(nt) % 4)))
    raw["o"] = -1
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    assert sim.request("GET", f"/v1/vulnerabilities?severity=high&nextToken={forged}",
                       token=admin)[0] == 400


def test_seeded_content(seeded):
    assert {v["severity"] for v in seeded} == set(CVSS)
    assert {v["status"] for v in seeded} == STATUSES
    active = sum(v["status"] == "ACTIVE" for v in seeded)
    assert active > len(seeded) / 2
    cats = set()
    for v in seeded:
        assert set(v) == VULN_KEYS
        lo, hi = CVSS[v["severity"]]
        assert lo <= v["cvssScore"] <= hi
        assert re.fullmatch(r"API([1-9]|10):2023 [A-Z].*", v["category"])
        cats.add(v["category"].split()[0])
        assert v["endpoint"]["path"] in v["title"]
        assert v["evidence"]["request"].startswith(v["endpoint"]["method"])
        assert v["evidence"]["response"].startswith("HTTP/1.1 ")
        assert v["detectedAt"] <= v["updatedAt"] and v["detectedAt"] < "2026-01-01T00:00:01Z"
    assert len(cats) == 10


def test_get_one(sim, admin, seeded):
    st, headers, v = sim.request("GET", "/v1/vulnerabilities/vuln_00042", token=admin)
    assert st == 200 and v == seeded[41] and headers["etag"].startswith('"')
    st, _, err = sim.request("GET", "/v1/vulnerabilities/vuln_99999", token=admin)
    assert st == 404 and err["code"] == "not_found"


@pytest.mark.parametrize("field,query_key,value_of", [
    ("severity", "severity", lambda s: "critical"),
    ("status", "status", lambda s: "RESOLVED"),
    ("applicationId", "applicationId", lambda s: s[0]["applicationId"]),
    ("scanId", "scanId", lambda s: s[3]["scanId"]),
])
def test_filters(sim, admin, seeded, field, query_key, value_of):
    value = value_of(seeded)
    items, _ = walk(sim, admin, f"{query_key}={value}", 500)
    want = [v["vulnerabilityId"] for v in seeded if v[field] == value]
    got = [v["vulnerabilityId"] for v in items]
    assert got[:len(want)] == want and all(v[field] == value for v in items)


def test_updated_since(sim, admin, seeded):
    cut = sorted(v["updatedAt"] for v in seeded)[len(seeded) // 2]
    items, _ = walk(sim, admin, f"updatedSince={cut}", 500)
    assert items and all(v["updatedAt"] >= cut for v in items)
    assert {v["vulnerabilityId"] for v in seeded if v["updatedAt"] >= cut} <= \
        {v["vulnerabilityId"] for v in items}


@pytest.mark.parametrize("query", ["severity=urgent", "status=OPEN", "updatedSince=yesterday"])
def test_bad_filters(sim, admin, query):
    st, _, err = sim.request("GET", "/v1/vulnerabilities?" + query, token=admin)
    assert st == 400 and err["code"] == "bad_request"


def test_patch_status(sim, admin, seeded):
    vid = seeded[10]["vulnerabilityId"]
    st, _, v = sim.request("PATCH", f"/v1/vulnerabilities/{vid}", token=admin,
                           body={"status": "RISK_ACCEPTED", "comment": "compensating WAF rule"})
    assert st == 200 and v["status"] == "RISK_ACCEPTED"
    assert v["comment"] == "compensating WAF rule" and v["updatedAt"] > seeded[10]["updatedAt"]
    assert sim.request("GET", f"/v1/vulnerabilities/{vid}", token=admin)[2] == v
    since = sim.request("GET", f"/v1/vulnerabilities?updatedSince={v['updatedAt']}&limit=500",
                        token=admin)[2]["items"]
    assert vid in [x["vulnerabilityId"] for x in since]
    for body in ({"status": "FIXED"}, {}, {"status": "ACTIVE", "comment": 5}):
        st, _, err = sim.request("PATCH", f"/v1/vulnerabilities/{vid}", token=admin, body=body)
        assert st == 400 and err["code"] == "bad_request"
    assert sim.request("PATCH", "/v1/vulnerabilities/vuln_99999", token=admin,
                       body={"status": "ACTIVE"})[0] == 404


def test_lean_findings():
    """--lean keeps every id, field and value but the texts, which become
    one line each: the objects shrink to about two thirds (the fields alone
    weigh ~560 bytes), and the default data stays as it was.  Two fresh
    simulators: the session one has findings changed by other tests."""
    from simctl import Sim
    n = 200
    with Sim(apps=10, vulns=n, extra_args=["--lean"]) as lean_sim:
        items, _ = walk(lean_sim, lean_sim.creds["admin_token"], limit=500)
    with Sim(apps=10, vulns=n) as full_sim:
        full, _ = walk(full_sim, full_sim.creds["admin_token"], limit=500)
    assert [v["vulnerabilityId"] for v in items] == [v["vulnerabilityId"] for v in full]
    texts = ("description", "remediation", "evidence")
    for lv, fv in zip(items, full):
        assert set(lv) == VULN_KEYS
        assert {k: x for k, x in lv.items() if k not in texts} == \
            {k: x for k, x in fv.items() if k not in texts}
        assert "\n" not in lv["description"] + lv["remediation"]
        assert lv["evidence"]["request"] == fv["evidence"]["request"].split("\n")[0]
        assert lv["evidence"]["response"].startswith("HTTP/1.1 ")
    size = [len(json.dumps(v, indent=2)) for v in items]
    full_size = [len(json.dumps(v, indent=2)) for v in full]
    assert max(size) < 800 < min(full_size)


def test_planted_hostile_text():
    """/_sim/vuln-text plants markup, control characters and invalid UTF-8
    (lone surrogates \\udc80..\\udcff go out as raw bytes) in a finding, in
    its GET and in list pages, and moves its updatedAt like a PATCH."""
    from simctl import Sim
    with Sim(apps=2, vulns=20) as s:
        token = s.creds["admin_token"]
        st, _, v = s.request("GET", "/v1/vulnerabilities/vuln_00003", token=token)
        assert st == 200
        hostile = 'a & <b> "q" \x01\x1b \udcff\udcc3 \u2713'
        st, _, res = s.request("POST", "/_sim/vuln-text",
                               body={"vulnerabilityId": "vuln_00003", "title": hostile,
                                     "remediation": "]]> \x00"})
        assert st == 200 and res["vulnerabilityId"] == "vuln_00003", res
        assert res["updatedAt"] >= v["updatedAt"]
        want = hostile.encode("utf-8", "surrogateescape")
        assert b"\xff\xc3 " in want
        st, _, raw = s.request("GET", "/v1/vulnerabilities/vuln_00003", token=token)
        assert st == 200 and isinstance(raw, bytes), raw  # not UTF-8: not parsed
        one = json.loads(raw.decode("utf-8", "surrogateescape"))
        assert one["title"].encode("utf-8", "surrogateescape") == want
        assert one["remediation"] == "]]> \x00" and one["description"] == v["description"]
        assert one["updatedAt"] == res["updatedAt"]
        st, _, raw = s.request("GET", "/v1/vulnerabilities?scanId=" + v["scanId"],
                               token=token)
        page = json.loads(raw.decode("utf-8", "surrogateescape"))
        mine = [x for x in page["items"] if x["vulnerabilityId"] == "vuln_00003"]
        assert mine and mine[0]["title"].encode("utf-8", "surrogateescape") == want
        # Bad requests change nothing.
        for body, code in (({"vulnerabilityId": "vuln_99999", "title": "x"}, 404),
                           ({"vulnerabilityId": "vuln_00003", "title": 5}, 400),
                           ({"vulnerabilityId": "vuln_00003"}, 400),
                           ({"title": "x"}, 400)):
            st, _, err = s.request("POST", "/_sim/vuln-text", body=body)
            assert st == code, (body, err)
        st, _, raw = s.request("GET", "/v1/vulnerabilities/vuln_00003", token=token)
        assert json.loads(raw.decode("utf-8", "surrogateescape"))["title"] \
            .encode("utf-8", "surrogateescape") == want
