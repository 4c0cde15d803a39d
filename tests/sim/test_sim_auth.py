"""Authentication and scopes: the three ways in, their failures, and the
contract's scope table."""

import base64
import os
import json
import re
import time

import pytest

from simctl import Sim

ALL_SCOPES = ["apps:read", "apps:write", "apps:delete", "scans:read", "scans:write",
              "vulns:read", "vulns:write", "reports:read", "teams:read",
              "tokens:read", "tokens:write", "tokens:delete"]
BEARER_INVALID = 'Bearer error="invalid_token"'


def oauth(sim, scope=None, basic=True, secret=None):
    cid = sim.creds["oauth_client_id"]
    secret = secret or sim.creds["oauth_client_secret"]
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    headers = {}
    if basic:
        raw = base64.b64encode(f"{cid}:{secret}".encode()).decode()
        headers["Authorization"] = f"Basic {raw}"
    else:
        form.update(client_id=cid, client_secret=secret)
    return sim.request("POST", "/oauth2/token", form=form, headers=headers)


def login(sim, user, password):
    return sim.request("POST", "/auth/login", body={"username": user, "password": password})


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def assert_error(resp, status, code):
    st, headers, data = resp
    assert st == status, data
    assert data["code"] == code
    assert data["message"]
    assert data["requestId"] == headers["x-request-id"]


def test_credentials_file(sim):
    creds = sim.creds
    for key in ("admin_token", "readonly_token", "expired_token", "restricted_token",
                "noscope_token", "no_vulns_token", "ci_token"):
        assert re.fullmatch(r"ask_[0-9A-Za-z]{40}", creds[key]), key
    for key in ("oauth_client_id", "oauth_client_secret", "login_username",
                "login_password", "sso_username", "sso_password"):
        assert creds[key]
    assert creds["ca_file"] is None and creds["url"] == sim.url
    assert os.stat(sim.creds_path).st_mode & 0o777 == 0o600


def test_api_token_me(sim, admin):
    st, _, me = sim.request("GET", "/v1/me", token=admin)
    assert st == 200
    assert me["authType"] == "api_token" and me["tokenId"].startswith("tok_")
    assert me["scopes"] == ALL_SCOPES
    assert me["tenantId"] and me["tenantName"] and me["subject"] and me["userId"]
    assert me["expiresAt"].endswith("Z")


@pytest.mark.parametrize("key,scopes", [
    ("readonly_token", [s for s in ALL_SCOPES if s.endswith(":read")]),
    ("noscope_token", []),
    ("no_vulns_token", [s for s in ALL_SCOPES if s.endswith(":read") and s != "vulns:read"]),
    ("ci_token", ["apps:read", "scans:read", "scans:write", "vulns:read", "reports:read"]),
])
def test_narrow_tokens_scopes(sim, key, scopes):
    st, _, me = sim.request("GET", "/v1/me", token=sim.creds[key])
    assert st == 200 and me["scopes"] == scopes


def test_no_authorization(sim):
    resp = sim.request("GET", "/v1/applications")
    assert_error(resp, 401, "unauthenticated")
    assert resp[1]["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Basic Zm9vOmJhcg==", "Bearer", "Token abc"])
def test_malformed_authorization(sim, header):
    resp = sim.request("GET", "/v1/me", headers={"Authorization": header})
    assert_error(resp, 401, "invalid_token")
    assert resp[1]["www-authenticate"] == BEARER_INVALID


@pytest.mark.parametrize("token", ["ask_" + "x" * 40, "oat_unknown", "a.b.c"])
def test_unknown_token(sim, token):
    resp = sim.request("GET", "/v1/me", token=token)
    assert_error(resp, 401, "invalid_token")
    assert resp[1]["www-authenticate"] == BEARER_INVALID


def test_expired_token(sim):
    resp = sim.request("GET", "/v1/me", token=sim.creds["expired_token"])
    assert_error(resp, 401, "token_expired")
    assert resp[1]["www-authenticate"] == BEARER_INVALID


def test_address_not_allowed(sim):
    resp = sim.request("GET", "/v1/me", token=sim.creds["restricted_token"])
    assert_error(resp, 403, "address_not_allowed")
    assert "127.0.0.1" in resp[2]["message"]


def test_minted_token_with_allowed_loopback(sim):
    token = sim.mint_token(["apps:read"], allowedAddresses=["127.0.0.0/8"])
    assert sim.request("GET", "/v1/applications", token=token)[0] == 200


@pytest.mark.parametrize("basic", [True, False], ids=["basic", "form"])
def test_oauth_client_credentials(sim, basic):
    st, headers, data = oauth(sim, basic=basic)
    assert st == 200, data
    assert data["token_type"] == "Bearer" and data["expires_in"] == 3600
    assert data["scope"].split() == ALL_SCOPES
    assert headers["cache-control"] == "no-store"
    st, _, me = sim.request("GET", "/v1/me", token=data["access_token"])
    assert st == 200 and me["authType"] == "oauth" and me["tokenId"] is None
    assert me["subject"] == sim.creds["oauth_client_id"] and me["expiresAt"]


def test_oauth_scope_narrowing(sim):
    st, _, data = oauth(sim, scope="apps:read scans:read")
    assert st == 200 and data["scope"] == "apps:read scans:read"
    tok = data["access_token"]
    assert sim.request("GET", "/v1/me", token=tok)[2]["scopes"] == ["apps:read", "scans:read"]
    assert sim.request("GET", "/v1/applications", token=tok)[0] == 200
    resp = sim.request("GET", "/v1/vulnerabilities", token=tok)
    assert_error(resp, 403, "missing_scope")
    assert resp[2]["message"] == "requires vulns:read"


@pytest.mark.parametrize("basic", [True, False], ids=["basic", "form"])
def test_oauth_bad_secret(sim, basic):
    assert_error(oauth(sim, basic=basic, secret="wrong"), 401, "unauthenticated")


def test_oauth_failures(sim):
    assert_error(sim.request("POST", "/oauth2/token", form={"grant_type": "client_credentials"}),
                 401, "unauthenticated")
    assert_error(sim.request("POST", "/oauth2/token", form={"grant_type": "password"}),
                 400, "bad_request")
    assert_error(oauth(sim, scope="apps:read root:all"), 400, "bad_request")


def test_login_jwt(sim):
    st, _, data = login(sim, sim.creds["login_username"], sim.creds["login_password"])
    assert st == 200
    head = json.loads(base64.urlsafe_b64decode(data["token"].split(".")[0] + "=="))
    assert head["alg"] == "HS256"
    claims = jwt_claims(data["token"])
    assert claims["sub"] == f"AcmeBank//{sim.creds['login_username']}"
    assert claims["tenant"] and claims["scopes"].split(",") == ALL_SCOPES
    assert claims["exp"] - claims["iat"] == 86400
    st, _, me = sim.request("GET", "/v1/me", token=data["token"])
    assert st == 200 and me["authType"] == "login" and me["subject"] == claims["sub"]


def test_login_failures(sim):
    assert_error(login(sim, sim.creds["sso_username"], sim.creds["sso_password"]),
                 403, "sso_required")
    assert_error(login(sim, sim.creds["login_username"], "wrong"), 401, "unauthenticated")
    assert_error(sim.request("POST", "/auth/login", body={"username": "x"}), 400, "bad_request")


def test_forged_jwt_rejected(sim):
    _, _, data = login(sim, sim.creds["login_username"], sim.creds["login_password"])
    head, payload, sig = data["token"].split(".")
    forged = f"{head}.{payload[:-2]}AA.{sig}"
    assert_error(sim.request("GET", "/v1/me", token=forged), 401, "invalid_token")


def test_revoke_sessions(sim, admin):
    oauth_tok = oauth(sim)[2]["access_token"]
    jwt = login(sim, sim.creds["login_username"], sim.creds["login_password"])[2]["token"]
    assert sim.revoke_sessions()["revoked"] >= 2
    for tok in (oauth_tok, jwt):
        resp = sim.request("GET", "/v1/me", token=tok)
        assert_error(resp, 401, "invalid_token")
        assert resp[1]["www-authenticate"] == BEARER_INVALID
    assert sim.request("GET", "/v1/me", token=admin)[0] == 200
    assert sim.request("GET", "/v1/me", token=oauth(sim)[2]["access_token"])[0] == 200


def test_token_ttl_expiry():
    with Sim(apps=2, vulns=5, token_ttl=1) as short:
        st, _, data = oauth(short)
        assert data["expires_in"] == 1
        jwt = login(short, short.creds["login_username"], short.creds["login_password"])[2]
        assert jwt_claims(jwt["token"])["exp"] - jwt_claims(jwt["token"])["iat"] == 1
        time.sleep(1.2)
        for tok in (data["access_token"], jwt["token"]):
            resp = short.request("GET", "/v1/me", token=tok)
            assert_error(resp, 401, "token_expired")
            assert resp[1]["www-authenticate"] == BEARER_INVALID


# The contract's scope table: (method, path, scope).  Paths use ids that
# need not exist: the scope check comes before the lookup.
SCOPE_TABLE = [
    ("GET", "/v1/applications", "apps:read"),
    ("GET", "/v1/applications/app_x", "apps:read"),
    ("GET", "/v1/applications/app_x/instances/i/endpoints", "apps:read"),
    ("GET", "/v1/applications/app_x/instances/i/spec", "apps:read"),
    ("POST", "/v1/applications", "apps:write"),
    ("PUT", "/v1/applications/app_x/instances/i/spec", "apps:write"),
    ("DELETE", "/v1/applications/app_x", "apps:delete"),
    ("GET", "/v1/scans", "scans:read"),
    ("GET", "/v1/scans/scan_x", "scans:read"),
    ("POST", "/v1/applications/app_x/instances/i/scans", "scans:write"),
    ("POST", "/v1/scans/scan_x/cancel", "scans:write"),
    ("GET", "/v1/vulnerabilities", "vulns:read"),
    ("GET", "/v1/vulnerabilities/vuln_x", "vulns:read"),
    ("PATCH", "/v1/vulnerabilities/vuln_x", "vulns:write"),
    ("GET", "/v1/scans/scan_x/report", "reports:read"),
    ("GET", "/v1/teams", "teams:read"),
    ("GET", "/v1/teams/team_x", "teams:read"),
    ("GET", "/v1/tokens", "tokens:read"),
    ("POST", "/v1/tokens", "tokens:write"),
    ("DELETE", "/v1/tokens/tok_x", "tokens:delete"),
]


@pytest.mark.parametrize("method,path,scope", SCOPE_TABLE)
def test_scope_table(sim, method, path, scope):
    resp = sim.request(method, path, token=sim.creds["noscope_token"], body={})
    assert_error(resp, 403, "missing_scope")
    assert resp[2]["message"] == f"requires {scope}"
    others = sim.mint_token([s for s in ALL_SCOPES if s != scope])
    assert sim.request(method, path, token=others, body={})[0] == 403
    only = sim.mint_token([scope])
    assert sim.request(method, path, token=only, body={})[0] != 403


def test_me_needs_no_scope(sim):
    st, _, me = sim.request("GET", "/v1/me", token=sim.creds["noscope_token"])
    assert st == 200 and me["scopes"] == []
