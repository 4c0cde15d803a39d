"""test_fs_auth.py - every way in, renewal without a remount, refusals
with their messages and exit statuses, and secrets that never leak."""

import json
import os
import stat
import time

import pytest

from fsutil import WRAP, Mount, Sim, revoke_token, run_apisecfs, write_secret


SIM = dict(apps=10, vulns=60)


def reads_ok(m, way):
    who = json.load(open(m.path("whoami.json")))
    assert who["authType"] == way
    assert "payments-api" in os.listdir(m.path("apps"))
    assert os.listdir(m.path("vulns"))
    return who


def refresh(m):
    with open(m.path(".refresh"), "w") as f:
        f.write("1\n")


def test_token_file(sim, tmp_path):
    with Mount(sim.url, token=sim.creds["readonly_token"]) as m:
        who = reads_ok(m, "api_token")
        assert who["credentialSource"] == "token_file"
        m.umount()


def test_environment_token_is_scrubbed(sim):
    tok = sim.creds["readonly_token"]
    with Mount(sim.url, env={"APISECFS_TOKEN": tok}) as m:
        reads_ok(m, "api_token")
        environ = open("/proc/%d/environ" % m.proc.pid, "rb").read()
        # Under valgrind /proc shows the launcher's copy of the block,
        # which the daemon never sees; the other passes check it.
        assert WRAP or tok.encode() not in environ
        m.umount()


def test_oauth_client_credentials_and_renewal(sim, tmp_path):
    secret = write_secret(str(tmp_path), "client_secret",
                          sim.creds["oauth_client_secret"])
    with Mount(sim.url, options=["client_id=" + sim.creds["oauth_client_id"],
                                 "client_secret_file=" + secret]) as m:
        reads_ok(m, "oauth")
        sim.revoke_sessions()
        refresh(m)
        # The next reads hit 401, renew once, retry: the user sees nothing.
        reads_ok(m, "oauth")
        assert "credential renewed (oauth)" in m.read_log()
        m.umount()


def test_login_jwt_and_renewal(sim, tmp_path):
    pw = write_secret(str(tmp_path), "pw", sim.creds["login_password"])
    with Mount(sim.url, options=["username=" + sim.creds["login_username"],
                                 "password_file=" + pw]) as m:
        who = reads_ok(m, "login")
        assert "bearerExpiresAt" in who
        sim.revoke_sessions()
        refresh(m)
        reads_ok(m, "login")
        assert "credential renewed (login)" in m.read_log()
        m.umount()


def test_credentials_file_each_way(sim, tmp_path):
    cases = {
        "api_token": "token = %s\n" % sim.creds["readonly_token"],
        "oauth": "client_id = %s\nclient_secret = %s\n" % (
            sim.creds["oauth_client_id"], sim.creds["oauth_client_secret"]),
        "login": "# service account\nusername = %s\npassword = %s\n" % (
            sim.creds["login_username"], sim.creds["login_password"]),
    }
    for way, text in cases.items():
        path = write_secret(str(tmp_path), "creds-" + way, text.strip())
        with Mount(sim.url, options=["credentials=" + path]) as m:
            assert reads_ok(m, way)["credentialSource"] == "credentials"
            m.umount()


def test_early_refresh_before_expiry(tmp_path):
    with Sim(apps=10, vulns=20, token_ttl=4) as sim:
        secret = write_secret(str(tmp_path), "cs",
                              sim.creds["oauth_client_secret"])
        with Mount(sim.url, options=["client_id=" + sim.creds["oauth_client_id"],
                                     "client_secret_file=" + secret,
                                     "cache_ttl=1"]) as m:
            sim.reset_stats()
            for _ in range(6):
                os.listdir(m.path("vulns"))
                time.sleep(1.1)
            st = sim.stats()
            # Renewed ahead of expiry: never a 401 on the way.
            assert st["status"].get("401", 0) == 0
            assert st["routes"].get("POST /oauth2/token", 0) >= 1
            m.umount()


def test_rotated_token_file_is_picked_up(sim, tmp_path):
    first = sim.mint_token(["apps:read", "vulns:read", "tokens:read"])
    second = sim.mint_token(["apps:read", "vulns:read", "tokens:read"])
    path = write_secret(str(tmp_path), "tok", first)
    with Mount(sim.url, token_file=path, options=["cache_ttl=1"]) as m:
        assert os.listdir(m.path("vulns"))
        write_secret(str(tmp_path), "tok.new", second)
        os.rename(str(tmp_path / "tok.new"), path)  # how vault agents do it
        time.sleep(1.2)
        os.listdir(m.path("vulns"))
        # Revoke the first token: the mount must already use the second.
        revoke_token(sim, first)
        refresh(m)
        assert os.listdir(m.path("vulns"))
        assert "cannot renew" not in m.read_log()
        assert "credential renewed" in m.read_log()
        m.umount()


def test_token_cmd_runs_again_after_401(sim, tmp_path):
    first = sim.mint_token(["apps:read", "vulns:read"])
    second = sim.mint_token(["apps:read", "vulns:read"])
    src = tmp_path / "vault"
    src.write_text(first)
    count = tmp_path / "count"
    cmd = "echo x >> %s; cat %s" % (count, src)
    with Mount(sim.url, options=["token_cmd=" + cmd]) as m:
        assert os.listdir(m.path("vulns"))
        assert count.read_text().count("x") == 1
        src.write_text(second)
        revoke_token(sim, first)
        refresh(m)
        assert os.listdir(m.path("vulns"))
        assert count.read_text().count("x") == 2
        m.umount()


def test_static_token_revoked_gives_eacces(sim):
    tok = sim.mint_token(["apps:read", "vulns:read"])
    with Mount(sim.url, token=tok) as m:
        assert os.listdir(m.path("vulns"))
        revoke_token(sim, tok)
        refresh(m)
        with pytest.raises(PermissionError):
            os.listdir(m.path("vulns"))
        assert "expired or revoked" in m.read_log()
        m.umount()


# ---- refusals at mount time ---------------------------------------------

def refused(args, env=None):
    r = run_apisecfs(args, env=env)
    assert r.returncode != 0
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    return r.returncode, lines[0]


def test_refusals(sim, tmp_path):
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    url = sim.url
    rc, msg = refused(["-o", "token_file=%s/missing" % tmp_path, url, mnt])
    assert rc == 2 and "No such file" in msg
    loose = write_secret(str(tmp_path), "loose", "ask_x", mode=0o640)
    rc, msg = refused(["-o", "token_file=" + loose, url, mnt])
    assert rc == 2 and "chmod 600" in msg
    empty = write_secret(str(tmp_path), "empty", "")
    rc, msg = refused(["-o", "token_file=" + empty, url, mnt])
    assert rc == 2 and "empty" in msg
    expired = write_secret(str(tmp_path), "exp", sim.creds["expired_token"])
    rc, msg = refused(["-o", "token_file=" + expired, url, mnt])
    assert rc == 2 and "token_expired" in msg
    restricted = write_secret(str(tmp_path), "res", sim.creds["restricted_token"])
    rc, msg = refused(["-o", "token_file=" + restricted, url, mnt])
    assert rc == 2 and "address_not_allowed" in msg and "127.0.0.1" in msg
    pw = write_secret(str(tmp_path), "ssopw", sim.creds["sso_password"])
    rc, msg = refused(["-o", "username=%s,password_file=%s"
                       % (sim.creds["sso_username"], pw), url, mnt])
    assert rc == 2 and "SSO" in msg
    bad = write_secret(str(tmp_path), "badsecret", "wrong")
    rc, msg = refused(["-o", "client_id=%s,client_secret_file=%s"
                       % (sim.creds["oauth_client_id"], bad), url, mnt])
    assert rc == 2 and "refused" in msg
    rc, msg = refused([url, mnt])
    assert rc == 2 and "no credential" in msg
    tok = write_secret(str(tmp_path), "tok", sim.creds["readonly_token"])
    rc, msg = refused(["-o", "token_file=" + tok, url, mnt],
                      env={"APISECFS_TOKEN": "ask_y"})
    assert rc == 2 and "more than one" in msg
    rc, msg = refused(["-o", "token_file=" + tok, "http://127.0.0.1:1", mnt])
    assert rc == 3 and "cannot reach" in msg
    for secret in (sim.creds["expired_token"], sim.creds["sso_password"]):
        assert secret not in msg


def test_no_secret_in_argv_environ_or_debug_log(sim, tmp_path):
    pw = write_secret(str(tmp_path), "pw", sim.creds["login_password"])
    with Mount(sim.url, args=["-d"],
               options=["username=" + sim.creds["login_username"],
                        "password_file=" + pw]) as m:
        reads_ok(m, "login")
        sim.revoke_sessions()
        refresh(m)
        reads_ok(m, "login")
        pid = m.proc.pid
        cmdline = open("/proc/%d/cmdline" % pid, "rb").read()
        environ = open("/proc/%d/environ" % pid, "rb").read()
        log = m.umount()
    _, _, jwt = sim.request("POST", "/auth/login",
                            body={"username": sim.creds["login_username"],
                                  "password": sim.creds["login_password"]})
    secrets = [sim.creds["login_password"], jwt["token"].split(".")[0] + "."]
    for s in secrets:
        assert s.encode() not in cmdline and s.encode() not in environ
        assert s not in log, "secret in the -d log"
    assert "Authorization" not in log and "Bearer" not in log
    assert "GET /v1/vulnerabilities" in log  # the debug log did run


def test_mode_bits_follow_scopes(sim):
    with Mount(sim.url, token=sim.creds["ci_token"]) as m:
        mode = lambda *p: stat.S_IMODE(os.stat(m.path(*p)).st_mode)  # noqa
        assert mode("scans", "new") == 0o600
        assert mode("apps", "payments-api", "scan") == 0o600
        assert mode("apps", "new") == 0
        assert mode("vulns", "triage") == 0
        assert mode("tokens") == 0
        assert mode("teams") == 0
        m.umount()
    with Mount(sim.url, token=sim.creds["admin_token"]) as m:
        assert stat.S_IMODE(os.stat(m.path("tokens", "new")).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(m.path("vulns", "triage")).st_mode) == 0o600
        m.umount()
