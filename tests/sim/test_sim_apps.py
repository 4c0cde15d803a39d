"""Applications (instances, endpoints, specs), teams and API tokens."""

import base64
import datetime
import json
import re

import pytest

HOSTILE = ["a/b", "a_b", "..", ".", "Customer Portal API", "Zahlungs-API ✓ – Ünïcødé",
           "-leading-dash-api"]


def all_items(sim, path, token):
    items, nt = [], None
    while True:
        sep = "&" if "?" in path else "?"
        st, _, data = sim.request("GET", path + (f"{sep}nextToken={nt}" if nt else ""),
                                  token=token)
        assert st == 200, data
        items += data["items"]
        nt = data["nextToken"]
        if not nt:
            return items


@pytest.fixture(scope="module")
def apps(sim, admin):
    """The seeded applications (those other tests create sort after them)."""
    return all_items(sim, "/v1/applications", admin)[:10]


def test_app_list_shape_and_names(apps):
    first = apps[0]
    assert first["applicationName"] == "payments-api"
    assert first["instances"][0]["hostUrl"] == "https://pay.example.com"
    names = [a["applicationName"] for a in apps]
    for name in HOSTILE:
        assert name in names
    assert 250 in [len(n) for n in names]
    assert len(set(names)) == len(names)
    assert [a["applicationId"] for a in apps] == sorted(a["applicationId"] for a in apps)
    for app in apps:
        assert 1 <= len(app["instances"]) <= 2
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", app["updatedAt"])
        assert app["createdAt"] <= app["updatedAt"] < "2026-01-01T00:00:01Z"
        for inst in app["instances"]:
            stats = inst["latestScanStats"]
            assert inst["latestScanId"].startswith("scan_")
            assert stats["total"] == sum(stats[s] for s in
                                         ("critical", "high", "medium", "low", "info"))


def test_get_app_and_404(sim, admin, apps):
    st, _, app = sim.request("GET", f"/v1/applications/{apps[1]['applicationId']}", token=admin)
    assert st == 200 and app == apps[1]
    st, _, err = sim.request("GET", "/v1/applications/app_nope", token=admin)
    assert st == 404 and err["code"] == "not_found"


def test_endpoints(sim, admin, apps):
    app = apps[0]
    inst = app["instances"][0]["instanceId"]
    eps = all_items(sim, f"/v1/applications/{app['applicationId']}/instances/{inst}/endpoints",
                    admin)
    assert {"method": "GET", "path": "/accounts/{id}"} in \
        [{"method": e["method"], "path": e["path"]} for e in eps]
    for e in eps:
        raw = base64.urlsafe_b64decode(e["endpointId"] + "=" * (-len(e["endpointId"]) % 4))
        assert raw.decode() == f"{e['method']}:{e['path']}"
        assert "=" not in e["endpointId"]
    st, _, err = sim.request("GET", f"/v1/applications/{app['applicationId']}/instances/"
                             "inst_nope/endpoints", token=admin)
    assert st == 404 and err["code"] == "not_found"


def test_spec_get_and_put(sim, admin, apps):
    app = apps[2]
    base = f"/v1/applications/{app['applicationId']}/instances/" \
           f"{app['instances'][0]['instanceId']}"
    st, headers, spec = sim.request("GET", base + "/spec", token=admin)
    assert st == 200 and headers["content-type"].startswith("application/json")
    assert spec["openapi"].startswith("3.") and spec["paths"]
    assert spec["servers"][0]["url"] == app["instances"][0]["hostUrl"]

    new = {"openapi": "3.0.3", "info": {"title": "t", "version": "2"},
           "paths": {"/things": {"get": {}, "post": {}}, "/things/{id}": {"delete": {}}}}
    st, _, res = sim.request("PUT", base + "/spec", token=admin, body=json.dumps(new))
    assert st == 200 and res["endpointCount"] == 3
    eps = sim.request("GET", base + "/endpoints", token=admin)[2]["items"]
    assert sorted((e["method"], e["path"]) for e in eps) == \
        [("DELETE", "/things/{id}"), ("GET", "/things"), ("POST", "/things")]
    assert sim.request("GET", f"/v1/applications/{app['applicationId']}",
                       token=admin)[2]["updatedAt"] > app["updatedAt"]

    yaml = "openapi: 3.0.0\ninfo:\n  title: y\npaths:\n  /pets:\n    get:\n      " \
           "summary: list\n    post:\n      summary: add\n"
    assert sim.request("PUT", base + "/spec", token=admin, body=yaml)[2]["endpointCount"] == 2
    st, headers, raw = sim.request("GET", base + "/spec", token=admin)
    assert headers["content-type"].startswith("application/yaml") and raw == yaml.encode()

    for garbage in ("this is not a spec", "[1, 2]", '{"no": "openapi"}'):
        st, _, err = sim.request("PUT", base + "/spec", token=admin, body=garbage)
        assert st == 400 and err["code"] == "bad_request"


def test_create_and_delete_app(sim, admin):
    body = {"applicationName": "new/app ✓", "hostUrl": "https://new.example.com",
            "teamId": "team_01"}
    st, _, app = sim.request("POST", "/v1/applications", token=admin, body=body)
    assert st == 201 and app["applicationName"] == "new/app ✓"
    assert len(app["instances"]) == 1 and app["instances"][0]["latestScanId"] is None
    team = sim.request("GET", "/v1/teams/team_01", token=admin)[2]
    assert app["applicationId"] in team["applicationIds"]

    st, _, err = sim.request("POST", "/v1/applications", token=admin, body=body)
    assert st == 409 and err["code"] == "conflict"

    # A scan of the new app completes and leaves findings; delete takes them.
    inst = app["instances"][0]["instanceId"]
    scan = sim.request("POST", f"/v1/applications/{app['applicationId']}/instances/{inst}"
                       "/scans", token=admin)[2]
    assert sim.wait_scan(scan["scanId"], admin)["status"] == "Completed"
    q = f"/v1/vulnerabilities?applicationId={app['applicationId']}"
    assert sim.request("GET", q, token=admin)[2]["items"]

    st, headers, data = sim.request("DELETE", f"/v1/applications/{app['applicationId']}",
                                    token=admin)
    assert st == 204 and data == "" and headers["content-length"] == "0"
    assert sim.request("GET", f"/v1/applications/{app['applicationId']}", token=admin)[0] == 404
    assert sim.request("GET", f"/v1/scans/{scan['scanId']}", token=admin)[0] == 404
    assert sim.request("GET", q, token=admin)[2]["items"] == []
    team = sim.request("GET", "/v1/teams/team_01", token=admin)[2]
    assert app["applicationId"] not in team["applicationIds"]
    assert sim.request("DELETE", f"/v1/applications/{app['applicationId']}",
                       token=admin)[0] == 404


def test_create_app_with_spec(sim, admin):
    spec = json.dumps({"openapi": "3.1.0", "paths": {"/a": {"get": {}}}})
    st, _, app = sim.request("POST", "/v1/applications", token=admin,
                             body={"applicationName": "with-spec", "hostUrl": "http://x.test",
                                   "oas": spec})
    assert st == 201
    inst = app["instances"][0]["instanceId"]
    base = f"/v1/applications/{app['applicationId']}/instances/{inst}"
    assert sim.request("GET", base + "/spec", token=admin)[2] == json.loads(spec)
    assert [e["path"] for e in sim.request("GET", base + "/endpoints",
                                           token=admin)[2]["items"]] == ["/a"]


@pytest.mark.parametrize("body", [
    {"hostUrl": "https://x.example.com"},
    {"applicationName": "", "hostUrl": "https://x.example.com"},
    {"applicationName": "x" * 257, "hostUrl": "https://x.example.com"},
    {"applicationName": "no-host"},
    {"applicationName": "bad-host", "hostUrl": "ftp://x"},
    {"applicationName": "bad-team", "hostUrl": "https://x.example.com", "teamId": "team_99"},
    {"applicationName": "bad-oas", "hostUrl": "https://x.example.com", "oas": "garbage"},
])
def test_create_app_bad_request(sim, admin, body):
    st, _, err = sim.request("POST", "/v1/applications", token=admin, body=body)
    assert st == 400 and err["code"] == "bad_request"


def test_create_app_bad_json(sim, admin):
    for raw in ("{not json", "[]"):
        st, _, err = sim.request("POST", "/v1/applications", token=admin, body=raw)
        assert st == 400 and err["code"] == "bad_request"


def test_teams(sim, admin, apps):
    teams = all_items(sim, "/v1/teams", admin)
    assert 3 <= len(teams) <= 5
    names = [t["name"] for t in teams]
    assert any("/" in n for n in names) and ".." in names
    assert any(not n.isascii() for n in names)
    app_ids = {a["applicationId"] for a in apps}
    for team in teams:
        assert set(team) == {"teamId", "name", "description", "members", "applicationIds"}
        assert team["members"] and all(
            "@" in m["email"] and m["role"] in ("owner", "member") and m["userId"]
            for m in team["members"])
        assert set(team["applicationIds"]) <= app_ids
    assert sim.request("GET", f"/v1/teams/{teams[0]['teamId']}", token=admin)[2] == teams[0]
    assert sim.request("GET", "/v1/teams/team_nope", token=admin)[0] == 404


def test_tokens_list_never_shows_secret(sim, admin):
    tokens = all_items(sim, "/v1/tokens", admin)
    assert len(tokens) >= 7
    secrets = [v for k, v in sim.creds.items() if k.endswith("_token")]
    for tok in tokens:
        assert "token" not in tok
        assert re.fullmatch(r"ask_\u2026[0-9A-Za-z]{4}", tok["partialToken"])
        assert set(tok) == {"tokenId", "name", "userId", "scopes", "allowedAddresses",
                            "partialToken", "createdAt", "expiresAt", "lastUsedAt"}
        assert not any(s in json.dumps(tok) for s in secrets)
    restricted = [t for t in tokens if t["allowedAddresses"] == ["10.0.0.0/8"]]
    assert restricted and any("/" in t["name"] for t in tokens)


def test_token_create_once_and_revoke(sim, admin):
    st, _, made = sim.request("POST", "/v1/tokens", token=admin,
                              body={"name": "deploy bot", "scopes": ["apps:read"],
                                    "expiresAt": "2027-06-01T00:00:00Z"})
    assert st == 201 and re.fullmatch(r"ask_[0-9A-Za-z]{40}", made["token"])
    assert made["partialToken"] == "ask_\u2026" + made["token"][-4:]
    assert made["expiresAt"] == "2027-06-01T00:00:00Z"
    secret = made["token"]
    assert sim.request("GET", "/v1/me", token=secret)[2]["scopes"] == ["apps:read"]
    listed = sim.request("GET", f"/v1/tokens/{made['tokenId']}", token=admin)[2]
    assert "token" not in listed and listed["lastUsedAt"]
    st, headers, data = sim.request("DELETE", f"/v1/tokens/{made['tokenId']}", token=admin)
    assert st == 204 and data == "" and headers["content-length"] == "0"
    st, headers, err = sim.request("GET", "/v1/me", token=secret)
    assert st == 401 and err["code"] == "invalid_token"
    assert headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert sim.request("DELETE", f"/v1/tokens/{made['tokenId']}", token=admin)[0] == 404


def test_token_create_rules(sim, admin):
    narrow = sim.mint_token(["tokens:write", "apps:read"])
    st, _, err = sim.request("POST", "/v1/tokens", token=narrow,
                             body={"name": "wider", "scopes": ["apps:read", "vulns:read"]})
    assert st == 403 and err == {"code": "missing_scope", "message": "requires vulns:read",
                                 "requestId": err["requestId"]}
    assert sim.request("POST", "/v1/tokens", token=narrow,
                       body={"name": "same", "scopes": ["apps:read"]})[0] == 201
    now = datetime.datetime.now(datetime.timezone.utc)
    two_years = now.replace(year=now.year + 2, day=min(now.day, 28))
    near = (two_years - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    far = (two_years + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sim.request("POST", "/v1/tokens", token=admin,
                       body={"name": "near", "scopes": [], "expiresAt": near})[0] == 201
    for body in ({"name": "far", "scopes": [], "expiresAt": far},
                 {"name": "past", "scopes": [], "expiresAt": "2020-01-01T00:00:00Z"},
                 {"name": "bad", "scopes": ["root"]},
                 {"scopes": []},
                 {"name": "cidr", "scopes": [], "allowedAddresses": ["nonsense"]}):
        st, _, err = sim.request("POST", "/v1/tokens", token=admin, body=body)
        assert st == 400 and err["code"] == "bad_request", body
